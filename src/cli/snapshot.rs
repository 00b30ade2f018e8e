//! `dumpvault snapshot`: from stdin, a command, or database URLs (several at once, or every
//! database of a server with `--all-databases`), each database its own snapshot, in parallel.

use super::output::{self, human_bytes, Bar, Bars};
use super::Ctx;
use anyhow::{Context, Result};
use dumpvault::commands::{self, snapshot::SnapshotOptions};
use dumpvault::index::SharedIndex;
use dumpvault::source::database::DumpOptions;
use dumpvault::source::DumpSource;
use serde_json::json;

/// Arguments of `snapshot`.
#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// Database URLs: postgres://user@host:port/db, mysql://…, mariadb://…, sqlite:///path.db.
    sources: Vec<String>,
    /// Read the dump from standard input.
    #[arg(long, conflicts_with = "command")]
    stdin: bool,
    /// Stream name for --stdin and --command.
    #[arg(long, default_value = "dump.sql")]
    stdin_name: String,
    /// Run this shell command and store its standard output.
    #[arg(long)]
    command: Option<String>,
    /// For --stdin and --command: the database the dump is of (default: the stream name
    /// without extension, e.g. `shop` for `shop.sql`); retention and --database go by it.
    #[arg(long, value_name = "NAME")]
    database: Option<String>,
    /// Tag the snapshot (`key=value` or a word; repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Host name to record instead of this host's.
    #[arg(long)]
    host: Option<String>,
    /// Record this time instead of now (RFC 3339, e.g. 2026-01-02T03:00:00+01:00).
    #[arg(long)]
    time: Option<String>,
    /// PostgreSQL: rows in heap order (plain pg_dump) instead of primary-key order.
    #[arg(long)]
    heap_order: bool,
    /// MySQL/MariaDB: do not dump rows in primary-key order.
    #[arg(long)]
    no_order_by_primary: bool,
    /// PostgreSQL: also store roles and tablespaces as a `globals.sql` stream.
    #[arg(long)]
    globals: bool,
    /// SQLite: `sql` (logical dump, default) or `image` (the database file).
    #[arg(long, default_value = "sql", value_parser = ["sql", "image"])]
    format: String,
    /// Snapshot every database of the server URL(s) given.
    #[arg(long)]
    all_databases: bool,
    /// With --all-databases: only databases matching this glob (repeatable).
    #[arg(long)]
    include: Vec<String>,
    /// With --all-databases: skip databases matching this glob (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// Databases dumped in parallel (default: number of cores). With one PostgreSQL database
    /// (primary-key order), the sessions that COPY its tables instead (default 1); the dump
    /// is byte-identical whatever the number.
    #[arg(long)]
    jobs: Option<usize>,
    /// Store a recognised SQL dump that lacks its tool's completion footer (cut short), tagged
    /// `incomplete`, instead of refusing it.
    #[arg(long)]
    allow_incomplete: bool,
    /// Store an empty dump stream instead of refusing it.
    #[arg(long)]
    allow_empty: bool,
}

