//! The local cache of a remote repository's immutable files (as restic's `~/.cache/restic`):
//! index files, snapshot manifests and catalogue files, kept by id under
//! `<cache dir>/<repository id>/<folder>/<id>` exactly as stored in the repository (sealed),
//! so that a command reads them from local disk instead of the storage service; and the list
//! blobs a command reads out of packs or writes into them (the chunk-list trees of restore,
//! diff, copy and the delta base walk, as restic caches its tree packs), sealed as in their
//! pack, under `<cache dir>/<repository id>/lists/<blob id>`. Written list blobs are kept
//! because the next hourly snapshot of the same database walks this one's chunk list to find
//! its delta bases: without them, a warm snapshot reads each of the parent's list blobs from
//! its pack ([`super::Backend::cache_blobs_of_pack`]). The bodies of the data and delta blobs a
//! snapshot writes or reads as delta bases are kept too, under a smaller bound ([`bodies`]);
//! and which key file opened the repository ([`keys`]).
//!
//! This module owns the cache directory: where it is ([`set_cache`], [`default_cache_dir`]),
//! which folders are cached ([`CACHED`]), and every read, write and removal in it. The
//! [`super::Backend`] wrapper consults it on every read of a cached folder, fills it on reads
//! and writes, empties it on deletes, and drops stale entries whenever it lists such a folder.
//!
//! Contract:
//! - An entry is never trusted: every file's name is the BLAKE3 of its bytes, checked on each
//!   read; a damaged entry is deleted and the file is fetched again. A list blob's entry is
//!   named by the blob's keyed id, which only the reader can check: it opens the entry like a
//!   blob read from its pack (decrypt, keyed id) and, when that fails, deletes it
//!   ([`super::Backend::uncache_list_blob`]) and reads the pack.
//! - Entries appear atomically (temporary file + rename in the same folder), so concurrent
//!   processes sharing one cache see a file complete or not at all; a removal racing a read
//!   only costs a fetch.
//! - A listing of a cached folder removes the entries the repository no longer holds, or
//!   holds with another size (replaced or damaged there), so a forgotten snapshot's manifest
//!   does not linger.
//! - Each repository's cache holds at most [`CacheSettings::max_size`] bytes, list blobs
//!   included; beyond it the entries read least recently (modification time, refreshed on
//!   every hit) are evicted. A list blob entry whose blob prune removed lingers until then
//!   (no listing shows it gone); it is still only used for a blob the index knows.
//! - Folders are created 0700 and files 0600, whatever the umask.
//! - A repository's folder records its last use (its modification time, set on each open);
//!   folders unused for [`UNUSED_REPOSITORY_AFTER`] are removed.
//!
//! Only remote repositories are cached: a local directory is read as cheaply as the cache
//! would be, and `memory://` lives in the process. Nothing is ever written to the repository.

use crate::format::layout::FileKind;
use crate::id::Id;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The repository folders whose files are cached: files that never change once written.
pub const CACHED: [FileKind; 4] = [
    FileKind::Index,
    FileKind::Snapshot,
    FileKind::Catalogue,
    FileKind::CataloguePart,
];

mod bodies;
mod keys;

/// The cache folder of list blobs (not a repository folder: list blobs live in packs).
const LISTS: &str = "lists/";

/// The cache folder of data and delta blob bodies (see [`bodies`]).
const BODIES: &str = "blobs/";

/// Every folder of a repository's cache: the cached repository folders, list blobs, bodies.
fn folders() -> impl Iterator<Item = &'static str> {
    CACHED.into_iter().map(|k| k.dir()).chain([LISTS, BODIES])
}

/// Default bound of one repository's cache: 1 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;

/// Temporary files older than this are left by killed processes and removed on eviction.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// A repository's cache folder not used for this long is removed when another repository's
/// cache is opened (the repository was deleted, or is used from elsewhere).
pub const UNUSED_REPOSITORY_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Prefix of the temporary files an entry is written to before its rename.
const TEMP_PREFIX: &str = ".tmp-";

