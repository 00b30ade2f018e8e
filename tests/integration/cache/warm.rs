//! A warm hourly snapshot on S3 (issue 19: "at most 10 requests beyond the objects it
//! writes"), against moto: the key file that opened the repository is remembered (no listing
//! of `keys/`, no read of a key file; a `stat` keeps `key remove` effective), and the bodies of
//! the blobs a snapshot wrote or read as delta bases are cached (no range read of a base). A
//! damaged cached key or body is refetched, never trusted; the bodies stay within their bound.

use crate::common::{files_under, synthetic_dump, PASSWORD};
use crate::s3server::{Repo, S3Server};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Cheap Argon2id costs, as the tests' `init` uses.
const CHEAP_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-iterations", "1"];

/// A repository on moto and a folder for its caches.
struct Warm {
    _server: S3Server,
    repo: Repo,
    dir: tempfile::TempDir,
    /// The dump of the last hour snapshotted.
    dump: Vec<u8>,
    hour: usize,
}

impl Warm {
    fn new(bucket: &str) -> Warm {
        let server = S3Server::start();
        server.create_bucket(bucket);
        let repo = Repo::s3(&server, bucket, "repo");
        let w = Warm {
            _server: server,
            repo,
            dir: tempfile::tempdir().unwrap(),
            dump: synthetic_dump(1 << 20, 19),
            hour: 0,
        };
        w.dv("writer", &["init"], &CHEAP_KDF).assert().success();
        w
    }

    fn cache(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with cache `cache`: `args`, then `extra`.
    fn dv(&self, cache: &str, args: &[&str], extra: &[&str]) -> assert_cmd::Command {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        let mut c = self.repo.dv(&all);
        c.env("DUMPVAULT_CACHE_DIR", self.cache(cache));
        c
    }

    /// The next hour's dump (a few hundred bytes changed, scattered) snapshotted with cache
    /// `cache` (and `extra` flags); the request counts.
    fn hourly(&mut self, cache: &str, extra: &[&str]) -> Value {
        if self.hour > 0 {
            let text = format!("h{:05}", self.hour);
            let mut at = (self.hour * 131) % 16_384;
            while at + text.len() < self.dump.len() {
                self.dump[at..at + text.len()].copy_from_slice(text.as_bytes());
                at += 16_384;
            }
        }
        self.hour += 1;
        let args = [
            "snapshot",
            "--json",
            "--stats-backend",
            "--stdin",
            "--stdin-name",
            "dump.sql",
        ];
        let out = self
            .dv(cache, &args, extra)
            .write_stdin(self.dump.clone())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let line = err.lines().last().unwrap_or("");
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {err}"));
        v["backend_requests"].clone()
    }

    /// The newest snapshot restored with cache `cache` equals the last dump.
    fn assert_latest_restores(&self, cache: &str) {
        let out = self
            .dv(cache, &["restore", "latest", "--stdout", "--quiet"], &[])
            .assert()
            .success();
        assert!(out.get_output().stdout == self.dump, "restore differs");
    }
}

/// Requests of `op` (`list`, `read`, `stat`, …) on folder `folder`.
fn count(stats: &Value, folder: &str, op: &str) -> u64 {
    stats["by_folder"][folder][op]["requests"]
        .as_u64()
        .unwrap_or(0)
}

/// Requests beyond the writes.
fn beyond_writes(stats: &Value) -> u64 {
    ["list", "read", "stat", "delete"]
        .iter()
        .map(|op| stats[op]["requests"].as_u64().unwrap())
        .sum()
}

/// The repository folder (named by a 64-hex id) inside cache directory `cache`.
fn repo_folder(cache: &Path) -> PathBuf {
    let hex = |p: &PathBuf| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit())
    };
    let dirs: Vec<PathBuf> = (std::fs::read_dir(cache).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && hex(p))
        .collect();
    assert_eq!(dirs.len(), 1, "one repository folder in {cache:?}");
    dirs[0].clone()
}

/// The key hints of cache directory `cache`: every file under `keys/`.
fn key_hints(cache: &Path) -> Vec<PathBuf> {
    let dir = cache.join("keys");
    if dir.exists() {
        files_under(&dir)
    } else {
        Vec::new()
    }
}

