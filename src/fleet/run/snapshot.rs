//! The snapshot step of a run: every database of every selected job, at most `jobs` at once
//! across the run, each after the disk-space preflight of its repository.

use super::select::Repos;
use super::{DatabaseOutcome, JobOutcome};
use crate::commands::snapshot::SnapshotOutcome;
use crate::commands::snapshot::{self, SnapshotOptions};
use crate::commands::snapshots;
use crate::fleet::config::{mask_url, Config, Job, RepoConfig};
use crate::fleet::FleetError;
use crate::index::SharedIndex;
use crate::progress::Progresses;
use crate::repository::catalogue;
use crate::source::database::{DatabaseUrl, DumpOptions};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

/// The engine and server of a database URL for [`DatabaseOutcome`] and the metrics' labels:
/// `("postgres", "db1:5432")`, `("mysql", "local:3306")`, `("sqlite", "/var/lib/app.db")`.
pub fn engine_server(url: &DatabaseUrl) -> (&'static str, String) {
    match url {
        DatabaseUrl::Postgres(u) => (
            "postgres",
            format!(
                "{}:{}",
                u.host.as_deref().unwrap_or("local"),
                u.port.unwrap_or(5432)
            ),
        ),
        DatabaseUrl::MySql(u) => (
            "mysql",
            format!(
                "{}:{}",
                u.host.as_deref().unwrap_or("local"),
                u.port.unwrap_or(3306)
            ),
        ),
        DatabaseUrl::Sqlite(p) => ("sqlite", p.display().to_string()),
    }
}

/// The directory of a repository location that is a local directory (`/path`, `path`,
/// `fs:///path`, `file:///path`); `None` for every other backend.
pub fn local_path(location: &str) -> Option<std::path::PathBuf> {
    let path = match location.split_once("://") {
        None => location,
        Some(("fs" | "file", rest)) => rest.split_once('?').map_or(rest, |(p, _)| p),
        Some(_) => return None,
    };
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
}

/// Bytes available to this (unprivileged) process on the file system holding `path`.
///
/// Errors: the `statvfs` error.
pub fn free_space(path: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// What the disk-space preflight is for: it names what it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceFor {
    /// A snapshot into the repository.
    Snapshot,
    /// A copy to the repository (`copy_to`).
    Copy,
}

impl std::fmt::Display for SpaceFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpaceFor::Snapshot => "snapshot",
            SpaceFor::Copy => "copy",
        })
    }
}

/// The disk-space preflight of a snapshot into (or a copy to, per `what`) `r`: when it is a
/// local directory with a `min_free_space` floor, its file system must have at least that
/// many bytes free.
///
/// Errors: [`FleetError::NoSpace`] naming the repository, the free bytes, the floor and
/// what to do; [`FleetError::FreeSpaceUnknown`] when the free space cannot be read.
pub fn check_free_space(r: &RepoConfig, what: SpaceFor) -> Result<(), FleetError> {
    let (Some(floor), Some(dir)) = (r.min_free_space, local_path(&r.url)) else {
        return Ok(());
    };
    let free = free_space(&dir).map_err(|source| FleetError::FreeSpaceUnknown {
        name: r.name.clone(),
        location: mask_url(&r.url),
        source,
    })?;
    if free < floor {
        return Err(FleetError::NoSpace {
            refused: what,
            name: r.name.clone(),
            location: mask_url(&r.url),
            free,
            floor,
        });
    }
    Ok(())
}

