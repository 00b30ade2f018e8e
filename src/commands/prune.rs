//! `prune`: free the space no snapshot needs, without ever making a snapshot wait.
//!
//! Deletion is two-phase (the protocol and its numbered rules are in `repo-format.md`
//! section 14): a prune marks unused packs obsolete in a new index file; a later prune deletes
//! them once they have been marked longer than the grace period, are still unreferenced, and
//! no writer whose lock predates the mark is still running. One run (the numbers are the test
//! hook's steps):
//!
//! 1. takes the exclusive lock (a second prune is refused; snapshots do not look at it);
//! 2. phase one: reads the shared locks, then the catalogue's tombstones, then the snapshots,
//!    then the index files and the pack list, walks every snapshot's chunk-list tree except
//!    those a tombstone forgets, and plans ([`plan::plan`], pure); then deletes the manifests
//!    of forgotten snapshots that an interrupted `forget` left. A listed manifest that cannot
//!    be read (damaged) and that no tombstone forgets stops the prune before it plans: its
//!    data cannot be told apart from unused data (`unreadable_manifests`);
//! 3. phase two begins: re-reads the snapshots written since, and keeps every pack they need
//!    ([`recheck`]);
//! 4. (after the first) and 5. (after the last): deletes the obsolete packs that are due,
//!    before writing anything, so prune runs on a full disk;
//! 6. copies the used blobs of packs with too much unused space into new packs;
//! 7. writes ONE new index file (live packs, new packs, obsolete marks) superseding every
//!    index file read;
//! 8. deletes the superseded index files;
//! 9. with `--instant-delete`, deletes the packs that were unused until step 7;
//! 10. (after deleting the verification records of forgotten snapshots) compacts the snapshot
//!     catalogue ([`crate::repository::catalogue::compact`]).
//!
//! Each step's output is durable before the next one starts, so an interruption anywhere leaves
//! every snapshot restorable and the next prune finishes the job. Test builds (feature
//! `test-hooks`) can pause after each step or abort there like `kill -9` (see [`step`]).

pub mod plan;

use crate::backend::ErrorClass;
use crate::blob::codec;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack, ObsoletePack};
use crate::format::pack::{BlobKind, PackBlob};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::index::{superseded, Index, Location};
use crate::pack::packer::Packer;
use crate::progress::Progress;
use crate::repository::lock::{self, LockGuard};
use crate::repository::{FileKind, Repository};
use crate::stream::{Node, Walk};
use plan::{IndexedPack, Plan, Settings, Stats, UsedBlobs};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Default grace period: longer than any snapshot may run, seconds (12 hours).
pub const DEFAULT_GRACE_SECS: i64 = 12 * 3600;
/// Default `--max-unused`, percent.
pub const DEFAULT_MAX_UNUSED_PERCENT: f64 = 5.0;

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
    /// Manifests of forgotten snapshots (a catalogue tombstone names them) that an
    /// interrupted `forget`, `tag` or `repair` left, deleted.
    pub forgotten_manifests_removed: u64,
    /// Packs planned for deletion but kept because a snapshot written while this prune ran
    /// references them (rule P4 of `repo-format.md` section 14).
    pub rescued_packs: u64,
}

