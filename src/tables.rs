//! Table index of SQL dump streams: which byte ranges hold which table's DDL and data.
//!
//! [`TableScanner`] watches a dump (pg_dump plain, mariadb-dump/mysqldump or SQLite `.dump`) as it
//! streams by and splits it into contiguous [`Section`]s, using the comment headers the dump tools
//! write (PostgreSQL, MySQL) or the statements themselves (SQLite). It keeps only a bounded prefix
//! of the current line, so memory does not grow with the stream or with line length. Data rows are
//! counted on the way: `COPY` lines, or row tuples of `INSERT` statements, read by a small lexer
//! that knows quotes, backslash escapes (MySQL) and comments (SQLite).
//!
//! [`ranges_for_tables`] picks the byte ranges that `restore --table NAME` needs; [`table_summaries`]
//! is the per-table view for `ls`.
//!
//! Limits: objects a table merely depends on (schemas, types, functions called by triggers,
//! sequences shared between tables) are not selected with it, as with `pg_restore -t`.

use std::collections::HashMap;
use std::ops::Range;

use memchr::{memchr, memchr2};
use serde::{Deserialize, Serialize};

pub use crate::format::section::{Section, SectionKind};
use crate::source::Dialect;

pub mod select;

/// Longest line prefix kept for recognising headers and statements.
const HEAD_LIMIT: usize = 4096;

/// Per-table summary, for `dumpvault ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Table name, as in [`Section::table`].
    pub name: String,
    /// Data rows, or `None` when the dump holds no data section for the table.
    pub rows: Option<u64>,
    /// Bytes of all sections of the table (DDL and data).
    pub bytes: u64,
}

/// Errors of [`ranges_for_tables`].
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    /// No table was asked for.
    #[error("no table given")]
    NoTables,
    /// A requested table is not in the dump.
    #[error("table {name:?} is not in this dump; available tables: {}", list(.available))]
    UnknownTable {
        /// The requested name.
        name: String,
        /// The tables the dump holds.
        available: Vec<String>,
    },
    /// A bare name matches tables in several schemas.
    #[error("table name {name:?} is ambiguous; use one of: {}", list(.candidates))]
    AmbiguousTable {
        /// The requested name.
        name: String,
        /// The qualified names it matches.
        candidates: Vec<String>,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// Recognises a dump by its first bytes, for streams that arrive without a declared dialect
/// (`--stdin`, `--command`): pg_dump's `-- PostgreSQL database dump` header, mysqldump's or
/// mariadb-dump's `-- MySQL dump` / `-- MariaDB dump` header (within the first 1 KiB, after
/// MariaDB's optional sandbox-mode comment line), or the SQLite shell's
/// `PRAGMA foreign_keys=OFF;` + `BEGIN TRANSACTION;` opening. `None` for anything else.
pub fn detect_dialect(head: &[u8]) -> Option<Dialect> {
    let head = &head[..head.len().min(1024)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if head.starts_with(b"--\n-- PostgreSQL database dump") {
        Some(Dialect::Postgres)
    } else if has(b"\n-- MySQL dump ")
        || has(b"\n-- MariaDB dump ")
        || head.starts_with(b"-- MySQL dump ")
        || head.starts_with(b"-- MariaDB dump ")
    {
        Some(Dialect::MySql)
    } else if head.starts_with(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n") {
        Some(Dialect::Sqlite)
    } else {
        None
    }
}

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

/// The name of a dialect in messages: `PostgreSQL`, `MySQL/MariaDB`, `SQLite`.
pub fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MySQL/MariaDB",
        Dialect::Sqlite => "SQLite",
    }
}

