//! `check`: prove the repository is whole, and name what is not.
//!
//! Always: every index file and snapshot manifest opens; every indexed pack exists with its
//! indexed size and a header that agrees with the index (two small range reads per pack);
//! every blob a snapshot references is indexed and not known to be damaged (chunk-list trees
//! are read, shared subtrees once). With `read_data`, the selected packs are read in full:
//! name (BLAKE3), header, and every indexed blob opened, decompressed and checked against its
//! keyed id. Each damaged object is reported with the snapshots, streams, databases and tables
//! it keeps from being restored in full.

mod catalogue;
mod packs;
mod subset;
mod walk;

pub use packs::{
    detail_of, header_from_bytes, load_index_lenient, pack_object, read_header, read_pack,
    verify_blobs, LoadedIndex, PackRead,
};
pub use subset::Subset;

use crate::error::Result;
use crate::format::index::IndexPack;
use crate::format::pack::PackBlob;
use crate::id::Id;
use crate::index::Location;
use crate::progress::Progress;
use crate::repository::{FileKind, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use walk::{Walker, UNINDEXED};

/// Details listed per problem before the rest are summarised as "… and N more".
const MAX_DETAILS: usize = 5;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Read these packs in full (`None`: structure only).
    pub read_data: Option<Subset>,
}

/// A snapshot (and where known, the stream, database and tables) that a problem keeps from
/// being restored in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Affected {
    /// Short snapshot id (8 hex digits).
    pub snapshot: String,
    /// The database the snapshot is of, if recorded.
    pub database: Option<String>,
    /// The damaged stream (`None` when the manifest itself is damaged).
    pub stream: Option<String>,
    /// Tables whose sections lie in damaged byte ranges (empty for opaque streams or when the
    /// damage is outside table data).
    pub tables: Vec<String>,
}

/// One damaged or missing object.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The object, e.g. `pack data/ab/ab12…`, `index index/…`, `snapshot snapshots/…`.
    pub object: String,
    /// What is wrong with it.
    pub detail: String,
    /// Short ids of the snapshots that can no longer be restored in full because of it.
    pub affected_snapshots: Vec<String>,
    /// The same, with streams, databases and tables.
    pub affected: Vec<Affected>,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Index files found.
    pub index_files: usize,
    /// Packs in the index.
    pub packs: usize,
    /// Blobs in the index.
    pub blobs: usize,
    /// Which packs were read in full (`None`: none, structure only).
    pub read_data: Option<String>,
    /// Packs read in full.
    pub packs_read: usize,
    /// Bytes of packs read in full.
    pub bytes_read: u64,
    /// Problems, sorted by object; empty means the repository is sound.
    pub problems: Vec<Problem>,
    /// Full ids of the snapshots that cannot be restored in full, sorted.
    pub damaged_snapshots: Vec<String>,
    /// Pack files that no index file lists.
    pub orphan_packs: usize,
    /// Blobs in pack headers that no index file lists for their pack.
    pub unindexed_pack_blobs: usize,
    /// Observations that are not errors (e.g. packs no index lists).
    pub notes: Vec<String>,
    /// Packs present but damaged, truncated or with a damaged header (hex ids, sorted):
    /// `dumpvault repair packs` with these ids salvages their intact blobs.
    pub repair_packs: Vec<String>,
}

/// Problems collected per object.
#[derive(Default)]
pub(crate) struct Problems {
    map: BTreeMap<String, (Vec<String>, Vec<Affected>)>,
}

impl Problems {
    /// Records that `object` is damaged as `detail` (repeated details are kept once).
    pub(crate) fn add(&mut self, object: &str, detail: impl Into<String>) {
        let d = detail.into();
        let e = self.map.entry(object.to_string()).or_default();
        if !e.0.contains(&d) {
            e.0.push(d);
        }
    }

