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

use crate::compress::{compress, compress_delta, decompress, decompress_delta, DecompressError};
use crate::crypto::{AuthError, MasterKey};
use crate::id::Id;

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

/// The stored form of a new data chunk `plain` (`tag || payload`, before sealing) at zstd
/// `level`, and the base when it is stored as a delta against `base` (the proposed base's id
/// and plaintext): the delta is kept when it is at most [`DELTA_MARGIN_NUM`] /
/// [`DELTA_MARGIN_DEN`] of the plainly compressed chunk.
pub fn encode_chunk(plain: &[u8], level: i32, base: Option<(Id, &[u8])>) -> (Vec<u8>, Option<Id>) {
    let delta = base.and_then(|(id, base)| Some((id, compress_delta(plain, base, level)?)));
    if let Some((id, delta)) = &delta {
        // Fast path: a patch this small beats any plain compression of dump text, so the
        // plain form is not computed (the usual case for an unchanged-but-shifted chunk).
        if delta.len() * FAST_PATH_DEN <= plain.len() {
            return (delta.clone(), Some(*id));
        }
    }
    let whole = compress(plain, level);
    match delta {
        Some((id, delta)) if delta.len() * DELTA_MARGIN_DEN <= whole.len() * DELTA_MARGIN_NUM => {
            (delta, Some(id))
        }
        _ => (whole, None),
    }
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
    let plain = match base {
        Some(base) => decompress_delta(tagged, raw_len, base)?,
        None => decompress(tagged, raw_len)?,
    };
    verify(key, id, &plain)?;
    Ok(plain)
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
        (true, Some(&crate::compress::TAG_DELTA)) => Ok(()),
        (true, _) => Err(DecodeError::NotDelta),
        (false, _) => decompress(&tagged, raw_len).map(|_| ()).map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 32])
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
}
