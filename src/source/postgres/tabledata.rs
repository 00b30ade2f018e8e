//! The table data of a primary-key-order dump: one `COPY (SELECT … ORDER BY <key>) TO STDOUT`
//! block per table, framed exactly like pg_dump's own data entries, over the snapshot
//! connection ([`copy_serial`]) or over N connections that share its exported snapshot
//! ([`copy_parallel`], `snapshot --jobs N` of one database; issue 16, parallel dump). Each is a
//! [`Session`], which runs a whole COPY in one runtime entry: the `postgres` crate's reader
//! entered its runtime once per row, most of a dump's client CPU (issue 16).
//!
//! Either way the blocks come out in the same order with the same bytes, so the dump stream is
//! byte-identical whatever N is (deduplication against earlier snapshots is unaffected). The
//! parallel path is pg_dump's `-j` model for a plain stream: each worker opens its own session,
//! joins the exported snapshot with `SET TRANSACTION SNAPSHOT` (PostgreSQL documentation,
//! "Transaction Isolation / Snapshot Synchronization"), takes the next piece from a shared
//! counter, locks its table with `NOWAIT` (as `pg_dump -j` workers do) and COPYs it into a
//! spool file (an unnamed temporary file in `$TMPDIR`, deleted when dropped); the stream passes
//! the spools on in order as each completes. A piece is a whole
//! table, or one key range of a big table ([`super::ranges`]): the ranges of a table are COPYed
//! with the same `ORDER BY`, and the first carries the block's header and the last its
//! terminator, so their concatenation is the table's block. The spools hold the pieces finished
//! ahead of the one being passed on: at most the table data of the dump, as `pg_dump -j -Fd`
//! writes it all to disk, and with the pieces taken in stream order, about N pieces.
//!
//! The rows are bytes as the server sends them: UTF-8, except for a `SQL_ASCII` database, whose
//! sessions read text as stored, as pg_dump does ([`super::dump::RAW_BYTES_SQL`]).
//!
//! Owns only the COPY blocks. It must not start pg_dump or decide the table list ([`super::dump`])
//! or the key ranges ([`super::ranges`]).

use super::conn::Session;
use super::dump::{RAW_BYTES_SQL, SESSION_SQL};
use super::{db_err, io_err, PgUrl};
use crate::source::SourceError;
use crossbeam_channel::{bounded, Receiver, Sender};
use futures_util::StreamExt;
use postgres::error::SqlState;
use std::io::{self, BufWriter, Seek, Write};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One table's data block: its pg_dump-style header, the COPY that reads its rows in key order
/// (optionally cut into key ranges), and its name for errors.
pub(super) struct Block {
    header: String,
    /// `SELECT <columns> FROM ONLY <table>`: the COPY's query before any `WHERE`.
    select: String,
    /// The quoted key columns, for `ORDER BY`.
    key: String,
    /// `WHERE` predicates of the table's key ranges in key order, or none: one COPY.
    ranges: Vec<String>,
    what: String,
    /// `LOCK TABLE ONLY <table> IN ACCESS SHARE MODE NOWAIT`, which a COPY session runs first.
    lock: String,
    /// What that lock is called in errors (starts with [`LOCKING`]).
    lock_what: String,
}

/// How the error of a COPY session's `LOCK TABLE … NOWAIT` that found the table's lock queue
/// busy starts its `what` ([`super::dump`] tells these errors apart by it).
pub(super) const LOCKING: &str = "locking table ";

