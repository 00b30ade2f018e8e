//! Index files `index/<id>`: sealed `version || bincode(IndexFile)`. An index file lists packs
//! and the blobs inside them; the union of all index files is the repository index.

use super::pack::PackBlob;
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
