//! Snapshot: the database is copied 128 pages per step with a 1 ms pause between steps, so
//! writers keep writing, into a temporary file in the system temporary directory. SQLite
//! restarts such a copy whenever another connection commits; after three restarts the rest is
//! copied in one `step(-1)`, which holds a read transaction for the whole copy and therefore
//! always completes (in WAL mode writers go on meanwhile; in rollback-journal mode they wait on
//! their busy timeout). The copy is switched to `journal_mode=DELETE` so that the image is one
//! self-contained file, and is removed when the source is finished or dropped.
//!
//! Owns: the snapshot and the [`DumpSource`] streaming it (the image, or SQL written by `dump`
//! on a background thread into a pipe, so memory does not grow with the database size). Must
//! not: write SQL text itself (`dump` does) or restore.

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use tempfile::{Builder, NamedTempFile};

use super::dump::write_dump;
use super::{db_err, db_error, invalid, io_err, open_read_only, SqliteFormat};
use crate::source::{Dialect, DumpSource, SourceError, SourceInfo};

/// Pages copied per online-backup step.
const STEP: i32 = 128;
/// Restarts of the incremental copy tolerated before copying in one step under a read lock.
const RESTARTS: u32 = 3;
/// How long the backup may keep getting `SQLITE_BUSY` before giving up.
const BUSY_LIMIT: Duration = Duration::from_secs(600);

/// Copies the database at `path` into a new temporary file (see the module docs).
fn snapshot(path: &Path) -> Result<NamedTempFile, SourceError> {
    let what = &format!("snapshot of SQLite database {}", path.display());
    let src = open_read_only(path, what)?;
    let tmp = Builder::new().prefix("dumpvault-sqlite-").tempfile();
    let tmp = tmp.map_err(io_err(what))?;
    let mut dst = Connection::open(tmp.path()).map_err(db_err(what))?;
    let backup = Backup::new(&src, &mut dst).map_err(db_err(what))?;
    let (mut restarts, mut last_remaining, mut busy_since) = (0, i32::MAX, None::<Instant>);
    loop {
        let pages = if restarts > RESTARTS { -1 } else { STEP };
        match backup.step(pages).map_err(db_err(what))? {
            StepResult::Done => break,
            StepResult::More => {
                let remaining = backup.progress().remaining;
                // No progress means another connection committed and SQLite started over.
                restarts += u32::from(remaining >= last_remaining);
                (last_remaining, busy_since) = (remaining, None);
            }
            _ if busy_since.get_or_insert_with(Instant::now).elapsed() > BUSY_LIMIT => {
                return Err(db_error(what, format!("locked for {BUSY_LIMIT:?}")));
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(backup);
    let delete_mode = dst.execute_batch("PRAGMA journal_mode=DELETE");
    delete_mode.map_err(db_err(what))?;
    dst.close().map_err(|(_, e)| db_err(what)(e))?;
    Ok(tmp)
}

/// A snapshot being streamed; the temporary copy lives until the source is dropped.
pub(super) struct SqliteSource {
    info: SourceInfo,
    reader: Option<Box<dyn Read + Send>>,
    worker: Option<JoinHandle<Result<(), SourceError>>>,
    pub(super) _copy: NamedTempFile,
}

impl SqliteSource {
    /// Closes the stream and waits for the dump thread (which stops at its next write).
    fn stop(&mut self) -> Result<(), SourceError> {
        self.reader = None;
        let Some(worker) = self.worker.take() else {
            return Ok(());
        };
        worker
            .join()
            .unwrap_or_else(|_| Err(invalid("SQLite dump thread panicked".into())))
    }
}

impl Read for SqliteSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.as_mut().map_or(Ok(0), |r| r.read(buf))
    }
}

impl DumpSource for SqliteSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }
    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        self.stop()?;
        Ok(self.info.clone())
    }
}

impl Drop for SqliteSource {
    fn drop(&mut self) {
        let _ = self.stop(); // before the temporary copy is removed
    }
}

/// Takes a consistent snapshot of the SQLite database at `path` and returns a stream of it in
/// `format`. The snapshot is complete when this returns; reading only streams the copy.
pub fn open_source(path: &Path, format: SqliteFormat) -> Result<Box<dyn DumpSource>, SourceError> {
    Ok(Box::new(start(path, format)?))
}

pub(super) fn start(path: &Path, format: SqliteFormat) -> Result<SqliteSource, SourceError> {
    let copy = snapshot(path)?;
    let name = path.file_name().unwrap_or(path.as_os_str());
    let name = name.to_string_lossy().into_owned();
    let sql = format == SqliteFormat::Sql;
    let info = SourceInfo {
        kind: "sqlite".into(),
        database: Some(name.clone()),
        tool_version: Some(format!("SQLite {}", rusqlite::version())),
        dialect: sql.then_some(Dialect::Sqlite),
        options: vec![
            if sql { "format=sql" } else { "format=image" }.into(),
            format!(
                "{}{}",
                crate::source::PATH_OPTION,
                std::path::absolute(path)
                    .unwrap_or(path.to_path_buf())
                    .display()
            ),
        ],
        ..SourceInfo::default()
    };
    let what = format!("SQL dump of SQLite database {name}");
    let mut source = SqliteSource {
        info,
        reader: None,
        worker: None,
        _copy: copy,
    };
    if !sql {
        source.reader = Some(Box::new(source._copy.reopen().map_err(io_err(&what))?));
        return Ok(source);
    }
    let (reader, writer) = io::pipe().map_err(io_err(&what))?;
    crate::source::pipe::widen(&writer);
    let copy_path = source._copy.path().to_path_buf();
    let worker = std::thread::Builder::new()
        .name("sqlite-dump".into())
        .spawn(move || {
            let conn = open_read_only(&copy_path, &what)?;
            let mut out = BufWriter::with_capacity(64 << 10, writer);
            let done = write_dump(&conn, &mut out).and_then(|()| Ok(out.flush()?));
            done.map_err(|e| match e.downcast::<io::Error>() {
                Ok(e) => io_err(&what)(*e),
                Err(e) => db_error(&what, e),
            })
        });
    source.worker = Some(worker.map_err(io_err("starting the SQLite dump thread"))?);
    source.reader = Some(Box::new(reader));
    Ok(source)
}
