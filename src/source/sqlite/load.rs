//! Restores: an image is copied and must pass `PRAGMA integrity_check`; a SQL dump is executed
//! one complete statement at a time (SQLite copies the rest of a multi-statement string for
//! each statement it prepares, so large batches would cost quadratic time). Either is built in
//! a temporary file beside the target, renamed into place only on success.
//!
//! Owns: [`restore_into`] and splitting a dump into statements. Must not: find statement ends
//! itself: the one SQL lexer (`tables::lexer`) does, as `sqlite3_complete` would.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use rusqlite::Connection;
use tempfile::Builder;

use super::{all_rows, db_err, db_error, invalid, io_err, SqliteFormat};
use crate::format::source::Dialect;
use crate::source::SourceError;
use crate::tables::lexer::Lexer;

/// Splits a `.dump`-style stream into complete statements (each with the blanks and comments
/// before it) and hands each to `run` with its number, from 1. Returns how many there were and
/// whether the stream ended between statements (nothing but blanks and comments after the last).
pub(super) fn split_statements(
    dump: &mut dyn Read,
    what: &str,
    mut run: impl FnMut(usize, &[u8]) -> Result<(), SourceError>,
) -> Result<(usize, bool), SourceError> {
    let mut input = BufReader::with_capacity(256 << 10, dump);
    let (mut lexer, mut statement, mut count) = (Lexer::new(Dialect::Sqlite), Vec::new(), 0);
    lexer.begin(false, false);
    loop {
        let chunk = input.fill_buf().map_err(io_err(what))?;
        let len = chunk.len();
        if len == 0 {
            break;
        }
        let mut rest = chunk;
        while !rest.is_empty() {
            let used = lexer.feed(rest);
            statement.extend_from_slice(&rest[..used]);
            rest = &rest[used..];
            if !lexer.active() {
                count += 1;
                run(count, &statement)?;
                statement.clear();
                lexer.begin(false, false);
            }
        }
        input.consume(len);
    }
    Ok((count, lexer.at_rest()))
}

/// Executes a `.dump`-style SQL stream on `conn`, statement by statement.
fn load_sql(conn: &Connection, dump: &mut dyn Read, what: &str) -> Result<(), SourceError> {
    let (count, at_rest) = split_statements(dump, what, |n, statement| {
        let what = &format!("{what}, statement {n}");
        let utf8_error = |e| invalid(format!("{what}: not UTF-8: {e}"));
        let sql = std::str::from_utf8(statement).map_err(utf8_error)?;
        conn.execute_batch(sql).map_err(db_err(what))
    })?;
    if !at_rest || count == 0 || !conn.is_autocommit() {
        let message = format!("{what}: the dump is incomplete (truncated?)");
        return Err(invalid(message));
    }
    Ok(())
}

/// Restores a dump in `format` into a new SQLite database file at `path`. An existing file is
/// refused unless `drop_existing`. The database is built in a temporary file beside `path` (an
/// image must pass `PRAGMA integrity_check`) and renamed into place only when complete, so an
/// error leaves any existing database untouched. The target must not be in use meanwhile.
/// `made` is called once the rename put the new database where no file was.
pub fn restore_into(
    path: &Path,
    dump: &mut dyn Read,
    format: SqliteFormat,
    drop_existing: bool,
    made: &dyn Fn(),
) -> Result<(), SourceError> {
    let what = &format!("restore of SQLite database {}", path.display());
    let shown = path.display();
    if path.is_dir() {
        return Err(invalid(format!("{what}: {shown} is a directory")));
    } else if path.exists() && !drop_existing {
        let hint = "pass --drop-existing to replace it";
        return Err(invalid(format!(
            "SQLite database {shown} already exists; {hint}"
        )));
    }
    let name = path
        .file_name()
        .ok_or_else(|| invalid(format!("{what}: no file name")))?;
    let dir = path.parent().filter(|d| d != &Path::new(""));
    let dir = dir.unwrap_or(Path::new("."));
    let prefix = format!(".{}.", name.to_string_lossy());
    let tmp = Builder::new().prefix(&prefix).tempfile_in(dir);
    let mut tmp = tmp.map_err(io_err(what))?;
    let image = format == SqliteFormat::Image;
    if image && io::copy(dump, tmp.as_file_mut()).map_err(io_err(what))? == 0 {
        return Err(invalid(format!("{what}: the dump is empty")));
    }
    let conn = Connection::open(tmp.path()).map_err(db_err(what))?;
    if image {
        let check = all_rows(&conn, "PRAGMA integrity_check(20)", [], |r| r.get(0));
        let problems: Vec<String> = check.map_err(db_err(what))?;
        if problems != ["ok"] {
            let problems = problems.join("; ");
            return Err(db_error(
                what,
                format!("integrity check failed: {problems}"),
            ));
        }
    } else {
        // The file is discarded on any error, so no rollback journal is needed while loading.
        let fast = conn.execute_batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF");
        fast.map_err(db_err(what))?;
        load_sql(&conn, dump, what)?;
    }
    conn.close().map_err(|(_, e)| db_err(what)(e))?;
    tmp.as_file().sync_all().map_err(io_err(what))?;
    // Journals of a previous database at `path` would be applied to the new file: remove them.
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(what)(e))?,
            _ => {}
        }
    }
    crate::testhook::pause("restore-before-create");
    // Without `drop_existing` the rename fails if a file appeared meanwhile, so the file is
    // this restore's own exactly when the rename succeeds.
    let fresh = !drop_existing || !path.exists();
    let renamed = if drop_existing {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    renamed.map_err(|e| io_err(what)(e.error))?;
    if fresh {
        made();
    }
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}
