//! SQLite source and restore target: consistent snapshots taken with the online backup API,
//! streamed as the raw database image or as `.dump`-style SQL, and restores of either form.
//!
//! Files:
//! - `backup`: the consistent snapshot (online backup API) and the stream of it, as an image
//!   or as SQL.
//! - `dump`: the `.dump`-style SQL text of a database, written from a connection.
//! - `load`: restores, image or SQL, into a temporary file renamed into place.
//! - this file: URLs, the shared connection and error helpers, row counts after a restore.
//!
//! This module must not parse SQL itself: statement ends come from the one SQL lexer
//! (`tables::lexer`), and it never reads or writes the repository.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Params, Row};

use super::SourceError;

mod backup;
mod dump;
mod load;
#[cfg(test)]
pub(crate) mod tests;

pub use backup::open_source;
pub use load::restore_into;

/// Busy timeout of the connections reading a database.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// Form of a SQLite dump stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteFormat {
    /// `.dump`-style SQL text (dialect [`Dialect::Sqlite`](super::Dialect::Sqlite)); option `format=sql`.
    Sql,
    /// The raw database file image, opaque to the table scanner; option `format=image`.
    Image,
}

/// Parses `sqlite:///abs/path.db`, `sqlite://relative/path.db` or `sqlite:relative.db` into the
/// database path. The path is taken literally (no percent-decoding).
pub fn parse_url(url: &str) -> Result<PathBuf, SourceError> {
    let path = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("sqlite:") => &url[7..],
        _ => "",
    };
    match path.strip_prefix("//").unwrap_or(path) {
        "" => Err(invalid(format!(
            "invalid SQLite URL {url:?}: expected sqlite:///file.db"
        ))),
        path => Ok(PathBuf::from(path)),
    }
}

fn db_error(what: &str, message: impl ToString) -> SourceError {
    let (what, message) = (what.to_string(), message.to_string());
    SourceError::Database { what, message }
}

fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> SourceError + '_ {
    move |e| db_error(what, e)
}

fn io_err(what: &str) -> impl Fn(io::Error) -> SourceError + '_ {
    let what = what.to_string();
    move |source| SourceError::Io {
        what: what.clone(),
        source,
    }
}

fn invalid(message: String) -> SourceError {
    SourceError::Invalid(message)
}

/// Runs `sql` and collects every row through `f`.
fn all_rows<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, f)?.collect();
    rows
}

fn open_read_only(path: &Path, what: &str) -> Result<Connection, SourceError> {
    if !path.is_file() {
        let shown = path.display();
        return Err(invalid(format!(
            "SQLite database {shown} is not an existing file"
        )));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db_err(what))?;
    conn.busy_timeout(BUSY_WAIT).map_err(db_err(what))?;
    Ok(conn)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Row counts of the user tables (ordinary tables not named `sqlite_%`) of the database at `path`.
pub fn table_row_counts(path: &Path) -> Result<BTreeMap<String, u64>, SourceError> {
    let what = &format!("counting rows of SQLite database {}", path.display());
    let conn = open_read_only(path, what)?;
    let sql = "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
    let mut counts = BTreeMap::new();
    for name in all_rows(&conn, sql, [], |r| r.get::<_, String>(0)).map_err(db_err(what))? {
        let sql = format!("SELECT count(*) FROM {}", quote_ident(&name));
        let n: rusqlite::Result<i64> = conn.query_row(&sql, [], |r| r.get(0));
        counts.insert(name, n.map_err(db_err(what))?.unsigned_abs());
    }
    Ok(counts)
}