    /// Records that `object` keeps stream `stream` of snapshot `sid` from being restored.
    pub(crate) fn affect(
        &mut self,
        object: &str,
        sid: &Id,
        database: Option<String>,
        stream: &str,
        tables: Vec<String>,
    ) {
        let a = Affected {
            snapshot: sid.short(),
            database,
            stream: (!stream.is_empty()).then(|| stream.to_string()),
            tables,
        };
        let e = self.map.entry(object.to_string()).or_default();
        if !e.1.contains(&a) {
            e.1.push(a);
        }
    }

    fn into_vec(self) -> Vec<Problem> {
        self.map
            .into_iter()
            .map(|(object, (mut details, affected))| {
                if details.len() > MAX_DETAILS {
                    let more = details.len() - MAX_DETAILS;
                    details.truncate(MAX_DETAILS);
                    details.push(format!("… and {more} more"));
                }
                let mut snaps: Vec<String> = affected.iter().map(|a| a.snapshot.clone()).collect();
                snaps.dedup();
                Problem {
                    object,
                    detail: details.join("; "),
                    affected_snapshots: snaps,
                    affected,
                }
            })
            .collect()
    }
}

/// `index index/…`: how index files are named in messages.
pub fn index_object(id: &Id) -> String {
    format!("index {}", FileKind::Index.path(id))
}

/// `snapshot snapshots/…`: how manifests are named in messages.
pub fn snapshot_object(id: &Id) -> String {
    format!("snapshot {}", FileKind::Snapshot.path(id))
}

/// Checks `repo`. Damage is reported in the returned report, not as `Err`; `Err` means the
/// check itself could not run (storage unreachable). `progress` counts bytes of packs read in
/// full.
///
/// The steps: load the index (damaged index files are problems); take the inventory of packs
/// (`inventory`); compare stored pack sizes with the index (`check_sizes`); read pack
/// headers, and the selected packs in full (`check_packs`); note orphan packs and unindexed
/// blobs (`note_strays`); walk every snapshot (`check_snapshots`); compare the catalogue with
/// the manifests (config version 2, `catalogue::check`).
pub fn run(repo: &Repository, opts: &CheckOptions, progress: &dyn Progress) -> Result<CheckReport> {
    let mut problems = Problems::default();
    let mut report = CheckReport::default();
    let loaded = load_index_lenient(repo)?;
    for (id, e) in &loaded.damaged {
        problems.add(
            &index_object(id),
            format!(
                "{}; the packs it lists are still readable: run `dumpvault repair index`",
                detail_of(e)
            ),
        );
    }
    let index = &loaded.index;
    report.index_files = loaded.files.len() + loaded.damaged.len();
    report.packs = index.packs().len();
    report.blobs = index.len();
    let inv = inventory(repo, &loaded, opts, &mut report)?;
    progress.set_total(
        (inv.present.iter())
            .filter(|p| inv.selected.contains(&p.0))
            .map(|p| p.1)
            .sum(),
    );
    let mut found = Found::default();
    check_sizes(index, &inv, &mut problems, &mut found);
    let header_only_blobs = check_packs(
        repo,
        index,
        &inv,
        progress,
        &mut report,
        &mut problems,
        &mut found,
    );
    note_strays(index, &inv.stored, header_only_blobs, &found, &mut report);
    check_snapshots(repo, index, &found.bad, &mut problems, &mut report)?;
    catalogue::check(repo, &mut problems, &mut report)?;
    report.problems = problems.into_vec();
    progress.finish();
    Ok(report)
}

/// What the check knows of the packs before reading them.
struct Inventory<'a> {
    /// Per pack: the index files that list it, with their entry.
    listing: HashMap<Id, Vec<(Id, &'a IndexPack)>>,
    /// Per pack: the blobs the (merged) index places in it.
    located: HashMap<Id, Vec<(Id, Location)>>,
    /// Every pack file stored, with its size.
    stored: HashMap<Id, u64>,
    /// Indexed packs that are stored, with their stored size, in index order.
    present: Vec<(Id, u64)>,
    /// Present packs to read in full.
    selected: HashSet<Id>,
}

