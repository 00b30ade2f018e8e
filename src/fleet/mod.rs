//! Fleet mode: many databases backed up from one TOML configuration file.
//!
//! - [`config`]: the file format, layered settings (built-in defaults < file < `DUMPVAULT_*`
//!   environment variables < command-line flags), validation with line/column locations;
//! - [`run`]: one run of the due (or named) jobs: snapshots with bounded parallelism, retention,
//!   prune at most once per repository, copy to the off-site repository; and the daemon that
//!   runs jobs on their cron schedules;
//! - [`metrics`]: the persistent status (JSON) and the Prometheus text-format metrics file;
//! - [`notify`]: the notification command run for failed (and optionally successful) jobs.

pub mod config;
pub mod metrics;
pub mod notify;
pub mod run;

use std::path::PathBuf;

/// Errors of fleet mode that stop a run before any work: the configuration, or a file it names.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// No configuration file was given and the default one does not exist.
    #[error("no configuration file: give --config FILE, set DUMPVAULT_CONFIG, or create {0}")]
    NoConfig(PathBuf),
    /// The configuration file cannot be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the format (unknown key, wrong type);
    /// `message` holds the line and column.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line, column and the offending line.
        message: String,
    },
    /// A value is wrong (a cron expression that does not parse, an undefined repository…).
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line of the value, from 1.
        line: usize,
        /// Column of the value, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The file holds a secret but other users may read it.
    #[error("{path} holds a password but is readable by group or others (mode {mode:o}); fix it with `chmod 600 {path}` (or move the password to a password_file)")]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An environment variable or flag holds a bad value.
    #[error("{name}: {message}")]
    Setting {
        /// The variable or flag, e.g. `DUMPVAULT_JOBS` or `--jobs`.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// `run JOB` names a job the configuration does not define.
    #[error("no job named {0:?} in the configuration (`dumpvault config show` lists them)")]
    UnknownJob(String),
}
