//! The pure half of prune: from what the repository holds and what the snapshots use, decide
//! which packs to keep, repack, mark obsolete, bring back, and delete. No I/O, so the rules of
//! the two-phase protocol (`repo-format.md`, "Prune") are unit-tested here on synthetic
//! repositories.

use crate::format::pack::PackBlob;
use crate::id::Id;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// How long after an obsolete mark's `marked_at` a shared lock still holds the pack back,
/// whatever the grace period, seconds: an allowance for the time the marking index took to
/// become visible and for clock skew between hosts (rule P3 of `repo-format.md` section 14).
pub const LOCK_WINDOW_SECS: i64 = 10 * 60;

/// [`LOCK_WINDOW_SECS`]; test builds (feature `test-hooks`) may narrow it with
/// `DUMPVAULT_TEST_LOCK_WINDOW_SECS`, so that a test on one host (no clock skew, index writes
/// in milliseconds) sees packs deleted while snapshots keep running.
pub fn lock_window_secs() -> i64 {
    #[cfg(feature = "test-hooks")]
    if let Some(w) = std::env::var("DUMPVAULT_TEST_LOCK_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return w;
    }
    LOCK_WINDOW_SECS
}

/// One pack as the non-superseded index files describe it.
#[derive(Debug, Clone)]
pub struct IndexedPack {
    /// Pack id.
    pub id: Id,
    /// Size of the pack file, bytes.
    pub size: u64,
    /// Its blobs, as in its header.
    pub blobs: Vec<PackBlob>,
    /// Whether some index file lists it as live (otherwise it is marked obsolete).
    pub live: bool,
}

/// Prune settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Packs marked obsolete longer ago than this may be deleted, seconds.
    pub grace_secs: i64,
    /// Repack a pack whose unused share of blob bytes exceeds this percentage; `None` never
    /// repacks (`--max-unused unlimited`).
    pub max_unused_percent: Option<f64>,
    /// Delete unused packs in this run, without marking them first (only for a repository
    /// nothing else writes to).
    pub instant_delete: bool,
}

/// What the planner needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Packs listed by the non-superseded index files, each once.
    pub packs: &'a [IndexedPack],
    /// Obsolete marks: pack id to mark time (seconds since the epoch); may name packs that
    /// `packs` does not list (pack files no index listed, marked by an earlier prune).
    pub marks: &'a HashMap<Id, i64>,
    /// Pack files present in `data/`, with their sizes in bytes.
    pub stored: &'a HashMap<Id, u64>,
    /// Every blob (data chunk and list blob) some snapshot references.
    pub used: &'a dyn UsedBlobs,
    /// Creation times (seconds since the epoch) of the non-stale shared locks.
    pub lock_created: &'a [i64],
    /// Now, seconds since the epoch; the mark time of new marks.
    pub now: i64,
    /// Settings.
    pub settings: Settings,
}

/// The blobs (data chunks and list blobs) some snapshot references, as the planner asks
/// about them: prune keeps them compactly by their place in the index (see
/// `super::UsedAt`), the unit tests as a set of ids.
pub trait UsedBlobs: std::fmt::Debug {
    /// Whether blob `id` is referenced.
    fn contains(&self, id: &Id) -> bool;
    /// How many distinct blobs are referenced.
    fn count(&self) -> usize;
}

