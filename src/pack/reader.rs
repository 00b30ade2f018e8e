//! Reads blobs out of packs: one range read per run of adjacent blobs, then each blob is
//! decoded by [`crate::blob::codec`] (open, decompress, check its keyed id), so damaged data is
//! an error naming the pack, never output. Must not decode blob payloads itself.
//!
//! A delta blob is decoded against its base, read (recursively, chains are at most
//! [`MAX_DELTA_DEPTH`] deep when written; readers accept up to [`READ_DELTA_DEPTH`]) as a
//! [`Composed`] chunk: the splices of a chain are composed, and only the blob asked for is made
//! whole, so a chain of splices costs one copy of the chunk, not one per link. Whole plaintexts
//! met on the way (a chain's bottom, a zstd patch's result) and the blobs asked for as bases go
//! into the repository's [`BaseCache`], so a base shared by several deltas, or read just
//! before, is not read again. Delta bases (and the blobs a snapshot wrote) are also kept,
//! sealed, in the local cache of a remote repository
//! ([`crate::backend::Backend::cached_blob_body`]), so the next snapshot reads them from disk.

use crate::blob::codec::{self, Composed};
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::id::Id;
use crate::index::{Index, Location};
use crate::repository::{FileKind, Repository};
use std::sync::Arc;

pub use crate::format::pack::{MAX_DELTA_DEPTH, MAX_PATCH_DEPTH, READ_DELTA_DEPTH};
pub use crate::repository::bases::BaseCache;

/// Reads the delta bases that blobs `ids` need (their whole chains) ahead of decoding them:
/// adjacent bases in one range read per run, runs on up to 4 threads, kept sealed in the
/// [`BaseCache`] until the blobs above them are decoded (composed, [`Composed`]). Restores
/// call it per batch so that bases are not fetched one small read at a time. Errors are not
/// reported here: a base that cannot be prefetched is read (and its error reported) when the
/// delta is decoded.
pub fn prefetch_bases(repo: &Repository, index: &Index, ids: &[Id]) {
    prefetch(repo, index, ids, false)
}

/// [`prefetch_bases`] that reads blobs `ids` themselves too (not cached already), for a
/// caller about to read them as bases ([`read_base`]): a snapshot's read-ahead of the
/// previous snapshot's chunks.
pub fn prefetch_chains(repo: &Repository, index: &Index, ids: &[Id]) {
    prefetch(repo, index, ids, true)
}

/// [`prefetch_bases`], with blobs `ids` themselves when `with_ids`.
fn prefetch(repo: &Repository, index: &Index, ids: &[Id], with_ids: bool) {
    let mut need: Vec<(Id, Id, Location)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let cache = repo.base_cache();
    for id in ids {
        let mut at = *id;
        for step in 0..READ_DELTA_DEPTH {
            let base = match step {
                0 if with_ids => Some(at),
                _ => index.base_of(&at),
            };
            let Some(base) = base else {
                break;
            };
            if !seen.insert(base) || cache.contains(&base) {
                break;
            }
            at = base;
            if cache.has_sealed(&base) {
                continue; // read ahead before; the links under it may not be
            }
            // A remote repository's local cache holds the bodies of recent bases: no request.
            if let Some(body) = repo.backend().cached_blob_body(&base) {
                cache.put_sealed(base, Arc::new(body));
                continue;
            }
            let Some((pack, loc)) = index.get(&base) else {
                break;
            };
            need.push((base, pack, loc));
        }
    }
    if need.is_empty() {
        return;
    }
    need.sort_by_key(|(_, pack, loc)| (*pack, loc.offset));
    let sorted: Vec<Id> = need.iter().map(|n| n.0).collect();
    let Ok(runs) = plan_runs(index, &sorted) else {
        return;
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..runs.len().clamp(1, 4) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(run) = runs.get(i) else { break };
                let first = run.blobs[0].1.offset as u64;
                let last = run.blobs.last().expect("runs are never empty").1;
                let len = last.offset as u64 + last.length as u64 - first;
                let Ok(bytes) =
                    repo.backend()
                        .read_range(&FileKind::Pack.path(&run.pack), first, len)
                else {
                    continue;
                };
                cache.add_read(len);
                for (id, loc) in &run.blobs {
                    let s = (loc.offset as u64 - first) as usize;
                    cache.put_sealed(*id, Arc::new(bytes[s..s + loc.length as usize].to_vec()));
                }
            });
        }
    });
}

