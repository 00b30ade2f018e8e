//! Prune's compaction of the catalogue (`repo-format.md` section 14, step 11, and section 17).

use super::{write_file, write_part};
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{CatalogueEntry, CatalogueFile, CataloguePart};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Entries of one database identity from which the compaction (config version 3) puts them
/// in a catalogue part of their own instead of the catalogue file itself. Below it, the part
/// would cost a read more than it saves.
pub const PART_MIN_ENTRIES: usize = 32;

/// What [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The catalogue file written, when one was.
    pub file: Option<Id>,
    /// Catalogue files deleted (superseded).
    pub removed: u64,
    /// Catalogue parts written (config version 3).
    pub parts_written: u64,
    /// Catalogue parts deleted: those of superseded files that the new file does not name,
    /// and parts no file names (left by a prune stopped before its catalogue file).
    pub parts_removed: u64,
}

/// A part named by a catalogue file read.
struct OldPart {
    part: CataloguePart,
    /// Its entries' snapshot ids, sorted, when it was read.
    ids: Option<Vec<Id>>,
    /// Whether it may be deleted once no file names it: read, gone, or not matching its
    /// name (one that matches but does not open may be another key's, R1).
    deletable: bool,
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
    /// The parts the files read name.
    parts: Vec<OldPart>,
    /// Whether every listed file, and every part they name, was read.
    all_read: bool,
    /// Whether every listed file was read (so every part any file names is known).
    every_file_read: bool,
}

/// How a sealed file named by its hash reads.
enum Checked {
    Gone,
    /// Content does not match its name: to be replaced.
    Mismatch,
    /// Matches its name but does not open or decode (another key's, R1, or newer).
    Unreadable,
    File(CatalogueFile),
}

fn read_checked(repo: &Repository, kind: FileKind, id: &Id) -> Result<Checked> {
    let sealed = match repo.backend().read(&kind.path(id)) {
        Ok(b) => b,
        Err(e) if e.class == ErrorClass::NotFound => return Ok(Checked::Gone),
        Err(e) => return Err(e.into()),
    };
    if Id::hash(&sealed) != *id {
        return Ok(Checked::Mismatch);
    }
    // Opened from the bytes just read: one read per file.
    let Ok(plain) = repo.key().open(&sealed) else {
        return Ok(Checked::Unreadable);
    };
    match super::read::decode(kind, id, &plain) {
        Ok(f) => Ok(Checked::File(f)),
        Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. }) => Ok(Checked::Unreadable),
        Err(e) => Err(e),
    }
}

/// Reads every file of `files` and the parts they name: a file whose content does not match
/// its name is to be replaced; one that matches but does not open or decode stays (it may be
/// another key's, `repo-format.md` section 16, R1).
fn read_all(repo: &Repository, files: &[(Id, u64)]) -> Result<Read> {
    let mut r = Read {
        all_read: true,
        every_file_read: true,
        ..Default::default()
    };
    for (fid, _) in files {
        let f = match read_checked(repo, FileKind::Catalogue, fid)? {
            Checked::Gone => continue,
            Checked::Mismatch => {
                r.replaced.push(*fid);
                r.all_read = false;
                continue;
            }
            // Not ours to replace (R1), and not a reason to rewrite at every prune.
            Checked::Unreadable => {
                r.every_file_read = false;
                continue;
            }
            Checked::File(f) => f,
        };
        r.replaced.push(*fid);
        r.forgotten.extend(f.forgotten.iter().map(|i| Id(*i)));
        r.known.extend(f.entries.into_iter().map(|e| (Id(e.id), e)));
        for part in f.parts {
            let (ids, deletable) =
                match read_checked(repo, FileKind::CataloguePart, &Id(part.file))? {
                    Checked::File(p) => {
                        let mut ids: Vec<Id> = p.entries.iter().map(|e| Id(e.id)).collect();
                        ids.sort_unstable();
                        r.known.extend(p.entries.into_iter().map(|e| (Id(e.id), e)));
                        (Some(ids), true)
                    }
                    Checked::Gone | Checked::Mismatch => (None, true),
                    Checked::Unreadable => (None, false),
                };
            // Its snapshots get their entries from their manifests.
            r.all_read &= ids.is_some();
            r.parts.push(OldPart {
                part,
                ids,
                deletable,
            });
        }
    }
    Ok(r)
}

/// The parts and inline entries of the new catalogue file: with config version 3 every
/// identity of at least [`PART_MIN_ENTRIES`] entries gets a part (an old part holding exactly
/// its entries is named again, not rewritten); the rest stay inline.
struct Layout {
    inline: Vec<CatalogueEntry>,
    /// Parts named again, unchanged.
    kept: Vec<CataloguePart>,
    /// Parts to write: (identity, entries).
    new: Vec<(Option<String>, Vec<CatalogueEntry>)>,
}

fn layout(repo: &Repository, entries: Vec<CatalogueEntry>, old: &[OldPart]) -> Layout {
    let mut out = Layout {
        inline: Vec::new(),
        kept: Vec::new(),
        new: Vec::new(),
    };
    if !repo.config().catalogue_parts() {
        out.inline = entries;
        return out;
    }
    let mut groups: BTreeMap<Option<String>, Vec<CatalogueEntry>> = BTreeMap::new();
    for e in entries {
        groups.entry(e.identity()).or_default().push(e);
    }
    for (identity, group) in groups {
        if group.len() < PART_MIN_ENTRIES {
            out.inline.extend(group);
            continue;
        }
        let mut ids: Vec<Id> = group.iter().map(|e| Id(e.id)).collect();
        ids.sort_unstable();
        let same = old
            .iter()
            .find(|p| p.part.identity == identity && p.ids.as_deref() == Some(ids.as_slice()));
        match same {
            Some(p) => out.kept.push(p.part.clone()),
            None => out.new.push((identity, group)),
        }
    }
    out.inline.sort_unstable_by_key(|e| e.id);
    out
}