/// What the check found unusable so far.
#[derive(Default)]
struct Found {
    /// Blobs known to be unusable, with the object to blame.
    bad: HashMap<Id, String>,
    /// Present packs with damage that `repair packs` salvages.
    repairable: BTreeSet<Id>,
}

/// Takes the inventory of `loaded` and of the packs stored, and selects the packs to read in
/// full (recording the selection in `report`).
///
/// Errors: listing the stored packs failed.
fn inventory<'a>(
    repo: &Repository,
    loaded: &'a LoadedIndex,
    opts: &CheckOptions,
    report: &mut CheckReport,
) -> Result<Inventory<'a>> {
    let index = &loaded.index;
    let mut listing: HashMap<Id, Vec<(Id, &IndexPack)>> = HashMap::new();
    for (fid, f) in &loaded.files {
        for p in &f.packs {
            listing.entry(Id(p.id)).or_default().push((*fid, p));
        }
    }
    let mut located: HashMap<Id, Vec<(Id, Location)>> = HashMap::new();
    for (bid, loc) in index.blobs_in(&loaded.files) {
        located
            .entry(index.packs()[loc.pack as usize].0)
            .or_default()
            .push((bid, loc));
    }
    let stored: HashMap<Id, u64> = repo.list(FileKind::Pack)?.into_iter().collect();
    let present: Vec<(Id, u64)> = index
        .packs()
        .iter()
        .filter_map(|(p, _)| stored.get(p).map(|s| (*p, *s)))
        .collect();
    let selected: HashSet<Id> = match &opts.read_data {
        None => HashSet::new(),
        Some(s) => {
            report.read_data = Some(s.to_string());
            s.select(&present).into_iter().map(|p| p.0).collect()
        }
    };
    Ok(Inventory {
        listing,
        located,
        stored,
        present,
        selected,
    })
}

