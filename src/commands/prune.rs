//! `prune`: free the space no snapshot needs, without ever making a snapshot wait.
//!
//! Deletion is two-phase (the protocol and its invariants are in `repo-format.md`, "Prune"):
//! a prune marks unused packs obsolete in a new index file; a later prune deletes them once
//! they have been marked longer than the grace period, are still unreferenced, and no snapshot
//! that started before the grace window ended is still running. One run:
//!
//! 1. takes the exclusive lock (a second prune is refused; snapshots do not look at it);
//! 2. reads the shared locks, then the snapshots, then the index files and the pack list, walks
//!    every snapshot's chunk-list tree, and plans ([`plan::plan`], pure);
//! 3. copies the used blobs of packs with too much unused space into new packs;
//! 4. writes ONE new index file (live packs, new packs, obsolete marks) superseding every
//!    index file read;
//! 5. deletes the superseded index files;
//! 6. deletes the packs whose grace period is over (step 6 is reported after the first, 7
//!    after the last).
//!
//! Each step's output is durable before the next one starts, so an interruption anywhere leaves
//! every snapshot restorable and the next prune finishes the job.
//!
//! Test hooks (test-only, not for production use): `DUMPVAULT_TEST_PRUNE_ABORT_AFTER=N` aborts
//! the process (like `kill -9`) right after step N; `DUMPVAULT_TEST_PRUNE_PAUSE_AFTER=N` prints
//! `prune paused after step N` on stderr after step N and waits for a line on stdin.

pub mod plan;

use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack, ObsoletePack};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::index::{superseded, Index, Location};
use crate::pack::packer::Packer;
use crate::pack::reader::{open_blob, read_blob};
use crate::progress::Progress;
use crate::repository::lock::{self, LockGuard};
use crate::repository::{FileKind, Repository};
use crate::stream::decode_list;
use plan::{IndexedPack, Plan, Settings, Stats};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Default grace period: longer than any snapshot may run, seconds (12 hours).
pub const DEFAULT_GRACE_SECS: i64 = 12 * 3600;
/// Default `--max-unused`, percent.
pub const DEFAULT_MAX_UNUSED_PERCENT: f64 = 5.0;

/// Environment variable: abort after this step (tests only).
pub const ABORT_AFTER_ENV: &str = "DUMPVAULT_TEST_PRUNE_ABORT_AFTER";
/// Environment variable: pause after this step until a line arrives on stdin (tests only).
pub const PAUSE_AFTER_ENV: &str = "DUMPVAULT_TEST_PRUNE_PAUSE_AFTER";

/// Options of a prune.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PruneOptions {
    /// Grace period, repack threshold, instant delete.
    pub settings: Settings,
    /// Only plan and report; change nothing (and take no lock).
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            settings: Settings {
                grace_secs: DEFAULT_GRACE_SECS,
                max_unused_percent: Some(DEFAULT_MAX_UNUSED_PERCENT),
                instant_delete: false,
            },
            dry_run: false,
        }
    }
}

/// What a prune did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneOutcome {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether unused packs were deleted at once (`--instant-delete`) rather than marked.
    pub instant_delete: bool,
    /// Snapshots whose data was kept.
    pub snapshots: u64,
    /// Figures of the plan.
    #[serde(flatten)]
    pub stats: Stats,
    /// New packs written by repacking.
    pub new_packs: u64,
    /// Their size, bytes.
    pub new_bytes: u64,
    /// The index file written, if any (hex).
    pub index_file: Option<String>,
    /// Index files replaced and deleted.
    pub index_files_removed: u64,
    /// Verification records of snapshots that no longer exist, deleted.
    pub verifications_removed: u64,
}

fn step(n: u32) {
    let at = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u32>().ok()) == Some(n);
    if at(PAUSE_AFTER_ENV) {
        eprintln!("prune paused after step {n}");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    if at(ABORT_AFTER_ENV) {
        eprintln!("prune aborting after step {n} ({ABORT_AFTER_ENV})");
        std::process::abort();
    }
}

/// Everything read from the repository before planning.
struct Gathered {
    /// When reading started (before the locks were listed), seconds since the epoch.
    started: i64,
    lock_created: Vec<i64>,
    snapshots: Vec<(Id, Manifest)>,
    files: Vec<(Id, crate::format::index::IndexFile)>,
    packs: Vec<IndexedPack>,
    index: Index,
    stored: HashMap<Id, u64>,
    used: HashSet<Id>,
}

