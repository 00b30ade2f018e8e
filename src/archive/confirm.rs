//! Rule W4 of `repo-format.md` section 14, with the cause of a failure told apart: just before a
//! writer writes its manifest, every pack it relied on (see [`super::Archived::relied`]) must
//! still exist. A pack can be gone for two reasons, and they call for different actions:
//!
//! - a prune (or a repair) removed it: it was marked obsolete before it was deleted, so the
//!   index as it is now no longer lists it as live. The writer loaded its index before the mark
//!   and the prune did not see its lock (a stale listing): running the snapshot again works,
//!   since the new run's index does not offer the pack.
//! - it was lost outside dumpvault (a disk fault, a cleanup job, a bucket lifecycle rule): the
//!   index still lists it as live, which no prune leaves behind (prune deletes only packs that
//!   no index file it keeps lists as live). Every later snapshot of the same data would rely on
//!   it again and fail the same way, so running it again does not help: the repository is
//!   damaged (exit 3), `dumpvault check` names what the pack held, and `dumpvault repair index`
//!   drops its listing, after which the next snapshot stores that data again.
//!
//! Why the snapshot does not store the lost pack's blobs again itself (it has the chunks in
//! hand): readers keep one copy of each blob, the first listed among copies of equal standing
//! (both in live packs, both whole; `Index::add_pack_as`), and the lost pack is listed as live
//! by index files that only `repair index` or prune may replace. A new copy would be read only
//! when its index file happened to be listed first, so the new snapshot would not reliably
//! restore until `repair index` ran: a snapshot that exits 0 must restore.

use crate::error::{Error, Result};
use crate::id::Id;
use crate::index::Index;
use crate::repository::{FileKind, Repository};
use std::collections::HashSet;

/// Up to this many packs are checked one by one (a size request each); more by one listing of
/// `data/`.
const ONE_BY_ONE: usize = 32;

/// How many missing packs an error names one by one.
const NAMED_PACKS: usize = 3;

/// Rule W4: confirms that every pack in `relied` (the packs a writer's deduplicated blobs, their
/// delta chains and its delta bases live in) still exists, just before the writer writes its
/// manifest.
///
/// Errors: when packs are missing, nothing is to be written, and the error names them (the
/// first [`NAMED_PACKS`], sorted, and how many more) and says why:
/// [`Error::Corrupt`] (exit 3) when the index as it is now still lists one of them as live: it
/// was lost outside dumpvault, and the message says to run `dumpvault check`, then
/// `dumpvault repair index`; [`Error::NotFound`] (exit 1) when a prune or repair removed them
/// meanwhile: run the snapshot again. Storage errors checking or listing the packs.
pub fn confirm_relied(repo: &Repository, relied: &HashSet<Id>) -> Result<()> {
    let missing = missing_packs(repo, relied)?;
    if missing.is_empty() {
        return Ok(());
    }
    // The failure path only: the index is loaded again to tell the two causes apart.
    let live = Index::load(repo).map(|index| {
        (missing.iter().copied())
            .filter(|id| index.is_live(id))
            .collect::<Vec<Id>>()
    });
    Err(match live {
        Ok(lost) if lost.is_empty() => removed_meanwhile(&missing),
        Ok(lost) => lost_outside_prune(repo, &lost),
        Err(e) => undecided(&missing, &e),
    })
}

/// The packs of `relied` whose file is missing, sorted: few are checked one by one, many by one
/// listing of `data/`.
///
/// Errors: storage errors.
fn missing_packs(repo: &Repository, relied: &HashSet<Id>) -> Result<Vec<Id>> {
    let mut missing: Vec<Id> = if relied.len() <= ONE_BY_ONE {
        let mut missing = Vec::new();
        for id in relied {
            if repo.backend().size(&FileKind::Pack.path(id))?.is_none() {
                missing.push(*id);
            }
        }
        missing
    } else {
        let stored: HashSet<Id> = (repo.list(FileKind::Pack)?.into_iter())
            .map(|p| p.0)
            .collect();
        relied
            .iter()
            .filter(|id| !stored.contains(id))
            .copied()
            .collect()
    };
    missing.sort();
    Ok(missing)
}

/// `pack data/..` for one pack, `3 packs (data/.., data/.., data/..)` for several (the first
/// [`NAMED_PACKS`], then how many more).
fn name_packs(packs: &[Id]) -> String {
    let mut named: Vec<String> = (packs.iter().take(NAMED_PACKS))
        .map(|id| FileKind::Pack.path(id))
        .collect();
    if packs.len() > NAMED_PACKS {
        named.push(format!("{} more", packs.len() - NAMED_PACKS));
    }
    match packs.len() {
        1 => format!("pack {}", named[0]),
        n => format!("{n} packs ({})", named.join(", ")),
    }
}

