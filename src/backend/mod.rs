//! Storage: a repository location (URL) mapped to an OpenDAL operator, and synchronous
//! read / write / list / delete of repository files by path.
//!
//! Contract: `write` is durable and atomic when it returns (the local backend writes to a
//! temporary file and renames it); a file is either absent or complete. Errors are classified so
//! callers can tell "not found" from "try again" from "give up".

mod cache;
mod limits;
mod local;
mod stats;
mod url;

pub use cache::{default_cache_dir, set_cache, CacheSettings, CACHED, DEFAULT_MAX_SIZE};
pub use limits::{set_limits, Limits};
pub use local::{remove_own_temp_files, snapshots_written, TempCleanup, DIR_MODE, FILE_MODE};
pub use stats::{request_stats, Count, Counts, RequestStats};
pub use url::{parse_location, LocationError};

use opendal::layers::RetryLayer;
use opendal::Operator;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts after the first for an operation that failed transiently (network error, HTTP 5xx,
/// rate limiting), with exponential backoff from [`RETRY_MIN_DELAY`] up to [`RETRY_MAX_DELAY`]
/// and jitter: about 15 s in all before the error is reported.
pub const RETRIES: usize = 5;
/// First backoff delay.
pub const RETRY_MIN_DELAY: Duration = Duration::from_millis(500);
/// Longest backoff delay.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(20);

/// How a backend operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The file does not exist.
    NotFound,
    /// A temporary failure (network, rate limit): retrying may help.
    Transient,
    /// Anything else: permissions, full disk, bad configuration.
    Permanent,
    /// A range read past the end of the file: the file is shorter than the repository's index
    /// says (cut short by damage). The repository is damaged (exit 3, `dumpvault check`).
    Truncated,
}

/// What a [`ErrorClass::Truncated`] read says after the byte counts.
const TRUNCATED: &str = "the file is shorter than the repository's index says (damaged); \
    run `dumpvault check`";

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
    /// Set for a local directory: writes go through [`local::Local`] (private modes, own
    /// temporary files) instead of OpenDAL.
    local: Option<local::Local>,
    /// The local cache of this repository's immutable files, once attached
    /// ([`Backend::with_cache`]).
    cache: Option<Arc<cache::Cache>>,
}

/// The process-wide tokio runtime that drives OpenDAL's futures; started on first use, and
/// again after [`shutdown`].
static RT: Mutex<Option<Arc<tokio::runtime::Runtime>>> = Mutex::new(None);

fn runtime() -> Arc<tokio::runtime::Runtime> {
    let mut rt = RT.lock().unwrap_or_else(|p| p.into_inner());
    rt.get_or_insert_with(|| {
        Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("cannot start the I/O runtime"),
        )
    })
    .clone()
}

