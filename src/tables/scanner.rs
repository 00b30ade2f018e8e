//! The streaming section scanner: the driver that reads a dump line by line.
//!
//! Owns: [`TableScanner`]'s state, line framing (a bounded prefix of each line, COPY data fast
//! path, handing statements to the lexer), section bookkeeping (split, close, row counts) and
//! the completion marker. The per-dialect line parsers are its child modules `postgres`, `mysql`
//! and `sqlite`. Must not: hold more than [`HEAD_LIMIT`] bytes of a line, or know a dialect's
//! headers and statements itself.

use std::collections::HashMap;

use memchr::memchr;

use super::lexer::Lexer;
use super::syntax::is_settings_line;
use super::{Section, SectionKind};
use crate::format::source::Dialect;

mod mysql;
mod postgres;
mod sqlite;

/// Longest line prefix kept for recognising headers and statements.
pub(super) const HEAD_LIMIT: usize = 4096;

/// Streaming section scanner: feed the dump with [`update`](Self::update), then [`finish`](Self::finish).
#[derive(Debug)]
pub struct TableScanner {
    dialect: Dialect,
    pos: u64,
    line_start: u64,
    head: Vec<u8>,
    head_done: bool,
    tail: [u8; 16],
    want_tail: bool,
    lexer: Lexer,
    copy: bool,
    copy_done: bool,
    prev_blank: bool,
    delimited: bool,
    block_start: Option<u64>,
    cur: Section,
    settings_only: bool,
    sections: Vec<Section>,
    seq_tables: HashMap<String, String>,
    /// Index (and index-backed constraint) name -> its table, schema-qualified (PostgreSQL).
    index_tables: HashMap<String, String>,
    /// PostgreSQL: the first lines of a statement whose quoted name holds a newline (`COPY
    /// public."new` / `line" (id) FROM stdin;`), joined with `\n` until the name is closed;
    /// at most [`HEAD_LIMIT`] bytes.
    pending: Option<Vec<u8>>,
    /// The last line seen outside data and statements was the dialect's completion marker,
    /// followed at most by the footer's trailing lines.
    marker: bool,
}

/// What [`TableScanner::end`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Sections covering the stream contiguously, in stream order.
    pub sections: Vec<Section>,
    /// The stream ends with its dialect's completion marker (see [`TableScanner::end`]).
    pub complete: bool,
}

impl TableScanner {
    /// A scanner for a dump in `dialect`.
    pub fn new(dialect: Dialect) -> Self {
        TableScanner {
            dialect,
            pos: 0,
            line_start: 0,
            head: Vec::with_capacity(HEAD_LIMIT),
            head_done: false,
            tail: [0; 16],
            want_tail: false,
            lexer: Lexer::new(dialect),
            copy: false,
            copy_done: false,
            prev_blank: false,
            delimited: false,
            block_start: None,
            cur: section(SectionKind::Preamble, "", String::new(), None, 0),
            settings_only: true,
            sections: Vec::new(),
            seq_tables: HashMap::new(),
            index_tables: HashMap::new(),
            pending: None,
            marker: false,
        }
    }

