//! Writes into a local repository directory: private file modes, atomic replacement through
//! `.tmp/`, and the bookkeeping that lets an interrupted process, or the next writer, remove
//! partial temporary files.
//!
//! Nothing is created by opening, reading or listing: the root folder and `.tmp/` appear on
//! the first write.
//!
//! Every file is written as `.tmp/<name>.<pid>.<16 hex>` with mode 0600, synced, then renamed
//! into place; every directory this process creates gets mode 0700 (both set explicitly, so the
//! umask does not matter). The temporary files of the running process are listed in a
//! process-wide registry: [`remove_own_temp_files`] (the interrupt path) deletes them and makes
//! every later write fail, and a write whose temporary file was deleted that way is never
//! renamed into place.

use std::collections::BTreeSet;
use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

/// Mode of every file written into a local repository.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory created in a local repository.
pub const DIR_MODE: u32 = 0o700;
/// The folder of files being written, relative to the repository root.
pub const TEMP_DIR: &str = ".tmp";

/// Every file under `top`, recursively, with its metadata; a missing `top` gives none, and an
/// entry that vanishes while it is listed is skipped.
fn walk(top: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut dirs = vec![top.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                dirs.push(e.path());
            } else if meta.is_file() {
                out.push((e.path(), meta));
            }
        }
    }
    Ok(out)
}

/// The temporary files this process is writing, and whether the process is stopping.
struct Registry {
    stopping: bool,
    files: BTreeSet<PathBuf>,
    snapshots_written: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    stopping: false,
    files: BTreeSet::new(),
    snapshots_written: 0,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deletes every temporary file this process is writing and makes later writes to local
/// repositories fail (the process is stopping on a signal). Returns how many were deleted.
/// Idempotent.
pub fn remove_own_temp_files() -> usize {
    let mut reg = registry();
    reg.stopping = true;
    let files = std::mem::take(&mut reg.files);
    files
        .iter()
        .filter(|f| std::fs::remove_file(f).is_ok())
        .count()
}

/// How many snapshot manifests (`snapshots/…`) this process has written into local or remote
/// repositories so far.
pub fn snapshots_written() -> u64 {
    registry().snapshots_written
}

/// Counts a snapshot manifest written through a remote backend (local writes count
/// themselves under the registry lock).
pub(super) fn count_snapshot(path: &str) {
    if path.starts_with("snapshots/") {
        registry().snapshots_written += 1;
    }
}

/// What [`Local::remove_temp_files_before`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TempCleanup {
    /// Files removed.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A repository in a local directory.
#[derive(Clone, Debug)]
pub(super) struct Local {
    root: PathBuf,
}

impl Local {
    pub(super) fn new(root: PathBuf) -> Self {
        Local { root }
    }

    /// Creates `dir` and its missing parents up to (and including) the root with
    /// [`DIR_MODE`]; parents of the root that are missing are created with default modes.
    fn ensure_dir(&self, dir: &Path) -> std::io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if dir != self.root {
            if let Some(parent) = dir.parent() {
                self.ensure_dir(parent)?;
            }
        } else if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match DirBuilder::new().mode(DIR_MODE).create(dir) {
            Ok(()) => std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads the whole file at `path` (relative to the root). OpenDAL's fs reader does not know a
    /// file's length and zero-fills a 2 MiB buffer per read step, about 4 MiB for every small
    /// file: at 50 000 snapshots that was over a quarter of a `snapshots` listing's CPU (500
    /// catalogue parts). Errors: I/O errors, `NotFound` for a missing file.
    pub(super) fn read(&self, path: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.root.join(path.trim_start_matches('/')))
    }

