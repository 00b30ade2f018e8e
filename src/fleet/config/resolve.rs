//! What the configuration's values mean: defaults, repositories' settings inherited from the
//! top level, validation of each value with its line and column, and the layering of
//! `DUMPVAULT_*` variables and flags over the file.

use super::file::{self, FileConfig, JobFile, KeepFile, NotifyFile, RepoFile};
use super::show::mask_url;
use super::{
    line_col, parse_size, Config, Job, NotifyConfig, Origin, Overrides, PasswordSource, RepoConfig,
    Schedule, Setting, DEFAULT_NOTIFY_TIMEOUT_SECS, JOB_TAG_PREFIX,
};
use crate::fleet::FleetError;
use crate::retention::{parse_duration, Policy};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use zeroize::Zeroizing;

/// An environment lookup: the value of a variable, `None` when unset.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The file being resolved, for locating bad values.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// [`FleetError::Invalid`] for the value at byte range `span`.
    fn invalid(&self, span: Range<usize>, message: String) -> FleetError {
        let (line, column) = line_col(self.text, span.start);
        FleetError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// The 1-based line of byte range `span`.
    fn line(&self, span: Range<usize>) -> usize {
        line_col(self.text, span.start).0
    }

    /// A size value (`2GiB`), in bytes; `what` names it in the error.
    fn size(&self, s: &Spanned<String>, what: &str) -> Result<u64, FleetError> {
        parse_size(s.get_ref()).map_err(|m| self.invalid(s.span(), format!("{what}: {m}")))
    }

    /// A cron expression; `what` names it in the error (`job "shop": schedule`).
    fn schedule(&self, s: &Spanned<String>, what: &str) -> Result<Schedule, FleetError> {
        Schedule::parse(s.get_ref()).map_err(|m| self.invalid(s.span(), format!("{what} {m}")))
    }
}

/// Parses and validates configuration `text` (read from `path`) and layers `env` and `flags`
/// over it. Does not look at the file's permissions (see [`super::load`]).
///
/// Errors: [`FleetError::Parse`] for bad TOML, unknown keys and wrong types;
/// [`FleetError::Invalid`] for bad values; [`FleetError::Setting`] for bad variables or flags.
pub fn parse(
    path: &Path,
    text: &str,
    flags: &Overrides,
    env: Env<'_>,
) -> Result<Config, FleetError> {
    let file: FileConfig = file::read(path, text)?;
    let src = Source { path, text };
    let default_floor = (file.min_free_space.as_ref())
        .map(|s| src.size(s, "min_free_space"))
        .transpose()?;
    let mut repositories = BTreeMap::new();
    for (name, r) in file.repository {
        let repo = repository(&src, name.clone(), r, default_floor)?;
        repositories.insert(name, repo);
    }
    let mut jobs_by_name = BTreeMap::new();
    for (name, j) in file.job {
        let job = job(&src, name.clone(), j, &repositories)?;
        jobs_by_name.insert(name, job);
    }
    // Layered settings: default < file < env < flag.
    let jobs = jobs_setting(&src, file.jobs, flags, env)?;
    let metrics_file = path_setting(
        &src,
        file.metrics_file,
        ("DUMPVAULT_METRICS_FILE", env),
        ("--metrics-file", &flags.metrics_file),
    );
    let status_file = path_setting(
        &src,
        file.status_file,
        ("DUMPVAULT_STATUS_FILE", env),
        ("--status-file", &flags.status_file),
    );
    let notify = notify(&src, file.notify, flags, env)?;
    Ok(Config {
        path: Setting {
            value: path.to_path_buf(),
            origin: Origin::Default,
        },
        jobs,
        metrics_file,
        status_file,
        repositories,
        jobs_by_name,
        notify,
    })
}

/// `[repository.NAME]`: its password source, prune schedule and disk-space floor (its own,
/// else the top-level `default_floor`; 0 turns the check off).
fn repository(
    src: &Source<'_>,
    name: String,
    r: RepoFile,
    default_floor: Option<u64>,
) -> Result<RepoConfig, FleetError> {
    let password = match (r.password, r.password_file, r.password_command) {
        (Some(p), None, None) => PasswordSource::Inline(Zeroizing::new(p)),
        (None, Some(f), None) => PasswordSource::File(f),
        (None, None, Some(c)) => PasswordSource::Command(c),
        (None, None, None) => PasswordSource::Env,
        _ => {
            return Err(FleetError::Parse {
                path: src.path.to_path_buf(),
                message: format!(
                    "repository {name:?}: give only one of password, password_file, \
                     password_command"
                ),
            })
        }
    };
    let prune_schedule = (r.prune_schedule.as_ref())
        .map(|s| src.schedule(s, &format!("repository {name:?}: prune_schedule")))
        .transpose()?;
    let min_free_space = match &r.min_free_space {
        Some(s) => Some(src.size(s, &format!("repository {name:?}: min_free_space"))?),
        None => default_floor,
    }
    .filter(|b| *b > 0);
    Ok(RepoConfig {
        name,
        url: r.url,
        password,
        prune_schedule,
        min_free_space,
    })
}

