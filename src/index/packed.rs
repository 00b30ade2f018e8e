//! How the blob table stores a blob's location: a 12-byte [`Record`] beside the 16-byte key,
//! and, for delta blobs and for the rare location whose numbers do not fit a record, an
//! [`Extra`] entry of 28 bytes in a side table.
//!
//! A record is 96 bits, the low two bits a code:
//! - codes 1 and 2 (a data or list blob whose numbers fit): the pack position in 24 bits
//!   (16 Mi packs, 256 TiB at the 16 MiB pack target), the offset in 28 bits (256 MiB), the
//!   sealed and the plaintext lengths in 21 bits each (2 MiB; chunks are at most 256 KiB by
//!   default);
//! - code 0 (a delta blob, or numbers that do not fit): the position of its [`Extra`] in 30
//!   bits, the offset and the sealed length in 32 bits each; the extra entry holds the pack
//!   position and kind, the plaintext length and, for a delta blob, its base.
//!
//! A base is stored as a [`BaseRef`]: the position of the base's record in the sorted key
//! array (a base is almost always an indexed blob), or, for a base not in the array, an index
//! into a side list of base keys; plus the last 16 bytes of the base's id, which the key array
//! does not hold, so that the base's whole id is known.

use crate::format::pack::{BlobKind, PackBlob};
use std::num::NonZeroU32;

/// A blob's location, unpacked: [`super::Location`] in 16 bytes, the pack position and the
/// kind in one word (`pack << 2 | kind code`, kind codes 1 to 3, never 0, so that an
/// `Option<Slot>` costs no more than a `Slot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pack_kind: NonZeroU32,
    /// Offset of the sealed blob in its pack, bytes.
    pub offset: u32,
    /// Sealed length, bytes.
    pub length: u32,
    /// Plaintext length, bytes.
    pub raw_length: u32,
}

/// Pack positions must fit in 30 bits beside the kind: 2³⁰ packs are 16 PiB at the 16 MiB pack
/// target, and their per-pack entries alone would take about 100 GiB of memory.
pub const MAX_PACKS: usize = 1 << 30;

/// The code of a blob kind (1 to 3) in [`Slot`] and [`Extra`].
fn kind_code(kind: BlobKind) -> u32 {
    match kind {
        BlobKind::Data => 1,
        BlobKind::List => 2,
        BlobKind::Delta => 3,
    }
}

impl Slot {
    /// The slot of pack entry `b` in the pack at position `pack` (below [`MAX_PACKS`]).
    pub fn new(pack: u32, b: &PackBlob) -> Self {
        Slot {
            pack_kind: NonZeroU32::MIN.saturating_add((pack << 2 | kind_code(b.kind)) - 1),
            offset: b.offset,
            length: b.length,
            raw_length: b.raw_length,
        }
    }

    /// Position of the pack in the index's pack list.
    pub fn pack(&self) -> u32 {
        self.pack_kind.get() >> 2
    }

    /// Blob kind.
    pub fn kind(&self) -> BlobKind {
        match self.pack_kind.get() & 3 {
            1 => BlobKind::Data,
            2 => BlobKind::List,
            _ => BlobKind::Delta,
        }
    }
}

/// A blob's location in 12 bytes (see the module documentation), in the sorted array.
pub type Record = [u32; 3];

/// A reference to a delta's base (see the module documentation): a position in the sorted
/// key array, [`ABSENT`] plus an index into the list of absent base keys, or [`NO_BASE`].
pub type BaseRef = u32;

/// The base reference of a blob without a base (a whole blob kept in the side table because
/// its numbers do not fit a record, or a delta blob whose index entry names no base).
pub const NO_BASE: BaseRef = u32::MAX;

/// Set in a [`BaseRef`] whose base is not in the sorted array: the low 31 bits index the list
/// of absent base keys. Positions in the sorted array are therefore below 2³¹.
pub const ABSENT: BaseRef = 1 << 31;

/// The most entries the side table may hold (the index field of a code-0 record).
pub const MAX_EXTRAS: usize = 1 << 30;

/// The side-table entry of a delta blob or of a location that does not fit a record: 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extra {
    /// The pack position and kind, as in [`Slot`].
    pack_kind: NonZeroU32,
    /// Plaintext length, bytes.
    raw_length: u32,
    /// The base, for a delta blob that has one; else [`NO_BASE`].
    pub base: BaseRef,
    /// The last 16 bytes of the base's id (zero without a base).
    pub base_suffix: [u8; 16],
}

impl Extra {
    /// The entry for `slot`, without a base yet.
    pub fn new(slot: &Slot) -> Self {
        Extra {
            pack_kind: slot.pack_kind,
            raw_length: slot.raw_length,
            base: NO_BASE,
            base_suffix: [0; 16],
        }
    }
}

/// Field widths of a record of code 1 or 2: pack, offset, sealed and plaintext length, bits.
const PACK_BITS: u32 = 24;
const OFFSET_BITS: u32 = 28;
const LENGTH_BITS: u32 = 21;
const RAW_BITS: u32 = 21;

