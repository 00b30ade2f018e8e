//! PostgreSQL dumps: [`open_source`] (one plain `pg_dump`, or primary-key order from one exported
//! snapshot, as the parent module describes) and [`open_globals`] (`pg_dumpall --globals-only`).
//!
//! Owns producing dump bytes and their [`SourceInfo`]. It must not restore, create or drop
//! databases, and a failed or killed dump must surface from [`DumpSource::finish`], never as a
//! short but successful stream.

use super::conn::{server_version, Session};
use super::ranges::{piece_bytes, split, KeyColumn, KeyKind, SplitKey};
use super::tabledata::{copy_parallel, copy_serial, pieces, Block, LOCKING};
use super::tool::{describe_cmd, log_cmd, pick_tool, tool_cmd};
use super::{db_err, io_err, quote, PgUrl};
use crate::source::command::ChildSource;
use crate::source::{Dialect, DumpSource, SourceError, SourceInfo};
use postgres::{SimpleQueryMessage, SimpleQueryRow};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::thread::JoinHandle;

/// How to dump a database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgOptions {
    /// Plain `pg_dump` (rows in heap order) instead of primary-key order.
    pub heap_order: bool,
    /// Also store the cluster's roles and tablespaces ([`open_globals`]).
    pub globals: bool,
    /// Sessions that COPY the table data of a primary-key-order dump (`snapshot --jobs N` of
    /// one database): whole tables, and tables of at least 32 MiB whose key starts with a
    /// column of an integer, text, uuid, date, timestamp or numeric type in key ranges
    /// ([`super::ranges`]); 0 and 1 mean the snapshot session alone. The stream is
    /// byte-identical whatever the number ([`super::tabledata`]).
    pub jobs: usize,
}

/// Copies `r` to `w`, telling read errors (the dump failed) from write errors (the reader left).
pub(super) fn pump(r: &mut impl Read, w: &mut impl Write, what: &str) -> Result<(), SourceError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(format!("reading {what}"), e)),
        };
        w.write_all(&buf[..n])
            .map_err(|e| io_err(format!("passing on {what}"), e))?;
    }
}

/// Session settings as pg_dump makes them, then the snapshot transaction.
pub(super) const SESSION_SQL: &str = "SET statement_timeout = 0; SET lock_timeout = 0;
    SET idle_in_transaction_session_timeout = 0; SET DateStyle = ISO;
    SET IntervalStyle = postgres; SET extra_float_digits TO 3; SET row_security = off;
    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// For a `SQL_ASCII` database, whose text may hold any bytes: the client encoding pg_dump
/// itself sets for such a database, so that the server passes bytes on unchecked (under the
/// `UTF8` that dumpvault's sessions start with it refuses any text that is not UTF-8, which
/// fails the COPY). Run before [`SESSION_SQL`]. Text answers on such a session need not be
/// UTF-8: read them with `try_get` (`get` panics) or as `bytea`, and keep them out of SQL
/// text, which is UTF-8 (a Rust string).
pub(super) const RAW_BYTES_SQL: &str = "SET client_encoding = 'SQL_ASCII'";

/// How long a pg_dump section waits for each of its table locks (`pg_dump
/// --lock-wait-timeout`, a `statement_timeout` on each `LOCK TABLE`). The snapshot session
/// already holds ACCESS SHARE on every table pg_dump locks ([`LOCK_TABLES_SQL`]), and only an
/// ACCESS EXCLUSIVE request conflicts with it: so a section that waits can only be waiting
/// behind a statement (ALTER TABLE, TRUNCATE, DROP…) that is itself queued behind the snapshot
/// session, which waits for that section's output: a deadlock PostgreSQL cannot see, since one
/// edge is our pipe. Short, since every session touching the table queues behind that
/// statement meanwhile; not instant, so that a slow `LOCK TABLE` that does not wait is not cut.
/// The COPY sessions of a parallel dump lock with `NOWAIT` instead ([`super::tabledata`]), as
/// `pg_dump -j` workers do.
pub(super) const LOCK_WAIT_TIMEOUT: &str = "2s";

