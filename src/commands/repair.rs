//! `repair`: rebuild the index from the packs themselves, and remove snapshots whose data is
//! gone.
//!
//! `repair index` lists every pack, reads its header (or, with `read_all_packs`, the whole
//! pack, keeping only blobs that open and match their id), writes new index files that
//! supersede every index file found at the start, and only then deletes those. Packs whose
//! header is unreadable keep the entries a readable old index file had for them. Marks of
//! obsolete packs (prune's two-phase deletion) are carried over. It holds the exclusive lock,
//! so it never runs beside a prune; snapshots may run meanwhile (their new index files are not
//! superseded).
//!
//! `repair snapshots` lists the snapshots that cannot be restored in full (per [`check`]) and,
//! with `forget_broken`, deletes their manifests. It refuses while the index itself needs
//! repair, since a lost index file makes intact snapshots look broken.
//!
//! `repair packs` ([`packs`]) retires damaged packs after salvaging their intact blobs;
//! `repair config` ([`config`]) writes a lost config again.
//!
//! No repair deletes or replaces an object that decrypts with no key of this repository
//! ([`foreign`]): it names the object and stops before changing anything.

pub mod config;
pub mod foreign;
pub mod packs;

pub use config::{repair_config, RepairConfigOptions, RepairConfigOutcome};
pub use packs::{repair_packs, RepairPacksOptions, RepairPacksOutcome};

use crate::backend::ErrorClass;
use crate::commands::check::{self, read_header, CheckOptions, CheckReport, Subset};
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack, ObsoletePack};
use crate::format::pack::PackBlob;
use crate::id::Id;
use crate::progress::Progress;
use crate::repository::lock::LockGuard;
use crate::repository::{FileKind, Repository};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blobs per new index file (about 5 MB sealed), so no index file nears the decode limit.
pub const BLOBS_PER_INDEX_FILE: usize = 100_000;

/// Options of `repair index`.
#[derive(Debug, Clone, Default)]
pub struct RepairIndexOptions {
    /// Read every pack in full and index only blobs that verify (slow; default: headers only).
    pub read_all_packs: bool,
}

/// A pack left out of the new index, and why.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedPack {
    /// `pack data/ab/ab12…`.
    pub object: String,
    /// Why.
    pub detail: String,
}

/// What `repair index` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairIndexOutcome {
    /// Packs in the new index.
    pub packs: usize,
    /// Blobs in the new index.
    pub blobs: usize,
    /// Packs whose entries were taken from an old index file because their header is damaged.
    pub from_old_index: usize,
    /// Blobs left out because they did not verify (with `read_all_packs`).
    pub bad_blobs: usize,
    /// Packs left out.
    pub dropped: Vec<DroppedPack>,
    /// New index files written (hex ids).
    pub written: Vec<String>,
    /// Old index files deleted (hex ids).
    pub removed: Vec<String>,
}

