//! `check`: structural checks (every snapshot and index file decrypts, every chunk a snapshot
//! references is indexed, every indexed pack exists with its indexed size) and, with
//! `read_data`, a full read of every pack (name, header, every blob's id).

use crate::error::{Error, Result};
use crate::format::pack::{decode_header, split_trailer};
use crate::id::Id;
use crate::index::Index;
use crate::pack::reader::{open_blob, read_blob};
use crate::repository::{FileKind, Repository};
use crate::stream::decode_list;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The damaged or missing object, e.g. `pack data/ab/ab12…`.
    pub object: String,
    /// What is wrong.
    pub detail: String,
    /// Snapshots that can no longer be restored in full because of it.
    pub affected_snapshots: Vec<String>,
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// Snapshots checked.
    pub snapshots: usize,
    /// Packs in the index.
    pub packs: usize,
    /// Blobs in the index.
    pub blobs: usize,
    /// Packs read in full (with `read_data`).
    pub packs_read: usize,
    /// Problems; empty means the repository is sound.
    pub problems: Vec<Problem>,
    /// Notes that are not errors (e.g. packs no index lists, left by an interrupted snapshot).
    pub notes: Vec<String>,
}

/// Checks `repo`. Damage is reported in the returned report, not as `Err`; `Err` means the check
/// itself could not run (e.g. storage unreachable).
pub fn run(repo: &Repository, read_data: bool) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut index = Index::default();
    let index_files = repo.list(FileKind::Index)?;
    let mut loaded = Vec::new();
    for (id, _) in &index_files {
        match repo.load_index_file(id) {
            Ok(f) => loaded.push((*id, f)),
            Err(e) => report.problems.push(problem(&e, FileKind::Index.path(id))),
        }
    }
    let superseded: HashSet<Id> = loaded
        .iter()
        .flat_map(|(_, f)| f.supersedes.iter().map(|s| Id(*s)))
        .collect();
    for (id, f) in &loaded {
        if !superseded.contains(id) {
            index.add_file(*id, f);
        }
    }
    report.packs = index.packs().len();
    report.blobs = index.len();

    // Packs: exist with the indexed size.
    let stored: HashMap<Id, u64> = repo.list(FileKind::Pack)?.into_iter().collect();
    let mut bad_packs: HashSet<Id> = HashSet::new();
    for (pack, size) in index.packs() {
        match stored.get(pack) {
            None => {
                bad_packs.insert(*pack);
                report.problems.push(Problem {
                    object: format!("pack {}", FileKind::Pack.path(pack)),
                    detail: "missing: listed in the index but not in the repository".into(),
                    affected_snapshots: vec![],
                });
            }
            Some(s) if s != size => {
                bad_packs.insert(*pack);
                report.problems.push(Problem {
                    object: format!("pack {}", FileKind::Pack.path(pack)),
                    detail: format!("size {s} bytes, the index says {size}"),
                    affected_snapshots: vec![],
                });
            }
            _ => {}
        }
    }
    let indexed: HashSet<Id> = index.packs().iter().map(|p| p.0).collect();
    let orphans = stored.keys().filter(|p| !indexed.contains(p)).count();
    if orphans > 0 {
        report.notes.push(format!(
            "{orphans} pack(s) are not in any index (left by an interrupted snapshot; prune removes them)"
        ));
    }
    if read_data {
        for (pack, _) in index.packs() {
            if bad_packs.contains(pack) {
                continue;
            }
            report.packs_read += 1;
            if let Err(e) = read_pack(repo, pack, &index) {
                bad_packs.insert(*pack);
                report
                    .problems
                    .push(problem(&e, format!("pack {}", FileKind::Pack.path(pack))));
            }
        }
    }

    // Snapshots: decrypt, walk the chunk list, every blob indexed and not in a bad pack.
    let snaps = repo.list(FileKind::Snapshot)?;
    report.snapshots = snaps.len();
    let mut per_object: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for (sid, _) in &snaps {
        let manifest = match repo.load_manifest(sid) {
            Ok(m) => m,
            Err(e) => {
                report
                    .problems
                    .push(problem(&e, FileKind::Snapshot.path(sid)));
                continue;
            }
        };
        for s in &manifest.streams {
            let mut stack = vec![Id(s.root)];
            while let Some(lid) = stack.pop() {
                let mut damaged = |object: String, detail: String| {
                    let e = per_object.entry(object).or_insert((detail, vec![]));
                    if !e.1.contains(&sid.short()) {
                        e.1.push(sid.short());
                    }
                };
                let list = match read_blob(repo, &index, &lid).and_then(|p| decode_list(&lid, &p)) {
                    Ok(l) => l,
                    Err(e) => {
                        let (o, d) = split_error(&e, format!("list blob {lid}"));
                        damaged(o, d);
                        continue;
                    }
                };
                for e in &list.entries {
                    let id = Id(e.id);
                    if list.level > 0 {
                        stack.push(id);
                        continue;
                    }
                    match index.get(&id) {
                        None => damaged(
                            format!("chunk {id}"),
                            "referenced but not in the index".into(),
                        ),
                        Some((pack, _)) if bad_packs.contains(&pack) => damaged(
                            format!("pack {}", FileKind::Pack.path(&pack)),
                            "damaged or missing (see above)".into(),
                        ),
                        _ => {}
                    }
                }
            }
        }
    }
    for (object, (detail, snaps)) in per_object {
        if let Some(p) = report.problems.iter_mut().find(|p| p.object == object) {
            p.affected_snapshots = snaps;
        } else {
            report.problems.push(Problem {
                object,
                detail,
                affected_snapshots: snaps,
            });
        }
    }
    report.problems.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(report)
}