/// The error for packs still listed as live but missing: lost outside dumpvault.
fn lost_outside_prune(repo: &Repository, lost: &[Id]) -> Error {
    let it = if lost.len() == 1 { "it" } else { "them" };
    Error::corrupt(
        name_packs(lost),
        format!(
            "missing from {loc}, yet no prune removed {it} (the index still lists {it} as \
             live): lost outside dumpvault (a disk fault, a cleanup job, a bucket lifecycle \
             rule?). This snapshot deduplicated against {it}, so no snapshot was written, and \
             every snapshot of the same data fails the same way until the index is repaired: \
             run `dumpvault check` (it names the snapshots that need the missing data), then \
             `dumpvault repair index`; the next snapshot then stores that data again",
            loc = repo.backend().location()
        ),
    )
}

/// The error for packs a prune (or repair) removed while this writer ran: run it again.
fn removed_meanwhile(missing: &[Id]) -> Error {
    Error::NotFound(format!(
        "{} that this snapshot deduplicated against {} deleted by a concurrent prune; no \
         snapshot was written: run the snapshot again",
        name_packs(missing),
        if missing.len() == 1 { "was" } else { "were" }
    ))
}

/// The error when the index could not be loaded again to tell why packs are missing.
fn undecided(missing: &[Id], e: &Error) -> Error {
    Error::NotFound(format!(
        "{} that this snapshot deduplicated against {} missing, and reading the index to tell \
         why failed ({e}); no snapshot was written. If a prune ran meanwhile, run the snapshot \
         again; otherwise run `dumpvault check`, then `dumpvault repair index`",
        name_packs(missing),
        if missing.len() == 1 { "is" } else { "are" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::prune::{self, plan::Settings, PruneOptions};
    use crate::commands::snapshot::{self, SnapshotOptions};
    use crate::index::SharedIndex;
    use crate::progress::NoProgress;
    use crate::repository::fixture::{memory_repo, noise};
    use crate::source::stdin::ReaderSource;
    use crate::source::DumpSource;

    fn repo(name: &str) -> Repository {
        memory_repo(&format!("confirm-{name}"))
    }

    /// Snapshots `bytes`; returns the snapshot id.
    fn snap(repo: &Repository, bytes: Vec<u8>) -> Id {
        let index = SharedIndex::start(repo, "snapshot").unwrap();
        let src: Box<dyn DumpSource> = Box::new(ReaderSource::new(std::io::Cursor::new(bytes)));
        let opts = SnapshotOptions::default();
        (snapshot::run(repo, &index, vec![("d".into(), src)], &opts, &NoProgress).unwrap()).id
    }

    fn packs(repo: &Repository) -> HashSet<Id> {
        repo.list(FileKind::Pack)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect()
    }

    /// Probe finding 14: a pack deleted outside prune (still listed as live) is named as lost,
    /// exit 3, with `check` and `repair index` as the next steps, not "run the snapshot again".
    #[test]
    fn a_pack_lost_outside_prune_is_damage_with_check_and_repair_index() {
        let r = repo("lost");
        snap(&r, noise(1, 200_000));
        let all = packs(&r);
        assert!(confirm_relied(&r, &all).is_ok());
        let lost = *all.iter().min().unwrap();
        r.backend().delete(&FileKind::Pack.path(&lost)).unwrap();
        let e = confirm_relied(&r, &all).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), crate::error::EXIT_DAMAGED, "{msg}");
        let named = format!("pack {}", FileKind::Pack.path(&lost));
        for part in [
            named.as_str(),
            "no prune removed it",
            "run `dumpvault check`",
            "then `dumpvault repair index`",
        ] {
            assert!(msg.contains(part), "{part:?} missing: {msg}");
        }
        assert!(!msg.contains("run the snapshot again"), "{msg}");
    }

    /// A pack a prune marked obsolete and then deleted keeps the old advice: run again.
    #[test]
    fn a_pack_removed_by_prune_says_run_the_snapshot_again() {
        let r = repo("pruned");
        let first = snap(&r, noise(2, 200_000));
        let old = packs(&r);
        snap(&r, noise(3, 200_000));
        r.backend()
            .delete(&FileKind::Snapshot.path(&first))
            .unwrap();
        let opts = PruneOptions {
            settings: Settings {
                grace_secs: 0,
                max_unused_percent: Some(5.0),
                instant_delete: false,
            },
            dry_run: false,
        };
        prune::run(&r, &opts, &NoProgress).unwrap();
        let out = prune::run(&r, &opts, &NoProgress).unwrap();
        assert!(out.stats.delete_packs > 0, "{out:?}");
        let e = confirm_relied(&r, &old).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.exit_code(), crate::error::EXIT_FAILURE, "{msg}");
        assert!(msg.contains("deleted by a concurrent prune"), "{msg}");
        assert!(msg.contains("run the snapshot again"), "{msg}");
    }

    #[test]
    fn name_packs_names_three_and_counts_the_rest() {
        let ids: Vec<Id> = (1..=5u8).map(|n| Id([n; 32])).collect();
        let s = name_packs(&ids);
        assert!(
            s.starts_with("5 packs (") && s.ends_with(", 2 more)"),
            "{s}"
        );
        assert!(s.contains(&FileKind::Pack.path(&ids[2])), "{s}");
        assert_eq!(
            name_packs(&ids[..1]),
            format!("pack {}", FileKind::Pack.path(&ids[0]))
        );
    }
}
