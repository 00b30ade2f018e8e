//! The jobs a run runs, and the repositories they use, opened once each.

use crate::backend::Backend;
use crate::fleet::config::{mask_url, Config, Job, RepoConfig};
use crate::fleet::metrics::State;
use crate::fleet::FleetError;
use crate::repository::Repository;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The repositories of a run by name: open, or why not.
pub(super) type Repos = BTreeMap<String, Result<Repository, FleetError>>;

/// The jobs a run without names runs: those without a schedule, and those whose schedule
/// ticked since their last start (per `state`).
pub fn due_jobs<'a>(cfg: &'a Config, state: &State, now: &jiff::Zoned) -> Vec<&'a Job> {
    cfg.jobs_by_name
        .values()
        .filter(|j| match &j.schedule {
            None => true,
            Some(s) => s.due(state.jobs.get(&j.name).map(|st| st.last_start), now),
        })
        .collect()
}

/// The jobs named in `named`, in that order, or the due jobs (per `state`, now) when it is
/// empty.
///
/// Errors: [`FleetError::UnknownJob`] for a name the configuration does not define.
pub(super) fn jobs<'a>(
    cfg: &'a Config,
    named: &[String],
    state: &Mutex<State>,
) -> Result<Vec<&'a Job>, FleetError> {
    if named.is_empty() {
        let st = state.lock().map(|s| s.clone()).unwrap_or_default();
        return Ok(due_jobs(cfg, &st, &jiff::Zoned::now()));
    }
    named
        .iter()
        .map(|n| {
            cfg.jobs_by_name
                .get(n)
                .ok_or_else(|| FleetError::UnknownJob(n.clone()))
        })
        .collect()
}

/// Opens every repository the `selected` jobs use (their own and their `copy_to`), once each.
pub(super) fn open_repositories(cfg: &Config, selected: &[&Job]) -> Repos {
    let mut repos = Repos::new();
    for j in selected {
        for name in std::iter::once(&j.repository).chain(j.copy_to.iter()) {
            if !repos.contains_key(name) {
                if let Some(rc) = cfg.repositories.get(name) {
                    repos.insert(name.clone(), open_repo(rc));
                }
            }
        }
    }
    repos
}

/// Opens repository `r` with its password.
///
/// Errors: [`FleetError::Repository`], naming it, with the password's or the repository's
/// error as its source.
fn open_repo(r: &RepoConfig) -> Result<Repository, FleetError> {
    let wrap = |source: FleetError| FleetError::Repository {
        name: r.name.clone(),
        location: mask_url(&r.url),
        source: Box::new(source),
    };
    let pw = r.password.get().map_err(wrap)?;
    let backend = Backend::open(&r.url).map_err(|e| wrap(e.into()))?;
    Repository::open(backend, pw.as_bytes()).map_err(|e| wrap(e.into()))
}