/// Every table pg_dump locks before it dumps anything, so that the snapshot session holds its
/// locks first (a superset: pg_dump locks the ordinary and partitioned tables whose
/// definition, data or policies it dumps): ordinary and partitioned tables outside the
/// system schemas, not temporary, qualified and quoted, then the same name in ASCII (as in
/// [`PK_TABLES_SQL`]). Foreign tables cannot be locked.
const LOCK_TABLES_SQL: &str = "SELECT
    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
    pg_catalog.encode(pg_catalog.textsend(pg_catalog.quote_ident(n.nspname) || '.' ||
        pg_catalog.quote_ident(c.relname)), 'escape')
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
   AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
 ORDER BY n.nspname, c.relname";

/// A session waiting for ACCESS EXCLUSIVE on a table the snapshot session holds (run on that
/// session): its pid, the table (qualified, quoted; then in ASCII as in [`PK_TABLES_SQL`]) and
/// the start of its statement (NULL when not visible to this user), the oldest first.
const QUEUED_DDL_SQL: &str = "SELECT w.pid::text,
    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
    pg_catalog.encode(pg_catalog.textsend(pg_catalog.quote_ident(n.nspname) || '.' ||
        pg_catalog.quote_ident(c.relname)), 'escape'),
    pg_catalog.left(pg_catalog.regexp_replace(a.query, '\\s+', ' ', 'g'), 200)
  FROM pg_catalog.pg_locks w
  JOIN pg_catalog.pg_locks h ON h.locktype = 'relation' AND h.granted
   AND h.pid = pg_catalog.pg_backend_pid() AND h.database = w.database
   AND h.relation = w.relation AND h.mode = 'AccessShareLock'
  JOIN pg_catalog.pg_class c ON c.oid = w.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE w.locktype = 'relation' AND NOT w.granted AND w.mode = 'AccessExclusiveLock'
 ORDER BY a.query_start NULLS LAST, w.pid
 LIMIT 1";

/// Ordinary tables with a primary key that pg_dump dumps data for (not extension members):
/// schema, name, owner, qualified quoted name, quoted column list, quoted key columns, the
/// first key column's name when [`super::ranges`] can cut on its type (else NULL), `RELSIZE`
/// (replaced by the table's size in bytes or `0`), then that column's type as
/// `format_type` names it (`integer`, `timestamp with time zone`) and its collation, qualified
/// and quoted (NULL when the type has none), then the qualified quoted name again in ASCII
/// (bytes above 127 as `\ooo`, `encode(…, 'escape')`), to name a table whose names are not
/// UTF-8 ([`RAW_BYTES_SQL`]).
const PK_TABLES_SQL: &str = "SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner),
    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped GENERATED),
    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
       FROM pg_catalog.unnest(p.conkey) WITH ORDINALITY AS k(num, i)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num),
    f.attname, RELSIZE, f.typname, f.collname,
    pg_catalog.encode(pg_catalog.textsend(pg_catalog.quote_ident(n.nspname) || '.' ||
        pg_catalog.quote_ident(c.relname)), 'escape')
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p'
  LEFT JOIN LATERAL (
    SELECT a.attname, pg_catalog.format_type(a.atttypid, NULL) AS typname,
           (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname)
              FROM pg_catalog.pg_collation co
              JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
             WHERE co.oid = a.attcollation) AS collname
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = c.oid AND a.attnum = p.conkey[1] AND a.atttypid IN
        ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
         'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.text'::pg_catalog.regtype,
         'pg_catalog.varchar'::pg_catalog.regtype, 'pg_catalog.uuid'::pg_catalog.regtype,
         'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
         'pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.numeric'::pg_catalog.regtype)
  ) f ON true
 WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
          AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname";

