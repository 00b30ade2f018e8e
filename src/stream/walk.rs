//! The one walk over a stream's chunk-list tree (repo-format.md §9): depth first from the
//! root, in stream order, yielding each list blob before its entries and each data chunk with
//! its byte offset. Prune, check's callers, copy, diff, restore and delta choice use it.
//!
//! Owns: reading list blobs (through the index and [`crate::pack::reader::open_blob`], via the
//! local cache of a remote repository: [`read_list`]), decoding them, stream offsets, skipping
//! subtrees outside byte ranges, and visiting each list blob once across several streams. Must
//! not read data chunks: callers do.

use super::decode_list;
use crate::error::Error;
use crate::id::Id;
use crate::index::Index;
use crate::pack::reader::{open_blob, read_blob};
use crate::repository::{FileKind, Repository};
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// A data chunk of a stream, as its level-0 list blob records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The chunk's blob id.
    pub id: Id,
    /// Offset of its first byte in the stream, bytes.
    pub offset: u64,
    /// Its plain length, bytes.
    pub size: u64,
    /// Whether it is the last chunk this walk yields from its list blob (the next item, if
    /// any, is a list blob): callers batching per list flush here.
    pub last: bool,
}

/// One item of a [`Walk`], in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A list blob, yielded after it was read and before its entries.
    List {
        /// The list blob's id.
        id: Id,
        /// Its level: 0 holds data chunks, n > 0 list blobs of level n - 1.
        level: u8,
        /// Stream offset of the first byte its subtree covers, bytes.
        offset: u64,
    },
    /// A data chunk.
    Chunk(Chunk),
    /// With [`Walk::announce`]: a list blob about to be read; [`Walk::skip_subtree`] now skips it and
    /// its subtree.
    Enter {
        /// The list blob's id.
        id: Id,
        /// Stream offset of the first byte its subtree covers, bytes.
        offset: u64,
        /// Bytes its subtree covers as its parent records it; `None` for a root.
        size: Option<u64>,
    },
    /// With [`Walk::announce`]: the end of a list blob's subtree, after its last entry (not
    /// yielded for a list blob that failed to read).
    Leave {
        /// The list blob's id.
        id: Id,
    },
}

/// Where reading a list blob failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fetching or opening it (the error names the pack, or the index for an unindexed one).
    Read,
    /// Decoding its plaintext (the error names the list blob).
    Decode,
}

/// A list blob that could not be read or decoded. The walk goes on with the next subtree,
/// its offsets unchanged.
#[derive(Debug)]
pub struct WalkError {
    /// The list blob.
    pub list: Id,
    /// Stream offset of the first byte its subtree covers, bytes.
    pub offset: u64,
    /// Bytes its subtree covers as its parent records it; `None` for a root.
    pub size: Option<u64>,
    /// Whether reading or decoding failed.
    pub stage: Stage,
    /// Why: the reader's error (naming the pack) or the decoder's (naming the list blob).
    pub error: Error,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "list blob {}: {}", self.list.short(), self.error)
    }
}

impl std::error::Error for WalkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<WalkError> for Error {
    /// The underlying error, unchanged (it already names the pack or the list blob).
    fn from(e: WalkError) -> Error {
        e.error
    }
}

enum Pending {
    /// A list blob and the bytes its subtree covers (`None` for a root).
    List {
        id: Id,
        size: Option<u64>,
    },
    /// A list blob announced with [`Node::Enter`], to be read next.
    Read {
        id: Id,
        size: Option<u64>,
    },
    Leave {
        id: Id,
    },
    Chunk(Chunk),
}

/// An iterator over chunk-list trees: add a stream's root with [`Walk::push_root`], then
/// iterate; add the next root when it is drained. Use `while let Some(n) = walk.next()` to
/// reach [`Walk::seen_mut`] between items.
pub struct Walk<'a> {
    repo: &'a Repository,
    index: &'a Index,
    ranges: Option<&'a [Range<u64>]>,
    seen: Option<HashSet<Id>>,
    stack: Vec<Pending>,
    announce: bool,
    /// Stream offset reached: the end of the last level-0 list read or subtree skipped.
    pos: u64,
}

fn overlaps(ranges: &[Range<u64>], start: u64, end: u64) -> bool {
    ranges.iter().any(|r| r.start < end && start < r.end)
}

