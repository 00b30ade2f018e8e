//! `repair packs`: salvage the intact blobs of damaged, truncated or missing packs into new
//! packs and retire the damaged packs, so that no snapshot deduplicates against a damaged blob
//! again (repo-format.md, "Repair").
//!
//! One run, holding the exclusive lock:
//!
//! 1. read every index file (one that does not open stops the run: `repair index` first);
//! 2. read the chosen packs in full (default: every indexed pack) and open every blob their
//!    index entries and header list; a pack is damaged when it is missing, its size or name
//!    does not match, its header does not open, or a blob does not verify;
//! 3. a delta blob whose base is no longer in the index cannot be decoded: it is dropped too,
//!    and its pack treated as damaged (repeated until nothing changes);
//! 4. copy the intact blobs of the damaged packs, sealed as they are, into new packs (durable);
//! 5. write ONE index file listing every pack as before except the damaged ones, plus the new
//!    packs, with the damaged packs that still exist in `obsolete` only, superseding every
//!    index file read;
//! 6. delete the superseded index files. Pack files are never deleted here: prune deletes the
//!    retired ones after its grace period.

use super::foreign;
use crate::backend::ErrorClass;
use crate::commands::check::{self, header_from_bytes, pack_object, verify_blobs};
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack, ObsoletePack};
use crate::format::pack::{BlobKind, PackBlob};
use crate::id::Id;
use crate::index::{superseded, Index};
use crate::pack::packer::Packer;
use crate::progress::Progress;
use crate::repository::lock::{self, LockGuard};
use crate::repository::{FileKind, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Options of `repair packs`.
#[derive(Debug, Clone, Default)]
pub struct RepairPacksOptions {
    /// Packs to examine, as hex ids or unique prefixes of at least 8 hex digits; empty: every
    /// pack an index file lists (each is read in full).
    pub packs: Vec<String>,
}

/// One damaged pack and what became of its blobs.
#[derive(Debug, Clone, Serialize)]
pub struct RepairedPack {
    /// `pack data/ab/ab12…`.
    pub object: String,
    /// What is wrong with it.
    pub reason: String,
    /// Blobs copied into new packs (or already held intact by another pack).
    pub salvaged: usize,
    /// Blobs lost: damaged, cut off, or deltas whose base is lost (hex ids).
    pub lost: Vec<String>,
}

/// What `repair packs` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairPacksOutcome {
    /// Packs read in full.
    pub examined: usize,
    /// Damaged packs, retired from the index.
    pub repaired: Vec<RepairedPack>,
    /// New packs written (hex ids).
    pub new_packs: Vec<String>,
    /// Blobs no longer in the index at all (hex ids, sorted): snapshots referencing them stay
    /// unrestorable until a new snapshot stores the same data again.
    pub dropped_blobs: Vec<String>,
    /// The index file written, if anything changed (hex).
    pub index_file: Option<String>,
    /// Index files superseded and deleted.
    pub index_files_removed: usize,
}

/// One pack as the non-superseded index files list it.
struct Listed {
    size: u64,
    blobs: Vec<PackBlob>,
    live: bool,
}

/// What reading one pack found.
struct Exam {
    reasons: Vec<String>,
    /// Header and index entries of blobs that verified.
    good: Vec<PackBlob>,
    /// Blobs that did not verify, or lie past the end of the file.
    bad: Vec<Id>,
}

/// The packs the non-superseded index files list, with the index they make and the times the
/// packs they mark obsolete were marked.
struct Listing {
    index: Index,
    listed: BTreeMap<Id, Listed>,
    marks: HashMap<Id, i64>,
}

