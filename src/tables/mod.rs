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
//! `restore --table` also selects what a PostgreSQL table's DDL needs (see [`select::plan`]);
//! it does not follow custom operators, text search configurations or casts, functions a
//! function body calls without their schema, nor tables a function reads.
//!
//! Files, each owning one idea (the module is `tables`, not `scan`: it is the table index that
//! users see in `ls` and `restore --table`, and `dumpvault::tables::…` is its public path):
//! - `detect`: which dialect a dump is in, from its first bytes; dialect names for messages.
//! - `lexer`: the one SQL lexer (statement ends, row tuples); also splits SQLite dumps on restore.
//! - [`name`]: the stored form of names in the index (schema and table as one string, parts
//!   holding a dot quoted), [`name::encode`] and [`name::decode`].
//! - `syntax`: stateless keyword and identifier helpers on a line prefix.
//! - `scanner`: [`TableScanner`], the streaming driver; its children `postgres`, `mysql` and
//!   `sqlite` parse each dialect's lines.
//! - `summary`: per-table sizes and rows ([`table_summaries`]), byte ranges for `--table`
//!   ([`ranges_for_tables`]).
//! - [`select`]: names as users type them, partitions, and the objects a table needs.
//!
//! This module must not read from or write to the repository, nor run database tools: it sees
//! dump bytes and [`Section`] lists only. The persisted types ([`Section`], [`SectionKind`]) live
//! in `format::section`.

pub use crate::format::section::{Section, SectionKind};

mod detect;
pub(crate) mod lexer;
pub mod name;
mod scanner;
pub mod select;
mod summary;
mod syntax;
#[cfg(test)]
mod tests;

pub use detect::{completion_marker, detect_dialect, dialect_name};
pub use scanner::{Scanned, TableScanner};
pub use summary::{ranges_for_tables, table_summaries, TableSummary};

/// The lines of `bytes` (a MySQL dump's preamble and settings blocks, whole lines) that only
/// set session state: settings, comments, blanks and version-conditional comments. A parallel
/// restore starts every session with them. Snapshots taken before the objects mariadb-dump
/// writes ahead of the first table (sequences) got sections of their own hold those objects'
/// statements in the preamble: they are left out here (the schema step runs them once).
pub fn mysql_session_lines(bytes: &[u8]) -> Vec<u8> {
    (bytes.split_inclusive(|&b| b == b'\n'))
        .filter(|l| syntax::is_session_line(l))
        .flatten()
        .copied()
        .collect()
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