/// The plaintext of blob `id` for use as a delta base, checked against its id: from the
/// cache, or read and cached. The links of its chain below it are decoded without their own
/// id checks ([`codec::decode_link`]): checking `id` covers them.
///
/// Errors: as [`read_blob`]; [`Error::Corrupt`] naming the blob when the chain is longer
/// than [`READ_DELTA_DEPTH`] (a damaged index).
pub fn read_base(repo: &Repository, index: &Index, id: &Id) -> Result<Arc<Vec<u8>>> {
    read_base_at(repo, index, id, 0).map(|c| c.plain())
}

/// The cached plaintext of blob `id`, checked against its id (an entry cached as a chain's
/// link is checked now); `None` when it is not cached or fails its check.
pub fn cached_base(repo: &Repository, id: &Id) -> Option<Arc<Vec<u8>>> {
    let (plain, checked) = repo.base_cache().get(id)?;
    if !checked {
        codec::verify(repo.key(), id, &plain).ok()?;
        repo.base_cache().put(*id, plain.clone(), true);
    }
    Some(plain)
}

/// [`read_base`] (`depth` 0: checked against its id, made whole and cached as checked) or a
/// link `depth` links below the blob asked for (not checked; composed, [`Composed`]; cached
/// only when whole: a chain's bottom, a zstd patch's result).
fn read_base_at(repo: &Repository, index: &Index, id: &Id, depth: usize) -> Result<Composed> {
    let check = depth == 0;
    if let Some((plain, checked)) = repo.base_cache().get(id) {
        if checked || !check {
            return Ok(Composed::whole(plain));
        }
        if let Some(plain) = cached_base(repo, id) {
            return Ok(Composed::whole(plain));
        }
        // The cached link fails its check: decoded again below, whose error names the pack.
    }
    if depth > READ_DELTA_DEPTH {
        return Err(Error::corrupt(
            format!("blob {id}"),
            format!("delta chain longer than {READ_DELTA_DEPTH}: run `dumpvault check`"),
        ));
    }
    let (link, read) = read_blob_at(repo, index, id, depth, true, check)?;
    repo.base_cache().add_read(read);
    if let Some(plain) = link.as_whole() {
        repo.base_cache().put(*id, plain.clone(), check);
    }
    Ok(link)
}

/// Opens one sealed blob read from `pack` and checks it is blob `id`; a delta blob is decoded
/// against its base (found through `index`).
///
/// Errors: [`Error::Corrupt`] naming the pack and blob; a delta's base that cannot be read
/// gives that base's error.
pub fn open_blob(
    repo: &Repository,
    index: &Index,
    pack: &Id,
    id: &Id,
    loc: &Location,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    open_at(repo, index, pack, id, loc, sealed, 0, None, true).map(Composed::into_plain)
}

/// [`open_blob`] for a copy known by its pack header (or index) entry `b`, which need not be
/// the copy `index` reads for the blob: a delta copy is decoded against the base `b` names,
/// which may differ from the base of the copy the index chose (the same blob stored whole in
/// another pack, or as a delta against another base by a concurrent writer). Prune's repack
/// opens what it copies this way.
///
/// Errors: as [`open_blob`].
pub fn open_entry(
    repo: &Repository,
    index: &Index,
    pack: &Id,
    b: &crate::format::pack::PackBlob,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let loc = Location::of_entry(b);
    open_at(
        repo,
        index,
        pack,
        &Id(b.id),
        &loc,
        sealed,
        0,
        b.base.map(Id),
        true,
    )
    .map(Composed::into_plain)
}

/// Opens blob `id`, `depth` links below the blob asked for; a delta is decoded against
/// `entry_base` when given (the base its own pack entry names), else against the base of the
/// copy `index` reads. With `check` the plaintext is made whole and checked against `id`;
/// else it is a link of a chain whose top is checked ([`codec::decode_link_onto`]), and stays
/// composed.
#[allow(clippy::too_many_arguments)]
fn open_at(
    repo: &Repository,
    index: &Index,
    pack: &Id,
    id: &Id,
    loc: &Location,
    sealed: &[u8],
    depth: usize,
    entry_base: Option<Id>,
    check: bool,
) -> Result<Composed> {
    let what = || format!("pack {} (blob {})", FileKind::Pack.path(pack), id.short());
    let tagged = codec::open(repo.key(), sealed).map_err(|e| Error::corrupt_from(what(), e))?;
    let base = if loc.kind == BlobKind::Delta {
        let base = (entry_base.or_else(|| index.base_of(id)))
            .ok_or_else(|| Error::corrupt(what(), "delta blob without a base in the index"))?;
        Some(read_base_at(repo, index, &base, depth + 1)?)
    } else {
        None
    };
    let raw_len = loc.raw_length as usize;
    let link = codec::decode_link_onto(&tagged, raw_len, base.as_ref())
        .map_err(|e| Error::corrupt_from(what(), e))?;
    if !check {
        return Ok(link);
    }
    let plain = link.plain();
    codec::verify(repo.key(), id, &plain).map_err(|e| Error::corrupt_from(what(), e))?;
    Ok(Composed::whole(plain))
}

