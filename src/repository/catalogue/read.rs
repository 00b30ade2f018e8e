//! Reading catalogue files and parts into a process's [`Memo`] (`repo-format.md` section 17).

use super::{Facts, Memo, State};
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{decode_catalogue_file, CatalogueFile, CATALOGUE_VERSION};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::HashSet;
use std::sync::Mutex;

/// Reads catalogue file `id`: `Ok(None)` when it is gone (superseded and deleted by a prune
/// meanwhile).
///
/// Errors: [`Error::Corrupt`] when its content does not match its name, it fails
/// authentication or does not decode; [`Error::UnsupportedVersion`]; storage errors.
pub fn read_file(repo: &Repository, id: &Id) -> Result<Option<CatalogueFile>> {
    read_kind(repo, FileKind::Catalogue, id)
}

/// As [`read_file`], for catalogue part `id` (`catalogue-parts/<id>`).
///
/// Errors: as [`read_file`].
pub fn read_part(repo: &Repository, id: &Id) -> Result<Option<CatalogueFile>> {
    read_kind(repo, FileKind::CataloguePart, id)
}

pub(super) fn read_kind(
    repo: &Repository,
    kind: FileKind,
    id: &Id,
) -> Result<Option<CatalogueFile>> {
    let plain = match repo.load_file(kind, id) {
        Ok(p) => p,
        Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    decode(kind, id, &plain).map(Some)
}

/// Decodes the opened plaintext `plain` of catalogue file (or part) `id`.
///
/// Errors: [`Error::UnsupportedVersion`] for a newer version; [`Error::Corrupt`] when it does
/// not decode.
pub(super) fn decode(kind: FileKind, id: &Id, plain: &[u8]) -> Result<CatalogueFile> {
    let object = format!("{} {id}", kind.noun());
    decode_catalogue_file(plain).map_err(|e| match e {
        crate::format::FormatError::Version(v) => Error::UnsupportedVersion {
            object,
            found: v,
            supported: u32::from(CATALOGUE_VERSION),
        },
        e => crate::repository::versioned_error(object, e),
    })
}

/// Reads the parts `ids` this process has not read yet into the memo (a damaged one is
/// warned about and recorded as such). Returns whether one was gone (deleted by a prune after
/// the listing of the file that names it).
///
/// Errors: storage errors reading a part.
pub(super) fn read_parts(repo: &Repository, memo: &Memo, ids: &[Id]) -> Result<bool> {
    let mut gone = false;
    for pid in ids {
        if memo.state().parts.contains_key(pid) {
            continue;
        }
        match read_part(repo, pid) {
            Ok(Some(f)) => memo.state().add_part(*pid, f),
            Ok(None) => gone = true,
            Err(e @ (Error::Corrupt { .. } | Error::UnsupportedVersion { .. })) => {
                warn_ignored(FileKind::CataloguePart, pid, &e);
                memo.state().parts.insert(*pid, None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(gone)
}

/// Warns once per process and file that catalogue file (or part) `id` is ignored.
pub(super) fn warn_ignored(kind: FileKind, id: &Id, e: &Error) {
    static WARNED: Mutex<Vec<Id>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(id) {
        return;
    }
    warned.push(*id);
    eprintln!(
        "dumpvault: warning: {}: {e}; it is ignored and the snapshot manifests are read instead \
         (nothing is lost; `dumpvault prune` replaces a damaged catalogue file)",
        kind.path(id)
    );
}

/// Reads the files of `listed` this process has not read yet into the memo, except those that
/// a listed file already read supersedes (their live entries are in that file). Returns
/// whether a file was gone when read (deleted by a prune after the listing).
///
/// Errors: storage errors reading a file.
pub(super) fn read_unread(repo: &Repository, memo: &Memo, listed: &[Id]) -> Result<bool> {
    let (unread, mut superseded) = {
        let st = memo.state();
        let unread: Vec<Id> = (listed.iter().copied())
            .filter(|id| !st.files.contains_key(id))
            .collect();
        let superseded: HashSet<Id> = superseded_by(&st, listed);
        (unread, superseded)
    };
    let mut gone = false;
    for fid in unread {
        if superseded.contains(&fid) {
            continue;
        }
        match read_file(repo, &fid) {
            Ok(Some(f)) => {
                superseded.extend(f.supersedes.iter().map(|s| Id(*s)));
                memo.state().add_file(fid, f);
            }
            Ok(None) => gone = true,
            Err(e @ (Error::Corrupt { .. } | Error::UnsupportedVersion { .. })) => {
                warn_ignored(FileKind::Catalogue, &fid, &e);
                memo.state().files.insert(fid, Facts::Damaged);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(gone)
}

/// The files that the files of `listed` read so far supersede.
pub(super) fn superseded_by(st: &State, listed: &[Id]) -> HashSet<Id> {
    let mut out = HashSet::new();
    for fid in listed {
        if let Some(Facts::Read { supersedes, .. }) = st.files.get(fid) {
            out.extend(supersedes.iter().copied());
        }
    }
    out
}