/// Rebuilds the index from the packs. Durable when it returns: the new index files are written
/// before any old one is deleted, so an interruption leaves a usable (if redundant) index.
/// A pack that a readable index file marks obsolete and none lists (a pack `repair packs`
/// retired, or a leftover prune marked) keeps only its mark: its damaged blobs do not come back.
///
/// Errors: [`Error::Locked`] while a prune (or another repair) holds the exclusive lock;
/// [`Error::Corrupt`] when an index file or pack decrypts with no key of this repository, and
/// [`Error::UnsupportedVersion`] for an index file of a newer format (nothing is changed
/// then); storage errors.
pub fn repair_index(
    repo: &Repository,
    opts: &RepairIndexOptions,
    progress: &dyn Progress,
) -> Result<RepairIndexOutcome> {
    let lock = LockGuard::exclusive(repo, "repair index")?;
    let old: Vec<Id> = repo
        .list(FileKind::Index)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut old_entries: HashMap<Id, IndexPack> = HashMap::new();
    let mut marks: HashMap<Id, i64> = HashMap::new();
    for id in &old {
        // Damaged index files are replaced; foreign or newer ones stop the repair.
        let f = match repo.load_index_file(id) {
            Ok(f) => f,
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => continue,
            Err(e @ Error::UnsupportedVersion { .. }) => return Err(e),
            Err(_) => {
                foreign::refuse(repo, FileKind::Index, id)?;
                continue;
            }
        };
        for p in f.packs {
            old_entries.entry(Id(p.id)).or_insert(p);
        }
        for o in f.obsolete {
            let t = marks.entry(Id(o.id)).or_insert(o.marked_at);
            *t = (*t).max(o.marked_at);
        }
    }
    let all_packs = repo.list(FileKind::Pack)?;
    let packs: Vec<(Id, u64)> = all_packs
        .iter()
        .filter(|(p, _)| !marks.contains_key(p) || old_entries.contains_key(p))
        .copied()
        .collect();
    if opts.read_all_packs {
        progress.set_total(packs.iter().map(|p| p.1).sum());
    }
    let mut out = RepairIndexOutcome::default();
    let mut rebuilt: Vec<IndexPack> = Vec::new();
    for ((pack, size), r) in packs.iter().zip(headers(repo, &packs, opts, progress)) {
        let object = check::pack_object(pack);
        match r {
            Ok((blobs, bad)) => {
                out.bad_blobs += bad;
                rebuilt.push(IndexPack {
                    id: pack.0,
                    size: *size,
                    blobs,
                });
            }
            Err(e) if foreign::is_foreign(repo, FileKind::Pack, pack)? => {
                foreign::refuse(repo, FileKind::Pack, pack)?;
                return Err(e);
            }
            Err(e) => match old_entries.get(pack) {
                Some(p) if p.size == *size => {
                    out.from_old_index += 1;
                    rebuilt.push(p.clone());
                }
                _ => out.dropped.push(DroppedPack {
                    object,
                    detail: format!("{}; no readable index file lists it", check::detail_of(&e)),
                }),
            },
        }
    }
    let present: HashSet<Id> = all_packs.iter().map(|p| p.0).collect();
    let obsolete: Vec<ObsoletePack> = marks
        .into_iter()
        .filter(|(p, _)| present.contains(p))
        .map(|(p, t)| ObsoletePack {
            id: p.0,
            marked_at: t,
        })
        .collect();
    out.packs = rebuilt.len();
    out.blobs = rebuilt.iter().map(|p| p.blobs.len()).sum();

    // Group packs into files; the last file supersedes the old ones, so an interruption before
    // it leaves the old files in force beside the new (redundant, harmless).
    let mut files: Vec<IndexFile> = vec![IndexFile::default()];
    let mut in_file = 0;
    for p in rebuilt {
        if in_file > 0 && in_file + p.blobs.len() > BLOBS_PER_INDEX_FILE {
            files.push(IndexFile::default());
            in_file = 0;
        }
        in_file += p.blobs.len();
        files.last_mut().expect("never empty").packs.push(p);
    }
    let last = files.last_mut().expect("never empty");
    last.obsolete = obsolete;
    last.supersedes = old.iter().map(|i| i.0).collect();
    for f in &files {
        out.written.push(repo.save_index_file(f)?.to_hex());
    }
    for id in &old {
        repo.backend().delete(&FileKind::Index.path(id))?;
        out.removed.push(id.to_hex());
    }
    lock.release()?;
    progress.finish();
    Ok(out)
}

/// Each pack's header entries (filtered to the blobs that verify with `read_all_packs`) and
/// the number of blobs left out; read on several threads, returned in `packs` order.
fn headers(
    repo: &Repository,
    packs: &[(Id, u64)],
    opts: &RepairIndexOptions,
    progress: &dyn Progress,
) -> Vec<Result<(Vec<PackBlob>, usize)>> {
    let one = |pack: &Id, size: u64| -> Result<(Vec<PackBlob>, usize)> {
        if !opts.read_all_packs {
            return Ok((read_header(repo, pack, size)?, 0));
        }
        // Verify every blob the header lists at the header's location.
        let bytes = repo.backend().read(&FileKind::Pack.path(pack))?;
        progress.inc(bytes.len() as u64);
        let header = check::header_from_bytes(repo, pack, &bytes)?;
        let bad: HashSet<Id> = check::verify_blobs(repo, None, pack, &bytes, &header)
            .into_iter()
            .map(|b| b.0)
            .collect();
        let good: Vec<PackBlob> = header
            .into_iter()
            .filter(|b| !bad.contains(&Id(b.id)))
            .collect();
        Ok((good, bad.len()))
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        .min(packs.len().max(1));
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(packs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((pack, size)) = packs.get(i) else {
                    break;
                };
                let r = one(pack, *size);
                results.lock().expect("no panics hold it").push((i, r));
            });
        }
    });
    let mut v = results.into_inner().expect("no panics hold it");
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, r)| r).collect()
}

/// A snapshot that cannot be restored in full.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenSnapshot {
    /// Snapshot id (hex).
    pub id: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// The damaged objects that affect it.
    pub causes: Vec<String>,
}

