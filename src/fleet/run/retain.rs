//! The retention step of a run: per job, forget by its policy (only the snapshots it made);
//! per repository, prune at most once, when snapshots were removed and its prune schedule
//! (if any) has ticked since the last prune.

use super::select::Repos;
use super::{now_secs, JobOutcome, PruneRun};
use crate::commands::forget::{self, ForgetOptions};
use crate::commands::prune::{self, plan::Settings, PruneOptions};
use crate::commands::snapshots::{self, Filter, SnapshotEntry};
use crate::fleet::config::{Config, Job};
use crate::fleet::metrics::State;
use crate::progress::NoProgress;
use crate::repository::{catalogue, Repository};
use crate::retention::GroupBy;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

/// Applies each selected job's retention policy in runs that made new snapshots for it
/// (`new_ids`, per job), to the snapshots of its databases that succeeded. Records the count
/// (or the error) in `outcomes`; returns the repositories snapshots were removed from.
pub(super) fn forget(
    selected: &[&Job],
    repos: &Repos,
    new_ids: &[Vec<String>],
    outcomes: &mut [JobOutcome],
) -> HashSet<String> {
    let mut removed_in: HashSet<String> = HashSet::new();
    // Repositories whose catalogue this step listed already.
    let mut listed: HashSet<String> = HashSet::new();
    for (ji, j) in selected.iter().enumerate() {
        if j.keep.is_empty() || new_ids[ji].is_empty() {
            continue;
        }
        let Some(Ok(repo)) = repos.get(&j.repository) else {
            continue;
        };
        let dbs: Vec<String> = (outcomes[ji].databases.iter())
            .filter(|d| d.status == "ok")
            .map(|d| d.database.clone())
            .collect();
        let fresh = listed.insert(j.repository.clone());
        match forget_job(repo, j, dbs, fresh) {
            Ok(n) => {
                outcomes[ji].forgotten = n;
                if n > 0 {
                    removed_in.insert(j.repository.clone());
                }
            }
            Err(e) => outcomes[ji]
                .errors
                .push(format!("retention in repository {:?}: {e}", j.repository)),
        }
    }
    removed_in
}

/// Forgets by `j`'s policy among its snapshots of `databases` in `repo`, grouped by host
/// and database; returns how many were removed.
///
/// The first job of a repository in this step (`fresh`) lists its catalogue; the later ones
/// reuse that listing with what this process wrote since (the earlier jobs' tombstones), see
/// [`catalogue::load_cached`]: each job only forgets its own snapshots, and another process's
/// changes in the seconds between two jobs matter no more than in the seconds between a
/// forget's listing and its deletions. (The view loaded at the start of the run is not reused:
/// the dumps take minutes, in which another process may forget or add snapshots.)
fn forget_job(
    repo: &Repository,
    j: &Job,
    databases: Vec<String>,
    fresh: bool,
) -> crate::Result<usize> {
    let opts = ForgetOptions {
        policy: j.keep.clone(),
        group_by: GroupBy::parse("host,database")
            .map_err(|e| crate::Error::Invalid(e.to_string()))?,
        // Only this job's snapshots (never manual ones, another job's, or those
        // tagged `keep`, which no policy forgets).
        filter: Filter {
            hosts: vec![crate::hostname()],
            tags: vec![j.tag()],
            databases,
        },
        tz: jiff::tz::TimeZone::system(),
        allow_remove_all: false,
    };
    // Only the catalogue parts of this job's databases, and a manifest built only for the
    // snapshots the filter passes: a job's retention costs its own history, not the
    // repository's (the plan applies the same filter).
    let want = catalogue::Want::Databases(&opts.filter.databases);
    let view = match fresh {
        true => catalogue::load_where(repo, want)?,
        false => catalogue::load_cached(repo, want)?,
    };
    snapshots::warn_damaged(&view.damaged);
    let mut all: Vec<SnapshotEntry> = (view.entries.iter())
        .filter(|e| opts.filter.matches_entry(e))
        .map(|e| SnapshotEntry {
            id: crate::id::Id(e.id),
            manifest: e.to_manifest(),
        })
        .collect();
    all.sort_by_cached_key(|e| (e.time(), e.id));
    let plan = forget::plan(&all, &opts)?;
    Ok(forget::execute(repo, &plan)?.len())
}

/// Prunes each repository of `removed_in` whose prune schedule (if any) ticked since its
/// last prune (per `state`), unless the run is `stopped`. Returns the prunes run, and when
/// each successful one ended (Unix seconds) by repository.
pub(super) fn prune(
    cfg: &Config,
    repos: &Repos,
    removed_in: &HashSet<String>,
    stopped: bool,
    state: &Mutex<State>,
) -> (Vec<PruneRun>, BTreeMap<String, i64>) {
    let mut prunes = Vec::new();
    let last_prunes: BTreeMap<String, Option<i64>> = state
        .lock()
        .map(|s| {
            s.repositories
                .iter()
                .map(|(k, v)| (k.clone(), v.last_prune))
                .collect()
        })
        .unwrap_or_default();
    let now = jiff::Zoned::now();
    let mut pruned_at: BTreeMap<String, i64> = BTreeMap::new();
    for name in removed_in.iter().collect::<BTreeSet<_>>() {
        let (Some(Ok(repo)), Some(rc)) = (repos.get(name), cfg.repositories.get(name)) else {
            continue;
        };
        let due = match &rc.prune_schedule {
            None => true,
            Some(s) => s.due(last_prunes.get(name).copied().flatten(), &now),
        };
        if !due || stopped {
            continue;
        }
        let opts = PruneOptions {
            settings: Settings {
                grace_secs: prune::DEFAULT_GRACE_SECS,
                max_unused_percent: Some(prune::DEFAULT_MAX_UNUSED_PERCENT),
                instant_delete: false,
            },
            dry_run: false,
        };
        match prune::run(repo, &opts, &NoProgress) {
            Ok(o) => {
                pruned_at.insert(name.clone(), now_secs());
                prunes.push(PruneRun {
                    repository: name.clone(),
                    deleted_packs: o.stats.delete_packs,
                    error: None,
                });
            }
            Err(e) => prunes.push(PruneRun {
                repository: name.clone(),
                deleted_packs: 0,
                error: Some(format!("prune of repository {name:?}: {e}")),
            }),
        }
    }
    (prunes, pruned_at)
}
