//! A stream's ordered chunk list as a tree of list blobs (after bupstash's htree): entries are
//! grouped into a list blob until an entry whose id matches a boundary pattern, so an insertion
//! only changes the list blobs around it and unchanged lists deduplicate between snapshots.

use crate::error::Result;
use crate::format::list::{ListBlob, ListEntry};
use crate::format::{decode_versioned, encode_versioned};
use crate::id::Id;
use crate::repository::versioned_error;

pub mod ordered;
pub mod walk;
pub use walk::{Chunk, Node, Stage, Walk, WalkError};

/// A list blob closes after an entry whose id's first two bytes, little-endian, are 0 modulo
/// this (average fan-out 128 entries, about 4.5 KiB).
pub const BOUNDARY_MODULUS: u16 = 128;
/// A list blob never holds more entries than this.
pub const MAX_ENTRIES: usize = 1024;

fn is_boundary(id: &[u8; 32]) -> bool {
    u16::from_le_bytes([id[0], id[1]]).is_multiple_of(BOUNDARY_MODULUS)
}

/// Builds the tree while chunks arrive. `store` receives each list blob's plaintext and returns
/// its id (it also stores the blob if new).
pub struct ListWriter {
    levels: Vec<Vec<ListEntry>>,
}

impl Default for ListWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ListWriter {
    /// An empty tree.
    pub fn new() -> Self {
        ListWriter {
            levels: vec![Vec::new()],
        }
    }

    /// Appends a data chunk.
    pub fn push(
        &mut self,
        entry: ListEntry,
        store: &mut dyn FnMut(Vec<u8>) -> Result<Id>,
    ) -> Result<()> {
        self.push_at(0, entry, store)
    }

    fn push_at(
        &mut self,
        level: usize,
        entry: ListEntry,
        store: &mut dyn FnMut(Vec<u8>) -> Result<Id>,
    ) -> Result<()> {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        self.levels[level].push(entry);
        if is_boundary(&entry.id) || self.levels[level].len() >= MAX_ENTRIES {
            let up = self.close(level, store)?;
            self.push_at(level + 1, up, store)?;
        }
        Ok(())
    }

    fn close(
        &mut self,
        level: usize,
        store: &mut dyn FnMut(Vec<u8>) -> Result<Id>,
    ) -> Result<ListEntry> {
        let entries = std::mem::take(&mut self.levels[level]);
        let size = entries.iter().map(|e| e.size).sum();
        let id = store(encode_versioned(&ListBlob {
            level: level as u8,
            entries,
        }))?;
        Ok(ListEntry { id: id.0, size })
    }

    /// Closes all levels and returns the root list blob's id.
    pub fn finish(mut self, store: &mut dyn FnMut(Vec<u8>) -> Result<Id>) -> Result<Id> {
        let mut level = 0;
        loop {
            let top = level == self.levels.len() - 1;
            if top && level > 0 && self.levels[level].len() == 1 {
                return Ok(Id(self.levels[level][0].id));
            }
            if !top && self.levels[level].is_empty() {
                level += 1;
                continue;
            }
            let up = self.close(level, store)?;
            if top {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(up);
            level += 1;
        }
    }
}

/// Decodes a list blob's plaintext; `id` names it in errors.
pub fn decode_list(id: &Id, plain: &[u8]) -> Result<ListBlob> {
    decode_versioned(plain).map_err(|e| versioned_error(format!("list blob {id}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(n: u32, store: &mut HashMap<Id, Vec<u8>>) -> Id {
        let mut w = ListWriter::new();
        let mut put = |b: Vec<u8>| {
            let id = Id::hash(&b);
            store.insert(id, b);
            Ok(id)
        };
        for i in 0..n {
            let e = ListEntry {
                id: Id::hash(&i.to_le_bytes()).0,
                size: 10,
            };
            w.push(e, &mut put).unwrap();
        }
        w.finish(&mut put).unwrap()
    }

    fn walk(id: Id, store: &HashMap<Id, Vec<u8>>, out: &mut Vec<[u8; 32]>) {
        let l = decode_list(&id, &store[&id]).unwrap();
        for e in l.entries {
            if l.level == 0 {
                out.push(e.id);
            } else {
                walk(Id(e.id), store, out);
            }
        }
    }

    #[test]
    fn tree_round_trips_at_any_size() {
        for n in [0, 1, 5, 127, 1000, 20_000] {
            let mut store = HashMap::new();
            let root = build(n, &mut store);
            let mut ids = Vec::new();
            walk(root, &store, &mut ids);
            let want: Vec<[u8; 32]> = (0..n).map(|i| Id::hash(&i.to_le_bytes()).0).collect();
            assert_eq!(ids, want, "n = {n}");
        }
    }

    #[test]
    fn same_prefix_shares_list_blobs() {
        let mut a = HashMap::new();
        let mut b = HashMap::new();
        build(20_000, &mut a);
        build(20_100, &mut b);
        let shared = a.keys().filter(|k| b.contains_key(k)).count();
        assert!(shared * 10 >= a.len() * 8, "{shared} of {}", a.len());
    }
}
