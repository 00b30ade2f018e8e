//! The one snapshot pipeline: a stream's bytes go in, its chunk-list tree, new blobs and packs
//! come out. `snapshot` (each dump stream) and `copy` (re-chunking a stream into a repository
//! with other chunker parameters) both store streams through [`Archiver`].
//!
//! Stages, each on its own thread(s), joined by bounded channels so memory stays flat whatever
//! the stream's size:
//! 1. reader (`read.rs`): FastCDC chunking, BLAKE3 of the whole stream, the table scan of a
//!    dump;
//! 2. dedup (the calling thread): keyed BLAKE3 per chunk (its id), index lookup, chunk-list
//!    tree ([`crate::stream::ListWriter`]), delta base candidates (by the rows they hold, then
//!    by position) in the parent stream, the previous snapshot's stream of the same source
//!    ([`parent`]); only new blobs go on;
//! 3. encoders (`encode.rs`, one per core): each new blob through [`crate::blob::codec`] (a zstd
//!    patch against each candidate base in turn, else compressed whole; then sealed);
//! 4. packer: the archiver's own [`crate::pack::packer::Packer`] (packs, then index files), or
//!    a [`ParallelPacker`] the caller shares between streams.
//!
//! Owns: the order of the stages, deduplication against the index (rule W2 of repo-format.md
//! section 14: a blob is relied on only when [`Index::contains`] it, with its whole chain; one
//! the index knows only otherwise is stored again whole) and the set of packs a stream relies
//! on, which the caller confirms (W4, [`confirm_relied`]) before it writes a manifest. Must not write manifests,
//! take locks or choose which snapshots to store (that is [`crate::commands`]). Commands never
//! seal or compress a blob, nor assemble packs: they hand a reader to an [`Archiver`].

mod ahead;
mod confirm;
mod content;
mod encode;
pub mod parent;
mod read;

use crate::error::{Error, Result};
use crate::format::list::ListEntry;
use crate::format::pack::BlobKind;
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::{Index, SharedIndex};
use crate::pack::parallel::ParallelPacker;
use crate::progress::Progress;
use crate::repository::Repository;
use crate::source::{Dialect, SourceInfo};
use crate::stream::ListWriter;
pub use confirm::confirm_relied;
use crossbeam_channel::{bounded, Receiver, Sender};
use encode::Work;
use parent::{choose_base, BaseFinder};
use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

/// Bytes of chunks in flight between the reader and the dedup stage, counted at the
/// repository's average chunk: 64 chunks at 64 KiB, 16 at 256 KiB (see [`chunk_queue`]). It
/// was 256 chunks: when the encoders are the slowest stage (a later snapshot patching most
/// chunks), every queue stays full, and on a pgbench dump (chunks of 145 KiB on average) the
/// chunks in flight were 52 MB of a later snapshot's 84 MB peak heap (heaptrack).
const CHUNK_QUEUE_BYTES: usize = 4 << 20;

/// The capacity, in chunks, of each queue of the pipeline (reader to dedup stage, to and from
/// the encoders) for a repository whose average chunk is `avg_size` bytes: [`CHUNK_QUEUE_BYTES`]
/// worth, between 8 and 64 chunks.
fn chunk_queue(avg_size: u32) -> usize {
    (CHUNK_QUEUE_BYTES / (avg_size.max(1) as usize)).clamp(8, 64)
}

/// The index a stream deduplicates against.
#[derive(Clone, Copy)]
pub enum IndexSource<'a> {
    /// The process's shared index (it holds the shared lock, rule W1), still loading while the
    /// reader starts: a dump never waits for the index.
    Shared(&'a SharedIndex),
    /// An index already loaded under the caller's shared lock.
    Loaded(&'a Index),
}

/// An index handed out by [`IndexSource::get`].
enum IndexRef<'a> {
    Shared(Arc<Index>),
    Loaded(&'a Index),
}

impl std::ops::Deref for IndexRef<'_> {
    type Target = Index;
    fn deref(&self) -> &Index {
        match self {
            IndexRef::Shared(i) => i,
            IndexRef::Loaded(i) => i,
        }
    }
}

