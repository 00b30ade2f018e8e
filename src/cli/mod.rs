//! Command-line parsing and printing. Each command: parse, one library call, print text or JSON.

mod check;
mod columns;
mod completions;
mod config;
mod copy;
mod diff;
mod forget;
mod forget_out;
mod key;
mod listing;
mod logging;
mod migrate;
mod output;
mod password;
mod prune;
mod repair;
mod report;
mod restore;
mod run;
mod snapshot;
mod stats;
mod tag;
mod verify;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dumpvault::backend::Backend;
use dumpvault::commands::{self, snapshots::Filter};
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::repository::{InitOptions, Repository};
use std::io::Write;

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
    /// No progress bars (nor, with --json, status lines).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log each step on stderr: -v info (steps, timings, dump commands), -vv debug (every
    /// storage request); DUMPVAULT_LOG (RUST_LOG syntax) overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Limit uploads to storage to this many KiB/s (all connections together).
    #[arg(
        long,
        global = true,
        env = "DUMPVAULT_LIMIT_UPLOAD",
        value_name = "KIB_S"
    )]
    limit_upload: Option<u64>,
    /// Limit downloads from storage to this many KiB/s (all connections together).
    #[arg(
        long,
        global = true,
        env = "DUMPVAULT_LIMIT_DOWNLOAD",
        value_name = "KIB_S"
    )]
    limit_download: Option<u64>,
    /// At the end, print on stderr how many list, read, stat, write and delete requests (and
    /// bytes) the command made to storage; one JSON line `{"backend_requests": …}` with --json.
    #[arg(long, global = true)]
    stats_backend: bool,
    /// Do not use the local cache of remote repositories (index files, snapshot manifests,
    /// catalogue files and list blobs, still encrypted); `check`, `repair` and `verify` never
    /// use it.
    #[arg(long, global = true)]
    no_cache: bool,
    /// Folder of the local cache (one subfolder per repository id) [default:
    /// $XDG_CACHE_HOME/dumpvault, else ~/.cache/dumpvault].
    #[arg(long, global = true, env = "DUMPVAULT_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    /// Largest size of one repository's local cache (`1GiB`, `500MiB`; 0 = no cache); the
    /// least recently read entries are removed beyond it.
    #[arg(long, global = true, value_name = "SIZE", default_value = "1GiB",
          value_parser = dumpvault::units::parse_size)]
    cache_max_size: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Store a dump: from stdin, a command, or a database URL.
    Snapshot(snapshot::SnapshotArgs),
    /// List snapshots (times in the local time zone, to the second; --utc for UTC).
    Snapshots(SnapshotsArgs),
    /// Write a snapshot's dump back out: to a file, stdout, or a database.
    Restore(restore::RestoreArgs),
    /// List the tables of a snapshot with rows and bytes.
    Ls(restore::LsArgs),
    /// Check the repository's structure (and with --read-data, every byte).
    Check(check::CheckArgs),
    /// Rebuild the index from the packs, or remove snapshots whose data is gone.
    Repair(repair::RepairArgs),
    /// Read a snapshot end to end as a restore would, verifying every byte, writing nothing.
    Verify(verify::VerifyArgs),
    /// Remove snapshots by a retention policy (or by id); `--prune` frees their space.
    Forget(forget::ForgetArgs),
    /// Free the space no snapshot needs: delete and repack packs, compact the index.
    Prune(prune::PruneArgs),
    /// Remove stale locks (left by killed processes); `--remove-all` removes every lock.
    Unlock(prune::UnlockArgs),
    /// Copy snapshots from another repository (--from) into this one, transferring only what
    /// is missing.
    Copy(copy::CopyArgs),
    /// Fleet mode: run the due (or named) jobs of the configuration file; `--daemon` runs them
    /// on their schedules.
    Run(run::RunArgs),
    /// Fleet configuration: `config show` prints the effective settings and their origin.
    Config(config::ConfigArgs),
    /// Per database: snapshots over time, bytes added, growth, last snapshot and verification;
    /// `--html FILE` writes one self-contained page with charts.
    Report(report::ReportArgs),
    /// Manage the key files (passwords): list, add, remove, passwd.
    Key(key::KeyArgs),
    /// Add, remove or set tags of snapshots (each gets a new id; prints old -> new).
    Tag(tag::TagArgs),
    /// Upgrade the repository format: `migrate catalogue` makes the snapshot catalogue decide
    /// which snapshots exist (config version 2).
    Migrate(migrate::MigrateArgs),
    /// Repository figures: logical and stored size, dedup ratio, growth per day.
    Stats(stats::StatsArgs),
    /// Per table, rows inserted, updated and deleted and schema changes between two snapshots
    /// of one database; `--rows TABLE` lists the changed rows.
    Diff(diff::DiffArgs),
    /// Print a shell completion script (bash, zsh, fish, …).
    Completions(completions::CompletionsArgs),
    /// Write the man pages into a directory (used by `cargo xtask man`).
    #[command(hide = true)]
    Man(completions::ManArgs),
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
    /// Smallest chunk in bytes (with --chunker-avg and --chunker-max; default 32768). The
    /// chunker parameters are fixed for the repository's life.
    #[arg(long, requires_all = ["chunker_avg", "chunker_max"],
          conflicts_with_all = ["copy_chunker_params_from", "copy_keys_from"])]
    chunker_min: Option<u32>,
    /// Average chunk in bytes (default 131072).
    #[arg(long, requires_all = ["chunker_min", "chunker_max"])]
    chunker_avg: Option<u32>,
    /// Largest chunk in bytes (default 524288).
    #[arg(long, requires_all = ["chunker_min", "chunker_avg"])]
    chunker_max: Option<u32>,
    /// Argon2id memory cost in KiB (default 65536; tests use small values).
    #[arg(long, default_value_t = 65536, hide = true)]
    kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3, hide = true)]
    kdf_iterations: u32,
    #[command(flatten)]
    link: copy::LinkArgs,
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

