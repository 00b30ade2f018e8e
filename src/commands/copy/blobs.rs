//! Copy by blob id, for repositories that share the blob-id key and chunking: walk the source
//! snapshot's chunk-list trees, keep the blobs the target lacks, read them from the source's
//! packs in runs of adjacent blobs on several threads, and hand them to the uploader, sealed as
//! they are (shared master key) or opened, checked and sealed again with the target's key.
//! Must not compress, seal or open blobs itself ([`crate::blob::codec`] does).

use super::upload::Uploader;
use super::Counts;
use crate::blob::codec;
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::index::{Index, Location};
use crate::pack::reader::{open_blob, plan_runs, prefetch_bases, Run};
use crate::progress::Progress;
use crate::repository::{FileKind, Repository};
use crate::stream::{Node, Walk};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Longest single range read from a source pack, bytes.
const MAX_RUN_BYTES: u64 = 8 * 1024 * 1024;

/// Both repositories and how to move blobs between them.
pub(super) struct Ends<'a> {
    pub from: &'a Repository,
    pub from_index: &'a Index,
    pub to: &'a Repository,
    pub to_index: &'a Index,
    /// Copy sealed bytes as they are (the master keys are equal).
    pub sealed: bool,
    /// Parallel source reads.
    pub connections: usize,
}

