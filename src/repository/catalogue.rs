//! The snapshot catalogue (`repo-format.md` section 17): compact summaries of the snapshot
//! manifests, so that listing and choosing snapshots reads a few catalogue files instead of
//! every manifest.
//!
//! Kept consistent without a lock, like the index files: every writer of a manifest (snapshot,
//! copy, tag) writes a new catalogue file right after it ([`record`]), and `forget` (and tag,
//! and `repair` removing a manifest) a file of tombstones before it deletes a manifest
//! ([`forget`]); nothing but prune ([`compact`]) replaces or deletes one.
//!
//! Which snapshots exist depends on the config version:
//! - version 2 (the catalogue is authoritative): a reader ([`load`]) lists only `catalogue/`;
//!   a snapshot exists iff a catalogue file that no other listed file supersedes has its entry
//!   and no file read has its tombstone. When a catalogue file is damaged, that load falls back
//!   to the listing below (with a warning).
//! - version 1 (older repositories), and the fallback: `snapshots/` is listed, then
//!   `catalogue/`; every listed snapshot that no tombstone names is taken with its catalogue
//!   entry, or its manifest is read when no file has one (an older repository, a writer killed
//!   between manifest and catalogue, a damaged catalogue file). Entries read from manifests are
//!   added by the next write of the same process (version 1 only).
//!
//! With config version 3 prune splits the catalogue into per-database parts
//! (`catalogue-parts/<id>`, named by the catalogue file that holds them): a load that needs one
//! database's snapshots ([`load_where`] with [`Want::Identity`] or [`Want::Databases`]) reads
//! the catalogue files and that database's part only, so its cost follows that database's
//! history, not the repository's.
//!
//! A process reads each catalogue file and part once: what it read is kept in a [`Memo`]
//! shared by the clones of its [`Repository`]. A fleet run shares one view of the catalogue
//! between all of its snapshots ([`share`]), as it shares one index.

use super::{FileKind, Repository};
use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::catalogue::{
    encode_catalogue_file, CatalogueEntry, CatalogueFile, CataloguePart, CATALOGUE_VERSION,
};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};

mod compact;
#[cfg(test)]
mod parts_tests;
mod read;
#[cfg(test)]
mod tests;

pub use compact::{compact, Compacted, PART_MIN_ENTRIES};
pub use read::{read_file, read_part};
use read::{read_parts, read_unread, superseded_by};

/// Which snapshots a load needs: all, or those of one database (then only the catalogue parts
/// of that database are read; the view may hold other snapshots too, from catalogue files
/// without parts).
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// Every snapshot.
    All,
    /// The snapshots whose [`CatalogueEntry::identity`] is this (`None`: of no database).
    Identity(Option<&'a str>),
    /// The snapshots a `--database` filter of these names may match
    /// ([`CatalogueEntry::filter_names`]); every snapshot when empty.
    Databases(&'a [String]),
}

impl Want<'_> {
    /// Whether the entries of part `p` are needed.
    fn wants(&self, p: &CataloguePart) -> bool {
        match self {
            Want::All => true,
            Want::Identity(i) => p.identity.as_deref() == *i,
            Want::Databases(names) => {
                names.is_empty() || p.names.iter().any(|n| names.iter().any(|w| w == n))
            }
        }
    }
}

/// The listing of the repository's snapshots as the catalogue gives it.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// One entry per readable snapshot (of a load with [`Want::All`]; else at least every
    /// snapshot wanted), in snapshot id order.
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
    /// Config version 2: the catalogue files of the last listing, plus those this process
    /// wrote since (minus those its prune deleted); `None` before the first listing. What
    /// [`load_cached`] builds its view from.
    listed: Option<Vec<Id>>,
    /// Catalogue files read or written (damaged ones included, so each is warned about once).
    files: HashMap<Id, Facts>,
    /// Catalogue parts read or written: the snapshot ids of their entries, `None` when damaged.
    parts: HashMap<Id, Option<Vec<Id>>>,
    /// Entries of the catalogue files read or written, by snapshot id (a snapshot's entries
    /// are all alike: a manifest never changes).
    catalogued: HashMap<Id, Arc<CatalogueEntry>>,
    /// Tombstones of every catalogue file read or written: forgotten for good.
    forgotten: HashSet<Id>,
    /// Entries made from manifests that no catalogue file held; the next [`record`] writes them
    /// (config version 1 only).
    pending: HashMap<Id, Arc<CatalogueEntry>>,
}