/// The part describing `entries` of `identity`, stored as `file`.
fn part_of(file: Id, identity: Option<String>, entries: &[CatalogueEntry]) -> CataloguePart {
    let mut names: Vec<String> = entries.iter().flat_map(|e| e.filter_names()).collect();
    names.sort_unstable();
    names.dedup();
    CataloguePart {
        file: file.0,
        identity,
        names,
        count: entries.len() as u64,
    }
}

/// Prune's compaction: writes ONE catalogue file with an entry for every snapshot listed now
/// that no tombstone names (from `manifests`, the manifests prune read, else from the
/// catalogue files and their parts, else from the manifest itself: a manifest no file
/// catalogues, left by a writer stopped before its catalogue file, becomes visible), and the
/// tombstones of the snapshots still listed (config version 2 and later; tombstones of deleted
/// manifests are dropped), superseding every catalogue file read and every damaged one (content
/// not matching its name), then deletes those. With config version 3 the entries of each
/// database with at least [`PART_MIN_ENTRIES`] snapshots go into a part of their own, written
/// before the file that names it; parts no longer named are deleted after the files. A file
/// that matches its name but does not open or decode is left alone (it may be another key's,
/// `repo-format.md` section 16, R1). Does nothing when the catalogue is one complete file with
/// the parts it should have already. Call it holding the exclusive lock.
///
/// `catalogue/` is listed before `snapshots/`: every snapshot that an entry of a file read
/// describes is in the listing unless its manifest was deleted, and every tombstone read
/// whose manifest is listed is kept; a file written after the listing is not superseded.
///
/// Errors: storage errors; a manifest that cannot be read for a reason other than damage.
/// Catalogue files and parts are deleted only after the new file is durable.
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
    let total = entries.len();
    let plan = layout(repo, entries, &read.parts);
    let unchanged = read.all_read
        && complete
        && read.replaced.len() <= 1
        && read.known.len() == total
        && read.forgotten.len() == forgotten.len()
        && plan.new.is_empty()
        && plan.kept.len() == read.parts.len();
    if unchanged {
        // Only parts an interrupted prune left may be deleted.
        let named: HashSet<Id> = read.parts.iter().map(|p| Id(p.part.file)).collect();
        let unnamed = unnamed_parts(repo, &read, &named)?;
        let parts_removed = delete_parts(repo, &unnamed)?;
        return Ok(Compacted {
            parts_removed,
            ..Default::default()
        });
    }
    write(repo, plan, read, forgotten)
}

/// The parts no catalogue file names once the file naming `named` is the only one: those of
/// the files `read` that are not in `named` (unless one may be another key's), and, when every
/// listed file was read (so that no unread file may name one), every other part listed (left
/// by a prune stopped between its parts and its file).
///
/// Errors: listing `catalogue-parts/` fails.
fn unnamed_parts(repo: &Repository, read: &Read, named: &HashSet<Id>) -> Result<Vec<Id>> {
    let mut unnamed: Vec<Id> = (read.parts.iter())
        .filter(|p| p.deletable && !named.contains(&Id(p.part.file)))
        .map(|p| Id(p.part.file))
        .collect();
    if read.every_file_read {
        let old: HashSet<Id> = read.parts.iter().map(|p| Id(p.part.file)).collect();
        unnamed.extend(
            (repo.list(FileKind::CataloguePart)?.into_iter())
                .map(|(id, _)| id)
                .filter(|id| !named.contains(id) && !old.contains(id)),
        );
    }
    Ok(unnamed)
}

/// Deletes the parts `ids` (one gone already counts) and forgets them in the memo; returns
/// how many.
///
/// Errors: a deletion fails.
fn delete_parts(repo: &Repository, ids: &[Id]) -> Result<u64> {
    let mut n = 0;
    for id in ids {
        match repo.backend().delete(&FileKind::CataloguePart.path(id)) {
            Err(e) if e.class != ErrorClass::NotFound => return Err(e.into()),
            _ => n += 1,
        }
    }
    let mut st = repo.catalogue_memo().state();
    for id in ids {
        st.parts.remove(id);
    }
    Ok(n)
}

/// Writes the new parts, then the catalogue file naming them, then deletes what it
/// supersedes (see [`compact`]).
fn write(
    repo: &Repository,
    plan: Layout,
    read: Read,
    forgotten: Vec<[u8; 32]>,
) -> Result<Compacted> {
    let mut out = Compacted::default();
    let mut parts = plan.kept;
    for (identity, group) in plan.new {
        let file = write_part(repo, group.clone())?;
        parts.push(part_of(file, identity, &group));
        out.parts_written += 1;
    }
    crate::testhook::pause("catalogue-compact-before-file");
    let named: HashSet<Id> = parts.iter().map(|p| Id(p.file)).collect();
    let file = CatalogueFile {
        entries: plan.inline,
        supersedes: read.replaced.iter().map(|i| i.0).collect(),
        forgotten,
        parts,
    };
    out.file = Some(write_file(repo, file)?);
    for id in &read.replaced {
        match repo.backend().delete(&FileKind::Catalogue.path(id)) {
            Err(e) if e.class != ErrorClass::NotFound => return Err(e.into()),
            _ => out.removed += 1,
        }
    }
    // Parts no file names any more.
    let unnamed = unnamed_parts(repo, &read, &named)?;
    out.parts_removed = delete_parts(repo, &unnamed)?;
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
