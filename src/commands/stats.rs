//! `stats`: how much the repository holds and what it costs. Reads only file listings and
//! manifests (no pack contents), so it is cheap on any backend.
//!
//! Figures (all sizes in bytes):
//! - logical size: the sum of the stream sizes of every snapshot (what restores would write);
//! - stored size: the bytes of the pack files plus the index files;
//! - dedup ratio: logical size / stored size;
//! - growth per day: the `bytes_added` of every snapshot after the first, divided by the days
//!   between the first and the last snapshot (the first snapshot's bytes are the initial
//!   fill, not growth); `None` when the snapshots span less than [`MIN_GROWTH_SPAN_DAYS`]
//!   (over minutes, one snapshot's bytes give absurd daily rates).

use crate::commands::snapshots::{self, SnapshotEntry};
use crate::error::Result;
use crate::repository::{FileKind, Repository, CONFIG_PATH};
use serde::Serialize;
use std::collections::BTreeMap;

/// Seconds in a day.
const DAY_SECS: f64 = 86_400.0;

/// Days the snapshots must span before a growth rate is given (text and JSON alike).
pub const MIN_GROWTH_SPAN_DAYS: f64 = 1.0;

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
    if f.span_days >= MIN_GROWTH_SPAN_DAYS {
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
        FileKind::CataloguePart,
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

/// One kind of blob in a [`Breakdown`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlobFigures {
    /// Number of blobs.
    pub count: u64,
    /// Sealed bytes in packs (what the repository stores).
    pub stored: u64,
    /// Plaintext bytes (for a delta blob: the chunk it restores to, not the patch).
    pub raw: u64,
}

impl BlobFigures {
    fn add(&mut self, stored: u32, raw: u32) {
        self.count += 1;
        self.stored += u64::from(stored);
        self.raw += u64::from(raw);
    }
}

/// Where one snapshot's added bytes went (`stats --breakdown`), from the index's own entries:
/// no data blob is read, only the chunk-list blobs of this snapshot and of the older ones.
///
/// A blob counts as added by the snapshot when the snapshot refers to it (a data chunk or a
/// list blob of its chunk-list trees) and no older snapshot still in the repository does.
/// When the snapshot's packs hold nothing else (one `snapshot` command, no prune since),
/// `delta.stored + whole.stored + list.stored + pack_overhead` equals the manifest's
/// `bytes_added`; blobs of other writers in the same packs (a fleet run's shared packer, a
/// repack) are counted in `other_stored`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakdown {
    /// Snapshot id, hex.
    pub snapshot: String,
    /// Snapshot time, as recorded.
    pub time: String,
    /// The manifest's `summary.bytes_added`: pack bytes written by the snapshot.
    pub bytes_added: u64,
    /// The manifest's `summary.bytes_read`: bytes of dump read.
    pub bytes_read: u64,
    /// Data chunks stored as patches against a base (delta blobs: splices or zstd patches).
    pub delta: BlobFigures,
    /// Data chunks stored whole: changed or new chunks that got no delta base.
    pub whole: BlobFigures,
    /// Chunk-list blobs.
    pub list: BlobFigures,
    /// Ids the snapshot refers to that no index lists (a damaged repository; 0 normally).
    pub missing: u64,
    /// Packs holding the added blobs.
    pub packs: u64,
    /// Bytes of those packs that are no blob: headers, trailers (pack size minus every
    /// blob's sealed length).
    pub pack_overhead: u64,
    /// Sealed bytes of other blobs in those packs (not added by this snapshot).
    pub other_stored: u64,
    /// `delta.stored + whole.stored + list.stored + pack_overhead + other_stored`: the pack
    /// bytes the figures account for (equal to `bytes_added` when the packs are its own).
    pub accounted: u64,
    /// Index files (not superseded) listing those packs.
    pub index_files: u64,
    /// Bytes of those index files (not in `bytes_added`).
    pub index_bytes: u64,
    /// Blob entries in those index files.
    pub index_entries: u64,
    /// whole.count / (delta.count + whole.count): the share of new data chunks that got no
    /// delta base (0 without new data chunks).
    pub no_base_share: f64,
}

