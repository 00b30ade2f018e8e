//! Reading catalogue files and parts into a process's [`Memo`] (`repo-format.md` section 17).

use super::{Facts, Memo, State};
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{decode_catalogue_file, CatalogueFile, CATALOGUE_VERSION};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Parts below which [`read_parts`] reads on one thread.
const PARALLEL_PARTS: usize = 8;
/// Most threads [`read_parts`] reads and decodes parts on.
const MAX_THREADS: usize = 4;

/// Reads the parts `ids` this process has not read yet into the memo (a damaged one is
/// warned about and recorded as such). Returns whether one was gone (deleted by a prune after
/// the listing of the file that names it). Many parts (a whole fleet's) are read and decoded
/// on up to [`MAX_THREADS`] threads, one per core: reading, authenticating and decoding them
/// is most of what a listing of every snapshot costs.
///
/// Errors: storage errors reading a part (the first of `ids` that failed).
pub(super) fn read_parts(repo: &Repository, memo: &Memo, ids: &[Id]) -> Result<bool> {
    let todo: Vec<Id> = {
        let st = memo.state();
        let mut seen = HashSet::new();
        (ids.iter().copied())
            .filter(|p| !st.parts.contains_key(p) && seen.insert(*p))
            .collect()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores
        .min(MAX_THREADS)
        .min(todo.len() / PARALLEL_PARTS)
        .max(1);
    if threads == 1 {
        let mut gone = false;
        for pid in &todo {
            gone |= take_part(memo, pid, read_part(repo, pid))?;
        }
        return Ok(gone);
    }
    let next = AtomicUsize::new(0);
    // The first failure (by position in `todo`), and whether a part was gone.
    let failed: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let gone = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pid) = todo.get(i) else { break };
                match take_part(memo, pid, read_part(repo, pid)) {
                    Ok(g) => {
                        if g {
                            gone.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        let mut f = failed.lock().unwrap_or_else(|e| e.into_inner());
                        if f.as_ref().is_none_or(|(j, _)| i < *j) {
                            *f = Some((i, e));
                        }
                        // Nothing more to read: the load fails.
                        next.store(todo.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(gone.into_inner()),
    }
}

/// Records in the memo what reading part `pid` gave; returns whether it was gone.
///
/// Errors: `read`'s error, unless the part is damaged (then warned about and recorded).
fn take_part(memo: &Memo, pid: &Id, read: Result<Option<CatalogueFile>>) -> Result<bool> {
    match read {
        Ok(Some(f)) => memo.state().add_part(*pid, f),
        Ok(None) => return Ok(true),
        Err(e @ (Error::Corrupt { .. } | Error::UnsupportedVersion { .. })) => {
            warn_ignored(FileKind::CataloguePart, pid, &e);
            memo.state().parts.insert(*pid, None);
        }
        Err(e) => return Err(e),
    }
    Ok(false)
}

/// Warns once per process and file that catalogue file (or part) `id` is ignored.
pub(super) fn warn_ignored(kind: FileKind, id: &Id, e: &Error) {
    static WARNED: Mutex<Vec<Id>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(id) {
        return;
    }
    warned.push(*id);
    // A corrupt object's error names the file already (probe finding 7 f: named twice).
    let what = match e {
        Error::Corrupt { detail, .. } => format!("{}: {detail}", kind.path(id)),
        _ => format!("{}: {e}", kind.path(id)),
    };
    eprintln!(
        "dumpvault: warning: {what}; it is ignored and the snapshot manifests are read instead \
         (nothing is lost; `dumpvault prune` replaces a damaged catalogue file)"
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

#[cfg(test)]
mod tests {
    use super::super::tests::{manifest, pair, sorted};
    use super::super::*;
    use super::PARALLEL_PARTS;

    fn ids(view: View) -> Vec<Id> {
        sorted(view.entries.iter().map(|e| Id(e.id)).collect())
    }

    #[test]
    fn many_parts_are_read_on_several_threads_as_on_one() {
        let (a, _) = pair("memory://catalogue-parts-threads", 3);
        let databases = 2 * PARALLEL_PARTS + 1;
        let mut all = Vec::new();
        for d in 0..databases {
            for n in 0..PART_MIN_ENTRIES as u64 {
                let mut m = manifest(n);
                m.source.kind = "sqlite".into();
                m.source.database = Some(format!("db{d}"));
                m.streams[0].name = format!("db{d}.sql");
                let id = a.save_manifest(&m).unwrap();
                record(&a, &id, &m, None).unwrap();
                all.push(id);
            }
        }
        assert_eq!(compact(&a, &[]).unwrap().parts_written, databases as u64);
        let all = sorted(all);
        let fresh = || Repository::open(a.backend().clone(), b"pw").unwrap();
        assert_eq!(ids(load(&fresh()).unwrap()), all);
        // A damaged part is warned about and recorded as such, and its snapshots are listed
        // from their manifests.
        let parts = a.list(FileKind::CataloguePart).unwrap();
        let victim = parts[databases / 2].0;
        let path = FileKind::CataloguePart.path(&victim);
        let mut bytes = a.backend().read(&path).unwrap();
        bytes[45] ^= 1;
        a.backend().write(&path, bytes).unwrap();
        let r = fresh();
        assert_eq!(ids(load(&r).unwrap()), all);
        let st = r.catalogue_memo().state();
        assert_eq!(st.parts.len(), databases);
        assert!(matches!(st.parts.get(&victim), Some(None)));
        assert_eq!(
            st.parts.values().flatten().map(Vec::len).sum::<usize>(),
            all.len() - PART_MIN_ENTRIES
        );
    }
}
