//! The snapshot catalogue (`repo-format.md` section 17): compact summaries of the snapshot
//! manifests, so that listing and choosing snapshots reads a few catalogue files instead of
//! every manifest.
//!
//! Kept consistent without a lock, like the index files: every writer of a manifest (snapshot,
//! copy, tag) writes a new catalogue file right after it ([`record`]); nothing but prune
//! ([`compact`]) replaces or deletes one. A reader ([`load`]) lists `snapshots/` once, then
//! `catalogue/`, and takes for every listed snapshot its catalogue entry, or reads its manifest
//! when no catalogue file has one (an older repository, a writer killed between manifest and
//! catalogue, a damaged catalogue file): the listing of `snapshots/` alone decides which
//! snapshots exist, so the catalogue never hides a snapshot nor brings back a forgotten one.
//! Entries read from manifests are added by the next write of the same process.
//!
//! A process reads each catalogue file once: what it read is kept in a [`Memo`] shared by the
//! clones of its [`Repository`]. A fleet run shares one view of the catalogue between all of
//! its snapshots ([`share`]), as it shares one index.

use super::{FileKind, Repository};
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{
    decode_catalogue_file, encode_catalogue_file, CatalogueEntry, CatalogueFile,
};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The listing of the repository's snapshots as the catalogue gives it.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// One entry per readable snapshot, in snapshot id order.
    pub entries: Vec<Arc<CatalogueEntry>>,
    /// Snapshots that no catalogue file summarises and whose manifest is damaged
    /// ([`Error::Corrupt`]), in id order.
    pub damaged: Vec<Id>,
    /// Indices into `entries` by [`CatalogueEntry::identity`], built on first use by
    /// [`View::newest_with_stream`] (a fleet run asks once per database of one shared view).
    by_identity: OnceLock<HashMap<Option<String>, Vec<usize>>>,
}

impl View {
    /// The newest entry (by recorded time; the greater id among equal times) of the database
    /// `identity` ([`CatalogueEntry::identity`], `None` for snapshots of no database) that
    /// has a stream named `stream`; `None` when there is none. Costs one pass over the view
    /// on the first call, then only the entries of that database.
    pub fn newest_with_stream(
        &self,
        identity: Option<&str>,
        stream: &str,
    ) -> Option<&Arc<CatalogueEntry>> {
        let map = self.by_identity.get_or_init(|| {
            let mut map: HashMap<Option<String>, Vec<usize>> = HashMap::new();
            for (i, e) in self.entries.iter().enumerate() {
                map.entry(e.identity()).or_default().push(i);
            }
            map
        });
        let members = map.get(&identity.map(str::to_string))?;
        (members.iter().map(|&i| &self.entries[i]))
            .filter(|e| e.streams.iter().any(|s| s.name == stream))
            .max_by_key(|e| {
                let t = crate::format::snapshot::parse_time(&e.time);
                (t.unwrap_or(jiff::Timestamp::UNIX_EPOCH), Id(e.id))
            })
    }
}

/// What one process has read of a repository's catalogue. Cheap to share; every method takes
/// an internal lock.
#[derive(Default)]
pub struct Memo {
    state: Mutex<State>,
    /// Held for the whole of a [`load`], so concurrent loads of one process read each file once.
    loading: Mutex<()>,
    /// The view shared by a fleet run's snapshots while a [`Shared`] lives.
    shared: Mutex<Weak<OnceLock<Option<Arc<View>>>>>,
}

#[derive(Default)]
struct State {
    /// Whether a [`load`] has completed.
    loaded: bool,
    /// Catalogue files read or written (damaged ones included, so each is warned about once).
    files: HashSet<Id>,
    /// Entries of the catalogue files read or written, by snapshot id.
    catalogued: HashMap<Id, Arc<CatalogueEntry>>,
    /// Entries made from manifests that no catalogue file held; the next [`record`] writes them.
    pending: HashMap<Id, Arc<CatalogueEntry>>,
}

impl Memo {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Entries from which a [`Memo`] frees its entries on another thread.
const DROP_ASIDE: usize = 4096;

impl Drop for Memo {
    /// Frees a large memo on a thread of its own: tens of thousands of entries cost about as
    /// much to free as to decode (measured: 12-16% of a command at 10 000 snapshots), and a
    /// command that ends does not need to wait for it (the process exits without joining).
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.catalogued.len() + st.pending.len() < DROP_ASIDE {
            return;
        }
        let st = std::mem::take(st);
        // When no thread can be started, the closure and the entries are dropped here.
        let _ = std::thread::Builder::new()
            .name("catalogue-free".into())
            .spawn(move || drop(st));
    }
}