/// The completion marker a dump tool writes last, as users know it (for messages).
pub fn completion_marker(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "pg_dump's \"-- PostgreSQL database dump complete\" footer",
        Dialect::MySql => "mysqldump's \"-- Dump completed\" footer",
        Dialect::Sqlite => "the final \"COMMIT;\" of SQLite's .dump",
    }
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
                    let lines = bytes[..end].iter().filter(|&&c| c == b'\n').count() as u64;
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
            if self.lexer.active {
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
            complete: self.marker && !self.copy && !self.lexer.active,
            sections: self.sections,
        }
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
        if self.lexer.active || self.delimited || self.copy {
            self.marker = false;
        } else if is_marker {
            self.marker = true;
        } else if !trailer {
            self.marker = false;
        }
    }

    fn drain(&mut self) {
        let n = std::mem::take(&mut self.lexer.tuples);
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
        if self.lexer.active {
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

    fn pg_line(&mut self, t: &[u8], complete: bool) {
        let at = self.block_start.unwrap_or(self.line_start);
        if let Some(c) = self.comment(t) {
            let (data, rest) = match c.strip_prefix(b"Data for Name: ") {
                Some(rest) => (true, rest),
                None => (false, c.strip_prefix(b"Name: ").unwrap_or(b"")),
            };
            if let Some((name, ty, schema)) = pg_header(rest) {
                let q = |n: &str| match schema {
                    "-" | "" => n.to_string(),
                    s => format!("{s}.{n}"),
                };
                let table = match ty {
                    "TABLE" | "FOREIGN TABLE" | "TABLE ATTACH" | "TABLE DATA" | "ROW SECURITY" => {
                        Some(q(name))
                    }
                    "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" | "TRIGGER" | "DEFAULT"
                    | "RULE" | "POLICY" => name.split(' ').next().map(q),
                    "COMMENT" | "ACL" | "SECURITY LABEL" => (name.strip_prefix("TABLE "))
                        .or_else(|| name.strip_prefix("FOREIGN TABLE "))
                        .or_else(|| {
                            name.strip_prefix("COLUMN ")
                                .map(|c| c.split('.').next().unwrap_or(c))
                        })
                        .map(q),
                    "SEQUENCE SET" => self.seq_tables.get(&q(name)).cloned(),
                    _ => None,
                };
                let data = data || ty == "SEQUENCE SET";
                let kind = if data {
                    SectionKind::Data
                } else {
                    SectionKind::Schema
                };
                self.split(at, kind, ty, q(name), table);
            } else if c.starts_with(b"PostgreSQL database dump")
                && self.cur.kind != SectionKind::Preamble
            {
                self.split(at, SectionKind::Other, "", String::new(), None);
            }
            return;
        }
        if self.cur.kind == SectionKind::Schema {
            self.pg_owner(t);
        }
        let (kind, ty) = (self.cur.kind, self.cur.object_type.as_str());
        if t.starts_with(b"SET ")
            && self.prev_blank
            && (kind == SectionKind::Schema
                || (kind == SectionKind::Data && (ty != "TABLE DATA" || self.copy_done)))
        {
            self.split(self.line_start, SectionKind::Other, "", String::new(), None);
        } else if kind == SectionKind::Data && t.starts_with(b"COPY ") {
            self.copy = complete && t.ends_with(b"FROM stdin;");
            self.want_tail = !complete;
            if !complete {
                self.tail.copy_from_slice(&t[t.len() - 16..]);
            }
        } else if kind == SectionKind::Data && t.starts_with(b"INSERT ") {
            self.lexer.begin(
                true,
                insert_target(t).is_some_and(|(_, cols, _)| cols),
                false,
            );
        } else if ty == "INDEX" && self.cur.table.is_none() && t.starts_with(b"CREATE ") {
            self.cur.table = on_table(t);
            if let Some(table) = self.cur.table.clone() {
                self.index_tables.insert(self.cur.name.clone(), table);
            }
        } else if ty == "SEQUENCE"
            && t.starts_with(b"ALTER TABLE ")
            && memchr::memmem::find(t, b" ADD GENERATED ").is_some()
        {
            let rest = kw(&t[11..], "ONLY").unwrap_or(&t[11..]);
            if let Some((parts, _)) = ident(rest) {
                let (seq, table) = (self.cur.name.clone(), parts.join("."));
                self.link_sequence(seq, table);
            }
        } else if ty == "SEQUENCE OWNED BY" && t.starts_with(b"ALTER SEQUENCE ") {
            let owner =
                ident(&t[15..]).and_then(|(s, r)| Some((s, ident(kw(kw(r, "OWNED")?, "BY")?)?.0)));
            if let Some((seq, mut col)) = owner {
                col.pop();
                self.cur.table = Some(col.join("."));
                self.link_sequence(seq.join("."), col.join("."));
            }
        } else if ty == "DEFAULT" {
            let found = memchr::memmem::find(t, b"nextval('");
            if let (Some(i), Some(table)) = (found, self.cur.table.clone()) {
                if let Some((seq, _)) = ident(&t[i + 9..]) {
                    self.link_sequence(seq.join("."), table);
                }
            }
        }
    }

    /// Files the current schema section under the table its statement line `t` names: the
    /// header's name is ambiguous when names hold spaces (`Order Items Order Items_pkey`), the
    /// statement is not. A `TABLE ATTACH` section gets the partitioned table as its name and the
    /// partition as its table; an `INDEX ATTACH` the table of the attached (partition's) index.
    fn pg_owner(&mut self, t: &[u8]) {
        fn alter_table(t: &[u8]) -> Option<(Vec<String>, &[u8])> {
            let r = kw(t, "ALTER TABLE")?;
            ident(kw(r, "ONLY").unwrap_or(r))
        }
        let ty = self.cur.object_type.as_str();
        let found = match ty {
            "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" | "DEFAULT" | "ROW SECURITY" => {
                if let (Some(r), Some(table)) = (kw(t, "ADD CONSTRAINT"), self.cur.table.clone()) {
                    // The index behind a primary key, unique or exclusion constraint.
                    if let Some((n, _)) = ident(r) {
                        let schema = table.split_once('.').map(|(s, _)| format!("{s}."));
                        let name = format!("{}{}", schema.unwrap_or_default(), n.join("."));
                        self.index_tables.insert(name, table);
                    }
                }
                alter_table(t).map(|(p, _)| p.join("."))
            }
            "TABLE ATTACH" => {
                if let Some((parent, r)) = alter_table(t) {
                    if let Some((part, _)) = kw(r, "ATTACH PARTITION").and_then(ident) {
                        self.cur.name = parent.join(".");
                        self.cur.table = Some(part.join("."));
                    }
                }
                return;
            }
            "INDEX ATTACH" => kw(t, "ALTER INDEX")
                .and_then(ident)
                .and_then(|(_, r)| ident(kw(r, "ATTACH PARTITION")?))
                .and_then(|(p, _)| self.index_tables.get(&p.join(".")).cloned()),
            "TRIGGER" | "POLICY" if t.starts_with(b"CREATE ") => on_table(t),
            "RULE" => kw(t, "ON")
                .and_then(ident)
                .and_then(|(_, r)| ident(kw(r, "TO")?))
                .map(|(p, _)| p.join(".")),
            "COMMENT" | "SECURITY LABEL" => {
                let r = kw(t, "COMMENT ON").or_else(|| {
                    let r = kw(t, "SECURITY LABEL")?;
                    let r = kw(r, "FOR")
                        .and_then(|r| ident(r).map(|x| x.1))
                        .unwrap_or(r);
                    kw(r, "ON")
                });
                r.and_then(|r| self.pg_object_table(r))
            }
            "ACL" if t.starts_with(b"GRANT ") || t.starts_with(b"REVOKE ") => {
                let on = memchr::memmem::find(t, b" ON ").map(|i| &t[i + 1..]);
                on.and_then(|r| self.pg_object_table(kw(r, "ON")?))
            }
            _ => None,
        };
        if let Some(table) = found {
            self.cur.table = Some(table);
        }
    }

    /// The table an object reference (`TABLE x`, `COLUMN x.c`, `CONSTRAINT c ON x`,
    /// `INDEX i`, `SEQUENCE s`...) after `COMMENT ON` or `GRANT ... ON` belongs to.
    fn pg_object_table(&self, r: &[u8]) -> Option<String> {
        if let Some(r) = kw(r, "TABLE").or_else(|| kw(r, "FOREIGN TABLE")) {
            return ident(r).map(|(p, _)| p.join("."));
        }
        if let Some(r) = kw(r, "COLUMN") {
            let (mut p, _) = ident(r)?;
            p.pop();
            return Some(p.join("."));
        }
        for k in ["CONSTRAINT", "TRIGGER", "POLICY", "RULE"] {
            if let Some(r) = kw(r, k) {
                let r = kw(ident(r)?.1, "ON")?;
                return (kw(r, "DOMAIN").is_none()).then(|| ident(r).map(|(p, _)| p.join(".")))?;
            }
        }
        if let Some(r) = kw(r, "INDEX") {
            return self.index_tables.get(&ident(r)?.0.join(".")).cloned();
        }
        if let Some(r) = kw(r, "SEQUENCE") {
            return self.seq_tables.get(&ident(r)?.0.join(".")).cloned();
        }
        None
    }

    /// Notes that sequence `seq` belongs to `table`, unless it already belongs to one.
    fn link_sequence(&mut self, seq: String, table: String) {
        if self.seq_tables.contains_key(&seq) {
            return;
        }
        let cur = std::iter::once(&mut self.cur);
        for s in self.sections.iter_mut().rev().chain(cur) {
            if s.object_type == "SEQUENCE" && s.name == seq && s.table.is_none() {
                s.table = Some(table.clone());
            }
        }
        self.seq_tables.insert(seq, table);
    }

    fn my_line(&mut self, t: &[u8]) {
        // Routine and trigger bodies (between `DELIMITER ;;` and `DELIMITER ;`) are opaque.
        if let Some(d) = t.strip_prefix(b"DELIMITER ") {
            self.delimited = d.trim_ascii() != b";";
        }
        if self.delimited {
            return;
        }
        let at = self.block_start.unwrap_or(self.line_start);
        if let Some(c) = self.comment(t) {
            const HEADERS: [(&[u8], &str); 8] = [
                (b"Table structure for table ", "TABLE"),
                (b"Temporary table structure for view ", "VIEW"),
                (b"Temporary view structure for view ", "VIEW"),
                (b"Final view structure for view ", "VIEW"),
                (b"Dumping data for table ", "TABLE DATA"),
                (b"Dumping events for database ", "EVENTS"),
                (b"Dumping routines for database ", "ROUTINES"),
                (b"Current Database: ", "DATABASE"),
            ];
            for (prefix, ty) in HEADERS {
                if let Some((name, _)) = c.strip_prefix(prefix).and_then(ident) {
                    let name = name.join(".");
                    let table = matches!(ty, "TABLE" | "TABLE DATA").then(|| name.clone());
                    let kind = match ty {
                        "TABLE DATA" => SectionKind::Data,
                        "TABLE" | "VIEW" => SectionKind::Schema,
                        _ => SectionKind::Other,
                    };
                    self.split(at, kind, ty, name, table);
                }
            }
            return;
        }
        let (ty, table) = (self.cur.object_type.as_str(), self.cur.table.clone());
        let named = |p: &str| kw(t, p).and_then(ident).map(|(n, _)| n.join("."));
        if (t.starts_with(b"/*!40") && memchr::memmem::find(t, b"=@OLD_").is_some())
            || t.starts_with(b"SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN")
        {
            if !(self.cur.kind == SectionKind::Other && ty.is_empty()) {
                self.split(self.line_start, SectionKind::Other, "", String::new(), None);
            }
        } else if let Some(n) =
            named("/*!50001 DROP VIEW IF EXISTS").or_else(|| named("/*!50001 CREATE VIEW"))
        {
            if self.cur.name == n {
                (self.cur.kind, self.cur.object_type, self.cur.table) =
                    (SectionKind::Schema, "VIEW".into(), None);
            } else {
                self.split(self.line_start, SectionKind::Schema, "VIEW", n, None);
            }
        } else if t.starts_with(b"/*!50003 ")
            && matches!(ty, "TABLE" | "TABLE DATA")
            && table.is_some()
        {
            let name = table.clone().unwrap_or_default();
            self.split(self.line_start, SectionKind::Schema, "TRIGGER", name, table);
        } else if let Some(n) = named("DROP TABLE IF EXISTS").or_else(|| named("CREATE TABLE")) {
            if self.cur.name != n {
                self.split(
                    self.line_start,
                    SectionKind::Schema,
                    "TABLE",
                    n.clone(),
                    Some(n),
                );
            }
        } else {
            let target = named("LOCK TABLES").or_else(|| insert_target(t).map(|(n, _, _)| n));
            if let Some(n) =
                target.filter(|n| self.cur.kind != SectionKind::Data || self.cur.name != *n)
            {
                self.split(
                    self.line_start,
                    SectionKind::Data,
                    "TABLE DATA",
                    n.clone(),
                    Some(n),
                );
            }
            if self.cur.kind == SectionKind::Data
                && (t.starts_with(b"INSERT ") || t.starts_with(b"REPLACE "))
            {
                self.lexer.begin(
                    true,
                    insert_target(t).is_some_and(|(_, cols, _)| cols),
                    false,
                );
            }
        }
    }

    fn lite_line(&mut self, t: &[u8]) {
        let t = skip_ws(t);
        if t.is_empty() || t.starts_with(b"--") {
            return;
        }
        let (mut kind, mut ty, mut name, mut table, mut cols) =
            (SectionKind::Other, "", String::new(), None, false);
        if let Some(r) = kw(t, "CREATE") {
            let r = ["TEMP", "TEMPORARY", "UNIQUE", "VIRTUAL"]
                .iter()
                .fold(r, |r, k| kw(r, k).unwrap_or(r));
            for k in ["TABLE", "INDEX", "TRIGGER", "VIEW"] {
                if let Some(r) = kw(r, k) {
                    let r = kw(r, "IF")
                        .and_then(|r| kw(kw(r, "NOT")?, "EXISTS"))
                        .unwrap_or(r);
                    (kind, ty) = (SectionKind::Schema, k);
                    if let Some((n, rest)) = ident(r) {
                        name = n.join(".");
                        table = match k {
                            "TABLE" => Some(name.clone()),
                            "VIEW" => None,
                            _ => on_table(rest),
                        };
                    }
                }
            }
        } else if let Some((n, c, rest)) = insert_target(t) {
            (kind, ty, name, table, cols) =
                (SectionKind::Data, "TABLE DATA", n.clone(), Some(n), c);
            if name == "sqlite_sequence" {
                ty = "SEQUENCE SET";
                table = kw(rest, "VALUES")
                    .and_then(|r| ident(skip_ws(r).strip_prefix(b"(")?))
                    .map(|(n, _)| n.join("."));
            }
        } else if let Some((n, _)) = kw(t, "DELETE").and_then(|r| ident(kw(r, "FROM")?)) {
            name = n.join(".");
        }
        let cur = &self.cur;
        let same_data = ty == "TABLE DATA" && cur.object_type == ty && cur.name == name;
        let more_other = kind == SectionKind::Other
            && matches!(cur.kind, SectionKind::Preamble | SectionKind::Other);
        if !(same_data || more_other) {
            self.split(self.line_start, kind, ty, name, table);
        }
        self.lexer
            .begin(kind == SectionKind::Data, cols, ty == "TRIGGER");
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

fn skip_ws(s: &[u8]) -> &[u8] {
    &s[s.iter().take_while(|c| c.is_ascii_whitespace()).count()..]
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Strips keyword `k` (a space-separated phrase, case-insensitive, whole words) after optional whitespace.
fn kw<'a>(s: &'a [u8], k: &str) -> Option<&'a [u8]> {
    k.split(' ').try_fold(s, |s, w| {
        let s = skip_ws(s);
        let ok = s.len() >= w.len() && s[..w.len()].eq_ignore_ascii_case(w.as_bytes());
        (ok && !s.get(w.len()).is_some_and(|&c| is_ident(c))).then(|| &s[w.len()..])
    })
}

/// Parses a possibly qualified, possibly quoted identifier; returns its unquoted parts and the rest.
fn ident(s: &[u8]) -> Option<(Vec<String>, &[u8])> {
    let mut s = skip_ws(s);
    let mut parts = Vec::new();
    loop {
        let (part, rest) = match *s.first()? {
            q @ (b'"' | b'`' | b'\'' | b'[') => {
                let close = if q == b'[' { b']' } else { q };
                let (mut out, mut i) = (Vec::new(), 1);
                loop {
                    let c = *s.get(i)?;
                    i += 1;
                    if c != close {
                        out.push(c);
                    } else if close != b']' && s.get(i) == Some(&close) {
                        out.push(c);
                        i += 1;
                    } else {
                        break;
                    }
                }
                (out, &s[i..])
            }
            _ => {
                let n = s.iter().take_while(|&&c| is_ident(c)).count();
                (n > 0).then_some(())?;
                (s[..n].to_vec(), &s[n..])
            }
        };
        parts.push(String::from_utf8_lossy(&part).into_owned());
        match rest.strip_prefix(b".") {
            Some(r) => s = r,
            None => return Some((parts, rest)),
        }
    }
}

/// The table after the first bare `ON [ONLY]` keyword (indexes, triggers).
fn on_table(mut s: &[u8]) -> Option<String> {
    loop {
        s = skip_ws(s);
        if let Some(r) = kw(s, "ON") {
            return ident(kw(r, "ONLY").unwrap_or(r)).map(|(p, _)| p.join("."));
        }
        s = match ident(s) {
            Some((_, rest)) => rest,
            None => s.get(1..)?,
        };
    }
}

/// Parses `INSERT [IGNORE | OR x] INTO name` / `REPLACE INTO name`: the table, whether a column
/// list follows, and the rest after the name.
fn insert_target(t: &[u8]) -> Option<(String, bool, &[u8])> {
    let mut s = kw(t, "INSERT").or_else(|| kw(t, "REPLACE"))?;
    for _ in 0..3 {
        if let Some((name, rest)) = kw(s, "INTO").and_then(ident) {
            return Some((name.join("."), skip_ws(rest).starts_with(b"("), rest));
        }
        s = ident(s)?.1;
    }
    None
}

/// Parses `X; Type: T; Schema: S; ...` of a pg_dump header into (X, T, S).
fn pg_header(rest: &[u8]) -> Option<(&str, &str, &str)> {
    let s = std::str::from_utf8(rest).ok()?;
    let (name, after) = s.split_once("; Type: ")?;
    let (ty, after) = after.split_once("; Schema: ").unwrap_or((after, ""));
    Some((name, ty.split(';').next()?, after.split(';').next()?))
}

/// Whether a line (between statements) only holds a session setting, comment or blank.
fn is_settings_line(t: &[u8]) -> bool {
    let t = skip_ws(t);
    let cond = t
        .strip_prefix(b"/*!")
        .or_else(|| t.strip_prefix(b"/*M!"))
        .map(|r| {
            let r = &r[r.iter().take_while(|c| c.is_ascii_digit()).count()..];
            kw(r, "SET").is_some() || r.starts_with(b"\\- enable the sandbox mode")
        });
    cond.unwrap_or(false)
        || t.is_empty()
        || t.starts_with(b"--")
        || t.starts_with(b"SELECT pg_catalog.set_config(")
        || t.starts_with(b"\\restrict ")
        || t.starts_with(b"\\unrestrict ")
        || [
            "SET",
            "PRAGMA",
            "BEGIN TRANSACTION;",
            "COMMIT;",
            "ROLLBACK;",
        ]
        .iter()
        .any(|k| kw(t, k).is_some())
}

/// Bytes the [`Lexer`] must look at outside quotes and comments.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 10 {
        t[b"'\"`();[-*/"[i] as usize] = true;
        i += 1;
    }
    t
};

