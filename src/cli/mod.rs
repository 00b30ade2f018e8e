//! Command-line parsing and printing. Each command: parse, one library call, print text or JSON.

mod output;
mod password;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dumpvault::backend::Backend;
use dumpvault::commands::{self, snapshots::Filter};
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::index::{Index, SharedIndex};
use dumpvault::repository::{InitOptions, Repository};
use dumpvault::source::DumpSource;
use output::{human_bytes, Bar};

/// dumpvault: deduplicating, encrypted backups of database dumps.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// Repository location: a path, fs:///path, memory://, s3://bucket/prefix.
    #[arg(short, long, global = true, env = "DUMPVAULT_REPOSITORY")]
    repo: Option<String>,
    /// Read the repository password from this file (first line).
    #[arg(long, global = true, env = "DUMPVAULT_PASSWORD_FILE")]
    password_file: Option<std::path::PathBuf>,
    /// Run this shell command and use the first line of its output as the password.
    #[arg(long, global = true, env = "DUMPVAULT_PASSWORD_COMMAND")]
    password_command: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Store a dump: from stdin, a command, or a database URL.
    Snapshot(SnapshotArgs),
    /// List snapshots.
    Snapshots(FilterArgs),
    /// Write a snapshot's dump back out: to a file, stdout, or a database.
    Restore(RestoreArgs),
    /// Check the repository's structure (and with --read-data, every byte).
    Check(CheckArgs),
    /// Print a decrypted repository object as JSON (config, index ID, snapshot ID, pack ID).
    Cat {
        /// config, index, snapshot or pack.
        what: String,
        /// The object's id (snapshot: id prefix or `latest`).
        id: Option<String>,
    },
}

#[derive(clap::Args)]
struct InitArgs {
    /// Target pack size in MiB.
    #[arg(long, default_value_t = 16)]
    pack_size_mib: u64,
    /// Default zstd compression level (0 = none).
    #[arg(long, default_value_t = 3)]
    compression_level: i32,
    /// Argon2id memory cost in KiB (default 65536; tests use small values).
    #[arg(long, default_value_t = 65536, hide = true)]
    kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3, hide = true)]
    kdf_iterations: u32,
}

#[derive(clap::Args, Clone)]
struct FilterArgs {
    /// Only snapshots of this host (repeatable).
    #[arg(long)]
    host: Vec<String>,
    /// Only snapshots with this tag (repeatable; all must match).
    #[arg(long)]
    tag: Vec<String>,
    /// Only snapshots of this database (repeatable).
    #[arg(long)]
    database: Vec<String>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter {
            hosts: self.host.clone(),
            tags: self.tag.clone(),
            databases: self.database.clone(),
        }
    }
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// Read the dump from standard input.
    #[arg(long, conflicts_with = "command")]
    stdin: bool,
    /// Stream name for --stdin and --command.
    #[arg(long, default_value = "dump.sql")]
    stdin_name: String,
    /// Run this shell command and store its standard output.
    #[arg(long)]
    command: Option<String>,
    /// Tag the snapshot (`key=value` or a word; repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Host name to record instead of this host's.
    #[arg(long)]
    host: Option<String>,
    /// Record this time instead of now (RFC 3339, e.g. 2026-01-02T03:00:00+01:00).
    #[arg(long)]
    time: Option<String>,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    /// Write the dump to this file (written beside it, renamed into place when verified).
    #[arg(long, conflicts_with = "stdout")]
    target: Option<std::path::PathBuf>,
    /// Write the dump to standard output.
    #[arg(long)]
    stdout: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Also read every pack and verify every blob.
    #[arg(long)]
    read_data: bool,
}

struct Ctx {
    repo_location: Option<String>,
    password: password::PasswordSource,
    json: bool,
    progress: bool,
}

impl Ctx {
    fn location(&self) -> Result<&str> {
        self.repo_location
            .as_deref()
            .context("no repository given: use --repo or set DUMPVAULT_REPOSITORY")
    }

