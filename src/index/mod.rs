//! The in-memory repository index: blob id to (pack, offset, length), built from all index files.
//!
//! Cost per blob: 28 bytes (a 16-byte id prefix and a 12-byte location in two sorted arrays,
//! see [`table`] and [`packed`]) and at most 1/4 byte for the arrays' directory, plus for a
//! delta blob 28 bytes for its base (a side table: whole blobs do not pay for it). At 10% delta
//! blobs that is 30.9 bytes per blob. A base that is in no index costs 16 bytes more, and a
//! location whose numbers do not fit a record 28 more (see [`packed`]). Per
//! pack: its id, size, position and liveness (about 90 bytes). Limits: 2³¹ blobs, 2³⁰ delta
//! blobs and wide locations together, 2³⁰ packs (about 60 GiB of index; beyond, loading fails
//! with [`Error::IndexTooLarge`], see [`limit`]).
//!
//! Blobs are told apart by the first 16 bytes (128 bits) of their id only. Ids are keyed BLAKE3
//! hashes (the key is secret, so nobody can aim at a collision), so among `n` blobs the chance
//! that two different ones share a prefix is at most n²/2¹²⁹: about 1.5·10⁻²¹ for 10⁹ blobs, and
//! the chance that a new chunk is wrongly taken as known is n/2¹²⁸ per lookup (3·10⁻³⁰ at 10⁹
//! blobs; 3·10⁻¹⁸ over 10¹² lookups). That is far below the chance of an undetected memory or
//! disk error, and the full 256-bit id is still what packs, index files and manifests record.
//! A delta's base is known by its whole id: the side table keeps the 16 bytes the prefix lacks.

mod limit;
mod packed;
mod shared;
mod table;

#[cfg(test)]
mod encoding_tests;
/// The pre-compact hash-map index, kept as the reference for the index tests and for
/// `cargo xtask bench-index` (not used by the repository code).
pub mod reference;
#[cfg(test)]
mod tests;

pub use limit::IndexFull;
pub use shared::SharedIndex;

use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::{BlobKind, PackBlob};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use packed::Slot;
use std::collections::{HashMap, HashSet};
use table::{key, At, Table};

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

impl Slot {
    fn location(&self) -> Location {
        Location {
            pack: self.pack(),
            offset: self.offset,
            length: self.length,
            raw_length: self.raw_length,
            kind: self.kind(),
        }
    }
}

/// The union of the repository's index files.
///
/// Obsolete packs (marked by prune, see `repo-format.md`, "Prune") are kept apart: their blobs
/// are found by [`Index::get`], so a snapshot that raced with prune stays restorable, but not
/// by [`Index::contains`], so no new snapshot deduplicates against a pack about to be deleted.
/// A pack that any index file lists as live is live, whatever other files say.
///
/// Blobs are keyed by the first 16 bytes of their id (see the module documentation for why a
/// false match is not a concern): 28 to 28¼ bytes per blob, 28 more per delta blob for its
/// base.
#[derive(Default)]
pub struct Index {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    /// Per position in `packs`: whether some index file lists the pack as live.
    live: Vec<bool>,
    /// Locations, and the bases of delta blobs (kept in a side table, so that whole blobs do
    /// not pay for them).
    blobs: Table,
    /// Index files read, in load order.
    pub files: Vec<Id>,
    /// Packs marked obsolete by prune, with the mark time (seconds since the epoch). A pack may
    /// be marked here and still be live (listed as live by another index file).
    pub obsolete: HashMap<Id, i64>,
}

/// Heap bytes an [`Index`] holds, from the capacities of its tables (not timed, not sampled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexMemory {
    /// The blob table: 28 to 28¼ bytes per blob once compacted (see [`Index::compact`]).
    pub blobs: usize,
    /// The side table of delta blobs (their bases) and of locations whose numbers do not fit
    /// the blob table: 28 bytes per delta blob once compacted, 16 more for a base that is
    /// in no index.
    pub bases: usize,
    /// Per-pack tables (ids, sizes, positions, liveness, obsolete marks) and loaded file ids.
    pub packs: usize,
}

impl IndexMemory {
    /// All of it, bytes.
    pub fn total(&self) -> usize {
        self.blobs + self.bases + self.packs
    }
}

