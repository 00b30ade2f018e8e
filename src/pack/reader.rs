//! Reads blobs out of packs: one range read per run of adjacent blobs, then open, decompress
//! and check each blob's keyed id, so damaged data is an error naming the pack, never output.

use crate::compress::decompress;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::{Index, Location};
use crate::repository::{FileKind, Repository};

/// Opens one sealed blob read from `pack` and checks it is blob `id`.
pub fn open_blob(
    repo: &Repository,
    pack: &Id,
    id: &Id,
    loc: &Location,
    sealed: &[u8],
) -> Result<Vec<u8>> {
    let what = || format!("pack {} (blob {})", FileKind::Pack.path(pack), id.short());
    let tagged = repo
        .key()
        .open(sealed)
        .map_err(|e| Error::corrupt(what(), e))?;
    let plain =
        decompress(&tagged, loc.raw_length as usize).map_err(|e| Error::corrupt(what(), e))?;
    if repo.key().blob_id(&plain) != *id {
        return Err(Error::corrupt(what(), "blob content does not match its id"));
    }
    Ok(plain)
}

/// Reads and opens one blob. Errors: [`Error::NotFound`] when the index does not know it.
pub fn read_blob(repo: &Repository, index: &Index, id: &Id) -> Result<Vec<u8>> {
    let (pack, loc) = index.get(id).ok_or_else(|| {
        Error::NotFound(format!(
            "blob {id} is not in the index (run `dumpvault check`)"
        ))
    })?;
    let sealed = repo.backend().read_range(
        &FileKind::Pack.path(&pack),
        loc.offset as u64,
        loc.length as u64,
    )?;
    open_blob(repo, &pack, id, &loc, &sealed)
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
/// Errors: [`Error::NotFound`] for a blob missing from the index.
pub fn plan_runs(index: &Index, ids: &[Id]) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = Vec::new();
    for id in ids {
        let (pack, loc) = index.get(id).ok_or_else(|| {
            Error::NotFound(format!(
                "chunk {id} is not in the index (run `dumpvault check`)"
            ))
        })?;
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

/// Reads one run with a single range read; returns the plaintexts in order and the bytes read.
pub fn read_run(repo: &Repository, run: &Run) -> Result<(Vec<Vec<u8>>, u64)> {
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
            &run.pack,
            id,
            loc,
            &bytes[s..s + loc.length as usize],
        )?);
    }
    Ok((out, len))
}