    fn open(&self) -> Result<Repository> {
        let backend = Backend::open(self.location()?)?;
        let pw = self.password.get(false)?;
        Ok(Repository::open(backend, pw.as_bytes())?)
    }
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    let cli = Cli::parse();
    let ctx = Ctx {
        repo_location: cli.repo,
        password: password::PasswordSource {
            file: cli.password_file,
            command: cli.password_command,
        },
        json: cli.json,
        progress: !cli.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    match cli.command {
        Command::Init(a) => init(&ctx, a),
        Command::Snapshot(a) => snapshot(&ctx, a),
        Command::Snapshots(a) => list_snapshots(&ctx, a),
        Command::Restore(a) => restore(&ctx, a),
        Command::Check(a) => check(&ctx, a),
        Command::Cat { what, id } => {
            let repo = ctx.open()?;
            let v = commands::cat::run(&repo, &what, id.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
    }
}

fn init(ctx: &Ctx, a: InitArgs) -> Result<i32> {
    let backend = Backend::open(ctx.location()?)?;
    let pw = ctx.password.get(true)?;
    let opts = InitOptions {
        kdf: KdfParams::with_cost(a.kdf_memory_kib, a.kdf_iterations, 1),
        compression_level: a.compression_level,
        pack_size: a.pack_size_mib * 1024 * 1024,
        ..Default::default()
    };
    let repo = Repository::init(backend, pw.as_bytes(), opts)?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"id": repo.config().id, "location": repo.backend().location()})
        );
    } else {
        println!(
            "created dumpvault repository {} at {}",
            &repo.config().id[..8],
            repo.backend().location()
        );
        println!("keep the password safe: without it the backups cannot be restored");
    }
    Ok(0)
}

fn snapshot(ctx: &Ctx, a: SnapshotArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let index = SharedIndex::start(&repo);
    let source: Box<dyn DumpSource> = if let Some(cmd) = &a.command {
        Box::new(dumpvault::source::command::ChildSource::shell(cmd)?)
    } else if a.stdin {
        Box::new(dumpvault::source::stdin::ReaderSource::new(std::io::stdin()))
    } else {
        anyhow::bail!("nothing to snapshot: give --stdin, --command CMD, or a database URL");
    };
    let time = match &a.time {
        None => None,
        Some(t) => Some(parse_time(t)?),
    };
    let opts = commands::snapshot::SnapshotOptions {
        host: a.host,
        tags: a.tag,
        stream_name: a.stdin_name,
        time,
    };
    let bar = Bar::new(ctx.progress, None);
    let out = commands::snapshot::run(&repo, &index, source, &opts, &bar)?;
    output::print_snapshot(&out, ctx.json);
    Ok(0)
}

fn parse_time(t: &str) -> Result<jiff::Zoned> {
    if let Ok(z) = t.parse::<jiff::Zoned>() {
        return Ok(z);
    }
    let ts: jiff::Timestamp = t.parse().with_context(|| {
        format!("--time {t:?} is not an RFC 3339 time like 2026-01-02T03:00:00+01:00")
    })?;
    // Keep the offset the user wrote: civil time minus the instant.
    let civil: jiff::civil::DateTime = t
        .parse()
        .unwrap_or_else(|_| ts.to_zoned(jiff::tz::TimeZone::UTC).datetime());
    let as_utc = civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(ts);
    let secs = as_utc.as_second() - ts.as_second();
    let offset = jiff::tz::Offset::from_seconds(secs as i32).unwrap_or(jiff::tz::Offset::UTC);
    Ok(ts.to_zoned(jiff::tz::TimeZone::fixed(offset)))
}

fn list_snapshots(ctx: &Ctx, a: FilterArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let list = commands::snapshots::list(&repo, &a.filter())?;
    output::print_snapshots(&list, ctx.json);
    Ok(0)
}

fn restore(ctx: &Ctx, a: RestoreArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let index = Index::load(&repo)?;
    let stream = &entry.manifest.streams[0];
    let bar = Bar::new(ctx.progress, Some(stream.size));
    let outcome = if let Some(target) = &a.target {
        let tmp = target.with_extension("dumpvault-partial");
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let r = commands::restore::run(&repo, &index, &entry.id, stream, None, &mut w, &bar);
        drop(w);
        match r {
            Ok(o) => {
                std::fs::rename(&tmp, target).with_context(|| {
                    format!("cannot rename {} to {}", tmp.display(), target.display())
                })?;
                o
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
        }
    } else if a.stdout {
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        commands::restore::run(&repo, &index, &entry.id, stream, None, &mut w, &bar)?
    } else {
        anyhow::bail!("where to? give --target FILE or --stdout");
    };
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({"snapshot": entry.id.to_hex(), "stream": stream.name,
                "bytes_written": outcome.bytes_written, "bytes_read": outcome.bytes_read})
        );
    } else if !a.stdout {
        eprintln!(
            "restored snapshot {} ({}) : {} written, verified",
            entry.id.short(),
            stream.name,
            human_bytes(outcome.bytes_written)
        );
    }
    Ok(0)
}

fn check(ctx: &Ctx, a: CheckArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let report = commands::check::run(&repo, a.read_data)?;
    output::print_check(&report, ctx.json);
    Ok(if report.problems.is_empty() {
        0
    } else {
        dumpvault::error::EXIT_DAMAGED
    })
}
