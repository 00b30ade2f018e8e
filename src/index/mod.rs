//! The in-memory repository index: blob id to (pack, offset, length), built from all index files.
//!
//! Cost per blob: the 32-byte id key plus a 20-byte [`Location`] plus the hash table's control
//! byte and load-factor slack — about 60 bytes. (The performance issue brings it down.)

mod shared;

pub use shared::SharedIndex;

use crate::error::Result;
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::{BlobKind, PackBlob};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
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

/// The union of the repository's index files.
#[derive(Default)]
pub struct Index {
    packs: Vec<(Id, u64)>,
    pack_pos: HashMap<Id, u32>,
    blobs: HashMap<Id, Location>,
    /// Index files read, in load order.
    pub files: Vec<Id>,
    /// Packs marked obsolete by prune, with the mark time (seconds since the epoch).
    pub obsolete: HashMap<Id, i64>,
}

impl Index {
    /// Loads every index file not superseded by another.
    ///
    /// Errors: the first index file that cannot be read or decoded, by name.
    pub fn load(repo: &Repository) -> Result<Self> {
        let ids: Vec<Id> = repo
            .list(FileKind::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut files = Vec::with_capacity(ids.len());
        for id in &ids {
            files.push((*id, repo.load_index_file(id)?));
        }
        let superseded: HashSet<Id> = files
            .iter()
            .flat_map(|(_, f)| f.supersedes.iter().map(|s| Id(*s)))
            .collect();
        let mut index = Index::default();
        for (id, f) in files {
            if superseded.contains(&id) {
                continue;
            }
            index.add_file(id, &f);
        }
        Ok(index)
    }

    /// Adds the packs of one index file.
    pub fn add_file(&mut self, id: Id, f: &IndexFile) {
        for p in &f.packs {
            self.add_pack(p);
        }
        for o in &f.obsolete {
            self.obsolete.insert(Id(o.id), o.marked_at);
        }
        self.files.push(id);
    }

    /// Adds one pack's blobs (a blob already known keeps its first location).
    pub fn add_pack(&mut self, p: &IndexPack) {
        let pid = Id(p.id);
        let pos = *self.pack_pos.entry(pid).or_insert_with(|| {
            self.packs.push((pid, p.size));
            (self.packs.len() - 1) as u32
        });
        for b in &p.blobs {
            self.blobs.entry(Id(b.id)).or_insert(Location {
                pack: pos,
                offset: b.offset,
                length: b.length,
                raw_length: b.raw_length,
                kind: b.kind,
            });
        }
    }

    /// Where blob `id` is, with its pack id.
    pub fn get(&self, id: &Id) -> Option<(Id, Location)> {
        self.blobs
            .get(id)
            .map(|l| (self.packs[l.pack as usize].0, *l))
    }

    /// Whether blob `id` is stored.
    pub fn contains(&self, id: &Id) -> bool {
        self.blobs.contains_key(id)
    }

    /// Number of blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// All packs: (id, size in bytes).
    pub fn packs(&self) -> &[(Id, u64)] {
        &self.packs
    }

    /// All blobs with their locations.
    pub fn blobs(&self) -> impl Iterator<Item = (&Id, &Location)> {
        self.blobs.iter()
    }

    /// A pack header entry for a blob at `loc` (used by copy and repack).
    pub fn pack_blob(id: &Id, loc: &Location) -> PackBlob {
        PackBlob {
            kind: loc.kind,
            id: id.0,
            offset: loc.offset,
            length: loc.length,
            raw_length: loc.raw_length,
        }
    }
}