/// Runs `repair packs` (see the module documentation). Durable when it returns.
///
/// Errors: [`Error::Locked`] while a prune or another repair runs; [`Error::Corrupt`] when an
/// index file or pack decrypts with no key of this repository (nothing is changed then);
/// [`Error::Invalid`] when an index file is damaged (run `repair index` first) or a named pack
/// is unknown; storage errors.
pub fn repair_packs(
    repo: &Repository,
    opts: &RepairPacksOptions,
    progress: &dyn Progress,
) -> Result<RepairPacksOutcome> {
    let lock = LockGuard::exclusive(repo, "repair packs")?;
    let files = load_index_files(repo)?;
    let Listing {
        index,
        listed,
        marks,
    } = list_packs(repo, &files)?;
    let stored: HashMap<Id, u64> = repo.list(FileKind::Pack)?.into_iter().collect();
    let targets = resolve(repo, &opts.packs, &listed, &stored)?;
    progress.set_total(targets.iter().filter_map(|p| stored.get(p)).sum());

    let mut out = RepairPacksOutcome::default();
    let mut damaged: BTreeMap<Id, Exam> = BTreeMap::new();
    for pack in &targets {
        let exam = examine(
            repo,
            &index,
            pack,
            listed.get(pack),
            stored.get(pack),
            progress,
        )?;
        out.examined += 1;
        if !exam.reasons.is_empty() {
            damaged.insert(*pack, exam);
        }
    }
    drop_undecodable_deltas(&listed, &stored, &mut damaged);
    if damaged.is_empty() {
        lock.release()?;
        progress.finish();
        return Ok(out);
    }

    let new_packs = copy_good_blobs(repo, &listed, &damaged)?;
    let now = lock::now_secs();
    let mut file = IndexFile {
        supersedes: files.iter().map(|(id, _)| id.0).collect(),
        ..Default::default()
    };
    keep_undamaged(&mut file, &listed, &marks, &damaged, &stored, now);
    out.new_packs = new_packs.iter().map(|p| Id(p.id).to_hex()).collect();
    file.packs.extend(new_packs);
    file.obsolete.sort_by_key(|o| o.id);

    report_damaged(&file, &listed, &damaged, &mut out);
    out.index_file = Some(repo.save_index_file(&file)?.to_hex());
    for (id, _) in &files {
        repo.backend().delete(&FileKind::Index.path(id))?;
        out.index_files_removed += 1;
    }
    lock.release()?;
    progress.finish();
    Ok(out)
}

/// The packs the index files that no other one supersedes list: each with its size, its
/// blobs (each once) and whether any of them lists it without marking it obsolete; and the
/// latest time each obsolete pack was marked.
///
/// Errors: [`crate::error::Error::IndexTooLarge`] naming `repo`, where `files` come from.
fn list_packs(repo: &Repository, files: &[(Id, IndexFile)]) -> Result<Listing> {
    let gone = superseded(files);
    let index = Index::from_files(repo, files)?;
    let mut listed: BTreeMap<Id, Listed> = BTreeMap::new();
    let mut marks: HashMap<Id, i64> = HashMap::new();
    for (_, f) in files.iter().filter(|(id, _)| !gone.contains(id)) {
        let marked: HashSet<[u8; 32]> = f.obsolete.iter().map(|o| o.id).collect();
        for o in &f.obsolete {
            let t = marks.entry(Id(o.id)).or_insert(o.marked_at);
            *t = (*t).max(o.marked_at);
        }
        for p in &f.packs {
            let e = listed.entry(Id(p.id)).or_insert_with(|| Listed {
                size: p.size,
                blobs: Vec::new(),
                live: false,
            });
            e.live |= !marked.contains(&p.id);
            for b in &p.blobs {
                if !e.blobs.iter().any(|x| x.id == b.id) {
                    e.blobs.push(*b);
                }
            }
        }
    }
    Ok(Listing {
        index,
        listed,
        marks,
    })
}

/// Blobs the index will hold: every blob of an undamaged pack, the good ones of damaged
/// packs. A delta whose base is not among them cannot be decoded: drop it, and treat its
/// pack as damaged, until nothing changes.
fn drop_undecodable_deltas(
    listed: &BTreeMap<Id, Listed>,
    stored: &HashMap<Id, u64>,
    damaged: &mut BTreeMap<Id, Exam>,
) {
    loop {
        let mut available: HashSet<[u8; 32]> = HashSet::new();
        for (id, l) in listed {
            if !damaged.contains_key(id) {
                available.extend(l.blobs.iter().map(|b| b.id));
            }
        }
        for e in damaged.values() {
            available.extend(e.good.iter().map(|b| b.id));
        }
        let undecodable = |b: &PackBlob| {
            b.kind == BlobKind::Delta && !b.base.is_some_and(|base| available.contains(&base))
        };
        let mut changed = false;
        for e in damaged.values_mut() {
            let (lost, good): (Vec<PackBlob>, Vec<PackBlob>) =
                e.good.drain(..).partition(|b| undecodable(b));
            e.good = good;
            for b in lost {
                changed = true;
                e.bad.push(Id(b.id));
                e.reasons.push(format!(
                    "delta blob {} lost its base {}",
                    Id(b.id).short(),
                    b.base.map_or("(none)".into(), |x| Id(x).short())
                ));
            }
        }
        let newly: Vec<(Id, Exam)> = listed
            .iter()
            .filter(|(id, _)| !damaged.contains_key(id))
            .filter_map(|(id, l)| {
                let lost: Vec<&PackBlob> = l.blobs.iter().filter(|b| undecodable(b)).collect();
                if lost.is_empty() || !stored.contains_key(id) {
                    return None;
                }
                Some((
                    *id,
                    Exam {
                        reasons: lost
                            .iter()
                            .map(|b| format!("delta blob {} lost its base", Id(b.id).short()))
                            .collect(),
                        good: (l.blobs.iter())
                            .filter(|b| !undecodable(b))
                            .cloned()
                            .collect(),
                        bad: lost.iter().map(|b| Id(b.id)).collect(),
                    },
                ))
            })
            .collect();
        changed |= !newly.is_empty();
        damaged.extend(newly);
        if !changed {
            break;
        }
    }
}

