//! The blob codec: the one place that turns a blob's plaintext into its stored bytes
//! (compressed whole, or as a zstd patch against a base blob, then sealed with the master key)
//! and back (opened, decompressed, checked against its length and keyed id). repo-format.md,
//! section 6.
//!
//! Owns: the choice between the whole and the delta form of a chunk, compression and sealing
//! of blob payloads, and the checks that make a damaged blob an error rather than output.
//! Must not: touch packs, the index or the backend, or choose a delta base; callers pass the
//! base's plaintext in. `commands` never seals or compresses a blob itself; it asks this
//! module.

use crate::compress::{
    compress, compress_delta, compress_splice, decompress, decompress_delta, decompress_delta_onto,
    DecompressError,
};
use crate::crypto::{AuthError, MasterKey};
use crate::format::pack::MAX_PATCH_DEPTH;
use crate::id::Id;
pub use crate::splice::Composed;
use std::sync::Arc;

/// A delta is stored only when its sealed payload is at most this fraction (numerator over
/// [`DELTA_MARGIN_DEN`]) of the plainly compressed chunk.
pub const DELTA_MARGIN_NUM: usize = 1;
/// Denominator of the delta margin (see [`DELTA_MARGIN_NUM`]): at most half.
pub const DELTA_MARGIN_DEN: usize = 2;

/// A patch at most 1/64 of the chunk's plain size is kept without trying plain compression.
pub const FAST_PATH_DEN: usize = 64;

/// Why a stored blob cannot be turned back into its plaintext. Callers name the pack and blob
/// (usually as [`crate::error::Error::Corrupt`]); the message says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The sealed bytes do not open with the key: damaged, or sealed with another key.
    #[error(transparent)]
    Open(#[from] AuthError),
    /// The opened payload does not decompress to the expected length.
    #[error(transparent)]
    Decompress(#[from] DecompressError),
    /// The index calls the blob a delta but its payload does not carry the delta tag.
    #[error("a delta blob without the delta tag")]
    NotDelta,
    /// The plaintext's keyed id is not the blob's id.
    #[error("blob content does not match its id")]
    WrongId,
}

/// A patch against a shallower base (a shorter chain under it) is preferred to the smallest
/// patch when it is at most this multiple ([`SHALLOW_NUM`] / [`SHALLOW_DEN`]) of the smallest:
/// paying up to twice now restarts the chunk's chain lower, so its next hours patch against
/// their previous hour instead of reaching back past a full chain. On hourly edits a patch
/// spanning 4 hours is about 1.3× one spanning 2 (frame and sequence overhead), so the
/// restart pays back within the next 2 hours; against an older version across a large change
/// (a column added, a table rewritten) the patch is many times larger and the nearest base
/// wins.
pub const SHALLOW_NUM: usize = 2;
/// Denominator of the shallow-base preference (see [`SHALLOW_NUM`]).
pub const SHALLOW_DEN: usize = 1;

/// A chosen patch (made at the repository's level to compare the candidate bases) larger than
/// this many bytes (`tag || frame`) is made again with zstd's long-distance matcher
/// ([`compress_delta`] with `long_matches`), and the smaller kept. Levels 1 to 4 match 5 to 8
/// bytes and take the first match found: after a changed row that is the filler of the row
/// just before (pgbench_accounts' 84 spaces), not the base's row, and every following row costs
/// a few sequences; the long-distance matcher finds the base's rows. Candidates are compared
/// without it (a context reused per thread, no per-patch set-up), so a chunk pays for it once.
/// Measured on pairs of consecutive hourly dumps (64 KiB chunks, each patched against the
/// previous chunk holding most of its lines): pgbench scale 10, 10 s of pgbench: 502.8 KB of
/// patches at level 3, 96.5 KB with this and [`POLISH_LEVEL`]; the bench's uniform series
/// 138.2 → 125.8 KB, hotspot 117.4 → 107.7 KB (docs/bench.md, "Patches with long-distance
/// matching").
pub const LONG_ABOVE: usize = 128;

/// The zstd level at which the chosen patch is made again when the repository's level is lower
/// and the patch is still over [`POLISH_ABOVE`] bytes: level 9 (`lazy2`, a deeper search)
/// weighs the next positions before taking a match, which on rows whose changes are dense
/// gives smaller patches than level 3, with or without the long-distance matcher. Level 9
/// against level 6, four hours of the bench's 32 MiB series, one hour-0 repository copied
/// for each: hotspot −1.9%, uniform −0.8%, mixed −0.4% of the bytes stored, for the same CPU
/// time; level 12 saved 5.5% on hotspot for 2.3 times the CPU (docs/bench.md, "Splices found
/// without indexing the base").
pub const POLISH_LEVEL: i32 = 9;

/// Only a chosen patch still larger than this many bytes is made again at [`POLISH_LEVEL`]: a
/// polish-level patch costs several times a level-3 one, and the gain is in the large patches. On
/// the ninth hour of the bench's uniform series at 570 MB (a full chain under most chunks),
/// patches over 256 bytes were 2 045 of 7 128 and the pass saved 163.5 KB; over 1 024 bytes,
/// 147 of them saved 94.5 KB (docs/bench.md, "Later snapshots in steady state").
pub const POLISH_ABOVE: usize = 1024;

/// One patch within the margin: the base's id, the depth of its chain, the stored form, and
/// the base's plaintext (shared, not copied) when the patch may be made again
/// ([`LONG_ABOVE`]).
struct Paying {
    id: Id,
    depth: usize,
    delta: Vec<u8>,
    base: Option<Arc<Vec<u8>>>,
}

/// Chooses the stored form of one new data chunk among its candidate bases: each base offered
/// ([`Chooser::offer`]) costs one zstd patch; [`Chooser::finish`] keeps the smallest patch
/// within the delta margin ([`DELTA_MARGIN_NUM`] / [`DELTA_MARGIN_DEN`] of the plainly
/// compressed chunk), or a patch against a shallower base at most [`SHALLOW_NUM`] /
/// [`SHALLOW_DEN`] of it; without one, the chunk compressed whole. The plain compression is
/// computed at most once, and not at all when a patch is at most 1/[`FAST_PATH_DEN`] of the
/// chunk.
pub struct Chooser<'p> {
    plain: &'p [u8],
    level: i32,
    /// The chunk compressed whole (`tag || payload`), once computed.
    whole: Option<Vec<u8>>,
    /// The patches within the margin.
    paying: Vec<Paying>,
    /// Whether a base is first tried as a splice ([`compress_splice`]).
    splices: bool,
}

