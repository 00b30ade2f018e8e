//! Snapshot manifests `snapshots/<id>`: sealed `version || bincode(Manifest)`.

use crate::source::SourceInfo;
use crate::tables::Section;
use serde::{Deserialize, Serialize};

/// One named stream of a snapshot (a dump, or e.g. PostgreSQL globals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRef {
    /// Stream name, e.g. `shop.sql`.
    pub name: String,
    /// Plain length, bytes.
    pub size: u64,
    /// Unkeyed BLAKE3 of the whole plain stream.
    pub blake3: [u8; 32],
    /// Root list blob of the chunk list tree.
    pub root: [u8; 32],
    /// Number of data chunks.
    pub chunks: u64,
    /// Table sections found by the scanner (empty for opaque streams).
    pub sections: Vec<Section>,
}

/// Figures about how the snapshot was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Sealed bytes added to the repository (new blobs), bytes.
    pub bytes_added: u64,
    /// Data chunks in the stream(s).
    pub chunks: u64,
    /// Blobs that were new to the repository.
    pub new_blobs: u64,
    /// Wall-clock duration, milliseconds.
    pub duration_ms: u64,
}

/// A snapshot manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Time the snapshot started: RFC 3339 with the host's UTC offset.
    pub time: String,
    /// Host name.
    pub host: String,
    /// Tags: `key=value` or bare words.
    pub tags: Vec<String>,
    /// Where the dump came from.
    pub source: SourceInfo,
    /// The streams.
    pub streams: Vec<StreamRef>,
    /// Figures.
    pub summary: Summary,
    /// Id of the snapshot this was copied from, in another repository.
    pub original: Option<[u8; 32]>,
}

impl Manifest {
    /// The database this snapshot is of: the recorded `source.database`, else for a piped
    /// stream (`stdin`, `command`; snapshots written before the database was recorded) its
    /// first stream's name without extension ([`crate::source::database_of_stream`]). `None`
    /// for other sources without a database.
    pub fn database(&self) -> Option<String> {
        if let Some(db) = &self.source.database {
            return Some(db.clone());
        }
        let stream = self.streams.first().filter(|_| self.source.is_stream())?;
        Some(crate::source::database_of_stream(&stream.name))
    }

    /// The identity of [`Manifest::database`] (engine, server or file, and name, see
    /// [`SourceInfo::identity`]): what retention groups by, `--database` selects, and `report`
    /// and `diff` tell databases apart with.
    pub fn identity(&self) -> Option<String> {
        self.database().map(|db| self.source.identity_of(&db))
    }
}
