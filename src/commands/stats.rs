//! `stats`: how much the repository holds and what it costs. Reads only file listings and
//! manifests (no pack contents), so it is cheap on any backend.
//!
//! Figures (all sizes in bytes):
//! - logical size: the sum of the stream sizes of every snapshot (what restores would write);
//! - stored size: the bytes of the pack files plus the index files;
//! - dedup ratio: logical size / stored size;
//! - growth per day: the `bytes_added` of every snapshot after the first, divided by the days
//!   between the first and the last snapshot (the first snapshot's bytes are the initial
//!   fill, not growth); `None` when the snapshots span less than one second.

use crate::commands::snapshots::{self, SnapshotEntry};
use crate::error::Result;
use crate::repository::{FileKind, Repository, CONFIG_PATH};
use serde::Serialize;
use std::collections::BTreeMap;

/// Seconds in a day.
const DAY_SECS: f64 = 86_400.0;

/// Figures of a set of snapshots (the whole repository, or one database).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotFigures {
    /// Number of snapshots.
    pub snapshots: u64,
    /// Sum of the stream sizes, bytes.
    pub logical_bytes: u64,
    /// Sum of the manifests' `summary.bytes_added`, bytes (sealed bytes the snapshots added
    /// when they were taken; later prunes may have freed some).
    pub added_bytes: u64,
    /// Time of the oldest snapshot, RFC 3339 UTC; `None` without snapshots.
    pub first: Option<String>,
    /// Time of the newest snapshot, RFC 3339 UTC; `None` without snapshots.
    pub last: Option<String>,
    /// Days between the oldest and the newest snapshot (fractional).
    pub span_days: f64,
    /// Bytes added per day after the first snapshot (see the module notes); `None` when the
    /// span is under one second.
    pub growth_bytes_per_day: Option<f64>,
}

/// One database's row of `stats --by database`.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseStats {
    /// Database name; `None` for snapshots of stdin or a command (no database).
    pub database: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: SnapshotFigures,
    /// logical_bytes / added_bytes: how much deduplication and compression saved for this
    /// database (0 when nothing was added).
    pub dedup_ratio: f64,
}

/// The repository's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// All snapshots together.
    #[serde(flatten)]
    pub figures: SnapshotFigures,
    /// Pack files.
    pub packs: u64,
    /// Bytes of the pack files.
    pub pack_bytes: u64,
    /// Index files.
    pub index_files: u64,
    /// Bytes of the index files.
    pub index_bytes: u64,
    /// pack_bytes + index_bytes.
    pub stored_bytes: u64,
    /// Bytes of every repository file: config, keys, packs, index files, manifests, locks and
    /// verification records.
    pub repository_bytes: u64,
    /// logical_bytes / stored_bytes (0 when nothing is stored).
    pub dedup_ratio: f64,
    /// Per database, by name (snapshots without a database last), when asked for.
    pub databases: Option<Vec<DatabaseStats>>,
    /// Snapshot files that are damaged (hex ids): skipped, with a warning on stderr.
    pub damaged_snapshots: Vec<String>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Figures of `list` (oldest first, as [`snapshots::list`] returns it).
pub fn figures(list: &[&SnapshotEntry]) -> SnapshotFigures {
    let mut f = SnapshotFigures {
        snapshots: list.len() as u64,
        ..Default::default()
    };
    for e in list {
        f.logical_bytes += e.manifest.streams.iter().map(|s| s.size).sum::<u64>();
        f.added_bytes += e.manifest.summary.bytes_added;
    }
    let (Some(first), Some(last)) = (list.first(), list.last()) else {
        return f;
    };
    let (t0, t1) = (first.time(), last.time());
    f.first = Some(t0.to_string());
    f.last = Some(t1.to_string());
    let secs = (t1.as_second() - t0.as_second()).max(0);
    f.span_days = secs as f64 / DAY_SECS;
    if secs > 0 {
        let grown: u64 = list[1..]
            .iter()
            .map(|e| e.manifest.summary.bytes_added)
            .sum();
        f.growth_bytes_per_day = Some(grown as f64 / f.span_days);
    }
    f
}

/// The figures of `repo`; with `by_database`, one row per database too.
///
/// Snapshots are read from the catalogue ([`snapshots::load_catalogued`]). Damaged snapshot
/// files are skipped with a warning and listed
/// in [`Stats::damaged_snapshots`].
///
/// Errors: storage errors listing files; a manifest that cannot be read for another reason.
pub fn run(repo: &Repository, by_database: bool) -> Result<Stats> {
    let loaded = snapshots::load_catalogued(repo)?;
    snapshots::warn_damaged(&loaded.damaged);
    let list = loaded.entries;
    let all: Vec<&SnapshotEntry> = list.iter().collect();
    let packs = repo.list(FileKind::Pack)?;
    let index = repo.list(FileKind::Index)?;
    let pack_bytes: u64 = packs.iter().map(|p| p.1).sum();
    let index_bytes: u64 = index.iter().map(|p| p.1).sum();
    let mut repository_bytes = pack_bytes + index_bytes;
    for kind in [
        FileKind::Key,
        FileKind::Snapshot,
        FileKind::Lock,
        FileKind::Verification,
        FileKind::Catalogue,
    ] {
        repository_bytes += repo.list(kind)?.iter().map(|p| p.1).sum::<u64>();
    }
    repository_bytes += repo.backend().size(CONFIG_PATH)?.unwrap_or(0);
    let databases = by_database.then(|| {
        let mut groups: BTreeMap<(bool, String), Vec<&SnapshotEntry>> = BTreeMap::new();
        for e in &list {
            let db = e.manifest.database();
            groups
                .entry((db.is_none(), db.unwrap_or_default()))
                .or_default()
                .push(e);
        }
        groups
            .into_iter()
            .map(|((none, name), entries)| {
                let figures = figures(&entries);
                DatabaseStats {
                    database: (!none).then_some(name),
                    dedup_ratio: ratio(figures.logical_bytes, figures.added_bytes),
                    figures,
                }
            })
            .collect()
    });
    let figures = figures(&all);
    let stored_bytes = pack_bytes + index_bytes;
    Ok(Stats {
        dedup_ratio: ratio(figures.logical_bytes, stored_bytes),
        figures,
        packs: packs.len() as u64,
        pack_bytes,
        index_files: index.len() as u64,
        index_bytes,
        stored_bytes,
        repository_bytes,
        databases,
        damaged_snapshots: loaded.damaged.iter().map(|id| id.to_hex()).collect(),
    })
}