/// Stops the I/O runtime once no call is using it, dropping its background tasks and so the
/// connections they hold. Call it when the command is done with storage: an SFTP connection
/// is an `ssh` control master started with `ControlPersist=yes`, which outlives the process
/// unless its session is dropped (its drop sends `ssh -O exit`). A later storage call starts
/// a new runtime.
///
/// A call still running on another thread (a background index load that the command no longer
/// needs) holds the runtime: shutdown waits for it up to [`SHUTDOWN_WAIT`], checking every
/// 10 ms, then gives up (the connection then ends with the process's last storage call).
pub fn shutdown() {
    let deadline = std::time::Instant::now() + SHUTDOWN_WAIT;
    loop {
        let mut slot = RT.lock().unwrap_or_else(|p| p.into_inner());
        let Some(rt) = slot.take() else {
            return;
        };
        match Arc::try_unwrap(rt) {
            Ok(rt) => {
                drop(slot);
                return rt.shutdown_timeout(Duration::from_secs(5));
            }
            Err(shared) if std::time::Instant::now() < deadline => {
                // Put it back for the running call, and look again shortly.
                *slot = Some(shared);
                drop(slot);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
}

/// How long [`shutdown`] waits for storage calls still running on other threads.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);

impl Backend {
    /// Opens the storage at `location`: a path, `fs:///path`, `memory://`, `s3://`, `gcs://`,
    /// `azblob://`, `sftp://` or `webdav://` (see [`parse_location`]). Transient failures are
    /// retried [`RETRIES`] times with backoff; transfers obey the process's [`Limits`].
    ///
    /// Errors: [`LocationError`] for an unknown scheme, a bad URL or parameter, or a service
    /// configuration the storage library refuses (the library's error maps it to a usage
    /// error, exit 2).
    pub fn open(location: &str) -> Result<Self, LocationError> {
        let _guard = runtime().enter();
        // A missing local root is not created here (a read-only command must leave no
        // folder behind): the first write creates it, mode 0700.
        let local = url::local_root(location).map(local::Local::new);
        let op = parse_location(location)?.layer(
            RetryLayer::new()
                .with_max_times(RETRIES)
                .with_min_delay(RETRY_MIN_DELAY)
                .with_max_delay(RETRY_MAX_DELAY)
                .with_jitter(),
        );
        Ok(Backend {
            op,
            location: location.to_string(),
            local,
            cache: None,
        })
    }

    /// This storage with the local cache of repository `repository_id` attached (see
    /// [`cache`]: index files, snapshot manifests and catalogue files are then read from the
    /// cache when it holds them, and list blobs through [`Backend::cached_list_blob`]), when
    /// the process's [`CacheSettings`] enable it and the storage is remote; otherwise unchanged. Never fails: without a usable cache folder the
    /// storage is used uncached (with a warning).
    pub fn with_cache(mut self, repository_id: &str) -> Self {
        let remote = self.local.is_none() && self.op.info().scheme() != "memory";
        self.cache = if remote {
            cache::Cache::open(repository_id)
        } else {
            None
        };
        self
    }

    /// Whether this is a directory on a local file system (which has a `.tmp/` folder).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Removes the partial files in `.tmp/` (left by killed writers) last modified before
    /// `cutoff`, except those this process is writing. Does nothing on remote backends, which
    /// have no temporary files. Callers pick a cutoff no live writer can predate (see
    /// [`crate::repository::lock::remove_stale_temp_files`]).
    ///
    /// Errors: listing or deleting failed (permissions).
    pub fn remove_temp_files_before(
        &self,
        cutoff: std::time::SystemTime,
    ) -> Result<TempCleanup, BackendError> {
        match &self.local {
            None => Ok(TempCleanup::default()),
            Some(l) => l
                .remove_temp_files_before(cutoff)
                .map_err(|e| self.io_err("deleting", local::TEMP_DIR, e)),
        }
    }

    fn io_err(&self, op: &'static str, path: &str, e: std::io::Error) -> BackendError {
        BackendError {
            op,
            path: path.to_string(),
            location: self.location.clone(),
            class: match e.kind() {
                std::io::ErrorKind::NotFound => ErrorClass::NotFound,
                _ => ErrorClass::Permanent,
            },
            message: e.to_string(),
        }
    }

    /// The location as given by the user.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn err(&self, op: &'static str, path: &str, e: opendal::Error) -> BackendError {
        let class = match e.kind() {
            opendal::ErrorKind::NotFound if service_code(&e).as_deref() != Some("NoSuchBucket") => {
                ErrorClass::NotFound
            }
            opendal::ErrorKind::RangeNotSatisfied => ErrorClass::Truncated,
            _ if e.is_temporary() => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        };
        BackendError {
            op,
            path: path.to_string(),
            location: self.location.clone(),
            class,
            message: describe(&e),
        }
    }

    /// Reads a whole file (from the cache when one is attached and holds a verified copy; no
    /// request is made then).
    pub fn read(&self, path: &str) -> Result<Vec<u8>, BackendError> {
        if let Some(b) = self.cache.as_ref().and_then(|c| c.get(path)) {
            return Ok(b);
        }
        let mut req = stats::request(stats::Kind::Read, path, 0);
        let b = match &self.local {
            Some(l) => l.read(path).map_err(|e| self.io_err("reading", path, e)),
            None => (runtime().block_on(self.op.read(path)))
                .map(|b| b.to_vec())
                .map_err(|e| self.err("reading", path, e)),
        };
        req.bytes(b.as_ref().map_or(0, |b| b.len() as u64));
        let b = b?;
        limits::downloaded(b.len() as u64);
        if let Some(c) = &self.cache {
            c.put(path, &b);
        }
        Ok(b)
    }

    /// Reads `length` bytes at `offset`. A short file is an error.
    pub fn read_range(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, BackendError> {
        let mut req = stats::request(stats::Kind::Read, path, 0);
        let buf = match &self.local {
            Some(l) => {
                (l.read_range(path, offset, length)).map_err(|e| self.io_err("reading", path, e))
            }
            None => (runtime()
                .block_on(async { self.op.read_with(path).range(offset..offset + length).await }))
            .map(|b| b.to_vec())
            .map_err(|e| self.err("reading", path, e)),
        };
        req.bytes(buf.as_ref().map_or(0, |b| b.len() as u64));
        let buf = buf?;
        limits::downloaded(buf.len() as u64);
        if buf.len() as u64 != length {
            return Err(BackendError {
                op: "reading",
                path: path.into(),
                location: self.location.clone(),
                class: ErrorClass::Truncated,
                message: format!(
                    "wanted {length} bytes at offset {offset}, got {}: {TRUNCATED}",
                    buf.len()
                ),
            });
        }
        Ok(buf)
    }

    /// Writes a whole file, durably and atomically. On a local directory the file gets mode
    /// 0600 and new folders 0700, whatever the umask; once the process is stopping on a signal
    /// ([`remove_own_temp_files`]) local writes fail.
    pub fn write(&self, path: &str, bytes: Vec<u8>) -> Result<(), BackendError> {
        limits::uploading(bytes.len() as u64);
        let _req = stats::request(stats::Kind::Write, path, bytes.len() as u64);
        if let Some(l) = &self.local {
            return l
                .write(path, &bytes)
                .map_err(|e| self.io_err("writing", path, e));
        }
        let cached = (self.cache.as_ref())
            .filter(|c| c.wants(path))
            .map(|c| (c, bytes.clone()));
        // Sealed bytes, whatever the file: say so where the service records a type (GCS
        // otherwise records none, and some servers then answer with a null type).
        let typed = self.op.info().capability().write_with_content_type;
        runtime()
            .block_on(async {
                let w = self.op.write_with(path, bytes);
                if typed {
                    w.content_type("application/octet-stream").await
                } else {
                    w.await
                }
            })
            .map(|_| local::count_snapshot(path))
            .map_err(|e| self.err("writing", path, e))?;
        if let Some((c, bytes)) = cached {
            c.put(path, &bytes);
        }
        Ok(())
    }

    /// Size of a file in bytes, or `None` when it does not exist.
    pub fn size(&self, path: &str) -> Result<Option<u64>, BackendError> {
        let _req = stats::request(stats::Kind::Stat, path, 0);
        match runtime().block_on(self.op.stat(path)) {
            Ok(m) => Ok(Some(m.content_length())),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("reading", path, e)),
        }
    }

    /// Deletes a file; deleting a missing file succeeds.
    pub fn delete(&self, path: &str) -> Result<(), BackendError> {
        let _req = stats::request(stats::Kind::Delete, path, 0);
        if let Some(c) = &self.cache {
            c.remove(path);
        }
        runtime()
            .block_on(self.op.delete(path))
            .map_err(|e| self.err("deleting", path, e))
    }

    /// Lists the files under folder `dir` (ending in `/`), recursively: `(path, size in bytes)`.
    /// A missing folder lists as empty. With a cache attached, listing a cached folder removes
    /// the cache entries it no longer shows (or shows with another size).
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>, BackendError> {
        let _req = stats::request(stats::Kind::List, dir, 0);
        if let Some(local) = &self.local {
            return (local.list(dir)).map_err(|e| self.io_err("listing", dir, e));
        }
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
        if let Some(c) = &self.cache {
            c.retain(dir, &out);
        }
        Ok(out)
    }
}

/// The storage service's error code when it sent one (S3's `NoSuchBucket`, `AccessDenied`…).
fn service_code(e: &opendal::Error) -> Option<String> {
    let full = format!("{e:?}");
    let start = full.find("code: \"")? + "code: \"".len();
    let len = full[start..].find('"')?;
    Some(full[start..start + len].to_string())
}

/// A one-line description of a storage error, with a hint for the common configuration
/// mistakes (missing bucket, rejected credentials) instead of OpenDAL's full request context.
fn describe(e: &opendal::Error) -> String {
    let code = service_code(e);
    let hint = match code.as_deref() {
        Some("NoSuchBucket") | Some("ContainerNotFound") => {
            Some("the bucket (container) does not exist: create it first")
        }
        Some("InvalidAccessKeyId")
        | Some("SignatureDoesNotMatch")
        | Some("InvalidClientTokenId")
        | Some("AuthenticationFailed")
        | Some("ExpiredToken") => {
            Some("the credentials were rejected: check the access key and secret (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
        }
        _ if e.kind() == opendal::ErrorKind::PermissionDenied => {
            Some("permission denied: check the credentials and their rights on this location")
        }
        _ if e.kind() == opendal::ErrorKind::RangeNotSatisfied => Some(TRUNCATED),
        _ => None,
    };
    let mut msg = format!("{}", e.kind());
    if let Some(c) = &code {
        msg.push_str(&format!(" ({c})"));
    }
    match hint {
        Some(h) => msg.push_str(&format!(": {h}")),
        None => {
            msg.push_str(": ");
            msg.push_str(e.message());
            if let Some(src) = std::error::Error::source(e) {
                let s = src.to_string();
                let s = s.lines().next().unwrap_or("");
                if !s.is_empty() {
                    msg.push_str(&format!(": {}", s.chars().take(300).collect::<String>()));
                }
            }
        }
    }
    msg
}