/// `snapshots` options.
#[derive(clap::Args)]
struct SnapshotsArgs {
    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    utc: bool,
    #[command(flatten)]
    filter: FilterArgs,
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

struct Ctx {
    repo_location: Option<String>,
    password: password::PasswordOptions,
    json: bool,
    progress: bool,
}

impl Ctx {
    /// The repository location; none given is a usage error (exit 2).
    fn location(&self) -> Result<&str> {
        self.repo_location.as_deref().ok_or_else(|| {
            dumpvault::Error::usage("no repository given: use --repo or set DUMPVAULT_REPOSITORY")
                .into()
        })
    }

    /// The repository password; none given, or none readable, is a configuration error
    /// (exit 2).
    fn password(&self, confirm: bool) -> Result<zeroize::Zeroizing<String>> {
        self.password
            .get(confirm)
            .map_err(|e| dumpvault::Error::usage(format!("{e:#}")).into())
    }

    fn open(&self) -> Result<Repository> {
        let backend = Backend::open(self.location()?)?;
        let pw = self.password(false)?;
        Ok(Repository::open(backend, pw.as_bytes())?)
    }
}

/// Parses the command line and runs the command; returns the exit code.
pub fn run() -> Result<i32> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors exit 2 (clap's own code); with --json they are JSON on stderr too.
        Err(e) if e.use_stderr() && crate::json_requested() => {
            let msg = e.render().to_string();
            let msg = msg.trim().trim_start_matches("error: ");
            return Err(dumpvault::Error::usage(msg.to_string()).into());
        }
        Err(e) => e.exit(),
    };
    logging::init(cli.verbose);
    output::set_json_status(cli.json);
    // `run` handles SIGINT/SIGTERM itself: it stops starting jobs and lets running ones end.
    if !matches!(cli.command, Command::Run(_)) {
        crate::handle_interrupts().context("cannot install the SIGINT/SIGTERM handler")?;
    }
    dumpvault::backend::set_limits(dumpvault::backend::Limits {
        upload_kib: cli.limit_upload,
        download_kib: cli.limit_download,
    });
    // `check`, `repair` and `verify` judge the repository itself: a good cached copy must not
    // hide a damaged file there.
    let judges = matches!(
        cli.command,
        Command::Check(_) | Command::Repair(_) | Command::Verify(_)
    );
    dumpvault::backend::set_cache(dumpvault::backend::CacheSettings {
        enabled: !cli.no_cache && !judges,
        dir: cli.cache_dir,
        max_size: cli.cache_max_size,
    });
    let ctx = Ctx {
        repo_location: cli.repo,
        password: password::PasswordOptions {
            file: cli.password_file,
            command: cli.password_command,
        },
        json: cli.json,
        // A bar on a terminal; JSON status lines with --json, terminal or not.
        progress: !cli.quiet && (cli.json || std::io::IsTerminal::is_terminal(&std::io::stderr())),
    };
    let result = dispatch(&ctx, cli.command);
    // Closes what the storage connections left running (SFTP's ssh control master).
    dumpvault::backend::shutdown();
    if cli.stats_backend {
        print_backend_stats(ctx.json);
    }
    result
}

