//! `restore`: stream a snapshot's dump back out, verifying every chunk's keyed id and the whole
//! stream's BLAKE3. Optionally only some byte ranges (one table's sections): subtrees of the
//! chunk list outside the ranges are skipped without being read.

use crate::error::{Error, Result};
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::Index;
use crate::pack::reader::{plan_runs, prefetch_bases, read_run};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::stream::ordered::run_ordered;
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

/// Writes the chunks a restore decoded, in stream order, on the calling thread.
struct Writer<'a> {
    ranges: Option<&'a [Range<u64>]>,
    out: &'a mut dyn Write,
    hasher: Option<blake3::Hasher>,
    outcome: RestoreOutcome,
    progress: &'a dyn Progress,
    what: String,
}

/// Plain bytes fetched at once by a restore: the stream's chunks are read and decoded in
/// batches of about this size (one chunk at least), each by one worker.
const BATCH_BYTES: u64 = 4 << 20;

/// Plain bytes a restore holds at most at once (batches being read, decoded, or waiting for
/// an earlier one to be written), bytes: [`BATCH_BYTES`] times the batch window.
const IN_FLIGHT_BYTES: u64 = 64 << 20;

/// A data chunk to restore: its id, stream offset and length in bytes.
type Want = (Id, u64, u64);

/// Work for a decoding worker, in stream order.
enum Job {
    /// Chunks to read and decode.
    Batch(Vec<Want>),
    /// The walk failed here (a list blob could not be read): reported in stream order.
    Failed(Error),
}

/// A decoded batch: the chunks, their plaintexts in the same order, and the sealed bytes
/// read from packs (delta bases not counted).
struct Decoded {
    wanted: Vec<Want>,
    plains: Vec<Vec<u8>>,
    read: u64,
}

/// Writes stream `stream` of snapshot `snapshot` to `out`. With `ranges`, only those byte ranges
/// (sorted, not overlapping) are written, and the whole-stream hash is not checked.
///
/// The chunk-list walk runs on one thread, batches of chunks are read and decoded (delta
/// bases resolved ahead per batch) by a worker per core (2 to 8), and the calling thread
/// writes and hashes them in stream order; at most [`IN_FLIGHT_BYTES`] of plain data (plus one
/// chunk per batch) is held at once.
///
/// Errors: [`Error::Corrupt`] naming the pack and blob when data is damaged, or the snapshot
/// when the stream hash does not match; the first error in stream order is returned, after
/// everything before it was written; nothing wrong is written for a damaged chunk.
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
    let mut w = Writer {
        ranges,
        out,
        hasher: ranges.is_none().then(blake3::Hasher::new),
        outcome: RestoreOutcome::default(),
        progress,
        what: format!("snapshot {} stream {}", snapshot.short(), stream.name),
    };
    let bases_before = repo.base_cache().bytes_read();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let root = Id(stream.root);
    let pos = run_ordered(
        workers,
        (IN_FLIGHT_BYTES / BATCH_BYTES) as usize,
        |emit| produce(repo, index, root, ranges, emit),
        |job| decode(repo, index, job),
        |batch| w.write_batch(batch?),
    )
    .map_err(repair_hint)?;
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

/// Walks the tree under `root` (only `ranges` when given) and emits its data chunks in
/// batches of about [`BATCH_BYTES`]; a list blob that cannot be read is emitted as a failed
/// job and ends the walk. Returns the stream offset reached, bytes.
fn produce(
    repo: &Repository,
    index: &Index,
    root: Id,
    ranges: Option<&[Range<u64>]>,
    emit: &mut dyn FnMut(Job) -> bool,
) -> u64 {
    let mut walk = Walk::of(repo, index, root);
    if let Some(r) = ranges {
        walk = walk.ranges(r);
    }
    let (mut batch, mut bytes) = (Vec::new(), 0);
    while let Some(n) = walk.next() {
        let c = match n {
            Ok(Node::Chunk(c)) => c,
            Ok(_) => continue,
            Err(e) => {
                if batch.is_empty() || emit(Job::Batch(std::mem::take(&mut batch))) {
                    emit(Job::Failed(e.into()));
                }
                return walk.offset();
            }
        };
        if !batch.is_empty() && bytes + c.size > BATCH_BYTES {
            if !emit(Job::Batch(std::mem::take(&mut batch))) {
                return walk.offset();
            }
            bytes = 0;
        }
        batch.push((c.id, c.offset, c.size));
        bytes += c.size;
    }
    if !batch.is_empty() {
        emit(Job::Batch(batch));
    }
    walk.offset()
}

/// Reads and decodes one batch: its delta bases ahead, then one range read per run of
/// adjacent blobs.
fn decode(repo: &Repository, index: &Index, job: Job) -> Result<Decoded> {
    let wanted = match job {
        Job::Batch(w) => w,
        Job::Failed(e) => return Err(e),
    };
    let ids: Vec<Id> = wanted.iter().map(|w| w.0).collect();
    prefetch_bases(repo, index, &ids);
    let mut plains = Vec::with_capacity(ids.len());
    let mut read = 0;
    for run in plan_runs(index, &ids)? {
        let (p, n) = read_run(repo, index, &run)?;
        plains.extend(p);
        read += n;
    }
    Ok(Decoded {
        wanted,
        plains,
        read,
    })
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

impl Writer<'_> {
    /// Writes a decoded batch (or, with ranges, its parts inside them), checking each chunk's
    /// length against the chunk list and hashing what is written without ranges.
    fn write_batch(&mut self, batch: Decoded) -> Result<()> {
        if self.outcome.chunks_read == 0 {
            // Tests hold the writer here and watch the workers decode on.
            crate::testhook::pause("restore-first-write");
        }
        self.outcome.bytes_read += batch.read;
        if batch.plains.len() != batch.wanted.len() {
            return Err(Error::corrupt(
                self.what.clone(),
                "fewer chunks read than the chunk list holds",
            ));
        }
        for (&(_, start, size), plain) in batch.wanted.iter().zip(&batch.plains) {
            if plain.len() as u64 != size {
                return Err(Error::corrupt(
                    self.what.clone(),
                    "chunk length differs from the chunk list",
                ));
            }
            self.outcome.chunks_read += 1;
            let Some(r) = self.ranges else {
                if let Some(h) = self.hasher.as_mut() {
                    h.update(plain);
                }
                self.write(plain)?;
                continue;
            };
            for rg in r {
                let s = rg.start.max(start);
                let e = rg.end.min(start + size);
                if s < e {
                    self.write(&plain[(s - start) as usize..(e - start) as usize])?;
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing the restored dump", e))?;
        self.outcome.bytes_written += bytes.len() as u64;
        self.progress.inc(bytes.len() as u64);
        Ok(())
    }
}
