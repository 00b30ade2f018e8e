//! Index files `index/<id>`: sealed `version || bincode(IndexFile)`. An index file lists packs
//! and the blobs inside them; the union of all index files is the repository index.

use super::pack::{PackBlob, PackBlobV1};
use super::{decode_index_versioned, encode_index_versioned, FormatError};
use serde::{Deserialize, Serialize};

/// One pack as recorded in an index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    /// Pack id (BLAKE3 of the pack's bytes).
    pub id: [u8; 32],
    /// Total size of the pack file, bytes.
    pub size: u64,
    /// The blobs in the pack, as in its header.
    pub blobs: Vec<PackBlob>,
}

/// A pack that a prune marked obsolete: it may be deleted physically once the grace period
/// has passed and no index still lists it as live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObsoletePack {
    /// Pack id.
    pub id: [u8; 32],
    /// When it was marked, seconds since the Unix epoch (UTC).
    pub marked_at: i64,
}

/// The contents of one index file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Live packs.
    pub packs: Vec<IndexPack>,
    /// Ids of index files this one replaces (written by prune; readers ignore the replaced
    /// files if they still exist).
    pub supersedes: Vec<[u8; 32]>,
    /// Packs marked for deletion by prune.
    pub obsolete: Vec<ObsoletePack>,
}

/// An index file as version 1 wrote it (pack entries without `base`).
#[derive(Deserialize)]
pub struct IndexFileV1 {
    packs: Vec<IndexPackV1>,
    supersedes: Vec<[u8; 32]>,
    obsolete: Vec<ObsoletePack>,
}

#[derive(Deserialize)]
struct IndexPackV1 {
    id: [u8; 32],
    size: u64,
    blobs: Vec<PackBlobV1>,
}

impl From<IndexFileV1> for IndexFile {
    fn from(f: IndexFileV1) -> Self {
        IndexFile {
            packs: (f.packs.into_iter())
                .map(|p| IndexPack {
                    id: p.id,
                    size: p.size,
                    blobs: p.blobs.into_iter().map(Into::into).collect(),
                })
                .collect(),
            supersedes: f.supersedes,
            obsolete: f.obsolete,
        }
    }
}

/// Encodes an index file's plaintext (before sealing), version [`super::INDEX_VERSION`].
pub fn encode_index_file(f: &IndexFile) -> Vec<u8> {
    encode_index_versioned(f)
}

/// Decodes an index file's plaintext, version 1 or 2.
pub fn decode_index_file(bytes: &[u8]) -> Result<IndexFile, FormatError> {
    decode_index_versioned::<IndexFile, IndexFileV1>(bytes)
}