/// `--stats-backend`: the process's backend requests on stderr, as text or one JSON line.
fn print_backend_stats(json: bool) {
    let s = dumpvault::backend::request_stats();
    let line = if json {
        serde_json::json!({ "backend_requests": s }).to_string()
    } else {
        s.to_text()
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn dispatch(ctx: &Ctx, command: Command) -> Result<i32> {
    match command {
        Command::Init(a) => init(ctx, a),
        Command::Snapshot(a) => snapshot::run(ctx, a),
        Command::Snapshots(a) => list_snapshots(ctx, a),
        Command::Restore(a) => restore::run(ctx, a),
        Command::Ls(a) => restore::ls(ctx, a),
        Command::Check(a) => check::run(ctx, a),
        Command::Repair(a) => repair::run(ctx, a),
        Command::Verify(a) => verify::run(ctx, a),
        Command::Forget(a) => forget::run(ctx, a),
        Command::Prune(a) => prune::run(ctx, a),
        Command::Unlock(a) => prune::unlock(ctx, a),
        Command::Copy(a) => copy::run(ctx, a),
        Command::Run(a) => run::run(ctx, a),
        Command::Config(a) => config::run(ctx, a),
        Command::Report(a) => report::run(ctx, a),
        Command::Key(a) => key::run(ctx, a),
        Command::Tag(a) => tag::run(ctx, a),
        Command::Migrate(a) => migrate::run(ctx, a),
        Command::Stats(a) => stats::run(ctx, a),
        Command::Diff(a) => diff::run(ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => completions::man(a),
        Command::Cat { what, id } => {
            let repo = ctx.open()?;
            let v = commands::cat::run(&repo, &what, id.as_deref())?;
            // A closed stdout (`| head`) is an error here, which main reports quietly.
            let text = serde_json::to_string_pretty(&v)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
            out.flush()?;
            Ok(0)
        }
    }
}

fn init(ctx: &Ctx, a: InitArgs) -> Result<i32> {
    let backend = Backend::open(ctx.location()?)?;
    let pw = ctx.password(true)?;
    let opts = InitOptions {
        kdf: KdfParams::with_cost(a.kdf_memory_kib, a.kdf_iterations, 1),
        compression_level: a.compression_level,
        pack_size: a.pack_size_mib * 1024 * 1024,
        chunker: repair::chunker_params(a.chunker_min, a.chunker_avg, a.chunker_max)?
            .unwrap_or_default(),
        ..Default::default()
    };
    let repo = copy::init_repository(backend, pw.as_bytes(), opts, &a.link)?;
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

fn list_snapshots(ctx: &Ctx, a: SnapshotsArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let list = commands::snapshots::list(&repo, &a.filter.filter())?;
    let verified = commands::verify::latest(&repo)?;
    listing::print_snapshots(&list, &verified, ctx.json, a.utc)?;
    listing::leave_to_exit((list, verified));
    Ok(0)
}