/// Finds the end of one SQL statement and counts its row tuples (parenthesised groups at depth 0).
#[derive(Debug, Default)]
struct Lexer {
    /// A statement is being read.
    active: bool,
    /// Backslash escapes inside quotes (MySQL).
    backslash: bool,
    /// `--` and `/* */` comments and `[ ]` quotes (SQLite).
    sqlite: bool,
    /// Closing quote byte while inside a quoted string or identifier.
    quote: Option<u8>,
    /// Inside a `--` (`b'-'`) or `/* */` (`b'*'`) comment.
    comment: Option<u8>,
    escape: bool,
    prev: u8,
    depth: u32,
    /// Count depth-0 groups as rows.
    count: bool,
    /// Leading column list still to skip.
    skip_cols: bool,
    tuples: u64,
    /// Track `BEGIN`/`CASE` ... `END` nesting (trigger bodies hold `;`).
    words: bool,
    block: i32,
    word: [u8; 5],
    word_len: usize,
}

impl Lexer {
    fn new(dialect: Dialect) -> Self {
        let (backslash, sqlite) = (dialect == Dialect::MySql, dialect == Dialect::Sqlite);
        Lexer {
            backslash,
            sqlite,
            ..Lexer::default()
        }
    }

    fn begin(&mut self, count: bool, skip_cols: bool, words: bool) {
        let (backslash, sqlite, tuples) = (self.backslash, self.sqlite, self.tuples);
        *self = Lexer {
            active: true,
            count,
            skip_cols,
            words,
            tuples,
            backslash,
            sqlite,
            ..Lexer::new(Dialect::Sqlite)
        };
    }

