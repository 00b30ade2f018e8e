//! Which SQL dialect a dump is in, and the dialect's names in messages.
//!
//! Owns: recognising a dump from its first bytes ([`detect_dialect`]), the dialect's display
//! name and the completion marker users know. Must not: scan or parse beyond the first 1 KiB;
//! the section scanner is in `scanner`.

use crate::format::source::Dialect;

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
