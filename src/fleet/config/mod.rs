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

//!
//! The module's parts: `file` holds the TOML shapes and finds, reads and checks the file;
//! `resolve` turns the file into the effective [`Config`] (defaults, inheritance from the
//! top level, the environment and flags over the file, validation with locations); `show`
//! holds the `config show` view and the masking of secrets in messages. It never runs jobs
//! nor notifies (that is `fleet::run` and `fleet::notify`, above it).

mod file;
mod resolve;
mod show;
#[cfg(test)]
mod tests;

pub use file::{load, locate};
pub use resolve::parse;
pub use show::{mask_url, mask_webhook, url_has_password};

use super::FleetError;
use crate::password;
use crate::retention::Policy;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where the configuration file is looked for when neither `--config` nor `DUMPVAULT_CONFIG`
/// is given.
pub const DEFAULT_PATH: &str = "/etc/dumpvault/dumpvault.toml";
/// Default time a notification command may run, in seconds.
pub const DEFAULT_NOTIFY_TIMEOUT_SECS: u64 = 30;

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

/// How a repository's password is obtained, as the configuration declares it (one of
/// `password`, `password_file`, `password_command`, or none: `DUMPVAULT_PASSWORD`). Reading it
/// is [`crate::password::PasswordSource`]'s, with the same rules as the command line's.
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

    /// The engine's source for this declaration.
    pub fn source(&self) -> password::PasswordSource {
        match self {
            PasswordSource::Inline(p) => password::PasswordSource::Inline(p.clone()),
            PasswordSource::File(f) => password::PasswordSource::File(f.clone()),
            PasswordSource::Command(c) => password::PasswordSource::Command(c.clone()),
            PasswordSource::Env => password::PasswordSource::Env("DUMPVAULT_PASSWORD".into()),
        }
    }

    /// Reads the password: the inline one, the first line of the file or of the command's
    /// output (its standard error passes through), or `DUMPVAULT_PASSWORD`.
    ///
    /// Errors: [`FleetError::Password`] (the file, the command),
    /// [`FleetError::NoPassword`] (`DUMPVAULT_PASSWORD` unset).
    pub fn get(&self) -> Result<Zeroizing<String>, FleetError> {
        Ok(self.source().read("password")?)
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
    /// Parses a cron expression.
    ///
    /// Errors: [`FleetError::Schedule`] with the parser's message.
    pub fn parse(expr: &str) -> Result<Self, FleetError> {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expr)
            .map_err(|e| FleetError::Schedule {
                expr: expr.to_string(),
                message: e.to_string(),
            })?;
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

pub use crate::units::parse_size;
