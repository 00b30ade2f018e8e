//! The fleet configuration file (`dumpvault.toml`) and the effective settings.
//!
//! ```toml
//! jobs = 3                                  # databases dumped at once
//! metrics_file = "/var/lib/node_exporter/textfile/dumpvault.prom"
//! status_file = "/var/lib/dumpvault/status.json"
//! min_free_space = "5GiB"                  # default floor for local repositories (default: none)
//!
//! [repository.main]
//! url = "/srv/backup/main"
//! password_file = "/etc/dumpvault/main.pass"
//! prune_schedule = "0 3 * * *"             # prune at most on this schedule (default: each run)
//! min_free_space = "2GiB"                  # overrides the default; "0" turns the check off
//!
//! [job.shop]
//! repository = "main"
//! sources = ["postgres://postgres@db1:5432/shop"]
//! tags = ["fleet"]
//! schedule = "0 * * * *"                   # cron: minute hour day month weekday [seconds first]
//! copy_to = "offsite"
//! keep = { hourly = 24, daily = 7, weekly = 4 }
//!
//! [notify]
//! command = "/usr/local/bin/page-dba"
//! on_success = false
//! timeout = "30s"
//! webhook = "https://alerts.example.com/hooks/dumpvault"
//! ```
//!
//! Settings with built-in defaults are layered: defaults < file < `DUMPVAULT_*` environment
//! variables < command-line flags ([`Overrides`]); each keeps where its value came from.
//!
//! `min_free_space` (a size: `2GiB`, `500M`, `1048576`; K, M, G, T, P, E are binary units,
//! with or without `iB`/`B`) is the free space a repository that is a local directory must
//! have on its file system before each snapshot into it; below it that database's snapshot is
//! refused and fails (and is notified), the others go on. A repository's own value overrides
//! the top-level default; `"0"` turns the check off. It is not checked for remote
//! repositories (S3, SFTP…).
//!
//! `[notify] webhook` (an `http://` or `https://` URL) receives, per notified job, an HTTP
//! POST of the same JSON the command reads on stdin (`Content-Type: application/json`),
//! bounded by `timeout`; a failure (refused connection, timeout, a status other than 2xx) is
//! a warning and never fails the run. `command` and `webhook` may be given together. Messages
//! and `config show` print the webhook without its path and query (they often hold a token).