/// How many times [`Index::load_files`] starts over when an index file it listed vanished
/// (a concurrent prune replaced it).
const LOAD_ATTEMPTS: usize = 5;

/// An index file holds at least this many bytes per blob entry (its 32-byte id, keyed BLAKE3
/// output that does not compress), so its size bounds its entries: [`Index::load`] reserves
/// the blob table from the listed sizes (about 1.5 times the blobs of a typical file, which
/// costs address space, not memory; see [`Table::reserve`]).
const MIN_ENTRY_BYTES: u64 = 32;

impl Index {
    /// Loads every index file not superseded by another, and compacts the result.
    ///
    /// Files are read and added one at a time, so only one decoded file is in memory beside
    /// the index. A file found superseded only by a file read after it (a prune is replacing
    /// index files, or one was interrupted) makes the load start over from
    /// [`Index::load_files`], which holds every file until it knows which ones count.
    ///
    /// Errors: the first index file that cannot be read or decoded, by name;
    /// [`Error::IndexTooLarge`] when the files list more than the index holds (see
    /// [`IndexFull`]).
    pub fn load(repo: &Repository) -> Result<Self> {
        let mut index = match Self::load_one_by_one(repo)? {
            Some(index) => index,
            None => return Self::from_files(repo, &Self::load_files(repo)?),
        };
        index.compact();
        Ok(index)
    }

    /// The index of `files` (as [`Index::load_files`] returns them): every file that no other
    /// of `files` supersedes, added in the order given, then compacted (28 to 28¼ bytes per
    /// blob, see [`Index::compact`]). For commands that need the decoded files themselves
    /// (prune, check, stats, repair) and so read them before building the index.
    ///
    /// Errors: [`Error::IndexTooLarge`] naming `repo` (the repository `files` come from) when
    /// they list more than the index holds.
    pub fn from_files(repo: &Repository, files: &[(Id, IndexFile)]) -> Result<Self> {
        Self::build(files).map_err(|e| e.in_repository(repo))
    }

    /// [`Index::from_files`] without a repository to name in its error.
    fn build(files: &[(Id, IndexFile)]) -> Result<Self, IndexFull> {
        let superseded = superseded(files);
        let mut index = Index::default();
        let counted = files.iter().filter(|(id, _)| !superseded.contains(id));
        index.blobs.reserve(
            counted
                .flat_map(|(_, f)| &f.packs)
                .map(|p| p.blobs.len())
                .sum(),
        );
        for (id, f) in files.iter().filter(|(id, _)| !superseded.contains(id)) {
            index.add_file(*id, f)?;
        }
        index.compact();
        Ok(index)
    }

    /// [`Index::load`] reading and adding one file at a time (in the order of
    /// [`Index::load_files`]); `None` when a file it added turned out superseded by one read
    /// later.
    fn load_one_by_one(repo: &Repository) -> Result<Option<Self>> {
        let mut attempt = 0;
        'again: loop {
            attempt += 1;
            let mut index = Index::default();
            let mut superseded: HashSet<Id> = HashSet::new();
            let listed = repo.list(FileKind::Index)?;
            let bytes: u64 = listed.iter().map(|(_, size)| size).sum();
            index
                .blobs
                .reserve(usize::try_from(bytes / MIN_ENTRY_BYTES).unwrap_or(usize::MAX));
            for (id, _) in listed {
                let f = match repo.load_index_file(&id) {
                    Ok(f) => f,
                    Err(Error::Backend(e))
                        if e.class == ErrorClass::NotFound && attempt < LOAD_ATTEMPTS =>
                    {
                        continue 'again
                    }
                    Err(e) => return Err(e),
                };
                superseded.extend(f.supersedes.iter().map(|s| Id(*s)));
                if !superseded.contains(&id) {
                    index.add_file(id, &f).map_err(|e| e.in_repository(repo))?;
                }
            }
            let stale = index.files.iter().any(|f| superseded.contains(f));
            return Ok((!stale).then_some(index));
        }
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
    /// Blobs added since the last [`Index::compact`] cost a few bytes more until then.
    ///
    /// Errors: [`IndexFull`] when the file's blobs or packs pass the index's limits; the index
    /// then holds part of the file and is to be dropped.
    pub fn add_file(&mut self, id: Id, f: &IndexFile) -> Result<(), IndexFull> {
        let marked: HashSet<[u8; 32]> = f.obsolete.iter().map(|o| o.id).collect();
        for o in &f.obsolete {
            let t = self.obsolete.entry(Id(o.id)).or_insert(o.marked_at);
            *t = (*t).max(o.marked_at);
        }
        for p in &f.packs {
            self.add_pack_as(p, !marked.contains(&p.id))?;
        }
        self.files.push(id);
        Ok(())
    }

