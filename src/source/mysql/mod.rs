//! MySQL / MariaDB source (`snapshot mysql://user:pass@host:port/db`) and restore target
//! (`restore --to mysql://...`) using the `mariadb-dump`/`mysqldump` and `mariadb`/`mysql`
//! programs. Credentials never appear on a command line, and no file holding them can outlive
//! the process: each program gets an anonymous 0600 option file (a memfd on Linux, an unlinked
//! temporary file elsewhere) that it inherits as a file descriptor and reads as
//! `--defaults-extra-file=/dev/fd/N` (always the first argument).
//!
//! Dumps use extended INSERTs (MariaDB writes one row per line, so with `--order-by-primary` an
//! updated row changes only its own line) split at a fixed [`NET_BUFFER_LENGTH`]. One INSERT per
//! row would localise changes further but restored ~18 times slower (300k rows: 93 s vs 5 s).
//!
//! Layout: `url` (the [`MyUrl`]), `client` (finding the programs, the option file, SQL through
//! the client), `dump` (sources), `target` (restores), `catalog` (database lists, row counts,
//! drop). This module owns only the small quoting and error helpers they share; it must not grow
//! engine logic of its own. Callers use the re-exports below, never the submodules.

mod catalog;
mod client;
mod dump;
mod target;
mod url;

pub use catalog::{database_exists, drop_database, list_databases, table_row_counts};
pub use dump::{open_source, MyOptions, NET_BUFFER_LENGTH};
pub use target::{load_part, prepare_restore, restore_into};
pub use url::MyUrl;

use super::SourceError;

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SourceError {
    let what = what.into();
    move |source| SourceError::Io { what, source }
}

fn spawn_err(tool: &str) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Spawn {
        tool: tool.to_string(),
        source,
    }
}

/// A string literal that survives any `sql_mode` and character set.
fn lit(s: &str) -> String {
    let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
    format!("_utf8mb4 X'{hex}'")
}

/// A quoted identifier.
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

fn unhex(s: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests;
