//! A compact map keyed by the first 16 bytes of a blob id: one sorted array of fixed-size
//! records (binary search), plus a small hashed overlay for keys added since the last merge.
//!
//! The sorted array costs exactly `size_of::<(Key, V)>()` bytes per key (32 bytes for a blob's
//! location, see [`super::Slot`]), and a directory of runs of keys (by their top bits) 1/8 to
//! 1/4 byte more, so that a lookup searches 16 to 32 neighbouring records, not the whole array. The overlay is merged into the array once it holds more than
//! an eighth of the array's keys (and at least [`MIN_RECENT`]), so loading `n` keys moves each
//! record about 8 times in all and the overlay adds at most a few bytes per key while loading;
//! [`Table::compact`] merges it and frees the slack.

use crate::id::Id;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A blob id's first 16 bytes, big-endian, so that keys sort like the ids.
pub type Key = u128;

/// The key of blob `id`.
pub fn key(id: &Id) -> Key {
    let mut k = [0u8; 16];
    k.copy_from_slice(&id.0[..16]);
    Key::from_be_bytes(k)
}

/// Hashes a [`Key`] by folding its halves and one multiplication: keys are keyed BLAKE3 output,
/// uniformly spread and out of an attacker's control, so SipHash would only cost time (the
/// multiplication spreads the structured ids of tests).
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, k: u128) {
        let folded = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
        self.0 ^= folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Overlay<V> = HashMap<Key, Option<V>, BuildHasherDefault<KeyHasher>>;

/// Heap bytes of a std `HashMap` of `capacity` (as it reports it) with entries of `entry` bytes,
/// as hashbrown lays it out: `capacity · 8/7` buckets (a power of two; `capacity + 1` below 8),
/// each an entry and a control byte, plus 16 control bytes.
pub fn hash_map_bytes(capacity: usize, entry: usize) -> usize {
    let buckets = match capacity {
        0 => return 0,
        1..=6 => capacity + 1,
        _ => capacity / 7 * 8,
    };
    buckets * (entry + 1) + 16
}

/// The overlay is merged into the sorted array past this many keys, or an eighth of the array.
pub const MIN_RECENT: usize = 1024;

/// A map from [`Key`] to `V`.
pub struct Table<V> {
    /// Sorted by key, keys unique.
    sorted: Vec<(Key, V)>,
    /// Where each run of keys with the same top bits starts in `sorted`, and its end last
    /// (empty when `sorted` is small): a lookup searches one run of 16 to 32 keys instead of
    /// the whole array, for 1/8 to 1/4 byte per key.
    runs: Vec<u32>,
    /// `128 -` the number of top bits that pick a run.
    shift: u32,
    /// Keys added since the last merge; `None` hides a key of `sorted` that was removed.
    recent: Overlay<V>,
    /// Number of keys present.
    len: usize,
    /// Merge threshold (tests lower it to exercise merges).
    min_recent: usize,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            sorted: Vec::new(),
            runs: Vec::new(),
            shift: 128,
            recent: Overlay::default(),
            len: 0,
            min_recent: MIN_RECENT,
        }
    }
}

impl<V: Copy> Table<V> {
    /// An empty table that merges its overlay past `min_recent` keys (tests).
    #[cfg(test)]
    pub fn with_min_recent(min_recent: usize) -> Self {
        Table {
            min_recent,
            ..Table::default()
        }
    }

    fn find(&self, k: Key) -> Option<usize> {
        let (lo, hi) = match self.runs.is_empty() {
            true => (0, self.sorted.len()),
            false => {
                let t = (k >> self.shift) as usize;
                (self.runs[t] as usize, self.runs[t + 1] as usize)
            }
        };
        let run = &self.sorted[lo..hi];
        run.binary_search_by_key(&k, |e| e.0).ok().map(|i| lo + i)
    }

    /// Rebuilds `runs` for the current `sorted`: `n / 32` to `n / 16` runs (a power of two).
    fn index_runs(&mut self) {
        let n = self.sorted.len();
        self.runs = Vec::new();
        if n < 64 || u32::try_from(n).is_err() {
            return;
        }
        let bits = (n / 16).ilog2();
        self.shift = 128 - bits;
        self.runs = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for t in 0..1u128 << bits {
            while at < n && self.sorted[at].0 >> self.shift < t {
                at += 1;
            }
            self.runs.push(at as u32);
        }
        self.runs.push(n as u32);
    }