impl<'p> Chooser<'p> {
    /// A chooser for chunk `plain` at zstd `level`, with no base offered yet.
    pub fn new(plain: &'p [u8], level: i32) -> Self {
        Chooser {
            plain,
            level,
            whole: None,
            paying: Vec::new(),
            splices: false,
        }
    }

    /// This chooser, trying each base first as a splice when `on` (repositories whose config
    /// allows them, [`crate::format::config::Config::splices`]).
    pub fn with_splices(mut self, on: bool) -> Self {
        self.splices = on;
        self
    }

    /// Offers base `id` (its plaintext `base`, as the base cache shares it; `depth`: delta
    /// links under it, 0 for a whole blob): computes the patch and returns whether it is
    /// within the margin (kept as a choice). With splices on, the patch is the splice when
    /// the chunk and base share an anchored row ([`compress_splice`]), else the zstd patch; a
    /// splice at most 1/[`FAST_PATH_DEN`] of the chunk is never made again. A base with
    /// [`MAX_PATCH_DEPTH`] or more links under it gets no zstd patch: only its splice, never
    /// made again.
    pub fn offer(&mut self, id: Id, base: Arc<Vec<u8>>, depth: usize) -> bool {
        let splice = (self.splices)
            .then(|| compress_splice(self.plain, &base, self.level))
            .flatten();
        // A splice is the candidate's patch, and no zstd patch is made for the comparison; at
        // most 1/FAST_PATH_DEN of the chunk it is not made again either. On the bench's
        // uniform series the splices of hour 1 were 7% smaller in all than the zstd patches
        // made again with the long-distance matcher, and the eight later hours of 575 MB took
        // 23% less CPU with splices, then 4% less without the level-3 zstd patches beside
        // them (docs/bench.md, "Splices").
        // A zstd patch only where its chain has room for one (MAX_PATCH_DEPTH): a reader
        // decodes a zstd patch whole, a splice it composes.
        let zstd = depth < MAX_PATCH_DEPTH;
        let (delta, remake) = match splice {
            Some(s) => {
                let small = s.len() * FAST_PATH_DEN <= self.plain.len();
                (s, !small && zstd)
            }
            None if zstd => match compress_delta(self.plain, &base, self.level, false) {
                Some(d) => (d, true),
                None => return false,
            },
            None => return false,
        };
        // Fast path: a patch this small beats any plain compression of dump text, so the
        // plain form is not computed (the usual case for an unchanged-but-shifted chunk).
        let pays = delta.len() * FAST_PATH_DEN <= self.plain.len() || {
            let whole = (self.whole)
                .get_or_insert_with(|| compress(self.plain, self.level))
                .len();
            delta.len() * DELTA_MARGIN_DEN <= whole * DELTA_MARGIN_NUM
        };
        if pays {
            let polish = remake && delta.len() > LONG_ABOVE;
            self.paying.push(Paying {
                id,
                depth,
                delta,
                base: polish.then_some(base),
            });
        }
        pays
    }

