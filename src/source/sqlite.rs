//! SQLite source and restore target: consistent snapshots taken with the online backup API,
//! streamed as the raw database image or as `.dump`-style SQL, and restores of either form.
//!
//! Snapshot: the database is copied 128 pages per step with a 1 ms pause between steps, so
//! writers keep writing, into a temporary file in the system temporary directory. SQLite
//! restarts such a copy whenever another connection commits; after three restarts the rest is
//! copied in one `step(-1)`, which holds a read transaction for the whole copy and therefore
//! always completes (in WAL mode writers go on meanwhile; in rollback-journal mode they wait on
//! their busy timeout). The copy is switched to `journal_mode=DELETE` so that the image is one
//! self-contained file, and is removed when the source is finished or dropped.
//!
//! SQL dumps follow the `sqlite3` CLI's `.dump`: tables in schema order (`sqlite_sequence`
//! last), each table's rows in rowid or primary-key order (stable for deduplication), then
//! indexes, triggers and views together in schema (creation) order, as the CLI does, which
//! keeps `INSTEAD OF` triggers after their views. A background thread writes the dump into a pipe, so memory does
//! not grow with the database size. A restore executes the dump one complete statement at a time
//! (SQLite copies the rest of a multi-statement string for each statement it prepares, so large
//! batches would cost quadratic time) into a temporary file beside the target, renamed into
//! place only on success.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Params, Row};
use tempfile::{Builder, NamedTempFile};

use super::{Dialect, DumpSource, SourceError, SourceInfo};

/// Pages copied per online-backup step.
const STEP: i32 = 128;
/// Restarts of the incremental copy tolerated before copying in one step under a read lock.
const RESTARTS: u32 = 3;
/// How long the backup may keep getting `SQLITE_BUSY` before giving up.
const BUSY_LIMIT: Duration = Duration::from_secs(600);
/// Busy timeout of the connections reading a database.
const BUSY_WAIT: Duration = Duration::from_secs(5);

type DynError = Box<dyn std::error::Error + Send + Sync>;