/// Marks the end of step `n` of the implementation (numbered in the module documentation).
/// In test builds (feature `test-hooks`) a test may pause there (point `prune-step-N`, see
/// [`crate::testhook`]) or abort the process like `kill -9` (`DUMPVAULT_TEST_PRUNE_ABORT_AFTER=N`).
fn step(n: u32) {
    crate::testhook::pause(&format!("prune-step-{n}"));
    #[cfg(feature = "test-hooks")]
    if std::env::var("DUMPVAULT_TEST_PRUNE_ABORT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        == Some(n)
    {
        eprintln!("prune aborting after step {n}");
        std::process::abort();
    }
}

/// Everything read from the repository before planning.
struct Gathered {
    /// When reading started (before the locks were listed), seconds since the epoch.
    started: i64,
    lock_created: Vec<i64>,
    snapshots: Vec<(Id, Manifest)>,
    /// Manifests listed whose snapshot a catalogue tombstone forgets (a `forget`, `tag` or
    /// `repair` interrupted before deleting them): not walked, deleted by [`run`].
    forgotten: Vec<Id>,
    /// Every index file read (superseded ones too), in id order; the decoded files are not
    /// kept: their pack listings moved into `packs`.
    files: Vec<Id>,
    packs: Vec<IndexedPack>,
    index: Index,
    stored: HashMap<Id, u64>,
    /// The blobs the snapshots use, by their place in `index` (see [`UsedAt`]).
    used: HashSet<u64>,
}

impl Gathered {
    /// The plan (step 3) for what was gathered, deciding deletion against time `now` (seconds
    /// since the epoch).
    fn plan(&self, now: i64, settings: Settings) -> Plan {
        plan::plan(&plan::Input {
            packs: &self.packs,
            marks: &self.index.obsolete,
            stored: &self.stored,
            used: &UsedAt {
                index: &self.index,
                keys: &self.used,
            },
            lock_created: &self.lock_created,
            now,
            settings,
        })
    }
}

/// The key of the blob at `loc` in its index: the pack's position and the blob's offset,
/// one blob each (8 bytes, where its id would take 32).
fn at_key(loc: &Location) -> u64 {
    (u64::from(loc.pack) << 32) | u64::from(loc.offset)
}

/// Used blobs as prune holds them: the [`at_key`]s, in `index`, of the copies the index
/// reads. Every used blob is in the index (prune stops otherwise), so a blob is used when
/// the index places it at a used key. About 9 to 18 bytes per blob, against 37 to 74 for
/// a set of ids: that set was prune's largest allocation (issue 16).
struct UsedAt<'a> {
    index: &'a Index,
    keys: &'a HashSet<u64>,
}

impl std::fmt::Debug for UsedAt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} used blobs", self.keys.len())
    }
}

impl UsedBlobs for UsedAt<'_> {
    fn contains(&self, id: &Id) -> bool {
        (self.index.get(id)).is_some_and(|(_, loc)| self.keys.contains(&at_key(&loc)))
    }

    fn count(&self) -> usize {
        self.keys.len()
    }
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
    // Tombstones (repo-format.md section 17), read before `snapshots/` is listed: one written
    // later only makes this prune keep more.
    let tombstones = crate::repository::catalogue::tombstones(repo)?;
    // Snapshots forgotten meanwhile are skipped: their data need not be kept.
    let mut loaded = crate::commands::snapshots::load_all(repo)?;
    let mut forgotten: Vec<Id> = Vec::new();
    loaded.entries.retain(|e| {
        let gone = tombstones.contains(&e.id);
        if gone {
            forgotten.push(e.id);
        }
        !gone
    });
    loaded.damaged.retain(|id| {
        let gone = tombstones.contains(id);
        if gone {
            forgotten.push(*id);
        }
        !gone
    });
    for id in &loaded.damaged {
        // An intact manifest sealed under another key may be a good snapshot of another
        // repository's key: prune must not free its data, and stops.
        crate::commands::repair::foreign::refuse(repo, FileKind::Snapshot, id)?;
    }
    // A manifest that does not open names data that no walk can find: treating it as absent
    // would mark, and a later prune delete, what only that snapshot uses, although its file
    // may yet be put back from a copy. Only a tombstone (above) gives a snapshot up.
    // A manifest deleted since the listing (a `forget` or `tag` beside this prune, which
    // wrote its tombstone first with config version 2 and 3) is not damage: `load_all` skips
    // it, and its data may go, as before.
    if !loaded.damaged.is_empty() {
        return Err(unreadable_manifests(repo, &loaded.damaged));
    }
    let snapshots: Vec<(Id, Manifest)> = (loaded.entries.into_iter())
        .map(|e| (e.id, e.manifest))
        .collect();
    let files = Index::load_files(repo).map_err(index_advice)?;
    let stored: HashMap<Id, u64> = repo.list(FileKind::Pack)?.into_iter().collect();
    let index = Index::from_files(repo, &files)?;
    let (ids, packs) = take_packs(files);
    let used = used_blobs(repo, &index, &snapshots)?;
    Ok(Gathered {
        started,
        lock_created,
        snapshots,
        forgotten,
        files: ids,
        packs,
        index,
        stored,
        used,
    })
}

