//! Backend request accounting (`--stats-backend`): every request a [`super::Backend`] makes,
//! counted process-wide by kind (list, read, stat, write, delete), with the bytes moved, in
//! total and per top-level repository folder (`data`, `index`, `snapshots`, `locks`, …).
//!
//! Counted at the `Backend` wrapper, which the local directory and every OpenDAL service go
//! through, once per call: a transient failure retried by OpenDAL's retry layer counts once,
//! and a listing counts once however many pages the service returns. A failed request counts
//! too (it was made); bytes count only what was transferred. So the counts are deterministic
//! for a given repository state and command, where latency is not. Each request is also
//! logged at debug level (`-vv`): op, path, bytes and milliseconds ([`request`]).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Requests of one kind and the bytes they moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Number of requests.
    pub requests: u64,
    /// Payload bytes moved: read for `read`, written for `write`, 0 for the others.
    pub bytes: u64,
}

/// Requests of every kind, for the whole process or one folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Listings of a folder (one per call, whatever the number of pages).
    pub list: Count,
    /// Reads of a whole file or of a byte range.
    pub read: Count,
    /// Size look-ups (`HEAD`/`stat`).
    pub stat: Count,
    /// Writes of a whole file.
    pub write: Count,
    /// Deletions of a file.
    pub delete: Count,
}

impl Counts {
    fn get(&mut self, kind: Kind) -> &mut Count {
        match kind {
            Kind::List => &mut self.list,
            Kind::Read => &mut self.read,
            Kind::Stat => &mut self.stat,
            Kind::Write => &mut self.write,
            Kind::Delete => &mut self.delete,
        }
    }

    /// All requests, of every kind.
    pub fn total_requests(&self) -> u64 {
        self.list.requests
            + self.read.requests
            + self.stat.requests
            + self.write.requests
            + self.delete.requests
    }
}

/// What the process asked of its backends so far (all backends together: a `copy` counts
/// both repositories).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// Totals.
    #[serde(flatten)]
    pub total: Counts,
    /// The same, per top-level folder of the path (`data`, `index`, `snapshots`, `keys`,
    /// `locks`, `config`…; a file at the root is its own name).
    pub by_folder: BTreeMap<String, Counts>,
}

impl RequestStats {
    /// One line per kind, for `--stats-backend` on standard error.
    pub fn to_text(&self) -> String {
        let t = &self.total;
        format!(
            "backend requests: {} in all; list {}, read {} ({} bytes), stat {}, write {} ({} bytes), delete {}",
            t.total_requests(),
            t.list.requests,
            t.read.requests,
            t.read.bytes,
            t.stat.requests,
            t.write.requests,
            t.write.bytes,
            t.delete.requests,
        )
    }
}

/// A kind of backend request.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    List,
    Read,
    Stat,
    Write,
    Delete,
}

static STATS: Mutex<Option<RequestStats>> = Mutex::new(None);

/// The folder a path is counted under: its first component.
fn folder(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    let first = p.split('/').next().unwrap_or("");
    if first.is_empty() {
        "/"
    } else {
        first
    }
}

/// Counts one request of `kind` on `path` that moved `bytes`.
pub(super) fn record(kind: Kind, path: &str, bytes: u64) {
    let mut guard = STATS.lock().unwrap_or_else(|p| p.into_inner());
    let s = guard.get_or_insert_with(RequestStats::default);
    for c in [
        s.total.get(kind),
        s.by_folder
            .entry(folder(path).to_string())
            .or_default()
            .get(kind),
    ] {
        c.requests += 1;
        c.bytes += bytes;
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Read => "read",
            Kind::Stat => "stat",
            Kind::Write => "write",
            Kind::Delete => "delete",
        }
    }
}

/// One request being made: when dropped (the request done, or failed), it is counted
/// ([`record`]) and logged at debug level (`-vv`) with its kind, path, bytes and duration.
pub(super) struct Request<'a> {
    kind: Kind,
    path: &'a str,
    bytes: u64,
    started: Instant,
}

/// Starts timing a request of `kind` on `path` that moves `bytes` (set later with
/// [`Request::bytes`] for a read). Bind it to a name: it counts when dropped.
pub(super) fn request(kind: Kind, path: &str, bytes: u64) -> Request<'_> {
    Request {
        kind,
        path,
        bytes,
        started: Instant::now(),
    }
}

impl Request<'_> {
    /// Sets the bytes the request moved.
    pub(super) fn bytes(&mut self, bytes: u64) {
        self.bytes = bytes;
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        record(self.kind, self.path, self.bytes);
        tracing::debug!(
            op = self.kind.name(),
            path = self.path,
            bytes = self.bytes,
            ms = self.started.elapsed().as_millis() as u64,
            "backend request"
        );
    }
}

/// The requests this process made to its backends so far.
pub fn request_stats() -> RequestStats {
    STATS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_the_first_path_component() {
        assert_eq!(folder("data/ab/abcd"), "data");
        assert_eq!(folder("/index/x"), "index");
        assert_eq!(folder("config"), "config");
        assert_eq!(folder(""), "/");
    }
}