/// How the process uses the cache; set once by the command line ([`set_cache`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Whether remote repositories are cached at all (`--no-cache` clears it).
    pub enabled: bool,
    /// The cache directory, holding one folder per repository id (`--cache-dir`); `None`
    /// means [`default_cache_dir`].
    pub dir: Option<PathBuf>,
    /// Bound of one repository's cache, in bytes (`--cache-max-size`); 0 disables the cache.
    pub max_size: u64,
}

/// The process's settings; `None` (the library's default) caches nothing.
static SETTINGS: Mutex<Option<CacheSettings>> = Mutex::new(None);

/// Sets how repositories opened from now on use the cache. Until it is called, nothing is
/// cached (library users opt in).
pub fn set_cache(settings: CacheSettings) {
    *SETTINGS.lock().unwrap_or_else(|p| p.into_inner()) = Some(settings);
}

/// `$XDG_CACHE_HOME/dumpvault`, else `$HOME/.cache/dumpvault`; `None` when neither variable
/// is set to an absolute path.
pub fn default_cache_dir() -> Option<PathBuf> {
    let abs = |v: &str| {
        std::env::var_os(v)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    abs("XDG_CACHE_HOME")
        .or_else(|| abs("HOME").map(|h| h.join(".cache")))
        .map(|d| d.join("dumpvault"))
}

/// The cache directory under the process's settings: `None` when caching is off (or bounded
/// to 0 bytes) or no directory is known.
fn settings_dir() -> Option<PathBuf> {
    let settings = SETTINGS.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
    if !settings.enabled || settings.max_size == 0 {
        return None;
    }
    settings.dir.or_else(default_cache_dir)
}

/// One repository's cache folder.
pub(super) struct Cache {
    /// `<cache dir>/<repository id>`.
    root: PathBuf,
    max_size: u64,
    /// Bytes of entries as this process last counted them; `None` until first counted.
    used: Mutex<Option<u64>>,
    /// Bytes of blob bodies as this process last counted them ([`bodies`]).
    bodies_used: Mutex<Option<u64>>,
    /// Bytes of bodies of written blobs this process kept ([`bodies`]).
    bodies_written: std::sync::atomic::AtomicU64,
}

/// Where `path` (a repository path) is cached: its folder and id, or `None` when its folder
/// is not cached or its name is not an id.
fn cached(path: &str) -> Option<(FileKind, Id)> {
    let (dir, name) = path.rsplit_once('/')?;
    let kind = CACHED
        .into_iter()
        .find(|k| k.dir().strip_suffix('/') == Some(dir))?;
    Some((kind, Id::from_hex(name).ok()?))
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(super::DIR_MODE)
        .create(dir)
}

impl Cache {
    /// The cache of repository `repository_id` under the process's settings: `None` when
    /// caching is off, no cache directory is known, the id is not a plain name, or the
    /// folder cannot be created (a warning says so; the command goes on uncached).
    pub(super) fn open(repository_id: &str) -> Option<Arc<Cache>> {
        let settings = SETTINGS.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        if !settings.enabled || settings.max_size == 0 {
            return None;
        }
        if repository_id.is_empty() || !repository_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let base = settings.dir.or_else(default_cache_dir)?;
        let root = base.join(repository_id);
        let made = folders()
            .try_for_each(|d| create_dir(&root.join(d)))
            .and_then(|()| tag_cache_dir(&base));
        if made.is_ok() {
            // Marks this repository's folder as in use, then drops the long-unused ones.
            if let Ok(d) = std::fs::File::open(&root) {
                let _ = d.set_modified(SystemTime::now());
            }
            remove_unused_repositories(&base, UNUSED_REPOSITORY_AFTER);
        }
        if let Err(e) = made {
            eprintln!(
                "warning: cannot use the cache folder {}: {e}; going on without a cache (fix its permissions, choose another with --cache-dir, or pass --no-cache)",
                root.display()
            );
            return None;
        }
        Some(Arc::new(Cache::new(root, settings.max_size)))
    }

    fn new(root: PathBuf, max_size: u64) -> Cache {
        Cache {
            root,
            max_size,
            used: Mutex::new(None),
            bodies_used: Mutex::new(None),
            bodies_written: Default::default(),
        }
    }

    fn file(&self, kind: FileKind, id: &Id) -> PathBuf {
        self.root.join(kind.dir()).join(id.to_hex())
    }

    /// Whether repository file `path` belongs in the cache (its folder is cached and its name
    /// is an id).
    pub(super) fn wants(&self, path: &str) -> bool {
        cached(path).is_some()
    }

    /// The cached bytes of repository file `path`, verified against its name; `None` when
    /// the folder is not cached, there is no entry, or the entry was damaged (it is deleted).
    pub(super) fn get(&self, path: &str) -> Option<Vec<u8>> {
        let (kind, id) = cached(path)?;
        let file = self.file(kind, &id);
        let bytes = std::fs::read(&file).ok()?;
        if Id::hash(&bytes) != id {
            let _ = std::fs::remove_file(&file);
            return None;
        }
        // Records the access for eviction; a failure only makes the entry look older.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&file) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `bytes` as repository file `path` when its folder is cached and the bytes match
    /// the name; then evicts beyond the bound. Failures are ignored: the cache is only a copy.
    pub(super) fn put(&self, path: &str, bytes: &[u8]) {
        let Some((kind, id)) = cached(path) else {
            return;
        };
        if Id::hash(bytes) != id || self.write_atomic(&self.file(kind, &id), bytes).is_err() {
            return;
        }
        self.added(bytes.len() as u64);
    }

    /// The cached sealed bytes of list blob `id`, not verified (the caller opens them, and
    /// calls [`Cache::remove_list`] when they do not open); `None` without an entry.
    pub(super) fn get_list(&self, id: &Id) -> Option<Vec<u8>> {
        let file = self.root.join(LISTS).join(id.to_hex());
        let bytes = std::fs::read(&file).ok()?;
        // Records the access for eviction; a failure only makes the entry look older.
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&file) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `sealed`, the bytes of list blob `id` as read from its pack (and opened by the
    /// caller), then evicts beyond the bound. Failures are ignored.
    pub(super) fn put_list(&self, id: &Id, sealed: &[u8]) {
        let file = self.root.join(LISTS).join(id.to_hex());
        if self.write_atomic(&file, sealed).is_ok() {
            self.added(sealed.len() as u64);
        }
    }

    /// Deletes the entry of list blob `id` (it did not open).
    pub(super) fn remove_list(&self, id: &Id) {
        if std::fs::remove_file(self.root.join(LISTS).join(id.to_hex())).is_ok() {
            self.forget_count();
        }
    }

    /// Counts `len` new bytes of entries, and evicts when the cache is over its bound.
    fn added(&self, len: u64) {
        let over = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            let n = used.get_or_insert_with(|| self.entries().iter().map(|e| e.1).sum());
            *n += len;
            *n > self.max_size
        };
        if over {
            self.evict();
        }
    }

    fn write_atomic(&self, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = file.parent().unwrap_or(&self.root);
        create_dir(dir)?;
        write_atomic_in(dir, file, bytes)
    }

    /// Removes the entry of repository file `path` (deleted from the repository).
    pub(super) fn remove(&self, path: &str) {
        if let Some((kind, id)) = cached(path) {
            let _ = std::fs::remove_file(self.file(kind, &id));
        }
    }

    /// After a listing of folder `dir` (`listing`: paths and sizes), removes the entries of
    /// that folder the repository no longer holds or holds with another size. Does nothing
    /// for a folder that is not cached.
    pub(super) fn retain(&self, dir: &str, listing: &[(String, u64)]) {
        let Some(kind) = CACHED.into_iter().find(|k| k.dir() == dir) else {
            return;
        };
        let present: std::collections::HashMap<&str, u64> = listing
            .iter()
            .filter_map(|(p, s)| Some((p.rsplit_once('/')?.1, *s)))
            .collect();
        let Ok(rd) = std::fs::read_dir(self.root.join(kind.dir())) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if Id::from_hex(name).is_err() {
                continue;
            }
            let keep = match (present.get(name), e.metadata()) {
                (Some(size), Ok(m)) => m.len() == *size,
                _ => false,
            };
            if !keep {
                let _ = std::fs::remove_file(e.path());
                self.forget_count();
            }
        }
    }

    /// Makes the next [`Cache::put`] count the entries again.
    fn forget_count(&self) {
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Every entry: (file, bytes, last access). Removes temporary files left by killed
    /// processes on the way.
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let mut out = Vec::new();
        for dir in folders() {
            let Ok(rd) = std::fs::read_dir(self.root.join(dir)) else {
                continue;
            };
            for e in rd.flatten() {
                let Ok(m) = e.metadata() else { continue };
                let time = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    if time.elapsed().is_ok_and(|age| age > STALE_TEMP) {
                        let _ = std::fs::remove_file(e.path());
                    }
                    continue;
                }
                if m.is_file() {
                    out.push((e.path(), m.len(), time));
                }
            }
        }
        out
    }

    /// Deletes the least recently read entries until the cache holds at most 90% of its
    /// bound (so that the next few writes do not each scan the folder again).
    fn evict(&self) {
        let mut entries = self.entries();
        entries.sort_by_key(|e| e.2);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let target = self.max_size / 10 * 9;
        for (file, size, _) in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&file).is_ok() {
                total -= size;
            }
        }
        *self.used.lock().unwrap_or_else(|p| p.into_inner()) = Some(total);
    }
}

