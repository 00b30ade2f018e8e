//! One big table's data loaded over several connections. Its data section is
//!
//! ```text
//! head   -- comments, COPY t (...) FROM stdin;        | LOCK TABLES, DISABLE KEYS
//! rows   one row per line (PostgreSQL COPY text)       | INSERT statements, each ending `;\n`
//! tail   \.                                            | ENABLE KEYS, UNLOCK TABLES
//! ```
//!
//! The rows are cut into K pieces of about equal bytes at row boundaries (after a line feed:
//! COPY text escapes line feeds in values) or statement boundaries (after `;` and a line feed:
//! MySQL dumps escape line feeds in strings, so a raw one ends a row or a statement). Each
//! piece is loaded as head + its rows + tail over its own connection (MySQL's table locks left
//! out: they would make the pieces wait for each other). A piece reads from just before its
//! nominal start and skips to the first boundary, and stops at the first boundary after its
//! nominal end, so the pieces need not know each other's boundaries.

use super::hash::{Segment, StreamHash};
use std::io::Write;
use std::ops::Range;

/// Smallest piece worth its own connection, bytes.
const MIN_PIECE: u64 = 16 << 20;

/// How a data section splits into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Whether statements end at `;\n` (MySQL) rather than rows at `\n` (PostgreSQL).
    pub mysql: bool,
    /// The rows, stream offsets.
    pub rows: Range<u64>,
}

/// Bytes a piece reads before its nominal start, to see the boundary before it.
pub const LOOK_BACK: u64 = 2;

/// The smallest piece: [`MIN_PIECE`], or `DUMPVAULT_TEST_SPLIT_BYTES` in test builds.
pub fn min_piece() -> u64 {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = std::env::var("DUMPVAULT_TEST_SPLIT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    MIN_PIECE
}

/// Into how many pieces a table of `bytes` goes when `all` bytes of table data load over
/// `jobs` connections: enough that no piece is much over a fair share, at most `jobs`, none
/// smaller than `min`.
pub fn pieces(bytes: u64, all: u64, jobs: usize, min: u64) -> usize {
    let share = (all / jobs.max(1) as u64).max(min).max(1);
    (bytes.div_ceil(share) as usize).clamp(1, jobs.max(1))
}

/// The rows of a data section `section`, from its first bytes `head` and its last bytes
/// `tail`; `None` when the section cannot be split (not one COPY or INSERT block seen whole).
pub fn rows(mysql: bool, section: &Range<u64>, head: &[u8], tail: &[u8]) -> Option<Rows> {
    let tail_at = section.end - tail.len() as u64;
    let (start, end) = if mysql {
        let first = line_starts(head).find(|&i| head[i..].starts_with(b"INSERT "))?;
        // The first line of the tail window may be cut: only whole lines count.
        let whole_from = match tail_at == section.start {
            true => 0,
            false => tail.iter().position(|b| *b == b'\n')? + 1,
        };
        let mut end = None;
        for i in line_starts(tail).filter(|&i| i >= whole_from) {
            let line = &tail[i..];
            let len = line.iter().position(|b| *b == b'\n').map(|n| n + 1);
            let Some(len) = len else { break };
            let is_rows = line.starts_with(b"(") || line.starts_with(b"INSERT ");
            if is_rows {
                end = Some((i + len, line[..len - 1].ends_with(b";")));
            }
        }
        let (end, closed) = end?;
        if !closed {
            return None;
        }
        (section.start + first as u64, tail_at + end as u64)
    } else {
        let copy = find(head, b" FROM stdin;\n")?;
        let line = head[..copy]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        if !head[line..].starts_with(b"COPY ") {
            return None;
        }
        let end = rfind(tail, b"\n\\.\n")? + 1;
        (
            section.start + (copy + b" FROM stdin;\n".len()) as u64,
            tail_at + end as u64,
        )
    };
    (start < end).then_some(Rows {
        mysql,
        rows: start..end,
    })
}

fn line_starts(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain((0..b.len()).filter(|&i| b[i] == b'\n').map(|i| i + 1))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn rfind(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).rposition(|w| w == n)
}

/// A section's head or tail as each piece sends it: MySQL's `LOCK TABLES` and `UNLOCK TABLES`
/// lines left out.
pub fn without_locks(mysql: bool, text: &[u8]) -> Vec<u8> {
    if !mysql {
        return text.to_vec();
    }
    text.split_inclusive(|b| *b == b'\n')
        .filter(|l| !l.starts_with(b"LOCK TABLES ") && !l.starts_with(b"UNLOCK TABLES"))
        .flat_map(|l| l.iter().copied())
        .collect()
}

/// The nominal cut points of `rows` into `k` pieces: piece i is `cuts[i]..cuts[i + 1]`.
pub fn cuts(rows: &Range<u64>, k: usize) -> Vec<u64> {
    let len = rows.end - rows.start;
    let k = k.max(1) as u64;
    (0..=k).map(|i| rows.start + len * i / k).collect()
}

/// The stream bytes piece `nominal` of `rows` reads: from [`LOOK_BACK`] before its start
/// (from the rows' start for the first piece) to the rows' end.
pub fn read_range(rows: &Rows, nominal: &Range<u64>) -> Range<u64> {
    let from = match nominal.start == rows.rows.start {
        true => nominal.start,
        false => nominal.start - LOOK_BACK.min(nominal.start - rows.rows.start),
    };
    from..rows.rows.end
}

/// Marks the write error by which a piece stops its read once it has all its rows.
#[derive(Debug)]
pub struct PieceDone;

impl std::fmt::Display for PieceDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("piece complete")
    }
}

