//! The blob table: blob id prefix to location (and a delta blob's base), as sorted arrays
//! searched by binary search, plus a small hashed overlay for blobs added since the last merge.
//!
//! Per blob: a 16-byte key (the id's first 16 bytes) in one array and a 12-byte
//! [`Record`] in a parallel one, 28 bytes, and a directory of runs of keys (by their top bits)
//! of 1/8 to 1/4 byte, so that a lookup searches 16 to 32 neighbouring keys (256 to 512 bytes),
//! not the whole array. A delta blob, or a location whose numbers do not fit a record, has an
//! [`Extra`] entry of 28 bytes more in a side table (see [`super::packed`]); whole blobs do not
//! pay for it. A base is referred to by the position of its record, so a delta chain is
//! followed without a search per step; positions are renumbered when the overlay is merged.
//!
//! The overlay is merged into the arrays once it holds more than an eighth of their keys (and
//! at least [`MIN_RECENT`]), so loading `n` keys moves each record about 8 times in all and the
//! overlay adds a few bytes per key while loading; [`Table::compact`] merges it and frees the
//! slack. A key is in the overlay or in the arrays, never both.

use super::limit::{IndexFull, Limits};
use super::packed::{self, BaseRef, Extra, Record, Slot, ABSENT, NO_BASE};
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

/// The id whose first 16 bytes are key `k` and last 16 bytes `suffix`.
fn join(k: Key, suffix: &[u8; 16]) -> Id {
    let mut id = [0u8; 32];
    id[..16].copy_from_slice(&k.to_be_bytes());
    id[16..].copy_from_slice(suffix);
    Id(id)
}

/// The last 16 bytes of an id.
fn suffix(id: &[u8; 32]) -> [u8; 16] {
    let mut s = [0u8; 16];
    s.copy_from_slice(&id[16..]);
    s
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

type Overlay<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

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

/// The overlay is merged into the sorted arrays past this many keys, or an eighth of them.
pub const MIN_RECENT: usize = 1024;

/// Where a key's entry is: at a position of the sorted arrays, or in the overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Position in the sorted arrays.
    Sorted(usize),
    /// In the overlay, under this key.
    Recent(Key),
}

/// Heap bytes of a [`Table`], from the capacities of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableBytes {
    /// Keys, records, directory and the overlay of locations.
    pub blobs: usize,
    /// Side-table entries, absent base keys and the overlay of bases.
    pub extras: usize,
}

/// A map from [`Key`] to a blob's [`Slot`] and, for a delta blob, its base's whole id.
pub struct Table {
    /// Sorted, unique.
    keys: Vec<Key>,
    /// The location of `keys[i]`, in the layout of [`packed`].
    records: Vec<Record>,
    /// Side-table entries, in the order they were made; records point to them by position.
    extras: Vec<Extra>,
    /// Side-table entries no record points to any more (freed by [`Table::compact`]).
    orphans: usize,
    /// Keys of bases not in `keys`, referred to by [`ABSENT`] base references; looked up when
    /// followed, and resolved to positions again at each merge.
    absent: Vec<Key>,
    /// Where each run of keys with the same top bits starts in `keys`, and its end last (empty
    /// when `keys` is small): 1/8 to 1/4 byte per key.
    runs: Vec<u32>,
    /// `128 -` the number of top bits that pick a run.
    shift: u32,
    /// Locations of keys added since the last merge.
    recent: Overlay<Slot>,
    /// Whole base ids of the delta blobs in `recent` that have one.
    recent_bases: Overlay<[u8; 32]>,
    /// Number of slots in `recent` that will take a side-table entry when merged.
    recent_extras: usize,
    /// How many keys and side-table entries the table may hold.
    limits: Limits,
    /// Number of keys with a base.
    with_base: usize,
    /// Merge threshold (tests lower it to exercise merges).
    min_recent: usize,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            keys: Vec::new(),
            records: Vec::new(),
            extras: Vec::new(),
            orphans: 0,
            absent: Vec::new(),
            runs: Vec::new(),
            shift: 128,
            recent: Overlay::default(),
            recent_bases: Overlay::default(),
            recent_extras: 0,
            limits: Limits::current(),
            with_base: 0,
            min_recent: MIN_RECENT,
        }
    }
}

impl Table {
    /// An empty table that merges its overlay past `min_recent` keys (tests).
    #[cfg(test)]
    pub fn with_min_recent(min_recent: usize) -> Self {
        Table {
            min_recent,
            ..Table::default()
        }
    }

