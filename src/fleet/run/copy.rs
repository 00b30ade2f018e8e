//! The copy step of a run: per job with `copy_to`, in runs that made new snapshots for it,
//! every snapshot of its databases the target lacks, after the target's disk-space preflight.

use super::select::Repos;
use super::snapshot::{check_free_space, SpaceFor};
use super::JobOutcome;
use crate::commands::copy::{self, CopyOptions};
use crate::commands::snapshots::Filter;
use crate::fleet::config::{Config, Job};
use crate::progress::NoProgress;

/// Copies each selected job's snapshots to its `copy_to` repository when the run made new
/// ones for it (`new_ids`, per job) and was not `stopped` (then a job with new snapshots
/// gets the error that its copy did not run). Records the count, or the error, in `outcomes`.
pub(super) fn copy_all(
    cfg: &Config,
    selected: &[&Job],
    repos: &Repos,
    new_ids: &[Vec<String>],
    stopped: bool,
    outcomes: &mut [JobOutcome],
) {
    for (ji, j) in selected.iter().enumerate() {
        let (Some(target), false) = (&j.copy_to, stopped || new_ids[ji].is_empty()) else {
            if let (Some(target), true) = (&j.copy_to, stopped && !new_ids[ji].is_empty()) {
                outcomes[ji].errors.push(format!(
                    "copy to repository {target:?}: not run (stopping on a signal)"
                ));
            }
            continue;
        };
        let (Some(Ok(from)), Some(Ok(to))) = (repos.get(&j.repository), repos.get(target)) else {
            if let Some(Err(e)) = repos.get(target) {
                outcomes[ji].errors.push(format!("copy_to: {e}"));
            }
            continue;
        };
        // The disk-space floor applies to a local copy target as to a snapshot's repository.
        if let Some(rc) = cfg.repositories.get(target) {
            if let Err(e) = check_free_space(rc, SpaceFor::Copy) {
                outcomes[ji]
                    .errors
                    .push(format!("copy to repository {target:?}: {e}"));
                continue;
            }
        }
        // Every snapshot of the job's databases the retention policy kept and the target
        // lacks (copy skips those it holds): this run's, and those an earlier run could not
        // copy (target unreachable, stopped by a signal), which only new ids would never retry.
        let opts = CopyOptions {
            filter: Filter {
                hosts: vec![crate::hostname()],
                tags: j.tags.clone(),
                databases: (outcomes[ji].databases.iter())
                    .map(|d| d.database.clone())
                    .collect(),
            },
            ..Default::default()
        };
        match copy::run(from, to, &opts, &NoProgress) {
            Ok(o) => outcomes[ji].copied = o.copied.len(),
            Err(e) => outcomes[ji]
                .errors
                .push(format!("copy to repository {target:?}: {e}")),
        }
    }
}
