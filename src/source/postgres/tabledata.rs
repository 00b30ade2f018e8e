//! The table data of a primary-key-order dump: one `COPY (SELECT … ORDER BY <key>) TO STDOUT`
//! block per table, framed exactly like pg_dump's own data entries, over the snapshot
//! connection ([`copy_serial`]) or over N connections that share its exported snapshot
//! ([`copy_parallel`], `snapshot --jobs N` of one database; issue 16, parallel dump).
//!
//! Either way the blocks come out in the same order with the same bytes, so the dump stream is
//! byte-identical whatever N is (deduplication against earlier snapshots is unaffected). The
//! parallel path is pg_dump's `-j` model for a plain stream: each worker opens its own session,
//! joins the exported snapshot with `SET TRANSACTION SNAPSHOT` (PostgreSQL documentation,
//! "Transaction Isolation / Snapshot Synchronization"), takes the next table from a shared
//! counter and COPYs it into a spool file (an unnamed temporary file in `$TMPDIR`, deleted when
//! dropped); the stream passes the spools on in table order as each completes. The spools hold
//! the tables finished ahead of the one being passed on: at most the table data of the dump,
//! as `pg_dump -j -Fd` writes it all to disk.
//!
//! Owns only the COPY blocks. It must not start pg_dump or decide the table list ([`super::dump`]).

use super::dump::{pump, SESSION_SQL};
use super::{conn::connect, db_err, io_err, PgUrl};
use crate::source::SourceError;
use crossbeam_channel::{bounded, Receiver, Sender};
use postgres::Client;
use std::io::{self, BufWriter, Seek, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One table's data block: its pg_dump-style header, the COPY that reads its rows in key order,
/// and its name for errors.
pub(super) struct Block {
    header: String,
    sql: String,
    what: String,
}

impl Block {
    /// The block of one row of the table query: `[schema, name, owner, qualified quoted name,
    /// quoted column list, quoted key columns]`, in database `db`.
    pub(super) fn new(table: &[String; 6], db: &str) -> Self {
        let [schema, name, owner, qualified, columns, key] = table;
        // As pg_dump's sanitize_line: names in comments must not break the line.
        let [schema_c, name_c, owner_c] =
            [schema, name, owner].map(|s| s.replace(['\n', '\r'], " "));
        Block {
            header: format!(
                "--\n-- Data for Name: {name_c}; Type: TABLE DATA; Schema: {schema_c}; \
                 Owner: {owner_c}\n--\n\nCOPY {qualified} ({columns}) FROM stdin;\n"
            ),
            sql: format!("COPY (SELECT {columns} FROM ONLY {qualified} ORDER BY {key}) TO STDOUT"),
            what: format!("COPY of table {qualified} in database \"{db}\""),
        }
    }

    /// Writes the whole block (header, rows, `\.` terminator) to `out` over `client`.
    fn copy(&self, client: &mut Client, out: &mut impl Write) -> Result<(), SourceError> {
        let write_err = |e| io_err(format!("passing on {}", self.what), e);
        out.write_all(self.header.as_bytes()).map_err(write_err)?;
        tracing::debug!(copy = %self.what, "COPY in primary-key order");
        let mut rows = client
            .copy_out(&self.sql)
            .map_err(|e| db_err(&self.what, &e))?;
        pump(&mut rows, out, &self.what)?;
        out.write_all(b"\\.\n\n\n").map_err(write_err)
    }
}

/// Writes every block in order over the snapshot connection `client`.
pub(super) fn copy_serial(
    client: &mut Client,
    blocks: &[Block],
    out: &mut impl Write,
) -> Result<(), SourceError> {
    blocks.iter().try_for_each(|b| b.copy(client, out))
}

/// Writes every block in order, COPYed by `jobs` sessions that join the exported `snapshot`
/// of the database at `url` (whose exporting transaction must stay open until this returns).
///
/// Errors: a session cannot connect or join the snapshot, a COPY fails, a spool cannot be
/// written, or `out` fails; the first error in table order is returned, and the other workers
/// stop at their next buffer (their sessions close when they return).
pub(super) fn copy_parallel(
    url: &PgUrl,
    snapshot: &str,
    blocks: &[Block],
    jobs: usize,
    out: &mut impl Write,
) -> Result<(), SourceError> {
    if !snapshot.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        let msg = format!("unexpected exported snapshot name {snapshot:?}");
        return Err(SourceError::Invalid(msg));
    }
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..blocks.len())
        .map(|_| {
            let (tx, rx) = bounded(1);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let work = Work {
        url,
        snapshot,
        blocks,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        senders,
    };
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, blocks.len().max(1)) {
            s.spawn(|| work.worker());
        }
        let r = emit(&receivers, out);
        // On error the workers stop at their next buffer; the scope waits for them.
        work.stop.store(true, Ordering::SeqCst);
        r
    })
}

/// One table's outcome: its spool, rewound, or the error that stopped it.
type Spooled = Result<std::fs::File, SourceError>;

/// What the workers of one [`copy_parallel`] share.
struct Work<'a> {
    url: &'a PgUrl,
    snapshot: &'a str,
    blocks: &'a [Block],
    /// The next table to take.
    next: AtomicUsize,
    /// Set when the stream stopped (done, or failed): workers return at their next buffer.
    stop: AtomicBool,
    /// One per table, taken by the worker that COPYs it: a worker that panics drops it, and
    /// the stream sees the table's channel disconnected instead of waiting forever.
    senders: Vec<Mutex<Option<Sender<Spooled>>>>,
}

impl Work<'_> {
    /// Takes the next table (its number and sender), or `None` when every table is taken or
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

    /// One worker: a session on the snapshot, then tables until none is left. A failure is
    /// sent as the outcome of the table it was taking, and ends the worker.
    fn worker(&self) {
        let mut client = match self.session() {
            Ok(c) => c,
            Err(e) => {
                if let Some((_, tx)) = self.take() {
                    let _ = tx.send(Err(e));
                }
                return;
            }
        };
        while let Some((i, tx)) = self.take() {
            let outcome = self.spool(&mut client, &self.blocks[i]);
            let failed = outcome.is_err();
            let _ = tx.send(outcome);
            if failed {
                return;
            }
        }
    }

    /// A session with pg_dump's settings in a transaction on the exported snapshot.
    fn session(&self) -> Result<Client, SourceError> {
        let mut client = connect(self.url)?;
        let sql = format!(
            "{SESSION_SQL}; SET TRANSACTION SNAPSHOT '{}'",
            self.snapshot
        );
        let what = format!(
            "joining the exported snapshot of database \"{}\"",
            self.url.database_name()
        );
        client.batch_execute(&sql).map_err(|e| db_err(&what, &e))?;
        Ok(client)
    }

    /// COPYs one block into a new spool and rewinds it.
    fn spool(&self, client: &mut Client, block: &Block) -> Spooled {
        let spool_err = |e| io_err(format!("spooling {}", block.what), e);
        let file = tempfile::tempfile().map_err(spool_err)?;
        let mut w = Stoppable(BufWriter::with_capacity(256 * 1024, file), &self.stop);
        block.copy(client, &mut w)?;
        let mut file = w.0.into_inner().map_err(|e| spool_err(e.into_error()))?;
        file.rewind().map_err(spool_err)?;
        Ok(file)
    }
}

/// Passes the spools on in table order as each completes.
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