/// Reads in the order the protocol needs: locks, then snapshots, then index files (a manifest
/// is written after its index files, a lock removed after its manifest).
fn gather(repo: &Repository) -> Result<Gathered> {
    let started = lock::now_secs();
    let lock_created = lock::list(repo)?
        .into_iter()
        .filter(|(_, l)| !l.exclusive && !lock::is_stale(l, started))
        .map(|(_, l)| l.created)
        .collect();
    let mut snapshots = Vec::new();
    for (id, _) in repo.list(FileKind::Snapshot)? {
        match repo.load_manifest(&id) {
            Ok(m) => snapshots.push((id, m)),
            // Forgotten meanwhile: its data need not be kept.
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let files = Index::load_files(repo)?;
    let stored: HashMap<Id, u64> = repo.list(FileKind::Pack)?.into_iter().collect();
    let gone = superseded(&files);
    let mut index = Index::default();
    let mut packs: BTreeMap<Id, IndexedPack> = BTreeMap::new();
    for (fid, f) in files.iter().filter(|(id, _)| !gone.contains(id)) {
        index.add_file(*fid, f);
        let marked: HashSet<[u8; 32]> = f.obsolete.iter().map(|o| o.id).collect();
        for p in &f.packs {
            let e = packs.entry(Id(p.id)).or_insert_with(|| IndexedPack {
                id: Id(p.id),
                size: p.size,
                blobs: p.blobs.clone(),
                live: false,
            });
            e.live |= !marked.contains(&p.id);
        }
    }
    let used = used_blobs(repo, &index, &snapshots)?;
    Ok(Gathered {
        started,
        lock_created,
        snapshots,
        files,
        packs: packs.into_values().collect(),
        index,
        stored,
        used,
    })
}

/// Walks every snapshot's chunk-list trees; returns the list blobs and data chunks they use.
///
/// Errors: [`Error::Corrupt`] when a snapshot references a blob that no index lists or that
/// cannot be read: prune then stops before changing anything.
fn used_blobs(
    repo: &Repository,
    index: &Index,
    snapshots: &[(Id, Manifest)],
) -> Result<HashSet<Id>> {
    let mut used = HashSet::new();
    for (sid, m) in snapshots {
        let damaged = |what: String, e: &dyn std::fmt::Display| {
            Error::corrupt(
                format!("snapshot {}", sid.short()),
                format!(
                    "{what}: {e}; prune stopped without changing anything, run `dumpvault check`"
                ),
            )
        };
        for s in &m.streams {
            let mut stack = vec![Id(s.root)];
            while let Some(lid) = stack.pop() {
                if !used.insert(lid) {
                    continue; // shared subtree, already walked
                }
                let list = read_blob(repo, index, &lid)
                    .and_then(|p| decode_list(&lid, &p))
                    .map_err(|e| damaged(format!("list blob {}", lid.short()), &e))?;
                for e in &list.entries {
                    let id = Id(e.id);
                    if list.level > 0 {
                        stack.push(id);
                    } else if index.get(&id).is_none() {
                        let e = "referenced but in no index";
                        return Err(damaged(format!("chunk {}", id.short()), &e));
                    } else if used.insert(id) {
                        // A delta needs its base, and the base's own base, to be restored.
                        let mut at = id;
                        for _ in 0..crate::pack::reader::READ_DELTA_DEPTH {
                            let Some(base) = index.base_of(&at) else {
                                break;
                            };
                            if index.get(&base).is_none() {
                                let e = format!("its delta base {} is in no index", base.short());
                                return Err(damaged(format!("chunk {}", id.short()), &e));
                            }
                            if !used.insert(base) {
                                break;
                            }
                            at = base;
                        }
                    }
                }
            }
        }
    }
    Ok(used)
}

/// Runs a prune (see the module documentation for the steps).
///
/// Errors: [`Error::Locked`] when another prune holds the exclusive lock; [`Error::Corrupt`]
/// when a snapshot references missing or damaged data (nothing is changed then); storage
/// errors (an interrupted prune is finished by the next one).
pub fn run(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneOutcome> {
    let guard = if opts.dry_run {
        None
    } else {
        Some(LockGuard::exclusive(repo, "prune")?)
    };
    step(1);
    let g = gather(repo)?;
    // Deletion is decided against the time before the locks were read: a snapshot starting
    // after that saw every mark old enough to act on (repo-format.md, "Prune", I3).
    let plan = plan::plan(&plan::Input {
        packs: &g.packs,
        marks: &g.index.obsolete,
        stored: &g.stored,
        used: &g.used,
        lock_created: &g.lock_created,
        now: g.started,
        settings: opts.settings,
    });
    let mut out = PruneOutcome {
        dry_run: opts.dry_run,
        instant_delete: opts.settings.instant_delete,
        snapshots: g.snapshots.len() as u64,
        stats: plan.stats.clone(),
        ..Default::default()
    };
    if opts.dry_run {
        return Ok(out);
    }
    step(2);
    let new_packs = repack(repo, &g.index, &plan, progress)?;
    out.new_packs = new_packs.len() as u64;
    out.new_bytes = new_packs.iter().map(|p| p.size).sum();
    step(3);
    if plan.changes || g.files.len() > 1 {
        // New marks carry the time just before the index that holds them is written (not the
        // planning time: repacking may take long), see "Prune" in repo-format.md.
        let file = new_index(&g, &plan, new_packs, lock::now_secs());
        out.index_file = Some(repo.save_index_file(&file)?.to_hex());
        step(4);
        for (id, _) in &g.files {
            repo.backend().delete(&FileKind::Index.path(id))?;
            out.index_files_removed += 1;
        }
        step(5);
    }
    for (i, id) in plan.delete.iter().enumerate() {
        repo.backend().delete(&FileKind::Pack.path(id))?;
        if i == 0 {
            step(6);
        }
    }
    step(7);
    // Verification records of forgotten snapshots; only those written before this prune
    // read the snapshots (to the second: a snapshot taken since, and verified within that
    // same second, is not a practical case).
    let kept: HashSet<String> = g.snapshots.iter().map(|(id, _)| id.to_hex()).collect();
    let before = jiff::Timestamp::from_second(g.started + 1).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    for id in crate::commands::verify::orphans(repo, &kept, before)? {
        repo.backend().delete(&FileKind::Verification.path(&id))?;
        out.verifications_removed += 1;
    }
    if let Some(guard) = guard {
        guard.release()?;
    }
    Ok(out)
}

/// Copies the blobs `plan.copy` names, sealed as they are (after checking each opens and
/// matches its id), into new packs. Returns the new packs, all durable.
fn repack(
    repo: &Repository,
    index: &Index,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Vec<IndexPack>> {
    if plan.copy.is_empty() {
        return Ok(Vec::new());
    }
    progress.set_total(plan.stats.repack_copy_bytes);
    let mut packer = Packer::without_index_files(repo.clone());
    let mut i = 0;
    while i < plan.copy.len() {
        let pack = plan.copy[i].0;
        let bytes = repo.backend().read(&FileKind::Pack.path(&pack))?;
        while i < plan.copy.len() && plan.copy[i].0 == pack {
            let b = plan.copy[i].1;
            i += 1;
            let (start, end) = (b.offset as usize, b.offset as usize + b.length as usize);
            let sealed = bytes.get(start..end).ok_or_else(|| {
                let what = format!("pack {}", FileKind::Pack.path(&pack));
                Error::corrupt(what, "shorter than its index entry says")
            })?;
            let loc = Location {
                pack: 0,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
                kind: b.kind,
            };
            open_blob(repo, index, &pack, &Id(b.id), &loc, sealed)?;
            packer.add(b.kind, Id(b.id), b.raw_length, b.base.map(Id), sealed)?;
            progress.inc(b.length as u64);
        }
    }
    let (packs, _) = packer.finish_packs()?;
    progress.finish();
    Ok(packs)
}

/// The one index file replacing every index file read.
fn new_index(g: &Gathered, plan: &Plan, new_packs: Vec<IndexPack>, now: i64) -> IndexFile {
    let by_id: HashMap<Id, &IndexedPack> = g.packs.iter().map(|p| (p.id, p)).collect();
    let listing = |id: &Id| {
        by_id.get(id).map(|p| IndexPack {
            id: p.id.0,
            size: p.size,
            blobs: p.blobs.clone(),
        })
    };
    let mut file = IndexFile {
        supersedes: g.files.iter().map(|(id, _)| id.0).collect(),
        ..Default::default()
    };
    for id in plan.keep.iter().chain(&plan.resurrect) {
        file.packs.extend(listing(id));
    }
    file.packs.extend(new_packs);
    // (With instant delete the plan marks nothing: everything obsolete is in `delete`.)
    let marks = (plan.waiting.iter().copied()).chain(plan.mark.iter().map(|id| (*id, now)));
    for (id, marked_at) in marks {
        // Obsolete packs keep their blob list, so snapshots that raced with this prune can
        // still read them until they are deleted.
        file.packs.extend(listing(&id));
        file.obsolete.push(ObsoletePack {
            id: id.0,
            marked_at,
        });
    }
    file
}

#[cfg(test)]
mod tests;
