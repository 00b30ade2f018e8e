//! The plaintexts of recently read delta bases, kept per repository value and shared by
//! every clone, so that a base shared by several deltas is read once. Only a cache: filled and
//! read by [`crate::pack::reader`], which decides what a base is.

use crate::id::Id;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Plaintext bytes kept by [`BaseCache`]: the bases of a restore batch (4 MiB of chunks,
/// chains of up to 3) fit.
const BASE_CACHE_BYTES: usize = 16 << 20;

/// A cached plaintext and whether it was checked against its id.
type Entry = (Arc<Vec<u8>>, bool);

/// Cached plaintexts by id, the ids in insertion order (for eviction), and their total size.
#[derive(Default)]
struct Cached {
    map: HashMap<Id, Entry>,
    order: VecDeque<Id>,
    bytes: usize,
}

/// The plaintexts of recently read delta bases (at most 16 MiB, oldest evicted first).
#[derive(Default)]
pub struct BaseCache {
    inner: Mutex<Cached>,
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
        if g.map.insert(id, (plain, checked)).is_none() {
            g.order.push_back(id);
            g.bytes += len;
            while g.bytes > BASE_CACHE_BYTES && g.order.len() > 1 {
                let Some(old) = g.order.pop_front() else {
                    break;
                };
                if let Some((p, _)) = g.map.remove(&old) {
                    g.bytes -= p.len();
                }
            }
        }
    }

    /// Counts `bytes` sealed bytes read from packs to fetch bases.
    pub(crate) fn add_read(&self, bytes: u64) {
        self.read.fetch_add(bytes, Ordering::Relaxed);
    }
}
