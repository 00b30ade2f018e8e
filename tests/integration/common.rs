//! Shared helpers: a repository in a temporary directory, the binary with a password, and
//! deterministic dump generators.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// Password used by every test repository.
pub const PASSWORD: &str = "test password";

/// A repository in a fresh temporary directory.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
}

impl TestRepo {
    /// Creates and initialises a repository with cheap KDF settings.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let t = TestRepo { dir, repo };
        t.dv(&["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"])
            .assert()
            .success();
        t
    }

    /// As [`TestRepo::new`], with the FastCDC gear seed fixed to `seed` (a test-build hook), for
    /// a test whose figures depend on where chunks are cut.
    pub fn with_chunker_seed(seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let t = TestRepo { dir, repo };
        t.dv(&["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"])
            .env("DUMPVAULT_TEST_CHUNKER_SEED", seed.to_string())
            .assert()
            .success();
        t
    }

    /// The binary with `--repo` and the password set.
    pub fn dv(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("dumpvault").unwrap();
        c.env("DUMPVAULT_REPOSITORY", &self.repo)
            .env("DUMPVAULT_PASSWORD", PASSWORD)
            .env_remove("DUMPVAULT_PASSWORD_FILE")
            .env_remove("DUMPVAULT_PASSWORD_COMMAND")
            .args(args);
        c
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Snapshots `data` from stdin; returns the parsed `--json` output.
    pub fn snapshot_bytes(&self, data: &[u8], extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["snapshot", "--json", "--stdin", "--stdin-name", "dump.sql"];
        args.extend_from_slice(extra);
        let out = self.dv(&args).write_stdin(data.to_vec()).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// Restores `snapshot` to a file and returns its bytes.
    pub fn restore_bytes(&self, snapshot: &str) -> Vec<u8> {
        let target = self.path("restored.out");
        self.dv(&["restore", snapshot, "--target", target.to_str().unwrap()])
            .assert()
            .success();
        let b = std::fs::read(&target).unwrap();
        std::fs::remove_file(&target).unwrap();
        b
    }

    /// All pack files.
    pub fn packs(&self) -> Vec<PathBuf> {
        files_under(&self.repo.join("data"))
    }
}

/// Files under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A deterministic, compressible, pg_dump-like text dump of about `bytes` bytes.
pub fn synthetic_dump(bytes: usize, seed: u64) -> Vec<u8> {
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    ];
    let mut out = Vec::with_capacity(bytes + 200);
    out.extend_from_slice(b"COPY public.items (id, name, qty, price, note) FROM stdin;\n");
    let mut x = seed | 1;
    let mut id = 0u64;
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id += 1;
        let w1 = words[(x % 9) as usize];
        let w2 = words[((x >> 8) % 9) as usize];
        let line = format!(
            "{id}\t{w1}-{w2}-{}\t{}\t{}.{:02}\tnote {:x}\n",
            x % 977,
            x % 50,
            (x >> 20) % 10000,
            x % 100,
            x >> 40
        );
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(bytes);
    out
}

/// Runs `cmd`, which must succeed, and parses its standard output as JSON.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The standard error of a finished command, as text.
pub fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// `snapshots --json` of `t`, as a list.
pub fn snapshots(t: &TestRepo) -> Vec<serde_json::Value> {
    json(&mut t.dv(&["snapshots", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

/// A SQLite database with tables `a` and `b` of `rows` rows each.
pub fn sqlite_two_tables(path: &std::path::Path, rows: u32) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    // One transaction: row by row autocommit would sync the file 2 × `rows` times.
    let tx = c.unchecked_transaction().unwrap();
    for t in ["a", "b"] {
        let mut st = tx
            .prepare(&format!("INSERT INTO {t} VALUES (?1, ?2)"))
            .unwrap();
        for i in 0..rows {
            let v = format!("{t} row {i} {}", "x".repeat((i as usize * 7) % 50));
            st.execute(rusqlite::params![i, v]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Rewrites the config of the repository at `repo` with format `version` (1: the listing of
/// `snapshots/` decides which snapshots exist, as in repositories made before config version
/// 2; repo-format.md section 17).
pub fn set_config_version(repo: &Path, version: u32) {
    use dumpvault::backend::Backend;
    use dumpvault::repository::Repository;
    let backend = Backend::open(repo.to_str().unwrap()).unwrap();
    let r = Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    let mut config = r.config().clone();
    config.version = version;
    r.with_config(config).write_config().unwrap();
}

/// How long a blocking step of a test with a spawned process may take before the test fails
/// instead of hanging.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// The binary as a plain `std` command (to spawn, not just run), with the repository and
/// password of `t` and no pause point unless the caller sets one.
pub fn dv_process(t: &TestRepo, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    c.env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND")
        .env_remove("DUMPVAULT_TEST_PAUSE")
        .args(args);
    c
}

/// Runs `f` on a thread and returns its result, failing the test after `deadline`.
pub fn within_for<T: Send + 'static>(
    deadline: std::time::Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(deadline)
        .unwrap_or_else(|_| panic!("{what}: nothing after {deadline:?}"))
}

/// [`within_for`] with [`DEADLINE`].
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(DEADLINE, what, f)
}

/// Makes a named pipe at `path` (for a pause point).
pub fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Kills the listed processes when the test ends, passed or failed (a process still paused or
/// hanging would otherwise hold its locks).
pub struct Reap(pub Vec<u32>);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
