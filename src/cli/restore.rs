//! `dumpvault restore` (to a file, stdout, or straight into a database, whole or some tables)
//! and `dumpvault ls` (the tables of a snapshot).

use super::output::{human_bytes, Bar};
use super::{Ctx, FilterArgs};
use anyhow::{bail, Context, Result};
use dumpvault::commands::restore::{parallel, RestoreOutcome};
use dumpvault::commands::{self, snapshots::SnapshotEntry};
use dumpvault::format::snapshot::{Manifest, StreamRef};
use dumpvault::format::verification::TableCheck;
use dumpvault::index::Index;
use dumpvault::progress::Progress;
use dumpvault::repository::Repository;
use dumpvault::source::database::{Creation, DatabaseUrl};
use dumpvault::source::Dialect;
use dumpvault::tables::select::{self, display_name, list_tables};
use dumpvault::tables::{dialect_name, table_summaries};
use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;

/// Arguments of `restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    /// Write the dump to this file (written beside it, renamed into place when verified).
    #[arg(long, conflicts_with_all = ["stdout", "to"])]
    target: Option<std::path::PathBuf>,
    /// With --target: replace the file when it exists (default: refuse, exit 2).
    #[arg(long, requires = "target")]
    overwrite: bool,
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
    /// Restore only this table (repeatable): the name as `ls` prints it
    /// (`"Sales"."Order Items"`), without its schema when unique, or a glob (`'public.order*'`).
    /// A partitioned table comes with its partitions.
    #[arg(long)]
    table: Vec<String>,
    /// With --table: keep foreign keys to tables that are not restored (they then fail unless
    /// those tables exist).
    #[arg(long, requires = "table")]
    with_foreign_keys: bool,
    /// With --to: keep a database this restore created when the restore fails (default: drop it).
    #[arg(long)]
    keep_failed: bool,
    /// With --to: load this many tables (then indexes and constraints) at once, each over its
    /// own connection, after the schema in one transaction (default: the number of cores).
    /// PostgreSQL: the data sessions commit with synchronous_commit = off, and one synchronous
    /// commit at the end makes them all durable before the restore succeeds; the row-count
    /// check reads each table's count from the server's `COPY n` reply instead of scanning it.
    #[arg(long, requires = "to", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// With --to PostgreSQL and parallel loading: `maintenance_work_mem` of the sessions that
    /// build indexes and constraints (a size as the server takes it: `64MB`, `1GB`; `server`
    /// keeps the server's own). Each of the --jobs sessions may use this much memory at once.
    #[arg(long, requires = "to", default_value = "256MB", value_parser = work_mem,
          conflicts_with = "single_transaction")]
    maintenance_work_mem: String,
    /// With --to: restore in one session and one transaction instead (slower; nothing of a
    /// failed restore is ever visible).
    #[arg(long, requires = "to", conflicts_with = "jobs")]
    single_transaction: bool,
    /// Which stream of the snapshot (default: the first).
    #[arg(long)]
    stream: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Parses `--maintenance-work-mem`: `server`, or digits with a unit (`kB`, `MB`, `GB`, `TB`,
/// as PostgreSQL writes them), at least 1MB as the server requires.
fn work_mem(v: &str) -> Result<String, String> {
    if v == "server" {
        return Ok(v.into());
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = v.split_at(digits);
    let kib = match unit {
        "kB" => 1,
        "MB" => 1 << 10,
        "GB" => 1 << 20,
        "TB" => 1 << 30,
        _ => 0,
    };
    match n.parse::<u64>().map(|n| n.saturating_mul(kib)) {
        Ok(k) if k >= 1024 && kib > 0 => Ok(v.into()),
        _ => Err(format!(
            "{v:?} is not a size of at least 1MB such as 256MB or 1GB (or `server`)"
        )),
    }
}

/// Arguments of `ls`.
#[derive(clap::Args)]
pub struct LsArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `ls`: the tables of a snapshot (base tables and partitions) with kind, rows and bytes.
pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let mut all = Vec::new();
    for s in &entry.manifest.streams {
        for t in list_tables(&s.sections) {
            all.push((s.name.clone(), t));
        }
    }
    if ctx.json {
        let v: Vec<_> = all
            .iter()
            .map(|(s, t)| {
                serde_json::json!({"stream": s, "table": t.name, "name": t.display,
                    "kind": t.kind.as_str(), "partition_of": t.partition_of,
                    "rows": t.rows, "bytes": t.bytes})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut table = super::output::table(&["table", "kind", "rows", "bytes"], &[2, 3]);
        for (_, t) in &all {
            let rows = t.rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
            let kind = match &t.partition_of {
                Some(p) => format!("partition of {}", display_name(p)),
                None => t.kind.as_str().to_string(),
            };
            table.add_row(vec![t.display.clone(), kind, rows, human_bytes(t.bytes)]);
        }
        println!("{}", super::output::render(&table));
        println!("{} table(s) in snapshot {}", all.len(), entry.id.short());
    }
    Ok(0)
}

/// The engine a snapshot's dump is for, when known.
fn snapshot_engine(m: &Manifest) -> Option<Dialect> {
    m.source.dialect.or(match m.source.kind.as_str() {
        "postgres" => Some(Dialect::Postgres),
        "mysql" => Some(Dialect::MySql),
        "sqlite" => Some(Dialect::Sqlite),
        _ => None,
    })
}

fn url_engine(url: &DatabaseUrl) -> Dialect {
    match url {
        DatabaseUrl::Postgres(_) => Dialect::Postgres,
        DatabaseUrl::MySql(_) => Dialect::MySql,
        DatabaseUrl::Sqlite(_) => Dialect::Sqlite,
    }
}

/// The snapshot to restore. With `--to` and `latest`, the newest usable snapshot (see
/// [`commands::snapshots::newest_usable`]: not tagged `incomplete`, manifest present) of the
/// target's engine and, unless `--database` chooses, of the database the target names: a
/// snapshot of `crm` is never restored into `shop` by `latest` alone. A snapshot of another
/// engine is refused, naming both, before anything is created.
///
/// Errors (nothing created or dropped): a usage error (exit 2) when, without `--database`,
/// the repository holds snapshots of the target's engine but none of the target's database
/// name (it names the databases it holds and `--database NAME`); no snapshot of the engine;
/// as [`commands::snapshots::find`].
fn choose(repo: &Repository, a: &RestoreArgs, url: Option<&DatabaseUrl>) -> Result<SnapshotEntry> {
    let filter = a.filter.filter();
    let Some(url) = url else {
        return Ok(commands::snapshots::find(repo, &a.snapshot, &filter)?);
    };
    let want = url_engine(url);
    let entry = if a.snapshot == "latest" {
        let all = commands::snapshots::list(repo, &filter)?;
        let newest = all
            .last()
            .map(|e| (e.id.short(), snapshot_engine(&e.manifest)));
        let of_engine: Vec<&SnapshotEntry> = (all.iter())
            .filter(|e| snapshot_engine(&e.manifest) == Some(want))
            .collect();
        if of_engine.is_empty() {
            bail!(
                "no {} snapshot to restore into {} {}{}; choose one by id (`dumpvault snapshots`) \
                 or narrow the choice with --database",
                dialect_name(want),
                dialect_name(want),
                url.database(),
                match newest {
                    Some((id, Some(d))) => format!(" (the newest, {id}, is {})", dialect_name(d)),
                    _ => String::new(),
                }
            );
        }
        let target = url.database();
        let candidates = match filter.databases.is_empty() {
            true => of_engine_named(&of_engine, &target, want, a.drop_existing)?,
            false => of_engine,
        };
        let newest_first = (candidates.iter().rev()).map(|e| (e.id, &e.manifest.tags[..]));
        let none = format!(
            "no {} snapshot to restore into {} {target}; list them with `dumpvault snapshots`",
            dialect_name(want),
            dialect_name(want),
        );
        commands::snapshots::newest_usable(repo, newest_first, &none)?
    } else {
        commands::snapshots::find(repo, &a.snapshot, &filter)?
    };
    match snapshot_engine(&entry.manifest) {
        Some(d) if d != want => bail!(
            "snapshot {} is a {} dump and cannot be restored into the {} database {}; \
             restore it into a {} database, or write it out with --target FILE",
            entry.id.short(),
            dialect_name(d),
            dialect_name(want),
            url.database(),
            dialect_name(d)
        ),
        _ => Ok(entry),
    }
}

/// The snapshots of `of_engine` (oldest first) of the database named `target`, the one the
/// `--to` URL names; when none is, and the repository holds snapshots of one database only
/// (of this engine) and `drop_existing` is off, that database's (a copy under another name:
/// unambiguous, and nothing is dropped).
///
/// Errors: a usage error (exit 2) otherwise, naming the databases `of_engine` holds and
/// `--database NAME`: `latest` never picks among several databases by recency, and never
/// replaces a database with another database's snapshot unless `--database` says so.
fn of_engine_named<'a>(
    of_engine: &[&'a SnapshotEntry],
    target: &str,
    want: Dialect,
    drop_existing: bool,
) -> Result<Vec<&'a SnapshotEntry>> {
    let named: Vec<&SnapshotEntry> = (of_engine.iter().copied())
        .filter(|e| e.manifest.database().as_deref() == Some(target))
        .collect();
    if !named.is_empty() {
        return Ok(named);
    }
    let mut held: Vec<String> = of_engine
        .iter()
        .filter_map(|e| e.manifest.database())
        .collect();
    held.sort();
    held.dedup();
    let all_named = of_engine.iter().all(|e| e.manifest.database().is_some());
    let one = held.len() == 1 && all_named;
    if one && !drop_existing {
        return Ok(of_engine.to_vec());
    }
    let example = held.first().map_or("NAME", String::as_str);
    let engine = dialect_name(want);
    Err(dumpvault::Error::usage(format!(
        "`restore latest --to` chooses among snapshots of the database the target names, \
         and this repository holds no {engine} snapshot of a database named {target:?} (it \
         holds {engine} snapshots of {}); nothing was restored or dropped. To restore another \
         database's newest snapshot into {target:?}, name it: --database {example}; or give a \
         snapshot id (`dumpvault snapshots`)",
        held.join(", "),
    ))
    .into())
}

/// Runs `restore`.
pub fn run(ctx: &Ctx, a: RestoreArgs) -> Result<i32> {
    // Usage errors (exit 2) before the repository is opened.
    refuse_usage(&a)?;
    let repo = ctx.open()?;
    let url = a.to.as_deref().map(DatabaseUrl::parse).transpose()?;
    let entry = choose(&repo, &a, url.as_ref())?;
    let incomplete = dumpvault::retention::is_incomplete(&entry.manifest.tags);
    if incomplete {
        eprintln!(
            "dumpvault: warning: snapshot {} is tagged `incomplete`: its dump was cut short \
             (stored with --allow-incomplete), so what is restored ends early{}",
            entry.id.short(),
            match url {
                Some(_) => " and loading it into a database will likely fail partway",
                None => "",
            }
        );
    }
    let stream = pick_stream(&entry, a.stream.as_deref())?;
    // A damaged index file must not stop the restore of snapshots it does not concern.
    let loaded = commands::check::load_index_lenient(&repo)?;
    for (_, e) in &loaded.damaged {
        eprintln!("warning: skipped {e}; run `dumpvault check`");
    }
    let index: Index = loaded.index;
    // The decoded index files are not needed any more (11 MB for a 4 GiB dump's repository).
    drop(loaded.files);
    let plan = if a.table.is_empty() {
        None
    } else {
        let p = table_plan(&repo, &index, &entry, stream, &a)?;
        for w in &p.warnings {
            eprintln!("dumpvault: warning: {w}");
        }
        Some(p)
    };
    let ranges: Option<Vec<Range<u64>>> = plan.as_ref().map(|p| p.ranges.clone());
    let total = ranges
        .as_ref()
        .map_or(stream.size, |r| r.iter().map(|r| r.end - r.start).sum());
    // Kept (`finishing`, `checking row counts`) until the summary: a database still loads
    // after the last byte is written.
    let bar = Bar::new(ctx.progress, Some(total)).lingering();
    bar.set_phase("restoring");
    if ranges.is_none() {
        bar.follow_sections(&stream.sections);
    }
    let restore = |w: &mut dyn Write| {
        commands::restore::run(&repo, &index, &entry.id, stream, ranges.as_deref(), w, &bar)
    };
    let outcome = if let Some(target) = &a.target {
        to_file(target, restore)?
    } else if a.stdout {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        restore(&mut w)?
    } else if let Some(url) = &url {
        let tables = plan.as_ref().map(|p| p.tables.clone()).unwrap_or_default();
        let into = IntoDatabase {
            repo: &repo,
            index: &index,
            entry: &entry,
            stream,
            ranges: ranges.as_deref(),
            tables: &tables,
        };
        into_database(&a, url, &into, &bar, restore).with_context(|| match incomplete {
            true => format!(
                "restoring snapshot {}, which is tagged `incomplete` (its dump was cut short)",
                entry.id.short()
            ),
            false => format!("restoring snapshot {}", entry.id.short()),
        })?
    } else {
        bail!("where to? give --target FILE, --stdout or --to DATABASE_URL");
    };
    bar.done();
    report(ctx, &repo, &entry, stream, &outcome, a.stdout);
    Ok(0)
}

/// Refuses, before the repository is opened, a restore with nowhere to go or a `--target`
/// that exists without `--overwrite` (usage errors, exit code 2).
fn refuse_usage(a: &RestoreArgs) -> Result<()> {
    match &a.target {
        Some(t) if !a.overwrite && std::fs::symlink_metadata(t).is_ok() => {
            Err(dumpvault::Error::usage(format!(
                "restore target {} already exists: add --overwrite to replace it, or choose \
                 another --target",
                t.display()
            ))
            .into())
        }
        None if !a.stdout && a.to.is_none() => Err(dumpvault::Error::usage(
            "where to? give --target FILE, --stdout or --to DATABASE_URL",
        )
        .into()),
        _ => Ok(()),
    }
}

/// The stream `name` of the snapshot (its first stream when `None`); an error names the
/// streams it has.
fn pick_stream<'a>(entry: &'a SnapshotEntry, name: Option<&str>) -> Result<&'a StreamRef> {
    let streams = &entry.manifest.streams;
    let Some(n) = name else {
        return streams.first().context("the snapshot has no stream");
    };
    streams.iter().find(|s| s.name == n).with_context(|| {
        let names: Vec<_> = streams.iter().map(|s| s.name.as_str()).collect();
        format!(
            "snapshot {} has no stream {n:?}; it has {}",
            entry.id.short(),
            names.join(", ")
        )
    })
}