/// The rows of a simple query's answer.
fn simple_rows(messages: Vec<SimpleQueryMessage>) -> Vec<SimpleQueryRow> {
    (messages.into_iter())
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// Column `i` of a simple query's row as text (`None`: SQL NULL). Errors: no such column, or
/// it is not UTF-8 (only on a session of a `SQL_ASCII` database, [`RAW_BYTES_SQL`]).
fn column(row: &SimpleQueryRow, i: usize) -> Result<Option<String>, postgres::Error> {
    Ok(row.try_get(i)?.map(String::from))
}

/// A running `pg_dump` of one or more sections, and its name for errors.
struct Section(ChildSource, String);

impl Section {
    /// Starts `pg_dump` on the exported `snapshot` of the URL's database with `args`, waiting
    /// at most [`LOCK_WAIT_TIMEOUT`] for each table lock.
    fn spawn(
        tool: &Path,
        url: &PgUrl,
        snapshot: &str,
        args: Vec<String>,
    ) -> Result<Self, SourceError> {
        let mut all = vec![
            "--format=plain".into(),
            "--no-password".into(),
            format!("--snapshot={snapshot}"),
        ];
        all.extend(args);
        all.push(format!("--lock-wait-timeout={LOCK_WAIT_TIMEOUT}"));
        let what = format!("pg_dump {} of database \"{}\"", all[3], url.database_name());
        tracing::debug!(command = %log_cmd(url, tool, &all), "pg_dump section");
        let child = ChildSource::spawn(
            tool_cmd(tool, url, &all),
            SourceInfo::default(),
            what.clone(),
        )?;
        Ok(Section(child, what))
    }

    /// Passes the section's whole output on, then checks how pg_dump ended.
    fn pass_on(self, out: &mut impl Write) -> Result<(), SourceError> {
        let Section(mut child, what) = self;
        pump(&mut child, out, &what)?;
        Box::new(child).finish().map(drop)
    }
}

/// Everything the background thread of a primary-key-order dump needs.
struct PkJob {
    db: String,
    /// `pg_dump --section=pre-data`, already running.
    pre_data: Section,
    /// `pg_dump --section=data --section=post-data` without the tables of [`Self::tables`],
    /// already running: it starts (and reads the catalog) while `pre_data` and our COPYs run,
    /// blocked on its full pipe until its turn comes (issue 19, fleet fixed cost).
    rest: Section,
    /// One block per row of [`PK_TABLES_SQL`].
    tables: Vec<Block>,
    /// What [`split`] needs of each table, for a parallel COPY.
    keys: Vec<SplitKey>,
    /// Heap bytes per key range of a split table ([`split`]).
    piece_bytes: u64,
    /// The database's URL and exported snapshot, for the sessions of a parallel COPY.
    url: PgUrl,
    snapshot: String,
    /// Sessions that COPY the tables ([`PgOptions::jobs`]).
    jobs: usize,
    /// The database is neither UTF-8 nor `SQL_ASCII`: our COPY rows are UTF-8, pg_dump's
    /// sections are in the database's encoding.
    utf8_switch: bool,
    /// The database is `SQL_ASCII`: every COPY session reads bytes as stored
    /// ([`RAW_BYTES_SQL`]), as pg_dump's sections do, so no switch either.
    raw: bool,
}

impl PkJob {
    /// Writes the dump: pg_dump's pre-data, our COPYs in key order, pg_dump's rest. An error
    /// drops the pg_dump runs not yet passed on, which kills them ([`ChildSource`]'s drop).
    ///
    /// A lock wait cut short in a secondary session (a pg_dump section, a COPY session) while
    /// a statement is queued behind the snapshot session's locks fails the dump with
    /// [`queued_ddl`]'s message.
    fn run(mut self, client: &mut Session, out: &mut impl Write) -> Result<(), SourceError> {
        let what = format!("the dump of database \"{}\"", self.db);
        let write_err = |e| io_err(format!("passing on {what}"), e);
        let db = self.db.clone();
        let pre_data = self.pre_data.pass_on(out);
        pre_data.map_err(|e| queued_ddl(client, &db, "pg_dump --section=pre-data", e))?;
        crate::testhook::pause("pg-before-copy");
        if self.utf8_switch && !self.tables.is_empty() {
            out.write_all(b"SET client_encoding = 'UTF8';\n\n")
                .map_err(write_err)?;
        }
        if self.jobs > 1 {
            let ranges = split(client, &self.keys, self.piece_bytes)?;
            for (block, r) in self.tables.iter_mut().zip(ranges) {
                block.set_ranges(r);
            }
        }
        if self.jobs > 1 && pieces(&self.tables).len() > 1 {
            let (url, snapshot) = (&self.url, &self.snapshot);
            let copied = copy_parallel(url, snapshot, self.raw, &self.tables, self.jobs, out);
            copied.map_err(|e| queued_ddl(client, &db, "COPY sessions (--jobs)", e))?;
        } else {
            copy_serial(client, &self.tables, out)?;
        }
        let rest = self.rest.pass_on(out);
        let who = "pg_dump --section=data --section=post-data";
        rest.map_err(|e| queued_ddl(client, &db, who, e))?;
        let ending = format!("ending the snapshot transaction of {what}");
        client
            .batch_execute("COMMIT")
            .map_err(|e| db_err(&ending, &e))?;
        out.flush().map_err(write_err)
    }
}

/// A primary-key-order dump: a background thread writes the stream into a pipe. Dropping it
/// closes the pipe: the thread's next write fails, and it returns, killing the pg_dump runs
/// still running (as [`ChildSource`] does when dropped) and closing the snapshot connection.
struct PkOrderSource {
    reader: io::PipeReader,
    worker: Option<JoinHandle<Result<(), SourceError>>>,
    info: SourceInfo,
    what: String,
}

impl Read for PkOrderSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl DumpSource for PkOrderSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        let drained = io::copy(&mut self.reader, &mut io::sink());
        drained.map_err(|e| io_err(format!("reading {}", self.what), e))?;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Ok(()))) => Ok(self.info.clone()),
            Some(Ok(Err(e))) => Err(e),
            _ => Err(SourceError::Invalid(format!(
                "{}: the dump thread failed",
                self.what
            ))),
        }
    }
}