/// Snapshots every database of the `selected` jobs (whose repositories are open) into their
/// repositories, at most `cfg.jobs` at once; `stop` set starts no further one. Records each
/// database (and each job's errors: repository not open, sources not expanded, database
/// failed or not started) in `outcomes`, and returns the new snapshot ids (hex) per job.
/// Each database's snapshot reports to its own progress from `progress` (`job: database`).
pub(super) fn snapshot_all(
    cfg: &Config,
    selected: &[&Job],
    repos: &Repos,
    stop: &AtomicBool,
    outcomes: &mut [JobOutcome],
    progress: &dyn Progresses,
) -> Vec<Vec<String>> {
    // One index (and one shared lock) per repository, however many jobs write to it.
    let names: std::collections::BTreeSet<&str> =
        selected.iter().map(|j| j.repository.as_str()).collect();
    let indexes: BTreeMap<&str, SharedIndex> = names
        .into_iter()
        .filter_map(|n| match repos.get(n) {
            Some(Ok(r)) => Some((n, r)),
            _ => None,
        })
        .filter_map(|(n, r)| SharedIndex::start(r, "run").ok().map(|i| (n, i)))
        .collect();
    // One view of each repository's catalogue for all of the run's snapshots (they use it to
    // choose delta bases), loaded in the background like the index.
    let catalogues: Vec<catalogue::Shared> = (indexes.keys())
        .filter_map(|n| match repos.get(*n) {
            Some(Ok(r)) => Some(catalogue::share(r)),
            _ => None,
        })
        .collect();
    let items = expand(selected, repos, outcomes);
    let results = snapshot::parallel(&items, cfg.jobs.value, stop, |(ji, url)| {
        let j = selected[*ji];
        let (Some(Ok(repo)), Some(index)) =
            (repos.get(&j.repository), indexes.get(j.repository.as_str()))
        else {
            return Err(crate::Error::Invalid("repository not open".into()).into());
        };
        if let Some(rc) = cfg.repositories.get(&j.repository) {
            check_free_space(rc, SpaceFor::Snapshot)?;
        }
        let dump = DumpOptions {
            globals: j.globals,
            ..Default::default()
        };
        // `job=NAME` marks the snapshot as this job's: only such snapshots are its to forget.
        let opts = SnapshotOptions {
            tags: j.tags.iter().cloned().chain([j.tag()]).collect(),
            ..Default::default()
        };
        let bar = progress.start(&format!("{}: {}", j.name, url.database()));
        Ok(snapshot::snapshot_database(
            repo, index, url, &dump, &opts, &*bar,
        )?)
    });
    // Every manifest is written: release the shared locks before this run's own prune reads
    // the locks (repo-format.md section 14, W1).
    drop(indexes);
    drop(catalogues);
    let mut new_ids: Vec<Vec<String>> = vec![Vec::new(); selected.len()];
    for ((ji, url), r) in items.iter().zip(results) {
        let d = record(
            &selected[*ji].name,
            url,
            r,
            &mut outcomes[*ji],
            &mut new_ids[*ji],
        );
        outcomes[*ji].databases.push(d);
    }
    new_ids
}

/// Expands each selected job's sources into databases, as (job index, URL); a job whose
/// repository is not open, or whose sources do not expand, gets the error instead.
fn expand(
    selected: &[&Job],
    repos: &Repos,
    outcomes: &mut [JobOutcome],
) -> Vec<(usize, DatabaseUrl)> {
    let mut items: Vec<(usize, DatabaseUrl)> = Vec::new();
    for (ji, j) in selected.iter().enumerate() {
        match repos.get(&j.repository) {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                outcomes[ji].errors.push(e.to_string());
                continue;
            }
            None => continue, // validated at load
        }
        match snapshot::expand_targets(&j.sources, j.all_databases, &j.include, &j.exclude) {
            Ok(t) => items.extend(t.into_iter().map(|u| (ji, u))),
            Err(e) => outcomes[ji].errors.push(format!("job {}: {e}", j.name)),
        }
    }
    items
}

/// The outcome of database `url` of job `job` from its snapshot's result (`None`: not
/// started); a failure or a database not started is also an error of the job (`outcome`),
/// a new snapshot's id goes to `new_ids`.
fn record(
    job: &str,
    url: &DatabaseUrl,
    r: Option<Result<SnapshotOutcome, FleetError>>,
    outcome: &mut JobOutcome,
    new_ids: &mut Vec<String>,
) -> DatabaseOutcome {
    let database = url.database();
    let (engine, server) = engine_server(url);
    let mut d = DatabaseOutcome {
        job: job.to_string(),
        database: database.clone(),
        engine: engine.into(),
        server,
        identity: None,
        status: "skipped".into(),
        snapshot: None,
        duration_ms: 0,
        bytes_read: 0,
        bytes_added: 0,
        dedup_ratio: 0.0,
        error: None,
        time: None,
    };
    match r {
        // Not started because the process is stopping: the job did not complete, so it
        // fails (exit code 1, notification) and stays due (see `last_start` in `record`).
        None => outcome.errors.push(format!(
            "database {database}: not started (stopping on a signal)"
        )),
        Some(Ok(o)) => {
            let s = &o.manifest.summary;
            d.status = "ok".into();
            d.snapshot = Some(o.id.to_hex());
            d.duration_ms = s.duration_ms;
            d.bytes_read = s.bytes_read;
            d.bytes_added = s.bytes_added;
            d.dedup_ratio = if s.bytes_added == 0 {
                s.bytes_read as f64
            } else {
                s.bytes_read as f64 / s.bytes_added as f64
            };
            d.time = snapshots::parse_time(&o.manifest.time).map(|t| t.as_second());
            d.identity = o.manifest.source.identity();
            new_ids.push(o.id.to_hex());
        }
        Some(Err(e)) => {
            let msg = format!("database {database}: {e}");
            d.status = "failed".into();
            d.error = Some(msg.clone());
            outcome.errors.push(msg);
        }
    }
    d
}