    /// Whether a base `extra` bytes of stored delta links further down a chain than the
    /// bases offered so far is worth a patch: `true` until some patch is within the margin,
    /// then only while its patch, estimated as the smallest patch so far plus `extra` (the
    /// changes those links hold), could be chosen ([`SHALLOW_NUM`] / [`SHALLOW_DEN`] of the
    /// smallest). On the bench's uniform series the estimate skips most such patches, which
    /// were half of a later snapshot's patching once chains were full (docs/bench.md, "Later
    /// snapshots in steady state").
    pub fn worth_deeper(&self, extra: usize) -> bool {
        (self.paying.iter().map(|p| p.delta.len()).min())
            .is_none_or(|min| (min + extra) * SHALLOW_DEN <= min * SHALLOW_NUM)
    }

    /// Whether some base offered so far gives a patch within the margin.
    pub fn pays(&self) -> bool {
        !self.paying.is_empty()
    }

    /// Whether some base offered so far gives a patch at most 1/[`FAST_PATH_DEN`] of the
    /// chunk's plain size: another base of the same standing could save at most that much, so
    /// a caller may stop patching (each patch costs as much CPU as compressing the chunk).
    pub fn settled(&self) -> bool {
        (self.paying.iter()).any(|p| p.delta.len() * FAST_PATH_DEN <= self.plain.len())
    }

    /// The stored form (`tag || payload`, before sealing) and the base used, if any: among the
    /// patches within the margin, the shallowest base whose patch is at most [`SHALLOW_NUM`] /
    /// [`SHALLOW_DEN`] of the smallest (ties: the smaller patch, then the first offered), made
    /// again with the long-distance matcher when larger than [`LONG_ABOVE`], then at
    /// [`POLISH_LEVEL`] when still larger than [`POLISH_ABOVE`], the smallest kept; else
    /// the chunk compressed whole.
    pub fn finish(mut self) -> (Vec<u8>, Option<Id>) {
        let Some(min) = self.paying.iter().map(|p| p.delta.len()).min() else {
            let whole = (self.whole.take()).unwrap_or_else(|| compress(self.plain, self.level));
            return (whole, None);
        };
        let near = |len: usize| len * SHALLOW_DEN <= min * SHALLOW_NUM;
        let mut best: Option<usize> = None;
        for (i, p) in self.paying.iter().enumerate() {
            if !near(p.delta.len()) {
                continue;
            }
            let better = best.is_none_or(|b| {
                let q = &self.paying[b];
                (p.depth, p.delta.len()) < (q.depth, q.delta.len())
            });
            if better {
                best = Some(i);
            }
        }
        let chosen = (self.paying).swap_remove(best.expect("the smallest is near itself"));
        let mut delta = chosen.delta;
        if let Some(base) = chosen.base.as_deref() {
            let again = [(self.level, true), (POLISH_LEVEL, false)];
            for (level, long) in again {
                let worth = match long {
                    true => delta.len() > LONG_ABOVE,
                    false => self.level < POLISH_LEVEL && delta.len() > POLISH_ABOVE,
                };
                if let Some(p) = worth
                    .then(|| compress_delta(self.plain, base, level, long))
                    .flatten()
                    .filter(|p| p.len() < delta.len())
                {
                    delta = p;
                }
            }
        }
        (delta, Some(chosen.id))
    }
}

/// The stored form of a new data chunk `plain` (`tag || payload`, before sealing) at zstd
/// `level`, and the base when it is stored as a delta against `base` (the proposed base's id
/// and plaintext): the delta is kept when it is at most [`DELTA_MARGIN_NUM`] /
/// [`DELTA_MARGIN_DEN`] of the plainly compressed chunk. One base of a [`Chooser`].
pub fn encode_chunk(plain: &[u8], level: i32, base: Option<(Id, &[u8])>) -> (Vec<u8>, Option<Id>) {
    let mut c = Chooser::new(plain, level);
    if let Some((id, base)) = base {
        c.offer(id, Arc::new(base.to_vec()), 0);
    }
    c.finish()
}

