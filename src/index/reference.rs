//! The index as it was before the compact tables (src/index/mod.rs at 66b337f: a hash map of
//! whole ids), kept as the reference, not used by the repository code: the randomized
//! comparison in the index tests checks that the compact [`Index`] answers every question
//! exactly as this one does, and `cargo xtask bench-index` measures its load time and memory
//! beside the compact index's.

use super::{Index, Location};
use crate::error::Result;
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::BlobKind;
use crate::id::Id;
use crate::repository::Repository;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// The union of the repository's index files.
///
/// Obsolete packs (marked by prune, see `repo-format.md`, "Prune") are kept apart: their blobs
/// are found by `get`, so a snapshot that raced with prune stays restorable, but not
/// by `contains`, so no new snapshot deduplicates against a pack about to be deleted.
/// A pack that any index file lists as live is live, whatever other files say.
#[derive(Default)]
pub struct Reference {
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

impl Reference {
    /// Loads the index of `repo` as the index did before the compact tables: every index file
    /// is read and decoded first (with [`Index::load_files`]), then those no other file
    /// supersedes are added in id order.
    ///
    /// Errors: an index file that cannot be listed, read or decoded (as [`Index::load_files`]).
    pub fn load(repo: &Repository) -> Result<Self> {
        let files = Index::load_files(repo)?;
        let gone = super::superseded(&files);
        let mut index = Reference::default();
        for (id, f) in &files {
            if !gone.contains(id) {
                index.add_file(*id, f);
            }
        }
        Ok(index)
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
    /// `get`), as opposed to `contains`.
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

    /// All blobs with their locations.
    pub fn blobs(&self) -> impl Iterator<Item = (&Id, &Location)> {
        self.blobs.iter()
    }

    /// All packs, live and obsolete: (id, size in bytes).
    pub fn packs(&self) -> &[(Id, u64)] {
        &self.packs
    }
}

impl Reference {
    /// Heap bytes of the per-blob maps (blob locations and delta bases), estimated from their
    /// capacities as hashbrown lays them out (buckets of an entry and a control byte); the
    /// per-pack and per-file tables are not counted.
    pub fn blob_heap_bytes(&self) -> usize {
        use super::table::hash_map_bytes;
        use std::mem::size_of;
        hash_map_bytes(self.blobs.capacity(), size_of::<(Id, Location)>())
            + hash_map_bytes(self.bases.capacity(), size_of::<(Id, Id)>())
    }
}

/// CPU time (user and system) so far, seconds, read from a Linux `schedstat` file:
/// `/proc/self/schedstat` for this process's main task, `/proc/thread-self/schedstat` for the
/// calling thread. A measure of work that other processes on the machine do not inflate; 0 when
/// the file cannot be read or parsed (not Linux).
pub fn cpu_seconds(schedstat: &str) -> f64 {
    let stat = std::fs::read_to_string(schedstat).unwrap_or_default();
    let ns: u64 = stat
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    ns as f64 / 1e9
}