use super::FleetError;
use crate::retention::{parse_duration, Policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use zeroize::Zeroizing;

/// Where the configuration file is looked for when neither `--config` nor `DUMPVAULT_CONFIG`
/// is given.
pub const DEFAULT_PATH: &str = "/etc/dumpvault/dumpvault.toml";
/// Default time a notification command may run, in seconds.
pub const DEFAULT_NOTIFY_TIMEOUT_SECS: u64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    jobs: Option<Spanned<usize>>,
    metrics_file: Option<Spanned<PathBuf>>,
    status_file: Option<Spanned<PathBuf>>,
    min_free_space: Option<Spanned<String>>,
    #[serde(default)]
    repository: BTreeMap<String, RepoFile>,
    #[serde(default)]
    job: BTreeMap<String, JobFile>,
    notify: Option<NotifyFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoFile {
    url: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_command: Option<String>,
    prune_schedule: Option<Spanned<String>>,
    min_free_space: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    repository: Spanned<String>,
    #[serde(default)]
    sources: Vec<Spanned<String>>,
    #[serde(default)]
    all_databases: bool,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    globals: bool,
    schedule: Option<Spanned<String>>,
    copy_to: Option<Spanned<String>>,
    keep: Option<Spanned<KeepFile>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeepFile {
    last: Option<u32>,
    hourly: Option<u32>,
    daily: Option<u32>,
    weekly: Option<u32>,
    monthly: Option<u32>,
    yearly: Option<u32>,
    within: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFile {
    command: Option<String>,
    #[serde(default)]
    on_success: bool,
    timeout: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "at")]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file, at this line.
    File(usize),
    /// This environment variable.
    Env(String),
    /// This command-line flag.
    Flag(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(l) => write!(f, "file, line {l}"),
            Origin::Env(v) => write!(f, "environment {v}"),
            Origin::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// A setting's effective value and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Its origin.
    pub origin: Origin,
}

/// Command-line values of the layered settings (highest precedence); `None` = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--jobs`: databases dumped at once.
    pub jobs: Option<usize>,
    /// `--metrics-file`.
    pub metrics_file: Option<PathBuf>,
    /// `--status-file`.
    pub status_file: Option<PathBuf>,
    /// `--notify-timeout`, a duration such as `30s`.
    pub notify_timeout: Option<String>,
}

/// How a repository's password is obtained.
#[derive(Clone)]
pub enum PasswordSource {
    /// Written in the configuration file (which must then be private).
    Inline(Zeroizing<String>),
    /// First line of this file.
    File(PathBuf),
    /// First line of this shell command's output.
    Command(String),
    /// The `DUMPVAULT_PASSWORD` environment variable.
    Env,
}

impl std::fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PasswordSource {
    /// A description with the secret masked: `password = ***`, `password_file = /etc/…`.
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::Inline(_) => "password = ***".into(),
            PasswordSource::File(p) => format!("password_file = {}", p.display()),
            PasswordSource::Command(c) => format!("password_command = {c}"),
            PasswordSource::Env => "DUMPVAULT_PASSWORD".into(),
        }
    }

    /// Reads the password.
    ///
    /// Errors: a message naming the file, command or variable that did not give one.
    pub fn get(&self) -> Result<Zeroizing<String>, String> {
        match self {
            PasswordSource::Inline(p) => Ok(p.clone()),
            PasswordSource::File(f) => std::fs::read_to_string(f)
                .map(|s| Zeroizing::new(s.lines().next().unwrap_or("").to_string()))
                .map_err(|e| format!("cannot read password file {}: {e}", f.display())),
            PasswordSource::Command(c) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(c)
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| format!("cannot run password command `{c}`: {e}"))?;
                if !out.status.success() {
                    return Err(format!("password command `{c}` failed ({})", out.status));
                }
                let s = String::from_utf8_lossy(&out.stdout);
                Ok(Zeroizing::new(s.lines().next().unwrap_or("").to_string()))
            }
            PasswordSource::Env => std::env::var("DUMPVAULT_PASSWORD").map(Zeroizing::new).map_err(
                |_| "no password: set password_file, password_command or password in the repository section, or DUMPVAULT_PASSWORD".to_string(),
            ),
        }
    }
}

/// A repository of the configuration.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// Its name (`[repository.NAME]`).
    pub name: String,
    /// Its location, as for `--repo`.
    pub url: String,
    /// Its password.
    pub password: PasswordSource,
    /// When prune may run (cron); `None`: in every run that removed snapshots.
    pub prune_schedule: Option<Schedule>,
    /// Free bytes its file system must have before each snapshot, when it is a local
    /// directory (its own `min_free_space`, else the top-level one); `None`: no check.
    pub min_free_space: Option<u64>,
}

/// A parsed cron expression: 5 fields (minute hour day month weekday) or 6 with seconds first.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The expression as written.
    pub expr: String,
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a cron expression. Errors: the parser's message.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| format!("{expr:?} is not a cron expression: {e}"))?;
        Ok(Schedule {
            expr: expr.to_string(),
            cron,
        })
    }

    /// The first tick strictly after `t`, or `None` if there is none.
    pub fn next_after(&self, t: &jiff::Zoned) -> Option<jiff::Zoned> {
        self.cron.find_next_occurrence(t, false).ok()
    }

    /// The last tick at or before `t`, or `None` if there is none.
    pub fn last_at_or_before(&self, t: &jiff::Zoned) -> Option<jiff::Zoned> {
        self.cron.find_previous_occurrence(t, true).ok()
    }

    /// Whether a tick lies after `since` (Unix seconds; `None`: never) and at or before `now`.
    pub fn due(&self, since: Option<i64>, now: &jiff::Zoned) -> bool {
        match (since, self.last_at_or_before(now)) {
            (None, _) => true,
            (Some(s), Some(tick)) => tick.timestamp().as_second() > s,
            (Some(_), None) => false,
        }
    }
}