/// The sealed bytes of chunk `plain` at zstd `level`, stored as a delta against `base` (its id
/// and plaintext) when that pays (see [`encode_chunk`]); returns the base used, if any.
pub fn encode(
    key: &MasterKey,
    plain: &[u8],
    level: i32,
    base: Option<(Id, &[u8])>,
) -> (Vec<u8>, Option<Id>) {
    let (tagged, base) = encode_chunk(plain, level, base);
    (key.seal(&tagged), base)
}

/// The sealed bytes of the form `chooser` chose ([`Chooser::finish`]) and the base used, if
/// any.
pub fn encode_chosen(key: &MasterKey, chooser: Chooser<'_>) -> (Vec<u8>, Option<Id>) {
    let (tagged, base) = chooser.finish();
    (key.seal(&tagged), base)
}

/// The sealed bytes of blob `plain` stored whole (data or list blob) at zstd `level`.
pub fn encode_whole(key: &MasterKey, plain: &[u8], level: i32) -> Vec<u8> {
    key.seal(&compress(plain, level))
}

/// Opens sealed blob bytes into the stored payload (`tag || payload`), not decompressed.
///
/// Errors: [`DecodeError::Open`] when the bytes do not open with `key`.
pub fn open(key: &MasterKey, sealed: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Ok(key.open(sealed)?)
}

/// Encrypts an opened payload (from [`open`]) again, sealed with `key`, unchanged otherwise (to
/// move a blob between repositories that share the blob-id key but not the encryption key).
pub fn reencrypt(key: &MasterKey, tagged: &[u8]) -> Vec<u8> {
    key.seal(tagged)
}

/// Turns an opened payload back into blob `id`'s plaintext of `raw_len` bytes: decompressed
/// whole, or (`base`: the base's plaintext, for a delta blob) decoded against its base; then
/// checked against `id` with `key`'s blob-id key.
///
/// Errors: [`DecodeError::Decompress`], [`DecodeError::WrongId`].
pub fn decode(
    key: &MasterKey,
    id: &Id,
    tagged: &[u8],
    raw_len: usize,
    base: Option<&[u8]>,
) -> Result<Vec<u8>, DecodeError> {
    let plain = decode_link(tagged, raw_len, base)?;
    verify(key, id, &plain)?;
    Ok(plain)
}

/// [`decode`] without the id check: for a link of a delta chain that is decoded only to
/// decode the blob above it, which is checked. Every byte was authenticated when opened;
/// what a check of a link would add, a wrong index entry or codec, spoils the blob above it
/// too, whose check then fails. A plaintext decoded this way must not serve as the base of a
/// new delta before it is checked (writers patch only against bases checked against their
/// ids, so that every stored copy of a base decodes the delta alike).
///
/// Errors: [`DecodeError::Decompress`].
pub fn decode_link(
    tagged: &[u8],
    raw_len: usize,
    base: Option<&[u8]>,
) -> Result<Vec<u8>, DecodeError> {
    Ok(match base {
        Some(base) => decompress_delta(tagged, raw_len, base)?,
        None => decompress(tagged, raw_len)?,
    })
}

/// [`decode_link`] for a link whose base is held as a composed chain (`base`, from this
/// function; `None` for a whole blob): a splice is composed with the base's pieces, without
/// building the chunk ([`crate::compress::decompress_delta_onto`]), so a chain of splices costs
/// one copy of the chunk at its top, made by [`Composed::plain`]. Not checked against an id,
/// as [`decode_link`].
///
/// Errors: [`DecodeError::Decompress`].
pub fn decode_link_onto(
    tagged: &[u8],
    raw_len: usize,
    base: Option<&Composed>,
) -> Result<Composed, DecodeError> {
    Ok(match base {
        Some(base) => decompress_delta_onto(tagged, raw_len, base)?,
        None => Composed::whole(Arc::new(decompress(tagged, raw_len)?)),
    })
}

/// Checks that `plain` is blob `id` under `key`'s blob-id key.
///
/// Errors: [`DecodeError::WrongId`].
pub fn verify(key: &MasterKey, id: &Id, plain: &[u8]) -> Result<(), DecodeError> {
    if key.blob_id(plain) != *id {
        return Err(DecodeError::WrongId);
    }
    Ok(())
}