/// Why [`State::view_of`] gives no view.
enum Missing {
    /// A listed file that nothing supersedes, or a part wanted, is damaged or unread.
    Damaged,
    /// These wanted parts have not been read yet.
    Parts(Vec<Id>),
}

/// What one catalogue file holds, as far as existence goes.
enum Facts {
    /// Read: the snapshot ids of its entries, the files it supersedes, and its parts.
    Read {
        entries: Vec<Id>,
        supersedes: Vec<Id>,
        parts: Vec<CataloguePart>,
    },
    /// Damaged (does not match its name, open or decode), or of a newer version.
    Damaged,
}

impl State {
    /// Takes the entries `entries` into the memo; returns their snapshot ids.
    fn add_entries(&mut self, entries: Vec<CatalogueEntry>) -> Vec<Id> {
        let mut ids = Vec::with_capacity(entries.len());
        self.catalogued.reserve(entries.len());
        for e in entries {
            let id = Id(e.id);
            ids.push(id);
            if !self.pending.is_empty() {
                self.pending.remove(&id);
            }
            self.catalogued.entry(id).or_insert_with(|| Arc::new(e));
        }
        ids
    }

    /// Records what file `fid` holds.
    fn add_file(&mut self, fid: Id, f: CatalogueFile) {
        let ids = self.add_entries(f.entries);
        self.forgotten.extend(f.forgotten.into_iter().map(Id));
        let facts = Facts::Read {
            entries: ids,
            supersedes: f.supersedes.into_iter().map(Id).collect(),
            parts: f.parts,
        };
        self.files.insert(fid, facts);
    }

    /// Records what part `pid` holds (its entries; a part has nothing else).
    fn add_part(&mut self, pid: Id, f: CatalogueFile) {
        let ids = self.add_entries(f.entries);
        self.parts.insert(pid, Some(ids));
    }