/// How many unreadable manifests [`unreadable_manifests`] names one by one.
const NAMED_MANIFESTS: usize = 5;

/// The refusal of a prune that found snapshot manifests it cannot read (`damaged`, in id
/// order, at least one): [`Error::Corrupt`] (exit 3) naming them (the first
/// [`NAMED_MANIFESTS`], and how many more), saying what is wrong with the first (read again,
/// on this failure path only) and what to do next.
fn unreadable_manifests(repo: &Repository, damaged: &[Id]) -> Error {
    let mut named: Vec<String> = (damaged.iter().take(NAMED_MANIFESTS))
        .map(|id| FileKind::Snapshot.path(id))
        .collect();
    if damaged.len() > NAMED_MANIFESTS {
        named.push(format!("{} more", damaged.len() - NAMED_MANIFESTS));
    }
    let object = match damaged.len() {
        1 => format!("snapshot {}", named[0]),
        n => format!("{n} snapshots ({})", named.join(", ")),
    };
    let why = match repo.load_manifest(&damaged[0]) {
        Err(Error::Corrupt { detail, .. }) => detail,
        Err(e) => e.to_string(),
        Ok(_) => "corrupt or tampered data".to_string(),
    };
    let (it, them, need, file) = match damaged.len() {
        1 => ("its manifest", "the snapshot", "needs", "the file"),
        _ => ("their manifests", "those snapshots", "need", "the files"),
    };
    Error::corrupt(
        object,
        format!(
            "{it} cannot be read ({why}); prune cannot tell which data {them} {need}, so it \
             stopped without marking or deleting anything. Put {file} back from a copy of \
             the repository {loc} (a replica or backup) and run prune again, or give {them} \
             up with `dumpvault repair snapshots --forget-broken` and then run prune \
             (`dumpvault check` names the damage)",
            loc = repo.backend().location()
        ),
    )
}

/// `e`, an error reading the index files, made to say what prune did and what to do next:
/// an index file that is damaged ([`Error::Corrupt`]) is rebuilt by `dumpvault repair index`.
/// Other errors are returned unchanged.
fn index_advice(e: Error) -> Error {
    match e {
        Error::Corrupt {
            object,
            detail,
            source,
        } => Error::Corrupt {
            object,
            detail: format!(
                "{detail}; prune stopped without changing anything: run `dumpvault repair \
                 index` (it rebuilds the index from the pack headers), then prune again"
            ),
            source,
        },
        e => e,
    }
}

/// The ids of `files` (in their order), and the packs that the files no other of them
/// supersedes list, each once in id order: live if some file lists it as live. A pack listed
/// by several files keeps the blob list of the first. The blob lists are moved out of the
/// decoded files, each file dropped once taken, so prune holds one copy of the listings.
fn take_packs(files: Vec<(Id, IndexFile)>) -> (Vec<Id>, Vec<IndexedPack>) {
    let gone = superseded(&files);
    let ids = files.iter().map(|(id, _)| *id).collect();
    let mut packs: BTreeMap<Id, IndexedPack> = BTreeMap::new();
    for (_, f) in files.into_iter().filter(|(id, _)| !gone.contains(id)) {
        let marked: HashSet<[u8; 32]> = f.obsolete.iter().map(|o| o.id).collect();
        for p in f.packs {
            let live = !marked.contains(&p.id);
            let e = packs.entry(Id(p.id)).or_insert_with(|| {
                // Decoding grew the list by doubling: up to half of it spare capacity.
                let mut blobs = p.blobs;
                blobs.shrink_to_fit();
                IndexedPack {
                    id: Id(p.id),
                    size: p.size,
                    blobs,
                    live: false,
                }
            });
            e.live |= live;
        }
    }
    (ids, packs.into_values().collect())
}