/// What `repair snapshots` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct RepairSnapshotsOutcome {
    /// Snapshots that cannot be restored in full.
    pub broken: Vec<BrokenSnapshot>,
    /// Whether their manifests were deleted.
    pub removed: bool,
    /// The check the decision was based on.
    pub check: CheckReport,
}

/// The snapshots the catalogue lists (config version 2 or later, where it decides which
/// snapshots exist) whose manifest file is missing: lost or deleted by hand, they are listed
/// but cannot be read. The catalogue is read before `snapshots/` is listed, so a snapshot
/// written meanwhile (manifest first, then its entry) is never among them. Empty with
/// config version 1.
///
/// Errors: reading the catalogue or listing `snapshots/` fails.
pub fn lost_manifests(repo: &Repository) -> Result<Vec<Id>> {
    if !repo.config().catalogue_authoritative() {
        return Ok(Vec::new());
    }
    let view = crate::repository::catalogue::load(repo)?;
    let listed: HashSet<Id> = (repo.list(FileKind::Snapshot)?.into_iter())
        .map(|(id, _)| id)
        .collect();
    let mut lost: Vec<Id> = (view.entries.iter())
        .map(|e| Id(e.id))
        .filter(|id| !listed.contains(id))
        .collect();
    lost.sort();
    lost.dedup();
    Ok(lost)
}

/// Finds the snapshots that cannot be restored in full (a structural check: a chunk in no
/// index, or only in a pack known damaged; plus a full read of every pack with `read_data`;
/// and, config version 2 or later, a catalogue entry whose manifest file is missing, see
/// [`lost_manifests`]) and, with `forget_broken`, tombstones them and deletes their manifests. Their data goes with the next `prune`.
/// Without `read_data`, damage inside packs that `repair packs` has not yet retired is not seen.
///
/// Errors: [`Error::Invalid`] when the index needs `repair index` first (damaged or
/// disagreeing index files, or packs or blobs no index lists: intact snapshots would look
/// broken); [`Error::Corrupt`] when a broken snapshot's manifest is intact but decrypts with
/// no key of this repository (nothing is deleted then); storage errors.
pub fn repair_snapshots(
    repo: &Repository,
    forget_broken: bool,
    read_data: bool,
    progress: &dyn Progress,
) -> Result<RepairSnapshotsOutcome> {
    let opts = CheckOptions {
        read_data: read_data.then_some(Subset::All),
    };
    let report = check::run(repo, &opts, progress)?;
    let mut broken = Vec::new();
    for hex in &report.damaged_snapshots {
        let short = hex[..8].to_string();
        let causes = report
            .problems
            .iter()
            .filter(|p| p.affected_snapshots.contains(&short))
            .map(|p| p.object.clone())
            .collect();
        broken.push(BrokenSnapshot {
            id: hex.clone(),
            short_id: short,
            causes,
        });
    }
    let index_damaged = report
        .problems
        .iter()
        .any(|p| p.object.starts_with("index index/"));
    // Broken by their data, which a repaired index may find again.
    let by_data = broken.len();
    for id in lost_manifests(repo)? {
        if !broken.iter().any(|b| b.id == id.to_hex()) {
            broken.push(BrokenSnapshot {
                id: id.to_hex(),
                short_id: id.short(),
                causes: vec![format!(
                    "its missing manifest {} (lost or deleted; the catalogue still lists it)",
                    FileKind::Snapshot.path(&id)
                )],
            });
        }
    }
    if forget_broken && !broken.is_empty() {
        let index_incomplete =
            index_damaged || report.orphan_packs > 0 || report.unindexed_pack_blobs > 0;
        if by_data > 0 && index_incomplete {
            return Err(Error::Invalid(format!(
                "{} snapshot(s) look broken, but the index of {} is incomplete or damaged, so \
                 some may be recoverable: run `dumpvault repair index` first, then this again",
                by_data,
                repo.backend().location()
            )));
        }
        let ids: Vec<Id> = (broken.iter())
            .map(|b| Id::from_hex(&b.id).map_err(Error::Invalid))
            .collect::<Result<_>>()?;
        for id in &ids {
            foreign::refuse(repo, FileKind::Snapshot, id)?;
        }
        // Tombstones first (config version 2): an interrupted repair leaves them forgotten.
        crate::repository::catalogue::forget(repo, &ids)?;
        for id in &ids {
            repo.backend().delete(&FileKind::Snapshot.path(id))?;
        }
    }
    Ok(RepairSnapshotsOutcome {
        removed: forget_broken && !broken.is_empty(),
        broken,
        check: report,
    })
}
