//! Prune's compaction of the catalogue (`repo-format.md` section 14, step 11, and section 17).

use super::write_file;
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{CatalogueEntry, CatalogueFile};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::{HashMap, HashSet};

/// What [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The catalogue file written, when one was.
    pub file: Option<Id>,
    /// Catalogue files deleted (superseded).
    pub removed: u64,
}

/// What the listed catalogue files hold.
#[derive(Default)]
struct Read {
    /// Entries by snapshot id.
    known: HashMap<Id, CatalogueEntry>,
    /// Tombstones.
    forgotten: HashSet<Id>,
    /// Files read, and files whose content does not match their name: the new file
    /// supersedes them.
    replaced: Vec<Id>,
    /// Whether every listed file was read.
    all_read: bool,
}

/// Reads every file of `files`: a file whose content does not match its name is to be
/// replaced; one that matches but does not open or decode stays (it may be another key's,
/// `repo-format.md` section 16, R1).
fn read_all(repo: &Repository, files: &[(Id, u64)]) -> Result<Read> {
    let mut r = Read {
        all_read: true,
        ..Default::default()
    };
    for (fid, _) in files {
        let sealed = match repo.backend().read(&FileKind::Catalogue.path(fid)) {
            Ok(b) => b,
            Err(e) if e.class == ErrorClass::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if Id::hash(&sealed) != *fid {
            r.replaced.push(*fid);
            r.all_read = false;
            continue;
        }
        match super::read_file(repo, fid) {
            Ok(Some(f)) => {
                r.replaced.push(*fid);
                r.forgotten.extend(f.forgotten.iter().map(|i| Id(*i)));
                r.known.extend(f.entries.into_iter().map(|e| (Id(e.id), e)));
            }
            Ok(None) => {}
            // Not ours to replace (R1), and not a reason to rewrite at every prune.
            Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(r)
}

/// Prune's compaction: writes ONE catalogue file with an entry for every snapshot listed now
/// that no tombstone names (from `manifests`, the manifests prune read, else from the
/// catalogue files, else from the manifest itself: a manifest no file catalogues, left by a
/// writer stopped before its catalogue file, becomes visible), and the tombstones of the
/// snapshots still listed (config version 2; tombstones of deleted manifests are dropped),
/// superseding every catalogue file read and every damaged one (content not matching its
/// name), then deletes those. A file that matches its name but does not open or decode is
/// left alone (it may be another key's, `repo-format.md` section 16, R1). Does nothing when
/// there is a single, complete catalogue file already. Call it holding the exclusive lock.
///
/// `catalogue/` is listed before `snapshots/`: every snapshot that an entry of a file read
/// describes is in the listing unless its manifest was deleted, and every tombstone read
/// whose manifest is listed is kept; a file written after the listing is not superseded.
///
/// Errors: storage errors; a manifest that cannot be read for a reason other than damage.
/// Catalogue files are deleted only after the new one is durable.
pub fn compact(repo: &Repository, manifests: &[(Id, Manifest)]) -> Result<Compacted> {
    let files = repo.list(FileKind::Catalogue)?;
    // Listed after `catalogue/`: see above.
    let snapshots = repo.list(FileKind::Snapshot)?;
    let read = read_all(repo, &files)?;
    let from_prune: HashMap<Id, &Manifest> = manifests.iter().map(|(i, m)| (*i, m)).collect();
    let mut entries = Vec::with_capacity(snapshots.len());
    let mut forgotten: Vec<[u8; 32]> = Vec::new();
    let mut complete = true;
    for (id, size) in &snapshots {
        if read.forgotten.contains(id) {
            // Forgotten, its manifest not deleted yet: the tombstone stays with it.
            forgotten.push(id.0);
            continue;
        }
        if let Some(e) = read.known.get(id).filter(|e| e.size == *size) {
            entries.push(e.clone());
            continue;
        }
        complete = false;
        if let Some(m) = from_prune.get(id) {
            entries.push(CatalogueEntry::of(id.0, *size, m));
            continue;
        }
        match repo.load_manifest(id) {
            Ok(m) => entries.push(CatalogueEntry::of(id.0, *size, &m)),
            Err(Error::Corrupt { .. }) => {}
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if !repo.config().catalogue_authoritative() {
        // A version 1 file has no tombstones (and version 1 writers write none).
        forgotten.clear();
    }
    let unchanged = read.all_read
        && complete
        && read.replaced.len() <= 1
        && read.known.len() == entries.len()
        && read.forgotten.len() == forgotten.len();
    if unchanged {
        return Ok(Compacted::default());
    }
    let file = CatalogueFile {
        entries,
        supersedes: read.replaced.iter().map(|i| i.0).collect(),
        forgotten,
    };
    let fid = write_file(repo, file)?;
    let mut out = Compacted {
        file: Some(fid),
        removed: 0,
    };
    for id in &read.replaced {
        match repo.backend().delete(&FileKind::Catalogue.path(id)) {
            Err(e) if e.class != ErrorClass::NotFound => return Err(e.into()),
            _ => out.removed += 1,
        }
    }
    // Forget the deleted files: a later load of this process must not count their entries.
    let mut st = repo.catalogue_memo().state();
    for id in &read.replaced {
        st.files.remove(id);
    }
    if let Some(l) = st.listed.as_mut() {
        l.retain(|f| !read.replaced.contains(f));
    }
    drop(st);
    Ok(out)
}