/// Opens a dump of the URL's database: consistent, plain format, uncompressed, restorable with
/// `psql` (see the module documentation for primary-key order). `opts.globals` is not handled
/// here: see [`open_globals`].
///
/// Errors: the server cannot be reached or the database does not exist, no pg_dump at least as
/// new as the server, or pg_dump cannot be started. Failures during the dump (pg_dump exiting
/// non-zero or killed, a lost connection) come from [`DumpSource::finish`].
pub fn open_source(url: &PgUrl, opts: &PgOptions) -> Result<Box<dyn DumpSource>, SourceError> {
    open_with(url, opts, piece_bytes())
}

/// [`open_source`], cutting tables into key ranges of `piece_bytes` for a parallel COPY.
pub(super) fn open_with(
    url: &PgUrl,
    opts: &PgOptions,
    piece_bytes: u64,
) -> Result<Box<dyn DumpSource>, SourceError> {
    let db = url.database_name();
    let what = format!("pg_dump of database \"{db}\"");
    let mut client = Session::connect(url)?;
    let (num, server) = server_version(&mut client, &db)?;
    let tool = pick_tool("pg_dump", num, &server)?;
    let mut args = vec!["--format=plain".to_string(), "--no-password".to_string()];
    let mut info = SourceInfo {
        kind: "postgres".into(),
        database: Some(db.clone()),
        command: Some(describe_cmd(url, &tool.path, &args)),
        tool_version: Some(tool.version.clone()),
        server_version: Some(server),
        dialect: Some(Dialect::Postgres),
        options: vec!["heap order".into(), url.server_option()],
    };
    if opts.heap_order {
        drop(client);
        let line = log_cmd(url, &tool.path, &args);
        tracing::info!(database = %db, command = %line, "dump command");
        let cmd = tool_cmd(&tool.path, url, &args);
        return Ok(Box::new(ChildSource::spawn(cmd, info, what)?));
    }
    args.extend([
        "--snapshot=SNAPSHOT".into(),
        "--section=pre-data|data|post-data".into(),
    ]);
    info.command = Some(describe_cmd(url, &tool.path, &args));
    info.options = vec!["primary-key order".into(), url.server_option()];
    if opts.jobs > 1 {
        info.options
            .push(format!("table data over {} sessions", opts.jobs));
    }
    let line = log_cmd(url, &tool.path, &args);
    tracing::info!(database = %db, command = %line, "dump command (primary-key order)");

    let starting = format!("starting the dump of database \"{db}\"");
    let failed = |e: postgres::Error| db_err(&starting, &e);
    // One round trip each (the simple query protocol: no separate prepare), since a fleet run
    // pays them once per database (issue 19).
    let start = format!(
        "{SESSION_SQL}; SELECT pg_catalog.pg_export_snapshot(), \
         pg_catalog.current_setting('server_encoding')"
    );
    let rows = simple_rows(client.simple_query(&start).map_err(failed)?);
    let [snapshot, encoding] = match rows.first().map(|r| [column(r, 0), column(r, 1)]) {
        Some([Ok(Some(snapshot)), Ok(Some(encoding))]) => [snapshot, encoding],
        _ => {
            return Err(SourceError::Invalid(format!(
                "{starting}: no snapshot exported"
            )))
        }
    };
    // pg_dump's sections pass a SQL_ASCII database's bytes on as stored: so must our COPYs.
    let raw = encoding == "SQL_ASCII";
    if raw {
        client.batch_execute(RAW_BYTES_SQL).map_err(failed)?;
    }
    let tables = pk_tables(&mut client, num, opts.jobs > 1).map_err(failed)?;
    // Every table pg_dump will lock, locked here first (waiting as long as pg_dump would): a
    // lock wait in a pg_dump section or a COPY session can then only be behind a statement
    // queued behind this session, and is cut short (pg_dump's LOCK_WAIT_TIMEOUT, the COPY
    // sessions' NOWAIT).
    let locked = lock_tables(&mut client).map_err(failed)?;
    tracing::debug!(database = %db, tables = locked, "tables locked");
    crate::testhook::pause("pg-tables-locked");
    let utf8_switch = !matches!(encoding.as_str(), "UTF8" | "SQL_ASCII");
    // Both pg_dump runs start now (the second one's start-up and catalog read overlap the
    // first one and our COPYs); their output is passed on in order, one after the other.
    let pre_data = Section::spawn(
        &tool.path,
        url,
        &snapshot,
        vec!["--section=pre-data".into()],
    )?;
    let exclude = |t: &TableRow| format!("--exclude-table-data={}.{}", quote(&t[0]), quote(&t[1]));
    // The rest of the data (tables without a usable key, sequence values, large objects)
    // and the post-data in one pg_dump run: each run reads the whole catalog first, which
    // costs about as much as a small database's dump (issue 19, fleet fixed cost).
    let sections = ["--section=data".into(), "--section=post-data".into()];
    let rest = sections.into_iter().chain(tables.iter().map(exclude));
    let rest = Section::spawn(&tool.path, url, &snapshot, rest.collect())?;
    let job = PkJob {
        tables: tables.iter().map(|t| Block::new(t, &db)).collect(),
        keys: tables.iter().map(split_key).collect(),
        piece_bytes,
        db,
        pre_data,
        rest,
        url: url.clone(),
        snapshot,
        jobs: opts.jobs,
        utf8_switch,
        raw,
    };
    let (reader, writer) = io::pipe().map_err(|e| io_err("creating a pipe".into(), e))?;
    crate::source::pipe::widen(&writer);
    let worker = std::thread::Builder::new()
        .name("dumpvault-pg-dump".into())
        .spawn(move || {
            job.run(
                &mut client,
                &mut BufWriter::with_capacity(256 * 1024, writer),
            )
        })
        .map_err(|e| io_err("starting the dump thread".into(), e))?;
    Ok(Box::new(PkOrderSource {
        reader,
        worker: Some(worker),
        info,
        what,
    }))
}

