//! The record step of a run: snapshot counts and repository sizes, the state (status file
//! and metrics file), and the notifications of jobs that failed (or of every job).

use super::select::Repos;
use super::JobOutcome;
use crate::commands::snapshots;
use crate::fleet::config::{Config, JOB_TAG_PREFIX};
use crate::fleet::metrics::{self, DatabaseState, JobState, State};
use crate::fleet::notify::{self, Notification};
use crate::repository::Repository;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Bytes stored in the repository: the sizes of all its files except locks (and the local
/// backend's `.tmp/`), from one listing of the whole repository (not one per folder: the run
/// has listed `index/` and `catalogue/` already, and each listing is a request on S3).
///
/// Errors: storage errors listing it.
pub fn repository_size(repo: &Repository) -> crate::Result<u64> {
    const COUNTED: [&str; 7] = [
        crate::repository::CONFIG_PATH,
        "keys",
        "data",
        "index",
        "snapshots",
        "verifications",
        "catalogue",
    ];
    let all = repo.backend().list("")?;
    let counted = |p: &str| {
        let first = p.trim_start_matches('/').split('/').next().unwrap_or("");
        COUNTED.contains(&first)
    };
    Ok(all.iter().filter(|(p, _)| counted(p)).map(|(_, s)| s).sum())
}

/// What the repositories of a run hold after retention and copy.
#[derive(Default)]
pub(super) struct Tally {
    /// Per repository: snapshot counts by `JOB/DATABASE` and by `JOB|IDENTITY`.
    counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per repository: bytes stored.
    sizes: BTreeMap<String, u64>,
}

/// Counts each open repository's snapshots per job and database, and measures it; what
/// cannot be listed is a warning.
pub(super) fn tally(repos: &Repos, warnings: &mut Vec<String>) -> Tally {
    let mut t = Tally::default();
    for (name, r) in repos {
        let Ok(repo) = r else { continue };
        // The catalogue as this run listed it last, with what it wrote since (config version
        // 2; no new listing: counts may miss another process's last seconds).
        match crate::repository::catalogue::load_cached(
            repo,
            crate::repository::catalogue::Want::All,
        ) {
            Ok(view) => {
                snapshots::warn_damaged(&view.damaged);
                // Per job and database: the snapshots that job made (its `job=NAME` tag).
                let c = t.counts.entry(name.clone()).or_default();
                for e in &view.entries {
                    let job = (e.tags.iter()).find_map(|t| t.strip_prefix(JOB_TAG_PREFIX));
                    if let (Some(job), Some(db)) = (job, e.database()) {
                        *c.entry(format!("{job}/{db}")).or_default() += 1;
                        // Per database identity too (engine, server, name): two servers'
                        // `shop` in one job are counted apart.
                        if let Some(id) = e.source.identity() {
                            *c.entry(format!("{job}|{id}")).or_default() += 1;
                        }
                    }
                }
            }
            Err(e) => warnings.push(format!("listing snapshots of {name:?}: {e}")),
        }
        match repository_size(repo) {
            Ok(s) => {
                t.sizes.insert(name.clone(), s);
            }
            Err(e) => warnings.push(format!("size of repository {name:?}: {e}")),
        }
    }
    t
}

/// What a run did, for the state.
pub(super) struct Run<'a> {
    /// The jobs' outcomes, with their final status.
    pub(super) outcomes: &'a [JobOutcome],
    /// When the run started, Unix seconds.
    pub(super) started: i64,
    /// Whether a signal stopped it early.
    pub(super) stopped: bool,
    /// When each repository pruned in it was pruned, Unix seconds.
    pub(super) pruned_at: &'a BTreeMap<String, i64>,
}

/// Updates `state` with the run (jobs, databases, counts, sizes, prunes) and writes the
/// status and metrics files; a file that cannot be written is a warning.
pub(super) fn save_state(
    cfg: &Config,
    state: &Mutex<State>,
    run: &Run<'_>,
    tally: &Tally,
    warnings: &mut Vec<String>,
) {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    for o in run.outcomes {
        // A job a signal cut short keeps its previous start, so the next run still finds
        // it due.
        let last_start = if run.stopped && !o.errors.is_empty() {
            st.jobs.get(&o.name).map_or(0, |j| j.last_start)
        } else {
            run.started
        };
        st.jobs.insert(
            o.name.clone(),
            JobState {
                last_start,
                status: o.status.clone(),
                errors: o.errors.clone(),
            },
        );
        record_databases(&mut st, o, run.started);
    }
    // Counts for every database known in these repositories.
    for d in st.databases.values_mut() {
        if let Some(c) = tally.counts.get(&d.repository) {
            let key = if d.identity.is_empty() {
                format!("{}/{}", d.job, d.database)
            } else {
                format!("{}|{}", d.job, d.identity)
            };
            d.snapshots = c.get(&key).copied().unwrap_or(0);
        }
    }
    for (name, size) in &tally.sizes {
        st.repositories.entry(name.clone()).or_default().size_bytes = *size;
    }
    for (name, t) in run.pruned_at {
        st.repositories.entry(name.clone()).or_default().last_prune = Some(*t);
    }
    st.updated = jiff::Timestamp::now().to_string();
    if let Some(p) = &cfg.status_file.value {
        if let Err(e) = st.save(p) {
            warnings.push(e.to_string());
        }
    }
    if let Some(p) = &cfg.metrics_file.value {
        if let Err(e) = metrics::write_atomic(p, st.prometheus().as_bytes()) {
            warnings.push(e.to_string());
        }
    }
}

/// Records in `st` each database of job outcome `o` that was attempted in the run started
/// at `started` (Unix seconds).
fn record_databases(st: &mut State, o: &JobOutcome, started: i64) {
    for d in o.databases.iter().filter(|d| d.status != "skipped") {
        // Keyed by job, engine, server and database (status files of older versions
        // keyed `job/database`: that entry is replaced).
        st.databases.remove(&format!("{}/{}", o.name, d.database));
        let e = st
            .databases
            .entry(metrics::database_key(
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

/// Runs the notification command and posts the webhook for each failed job (every job with
/// `on_success`); a notification that fails is a warning and never fails the run.
pub(super) fn notify(cfg: &Config, outcomes: &[JobOutcome], warnings: &mut Vec<String>) {
    if cfg.notify.command.is_none() && cfg.notify.webhook.is_none() {
        return;
    }
    for o in outcomes {
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
        let command = (cfg.notify.command.as_deref()).map(|c| notify::run_command(c, &n, timeout));
        let webhook = (cfg.notify.webhook.as_deref()).map(|u| notify::post_webhook(u, &n, timeout));
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
