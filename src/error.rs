//! The library's public error type and the exit codes the command line maps it to.
//!
//! Rules: every error names the object it is about (a repository location, a file such as
//! `data/ab/ab12…`, a snapshot, a database) and, where there is one, the next step for the user.
//! Authentication failures say "corrupt or tampered data" and nothing more specific.
//!
//! The exit-code contract, defined here and nowhere else (the command line maps every error
//! through [`exit_code_of`]):
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 ([`EXIT_OK`]) | everything worked |
//! | 1 ([`EXIT_FAILURE`]) | the operation failed (a dump, a restore, storage, a database, a repository too large for the index) |
//! | 2 ([`EXIT_USAGE`]) | usage or configuration error (no repository, no password, bad flags or URL, wrong password); nothing was done |
//! | 3 ([`EXIT_DAMAGED`]) | the repository is damaged, or locked by another process |
//! | 130 / 143 ([`EXIT_SIGINT`] / [`EXIT_SIGTERM`]) | interrupted by SIGINT / SIGTERM |
//! | 141 ([`EXIT_BROKEN_PIPE`]) | standard output was closed early |

use crate::backend::{BackendError, LocationError};
use crate::password::PasswordError;
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
        /// What is wrong, e.g. `corrupt or tampered data`; it already says the cause's text
        /// when there is a typed cause (see [`report`]).
        detail: String,
        /// The typed cause, when there is one ([`Error::corrupt_from`]).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
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
    /// The repository location names no usable storage (unknown scheme, bad URL or parameter,
    /// a configuration the storage library refuses); its message already says its cause.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// A password could not be read (its file, command, variable or prompt); its message
    /// already says its cause.
    #[error(transparent)]
    Password(#[from] PasswordError),
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
    /// The repository is larger than the in-memory index holds (about 2³¹ blobs; see
    /// the index's `IndexFull`): the command stopped. Exit code 1 ([`EXIT_FAILURE`]):
    /// the repository is not damaged, and no flag fixes it.
    #[error(
        "repository {location} is too large for dumpvault's in-memory index ({limit}); \
         the command stopped: split it (copy some snapshots to another repository with \
         `dumpvault copy`, then `forget --prune` them here)"
    )]
    IndexTooLarge {
        /// Repository location.
        location: String,
        /// Which limit its index files pass, worded for the user ("its index files list more
        /// than N blobs").
        limit: String,
    },
}

impl Error {
    /// The process exit code for this error (see the `EXIT_*` constants).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Corrupt { .. }
            | Error::UnsupportedVersion { .. }
            | Error::Locked(_)
            | Error::ConfigMissing { .. } => EXIT_DAMAGED,
            Error::Backend(e) if e.class == crate::backend::ErrorClass::Truncated => EXIT_DAMAGED,
            Error::NotARepository { .. }
            | Error::AlreadyExists { .. }
            | Error::WrongPassword { .. }
            | Error::Location(_)
            | Error::Password(_)
            | Error::Invalid(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// A usage or configuration error ([`Error::Invalid`], exit [`EXIT_USAGE`]): `msg` says
    /// what is wrong and which flag, variable or file fixes it.
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// Shorthand for [`Error::Corrupt`] without a typed cause: `detail` says what is wrong.
    pub fn corrupt(object: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            object: object.into(),
            detail: detail.to_string(),
            source: None,
        }
    }