/// Whether `slot` needs a side-table entry: a delta blob, or a number too wide for a record.
pub fn needs_extra(slot: &Slot) -> bool {
    slot.kind() == BlobKind::Delta
        || slot.pack() >= 1 << PACK_BITS
        || slot.offset >= 1 << OFFSET_BITS
        || slot.length >= 1 << LENGTH_BITS
        || slot.raw_length >= 1 << RAW_BITS
}

fn to_bits(r: &Record) -> u128 {
    u128::from(r[0]) | u128::from(r[1]) << 32 | u128::from(r[2]) << 64
}

fn from_bits(v: u128) -> Record {
    [v as u32, (v >> 32) as u32, (v >> 64) as u32]
}

/// The record of `slot`, which must not [`needs_extra`].
pub fn compact_record(slot: &Slot) -> Record {
    debug_assert!(!needs_extra(slot));
    let mut v = u128::from(kind_code(slot.kind()));
    let mut at = 2;
    for (x, bits) in [
        (slot.pack(), PACK_BITS),
        (slot.offset, OFFSET_BITS),
        (slot.length, LENGTH_BITS),
        (slot.raw_length, RAW_BITS),
    ] {
        v |= u128::from(x) << at;
        at += bits;
    }
    from_bits(v)
}

/// The record of `slot` whose side-table entry is at position `extra` (below [`MAX_EXTRAS`]).
pub fn extra_record(slot: &Slot, extra: usize) -> Record {
    debug_assert!(extra < MAX_EXTRAS);
    [(extra as u32) << 2, slot.offset, slot.length]
}

/// The side-table position a record points to, `None` for a record of code 1 or 2.
pub fn extra_of(r: &Record) -> Option<usize> {
    (r[0] & 3 == 0).then_some((r[0] >> 2) as usize)
}

/// Points record `r` (of code 0) at side-table position `extra`.
pub fn set_extra(r: &mut Record, extra: usize) {
    debug_assert!(extra_of(r).is_some() && extra < MAX_EXTRAS);
    r[0] = (extra as u32) << 2;
}

/// The location record `r` holds; `extras` is the side table.
pub fn slot_of(r: &Record, extras: &[Extra]) -> Slot {
    match extra_of(r) {
        Some(e) => {
            let e = &extras[e];
            Slot {
                pack_kind: e.pack_kind,
                offset: r[1],
                length: r[2],
                raw_length: e.raw_length,
            }
        }
        None => {
            let v = to_bits(r);
            let field = |at: u32, bits: u32| ((v >> at) as u32) & ((1 << bits) - 1);
            let code = (v & 3) as u32;
            let pack = field(2, PACK_BITS);
            Slot {
                pack_kind: NonZeroU32::MIN.saturating_add((pack << 2 | code) - 1),
                offset: field(2 + PACK_BITS, OFFSET_BITS),
                length: field(2 + PACK_BITS + OFFSET_BITS, LENGTH_BITS),
                raw_length: field(2 + PACK_BITS + OFFSET_BITS + LENGTH_BITS, RAW_BITS),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(kind: BlobKind, pack: u32, offset: u32, length: u32, raw_length: u32) -> Slot {
        let b = PackBlob {
            kind,
            id: [0; 32],
            offset,
            length,
            raw_length,
            base: None,
        };
        Slot::new(pack, &b)
    }

    /// Every field at its largest value that fits a record, and one past it, round-trips:
    /// the former in a record alone, the latter through a side-table entry.
    #[test]
    fn records_round_trip_at_the_edges_of_every_field() {
        let top = |bits: u32| (1u32 << bits) - 1;
        let fits = [
            slot(BlobKind::Data, 0, 0, 0, 0),
            slot(BlobKind::List, top(24), top(28), top(21), top(21)),
            slot(BlobKind::Data, top(24), 0, top(21), 0),
            slot(BlobKind::List, 0, top(28), 0, top(21)),
        ];
        for s in fits {
            assert!(!needs_extra(&s), "{s:?}");
            let r = compact_record(&s);
            assert_eq!(extra_of(&r), None);
            assert_eq!(slot_of(&r, &[]), s);
        }
        let wide = [
            slot(BlobKind::Data, 1 << 24, 0, 0, 0),
            slot(BlobKind::Data, 0, 1 << 28, 0, 0),
            slot(BlobKind::List, 0, 0, 1 << 21, 0),
            slot(BlobKind::Data, 0, 0, 0, 1 << 21),
            slot(BlobKind::List, (1 << 30) - 1, u32::MAX, u32::MAX, u32::MAX),
            slot(BlobKind::Delta, 3, 10, 20, 30),
        ];
        let extras: Vec<Extra> = wide.iter().map(Extra::new).collect();
        for (n, s) in wide.iter().enumerate() {
            assert!(needs_extra(s), "{s:?}");
            let mut r = extra_record(s, n);
            assert_eq!(extra_of(&r), Some(n));
            assert_eq!(slot_of(&r, &extras), *s);
            set_extra(&mut r, n + MAX_EXTRAS / 2);
            assert_eq!(extra_of(&r), Some(n + MAX_EXTRAS / 2));
        }
    }

    #[test]
    fn a_record_is_12_bytes_and_a_side_entry_28() {
        assert_eq!(std::mem::size_of::<Record>(), 12);
        assert_eq!(std::mem::size_of::<Extra>(), 28);
        assert_eq!(std::mem::size_of::<Option<Slot>>(), 16);
    }
}