/// Copies the good blobs of the damaged packs that no undamaged pack holds, each once and
/// sealed as they are, into new packs (durable); returns the new packs.
fn copy_good_blobs(
    repo: &Repository,
    listed: &BTreeMap<Id, Listed>,
    damaged: &BTreeMap<Id, Exam>,
) -> Result<Vec<IndexPack>> {
    let mut held: HashSet<[u8; 32]> = HashSet::new();
    for (id, l) in listed {
        if !damaged.contains_key(id) {
            held.extend(l.blobs.iter().map(|b| b.id));
        }
    }
    let mut packer = Packer::without_index_files(repo.clone());
    for (pack, e) in damaged {
        let todo: Vec<&PackBlob> = e.good.iter().filter(|b| held.insert(b.id)).collect();
        if todo.is_empty() {
            continue;
        }
        let bytes = repo.backend().read(&FileKind::Pack.path(pack))?;
        for b in todo {
            let end = b.offset as usize + b.length as usize;
            let sealed = bytes.get(b.offset as usize..end).ok_or_else(|| {
                Error::corrupt(pack_object(pack), "changed while it was being repaired")
            })?;
            packer.add(b.kind, Id(b.id), b.raw_length, b.base.map(Id), sealed)?;
        }
    }
    let (new_packs, _) = packer.finish_packs()?;
    Ok(new_packs)
}

/// Lists in `file` every listed pack but the damaged ones; in `obsolete`, the packs marked
/// before that are neither damaged nor listed live and still exist (with their marking time),
/// and the damaged packs that still exist (marked `now` unless marked before).
fn keep_undamaged(
    file: &mut IndexFile,
    listed: &BTreeMap<Id, Listed>,
    marks: &HashMap<Id, i64>,
    damaged: &BTreeMap<Id, Exam>,
    stored: &HashMap<Id, u64>,
    now: i64,
) {
    for (id, l) in listed {
        if damaged.contains_key(id) {
            continue;
        }
        file.packs.push(IndexPack {
            id: id.0,
            size: l.size,
            blobs: l.blobs.clone(),
        });
    }
    for (id, t) in marks {
        let listed_live = listed.get(id).is_some_and(|l| l.live);
        if !damaged.contains_key(id) && !listed_live && stored.contains_key(id) {
            file.obsolete.push(ObsoletePack {
                id: id.0,
                marked_at: *t,
            });
        }
    }
    for id in damaged.keys().filter(|id| stored.contains_key(id)) {
        file.obsolete.push(ObsoletePack {
            id: id.0,
            marked_at: marks.get(id).copied().unwrap_or(now),
        });
    }
}

/// Fills `out.repaired` (per damaged pack: its reasons, the blobs salvaged and those lost)
/// and `out.dropped_blobs` (blobs the new index `file` no longer holds at all).
fn report_damaged(
    file: &IndexFile,
    listed: &BTreeMap<Id, Listed>,
    damaged: &BTreeMap<Id, Exam>,
    out: &mut RepairPacksOutcome,
) {
    let kept: HashSet<[u8; 32]> = (file.packs.iter())
        .flat_map(|p| p.blobs.iter().map(|b| b.id))
        .collect();
    let mut dropped: BTreeSet<Id> = BTreeSet::new();
    for (pack, e) in damaged {
        let good: HashSet<[u8; 32]> = e.good.iter().map(|b| b.id).collect();
        let unsalvaged = (listed.get(pack).into_iter())
            .flat_map(|l| l.blobs.iter().map(|b| Id(b.id)))
            .filter(|b| !good.contains(&b.0));
        let lost: BTreeSet<Id> = (e.bad.iter().copied())
            .chain(unsalvaged)
            .filter(|b| !kept.contains(&b.0))
            .collect();
        dropped.extend(lost.iter().copied());
        out.repaired.push(RepairedPack {
            object: pack_object(pack),
            reason: e.reasons.join("; "),
            salvaged: e.good.len(),
            lost: lost.iter().map(|b| b.to_hex()).collect(),
        });
    }
    out.dropped_blobs = dropped.iter().map(|b| b.to_hex()).collect();
}

