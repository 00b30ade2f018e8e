//! The daemon: runs jobs on their cron schedules until stopped.

use super::{run, RunOutcome};
use crate::fleet::config::{Config, Job};
use crate::fleet::metrics::State;
use crate::fleet::FleetError;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Runs the jobs (those named, or all with a schedule) on their cron schedules until `stop`
/// is set, then waits for running jobs to finish (they start no further database once `stop`
/// is set). A job still running when its next tick comes is not started again; the tick is
/// skipped. `report` is called with each run's outcome (or error).
///
/// Errors: [`FleetError::UnknownJob`]; [`FleetError::Setting`] when no selected job has a
/// schedule.
pub fn daemon(
    cfg: &Config,
    named: &[String],
    stop: &AtomicBool,
    state: &Mutex<State>,
    report: &(dyn Fn(&str, Result<RunOutcome, FleetError>) + Sync),
) -> Result<(), FleetError> {
    let mut jobs: Vec<&Job> = Vec::new();
    for n in named {
        jobs.push(
            cfg.jobs_by_name
                .get(n)
                .ok_or_else(|| FleetError::UnknownJob(n.clone()))?,
        );
    }
    if named.is_empty() {
        jobs = cfg.jobs_by_name.values().collect();
    }
    jobs.retain(|j| j.schedule.is_some());
    if jobs.is_empty() {
        return Err(FleetError::Setting {
            name: "--daemon".into(),
            message: "no job to run has a schedule (add schedule = \"0 * * * *\" to a job)".into(),
        });
    }
    let now = jiff::Zoned::now();
    let mut next: Vec<(&Job, Option<jiff::Zoned>)> = jobs
        .iter()
        .map(|j| (*j, j.schedule.as_ref().and_then(|s| s.next_after(&now))))
        .collect();
    let running: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        while !stop.load(Ordering::SeqCst) {
            let now = jiff::Zoned::now();
            for (job, tick) in next.iter_mut() {
                let Some(t) = tick.as_ref() else { continue };
                if t.timestamp() > now.timestamp() {
                    continue;
                }
                *tick = job.schedule.as_ref().and_then(|s| s.next_after(&now));
                let first = running
                    .lock()
                    .map(|mut r| r.insert(job.name.clone()))
                    .unwrap_or(false);
                if !first {
                    tracing::info!(target: "dumpvault::daemon", job = %job.name, status = "skipped",
                        "job still running; tick skipped");
                    eprintln!(
                        "dumpvault: job {} is still running; skipping this tick",
                        job.name
                    );
                    continue;
                }
                let running = &running;
                let job: &Job = job;
                s.spawn(move || {
                    let started = std::time::Instant::now();
                    let r = run(cfg, std::slice::from_ref(&job.name), stop, state);
                    log_run(&job.name, &r, started.elapsed());
                    report(&job.name, r);
                    if let Ok(mut r) = running.lock() {
                        r.remove(&job.name);
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Ok(())
}

/// Logs one line per job run (target `dumpvault::daemon`, on by default; see the command
/// line's logging): `job=NAME status=ok|failed|error databases=N failed=N bytes_read=B
/// bytes_added=B forgotten=N copied=N duration_ms=MS exit_code=C`, and the first error
/// (quoted) when there is one. One line, `key=value` fields: journald and grep friendly.
fn log_run(job: &str, r: &Result<RunOutcome, FleetError>, took: Duration) {
    let ms = took.as_millis() as u64;
    let o = match r {
        Ok(o) => o,
        Err(e) => {
            let error = e.to_string();
            tracing::error!(target: "dumpvault::daemon", job, status = "error", duration_ms = ms,
                error = ?error, "job run");
            return;
        }
    };
    let dbs = o.jobs.iter().flat_map(|j| &j.databases);
    let failed = dbs.clone().filter(|d| d.status == "failed").count();
    let first_error = (o.jobs.iter().flat_map(|j| &j.errors))
        .chain(o.repository_errors.iter())
        .chain(o.prunes.iter().filter_map(|p| p.error.as_ref()))
        .next();
    let status = if o.exit_code == 0 { "ok" } else { "failed" };
    let (read, added) = dbs
        .clone()
        .fold((0, 0), |(r, a), d| (r + d.bytes_read, a + d.bytes_added));
    let forgotten: usize = o.jobs.iter().map(|j| j.forgotten).sum();
    let copied: usize = o.jobs.iter().map(|j| j.copied).sum();
    let databases = dbs.count();
    match first_error {
        None => tracing::info!(target: "dumpvault::daemon", job, status, databases, failed,
            bytes_read = read, bytes_added = added, forgotten, copied, duration_ms = ms,
            exit_code = o.exit_code, stopped = o.stopped, "job run"),
        Some(error) => tracing::warn!(target: "dumpvault::daemon", job, status, databases,
            failed, bytes_read = read, bytes_added = added, forgotten, copied, duration_ms = ms,
            exit_code = o.exit_code, stopped = o.stopped, error = ?error, "job run"),
    }
}
