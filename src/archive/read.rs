//! The reader stage of the snapshot pipeline: cuts a stream into content-defined chunks with
//! the repository's chunker parameters and seed (the dedup stage names each chunk, by keyed
//! BLAKE3, to share the hashing between the two threads), hashes the whole stream and scans it as an SQL dump ([`Scan`]), and marks where each table's data
//! starts ([`ReadChunk::tables`], for the delta base finder). Must not look at the index.

use super::Scan;
use crate::chunker::chunks;
use crate::progress::Progress;
use crate::repository::Repository;
use crate::source::Dialect;
use crate::tables::{Section, TableScanner};
use crossbeam_channel::Sender;
use std::io::Read;

/// One chunk of the stream, as the reader hands it to the dedup stage.
pub(super) struct ReadChunk {
    /// The chunk's bytes.
    pub data: Vec<u8>,
    /// Table data starting in this chunk (scanned dumps only): the stream offset of each data
    /// header (`COPY name (`, `INSERT INTO name`, mysqldump's data comment) whose table differs
    /// from the previous header's, and the table's name, unquoted and schema-qualified as in
    /// the manifest's sections. The base finder re-anchors its offset shift there.
    pub tables: Vec<(u64, String)>,
}

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
    tx: Sender<ReadChunk>,
    report: Report<'_>,
) -> std::io::Result<StreamStats> {
    let mut table: Option<String> = None;
    let mut data_table: Option<String> = None;
    let mut line_start = true;
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
        let mut tables = Vec::new();
        if scanner.is_some() {
            let headers = data_headers(&chunk, line_start);
            if let Some((_, name)) = headers.last() {
                report.table(&mut table, name);
            }
            for (at, name) in headers {
                if data_table.as_deref() != Some(name.as_str()) {
                    tables.push((size + at as u64, name.clone()));
                    data_table = Some(name);
                }
            }
        }
        line_start = chunk.last() == Some(&b'\n');
        size += chunk.len() as u64;
        report.progress.inc(chunk.len() as u64);
        let c = ReadChunk {
            data: chunk,
            tables,
        };
        if tx.send(c).is_err() {
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
    /// Reports table `t` (the last data header of a chunk) when it differs from `*last`.
    fn table(&self, last: &mut Option<String>, t: &str) {
        if last.as_deref() != Some(t) {
            match &self.label {
                Some(l) => self.progress.set_item(&format!("{l}: {t}")),
                None => self.progress.set_item(t),
            }
            *last = Some(t.to_string());
        }
    }
}

/// Every data header in a piece of an SQL dump (a chunk) that starts a line: its offset in
/// the piece and its table's name, unquoted (`"a""b"` is `a"b`), parts joined by `.`. A header
/// opening the piece counts when `line_start` (the previous piece ended a line); one cut at the
/// piece's end is not seen (its table then gets no anchor, only the shift).
fn data_headers(bytes: &[u8], line_start: bool) -> Vec<(usize, String)> {
    use memchr::memmem::find_iter;
    const HEADS: [&[u8]; 3] = [
        b"\nCOPY ",
        b"\n-- Dumping data for table ",
        b"\nINSERT INTO ",
    ];
    let mut out: Vec<(usize, String)> = Vec::new();
    for h in HEADS {
        if line_start && bytes.starts_with(&h[1..]) {
            if let Some(name) = table_name(&bytes[h.len() - 1..]) {
                out.push((0, name));
            }
        }
        for i in find_iter(bytes, h) {
            if let Some(name) = table_name(&bytes[i + h.len()..]) {
                out.push((i + 1, name));
            }
        }
    }
    out.sort_unstable_by_key(|(at, _)| *at);
    out
}

/// The possibly qualified, possibly quoted (`"…"` or `` `…` ``) name opening `rest`,
/// unquoted; `None` when empty or cut by the end of `rest`.
fn table_name(rest: &[u8]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    loop {
        let mut part = Vec::new();
        match rest.get(i) {
            Some(&q) if q == b'"' || q == b'`' => {
                i += 1;
                loop {
                    match (rest.get(i), rest.get(i + 1)) {
                        (Some(&c), Some(&d)) if c == q && d == q => {
                            part.push(q);
                            i += 2;
                        }
                        (Some(&c), Some(_)) if c == q => {
                            i += 1;
                            break;
                        }
                        (Some(&c), _) if c != q && c != b'\n' => {
                            part.push(c);
                            i += 1;
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                while let Some(&c) = rest.get(i) {
                    if matches!(c, b' ' | b'(' | b'\n' | b'\r' | b';' | b'\t' | b'.') {
                        break;
                    }
                    part.push(c);
                    i += 1;
                }
                rest.get(i)?;
            }
        }
        if part.is_empty() || part.len() > 200 {
            return None;
        }
        parts.push(String::from_utf8_lossy(&part).into_owned());
        if rest.get(i) != Some(&b'.') {
            return Some(crate::tables::name::encode(&parts));
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::data_headers;

    #[test]
    fn data_headers_name_each_table_unquoted() {
        let pg = b"x\nCOPY public.a (id) FROM stdin;\n1\n\\.\n\nCOPY \"S\".\"Order \"\"Items\"\"\" (id) FROM";
        assert_eq!(
            data_headers(pg, true),
            vec![(2, "public.a".into()), (39, "S.Order \"Items\"".into())]
        );
        let my = b"\n-- Dumping data for table `shop`\n\nINSERT INTO `shop` VALUES (1);\n";
        assert_eq!(
            data_headers(my, false),
            vec![(1, "shop".into()), (35, "shop".into())]
        );
        // Cut at the end of the piece, or not at a line start: nothing.
        assert!(data_headers(b"\nCOPY public.ord", true).is_empty());
        assert!(data_headers(b"\nCOPY \"public", true).is_empty());
        let opening = b"COPY public.a (id) FROM stdin;\n";
        assert!(data_headers(opening, false).is_empty());
        assert_eq!(data_headers(opening, true), vec![(0, "public.a".into())]);
    }
}