    /// Adds one live pack's blobs.
    ///
    /// Errors: [`IndexFull`] as for [`Index::add_file`].
    pub fn add_pack(&mut self, p: &IndexPack) -> Result<(), IndexFull> {
        self.add_pack_as(p, true)
    }

    /// Merges the blobs added since the last call into the sorted tables and frees their spare
    /// capacity: afterwards the index holds 28 to 28¼ bytes per blob and 28 more per delta
    /// blob.
    /// Takes time linear in the size of the index; [`Index::load`] calls it once at the end.
    pub fn compact(&mut self) {
        self.blobs.compact();
        self.packs.shrink_to_fit();
        self.live.shrink_to_fit();
    }

    /// Adds one pack's blobs. A blob already known keeps its first location, except that a
    /// location in a live pack replaces one in an obsolete pack.
    ///
    /// Errors: [`IndexFull`] when the pack is one too many, or one of its blobs is.
    fn add_pack_as(&mut self, p: &IndexPack, live: bool) -> Result<(), IndexFull> {
        let pid = Id(p.id);
        let pos = match self.pack_pos.get(&pid) {
            Some(&pos) => pos,
            None => {
                let max = self.blobs.limits().packs;
                if self.packs.len() >= max {
                    return Err(IndexFull::Packs(max));
                }
                self.packs.push((pid, p.size));
                self.live.push(false);
                let pos = (self.packs.len() - 1) as u32;
                self.pack_pos.insert(pid, pos);
                pos
            }
        };
        self.live[pos as usize] |= live;
        for b in &p.blobs {
            let k = key(&Id(b.id));
            let at = self.blobs.find(k);
            let replace = match at {
                None => true,
                Some(at) => {
                    // A live copy beats an obsolete one; between copies of equal standing a
                    // whole blob beats a delta, which needs its base chain (a writer stores a
                    // blob again, whole, when the chain of the copy it knew is not live).
                    let old = self.blobs.slot(at);
                    let old_live = self.live[old.pack() as usize];
                    (live && !old_live)
                        || (live == old_live
                            && old.kind() == BlobKind::Delta
                            && b.kind != BlobKind::Delta)
                }
            };
            if replace {
                // Only a blob placed as a delta keeps a base (the table drops it otherwise).
                self.blobs.put(at, k, Slot::new(pos, b), b.base)?;
            }
        }
        Ok(())
    }

    /// Whether pack `id` is listed as live by some index file.
    pub fn is_live(&self, id: &Id) -> bool {
        self.pack_pos
            .get(id)
            .is_some_and(|&p| self.live[p as usize])
    }

    /// Where blob `id` is, with its pack id.
    pub fn get(&self, id: &Id) -> Option<(Id, Location)> {
        let s = self.blobs.slot(self.blobs.find(key(id))?);
        Some((self.packs[s.pack() as usize].0, s.location()))
    }

    /// Whether blob `id` may be relied on by a writer (the deduplication test, rule W2 of
    /// `repo-format.md` section 14): its copy is in a live pack and, for a delta blob, so is
    /// every base down its chain to a whole blob. Blobs only in obsolete packs, and deltas
    /// whose chain reaches one (or is longer than [`crate::format::pack::READ_DELTA_DEPTH`],
    /// or has a base in no index), do not count: a writer stores such a chunk again.
    pub fn contains(&self, id: &Id) -> bool {
        let mut at = self.blobs.find(key(id));
        for _ in 0..=crate::format::pack::READ_DELTA_DEPTH {
            let Some(here) = at else {
                return false;
            };
            if !self.live[self.blobs.slot(here).pack() as usize] {
                return false;
            }
            match self.blobs.base(here) {
                Some((_, next)) => at = next,
                None => return true,
            }
        }
        false
    }