/// Checks without any base that sealed blob bytes open with `key` and, for a whole blob
/// (`delta` false), decompress to `raw_len` bytes; a delta's payload needs its base, so only
/// its tag is checked. The id is not checked.
///
/// Errors: [`DecodeError::Open`], [`DecodeError::NotDelta`], [`DecodeError::Decompress`].
pub fn check_sealing(
    key: &MasterKey,
    sealed: &[u8],
    raw_len: usize,
    delta: bool,
) -> Result<(), DecodeError> {
    let tagged = open(key, sealed)?;
    match (delta, tagged.first()) {
        (true, Some(&(crate::compress::TAG_DELTA | crate::compress::TAG_SPLICE))) => Ok(()),
        (true, _) => Err(DecodeError::NotDelta),
        (false, _) => decompress(&tagged, raw_len).map(|_| ()).map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::TAG_SPLICE;
    use crate::format::pack::MAX_DELTA_DEPTH;

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    /// Issue 16 (later snapshots in steady state): a base further down a chain than the bases
    /// offered is worth a patch only while its estimated patch (the smallest so far plus the
    /// delta links between) could still be chosen, at most twice the smallest.
    #[test]
    fn a_deeper_base_is_worth_a_patch_only_while_it_could_be_chosen() {
        let base: Vec<u8> = (0..40_000u32)
            .flat_map(|i| format!("{i}\trow\n").into_bytes())
            .collect();
        let mut plain = base.clone();
        plain[20_000] ^= 1;
        let mut c = Chooser::new(&plain, 3);
        assert!(c.worth_deeper(1 << 30), "nothing offered yet");
        assert!(c.offer(Id([1; 32]), Arc::new(base.clone()), 2));
        let p = compress_delta(&plain, &base, 3, false).unwrap().len();
        assert!(c.worth_deeper(p * (SHALLOW_NUM - SHALLOW_DEN) / SHALLOW_DEN));
        assert!(!c.worth_deeper(p * (SHALLOW_NUM - SHALLOW_DEN) / SHALLOW_DEN + 1));
    }

    #[test]
    fn a_delta_is_kept_only_when_it_is_much_smaller() {
        let base: Vec<u8> = (0..3000u32)
            .flat_map(|i| format!("{i}\tname {}\n", i.wrapping_mul(2_654_435_761)).into_bytes())
            .collect();
        let mut changed = base.clone();
        changed[700..705].copy_from_slice(b"HELLO");
        let (stored, b) = encode_chunk(&changed, 3, Some((id(9), &base)));
        assert_eq!(b, Some(id(9)));
        assert_eq!(stored[0], crate::compress::TAG_DELTA);
        let unrelated: Vec<u8> = (0..3000u32)
            .flat_map(|i| format!("{}\n", i.wrapping_mul(40_503)).into_bytes())
            .collect();
        let (stored, b) = encode_chunk(&changed, 3, Some((id(9), &unrelated)));
        assert_eq!(b, None);
        assert_eq!(stored[0], crate::compress::TAG_ZSTD);
        assert_eq!(encode_chunk(&changed, 3, None).1, None);
    }

    /// Dump-like rows with `edits` of them changed (spread over the text).
    fn rows(edits: usize) -> Vec<u8> {
        let mut rows: Vec<String> = (0..3000u32)
            .map(|i| format!("{i}\tname {}\n", i.wrapping_mul(2_654_435_761)))
            .collect();
        for e in 0..edits {
            let i = (e * 2_654_435) % rows.len();
            rows[i] = format!("{i}\tchanged {}\n", e.wrapping_mul(40_503));
        }
        rows.concat().into_bytes()
    }

    #[test]
    fn the_smallest_paying_patch_wins_not_the_first() {
        let plain = rows(0);
        let (far, near) = (rows(60), rows(2));
        let mut c = Chooser::new(&plain, 3);
        assert!(!c.pays() && !c.settled());
        // Both patches pay; the first offered is much larger.
        assert!(c.offer(id(1), Arc::new(far.clone()), 0));
        assert!(c.offer(id(2), Arc::new(near.clone()), 0));
        // A patch of a few bytes per KiB: no other base could save much.
        assert!(c.settled());
        let alone = |b: &[u8]| encode_chunk(&plain, 3, Some((id(9), b))).0.len();
        assert!(alone(&far) * SHALLOW_DEN > alone(&near) * SHALLOW_NUM);
        let (stored, base) = c.finish();
        assert_eq!(base, Some(id(2)));
        assert_eq!(stored.len(), alone(&near));
        assert_eq!(
            decompress_delta(&stored, plain.len(), &near).unwrap(),
            plain
        );
    }

    #[test]
    fn a_shallower_base_wins_within_twice_the_smallest_and_no_patch_means_whole() {
        let plain = rows(0);
        let (far, near) = (rows(60), rows(2));
        // The same patch against a deeper and a shallower base: the shallower one.
        let mut c = Chooser::new(&plain, 3);
        c.offer(id(1), Arc::new(near.clone()), 2);
        c.offer(id(2), Arc::new(near.clone()), 0);
        assert_eq!(c.finish().1, Some(id(2)));
        // A shallower base whose patch is much larger does not win.
        let mut c = Chooser::new(&plain, 3);
        c.offer(id(1), Arc::new(far.clone()), 0);
        c.offer(id(2), Arc::new(near.clone()), 2);
        assert_eq!(c.finish().1, Some(id(2)));
        // Nothing offered, or nothing paying: whole.
        let (stored, base) = Chooser::new(&plain, 3).finish();
        assert_eq!((stored[0], base), (crate::compress::TAG_ZSTD, None));
        let unrelated: Vec<u8> = (0..3000u32)
            .flat_map(|i| format!("{}\n", i.wrapping_mul(40_503)).into_bytes())
            .collect();
        let mut c = Chooser::new(&plain, 3);
        assert!(!c.offer(id(3), Arc::new(unrelated.clone()), 0));
        assert_eq!(c.finish().1, None);
    }

    /// 700 pgbench_accounts rows from key 100 000 as a key-ordered dump holds them (key,
    /// branch, balance, 84 spaces), with `balances` set at row positions.
    fn accounts(balances: &[(usize, i64)]) -> Vec<u8> {
        let mut rows: Vec<String> = (100_000..100_700u32)
            .map(|aid| format!("{aid}\t1\t0\t{:84}\n", ""))
            .collect();
        for &(at, b) in balances {
            rows[at] = format!("{}\t1\t{b}\t{:84}\n", 100_000 + at, "");
        }
        rows.concat().into_bytes()
    }

    /// Issue 16: after a changed row, level 3 alone matches the filler of the row before and
    /// pays sequences for every row; long-distance matching finds the base's rows.
    #[test]
    fn patches_find_the_base_rows_after_a_changed_one() {
        let base = accounts(&[]);
        // A few scattered updates, as an hour of pgbench leaves in most chunks.
        let edits: Vec<(usize, i64)> = (0..5)
            .map(|e| (e * 131 + 40, e as i64 * 977 - 2500))
            .collect();
        let plain = accounts(&edits);
        let at_level = compress_delta(&plain, &base, 3, false).unwrap();
        let (stored, b) = encode_chunk(&plain, 3, Some((id(9), &base)));
        assert_eq!(b, Some(id(9)));
        assert!(
            stored.len() * 3 < at_level.len(),
            "stored {} against {} at level 3 alone",
            stored.len(),
            at_level.len()
        );
        assert_eq!(
            decompress_delta(&stored, plain.len(), &base).unwrap(),
            plain
        );
    }

    /// 600 order-like rows (key, customer, quantity, words, update time); every `every`-th of
    /// the first `edits × every` rows updated (quantity and time).
    fn orders(edits: usize, every: usize) -> Vec<u8> {
        const W: [&str; 12] = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo", "lima",
        ];
        let row = |i: u32| {
            let e = i as usize % every == 3 && (i as usize / every) < edits;
            let h = i.wrapping_mul(2_654_435_761);
            let words: Vec<&str> = (0..8 + h % 9)
                .map(|k| W[((h >> (k % 28)) as usize + k as usize) % 12])
                .collect();
            let (qty, time) = match e {
                true => (
                    1 + (h >> 7) % 9,
                    "2026-12-07 06:30:11.482913+00".to_string(),
                ),
                false => (
                    1 + (h >> 3) % 9,
                    format!(
                        "2026-11-{:02} 1{}:2{}:0{}.{:06}+00",
                        1 + h % 28,
                        h % 10,
                        h % 7,
                        h % 9,
                        h % 999_983
                    ),
                ),
            };
            format!("{i}\t{}\t{qty}\t{}\t{time}\n", h % 100_000, words.join(" "))
        };
        (0..600).map(row).collect::<String>().into_bytes()
    }

    /// Issue 16: the chosen patch is made again with the long-distance matcher when over
    /// [`LONG_ABOVE`] bytes, then at [`POLISH_LEVEL`] when still over [`POLISH_ABOVE`], and the
    /// smallest form is stored; a repository at the polish level or above skips the polish
    /// pass.
    #[test]
    fn a_large_patch_is_made_again_and_the_smallest_form_kept() {
        let base = orders(0, 10);
        for plain in [
            orders(1, 10),
            orders(30, 10),
            orders(60, 10),
            orders(20, 30),
        ] {
            for level in [3, 9] {
                let mut want = compress_delta(&plain, &base, level, false).unwrap();
                for (l, long, above) in [
                    (level, true, LONG_ABOVE),
                    (POLISH_LEVEL, false, POLISH_ABOVE),
                ] {
                    if want.len() > above && (long || level < POLISH_LEVEL) {
                        let p = compress_delta(&plain, &base, l, long).unwrap();
                        if p.len() < want.len() {
                            want = p;
                        }
                    }
                }
                let (stored, b) = encode_chunk(&plain, level, Some((id(9), &base)));
                assert_eq!((stored.len(), b), (want.len(), Some(id(9))));
                assert_eq!(
                    decompress_delta(&stored, plain.len(), &base).unwrap(),
                    plain
                );
            }
        }
    }

    #[test]
    fn round_trips_whole_and_delta_and_rejects_damage() {
        let key = MasterKey::generate();
        let base: Vec<u8> = (0..3000u32)
            .flat_map(|i| format!("{i}\tname {}\n", i.wrapping_mul(2_654_435_761)).into_bytes())
            .collect();
        let mut changed = base.clone();
        changed[700..705].copy_from_slice(b"HELLO");
        let cid = key.blob_id(&changed);

        let whole = encode_whole(&key, &changed, 3);
        let tagged = open(&key, &whole).unwrap();
        assert_eq!(
            decode(&key, &cid, &tagged, changed.len(), None).unwrap(),
            changed
        );
        check_sealing(&key, &whole, changed.len(), false).unwrap();
        assert!(matches!(
            check_sealing(&key, &whole, changed.len(), true),
            Err(DecodeError::NotDelta)
        ));

        let (sealed, b) = encode(&key, &changed, 3, Some((id(9), &base)));
        assert_eq!(b, Some(id(9)));
        let tagged = open(&key, &sealed).unwrap();
        let got = decode(&key, &cid, &tagged, changed.len(), Some(&base)).unwrap();
        assert_eq!(got, changed);
        check_sealing(&key, &sealed, changed.len(), true).unwrap();
        assert!(matches!(
            decode(&key, &cid, &tagged, changed.len(), None),
            Err(DecodeError::Decompress(_))
        ));
        assert!(matches!(
            decode(&key, &id(1), &tagged, changed.len(), Some(&base)),
            Err(DecodeError::WrongId)
        ));
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(open(&key, &damaged), Err(DecodeError::Open(_))));
        let other = MasterKey::generate();
        assert!(open(&other, &sealed).is_err());
        let moved = reencrypt(&other, &tagged);
        assert_eq!(open(&other, &moved).unwrap(), tagged);
    }

    /// Issue 16 (splices): with splices allowed, a chunk changed in a few rows is stored as a
    /// splice of its base (no zstd patch is made); without, as a zstd patch. Both decode with
    /// the base and pass the sealing check as deltas. A chain of splices at the maximum depth
    /// decodes bottom up, each link against the one below it.
    #[test]
    fn a_few_changed_rows_are_a_splice_where_allowed_and_chains_of_them_decode() {
        let key = MasterKey::generate();
        let versions: Vec<Vec<u8>> = (0..=crate::format::pack::MAX_DELTA_DEPTH)
            .map(|v| orders(v * 3, 40))
            .collect();
        let mut links: Vec<Vec<u8>> = Vec::new();
        for pair in versions.windows(2) {
            let (base, plain) = (&pair[0], &pair[1]);
            let base_id = key.blob_id(base);
            let mut on = Chooser::new(plain, 3).with_splices(true);
            assert!(on.offer(base_id, Arc::new(base.clone()), 0) && on.settled());
            let (stored, b) = on.finish();
            assert_eq!((stored[0], b), (TAG_SPLICE, Some(base_id)));
            let mut off = Chooser::new(plain, 3);
            off.offer(base_id, Arc::new(base.clone()), 0);
            assert_eq!(off.finish().0[0], crate::compress::TAG_DELTA);
            let sealed = key.seal(&stored);
            check_sealing(&key, &sealed, plain.len(), true).unwrap();
            links.push(stored);
        }
        let mut plain = versions[0].clone();
        for (i, link) in links.iter().enumerate() {
            let want = &versions[i + 1];
            plain = decode_link(link, want.len(), Some(&plain)).unwrap();
            assert_eq!(&plain, want);
        }
        let top = links.last().unwrap();
        let below = &versions[versions.len() - 2];
        let id = key.blob_id(versions.last().unwrap());
        decode(&key, &id, top, plain.len(), Some(below)).unwrap();
        assert!(matches!(
            decode(&key, &id, top, plain.len(), Some(&versions[0])),
            Err(DecodeError::WrongId | DecodeError::Decompress(_))
        ));
    }

    /// Issue 16 (splices): a chosen splice larger than 1/[`FAST_PATH_DEN`] of the chunk is made
    /// again as a zstd patch (long-distance matcher, then the polish level) and the smallest form is
    /// stored; a smaller splice is stored as it is.
    #[test]
    fn a_large_splice_is_made_again_as_a_zstd_patch_and_the_smallest_kept() {
        let mut tags = Vec::new();
        let pairs = [
            (orders(0, 10), orders(1, 10)),
            (orders(0, 10), orders(20, 30)),
            (rows(0), rows(600)),
            (rows(0), rows(1500)),
        ];
        for (base, plain) in pairs {
            let splice = compress_splice(&plain, &base, 3).unwrap();
            let mut want = splice.clone();
            if splice.len() * FAST_PATH_DEN > plain.len() {
                for (level, long) in [(3, true), (POLISH_LEVEL, false)] {
                    let p = compress_delta(&plain, &base, level, long).unwrap();
                    if p.len() < want.len() && (long || want.len() > POLISH_ABOVE) {
                        want = p;
                    }
                }
            }
            let mut c = Chooser::new(&plain, 3).with_splices(true);
            assert!(c.offer(id(9), Arc::new(base.clone()), 0));
            let (stored, b) = c.finish();
            tags.push((splice.len() * FAST_PATH_DEN > plain.len(), stored[0]));
            assert_eq!((stored, b), (want, Some(id(9))));
        }
        assert!(tags.contains(&(false, TAG_SPLICE)), "{tags:?}");
        assert!(
            tags.iter().any(|t| t.0),
            "a large splice, made again: {tags:?}"
        );
    }

    /// Deep chains (MAX_PATCH_DEPTH): against a base with 3 or more links under it, a chunk is
    /// only ever a splice, and a large splice is not made again as a zstd patch, so a reader
    /// decodes at most 3 zstd patches per chain; below that depth the zstd forms are made as
    /// before. A chunk that shares no row with such a base finds no patch there.
    #[test]
    fn a_deep_base_gets_only_a_splice() {
        // A pair whose large splice a zstd patch beats.
        let (base, plain, splice) = [500, 1000, 2000, 2500, 2900]
            .into_iter()
            .map(|e| (orders(0, 4), orders(e, 4)))
            .chain([800, 2000, 2500, 2900].map(|e| (rows(0), rows(e))))
            .filter_map(|(b, p)| {
                let s = compress_splice(&p, &b, 3)?;
                Some((b, p, s))
            })
            .find(|(b, p, s)| {
                s.len() * FAST_PATH_DEN > p.len()
                    && compress_delta(p, b, 3, true).is_some_and(|z| z.len() < s.len())
            })
            .expect("a large splice that a zstd patch beats");
        for depth in [MAX_PATCH_DEPTH - 1, MAX_PATCH_DEPTH, MAX_DELTA_DEPTH - 1] {
            let mut c = Chooser::new(&plain, 3).with_splices(true);
            assert!(c.offer(id(9), Arc::new(base.clone()), depth));
            let (stored, _) = c.finish();
            match depth < MAX_PATCH_DEPTH {
                true => assert_eq!(stored[0], crate::compress::TAG_DELTA, "made again"),
                false => assert_eq!(stored, splice, "kept as it is at depth {depth}"),
            }
        }
        // No anchored row shared (bytes without line feeds, the first one changed): only a zstd
        // patch could serve, and a deep base gets none.
        let noise: Vec<u8> = (0..60_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
            .collect();
        let mut edited = noise.clone();
        edited[0] ^= 0x40;
        edited[30_000] ^= 0x40;
        assert!(compress_splice(&edited, &noise, 3).is_none());
        let offer = |depth| {
            let mut c = Chooser::new(&edited, 3).with_splices(true);
            c.offer(id(9), Arc::new(noise.clone()), depth)
        };
        assert!(offer(MAX_PATCH_DEPTH - 1), "a zstd patch below the limit");
        assert!(!offer(MAX_PATCH_DEPTH), "none at it");
    }
}