impl UsedBlobs for HashSet<Id> {
    fn contains(&self, id: &Id) -> bool {
        HashSet::contains(self, id)
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// Figures of a prune plan. Bytes are pack file sizes unless named otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Pack files in the repository before the prune.
    pub packs: u64,
    /// Their total size, bytes.
    pub bytes: u64,
    /// Distinct blobs the snapshots reference.
    pub used_blobs: u64,
    /// Packs kept as they are (live).
    pub keep_packs: u64,
    /// Their size, bytes.
    pub keep_bytes: u64,
    /// Packs repacked (their used blobs copied into new packs, then marked obsolete).
    pub repack_packs: u64,
    /// Their size, bytes.
    pub repack_bytes: u64,
    /// Sealed bytes of the blobs copied out of them.
    pub repack_copy_bytes: u64,
    /// Live packs without any used blob, marked obsolete (or deleted with instant delete).
    pub unused_packs: u64,
    /// Their size, bytes.
    pub unused_bytes: u64,
    /// Pack files no index lists (left by interrupted snapshots or prunes), marked obsolete
    /// (or deleted with instant delete).
    pub unindexed_packs: u64,
    /// Their size, bytes.
    pub unindexed_bytes: u64,
    /// Packs deleted in this run.
    pub delete_packs: u64,
    /// Their size, bytes.
    pub delete_bytes: u64,
    /// Obsolete packs left for a later prune (grace period not over, or a snapshot that
    /// started before the mark is still running).
    pub waiting_packs: u64,
    /// Their size, bytes.
    pub waiting_bytes: u64,
    /// Of the waiting packs, those past the grace period held back by a running snapshot.
    pub deferred_by_lock: u64,
    /// Obsolete packs made live again because a snapshot references a blob only they hold.
    pub resurrected_packs: u64,
    /// Packs an index lists whose file is missing (`dumpvault check` reports them).
    pub missing_packs: u64,
}

/// The decisions of one prune.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Live packs that stay live unchanged (including ones whose file is missing).
    pub keep: Vec<Id>,
    /// Obsolete packs made live again.
    pub resurrect: Vec<Id>,
    /// Live packs to repack, then mark obsolete (or delete with instant delete).
    pub repack: Vec<Id>,
    /// Blobs to copy into new packs, with the pack they are read from, in pack order.
    pub copy: Vec<(Id, PackBlob)>,
    /// Packs to mark obsolete now (unused live packs, repacked packs, unindexed files), unless
    /// instant delete puts them in `delete`.
    pub mark: Vec<Id>,
    /// Obsolete packs that keep their mark: (id, marked_at).
    pub waiting: Vec<(Id, i64)>,
    /// Packs to delete once the new index file is durable.
    pub delete: Vec<Id>,
    /// Whether anything changes (otherwise no new index file is needed).
    pub changes: bool,
    /// Figures.
    pub stats: Stats,
}

/// Decides what a prune does. See `repo-format.md`, "Prune", for the rules and why they are
/// safe while snapshots run.
pub fn plan<'a>(input: &Input<'a>) -> Plan {
    let mut p = Plan::default();
    p.stats.packs = input.stored.len() as u64;
    p.stats.bytes = input.stored.values().sum();
    p.stats.used_blobs = input.used.count() as u64;

    let mut by_id: BTreeMap<Id, &'a IndexedPack> = BTreeMap::new();
    for pk in input.packs {
        by_id.insert(pk.id, pk);
    }
    let (mut claimed, claims) = claim_used(input, &by_id);
    let obsolete_now = sort_live(input, &by_id, &claims, &mut p);
    settle_obsolete(input, &by_id, &mut claimed, &mut p);
    mark_or_delete(input, &by_id, obsolete_now, &mut p);
    let lists = [&p.resurrect, &p.repack, &p.mark, &p.delete];
    p.changes |= lists.iter().any(|v| !v.is_empty());
    p
}

/// Claims each used blob in one live pack (in id order) whose file exists: returns the blobs
/// claimed (ids borrowed from the packs' blob lists), and each such pack's claimed blobs as
/// positions in its blob list (an entry, maybe empty, per live pack whose file exists).
///
/// Memory: about 10 to 20 bytes per claimed blob for the set and 4 for the positions (no copy
/// of the blob entries), so that the plan adds little to prune's peak.
fn claim_used<'a>(
    input: &Input<'a>,
    by_id: &BTreeMap<Id, &'a IndexedPack>,
) -> (HashSet<&'a [u8; 32]>, HashMap<Id, Vec<u32>>) {
    // A copy serves a used blob if it is whole, or a delta whose base is kept too: `used`
    // holds the base chain of the copy the index reads, and a writer stores a blob again
    // whole when the chain of its delta copy is not live (rule W2), so a delta copy whose
    // base is not in `used` must not be the one that keeps the blob.
    let serves = |b: &PackBlob| b.base.is_none_or(|base| input.used.contains(&Id(base)));
    // Claim each used blob in one live pack (in id order) whose file exists.
    let mut claimed: HashSet<&'a [u8; 32]> = HashSet::new();
    let mut claims: HashMap<Id, Vec<u32>> = HashMap::new();
    for pk in by_id.values().copied().filter(|pk| pk.live) {
        if !input.stored.contains_key(&pk.id) {
            continue;
        }
        let mine = claims.entry(pk.id).or_default();
        for (i, b) in pk.blobs.iter().enumerate() {
            if input.used.contains(&Id(b.id)) && serves(b) && claimed.insert(&b.id) {
                mine.push(i as u32);
            }
        }
    }
    (claimed, claims)
}

