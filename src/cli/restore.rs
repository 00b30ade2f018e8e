//! `dumpvault restore` (to a file, stdout, or straight into a database, whole or some tables)
//! and `dumpvault ls` (the tables of a snapshot).

use super::output::{human_bytes, Bar};
use super::{Ctx, FilterArgs};
use anyhow::{bail, Context, Result};
use dumpvault::commands::{self, restore::RestoreOutcome, snapshots::SnapshotEntry};
use dumpvault::format::verification::TableCheck;
use dumpvault::index::Index;
use dumpvault::repository::Repository;
use dumpvault::source::database::DatabaseUrl;
use dumpvault::tables::{ranges_for_tables, table_summaries};
use std::io::{Read, Write};
use std::ops::Range;

/// Arguments of `restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    /// Write the dump to this file (written beside it, renamed into place when verified).
    #[arg(long, conflicts_with_all = ["stdout", "to"])]
    target: Option<std::path::PathBuf>,
    /// Write the dump to standard output.
    #[arg(long, conflicts_with = "to")]
    stdout: bool,
    /// Restore straight into this database (postgres://…, mysql://…, sqlite:///path).
    #[arg(long)]
    to: Option<String>,
    /// With --to: create the database.
    #[arg(long)]
    create: bool,
    /// With --to: drop and recreate an existing database (or overwrite an SQLite file).
    #[arg(long)]
    drop_existing: bool,
    /// Restore only this table's DDL and data (repeatable).
    #[arg(long)]
    table: Vec<String>,
    /// Which stream of the snapshot (default: the first).
    #[arg(long)]
    stream: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Arguments of `ls`.
#[derive(clap::Args)]
pub struct LsArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `ls`: the tables of a snapshot with rows and bytes.
pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let mut all = Vec::new();
    for s in &entry.manifest.streams {
        for t in table_summaries(&s.sections) {
            all.push((s.name.clone(), t));
        }
    }
    if ctx.json {
        let v: Vec<_> = all
            .iter()
            .map(|(s, t)| serde_json::json!({"stream": s, "table": t.name, "rows": t.rows, "bytes": t.bytes}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{:<40} {:>12} {:>10}", "table", "rows", "bytes");
        for (_, t) in &all {
            let rows = t.rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
            println!("{:<40} {:>12} {:>10}", t.name, rows, human_bytes(t.bytes));
        }
        println!("{} table(s) in snapshot {}", all.len(), entry.id.short());
    }
    Ok(0)
}

/// Runs `restore`.
pub fn run(ctx: &Ctx, a: RestoreArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let stream = match &a.stream {
        None => &entry.manifest.streams[0],
        Some(n) => entry
            .manifest
            .streams
            .iter()
            .find(|s| &s.name == n)
            .with_context(|| {
                let names: Vec<_> = entry
                    .manifest
                    .streams
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                format!(
                    "snapshot {} has no stream {n:?}; it has {}",
                    entry.id.short(),
                    names.join(", ")
                )
            })?,
    };
    let ranges: Option<Vec<Range<u64>>> = if a.table.is_empty() {
        None
    } else {
        Some(ranges_for_tables(&stream.sections, &a.table).map_err(|e| {
            anyhow::anyhow!("snapshot {} stream {}: {e}", entry.id.short(), stream.name)
        })?)
    };
    // A damaged index file must not stop the restore of snapshots it does not concern.
    let loaded = commands::check::load_index_lenient(&repo)?;
    for (_, e) in &loaded.damaged {
        eprintln!("warning: skipped {e}; run `dumpvault check`");
    }
    let index: Index = loaded.index;
    let total = ranges
        .as_ref()
        .map_or(stream.size, |r| r.iter().map(|r| r.end - r.start).sum());
    let bar = Bar::new(ctx.progress, Some(total));
    let restore = |w: &mut dyn Write| {
        commands::restore::run(&repo, &index, &entry.id, stream, ranges.as_deref(), w, &bar)
    };
    let outcome = if let Some(target) = &a.target {
        to_file(target, restore)?
    } else if a.stdout {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        restore(&mut w)?
    } else if let Some(to) = &a.to {
        let url = DatabaseUrl::parse(to)?;
        let image = entry
            .manifest
            .source
            .options
            .iter()
            .any(|o| o == "format=image");
        let o = to_database(&url, a.create, a.drop_existing, image, restore)?;
        check_row_counts(&url, &entry, stream, &a.table)?;
        o
    } else {
        bail!("where to? give --target FILE, --stdout or --to DATABASE_URL");
    };
    report(ctx, &repo, &entry, stream, &outcome, a.stdout);
    Ok(0)
}

fn report(
    ctx: &Ctx,
    _repo: &Repository,
    entry: &SnapshotEntry,
    stream: &dumpvault::format::snapshot::StreamRef,
    o: &RestoreOutcome,
    to_stdout: bool,
) {
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"snapshot": entry.id.to_hex(), "stream": stream.name,
                "bytes_written": o.bytes_written, "bytes_read": o.bytes_read,
                "chunks_read": o.chunks_read, "chunks_total": stream.chunks, "dump_size": stream.size})
        );
    } else if !to_stdout {
        eprintln!(
            "restored snapshot {} ({}): {} written; read {} of stored data ({} of {} chunks) for a {} dump; verified",
            entry.id.short(),
            stream.name,
            human_bytes(o.bytes_written),
            human_bytes(o.bytes_read),
            o.chunks_read,
            stream.chunks,
            human_bytes(stream.size)
        );
    }
}