/// A row of [`PK_TABLES_SQL`], each column as text (NULL as empty).
pub(super) type TableRow = [String; TABLE_COLUMNS];

/// The rows of [`PK_TABLES_SQL`] on a server of version `num`; with `sizes`, the tables'
/// sizes (else `0`).
///
/// On a session of a `SQL_ASCII` database ([`RAW_BYTES_SQL`]) a table whose name, schema name,
/// owner's name, column names or key collation's name are not UTF-8 is left out, with a
/// warning naming it (bytes above 127 as `\ooo`): its COPY could not be written in SQL text,
/// so pg_dump's data section dumps it (in heap order), as it does a table without a primary
/// key.
pub(super) fn pk_tables(
    client: &mut Session,
    num: u32,
    sizes: bool,
) -> Result<Vec<TableRow>, postgres::Error> {
    let generated = if num >= 120000 {
        "AND a.attgenerated = ''"
    } else {
        ""
    };
    let size = if sizes {
        "pg_catalog.pg_relation_size(c.oid)"
    } else {
        "0"
    };
    let sql = PK_TABLES_SQL
        .replace("GENERATED", generated)
        .replace("RELSIZE", size);
    let mut tables = Vec::new();
    for row in simple_rows(client.simple_query(&sql)?) {
        let table: Result<Vec<_>, _> = (0..TABLE_COLUMNS).map(|i| column(&row, i)).collect();
        match table {
            Ok(t) => tables.push(std::array::from_fn(|i| t[i].clone().unwrap_or_default())),
            Err(_) => tracing::warn!(
                table = %column(&row, TABLE_COLUMNS).ok().flatten().unwrap_or_default(),
                "a name of this table (its schema, owner, a column or the key's collation) is \
                 not UTF-8: pg_dump dumps its data, in heap order, so rows that move in the \
                 heap change the dump; rename it to dump its data in primary-key order"
            ),
        }
    }
    Ok(tables)
}