impl Block {
    /// The block of one row of the table query: `[schema, name, owner, qualified quoted name,
    /// quoted column list, quoted key columns, …]`, in database `db`, not cut into ranges.
    pub(super) fn new(table: &super::dump::TableRow, db: &str) -> Self {
        let [schema, name, owner, qualified, columns, key, ..] = table;
        // As pg_dump's sanitize_line: names in comments must not break the line.
        let [schema_c, name_c, owner_c] =
            [schema, name, owner].map(|s| s.replace(['\n', '\r'], " "));
        Block {
            header: format!(
                "--\n-- Data for Name: {name_c}; Type: TABLE DATA; Schema: {schema_c}; \
                 Owner: {owner_c}\n--\n\nCOPY {qualified} ({columns}) FROM stdin;\n"
            ),
            select: format!("SELECT {columns} FROM ONLY {qualified}"),
            key: key.to_string(),
            ranges: Vec::new(),
            what: format!("COPY of table {qualified} in database \"{db}\""),
            lock: format!("LOCK TABLE ONLY {qualified} IN ACCESS SHARE MODE NOWAIT"),
            lock_what: format!("{LOCKING}{qualified} (NOWAIT) in database \"{db}\" for its COPY"),
        }
    }

    /// Cuts the table's COPY into the key ranges `ranges` (`WHERE` predicates that select
    /// every row exactly once, in key order: [`super::ranges::split`]); none: one COPY.
    pub(super) fn set_ranges(&mut self, ranges: Vec<String>) {
        self.ranges = ranges;
    }

    /// The COPYs of the block: one, or one per key range.
    fn pieces(&self) -> usize {
        self.ranges.len().max(1)
    }

    /// Writes piece `piece` of the block to `out` over `session`: the header before the first,
    /// the rows of its range, the `\.` terminator after the last. The whole COPY runs in one
    /// [`Session::run`], each message (a row) written to `out` as it comes.
    ///
    /// Errors, worded as the `postgres` crate's reader had them: the COPY cannot start
    /// (`db_err`), reading its rows fails (`reading …`), writing to `out` fails (`passing on …`).
    fn copy(
        &self,
        session: &mut Session,
        piece: usize,
        out: &mut impl Write,
    ) -> Result<(), SourceError> {
        let write_err = |e| io_err(format!("passing on {}", self.what), e);
        let read_err = |e| io_err(format!("reading {}", self.what), io::Error::other(e));
        if piece == 0 {
            out.write_all(self.header.as_bytes()).map_err(write_err)?;
        }
        let sql = match self.ranges.get(piece) {
            Some(range) => format!(
                "COPY ({} WHERE {range} ORDER BY {}) TO STDOUT",
                self.select, self.key
            ),
            None => format!("COPY ({} ORDER BY {}) TO STDOUT", self.select, self.key),
        };
        tracing::debug!(copy = %self.what, piece, "COPY in primary-key order");
        let mut started = false;
        let outcome = session.run(async |client| {
            let rows = client.copy_out(&sql).await.map_err(Failed::Start)?;
            started = true;
            let mut rows = pin!(rows);
            while let Some(row) = rows.next().await {
                out.write_all(&row.map_err(Failed::Read)?)
                    .map_err(Failed::Write)?;
            }
            Ok(())
        });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(Failed::Start(e))) => return Err(db_err(&self.what, &e)),
            Ok(Err(Failed::Read(e))) => return Err(read_err(e)),
            Ok(Err(Failed::Write(e))) => return Err(write_err(e)),
            Err(e) if started => return Err(read_err(e)),
            Err(e) => return Err(db_err(&self.what, &e)),
        }
        if piece + 1 >= self.pieces() {
            out.write_all(b"\\.\n\n\n").map_err(write_err)?;
        }
        Ok(())
    }
}

/// How one COPY failed.
enum Failed {
    /// The server refused the COPY.
    Start(postgres::Error),
    /// Reading its rows failed.
    Read(postgres::Error),
    /// Writing them out failed.
    Write(io::Error),
}

/// Writes every block in order over the snapshot connection `session` (one COPY per range).
pub(super) fn copy_serial(
    session: &mut Session,
    blocks: &[Block],
    out: &mut impl Write,
) -> Result<(), SourceError> {
    for b in blocks {
        (0..b.pieces()).try_for_each(|p| b.copy(session, p, out))?;
    }
    Ok(())
}

