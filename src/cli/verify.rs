//! `dumpvault verify <snapshot|latest>`: read a snapshot end to end as a restore would (every
//! chunk verified, the stream's BLAKE3 matched) without writing anything; with `--into URL`,
//! restore it into a scratch database the way `restore --to` does (the same parallel loader
//! and defaults, so a dump that `restore --to` cannot load fails here too), compare each
//! table's row count with the snapshot, and drop the scratch database. Every run is recorded
//! in the repository (`verifications/`).

use super::output::{human_bytes, Bar};
use super::restore::{mismatch, to_database};
use super::{Ctx, FilterArgs};
use anyhow::{Context, Result};
use dumpvault::commands::restore::parallel;
use dumpvault::commands::snapshots::SnapshotEntry;
use dumpvault::commands::{self, check::load_index_lenient};
use dumpvault::error::{EXIT_DAMAGED, EXIT_FAILURE};
use dumpvault::format::verification::Verification;
use dumpvault::index::Index;
use dumpvault::repository::Repository;
use dumpvault::source::database::{Creation, DatabaseUrl};
use dumpvault::source::Dialect;

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    /// Restore into this scratch database (postgres://…, mysql://…, sqlite:///path) and compare
    /// every table's row count with the snapshot. A database that does not exist is created and
    /// dropped afterwards; an existing one must be empty and is left in place.
    #[arg(long)]
    into: Option<String>,
    /// With --into: keep the scratch database the verification created.
    #[arg(long, requires = "into")]
    keep: bool,
    /// With --into: load this many tables (then indexes and constraints) at once, as
    /// `restore --to --jobs` does (default: the number of cores, as for `restore --to`).
    #[arg(long, requires = "into", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// With --into: restore in one session and one transaction, as `restore --to
    /// --single-transaction` does (default: the parallel loader `restore --to` uses).
    #[arg(long, requires = "into", conflicts_with = "jobs")]
    single_transaction: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `verify`: exit 0 when everything verifies, 3 when data is damaged or missing, 1 when a
/// restored table differs or the verification could not complete for another reason.
pub fn run(ctx: &Ctx, a: VerifyArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let loaded = load_index_lenient(&repo)?;
    for (_, e) in &loaded.damaged {
        eprintln!("warning: skipped {e}");
    }
    let (code, record) = match &a.into {
        None => verify_streams(ctx, &repo, &loaded.index, &entry)?,
        Some(into) => {
            let how = How {
                keep: a.keep,
                jobs: a.jobs.map_or_else(parallel::default_jobs, usize::from),
                single_transaction: a.single_transaction,
            };
            verify_into(ctx, &repo, &loaded.index, &entry, into, &how)?
        }
    };
    if let Err(e) = commands::verify::record(&repo, &record) {
        eprintln!("warning: the verification result could not be recorded: {e}");
    }
    Ok(code)
}

fn verification(entry: &SnapshotEntry, mode: String) -> Verification {
    Verification {
        snapshot: entry.id.to_hex(),
        time: jiff::Timestamp::now().to_string(),
        host: dumpvault::hostname(),
        mode,
        ok: false,
        detail: String::new(),
        tables: Vec::new(),
    }
}

fn verify_streams(
    ctx: &Ctx,
    repo: &Repository,
    index: &Index,
    entry: &SnapshotEntry,
) -> Result<(i32, Verification)> {
    let total = entry.manifest.streams.iter().map(|s| s.size).sum();
    let bar = Bar::new(ctx.progress, Some(total));
    let o = commands::verify::run(repo, index, entry, &bar);
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        for s in &o.streams {
            match &s.error {
                None => println!(
                    "PASS  snapshot {} stream {}: {} in {} chunks read, BLAKE3 matches",
                    o.short_id,
                    s.name,
                    human_bytes(s.size),
                    s.chunks_read
                ),
                Some(e) => println!("FAIL  snapshot {} stream {}: {e}", o.short_id, s.name),
            }
        }
    }
    let mut v = verification(entry, "stream".into());
    v.ok = o.ok;
    v.detail = o
        .streams
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.name)))
        .collect::<Vec<_>>()
        .join("; ");
    let code = if o.ok {
        0
    } else if o.streams.iter().any(|s| s.damaged) {
        EXIT_DAMAGED
    } else {
        EXIT_FAILURE
    };
    Ok((code, v))
}

fn engine(url: &DatabaseUrl) -> (&'static str, Dialect) {
    match url {
        DatabaseUrl::Postgres(_) => ("postgres", Dialect::Postgres),
        DatabaseUrl::MySql(_) => ("mysql", Dialect::MySql),
        DatabaseUrl::Sqlite(_) => ("sqlite", Dialect::Sqlite),
    }
}

/// How `verify --into` restores.
struct How {
    /// Keep the scratch database.
    keep: bool,
    /// Parts loaded at once by the parallel loader.
    jobs: usize,
    /// One session and one transaction instead of the parallel loader.
    single_transaction: bool,
}