fn split_error(e: &Error, fallback: String) -> (String, String) {
    match e {
        Error::Corrupt { object, detail } => (object.clone(), detail.clone()),
        other => (fallback, other.to_string()),
    }
}

fn problem(e: &Error, fallback: String) -> Problem {
    let (object, detail) = split_error(e, fallback);
    Problem {
        object,
        detail,
        affected_snapshots: vec![],
    }
}

/// Reads one pack whole: its name must be its BLAKE3, its header must decode and match the
/// index, and every blob must open and match its id.
fn read_pack(repo: &Repository, pack: &Id, index: &Index) -> Result<()> {
    let path = FileKind::Pack.path(pack);
    let what = format!("pack {path}");
    let bytes = repo.backend().read(&path)?;
    if Id::hash(&bytes) != *pack {
        return Err(Error::corrupt(
            what,
            "content does not match its name (damaged file)",
        ));
    }
    let (_, sealed_header) = split_trailer(&bytes).map_err(|e| Error::corrupt(what.clone(), e))?;
    let header = repo
        .key()
        .open(sealed_header)
        .map_err(|e| Error::corrupt(what.clone(), e))?;
    let blobs = decode_header(&header).map_err(|e| Error::corrupt(what.clone(), e))?;
    for b in blobs {
        let id = Id(b.id);
        let loc = crate::index::Location {
            pack: 0,
            offset: b.offset,
            length: b.length,
            raw_length: b.raw_length,
            kind: b.kind,
        };
        let end = b.offset as usize + b.length as usize;
        if end > bytes.len() {
            return Err(Error::corrupt(
                what,
                "header points past the end of the pack",
            ));
        }
        open_blob(repo, pack, &id, &loc, &bytes[b.offset as usize..end])?;
        if let Some((p, l)) = index.get(&id) {
            if p == *pack && (l.offset, l.length) != (b.offset, b.length) {
                return Err(Error::corrupt(
                    what,
                    format!("index disagrees with the header about blob {}", id.short()),
                ));
            }
        }
    }
    Ok(())
}