/// Locks every table of [`LOCK_TABLES_SQL`] in ACCESS SHARE mode in one statement, waiting as
/// long as it takes (as pg_dump does; the session's `lock_timeout` is 0); returns how many.
/// On a session of a `SQL_ASCII` database ([`RAW_BYTES_SQL`]) a table whose name is not
/// UTF-8 cannot be named in SQL text: pg_dump is then the first to lock it (a schema change
/// running on it as the dump starts then fails the dump after [`LOCK_WAIT_TIMEOUT`] instead of
/// being waited for). Errors: the server's (a table this user may not read, which pg_dump
/// could not lock either).
fn lock_tables(client: &mut Session) -> Result<usize, postgres::Error> {
    let mut list = Vec::new();
    for row in simple_rows(client.simple_query(LOCK_TABLES_SQL)?) {
        match column(&row, 0) {
            Ok(Some(name)) => list.push(format!("ONLY {name}")),
            _ => tracing::debug!(
                table = %column(&row, 1).ok().flatten().unwrap_or_default(),
                "a table name that is not UTF-8: pg_dump locks this table first"
            ),
        }
    }
    if !list.is_empty() {
        let lock = format!("LOCK TABLE {} IN ACCESS SHARE MODE", list.join(", "));
        client.batch_execute(&lock)?;
    }
    Ok(list.len())
}

/// Whether `e` is a secondary session's lock wait cut short: a pg_dump section whose failed
/// query was a `LOCK TABLE` ([`LOCK_WAIT_TIMEOUT`]; pg_dump prints the query, in any
/// language), or a COPY session's `LOCK TABLE … NOWAIT` ([`LOCKING`]).
fn lock_wait_cut(e: &SourceError) -> bool {
    match e {
        SourceError::Failed { stderr, .. } => stderr.contains("LOCK TABLE "),
        SourceError::Database { what, .. } => what.starts_with(LOCKING),
        _ => false,
    }
}

