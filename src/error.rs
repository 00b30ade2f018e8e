//! The library's public error type and the exit codes the command line maps it to.
//!
//! Rules: every error names the object it is about (a repository location, a file such as
//! `data/ab/ab12…`, a snapshot, a database) and, where there is one, the next step for the user.
//! Authentication failures say "corrupt or tampered data" and nothing more specific.

use crate::backend::BackendError;
use crate::source::SourceError;

/// Exit code: everything worked.
pub const EXIT_OK: i32 = 0;
/// Exit code: the work failed (a dump failed, a restore failed, some databases failed).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: bad usage, configuration or password; nothing was done.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the repository is damaged, or locked by another process.
pub const EXIT_DAMAGED: i32 = 3;
/// Exit code: interrupted by SIGINT (Ctrl-C), 128 + 2 as a shell reports it. The dump tools
/// were killed, this process's locks and temporary files removed.
pub const EXIT_SIGINT: i32 = 130;
/// Exit code: standard output was closed early (`dumpvault … | head`), 128 + 13 (SIGPIPE) as a
/// shell reports a process killed by it; nothing is printed.
pub const EXIT_BROKEN_PIPE: i32 = 141;
/// Exit code: interrupted by SIGTERM, 128 + 15 as a shell reports it; cleaned up as for
/// [`EXIT_SIGINT`].
pub const EXIT_SIGTERM: i32 = 143;

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, at the library boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location holds no dumpvault repository.
    #[error(
        "{location} is not a dumpvault repository ({reason}); create one with `dumpvault init`"
    )]
    NotARepository {
        /// Repository location as given.
        location: String,
        /// Why it is not one.
        reason: String,
    },
    /// The location holds repository objects (keys, packs, index files, snapshots) but no
    /// `config`: the repository lost its config and must not be initialised over.
    #[error(
        "{location} holds a dumpvault repository ({found}) but its `config` file is missing; \
         do not run `dumpvault init` there (a new master key would make every object \
         unreadable): rebuild the config with `dumpvault repair config`, which needs the \
         password of one of its key files"
    )]
    ConfigMissing {
        /// Repository location as given.
        location: String,
        /// What was found, e.g. `1 key file, 3 packs, 1 index file, 2 snapshots`.
        found: String,
    },
    /// `init` on a location that already holds a repository.
    #[error("{location} already holds a dumpvault repository; refusing to overwrite it")]
    AlreadyExists {
        /// Repository location as given.
        location: String,
    },
    /// No key file opens with the password.
    #[error("wrong password: no key file in {location} opens with it")]
    WrongPassword {
        /// Repository location.
        location: String,
    },
    /// A stored object failed authentication, its name does not match its content, or it does
    /// not decode.
    #[error("{object}: {detail}")]
    Corrupt {
        /// The object, e.g. `pack data/ab/ab12…` or `snapshot 1a2b3c4d`.
        object: String,
        /// What is wrong, e.g. `corrupt or tampered data`.
        detail: String,
    },
    /// The object was written by a newer, unknown format version.
    #[error("{object} has format version {found}, this dumpvault reads up to {supported}; upgrade dumpvault")]
    UnsupportedVersion {
        /// The object.
        object: String,
        /// Version found.
        found: u32,
        /// Highest version this build reads.
        supported: u32,
    },
    /// Storage failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A dump source or restore target failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A named thing (snapshot, blob) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The repository is locked by another process.
    #[error("{0}")]
    Locked(String),
    /// Local I/O failed (reading stdin, writing the restore target).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The request is invalid as given.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The process exit code for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Locked(_)
            | Error::ConfigMissing { .. } => EXIT_DAMAGED,
            Error::NotARepository { .. }
            | Error::AlreadyExists { .. }
            | Error::WrongPassword { .. }
            | Error::Invalid(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// Shorthand for [`Error::Corrupt`].
    pub fn corrupt(object: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            object: object.into(),
            detail: detail.to_string(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