/// Bytes of the files under `dir` (0 when it does not exist).
fn bytes_under(dir: &Path) -> u64 {
    if !dir.exists() {
        return 0;
    }
    (files_under(dir).iter())
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn warm_hourly_snapshot_makes_at_most_10_requests_beyond_its_writes() {
    let mut w = Warm::new("warm-hourly");
    w.hourly("writer", &[]);
    w.hourly("writer", &[]);
    let warm = w.hourly("writer", &[]);
    // The key file is not listed nor read: the cache remembers it (one stat confirms it).
    assert_eq!(count(&warm, "keys", "list"), 0, "{warm}");
    assert_eq!(count(&warm, "keys", "read"), 0, "{warm}");
    assert_eq!(count(&warm, "keys", "stat"), 1, "{warm}");
    // No range read of a pack: the parent's chunk list and every delta base (the previous
    // hour's deltas and their bases) come from the cache.
    assert_eq!(count(&warm, "data", "read"), 0, "{warm}");
    let beyond = beyond_writes(&warm);
    println!("warm hourly snapshot: {beyond} requests beyond its writes: {warm}");
    assert!(beyond <= 10, "{beyond} requests beyond the writes: {warm}");
    w.assert_latest_restores("writer");

    // --no-cache: the same snapshot reads the key file and the bases from the repository.
    let cold = w.hourly("none", &["--no-cache"]);
    assert_eq!(count(&cold, "keys", "list"), 1, "{cold}");
    assert!(count(&cold, "data", "read") > 0, "{cold}");
    assert!(!w.cache("none").exists());
    w.assert_latest_restores("none");
}

#[test]
fn damaged_cached_key_and_bodies_are_refetched_never_trusted() {
    let mut w = Warm::new("warm-damaged");
    w.hourly("writer", &[]);
    w.hourly("writer", &[]);
    let hints = key_hints(&w.cache("writer"));
    assert_eq!(hints.len(), 1, "{hints:?}");
    let bodies = files_under(&repo_folder(&w.cache("writer")).join("blobs"));
    assert!(!bodies.is_empty());
    // Flip a bit in the cached key file and in every cached body.
    for f in hints.iter().chain(&bodies) {
        let mut b = std::fs::read(f).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x01;
        std::fs::write(f, b).unwrap();
    }
    let stats = w.hourly("writer", &[]);
    // The key file was listed and read again, and the hint holds the repository's bytes.
    assert_eq!(count(&stats, "keys", "list"), 1, "{stats}");
    assert_eq!(count(&stats, "keys", "read"), 1, "{stats}");
    let hints = key_hints(&w.cache("writer"));
    assert_eq!(hints.len(), 1);
    let bytes = std::fs::read(&hints[0]).unwrap();
    let name = hints[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name);
    // The bases were read from the packs again (the damaged bodies were not used).
    assert!(count(&stats, "data", "read") > 0, "{stats}");
    w.assert_latest_restores("writer");
    w.dv("check", &["check", "--read-data"], &[])
        .assert()
        .success();

    // Another repository's key file for the same password, put in place of the hint: its name
    // matches its bytes and the password opens it, but its master key does not open this
    // repository's config, so the listing decides.
    let other = tempfile::tempdir().unwrap();
    let other_repo = Repo::fs(&other.path().join("repo"));
    other_repo.init(&[]);
    let foreign = files_under(&other.path().join("repo").join("keys"));
    let hint_dir = hints[0].parent().unwrap();
    std::fs::remove_file(&hints[0]).unwrap();
    let foreign_name = foreign[0].file_name().unwrap();
    std::fs::copy(&foreign[0], hint_dir.join(foreign_name)).unwrap();
    let stats = w.hourly("writer", &[]);
    assert_eq!(count(&stats, "keys", "list"), 1, "{stats}");
    let hints = key_hints(&w.cache("writer"));
    assert_eq!(hints.len(), 1);
    assert_eq!(hints[0].file_name().unwrap().to_string_lossy(), name);
    w.assert_latest_restores("writer");
}

#[test]
fn a_removed_key_no_longer_opens_the_repository_from_the_cache() {
    let mut w = Warm::new("warm-key-remove");
    w.hourly("writer", &[]);
    let file = w.dir.path().join("second-password");
    std::fs::write(&file, "second password\n").unwrap();
    let out = w
        .dv(
            "writer",
            &["key", "add", "--json", "--new-password-file"],
            &[file.to_str().unwrap()],
        )
        .args(CHEAP_KDF)
        .assert()
        .success();
    let added: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let second = added["id"].as_str().unwrap().to_string();
    // The second password's user opens it through the cache "user": the hint is its key.
    let open = |cache: &str, extra: &[&str]| {
        w.dv(cache, &["snapshots", "--json", "--stats-backend"], extra)
            .env("DUMPVAULT_PASSWORD", "second password")
            .output()
            .unwrap()
    };
    assert!(open("user", &[]).status.success());
    let hints = key_hints(&w.cache("user"));
    assert_eq!(hints.len(), 1);
    assert_eq!(hints[0].file_name().unwrap().to_string_lossy(), second);
    let again = open("user", &[]);
    assert!(again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    let stats = &stats["backend_requests"];
    assert_eq!(count(stats, "keys", "list"), 0, "{stats}");

    // Removed with the first password (another host, another cache).
    w.dv("admin", &["key", "remove", &second], &[])
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .assert()
        .success();
    // The cached key file still decrypts with the second password, but the repository no
    // longer holds it: the open fails as it does without a cache, and the hint is dropped.
    let cached = open("user", &[]);
    let uncached = open("none", &["--no-cache"]);
    assert_eq!(cached.status.code(), Some(2), "{cached:?}");
    assert_eq!(cached.status.code(), uncached.status.code());
    // The error line (the other line is the request counts, which differ by the `stat`).
    let error = |o: &std::process::Output| {
        (String::from_utf8_lossy(&o.stderr).lines())
            .find(|l| l.contains("wrong password"))
            .map(str::to_string)
    };
    assert!(error(&cached).is_some(), "{cached:?}");
    assert_eq!(error(&cached), error(&uncached));
    assert!(key_hints(&w.cache("user")).is_empty());
    w.assert_latest_restores("user");
}

#[test]
fn cached_bodies_stay_within_their_bound() {
    let mut w = Warm::new("warm-bound");
    let bound: u64 = 600 * 1024;
    let max = bound.to_string();
    for _ in 0..4 {
        w.hourly("small", &["--cache-max-size", &max]);
    }
    let root = repo_folder(&w.cache("small"));
    let bodies = bytes_under(&root.join("blobs"));
    assert!(bodies > 0, "no blob body cached");
    assert!(
        bodies <= bound / 4,
        "{bodies} bytes of bodies, bound {bound}"
    );
    assert!(
        bytes_under(&root) <= bound,
        "{} > {bound}",
        bytes_under(&root)
    );
    w.assert_latest_restores("small");
}
