//! One fleet run, and the daemon that runs jobs on their schedules.
//!
//! A run: select the due (or named) jobs; open their repositories; snapshot every database of
//! every job with at most `jobs` dumps at once across the run (one failing does not stop the
//! others); per job, forget by its retention policy (only the snapshots the job made, tagged
//! `job=NAME`, and never those tagged `keep`); per repository, prune at most once and
//! only when snapshots were removed and its `prune_schedule` (if any) has ticked since the
//! last prune; per job, copy its snapshots the target lacks (new ones, and any an earlier run
//! did not copy) to its `copy_to` repository; then update the status and metrics files and
//! run the notification command and webhook for jobs that failed.
//!
//! Before each snapshot into a repository that is a local directory with a `min_free_space`
//! floor, the free space of its file system is checked ([`check_free_space`]); below the
//! floor that database's snapshot is refused (it fails, nothing is written) and the others go
//! on.
//!
//! The steps, one module each: `select` (jobs and repositories), `snapshot` (databases,
//! the free-space preflight), `retain` (forget and prune), `copy` (off-site copies),
//! `record` (status, metrics, notifications), and [`daemon`]. A run asks `commands` for
//! every repository operation; it never reads or writes repository objects itself.

mod copy;
mod daemon;
mod record;
mod retain;
mod select;
mod snapshot;
#[cfg(test)]
mod tests;

pub use daemon::daemon;
pub use record::repository_size;
pub use select::due_jobs;
pub use snapshot::{check_free_space, engine_server, free_space, local_path, SpaceFor};

use super::config::{Config, Job};
use super::metrics::State;
use super::FleetError;
use crate::error::{EXIT_FAILURE, EXIT_OK};
use crate::progress::{NoProgresses, Progresses};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The result of one database in a run.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseOutcome {
    /// Job name.
    pub job: String,
    /// Database name.
    pub database: String,
    /// Engine: `postgres`, `mysql` (MySQL and MariaDB) or `sqlite`.
    pub engine: String,
    /// Server as `HOST:PORT` (libpq's and MySQL's defaults as `local`, 5432, 3306), or the
    /// file for SQLite: with `engine` and `database` it tells two servers' `shop` apart.
    pub server: String,
    /// `ok`, `failed`, or `skipped` (not started because the process is stopping).
    pub status: String,
    /// Snapshot id (hex) when ok.
    pub snapshot: Option<String>,
    /// Snapshot duration, milliseconds.
    pub duration_ms: u64,
    /// Dump bytes read.
    pub bytes_read: u64,
    /// Bytes added to the repository.
    pub bytes_added: u64,
    /// bytes read / bytes added (bytes read when nothing was added).
    pub dedup_ratio: f64,
    /// The error, when failed.
    pub error: Option<String>,
    /// When the snapshot was taken (Unix seconds), when ok.
    #[serde(skip)]
    time: Option<i64>,
    /// The snapshot's [`crate::source::SourceInfo::identity`], when ok.
    #[serde(skip)]
    identity: Option<String>,
}

/// The result of one job in a run.
#[derive(Debug, Clone, Serialize)]
pub struct JobOutcome {
    /// Job name.
    pub name: String,
    /// Repository name.
    pub repository: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Everything that went wrong: databases, retention, copy.
    pub errors: Vec<String>,
    /// Per database.
    pub databases: Vec<DatabaseOutcome>,
    /// Snapshots removed by the retention policy.
    pub forgotten: usize,
    /// Snapshots copied to `copy_to`.
    pub copied: usize,
}

/// A prune of one repository in a run.
#[derive(Debug, Clone, Serialize)]
pub struct PruneRun {
    /// Repository name.
    pub repository: String,
    /// Packs deleted now.
    pub deleted_packs: u64,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Jobs run, in name order.
    pub jobs: Vec<JobOutcome>,
    /// Prunes run.
    pub prunes: Vec<PruneRun>,
    /// Repositories that could not be opened, with the reason.
    pub repository_errors: Vec<String>,
    /// Problems writing the status or metrics file.
    pub warnings: Vec<String>,
    /// Whether the run stopped early on a signal.
    pub stopped: bool,
    /// The exit code ([`EXIT_OK`], [`EXIT_FAILURE`] when some job failed,
    /// [`crate::error::EXIT_USAGE`] when a repository could not be opened; see
    /// [`FleetError::exit_code`] and `crate::error`).
    pub exit_code: i32,
}

