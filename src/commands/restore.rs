//! `restore`: stream a snapshot's dump back out, verifying every chunk's keyed id and the whole
//! stream's BLAKE3. Optionally only some byte ranges (one table's sections): subtrees of the
//! chunk list outside the ranges are skipped without being read.

use crate::error::{Error, Result};
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::Index;
use crate::pack::reader::{plan_runs, prefetch_bases, read_run, Run};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::stream::{Node, Walk};
use std::io::Write;
use std::ops::Range;

pub mod parallel;

/// Figures of a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOutcome {
    /// Plain bytes written, bytes.
    pub bytes_written: u64,
    /// Bytes read from pack files (sealed, delta bases included), bytes.
    pub bytes_read: u64,
    /// Data chunks read.
    pub chunks_read: u64,
    /// A parallel restore into PostgreSQL: rows stored per table by its `COPY` commands (as
    /// their command tags say), keyed by table name without quotes; `None` otherwise.
    pub copied: Option<std::collections::BTreeMap<String, u64>>,
}

struct Walker<'a> {
    repo: &'a Repository,
    index: &'a Index,
    ranges: Option<&'a [Range<u64>]>,
    out: &'a mut dyn Write,
    hasher: Option<blake3::Hasher>,
    outcome: RestoreOutcome,
    progress: &'a dyn Progress,
    what: String,
}

/// Plain bytes fetched at once by a restore (the chunks of one list are read in such batches).
const BATCH_BYTES: u64 = 4 << 20;

/// Writes stream `stream` of snapshot `snapshot` to `out`. With `ranges`, only those byte ranges
/// (sorted, not overlapping) are written, and the whole-stream hash is not checked.
///
/// Errors: [`Error::Corrupt`] naming the pack or the snapshot when data is damaged or the stream
/// hash does not match; nothing wrong is written for a damaged chunk.
pub fn run(
    repo: &Repository,
    index: &Index,
    snapshot: &Id,
    stream: &StreamRef,
    ranges: Option<&[Range<u64>]>,
    out: &mut dyn Write,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    progress.set_total(match ranges {
        Some(r) => r.iter().map(|r| r.end - r.start).sum(),
        None => stream.size,
    });
    let mut w = Walker {
        repo,
        index,
        ranges,
        out,
        hasher: ranges.is_none().then(blake3::Hasher::new),
        outcome: RestoreOutcome::default(),
        progress,
        what: format!("snapshot {} stream {}", snapshot.short(), stream.name),
    };
    let bases_before = repo.base_cache().bytes_read();
    let pos = w.walk(&Id(stream.root)).map_err(repair_hint)?;
    w.outcome.bytes_read += repo.base_cache().bytes_read() - bases_before;
    if let Some(h) = w.hasher.take() {
        if pos != stream.size || *h.finalize().as_bytes() != stream.blake3 {
            return Err(Error::corrupt(
                w.what,
                "restored data does not match the recorded BLAKE3 hash",
            ));
        }
    }
    w.out
        .flush()
        .map_err(|e| Error::io("writing the restored dump", e))?;
    progress.finish();
    Ok(w.outcome)
}

/// Adds to an error naming a damaged pack the command that retires it (`repair packs`), so
/// no later snapshot deduplicates against its damaged blobs.
fn repair_hint(e: Error) -> Error {
    match e {
        Error::Corrupt {
            object,
            detail,
            source,
        } if object.starts_with("pack data/") => {
            let id: String = object["pack data/".len()..]
                .split(['/', ' '])
                .nth(1)
                .unwrap_or("")
                .to_string();
            Error::Corrupt {
                object,
                detail: format!(
                    "{detail}; run `dumpvault repair packs {id}` to move its intact blobs into \
                     new packs and drop the damaged ones, then snapshot the same data again"
                ),
                source,
            }
        }
        e => e,
    }
}

impl Walker<'_> {
    /// Walks the tree under `root`, writing the wanted chunks of each level-0 list; returns
    /// the stream offset reached, bytes (the stream's length without ranges).
    fn walk(&mut self, root: &Id) -> Result<u64> {
        let mut walk = Walk::of(self.repo, self.index, *root);
        if let Some(r) = self.ranges {
            walk = walk.ranges(r);
        }
        let mut wanted = Vec::new();
        for n in walk.by_ref() {
            let Node::Chunk(c) = n? else {
                continue;
            };
            wanted.push((c.id, c.offset, c.size));
            if c.last {
                self.fetch_list(&wanted)?;
                wanted.clear();
            }
        }
        Ok(walk.offset())
    }

    /// Reads and writes the wanted chunks of one list (id, stream offset, length).
    fn fetch_list(&mut self, wanted: &[(Id, u64, u64)]) -> Result<()> {
        // Fetched in batches of about BATCH_BYTES of plain data, so memory does not grow with
        // the chunk size times the 1024 entries a list may hold.
        let mut from = 0;
        while from < wanted.len() {
            let mut to = from;
            let mut bytes = 0;
            while to < wanted.len() && (to == from || bytes + wanted[to].2 <= BATCH_BYTES) {
                bytes += wanted[to].2;
                to += 1;
            }
            self.fetch_and_write(&wanted[from..to])?;
            from = to;
        }
        Ok(())
    }

    /// Reads the chunks `wanted` (id, stream offset, length) and writes them (or their parts
    /// inside the ranges).
    fn fetch_and_write(&mut self, wanted: &[(Id, u64, u64)]) -> Result<()> {
        let ids: Vec<Id> = wanted.iter().map(|w| w.0).collect();
        prefetch_bases(self.repo, self.index, &ids);
        let runs = plan_runs(self.index, &ids)?;
        let mut i = 0;
        for batch in fetch_parallel(self.repo, self.index, &runs) {
            let (plains, read) = batch?;
            self.outcome.bytes_read += read;
            for plain in plains {
                let (_, start, size) = wanted[i];
                i += 1;
                if plain.len() as u64 != size {
                    return Err(Error::corrupt(
                        self.what.clone(),
                        "chunk length differs from the chunk list",
                    ));
                }
                self.outcome.chunks_read += 1;
                let slice = match self.ranges {
                    None => &plain[..],
                    Some(r) => {
                        // Write only the parts inside the ranges.
                        for rg in r {
                            let s = rg.start.max(start);
                            let e = rg.end.min(start + size);
                            if s < e {
                                let part = &plain[(s - start) as usize..(e - start) as usize];
                                self.write(part)?;
                            }
                        }
                        continue;
                    }
                };
                if let Some(h) = self.hasher.as_mut() {
                    h.update(slice);
                }
                self.write(slice)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.outcome.bytes_written == 0 {
            crate::testhook::pause("restore-first-write");
        }
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing the restored dump", e))?;
        self.outcome.bytes_written += bytes.len() as u64;
        self.progress.inc(bytes.len() as u64);
        Ok(())
    }
}

/// Reads runs on two threads, returning results in order.
fn fetch_parallel(
    repo: &Repository,
    index: &Index,
    runs: &[Run],
) -> Vec<Result<(Vec<Vec<u8>>, u64)>> {
    if runs.len() < 2 {
        return runs.iter().map(|r| read_run(repo, index, r)).collect();
    }
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let per = runs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    (part.iter())
                        .map(|r| read_run(repo, index, r))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reader thread panicked"))
            .collect()
    })
}
