//! The plaintexts of recently read delta bases, kept per repository value and shared by
//! every clone, so that a base shared by several deltas is read once. Only a cache: filled and
//! read by [`crate::pack::reader`], which decides what a base is.

use crate::id::Id;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Plaintext bytes kept by [`BaseCache`]: the bottoms of a restore batch's chains (4 MiB of
/// chunks) fit, and a snapshot's recent bases.
const BASE_CACHE_BYTES: usize = 16 << 20;

/// Sealed bytes of chain links read ahead kept by [`BaseCache`] until used: a restore batch's
/// chains (4 MiB of chunks, each with its bottom and up to
/// [`crate::format::pack::MAX_DELTA_DEPTH`] small links) fit many times; the bound only
/// matters for links read ahead and never used.
const SEALED_BYTES: usize = 32 << 20;

/// A cached plaintext and whether it was checked against its id.
type Entry = (Arc<Vec<u8>>, bool);

/// Values by id, the ids in insertion order (for eviction), and their total size in bytes.
struct Fifo<V> {
    map: HashMap<Id, V>,
    order: VecDeque<Id>,
    bytes: usize,
}

impl<V> Default for Fifo<V> {
    fn default() -> Self {
        Fifo {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<V> Fifo<V> {
    /// Adds `v` (of `len` bytes, as `len_of` measures) under a new `id`, evicting the oldest
    /// entries beyond `limit` bytes (the newest is always kept).
    fn add(&mut self, id: Id, v: V, len_of: fn(&V) -> usize, limit: usize) {
        let len = len_of(&v);
        match self.map.insert(id, v) {
            Some(old) => self.bytes -= len_of(&old),
            None => self.order.push_back(id),
        }
        self.bytes += len;
        while self.bytes > limit && self.order.len() > 1 {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= len_of(&v);
            }
        }
    }
}

/// The plaintexts of recently read delta bases (at most 16 MiB, oldest evicted first), and the
/// sealed bytes of chain links read ahead (at most 32 MiB).
#[derive(Default)]
pub struct BaseCache {
    inner: Mutex<Fifo<Entry>>,
    sealed: Mutex<Fifo<Arc<Vec<u8>>>>,
    read: AtomicU64,
}

impl BaseCache {
    /// Sealed bytes read from packs to fetch bases so far (for restore figures).
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The cached plaintext of blob `id`, if any, and whether it was checked against `id`
    /// (a link decoded only on the way to the blob above it is not).
    pub(crate) fn get(&self, id: &Id) -> Option<Entry> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.map.get(id).cloned()
    }

    /// Whether blob `id` is cached, checked or not.
    pub(crate) fn contains(&self, id: &Id) -> bool {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.map.contains_key(id)
    }

    /// Caches the plaintext of blob `id` (`checked`: against its id), evicting the oldest
    /// entries beyond 16 MiB. A checked entry is never replaced by an unchecked one.
    pub(crate) fn put(&self, id: Id, plain: Arc<Vec<u8>>, checked: bool) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let len = plain.len();
        if let Some(e) = g.map.get_mut(&id) {
            if checked && !e.1 {
                let old = std::mem::replace(e, (plain, true));
                g.bytes = g.bytes + len - old.0.len();
            }
            return;
        }
        g.add(id, (plain, checked), |e| e.0.len(), BASE_CACHE_BYTES);
    }

    /// Keeps the sealed bytes of chain link `id`, read ahead of its decoding (evicting the
    /// oldest beyond 32 MiB).
    pub(crate) fn put_sealed(&self, id: Id, sealed: Arc<Vec<u8>>) {
        let mut g = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
        if !g.map.contains_key(&id) {
            g.add(id, sealed, |s| s.len(), SEALED_BYTES);
        }
    }

    /// Whether the sealed bytes of chain link `id` are kept, read ahead.
    pub(crate) fn has_sealed(&self, id: &Id) -> bool {
        let g = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
        g.map.contains_key(id)
    }

    /// Takes the sealed bytes of chain link `id` read ahead, if kept: each is used once (a
    /// link decoded is composed into the blob above it, or cached whole), so what a restore
    /// reads ahead does not stay in memory after use.
    pub(crate) fn take_sealed(&self, id: &Id) -> Option<Arc<Vec<u8>>> {
        let mut g = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
        let s = g.map.remove(id)?;
        g.bytes -= s.len();
        if let Some(i) = g.order.iter().position(|o| o == id) {
            g.order.remove(i);
        }
        Some(s)
    }

    /// Counts `bytes` sealed bytes read from packs to fetch bases.
    pub(crate) fn add_read(&self, bytes: u64) {
        self.read.fetch_add(bytes, Ordering::Relaxed);
    }
}
