//! The reader stage of the snapshot pipeline: cuts a stream into content-defined chunks with
//! the repository's chunker parameters and seed, names each chunk by keyed BLAKE3, hashes the
//! whole stream and scans it as an SQL dump ([`Scan`]). Must not look at the index.

use super::Scan;
use crate::chunker::chunks;
use crate::id::Id;
use crate::repository::Repository;
use crate::source::Dialect;
use crate::tables::{Section, TableScanner};
use crossbeam_channel::Sender;
use std::io::Read;

/// What the reader saw of the whole stream.
pub(super) struct StreamStats {
    /// Bytes read.
    pub size: u64,
    /// BLAKE3 of the stream.
    pub blake3: [u8; 32],
    /// The table sections the scan found.
    pub sections: Vec<Section>,
    /// The dialect recognised from the stream's first bytes, when scanned without one.
    pub detected: Option<Dialect>,
    /// Whether the scanned dump ended with its completion marker; `None` when not scanned.
    pub complete: Option<bool>,
}

/// Reads `source` to its end (or until the dedup stage stops receiving), sending each chunk
/// with its id to `tx`.
///
/// Errors: reading `source`.
pub(super) fn read_stream<R: Read>(
    source: R,
    repo: &Repository,
    scan: Scan,
    tx: Sender<(Id, Vec<u8>)>,
) -> std::io::Result<StreamStats> {
    let key = repo.key();
    let mut hasher = blake3::Hasher::new();
    let (mut scanner, detect) = match scan {
        Scan::Off => (None, false),
        Scan::Dump(d) => (d.map(TableScanner::new), d.is_none()),
    };
    let mut detected = None;
    let mut size = 0u64;
    for chunk in chunks(source, &repo.config().chunker, key.chunker_seed()) {
        let chunk = chunk?;
        if size == 0 && detect {
            // A piped dump (`pg_dump | dumpvault snapshot --stdin`) still gets its table index.
            detected = crate::tables::detect_dialect(&chunk);
            scanner = detected.map(TableScanner::new);
        }
        hasher.update(&chunk);
        if let Some(s) = scanner.as_mut() {
            s.update(&chunk);
        }
        size += chunk.len() as u64;
        let id = key.blob_id(&chunk);
        if tx.send((id, chunk)).is_err() {
            // The dedup stage stopped; its error is reported.
            break;
        }
    }
    let scanned = scanner.map(TableScanner::end);
    Ok(StreamStats {
        size,
        blake3: *hasher.finalize().as_bytes(),
        complete: scanned.as_ref().map(|s| s.complete),
        sections: scanned.map(|s| s.sections).unwrap_or_default(),
        detected,
    })
}