/// The error of a dump whose secondary session `who` failed with `err`: when that was a lock
/// wait cut short ([`lock_wait_cut`]), a message saying so, naming the statement queued
/// behind the snapshot session's locks ([`QUEUED_DDL_SQL`], asked on `client`, the snapshot
/// session, which still holds them) when there is one, and what to do; else `err` itself.
/// The caller then ends the snapshot transaction and kills the pg_dump runs, which releases
/// every lock, so the queued statement proceeds.
fn queued_ddl(client: &mut Session, db: &str, who: &str, err: SourceError) -> SourceError {
    if !lock_wait_cut(&err) {
        return err;
    }
    let mut cause = err.to_string();
    if let Some((cut, _)) = cause.char_indices().nth(600) {
        cause.truncate(cut);
        cause.push('…');
    }
    let waiter = client
        .simple_query(QUEUED_DDL_SQL)
        .ok()
        .and_then(|m| simple_rows(m).into_iter().next());
    let text = |row: &SimpleQueryRow, i| column(row, i).ok().flatten();
    // Without a statement to name, say so only when the server said why: a COPY session's
    // NOWAIT (by its SQLSTATE), or pg_dump's `statement_timeout` (its English message).
    let timed_out = match &err {
        SourceError::Failed { stderr, .. } => {
            stderr.contains("canceling statement due to statement timeout")
        }
        _ => true,
    };
    let queued = match &waiter {
        Some(row) => {
            let table = text(row, 1).or_else(|| text(row, 2)).unwrap_or_default();
            let pid = text(row, 0).unwrap_or_default();
            let query = match text(row, 3) {
                Some(q) => format!(": {q}"),
                None => String::new(),
            };
            format!(
                "a concurrent statement (pid {pid}{query}) needs an ACCESS EXCLUSIVE lock on \
                 table {table} and is queued behind this backup's lock on it, and this \
                 backup's {who} would have to wait behind that statement"
            )
        }
        None if timed_out => format!(
            "this backup's {who} waited for a lock on a table the backup holds, which only a \
             statement queued behind the backup's own lock makes it do (an ALTER TABLE, \
             TRUNCATE, DROP or VACUUM FULL, gone since)"
        ),
        None => return err,
    };
    SourceError::Database {
        what: format!("the snapshot of database \"{db}\" stopped"),
        message: format!(
            "{queued}, so each would wait for the other forever. No snapshot was written, and \
             the backup's locks are released, so that statement proceeds. Run the snapshot \
             again; schedule schema changes (ALTER TABLE, TRUNCATE, DROP, VACUUM FULL) outside \
             backups, or snapshot with --heap-order (plain pg_dump in one session, which \
             cannot deadlock this way). The lock wait that failed: {cause}"
        ),
    }
}

/// The columns of [`PK_TABLES_SQL`] kept in a [`TableRow`] (the last one, an ASCII name for
/// warnings, is not).
const TABLE_COLUMNS: usize = 10;

/// What [`split`] needs of a row of [`pk_tables`].
pub(super) fn split_key(t: &TableRow) -> SplitKey {
    let kind = match t[8].as_str() {
        "smallint" | "integer" | "bigint" => KeyKind::Int,
        type_name => KeyKind::Literal {
            type_name: type_name.to_string(),
            collation: Some(t[9].clone()).filter(|c| !c.is_empty()),
        },
    };
    SplitKey {
        schema: t[0].clone(),
        table: t[1].clone(),
        qualified: t[3].clone(),
        column: (!t[6].is_empty() && !t[8].is_empty()).then(|| KeyColumn {
            name: t[6].clone(),
            kind,
        }),
        bytes: t[7].parse().unwrap_or(0),
    }
}

/// Opens `pg_dumpall --globals-only` (roles, tablespaces) of the URL's server, for
/// [`PgOptions::globals`]. Errors: as [`open_source`].
pub fn open_globals(url: &PgUrl) -> Result<Box<dyn DumpSource>, SourceError> {
    let (num, server) = server_version(&mut Session::connect(url)?, &url.database_name())?;
    let tool = pick_tool("pg_dumpall", num, &server)?;
    let args = vec!["--globals-only".to_string(), "--no-password".to_string()];
    let info = SourceInfo {
        kind: "postgres".into(),
        command: Some(describe_cmd(url, &tool.path, &args)),
        tool_version: Some(tool.version),
        server_version: Some(server),
        dialect: Some(Dialect::Postgres),
        options: vec!["globals-only".into()],
        ..Default::default()
    };
    let what = format!("pg_dumpall --globals-only of {url}");
    let line = log_cmd(url, &tool.path, &args);
    tracing::info!(command = %line, "dump command (globals)");
    Ok(Box::new(ChildSource::spawn(
        tool_cmd(&tool.path, url, &args),
        info,
        what,
    )?))
}