/// Reads catalogue file `id`: `Ok(None)` when it is gone (superseded and deleted by a prune
/// meanwhile).
///
/// Errors: [`Error::Corrupt`] when its content does not match its name, it fails
/// authentication or does not decode; [`Error::UnsupportedVersion`]; storage errors.
pub fn read_file(repo: &Repository, id: &Id) -> Result<Option<CatalogueFile>> {
    let plain = match repo.load_file(FileKind::Catalogue, id) {
        Ok(p) => p,
        Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    decode_catalogue_file(&plain)
        .map(Some)
        .map_err(|e| super::versioned_error(format!("catalogue {id}"), e))
}

/// Warns once per process and file that catalogue file `id` is ignored.
fn warn_ignored(id: &Id, e: &Error) {
    static WARNED: Mutex<Vec<Id>> = Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(id) {
        return;
    }
    warned.push(*id);
    eprintln!(
        "dumpvault: warning: {}: {e}; it is ignored and the snapshot manifests are read instead \
         (nothing is lost; `dumpvault prune` replaces a damaged catalogue file)",
        FileKind::Catalogue.path(id)
    );
}

/// The repository's snapshots, from the catalogue: lists `snapshots/`, then `catalogue/`;
/// reads the catalogue files this process has not read yet (a damaged one is ignored with a
/// warning on stderr); reads the manifest of every listed snapshot that no catalogue file
/// summarises (a manifest removed meanwhile, by a concurrent `forget`, is skipped).
///
/// Errors: listing fails; a catalogue file or manifest cannot be read for a reason other than
/// damage (storage errors; [`Error::UnsupportedVersion`] for a manifest).
pub fn load(repo: &Repository) -> Result<View> {
    let memo = repo.catalogue_memo();
    let _loading = memo.loading.lock().unwrap_or_else(|e| e.into_inner());
    // `snapshots/` first: a catalogue file is written after its manifests, so every entry of
    // a snapshot in this listing whose catalogue file exists by now is found below.
    let snapshots = repo.list(FileKind::Snapshot)?;
    let files = repo.list(FileKind::Catalogue)?;
    let unread: Vec<Id> = {
        let st = memo.state();
        (files.iter().map(|(id, _)| *id))
            .filter(|id| !st.files.contains(id))
            .collect()
    };
    let mut superseded: HashSet<Id> = HashSet::new();
    for fid in unread {
        if superseded.contains(&fid) {
            continue;
        }
        match read_file(repo, &fid) {
            Ok(Some(f)) => {
                superseded.extend(f.supersedes.iter().map(|s| Id(*s)));
                let mut st = memo.state();
                st.files.insert(fid);
                for e in f.entries {
                    let id = Id(e.id);
                    st.pending.remove(&id);
                    st.catalogued.insert(id, Arc::new(e));
                }
            }
            Ok(None) => {}
            Err(e @ (Error::Corrupt { .. } | Error::UnsupportedVersion { .. })) => {
                warn_ignored(&fid, &e);
                memo.state().files.insert(fid);
            }
            Err(e) => return Err(e),
        }
    }
    let mut view = View::default();
    for (id, size) in snapshots {
        // An entry counts only for a manifest file of the recorded length: a file replaced or
        // cut short since is read, and found damaged.
        let known = {
            let st = memo.state();
            (st.catalogued.get(&id).or_else(|| st.pending.get(&id)))
                .filter(|e| e.size == size)
                .cloned()
        };
        if let Some(e) = known {
            view.entries.push(e);
            continue;
        }
        match repo.load_manifest(&id) {
            Ok(m) => {
                let e = Arc::new(CatalogueEntry::of(id.0, size, &m));
                memo.state().pending.insert(id, e.clone());
                view.entries.push(e);
            }
            Err(Error::Corrupt { .. }) => view.damaged.push(id),
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    memo.state().loaded = true;
    Ok(view)
}

/// Writes a catalogue file summarising snapshot `id` (whose manifest `m` was just written,
/// durable), and every snapshot this process found without a catalogue entry. Call it right
/// after the manifest; a process that has not loaded the catalogue yet loads it first, so that
/// an older repository gains a complete catalogue on its first write. Durable when it returns.
///
/// Errors: storage errors writing the file (the snapshot itself is unaffected: readers read
/// manifests without an entry; see [`record_or_warn`]).
pub fn record(repo: &Repository, id: &Id, m: &Manifest) -> Result<Id> {
    let memo = repo.catalogue_memo();
    if !memo.state().loaded {
        // Best effort: a failure here only leaves older manifests for a later write.
        let _ = load(repo);
    }
    let mut entries: BTreeMap<Id, CatalogueEntry> = BTreeMap::new();
    // The manifest file's length, as `Repository::save_manifest` wrote it.
    let size = (crate::format::encode_versioned(m).len() + crate::crypto::SEAL_OVERHEAD) as u64;
    entries.insert(*id, CatalogueEntry::of(id.0, size, m));
    {
        let st = memo.state();
        for (sid, e) in &st.pending {
            entries.entry(*sid).or_insert_with(|| (**e).clone());
        }
    }
    let file = CatalogueFile {
        entries: entries.into_values().collect(),
        supersedes: Vec::new(),
    };
    crate::testhook::pause("catalogue-before-write");
    let fid = repo.save_file(FileKind::Catalogue, &encode_catalogue_file(&file))?;
    let mut st = memo.state();
    st.files.insert(fid);
    for e in file.entries {
        let sid = Id(e.id);
        st.pending.remove(&sid);
        st.catalogued.insert(sid, Arc::new(e));
    }
    Ok(fid)
}

/// [`record`], printing a warning on stderr instead of failing: the manifest is durable, so
/// the snapshot stands; the next write adds the missing entry.
pub fn record_or_warn(repo: &Repository, id: &Id, m: &Manifest) {
    if let Err(e) = record(repo, id, m) {
        eprintln!(
            "dumpvault: warning: snapshot {} was written, but its catalogue entry was not: {e}; \
             listings read its manifest instead until the next snapshot or prune adds it",
            id.short()
        );
    }
}

/// A view of the catalogue loaded once and shared by every snapshot of one process while the
/// value lives (a fleet run's snapshots: they only use it to find delta bases, for which a view
/// as of the start of the run is as good as a fresh one). Loading starts in the background.
pub struct Shared {
    _cell: Arc<OnceLock<Option<Arc<View>>>>,
}

/// Starts loading the catalogue of `repo` in the background and shares the result with every
/// [`for_writers`] call of this process until the returned value is dropped.
pub fn share(repo: &Repository) -> Shared {
    let cell: Arc<OnceLock<Option<Arc<View>>>> = Arc::new(OnceLock::new());
    *repo
        .catalogue_memo()
        .shared
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&cell);
    let bg = cell.clone();
    let r = repo.clone();
    std::thread::spawn(move || {
        bg.get_or_init(|| load(&r).ok().map(Arc::new));
    });
    Shared { _cell: cell }
}

/// The catalogue view a writer uses to choose delta bases: the shared one while a [`Shared`]
/// lives (waiting for its loading), else a fresh [`load`].
///
/// Errors: as [`load`].
pub fn for_writers(repo: &Repository) -> Result<Arc<View>> {
    let shared = (repo.catalogue_memo().shared.lock())
        .unwrap_or_else(|e| e.into_inner())
        .upgrade();
    if let Some(cell) = shared {
        if let Some(v) = cell.get_or_init(|| load(repo).ok().map(Arc::new)) {
            return Ok(v.clone());
        }
    }
    load(repo).map(Arc::new)
}

/// What [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compacted {
    /// The catalogue file written, when one was.
    pub file: Option<Id>,
    /// Catalogue files deleted (superseded).
    pub removed: u64,
}

/// Prune's compaction: writes ONE catalogue file with an entry for every snapshot listed now
/// (from `manifests`, the manifests prune read, else from the catalogue files, else from the
/// manifest itself), superseding every catalogue file read and every damaged one (content
/// not matching its name), then deletes those. A file that matches its name but does not open
/// or decode is left alone (it may be another key's, `repo-format.md` section 16, R1). Does
/// nothing when there is a single, complete catalogue file already. Call it holding the
/// exclusive lock.
///
/// Errors: storage errors; a manifest that cannot be read for a reason other than damage.
/// Catalogue files are deleted only after the new one is durable.
pub fn compact(repo: &Repository, manifests: &[(Id, Manifest)]) -> Result<Compacted> {
    let files = repo.list(FileKind::Catalogue)?;
    // Listed after `catalogue/`: every snapshot an entry of a listed file summarises is in this
    // listing unless it was forgotten.
    let snapshots = repo.list(FileKind::Snapshot)?;
    let mut known: HashMap<Id, CatalogueEntry> = HashMap::new();
    let mut replaced: Vec<Id> = Vec::new();
    let mut all_read = true;
    for (fid, _) in &files {
        let sealed = match repo.backend().read(&FileKind::Catalogue.path(fid)) {
            Ok(b) => b,
            Err(e) if e.class == ErrorClass::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        if Id::hash(&sealed) != *fid {
            replaced.push(*fid);
            all_read = false;
            continue;
        }
        match read_file(repo, fid) {
            Ok(Some(f)) => {
                replaced.push(*fid);
                known.extend(f.entries.into_iter().map(|e| (Id(e.id), e)));
            }
            Ok(None) => {}
            // Not ours to replace (R1), and not a reason to rewrite at every prune.
            Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let from_prune: HashMap<Id, &Manifest> = manifests.iter().map(|(i, m)| (*i, m)).collect();
    let mut entries = Vec::with_capacity(snapshots.len());
    let mut complete = true;
    for (id, size) in &snapshots {
        if let Some(e) = known.get(id).filter(|e| e.size == *size) {
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
    if all_read && complete && replaced.len() <= 1 && known.len() == entries.len() {
        return Ok(Compacted::default());
    }
    let file = CatalogueFile {
        entries,
        supersedes: replaced.iter().map(|i| i.0).collect(),
    };
    let fid = repo.save_file(FileKind::Catalogue, &encode_catalogue_file(&file))?;
    let mut out = Compacted {
        file: Some(fid),
        removed: 0,
    };
    for id in &replaced {
        match repo.backend().delete(&FileKind::Catalogue.path(id)) {
            Err(e) if e.class != ErrorClass::NotFound => return Err(e.into()),
            _ => out.removed += 1,
        }
    }
    let mut st = repo.catalogue_memo().state();
    st.files.insert(fid);
    for e in file.entries {
        st.pending.remove(&Id(e.id));
        st.catalogued.insert(Id(e.id), Arc::new(e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::crypto::kdf::KdfParams;
    use crate::format::snapshot::{StreamRef, Summary};
    use crate::repository::InitOptions;
    use crate::source::SourceInfo;

    fn manifest(n: u64) -> Manifest {
        Manifest {
            time: format!("2026-12-06T10:{:02}:00+00:00", n % 60),
            host: "h".into(),
            tags: vec![],
            source: SourceInfo {
                kind: "stdin".into(),
                database: Some(format!("db{n}")),
                ..Default::default()
            },
            streams: vec![StreamRef {
                name: "d.sql".into(),
                size: n,
                blake3: [0; 32],
                root: [0; 32],
                chunks: 1,
                sections: vec![],
            }],
            summary: Summary::default(),
            original: None,
        }
    }

    fn listed(repo: &Repository) -> Vec<Id> {
        let mut v: Vec<Id> = load(repo)
            .unwrap()
            .entries
            .iter()
            .map(|e| Id(e.id))
            .collect();
        v.sort();
        v
    }

    fn files(repo: &Repository) -> usize {
        repo.list(FileKind::Catalogue).unwrap().len()
    }

    /// An entry of database `db` (host `h`) at `time` with one stream `stream`.
    fn entry(n: u8, db: &str, time: &str, stream: &str) -> Arc<CatalogueEntry> {
        let mut m = manifest(u64::from(n));
        m.time = time.into();
        m.source.database = Some(db.into());
        m.streams[0].name = stream.into();
        Arc::new(CatalogueEntry::of([n; 32], 1, &m))
    }

    #[test]
    fn newest_with_stream_picks_the_newest_of_the_database_by_time_then_id() {
        let view = View {
            entries: vec![
                // Out of time order, as the id order of a view gives them; a later time in
                // another offset is still compared as an instant.
                entry(1, "a", "2026-12-06T10:00:00+00:00", "d.sql"),
                entry(2, "a", "2026-12-06T12:30:00+02:00", "d.sql"),
                entry(3, "a", "2026-12-06T09:00:00+00:00", "d.sql"),
                entry(4, "b", "2026-12-06T23:00:00+00:00", "d.sql"),
                entry(5, "a", "2026-12-06T11:00:00+00:00", "other.sql"),
                entry(6, "a", "2026-12-06T10:30:00+00:00", "d.sql"),
                entry(7, "a", "2026-12-06T10:30:00+00:00", "d.sql"),
            ],
            ..Default::default()
        };
        let id = |e: Option<&Arc<CatalogueEntry>>| e.map(|e| e.id[0]);
        let a = entry(1, "a", "", "").identity();
        // 12:30+02:00 is 10:30Z: tied with 6 and 7, the greater id wins (as the scan of the
        // whole view did); 5 is newer but has no d.sql.
        assert_eq!(id(view.newest_with_stream(a.as_deref(), "d.sql")), Some(7));
        assert_eq!(
            id(view.newest_with_stream(a.as_deref(), "other.sql")),
            Some(5)
        );
        assert_eq!(id(view.newest_with_stream(a.as_deref(), "x.sql")), None);
        let b = entry(4, "b", "", "").identity();
        assert_eq!(id(view.newest_with_stream(b.as_deref(), "d.sql")), Some(4));
        assert_eq!(id(view.newest_with_stream(Some("c"), "d.sql")), None);
        assert_eq!(id(View::default().newest_with_stream(None, "d.sql")), None);
    }

    #[test]
    fn two_processes_forget_compact_and_uncatalogued_manifests() {
        let backend = Backend::open("memory://catalogue-two-processes").unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            ..Default::default()
        };
        let a = Repository::init(backend, b"pw", opts).unwrap();
        let b = Repository::open(a.backend().clone(), b"pw").unwrap();
        // An older writer: manifests without catalogue entries.
        let old: Vec<Id> = (0..3)
            .map(|n| a.save_manifest(&manifest(n)).unwrap())
            .collect();
        assert_eq!(files(&a), 0);
        let mut all = old.clone();
        all.sort();
        assert_eq!(listed(&a), all);
        // A's next write catalogues them with its own snapshot.
        let m = manifest(3);
        let s3 = a.save_manifest(&m).unwrap();
        record(&a, &s3, &m).unwrap();
        assert_eq!(files(&a), 1);
        let f = read_file(&a, &a.list(FileKind::Catalogue).unwrap()[0].0)
            .unwrap()
            .unwrap();
        assert_eq!(f.entries.len(), 4);
        let listed_size = (a.list(FileKind::Snapshot).unwrap().into_iter())
            .find(|(i, _)| *i == s3)
            .unwrap()
            .1;
        assert!(f
            .entries
            .iter()
            .any(|e| Id(e.id) == s3 && e.size == listed_size));
        // A manifest file replaced since its entry was written is read, and found damaged.
        let replaced = old[2];
        let path = FileKind::Snapshot.path(&replaced);
        let good = a.backend().read(&path).unwrap();
        a.backend().write(&path, b"garbage".to_vec()).unwrap();
        let v = load(&b).unwrap();
        assert_eq!(v.damaged, vec![replaced]);
        assert!(!v.entries.iter().any(|e| Id(e.id) == replaced));
        a.backend().write(&path, good).unwrap();
        // B forgets one; A (which read the catalogue before) no longer lists it.
        b.backend()
            .delete(&FileKind::Snapshot.path(&old[0]))
            .unwrap();
        let live: Vec<Id> = listed(&b);
        assert_eq!(live.len(), 3);
        assert_eq!(listed(&a), live);
        // B compacts; A's stale memo still lists exactly the live snapshots.
        let c = compact(&b, &[]).unwrap();
        assert_eq!(c.removed, 1);
        assert_eq!(files(&b), 1);
        assert_eq!(listed(&a), live);
        assert_eq!(compact(&b, &[]).unwrap(), Compacted::default());
        // A manifest whose writer died before its catalogue file is listed, and compaction
        // adds it.
        let orphan = b.save_manifest(&manifest(4)).unwrap();
        assert!(listed(&a).contains(&orphan));
        compact(&b, &[]).unwrap();
        let f = read_file(&b, &b.list(FileKind::Catalogue).unwrap()[0].0)
            .unwrap()
            .unwrap();
        assert!(f.entries.iter().any(|e| Id(e.id) == orphan));
        assert_eq!(f.entries.len(), 4);
    }
}