fn to_file(
    target: &std::path::Path,
    restore: impl FnOnce(&mut dyn Write) -> dumpvault::Result<RestoreOutcome>,
) -> Result<RestoreOutcome> {
    let tmp = target.with_extension("dumpvault-partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let r = restore(&mut w).and_then(|o| {
        w.flush()
            .map_err(|e| dumpvault::Error::io(format!("writing {}", tmp.display()), e))?;
        Ok(o)
    });
    drop(w);
    match r {
        Ok(o) => {
            std::fs::rename(&tmp, target).with_context(|| {
                format!("cannot rename {} to {}", tmp.display(), target.display())
            })?;
            Ok(o)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.into())
        }
    }
}

/// Bytes from the restoring thread to the database client; a failed restore surfaces as a read
/// error (never as end of file), so the client is stopped and nothing is committed. After the
/// end of the stream every read returns 0 again, as files do.
struct ChannelReader {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(b)) if b.is_empty() => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("restore stopped")),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct ChannelWriter(crossbeam_channel::Sender<std::io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.is_empty() {
            return Ok(0);
        }
        self.0.send(Ok(b.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "database client stopped")
        })?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a restore error only says the database client stopped reading the stream.
fn client_stopped(e: &dumpvault::Error) -> bool {
    matches!(e, dumpvault::Error::Io { source, .. }
        if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Restores into the database at `url` (see [`DatabaseUrl::restore`] for `create` and
/// `drop_existing`), the snapshot stream produced by `restore` on another thread.
pub fn to_database(
    url: &DatabaseUrl,
    create: bool,
    drop_existing: bool,
    image: bool,
    restore: impl FnOnce(&mut dyn Write) -> dumpvault::Result<RestoreOutcome> + Send,
) -> Result<RestoreOutcome> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let mut reader = ChannelReader {
        rx,
        buf: Vec::new(),
        pos: 0,
        ended: false,
    };
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx.clone()));
            let r = restore(&mut w);
            let r = r.and_then(|o| {
                w.flush().map_err(|e| {
                    dumpvault::Error::io("sending the dump to the database client", e)
                })?;
                Ok(o)
            });
            drop(w);
            let _ = match &r {
                Ok(_) => tx.send(Ok(Vec::new())),
                Err(e) => tx.send(Err(std::io::Error::other(e.to_string()))),
            };
            r
        });
        let consumed = url.restore(&mut reader, create, drop_existing, image);
        drop(reader);
        let produced = producer.join().expect("restore thread panicked");
        let consumed =
            consumed.with_context(|| format!("restoring into database {}", url.database()));
        match (produced, consumed) {
            (Ok(o), Ok(())) => Ok(o),
            // The client stopped reading (it refused the target or failed): its error is the
            // cause, not the closed pipe the restore then ran into (which, as a broken pipe,
            // would otherwise end the process silently with exit code 0).
            (Err(p), Err(c)) if client_stopped(&p) => Err(c),
            // A damaged snapshot explains a failed client; report it first.
            (Err(p), _) => Err(p.into()),
            (Ok(_), Err(c)) => Err(c),
        }
    })
}

/// Compares each restored table's row count with the rows the dump recorded; an error lists
/// every mismatch.
fn check_row_counts(
    url: &DatabaseUrl,
    entry: &SnapshotEntry,
    stream: &dumpvault::format::snapshot::StreamRef,
    tables: &[String],
) -> Result<()> {
    if table_summaries(&stream.sections).is_empty() {
        return Ok(());
    }
    let checks = commands::verify::compare_tables(&stream.sections, &url.row_counts()?, tables);
    let bad: Vec<String> = checks.iter().filter(|c| !c.ok()).map(mismatch).collect();
    if !bad.is_empty() {
        bail!(
            "restored database {} does not match snapshot {}: {}",
            url.database(),
            entry.id.short(),
            bad.join("; ")
        );
    }
    Ok(())
}

/// `public.users: 9 rows, the snapshot has 10`.
pub fn mismatch(c: &TableCheck) -> String {
    match c.actual {
        Some(n) => format!("{}: {n} rows, the snapshot has {}", c.table, c.expected),
        None => format!("{}: missing, the snapshot has {} rows", c.table, c.expected),
    }
}