    /// The view that the files `listed` give (config version 2) for `want`; an error when
    /// one of them that no other supersedes, or one of their parts `want` needs, is damaged
    /// or unread.
    fn view_of(&self, listed: &[Id], want: &Want) -> std::result::Result<View, Missing> {
        let superseded = superseded_by(self, listed);
        let mut files = Vec::new();
        let mut unread = Vec::new();
        for fid in listed.iter().filter(|f| !superseded.contains(f)) {
            // Damaged: its entries and tombstones are unknown.
            let Some(Facts::Read { entries, parts, .. }) = self.files.get(fid) else {
                return Err(Missing::Damaged);
            };
            files.push(entries);
            for p in parts.iter().filter(|p| want.wants(p)) {
                match self.parts.get(&Id(p.file)) {
                    Some(Some(ids)) => files.push(ids),
                    Some(None) => return Err(Missing::Damaged),
                    None => unread.push(Id(p.file)),
                }
            }
        }
        if !unread.is_empty() {
            return Err(Missing::Parts(unread));
        }
        let mut view = View::default();
        view.entries.reserve(files.iter().map(|e| e.len()).sum());
        for sid in files.into_iter().flatten() {
            if self.forgotten.is_empty() || !self.forgotten.contains(sid) {
                if let Some(e) = self.catalogued.get(sid) {
                    view.entries.push(e.clone());
                }
            }
        }
        // Snapshot id order, each once (files may repeat an entry; the memo holds one per id):
        // cheaper than a set of the ids seen.
        view.entries.sort_unstable_by_key(|e| e.id);
        view.entries.dedup_by(|a, b| a.id == b.id);
        Ok(view)
    }
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

/// How often an authoritative load lists `catalogue/` again when a listed file was deleted
/// (superseded) before it could be read, before it falls back to listing `snapshots/`.
const RELISTS: usize = 4;

/// The repository's snapshots, from the catalogue (see the module documentation for the two
/// modes). With config version 2, lists only `catalogue/` and reads the files this process has
/// not read yet; a damaged one (warned about on stderr) makes this load fall back to listing
/// `snapshots/`. With config version 1 (and in that fallback), lists `snapshots/`, then
/// `catalogue/`, and reads the manifest of every listed snapshot that no catalogue file
/// summarises (a manifest removed meanwhile, by a concurrent `forget`, is skipped).
///
/// Errors: listing fails; a catalogue file or manifest cannot be read for a reason other than
/// damage (storage errors; [`Error::UnsupportedVersion`] for a manifest).
pub fn load(repo: &Repository) -> Result<View> {
    load_where(repo, Want::All)
}

/// As [`load`], reading only the catalogue parts `want` needs (config version 3; the view
/// holds at least every snapshot wanted, and may hold others). With [`Want::All`], [`load`].
///
/// Errors: as [`load`].
pub fn load_where(repo: &Repository, want: Want) -> Result<View> {
    let memo = repo.catalogue_memo();
    let _loading = memo.loading.lock().unwrap_or_else(|e| e.into_inner());
    if repo.config().catalogue_authoritative() {
        if let Some(view) = authoritative(repo, memo, &want)? {
            memo.state().loaded = true;
            return Ok(view);
        }
    }
    let view = by_listing(repo, memo)?;
    memo.state().loaded = true;
    Ok(view)
}

/// The view the catalogue alone gives (config version 2), or `None` when it cannot be
/// trusted for this load: a listed file that no other listed file supersedes is damaged (or
/// of a newer version), or files kept disappearing between listing and reading.
///
/// Errors: storage errors listing or reading.
pub fn load_catalogue_only(repo: &Repository) -> Result<Option<View>> {
    let memo = repo.catalogue_memo();
    let _loading = memo.loading.lock().unwrap_or_else(|e| e.into_inner());
    authoritative(repo, memo, &Want::All)
}

fn authoritative(repo: &Repository, memo: &Memo, want: &Want) -> Result<Option<View>> {
    'listing: for _ in 0..RELISTS {
        let listed: Vec<Id> = (repo.list(FileKind::Catalogue)?.into_iter())
            .map(|(id, _)| id)
            .collect();
        if read_unread(repo, memo, &listed)? {
            // A prune wrote the file superseding it before deleting it: list again.
            continue;
        }
        loop {
            let unread = {
                let mut st = memo.state();
                match st.view_of(&listed, want) {
                    Ok(view) => {
                        st.listed = Some(listed);
                        return Ok(Some(view));
                    }
                    Err(Missing::Damaged) => return Ok(None),
                    Err(Missing::Parts(p)) => p,
                }
            };
            if read_parts(repo, memo, &unread)? {
                // A prune superseded the file naming it, then deleted it: list again.
                continue 'listing;
            }
        }
    }
    Ok(None)
}

/// As [`load`], but with config version 2 and a catalogue listed by this process before,
/// without listing it again: the view of the files of that listing and of those this process
/// wrote since (its own snapshots, tombstones and compaction). What other processes wrote
/// since is missing, so use it only where a slightly older view is harmless (a fleet run's
/// counts of snapshots, its later jobs' retention in one repository, see
/// `crate::fleet::run`). Falls back to [`load`] otherwise.
///
/// Only the parts `want` needs are read (see [`load_where`]).
///
/// Errors: as [`load`].
pub fn load_cached(repo: &Repository, want: Want) -> Result<View> {
    if repo.config().catalogue_authoritative() {
        let st = repo.catalogue_memo().state();
        if let Some(view) = (st.listed.as_ref()).and_then(|l| st.view_of(l, &want).ok()) {
            return Ok(view);
        }
    }
    load_where(repo, want)
}

