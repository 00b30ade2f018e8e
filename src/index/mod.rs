//! The in-memory repository index: blob id to (pack, offset, length), built from all index files.
//!
//! Cost per blob: the 32-byte id key plus a 20-byte [`Location`] plus the hash table's control
//! byte and load-factor slack — about 60 bytes; delta blobs add 64 bytes for their base.

mod shared;

pub use shared::SharedIndex;

use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::{BlobKind, PackBlob};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Position of the pack in [`Index::packs`].
    pub pack: u32,
    /// Offset of the sealed blob in the pack, bytes.
    pub offset: u32,
    /// Sealed length, bytes.
    pub length: u32,
    /// Plaintext length, bytes.
    pub raw_length: u32,
    /// Blob kind.
    pub kind: BlobKind,
}

impl Location {
    /// The location a pack header entry describes, in a pack not placed in any [`Index`]
    /// (`pack` is 0): for reading one pack's blobs by its own header (repack, check, repair).
    pub fn of_entry(b: &PackBlob) -> Self {
        Location {
            pack: 0,
            offset: b.offset,
            length: b.length,
            raw_length: b.raw_length,
            kind: b.kind,
        }
    }
}

/// The union of the repository's index files.
///
/// Obsolete packs (marked by prune, see `repo-format.md`, "Prune") are kept apart: their blobs
/// are found by [`Index::get`], so a snapshot that raced with prune stays restorable, but not
/// by [`Index::contains`], so no new snapshot deduplicates against a pack about to be deleted.
/// A pack that any index file lists as live is live, whatever other files say.
#[derive(Default)]
pub struct Index {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    /// Per position in `packs`: whether some index file lists the pack as live.
    live: Vec<bool>,
    blobs: HashMap<Id, Location>,
    /// Base of each blob whose location is a [`BlobKind::Delta`] (deltas are few, so they are
    /// kept apart instead of widening every [`Location`]).
    bases: HashMap<Id, Id>,
    /// Index files read, in load order.
    pub files: Vec<Id>,
    /// Packs marked obsolete by prune, with the mark time (seconds since the epoch). A pack may
    /// be marked here and still be live (listed as live by another index file).
    pub obsolete: HashMap<Id, i64>,
}

/// How many times [`Index::load_files`] starts over when an index file it listed vanished
/// (a concurrent prune replaced it).
const LOAD_ATTEMPTS: usize = 5;

impl Index {
    /// Loads every index file not superseded by another.
    ///
    /// Errors: the first index file that cannot be read or decoded, by name.
    pub fn load(repo: &Repository) -> Result<Self> {
        let files = Self::load_files(repo)?;
        let superseded = superseded(&files);
        let mut index = Index::default();
        for (id, f) in &files {
            if !superseded.contains(id) {
                index.add_file(*id, f);
            }
        }
        Ok(index)
    }

