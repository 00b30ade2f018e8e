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

use super::config::{Config, Job, RepoConfig};
use super::metrics::{DatabaseState, JobState, State};
use super::notify::{self, Notification};
use super::FleetError;
use crate::backend::Backend;
use crate::commands::copy::{self, CopyOptions};
use crate::commands::forget::{self, ForgetOptions};
use crate::commands::prune::{self, plan::Settings, PruneOptions};
use crate::commands::snapshot::{self, SnapshotOptions};
use crate::commands::snapshots::{self, Filter};
use crate::error::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::index::SharedIndex;
use crate::progress::NoProgress;
use crate::repository::Repository;
use crate::retention::GroupBy;
use crate::source::database::{DatabaseUrl, DumpOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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
    #[serde(skip)]
    time: Option<i64>,
    /// The snapshot's [`crate::source::SourceInfo::identity`], when ok.
    #[serde(skip)]
    identity: Option<String>,
}

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
    /// The exit code ([`EXIT_OK`], [`EXIT_FAILURE`] when some job failed, [`EXIT_USAGE`] when the
    /// configuration is wrong or a repository could not be opened; see `crate::error`).
    pub exit_code: i32,
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn open_repo(r: &RepoConfig) -> Result<Repository, String> {
    let what = || {
        format!(
            "repository {:?} ({})",
            r.name,
            super::config::mask_url(&r.url)
        )
    };
    let pw = r.password.get().map_err(|e| format!("{}: {e}", what()))?;
    let backend = Backend::open(&r.url).map_err(|e| format!("{}: {e}", what()))?;
    Repository::open(backend, pw.as_bytes()).map_err(|e| format!("{}: {e}", what()))
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

/// The disk-space preflight of a snapshot into `r`: when it is a local directory with a
/// `min_free_space` floor, its file system must have at least that many bytes free.
///
/// Errors: a message naming the repository, the free bytes, the floor and what to do.
pub fn check_free_space(r: &RepoConfig) -> Result<(), String> {
    let (Some(floor), Some(dir)) = (r.min_free_space, local_path(&r.url)) else {
        return Ok(());
    };
    let what = format!(
        "repository {:?} ({})",
        r.name,
        super::config::mask_url(&r.url)
    );
    let free = free_space(&dir)
        .map_err(|e| format!("{what}: cannot read the free space of its file system: {e}"))?;
    if free < floor {
        return Err(format!(
            "snapshot refused: {what} has {} ({free} bytes) free on its file system, below its \
             min_free_space of {} ({floor} bytes); make room on that file system (forget old \
             snapshots with `dumpvault forget … --prune`, or move the repository to a larger \
             disk) or lower min_free_space in the configuration",
            crate::units::human_bytes(free),
            crate::units::human_bytes(floor)
        ));
    }
    Ok(())
}

/// Bytes stored in the repository: the sizes of all its files except locks.
///
/// Errors: storage errors listing it.
pub fn repository_size(repo: &Repository) -> crate::Result<u64> {
    let mut total = repo
        .backend()
        .size(crate::repository::CONFIG_PATH)?
        .unwrap_or(0);
    for dir in [
        "keys/",
        "data/",
        "index/",
        "snapshots/",
        "verifications/",
        "catalogue/",
    ] {
        total += repo
            .backend()
            .list(dir)?
            .iter()
            .map(|(_, s)| s)
            .sum::<u64>();
    }
    Ok(total)
}

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
    let started = now_secs();
    let selected: Vec<&Job> = if named.is_empty() {
        let st = state.lock().map(|s| s.clone()).unwrap_or_default();
        due_jobs(cfg, &st, &jiff::Zoned::now())
    } else {
        named
            .iter()
            .map(|n| {
                cfg.jobs_by_name
                    .get(n)
                    .ok_or_else(|| FleetError::UnknownJob(n.clone()))
            })
            .collect::<Result<_, _>>()?
    };

    // Repositories used by the selected jobs.
    let mut repos: BTreeMap<String, Result<Repository, String>> = BTreeMap::new();
    for j in &selected {
        for name in std::iter::once(&j.repository).chain(j.copy_to.iter()) {
            if !repos.contains_key(name) {
                if let Some(rc) = cfg.repositories.get(name) {
                    repos.insert(name.clone(), open_repo(rc));
                }
            }
        }
    }
    let repository_errors: Vec<String> = repos
        .values()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    let indexes: BTreeMap<&str, SharedIndex> = selected
        .iter()
        .filter_map(|j| match repos.get(&j.repository) {
            Some(Ok(r)) => Some((j.repository.as_str(), r)),
            _ => None,
        })
        .filter_map(|(n, r)| SharedIndex::start(r, "run").ok().map(|i| (n, i)))
        .collect();
    // One view of each repository's catalogue for all of the run's snapshots (they use it to
    // choose delta bases), loaded in the background like the index.
    let catalogues: Vec<crate::repository::catalogue::Shared> = (indexes.keys())
        .filter_map(|n| match repos.get(*n) {
            Some(Ok(r)) => Some(crate::repository::catalogue::share(r)),
            _ => None,
        })
        .collect();

    let mut outcomes: Vec<JobOutcome> = selected
        .iter()
        .map(|j| JobOutcome {
            name: j.name.clone(),
            repository: j.repository.clone(),
            status: "ok".into(),
            errors: Vec::new(),
            databases: Vec::new(),
            forgotten: 0,
            copied: 0,
        })
        .collect();

    // Expand each job's sources into databases.
    let mut items: Vec<(usize, DatabaseUrl)> = Vec::new();
    for (ji, j) in selected.iter().enumerate() {
        match repos.get(&j.repository) {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                outcomes[ji].errors.push(e.clone());
                continue;
            }
            None => continue, // validated at load
        }
        match snapshot::expand_targets(&j.sources, j.all_databases, &j.include, &j.exclude) {
            Ok(t) => items.extend(t.into_iter().map(|u| (ji, u))),
            Err(e) => outcomes[ji].errors.push(format!("job {}: {e}", j.name)),
        }
    }

    // Snapshots, at most `jobs` at once across the run.
    let results = snapshot::parallel(&items, cfg.jobs.value, stop, |(ji, url)| {
        let j = selected[*ji];
        let (Some(Ok(repo)), Some(index)) =
            (repos.get(&j.repository), indexes.get(j.repository.as_str()))
        else {
            return Err(crate::Error::Invalid("repository not open".into()));
        };
        if let Some(rc) = cfg.repositories.get(&j.repository) {
            check_free_space(rc).map_err(crate::Error::Invalid)?;
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
        snapshot::snapshot_database(repo, index, url, &dump, &opts, &NoProgress)
    });
    // Every manifest is written: release the shared locks before this run's own prune reads
    // the locks (repo-format.md section 14, W1).
    drop(indexes);
    drop(catalogues);
    let mut new_ids: Vec<Vec<String>> = vec![Vec::new(); selected.len()];
    for ((ji, url), r) in items.iter().zip(results) {
        let database = url.database();
        let (engine, server) = engine_server(url);
        let mut d = DatabaseOutcome {
            job: selected[*ji].name.clone(),
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
            // fails (exit code 1, notification) and stays due (see `last_start` below).
            None => outcomes[*ji].errors.push(format!(
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
                new_ids[*ji].push(o.id.to_hex());
            }
            Some(Err(e)) => {
                let msg = format!("database {database}: {e}");
                d.status = "failed".into();
                d.error = Some(msg.clone());
                outcomes[*ji].errors.push(msg);
            }
        }
        outcomes[*ji].databases.push(d);
    }
    let stopped = stop.load(Ordering::SeqCst);

    // Retention per job.
    let mut removed_in: HashSet<String> = HashSet::new();
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
        let r = (|| -> crate::Result<usize> {
            let all = snapshots::list(repo, &Filter::default())?;
            let opts = ForgetOptions {
                policy: j.keep.clone(),
                group_by: GroupBy::parse("host,database")
                    .map_err(|e| crate::Error::Invalid(e.to_string()))?,
                // Only this job's snapshots (never manual ones, another job's, or those
                // tagged `keep`, which no policy forgets).
                filter: Filter {
                    hosts: vec![crate::hostname()],
                    tags: vec![j.tag()],
                    databases: dbs,
                },
                tz: jiff::tz::TimeZone::system(),
                allow_remove_all: false,
            };
            let plan = forget::plan(&all, &opts)?;
            Ok(forget::execute(repo, &plan)?.len())
        })();
        match r {
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

    // Prune, at most once per repository, on its schedule.
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
    for name in removed_in.iter().collect::<std::collections::BTreeSet<_>>() {
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

    // Copy each job's snapshots off-site, in runs that made new ones.
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
            if let Err(e) = check_free_space(rc) {
                outcomes[ji].errors.push(format!(
                    "copy to repository {target:?}: {}",
                    e.replacen("snapshot refused", "copy refused", 1)
                ));
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

    // Snapshot counts and sizes, after retention and copy.
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, r) in &repos {
        let Ok(repo) = r else { continue };
        match snapshots::list(repo, &Filter::default()) {
            Ok(l) => {
                // Per job and database: the snapshots that job made (its `job=NAME` tag).
                let c = counts.entry(name.clone()).or_default();
                for e in l {
                    let job = (e.manifest.tags.iter())
                        .find_map(|t| t.strip_prefix(super::config::JOB_TAG_PREFIX));
                    if let (Some(job), Some(db)) = (job, e.manifest.database()) {
                        *c.entry(format!("{job}/{db}")).or_default() += 1;
                        // Per database identity too (engine, server, name): two servers'
                        // `shop` in one job are counted apart.
                        if let Some(id) = e.manifest.source.identity() {
                            *c.entry(format!("{job}|{id}")).or_default() += 1;
                        }
                    }
                }
            }
            Err(e) => warnings.push(format!("listing snapshots of {name:?}: {e}")),
        }
        match repository_size(repo) {
            Ok(s) => {
                sizes.insert(name.clone(), s);
            }
            Err(e) => warnings.push(format!("size of repository {name:?}: {e}")),
        }
    }

    for o in &mut outcomes {
        if !o.errors.is_empty() {
            o.status = "failed".into();
        }
    }

    // State, status file, metrics file.
    let snapshot_state = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        for o in &outcomes {
            // A job a signal cut short keeps its previous start, so the next run still finds
            // it due.
            let last_start = if stopped && !o.errors.is_empty() {
                st.jobs.get(&o.name).map_or(0, |j| j.last_start)
            } else {
                started
            };
            st.jobs.insert(
                o.name.clone(),
                JobState {
                    last_start,
                    status: o.status.clone(),
                    errors: o.errors.clone(),
                },
            );
            for d in o.databases.iter().filter(|d| d.status != "skipped") {
                // Keyed by job, engine, server and database (status files of older versions
                // keyed `job/database`: that entry is replaced).
                st.databases.remove(&format!("{}/{}", o.name, d.database));
                let e = st
                    .databases
                    .entry(super::metrics::database_key(
                        &o.name,
                        &d.engine,
                        &d.server,
                        &d.database,
                    ))
                    .or_insert_with(|| DatabaseState {
                        job: o.name.clone(),
                        database: d.database.clone(),
                        ..Default::default()
                    });
                e.engine = d.engine.clone();
                e.server = d.server.clone();
                if let Some(id) = &d.identity {
                    e.identity = id.clone();
                }
                e.repository = o.repository.clone();
                e.status = d.status.clone();
                e.last_attempt = started;
                e.error = d.error.clone();
                if d.status == "ok" {
                    e.last_success = d.time.or(Some(started));
                    e.last_snapshot = d.snapshot.clone();
                    e.last_duration_ms = d.duration_ms;
                    e.bytes_read = d.bytes_read;
                    e.bytes_added = d.bytes_added;
                }
            }
        }
        // Counts for every database known in these repositories.
        for d in st.databases.values_mut() {
            if let Some(c) = counts.get(&d.repository) {
                let key = if d.identity.is_empty() {
                    format!("{}/{}", d.job, d.database)
                } else {
                    format!("{}|{}", d.job, d.identity)
                };
                d.snapshots = c.get(&key).copied().unwrap_or(0);
            }
        }
        for (name, size) in &sizes {
            st.repositories.entry(name.clone()).or_default().size_bytes = *size;
        }
        for (name, t) in &pruned_at {
            st.repositories.entry(name.clone()).or_default().last_prune = Some(*t);
        }
        st.updated = jiff::Timestamp::now().to_string();
        if let Some(p) = &cfg.status_file.value {
            if let Err(e) = st.save(p) {
                warnings.push(e.to_string());
            }
        }
        if let Some(p) = &cfg.metrics_file.value {
            if let Err(e) = super::metrics::write_atomic(p, st.prometheus().as_bytes()) {
                warnings.push(e.to_string());
            }
        }
        st.clone()
    };
    drop(snapshot_state);

    // Notifications: never block or fail the run.
    if cfg.notify.command.is_some() || cfg.notify.webhook.is_some() {
        for o in &outcomes {
            if o.status == "ok" && !cfg.notify.on_success {
                continue;
            }
            let n = Notification {
                job: o.name.clone(),
                status: o.status.clone(),
                errors: o.errors.clone(),
                failed_databases: (o.databases.iter())
                    .filter(|d| d.status == "failed")
                    .map(|d| d.database.clone())
                    .collect(),
                host: crate::hostname(),
                time: jiff::Timestamp::now().to_string(),
                databases: serde_json::to_value(&o.databases).unwrap_or_default(),
            };
            let timeout = cfg.notify.timeout.value;
            let command =
                (cfg.notify.command.as_deref()).map(|c| notify::run_command(c, &n, timeout));
            let webhook =
                (cfg.notify.webhook.as_deref()).map(|u| notify::post_webhook(u, &n, timeout));
            for e in [command, webhook]
                .into_iter()
                .flatten()
                .filter_map(Result::err)
            {
                // Printed with the other warnings by the caller (`run` prints each once).
                warnings.push(format!("job {}: {e}", o.name));
            }
        }
    }

    let failed =
        outcomes.iter().any(|o| o.status != "ok") || prunes.iter().any(|p| p.error.is_some());
    let exit_code = if !repository_errors.is_empty() {
        EXIT_USAGE
    } else if failed {
        EXIT_FAILURE
    } else {
        EXIT_OK
    };
    Ok(RunOutcome {
        jobs: outcomes,
        prunes,
        repository_errors,
        warnings,
        stopped,
        exit_code,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::config::PasswordSource;

    #[test]
    fn local_paths_only_for_directories() {
        assert_eq!(local_path("/srv/r"), Some("/srv/r".into()));
        assert_eq!(local_path("fs:///srv/r"), Some("/srv/r".into()));
        assert_eq!(local_path("rel/r"), Some("rel/r".into()));
        assert_eq!(local_path("s3://b/p"), None);
        assert_eq!(local_path("memory://x"), None);
    }

    #[test]
    fn free_space_floor_refuses_with_the_figures() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = RepoConfig {
            name: "main".into(),
            url: dir.path().to_str().unwrap().into(),
            password: PasswordSource::Env,
            prune_schedule: None,
            min_free_space: Some(1),
        };
        check_free_space(&r).unwrap();
        r.min_free_space = Some(1 << 60);
        let e = check_free_space(&r).unwrap_err();
        assert!(
            e.contains("repository \"main\"") && e.contains("1.0 EiB") && e.contains("bytes) free"),
            "{e}"
        );
        r.url = "memory://x".into();
        check_free_space(&r).unwrap();
    }
}