/// Walks every snapshot's chunk-list trees; returns the list blobs and data chunks they use
/// (and the bases under them), as [`at_key`]s in `index`.
///
/// Errors: [`Error::Corrupt`] when a snapshot references a blob that no index lists or that
/// cannot be read: prune then stops before changing anything.
fn used_blobs(
    repo: &Repository,
    index: &Index,
    snapshots: &[(Id, Manifest)],
) -> Result<HashSet<u64>> {
    // The walk's set holds the list blobs (shared subtrees are visited once), this one the
    // data chunks and their bases (each chain followed once), reserved once for all.
    let mut walk = Walk::new(repo, index).once();
    let mut used: HashSet<u64> = HashSet::with_capacity(index.len());
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
            walk.push_root(Id(s.root));
            for n in walk.by_ref() {
                let c = match n {
                    Ok(Node::Chunk(c)) => c,
                    Ok(_) => continue,
                    Err(e) => {
                        return Err(damaged(format!("list blob {}", e.list.short()), &e.error))
                    }
                };
                let id = c.id;
                let Some((_, loc)) = index.get(&id) else {
                    let e = "referenced but in no index";
                    return Err(damaged(format!("chunk {}", id.short()), &e));
                };
                if used.insert(at_key(&loc)) {
                    // A delta needs its base, and the base's own base, to be restored.
                    let mut at = id;
                    for _ in 0..crate::pack::reader::READ_DELTA_DEPTH {
                        let Some(base) = index.base_of(&at) else {
                            break;
                        };
                        let Some((_, loc)) = index.get(&base) else {
                            let e = format!("its delta base {} is in no index", base.short());
                            return Err(damaged(format!("chunk {}", id.short()), &e));
                        };
                        if !used.insert(at_key(&loc)) {
                            break;
                        }
                        at = base;
                    }
                }
            }
        }
    }
    // Every list blob walked was read through the index.
    for id in walk.into_seen() {
        used.extend(index.get(&id).map(|(_, loc)| at_key(&loc)));
    }
    Ok(used)
}