/// A job: databases backed up into one repository with one policy.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its name (`[job.NAME]`).
    pub name: String,
    /// Name of its repository.
    pub repository: String,
    /// Database URLs (server URLs with `all_databases`).
    pub sources: Vec<String>,
    /// Snapshot every database of each server in `sources`.
    pub all_databases: bool,
    /// With `all_databases`: only databases matching one of these globs.
    pub include: Vec<String>,
    /// With `all_databases`: skip databases matching these globs.
    pub exclude: Vec<String>,
    /// Tags recorded on its snapshots.
    pub tags: Vec<String>,
    /// PostgreSQL: also store roles and tablespaces.
    pub globals: bool,
    /// When the daemon (and a plain `run`) runs it; `None`: every `run`, never in the daemon.
    pub schedule: Option<Schedule>,
    /// Repository its snapshots are copied to (after each run that made new ones: those
    /// retention kept and the target lacks).
    pub copy_to: Option<String>,
    /// Retention policy (empty: keep everything). It applies only to the snapshots this job
    /// made (tagged [`Job::tag`]), never to those tagged `keep`.
    pub keep: Policy,
}

/// Prefix of the tag `dumpvault run` records on each snapshot a job makes: `job=NAME`.
pub const JOB_TAG_PREFIX: &str = "job=";

impl Job {
    /// The tag on every snapshot this job makes, `job=NAME`: its retention selects on it, so
    /// it never forgets a snapshot it did not make (manual ones, other jobs').
    pub fn tag(&self) -> String {
        format!("{JOB_TAG_PREFIX}{}", self.name)
    }
}

/// Notification settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Shell command run per failed job (and per job with `on_success`).
    pub command: Option<String>,
    /// Also notify jobs that succeeded.
    pub on_success: bool,
    /// How long the command (and the webhook request) may run before it is given up.
    pub timeout: Setting<Duration>,
    /// URL that receives an HTTP POST of the notification's JSON.
    pub webhook: Option<String>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, and why that one.
    pub path: Setting<PathBuf>,
    /// Databases dumped at once, across all jobs of a run (at least 1).
    pub jobs: Setting<usize>,
    /// Prometheus text-format file written after each run.
    pub metrics_file: Setting<Option<PathBuf>>,
    /// JSON status file, kept across runs.
    pub status_file: Setting<Option<PathBuf>>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, RepoConfig>,
    /// Jobs by name.
    pub jobs_by_name: BTreeMap<String, Job>,
    /// Notifications.
    pub notify: NotifyConfig,
}

/// 1-based (line, column) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

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

pub use crate::units::parse_size;

/// Masks the password of a URL (`postgres://u:secret@h/db` → `postgres://u:***@h/db`).
pub fn mask_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..auth_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// A webhook URL for messages and `config show`: scheme and host (a password masked), and
/// the path and query, which often hold a token (Slack, Teams), as `/***`.
pub fn mask_webhook(url: &str) -> String {
    let masked = mask_url(url);
    let Some(start) = masked.find("://").map(|i| i + 3) else {
        return masked;
    };
    match masked[start..].find(['/', '?']) {
        Some(i) if masked.len() > start + i + 1 => format!("{}/***", &masked[..start + i]),
        _ => masked,
    }
}

/// Whether a URL holds a password: `scheme://user:password@…` or a `password=` query
/// parameter (libpq's `postgres://h/db?password=…`).
pub fn url_has_password(url: &str) -> bool {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return false;
    };
    let rest = &url[start..];
    let auth = &rest[..rest.find('/').unwrap_or(rest.len())];
    let in_userinfo = auth.rfind('@').is_some_and(|at| auth[..at].contains(':'));
    let in_query = rest.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv.to_ascii_lowercase().starts_with("password="))
    });
    in_userinfo || in_query
}

/// Finds the configuration file: `--config`, then `DUMPVAULT_CONFIG`, then [`DEFAULT_PATH`].
pub fn locate(
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Setting<PathBuf>, FleetError> {
    if let Some(p) = &flags.config {
        return Ok(Setting {
            value: p.clone(),
            origin: Origin::Flag("--config".into()),
        });
    }
    if let Some(p) = env("DUMPVAULT_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(Setting {
            value: p.into(),
            origin: Origin::Env("DUMPVAULT_CONFIG".into()),
        });
    }
    let p = PathBuf::from(DEFAULT_PATH);
    if !p.exists() {
        return Err(FleetError::NoConfig(p));
    }
    Ok(Setting {
        value: p,
        origin: Origin::Default,
    })
}

