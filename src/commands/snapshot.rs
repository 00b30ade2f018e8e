//! `snapshot`: stream a dump into the repository.
//!
//! Pipeline, each stage on its own thread(s), joined by bounded channels so memory stays flat
//! whatever the dump size:
//! 1. reader: FastCDC chunking, keyed BLAKE3 per chunk, BLAKE3 of the whole stream, table scan;
//! 2. dedup (calling thread): index lookup, chunk list tree, delta base candidates by position in
//!    the previous snapshot of the same source and that chunk's neighbours ([`crate::delta`]);
//!    only new blobs go on;
//! 3. workers (one per core): zstd (plain, and as a patch against each candidate base in
//!    turn), then XChaCha20-Poly1305;
//! 4. packer: packs, then index files.
//!
//! The manifest is written last, and only when the source reports a complete dump.

use crate::blob::codec;
use crate::chunker::chunks;
use crate::delta::{choose_base, BaseFinder};
use crate::error::{Error, Result};
use crate::format::list::ListEntry;
use crate::format::pack::BlobKind;
use crate::format::snapshot::{Manifest, StreamRef, Summary};
use crate::id::Id;
use crate::index::SharedIndex;
use crate::pack::packer::{Packer, PackerStats};
use crate::progress::Progress;
use crate::repository::Repository;
use crate::source::DumpSource;
use crate::stream::ListWriter;
use crate::tables::{Section, TableScanner};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::HashSet;
use std::io::Read;
use std::time::Instant;

/// Chunks in flight between the reader and the dedup stage (about 16 MiB at 64 KiB chunks).
const CHUNK_QUEUE: usize = 256;
/// Blobs in flight to and from the compression workers.
const WORK_QUEUE: usize = 64;

/// Options of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// Host name to record (default: this host).
    pub host: Option<String>,
    /// Tags to record.
    pub tags: Vec<String>,
    /// Snapshot time to record (default: now). Tests use it to build timelines.
    pub time: Option<jiff::Zoned>,
    /// Store a recognised SQL dump that lacks its completion marker (see
    /// [`crate::tables::Scanned::complete`]), tagged [`INCOMPLETE_TAG`], instead of refusing it.
    pub allow_incomplete: bool,
    /// Store an empty (0-byte) stream instead of refusing it.
    pub allow_empty: bool,
}

/// Tag of a snapshot stored with [`SnapshotOptions::allow_incomplete`] whose dump lacks its
/// completion marker.
pub const INCOMPLETE_TAG: &str = "incomplete";

/// A snapshot that was written.
#[derive(Debug, Clone)]
pub struct SnapshotOutcome {
    /// Its id.
    pub id: Id,
    /// Its manifest.
    pub manifest: Manifest,
}

struct Work {
    kind: BlobKind,
    id: Id,
    plain: Vec<u8>,
    /// Candidate delta bases in the order to try (data chunks only; see
    /// [`crate::delta::BaseFinder::candidates`]).
    bases: Vec<Id>,
}

struct Sealed {
    kind: BlobKind,
    id: Id,
    raw_length: u32,
    base: Option<Id>,
    bytes: Vec<u8>,
}

struct StreamStats {
    size: u64,
    blake3: [u8; 32],
    sections: Vec<Section>,
    /// The dialect recognised from the stream's first bytes, when the source declared none.
    detected: Option<crate::source::Dialect>,
    /// Whether the scanned dump ended with its completion marker; `None` when not scanned.
    complete: Option<bool>,
}

