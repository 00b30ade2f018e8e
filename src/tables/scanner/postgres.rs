//! pg_dump (plain format) lines: `-- Name: ...; Type: ...` headers start sections; statements
//! file a section under its table (constraints, indexes, sequences, comments, grants).
//!
//! Owns: the PostgreSQL line parser of [`TableScanner`]. Must not: frame lines or lex
//! statements (the scanner and `lexer` do).

use super::TableScanner;
use crate::tables::name::{encode, schema_of};
use crate::tables::syntax::{ident, insert_target, kw, on_table};
use crate::tables::SectionKind;

impl TableScanner {
    pub(super) fn pg_line(&mut self, t: &[u8], complete: bool) {
        // A statement's quoted name may hold newlines: its lines are joined (see
        // `TableScanner::pending`) and handled as one once the name is closed.
        let joined;
        let t = match self.pending.take() {
            Some(mut p) => {
                p.push(b'\n');
                p.extend_from_slice(t);
                if complete && p.len() < super::HEAD_LIMIT && ends_in_name(&p) {
                    self.pending = Some(p);
                    return;
                }
                joined = p;
                &joined[..]
            }
            None if complete && starts_statement(t) && ends_in_name(t) => {
                self.pending = Some(t.to_vec());
                return;
            }
            None => t,
        };
        let at = self.block_start.unwrap_or(self.line_start);
        if let Some(c) = self.comment(t) {
            let (data, rest) = match c.strip_prefix(b"Data for Name: ") {
                Some(rest) => (true, rest),
                None => (false, c.strip_prefix(b"Name: ").unwrap_or(b"")),
            };
            if let Some((name, ty, schema)) = pg_header(rest) {
                let schema = Some(schema).filter(|s| !matches!(*s, "-" | ""));
                // A name in this schema, in the stored form of `encode`.
                let q = |n: &str| match schema {
                    Some(s) => encode(&[s, n]),
                    None => encode(&[n]),
                };
                // The section's own name. A tag without a schema that is no plain name
                // (`CAST (a AS b)`, `EXTENSION x` of a comment) is kept as pg_dump wrote it.
                let own = match schema {
                    None if !plain_name(ty) => name.to_string(),
                    _ => q(name),
                };
                let table = match ty {
                    "TABLE" | "FOREIGN TABLE" | "TABLE ATTACH" | "TABLE DATA" | "ROW SECURITY" => {
                        Some(q(name))
                    }
                    "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" | "TRIGGER" | "DEFAULT"
                    | "RULE" | "POLICY" => name.split(' ').next().map(q),
                    "COMMENT" | "ACL" | "SECURITY LABEL" => {
                        let tag = (name.strip_prefix("TABLE "))
                            .or_else(|| name.strip_prefix("FOREIGN TABLE "))
                            .map(|r| (r, false))
                            .or_else(|| name.strip_prefix("COLUMN ").map(|r| (r, true)));
                        tag.and_then(|(r, column)| {
                            let (mut p, _) = ident(r.as_bytes())?;
                            if column {
                                p.pop();
                            }
                            (p.len() == 1).then(|| q(&p[0]))
                        })
                    }
                    "SEQUENCE SET" => self.seq_tables.get(&q(name)).cloned(),
                    _ => None,
                };
                let data = data || ty == "SEQUENCE SET";
                let kind = if data {
                    SectionKind::Data
                } else {
                    SectionKind::Schema
                };
                self.split(at, kind, ty, own, table);
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
            // The table as the statement names it: the header's name has a newline in it
            // written as a space (pg_dump's comments are one line).
            if let Some((parts, _)) = ident(&t[5..]).filter(|(p, _)| p.len() == 2) {
                if ty == "TABLE DATA" {
                    self.cur.name = encode(&parts);
                }
                self.cur.table = Some(encode(&parts));
            }
            self.copy = complete && t.ends_with(b"FROM stdin;");
            self.want_tail = !complete;
            if !complete {
                self.tail.copy_from_slice(&t[t.len() - 16..]);
            }
        } else if kind == SectionKind::Data && t.starts_with(b"INSERT ") {
            self.lexer
                .begin(true, insert_target(t).is_some_and(|(_, cols, _)| cols));
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
                let (seq, table) = (self.cur.name.clone(), encode(&parts));
                self.link_sequence(seq, table);
            }
        } else if ty == "SEQUENCE OWNED BY" && t.starts_with(b"ALTER SEQUENCE ") {
            let owner =
                ident(&t[15..]).and_then(|(s, r)| Some((s, ident(kw(kw(r, "OWNED")?, "BY")?)?.0)));
            if let Some((seq, mut col)) = owner {
                col.pop();
                self.cur.table = Some(encode(&col));
                self.link_sequence(encode(&seq), encode(&col));
            }
        } else if ty == "DEFAULT" {
            let found = memchr::memmem::find(t, b"nextval('");
            if let (Some(i), Some(table)) = (found, self.cur.table.clone()) {
                if let Some((seq, _)) = ident(&t[i + 9..]) {
                    self.link_sequence(encode(&seq), table);
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
                        let name = match schema_of(&table) {
                            Some(s) => encode(&[vec![s], n].concat()),
                            None => encode(&n),
                        };
                        self.index_tables.insert(name, table);
                    }
                }
                alter_table(t).map(|(p, _)| encode(&p))
            }
            "TABLE ATTACH" => {
                if let Some((parent, r)) = alter_table(t) {
                    if let Some((part, _)) = kw(r, "ATTACH PARTITION").and_then(ident) {
                        self.cur.name = encode(&parent);
                        self.cur.table = Some(encode(&part));
                    }
                }
                return;
            }
            "INDEX ATTACH" => kw(t, "ALTER INDEX")
                .and_then(ident)
                .and_then(|(_, r)| ident(kw(r, "ATTACH PARTITION")?))
                .and_then(|(p, _)| self.index_tables.get(&encode(&p)).cloned()),
            "TABLE" | "FOREIGN TABLE" => {
                let r = kw(t, "CREATE").map(|r| {
                    let r = kw(r, "UNLOGGED").unwrap_or(r);
                    kw(r, "FOREIGN").unwrap_or(r)
                });
                let name = r.and_then(|r| ident(kw(r, "TABLE")?));
                if let Some((parts, _)) = name.filter(|(p, _)| p.len() == 2) {
                    self.cur.name = encode(&parts);
                    self.cur.table = Some(encode(&parts));
                }
                return;
            }
            "TRIGGER" | "POLICY" if t.starts_with(b"CREATE ") => on_table(t),
            "RULE" => kw(t, "ON")
                .and_then(ident)
                .and_then(|(_, r)| ident(kw(r, "TO")?))
                .map(|(p, _)| encode(&p)),
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
            return ident(r).map(|(p, _)| encode(&p));
        }
        if let Some(r) = kw(r, "COLUMN") {
            let (mut p, _) = ident(r)?;
            p.pop();
            return Some(encode(&p));
        }
        for k in ["CONSTRAINT", "TRIGGER", "POLICY", "RULE"] {
            if let Some(r) = kw(r, k) {
                let r = kw(ident(r)?.1, "ON")?;
                return (kw(r, "DOMAIN").is_none()).then(|| ident(r).map(|(p, _)| encode(&p)))?;
            }
        }
        if let Some(r) = kw(r, "INDEX") {
            return self.index_tables.get(&encode(&ident(r)?.0)).cloned();
        }
        if let Some(r) = kw(r, "SEQUENCE") {
            return self.seq_tables.get(&encode(&ident(r)?.0)).cloned();
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
}

/// Parses `X; Type: T; Schema: S; ...` of a pg_dump header into (X, T, S).
fn pg_header(rest: &[u8]) -> Option<(&str, &str, &str)> {
    let s = std::str::from_utf8(rest).ok()?;
    let (name, after) = s.split_once("; Type: ")?;
    let (ty, after) = after.split_once("; Schema: ").unwrap_or((after, ""));
    Some((name, ty.split(';').next()?, after.split(';').next()?))
}

/// Whether a pg_dump header's name of type `ty` is the object's plain (unquoted) name, stored
/// with [`encode`] also when it has no schema (a `SCHEMA` named `Sales.EU` is stored as
/// `"Sales.EU"`); other tags without a schema are kept as written.
fn plain_name(ty: &str) -> bool {
    matches!(
        ty,
        "TABLE"
            | "TABLE DATA"
            | "FOREIGN TABLE"
            | "TABLE ATTACH"
            | "ROW SECURITY"
            | "VIEW"
            | "MATERIALIZED VIEW"
            | "MATERIALIZED VIEW DATA"
            | "SEQUENCE"
            | "SEQUENCE SET"
            | "SEQUENCE OWNED BY"
            | "INDEX"
            | "INDEX ATTACH"
            | "TYPE"
            | "DOMAIN"
            | "SCHEMA"
            | "STATISTICS"
            | "COLLATION"
            | "CONVERSION"
    )
}

/// Whether line `t` starts a statement whose first line names objects (where a quoted name
/// may go on over a newline): `COPY`, `CREATE`, `ALTER`, `ADD CONSTRAINT`, `COMMENT ON`,
/// `GRANT`, `REVOKE`, `SECURITY LABEL`.
fn starts_statement(t: &[u8]) -> bool {
    let t = t.trim_ascii_start();
    [
        "COPY",
        "CREATE",
        "ALTER",
        "ADD CONSTRAINT",
        "COMMENT ON",
        "GRANT",
        "REVOKE",
    ]
    .iter()
    .chain(&["SECURITY LABEL"])
    .any(|k| kw(t, k).is_some())
}

/// Whether `t` ends inside a double-quoted name (outside string literals): the name goes on
/// on the next line.
fn ends_in_name(t: &[u8]) -> bool {
    let (mut name, mut string) = (false, false);
    for &c in t {
        match c {
            b'"' if !string => name = !name,
            b'\'' if !name => string = !string,
            _ => {}
        }
    }
    name
}