impl<'a> IndexSource<'a> {
    /// Waits for the index. Errors: the shared index's loading error.
    fn get(&self) -> Result<IndexRef<'a>> {
        Ok(match self {
            IndexSource::Shared(s) => IndexRef::Shared(s.get()?),
            IndexSource::Loaded(i) => IndexRef::Loaded(i),
        })
    }
}

/// Whether and how the reader scans the stream as an SQL dump (table sections, completion
/// marker; see [`crate::tables::TableScanner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// No scan: the sections are known already (copy).
    Off,
    /// Scan as a dump of this dialect; `None`: detect the dialect from the stream's first
    /// chunk (a piped dump still gets its table index), and scan only when recognised.
    Dump(Option<Dialect>),
}

/// Where sealed blobs go.
#[derive(Clone, Copy)]
pub enum PackSink<'a> {
    /// A [`crate::pack::packer::Packer`] of the archiver's own, finished with the stream: its
    /// packs, then one index file for them (and a checkpoint index file every few minutes),
    /// are written before [`Archiver::archive`] returns.
    Own,
    /// A packer the caller shares between streams; the blobs are durable only after the
    /// caller's [`ParallelPacker::checkpoint`].
    Shared(&'a ParallelPacker),
}

/// Stores streams into one repository: see the module notes.
pub struct Archiver<'a> {
    /// The repository written into; its key names, seals and chunks.
    pub repo: &'a Repository,
    /// The index deduplicated against (taken under the writer's shared lock, rule W1).
    pub index: IndexSource<'a>,
    /// The source whose previous snapshot, the newest with a stream of the same name, proposes
    /// delta bases ([`BaseFinder::for_stream`]); `None`: every new blob is stored whole. With a
    /// parent, the `snapshot-indexed` pause point (test-hooks builds) is reached once the index
    /// is taken and the parent stream read.
    pub parent: Option<SourceInfo>,
    /// The table scan.
    pub scan: Scan,
    /// Where sealed blobs go.
    pub sink: PackSink<'a>,
    /// Receives the bytes of every chunk read, the table being read (a scanned dump; labelled
    /// with the parent's database) and, with a parent, the previous stream's size as the
    /// expected total ([`Progress::add_total`]).
    pub progress: &'a dyn Progress,
    /// What a read error says was being done, e.g. `reading the dump (postgres database db)`.
    pub reading: String,
}

/// One stream stored by [`Archiver::archive`].
#[derive(Debug, Clone)]
pub struct Archived {
    /// The stream's reference for a manifest: name, size in bytes, BLAKE3, root list blob,
    /// data chunks (counting repeats), table sections (empty unless scanned).
    pub stream: StreamRef,
    /// The dialect recognised from the stream's first chunk, when scanned without one.
    pub detected: Option<Dialect>,
    /// Whether the scanned dump ended with its completion marker; `None` when not scanned.
    pub complete: Option<bool>,
    /// Blobs (data chunks and list blobs) stored for this stream.
    pub new_blobs: u64,
    /// Data chunks among [`Archived::new_blobs`].
    pub new_data_chunks: u64,
    /// Bytes of packs written (blobs, headers, trailers) by the archiver's own packer; 0 with a
    /// [`PackSink::Shared`] packer, whose stats the caller reads.
    pub bytes_written: u64,
    /// New blobs stored as deltas against a base blob (among [`Archived::new_blobs`]).
    pub delta_blobs: u64,
    /// Sealed bytes of those delta blobs (part of the pack bytes written).
    pub delta_bytes: u64,
    /// Packs the stream relies on: those of deduplicated blobs and of delta base candidates,
    /// with their whole chains (rule W4: confirm them with [`confirm_relied`] before writing a
    /// manifest).
    pub relied: HashSet<Id>,
}

