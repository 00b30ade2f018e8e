//! What fleet mode remembers between runs (the JSON status file) and what it tells monitoring
//! (a Prometheus text-format file for node_exporter's textfile collector). Both are written
//! atomically: to a temporary file in the same folder, then renamed over the old one.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Errors writing the status or metrics file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file.
    pub path: String,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The last known state of one database of one job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DatabaseState {
    /// Job name.
    pub job: String,
    /// Database name.
    pub database: String,
    /// Engine (`postgres`, `mysql`, `sqlite`; empty in status files of older versions).
    #[serde(default)]
    pub engine: String,
    /// Server `HOST:PORT`, or the SQLite file (empty in status files of older versions).
    #[serde(default)]
    pub server: String,
    /// The database's identity in its snapshots (`postgres db1:5432/shop`), which counts its
    /// snapshots apart from another server's database of the same name.
    #[serde(default)]
    pub identity: String,
    /// Repository name.
    pub repository: String,
    /// `ok` or `failed` (of the last attempt).
    pub status: String,
    /// Last attempt, Unix seconds.
    pub last_attempt: i64,
    /// Time recorded in the last successful snapshot, Unix seconds.
    pub last_success: Option<i64>,
    /// Id of the last successful snapshot (hex).
    pub last_snapshot: Option<String>,
    /// Duration of the last successful snapshot, milliseconds.
    pub last_duration_ms: u64,
    /// Bytes of dump read by the last successful snapshot.
    pub bytes_read: u64,
    /// Bytes the last successful snapshot added to the repository (packed, after dedup).
    pub bytes_added: u64,
    /// Snapshots of this database that this job made (tagged `job=NAME`) in the repository
    /// after the last run.
    pub snapshots: u64,
    /// Error of the last attempt, if it failed.
    pub error: Option<String>,
}

/// The last known state of a repository.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepositoryState {
    /// Stored bytes (all files of the repository) after the last run.
    pub size_bytes: u64,
    /// Last prune, Unix seconds.
    pub last_prune: Option<i64>,
}

/// The last known state of a job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobState {
    /// Start of its last run, Unix seconds.
    pub last_start: i64,
    /// `ok` or `failed`.
    pub status: String,
    /// Errors of its last run.
    pub errors: Vec<String>,
}

/// Everything the status file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// When it was last written (RFC 3339).
    pub updated: String,
    /// Jobs by name.
    pub jobs: BTreeMap<String, JobState>,
    /// Databases by [`database_key`]: job, engine, server and database.
    pub databases: BTreeMap<String, DatabaseState>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, RepositoryState>,
}

/// A per-database metric: name, type, help text, and how to read it from the state.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&DatabaseState) -> Option<f64>,
);

