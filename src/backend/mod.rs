//! Storage: a repository location (URL) mapped to an OpenDAL operator, and synchronous
//! read / write / list / delete of repository files by path.
//!
//! Contract: `write` is durable and atomic when it returns (the local backend writes to a
//! temporary file and renames it); a file is either absent or complete. Errors are classified so
//! callers can tell "not found" from "try again" from "give up".

mod url;

pub use url::parse_location;

use opendal::Operator;
use std::sync::{Arc, OnceLock};

/// How a backend operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The file does not exist.
    NotFound,
    /// A temporary failure (network, rate limit): retrying may help.
    Transient,
    /// Anything else: permissions, full disk, bad configuration.
    Permanent,
}

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path} in {location}: {message}")]
pub struct BackendError {
    /// What was attempted: `reading`, `writing`, `listing`, `deleting`.
    pub op: &'static str,
    /// The file or folder inside the repository.
    pub path: String,
    /// The repository location.
    pub location: String,
    /// The classification.
    pub class: ErrorClass,
    /// The storage service's message.
    pub message: String,
}

/// A repository's storage.
#[derive(Clone)]
pub struct Backend {
    op: Operator,
    location: String,
}

/// The process-wide tokio runtime that drives OpenDAL's futures.
fn runtime() -> &'static Arc<tokio::runtime::Runtime> {
    static RT: OnceLock<Arc<tokio::runtime::Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("cannot start the I/O runtime"),
        )
    })
}

impl Backend {
    /// Opens the storage at `location`: a path, `fs:///path`, `memory://`, or
    /// `s3://bucket/prefix[?endpoint=URL&region=R]` (see [`parse_location`]).
    ///
    /// Errors: [`crate::Error::Invalid`] for an unknown scheme or bad URL.
    pub fn open(location: &str) -> crate::Result<Self> {
        let _guard = runtime().enter();
        let op = parse_location(location)?;
        Ok(Backend {
            op,
            location: location.to_string(),
        })
    }

    /// The location as given by the user.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn err(&self, op: &'static str, path: &str, e: opendal::Error) -> BackendError {
        let class = match e.kind() {
            opendal::ErrorKind::NotFound => ErrorClass::NotFound,
            _ if e.is_temporary() => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        };
        BackendError {
            op,
            path: path.to_string(),
            location: self.location.clone(),
            class,
            message: e.to_string(),
        }
    }

    /// Reads a whole file.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, BackendError> {
        runtime()
            .block_on(self.op.read(path))
            .map(|b| b.to_vec())
            .map_err(|e| self.err("reading", path, e))
    }

    /// Reads `length` bytes at `offset`. A short file is an error.
    pub fn read_range(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, BackendError> {
        let buf = runtime()
            .block_on(async { self.op.read_with(path).range(offset..offset + length).await })
            .map_err(|e| self.err("reading", path, e))?;
        if buf.len() as u64 != length {
            return Err(BackendError {
                op: "reading",
                path: path.into(),
                location: self.location.clone(),
                class: ErrorClass::Permanent,
                message: format!(
                    "wanted {length} bytes at offset {offset}, got {}",
                    buf.len()
                ),
            });
        }
        Ok(buf.to_vec())
    }

    /// Writes a whole file, durably and atomically.
    pub fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        runtime()
            .block_on(self.op.write(path, bytes))
            .map(|_| ())
            .map_err(|e| self.err("writing", path, e))
    }

    /// Size of a file in bytes, or `None` when it does not exist.
    pub fn size(&self, path: &str) -> Result<Option<u64>, BackendError> {
        match runtime().block_on(self.op.stat(path)) {
            Ok(m) => Ok(Some(m.content_length())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("reading", path, e)),
        }
    }

    /// Deletes a file; deleting a missing file succeeds.
    pub fn delete(&self, path: &str) -> Result<(), BackendError> {
        runtime()
            .block_on(self.op.delete(path))
            .map_err(|e| self.err("deleting", path, e))
    }

    /// Lists the files under folder `dir` (ending in `/`), recursively: `(path, size in bytes)`.
    /// A missing folder lists as empty.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, BackendError> {
        let entries =
            match runtime().block_on(async { self.op.list_with(dir).recursive(true).await }) {
                Ok(e) => e,
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(self.err("listing", dir, e)),
            };
        let mut out = Vec::new();
        for e in entries {
            if e.metadata().is_file() {
                out.push((e.path().to_string(), e.metadata().content_length()));
            }
        }
        Ok(out)
    }
}