/// Runs `snapshot`.
pub fn run(ctx: &Ctx, a: SnapshotArgs) -> Result<i32> {
    let time = a.time.as_deref().map(super::parse_time).transpose()?;
    let opts = SnapshotOptions {
        host: a.host.clone(),
        tags: a.tag.clone(),
        time,
        allow_incomplete: a.allow_incomplete,
        allow_empty: a.allow_empty,
    };
    if a.sources.is_empty() {
        let db = match a.database.as_deref().map(str::trim) {
            Some("") => {
                let msg = "--database needs a name, e.g. --database shop";
                return Err(dumpvault::Error::Invalid(msg.into()).into());
            }
            Some(d) => d.to_string(),
            None => dumpvault::source::database_of_stream(&a.stdin_name),
        };
        let source: Box<dyn DumpSource> = if let Some(cmd) = &a.command {
            Box::new(dumpvault::source::command::ChildSource::shell(cmd)?.with_database(db))
        } else if a.stdin {
            // A pipe from the dump tool holds 64 KiB unless widened (a file is left alone).
            dumpvault::source::pipe::widen(std::io::stdin());
            let stdin = dumpvault::source::stdin::ReaderSource::new(std::io::stdin());
            Box::new(stdin.with_database(db))
        } else {
            return Err(dumpvault::Error::usage(
                "nothing to snapshot: give --stdin, --command CMD, or a database URL",
            )
            .into());
        };
        let repo = ctx.open()?;
        let index = lock_and_load(&repo)?;
        let bar = Bar::new(ctx.progress, None);
        let out = commands::snapshot::run(
            &repo,
            &index,
            vec![(a.stdin_name.clone(), source)],
            &opts,
            &bar,
        )?;
        bar.done();
        output::print_snapshot(&out, ctx.json);
        return Ok(0);
    }
    if a.stdin || a.command.is_some() {
        return Err(dumpvault::Error::usage(
            "give either database URLs or --stdin/--command, not both",
        )
        .into());
    }
    if a.database.is_some() {
        let msg = "--database is for --stdin and --command; a database URL names its database";
        return Err(dumpvault::Error::Invalid(msg.into()).into());
    }
    let dump = DumpOptions {
        heap_order: a.heap_order,
        no_order_by_primary: a.no_order_by_primary,
        globals: a.globals,
        sqlite_image: a.format == "image",
        table_jobs: 1,
    };
    let targets =
        commands::snapshot::expand_targets(&a.sources, a.all_databases, &a.include, &a.exclude)?;
    let dump = match (targets.len(), a.jobs) {
        (1, Some(n)) => DumpOptions {
            table_jobs: n,
            ..dump
        },
        _ => dump,
    };
    let repo = ctx.open()?;
    let index = lock_and_load(&repo)?;
    let jobs = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let never = std::sync::atomic::AtomicBool::new(false);
    // A bar line per database being dumped (one database: one bar, as for --stdin).
    let bars = (targets.len() > 1).then(|| Bars::new(ctx.progress));
    let results = commands::snapshot::parallel(&targets, jobs, &never, |t| {
        let bar = match &bars {
            Some(b) => b.bar(&t.database()),
            None => Bar::new(ctx.progress, None),
        };
        let r = commands::snapshot::snapshot_database(&repo, &index, t, &dump, &opts, &bar)
            .with_context(|| format!("database {}", t.database()));
        bar.done();
        r
    });
    drop(bars);
    let mut failed = 0;
    let mut rows = Vec::new();
    for (t, r) in targets.iter().zip(results) {
        let r = r.context("not started")?;
        match r {
            Ok(o) => {
                if targets.len() == 1 {
                    output::print_snapshot(&o, ctx.json);
                    return Ok(0);
                }
                let s = &o.manifest.summary;
                rows.push(json!({"database": t.database(), "status": "ok", "id": o.id.to_hex(),
                    "short_id": o.id.short(), "bytes_read": s.bytes_read, "bytes_added": s.bytes_added,
                    "delta_blobs": o.delta_blobs, "delta_bytes": o.delta_bytes,
                    "duration_ms": s.duration_ms}));
            }
            Err(e) => {
                failed += 1;
                eprintln!("dumpvault: error: {e:#}");
                rows.push(json!({"database": t.database(), "status": "failed", "error": format!("{e:#}")}));
            }
        }
    }
    if targets.len() == 1 && failed == 1 {
        return Ok(1);
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        // Logical: the dump's bytes; stored: what it added to the repository (sealed).
        let header = ["database", "status", "snapshot", "logical", "stored"];
        let mut table = output::table(&header, &[3, 4]);
        for r in &rows {
            let b = |k: &str| r[k].as_u64().map(human_bytes).unwrap_or_else(|| "-".into());
            table.add_row(vec![
                r["database"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
                r["short_id"].as_str().unwrap_or("-").to_string(),
                b("bytes_read"),
                b("bytes_added"),
            ]);
        }
        println!("{}", output::render(&table));
        println!("{} of {} databases failed", failed, rows.len());
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Takes the shared lock and starts loading the index in the background (logged: `-v`).
fn lock_and_load(repo: &dumpvault::repository::Repository) -> Result<SharedIndex> {
    let locking = std::time::Instant::now();
    let index = SharedIndex::start(repo, "snapshot")?;
    tracing::info!(
        ms = locking.elapsed().as_millis() as u64,
        "shared lock taken; loading the index"
    );
    Ok(index)
}