/// Where snapshot `spec` (`latest` or an id prefix) put the bytes it added: see [`Breakdown`].
///
/// Cost: every index file and the chunk-list blobs of this snapshot and of the older ones
/// (each shared list blob once), no data blob.
///
/// Errors: as [`snapshots::find`]; storage errors reading index files or list blobs; a list
/// blob that cannot be read or decoded ([`crate::error::Error::Corrupt`] and the like).
pub fn breakdown(repo: &Repository, spec: &str) -> Result<Breakdown> {
    use crate::format::pack::BlobKind;
    use crate::id::Id;
    use crate::index::Index;
    use crate::stream::{Node, Walk};
    use std::collections::{HashMap, HashSet};

    let target = snapshots::find(repo, spec, &snapshots::Filter::default())?;
    let files = Index::load_files(repo)?;
    let superseded = crate::index::superseded(&files);
    let index = Index::from_files(repo, &files)?;
    // What the snapshot refers to.
    let mut added: HashSet<Id> = HashSet::new();
    let mut walk = Walk::new(repo, &index).once();
    for s in &target.manifest.streams {
        walk.push_root(Id(s.root));
        for n in walk.by_ref() {
            match n.map_err(|e| e.error)? {
                Node::List { id, .. } => added.insert(id),
                Node::Chunk(c) => added.insert(c.id),
                _ => false,
            };
        }
    }
    // Minus what older snapshots refer to (each list blob once over all of them).
    let key = (target.time(), target.id);
    let mut walk = Walk::new(repo, &index).once();
    for e in snapshots::load_catalogued(repo)?.entries {
        if (e.time(), e.id) >= key || e.id == target.id {
            continue;
        }
        for s in &e.manifest.streams {
            walk.push_root(Id(s.root));
            for n in walk.by_ref() {
                match n.map_err(|e| e.error)? {
                    Node::List { id, .. } => added.remove(&id),
                    Node::Chunk(c) => added.remove(&c.id),
                    _ => false,
                };
            }
        }
    }
    let mut b = Breakdown {
        snapshot: target.id.to_hex(),
        time: target.manifest.time.clone(),
        bytes_added: target.manifest.summary.bytes_added,
        bytes_read: target.manifest.summary.bytes_read,
        ..Default::default()
    };
    let mut packs: HashSet<Id> = HashSet::new();
    for id in &added {
        let Some((pack, loc)) = index.get(id) else {
            b.missing += 1;
            continue;
        };
        packs.insert(pack);
        match loc.kind {
            BlobKind::Delta => b.delta.add(loc.length, loc.raw_length),
            BlobKind::Data => b.whole.add(loc.length, loc.raw_length),
            BlobKind::List => b.list.add(loc.length, loc.raw_length),
        }
    }
    let sizes: HashMap<Id, u64> = repo.list(FileKind::Index)?.into_iter().collect();
    let mut counted: HashSet<Id> = HashSet::new();
    for (fid, f) in files.iter().filter(|(id, _)| !superseded.contains(id)) {
        let mut listed = false;
        for p in f.packs.iter().filter(|p| packs.contains(&Id(p.id))) {
            listed = true;
            if !counted.insert(Id(p.id)) {
                continue;
            }
            let blobs: u64 = p.blobs.iter().map(|x| u64::from(x.length)).sum();
            b.pack_overhead += p.size.saturating_sub(blobs);
            b.other_stored += (p.blobs.iter())
                .filter(|x| !added.contains(&Id(x.id)))
                .map(|x| u64::from(x.length))
                .sum::<u64>();
        }
        if listed {
            b.index_files += 1;
            b.index_bytes += sizes.get(fid).copied().unwrap_or(0);
            b.index_entries += f.packs.iter().map(|p| p.blobs.len() as u64).sum::<u64>();
        }
    }
    b.packs = counted.len() as u64;
    b.accounted =
        b.delta.stored + b.whole.stored + b.list.stored + b.pack_overhead + b.other_stored;
    b.no_base_share = ratio(b.whole.count, b.delta.count + b.whole.count);
    Ok(b)
}