/// The COPYs of `blocks` in stream order: (block, piece of that block).
pub(super) fn pieces(blocks: &[Block]) -> Vec<(usize, usize)> {
    let each = blocks.iter().enumerate();
    each.flat_map(|(i, b)| (0..b.pieces()).map(move |p| (i, p)))
        .collect()
}

/// Writes every block in order, its pieces ([`pieces`]) COPYed by `jobs` sessions that join
/// the exported `snapshot` of the database at `url` (whose exporting transaction must stay
/// open until this returns); with `raw` (a `SQL_ASCII` database) each session reads text as
/// stored ([`RAW_BYTES_SQL`]), as the snapshot session does.
///
/// Errors: a session cannot connect or join the snapshot, a table's lock is busy
/// ([`Work::spool`]), a COPY fails, a spool cannot be written, or `out` fails. The first
/// failure stops the stream at once (the other workers stop at their next buffer, their
/// sessions closing as they return, so the snapshot's locks go soon after) and is the error
/// returned.
pub(super) fn copy_parallel(
    url: &PgUrl,
    snapshot: &str,
    raw: bool,
    blocks: &[Block],
    jobs: usize,
    out: &mut impl Write,
) -> Result<(), SourceError> {
    if !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        let msg = format!("unexpected exported snapshot name {snapshot:?}");
        return Err(SourceError::Invalid(msg));
    }
    let pieces = pieces(blocks);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..pieces.len())
        .map(|_| {
            let (tx, rx) = bounded(1);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let work = Work {
        url,
        snapshot,
        raw,
        blocks,
        pieces: &pieces,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        senders,
        failure: Mutex::new(None),
    };
    let emitted = std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, pieces.len().max(1)) {
            s.spawn(|| work.worker());
        }
        let r = emit(&receivers, out);
        // On error the workers stop at their next buffer; the scope waits for them.
        work.stop.store(true, Ordering::SeqCst);
        r
    });
    let first = work.failure.into_inner();
    match (emitted, first.unwrap_or_else(|e| e.into_inner())) {
        (Err(_), Some(first)) => Err(first),
        (emitted, _) => emitted,
    }
}

/// One piece's outcome: its spool, rewound, or the error that stopped it.
type Spooled = Result<std::fs::File, SourceError>;

/// What the workers of one [`copy_parallel`] share.
struct Work<'a> {
    url: &'a PgUrl,
    snapshot: &'a str,
    /// The sessions read text as stored ([`RAW_BYTES_SQL`]): a `SQL_ASCII` database.
    raw: bool,
    blocks: &'a [Block],
    /// The COPYs in stream order ([`pieces`]).
    pieces: &'a [(usize, usize)],
    /// The next piece to take.
    next: AtomicUsize,
    /// Set when the stream stopped (done, or failed): workers return at their next buffer.
    stop: AtomicBool,
    /// One per piece, taken by the worker that COPYs it: a worker that panics drops it, and
    /// the stream sees the piece's channel disconnected instead of waiting forever.
    senders: Vec<Mutex<Option<Sender<Spooled>>>>,
    /// The failure that stopped the stream, when a worker's did ([`Work::fail`]): the pieces
    /// before it then fail only because the stream stopped.
    failure: Mutex<Option<SourceError>>,
}