    fn end_word(&mut self) {
        if self.word_len > 0 && self.word_len <= self.word.len() {
            match &self.word[..self.word_len] {
                b"begin" => self.block += 1,
                b"case" if self.block > 0 => self.block += 1,
                b"end" => self.block -= 1,
                _ => {}
            }
        }
        self.word_len = 0;
    }

    /// Reads bytes of the current statement; stops at its end and returns the bytes used.
    fn feed(&mut self, b: &[u8]) -> usize {
        let mut i = 0;
        while i < b.len() && self.active {
            if let Some(q) = self.quote {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                let esc = self.backslash && q != b'`';
                let hit = if esc {
                    memchr2(q, b'\\', &b[i..])
                } else {
                    memchr(q, &b[i..])
                };
                let Some(k) = hit else { return b.len() };
                i += k + 1;
                if b[i - 1] == b'\\' {
                    self.escape = true;
                } else {
                    self.quote = None;
                    self.prev = 0;
                }
                continue;
            }
            if self.comment.is_none() && !self.words {
                let Some(k) = b[i..].iter().position(|&c| SPECIAL[c as usize]) else {
                    self.prev = b[b.len() - 1];
                    return b.len();
                };
                if k > 0 {
                    self.prev = b[i + k - 1];
                    i += k;
                }
            }
            let c = b[i];
            i += 1;
            match self.comment {
                Some(b'-') if c == b'\n' => self.comment = None,
                Some(b'*') if c == b'/' && self.prev == b'*' => self.comment = None,
                Some(_) => {}
                None => {
                    if self.words {
                        if is_ident(c) {
                            if let Some(w) = self.word.get_mut(self.word_len) {
                                *w = c.to_ascii_lowercase();
                            }
                            self.word_len += 1;
                        } else {
                            self.end_word();
                        }
                    }
                    self.normal(c);
                }
            }
            self.prev = c;
        }
        i
    }