/// The listing algorithm (config version 1, and the fallback of version 2): `snapshots/`
/// decides, tombstones excepted.
fn by_listing(repo: &Repository, memo: &Memo) -> Result<View> {
    // `snapshots/` first: a catalogue file is written after its manifests, so every entry of
    // a snapshot in this listing whose catalogue file exists by now is found below.
    let snapshots = repo.list(FileKind::Snapshot)?;
    let files: Vec<Id> = (repo.list(FileKind::Catalogue)?.into_iter())
        .map(|(id, _)| id)
        .collect();
    read_unread(repo, memo, &files)?;
    // Every part of the files read: a part gone or damaged leaves its snapshots to their
    // manifests below.
    let parts: Vec<Id> = {
        let st = memo.state();
        (files.iter().filter_map(|f| st.files.get(f)))
            .flat_map(|facts| match facts {
                Facts::Read { parts, .. } => parts.iter().map(|p| Id(p.file)).collect(),
                Facts::Damaged => Vec::new(),
            })
            .collect()
    };
    read_parts(repo, memo, &parts)?;
    let mut view = View::default();
    for (id, size) in snapshots {
        // An entry counts only for a manifest file of the recorded length: a file replaced or
        // cut short since is read, and found damaged.
        let known = {
            let st = memo.state();
            if st.forgotten.contains(&id) {
                // Forgotten; a prune deletes the manifest.
                continue;
            }
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
    Ok(view)
}

/// Every tombstone of the catalogue files listed now (and of those this process read
/// before): the snapshots forgotten for good. A damaged file's tombstones are not known.
///
/// Errors: storage errors listing or reading.
pub fn tombstones(repo: &Repository) -> Result<HashSet<Id>> {
    let memo = repo.catalogue_memo();
    let _loading = memo.loading.lock().unwrap_or_else(|e| e.into_inner());
    let files: Vec<Id> = (repo.list(FileKind::Catalogue)?.into_iter())
        .map(|(id, _)| id)
        .collect();
    read_unread(repo, memo, &files)?;
    let forgotten = memo.state().forgotten.clone();
    Ok(forgotten)
}

/// Seals and writes catalogue file `file` in the version the config asks for (1 for config
/// version 1, so that older dumpvault versions sharing the repository read it), and records
/// it in the memo. Durable when it returns.
fn write_file(repo: &Repository, file: CatalogueFile) -> Result<Id> {
    let version = file_version(repo);
    let fid = repo.save_file(FileKind::Catalogue, &encode_catalogue_file(&file, version))?;
    let mut st = repo.catalogue_memo().state();
    st.add_file(fid, file);
    if let Some(l) = st.listed.as_mut() {
        l.push(fid);
    }
    Ok(fid)
}

/// Seals and writes catalogue part `entries` (`catalogue-parts/<id>`, config version 3, prune
/// only), records it in the memo, and returns its id. Durable when it returns.
///
/// Errors: storage errors writing the file.
fn write_part(repo: &Repository, entries: Vec<CatalogueEntry>) -> Result<Id> {
    let file = CatalogueFile {
        entries,
        ..Default::default()
    };
    let plain = encode_catalogue_file(&file, CATALOGUE_VERSION);
    let pid = repo.save_file(FileKind::CataloguePart, &plain)?;
    repo.catalogue_memo().state().add_part(pid, file);
    Ok(pid)
}

/// The catalogue file version the config asks for: 1, 2 or 3 for config version 1, 2 or 3 (and
/// later), so that the dumpvault versions that may share the repository read them.
fn file_version(repo: &Repository) -> u8 {
    let c = repo.config();
    match (c.catalogue_parts(), c.catalogue_authoritative()) {
        (true, _) => CATALOGUE_VERSION,
        (false, true) => 2,
        (false, false) => 1,
    }
}

/// Writes a catalogue file summarising snapshot `id` (whose manifest `m` was just written,
/// durable), with the tombstone of snapshot `replaces` when given (config version 2: `tag`,
/// whose new manifest replaces the old one, in ONE file so that both or neither count). With
/// config version 1 the file also holds every snapshot this process found without a catalogue
/// entry (a process that has not loaded the catalogue yet loads it first, so that an older
/// repository gains a complete catalogue on its first write), and no tombstone. Call it right
/// after the manifest. Durable when it returns.
///
/// Errors: storage errors writing the file (the manifest is durable; see [`publish`]).
pub fn record(repo: &Repository, id: &Id, m: &Manifest, replaces: Option<&Id>) -> Result<Id> {
    let memo = repo.catalogue_memo();
    let authoritative = repo.config().catalogue_authoritative();
    if !authoritative && !memo.state().loaded {
        // Best effort: a failure here only leaves older manifests for a later write.
        let _ = load(repo);
    }
    let mut entries: BTreeMap<Id, CatalogueEntry> = BTreeMap::new();
    // The manifest file's length, as `Repository::save_manifest` wrote it.
    let size = (crate::format::encode_versioned(m).len() + crate::crypto::SEAL_OVERHEAD) as u64;
    entries.insert(*id, CatalogueEntry::of(id.0, size, m));
    if !authoritative {
        let st = memo.state();
        for (sid, e) in &st.pending {
            entries.entry(*sid).or_insert_with(|| (**e).clone());
        }
    }
    let forgotten = match replaces {
        Some(old) if authoritative => vec![old.0],
        _ => Vec::new(),
    };
    let file = CatalogueFile {
        entries: entries.into_values().collect(),
        forgotten,
        ..Default::default()
    };
    crate::testhook::pause("catalogue-before-write");
    write_file(repo, file)
}

/// [`record`] for a writer whose manifest `id` is durable. With config version 1 a failure
/// only prints a warning (readers read a manifest without an entry). With config version 2 it
/// fails: the snapshot is stored but not visible until the next prune catalogues it.
///
/// Errors: ([`Error::Io`], exit code 1) with version 2 only, when the file cannot be written.
pub fn publish(repo: &Repository, id: &Id, m: &Manifest, replaces: Option<&Id>) -> Result<()> {
    let Err(e) = record(repo, id, m, replaces) else {
        return Ok(());
    };
    if repo.config().catalogue_authoritative() {
        return Err(Error::io(
            format!(
                "snapshot {} is stored but not yet visible: its catalogue file could not be \
                 written; the next `dumpvault prune` catalogues it (or run this again)",
                id.short()
            ),
            std::io::Error::other(crate::error::report(&e)),
        ));
    }
    eprintln!(
        "dumpvault: warning: snapshot {} was written, but its catalogue entry was not: {e}; \
         listings read its manifest instead until the next snapshot or prune adds it",
        id.short()
    );
    Ok(())
}

/// Records that the snapshots `ids` are forgotten, before their manifests are deleted: with
/// config version 2, writes ONE catalogue file holding their tombstones (durable when it
/// returns), so that they are gone for every reader even if the deletion is interrupted (the
/// next prune deletes the manifests). With config version 1 (the listing of `snapshots/`
/// decides) or no ids, writes nothing. Returns the file written.
///
/// Errors: storage errors writing the file; then no manifest may be deleted.
pub fn forget(repo: &Repository, ids: &[Id]) -> Result<Option<Id>> {
    if ids.is_empty() || !repo.config().catalogue_authoritative() {
        return Ok(None);
    }
    let mut forgotten: Vec<[u8; 32]> = ids.iter().map(|i| i.0).collect();
    forgotten.sort();
    forgotten.dedup();
    let file = CatalogueFile {
        forgotten,
        ..Default::default()
    };
    write_file(repo, file).map(Some)
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

/// The catalogue view a writer of database `identity` ([`CatalogueEntry::identity`]) uses to
/// choose delta bases: the shared one while a [`Shared`] lives (waiting for its loading), else
/// a fresh [`load_where`] of that database.
///
/// Errors: as [`load`].
pub fn for_writers(repo: &Repository, identity: Option<&str>) -> Result<Arc<View>> {
    let shared = (repo.catalogue_memo().shared.lock())
        .unwrap_or_else(|e| e.into_inner())
        .upgrade();
    if let Some(cell) = shared {
        if let Some(v) = cell.get_or_init(|| load(repo).ok().map(Arc::new)) {
            return Ok(v.clone());
        }
    }
    load_where(repo, Want::Identity(identity)).map(Arc::new)
}
