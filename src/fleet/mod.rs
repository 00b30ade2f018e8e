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

use crate::error::{EXIT_FAILURE, EXIT_USAGE};
use crate::password::PasswordError;
use crate::units::human_bytes;
use std::path::PathBuf;

/// Errors of fleet mode: those that stop a run before any work (the configuration, or a file
/// it names), and those a run reports per job, repository or database (a password, a
/// repository that does not open, the free-space preflight, a repository operation). Each
/// maps to the one exit-code table of [`crate::error`] through [`FleetError::exit_code`].
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
    /// A cron expression (`schedule`, `prune_schedule`) does not parse.
    #[error("{expr:?} is not a cron expression: {message}")]
    Schedule {
        /// The expression as written.
        expr: String,
        /// The cron parser's message.
        message: String,
    },
    /// A repository's `password_file` cannot be read, or its `password_command` cannot be
    /// started or fails.
    #[error(transparent)]
    Password(PasswordError),
    /// A repository names no password source and `DUMPVAULT_PASSWORD` is not set.
    #[error(
        "no password: set password_file, password_command or password in the repository \
         section, or DUMPVAULT_PASSWORD"
    )]
    NoPassword,
    /// A repository of the configuration cannot be opened (its password, its location, its
    /// key files).
    #[error("repository {name:?} ({location}): {source}")]
    Repository {
        /// The repository's name in the configuration.
        name: String,
        /// Its location, a password masked.
        location: String,
        /// Why it cannot be opened.
        source: Box<FleetError>,
    },
    /// The free space of a local repository's file system cannot be read.
    #[error(
        "repository {name:?} ({location}): cannot read the free space of its file system: \
         {source}"
    )]
    FreeSpaceUnknown {
        /// The repository's name in the configuration.
        name: String,
        /// Its location, a password masked.
        location: String,
        /// The `statvfs` error.
        source: std::io::Error,
    },
    /// A snapshot into (or a copy to) a local repository is refused: its file system has less
    /// free space than the repository's `min_free_space`.
    #[error(
        "{refused} refused: repository {name:?} ({location}) has {} ({free} bytes) free on its \
         file system, below its min_free_space of {} ({floor} bytes); make room on that file \
         system (forget old snapshots with `dumpvault forget … --prune`, or move the \
         repository to a larger disk) or lower min_free_space in the configuration",
        human_bytes(*.free),
        human_bytes(*.floor)
    )]
    NoSpace {
        /// What is refused.
        refused: run::SpaceFor,
        /// The repository's name in the configuration.
        name: String,
        /// Its location, a password masked.
        location: String,
        /// Bytes free for this process, from `statvfs`.
        free: u64,
        /// The repository's `min_free_space`, bytes.
        floor: u64,
    },
    /// A repository operation (open, snapshot, forget, prune, copy) failed.
    #[error(transparent)]
    Operation(#[from] crate::Error),
}

impl From<crate::backend::LocationError> for FleetError {
    /// A repository location that names no usable storage: [`FleetError::Operation`] with the
    /// library's [`crate::Error::Location`].
    fn from(e: crate::backend::LocationError) -> Self {
        FleetError::Operation(e.into())
    }
}

impl From<PasswordError> for FleetError {
    /// [`FleetError::NoPassword`] for `DUMPVAULT_PASSWORD` unset (its message names the
    /// configuration's keys), [`FleetError::Password`] otherwise.
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::EnvUnset { .. } => FleetError::NoPassword,
            e => FleetError::Password(e),
        }
    }
}

impl FleetError {
    /// The process exit code for this error, from the one table in [`crate::error`]: a
    /// configuration, setting, password or repository that does not open is a usage error
    /// ([`EXIT_USAGE`]: nothing was done); a refused or failed snapshot is a failure
    /// ([`EXIT_FAILURE`]); a repository operation's error keeps its own code
    /// ([`crate::Error::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            FleetError::FreeSpaceUnknown { .. } | FleetError::NoSpace { .. } => EXIT_FAILURE,
            FleetError::Operation(e) => e.exit_code(),
            _ => EXIT_USAGE,
        }
    }
}
