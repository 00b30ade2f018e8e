//! Pack files `data/<2 hex>/<pack id>`: sealed blobs back to back, then the sealed header, then
//! the header's length as a 4-byte little-endian integer. Pack id = BLAKE3 of all the bytes.

use super::{decode_index_versioned, encode_index_versioned, FormatError};
use serde::{Deserialize, Serialize};

/// Bytes of the trailing header-length field.
pub const TRAILER_LEN: usize = 4;

/// Longest chain of delta blobs a writer makes where deltas may be splices (config version 4
/// and later): a delta's base may itself be a delta, at most this many levels deep; a
/// snapshot stores a chunk whole rather than exceed it (repo-format.md §6). Readers compose a
/// chain's splices ([`crate::splice::Composed`]), so a deep chain of splices costs a restore
/// about what one link does; only its zstd patches, at most [`MAX_PATCH_DEPTH`] of them, are
/// decoded whole. Over 24 hourly snapshots of the bench's 32 MiB series, where every chunk
/// changes every hour, a limit of 3 stored 7.2 MB (hotspot) and 8.6 MB (uniform), 16 stored
/// 4.8 and 5.7 MB (docs/bench.md, "Deep chains of splices").
pub const MAX_DELTA_DEPTH: usize = 16;

/// Longest chain of delta blobs a writer makes where deltas are all zstd patches (config
/// versions before 4), and the deepest a zstd patch (tag 2) goes anywhere: a zstd patch is
/// made only against a base with fewer delta links under it, so a chain holds at most this
/// many, all at its bottom, and a reader decodes at most this many whole chunks besides the
/// chain's bottom.
pub const MAX_PATCH_DEPTH: usize = 3;

/// Longest delta chain a reader follows: far above what any writer produces (writers have
/// used other maxima, e.g. 8), so older repositories stay readable, yet bounded so that a
/// damaged index whose bases form a loop is an error, not a hang.
pub const READ_DELTA_DEPTH: usize = 64;

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum BlobKind {
    /// A chunk of a dump stream.
    Data = 0,
    /// A list of chunk ids (or of other list blobs): part of a stream's chunk list tree.
    List = 1,
    /// A data chunk stored as a zstd patch against a base blob (its `base`): compression tag
    /// 2, see [`crate::compress`].
    Delta = 2,
}

/// One blob's entry in a pack header and in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackBlob {
    /// Blob kind.
    pub kind: BlobKind,
    /// Keyed BLAKE3 of the plaintext.
    pub id: [u8; 32],
    /// Offset of the sealed blob in the pack, bytes.
    pub offset: u32,
    /// Length of the sealed blob, bytes.
    pub length: u32,
    /// Length of the plaintext, bytes.
    pub raw_length: u32,
    /// For [`BlobKind::Delta`]: the id of the blob whose plaintext is the patch's dictionary;
    /// `None` for every other kind. (Absent in version 1 headers.)
    pub base: Option<[u8; 32]>,
}

/// A pack header entry as version 1 wrote it (no delta blobs, so no `base`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PackBlobV1 {
    kind: BlobKind,
    id: [u8; 32],
    offset: u32,
    length: u32,
    raw_length: u32,
}

impl From<PackBlobV1> for PackBlob {
    fn from(b: PackBlobV1) -> Self {
        PackBlob {
            kind: b.kind,
            id: b.id,
            offset: b.offset,
            length: b.length,
            raw_length: b.raw_length,
            base: None,
        }
    }
}

/// A version 1 pack header (a list of [`PackBlobV1`]).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct HeaderV1(Vec<PackBlobV1>);

impl From<HeaderV1> for Vec<PackBlob> {
    fn from(h: HeaderV1) -> Self {
        h.0.into_iter().map(Into::into).collect()
    }
}

/// Encodes a pack header's plaintext (before sealing).
pub fn encode_header(blobs: &[PackBlob]) -> Vec<u8> {
    encode_index_versioned(&blobs)
}

/// Decodes a pack header's plaintext.
/// Versions 1 and 2 are read (see [`super::INDEX_VERSION`]).
pub fn decode_header(bytes: &[u8]) -> Result<Vec<PackBlob>, FormatError> {
    decode_index_versioned::<Vec<PackBlob>, HeaderV1>(bytes)
}

/// Splits a whole pack into (blob area length, sealed header) using the trailer.
pub fn split_trailer(pack: &[u8]) -> Result<(usize, &[u8]), FormatError> {
    if pack.len() < TRAILER_LEN {
        return Err(FormatError::Decode("shorter than its trailer".into()));
    }
    let n = pack.len() - TRAILER_LEN;
    let hlen = u32::from_le_bytes(pack[n..].try_into().expect("4 bytes")) as usize;
    if hlen > n {
        return Err(FormatError::Decode(format!(
            "header length {hlen} exceeds pack"
        )));
    }
    Ok((n - hlen, &pack[n - hlen..n]))
}
