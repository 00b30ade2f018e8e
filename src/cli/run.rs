//! `dumpvault run`: fleet mode from a configuration file (see `dumpvault::fleet`).

use super::output::{self, human_bytes};
use super::Ctx;
use anyhow::Result;
use dumpvault::error::EXIT_USAGE;
use dumpvault::fleet::config::{self, Overrides};
use dumpvault::fleet::metrics::State;
use dumpvault::fleet::run::{self as fleet_run, RunOutcome};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Settings shared by `run` and `config show`, over the file and `DUMPVAULT_*` variables.
#[derive(clap::Args)]
pub struct FleetFlags {
    /// Configuration file (default: DUMPVAULT_CONFIG, then /etc/dumpvault/dumpvault.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Databases dumped at once across all jobs (DUMPVAULT_JOBS; default: number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Prometheus text-format metrics file (DUMPVAULT_METRICS_FILE).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// JSON status file kept across runs (DUMPVAULT_STATUS_FILE).
    #[arg(long, value_name = "FILE")]
    status_file: Option<PathBuf>,
    /// How long the notification command may run, e.g. `30s` (DUMPVAULT_NOTIFY_TIMEOUT).
    #[arg(long, value_name = "DURATION")]
    notify_timeout: Option<String>,
}

impl FleetFlags {
    /// Loads the configuration with these flags over the environment (for `config show`);
    /// the error is printed, and so is each of [`config::Config::path_problems`], as a
    /// warning.
    pub fn load(&self) -> Result<config::Config, i32> {
        let cfg = self.load_quiet()?;
        for p in cfg.path_problems() {
            eprintln!("dumpvault: warning: {p}; `dumpvault run` refuses to start");
        }
        Ok(cfg)
    }

    /// Loads the configuration for `run`: a problem of [`config::Config::path_problems`] is
    /// an error too (printed; exit 2).
    fn load_for_run(&self) -> Result<config::Config, i32> {
        let cfg = self.load_quiet()?;
        let problems = cfg.path_problems();
        for p in &problems {
            eprintln!("dumpvault: error: {p}");
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(EXIT_USAGE)
        }
    }

    fn load_quiet(&self) -> Result<config::Config, i32> {
        let o = Overrides {
            config: self.config.clone(),
            jobs: self.jobs,
            metrics_file: self.metrics_file.clone(),
            status_file: self.status_file.clone(),
            notify_timeout: self.notify_timeout.clone(),
        };
        config::load(&o, &|k| std::env::var(k).ok()).map_err(|e| {
            eprintln!("dumpvault: error: {e}");
            e.exit_code()
        })
    }
}

/// Arguments of `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Jobs to run (default: every due job).
    jobs_to_run: Vec<String>,
    #[command(flatten)]
    flags: FleetFlags,
    /// Stay running and run jobs on their cron schedules until SIGTERM or SIGINT.
    #[arg(long)]
    daemon: bool,
}

/// Runs `run`.
pub fn run(ctx: &Ctx, a: RunArgs) -> Result<i32> {
    let cfg = match a.flags.load_for_run() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let state = Mutex::new(match &cfg.status_file.value {
        Some(p) => State::load(p),
        None => State::default(),
    });
    if a.daemon {
        eprintln!(
            "dumpvault: daemon started ({} jobs configured)",
            cfg.jobs_by_name.len()
        );
        let json = ctx.json;
        let report = move |job: &str, r: Result<RunOutcome, dumpvault::fleet::FleetError>| match r {
            Ok(o) => print(&o, json),
            Err(e) => eprintln!("dumpvault: error: job {job}: {e}"),
        };
        if let Err(e) = fleet_run::daemon(&cfg, &a.jobs_to_run, &stop, &state, &report) {
            eprintln!("dumpvault: error: {e}");
            return Ok(e.exit_code());
        }
        eprintln!("dumpvault: stopped cleanly");
        return Ok(0);
    }
    // On a terminal, a bar line per database being dumped; with --json (its status lines)
    // or off a terminal, none.
    let bars = output::Bars::new(ctx.progress && !ctx.json);
    let r = fleet_run::run_with_progress(&cfg, &a.jobs_to_run, &stop, &state, &bars);
    bars.done();
    match r {
        Ok(o) => {
            print(&o, ctx.json);
            Ok(o.exit_code)
        }
        Err(e) => {
            eprintln!("dumpvault: error: {e}");
            Ok(e.exit_code())
        }
    }
}

/// Prints the summary table (or the outcome as one line of JSON).
fn print(o: &RunOutcome, json: bool) {
    for e in &o.repository_errors {
        eprintln!("dumpvault: error: {e}");
    }
    for j in &o.jobs {
        for e in &j.errors {
            eprintln!("dumpvault: error: job {}: {e}", j.name);
        }
    }
    for p in o.prunes.iter().filter_map(|p| p.error.as_ref()) {
        eprintln!("dumpvault: error: {p}");
    }
    for w in &o.warnings {
        eprintln!("dumpvault: warning: {w}");
    }
    if json {
        println!("{}", serde_json::to_string(o).unwrap_or_default());
        return;
    }
    // The same layout as `snapshots` and `snapshot`: logical is the dump's bytes, stored what
    // the snapshot added to the repository (sealed); no ratio, which means nothing when
    // nothing was added.
    let header = [
        "job", "database", "status", "snapshot", "duration", "logical", "stored",
    ];
    let mut table = output::table(&header, &[4, 5, 6]);
    let mut failed = 0;
    let mut total = 0;
    let dash = || "-".to_string();
    for j in &o.jobs {
        if j.databases.is_empty() {
            table.add_row(vec![
                j.name.clone(),
                dash(),
                j.status.clone(),
                dash(),
                dash(),
                dash(),
                dash(),
            ]);
        }
        for d in &j.databases {
            total += 1;
            if d.status == "failed" {
                failed += 1;
            }
            let ok = d.status == "ok";
            let if_ok = |f: &dyn Fn() -> String| if ok { f() } else { dash() };
            table.add_row(vec![
                j.name.clone(),
                d.database.clone(),
                d.status.clone(),
                d.snapshot
                    .as_deref()
                    .map(|s| s.chars().take(8).collect())
                    .unwrap_or_else(dash),
                if_ok(&|| format!("{:.1}s", d.duration_ms as f64 / 1000.0)),
                if_ok(&|| human_bytes(d.bytes_read)),
                if_ok(&|| human_bytes(d.bytes_added)),
            ]);
        }
    }
    println!("{}", output::render(&table));
    let forgotten: usize = o.jobs.iter().map(|j| j.forgotten).sum();
    let copied: usize = o.jobs.iter().map(|j| j.copied).sum();
    println!(
        "{failed} of {total} databases failed; {forgotten} snapshot(s) forgotten, {} repository prune(s), {copied} snapshot(s) copied{}",
        o.prunes.len(),
        if o.stopped { "; stopped early by a signal" } else { "" }
    );
}