impl Work<'_> {
    /// Takes the next piece (its number and sender), or `None` when every piece is taken or
    /// the stream stopped.
    fn take(&self) -> Option<(usize, Sender<Spooled>)> {
        if self.stop.load(Ordering::SeqCst) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let tx = self.senders.get(i)?.lock();
        let tx = tx.unwrap_or_else(|e| e.into_inner()).take()?;
        Some((i, tx))
    }

    /// One worker: a session on the snapshot, then pieces until none is left. A failure is
    /// the outcome of the piece it was taking ([`Self::fail`]), and ends the worker.
    fn worker(&self) {
        let mut client = match self.session() {
            Ok(c) => c,
            Err(e) => {
                if let Some((_, tx)) = self.take() {
                    self.fail(tx, e);
                }
                return;
            }
        };
        while let Some((i, tx)) = self.take() {
            let (block, piece) = self.pieces[i];
            match self.spool(&mut client, &self.blocks[block], piece) {
                Ok(spool) => drop(tx.send(Ok(spool))),
                Err(e) => return self.fail(tx, e),
            }
        }
    }

    /// Ends a piece with error `e`. The first failure anywhere stops the stream at once and
    /// is kept as the dump's error ([`Self::failure`]; the piece's sender is dropped, so the
    /// stream sees it end without a result); a later one, caused by the stop or not, is sent
    /// as the piece's outcome.
    fn fail(&self, tx: Sender<Spooled>, e: SourceError) {
        if self.stop.swap(true, Ordering::SeqCst) {
            let _ = tx.send(Err(e));
        } else {
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    }

    /// A session with pg_dump's settings (and client encoding, when [`Self::raw`]) in a
    /// transaction on the exported snapshot.
    fn session(&self) -> Result<Session, SourceError> {
        let mut session = Session::connect(self.url)?;
        let raw = match self.raw {
            true => format!("{RAW_BYTES_SQL}; "),
            false => String::new(),
        };
        let sql = format!(
            "{raw}{SESSION_SQL}; SET TRANSACTION SNAPSHOT '{}'",
            self.snapshot
        );
        let what = format!(
            "joining the exported snapshot of database \"{}\"",
            self.url.database_name()
        );
        session.batch_execute(&sql).map_err(|e| db_err(&what, &e))?;
        Ok(session)
    }

    /// COPYs one piece of a block into a new spool and rewinds it, after locking the table
    /// with `NOWAIT`, as `pg_dump -j` workers do: the snapshot session holds ACCESS SHARE on
    /// it, so the lock is busy only when an ACCESS EXCLUSIVE request is queued behind that
    /// session, which waits for this COPY: waiting would never end. Errors: that lock is busy
    /// (its `what` starts with [`LOCKING`]), or as [`Block::copy`] and the spool's.
    fn spool(&self, client: &mut Session, block: &Block, piece: usize) -> Spooled {
        let busy = |e: postgres::Error| match e.code() {
            Some(&SqlState::LOCK_NOT_AVAILABLE) => db_err(&block.lock_what, &e),
            _ => db_err(&block.what, &e),
        };
        client.batch_execute(&block.lock).map_err(busy)?;
        let spool_err = |e| io_err(format!("spooling {}", block.what), e);
        let file = tempfile::tempfile().map_err(spool_err)?;
        let mut w = Stoppable(BufWriter::with_capacity(256 * 1024, file), &self.stop);
        block.copy(client, piece, &mut w)?;
        let mut file = w.0.into_inner().map_err(|e| spool_err(e.into_error()))?;
        file.rewind().map_err(spool_err)?;
        Ok(file)
    }
}

/// Passes the spools on in stream order as each completes.
fn emit(receivers: &[Receiver<Spooled>], out: &mut impl Write) -> Result<(), SourceError> {
    for rx in receivers {
        let mut spool = match rx.recv() {
            Ok(spooled) => spooled?,
            Err(_) => {
                let msg = "a parallel COPY worker stopped without a result".to_string();
                return Err(SourceError::Invalid(msg));
            }
        };
        io::copy(&mut spool, out).map_err(|e| io_err("passing on a spooled COPY".into(), e))?;
    }
    Ok(())
}

/// A writer that fails once the stream stopped, so a worker's COPY ends at its next buffer.
struct Stoppable<'a, W>(W, &'a AtomicBool);

impl<W: Write> Write for Stoppable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.1.load(Ordering::SeqCst) {
            return Err(io::Error::other("the dump stream stopped"));
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
