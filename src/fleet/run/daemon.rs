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
                    eprintln!(
                        "dumpvault: job {} is still running; skipping this tick",
                        job.name
                    );
                    continue;
                }
                let running = &running;
                let job: &Job = job;
                s.spawn(move || {
                    let r = run(cfg, std::slice::from_ref(&job.name), stop, state);
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