    /// The value of `k`.
    pub fn get(&self, k: Key) -> Option<&V> {
        match self.recent.get(&k) {
            Some(v) => v.as_ref(),
            None => self.find(k).map(|i| &self.sorted[i].1),
        }
    }

    /// Sets the value of `k` (in place when `k` is already in the sorted array).
    pub fn insert(&mut self, k: Key, v: V) {
        self.update(k, |_| Some(v));
    }

    /// Looks `k` up once, and sets its value to what `decide` returns for the value found
    /// (nothing when it returns `None`).
    pub fn update(&mut self, k: Key, decide: impl FnOnce(Option<&V>) -> Option<V>) {
        if let Some(slot) = self.recent.get_mut(&k) {
            if let Some(v) = decide(slot.as_ref()) {
                self.len += usize::from(slot.is_none());
                *slot = Some(v);
            }
        } else if let Some(i) = self.find(k) {
            if let Some(v) = decide(Some(&self.sorted[i].1)) {
                self.sorted[i].1 = v;
            }
        } else if let Some(v) = decide(None) {
            self.recent.insert(k, Some(v));
            self.len += 1;
            if self.recent.len() > self.min_recent.max(self.sorted.len() / 8) {
                self.merge();
            }
        }
    }

    /// Removes `k` if present.
    pub fn remove(&mut self, k: Key) {
        if self.get(k).is_none() {
            return;
        }
        self.len -= 1;
        if self.find(k).is_some() {
            self.recent.insert(k, None);
        } else {
            self.recent.remove(&k);
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Merges the overlay into the sorted array and frees the spare capacity of both.
    pub fn compact(&mut self) {
        self.merge();
        self.recent = Overlay::default();
        self.sorted.shrink_to_fit();
    }

    /// Heap bytes held, from the capacities (the overlay's by [`hash_map_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.sorted.capacity() * std::mem::size_of::<(Key, V)>()
            + self.runs.capacity() * 4
            + hash_map_bytes(
                self.recent.capacity(),
                std::mem::size_of::<(Key, Option<V>)>(),
            )
    }

    /// Moves the overlay into the sorted array in one pass over both in key order: values of
    /// keys already there are set in place, removed keys are dropped, and the new keys are
    /// merged in from the back, in place (the array grows by exactly the number of new keys).
    /// The overlay keeps its capacity for the next keys.
    fn merge(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let mut recent: Vec<(Key, Option<V>)> = self.recent.drain().collect();
        recent.sort_unstable_by_key(|e| e.0);
        let mut adds: Vec<(Key, V)> = Vec::with_capacity(recent.len());
        let mut gone: Vec<usize> = Vec::new();
        let mut at = 0;
        for (k, v) in recent {
            while at < self.sorted.len() && self.sorted[at].0 < k {
                at += 1;
            }
            let known = at < self.sorted.len() && self.sorted[at].0 == k;
            match (known, v) {
                (true, Some(v)) => self.sorted[at].1 = v,
                (true, None) => gone.push(at),
                (false, Some(v)) => adds.push((k, v)),
                (false, None) => {}
            }
        }
        if !gone.is_empty() {
            // `gone` is in increasing order.
            let mut next = gone.iter().peekable();
            let mut at = 0;
            self.sorted.retain(|_| {
                let drop = next.next_if_eq(&&at).is_some();
                at += 1;
                !drop
            });
        }
        if let Some(&filler) = adds.first() {
            self.place(&adds, filler);
        }
        self.index_runs();
    }

    /// Merges the sorted `adds` (keys not in `sorted`) into `sorted` from the back, in place;
    /// `filler` is any record (it only holds the new slots until they are written).
    fn place(&mut self, adds: &[(Key, V)], filler: (Key, V)) {
        let (old, new) = (self.sorted.len(), adds.len());
        self.sorted.reserve_exact(new);
        self.sorted.resize(old + new, filler);
        let (mut i, mut j) = (old, new);
        while j > 0 {
            let w = i + j - 1;
            if i > 0 && self.sorted[i - 1].0 > adds[j - 1].0 {
                self.sorted[w] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[w] = adds[j - 1];
                j -= 1;
            }
        }
    }
}