impl<'a> Walk<'a> {
    /// A walk with no root yet, reading list blobs from `repo` through `index`.
    pub fn new(repo: &'a Repository, index: &'a Index) -> Self {
        Walk {
            repo,
            index,
            ranges: None,
            seen: None,
            stack: Vec::new(),
            announce: false,
            pos: 0,
        }
    }

    /// A walk of the tree under `root` (a stream starting at offset 0).
    pub fn of(repo: &'a Repository, index: &'a Index, root: Id) -> Self {
        let mut w = Self::new(repo, index);
        w.push_root(root);
        w
    }

    /// Visits each list blob once over all roots of this walk: a list blob already in the
    /// seen set (see [`Walk::seen_mut`]) is neither read nor yielded, nor is its subtree.
    pub fn once(mut self) -> Self {
        self.seen.get_or_insert_with(HashSet::new);
        self
    }

    /// Yields only data chunks overlapping `ranges` (stream byte offsets, sorted), and skips
    /// list blobs below the root whose subtree lies outside them without reading them.
    pub fn ranges(mut self, ranges: &'a [Range<u64>]) -> Self {
        self.ranges = Some(ranges);
        self
    }

    /// Yields [`Node::Enter`] before reading each list blob and [`Node::Leave`] after its
    /// subtree (for callers that decide per list blob, or work bottom-up).
    pub fn announce(mut self) -> Self {
        self.announce = true;
        self
    }

    /// After a [`Node::Enter`]: skips that list blob and its subtree without reading it. Does
    /// nothing at other times.
    pub fn skip_subtree(&mut self) {
        if let Some(Pending::Read { size, .. }) = self.stack.last() {
            self.pos += size.unwrap_or(0);
            self.stack.pop();
        }
    }

    /// Adds the root list blob of a stream; offsets start again at 0, so add it when the walk
    /// is drained.
    pub fn push_root(&mut self, root: Id) {
        self.pos = 0;
        self.stack.push(Pending::List {
            id: root,
            size: None,
        });
    }

    /// The stream offset reached, bytes: after a drained walk without ranges, the stream's
    /// length as its level-0 lists record it.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// The set of list blobs visited so far (with [`Walk::once`]; empty otherwise). Callers
    /// may add ids of their own: a list blob in it is not visited.
    pub fn seen_mut(&mut self) -> &mut HashSet<Id> {
        self.seen.get_or_insert_with(HashSet::new)
    }

    /// The seen set, consuming the walk.
    pub fn into_seen(self) -> HashSet<Id> {
        self.seen.unwrap_or_default()
    }

    fn wanted(&self, start: u64, size: u64) -> bool {
        self.ranges.is_none_or(|r| overlaps(r, start, start + size))
    }
}

impl Iterator for Walk<'_> {
    type Item = Result<Node, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let offset = self.pos;
            let (id, size) = match self.stack.pop()? {
                Pending::Chunk(c) => return Some(Ok(Node::Chunk(c))),
                Pending::Leave { id } => return Some(Ok(Node::Leave { id })),
                Pending::Read { id, size } => (id, size),
                Pending::List { id, size } => {
                    if let Some(size) = size {
                        if !self.wanted(offset, size) {
                            self.pos += size;
                            continue;
                        }
                    }
                    if let Some(seen) = self.seen.as_mut() {
                        if !seen.insert(id) {
                            self.pos += size.unwrap_or(0);
                            continue; // shared subtree, already walked
                        }
                    }
                    if self.announce {
                        self.stack.push(Pending::Read { id, size });
                        return Some(Ok(Node::Enter { id, offset, size }));
                    }
                    (id, size)
                }
            };
            let list = match read_list(self.repo, self.index, &id)
                .map_err(|e| (Stage::Read, e))
                .and_then(|plain| decode_list(&id, &plain).map_err(|e| (Stage::Decode, e)))
            {
                Ok(l) => l,
                Err((stage, error)) => {
                    // Later offsets stay right when the caller goes on.
                    self.pos += size.unwrap_or(0);
                    return Some(Err(WalkError {
                        list: id,
                        offset,
                        size,
                        stage,
                        error,
                    }));
                }
            };
            if self.announce {
                self.stack.push(Pending::Leave { id });
            }
            // Depth first in stream order: push the entries reversed. A subtree's offset is
            // where the walk has reached when it gets there (as the reader of §9 counts).
            if list.level > 0 {
                for e in list.entries.iter().rev() {
                    self.stack.push(Pending::List {
                        id: Id(e.id),
                        size: Some(e.size),
                    });
                }
            } else {
                let mut chunks = Vec::with_capacity(list.entries.len());
                for e in &list.entries {
                    if self.wanted(self.pos, e.size) {
                        chunks.push((Id(e.id), self.pos, e.size));
                    }
                    self.pos += e.size;
                }
                let mut last = true;
                for (cid, at, size) in chunks.into_iter().rev() {
                    self.stack.push(Pending::Chunk(Chunk {
                        id: cid,
                        offset: at,
                        size,
                        last: std::mem::take(&mut last),
                    }));
                }
            }
            return Some(Ok(Node::List {
                id,
                level: list.level,
                offset,
            }));
        }
    }
}