/// Phase 1: each live pack is kept (also when its file is missing), repacked, or unused;
/// returns the repacked and unused ones, to be marked obsolete (or deleted) now.
fn sort_live(
    input: &Input,
    by_id: &BTreeMap<Id, &IndexedPack>,
    claims: &HashMap<Id, Vec<u32>>,
    p: &mut Plan,
) -> Vec<Id> {
    let s = input.settings;
    let mut obsolete_now = Vec::new();
    for pk in by_id.values().filter(|pk| pk.live) {
        let Some(&fsize) = input.stored.get(&pk.id) else {
            p.stats.missing_packs += 1;
            p.keep.push(pk.id);
            continue;
        };
        let mine = claims[&pk.id].iter().map(|&i| &pk.blobs[i as usize]);
        let total: u64 = pk.blobs.iter().map(|b| b.length as u64).sum();
        let used: u64 = mine.clone().map(|b| b.length as u64).sum();
        if claims[&pk.id].is_empty() {
            p.stats.unused_packs += 1;
            p.stats.unused_bytes += fsize;
            obsolete_now.push(pk.id);
        } else if s
            .max_unused_percent
            .is_some_and(|m| (total - used) as f64 * 100.0 > m * total as f64)
        {
            p.stats.repack_packs += 1;
            p.stats.repack_bytes += fsize;
            p.stats.repack_copy_bytes += used;
            p.repack.push(pk.id);
            p.copy.extend(mine.map(|b| (pk.id, *b)));
            obsolete_now.push(pk.id);
        } else {
            p.stats.keep_packs += 1;
            p.stats.keep_bytes += fsize;
            p.keep.push(pk.id);
        }
    }
    obsolete_now
}