/// `[job.NAME]`: its repositories exist (and `copy_to` is another one), it has sources and
/// each is a database URL, it does not claim the reserved `job=` tag; then its schedule and
/// retention policy.
fn job(
    src: &Source<'_>,
    name: String,
    j: JobFile,
    repositories: &BTreeMap<String, RepoConfig>,
) -> Result<Job, FleetError> {
    let repo_ref = |s: &Spanned<String>, what: &str| {
        if repositories.contains_key(s.get_ref()) {
            Ok(s.get_ref().clone())
        } else {
            Err(src.invalid(
                s.span(),
                format!(
                    "job {name:?}: {what} {:?} is not defined (add a [repository.{}] section)",
                    s.get_ref(),
                    s.get_ref()
                ),
            ))
        }
    };
    let repository = repo_ref(&j.repository, "repository")?;
    let copy_to = (j.copy_to.as_ref())
        .map(|c| {
            let r = repo_ref(c, "copy_to repository")?;
            if r == repository {
                return Err(src.invalid(
                    c.span(),
                    format!("job {name:?}: copy_to is the job's own repository"),
                ));
            }
            Ok(r)
        })
        .transpose()?;
    check_sources(src, &name, &j)?;
    if let Some(t) = j.tags.iter().find(|t| t.starts_with(JOB_TAG_PREFIX)) {
        return Err(src.invalid(
            j.repository.span(),
            format!(
                "job {name:?}: tag {t:?} is reserved: `dumpvault run` tags each snapshot \
                 with job=NAME itself and forgets only those of its own job; remove it from tags"
            ),
        ));
    }
    let schedule = (j.schedule.as_ref())
        .map(|s| src.schedule(s, &format!("job {name:?}: schedule")))
        .transpose()?;
    let keep = match j.keep {
        None => Policy::default(),
        Some(k) => keep(src, &name, k)?,
    };
    Ok(Job {
        name,
        repository,
        sources: j.sources.into_iter().map(Spanned::into_inner).collect(),
        all_databases: j.all_databases,
        include: j.include,
        exclude: j.exclude,
        tags: j.tags,
        globals: j.globals,
        schedule,
        copy_to,
        keep,
    })
}

/// A job has sources, and each is a database URL.
fn check_sources(src: &Source<'_>, name: &str, j: &JobFile) -> Result<(), FleetError> {
    if j.sources.is_empty() {
        return Err(src.invalid(
            j.repository.span(),
            format!("job {name:?} has no sources (add sources = [\"postgres://…/db\"])"),
        ));
    }
    for s in &j.sources {
        if !crate::source::database::DatabaseUrl::is_url(s.get_ref()) {
            return Err(src.invalid(
                s.span(),
                format!(
                    "job {name:?}: {:?} is not a database URL (postgres://, mysql://, \
                     mariadb:// or sqlite://)",
                    mask_url(s.get_ref())
                ),
            ));
        }
    }
    Ok(())
}

/// A job's `keep = { … }` as a validated retention policy.
fn keep(src: &Source<'_>, name: &str, k: Spanned<KeepFile>) -> Result<Policy, FleetError> {
    let span = k.span();
    let k = k.into_inner();
    let within = (k.within.as_deref())
        .map(parse_duration)
        .transpose()
        .map_err(|e| src.invalid(span.clone(), format!("job {name:?}: keep.within: {e}")))?;
    let p = Policy {
        keep_last: k.last,
        keep_hourly: k.hourly,
        keep_daily: k.daily,
        keep_weekly: k.weekly,
        keep_monthly: k.monthly,
        keep_yearly: k.yearly,
        keep_within: within,
        keep_tags: k.tags,
        ..Default::default()
    };
    p.validate()
        .map_err(|e| src.invalid(span, format!("job {name:?}: keep: {e}")))?;
    Ok(p)
}

/// [`FleetError::Setting`] for variable or flag `name`.
fn bad(name: &str, message: String) -> FleetError {
    FleetError::Setting {
        name: name.to_string(),
        message,
    }
}