/// Every index file, superseded ones too. A file that does not open stops the run: one that
/// decrypts with no key of this repository is named as such, a damaged one needs `repair
/// index` first.
fn load_index_files(repo: &Repository) -> Result<Vec<(Id, IndexFile)>> {
    let mut files = Vec::new();
    for (id, _) in repo.list(FileKind::Index)? {
        match repo.load_index_file(&id) {
            Ok(f) => files.push((id, f)),
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(e) => {
                foreign::refuse(repo, FileKind::Index, &id)?;
                return Err(Error::Invalid(format!(
                    "{}; `repair packs` needs every index file readable: run `dumpvault repair \
                     index` first, then this again (nothing was changed)",
                    e
                )));
            }
        }
    }
    Ok(files)
}

/// The packs to examine: every listed pack, or the named ones.
fn resolve(
    repo: &Repository,
    names: &[String],
    listed: &BTreeMap<Id, Listed>,
    stored: &HashMap<Id, u64>,
) -> Result<Vec<Id>> {
    if names.is_empty() {
        return Ok(listed.keys().copied().collect());
    }
    let mut out = BTreeSet::new();
    for n in names {
        let hex = n
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if hex.len() < 8 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "pack {n:?}: give a pack id (64 hex digits, or a unique prefix of at least 8) \
                 as `dumpvault check --read-data` prints it"
            )));
        }
        let known: BTreeSet<Id> = (listed.keys().chain(stored.keys()))
            .filter(|id| id.to_hex().starts_with(&hex))
            .copied()
            .collect();
        let id = match known.len() {
            1 => *known.iter().next().expect("one"),
            0 => {
                return Err(Error::NotFound(format!(
                    "no pack {n} in {}",
                    repo.backend().location()
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "pack prefix {n} matches {} packs; give more digits",
                    known.len()
                )))
            }
        };
        if !listed.contains_key(&id) {
            return Err(Error::Invalid(format!(
                "{} is in no index file, so no snapshot relies on it through the index: \
                 `dumpvault repair index --read-all-packs` adds its intact blobs back",
                pack_object(&id)
            )));
        }
        out.insert(id);
    }
    Ok(out.into_iter().collect())
}

/// Reads pack `pack` in full and opens every blob its index entries and header list.
///
/// Errors: [`Error::Corrupt`] when the pack is intact but decrypts with no key of this
/// repository; storage errors other than "not found".
fn examine(
    repo: &Repository,
    index: &Index,
    pack: &Id,
    listed: Option<&Listed>,
    stored: Option<&u64>,
    progress: &dyn Progress,
) -> Result<Exam> {
    let entries: Vec<PackBlob> = listed.map(|l| l.blobs.clone()).unwrap_or_default();
    let missing = || Exam {
        reasons: vec!["missing: the repository does not hold it".into()],
        good: Vec::new(),
        bad: entries.iter().map(|b| Id(b.id)).collect(),
    };
    if stored.is_none() {
        return Ok(missing());
    }
    let bytes = match repo.backend().read(&FileKind::Pack.path(pack)) {
        Ok(b) => b,
        Err(e) if e.class == ErrorClass::NotFound => return Ok(missing()),
        Err(e) => return Err(e.into()),
    };
    progress.inc(bytes.len() as u64);
    let mut reasons = Vec::new();
    let name_ok = Id::hash(&bytes) == *pack;
    if !name_ok {
        reasons.push("content does not match its name".to_string());
    }
    if let Some(l) = listed {
        if l.size != bytes.len() as u64 {
            reasons.push(format!(
                "size {} bytes, the index says {}",
                bytes.len(),
                l.size
            ));
        }
    }
    let mut entries = entries;
    match header_from_bytes(repo, pack, &bytes) {
        Ok(h) => {
            for b in h {
                if !entries.iter().any(|x| x.id == b.id) {
                    entries.push(b);
                }
            }
        }
        Err(e) => {
            if name_ok {
                foreign::refuse(repo, FileKind::Pack, pack)?;
            }
            reasons.push(format!("header: {}", check::detail_of(&e)));
        }
    }
    let bad: Vec<(Id, String)> = verify_blobs(repo, Some(index), pack, &bytes, &entries);
    for (b, d) in &bad {
        reasons.push(format!("blob {}: {d}", b.short()));
    }
    let bad_ids: HashSet<Id> = bad.iter().map(|b| b.0).collect();
    let good = if reasons.is_empty() {
        entries
    } else {
        entries
            .into_iter()
            .filter(|b| !bad_ids.contains(&Id(b.id)))
            .collect()
    };
    Ok(Exam {
        reasons,
        good,
        bad: bad_ids.into_iter().collect(),
    })
}