/// Phase 2: each obsolete pack (listed with blobs, or marks only), in id order, is brought
/// back (a used blob no live pack holds), deleted (grace period over and no lock held back
/// by rule P3, or instant delete), or left waiting; the mark of a deleted file is dropped.
fn settle_obsolete<'a>(
    input: &Input<'a>,
    by_id: &BTreeMap<Id, &'a IndexedPack>,
    claimed: &mut HashSet<&'a [u8; 32]>,
    p: &mut Plan,
) {
    let s = input.settings;
    // Phase 2: obsolete packs (listed with blobs, or marks only), in id order.
    let mut obsolete: BTreeMap<Id, (i64, Option<&'a IndexedPack>)> = BTreeMap::new();
    for (id, at) in input.marks {
        if !by_id.get(id).is_some_and(|pk| pk.live) {
            obsolete.insert(*id, (*at, by_id.get(id).copied()));
        }
    }
    for pk in by_id.values().copied().filter(|pk| !pk.live) {
        // An obsolete listing always comes with a mark; be safe if one is missing.
        obsolete.entry(pk.id).or_insert((input.now, Some(pk)));
    }
    for (id, (marked_at, pk)) in obsolete {
        let Some(&fsize) = input.stored.get(&id) else {
            p.changes = true; // the mark of a deleted pack is dropped
            continue;
        };
        let needed = pk.is_some_and(|pk| {
            (pk.blobs.iter()).any(|b| input.used.contains(&Id(b.id)) && !claimed.contains(&b.id))
        });
        if let (true, Some(pk)) = (needed, pk) {
            claimed.extend(pk.blobs.iter().map(|b| &b.id));
            p.resurrect.push(id);
            p.stats.resurrected_packs += 1;
            p.stats.keep_packs += 1;
            p.stats.keep_bytes += fsize;
            continue;
        }
        let due = marked_at.saturating_add(s.grace_secs);
        // P3: a writer whose lock was created before the mark became visible may have loaded
        // an index without it. The mark became visible at most LOCK_WINDOW_SECS after
        // `marked_at` (index write time and clock skew between hosts), whatever the grace.
        let held_until = marked_at.saturating_add(s.grace_secs.max(lock_window_secs()));
        let held = input.lock_created.iter().any(|&c| c < held_until);
        if s.instant_delete || (input.now >= due && !held) {
            p.delete.push(id);
            p.stats.delete_packs += 1;
            p.stats.delete_bytes += fsize;
        } else {
            if input.now >= due {
                p.stats.deferred_by_lock += 1;
            }
            p.waiting.push((id, marked_at));
            p.stats.waiting_packs += 1;
            p.stats.waiting_bytes += fsize;
        }
    }
}

/// Adds the pack files no index file mentions at all to `obsolete_now` (after it, in id
/// order), then marks each obsolete, or deletes it with instant delete.
fn mark_or_delete(
    input: &Input,
    by_id: &BTreeMap<Id, &IndexedPack>,
    mut obsolete_now: Vec<Id>,
    p: &mut Plan,
) {
    let s = input.settings;
    let size = |id: &Id, fallback: u64| input.stored.get(id).copied().unwrap_or(fallback);
    // Pack files that no index file mentions at all.
    let mut unindexed: Vec<Id> = (input.stored.keys())
        .filter(|id| !by_id.contains_key(id) && !input.marks.contains_key(id))
        .copied()
        .collect();
    unindexed.sort();
    for id in unindexed {
        p.stats.unindexed_packs += 1;
        p.stats.unindexed_bytes += size(&id, 0);
        obsolete_now.push(id);
    }
    for id in obsolete_now {
        if s.instant_delete {
            p.stats.delete_packs += 1;
            p.stats.delete_bytes += size(&id, 0);
            p.delete.push(id);
        } else {
            p.mark.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::BlobKind;

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    fn pack(n: u8, blobs: &[u8], live: bool) -> IndexedPack {
        IndexedPack {
            id: id(n),
            size: 1000 * blobs.len() as u64 + 100,
            blobs: (blobs.iter().enumerate())
                .map(|(i, b)| PackBlob {
                    kind: BlobKind::Data,
                    id: [*b; 32],
                    offset: 1000 * i as u32,
                    length: 1000,
                    raw_length: 900,
                    base: None,
                })
                .collect(),
            live,
        }
    }

    struct World {
        packs: Vec<IndexedPack>,
        marks: HashMap<Id, i64>,
        stored: HashMap<Id, u64>,
        used: HashSet<Id>,
        locks: Vec<i64>,
    }

    impl World {
        fn new(packs: Vec<IndexedPack>, used: &[u8]) -> Self {
            let stored = packs.iter().map(|p| (p.id, p.size)).collect();
            World {
                packs,
                marks: HashMap::new(),
                stored,
                used: used.iter().map(|b| id(*b)).collect(),
                locks: vec![],
            }
        }

        fn plan(&self, now: i64, settings: Settings) -> Plan {
            plan(&Input {
                packs: &self.packs,
                marks: &self.marks,
                stored: &self.stored,
                used: &self.used,
                lock_created: &self.locks,
                now,
                settings,
            })
        }
    }

    const GRACE: Settings = Settings {
        grace_secs: 100,
        max_unused_percent: Some(5.0),
        instant_delete: false,
    };

    #[test]
    fn unused_packs_are_marked_and_partly_used_ones_repacked() {
        let w = World::new(
            vec![
                pack(1, &[10, 11], true),
                pack(2, &[12, 13], true),
                pack(3, &[14, 15, 16], true),
            ],
            &[10, 11, 12, 14, 15, 16],
        );
        let p = w.plan(1000, GRACE);
        assert_eq!(p.keep, vec![id(1), id(3)]);
        assert_eq!(p.repack, vec![id(2)]);
        assert_eq!(p.copy.len(), 1);
        assert_eq!(p.copy[0].1.id, [12; 32]);
        assert_eq!(p.mark, vec![id(2)]);
        assert!(
            p.delete.is_empty(),
            "nothing is deleted before the grace period"
        );
        let unlimited = Settings {
            max_unused_percent: None,
            ..GRACE
        };
        assert!(w.plan(1000, unlimited).repack.is_empty());
    }

    #[test]
    fn duplicate_copies_count_once() {
        let w = World::new(
            vec![pack(1, &[10, 11], true), pack(2, &[10, 11], true)],
            &[10, 11],
        );
        let p = w.plan(1000, GRACE);
        assert_eq!(p.keep, vec![id(1)]);
        assert_eq!(p.mark, vec![id(2)]);
    }

    #[test]
    fn marked_packs_are_deleted_after_grace_unless_a_snapshot_started_before() {
        let mut w = World::new(vec![pack(1, &[10], true), pack(2, &[11], false)], &[10]);
        w.marks.insert(id(2), 500);
        let early = w.plan(599, GRACE);
        assert_eq!(early.waiting, vec![(id(2), 500)]);
        assert_eq!(early.stats.deferred_by_lock, 0);
        assert!(early.delete.is_empty());
        assert_eq!(w.plan(600, GRACE).delete, vec![id(2)]);
        // A snapshot whose lock predates the end of the grace window may still use pack 2.
        w.locks = vec![550];
        let held = w.plan(700, GRACE);
        assert!(held.delete.is_empty());
        assert_eq!(held.stats.deferred_by_lock, 1);
        // P3: whatever the grace, a lock created within LOCK_WINDOW_SECS of the mark holds
        // the pack (the marking index may not have been visible to that writer yet).
        w.locks = vec![500 + LOCK_WINDOW_SECS - 1];
        assert!(w.plan(500 + LOCK_WINDOW_SECS + 10, GRACE).delete.is_empty());
        w.locks = vec![500 + LOCK_WINDOW_SECS];
        assert_eq!(
            w.plan(500 + LOCK_WINDOW_SECS + 10, GRACE).delete,
            vec![id(2)]
        );
    }

    #[test]
    fn a_delta_copy_whose_base_is_not_kept_does_not_keep_the_blob() {
        // Pack 1 holds blob 10 as a delta on 99 (no longer used: its chain is broken), pack 2
        // holds 10 again, whole, as a writer stored it (rule W2). Pack 2 must claim it.
        let mut delta = pack(1, &[10], true);
        delta.blobs[0].kind = BlobKind::Delta;
        delta.blobs[0].base = Some([99; 32]);
        let w = World::new(vec![delta, pack(2, &[10], true)], &[10]);
        let p = w.plan(1000, GRACE);
        assert_eq!(p.keep, vec![id(2)]);
        assert_eq!(p.mark, vec![id(1)]);
    }

    #[test]
    fn referenced_obsolete_packs_come_back() {
        let mut w = World::new(
            vec![pack(1, &[10], true), pack(2, &[11, 12], false)],
            &[10, 12],
        );
        w.marks.insert(id(2), 0);
        let p = w.plan(10_000, GRACE);
        assert_eq!(p.resurrect, vec![id(2)]);
        assert!(p.delete.is_empty());
        // A blob that also has a live copy does not bring its obsolete pack back.
        w.packs.push(pack(3, &[12], true));
        w.stored.insert(id(3), 1100);
        let p = w.plan(10_000, GRACE);
        assert!(p.resurrect.is_empty());
        assert_eq!(p.delete, vec![id(2)]);
    }

    #[test]
    fn unindexed_files_are_marked_first_and_live_listing_wins() {
        let mut w = World::new(vec![pack(1, &[10], true)], &[10]);
        w.stored.insert(id(7), 500);
        let p = w.plan(1000, GRACE);
        assert_eq!(p.mark, vec![id(7)]);
        assert_eq!(p.stats.unindexed_packs, 1);
        // Marked by the last prune: deleted once the grace period is over.
        w.marks.insert(id(7), 1000);
        assert_eq!(w.plan(1100, GRACE).delete, vec![id(7)]);
        // A snapshot's index file listed it as live meanwhile: it stays.
        w.packs.push(pack(7, &[10], true));
        let p = w.plan(1100, GRACE);
        assert!(p.delete.is_empty());
        assert!(p.keep.contains(&id(7)) || p.mark.contains(&id(7)));
    }

    #[test]
    fn instant_delete_skips_the_mark_and_missing_files_drop_marks() {
        let mut w = World::new(vec![pack(1, &[10], true), pack(2, &[11], true)], &[10]);
        w.marks.insert(id(9), 5);
        w.locks = vec![0];
        let instant = Settings {
            instant_delete: true,
            ..GRACE
        };
        let p = w.plan(10, instant);
        assert_eq!(p.delete, vec![id(2)]);
        assert!(p.mark.is_empty());
        assert!(p.changes);
        let p = w.plan(10, GRACE);
        assert!(
            p.waiting.is_empty(),
            "the mark of a missing file is dropped"
        );
    }

    #[test]
    fn nothing_to_do_means_no_changes() {
        let w = World::new(vec![pack(1, &[10], true)], &[10]);
        let p = w.plan(1000, GRACE);
        assert!(!p.changes);
        assert_eq!(p.stats.keep_packs, 1);
        assert_eq!(p.stats.keep_bytes, 1100);
    }
}