impl std::error::Error for PieceDone {}

/// Whether an I/O error is [`PieceDone`].
pub fn is_done(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<PieceDone>())
}

/// Writes one piece's rows to `out` from the bytes of its [`read_range`], and feeds every byte
/// it is given to the stream hash. Fails with [`PieceDone`] once its rows are written.
pub struct PieceWriter<'a, W: Write> {
    out: W,
    mysql: bool,
    /// Stream offset of the next byte given.
    pos: u64,
    /// The piece's nominal start and end.
    nominal: Range<u64>,
    /// The last two bytes given (`[.., last]`).
    prev: [u8; 2],
    started: bool,
    done: bool,
    seg: Option<Segment<'a>>,
    /// Row bytes written.
    pub written: u64,
}

impl<'a, W: Write> PieceWriter<'a, W> {
    /// A writer for the piece `nominal` of `rows`, given the bytes of its [`read_range`].
    pub fn new(out: W, rows: &Rows, nominal: Range<u64>, hash: Option<&'a StreamHash>) -> Self {
        let from = read_range(rows, &nominal).start;
        PieceWriter {
            out,
            mysql: rows.mysql,
            pos: from,
            started: nominal.start == rows.rows.start,
            done: nominal.start == rows.rows.start && nominal.end <= nominal.start,
            nominal,
            prev: [0, 0],
            seg: hash.map(|h| h.segment(from)),
            written: 0,
        }
    }

    /// The index in `b` just after the first boundary at stream offset `at` or later whose
    /// line feed is at index `from` or later.
    fn boundary(&self, b: &[u8], from: usize, at: u64) -> Option<usize> {
        let skip = at.saturating_sub(self.pos + 1);
        let mut i = (skip.min(b.len() as u64) as usize).max(from);
        while let Some(n) = b.get(i..)?.iter().position(|c| *c == b'\n') {
            let lf = i + n;
            let before = match lf {
                0 => self.prev[1],
                _ => b[lf - 1],
            };
            if !self.mysql || before == b';' {
                return Some(lf + 1);
            }
            i = lf + 1;
        }
        None
    }

    /// Ends the hash segment; returns the writer the rows went to.
    pub fn finish(mut self) -> W {
        if let Some(s) = self.seg.take() {
            s.finish();
        }
        self.out
    }
}

