//! `snapshot`: stream a dump into the repository.
//!
//! Each dump stream goes through the one snapshot pipeline, [`crate::archive::Archiver`]
//! (read, chunk, dedup, encode, pack); this command handles the sources, refuses an empty or
//! cut-short dump, confirms the packs the streams rely on and writes the manifest, last, and
//! only when every source reports a complete dump. It never seals or compresses a blob.

use crate::archive::{Archived, Archiver, IndexSource, PackSink, Scan};
use crate::error::{Error, Result};
use crate::format::snapshot::{Manifest, Summary};
use crate::id::Id;
use crate::index::SharedIndex;
use crate::progress::Progress;
use crate::repository::Repository;
use crate::source::DumpSource;
use std::collections::HashSet;
use std::time::Instant;

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
/// completion marker (defined with the retention rules that treat it specially).
pub use crate::retention::INCOMPLETE_TAG;

/// A snapshot that was written.
#[derive(Debug, Clone)]
pub struct SnapshotOutcome {
    /// Its id.
    pub id: Id,
    /// Its manifest.
    pub manifest: Manifest,
    /// New blobs stored as deltas against an earlier blob (among the summary's `new_blobs`;
    /// not in the manifest).
    pub delta_blobs: u64,
    /// Sealed bytes of those delta blobs (part of the summary's `bytes_added`).
    pub delta_bytes: u64,
}

/// Takes a snapshot of one or more named streams (`(stream name, source)`, the main dump
/// first; the manifest's source description is the first one's) into `repo`.
///
/// Errors: a source's error when its dump did not complete (no manifest is written; packs and
/// index files already written stay, so a rerun stores nothing twice); when a pack the
/// snapshot deduplicated against is missing (rule W4, see
/// [`crate::archive::confirm_relied`]): [`Error::NotFound`] if a concurrent prune removed it
/// (run again), [`Error::Corrupt`] if it was lost outside prune (`check`, `repair index`);
/// storage errors. The shared lock is held by `index` ([`SharedIndex::start`]). An empty
/// stream, or a recognised SQL dump without its completion marker, is refused before the
/// manifest unless `opts` allows it (see [`SnapshotOptions::allow_incomplete`]).
///
/// `progress` gets the phase (`dumping`, `saving the snapshot`), the bytes read, the table
/// being read and the previous snapshot's size as the expected total; the caller finishes it
/// (one bar may serve several snapshots at once).
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
    let (mut delta_blobs, mut delta_bytes) = (0u64, 0u64);
    tracing::info!(streams = sources.len(), "snapshot started");
    for (name, source) in sources {
        let (stored, info) = store_stream(repo, index, name, source, progress)?;
        ends.push((info.dialect, stored.complete));
        relied.extend(stored.relied);
        summary.bytes_read += stored.stream.size;
        summary.chunks += stored.stream.chunks;
        summary.bytes_added += stored.bytes_written;
        summary.new_blobs += stored.new_blobs;
        delta_blobs += stored.delta_blobs;
        delta_bytes += stored.delta_bytes;
        streams.push(stored.stream);
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
    progress.set_phase("saving the snapshot");
    progress.set_item("");
    let confirming = Instant::now();
    crate::archive::confirm_relied(repo, &relied)?;
    tracing::info!(
        packs = relied.len(),
        ms = confirming.elapsed().as_millis() as u64,
        "packs relied on confirmed"
    );
    let id = repo.save_manifest(&manifest)?;
    crate::repository::catalogue::publish(repo, &id, &manifest, None)?;
    tracing::info!(
        id = %id.short(),
        bytes_read = manifest.summary.bytes_read,
        bytes_added = manifest.summary.bytes_added,
        ms = started.elapsed().as_millis() as u64,
        "manifest written"
    );
    Ok(SnapshotOutcome {
        id,
        manifest,
        delta_blobs,
        delta_bytes,
    })
}

/// Stores one stream through the [`Archiver`] (deltas against the previous snapshot of the
/// same source, the table scan of its dialect, or detected); returns it and the source's final
/// description. The source's `finish` is checked last.
///
/// Errors: as [`Archiver::archive`], then the source's own error.
fn store_stream(
    repo: &Repository,
    index: &SharedIndex,
    name: String,
    mut source: Box<dyn DumpSource>,
    progress: &dyn Progress,
) -> Result<(Archived, crate::source::SourceInfo)> {
    let info = source.info();
    let what = describe(&info);
    progress.set_phase("dumping");
    tracing::info!(stream = %name, source = %what, "dump started");
    let started = Instant::now();
    let archiver = Archiver {
        repo,
        index: IndexSource::Shared(index),
        parent: Some(info.clone()),
        scan: Scan::Dump(info.dialect),
        sink: PackSink::Own,
        progress,
        reading: format!("reading the dump ({what})"),
    };
    let stored = archiver.archive(name, &mut *source, &mut HashSet::new())?;
    let mut info = source.finish()?;
    tracing::info!(
        stream = %stored.stream.name,
        bytes = stored.stream.size,
        complete = ?stored.complete,
        ms = started.elapsed().as_millis() as u64,
        "dump ended"
    );
    if info.dialect.is_none() {
        info.dialect = stored.detected;
    }
    Ok((stored, info))
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