    fn normal(&mut self, c: u8) {
        match c {
            b'\'' | b'"' | b'`' => self.quote = Some(c),
            b'[' if self.sqlite => self.quote = Some(b']'),
            b'-' if self.sqlite && self.prev == b'-' => self.comment = Some(b'-'),
            b'*' if self.sqlite && self.prev == b'/' => self.comment = Some(b'*'),
            b'(' => {
                if self.depth == 0 && self.count {
                    if self.skip_cols {
                        self.skip_cols = false;
                    } else {
                        self.tuples += 1;
                    }
                }
                self.depth += 1;
            }
            b')' => self.depth = self.depth.saturating_sub(1),
            b';' if self.block <= 0 => self.active = false,
            _ => {}
        }
    }
}

/// Summarises the tables of a dump, in order of first appearance.
///
/// Only tables count: names with a table definition (`TABLE`) or data (`TABLE DATA`) section;
/// the bytes of the other sections filed under a table (indexes, constraints...) add to it.
pub fn table_summaries(sections: &[Section]) -> Vec<TableSummary> {
    let tables: std::collections::HashSet<&str> = sections
        .iter()
        .filter(|s| matches!(s.object_type.as_str(), "TABLE" | "TABLE DATA"))
        .filter_map(|s| s.table.as_deref())
        .collect();
    let mut out: Vec<TableSummary> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for s in sections {
        let Some(table) = s.table.as_deref().filter(|t| tables.contains(t)) else {
            continue;
        };
        let i = *index.entry(table).or_insert_with(|| {
            out.push(TableSummary {
                name: table.to_string(),
                rows: None,
                bytes: 0,
            });
            out.len() - 1
        });
        out[i].bytes += s.end - s.start;
        if s.kind == SectionKind::Data && s.object_type == "TABLE DATA" {
            out[i].rows = Some(out[i].rows.unwrap_or(0) + s.rows.unwrap_or(0));
        }
    }
    out
}