impl<W: Write> Write for PieceWriter<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.done {
            return Err(std::io::Error::other(PieceDone));
        }
        if let Some(s) = self.seg.as_mut() {
            s.update(b);
        }
        let mut from = 0;
        if !self.started {
            match self.boundary(b, 0, self.nominal.start) {
                Some(i) => {
                    from = i;
                    self.started = true;
                    // The first boundary after the start is past the end: no rows here.
                    self.done = self.pos + i as u64 >= self.nominal.end;
                }
                None => from = b.len(),
            }
        }
        let mut to = from;
        if self.started && !self.done {
            match self.boundary(b, from, self.nominal.end) {
                Some(i) => {
                    to = i;
                    self.done = true;
                }
                None => to = b.len(),
            }
        }
        if to > from {
            self.out.write_all(&b[from..to])?;
            self.written += (to - from) as u64;
        }
        match b {
            [.., x, y] => self.prev = [*x, *y],
            [y] => self.prev = [self.prev[1], *y],
            [] => {}
        }
        self.pos += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cuts `section` (at stream offset `at`) into `k` pieces with writes of `step` bytes;
    /// returns each piece's rows, and checks the stream hash saw every byte it was given.
    fn pieces_of(mysql: bool, section: &[u8], at: u64, k: usize, step: usize) -> Vec<Vec<u8>> {
        let range = at..at + section.len() as u64;
        let w = 256.min(section.len());
        let tail = &section[section.len() - w..];
        let r = rows(mysql, &range, &section[..w], tail).expect("splittable");
        let c = cuts(&r.rows, k);
        c.windows(2)
            .map(|n| {
                let nominal = n[0]..n[1];
                let read = read_range(&r, &nominal);
                let bytes = &section[(read.start - at) as usize..(read.end - at) as usize];
                let mut pw = PieceWriter::new(Vec::new(), &r, nominal, None);
                for b in bytes.chunks(step) {
                    match pw.write(b) {
                        Ok(_) => {}
                        Err(e) if is_done(&e) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                pw.finish()
            })
            .collect()
    }

    #[test]
    fn copy_rows_split_at_line_feeds_only() {
        let mut s = b"--\n-- Data for Name: t\n--\n\nCOPY public.t (a, b) FROM stdin;\n".to_vec();
        let head = s.len();
        for i in 0..200 {
            s.extend_from_slice(format!("{i}\tx\\n\\ty\\\\{}\n", "z".repeat(i % 13)).as_bytes());
        }
        let end = s.len();
        s.extend_from_slice(b"\\.\n\n\n");
        let r = rows(
            false,
            &(100..100 + s.len() as u64),
            &s[..70],
            &s[s.len() - 20..],
        );
        assert_eq!(r.unwrap().rows, 100 + head as u64..100 + end as u64);
        for k in [1, 2, 3, 7] {
            for step in [1, 2, 5, 64, 10_000] {
                let p = pieces_of(false, &s, 100, k, step);
                let got = String::from_utf8_lossy(&p.concat()).into_owned();
                assert!(
                    got.as_bytes() == &s[head..end],
                    "k {k} step {step}: {got:.300}"
                );
                assert!(p.iter().all(|p| p.is_empty() || p.ends_with(b"\n")));
                if k > 1 && step < 64 {
                    assert!(p.iter().filter(|p| !p.is_empty()).count() > 1);
                }
            }
        }
    }

    #[test]
    fn mysql_rows_split_at_statement_ends_only() {
        let mut s = b"--\n-- Dumping data for table `t`\n--\n\nLOCK TABLES `t` WRITE;\n\
            /*!40000 ALTER TABLE `t` DISABLE KEYS */;\n"
            .to_vec();
        let head = s.len();
        for st in 0..9 {
            s.extend_from_slice(b"INSERT INTO `t` VALUES\n");
            for i in 0..20 {
                let end = if i == 19 { ";" } else { "," };
                s.extend_from_slice(format!("({st}{i},'a;\\nb'){end}\n").as_bytes());
            }
        }
        let end = s.len();
        s.extend_from_slice(b"/*!40000 ALTER TABLE `t` ENABLE KEYS */;\nUNLOCK TABLES;\n");
        for k in [1, 2, 4, 20] {
            for step in [1, 3, 100, 100_000] {
                let p = pieces_of(true, &s, 0, k, step);
                let got = String::from_utf8_lossy(&p.concat()).into_owned();
                assert!(
                    got.as_bytes() == &s[head..end],
                    "k {k} step {step}: {got:.300}"
                );
                for p in p.iter().filter(|p| !p.is_empty()) {
                    assert!(p.starts_with(b"INSERT ") && p.ends_with(b");\n"), "k {k}");
                }
            }
        }
        let h = without_locks(true, &s[..head]);
        assert!(!String::from_utf8_lossy(&h).contains("LOCK"));
        assert!(String::from_utf8_lossy(&h).contains("DISABLE KEYS"));
    }

    #[test]
    fn unsplittable_sections_and_piece_counts() {
        // A row longer than the tail window: its end is not seen whole.
        let s = b"INSERT INTO `t` VALUES\n(1,'aaaaaaaaaaaaaaaaaaaaaaaa');\n";
        let all = 0..s.len() as u64;
        assert!(rows(true, &all, &s[..10], &s[s.len() - 10..]).is_none());
        assert!(rows(true, &all, &s[..10], &s[..]).is_some());
        assert!(rows(false, &(0..4), b"x\n", b"\\.\n").is_none());
        assert_eq!(pieces(240, 250, 2, 16), 2);
        assert_eq!(pieces(240, 250, 1, 16), 1);
        assert_eq!(pieces(20, 250, 2, 16), 1, "a small table is not split");
        assert_eq!(pieces(100, 100, 4, 40), 3, "pieces of at least the minimum");
    }
}