/// Runs a prune (see the module documentation for the steps).
///
/// Errors: [`Error::Locked`] when another prune holds the exclusive lock; [`Error::Corrupt`]
/// (nothing is changed then, dry run or not) when a listed snapshot manifest that no
/// tombstone forgets cannot be read (damaged: prune cannot tell what it needs; the message
/// says to put the file back or `dumpvault repair snapshots --forget-broken` it), when an
/// index file is damaged (`dumpvault repair index`), or when a snapshot references missing or
/// damaged data; storage errors (an interrupted prune is finished by the next one).
pub fn run(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneOutcome> {
    let guard = if opts.dry_run {
        None
    } else {
        // Partial files of killed writers go first: on a full disk even the lock file
        // needs the space.
        lock::remove_stale_temp_files(repo)?;
        Some(LockGuard::exclusive(repo, "prune")?)
    };
    step(1);
    let mut g = gather(repo)?;
    // Deletion is decided against the time before the locks were read: a snapshot starting
    // after that saw every mark old enough to act on (repo-format.md section 14, P3).
    let mut plan = g.plan(g.started, opts.settings);
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
    // Complete interrupted forgets: a tombstone means the snapshot is gone for good (its id
    // never names a snapshot again), and no plan below keeps its data.
    for id in &g.forgotten {
        crate::commands::repair::foreign::refuse(repo, FileKind::Snapshot, id)?;
        match repo.backend().delete(&FileKind::Snapshot.path(id)) {
            Err(e) if e.class != ErrorClass::NotFound => return Err(e.into()),
            _ => out.forgotten_manifests_removed += 1,
        }
    }
    step(2);
    // Phase two. Snapshots written since the plan was made keep what they reference (P4).
    out.rescued_packs = recheck(repo, &g, &mut plan)?;
    out.stats = plan.stats.clone();
    step(3);
    // Packs marked obsolete by an earlier prune and now due go first, before anything is
    // written, so a prune can free space on a full disk (P5): every index file still lists
    // them as obsolete, which readers accept for a missing pack.
    let (early, late): (Vec<Id>, Vec<Id>) = plan
        .delete
        .iter()
        .partition(|id| g.index.obsolete.contains_key(id) && !g.index.is_live(id));
    for (i, id) in early.iter().enumerate() {
        delete_pack(repo, id)?;
        if i == 0 {
            step(4);
        }
    }
    step(5);
    let new_packs = repack(repo, &plan, progress)?;
    out.new_packs = new_packs.len() as u64;
    out.new_bytes = new_packs.iter().map(|p| p.size).sum();
    step(6);
    // Neither the index nor the used blobs are needed from here on: freed before the new
    // index file is built (its listings and their encoding are prune's largest allocations).
    g.index = Index::default();
    g.used = HashSet::new();
    if plan.changes || g.files.len() > 1 {
        // New marks carry the time just before the index that holds them is written (not the
        // planning time: repacking may take long), see repo-format.md section 14.
        let packs = std::mem::take(&mut g.packs);
        let file = new_index(&g.files, packs, &plan, new_packs, lock::now_secs());
        let plain = crate::format::index::encode_index_file(&file);
        drop(file);
        out.index_file = Some(repo.save_file(FileKind::Index, &plain)?.to_hex());
        drop(plain);
        step(7);
        for id in &g.files {
            repo.backend().delete(&FileKind::Index.path(id))?;
            out.index_files_removed += 1;
        }
        step(8);
    }
    // `--instant-delete`: packs that were live until the index just written.
    for id in &late {
        delete_pack(repo, id)?;
    }
    step(9);
    // Verification records of forgotten snapshots; only those written before this prune
    // read the snapshots (to the second: a snapshot taken since, and verified within that
    // same second, is not a practical case).
    let kept: HashSet<String> = g.snapshots.iter().map(|(id, _)| id.to_hex()).collect();
    let before = jiff::Timestamp::from_second(g.started + 1).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    for id in crate::commands::verify::orphans(repo, &kept, before)? {
        repo.backend().delete(&FileKind::Verification.path(&id))?;
        out.verifications_removed += 1;
    }
    // The catalogue: one file with the live entries (from the manifests just read) replaces
    // the files read (repo-format.md section 17).
    crate::repository::catalogue::compact(repo, &g.snapshots)?;
    step(10);
    if let Some(guard) = guard {
        guard.release()?;
    }
    Ok(out)
}

/// Deletes one pack file; one already gone (an interrupted earlier prune) is fine.
fn delete_pack(repo: &Repository, id: &Id) -> Result<()> {
    match repo.backend().delete(&FileKind::Pack.path(id)) {
        Err(e) if e.class != ErrorClass::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Phase two's re-check (rule P4 of `repo-format.md` section 14), run under the exclusive lock
/// after planning and before anything is deleted: every snapshot manifest that appeared since
/// [`gather`] listed them is walked against a freshly loaded index (which includes the index
/// files written since), and every pack planned for deletion that holds a blob such a
/// snapshot references, or a base under one, is made live again instead. Returns how many
/// packs were rescued.
///
/// This closes what locks alone cannot: a writer whose lock the prune did not see (a stale
/// listing, a clock far off, an older dumpvault) but which finished before the deletion.
///
/// Errors: a new manifest that does not open or decode (as in [`gather`]), or references a
/// blob no index lists ([`Error::Corrupt`]: prune stops before deleting anything); storage
/// errors.
fn recheck(repo: &Repository, g: &Gathered, plan: &mut Plan) -> Result<u64> {
    if plan.delete.is_empty() {
        return Ok(0);
    }
    let known: HashSet<Id> = (g.snapshots.iter().map(|(id, _)| *id))
        .chain(g.forgotten.iter().copied())
        .collect();
    let mut fresh = Vec::new();
    let mut damaged = Vec::new();
    for (id, _) in repo.list(FileKind::Snapshot)? {
        if known.contains(&id) {
            continue;
        }
        match repo.load_manifest(&id) {
            Ok(m) => fresh.push((id, m)),
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(Error::Corrupt { .. }) => damaged.push(id),
            Err(e) => return Err(e),
        }
    }
    if !damaged.is_empty() {
        for id in &damaged {
            crate::commands::repair::foreign::refuse(repo, FileKind::Snapshot, id)?;
        }
        return Err(unreadable_manifests(repo, &damaged));
    }
    if fresh.is_empty() {
        return Ok(0);
    }
    let index = Index::load(repo).map_err(index_advice)?;
    let keys = used_blobs(repo, &index, &fresh)?;
    let packs = index.packs();
    let mut needed: HashSet<Id> = (keys.iter())
        .filter_map(|k| packs.get((k >> 32) as usize))
        .map(|p| p.0)
        .collect();
    let used = UsedAt {
        index: &index,
        keys: &keys,
    };
    for p in &g.packs {
        if p.blobs.iter().any(|b| used.contains(&Id(b.id))) {
            needed.insert(p.id);
        }
    }
    let size = |id: &Id| g.stored.get(id).copied().unwrap_or(0);
    let mut rescued = 0;
    let mut i = 0;
    while i < plan.delete.len() {
        let id = plan.delete[i];
        if !needed.contains(&id) {
            i += 1;
            continue;
        }
        plan.delete.remove(i);
        plan.resurrect.push(id);
        plan.changes = true;
        plan.stats.delete_packs -= 1;
        plan.stats.delete_bytes -= size(&id);
        plan.stats.resurrected_packs += 1;
        plan.stats.keep_packs += 1;
        plan.stats.keep_bytes += size(&id);
        rescued += 1;
    }
    Ok(rescued)
}

/// Copies the blobs `plan.copy` names, sealed as they are, into new packs. Returns the new
/// packs, all durable.
///
/// Each blob is checked before it is copied: it must open with the key (which authenticates
/// every sealed byte); a whole blob must also decompress to its length and match its id. A
/// delta blob only has its tag checked: its plaintext needs its whole chain of bases, read
/// from other packs (decoding those chains was 94% of a prune's CPU time on 9 hourly snapshots
/// of a 570 MB dump, docs/bench.md "Prune without decoding delta chains"). The plan keeps
/// every copied delta's own base ([`plan`]), and `check --read-data` decodes every chain.
///
/// Errors: [`Error::Corrupt`] naming the pack and blob that does not open (prune then stops
/// before it writes its index file: nothing this run planned is marked or deleted); storage
/// errors.
fn repack(repo: &Repository, plan: &Plan, progress: &dyn Progress) -> Result<Vec<IndexPack>> {
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
            check_sealed(repo, &pack, &b, sealed)?;
            packer.add(b.kind, Id(b.id), b.raw_length, b.base.map(Id), sealed)?;
            progress.inc(b.length as u64);
        }
    }
    let (packs, _) = packer.finish_packs()?;
    progress.finish();
    Ok(packs)
}

/// Checks one sealed blob `b` of `pack` before repack copies it (see [`repack`]).
///
/// Errors: [`Error::Corrupt`] naming the pack and the blob.
fn check_sealed(repo: &Repository, pack: &Id, b: &PackBlob, sealed: &[u8]) -> Result<()> {
    let what = || {
        format!(
            "pack {} (blob {})",
            FileKind::Pack.path(pack),
            Id(b.id).short()
        )
    };
    let raw_len = b.raw_length as usize;
    if b.kind == BlobKind::Delta {
        return codec::check_sealing(repo.key(), sealed, raw_len, true)
            .map_err(|e| Error::corrupt_from(what(), e));
    }
    let tagged = codec::open(repo.key(), sealed).map_err(|e| Error::corrupt_from(what(), e))?;
    codec::decode(repo.key(), &Id(b.id), &tagged, raw_len, None)
        .map(|_| ())
        .map_err(|e| Error::corrupt_from(what(), e))
}

/// The one index file replacing every index file read (`files`), from the packs [`gather`]
/// found (consumed: their blob lists move into the file, not copied).
///
/// Each pack is listed at most once: the plan's lists are disjoint (a pack is kept, brought
/// back, marked or left waiting, never two of these).
fn new_index(
    files: &[Id],
    packs: Vec<IndexedPack>,
    plan: &Plan,
    new_packs: Vec<IndexPack>,
    now: i64,
) -> IndexFile {
    let mut by_id: HashMap<Id, IndexedPack> = packs.into_iter().map(|p| (p.id, p)).collect();
    let mut listing = |id: &Id| {
        by_id.remove(id).map(|p| IndexPack {
            id: p.id.0,
            size: p.size,
            blobs: p.blobs,
        })
    };
    let mut file = IndexFile {
        supersedes: files.iter().map(|id| id.0).collect(),
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