/// Byte ranges (merged, in stream order) that restore only `tables`: the preamble, every
/// `SETTINGS` section (repeated setting blocks and footers), and every schema or data section whose
/// `table` or `name` is one of `tables`. A bare name (`orders`) also matches a qualified one
/// (`public.orders`) if that is unique.
pub fn ranges_for_tables(
    sections: &[Section],
    tables: &[String],
) -> Result<Vec<Range<u64>>, TablesError> {
    if tables.is_empty() {
        return Err(TablesError::NoTables);
    }
    let object = |s: &&Section| matches!(s.kind, SectionKind::Schema | SectionKind::Data);
    let mut keys: Vec<&str> = sections
        .iter()
        .filter(object)
        .flat_map(|s| [s.table.as_deref(), Some(&*s.name)])
        .flatten()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut wanted = Vec::new();
    for t in tables {
        if keys.contains(&t.as_str()) {
            wanted.push(t.as_str());
            continue;
        }
        let found: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| k.split_once('.').is_some_and(|(_, b)| b == t))
            .collect();
        match found[..] {
            [one] => wanted.push(one),
            [] => {
                let available = table_summaries(sections)
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                return Err(TablesError::UnknownTable {
                    name: t.clone(),
                    available,
                });
            }
            _ => {
                let candidates = found.iter().map(|s| s.to_string()).collect();
                return Err(TablesError::AmbiguousTable {
                    name: t.clone(),
                    candidates,
                });
            }
        }
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    for s in sections {
        let keep = s.kind == SectionKind::Preamble
            || (s.kind == SectionKind::Other && s.object_type == "SETTINGS")
            || (object(&s)
                && wanted
                    .iter()
                    .any(|w| s.table.as_deref() == Some(w) || s.name == *w));
        match out.last_mut() {
            _ if !keep || s.end == s.start => {}
            Some(r) if r.end == s.start => r.end = s.end,
            _ => out.push(s.start..s.end),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn dialects_are_recognised_from_the_first_bytes() {
        let pg = b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n";
        assert_eq!(detect_dialect(pg), Some(Dialect::Postgres));
        let maria =
            b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.6\n";
        assert_eq!(detect_dialect(maria), Some(Dialect::MySql));
        assert_eq!(
            detect_dialect(b"-- MySQL dump 10.13  Distrib 8.0\n"),
            Some(Dialect::MySql)
        );
        let lite = b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\n";
        assert_eq!(detect_dialect(lite), Some(Dialect::Sqlite));
        assert_eq!(detect_dialect(b"SQLite format 3\0"), None);
        assert_eq!(
            detect_dialect(b"COPY public.items (id) FROM stdin;\n"),
            None
        );
        assert_eq!(detect_dialect(b""), None);
    }

    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Scans `dump` fed in slices of `step` bytes (0: pseudo-random sizes).
    fn scan(d: Dialect, dump: &[u8], step: usize) -> Vec<Section> {
        let (mut s, mut i, mut x) = (TableScanner::new(d), 0, 7u64);
        while i < dump.len() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = if step > 0 {
                step
            } else {
                1 + (x >> 33) as usize % 5000
            };
            let n = n.min(dump.len() - i);
            s.update(&dump[i..i + n]);
            i += n;
            assert!(s.head.capacity() <= HEAD_LIMIT);
        }
        s.finish()
    }

    /// Scans with several slicings, checks they agree and cover the dump contiguously.
    fn sections(d: Dialect, dump: &str) -> Vec<Section> {
        sliced(d, dump, &[1, 2, 7, 100, 0])
    }

    fn sliced(d: Dialect, dump: &str, steps: &[usize]) -> Vec<Section> {
        let whole = scan(d, dump.as_bytes(), dump.len());
        for &step in steps {
            assert_eq!(scan(d, dump.as_bytes(), step), whole, "step {step}");
        }
        let mut at = 0;
        for s in &whole {
            assert!(s.start == at && s.end > s.start, "{s:?}");
            at = s.end;
        }
        assert_eq!(at, dump.len() as u64);
        whole
    }

    fn table_of<'a>(s: &'a [Section], ty: &str, name: &str) -> Option<&'a str> {
        let found = s.iter().find(|s| s.object_type == ty && s.name == name);
        found
            .unwrap_or_else(|| panic!("no {ty} {name}"))
            .table
            .as_deref()
    }

    fn rows(s: &[Section]) -> Vec<(String, Option<u64>)> {
        table_summaries(s)
            .into_iter()
            .map(|t| (t.name, t.rows))
            .collect()
    }

    fn select(dump: &str, sections: &[Section], tables: &[&str]) -> String {
        let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        let ranges = ranges_for_tables(sections, &tables).unwrap();
        ranges
            .into_iter()
            .map(|r| &dump[r.start as usize..r.end as usize])
            .collect()
    }

    /// Runs `cmd` with `input` on stdin; panics unless it succeeds; returns stdout.
    fn run(cmd: &mut Command, input: &str) -> String {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?} failed: {err}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn scratch_name() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        format!("dv_tables_{}_{}", std::process::id(), nanos.subsec_nanos())
    }

    #[test]
    fn postgres_sections() {
        let s = sections(Dialect::Postgres, PG);
        let expect = [
            ("other.orders", 2),
            ("public.customers", 4),
            ("public.orders", 5),
        ];
        let expect: Vec<_> = expect
            .iter()
            .map(|(t, n)| (t.to_string(), Some(*n)))
            .collect();
        assert_eq!(rows(&s), expect);
        assert_eq!(s[0].kind, SectionKind::Preamble);
        let (c, o) = (Some("public.customers"), Some("public.orders"));
        assert_eq!(table_of(&s, "SEQUENCE", "public.customers_id_seq"), c);
        assert_eq!(
            table_of(&s, "SEQUENCE OWNED BY", "public.customers_id_seq"),
            c
        );
        assert_eq!(table_of(&s, "SEQUENCE SET", "public.customers_id_seq"), c);
        assert_eq!(table_of(&s, "SEQUENCE", "public.orders_id_seq"), o);
        assert_eq!(table_of(&s, "SEQUENCE SET", "public.orders_id_seq"), o);
        assert_eq!(table_of(&s, "DEFAULT", "public.customers id"), c);
        assert_eq!(table_of(&s, "INDEX", "public.orders_customer_idx"), o);
        assert_eq!(table_of(&s, "TRIGGER", "public.orders orders_touch"), o);
        assert_eq!(
            table_of(&s, "FK CONSTRAINT", "public.orders orders_customer_id_fkey"),
            o
        );
        assert_eq!(table_of(&s, "FUNCTION", "public.touch()"), None);
        let settings: Vec<&str> = (s.iter().filter(|s| s.object_type == "SETTINGS"))
            .map(|s| &PG[s.start as usize..s.end as usize])
            .collect();
        assert!(settings[0].starts_with("SET default_tablespace = '';\n\nSET default_table_"));
        assert!(settings[1].contains("PostgreSQL database dump complete\n--\n\n\\unrestrict "));
        let err = ranges_for_tables(&s, &["orders".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ambiguous; use one of: other.orders, public.orders"),
            "{err}"
        );
        let err = ranges_for_tables(&s, &["nope".into()])
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("available tables: other.orders, public.customers, public.orders"));
        let one = select(PG, &s, &["customers"]);
        assert!(one.starts_with(&PG[..s[1].start as usize]) && one.contains("\\unrestrict "));
        assert!(one.contains("OWNED BY public.customers.id;") && one.contains("setval('public.c"));
        assert!(!one.contains("public.orders") && !one.contains("touch()"));
    }

    #[test]
    fn postgres_concatenated_sections() {
        // dumpvault's own stream: pre-data dump, its COPY sections, then a post-data dump.
        let (data, post) = (
            PG.find("\n--\n-- Data for").unwrap(),
            PG.find("\n--\n-- Name: customers customers_pkey").unwrap(),
        );
        let header = &PG[..PG.find("\n--\n-- Name").unwrap()];
        let footer = &PG[PG
            .find("\n--\n-- PostgreSQL database dump complete")
            .unwrap()..];
        let dump = [&PG[..data], footer, &PG[data..post], header, &PG[post..]].concat();
        let s = sections(Dialect::Postgres, &dump);
        assert_eq!(rows(&s), rows(&sections(Dialect::Postgres, PG)));
        let one = select(&dump, &s, &["public.orders"]);
        assert_eq!(one.matches("\\restrict ").count(), 2);
        assert_eq!(one.matches("\\unrestrict ").count(), 2);
        assert!(one.contains("CREATE INDEX orders_customer_idx") && !one.contains("COPY other"));
    }

    #[test]
    fn postgres_restore_one_table() {
        let url = std::env::var("DUMPVAULT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let (base, rest) = url.rsplit_once('/').unwrap();
        let query = rest.find('?').map_or("", |i| &rest[i..]);
        let db = scratch_name();
        let psql = |d: &str, sql: &str| {
            let conn = format!("{base}/{d}{query}");
            run(
                Command::new("psql").args([
                    "-X",
                    "-q",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &conn,
                ]),
                sql,
            )
        };
        let s = sections(Dialect::Postgres, PG);
        psql("postgres", &format!("CREATE DATABASE {db};"));
        let result = std::panic::catch_unwind(|| {
            psql(
                &db,
                &select(PG, &s, &["customers", "public.orders", "touch()"]),
            );
            for t in ["public.customers", "public.orders"] {
                let got = psql(
                    &db,
                    &format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT;"),
                );
                let start = PG.find(&format!("COPY {t} (")).unwrap();
                let block = &PG[start..][PG[start..].find('\n').unwrap() + 1..];
                assert_eq!(got, block[..block.find("\n\\.\n").unwrap() + 1]);
            }
            let other = psql(
                &db,
                "SELECT to_regclass('other.orders') IS NULL, nextval('orders_id_seq');",
            );
            assert_eq!(other, "t|6\n");
        });
        psql("postgres", &format!("DROP DATABASE {db};"));
        result.unwrap();
    }

    #[test]
    fn mysql_sections() {
        let s = sections(Dialect::MySql, MY);
        let expect = [
            ("customers", Some(3)),
            ("empty_t", Some(0)),
            ("orders", Some(4)),
        ];
        let expect: Vec<_> = expect.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        assert_eq!(rows(&s), expect);
        assert_eq!(table_of(&s, "TRIGGER", "orders"), Some("orders"));
        assert_eq!(table_of(&s, "VIEW", "big_orders"), None);
        let last = s.last().unwrap();
        assert_eq!(
            (last.kind, last.object_type.as_str()),
            (SectionKind::Other, "SETTINGS")
        );
        assert!(MY[last.start as usize..].starts_with("/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE"));
        let one = select(MY, &s, &["orders"]);
        assert!(one.contains("CREATE TABLE `orders`") && one.contains("trigger orders_bi"));
        assert!(!one.contains("`customers` VALUES") && !one.contains("big_orders"));
        assert!(one.ends_with(&MY[last.start as usize..]));
        // Statements at the start of lines inside routine bodies do not start sections.
        let body = "begin\nINSERT INTO `t` VALUES (1);\nCREATE TABLE `u` (a int);\nreturn x*2; end";
        let routine = MY.replace("begin return x*2; end", body);
        let kinds = |s: &[Section]| {
            s.iter()
                .map(|s| (s.kind, s.name.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&sections(Dialect::MySql, &routine)), kinds(&s));
    }

    #[test]
    fn mysql_restore_one_table() {
        let url = std::env::var("DUMPVAULT_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        let rest = url.trim_start_matches("mysql://");
        let (user, host) = rest.split_once('@').unwrap_or(("root", rest));
        let host = host.split('/').next().unwrap();
        let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
        let (user, pass) = user.split_once(':').unwrap_or((user, ""));
        let db = scratch_name();
        let mariadb = |d: &str, sql: &str| {
            let mut cmd = Command::new("mariadb");
            cmd.args(["-N", "-B", "-h", host, "-P", port, "-u", user, d]);
            if !pass.is_empty() {
                cmd.arg(format!("-p{pass}"));
            }
            run(&mut cmd, sql)
        };
        let s = sections(Dialect::MySql, MY);
        mariadb("", &format!("CREATE DATABASE {db};"));
        let result = std::panic::catch_unwind(|| {
            mariadb(&db, &select(MY, &s, &["orders"]));
            let got = mariadb(&db, "SELECT * FROM orders ORDER BY id; SHOW TABLES;");
            let want = "1\t1\t10.50\ta\n2\t1\t200.00\tmulti\\nline\n\
                3\t2\t3.00\t-- Dumping data for table `x`\n4\t3\t150.00\tNULL\norders\n";
            assert_eq!(got, want);
            mariadb(&db, &select(MY, &s, &["customers"]));
            let got = mariadb(
                &db,
                "SELECT id, name, note, HEX(pic) FROM customers ORDER BY id;",
            );
            let want = "1\talice\tline1\\nline2 (paren), comma\t00FF0A27\n\
                2\tb'ob\tquote \" and \\\\ backslash);\tNULL\n3\tcarol\t),(\t616263\n";
            assert_eq!(got, want);
        });
        mariadb("", &format!("DROP DATABASE {db};"));
        result.unwrap();
    }

    #[test]
    fn long_lines_stay_bounded() {
        let tuple = "(1,'it''s \\'q\\' (x), y;\\n',0x00FF,NULL,-2.5)";
        let mut my = String::from("-- Dumping data for table `t`\n--\n\nLOCK TABLES `t` WRITE;\n");
        my += &format!(
            "INSERT INTO `t` VALUES {};\n",
            vec![tuple; 100_000].join(",")
        );
        my += "INSERT INTO `t` (`a`, `b`) VALUES (1,'x'),\n(2,'y');\nUNLOCK TABLES;\n";
        assert_eq!(
            rows(&sliced(Dialect::MySql, &my, &[997, 0])),
            [("t".to_string(), Some(100_002))]
        );
        let cols: Vec<String> = (0..1000).map(|i| format!("column_{i}")).collect();
        let pg = format!(
            "--\n-- Data for Name: w; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n\
             COPY public.w ({}) FROM stdin;\n--\n\\\\.\n{}\n\\.\n\n",
            cols.join(", "),
            "x".repeat(10_000)
        );
        assert_eq!(
            rows(&sections(Dialect::Postgres, &pg)),
            [("public.w".to_string(), Some(3))]
        );
    }

    #[test]
    fn sqlite_sections() {
        let s = sections(Dialect::Sqlite, LITE);
        let expect = [("customers", Some(6)), ("order items", Some(3))];
        assert_eq!(rows(&s), expect.map(|(t, n)| (t.to_string(), n)));
        assert_eq!(
            table_of(&s, "SEQUENCE SET", "sqlite_sequence"),
            Some("customers")
        );
        assert_eq!(table_of(&s, "INDEX", "oi_idx"), Some("order items"));
        assert_eq!(table_of(&s, "TRIGGER", "trg_ins"), Some("order items"));
        assert_eq!(table_of(&s, "TRIGGER", "trg2"), Some("customers"));
        assert_eq!(table_of(&s, "VIEW", "v_big"), None);
        assert_eq!(s.last().unwrap().object_type, "SETTINGS");
        let one = select(LITE, &s, &["order items"]);
        assert!(one.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE IF"));
        assert!(one.contains("CREATE INDEX oi_idx") && one.ends_with("end;\nCOMMIT;\n"));
        assert!(!one.contains("INSERT INTO customers") && !one.contains("trg2"));
        if let Ok(sqlite) = which("sqlite3") {
            let sql = one + "SELECT count(*), sum(id) FROM \"order items\";\n";
            assert_eq!(run(Command::new(sqlite).arg(":memory:"), &sql), "3|6\n");
        }
        // Older sqlite3 versions write newlines inside strings as they are.
        let old = "CREATE TABLE t(a);\nINSERT INTO t VALUES('x\nCREATE TABLE u(b);\n');\n\
                   INSERT INTO t VALUES('[');\nCREATE TABLE \"v\"\"w\" (a /* ' */);\n";
        let s = sections(Dialect::Sqlite, old);
        assert_eq!(
            rows(&s),
            [("t".to_string(), Some(2)), ("v\"w".to_string(), None)]
        );
    }

    /// Whether `dump` cut to its first `cut` bytes is complete, the same for every slicing.
    fn complete_at(d: Dialect, dump: &str, cut: usize) -> bool {
        let part = &dump.as_bytes()[..cut];
        let results: Vec<bool> = [1, 3, 64, 4096, cut.max(1)]
            .iter()
            .map(|&step| {
                let mut s = TableScanner::new(d);
                for piece in part.chunks(step) {
                    s.update(piece);
                }
                s.end().complete
            })
            .collect();
        assert!(
            results.iter().all(|&r| r == results[0]),
            "cut {cut}: {results:?}"
        );
        results[0]
    }

    #[test]
    fn completion_marker_must_end_the_dump() {
        let markers = [
            (
                Dialect::Postgres,
                PG,
                "-- PostgreSQL database dump complete\n",
            ),
            (
                Dialect::MySql,
                MY,
                "-- Dump completed on 2026-11-23 19:20:34\n",
            ),
            (Dialect::Sqlite, LITE, "COMMIT;\n"),
        ];
        for (d, dump, marker) in markers {
            let end = dump.rfind(marker).unwrap() + marker.len();
            assert!(complete_at(d, dump, dump.len()), "{d:?} whole dump");
            assert!(complete_at(d, dump, end), "{d:?} cut after the marker");
            assert!(
                complete_at(d, dump, end - 1),
                "{d:?} marker without newline"
            );
            // Every cut before the marker, at line ends and inside lines, is incomplete.
            for cut in (0..end - marker.len()).step_by(7) {
                assert!(!complete_at(d, dump, cut), "{d:?} cut at {cut}");
            }
            for (cut, _) in dump[..end - marker.len()].match_indices('\n') {
                assert!(
                    !complete_at(d, dump, cut + 1),
                    "{d:?} cut at line end {cut}"
                );
            }
            // Anything after the footer makes it incomplete again.
            let more = format!("{dump}SELECT 1;\n");
            assert!(
                !complete_at(d, &more, more.len()),
                "{d:?} statement after the marker"
            );
        }
        // A marker inside COPY data or inside a statement does not count.
        let copy = "--\n-- PostgreSQL database dump\n--\n\n--\n-- Data for Name: t; Type: TABLE \
                    DATA; Schema: public; Owner: x\n--\n\nCOPY public.t (a) FROM stdin;\n\
                    -- PostgreSQL database dump complete\n";
        assert!(!complete_at(Dialect::Postgres, copy, copy.len()));
        let lite = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\n\
                    INSERT INTO t VALUES('x\nCOMMIT;\n";
        assert!(!complete_at(Dialect::Sqlite, lite, lite.len()));
        let rolled_back =
            "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nROLLBACK; -- due to errors\n";
        assert!(!complete_at(
            Dialect::Sqlite,
            rolled_back,
            rolled_back.len()
        ));
    }

    fn which(tool: &str) -> Result<String, ()> {
        let ok = Command::new(tool)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            Ok(tool.to_string())
        } else {
            Err(())
        }
    }

    /// Real `pg_dump` output.
    const PG: &str = r#"--
-- PostgreSQL database dump
--

\restrict 018HGaG88dZjy8fhSQ2XzZHLVjG0iQ79byiPazx2aTpiofooEIvO9UqBzZaqNET

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: other; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA other;


ALTER SCHEMA other OWNER TO postgres;

--
-- Name: touch(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ begin new.memo := coalesce(new.memo,'') || ''; return new; end $$;


ALTER FUNCTION public.touch() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: orders; Type: TABLE; Schema: other; Owner: postgres
--

CREATE TABLE other.orders (
    x integer
);


ALTER TABLE other.orders OWNER TO postgres;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.customers (
    id integer NOT NULL,
    name text NOT NULL,
    note text
);


ALTER TABLE public.customers OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.customers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.customers_id_seq OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: orders; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id integer,
    total numeric(10,2) DEFAULT 0,
    memo text
);


ALTER TABLE public.orders OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: customers id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);


--
-- Data for Name: orders; Type: TABLE DATA; Schema: other; Owner: postgres
--

COPY other.orders (x) FROM stdin;
1
2
\.


--
-- Data for Name: customers; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.customers (id, name, note) FROM stdin;
1	alice	line1\nline2
2	bob	tab\there
3	carol	back\\slash
4	d	\N
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.orders (id, customer_id, total, memo) FROM stdin;
1	1	10.50	a
2	1	200.00	multi\nline
3	2	3.00	\\.
4	3	150.00	
5	4	1.00	x
\.


--
-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.customers_id_seq', 4, true);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.orders_id_seq', 5, true);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: orders_customer_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id);


--
-- Name: orders orders_touch; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE TRIGGER orders_touch BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

\unrestrict 018HGaG88dZjy8fhSQ2XzZHLVjG0iQ79byiPazx2aTpiofooEIvO9UqBzZaqNET

"#;

    /// Real `mariadb-dump --routines --triggers --hex-blob` output.
    const MY: &str = r#"/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: tblscan_sample_6934
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Temporary table structure for view `big_orders`
--

DROP TABLE IF EXISTS `big_orders`;
/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `big_orders` AS SELECT
 NULL AS `id`,
 NULL AS `customer_id`,
 NULL AS `total`,
 NULL AS `memo` */;
SET character_set_client = @saved_cs_client;

--
-- Table structure for table `customers`
--

DROP TABLE IF EXISTS `customers`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(50) NOT NULL,
  `note` text DEFAULT NULL,
  `pic` blob DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `customers`
--

LOCK TABLES `customers` WRITE;
/*!40000 ALTER TABLE `customers` DISABLE KEYS */;
INSERT INTO `customers` VALUES
(1,'alice','line1\nline2 (paren), comma',0x00FF0A27),
(2,'b\'ob','quote \" and \\ backslash);',NULL),
(3,'carol','),(',0x616263);
/*!40000 ALTER TABLE `customers` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `empty_t`
--

DROP TABLE IF EXISTS `empty_t`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `empty_t` (
  `a` int(11) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `empty_t`
--

LOCK TABLES `empty_t` WRITE;
/*!40000 ALTER TABLE `empty_t` DISABLE KEYS */;
/*!40000 ALTER TABLE `empty_t` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `orders`
--

DROP TABLE IF EXISTS `orders`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) DEFAULT NULL,
  `total` decimal(10,2) DEFAULT 0.00,
  `memo` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `fk_c` (`customer_id`),
  KEY `orders_total_idx` (`total`),
  CONSTRAINT `fk_c` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `orders`
--

LOCK TABLES `orders` WRITE;
/*!40000 ALTER TABLE `orders` DISABLE KEYS */;
INSERT INTO `orders` VALUES
(1,1,10.50,'a'),
(2,1,200.00,'multi\nline'),
(3,2,3.00,'-- Dumping data for table `x`'),
(4,3,150.00,NULL);
/*!40000 ALTER TABLE `orders` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`127.0.0.1`*/ /*!50003 trigger orders_bi before insert on orders for each row begin set new.memo = concat(coalesce(new.memo,''), ''); end 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Dumping routines for database 'tblscan_sample_6934'
--
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP FUNCTION IF EXISTS `dbl` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`127.0.0.1` FUNCTION `dbl`(x int) RETURNS int(11)
    DETERMINISTIC
begin return x*2; end
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Final view structure for view `big_orders`
--

/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb3 */;
/*!50001 SET character_set_results     = utf8mb3 */;
/*!50001 SET collation_connection      = utf8mb3_general_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`127.0.0.1` SQL SECURITY DEFINER */
/*!50001 VIEW `big_orders` AS select `orders`.`id` AS `id`,`orders`.`customer_id` AS `customer_id`,`orders`.`total` AS `total`,`orders`.`memo` AS `memo` from `orders` where `orders`.`total` > 100 */;
/*!50001 SET character_set_client      = @saved_cs_client */;
/*!50001 SET character_set_results     = @saved_cs_results */;
/*!50001 SET collation_connection      = @saved_col_connection */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2026-11-23 19:20:34
"#;

    /// Real `sqlite3 .dump` output.
    const LITE: &str = r#"PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE customers (id integer primary key autoincrement, name text not null, note text -- it's a comment
);
INSERT INTO customers VALUES(1,'alice','x;y');
INSERT INTO customers VALUES(2,'bob','x;y');
INSERT INTO customers VALUES(3,'c',NULL);
INSERT INTO customers VALUES(4,'a',NULL);
INSERT INTO customers VALUES(5,'a',NULL);
INSERT INTO customers VALUES(6,'a',NULL);
CREATE TABLE IF NOT EXISTS "order items" (id int, customer_id int references customers(id), memo text, data blob);
INSERT INTO "order items" VALUES(1,1,'a',X'00ff');
INSERT INTO "order items" VALUES(2,1,replace('CREATE TABLE x(a);\nINSERT INTO y VALUES(1);','\n',char(10)),NULL);
INSERT INTO "order items" VALUES(3,2,'(),(',NULL);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('customers',6);
CREATE INDEX oi_idx on "order items"(customer_id);
CREATE VIEW v_big as select * from "order items" where id > 1;
CREATE TRIGGER trg_ins after insert on "order items" begin update customers set note = 'x;y' where id = new.customer_id; insert into customers(name) values ('a'); end;
CREATE TRIGGER trg2 after delete on customers
begin
  select case when old.id > 0 then 1 else 2 end;
end;
COMMIT;
"#;
}