/// Takes a snapshot of one or more named streams (`(stream name, source)`, the main dump
/// first; the manifest's source description is the first one's) into `repo`.
///
/// Errors: a source's error when its dump did not complete (no manifest is written; packs and
/// index files already written stay, so a rerun stores nothing twice); [`Error::NotFound`]
/// when a pack the snapshot deduplicated against vanished meanwhile (see `confirm_packs`);
/// storage errors. The shared lock is held by `index` ([`SharedIndex::start`]). An empty
/// stream, or a recognised SQL dump without its completion marker, is refused before the
/// manifest unless `opts` allows it (see [`SnapshotOptions::allow_incomplete`]).
pub fn run(
    repo: &Repository,
    index: &SharedIndex,
    sources: Vec<(String, Box<dyn DumpSource>)>,
    opts: &SnapshotOptions,
    progress: &dyn Progress,
) -> Result<SnapshotOutcome> {
    let started = Instant::now();
    // `index` holds the shared lock that tells a concurrent prune this snapshot may reference
    // packs it marks obsolete (repo-format.md section 14, W1); snapshots never look at other
    // locks, so prune never delays a snapshot.
    let time = opts.time.clone().unwrap_or_else(jiff::Zoned::now);
    let mut streams = Vec::new();
    let mut summary = Summary::default();
    let mut first_info = None;
    let mut ends = Vec::new();
    let mut relied = HashSet::new();
    for (name, source) in sources {
        let (stream, info, added, new_blobs, packs, complete) =
            store_stream(repo, index, name, source, progress)?;
        ends.push((info.dialect, complete));
        relied.extend(packs);
        summary.bytes_read += stream.size;
        summary.chunks += stream.chunks;
        summary.bytes_added += added;
        summary.new_blobs += new_blobs;
        streams.push(stream);
        first_info.get_or_insert(info);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let mut manifest = Manifest {
        time: time.to_string(),
        host: opts.host.clone().unwrap_or_else(crate::hostname),
        tags: opts.tags.clone(),
        source: first_info.unwrap_or_default(),
        streams,
        summary,
        original: None,
    };
    refuse_unfinished(&mut manifest, &ends, opts)?;
    crate::testhook::pause("snapshot-before-manifest");
    crate::index::confirm_packs(repo, &relied)?;
    let id = repo.save_manifest(&manifest)?;
    crate::repository::catalogue::record_or_warn(repo, &id, &manifest);
    progress.finish();
    Ok(SnapshotOutcome { id, manifest })
}

/// What [`store_stream`] returns: the stream's reference, the source's final description, bytes
/// added, new blobs, the packs the stream relies on, and whether its dump ended with its
/// completion marker (`None`: not SQL).
type StoredStream = (
    StreamRef,
    crate::source::SourceInfo,
    u64,
    u64,
    HashSet<Id>,
    Option<bool>,
);

/// Stores one stream; returns its reference, the source's final description, bytes added to
/// the repository and the number of new blobs. The source's `finish` is checked last.
fn store_stream(
    repo: &Repository,
    index: &SharedIndex,
    name: String,
    mut source: Box<dyn DumpSource>,
    progress: &dyn Progress,
) -> Result<StoredStream> {
    let info = source.info();
    let (chunk_tx, chunk_rx) = bounded::<(Id, Vec<u8>)>(CHUNK_QUEUE);
    let (work_tx, work_rx) = bounded::<Work>(WORK_QUEUE);
    let (sealed_tx, sealed_rx) = bounded::<Sealed>(WORK_QUEUE);

    // 1. reader
    let key = repo.key().clone();
    let params = repo.config().chunker;
    let dialect = info.dialect;
    let reader = std::thread::spawn(move || {
        let result = read_stream(&mut *source, &key, &params, dialect, chunk_tx);
        (source, result)
    });

    // 3. workers
    let level = repo.config().compression_level;
    let workers: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let rx = work_rx.clone();
            let tx = sealed_tx.clone();
            let repo = repo.clone();
            let index = index.clone();
            std::thread::spawn(move || {
                for w in rx {
                    // Candidates are tried in order; the first delta within the margin is
                    // kept. A base that cannot be read only costs that attempt: without any
                    // usable one the chunk is stored whole (check reports the damage).
                    let mut encoded = None;
                    for b in &w.bases {
                        let Some(plain) = index.get().ok().and_then(|index| {
                            crate::pack::reader::read_base(&repo, &index, b).ok()
                        }) else {
                            continue;
                        };
                        let e = codec::encode(repo.key(), &w.plain, level, Some((*b, &plain)));
                        let done = e.1.is_some();
                        encoded = Some(e);
                        if done {
                            break;
                        }
                    }
                    let (bytes, base) = match encoded {
                        Some(e) => e,
                        None => codec::encode(repo.key(), &w.plain, level, None),
                    };
                    let raw_length = w.plain.len() as u32;
                    let s = Sealed {
                        kind: if base.is_some() {
                            BlobKind::Delta
                        } else {
                            w.kind
                        },
                        id: w.id,
                        raw_length,
                        base,
                        bytes,
                    };
                    if tx.send(s).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(work_rx);
    drop(sealed_tx);

    // 4. packer
    let packer_repo = repo.clone();
    let packer = std::thread::spawn(move || -> Result<PackerStats> {
        let mut p = Packer::new(packer_repo);
        for s in sealed_rx {
            p.add(s.kind, s.id, s.raw_length, s.base, &s.bytes)?;
        }
        p.finish()
    });

    // 2. dedup
    let dedup = dedup_stage(repo, index, &info, &name, &chunk_rx, &work_tx, progress);
    drop(chunk_rx);
    drop(work_tx);
    let (source, read) = reader.join().expect("reader thread panicked");
    for w in workers {
        w.join().expect("worker thread panicked");
    }
    let packed = packer.join().expect("packer thread panicked");
    // Storage errors first: they explain why the other stages stopped.
    let packed = packed?;
    let (root, chunks, new_blobs, relied) = dedup?;
    let stream =
        read.map_err(|e| Error::io(format!("reading the dump ({})", describe(&info)), e))?;
    let mut info = source.finish()?;
    if info.dialect.is_none() {
        info.dialect = stream.detected;
    }
    let stream_ref = StreamRef {
        name,
        size: stream.size,
        blake3: stream.blake3,
        root: root.0,
        chunks,
        sections: stream.sections,
    };
    let complete = stream.complete;
    Ok((stream_ref, info, packed.bytes, new_blobs, relied, complete))
}

/// Refuses a snapshot whose streams are empty or cut short, unless `opts` allows it; tags an
/// allowed incomplete one [`INCOMPLETE_TAG`]. `ends` holds, per stream of `m`, its dialect and
/// whether its dump ended with the completion marker.
///
/// Errors: [`crate::source::SourceError::Invalid`] (exit code 1) naming the stream, what is
/// missing and the option that overrides it.
fn refuse_unfinished(
    m: &mut Manifest,
    ends: &[(Option<crate::source::Dialect>, Option<bool>)],
    opts: &SnapshotOptions,
) -> Result<()> {
    let refuse = |msg: String| Err(crate::source::SourceError::Invalid(msg).into());
    let from = match (m.source.kind.as_str(), &m.source.command) {
        ("stdin", _) => "standard input".to_string(),
        ("command", Some(c)) => format!("command `{c}`"),
        _ => describe(&m.source),
    };
    for (s, (dialect, complete)) in m.streams.iter().zip(ends) {
        if s.size == 0 && !opts.allow_empty {
            return refuse(format!(
                "the dump stream {:?} from {from} is empty (0 bytes), so no snapshot was \
                 written; check that the dump tool writes the dump to standard output, or pass \
                 --allow-empty to store an empty snapshot",
                s.name
            ));
        }
        if let (Some(d), Some(false)) = (dialect, complete) {
            if !opts.allow_incomplete {
                return refuse(format!(
                    "the dump stream {:?} from {from} is a {} dump that does not end with \
                     {}: it was cut short (the dump tool failed or was killed; in a shell \
                     pipe its exit status is lost: use --command, or `set -o pipefail`), so no \
                     snapshot was written; pass --allow-incomplete to store it anyway, tagged \
                     `{INCOMPLETE_TAG}`",
                    s.name,
                    crate::tables::dialect_name(*d),
                    crate::tables::completion_marker(*d)
                ));
            }
            if !m.tags.iter().any(|t| t == INCOMPLETE_TAG) {
                m.tags.push(INCOMPLETE_TAG.into());
            }
        }
    }
    Ok(())
}

fn describe(info: &crate::source::SourceInfo) -> String {
    match (&info.database, &info.command) {
        (Some(db), _) => format!("{} database {db}", info.kind),
        (None, Some(c)) => format!("command `{c}`"),
        _ => info.kind.clone(),
    }
}

fn read_stream(
    source: &mut dyn Read,
    key: &crate::crypto::MasterKey,
    params: &crate::format::config::ChunkerParams,
    dialect: Option<crate::source::Dialect>,
    tx: Sender<(Id, Vec<u8>)>,
) -> std::io::Result<StreamStats> {
    let mut hasher = blake3::Hasher::new();
    let mut scanner = dialect.map(TableScanner::new);
    let mut detected = None;
    let mut size = 0u64;
    for chunk in chunks(source, params, key.chunker_seed()) {
        let chunk = chunk?;
        if size == 0 && scanner.is_none() {
            // A piped dump (`pg_dump | dumpvault snapshot --stdin`) still gets its table index.
            detected = crate::tables::detect_dialect(&chunk);
            scanner = detected.map(TableScanner::new);
        }
        hasher.update(&chunk);
        if let Some(s) = scanner.as_mut() {
            s.update(&chunk);
        }
        size += chunk.len() as u64;
        let id = key.blob_id(&chunk);
        if tx.send((id, chunk)).is_err() {
            // The dedup stage stopped; its error is reported.
            break;
        }
    }
    let scanned = scanner.map(TableScanner::end);
    Ok(StreamStats {
        size,
        blake3: *hasher.finalize().as_bytes(),
        complete: scanned.as_ref().map(|s| s.complete),
        sections: scanned.map(|s| s.sections).unwrap_or_default(),
        detected,
    })
}

/// Returns (root list blob, chunks, new blobs, packs the stream relies on).
fn dedup_stage(
    repo: &Repository,
    index: &SharedIndex,
    info: &crate::source::SourceInfo,
    stream: &str,
    rx: &Receiver<(Id, Vec<u8>)>,
    tx: &Sender<Work>,
    progress: &dyn Progress,
) -> Result<(Id, u64, u64, HashSet<Id>)> {
    let index = index.get()?;
    let mut finder = BaseFinder::for_stream(repo, &index, info, stream)?;
    crate::testhook::pause("snapshot-indexed");
    let mut seen: HashSet<Id> = HashSet::new();
    let mut relied: HashSet<Id> = HashSet::new();
    let mut list = ListWriter::new();
    let (mut chunks, mut new_blobs) = (0u64, 0u64);
    let stopped = || Error::Invalid("snapshot pipeline stopped".into());
    let mut store = |kind: BlobKind, id: Id, plain: Vec<u8>, bases: Vec<Id>| -> Result<()> {
        if !seen.insert(id) {
            return Ok(());
        }
        if index.contains(&id) {
            // Deduplicated: the manifest will rely on this blob's packs (W2, W4).
            relied.extend(index.chain_packs(&id));
            return Ok(());
        }
        new_blobs += 1;
        // A blob the index knows only in an obsolete pack, or as a delta whose chain is
        // not live, is stored again whole, so that readers prefer the new copy.
        let bases = if index.knows(&id) { Vec::new() } else { bases };
        // Every candidate's chain is relied on: a superset of the base the worker keeps.
        for b in &bases {
            relied.extend(index.chain_packs(b));
        }
        let w = Work {
            kind,
            id,
            plain,
            bases,
        };
        tx.send(w).map_err(|_| stopped())
    };
    for (id, data) in rx {
        chunks += 1;
        progress.inc(data.len() as u64);
        let entry = ListEntry {
            id: id.0,
            size: data.len() as u64,
        };
        let is_new = !index.contains(&id);
        let mut bases: Vec<Id> = Vec::new();
        for b in finder.candidates(&id, data.len() as u64, is_new) {
            if let Some(b) = choose_base(&index, b) {
                if !bases.contains(&b) {
                    bases.push(b);
                }
            }
        }
        store(BlobKind::Data, id, data, bases)?;
        let key = repo.key();
        list.push(entry, &mut |plain| {
            let lid = key.blob_id(&plain);
            store(BlobKind::List, lid, plain, Vec::new())?;
            Ok(lid)
        })?;
    }
    let key = repo.key();
    let root = list.finish(&mut |plain| {
        let lid = key.blob_id(&plain);
        store(BlobKind::List, lid, plain, Vec::new())?;
        Ok(lid)
    })?;
    Ok((root, chunks, new_blobs, relied))
}

/// Expands database URLs into the databases to snapshot: each URL as it is, or with
/// `all_databases` every database of each server URL whose name matches one of `include`
/// (all when empty) and none of `exclude` (glob patterns).
///
/// Errors: [`Error::Invalid`] for a bad URL or glob, or a server where no database matches;
/// the engine's error when the databases cannot be listed.
pub fn expand_targets(
    sources: &[String],
    all_databases: bool,
    include: &[String],
    exclude: &[String],
) -> Result<Vec<crate::source::database::DatabaseUrl>> {
    use crate::source::database::DatabaseUrl;
    let globs = |patterns: &[String]| -> Result<globset::GlobSet> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            b.add(
                globset::Glob::new(p)
                    .map_err(|e| Error::Invalid(format!("bad glob pattern {p:?}: {e}")))?,
            );
        }
        b.build()
            .map_err(|e| Error::Invalid(format!("bad glob patterns: {e}")))
    };
    let inc = globs(include)?;
    let exc = globs(exclude)?;
    let mut out = Vec::new();
    for s in sources {
        let url = DatabaseUrl::parse(s)?;
        if all_databases {
            let mut found = 0;
            for db in url.list_databases()? {
                if (include.is_empty() || inc.is_match(&db)) && !exc.is_match(&db) {
                    out.push(url.with_database(&db));
                    found += 1;
                }
            }
            if found == 0 {
                return Err(Error::Invalid(format!(
                    "no database on {s} matches the include/exclude patterns"
                )));
            }
        } else {
            out.push(url);
        }
    }
    Ok(out)
}

/// Opens the database's dump streams and snapshots them into `repo` (see [`run`]).
///
/// Errors: the engine's error when the dump cannot start or does not complete; storage errors.
pub fn snapshot_database(
    repo: &Repository,
    index: &SharedIndex,
    url: &crate::source::database::DatabaseUrl,
    dump: &crate::source::database::DumpOptions,
    opts: &SnapshotOptions,
    progress: &dyn Progress,
) -> Result<SnapshotOutcome> {
    let sources = url.open(dump)?;
    run(repo, index, sources, opts, progress)
}

/// Runs `f` on every item with at most `jobs` (at least 1) running at once, and returns the
/// results in item order. Once `stop` is set no further item starts; those items' results
/// are `None`. One item failing does not stop the others.
pub fn parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    stop: &std::sync::atomic::AtomicBool,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len()) {
            s.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(t) = items.get(i) else { break };
                let r = f(t);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().unwrap_or(None))
        .collect()
}