/// Every blob of `manifest`'s streams, list blobs before their entries, each once.
///
/// Errors: a list blob missing from the source index or damaged.
pub(super) fn tree_blobs(from: &Repository, index: &Index, manifest: &Manifest) -> Result<Vec<Id>> {
    let mut out = Vec::new();
    // One set for list blobs (the walk's) and data chunks (added here).
    let mut walk = Walk::new(from, index).once();
    // The chunks of the current level-0 list: they follow their list reversed.
    let mut chunks = Vec::new();
    for s in &manifest.streams {
        walk.push_root(Id(s.root));
        while let Some(n) = walk.next() {
            match n? {
                Node::List { id, .. } => out.push(id),
                Node::Enter { .. } | Node::Leave { .. } => {}
                Node::Chunk(c) => {
                    chunks.push(c.id);
                    if c.last {
                        for id in chunks.drain(..).rev() {
                            if walk.seen_mut().insert(id) {
                                out.push(id);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Transfers the blobs of `manifest` that the target lacks (and that this run has not queued
/// yet) into `uploader`. The caller checkpoints the uploader before writing the manifest.
///
/// Errors: damaged source data, named by pack; storage errors.
pub(super) fn copy_snapshot(
    ends: &Ends<'_>,
    manifest: &Manifest,
    queued: &mut HashSet<Id>,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<Counts> {
    let mut needed: Vec<(Id, Id, Location)> = Vec::new();
    let mut relied = HashSet::new();
    for id in tree_blobs(ends.from, ends.from_index, manifest)? {
        if ends.to_index.contains(&id) {
            relied.extend(ends.to_index.chain_packs(&id));
            continue;
        }
        if queued.contains(&id) {
            continue;
        }
        // A delta may be kept against a base the target holds (see `transfer_run`).
        if let Some(base) = ends.from_index.base_of(&id) {
            relied.extend(ends.to_index.chain_packs(&base));
        }
        let (pack, loc) = ends.from_index.get(&id).ok_or_else(|| {
            Error::NotFound(format!(
                "chunk {id} of the source is not in its index (run `dumpvault check` on {})",
                ends.from.backend().location()
            ))
        })?;
        needed.push((id, pack, loc));
    }
    needed.sort_by_key(|(_, pack, loc)| (*pack, loc.offset));
    let ids: Vec<Id> = needed.iter().map(|n| n.0).collect();
    let runs = split_runs(plan_runs(ends.from_index, &ids)?);
    let counts = Mutex::new(Counts::default());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..ends.connections.clamp(1, runs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= runs.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                match transfer_run(ends, &runs[i], uploader, progress) {
                    Ok(c) => {
                        let mut t = counts.lock().unwrap_or_else(|p| p.into_inner());
                        t.blobs += c.blobs;
                        t.data_chunks += c.data_chunks;
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    queued.extend(ids);
    let mut counts = counts.into_inner().unwrap_or_else(|p| p.into_inner());
    counts.relied = relied;
    Ok(counts)
}

/// Splits runs so that no single read exceeds [`MAX_RUN_BYTES`].
fn split_runs(runs: Vec<Run>) -> Vec<Run> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let mut cur = Run {
            pack: run.pack,
            blobs: Vec::new(),
        };
        let mut bytes = 0u64;
        for b in run.blobs {
            if !cur.blobs.is_empty() && bytes + b.1.length as u64 > MAX_RUN_BYTES {
                out.push(std::mem::replace(
                    &mut cur,
                    Run {
                        pack: run.pack,
                        blobs: Vec::new(),
                    },
                ));
                bytes = 0;
            }
            bytes += b.1.length as u64;
            cur.blobs.push(b);
        }
        if !cur.blobs.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// Reads one run with a single range read and hands each blob to the uploader.
fn transfer_run(
    ends: &Ends<'_>,
    run: &Run,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<Counts> {
    let first = run.blobs[0].1.offset as u64;
    let last = run.blobs.last().expect("runs are never empty").1;
    let len = last.offset as u64 + last.length as u64 - first;
    let path = FileKind::Pack.path(&run.pack);
    let bytes = ends.from.backend().read_range(&path, first, len)?;
    let mut counts = Counts::default();
    // A source whose deltas may be splices, copied into a target whose readers may not
    // decode them (config version below 4): every delta is stored whole.
    let splice_barred = ends.from.config().splices() && !ends.to.config().splices();
    let max = ends.to.config().max_delta_depth();
    let base_of = |id: &Id, loc: &Location| {
        (loc.kind == BlobKind::Delta)
            .then(|| ends.from_index.base_of(id))
            .flatten()
    };
    let stored_whole = |b: Id| splice_barred || !crate::delta::usable_base(ends.to_index, &b, max);
    // The chains of the deltas decoded here, read ahead in range reads.
    let decoded: Vec<Id> = (run.blobs.iter())
        .filter(|(id, loc)| base_of(id, loc).is_some_and(|b| stored_whole(b) || !ends.sealed))
        .map(|(id, _)| *id)
        .collect();
    prefetch_bases(ends.from, ends.from_index, &decoded);
    for (id, loc) in &run.blobs {
        let start = (loc.offset as u64 - first) as usize;
        let sealed = &bytes[start..start + loc.length as usize];
        let base = base_of(id, loc);
        if base.is_some_and(stored_whole) {
            // The target lacks the base (or its chain there is at the maximum depth, or it
            // may not hold splices): the delta is stored whole (repo-format.md, section 6).
            let plain = open_blob(ends.from, ends.from_index, &run.pack, id, loc, sealed)?;
            let level = ends.to.config().compression_level;
            let resealed = codec::encode_whole(ends.to.key(), &plain, level);
            uploader.add(BlobKind::Data, *id, loc.raw_length, None, &resealed)?;
        } else if ends.sealed {
            uploader.add(loc.kind, *id, loc.raw_length, base, sealed)?;
        } else {
            let what = || format!("source pack {path} (blob {})", id.short());
            let tagged =
                codec::open(ends.from.key(), sealed).map_err(|e| Error::corrupt(what(), e))?;
            let raw_len = loc.raw_length as usize;
            match base {
                // Checked against its base in the source (the target holds the same base).
                Some(_) => {
                    let plain = open_blob(ends.from, ends.from_index, &run.pack, id, loc, sealed)?;
                    codec::verify(ends.to.key(), id, &plain)
                }
                None => codec::decode(ends.to.key(), id, &tagged, raw_len, None).map(|_| ()),
            }
            .map_err(|e| Error::corrupt(what(), e))?;
            let resealed = codec::reencrypt(ends.to.key(), &tagged);
            uploader.add(loc.kind, *id, loc.raw_length, base, &resealed)?;
        }
        counts.blobs += 1;
        if loc.kind != BlobKind::List {
            counts.data_chunks += 1;
        }
        progress.inc(loc.raw_length as u64);
    }
    Ok(counts)
}