    /// Position of `k` in the sorted arrays.
    fn search(&self, k: Key) -> Option<usize> {
        let (lo, hi) = match self.runs.is_empty() {
            true => (0, self.keys.len()),
            false => {
                let t = (k >> self.shift) as usize;
                (self.runs[t] as usize, self.runs[t + 1] as usize)
            }
        };
        self.keys[lo..hi].binary_search(&k).ok().map(|i| lo + i)
    }

    /// Where the entry of `k` is.
    pub fn find(&self, k: Key) -> Option<At> {
        if !self.recent.is_empty() && self.recent.contains_key(&k) {
            return Some(At::Recent(k));
        }
        self.search(k).map(At::Sorted)
    }

    /// The location at `at` (as [`Table::find`] returned it).
    pub fn slot(&self, at: At) -> Slot {
        match at {
            At::Sorted(i) => packed::slot_of(&self.records[i], &self.extras),
            At::Recent(k) => self.recent[&k],
        }
    }

    /// The base of the delta blob at `at`, if it has one: the base's whole id, and where the
    /// base's own entry is (`None` when it is in no entry).
    pub fn base(&self, at: At) -> Option<(Id, Option<At>)> {
        match at {
            At::Sorted(i) => {
                let e = &self.extras[packed::extra_of(&self.records[i])?];
                match e.base {
                    NO_BASE => None,
                    b if b & ABSENT != 0 => {
                        let k = self.absent[(b & !ABSENT) as usize];
                        Some((join(k, &e.base_suffix), self.find(k)))
                    }
                    b => Some((
                        join(self.keys[b as usize], &e.base_suffix),
                        Some(At::Sorted(b as usize)),
                    )),
                }
            }
            At::Recent(k) => {
                let base = self.recent_bases.get(&k)?;
                Some((Id(*base), self.find(key(&Id(*base)))))
            }
        }
    }