    /// Feeds the next bytes of the stream (any slicing).
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.copy && !self.head_done && self.head.is_empty() && !bytes.starts_with(b"\\") {
                // Fast path through COPY data: count whole lines up to a possible `\.` line.
                let end = match memchr::memmem::find(bytes, b"\n\\.") {
                    Some(k) => k + 1,
                    None => memchr::memrchr(b'\n', bytes).map_or(0, |k| k + 1),
                };
                if end > 0 {
                    self.marker = false;
                    let lines = count_newlines(&bytes[..end]);
                    if let Some(rows) = &mut self.cur.rows {
                        *rows += lines;
                    }
                    self.pos += end as u64;
                    self.line_start = self.pos;
                    self.prev_blank = false;
                    bytes = &bytes[end..];
                    continue;
                }
            }
            if self.lexer.active() {
                // Inside a statement (its first line was classified already): lex, no line handling.
                let used = self.lexer.feed(bytes);
                self.drain();
                self.marker = false;
                let (seg, rest) = bytes.split_at(used);
                if let Some(k) = memchr::memrchr(b'\n', seg) {
                    self.line_start = self.pos + k as u64 + 1;
                }
                self.pos += used as u64;
                self.head_done = self.line_start < self.pos;
                (self.prev_blank, self.settings_only) = (false, false);
                bytes = rest;
                continue;
            }
            let (seg, nl) = if self.head_done {
                let (seg, nl) = split_line(bytes);
                if self.want_tail {
                    let n = self.tail.len();
                    let keep = n.saturating_sub(seg.len());
                    self.tail.copy_within(n - keep.., 0);
                    self.tail[keep..].copy_from_slice(&seg[seg.len() - (n - keep)..]);
                }
                (seg, nl)
            } else {
                let room = HEAD_LIMIT - self.head.len();
                let (seg, nl) = split_line(&bytes[..bytes.len().min(room)]);
                let done = nl || seg.len() == room;
                if self.head.is_empty() && done {
                    self.start_line(seg);
                } else {
                    self.head.extend_from_slice(seg);
                    if done {
                        let head = std::mem::take(&mut self.head);
                        self.start_line(&head);
                        self.head = head;
                    }
                }
                (seg, nl)
            };
            self.pos += seg.len() as u64;
            bytes = &bytes[seg.len()..];
            if nl {
                self.end_line();
            }
        }
    }

    /// Ends the stream; returns sections covering it contiguously, in stream order.
    pub fn finish(self) -> Vec<Section> {
        self.end().sections
    }

    /// Ends the stream; returns its sections and whether it is complete: whether the last line
    /// outside table data and statements was the dialect's completion marker (pg_dump's or
    /// pg_dumpall's `-- PostgreSQL database [cluster] dump complete`, mysqldump's or
    /// mariadb-dump's `-- Dump completed…`, SQLite `.dump`'s `COMMIT;`), followed only by the
    /// footer's blank lines, bare `--` lines and (PostgreSQL) `\unrestrict` lines. A stream
    /// cut short (a killed dump tool behind a pipe) ends elsewhere and is not complete.
    pub fn end(mut self) -> Scanned {
        if !self.head_done && !self.head.is_empty() {
            let head = std::mem::take(&mut self.head);
            self.start_line(&head);
        }
        self.drain();
        self.close(self.pos);
        Scanned {
            complete: self.marker && !self.copy && !self.lexer.active(),
            sections: self.sections,
        }
    }

    /// Capacity of the line-prefix buffer (tests: it stays within [`HEAD_LIMIT`]).
    #[cfg(test)]
    pub(super) fn head_capacity(&self) -> usize {
        self.head.capacity()
    }

    /// Updates [`Self::marker`] for a line `t` (without end of line) outside data and statements.
    fn note_marker(&mut self, t: &[u8]) {
        let t = t.trim_ascii_end();
        let is_marker = match self.dialect {
            Dialect::Postgres => {
                t == b"-- PostgreSQL database dump complete"
                    || t == b"-- PostgreSQL database cluster dump complete"
            }
            Dialect::MySql => t.starts_with(b"-- Dump completed"),
            Dialect::Sqlite => t == b"COMMIT;",
        };
        let trailer = t.is_empty()
            || t == b"--"
            || (self.dialect == Dialect::Postgres && t.starts_with(b"\\unrestrict "));
        if self.lexer.active() || self.delimited || self.copy {
            self.marker = false;
        } else if is_marker {
            self.marker = true;
        } else if !trailer {
            self.marker = false;
        }
    }

    fn drain(&mut self) {
        let n = self.lexer.take_tuples();
        if let Some(rows) = &mut self.cur.rows {
            *rows += n;
        }
    }

    fn close(&mut self, at: u64) {
        let cur = &mut self.cur;
        cur.end = at;
        if cur.kind == SectionKind::Other && cur.object_type.is_empty() && self.settings_only {
            cur.object_type = "SETTINGS".into();
        }
        if at > cur.start {
            self.sections.push(cur.clone());
        }
    }

    fn split(&mut self, at: u64, kind: SectionKind, ty: &str, name: String, table: Option<String>) {
        let at = at.max(self.cur.start);
        self.close(at);
        self.cur = section(kind, ty, name, table, at);
        self.settings_only = true;
        self.copy_done = false;
    }

    fn end_line(&mut self) {
        if self.want_tail && trim_eol(&self.tail).ends_with(b"FROM stdin;") {
            self.copy = true;
        }
        self.head.clear();
        self.head_done = false;
        self.want_tail = false;
        self.line_start = self.pos;
    }

    /// Handles a line once its prefix (`head`, at most [`HEAD_LIMIT`] bytes) is known.
    fn start_line(&mut self, head: &[u8]) {
        self.head_done = true;
        let text = trim_eol(head);
        if self.copy {
            self.marker = false;
            if text == b"\\." {
                self.copy = false;
                self.copy_done = true;
            } else if let Some(rows) = &mut self.cur.rows {
                *rows += 1;
            }
            return;
        }
        // The lexer is idle here: lines inside a statement never reach this point.
        let complete = head.ends_with(b"\n") || head.len() < HEAD_LIMIT;
        match self.dialect {
            Dialect::Postgres => self.pg_line(text, complete),
            Dialect::MySql => self.my_line(text),
            Dialect::Sqlite => self.lite_line(text),
        }
        if !is_settings_line(text) {
            self.settings_only = false;
        }
        if self.lexer.active() {
            self.lexer.feed(head);
            self.drain();
        }
        self.note_marker(text);
        self.prev_blank = text.iter().all(u8::is_ascii_whitespace);
    }

    /// Tracks `--` comment blocks; returns the comment text of a `-- ` line, if `t` is one.
    fn comment<'a>(&mut self, t: &'a [u8]) -> Option<&'a [u8]> {
        if t == b"--" {
            self.block_start.get_or_insert(self.line_start);
            return Some(b"");
        }
        if t.starts_with(b"--") {
            return Some(t.strip_prefix(b"-- ").unwrap_or(b""));
        }
        self.block_start = None;
        None
    }
}

