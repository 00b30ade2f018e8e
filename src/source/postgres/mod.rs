//! PostgreSQL source (`snapshot postgres://user@host:port/db`) and restore target (`restore --to`).
//!
//! Dumps are plain-format SQL that plain `psql` restores. By default table data comes in
//! primary-key order, so rows that `UPDATE` or `VACUUM` moved around the heap do not change the
//! byte stream (which keeps deduplication effective): dumpvault opens a `REPEATABLE READ`
//! transaction, exports its snapshot and streams, all from that one snapshot, `pg_dump
//! --section=pre-data`, one `COPY … ORDER BY <primary key>` block per table with a primary key
//! (framed exactly like pg_dump's own data entries), then one `pg_dump --section=data
//! --section=post-data` run for the rest (tables without a primary key, sequence values, large
//! objects) and the post-data (each pg_dump run reads the whole catalog first, so two runs, not
//! three).
//! [`PgOptions::heap_order`] runs one plain `pg_dump` instead.
//!
//! Locks: the snapshot session locks every table pg_dump will lock (ACCESS SHARE, waiting as
//! pg_dump would) before it starts them; then the pg_dump runs (`--lock-wait-timeout`) and the
//! COPY sessions of `--jobs` (`LOCK … NOWAIT`, as `pg_dump -j` workers) do not wait for a
//! table lock, since only a statement queued behind the snapshot session (ALTER TABLE,
//! TRUNCATE…) can make them wait, and it waits for them in turn: the dump fails instead,
//! naming that statement, and releases every lock.
//!
//! Encodings: our COPY rows are UTF-8 (a `SET client_encoding = 'UTF8'` precedes them when the
//! database is in another encoding), except for a `SQL_ASCII` database, whose text may hold
//! any bytes: as pg_dump does, its sessions read text as stored, and the rows pass on
//! unchanged. A table of such a database whose names are not UTF-8 has its data dumped by
//! pg_dump, in heap order.
//!
//! Settings missing from the URL fall back to libpq's environment (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`). The tools get the URL's parts as those variables, so
//! a password never appears on a command line. dumpvault's own connection does not speak TLS:
//! `sslmode=require` and stricter are refused (and `~/.pgpass` is only read by the tools).
//!
//! Layout: `url` (the [`PgUrl`]), `conn` (dumpvault's own connection), `tool` (choosing and
//! running pg_dump, pg_dumpall and psql), `dump` (sources), `target` (restores), `catalog`
//! (database lists, row counts, drop). This module owns only the error helpers they share; it
//! must not grow engine logic of its own. Callers use the re-exports below, never the submodules.

mod catalog;
mod conn;
mod dump;
mod ranges;
mod tabledata;
mod target;
mod tool;
mod url;

pub use catalog::{database_exists, drop_database, list_databases, table_row_counts};
pub use dump::{open_globals, open_source, PgOptions};
pub use target::{flush_commits, load_part, prepare_restore_for, restore_into, HEAD_BYTES};
pub use url::PgUrl;

use super::SourceError;
use std::io;

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn io_err(what: String, source: io::Error) -> SourceError {
    SourceError::Io { what, source }
}

/// A [`SourceError::Database`] for `what`: the server's message, else the client's with its cause.
fn db_err(what: &str, e: &postgres::Error) -> SourceError {
    let message = match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.to_string(),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    };
    SourceError::Database {
        what: what.to_string(),
        message,
    }
}

/// Double-quotes a name: an SQL identifier, or a pg_dump pattern matching exactly this name.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