/// Loads the configuration: finds and reads the file, refuses it when it holds a password
/// and is readable by group or others, parses and validates it, and layers environment
/// variables (from `env`) and `flags` over it.
///
/// Errors: [`FleetError`] naming the file and the line and column of the bad value.
pub fn load(flags: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, FleetError> {
    let path = locate(flags, env)?;
    let text = std::fs::read_to_string(&path.value).map_err(|source| FleetError::Read {
        path: path.value.clone(),
        source,
    })?;
    let cfg = parse(&path.value, &text, flags, env)?;
    // A password in a repository or database URL is a password the file holds, too.
    let url_password = cfg.repositories.values().any(|r| url_has_password(&r.url))
        || (cfg.jobs_by_name.values()).any(|j| j.sources.iter().any(|s| url_has_password(s)))
        || cfg.notify.webhook.as_deref().is_some_and(url_has_password);
    if url_password
        || cfg
            .repositories
            .values()
            .any(|r| matches!(r.password, PasswordSource::Inline(_)))
    {
        check_private(&path.value)?;
    }
    Ok(Config { path, ..cfg })
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), FleetError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| FleetError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(FleetError::Insecure {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), FleetError> {
    Ok(())
}

/// Parses and validates configuration `text` (read from `path`) and layers `env` and `flags`
/// over it. Does not look at the file's permissions (see [`load`]).
///
/// Errors: [`FleetError::Parse`] for bad TOML, unknown keys and wrong types;
/// [`FleetError::Invalid`] for bad values; [`FleetError::Setting`] for bad variables or flags.
pub fn parse(
    path: &Path,
    text: &str,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, FleetError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| FleetError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let invalid = |span: std::ops::Range<usize>, message: String| {
        let (line, column) = line_col(text, span.start);
        FleetError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let line = |span: std::ops::Range<usize>| line_col(text, span.start).0;

    let size_of = |s: &Spanned<String>, what: &str| {
        parse_size(s.get_ref()).map_err(|m| invalid(s.span(), format!("{what}: {m}")))
    };
    let default_floor = file
        .min_free_space
        .as_ref()
        .map(|s| size_of(s, "min_free_space"))
        .transpose()?;
    let mut repositories = BTreeMap::new();
    for (name, r) in file.repository {
        let password = match (r.password, r.password_file, r.password_command) {
            (Some(p), None, None) => PasswordSource::Inline(Zeroizing::new(p)),
            (None, Some(f), None) => PasswordSource::File(f),
            (None, None, Some(c)) => PasswordSource::Command(c),
            (None, None, None) => PasswordSource::Env,
            _ => {
                return Err(FleetError::Parse {
                    path: path.to_path_buf(),
                    message: format!("repository {name:?}: give only one of password, password_file, password_command"),
                })
            }
        };
        let prune_schedule = r
            .prune_schedule
            .map(|s| {
                Schedule::parse(s.get_ref()).map_err(|m| {
                    invalid(s.span(), format!("repository {name:?}: prune_schedule {m}"))
                })
            })
            .transpose()?;
        let min_free_space = match &r.min_free_space {
            Some(s) => Some(size_of(s, &format!("repository {name:?}: min_free_space"))?),
            None => default_floor,
        }
        .filter(|b| *b > 0);
        repositories.insert(
            name.clone(),
            RepoConfig {
                name,
                url: r.url,
                password,
                prune_schedule,
                min_free_space,
            },
        );
    }

    let mut jobs_by_name = BTreeMap::new();
    for (name, j) in file.job {
        let repo_ref = |s: &Spanned<String>, what: &str| {
            if repositories.contains_key(s.get_ref()) {
                Ok(s.get_ref().clone())
            } else {
                Err(invalid(
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
        let copy_to = j
            .copy_to
            .as_ref()
            .map(|c| {
                let r = repo_ref(c, "copy_to repository")?;
                if r == repository {
                    return Err(invalid(
                        c.span(),
                        format!("job {name:?}: copy_to is the job's own repository"),
                    ));
                }
                Ok(r)
            })
            .transpose()?;
        if j.sources.is_empty() {
            return Err(invalid(
                j.repository.span(),
                format!("job {name:?} has no sources (add sources = [\"postgres://…/db\"])"),
            ));
        }
        for s in &j.sources {
            if !crate::source::database::DatabaseUrl::is_url(s.get_ref()) {
                return Err(invalid(
                    s.span(),
                    format!(
                        "job {name:?}: {:?} is not a database URL (postgres://, mysql://, mariadb:// or sqlite://)",
                        mask_url(s.get_ref())
                    ),
                ));
            }
        }
        if let Some(t) = j.tags.iter().find(|t| t.starts_with(JOB_TAG_PREFIX)) {
            return Err(invalid(
                j.repository.span(),
                format!(
                    "job {name:?}: tag {t:?} is reserved: `dumpvault run` tags each snapshot \
                     with job=NAME itself and forgets only those of its own job; remove it from tags"
                ),
            ));
        }
        let schedule = j
            .schedule
            .map(|s| {
                Schedule::parse(s.get_ref())
                    .map_err(|m| invalid(s.span(), format!("job {name:?}: schedule {m}")))
            })
            .transpose()?;
        let keep = match j.keep {
            None => Policy::default(),
            Some(k) => {
                let span = k.span();
                let k = k.into_inner();
                let within = k
                    .within
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(|e| {
                        invalid(span.clone(), format!("job {name:?}: keep.within: {e}"))
                    })?;
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
                    .map_err(|e| invalid(span, format!("job {name:?}: keep: {e}")))?;
                p
            }
        };
        jobs_by_name.insert(
            name.clone(),
            Job {
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
            },
        );
    }

    // Layered settings: default < file < env < flag.
    let bad = |name: &str, message: String| FleetError::Setting {
        name: name.to_string(),
        message,
    };
    let mut jobs = Setting {
        value: std::thread::available_parallelism().map_or(2, |n| n.get()),
        origin: Origin::Default,
    };
    if let Some(j) = &file.jobs {
        if *j.get_ref() == 0 {
            return Err(invalid(j.span(), "jobs must be at least 1".into()));
        }
        jobs = Setting {
            value: *j.get_ref(),
            origin: Origin::File(line(j.span())),
        };
    }
    if let Some(v) = env("DUMPVAULT_JOBS").filter(|v| !v.is_empty()) {
        let n = v
            .trim()
            .parse::<usize>()
            .ok()
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

    let path_setting = |from_file: Option<Spanned<PathBuf>>,
                        var: &str,
                        flag_name: &str,
                        flag: &Option<PathBuf>| {
        let mut s = Setting {
            value: None,
            origin: Origin::Default,
        };
        if let Some(p) = from_file {
            s = Setting {
                origin: Origin::File(line(p.span())),
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
    };
    let metrics_file = path_setting(
        file.metrics_file,
        "DUMPVAULT_METRICS_FILE",
        "--metrics-file",
        &flags.metrics_file,
    );
    let status_file = path_setting(
        file.status_file,
        "DUMPVAULT_STATUS_FILE",
        "--status-file",
        &flags.status_file,
    );

    let (command, on_success, file_timeout, webhook) = match file.notify {
        Some(n) => (n.command, n.on_success, n.timeout, n.webhook),
        None => (None, false, None, None),
    };
    let webhook = webhook
        .map(|w| {
            let u = w.get_ref().trim();
            let rest = (u
                .strip_prefix("http://")
                .or_else(|| u.strip_prefix("https://")))
            .unwrap_or("");
            if rest.is_empty() || rest.starts_with('/') {
                return Err(invalid(
                    w.span(),
                    format!(
                        "notify.webhook: {:?} is not an http:// or https:// URL with a host",
                        mask_url(u)
                    ),
                ));
            }
            Ok(u.to_string())
        })
        .transpose()?;
    let mut timeout = Setting {
        value: Duration::from_secs(DEFAULT_NOTIFY_TIMEOUT_SECS),
        origin: Origin::Default,
    };
    if let Some(t) = file_timeout {
        timeout = Setting {
            value: parse_secs(t.get_ref())
                .map_err(|m| invalid(t.span(), format!("notify.timeout: {m}")))?,
            origin: Origin::File(line(t.span())),
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
        notify: NotifyConfig {
            command,
            on_success,
            timeout,
            webhook,
        },
    })
}

impl Config {
    /// What is wrong with the output files' locations: `metrics_file` or `status_file` in a
    /// directory that does not exist (or is not a directory), each message naming the key,
    /// the path, where the value came from and what to do. `run` refuses to start on any
    /// (exit 2: no state would be saved, so every job would run again next time);
    /// `config show` lists them.
    pub fn path_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, s) in [
            ("metrics_file", &self.metrics_file),
            ("status_file", &self.status_file),
        ] {
            let Some(p) = &s.value else { continue };
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                out.push(format!(
                    "{key} {} ({}): its directory {} does not exist; create it, or set \
                     {key} to a file in an existing directory",
                    p.display(),
                    s.origin,
                    dir.display()
                ));
            }
        }
        out
    }

    /// The effective configuration as JSON, secrets masked, each layered setting with its
    /// origin (for `dumpvault config show`).
    pub fn show(&self) -> serde_json::Value {
        use serde_json::json;
        let setting =
            |v: serde_json::Value, o: &Origin| json!({"value": v, "origin": o.to_string()});
        let repos: serde_json::Map<String, serde_json::Value> = self
            .repositories
            .values()
            .map(|r| {
                (
                    r.name.clone(),
                    json!({"url": mask_url(&r.url), "password": r.password.describe(),
                        "prune_schedule": r.prune_schedule.as_ref().map(|s| &s.expr),
                        "min_free_space": r.min_free_space}),
                )
            })
            .collect();
        let jobs: serde_json::Map<String, serde_json::Value> = self
            .jobs_by_name
            .values()
            .map(|j| {
                (
                    j.name.clone(),
                    json!({"repository": j.repository,
                        "sources": j.sources.iter().map(|s| mask_url(s)).collect::<Vec<_>>(),
                        "all_databases": j.all_databases, "include": j.include,
                        "exclude": j.exclude, "tags": j.tags, "globals": j.globals,
                        "schedule": j.schedule.as_ref().map(|s| &s.expr),
                        "copy_to": j.copy_to, "keep": j.keep}),
                )
            })
            .collect();
        json!({
            "config_file": setting(json!(self.path.value), &self.path.origin),
            "jobs": setting(json!(self.jobs.value), &self.jobs.origin),
            "metrics_file": setting(json!(self.metrics_file.value), &self.metrics_file.origin),
            "status_file": setting(json!(self.status_file.value), &self.status_file.origin),
            "notify_timeout": setting(
                json!(format!("{}s", self.notify.timeout.value.as_secs_f64())),
                &self.notify.timeout.origin),
            "notify": {"command": self.notify.command, "on_success": self.notify.on_success,
                "webhook": self.notify.webhook.as_deref().map(mask_webhook)},
            "repositories": repos,
            "job": jobs,
            "problems": self.path_problems(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
jobs = 3
metrics_file = "/tmp/m.prom"

[repository.main]
url = "/tmp/repo"
password_file = "/tmp/pw"

[job.shop]
repository = "main"
sources = ["postgres://postgres@127.0.0.1:5432/shop"]
schedule = "0 * * * *"
keep = { last = 2 }
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse_str(text: &str) -> Result<Config, FleetError> {
        parse(Path::new("t.toml"), text, &Overrides::default(), &no_env)
    }

    #[test]
    fn layers_defaults_file_env_flags() {
        let c = parse_str(BASE).unwrap();
        assert_eq!(c.jobs.value, 3);
        assert_eq!(c.jobs.origin, Origin::File(2));
        assert_eq!(c.notify.timeout.origin, Origin::Default);
        assert_eq!(c.status_file.value, None);
        let env = |k: &str| (k == "DUMPVAULT_JOBS").then(|| "5".to_string());
        let c = parse(Path::new("t"), BASE, &Overrides::default(), &env).unwrap();
        assert_eq!(
            (c.jobs.value, c.jobs.origin),
            (5, Origin::Env("DUMPVAULT_JOBS".into()))
        );
        let flags = Overrides {
            jobs: Some(7),
            ..Default::default()
        };
        let c = parse(Path::new("t"), BASE, &flags, &env).unwrap();
        assert_eq!(
            (c.jobs.value, c.jobs.origin),
            (7, Origin::Flag("--jobs".into()))
        );
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = BASE.replace("schedule =", "schedul =");
        let e = parse_str(&text).unwrap_err().to_string();
        assert!(e.contains("unknown field `schedul`"), "{e}");
        assert!(e.contains("line 12"), "{e}");
    }

    #[test]
    fn bad_values_name_their_location() {
        let e = parse_str(&BASE.replace("0 * * * *", "61 * * * *"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.toml:12:12: job \"shop\": schedule"), "{e}");
        let e = parse_str(&BASE.replace("repository = \"main\"", "repository = \"nope\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml:10:14:") && e.contains("\"nope\" is not defined"),
            "{e}"
        );
        let e = parse_str("jobs = [").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn schedules_tick() {
        let s = Schedule::parse("* * * * * *").unwrap();
        let now = jiff::Zoned::now();
        let next = s.next_after(&now).unwrap();
        assert!(next.timestamp().as_second() - now.timestamp().as_second() <= 1);
        assert!(s.due(None, &now));
        assert!(!Schedule::parse("0 3 * * *")
            .unwrap()
            .due(Some(now.timestamp().as_second()), &now));
        assert!(Schedule::parse("not cron").is_err());
    }

    #[test]
    fn min_free_space_defaults_overrides_and_errors() {
        let text = BASE.replace(
            "metrics_file = \"/tmp/m.prom\"\n",
            "metrics_file = \"/tmp/m.prom\"\nmin_free_space = \"2GiB\"\n",
        ) + "\n[repository.big]\nurl = \"/tmp/big\"\nmin_free_space = \"500M\"\n\n\
               [repository.off]\nurl = \"/tmp/off\"\nmin_free_space = \"0\"\n";
        let c = parse_str(&text).unwrap();
        assert_eq!(c.repositories["main"].min_free_space, Some(2 << 30));
        assert_eq!(c.repositories["big"].min_free_space, Some(500 << 20));
        assert_eq!(c.repositories["off"].min_free_space, None);
        assert_eq!(
            parse_str(BASE).unwrap().repositories["main"].min_free_space,
            None
        );
        let e = parse_str(&text.replace("500M", "lots"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("repository \"big\": min_free_space: \"lots\" is not a size"),
            "{e}"
        );
        assert!(e.starts_with("t.toml:"), "{e}");
        assert_eq!(parse_size("1EiB"), Ok(1 << 60));
        assert!(parse_size("16EiB").is_err());
    }

    #[test]
    fn webhook_must_be_http() {
        let c = parse_str(&format!(
            "{BASE}\n[notify]\nwebhook = \"http://127.0.0.1:9/h\"\n"
        ))
        .unwrap();
        assert_eq!(c.notify.webhook.as_deref(), Some("http://127.0.0.1:9/h"));
        let e = parse_str(&format!("{BASE}\n[notify]\nwebhook = \"ftp://x/h\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.toml:16:") && e.contains("notify.webhook"),
            "{e}"
        );
    }

    #[test]
    fn job_tag_is_the_jobs_own_and_reserved() {
        let c = parse_str(BASE).unwrap();
        assert_eq!(c.jobs_by_name["shop"].tag(), "job=shop");
        let text = BASE.replace("keep = {", "tags = [\"fleet\", \"job=crm\"]\nkeep = {");
        let e = parse_str(&text).unwrap_err().to_string();
        assert!(
            e.contains("job \"shop\": tag \"job=crm\" is reserved"),
            "{e}"
        );
    }

    #[test]
    fn masks_url_passwords() {
        assert_eq!(
            mask_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_url("/srv/repo"), "/srv/repo");
    }

    #[test]
    fn finds_url_passwords() {
        assert!(url_has_password("postgres://u:pw@h:5432/db"));
        assert!(url_has_password("mysql://root:***@h/db"));
        assert!(url_has_password(
            "postgres://h/db?sslmode=require&Password=x"
        ));
        assert!(!url_has_password("postgres://u@h:5432/db"));
        assert!(!url_has_password("postgres://h/db?user=a:b@c"));
        assert!(!url_has_password("/srv/repo"));
        assert!(!url_has_password("s3://bucket/prefix"));
    }
}
