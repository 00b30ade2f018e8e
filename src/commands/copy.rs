//! `copy`: copy snapshots from one repository (the source, A) into another (the target, B),
//! on any backends, transferring only the blobs B lacks.
//!
//! How blobs travel depends on the keys the two repositories share ([`CopyMode`]):
//! - same master key (`init --copy-keys-from A`): sealed blobs are moved as they are, without
//!   decrypting or recompressing;
//! - same blob-id key, chunker seed and chunker parameters (`init --copy-chunker-params-from A`):
//!   blobs keep their ids; each is opened with A's key, checked, and sealed with B's;
//! - otherwise each stream is restored from A and chunked again into B, as a snapshot would.
//!
//! A snapshot B already holds is skipped: one whose `original` is the source snapshot's origin,
//! or whose time, host, tags and streams (name, size, BLAKE3) are the same. Per snapshot the
//! write order is packs, then the index files listing them, then the manifest, so a killed copy
//! never leaves B with a snapshot whose blobs are missing, and the next run transfers only what
//! no index of B lists.

mod blobs;
mod link;
mod rechunk;
mod upload;

pub use link::{init_linked, KeySharing};
pub use upload::{UploadStats, CHECKPOINT_PACKS};

use crate::commands::snapshots::{self, Filter, SnapshotEntry};
use crate::error::{Error, Result};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::index::Index;
use crate::progress::Progress;
use crate::repository::Repository;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Instant;
use upload::Uploader;

/// Default number of parallel pack uploads.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// What to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Only source snapshots passing this filter (ignored for explicit ids).
    pub filter: Filter,
    /// Explicit source snapshots: id prefixes or `latest`; empty = every snapshot passing the
    /// filter.
    pub snapshots: Vec<String>,
    /// Parallel pack uploads (at least 1).
    pub connections: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            filter: Filter::default(),
            snapshots: Vec::new(),
            connections: DEFAULT_CONNECTIONS,
        }
    }
}

/// How blobs travel from the source to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyMode {
    /// Same master key: sealed blobs are copied byte for byte, never decrypted.
    SealedBlobs,
    /// Same blob ids and chunking, different encryption key: blobs are opened, checked and
    /// sealed again; nothing is chunked or compressed again.
    ReencryptBlobs,
    /// Unrelated keys or chunker parameters: streams are restored and chunked again.
    Rechunk,
}

impl CopyMode {
    /// The mode for copying from `from` into `to`.
    pub fn detect(from: &Repository, to: &Repository) -> Self {
        let (a, b) = (from.key(), to.key());
        if *a.to_bytes() == *b.to_bytes() {
            return CopyMode::SealedBlobs;
        }
        const PROBE: &[u8] = b"dumpvault copy: do the blob-id keys match?";
        if a.blob_id(PROBE) == b.blob_id(PROBE)
            && a.chunker_seed() == b.chunker_seed()
            && from.config().chunker == to.config().chunker
        {
            CopyMode::ReencryptBlobs
        } else {
            CopyMode::Rechunk
        }
    }

    /// One sentence for the user.
    pub fn describe(self) -> &'static str {
        match self {
            CopyMode::SealedBlobs => {
                "the repositories share their keys: moving sealed blobs without decrypting or recompressing them"
            }
            CopyMode::ReencryptBlobs => {
                "the repositories share chunker parameters: copying blobs by id, re-encrypting them with the target's key"
            }
            CopyMode::Rechunk => {
                "the target does not share the source's chunker parameters: re-chunking each stream (restore from the source, snapshot into the target); create the target with `init --copy-chunker-params-from` to copy blobs by id"
            }
        }
    }
}

/// One snapshot copied.
#[derive(Debug, Clone, Serialize)]
pub struct CopiedSnapshot {
    /// The source snapshot's id (hex).
    pub source: String,
    /// The new snapshot's id in the target (hex).
    pub target: String,
    /// Blobs (data chunks and list blobs) transferred for it.
    pub blobs: u64,
    /// Data chunks among them.
    pub data_chunks: u64,
    /// Bytes written to the target for it (packs, index files, manifest).
    pub bytes_uploaded: u64,
}

/// The result of a copy.
#[derive(Debug, Clone, Serialize)]
pub struct CopyOutcome {
    /// How blobs travelled.
    pub mode: CopyMode,
    /// Snapshots copied, oldest first.
    pub copied: Vec<CopiedSnapshot>,
    /// Selected snapshots the target already held: (source id, target id), hex.
    pub skipped: Vec<(String, String)>,
    /// Blobs transferred in all.
    pub blobs_copied: u64,
    /// Data chunks transferred in all.
    pub data_chunks_copied: u64,
    /// Bytes written to the target in all.
    pub bytes_uploaded: u64,
    /// Packs written.
    pub packs_uploaded: u64,
    /// Index files written.
    pub index_files: u64,
    /// Wall-clock duration, milliseconds.
    pub duration_ms: u64,
}

/// Whether target snapshot `b` (id `b_id`) is a copy of source snapshot `a` (id `a_id`), or
/// the same snapshot reached by another path.
pub fn is_copy_of(a_id: &Id, a: &Manifest, b_id: &Id, b: &Manifest) -> bool {
    let origin = a.original.unwrap_or(a_id.0);
    if b.original == Some(origin) || b_id.0 == origin || b.original == Some(a_id.0) {
        return true;
    }
    let time = |m: &Manifest| snapshots::parse_time(&m.time);
    let streams = |m: &Manifest| {
        m.streams
            .iter()
            .map(|s| (s.name.clone(), s.size, s.blake3))
            .collect::<Vec<_>>()
    };
    time(a).is_some()
        && time(a) == time(b)
        && a.host == b.host
        && a.tags == b.tags
        && a.source.kind == b.source.kind
        && a.source.database == b.source.database
        && streams(a) == streams(b)
}

