//! mysqldump / mariadb-dump lines: `-- Table structure for table ...` headers and statements
//! (`DROP TABLE`, `LOCK TABLES`, `INSERT`, views, triggers) start sections.
//!
//! Owns: the MySQL line parser of [`TableScanner`]. Must not: frame lines or lex statements.

use super::TableScanner;
use crate::tables::name::encode;
use crate::tables::syntax::{ident, insert_target, is_session_line, kw};
use crate::tables::SectionKind;

impl TableScanner {
    pub(super) fn my_line(&mut self, t: &[u8]) {
        // Routine and trigger bodies (between `DELIMITER ;;` and `DELIMITER ;`) are opaque.
        if let Some(d) = t.strip_prefix(b"DELIMITER ") {
            self.delimited = d.trim_ascii() != b";";
        }
        if self.delimited {
            return;
        }
        let at = self.block_start.unwrap_or(self.line_start);
        if let Some(c) = self.comment(t) {
            const HEADERS: [(&[u8], &str); 9] = [
                (b"Table structure for table ", "TABLE"),
                (b"Sequence structure for ", "SEQUENCE"),
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
                    let name = encode(&name);
                    let table = matches!(ty, "TABLE" | "TABLE DATA").then(|| name.clone());
                    let kind = match ty {
                        "TABLE DATA" => SectionKind::Data,
                        "TABLE" | "VIEW" | "SEQUENCE" => SectionKind::Schema,
                        _ => SectionKind::Other,
                    };
                    self.split(at, kind, ty, name, table);
                }
            }
            return;
        }
        if self.cur.kind == SectionKind::Preamble && !is_session_line(t) {
            // A statement before the first header (DDL of an object mariadb-dump writes before
            // the tables, under a header this scanner does not know): schema, run once, never
            // part of the settings every parallel restore session starts with.
            self.split(
                self.line_start,
                SectionKind::Schema,
                "DDL",
                String::new(),
                None,
            );
        }
        let (ty, table) = (self.cur.object_type.as_str(), self.cur.table.clone());
        let named = |p: &str| kw(t, p).and_then(ident).map(|(n, _)| encode(&n));
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
                self.lexer
                    .begin(true, insert_target(t).is_some_and(|(_, cols, _)| cols));
            }
        }
    }
}