    /// Reserves the sorted arrays for `n` keys in all (at most the table's limit), so that
    /// merges fill them in place instead of growing them step by step: growing copies them
    /// into ever larger blocks and leaves the old ones to the allocator, which keeps them
    /// resident (at 10⁶ blobs the peak RSS of a load was 12 to 14 MiB higher, see
    /// `cargo xtask bench-index`). Pages never written are not resident, so an estimate too
    /// high costs address space only, and [`Table::compact`] gives the rest back.
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.limits.blobs);
        self.keys.reserve_exact(n.saturating_sub(self.keys.len()));
        self.records
            .reserve_exact(n.saturating_sub(self.records.len()));
    }

    /// Capacity of the sorted arrays, keys (tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.keys.capacity().min(self.records.capacity())
    }

    /// The limits the table was made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether one more side-table entry fits (counting those the overlay will take).
    fn extra_room(&self) -> Result<(), IndexFull> {
        match self.extras.len() + self.recent_extras < self.limits.extras {
            true => Ok(()),
            false => Err(IndexFull::SideEntries(self.limits.extras)),
        }
    }

    /// Sets the entry of `k`, found at `at` (`None`: a new key), to `slot`, with base `base`
    /// (kept only for a delta blob).
    ///
    /// Errors: [`IndexFull`] when a new key, or a side-table entry `slot` needs, would pass the
    /// table's [`Limits`]; the table is unchanged then.
    pub fn put(
        &mut self,
        at: Option<At>,
        k: Key,
        slot: Slot,
        base: Option<[u8; 32]>,
    ) -> Result<(), IndexFull> {
        let base = base.filter(|_| slot.kind() == crate::format::pack::BlobKind::Delta);
        let extra = packed::needs_extra(&slot);
        match at {
            None => {
                if self.len() >= self.limits.blobs {
                    return Err(IndexFull::Blobs(self.limits.blobs));
                }
                if extra {
                    self.extra_room()?;
                }
                self.with_base += usize::from(base.is_some());
                self.recent_extras += usize::from(extra);
                self.recent.insert(k, slot);
                if let Some(b) = base {
                    self.recent_bases.insert(k, b);
                }
                if self.recent.len() > self.min_recent.max(self.keys.len() / 8) {
                    self.merge();
                }
            }
            Some(At::Recent(k)) => {
                let had = packed::needs_extra(&self.recent[&k]);
                if extra && !had {
                    self.extra_room()?;
                }
                self.recent_extras = self.recent_extras + usize::from(extra) - usize::from(had);
                self.with_base += usize::from(base.is_some());
                self.recent.insert(k, slot);
                let old = match base {
                    Some(b) => self.recent_bases.insert(k, b),
                    None => self.recent_bases.remove(&k),
                };
                self.with_base -= usize::from(old.is_some());
            }
            Some(At::Sorted(i)) => {
                if extra && packed::extra_of(&self.records[i]).is_none() {
                    self.extra_room()?;
                }
                self.with_base += usize::from(base.is_some());
                self.put_sorted(i, slot, base);
            }
        }
        Ok(())
    }

    /// [`Table::put`] for the key at position `i` of the sorted arrays: in place, reusing its
    /// side-table entry if it has one.
    fn put_sorted(&mut self, i: usize, slot: Slot, base: Option<[u8; 32]>) {
        let old = packed::extra_of(&self.records[i]);
        if let Some(e) = old {
            self.with_base -= usize::from(self.extras[e].base != NO_BASE);
        }
        if !packed::needs_extra(&slot) {
            self.orphans += usize::from(old.is_some());
            self.records[i] = packed::compact_record(&slot);
            return;
        }
        let mut extra = Extra::new(&slot);
        if let Some(b) = base {
            if self.absent.len() >= self.limits.extras {
                // The list also keeps the keys of bases whose entries were overwritten since
                // the last merge; rebuilt, it holds at most one per side-table entry (2³⁰), so
                // it stays below 2³¹ entries (the width of a reference to it).
                self.resolve_absent();
            }
            extra.base = self.base_ref(key(&Id(b)));
            extra.base_suffix = suffix(&b);
        }
        let e = match old {
            Some(e) => {
                self.extras[e] = extra;
                e
            }
            None => self.push_extra(extra),
        };
        self.records[i] = packed::extra_record(&slot, e);
    }

    /// Appends a side-table entry; its position. [`Table::put`] checked there is room.
    fn push_extra(&mut self, extra: Extra) -> usize {
        debug_assert!(self.extras.len() < self.limits.extras.min(packed::MAX_EXTRAS));
        self.extras.push(extra);
        self.extras.len() - 1
    }

    /// The reference to base key `k`: its position in the sorted arrays, or else an entry in
    /// the list of absent base keys.
    fn base_ref(&mut self, k: Key) -> BaseRef {
        match self.search(k) {
            Some(i) => i as BaseRef,
            None => {
                self.absent.push(k);
                ABSENT | (self.absent.len() - 1) as BaseRef
            }
        }
    }

    /// Length of the list of absent base keys (tests).
    #[cfg(test)]
    pub fn absent_len(&self) -> usize {
        self.absent.len()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len() + self.recent.len()
    }

    /// Number of keys that have a base.
    pub fn with_base(&self) -> usize {
        self.with_base
    }

    /// Merges the overlay into the sorted arrays, drops side-table entries no record points
    /// to, and frees the spare capacity of every part.
    pub fn compact(&mut self) {
        self.merge();
        self.recent = Overlay::default();
        self.recent_bases = Overlay::default();
        if self.orphans > 0 {
            let old = std::mem::take(&mut self.extras);
            for r in &mut self.records {
                if let Some(e) = packed::extra_of(r) {
                    self.extras.push(old[e]);
                    packed::set_extra(r, self.extras.len() - 1);
                }
            }
            self.orphans = 0;
        }
        // Frees the keys of absent bases whose side entries were overwritten or dropped.
        self.resolve_absent();
        self.keys.shrink_to_fit();
        self.records.shrink_to_fit();
        self.extras.shrink_to_fit();
        self.absent.shrink_to_fit();
    }

    /// Heap bytes held, from the capacities (the overlays' by [`hash_map_bytes`]).
    pub fn heap_bytes(&self) -> TableBytes {
        use std::mem::size_of;
        TableBytes {
            blobs: self.keys.capacity() * size_of::<Key>()
                + self.records.capacity() * size_of::<Record>()
                + self.runs.capacity() * size_of::<u32>()
                + hash_map_bytes(self.recent.capacity(), size_of::<(Key, Slot)>()),
            extras: self.extras.capacity() * size_of::<Extra>()
                + self.absent.capacity() * size_of::<Key>()
                + hash_map_bytes(self.recent_bases.capacity(), size_of::<(Key, [u8; 32])>()),
        }
    }

    /// Moves the overlay into the sorted arrays: renumbers the base references to records that
    /// move, merges the new keys in from the back in place (the arrays grow by exactly the
    /// number of new keys), then resolves the bases of the new delta blobs and the absent
    /// bases again. The overlay keeps its capacity for the next keys.
    fn merge(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let mut adds: Vec<(Key, Slot)> = self.recent.drain().collect();
        self.recent_extras = 0;
        adds.sort_unstable_by_key(|e| e.0);
        // [`Table::put`] checked the limits.
        debug_assert!(self.keys.len() + adds.len() < ABSENT as usize);
        // A record at position q moves up by the number of new keys below its key: one walk of
        // the two sorted lists counts them for every position (4 bytes per key while merging),
        // where a binary search in `adds` per delta blob was most of an index load's time (a
        // restore's start, issue 16: 33 ms of merging for 67 000 entries, mostly deltas).
        let mut shift: Vec<BaseRef> = Vec::with_capacity(self.keys.len());
        let mut below = 0;
        for &k in &self.keys {
            while below < adds.len() && adds[below].0 < k {
                below += 1;
            }
            shift.push(below as BaseRef);
        }
        for e in &mut self.extras {
            if e.base & ABSENT == 0 {
                e.base += shift[e.base as usize];
            }
        }
        drop(shift);
        let mut based: Vec<(usize, [u8; 32])> = Vec::new();
        let records: Vec<Record> = adds
            .iter()
            .map(|(k, slot)| self.new_record(*k, slot, &mut based))
            .collect();
        self.place(&adds, &records);
        self.index_runs();
        self.resolve_absent();
        for (e, b) in based {
            self.extras[e].base = self.base_ref(key(&Id(b)));
        }
    }

    /// Looks every absent base up again, and rebuilds the list of absent base keys.
    fn resolve_absent(&mut self) {
        let absent = std::mem::take(&mut self.absent);
        for e in 0..self.extras.len() {
            let b = self.extras[e].base;
            if b != NO_BASE && b & ABSENT != 0 {
                self.extras[e].base = self.base_ref(absent[(b & !ABSENT) as usize]);
            }
        }
    }

    /// The record of new key `k` at `slot`; for a delta blob with a base (in the overlay of
    /// bases), its side-table entry is pushed to `based` to be resolved once merged.
    fn new_record(&mut self, k: Key, slot: &Slot, based: &mut Vec<(usize, [u8; 32])>) -> Record {
        let base = self.recent_bases.remove(&k);
        if !packed::needs_extra(slot) {
            return packed::compact_record(slot);
        }
        let mut extra = Extra::new(slot);
        if let Some(b) = base {
            extra.base_suffix = suffix(&b);
        }
        let e = self.push_extra(extra);
        if let Some(b) = base {
            based.push((e, b));
        }
        packed::extra_record(slot, e)
    }

    /// Rebuilds `runs` for the current `keys`: `n / 32` to `n / 16` runs (a power of two).
    fn index_runs(&mut self) {
        let n = self.keys.len();
        self.runs = Vec::new();
        if n < 64 || u32::try_from(n).is_err() {
            return;
        }
        let bits = (n / 16).ilog2();
        self.shift = 128 - bits;
        self.runs = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for t in 0..1u128 << bits {
            while at < n && self.keys[at] >> self.shift < t {
                at += 1;
            }
            self.runs.push(at as u32);
        }
        self.runs.push(n as u32);
    }

    /// Merges the keys of the sorted `adds` (keys not in `keys`) into the sorted arrays from
    /// the back, in place; `records[j]` is the record of `adds[j]`.
    fn place(&mut self, adds: &[(Key, Slot)], records: &[Record]) {
        let (old, new) = (self.keys.len(), adds.len());
        self.keys.reserve_exact(new);
        self.records.reserve_exact(new);
        self.keys.resize(old + new, 0);
        self.records.resize(old + new, [0; 3]);
        let (mut i, mut j) = (old, new);
        while j > 0 {
            let w = i + j - 1;
            if i > 0 && self.keys[i - 1] > adds[j - 1].0 {
                self.keys[w] = self.keys[i - 1];
                self.records[w] = self.records[i - 1];
                i -= 1;
            } else {
                (self.keys[w], self.records[w]) = (adds[j - 1].0, records[j - 1]);
                j -= 1;
            }
        }
    }
}
