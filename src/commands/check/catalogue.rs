//! The catalogue side of `check` (config version 2, where the catalogue decides which
//! snapshots exist, `repo-format.md` section 17): manifests that no catalogue entry lists, and
//! entries whose manifest is missing.

use super::{CheckReport, Problems};
use crate::error::Result;
use crate::id::Id;
use crate::repository::{catalogue, FileKind, Repository};
use std::collections::HashSet;

/// Snapshot ids named in a note before the rest are counted.
const NAMED: usize = 3;

/// `a, b, c, …` of the first short ids of `ids`.
fn names(ids: &[Id]) -> String {
    let mut s: Vec<String> = ids.iter().take(NAMED).map(|i| i.short()).collect();
    if ids.len() > NAMED {
        s.push("…".into());
    }
    s.join(", ")
}

/// Compares the catalogue with the listing of `snapshots/` (config version 2 only; nothing
/// with version 1). A manifest without an entry is not visible (a writer stopped before its
/// catalogue file): a note, not a problem, since `prune` catalogues it. A forgotten manifest
/// not deleted yet: a note (`prune` deletes it). An entry whose manifest is missing is a
/// problem (the snapshot is listed but cannot be restored). A damaged catalogue file is a
/// problem of its own.
///
/// Errors: listing or reading fails.
pub(super) fn check(
    repo: &Repository,
    problems: &mut Problems,
    report: &mut CheckReport,
) -> Result<()> {
    if !repo.config().catalogue_authoritative() {
        return Ok(());
    }
    // The catalogue first, then the listing: an entry written after the view was loaded
    // cannot be missed as "missing".
    let view = catalogue::load_catalogue_only(repo)?;
    let listed: HashSet<Id> = (repo.list(FileKind::Snapshot)?.into_iter())
        .map(|(id, _)| id)
        .collect();
    let Some(view) = view else {
        let damaged = damaged_files(repo)?;
        for (kind, f) in damaged {
            problems.add(
                &format!("{} {}", kind.noun(), kind.path(&f)),
                "damaged: listings read the snapshot manifests instead until `dumpvault prune` \
                 replaces it (a file that decrypts with no key of this repository stays: move \
                 it out of the repository)",
            );
        }
        return Ok(());
    };
    let entries: HashSet<Id> = view.entries.iter().map(|e| Id(e.id)).collect();
    // Tombstones read after the listing: a forget that deleted a manifest after the view was
    // loaded wrote its tombstone before.
    let tombstones = catalogue::tombstones(repo)?;
    let mut missing: Vec<Id> = (entries.iter())
        .filter(|id| !listed.contains(id) && !tombstones.contains(id))
        .copied()
        .collect();
    missing.sort();
    for id in &missing {
        let object = format!("catalogue entry of snapshot {}", id.short());
        problems.add(
            &object,
            format!(
                "its manifest {} is missing, so the snapshot is listed but cannot be restored; \
                 `dumpvault prune` drops the entry",
                FileKind::Snapshot.path(id)
            ),
        );
        problems.affect(&object, id, None, "", vec![]);
    }
    let mut hidden: Vec<Id> = (listed.iter())
        .filter(|id| !entries.contains(id) && !tombstones.contains(id))
        .copied()
        .collect();
    hidden.sort();
    if !hidden.is_empty() {
        report.notes.push(format!(
            "{} snapshot manifest(s) ({}) are not visible: no catalogue entry lists them (a \
             writer stopped before its catalogue file); run `dumpvault prune` to catalogue them",
            hidden.len(),
            names(&hidden)
        ));
    }
    let mut forgotten: Vec<Id> = (listed.iter())
        .filter(|id| tombstones.contains(id))
        .copied()
        .collect();
    forgotten.sort();
    if !forgotten.is_empty() {
        report.notes.push(format!(
            "{} manifest(s) ({}) of forgotten snapshots are still stored (an interrupted \
             forget); `dumpvault prune` deletes them",
            forgotten.len(),
            names(&forgotten)
        ));
    }
    Ok(())
}

/// The listed catalogue files that do not match their name, open or decode, and the parts
/// named by the others that do not (or are missing), as `(kind, id)`.
fn damaged_files(repo: &Repository) -> Result<Vec<(FileKind, Id)>> {
    let mut out = Vec::new();
    for (fid, _) in repo.list(FileKind::Catalogue)? {
        let parts = match catalogue::read_file(repo, &fid) {
            Ok(f) => f.map(|f| f.parts).unwrap_or_default(),
            Err(crate::Error::Corrupt { .. } | crate::Error::UnsupportedVersion { .. }) => {
                out.push((FileKind::Catalogue, fid));
                continue;
            }
            Err(e) => return Err(e),
        };
        for p in parts {
            match catalogue::read_part(repo, &Id(p.file)) {
                Ok(Some(_)) => {}
                Ok(None)
                | Err(crate::Error::Corrupt { .. } | crate::Error::UnsupportedVersion { .. }) => {
                    out.push((FileKind::CataloguePart, Id(p.file)))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}