/// Compares each indexed pack with the stored one: missing (damage only when the pack is
/// live), or of another size than indexed (its blobs past the end are unusable).
fn check_sizes(
    index: &crate::index::Index,
    inv: &Inventory<'_>,
    problems: &mut Problems,
    found: &mut Found,
) {
    let empty = Vec::new();
    for (pack, size) in index.packs() {
        let object = pack_object(pack);
        let blobs = inv.located.get(pack).unwrap_or(&empty);
        match inv.stored.get(pack) {
            // An obsolete pack may be deleted by prune before the index without it is written
            // (repo-format.md section 14): only a snapshot that still needs it is damage.
            None if !index.is_live(pack) => {
                for (b, _) in blobs {
                    found.bad.insert(*b, object.clone());
                }
            }
            None => {
                let files: Vec<String> = (inv.listing.get(pack))
                    .map(|l| l.iter().map(|(f, _)| f.short()).collect())
                    .unwrap_or_default();
                problems.add(
                    &object,
                    format!(
                        "missing: index file(s) {} list it but the repository does not hold it",
                        files.join(", ")
                    ),
                );
                for (b, _) in blobs {
                    found.bad.insert(*b, object.clone());
                }
            }
            Some(s) if s != size => {
                found.repairable.insert(*pack);
                problems.add(&object, format!("size {s} bytes, the index says {size}"));
                for (b, loc) in blobs {
                    if loc.offset as u64 + loc.length as u64 > *s {
                        found.bad.insert(*b, object.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Reads every present pack's header (and the selected packs in full) and compares it with
/// the index files; counts what was read in `report`. Returns the number of header blobs no
/// index file lists for their pack.
fn check_packs(
    repo: &Repository,
    index: &crate::index::Index,
    inv: &Inventory<'_>,
    progress: &dyn Progress,
    report: &mut CheckReport,
    problems: &mut Problems,
    found: &mut Found,
) -> usize {
    let empty = Vec::new();
    let jobs: Vec<Job> = (inv.present.iter())
        .map(|(p, s)| Job {
            pack: *p,
            size: *s,
            full: inv.selected.contains(p),
            blobs: inv.located.get(p).unwrap_or(&empty),
        })
        .collect();
    let mut header_only_blobs = 0usize;
    for (job, outcome) in inspect_all(repo, index, &jobs, progress) {
        let object = pack_object(&job.pack);
        let (header, read) = match outcome {
            Err(e) => {
                problems.add(&object, format!("cannot be read: {e}"));
                continue;
            }
            Ok(Inspected::Header(h)) => (h.map_err(|e| detail_of(&e)), None),
            Ok(Inspected::Full(r)) => {
                report.packs_read += 1;
                report.bytes_read += r.bytes;
                let h = r.header.clone().unwrap_or_else(|| Err("not read".into()));
                (h, Some(r))
            }
        };
        match header {
            Err(d) => {
                found.repairable.insert(job.pack);
                problems.add(&object, d)
            }
            Ok(h) => {
                header_only_blobs += compare_header(
                    &job.pack,
                    &h,
                    inv.listing.get(&job.pack).map_or(&[][..], |v| v),
                    index,
                    problems,
                    &mut found.bad,
                );
            }
        }
        if let Some(r) = read {
            if !r.name_matches {
                found.repairable.insert(job.pack);
                problems.add(&object, "content does not match its name (damaged file)");
            }
            for (b, d) in r.bad_blobs {
                // A blob already blamed on a wrong index entry is not the pack's fault.
                if let std::collections::hash_map::Entry::Vacant(v) = found.bad.entry(b) {
                    found.repairable.insert(job.pack);
                    problems.add(&object, format!("blob {}: {d}", b.short()));
                    v.insert(object.clone());
                }
            }
        }
    }
    header_only_blobs
}

/// Records in `report` the packs to repair, the orphan packs and the blobs in pack headers
/// no index lists (`header_only_blobs`), with a note for each kind found.
fn note_strays(
    index: &crate::index::Index,
    stored: &HashMap<Id, u64>,
    header_only_blobs: usize,
    found: &Found,
    report: &mut CheckReport,
) {
    // A pack only marked obsolete (by prune, or retired by `repair packs`) is not an orphan:
    // the next prunes delete it.
    let indexed: HashSet<&Id> = index.packs().iter().map(|p| &p.0).collect();
    let orphans = stored
        .keys()
        .filter(|p| !indexed.contains(p) && !index.obsolete.contains_key(p))
        .count();
    report.repair_packs = found.repairable.iter().map(|p| p.to_hex()).collect();
    report.orphan_packs = orphans;
    report.unindexed_pack_blobs = header_only_blobs;
    if orphans > 0 {
        report.notes.push(format!(
            "{orphans} pack(s) are in no index file: left by an interrupted snapshot (prune \
             removes them), or listed in a lost index file (`dumpvault repair index` adds them back)"
        ));
    }
    if header_only_blobs > 0 {
        report.notes.push(format!(
            "{header_only_blobs} blob(s) in pack headers are not in the index for their pack \
             (`dumpvault repair index` adds them)"
        ));
    }
}

/// Walks every snapshot's streams against the index and the `bad` blobs; records the
/// snapshots in `report` and the damaged ones (sorted), and a problem for referenced blobs
/// no index file lists.
///
/// Errors: listing the snapshots failed.
fn check_snapshots(
    repo: &Repository,
    index: &crate::index::Index,
    bad: &HashMap<Id, String>,
    problems: &mut Problems,
    report: &mut CheckReport,
) -> Result<()> {
    let snaps = repo.list(FileKind::Snapshot)?;
    report.snapshots = snaps.len();
    let mut walker = Walker::new(repo, index, bad);
    let mut damaged = Vec::new();
    for (sid, _) in &snaps {
        match repo.load_manifest(sid) {
            Ok(m) => {
                if !walker.snapshot(sid, &m, problems) {
                    damaged.push(sid.to_hex());
                }
            }
            Err(crate::Error::Backend(e)) if e.class == crate::backend::ErrorClass::NotFound => {}
            Err(e) => {
                let object = snapshot_object(sid);
                problems.add(&object, detail_of(&e));
                problems.affect(&object, sid, None, "", vec![]);
                damaged.push(sid.to_hex());
            }
        }
    }
    if !walker.unindexed.is_empty() {
        let n = walker.unindexed.len();
        let ids: Vec<String> = (walker.unindexed.iter())
            .take(3)
            .map(|i| i.to_hex())
            .collect();
        problems.add(
            UNINDEXED,
            format!(
                "{n} blob(s) that snapshots reference are in no index file ({}{}); if index \
                 files were lost or damaged, `dumpvault repair index` finds them in the packs \
                 again; if it does not (their pack is lost, or `repair packs` retired them as \
                 damaged), their data is gone from this repository: a new snapshot of the same \
                 data stores it again, and `dumpvault repair snapshots --forget-broken` removes \
                 the snapshots that need it",
                ids.join(", "),
                if n > 3 { ", …" } else { "" }
            ),
        );
    }
    damaged.sort();
    report.damaged_snapshots = damaged;
    Ok(())
}

/// Compares pack `pack`'s header with every index file's entry for it. An entry whose location
/// differs from the header is a problem of that index file; when the index uses that entry,
/// the blob is unusable. Returns the number of header blobs no index file lists for the pack.
fn compare_header(
    pack: &Id,
    header: &[PackBlob],
    listing: &[(Id, &IndexPack)],
    index: &crate::index::Index,
    problems: &mut Problems,
    bad: &mut HashMap<Id, String>,
) -> usize {
    let by_id: HashMap<[u8; 32], &PackBlob> = header.iter().map(|b| (b.id, b)).collect();
    let mut listed: HashSet<[u8; 32]> = HashSet::new();
    for (fid, ip) in listing {
        for b in &ip.blobs {
            listed.insert(b.id);
            let id = Id(b.id);
            let wrong = match by_id.get(&b.id) {
                Some(h)
                    if (h.offset, h.length, h.raw_length) == (b.offset, b.length, b.raw_length) =>
                {
                    continue
                }
                Some(h) => format!(
                    "blob {} in {}: offset {} length {}, the pack header says offset {} length {}",
                    id.short(),
                    FileKind::Pack.path(pack),
                    b.offset,
                    b.length,
                    h.offset,
                    h.length
                ),
                None => format!(
                    "blob {} is not in pack {} (its header does not list it)",
                    id.short(),
                    FileKind::Pack.path(pack)
                ),
            };
            let object = index_object(fid);
            problems.add(&object, format!("{wrong}; run `dumpvault repair index`"));
            if let Some((p, l)) = index.get(&id) {
                if p == *pack && (l.offset, l.length) == (b.offset, b.length) {
                    bad.insert(id, object);
                }
            }
        }
    }
    header.iter().filter(|b| !listed.contains(&b.id)).count()
}

/// One pack to inspect.
struct Job<'a> {
    pack: Id,
    size: u64,
    full: bool,
    blobs: &'a [(Id, Location)],
}

enum Inspected {
    Header(Result<Vec<PackBlob>>),
    Full(PackRead),
}

/// Inspects packs on several threads (reads are I/O bound on remote storage); results come
/// back in job order.
fn inspect_all<'j>(
    repo: &Repository,
    index: &crate::index::Index,
    jobs: &'j [Job<'j>],
    progress: &dyn Progress,
) -> Vec<(&'j Job<'j>, Result<Inspected>)> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Inspected>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = if job.full {
                    read_pack(repo, index, &job.pack, job.blobs).map(|r| {
                        progress.inc(r.bytes);
                        Inspected::Full(r)
                    })
                } else {
                    Ok(Inspected::Header(read_header(repo, &job.pack, job.size)))
                };
                results.lock().expect("no panics hold it").push((i, r));
            });
        }
    });
    let mut out = results.into_inner().expect("no panics hold it");
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(i, r)| (&jobs[i], r)).collect()
}