    /// Whether blob `id` is known at all, in a live or an obsolete pack (readable, see
    /// [`Index::get`]), as opposed to [`Index::contains`].
    pub fn knows(&self, id: &Id) -> bool {
        self.blobs.find(key(id)).is_some()
    }

    /// The packs that reading blob `id` needs: its own and those of its delta chain (empty
    /// when the blob is unknown). Writers record them for the check before their manifest
    /// (rule W4 of `repo-format.md` section 14).
    pub fn chain_packs(&self, id: &Id) -> Vec<Id> {
        let mut packs = Vec::new();
        let mut at = self.blobs.find(key(id));
        for _ in 0..=crate::format::pack::READ_DELTA_DEPTH {
            let Some(here) = at else {
                break;
            };
            packs.push(self.packs[self.blobs.slot(here).pack() as usize].0);
            match self.blobs.base(here) {
                Some((_, next)) => at = next,
                None => break,
            }
        }
        packs
    }

    /// The base of blob `id` when its indexed copy is a delta blob.
    pub fn base_of(&self, id: &Id) -> Option<Id> {
        self.blobs.base(self.blobs.find(key(id))?).map(|b| b.0)
    }

    /// Number of delta blobs (their copy in the index is a delta).
    pub fn deltas(&self) -> usize {
        self.blobs.with_base()
    }

    /// How many bases lie under blob `id` (0 for a whole blob), following the chain in this
    /// index; stops counting at `limit` (chains are bounded when written, and a damaged index
    /// must not loop).
    pub fn delta_depth(&self, id: &Id, limit: usize) -> usize {
        let (mut depth, mut at) = (0, self.blobs.find(key(id)));
        while let Some((_, next)) = at.and_then(|here: At| self.blobs.base(here)) {
            depth += 1;
            if depth >= limit {
                break;
            }
            at = next;
        }
        depth
    }

    /// Number of blobs (in live and obsolete packs).
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.len() == 0
    }

    /// All packs, live and obsolete: (id, size in bytes).
    pub fn packs(&self) -> &[(Id, u64)] {
        &self.packs
    }

    /// Every blob that `files` list, once, with the location this index chose for it, in the
    /// order of the files. The index keeps only id prefixes, so whole ids come from the files;
    /// given the files the index was built from (as [`Index::add_file`] got them), this is
    /// every blob of the index.
    pub fn blobs_in<'a>(
        &'a self,
        files: &'a [(Id, IndexFile)],
    ) -> impl Iterator<Item = (Id, Location)> + 'a {
        let mut seen: HashSet<Id> = HashSet::new();
        let listed = files
            .iter()
            .flat_map(|(_, f)| f.packs.iter())
            .flat_map(|p| p.blobs.iter().map(move |b| (p.id, b)));
        listed.filter_map(move |(pack, b)| {
            let (at, loc) = self.get(&Id(b.id))?;
            let chosen = at.0 == pack
                && loc.offset == b.offset
                && loc.length == b.length
                && loc.raw_length == b.raw_length
                && loc.kind == b.kind;
            (chosen && seen.insert(Id(b.id))).then_some((Id(b.id), loc))
        })
    }

    /// Heap bytes held, from the capacities of the tables.
    pub fn memory(&self) -> IndexMemory {
        use std::mem::size_of;
        let table = self.blobs.heap_bytes();
        IndexMemory {
            blobs: table.blobs,
            bases: table.extras,
            packs: self.packs.capacity() * size_of::<(Id, u64)>()
                + table::hash_map_bytes(self.pack_pos.capacity(), size_of::<(Id, u32)>())
                + self.live.capacity()
                + table::hash_map_bytes(self.obsolete.capacity(), size_of::<(Id, i64)>())
                + self.files.capacity() * size_of::<Id>(),
        }
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

/// Ids of the index files that another of `files` supersedes.
pub fn superseded(files: &[(Id, IndexFile)]) -> HashSet<Id> {
    files
        .iter()
        .flat_map(|(_, f)| f.supersedes.iter().map(|s| Id(*s)))
        .collect()
}