/// `jobs` (databases dumped at once): the number of cores < file < `DUMPVAULT_JOBS` <
/// `--jobs`; at least 1.
fn jobs_setting(
    src: &Source<'_>,
    from_file: Option<Spanned<usize>>,
    flags: &Overrides,
    env: Env<'_>,
) -> Result<Setting<usize>, FleetError> {
    let mut jobs = Setting {
        value: std::thread::available_parallelism().map_or(2, |n| n.get()),
        origin: Origin::Default,
    };
    if let Some(j) = &from_file {
        if *j.get_ref() == 0 {
            return Err(src.invalid(j.span(), "jobs must be at least 1".into()));
        }
        jobs = Setting {
            value: *j.get_ref(),
            origin: Origin::File(src.line(j.span())),
        };
    }
    if let Some(v) = env("DUMPVAULT_JOBS").filter(|v| !v.is_empty()) {
        let n = (v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                bad(
                    "DUMPVAULT_JOBS",
                    format!("{v:?} is not a number of at least 1"),
                )
            })?;
        jobs = Setting {
            value: n,
            origin: Origin::Env("DUMPVAULT_JOBS".into()),
        };
    }
    if let Some(n) = flags.jobs {
        if n == 0 {
            return Err(bad("--jobs", "must be at least 1".into()));
        }
        jobs = Setting {
            value: n,
            origin: Origin::Flag("--jobs".into()),
        };
    }
    Ok(jobs)
}

/// An optional output file: none < file < variable `var` < flag `flag_name`.
fn path_setting(
    src: &Source<'_>,
    from_file: Option<Spanned<PathBuf>>,
    (var, env): (&str, Env<'_>),
    (flag_name, flag): (&str, &Option<PathBuf>),
) -> Setting<Option<PathBuf>> {
    let mut s = Setting {
        value: None,
        origin: Origin::Default,
    };
    if let Some(p) = from_file {
        s = Setting {
            origin: Origin::File(src.line(p.span())),
            value: Some(p.into_inner()),
        };
    }
    if let Some(v) = env(var).filter(|v| !v.is_empty()) {
        s = Setting {
            value: Some(PathBuf::from(v)),
            origin: Origin::Env(var.into()),
        };
    }
    if let Some(p) = flag {
        s = Setting {
            value: Some(p.clone()),
            origin: Origin::Flag(flag_name.into()),
        };
    }
    s
}

/// `[notify]`: the command, the webhook (an `http://` or `https://` URL with a host), and
/// the timeout (30 s < file < `DUMPVAULT_NOTIFY_TIMEOUT` < `--notify-timeout`).
fn notify(
    src: &Source<'_>,
    from_file: Option<NotifyFile>,
    flags: &Overrides,
    env: Env<'_>,
) -> Result<NotifyConfig, FleetError> {
    let (command, on_success, file_timeout, webhook) = match from_file {
        Some(n) => (n.command, n.on_success, n.timeout, n.webhook),
        None => (None, false, None, None),
    };
    let webhook = webhook.map(|w| webhook_url(src, &w)).transpose()?;
    let mut timeout = Setting {
        value: Duration::from_secs(DEFAULT_NOTIFY_TIMEOUT_SECS),
        origin: Origin::Default,
    };
    if let Some(t) = file_timeout {
        timeout = Setting {
            value: parse_secs(t.get_ref())
                .map_err(|m| src.invalid(t.span(), format!("notify.timeout: {m}")))?,
            origin: Origin::File(src.line(t.span())),
        };
    }
    if let Some(v) = env("DUMPVAULT_NOTIFY_TIMEOUT").filter(|v| !v.is_empty()) {
        timeout = Setting {
            value: parse_secs(&v).map_err(|m| bad("DUMPVAULT_NOTIFY_TIMEOUT", m))?,
            origin: Origin::Env("DUMPVAULT_NOTIFY_TIMEOUT".into()),
        };
    }
    if let Some(v) = &flags.notify_timeout {
        timeout = Setting {
            value: parse_secs(v).map_err(|m| bad("--notify-timeout", m))?,
            origin: Origin::Flag("--notify-timeout".into()),
        };
    }
    Ok(NotifyConfig {
        command,
        on_success,
        timeout,
        webhook,
    })
}

/// `notify.webhook`, trimmed: an `http://` or `https://` URL with a host.
fn webhook_url(src: &Source<'_>, w: &Spanned<String>) -> Result<String, FleetError> {
    let u = w.get_ref().trim();
    let rest = (u.strip_prefix("http://"))
        .or_else(|| u.strip_prefix("https://"))
        .unwrap_or("");
    if rest.is_empty() || rest.starts_with('/') {
        return Err(src.invalid(
            w.span(),
            format!(
                "notify.webhook: {:?} is not an http:// or https:// URL with a host",
                mask_url(u)
            ),
        ));
    }
    Ok(u.to_string())
}

/// A positive duration such as `30s`, `2m` or `1h`. Errors: the message for the value.
fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<jiff::SignedDuration>() {
        Ok(d) if !d.is_negative() && !d.is_zero() => {
            Ok(Duration::from_millis(d.as_millis() as u64))
        }
        _ => Err(format!(
            "{s:?} is not a duration such as `30s`, `2m` or `1h`"
        )),
    }
}