    /// Reads up to `length` bytes at `offset` of the file at `path` (relative to the root): fewer
    /// only where the file ends. Through OpenDAL a local range read took several hops through
    /// tokio's blocking thread pool (open, seek, read, close), each a thread wake-up: a later
    /// snapshot of a 600 MB dump, which reads its delta bases in ranges, switched context
    /// 248 000 times (docs/bench.md, "Later snapshots in steady state"). Errors: I/O errors,
    /// `NotFound` for a missing file.
    pub(super) fn read_range(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> std::io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(self.root.join(path.trim_start_matches('/')))?;
        // Never more than the file holds: a damaged index entry may claim gigabytes.
        let there = file.metadata()?.len().saturating_sub(offset).min(length);
        let mut buf = vec![0u8; usize::try_from(there).unwrap_or(usize::MAX)];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Writes `bytes` to `path` (relative to the root) atomically and durably, mode
    /// [`FILE_MODE`]. Errors: I/O errors (full disk, permissions), or `Interrupted` when the
    /// process is stopping on a signal; the temporary file is removed in every case.
    pub(super) fn write(&self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let target = self.root.join(path);
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        let tmp_dir = self.root.join(TEMP_DIR);
        self.ensure_dir(&parent)?;
        self.ensure_dir(&tmp_dir)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tmp_dir.join(format!(
            "{name}.{}.{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        {
            let mut reg = registry();
            if reg.stopping {
                return Err(stopping());
            }
            reg.files.insert(tmp.clone());
        }
        let written = write_file(&tmp, bytes);
        let mut reg = registry();
        if !reg.files.remove(&tmp) {
            // The interrupt path deleted it (or is about to exit): never rename it into place.
            let _ = std::fs::remove_file(&tmp);
            return Err(stopping());
        }
        let renamed = written.and_then(|()| std::fs::rename(&tmp, &target));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&tmp);
        } else if path.starts_with("snapshots/") {
            reg.snapshots_written += 1;
        }
        drop(reg);
        renamed?;
        // The rename is durable once the folder is synced (best effort: not every file system
        // can sync a folder).
        if let Ok(d) = File::open(&parent) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The files under `.tmp/`: (path, size in bytes, last modification). A missing folder
    /// lists as empty.
    pub(super) fn temp_files(&self) -> std::io::Result<Vec<(PathBuf, u64, SystemTime)>> {
        let files = walk(&self.root.join(TEMP_DIR))?;
        Ok((files.into_iter())
            .map(|(path, meta)| {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                (path, meta.len(), modified)
            })
            .collect())
    }

    /// The files under folder `dir` (relative to the root, ending in `/`), recursively:
    /// `(path relative to the root, size in bytes)`, as the storage listing gives them but
    /// read straight from the file system (one `readdir` per folder and one `stat` per file,
    /// without a trip through the async runtime per file: a local listing of 50 000 snapshots
    /// is dominated by that trip otherwise). A missing folder lists as empty.
    pub(super) fn list(&self, dir: &str) -> std::io::Result<Vec<(String, u64)>> {
        // Relative paths are built from the folder's and the entry's names (one string per
        // file), not from full paths stripped of the root: at 50 000 snapshots that was a
        // third of the listing's time outside the `stat` calls.
        let mut out = Vec::new();
        let mut dirs = vec![dir.trim_end_matches('/').to_string()];
        while let Some(rel) = dirs.pop() {
            let entries = match std::fs::read_dir(self.root.join(&rel)) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let Ok(meta) = e.metadata() else { continue };
                let path = match rel.is_empty() {
                    true => name.to_string(),
                    false => format!("{rel}/{name}"),
                };
                if meta.is_dir() {
                    dirs.push(path);
                } else if meta.is_file() {
                    out.push((path, meta.len()));
                }
            }
        }
        Ok(out)
    }

    /// Removes the files under `.tmp/` last modified before `cutoff`, except those this process
    /// is writing. A file that vanishes meanwhile is skipped.
    pub(super) fn remove_temp_files_before(
        &self,
        cutoff: SystemTime,
    ) -> std::io::Result<TempCleanup> {
        let mut done = TempCleanup::default();
        for (path, size, modified) in self.temp_files()? {
            if modified >= cutoff || registry().files.contains(&path) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    done.files += 1;
                    done.bytes += size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

fn stopping() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "not written: the process is stopping on a signal",
    )
}

/// Creates `path` (which must not exist) with [`FILE_MODE`], writes `bytes` and syncs it.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(FILE_MODE))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn list_gives_paths_relative_to_the_root_with_sizes_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let local = Local::new(root.clone());
        assert_eq!(local.list("data/").unwrap(), Vec::<(String, u64)>::new());
        local.write("data/ab/abcd", b"pack").unwrap();
        local.write("data/cd/cdef", b"pack two").unwrap();
        local.write("snapshots/0123", b"s").unwrap();
        let mut data = local.list("data/").unwrap();
        data.sort();
        assert_eq!(
            data,
            [
                ("data/ab/abcd".to_string(), 4),
                ("data/cd/cdef".to_string(), 8)
            ]
        );
        assert_eq!(
            local.list("snapshots/").unwrap(),
            [("snapshots/0123".to_string(), 1)]
        );
    }

    #[test]
    fn files_and_folders_are_private_and_temp_files_go_away() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let local = Local::new(root.clone());
        local.write("data/ab/abcd", b"pack").unwrap();
        assert_eq!(std::fs::read(root.join("data/ab/abcd")).unwrap(), b"pack");
        assert_eq!(mode(&root.join("data/ab/abcd")), FILE_MODE);
        for d in ["", "data", "data/ab", TEMP_DIR] {
            assert_eq!(mode(&root.join(d)), DIR_MODE, "{d:?}");
        }
        assert!(local.temp_files().unwrap().is_empty());
        // A stale partial file is removed; a newer one stays.
        let old = root.join(TEMP_DIR).join("abcd.1.0");
        std::fs::write(&old, b"partial").unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        let new = root.join(TEMP_DIR).join("efgh.1.0");
        std::fs::write(&new, b"in progress").unwrap();
        let cut = local
            .remove_temp_files_before(SystemTime::now() - std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(cut, TempCleanup { files: 1, bytes: 7 });
        assert!(!old.exists() && new.exists());
    }
}
