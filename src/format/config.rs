//! The repository `config` object: sealed JSON, written once by `init`.

use serde::{Deserialize, Serialize};

/// FastCDC (v2020) chunker parameters, in bytes. The gear seed is secret and lives in the
/// master key, not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// Smallest chunk, bytes (FastCDC `min_size`).
    pub min_size: u32,
    /// Target average chunk, bytes (FastCDC `avg_size`).
    pub avg_size: u32,
    /// Largest chunk, bytes (FastCDC `max_size`).
    pub max_size: u32,
    /// FastCDC normalization level (0..=3).
    pub normalization: u8,
}

impl Default for ChunkerParams {
    /// 32 KiB / 128 KiB / 512 KiB, normalization 1: with delta blobs, larger chunks cost less
    /// per hourly snapshot than small ones (less index and header metadata per changed
    /// chunk); see repo-format.md, "Choosing the parameters". Repositories made before
    /// keep [`ChunkerParams::DELTA_2026`].
    fn default() -> Self {
        ChunkerParams {
            min_size: 32 * 1024,
            avg_size: 128 * 1024,
            max_size: 512 * 1024,
            normalization: 1,
        }
    }
}

impl ChunkerParams {
    /// 16 KiB / 64 KiB / 256 KiB, normalization 1: the default from delta blobs (format
    /// version 2) until splices had been measured with every churn model (2026-12-07).
    pub const DELTA_2026: ChunkerParams = ChunkerParams {
        min_size: 16 * 1024,
        avg_size: 64 * 1024,
        max_size: 256 * 1024,
        normalization: 1,
    };
}

/// The repository configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Config version: 1 (the listing of `snapshots/` decides which snapshots exist), 2 (the
    /// catalogue does), 3 (its compaction has per-database parts) or 4 (delta blobs may be
    /// splices); see [`super::CONFIG_VERSION`].
    pub version: u32,
    /// Random repository id (64 hex digits).
    pub id: String,
    /// Chunker parameters.
    pub chunker: ChunkerParams,
    /// Default zstd level for new blobs (0 = store uncompressed).
    pub compression_level: i32,
    /// Target pack size in bytes; a pack is closed once it reaches this size.
    pub pack_size: u64,
}

impl Config {
    /// Whether the snapshot catalogue decides which snapshots exist (config version 2 and
    /// later, `repo-format.md` section 17); otherwise the listing of `snapshots/` does.
    pub fn catalogue_authoritative(&self) -> bool {
        self.version >= super::CONFIG_CATALOGUE_AUTHORITATIVE
    }

    /// Whether prune splits the catalogue into per-database parts and catalogue files are
    /// written in version 3 (config version 3 and later, `repo-format.md` section 17).
    pub fn catalogue_parts(&self) -> bool {
        self.version >= super::CONFIG_CATALOGUE_PARTS
    }

    /// Whether delta blobs may be stored as splices (tag 3; config version 4 and later,
    /// `repo-format.md` section 6).
    pub fn splices(&self) -> bool {
        self.version >= super::CONFIG_SPLICES
    }

    /// The longest delta chain a writer makes in this repository:
    /// [`super::pack::MAX_DELTA_DEPTH`] where deltas may be splices, else
    /// [`super::pack::MAX_PATCH_DEPTH`] (repo-format.md section 6).
    pub fn max_delta_depth(&self) -> usize {
        match self.splices() {
            true => super::pack::MAX_DELTA_DEPTH,
            false => super::pack::MAX_PATCH_DEPTH,
        }
    }
}