impl super::Backend {
    /// The sealed bytes of list blob `id` from the local cache, when one is attached and
    /// holds it; `None` otherwise (no request is made either way). Not verified: open them
    /// like bytes read from the blob's pack, and call [`Self::uncache_list_blob`] when that
    /// fails.
    pub fn cached_list_blob(&self, id: &Id) -> Option<Vec<u8>> {
        self.cache.as_ref()?.get_list(id)
    }

    /// Keeps `sealed`, list blob `id` as read from its pack and successfully opened, in the
    /// local cache when one is attached (remote repositories only); failures are ignored.
    pub fn cache_list_blob(&self, id: &Id, sealed: &[u8]) {
        if let Some(c) = &self.cache {
            c.put_list(id, sealed);
        }
    }

    /// Deletes list blob `id`'s cache entry (it did not open: damaged, or from another key).
    pub fn uncache_list_blob(&self, id: &Id) {
        if let Some(c) = &self.cache {
            c.remove_list(id);
        }
    }
}

/// Writes `file` (in folder `dir`, which exists) atomically: a temporary file in `dir`, mode
/// 0600, renamed into place.
fn write_atomic_in(dir: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{TEMP_PREFIX}{}", Id::random().to_hex()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(super::FILE_MODE)
            .open(&tmp)?;
        f.write_all(bytes)?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the repository folders of cache directory `base` (named by a 64-digit hex
/// repository id) last used more than `after` ago. Failures are ignored.
fn remove_unused_repositories(base: &Path, after: Duration) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let is_repo = name.len() == 64
            && name
                .to_str()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_hexdigit()));
        let unused = e
            .metadata()
            .ok()
            .filter(|m| m.is_dir())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > after);
        if is_repo && unused {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Marks the cache directory as one (<https://bford.info/cachedir/>), so backup tools skip it.
fn tag_cache_dir(base: &Path) -> std::io::Result<()> {
    let tag = base.join("CACHEDIR.TAG");
    if tag.exists() {
        return Ok(());
    }
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(super::FILE_MODE)
        .open(&tag)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    };
    f.write_all(
        b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dumpvault.\n# For information about cache directory tags, see https://bford.info/cachedir/\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn cache(dir: &Path, max_size: u64) -> Cache {
        let root = dir.join("repo-id");
        for k in CACHED {
            create_dir(&root.join(k.dir())).unwrap();
        }
        Cache::new(root, max_size)
    }

    fn object(n: usize, seed: u8) -> (String, Vec<u8>) {
        let bytes: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        (FileKind::Snapshot.path(&Id::hash(&bytes)), bytes)
    }

    #[test]
    fn long_unused_repository_folders_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(40 * 24 * 3600);
        let mk = |name: &str, age: SystemTime| {
            let p = dir.path().join(name);
            create_dir(&p.join("index")).unwrap();
            std::fs::File::open(&p).unwrap().set_modified(age).unwrap();
            p
        };
        let unused = mk(&Id::hash(b"a").to_hex(), old);
        let recent = mk(&Id::hash(b"b").to_hex(), SystemTime::now());
        let other = mk("not-a-repository", old);
        remove_unused_repositories(dir.path(), UNUSED_REPOSITORY_AFTER);
        assert!(!unused.exists());
        assert!(recent.exists());
        assert!(other.exists(), "only repository folders are removed");
    }

    #[test]
    fn only_immutable_folders_with_id_names_are_cached() {
        let id = Id::hash(b"x");
        for kind in CACHED {
            assert_eq!(cached(&kind.path(&id)), Some((kind, id)));
        }
        assert_eq!(cached(&FileKind::Pack.path(&id)), None);
        assert_eq!(cached(&FileKind::Lock.path(&id)), None);
        assert_eq!(cached("snapshots/not-an-id"), None);
        assert_eq!(cached("config"), None);
    }

    #[test]
    fn entries_are_verified_and_damaged_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), DEFAULT_MAX_SIZE);
        let (path, bytes) = object(100, 1);
        c.put(&path, &bytes);
        assert_eq!(c.get(&path).as_deref(), Some(&bytes[..]));
        let file = dir.path().join("repo-id").join(&path);
        let mut bad = bytes.clone();
        bad[50] ^= 1;
        std::fs::write(&file, &bad).unwrap();
        assert_eq!(c.get(&path), None);
        assert!(!file.exists(), "a damaged entry is deleted");
        // Bytes that do not match their name are not kept.
        c.put(&path, &bad);
        assert!(!file.exists());
    }

    #[test]
    fn listing_removes_missing_and_resized_entries() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), DEFAULT_MAX_SIZE);
        let objs: Vec<_> = (0..3).map(|i| object(64, i)).collect();
        for (p, b) in &objs {
            c.put(p, b);
        }
        let listing = vec![(objs[0].0.clone(), 64), (objs[1].0.clone(), 10)];
        c.retain("snapshots/", &listing);
        assert!(c.get(&objs[0].0).is_some());
        assert!(c.get(&objs[1].0).is_none(), "other size in the repository");
        assert!(c.get(&objs[2].0).is_none(), "gone from the repository");
    }

    #[test]
    fn least_recently_read_entries_are_evicted_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1000);
        let objs: Vec<_> = (0..4).map(|i| object(300, i)).collect();
        let old = SystemTime::now() - Duration::from_secs(600);
        for (i, (p, b)) in objs.iter().take(3).enumerate() {
            c.put(p, b);
            let f = std::fs::File::options()
                .write(true)
                .open(dir.path().join("repo-id").join(p))
                .unwrap();
            f.set_modified(old + Duration::from_secs(i as u64)).unwrap();
        }
        // Reading the oldest makes it the most recent; 1 200 bytes are cut to 900 or less.
        assert!(c.get(&objs[0].0).is_some());
        c.put(&objs[3].0, &objs[3].1);
        let left: Vec<bool> = objs.iter().map(|(p, _)| c.get(p).is_some()).collect();
        assert_eq!(left, [true, false, true, true]);
    }

    #[test]
    fn list_blobs_are_kept_by_id_counted_with_the_rest_and_evicted_alike() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 1000);
        let (path, bytes) = object(300, 9);
        let ids: Vec<Id> = (0..3u8).map(|i| Id::hash(&[i])).collect();
        let old = SystemTime::now() - Duration::from_secs(600);
        let age = |p: PathBuf, i: u64| {
            let f = std::fs::File::options().write(true).open(p).unwrap();
            f.set_modified(old + Duration::from_secs(i)).unwrap();
        };
        let list_file = |id: &Id| dir.path().join("repo-id").join(LISTS).join(id.to_hex());
        c.put(&path, &bytes);
        age(dir.path().join("repo-id").join(&path), 0);
        for (i, id) in ids.iter().take(2).enumerate() {
            c.put_list(id, &[i as u8; 300]);
            age(list_file(id), 1 + i as u64);
        }
        // Kept as given (the reader verifies), and a hit makes the entry the most recent.
        assert_eq!(c.get_list(&ids[0]), Some(vec![0; 300]));
        // 1 200 bytes over all folders: the least recently read (the manifest) goes.
        c.put_list(&ids[2], &[2; 300]);
        assert!(c.get(&path).is_none());
        assert!(c.get_list(&ids[1]).is_some() && c.get_list(&ids[2]).is_some());
        c.remove_list(&ids[0]);
        assert_eq!(c.get_list(&ids[0]), None);
        assert!(!list_file(&ids[0]).exists());
    }
}