    /// Reads every index file (superseded ones too), sorted by id. When a listed file vanishes
    /// before it is read (a prune replaced it), starts over, so the replacement is seen.
    ///
    /// Errors: an index file that cannot be read or decoded, by name.
    pub fn load_files(repo: &Repository) -> Result<Vec<(Id, IndexFile)>> {
        let mut attempt = 0;
        'again: loop {
            attempt += 1;
            let mut files = Vec::new();
            for (id, _) in repo.list(FileKind::Index)? {
                match repo.load_index_file(&id) {
                    Ok(f) => files.push((id, f)),
                    Err(Error::Backend(e))
                        if e.class == ErrorClass::NotFound && attempt < LOAD_ATTEMPTS =>
                    {
                        continue 'again
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(files);
        }
    }

    /// Adds the packs of one index file. A pack listed in the file's `obsolete` is added as
    /// obsolete (readable, not used for deduplication) unless another file lists it as live.
    pub fn add_file(&mut self, id: Id, f: &IndexFile) {
        let marked: HashSet<[u8; 32]> = f.obsolete.iter().map(|o| o.id).collect();
        for o in &f.obsolete {
            let t = self.obsolete.entry(Id(o.id)).or_insert(o.marked_at);
            *t = (*t).max(o.marked_at);
        }
        for p in &f.packs {
            self.add_pack_as(p, !marked.contains(&p.id));
        }
        self.files.push(id);
    }

    /// Adds one live pack's blobs.
    pub fn add_pack(&mut self, p: &IndexPack) {
        self.add_pack_as(p, true);
    }

    /// Adds one pack's blobs. A blob already known keeps its first location, except that a
    /// location in a live pack replaces one in an obsolete pack.
    fn add_pack_as(&mut self, p: &IndexPack, live: bool) {
        let pid = Id(p.id);
        let pos = *self.pack_pos.entry(pid).or_insert_with(|| {
            self.packs.push((pid, p.size));
            self.live.push(false);
            (self.packs.len() - 1) as u32
        });
        self.live[pos as usize] |= live;
        for b in &p.blobs {
            let loc = Location {
                pack: pos,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
                kind: b.kind,
            };
            let placed = match self.blobs.entry(Id(b.id)) {
                Entry::Vacant(v) => {
                    v.insert(loc);
                    true
                }
                Entry::Occupied(mut o) => {
                    // A live copy beats an obsolete one; between copies of equal standing a
                    // whole blob beats a delta, which needs its base chain (a writer stores a
                    // blob again, whole, when the chain of the copy it knew is not live).
                    let old_live = self.live[o.get().pack as usize];
                    let replace = (live && !old_live)
                        || (live == old_live
                            && o.get().kind == BlobKind::Delta
                            && b.kind != BlobKind::Delta);
                    if replace {
                        o.insert(loc);
                    }
                    replace
                }
            };
            if placed {
                match (b.kind, b.base) {
                    (BlobKind::Delta, Some(base)) => self.bases.insert(Id(b.id), Id(base)),
                    _ => self.bases.remove(&Id(b.id)),
                };
            }
        }
    }

    /// Whether pack `id` is listed as live by some index file.
    pub fn is_live(&self, id: &Id) -> bool {
        self.pack_pos
            .get(id)
            .is_some_and(|&p| self.live[p as usize])
    }

    /// Where blob `id` is, with its pack id.
    pub fn get(&self, id: &Id) -> Option<(Id, Location)> {
        self.blobs
            .get(id)
            .map(|l| (self.packs[l.pack as usize].0, *l))
    }

    /// Whether blob `id` may be relied on by a writer (the deduplication test, rule W2 of
    /// `repo-format.md` section 14): its copy is in a live pack and, for a delta blob, so is
    /// every base down its chain to a whole blob. Blobs only in obsolete packs, and deltas
    /// whose chain reaches one (or is longer than [`crate::format::pack::READ_DELTA_DEPTH`],
    /// or has a base in no index), do not count: a writer stores such a chunk again.
    pub fn contains(&self, id: &Id) -> bool {
        let mut at = *id;
        for _ in 0..=crate::format::pack::READ_DELTA_DEPTH {
            let Some(l) = self.blobs.get(&at) else {
                return false;
            };
            if !self.live[l.pack as usize] {
                return false;
            }
            match self.bases.get(&at) {
                Some(base) => at = *base,
                None => return true,
            }
        }
        false
    }

    /// Whether blob `id` is known at all, in a live or an obsolete pack (readable, see
    /// [`Index::get`]), as opposed to [`Index::contains`].
    pub fn knows(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// The packs that reading blob `id` needs: its own and those of its delta chain (empty
    /// when the blob is unknown). Writers record them for the check before their manifest
    /// (rule W4 of `repo-format.md` section 14).
    pub fn chain_packs(&self, id: &Id) -> Vec<Id> {
        let mut packs = Vec::new();
        let mut at = *id;
        for _ in 0..=crate::format::pack::READ_DELTA_DEPTH {
            let Some(l) = self.blobs.get(&at) else {
                break;
            };
            packs.push(self.packs[l.pack as usize].0);
            match self.bases.get(&at) {
                Some(base) => at = *base,
                None => break,
            }
        }
        packs
    }

    /// The base of blob `id` when its indexed copy is a delta blob.
    pub fn base_of(&self, id: &Id) -> Option<Id> {
        self.bases.get(id).copied()
    }

    /// Number of delta blobs (their copy in the index is a delta).
    pub fn deltas(&self) -> usize {
        self.bases.len()
    }

    /// How many bases lie under blob `id` (0 for a whole blob), following the chain in this
    /// index; stops counting at `limit` (chains are bounded when written, and a damaged index
    /// must not loop).
    pub fn delta_depth(&self, id: &Id, limit: usize) -> usize {
        let (mut depth, mut at) = (0, *id);
        while let Some(b) = self.bases.get(&at) {
            depth += 1;
            if depth >= limit {
                break;
            }
            at = *b;
        }
        depth
    }

    /// Number of blobs (in live and obsolete packs).
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// All packs, live and obsolete: (id, size in bytes).
    pub fn packs(&self) -> &[(Id, u64)] {
        &self.packs
    }

    /// All blobs with their locations.
    pub fn blobs(&self) -> impl Iterator<Item = (&Id, &Location)> {
        self.blobs.iter()
    }

    /// A pack header entry for blob `id` at `loc` (used by copy and repack).
    pub fn pack_blob(&self, id: &Id, loc: &Location) -> PackBlob {
        PackBlob {
            kind: loc.kind,
            id: id.0,
            offset: loc.offset,
            length: loc.length,
            raw_length: loc.raw_length,
            base: (loc.kind == BlobKind::Delta)
                .then(|| self.base_of(id).map(|b| b.0))
                .flatten(),
        }
    }
}

/// Rule W4 of `repo-format.md` section 14: before a manifest is written, every pack its
/// deduplicated blobs and delta bases live in must still exist. A prune that deleted one
/// (possible only if this writer's lock was not seen, e.g. a stale listing) turns the
/// snapshot into an error instead of a manifest that cannot be restored.
///
/// Few packs are checked one by one; many by one listing of `data/`.
///
/// Errors: [`Error::NotFound`] naming the first missing pack; storage errors.
pub fn confirm_packs(repo: &Repository, relied: &HashSet<Id>) -> Result<()> {
    const ONE_BY_ONE: usize = 32;
    let missing = if relied.len() <= ONE_BY_ONE {
        let mut missing = None;
        for id in relied {
            if repo.backend().size(&FileKind::Pack.path(id))?.is_none() {
                missing = Some(*id);
                break;
            }
        }
        missing
    } else {
        let stored: HashSet<Id> = repo
            .list(FileKind::Pack)?
            .into_iter()
            .map(|p| p.0)
            .collect();
        relied.iter().find(|id| !stored.contains(id)).copied()
    };
    match missing {
        None => Ok(()),
        Some(id) => Err(Error::NotFound(format!(
            "pack {} that this snapshot deduplicated against was deleted by a concurrent \
             prune; no snapshot was written: run the snapshot again",
            FileKind::Pack.path(&id)
        ))),
    }
}

/// Ids of the index files that another of `files` supersedes.
pub fn superseded(files: &[(Id, IndexFile)]) -> HashSet<Id> {
    files
        .iter()
        .flat_map(|(_, f)| f.supersedes.iter().map(|s| Id(*s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::index::ObsoletePack;

    fn pack(n: u8, blobs: &[u8]) -> IndexPack {
        IndexPack {
            id: [n; 32],
            size: 100,
            blobs: blobs
                .iter()
                .enumerate()
                .map(|(i, b)| PackBlob {
                    kind: BlobKind::Data,
                    id: [*b; 32],
                    offset: i as u32 * 10,
                    length: 10,
                    raw_length: 5,
                    base: None,
                })
                .collect(),
        }
    }

    fn marked(n: u8, at: i64) -> ObsoletePack {
        ObsoletePack {
            id: [n; 32],
            marked_at: at,
        }
    }

    #[test]
    fn obsolete_blobs_are_readable_but_not_for_dedup() {
        let mut i = Index::default();
        let f = IndexFile {
            packs: vec![pack(1, &[10, 11]), pack(2, &[12])],
            supersedes: vec![],
            obsolete: vec![marked(1, 50)],
        };
        i.add_file(Id([0; 32]), &f);
        assert!(!i.contains(&Id([10; 32])));
        assert_eq!(i.get(&Id([10; 32])).unwrap().0, Id([1; 32]));
        assert!(i.contains(&Id([12; 32])));
        assert!(!i.is_live(&Id([1; 32])));
        assert_eq!(i.obsolete[&Id([1; 32])], 50);
    }

    fn delta(n: u8, blob: u8, base: u8) -> IndexPack {
        let mut p = pack(n, &[blob]);
        p.blobs[0].kind = BlobKind::Delta;
        p.blobs[0].base = Some([base; 32]);
        p
    }

    #[test]
    fn w2_a_delta_counts_only_when_its_whole_chain_is_live() {
        // Blob 20 (live pack 5) is a delta on 21 (live pack 6), itself a delta on 22, whose
        // only pack 7 is marked obsolete: no writer may rely on 20 or 21.
        let mut i = Index::default();
        let f = IndexFile {
            packs: vec![delta(5, 20, 21), delta(6, 21, 22), pack(7, &[22])],
            supersedes: vec![],
            obsolete: vec![marked(7, 50)],
        };
        i.add_file(Id([0; 32]), &f);
        assert!(!i.contains(&Id([20; 32])));
        assert!(!i.contains(&Id([21; 32])));
        assert!(i.knows(&Id([20; 32])));
        assert_eq!(
            i.chain_packs(&Id([20; 32])),
            vec![Id([5; 32]), Id([6; 32]), Id([7; 32])]
        );
        // A whole copy of 20, written again by a later snapshot, is preferred and counts.
        i.add_file(
            Id([1; 32]),
            &IndexFile {
                packs: vec![pack(8, &[20])],
                ..Default::default()
            },
        );
        assert!(i.contains(&Id([20; 32])));
        assert_eq!(i.get(&Id([20; 32])).unwrap().0, Id([8; 32]));
        assert_eq!(i.base_of(&Id([20; 32])), None);
        // A base in no index breaks the chain too.
        let mut j = Index::default();
        j.add_file(
            Id([2; 32]),
            &IndexFile {
                packs: vec![delta(9, 30, 31)],
                ..Default::default()
            },
        );
        assert!(!j.contains(&Id([30; 32])));
    }

    #[test]
    fn live_in_any_file_wins_and_live_copies_are_preferred() {
        let mut i = Index::default();
        let pruned = IndexFile {
            packs: vec![pack(1, &[10])],
            supersedes: vec![],
            obsolete: vec![marked(1, 50), marked(3, 60)],
        };
        i.add_file(Id([0; 32]), &pruned);
        // A snapshot's index file written concurrently lists pack 3 as live, and pack 2 holds
        // another copy of blob 10.
        let snap = IndexFile {
            packs: vec![pack(3, &[13]), pack(2, &[10])],
            ..Default::default()
        };
        i.add_file(Id([9; 32]), &snap);
        assert!(i.is_live(&Id([3; 32])));
        assert!(i.contains(&Id([13; 32])));
        assert!(i.contains(&Id([10; 32])));
        assert_eq!(i.get(&Id([10; 32])).unwrap().0, Id([2; 32]));
    }
}