/// A copy plan: the source snapshots to copy, and (source id, target id) of those the target
/// already holds.
pub type Plan = (Vec<SnapshotEntry>, Vec<(Id, Id)>);

/// The source snapshots selected by `opts`, oldest first, split into those to copy and those
/// the target already holds (with the target's id).
///
/// Errors: an explicit snapshot that does not exist; manifests that cannot be read.
pub fn plan(from: &Repository, to: &Repository, opts: &CopyOptions) -> Result<Plan> {
    let mut selected = if opts.snapshots.is_empty() {
        snapshots::list(from, &opts.filter)?
    } else {
        let mut v = Vec::new();
        for spec in &opts.snapshots {
            let e = snapshots::find(from, spec, &opts.filter)?;
            if !v.iter().any(|x: &SnapshotEntry| x.id == e.id) {
                v.push(e);
            }
        }
        v.sort_by_cached_key(|e| (e.time(), e.id));
        v
    };
    let existing = snapshots::list(to, &Filter::default())?;
    let mut skipped = Vec::new();
    selected.retain(|a| {
        match existing
            .iter()
            .find(|b| is_copy_of(&a.id, &a.manifest, &b.id, &b.manifest))
        {
            Some(b) => {
                skipped.push((a.id, b.id));
                false
            }
            None => true,
        }
    });
    Ok((selected, skipped))
}

/// Copies the snapshots selected by `opts` from `from` into `to` (see the module notes).
/// Idempotent: a second run copies nothing. `from` is only read.
///
/// Errors: [`Error::Invalid`] when both are the same repository; the first storage error (B
/// then holds the snapshots completed so far, and unindexed packs at worst); [`Error::Corrupt`]
/// naming the source object when source data is damaged (the snapshot is not written).
pub fn run(
    from: &Repository,
    to: &Repository,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyOutcome> {
    let started = Instant::now();
    if from.config().id == to.config().id {
        return Err(Error::Invalid(format!(
            "{} and {} are the same repository (id {}); nothing to copy",
            from.backend().location(),
            to.backend().location(),
            &to.config().id[..8]
        )));
    }
    let mode = CopyMode::detect(from, to);
    let (todo, skipped) = plan(from, to, opts)?;
    let mut outcome = CopyOutcome {
        mode,
        copied: Vec::new(),
        skipped: skipped
            .iter()
            .map(|(a, b)| (a.to_hex(), b.to_hex()))
            .collect(),
        blobs_copied: 0,
        data_chunks_copied: 0,
        bytes_uploaded: 0,
        packs_uploaded: 0,
        index_files: 0,
        duration_ms: 0,
    };
    if !todo.is_empty() {
        // Like a snapshot, a copy announces itself to a prune of the target.
        let lock = crate::repository::lock::LockGuard::shared(to, "copy")?;
        let from_index = Index::load(from)?;
        let to_index = Index::load(to)?;
        let uploader = Uploader::new(to, opts.connections);
        let mut queued: HashSet<Id> = HashSet::new();
        let ends = blobs::Ends {
            from,
            from_index: &from_index,
            to,
            to_index: &to_index,
            sealed: mode == CopyMode::SealedBlobs,
            connections: opts.connections,
        };
        for entry in &todo {
            // The listing came from the catalogue: copy the whole manifest (table sections).
            let entry = &entry.complete(from)?;
            let before = uploader.stats();
            let (manifest, counts) = match mode {
                CopyMode::SealedBlobs | CopyMode::ReencryptBlobs => {
                    let c = blobs::copy_snapshot(
                        &ends,
                        &entry.manifest,
                        &mut queued,
                        &uploader,
                        progress,
                    )?;
                    (entry.manifest.clone(), c)
                }
                CopyMode::Rechunk => {
                    rechunk::copy_snapshot(&ends, entry, &mut queued, &uploader, progress)?
                }
            };
            // Packs, then index files, then the manifest.
            uploader.checkpoint()?;
            crate::archive::confirm_relied(to, &counts.relied)?;
            let mut manifest = manifest;
            manifest.original = Some(entry.manifest.original.unwrap_or(entry.id.0));
            // What this snapshot cost the target, not what it cost the source.
            manifest.summary.bytes_added = uploader.stats().bytes - before.bytes;
            manifest.summary.new_blobs = counts.blobs;
            let plain_len = crate::format::encode_versioned(&manifest).len();
            let target = to.save_manifest(&manifest)?;
            crate::repository::catalogue::publish(to, &target, &manifest, None)?;
            let after = uploader.stats();
            let manifest_bytes = (plain_len + crate::crypto::SEAL_OVERHEAD) as u64;
            outcome.copied.push(CopiedSnapshot {
                source: entry.id.to_hex(),
                target: target.to_hex(),
                blobs: counts.blobs,
                data_chunks: counts.data_chunks,
                bytes_uploaded: after.bytes - before.bytes + manifest_bytes,
            });
            outcome.blobs_copied += counts.blobs;
            outcome.data_chunks_copied += counts.data_chunks;
            outcome.bytes_uploaded += manifest_bytes;
        }
        let stats = uploader.finish()?;
        outcome.bytes_uploaded += stats.bytes;
        outcome.packs_uploaded = stats.packs;
        outcome.index_files = stats.index_files;
        lock.release()?;
    }
    progress.finish();
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    Ok(outcome)
}

/// Blobs transferred for one snapshot.
#[derive(Debug, Clone, Default)]
struct Counts {
    blobs: u64,
    data_chunks: u64,
    /// Packs of the target the copied manifest relies on (rule W4).
    relied: HashSet<Id>,
}

#[cfg(test)]
mod tests;