/// What a restore into a database reads: the snapshot's stream, the ranges of the chosen
/// tables (all of it when `None`) and the tables whose row counts are checked.
struct IntoDatabase<'a> {
    repo: &'a Repository,
    index: &'a Index,
    entry: &'a SnapshotEntry,
    stream: &'a StreamRef,
    ranges: Option<&'a [Range<u64>]>,
    tables: &'a [String],
}

/// Restores into the database at `url`: in parallel parts when the dump allows it (see
/// `commands::restore::parallel`), else in one session through `restore`; then checks the
/// row counts. A database this restore created is dropped when it fails (unless
/// `--keep-failed`), and the error says so.
fn into_database(
    a: &RestoreArgs,
    url: &DatabaseUrl,
    into: &IntoDatabase,
    bar: &Bar,
    restore: impl FnOnce(&mut dyn Write) -> dumpvault::Result<RestoreOutcome> + Send,
) -> Result<RestoreOutcome> {
    let (entry, stream) = (into.entry, into.stream);
    let image = (entry.manifest.source.options.iter()).any(|o| o == "format=image");
    // Only a database this restore's own CREATE made is dropped when it fails, or by the
    // interrupt path if a signal stops this restore (probe finding 8); one another client
    // created meanwhile never is.
    let creation = Creation::new(url, !a.keep_failed);
    let layout = (!a.single_transaction && !image && !matches!(url, DatabaseUrl::Sqlite(_)))
        .then(|| parallel::layout(&stream.sections, into.ranges))
        .flatten();
    let loaded = match &layout {
        Some(layout) => {
            bar.follow_sections(&[]);
            let src = parallel::Source {
                repo: into.repo,
                index: into.index,
                snapshot: &entry.id,
                stream,
            };
            let jobs = a.jobs.map_or_else(
                || std::thread::available_parallelism().map_or(2, |n| n.get()),
                usize::from,
            );
            let target = parallel::Target {
                url,
                create: a.create,
                drop_existing: a.drop_existing,
                creation: &creation,
                jobs,
                maintenance_work_mem: Some(a.maintenance_work_mem.clone())
                    .filter(|m| m != "server"),
            };
            parallel::run(&src, layout, &target, bar)
                .with_context(|| format!("restoring into database {}", url.database()))
        }
        None => to_database(url, (a.create, a.drop_existing), image, &creation, restore),
    };
    let done = loaded.and_then(|o| {
        bar.set_phase("checking row counts");
        tracing::info!(database = %url.database(), "checking row counts");
        let copied = o.copied.as_ref();
        let checked = check_row_counts(url, entry, stream, into.tables, copied).map(|_| o);
        tracing::info!(ok = checked.is_ok(), "row counts checked");
        checked
    });
    match done {
        Err(e) if creation.made() && !a.keep_failed => {
            let dropped = match url.drop_database() {
                Ok(()) => format!(
                    "dropped database {}, which this restore had created (add --keep-failed \
                     to keep it for inspection)",
                    url.database()
                ),
                Err(d) => format!("could not drop database {}: {d}", url.database()),
            };
            Err(e.context(dropped))
        }
        r => r,
    }
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

/// Plans `restore --table`: resolves the names, reads the definitions the planner looks at
/// (see [`select::ddl_sections`]) and returns the ranges to write.
fn table_plan(
    repo: &Repository,
    index: &Index,
    entry: &SnapshotEntry,
    stream: &dumpvault::format::snapshot::StreamRef,
    a: &RestoreArgs,
) -> Result<select::Plan> {
    let in_stream = || format!("snapshot {} stream {}", entry.id.short(), stream.name);
    let sections = &stream.sections;
    let tables = select::resolve(sections, &a.table).with_context(in_stream)?;
    let dialect = snapshot_engine(&entry.manifest).unwrap_or(Dialect::Postgres);
    let wanted = select::ddl_sections(dialect, sections, &tables);
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for &i in &wanted {
        let s = &sections[i];
        match ranges.last_mut() {
            Some(r) if r.end == s.start => r.end = s.end,
            _ => ranges.push(s.start..s.end),
        }
    }
    let mut bytes = Vec::new();
    if !ranges.is_empty() {
        let np = dumpvault::progress::NoProgress;
        commands::restore::run(
            repo,
            index,
            &entry.id,
            stream,
            Some(&ranges),
            &mut bytes,
            &np,
        )
        .with_context(|| format!("reading table definitions of {}", in_stream()))?;
    }
    let mut ddl = HashMap::new();
    let mut at = 0usize;
    for &i in &wanted {
        let len = (sections[i].end - sections[i].start) as usize;
        ddl.insert(i, bytes.get(at..at + len).unwrap_or_default().to_vec());
        at += len;
    }
    Ok(select::plan(
        dialect,
        sections,
        &tables,
        a.with_foreign_keys,
        &ddl,
    ))
}

/// Restores into the database at `url` (see [`DatabaseUrl::restore`] for `create` and
/// `drop_existing`, and `creation`), the snapshot stream produced by `restore` on another
/// thread.
pub fn to_database(
    url: &DatabaseUrl,
    (create, drop_existing): (bool, bool),
    image: bool,
    creation: &Creation,
    restore: impl FnOnce(&mut dyn Write) -> dumpvault::Result<RestoreOutcome> + Send,
) -> Result<RestoreOutcome> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let mut reader = parallel::ChannelReader::new(rx, None);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(
                256 * 1024,
                parallel::ChannelWriter::new(tx.clone(), None),
            );
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
        let consumed = url.restore(&mut reader, create, drop_existing, image, creation);
        drop(reader);
        let produced = producer.join().expect("restore thread panicked");
        let consumed =
            consumed.with_context(|| format!("restoring into database {}", url.database()));
        match (produced, consumed) {
            (Ok(o), Ok(())) => Ok(o),
            // The client stopped reading (it refused the target or failed): its error is the
            // cause, not the closed pipe the restore then ran into (which, as a broken pipe,
            // would otherwise end the process silently with exit code 0).
            (Err(p), Err(c)) if parallel::client_stopped(&p) => Err(c),
            // A damaged snapshot explains a failed client; report it first.
            (Err(p), _) => Err(p.into()),
            (Ok(_), Err(c)) => Err(c),
        }
    })
}

/// Compares each restored table's row count with the rows the dump recorded; an error lists
/// every mismatch. The counts are the rows the server said each table's `COPY` stored
/// (`copied`, a parallel restore into PostgreSQL) when they name every table checked, which
/// spares scanning the tables again; else `count(*)` of each table.
fn check_row_counts(
    url: &DatabaseUrl,
    entry: &SnapshotEntry,
    stream: &dumpvault::format::snapshot::StreamRef,
    tables: &[String],
    copied: Option<&std::collections::BTreeMap<String, u64>>,
) -> Result<()> {
    if table_summaries(&stream.sections).is_empty() {
        return Ok(());
    }
    let compare = |counts: &std::collections::BTreeMap<String, u64>| {
        commands::verify::compare_tables(&stream.sections, counts, tables)
    };
    let checks = match copied.map(compare) {
        Some(c) if c.iter().all(|c| c.actual.is_some()) => c,
        _ => compare(&url.row_counts()?),
    };
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