/// Reads and opens one blob. Errors: [`Error::Corrupt`] when the index does not know it.
pub fn read_blob(repo: &Repository, index: &Index, id: &Id) -> Result<Vec<u8>> {
    read_blob_at(repo, index, id, 0, false, true).map(|(plain, _)| plain.into_plain())
}

/// Reads and opens blob `id`, `depth` delta links below the blob a caller asked for; returns
/// it (whole when `check`) and the sealed bytes read from the pack (0 when it came from a
/// cache).
///
/// A chain link read ahead ([`prefetch_bases`]) is taken from the [`BaseCache`]; a data or
/// delta blob from the local cache's bodies when it holds it. Either is opened and checked
/// like bytes from the pack; one that does not open is dropped and the pack read. With
/// `keep` (a delta base), the sealed bytes read from the pack go into the local cache, so
/// that the next snapshot does not read them again. `check`: as [`open_at`].
fn read_blob_at(
    repo: &Repository,
    index: &Index,
    id: &Id,
    depth: usize,
    keep: bool,
    check: bool,
) -> Result<(Composed, u64)> {
    let (pack, loc) = index.get(id).ok_or_else(|| unindexed("blob", id))?;
    let backend = repo.backend();
    let body = loc.kind != BlobKind::List;
    let open = |sealed: &[u8]| open_at(repo, index, &pack, id, &loc, sealed, depth, None, check);
    if let Some(sealed) = repo.base_cache().take_sealed(id) {
        if let Ok(link) = open(&sealed) {
            return Ok((link, 0));
        }
    }
    if let Some(sealed) = body.then(|| backend.cached_blob_body(id)).flatten() {
        match open(&sealed) {
            Ok(link) => return Ok((link, 0)),
            Err(_) => backend.uncache_blob_body(id),
        }
    }
    let sealed = backend.read_range(
        &FileKind::Pack.path(&pack),
        loc.offset as u64,
        loc.length as u64,
    )?;
    let link = open(&sealed)?;
    if keep && body {
        backend.cache_blob_body(id, &sealed);
    }
    Ok((link, loc.length as u64))
}

/// The error for blob `id` (a `what`: blob or chunk) that a snapshot refers to and no index
/// file lists: damage (exit 3), whose repair `check` names (probe finding 7 b: it said only
/// "not in the index", with exit 1).
fn unindexed(what: &str, id: &Id) -> Error {
    Error::corrupt(
        format!("{what} {id}"),
        "is in no index file: the pack holding it was lost, or an index file is damaged or \
         lost; run `dumpvault check`, which names the repair",
    )
}

/// A run of blobs stored back to back in one pack.
#[derive(Debug, Clone)]
pub struct Run {
    /// The pack.
    pub pack: Id,
    /// The blobs, in pack order, adjacent.
    pub blobs: Vec<(Id, Location)>,
}

/// Groups blobs (in the order wanted) into runs of adjacent blobs of the same pack.
///
/// Errors: [`Error::Corrupt`] for a blob missing from the index.
pub fn plan_runs(index: &Index, ids: &[Id]) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for id in ids {
        let (pack, loc) = index.get(id).ok_or_else(|| unindexed("chunk", id))?;
        if let Some(last) = runs.last_mut() {
            let (_, prev) = last.blobs.last().expect("runs are never empty");
            if last.pack == pack && prev.offset + prev.length == loc.offset {
                last.blobs.push((*id, loc));
                continue;
            }
        }
        runs.push(Run {
            pack,
            blobs: vec![(*id, loc)],
        });
    }
    Ok(runs)
}

/// Reads one run with a single range read; returns the plaintexts in order and the bytes read
/// (delta bases read on the way are not counted).
pub fn read_run(repo: &Repository, index: &Index, run: &Run) -> Result<(Vec<Vec<u8>>, u64)> {
    let first = run.blobs[0].1.offset as u64;
    let last = run.blobs.last().expect("runs are never empty").1;
    let len = last.offset as u64 + last.length as u64 - first;
    let bytes = repo
        .backend()
        .read_range(&FileKind::Pack.path(&run.pack), first, len)?;
    let mut out = Vec::with_capacity(run.blobs.len());
    for (id, loc) in &run.blobs {
        let s = (loc.offset as u64 - first) as usize;
        out.push(open_blob(
            repo,
            index,
            &run.pack,
            id,
            loc,
            &bytes[s..s + loc.length as usize],
        )?);
    }
    Ok((out, len))
}

#[cfg(test)]
mod tests;
