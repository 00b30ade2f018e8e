//! `dumpvault run`: fleet mode from a configuration file (see `dumpvault::fleet`).

use super::output::human_bytes;
use super::Ctx;
use anyhow::Result;
use dumpvault::fleet::config::{self, Overrides};
use dumpvault::fleet::metrics::State;
use dumpvault::fleet::run::{self as fleet_run, RunOutcome, EXIT_CONFIG};
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
    /// Loads the configuration with these flags over the environment; the error is printed.
    pub fn load(&self) -> Result<config::Config, i32> {
        let o = Overrides {
            config: self.config.clone(),
            jobs: self.jobs,
            metrics_file: self.metrics_file.clone(),
            status_file: self.status_file.clone(),
            notify_timeout: self.notify_timeout.clone(),
        };
        config::load(&o, &|k| std::env::var(k).ok()).map_err(|e| {
            eprintln!("dumpvault: error: {e}");
            EXIT_CONFIG
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
    let cfg = match a.flags.load() {
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
            return Ok(EXIT_CONFIG);
        }
        eprintln!("dumpvault: stopped cleanly");
        return Ok(0);
    }
    match fleet_run::run(&cfg, &a.jobs_to_run, &stop, &state) {
        Ok(o) => {
            print(&o, ctx.json);
            Ok(o.exit_code)
        }
        Err(e) => {
            eprintln!("dumpvault: error: {e}");
            Ok(EXIT_CONFIG)
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
    println!(
        "{:<16} {:<24} {:<8} {:>9} {:>10} {:>10} {:>7}",
        "job", "database", "status", "duration", "read", "added", "dedup"
    );
    let mut failed = 0;
    let mut total = 0;
    for j in &o.jobs {
        if j.databases.is_empty() {
            println!("{:<16} {:<24} {:<8}", j.name, "-", j.status);
        }
        for d in &j.databases {
            total += 1;
            if d.status == "failed" {
                failed += 1;
            }
            let ok = d.status == "ok";
            println!(
                "{:<16} {:<24} {:<8} {:>9} {:>10} {:>10} {:>7}",
                j.name,
                d.database,
                d.status,
                if ok {
                    format!("{:.1}s", d.duration_ms as f64 / 1000.0)
                } else {
                    "-".into()
                },
                if ok {
                    human_bytes(d.bytes_read)
                } else {
                    "-".into()
                },
                if ok {
                    human_bytes(d.bytes_added)
                } else {
                    "-".into()
                },
                if ok {
                    format!("{:.1}x", d.dedup_ratio)
                } else {
                    "-".into()
                },
            );
        }
    }
    let forgotten: usize = o.jobs.iter().map(|j| j.forgotten).sum();
    let copied: usize = o.jobs.iter().map(|j| j.copied).sum();
    println!(
        "{failed} of {total} databases failed; {forgotten} snapshot(s) forgotten, {} repository prune(s), {copied} snapshot(s) copied{}",
        o.prunes.len(),
        if o.stopped { "; stopped early by a signal" } else { "" }
    );
}