/// What the dedup stage built.
struct Deduped {
    root: Id,
    chunks: u64,
    new_blobs: u64,
    new_data_chunks: u64,
    relied: HashSet<Id>,
}

impl Archiver<'_> {
    /// Stores stream `name`, read from `source` to its end, and returns its reference and
    /// counts. `queued` holds the blobs this writer already stored or queued that the index
    /// does not list yet; those are not stored again, and this stream's new blobs are added.
    ///
    /// Errors, in this order (the first explains why the later stages stopped): a storage
    /// error writing packs or index files; the index's loading error, or a list blob of the
    /// chunk-list tree the index cannot give; [`Error::Io`] reading `source` (saying
    /// [`Archiver::reading`]). Blobs stored before an error stay in the repository, so a rerun
    /// stores nothing twice.
    pub fn archive<R: Read + Send>(
        &self,
        name: String,
        source: R,
        queued: &mut HashSet<Id>,
    ) -> Result<Archived> {
        let queue = chunk_queue(self.repo.config().chunker.avg_size);
        let (chunk_tx, chunk_rx) = bounded::<read::ReadChunk>(queue);
        let (work_tx, work_rx) = bounded::<Work>(queue);
        let (sealed_tx, sealed_rx) = bounded(queue);
        let repo = self.repo;
        let index = self.index;
        let sink = self.sink;
        let scan = self.scan;
        let report = read::Report {
            progress: self.progress,
            label: self.parent.as_ref().and_then(|p| p.database.clone()),
        };
        let started = std::time::Instant::now();
        tracing::info!(stream = %name, "reading the stream: {}", self.reading);
        std::thread::scope(|s| {
            let reader = s.spawn(move || read::read_stream(source, repo, scan, chunk_tx, report));
            let workers: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
                .map(|_| {
                    let (rx, tx) = (work_rx.clone(), sealed_tx.clone());
                    s.spawn(move || encode::encoder(repo, index, rx, tx))
                })
                .collect();
            drop(work_rx);
            drop(sealed_tx);
            let packer = s.spawn(move || encode::pack(repo, sink, sealed_rx));
            let deduped = self.dedup(&name, chunk_rx, work_tx, queued);
            let read = reader.join().expect("reader thread panicked");
            for w in workers {
                w.join().expect("encoder thread panicked");
            }
            // Storage errors first: they explain why the other stages stopped.
            let packed = packer.join().expect("packer thread panicked")?;
            let bytes_written = packed.bytes;
            let d = deduped?;
            let stream = read.map_err(|e| Error::io(self.reading.clone(), e))?;
            tracing::info!(
                stream = %name,
                bytes = stream.size,
                chunks = d.chunks,
                new_blobs = d.new_blobs,
                bytes_written,
                ms = started.elapsed().as_millis() as u64,
                "stream stored"
            );
            Ok(Archived {
                stream: StreamRef {
                    name,
                    size: stream.size,
                    blake3: stream.blake3,
                    root: d.root.0,
                    chunks: d.chunks,
                    sections: stream.sections,
                },
                detected: stream.detected,
                complete: stream.complete,
                new_blobs: d.new_blobs,
                new_data_chunks: d.new_data_chunks,
                bytes_written,
                delta_blobs: packed.delta_blobs,
                delta_bytes: packed.delta_bytes,
                relied: d.relied,
            })
        })
    }

    /// The dedup stage: builds the chunk-list tree of the chunks from `rx` and sends the new
    /// blobs, with their delta base candidates, to the encoders.
    fn dedup(
        &self,
        stream: &str,
        rx: Receiver<read::ReadChunk>,
        tx: Sender<Work>,
        queued: &mut HashSet<Id>,
    ) -> Result<Deduped> {
        let waited = std::time::Instant::now();
        let index = self.index.get()?;
        tracing::info!(
            blobs = index.len(),
            waited_ms = waited.elapsed().as_millis() as u64,
            "index loaded"
        );
        let mut finder = match &self.parent {
            Some(info) => {
                let f = BaseFinder::for_stream(self.repo, &index, info, stream)?;
                crate::testhook::pause("snapshot-indexed");
                if let Some(size) = f.previous_size() {
                    tracing::debug!(stream, bytes = size, "the previous snapshot's stream");
                    self.progress.add_total(size);
                }
                f
            }
            None => BaseFinder::default(),
        };
        let mut relied: HashSet<Id> = HashSet::new();
        let (mut new_blobs, mut new_data_chunks) = (0u64, 0u64);
        let mut store = |kind: BlobKind, id: Id, plain: Vec<u8>, bases: Vec<Id>| -> Result<()> {
            if index.contains(&id) {
                // Deduplicated: the manifest will rely on this blob's packs (W2, W4).
                relied.extend(index.chain_packs(&id));
                return Ok(());
            }
            if !queued.insert(id) {
                return Ok(());
            }
            new_blobs += 1;
            if kind == BlobKind::Data {
                new_data_chunks += 1;
            }
            // A blob the index knows only in an obsolete pack, or as a delta whose chain is
            // not live, is stored again whole, so that readers prefer the new copy.
            let bases = if index.knows(&id) { Vec::new() } else { bases };
            // Every candidate's chain is relied on: a superset of the base the encoder keeps.
            for b in &bases {
                relied.extend(index.chain_packs(b));
            }
            let w = Work {
                kind,
                id,
                plain,
                bases,
            };
            tx.send(w)
                .map_err(|_| Error::Invalid("archive pipeline stopped".into()))
        };
        // The base finder reads previous chunks to match rows (into the base cache, where the
        // encoders find the bases it proposed), with the chunks that follow each one read
        // ahead on other threads ([`ahead`]).
        let key = self.repo.key();
        let max_depth = self.repo.config().max_delta_depth();
        let mut list = ListWriter::new();
        let mut chunks = 0u64;
        let index = &*index;
        let root = std::thread::scope(|s| {
            let mut ahead = ahead::ReadAhead::start(s, self.repo, index);
            // Only on a local disk: on a remote store each read is a paid request, and a warm
            // cache holds the bases already (issue 19's request bound).
            let local = self.repo.backend().is_local();
            let repo = self.repo;
            let mut load = |b: &Id| match local {
                true => ahead.load(b),
                false => crate::pack::reader::read_base(repo, index, b).ok(),
            };
            for read::ReadChunk { data, tables } in rx {
                // The chunk's keyed BLAKE3 here, not in the reader (which chunks, hashes the whole
                // stream and scans it): the two threads share the hashing.
                let id = key.blob_id(&data);
                chunks += 1;
                let entry = ListEntry {
                    id: id.0,
                    size: data.len() as u64,
                };
                let is_new = !index.contains(&id);
                let mut bases: Vec<Id> = Vec::new();
                let proposed = finder.propose(&mut load, &id, &data, is_new, &tables);
                for b in proposed {
                    if let Some(b) = choose_base(index, b, max_depth) {
                        if !bases.contains(&b) {
                            bases.push(b);
                        }
                    }
                }
                store(BlobKind::Data, id, data, bases)?;
                list.push(entry, &mut |plain| {
                    let lid = key.blob_id(&plain);
                    store(BlobKind::List, lid, plain, Vec::new())?;
                    Ok(lid)
                })?;
            }
            list.finish(&mut |plain| {
                let lid = key.blob_id(&plain);
                store(BlobKind::List, lid, plain, Vec::new())?;
                Ok(lid)
            })
        })?;
        tracing::debug!(
            stream,
            loaded = finder.loads(),
            "previous chunks read to match rows for delta bases"
        );
        Ok(Deduped {
            root,
            chunks,
            new_blobs,
            new_data_chunks,
            relied,
        })
    }
}
