//! Dump sources: where the bytes of a snapshot come from (stdin, a command, or a database dumped by
//! dumpvault itself) and the description of that source recorded in the snapshot manifest.
//!
//! A source is a [`std::io::Read`] that yields the dump, plus [`DumpSource::finish`], called after
//! the reader hit end of file, which reports whether the dump completed. A dump is only stored as
//! a snapshot when `finish` returns `Ok`: a dump tool that exited non-zero or was killed must never
//! look like a good backup.

pub use crate::format::source::{
    database_of_stream, Dialect, SourceInfo, PATH_OPTION, SERVER_OPTION,
};

/// Errors of a dump source or a database restore target.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A tool could not be started (not installed, not executable).
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// The program that could not be started.
        tool: String,
        /// Underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// A dump or restore tool ran but failed; `stderr` holds its (trimmed) error output.
    #[error("{what} failed ({status}): {stderr}")]
    Failed {
        /// What was being done, naming the database, e.g. `pg_dump of database "shop"`.
        what: String,
        /// Exit status description, e.g. `exit code 1` or `killed by signal 9`.
        status: String,
        /// The tool's standard error, trimmed to a reasonable length.
        stderr: String,
    },
    /// A database query or connection failed.
    #[error("{what}: {message}")]
    Database {
        /// What was being done, naming the database.
        what: String,
        /// The server's or client's message.
        message: String,
    },
    /// Reading or writing dump bytes failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The request cannot be carried out as given (bad URL, missing tool version, refused overwrite).
    #[error("{0}")]
    Invalid(String),
}

/// A dump being read. Dropping a source before `finish` must stop any child process it started.
pub trait DumpSource: std::io::Read + Send {
    /// Describes the source as far as known before the dump completes.
    fn info(&self) -> SourceInfo;
    /// Called after `read` returned end of file: waits for the dump to complete and returns the
    /// final description, or the error that makes this dump unusable (non-zero exit, signal,
    /// database error). Only then may a snapshot be written.
    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError>;
}

pub mod command;
pub mod database;
pub mod mysql;
pub mod pipe;
pub mod postgres;
pub mod sqlite;
pub mod stdin;
#[cfg(test)]
pub(crate) mod testdb;
pub(crate) mod url;