/// Form of a SQLite dump stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteFormat {
    /// `.dump`-style SQL text (dialect [`Dialect::Sqlite`]); option `format=sql`.
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
struct SqliteSource {
    info: SourceInfo,
    reader: Option<Box<dyn Read + Send>>,
    worker: Option<JoinHandle<Result<(), SourceError>>>,
    _copy: NamedTempFile,
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

fn start(path: &Path, format: SqliteFormat) -> Result<SqliteSource, SourceError> {
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
                super::PATH_OPTION,
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

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn join_idents(columns: &[&(String, i64, i64)]) -> String {
    let quoted: Vec<_> = columns.iter().map(|c| quote_ident(&c.0)).collect();
    quoted.join(",")
}

/// Writes the whole `.dump`-style SQL text of `conn`'s main database to `out`.
fn write_dump(conn: &Connection, out: &mut impl Write) -> Result<(), DynError> {
    out.write_all(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")?;
    let sql = "SELECT type, name, sql FROM sqlite_schema WHERE sql NOT NULL ORDER BY rowid";
    let objects = all_rows(conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let (mut tables, others): (Vec<(String, String, String)>, Vec<_>) =
        objects.into_iter().partition(|o| o.0 == "table");
    tables.sort_by_key(|t| t.1 == "sqlite_sequence"); // stable sort: otherwise schema order
    let mut writable_schema = false;
    for (_, name, sql) in &tables {
        if name == "sqlite_sequence" {
            out.write_all(b"DELETE FROM sqlite_sequence;\n")?;
        } else if name.starts_with("sqlite_stat") {
            out.write_all(b"ANALYZE sqlite_schema;\n")?;
        } else if name.starts_with("sqlite_") {
            continue;
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            // Like the CLI: register the virtual table without running its constructor; its
            // shadow tables are dumped as ordinary tables.
            if !std::mem::replace(&mut writable_schema, true) {
                out.write_all(b"PRAGMA writable_schema=ON;\n")?;
            }
            let (n, s) = (name.replace('\'', "''"), sql.replace('\'', "''"));
            out.write_all(b"INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)")?;
            writeln!(out, "VALUES('table','{n}','{n}',0,'{s}');")?;
            continue;
        } else {
            write_statement(out, sql)?;
        }
        dump_rows(conn, name, out)?;
    }
    for (_, _, sql) in &others {
        write_statement(out, sql)?;
    }
    if writable_schema {
        out.write_all(b"PRAGMA writable_schema=OFF;\n")?;
    }
    Ok(out.write_all(b"COMMIT;\n")?)
}

fn write_statement(out: &mut impl Write, sql: &str) -> io::Result<()> {
    // As the CLI does: a `--` comment in the text must not swallow the terminating `;`.
    let end = if sql.contains("--") { "\n;\n" } else { ";\n" };
    write!(out, "{sql}{end}")
}

/// Writes one `INSERT` per row of `table`, in rowid (or primary-key) order.
fn dump_rows(conn: &Connection, table: &str, out: &mut impl Write) -> Result<(), DynError> {
    let sql = "SELECT name, hidden, pk FROM pragma_table_xinfo(?1)";
    let row = |r: &Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let columns: Vec<(String, i64, i64)> = all_rows(conn, sql, [table], row)?;
    let sql = "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1";
    let without_rowid: bool = conn.query_row(sql, [table], |r| r.get(0))?;
    // Generated (hidden) columns cannot be inserted: list the stored ones when some are left out.
    let stored: Vec<_> = columns.iter().filter(|c| c.1 == 0).collect();
    if stored.is_empty() {
        return Ok(());
    }
    let list = join_idents(&stored);
    let order = if without_rowid {
        let mut pk: Vec<_> = columns.iter().filter(|c| c.2 > 0).collect();
        pk.sort_by_key(|c| c.2);
        Some(join_idents(&pk))
    } else {
        let free = |a: &&str| !columns.iter().any(|c| c.0.eq_ignore_ascii_case(a));
        let aliases = ["rowid", "_rowid_", "oid"];
        aliases.into_iter().find(free).map(String::from)
    };
    let order_by = order.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
    let table = quote_ident(table);
    let mut select = conn.prepare(&format!("SELECT {list} FROM {table}{order_by}"))?;
    let target = (stored.len() < columns.len()).then(|| format!("({list})"));
    let prefix = format!("INSERT INTO {table}{} VALUES(", target.unwrap_or_default());
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        out.write_all(prefix.as_bytes())?;
        for i in 0..stored.len() {
            out.write_all(if i > 0 { b"," } else { b"" })?;
            write_value(out, row.get_ref(i)?, conn)?;
        }
        out.write_all(b");\n")?;
    }
    Ok(())
}

fn write_hex(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (i, b) in chunk.iter().enumerate() {
            buf[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            buf[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
        }
        out.write_all(&buf[..2 * chunk.len()])?;
    }
    Ok(())
}

/// SQL text that SQLite evaluates to exactly the finite `f`.
///
/// SQLite's text-to-float conversion (`sqlite3AtoF`, used for literals and `CAST`) is not
/// correctly rounded: the shortest round-trip text (`{:?}`) of e.g. `-1e-300` parses one ulp off,
/// and so do some 20-digit texts. So the shortest text is checked with SQLite itself, and when it
/// does not come back exact the value is written as `(m*1.0*2^k…)`: an integer significand
/// `m < 2^53` scaled by integer powers of two, every step of which is exact in IEEE 754.
fn real_text(conn: &Connection, f: f64) -> String {
    let short = format!("{f:?}");
    let parsed = conn
        .prepare_cached("SELECT CAST(?1 AS REAL)")
        .and_then(|mut st| st.query_row([&short], |r| r.get::<_, f64>(0)));
    if matches!(parsed, Ok(p) if p.to_bits() == f.to_bits()) || f == 0.0 {
        return short;
    }
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    while m & 1 == 0 {
        m >>= 1;
        e += 1;
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let mut text = format!("({sign}{m}*1.0");
    let op = if e < 0 { '/' } else { '*' };
    let mut k = e.unsigned_abs();
    while k > 0 {
        let step = k.min(52);
        text.push_str(&format!("{op}{}", 1u64 << step));
        k -= step;
    }
    text.push(')');
    text
}

/// Writes an exact SQL literal (or, for some REALs, an exact expression) for `value`; `conn`
/// checks how SQLite parses REAL text.
fn write_value(out: &mut impl Write, value: ValueRef<'_>, conn: &Connection) -> io::Result<()> {
    match value {
        ValueRef::Null => out.write_all(b"NULL"),
        ValueRef::Integer(i) => write!(out, "{i}"),
        ValueRef::Real(f) if f.is_nan() => out.write_all(b"NULL"),
        ValueRef::Real(f) if f.is_infinite() => {
            write!(out, "{}1e999", &"-"[..usize::from(f < 0.0)])
        }
        ValueRef::Real(f) => out.write_all(real_text(conn, f).as_bytes()),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) if !s.contains('\0') => write!(out, "'{}'", s.replace('\'', "''")),
            // NUL or invalid UTF-8 cannot appear in SQL text: spell the bytes out.
            _ => {
                out.write_all(b"CAST(X'")?;
                write_hex(out, t)?;
                out.write_all(b"' AS TEXT)")
            }
        },
        ValueRef::Blob(b) => {
            out.write_all(b"X'")?;
            write_hex(out, b)?;
            out.write_all(b"'")
        }
    }
}

/// Lexer state of [`Splitter`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lex {
    Normal,
    Quote(u8),
    Dash,
    LineComment,
    Slash,
    BlockComment,
    BlockStar,
}

/// Finds statement ends in a byte stream as `sqlite3_complete` does: `;` outside quotes and
/// comments, except inside `CREATE [TEMP] TRIGGER ... END`.
struct Splitter {
    lex: Lex,
    word: Vec<u8>,
    /// `sqlite3_complete` state: 1 start, 2 normal, 4 create, 5 trigger, 6 semi, 7 end.
    state: u8,
}

impl Splitter {
    fn new() -> Self {
        let (lex, word, state) = (Lex::Normal, Vec::new(), 1);
        Splitter { lex, word, state }
    }

    /// True when no statement has begun since the last complete one.
    fn idle(&self) -> bool {
        let between = matches!(self.lex, Lex::Normal | Lex::LineComment);
        between && self.state == 1 && self.word.is_empty()
    }

    /// Advances on one token (whitespace and comments never change the state); true when it is
    /// the `;` that completes a statement.
    fn token(&mut self, tok: &[u8]) -> bool {
        self.state = match (self.state, tok) {
            (1 | 2 | 4 | 7, b";") => 1,
            (1, b"CREATE") | (4, b"TEMP" | b"TEMPORARY") => 4,
            (4, b"TRIGGER") => 5,
            (5 | 6, b";") => 6,
            (6, b"END") => 7,
            (5..=7, _) => 5,
            _ => 2,
        };
        tok == b";" && self.state == 1
    }

    fn end_word(&mut self) {
        if !self.word.is_empty() {
            let word = std::mem::take(&mut self.word).to_ascii_uppercase();
            self.token(&word);
        }
    }

    /// Feeds one byte; returns true when it ends a complete statement.
    fn feed(&mut self, b: u8) -> bool {
        use Lex::*;
        self.lex = match (self.lex, b) {
            (Quote(q), _) if b == q => Normal,
            (LineComment, b'\n') | (BlockStar, b'/') => Normal,
            (BlockComment | BlockStar, b'*') => BlockStar,
            (BlockComment | BlockStar, _) => BlockComment,
            (Quote(_) | LineComment, _) => self.lex,
            (Dash, b'-') => LineComment,
            (Slash, b'*') => BlockComment,
            (Dash | Slash, _) => {
                self.token(b"-"); // the lone operator
                self.lex = Normal;
                return self.feed(b);
            }
            (Normal, _) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | 0x80..) => {
                if self.word.len() < 10 {
                    self.word.push(b); // longer words are no keywords: keep them distinct
                }
                Normal
            }
            (Normal, _) => {
                self.end_word();
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => Normal,
                    b'-' => Dash,
                    b'/' => Slash,
                    b'\'' | b'"' | b'`' | b'[' => {
                        self.token(b"'");
                        Quote(if b == b'[' { b']' } else { b })
                    }
                    _ => return self.token(&[b]),
                }
            }
        };
        false
    }
}