/// Reads list blob `id` as [`read_blob`] does, through the local cache of a remote repository
/// (`backend::cache`; no cache is attached to local ones, nor for `check`, `repair`, `verify`).
/// A cached copy is opened exactly like bytes read from the blob's pack (decrypted, keyed id
/// checked); one that does not open is deleted and the pack read instead. What is read from a
/// pack is cached once it opened. Only a blob the index knows is looked up in the cache, so an
/// unindexed one is the same error as without a cache.
///
/// Errors: as [`read_blob`].
fn read_list(repo: &Repository, index: &Index, id: &Id) -> Result<Vec<u8>, Error> {
    let Some((pack, loc)) = index.get(id) else {
        return read_blob(repo, index, id);
    };
    let backend = repo.backend();
    if let Some(sealed) = backend.cached_list_blob(id) {
        match open_blob(repo, index, &pack, id, &loc, &sealed) {
            Ok(plain) => return Ok(plain),
            Err(_) => backend.uncache_list_blob(id),
        }
    }
    let path = FileKind::Pack.path(&pack);
    let sealed = backend.read_range(&path, loc.offset as u64, loc.length as u64)?;
    let plain = open_blob(repo, index, &pack, id, &loc, &sealed)?;
    backend.cache_list_blob(id, &sealed);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::commands::snapshot::{self, SnapshotOptions};
    use crate::crypto::kdf::KdfParams;
    use crate::format::config::ChunkerParams;
    use crate::format::snapshot::StreamRef;
    use crate::index::SharedIndex;
    use crate::progress::NoProgress;
    use crate::repository::InitOptions;
    use crate::source::stdin::ReaderSource;
    use crate::source::DumpSource;

    /// A repository with tiny chunks (so a few hundred KiB make a tree of several levels) and
    /// one snapshot of `bytes`.
    fn stored(name: &str, bytes: &[u8]) -> (Repository, StreamRef) {
        let backend = Backend::open(&format!("memory://walk-{name}")).unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            chunker: ChunkerParams {
                min_size: 64,
                avg_size: 256,
                max_size: 1024,
                normalization: 1,
            },
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        let src: Box<dyn DumpSource> =
            Box::new(ReaderSource::new(std::io::Cursor::new(bytes.to_vec())));
        let index = SharedIndex::start(&repo, "snapshot").unwrap();
        let o = snapshot::run(
            &repo,
            &index,
            vec![("d".into(), src)],
            &SnapshotOptions::default(),
            &NoProgress,
        )
        .unwrap();
        drop(index);
        (repo, o.manifest.streams[0].clone())
    }

    /// The same bytes as before the shared fixture: seed 1 starts the xorshift at the
    /// golden-ratio constant this module used.
    fn data(len: usize) -> Vec<u8> {
        crate::repository::fixture::noise(1, len)
    }

    #[test]
    fn walk_yields_every_chunk_in_stream_order_lists_first() {
        let bytes = data(300_000);
        let (repo, s) = stored("order", &bytes);
        let index = Index::load(&repo).unwrap();
        let mut out = Vec::new();
        let mut levels = HashSet::new();
        let mut after_list = true;
        for n in Walk::of(&repo, &index, Id(s.root)) {
            match n.unwrap() {
                Node::List { level, offset, .. } => {
                    assert_eq!(offset, out.len() as u64);
                    levels.insert(level);
                    after_list = true;
                }
                Node::Chunk(c) => {
                    assert!(after_list, "a chunk after its list's last chunk");
                    assert_eq!(c.offset, out.len() as u64);
                    let plain = read_blob(&repo, &index, &c.id).unwrap();
                    assert_eq!(plain.len() as u64, c.size);
                    out.extend_from_slice(&plain);
                    after_list = !c.last;
                }
                n => panic!("announced without `announce`: {n:?}"),
            }
        }
        assert_eq!(out, bytes);
        assert!(levels.len() >= 2, "tree of one level: {levels:?}");
    }

    #[test]
    fn walk_once_skips_list_blobs_already_seen() {
        let (repo, s) = stored("once", &data(100_000));
        let index = Index::load(&repo).unwrap();
        let mut walk = Walk::new(&repo, &index).once();
        walk.push_root(Id(s.root));
        let first = walk.by_ref().count();
        assert!(first > 1);
        walk.push_root(Id(s.root));
        assert_eq!(walk.by_ref().count(), 0, "the same tree walked twice");
        assert!(walk.into_seen().contains(&Id(s.root)));
    }

    #[test]
    fn walk_with_ranges_skips_subtrees_outside_them() {
        let bytes = data(300_000);
        let (repo, s) = stored("ranges", &bytes);
        let index = Index::load(&repo).unwrap();
        let all_lists = Walk::of(&repo, &index, Id(s.root))
            .filter(|n| matches!(n, Ok(Node::List { .. })))
            .count();
        let range = 100_000..100_010;
        let wanted = std::slice::from_ref(&range);
        let mut lists = 0;
        let mut chunks = Vec::new();
        for n in Walk::of(&repo, &index, Id(s.root)).ranges(wanted) {
            match n.unwrap() {
                Node::List { .. } => lists += 1,
                Node::Chunk(c) => chunks.push(c),
                n => panic!("announced without `announce`: {n:?}"),
            }
        }
        assert!(lists < all_lists, "{lists} of {all_lists} lists read");
        assert!(!chunks.is_empty() && chunks.len() <= 2, "{chunks:?}");
        assert!(chunks[0].offset <= 100_000);
        let end = chunks.last().map(|c| c.offset + c.size).unwrap();
        assert!(end >= 100_010);
        assert!(chunks.last().unwrap().last);
    }

    #[test]
    fn walk_error_names_the_list_blob_and_keeps_the_cause() {
        let (repo, _) = stored("error", &data(1000));
        let index = Index::load(&repo).unwrap();
        let missing = Id([7; 32]);
        let mut walk = Walk::of(&repo, &index, missing);
        let e = walk.next().unwrap().unwrap_err();
        assert_eq!(e.list, missing);
        assert!(e
            .to_string()
            .starts_with(&format!("list blob {}", missing.short())));
        assert!(walk.next().is_none());
    }

    #[test]
    fn walk_announced_enters_and_leaves_each_list_and_skips_on_request() {
        let (repo, s) = stored("announce", &data(300_000));
        let index = Index::load(&repo).unwrap();
        let mut walk = Walk::of(&repo, &index, Id(s.root)).announce();
        let (mut enters, mut leaves, mut lists) = (0, 0, 0);
        let mut skipped = None;
        let mut chunks = Vec::new();
        while let Some(n) = walk.next() {
            match n.unwrap() {
                Node::Enter {
                    size: Some(size),
                    offset,
                    ..
                } if skipped.is_none() => {
                    assert_eq!(offset, 0);
                    skipped = Some(size);
                    walk.skip_subtree();
                }
                Node::Enter { .. } => enters += 1,
                Node::Leave { .. } => leaves += 1,
                Node::List { .. } => lists += 1,
                Node::Chunk(c) => chunks.push(c),
            }
        }
        let skipped = skipped.expect("a tree of one level");
        assert_eq!((enters, leaves), (lists, lists));
        assert_eq!(
            chunks[0].offset, skipped,
            "the skipped subtree still counts its bytes"
        );
        assert_eq!(walk.offset(), s.size);
        let all = Walk::of(&repo, &index, Id(s.root))
            .filter(|n| matches!(n, Ok(Node::Chunk(_))))
            .count();
        assert!(chunks.len() < all);
    }
}