impl State {
    /// Reads the status file; a missing file is an empty state. A damaged file is reported
    /// on stderr and replaced by an empty state (it only holds what the next run rewrites).
    pub fn load(path: &Path) -> State {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                eprintln!(
                    "dumpvault: warning: status file {} is unreadable ({e}); starting afresh",
                    path.display()
                );
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    /// Writes the status file atomically. Errors: [`WriteError`].
    pub fn save(&self, path: &Path) -> Result<(), WriteError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| WriteError {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(path, &bytes)
    }

    /// The Prometheus text exposition of this state.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let per_db: [Metric; 6] = [
            (
                "dumpvault_last_success_timestamp_seconds",
                "gauge",
                "Time of the last successful snapshot (Unix seconds).",
                |d| d.last_success.map(|t| t as f64),
            ),
            (
                "dumpvault_last_duration_seconds",
                "gauge",
                "Duration of the last successful snapshot.",
                |d| d.last_success.map(|_| d.last_duration_ms as f64 / 1000.0),
            ),
            (
                "dumpvault_last_bytes_read",
                "gauge",
                "Dump bytes read by the last successful snapshot.",
                |d| d.last_success.map(|_| d.bytes_read as f64),
            ),
            (
                "dumpvault_last_bytes_added",
                "gauge",
                "Bytes the last successful snapshot added to the repository.",
                |d| d.last_success.map(|_| d.bytes_added as f64),
            ),
            (
                "dumpvault_snapshots",
                "gauge",
                "Snapshots of the database that the job made (tagged job=NAME) in the repository.",
                |d| Some(d.snapshots as f64),
            ),
            (
                "dumpvault_last_run_success",
                "gauge",
                "1 if the last attempt succeeded, else 0.",
                |d| Some(if d.status == "ok" { 1.0 } else { 0.0 }),
            ),
        ];
        for (name, kind, help, f) in per_db {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for d in self.databases.values() {
                if let Some(v) = f(d) {
                    out.push_str(&format!(
                        "{name}{{job=\"{}\",database=\"{}\",engine=\"{}\",server=\"{}\",\
                         repository=\"{}\"}} {v}\n",
                        escape(&d.job),
                        escape(&d.database),
                        escape(&d.engine),
                        escape(&d.server),
                        escape(&d.repository)
                    ));
                }
            }
        }
        let name = "dumpvault_repository_size_bytes";
        out.push_str(&format!(
            "# HELP {name} Bytes stored in the repository.\n# TYPE {name} gauge\n"
        ));
        for (r, s) in &self.repositories {
            out.push_str(&format!(
                "{name}{{repository=\"{}\"}} {}\n",
                escape(r),
                s.size_bytes
            ));
        }
        out
    }
}

/// The key of a database in [`State::databases`]: `job/engine/server/database`, e.g.
/// `nightly/postgres/db1:5432/shop`, so that two servers' `shop` in one job are apart.
pub fn database_key(job: &str, engine: &str, server: &str, database: &str) -> String {
    format!("{job}/{engine}/{server}/{database}")
}

/// Escapes a Prometheus label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `bytes` to a temporary file next to `path`, flushes it, and renames it over `path`,
/// so readers see the old or the new file, never a partial one. Errors: [`WriteError`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".dumpvault-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Readable by the node_exporter user, like a file written with the usual umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_and_atomic_write() {
        let mut s = State::default();
        s.databases.insert(
            "j/shop".into(),
            DatabaseState {
                job: "j".into(),
                database: "sh\"op".into(),
                engine: "postgres".into(),
                server: "db1:5432".into(),
                repository: "main".into(),
                status: "ok".into(),
                last_success: Some(1_700_000_000),
                last_duration_ms: 1500,
                bytes_read: 10,
                bytes_added: 4,
                snapshots: 3,
                ..Default::default()
            },
        );
        s.repositories.insert(
            "main".into(),
            RepositoryState {
                size_bytes: 99,
                last_prune: None,
            },
        );
        // The same database name on another server is another series.
        let mut other = s.databases["j/shop"].clone();
        other.server = "db2:5432".into();
        other.snapshots = 5;
        s.databases.insert("j/shop2".into(), other);
        let text = s.prometheus();
        let l =
            r#"{job="j",database="sh\"op",engine="postgres",server="db1:5432",repository="main"}"#;
        let l2 =
            r#"{job="j",database="sh\"op",engine="postgres",server="db2:5432",repository="main"}"#;
        assert!(
            text.contains(&format!("dumpvault_snapshots{l2} 5\n")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "dumpvault_last_success_timestamp_seconds{l} 1700000000\n"
        )));
        assert!(text.contains(&format!("dumpvault_last_duration_seconds{l} 1.5\n")));
        assert!(text.contains(&format!("dumpvault_snapshots{l} 3\n")));
        assert!(text.contains("dumpvault_repository_size_bytes{repository=\"main\"} 99\n"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.json");
        s.save(&p).unwrap();
        s.save(&p).unwrap();
        assert_eq!(State::load(&p).databases["j/shop"].bytes_added, 4);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
