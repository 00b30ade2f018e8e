//! The snapshot side of `check`: walk every stream's chunk-list tree, find the blobs that are
//! unindexed or known bad, and work out which byte ranges, and so which tables, they take away.

use super::packs::{detail_of, pack_object};
use super::Problems;
use crate::format::snapshot::{Manifest, StreamRef};
use crate::id::Id;
use crate::index::Index;
use crate::repository::Repository;
use crate::stream::{Node, Stage, Walk};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Object name under which blobs that no index file lists are reported.
pub const UNINDEXED: &str = "index";

/// Walks chunk-list trees against an index and a set of known bad blobs.
pub struct Walker<'a> {
    repo: &'a Repository,
    index: &'a Index,
    /// Blobs known to be unusable, with the object (file) whose damage makes them so.
    bad: &'a HashMap<Id, String>,
    /// List blobs whose whole subtree was found sound (shared subtrees are walked once).
    clean: HashSet<Id>,
    /// Referenced blobs that no index file lists.
    pub unindexed: BTreeSet<Id>,
    /// List blobs read.
    pub lists_read: u64,
}

/// A damaged byte range of a stream and the object responsible.
struct Hole {
    start: u64,
    end: u64,
    object: String,
}

impl<'a> Walker<'a> {
    /// A walker over `index`, with `bad` blobs already known.
    pub fn new(repo: &'a Repository, index: &'a Index, bad: &'a HashMap<Id, String>) -> Self {
        Walker {
            repo,
            index,
            bad,
            clean: HashSet::new(),
            unindexed: BTreeSet::new(),
            lists_read: 0,
        }
    }

    /// Walks every stream of snapshot `sid`; records in `problems` each object that keeps it
    /// from being restored in full, with the stream, database and tables affected. Returns
    /// whether the snapshot is restorable in full.
    pub fn snapshot(&mut self, sid: &Id, m: &Manifest, problems: &mut Problems) -> bool {
        let mut whole = true;
        for s in &m.streams {
            let holes = self.stream(s, problems);
            if holes.is_empty() {
                continue;
            }
            whole = false;
            let mut by_object: HashMap<&str, Vec<&Hole>> = HashMap::new();
            for h in &holes {
                by_object.entry(h.object.as_str()).or_default().push(h);
            }
            for (object, hs) in by_object {
                let tables = tables_in(s, &hs);
                problems.affect(object, sid, m.source.database.clone(), &s.name, tables);
            }
        }
        whole
    }

    /// Why blob `id` cannot be read, if known without reading it: it, or a delta base under
    /// it, is in no index or known bad (then the base's object is blamed, so a damaged base is
    /// reported with every snapshot that depends on it).
    fn known_problem(&mut self, id: &Id) -> Option<String> {
        let mut at = *id;
        for _ in 0..=crate::pack::reader::READ_DELTA_DEPTH {
            if self.index.get(&at).is_none() {
                self.unindexed.insert(at);
                return Some(UNINDEXED.to_string());
            }
            if let Some(object) = self.bad.get(&at) {
                return Some(object.clone());
            }
            match self.index.base_of(&at) {
                Some(base) => at = base,
                None => return None,
            }
        }
        Some(format!("delta chain of blob {id}"))
    }

    /// Walks stream `s`'s tree; returns its damaged byte ranges. Subtrees found sound before
    /// are skipped, and those found sound now are remembered.
    fn stream(&mut self, s: &StreamRef, problems: &mut Problems) -> Vec<Hole> {
        let mut holes = Vec::new();
        // The list blobs entered and not yet left, with the number of holes when entered.
        let mut open: Vec<(Id, usize)> = Vec::new();
        let mut walk = Walk::of(self.repo, self.index, Id(s.root)).announce();
        while let Some(n) = walk.next() {
            match n {
                Ok(Node::Enter { id, offset, size }) => {
                    if self.clean.contains(&id) {
                        walk.skip_subtree();
                        continue;
                    }
                    if let Some(object) = self.known_problem(&id) {
                        holes.push(Hole {
                            start: offset,
                            end: offset + size.unwrap_or(s.size),
                            object,
                        });
                        walk.skip_subtree();
                        continue;
                    }
                    self.lists_read += 1;
                    open.push((id, holes.len()));
                }
                Ok(Node::Leave { id }) => {
                    if let Some((_, before)) = open.pop() {
                        if holes.len() == before {
                            self.clean.insert(id);
                        }
                    }
                }
                Ok(Node::List { .. }) => {}
                Ok(Node::Chunk(c)) => {
                    if let Some(object) = self.known_problem(&c.id) {
                        holes.push(Hole {
                            start: c.offset,
                            end: c.offset + c.size,
                            object,
                        });
                    }
                }
                Err(e) => {
                    open.pop();
                    let id = e.list;
                    let object = match e.stage {
                        Stage::Decode => {
                            let object = format!("list blob {id}");
                            problems.add(&object, detail_of(&e.error));
                            object
                        }
                        Stage::Read => {
                            let object = match self.index.get(&id) {
                                Some((pack, _)) => pack_object(&pack),
                                None => UNINDEXED.to_string(),
                            };
                            problems.add(
                                &object,
                                format!("list blob {}: {}", id.short(), detail_of(&e.error)),
                            );
                            object
                        }
                    };
                    holes.push(Hole {
                        start: e.offset,
                        end: e.offset + e.size.unwrap_or(s.size),
                        object,
                    });
                }
            }
        }
        holes
    }
}

/// Tables of stream `s` whose sections overlap any of `holes`, in stream order.
fn tables_in(s: &StreamRef, holes: &[&Hole]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sec in &s.sections {
        let Some(t) = &sec.table else { continue };
        if holes.iter().any(|h| h.start < sec.end && sec.start < h.end) && !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}