impl JobOutcome {
    /// The outcome of `j` before anything ran: ok, no errors, no databases.
    fn new(j: &Job) -> Self {
        JobOutcome {
            name: j.name.clone(),
            repository: j.repository.clone(),
            status: "ok".into(),
            errors: Vec::new(),
            databases: Vec::new(),
            forgotten: 0,
            copied: 0,
        }
    }
}

/// The current time, Unix seconds.
fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Runs the jobs named in `named` (all due jobs when empty), updates `state` and writes the
/// status and metrics files, and notifies. `stop` set (by a signal) means: start no further
/// database, skip prune and copy, finish what runs; a job left with a database not started or
/// a copy not run fails (and a scheduled one stays due for the next run).
///
/// Errors: [`FleetError::UnknownJob`]. Everything else is reported in the outcome.
pub fn run(
    cfg: &Config,
    named: &[String],
    stop: &AtomicBool,
    state: &Mutex<State>,
) -> Result<RunOutcome, FleetError> {
    run_with_progress(cfg, named, stop, state, &NoProgresses)
}

/// As [`run`], reporting each database's snapshot to its own progress from `progress`,
/// labelled `job: database` (the table being dumped, bytes, the previous snapshot's size).
///
/// Errors: as [`run`].
pub fn run_with_progress(
    cfg: &Config,
    named: &[String],
    stop: &AtomicBool,
    state: &Mutex<State>,
    progress: &dyn Progresses,
) -> Result<RunOutcome, FleetError> {
    let started = now_secs();
    let selected = select::jobs(cfg, named, state)?;
    let names: Vec<&str> = selected.iter().map(|j| j.name.as_str()).collect();
    tracing::info!(jobs = ?names, "fleet run started");
    let clock = std::time::Instant::now();
    let repos = select::open_repositories(cfg, &selected);
    let repository_errors: Vec<String> = (repos.values())
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    let mut outcomes: Vec<JobOutcome> = selected.iter().map(|j| JobOutcome::new(j)).collect();
    let new_ids = snapshot::snapshot_all(cfg, &selected, &repos, stop, &mut outcomes, progress);
    let stopped = stop.load(Ordering::SeqCst);
    let removed_in = retain::forget(&selected, &repos, &new_ids, &mut outcomes);
    let (prunes, pruned_at) = retain::prune(cfg, &repos, &removed_in, stopped, state);
    copy::copy_all(cfg, &selected, &repos, &new_ids, stopped, &mut outcomes);
    let mut warnings = Vec::new();
    let tally = record::tally(&repos, &mut warnings);
    for o in &mut outcomes {
        if !o.errors.is_empty() {
            o.status = "failed".into();
        }
    }
    let run = record::Run {
        outcomes: &outcomes,
        started,
        stopped,
        pruned_at: &pruned_at,
    };
    record::save_state(cfg, state, &run, &tally, &mut warnings);
    record::notify(cfg, &outcomes, &mut warnings);
    let failed =
        outcomes.iter().any(|o| o.status != "ok") || prunes.iter().any(|p| p.error.is_some());
    // A repository that does not open decides (exit 2, see `FleetError::exit_code`), then
    // any failure.
    let repository_code = (repos.values())
        .filter_map(|r| r.as_ref().err().map(FleetError::exit_code))
        .max();
    let exit_code = match repository_code {
        Some(code) => code,
        None if failed => EXIT_FAILURE,
        None => EXIT_OK,
    };
    let ms = clock.elapsed().as_millis() as u64;
    tracing::info!(exit_code, stopped, ms, "fleet run ended");
    Ok(RunOutcome {
        jobs: outcomes,
        prunes,
        repository_errors,
        warnings,
        stopped,
        exit_code,
    })
}
