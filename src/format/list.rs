//! Chunk list blobs: a stream's ordered chunk ids stored as a tree of deduplicated blobs of kind
//! [`super::pack::BlobKind::List`], so a manifest holds one root id instead of millions of ids.

use serde::{Deserialize, Serialize};

/// One entry of a list blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    /// At level 0 a data chunk id; above, the id of a list blob one level down.
    pub id: [u8; 32],
    /// Plain bytes covered: the chunk length at level 0, the subtree's total above.
    pub size: u64,
}

/// The plaintext of a list blob: `version || bincode(ListBlob)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListBlob {
    /// 0 for lists of data chunks; n for lists of level n-1 list blobs.
    pub level: u8,
    /// Entries in stream order.
    pub entries: Vec<ListEntry>,
}
