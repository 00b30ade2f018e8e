//! SQLite `.dump` lines: each statement's first line says its section (`CREATE TABLE`,
//! `INSERT INTO`, indexes, triggers, views); SQLite dumps have no comment headers.
//!
//! Owns: the SQLite line parser of [`TableScanner`]. Must not: frame lines or find statement
//! ends (the `lexer` does, as `sqlite3_complete` would).

use super::TableScanner;
use crate::tables::name::encode;
use crate::tables::syntax::{ident, insert_target, kw, on_table, skip_ws};
use crate::tables::SectionKind;

impl TableScanner {
    pub(super) fn lite_line(&mut self, t: &[u8]) {
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
                        name = encode(&n);
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
                    .map(|(n, _)| encode(&n));
            }
        } else if let Some((n, _)) = kw(t, "DELETE").and_then(|r| ident(kw(r, "FROM")?)) {
            name = encode(&n);
        }
        let cur = &self.cur;
        let same_data = ty == "TABLE DATA" && cur.object_type == ty && cur.name == name;
        let more_other = kind == SectionKind::Other
            && matches!(cur.kind, SectionKind::Preamble | SectionKind::Other);
        if !(same_data || more_other) {
            self.split(self.line_start, kind, ty, name, table);
        }
        self.lexer.begin(kind == SectionKind::Data, cols);
    }
}
