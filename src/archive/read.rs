//! The reader stage of the snapshot pipeline: cuts a stream into content-defined chunks with
//! the repository's chunker parameters and seed, names each chunk by keyed BLAKE3, hashes the
//! whole stream and scans it as an SQL dump ([`Scan`]). Must not look at the index.

use super::Scan;
use crate::chunker::chunks;
use crate::id::Id;
use crate::progress::Progress;
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

/// Where the reader reports: bytes read and, for a scanned dump, the table being read
/// (`label: table`, or the table alone without a label).
pub(super) struct Report<'a> {
    pub progress: &'a dyn Progress,
    pub label: Option<String>,
}

/// Reads `source` to its end (or until the dedup stage stops receiving), sending each chunk
/// with its id to `tx` and reporting its bytes (and table) to `report`.
///
/// Errors: reading `source`.
pub(super) fn read_stream<R: Read>(
    source: R,
    repo: &Repository,
    scan: Scan,
    tx: Sender<(Id, Vec<u8>)>,
    report: Report<'_>,
) -> std::io::Result<StreamStats> {
    let mut table: Option<String> = None;
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
        report.progress.inc(chunk.len() as u64);
        if scanner.is_some() {
            report.table(&mut table, &chunk);
        }
        let id = key.blob_id(&chunk);
        if tx.send((id, chunk)).is_err() {
            // The dedup stage stopped; its error is reported.
            break;
        }
    }
    tracing::debug!(bytes = size, "dump stream read to its end");
    let scanned = scanner.map(TableScanner::end);
    Ok(StreamStats {
        size,
        blake3: *hasher.finalize().as_bytes(),
        complete: scanned.as_ref().map(|s| s.complete),
        sections: scanned.map(|s| s.sections).unwrap_or_default(),
        detected,
    })
}

impl Report<'_> {
    /// Reports the table `chunk` ends in when it differs from `*last`.
    fn table(&self, last: &mut Option<String>, chunk: &[u8]) {
        let Some(t) = last_table_in(chunk) else {
            return;
        };
        if last.as_deref() != Some(t.as_str()) {
            match &self.label {
                Some(l) => self.progress.set_item(&format!("{l}: {t}")),
                None => self.progress.set_item(&t),
            }
            *last = Some(t);
        }
    }
}

/// The table whose data a piece of an SQL dump (a chunk) ends in: the last data header of
/// `bytes` — PostgreSQL `COPY name (`, mysqldump's `-- Dumping data for table `name``, or an
/// `INSERT INTO name` — unquoted; `None` when the piece holds none. A display hint only: the
/// table index stored in the manifest comes from [`TableScanner`].
fn last_table_in(bytes: &[u8]) -> Option<String> {
    use memchr::memmem::rfind;
    const HEADS: [&[u8]; 3] = [
        b"\nCOPY ",
        b"\n-- Dumping data for table ",
        b"\nINSERT INTO ",
    ];
    let (at, head) = HEADS
        .iter()
        .filter_map(|h| rfind(bytes, h).map(|i| (i, *h)))
        .max_by_key(|(i, _)| *i)?;
    let rest = &bytes[at + head.len()..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b' ' | b'(' | b'\n' | b'\r' | b';' | b'\t'))?;
    let name: String = String::from_utf8_lossy(&rest[..end])
        .chars()
        .filter(|c| !matches!(c, '`' | '"'))
        .take(120)
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::last_table_in;

    #[test]
    fn finds_the_last_data_header_of_each_dialect() {
        let pg = b"x\nCOPY public.a (id) FROM stdin;\n1\n\\.\n\nCOPY public.orders (id, v) FROM";
        assert_eq!(last_table_in(pg).as_deref(), Some("public.orders"));
        let my = b"\n-- Dumping data for table `shop`\n--\n\nLOCK TABLES `shop` WRITE;\n";
        assert_eq!(last_table_in(my).as_deref(), Some("shop"));
        let ins = b"\n-- Dumping data for table `a`\n\nINSERT INTO `b` VALUES (1);";
        assert_eq!(last_table_in(ins).as_deref(), Some("b"));
        let lite = b"CREATE TABLE t(x);\nINSERT INTO \"t\" VALUES(1);\n";
        assert_eq!(last_table_in(lite).as_deref(), Some("t"));
        // No header, or one cut at the end of the piece: nothing.
        assert_eq!(last_table_in(b"1\t2\n3\t4\n"), None);
        assert_eq!(last_table_in(b"\nCOPY public.ord"), None);
    }
}