/// Executes a `.dump`-style SQL stream on `conn`, statement by statement.
fn load_sql(conn: &Connection, dump: &mut dyn Read, what: &str) -> Result<(), SourceError> {
    let mut input = BufReader::with_capacity(256 << 10, dump);
    let (mut splitter, mut statement, mut count) = (Splitter::new(), Vec::new(), 0);
    loop {
        let chunk = input.fill_buf().map_err(io_err(what))?;
        let len = chunk.len();
        if len == 0 {
            break;
        }
        for &b in chunk {
            statement.push(b);
            if splitter.feed(b) {
                count += 1;
                let what = &format!("{what}, statement {count}");
                let utf8_error = |e| invalid(format!("{what}: not UTF-8: {e}"));
                let sql = std::str::from_utf8(&statement).map_err(utf8_error)?;
                conn.execute_batch(sql).map_err(db_err(what))?;
                statement.clear();
            }
        }
        input.consume(len);
    }
    splitter.end_word();
    if !splitter.idle() || count == 0 || !conn.is_autocommit() {
        let message = format!("{what}: the dump is incomplete (truncated?)");
        return Err(invalid(message));
    }
    Ok(())
}

/// Restores a dump in `format` into a new SQLite database file at `path`. An existing file is
/// refused unless `drop_existing`. The database is built in a temporary file beside `path` (an
/// image must pass `PRAGMA integrity_check`) and renamed into place only when complete, so an
/// error leaves any existing database untouched. The target must not be in use meanwhile.
pub fn restore_into(
    path: &Path,
    dump: &mut dyn Read,
    format: SqliteFormat,
    drop_existing: bool,
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
    let renamed = if drop_existing {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    renamed.map_err(|e| io_err(what)(e.error))?;
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use SqliteFormat::{Image, Sql};

    fn read_all(mut src: Box<dyn DumpSource>) -> (Vec<u8>, SourceInfo) {
        let mut bytes = Vec::new();
        src.read_to_end(&mut bytes).unwrap();
        (bytes, src.finish().unwrap())
    }

    fn dump(path: &Path, format: SqliteFormat) -> Vec<u8> {
        read_all(open_source(path, format).unwrap()).0
    }

    fn restore(
        path: &Path,
        dump: &[u8],
        format: SqliteFormat,
        drop: bool,
    ) -> Result<(), SourceError> {
        restore_into(path, &mut &dump[..], format, drop)
    }

    /// Schema entries and every table's sorted rows, values in exact, typed `Debug` form.
    fn contents(path: &Path) -> Vec<Vec<Vec<String>>> {
        let conn = Connection::open(path).unwrap();
        let all = |sql: &str| {
            let n = conn.prepare(sql).unwrap().column_count();
            let row = |r: &Row<'_>| (0..n).map(|i| Ok(format!("{:?}", r.get_ref(i)?))).collect();
            let mut rows: Vec<Vec<String>> = all_rows(&conn, sql, [], row).unwrap();
            rows.sort();
            rows
        };
        let mut out = vec![all("SELECT type, name, tbl_name, sql FROM sqlite_schema")];
        let sql = "SELECT name FROM sqlite_schema WHERE type = 'table'";
        for table in all_rows(&conn, sql, [], |r| r.get::<_, String>(0)).unwrap() {
            out.push(all(&format!("SELECT * FROM {}", quote_ident(&table))));
        }
        out
    }

    fn query(path: &Path, sql: &str) -> String {
        let conn = Connection::open(path).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn url_parsing_and_statement_splitting() {
        let ok = |url| parse_url(url).unwrap();
        assert_eq!(ok("sqlite:///abs/p.db"), Path::new("/abs/p.db"));
        assert_eq!(ok("sqlite://rel/p.db"), Path::new("rel/p.db"));
        assert_eq!(ok("SQLite:rel.db"), Path::new("rel.db"));
        assert!(parse_url("postgres://x").is_err() && parse_url("sqlite://").is_err());
        let sql = "INSERT INTO t VALUES('a;''b', \"c;\" /* ; */, [d;]);-- x;\nCREATE TRIGGER tr \
                   AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN 1 THEN 2 END; SELECT 'END;'; \
                   END;CREATE TEMP TABLE end(x);SELECT 1-/**/-1 /";
        let mut splitter = Splitter::new();
        let ends: Vec<_> = sql
            .bytes()
            .enumerate()
            .filter(|(_, b)| splitter.feed(*b))
            .collect();
        let (trigger, table) = (
            &sql[ends[0].0 + 1..=ends[1].0],
            &sql[ends[1].0 + 1..=ends[2].0],
        );
        assert!(trigger.starts_with("-- x;\nCREATE TRIGGER") && trigger.ends_with("'END;'; END;"));
        assert_eq!(table, "CREATE TEMP TABLE end(x);");
        assert!(ends.len() == 3 && !splitter.idle());
    }

    #[test]
    fn sql_and_image_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("shop.db");
        let conn = Connection::open(&src).unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n, rowid);
             CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
             CREATE TABLE kv(k TEXT, j INTEGER, v, g AS (j * 2), PRIMARY KEY (j, k)) WITHOUT ROWID;
             CREATE TABLE \"odd \"\"name\"\"\"(x -- comment
             );
             CREATE VIRTUAL TABLE ft USING fts5(body);
             CREATE INDEX t_s ON t(s, i);
             CREATE VIEW v AS SELECT id, s FROM t WHERE i > 0;
             CREATE TRIGGER tr AFTER INSERT ON t BEGIN
               INSERT INTO seq(v) VALUES ('row;' || NEW.id);
               UPDATE t SET n = CASE WHEN NEW.n IS NULL THEN 'x' END WHERE 0;
             END;
             CREATE TRIGGER vi INSTEAD OF INSERT ON v BEGIN INSERT INTO t(s) VALUES (NEW.s); END;
             INSERT INTO ft VALUES ('hello world'), ('dedup backups');
             INSERT INTO \"odd \"\"name\"\"\" VALUES (1), ('two');
             INSERT INTO t(i, s) VALUES (1, CAST(X'ff00fe' AS TEXT)); DELETE FROM seq;
             BEGIN; INSERT INTO v(s) VALUES ('via view'); ANALYZE;",
        )
        .unwrap();
        let texts = [
            "it's",
            "line1\nline2\r\n",
            "ünïcødé ✓ 😀",
            "",
            "a;b -- c /*",
            "nul\0in",
        ];
        let reals = [0.1, 1e300, -1e-300, 1.0 / 3.0, -0.0, 5e-324, f64::MAX, 1e16];
        let insert = "INSERT INTO t(i, r, s, b, n, rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        for (k, r) in reals.into_iter().chain([f64::INFINITY]).enumerate() {
            let blob: Vec<u8> = (0..=255u8).cycle().skip(k).take(k * 100).collect();
            let (i, s, n) = (
                [i64::MIN, i64::MAX, 0][k % 3],
                texts[k % 6],
                Some(r).filter(|_| k % 2 == 1),
            );
            conn.execute(insert, (i, r, s, blob, n, k as i64)).unwrap();
        }
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let f = Some(f64::from_bits(rng))
                .filter(|f| f.is_finite())
                .unwrap_or(1.5);
            let sql = "INSERT INTO kv(k, j, v) VALUES ('r', ?1, ?2)";
            conn.execute(sql, (rng as i64, f)).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();

        let (sql, info) = read_all(open_source(&src, Sql).unwrap());
        assert_eq!(
            (info.kind.as_str(), info.database.as_deref()),
            ("sqlite", Some("shop.db"))
        );
        let path = format!("path={}", std::path::absolute(&src).unwrap().display());
        assert_eq!(
            (info.dialect, &info.options[..]),
            (
                Some(Dialect::Sqlite),
                &["format=sql".into(), path.clone()][..]
            )
        );
        assert_eq!(info.identity(), Some(format!("sqlite {}", &path[5..])));
        assert_eq!(
            info.tool_version,
            Some(format!("SQLite {}", rusqlite::version()))
        );
        let text = String::from_utf8(sql.clone()).unwrap();
        assert!(text.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t("));
        assert!(text.ends_with("PRAGMA writable_schema=OFF;\nCOMMIT;\n"));
        assert!(text.contains(
            "\nINSERT INTO \"t\" VALUES(3,-9223372036854775808,0.1,'it''s',X'',NULL,0);\n"
        ));
        assert!(text.contains(
            "\nINSERT INTO \"t\" VALUES(4,9223372036854775807,1e300,'line1\nline2\r\n',X'0102"
        ));
        // -1e-300 is one SQLite parses one ulp off from its shortest text: written exactly.
        assert!(text.contains(",(-"));
        assert!(text.contains("CAST(X'6e756c00696e' AS TEXT)") && text.contains(",1e999,"));
        let restored = dir.path().join("restored.db");
        restore(&restored, &sql, Sql, false).unwrap();
        assert_eq!(query(&restored, "PRAGMA integrity_check"), "ok");
        assert_eq!(contents(&src), contents(&restored));
        let fts = "SELECT body FROM ft WHERE ft MATCH 'dedup'";
        assert_eq!(query(&restored, fts), "dedup backups");
        let counts = table_row_counts(&restored).unwrap();
        assert_eq!(counts, table_row_counts(&src).unwrap());
        let expected = [("kv", 2000), ("odd \"name\"", 2), ("seq", 10), ("t", 11)];
        assert_eq!(counts, expected.map(|(t, n)| (t.to_string(), n)).into());
        assert!(
            dump(&restored, Sql) == sql,
            "dump of the restored database differs"
        );

        let (image, info) = read_all(open_source(&src, Image).unwrap());
        assert_eq!(
            (info.dialect, &info.options[..]),
            (None, &["format=image".into(), path][..])
        );
        let from_image = dir.path().join("image.db");
        restore(&from_image, &image, Image, false).unwrap();
        assert_eq!(contents(&src), contents(&from_image));
    }

    #[test]
    fn snapshot_while_another_thread_writes() {
        for mode in ["wal", "delete"] {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("busy.db");
            let conn = Connection::open(&src).unwrap();
            conn.pragma_update_and_check(None, "journal_mode", mode, |_| Ok(()))
                .unwrap();
            conn.execute_batch(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB); CREATE TABLE c(n INTEGER);
                 WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
                 INSERT INTO t(pad) SELECT randomblob(3000) FROM s; INSERT INTO c VALUES (1000);",
            )
            .unwrap();
            let (started_tx, started_rx) = mpsc::channel();
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let writer_path = src.clone();
            let writer = std::thread::spawn(move || {
                let conn = Connection::open(writer_path).unwrap();
                conn.busy_timeout(Duration::from_secs(60)).unwrap();
                conn.execute_batch("PRAGMA synchronous=OFF").unwrap();
                // One row and one counter update per transaction, until told to stop.
                let step = "BEGIN IMMEDIATE; INSERT INTO t(pad) VALUES (randomblob(500));
                            UPDATE c SET n = n + 1; COMMIT;";
                for i in 0..200_000 {
                    if stop_rx.try_recv().is_ok() {
                        return i;
                    }
                    conn.execute_batch(step).unwrap();
                    if i == 20 {
                        started_tx.send(()).unwrap();
                    }
                }
                200_000
            });
            started_rx.recv().unwrap();
            let (image, sql) = (dump(&src, Image), dump(&src, Sql));
            stop_tx.send(()).unwrap();
            let written = writer.join().unwrap();
            for (dump, format) in [(image, Image), (sql, Sql)] {
                let restored = dir.path().join(format!("{format:?}.db"));
                restore(&restored, &dump, format, false).unwrap();
                assert_eq!(query(&restored, "PRAGMA integrity_check"), "ok");
                let counts = "SELECT format('%d %d', (SELECT count(*) FROM t), (SELECT n FROM c))";
                let counts = query(&restored, counts);
                let (rows, n) = counts.split_once(' ').unwrap();
                assert_eq!(
                    rows, n,
                    "{mode} {format:?} snapshot is not transaction-consistent"
                );
                assert!((1021..=1000 + written).contains(&rows.parse().unwrap()));
            }
        }
    }

    #[test]
    fn restore_refuses_overwrite_and_keeps_target_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.db");
        let good = b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nCOMMIT;\n";
        restore(&target, good, Sql, false).unwrap();
        let before = std::fs::read(&target).unwrap();
        let err = restore(&target, good, Sql, false).unwrap_err();
        assert!(err.to_string().contains("pass --drop-existing"), "{err}");
        let bad: [&[u8]; 6] = [
            b"BEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1;\nCOMMIT;\n",
            b"BEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\n",
            b"CREATE TABLE t(a);\nINSERT INTO t VALUES('unterminated);\n",
            b"",
            b"SQLite format 3\0 but not really an image",
            b"",
        ];
        for (i, dump) in bad.into_iter().enumerate() {
            let format = [Sql, Image][i / 4];
            let fresh = dir.path().join("fresh.db");
            assert!(restore(&fresh, dump, format, false).is_err(), "dump {i}");
            assert!(!fresh.exists(), "dump {i} left a target behind");
            assert!(restore(&target, dump, format, true).is_err());
            assert!(
                std::fs::read(&target).unwrap() == before,
                "dump {i} damaged the target"
            );
        }
        let names = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name());
        assert_eq!(
            names.collect::<Vec<_>>(),
            ["t.db"],
            "temporary files left behind"
        );
        let replacement = b"BEGIN;CREATE TABLE u(b);INSERT INTO u VALUES(2),(3);COMMIT;";
        restore(&target, replacement, Sql, true).unwrap();
        let counts = table_row_counts(&target).unwrap();
        assert_eq!(counts, [("u".to_string(), 2)].into());
    }

    #[test]
    fn temporary_copy_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("big.db");
        let fill = "CREATE TABLE t(x); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL \
                    SELECT i + 1 FROM s WHERE i < 20000) INSERT INTO t SELECT randomblob(100) FROM s;";
        Connection::open(&src).unwrap().execute_batch(fill).unwrap();
        for format in [Sql, Image] {
            // Dropped part-way: the dump thread is blocked on the full pipe and must stop.
            let mut source = start(&src, format).unwrap();
            let copy = source._copy.path().to_path_buf();
            source.read_exact(&mut [0u8; 100]).unwrap();
            drop(source);
            assert!(!copy.exists());
            let mut source = Box::new(start(&src, format).unwrap());
            let copy = source._copy.path().to_path_buf();
            assert!(io::copy(&mut source, &mut io::sink()).unwrap() > 2_000_000);
            source.finish().unwrap();
            assert!(!copy.exists());
        }
        let missing = open_source(&dir.path().join("missing.db"), Image);
        assert!(missing
            .err()
            .unwrap()
            .to_string()
            .contains("is not an existing file"));
    }
}