fn verify_into(
    ctx: &Ctx,
    repo: &Repository,
    index: &Index,
    entry: &SnapshotEntry,
    into: &str,
    how: &How,
) -> Result<(i32, Verification)> {
    let keep = how.keep;
    let url = DatabaseUrl::parse(into)?;
    let (name, dialect) = engine(&url);
    let short = entry.id.short();
    let source = &entry.manifest.source;
    match source.dialect {
        Some(d) if d == dialect => {}
        Some(d) => {
            let theirs = format!("{d:?}").to_lowercase();
            return Err(dumpvault::Error::usage(format!(
                "snapshot {short} is a {theirs} dump; it cannot be verified in a {name} \
                 database (--into names database `{db}`): give a {theirs} URL to --into",
                db = url.database()
            ))
            .into());
        }
        None => {
            return Err(dumpvault::Error::usage(format!(
                "snapshot {short} is not of a known database engine (kind {}): verify it \
                 without --into, which checks every chunk and the stream's BLAKE3",
                source.kind
            ))
            .into())
        }
    }
    let stream = &entry.manifest.streams[0];
    let image = source.options.iter().any(|o| o == "format=image");
    let db = url.database();
    let existed = url.exists()?;
    // A scratch database this verification's own CREATE made is dropped when it ends (unless
    // `keep`), and if a signal stops it; one another client created meanwhile never is.
    let creation = Creation::new(&url, !keep);
    let bar = Bar::new(ctx.progress, Some(stream.size));
    // As `restore --to` chooses: the parallel loader unless the dump is an image, the target
    // SQLite, or one session was asked for.
    let sqlite = matches!(url, DatabaseUrl::Sqlite(_));
    let layout = (!how.single_transaction && !image && !sqlite)
        .then(|| parallel::layout(&stream.sections, None))
        .flatten();
    let restored = match &layout {
        Some(layout) => {
            let src = parallel::Source {
                repo,
                index,
                snapshot: &entry.id,
                stream,
            };
            let target = parallel::Target {
                url: &url,
                create: !existed,
                drop_existing: false,
                creation: &creation,
                jobs: how.jobs,
                maintenance_work_mem: Some(parallel::DEFAULT_MAINTENANCE_WORK_MEM.into()),
            };
            parallel::run(&src, layout, &target, &bar)
                .with_context(|| format!("restoring into database {db}"))
        }
        None => to_database(&url, (!existed, false), image, &creation, |w| {
            commands::restore::run(repo, index, &entry.id, stream, None, w, &bar)
        }),
    };
    let compared = restored.and_then(|o| {
        let counts = url.row_counts()?;
        Ok((
            o,
            commands::verify::compare_tables(&stream.sections, &counts, &[]),
        ))
    });
    let dropped = (creation.made() && !keep).then(|| url.drop_database());
    let mut v = verification(entry, format!("into {name}"));
    let code = match &compared {
        Err(e) => {
            let damaged = e
                .downcast_ref::<dumpvault::Error>()
                .is_some_and(|e| matches!(e, dumpvault::Error::Corrupt { .. }));
            v.detail = format!("{e:#}");
            println!("FAIL  snapshot {short} into {name} database {db:?}: {e:#}");
            if damaged {
                EXIT_DAMAGED
            } else {
                EXIT_FAILURE
            }
        }
        Ok((o, checks)) => {
            let bad: Vec<String> = checks.iter().filter(|c| !c.ok()).map(mismatch).collect();
            v.ok = bad.is_empty();
            v.detail = bad.join("; ");
            v.tables = checks.clone();
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"snapshot": entry.id.to_hex(), "into": name,
                        "database": db, "ok": v.ok, "tables": checks,
                        "bytes_written": o.bytes_written, "chunks_read": o.chunks_read})
                );
            } else {
                for c in checks {
                    if c.ok() {
                        println!("PASS  {:<40} {:>12} rows", printable(&c.table), c.expected);
                    } else {
                        println!("FAIL  {}", mismatch(c));
                    }
                }
                let failed = bad.len();
                println!(
                    "{}  snapshot {short} restored into {name} database {db:?}: {} in {} tables, \
                     {failed} differ; stream BLAKE3 matches",
                    if v.ok { "PASS" } else { "FAIL" },
                    human_bytes(o.bytes_written),
                    checks.len()
                );
            }
            if v.ok {
                0
            } else {
                EXIT_FAILURE
            }
        }
    };
    match dropped {
        Some(Err(e)) => eprintln!(
            "warning: the scratch database {db:?} could not be dropped ({e}); drop it by hand"
        ),
        Some(Ok(())) => {}
        None if existed => eprintln!("note: {db:?} existed before; it now holds the restore"),
        None => eprintln!("note: kept the scratch database {db:?} (--keep)"),
    }
    Ok((code, v))
}

/// `name` with control characters (a newline in a table name) escaped (`\n`), so each table
/// stays on its line.
fn printable(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}