fn section(
    kind: SectionKind,
    ty: &str,
    name: String,
    table: Option<String>,
    start: u64,
) -> Section {
    let rows = (ty == "TABLE DATA").then_some(0);
    Section {
        kind,
        object_type: ty.into(),
        name,
        table,
        start,
        end: start,
        rows,
    }
}

/// Splits `b` after its first newline; says whether there was one.
fn split_line(b: &[u8]) -> (&[u8], bool) {
    match memchr(b'\n', b) {
        Some(i) => (&b[..=i], true),
        None => (b, false),
    }
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The number of `\n` bytes in `bytes`, eight at a time (SWAR: a byte of `w ^ 0x0a…` is zero
/// exactly where `w` has a newline; the exact zero-byte test of Mycroft's bit hacks).
fn count_newlines(bytes: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut words = bytes.chunks_exact(8);
    let mut n = 0u64;
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ NL;
        // High bit of each byte set exactly where that byte of x is zero.
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        n += u64::from(zero.count_ones());
    }
    n + words.remainder().iter().filter(|&&c| c == b'\n').count() as u64
}

#[cfg(test)]
#[test]
fn newlines_are_counted_exactly() {
    let mut x = 0x1234_5678_9abc_def1u64;
    let bytes: Vec<u8> = (0..4099)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Newlines, their neighbours and high bytes, which a carry could confuse.
            [b'\n', b'\x0b', b'\x09', 0x8a, 0x00, 0xff, b'a'][(x % 7) as usize]
        })
        .collect();
    for end in [0, 1, 7, 8, 9, 100, 4099] {
        let want = bytes[..end].iter().filter(|&&c| c == b'\n').count() as u64;
        assert_eq!(count_newlines(&bytes[..end]), want, "first {end} bytes");
    }
}