    /// [`Error::Corrupt`] caused by the typed error `cause`: the detail is `cause`'s text (so
    /// the message is the same as [`Error::corrupt`]'s), and `cause` is kept as the error's
    /// source, for callers that downcast it.
    pub fn corrupt_from(
        object: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Corrupt {
            object: object.into(),
            detail: cause.to_string(),
            source: Some(Box::new(cause)),
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

/// The exit code for any error the command line reports, however it was wrapped (context
/// added with `anyhow`, or as the source of another error): the outermost [`Error`] in the
/// chain of sources decides (see [`Error::exit_code`]), or a [`LocationError`] not yet
/// wrapped in one (as [`Error::Location`]: [`EXIT_USAGE`]); an error with neither (a dump
/// tool, a database, a local file) is [`EXIT_FAILURE`]. The caller handles a broken pipe on
/// standard output ([`EXIT_BROKEN_PIPE`]) before asking.
pub fn exit_code_of(err: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(e) = e.downcast_ref::<Error>() {
            return e.exit_code();
        }
        if e.is::<LocationError>() {
            return EXIT_USAGE;
        }
        cur = e.source();
    }
    EXIT_FAILURE
}

/// The text the command line prints for an error: the error and each of its sources, joined
/// by `: ` (as anyhow's `{:#}` prints them), except the sources of an error whose message
/// already says them ([`says_its_sources`]).
pub fn report(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err;
    while let Some(next) = cur.source() {
        if says_its_sources(cur) {
            break;
        }
        out.push_str(": ");
        out.push_str(&next.to_string());
        cur = next;
    }
    out
}

/// Whether `e`'s message already says its sources: [`Error::Corrupt`] (its detail),
/// [`Error::Location`] and [`Error::Password`], and a [`LocationError`] or [`PasswordError`]
/// not wrapped in an [`Error`].
fn says_its_sources(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<Error>(),
        Some(Error::Corrupt { .. } | Error::Location(_) | Error::Password(_))
    ) || e.is::<LocationError>()
        || e.is::<PasswordError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("while doing it")]
    struct Wrapper(#[source] Error);

    #[test]
    fn exit_code_follows_the_chain_of_sources() {
        let usage = Wrapper(Error::usage("no repository given"));
        assert_eq!(exit_code_of(&usage), EXIT_USAGE);
        let damaged = Wrapper(Error::corrupt(
            "pack data/ab/ab12",
            "corrupt or tampered data",
        ));
        assert_eq!(exit_code_of(&damaged), EXIT_DAMAGED);
        let source = Error::Source(SourceError::Invalid("cut short".into()));
        assert_eq!(exit_code_of(&source), EXIT_FAILURE);
        let plain = std::io::Error::other("disk full");
        assert_eq!(exit_code_of(&plain), EXIT_FAILURE);
    }

    #[test]
    fn corrupt_from_keeps_its_typed_cause_and_says_it_once() {
        use crate::blob::codec::DecodeError;
        let e = Error::corrupt_from("pack data/ab/ab12 (blob cd34)", DecodeError::WrongId);
        assert_eq!(
            e.to_string(),
            "pack data/ab/ab12 (blob cd34): blob content does not match its id"
        );
        assert_eq!(
            e.to_string(),
            Error::corrupt("pack data/ab/ab12 (blob cd34)", DecodeError::WrongId).to_string()
        );
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        assert!(matches!(
            cause.downcast_ref::<DecodeError>(),
            Some(DecodeError::WrongId)
        ));
        assert_eq!(exit_code_of(&e), EXIT_DAMAGED);
        // Wrapped, the chain still reaches the typed cause; printed, it is said once.
        let wrapped = Wrapper(e);
        let mut chain = Some(&wrapped as &(dyn std::error::Error + 'static));
        let mut found = false;
        while let Some(c) = chain {
            found |= c.downcast_ref::<DecodeError>().is_some();
            chain = c.source();
        }
        assert!(found);
        assert_eq!(
            report(&wrapped),
            "while doing it: pack data/ab/ab12 (blob cd34): blob content does not match its id"
        );
        let plain = Error::corrupt("config", "corrupt or tampered data");
        assert!(std::error::Error::source(&plain).is_none());
    }

    /// A bad location is a usage error (exit 2) with the message it had as `Error::Invalid`,
    /// its cause said once, whether it reaches the command line as an [`Error`] or straight
    /// from `Backend::open` (`?` into `anyhow`), and its typed cause stays in the chain.
    #[test]
    fn a_bad_location_is_a_usage_error_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a folder").unwrap();
        for loc in ["ftp://x/y".to_string(), format!("{}/repo", file.display())] {
            let typed = crate::backend::Backend::open(&loc).err().expect("refused");
            let text = typed.to_string();
            assert!(text.starts_with(&format!("repository location {loc:?}: ")));
            let has_cause = std::error::Error::source(&typed).is_some();
            assert_eq!(has_cause, loc.starts_with('/'), "{typed:?}");
            let raw = anyhow::Error::new(typed).context("opening");
            assert_eq!(exit_code_of(raw.as_ref()), EXIT_USAGE);
            assert_eq!(report(raw.as_ref()), format!("opening: {text}"));
            let typed = crate::backend::Backend::open(&loc).err().expect("refused");
            let e = Error::from(typed);
            assert!(matches!(e, Error::Location(_)));
            assert_eq!(e.exit_code(), EXIT_USAGE);
            assert_eq!(e.to_string(), text);
            let wrapped = Wrapper(e);
            assert_eq!(exit_code_of(&wrapped), EXIT_USAGE);
            assert_eq!(report(&wrapped), format!("while doing it: {text}"));
            if has_cause {
                let cause = std::error::Error::source(&wrapped.0).expect("cause kept");
                assert!(
                    cause.downcast_ref::<opendal::Error>().is_some(),
                    "{cause:?}"
                );
            }
        }
    }

    /// A password that cannot be read is a usage error (exit 2) whose text is the
    /// [`PasswordError`]'s, its cause (an I/O error) said once.
    #[test]
    fn a_password_error_is_a_usage_error_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pass");
        let source = crate::password::PasswordSource::File(missing);
        let pe = source.read("password").unwrap_err();
        let text = pe.to_string();
        let e = Error::from(pe);
        assert!(matches!(e, Error::Password(PasswordError::File { .. })));
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert_eq!(e.to_string(), text);
        let wrapped = Wrapper(e);
        assert_eq!(exit_code_of(&wrapped), EXIT_USAGE);
        assert_eq!(report(&wrapped), format!("while doing it: {text}"));
        let prompt = Error::from(PasswordError::Prompt(std::io::Error::other("tty gone")));
        assert_eq!(prompt.exit_code(), EXIT_USAGE);
        assert_eq!(report(&prompt), "tty gone");
    }

    #[test]
    fn report_joins_the_chain_like_anyhow() {
        let e = anyhow::Error::new(Error::usage("no repository given")).context("opening");
        assert_eq!(report(e.as_ref()), format!("{e:#}"));
        assert_eq!(report(e.as_ref()), "opening: no repository given");
    }
}
