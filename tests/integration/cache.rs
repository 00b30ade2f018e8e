//! The local cache of a remote repository's immutable files (issue 19, "Local cache"), against
//! moto: a warm cache saves the reads of index files, manifests and catalogue files (request
//! counts from `--stats-backend`); a damaged entry is refetched; `--no-cache` gives the same
//! results and writes nothing; a forgotten snapshot's entry goes at the next listing; two
//! processes share one cache; `--cache-max-size` bounds it. List blobs read out of packs are
//! cached too: a warm `restore` or `diff` reads none from the backend, a damaged entry is
//! refetched, and local repositories are never cached.

#[path = "cache/warm.rs"]
mod warm;

#[path = "cache/parts.rs"]
mod parts;

use crate::common::{files_under, synthetic_dump, TestRepo};
use crate::s3server::{Repo, S3Server};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The cached folders, as in the repository.
const FOLDERS: [&str; 3] = ["index", "snapshots", "catalogue"];

struct Setup {
    _server: S3Server,
    repo: Repo,
    dir: tempfile::TempDir,
    /// Snapshot ids, oldest first.
    snaps: Vec<String>,
}

/// A repository on moto with three snapshots, written with the cache in `cache("writer")`.
fn setup(bucket: &str) -> Setup {
    let server = S3Server::start();
    server.create_bucket(bucket);
    let repo = Repo::s3(&server, bucket, "repo");
    let dir = tempfile::tempdir().unwrap();
    let s = Setup {
        _server: server,
        repo,
        dir,
        snaps: Vec::new(),
    };
    let mut snaps = Vec::new();
    s.dv(
        "writer",
        &["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"],
    )
    .assert()
    .success();
    for i in 0..3u64 {
        let time = format!("2026-01-0{}T03:00:00Z", i + 1);
        let out = s
            .dv(
                "writer",
                &[
                    "snapshot",
                    "--json",
                    "--stdin",
                    "--stdin-name",
                    "dump.sql",
                    "--time",
                    &time,
                ],
            )
            .write_stdin(synthetic_dump(150_000, 70 + i))
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        snaps.push(v["id"].as_str().unwrap().to_string());
    }
    Setup { snaps, ..s }
}

impl Setup {
    /// The cache directory named `name` (not created).
    fn cache(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary on the repository with `--cache-dir` set to cache `name`.
    fn dv(&self, cache: &str, args: &[&str]) -> assert_cmd::Command {
        let mut c = self.repo.dv(args);
        c.env("DUMPVAULT_CACHE_DIR", self.cache(cache));
        c
    }

    /// `snapshots --json --stats-backend` with cache `name` (and `extra` flags): the listing
    /// and the request counts.
    fn list(&self, cache: &str, extra: &[&str]) -> (Value, Value) {
        let mut args = vec!["snapshots", "--json", "--stats-backend"];
        args.extend_from_slice(extra);
        let out = self.dv(cache, &args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("");
        let stats: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {err}"));
        let list = serde_json::from_slice(&out.stdout).unwrap();
        (list, stats["backend_requests"].clone())
    }
}

/// Read requests of `folder` in `--stats-backend` counts.
fn reads(stats: &Value, folder: &str) -> u64 {
    stats["by_folder"][folder]["read"]["requests"]
        .as_u64()
        .unwrap_or(0)
}

/// The one repository folder (named by the repository's 64-hex id) inside cache directory
/// `cache` (beside it, `keys/` holds the key hints).
fn repo_cache(cache: &Path) -> PathBuf {
    let hex = |p: &PathBuf| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit())
    };
    let dirs: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && hex(p))
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "one repository folder in {cache:?}: {dirs:?}"
    );
    dirs[0].clone()
}

/// Cache entries of `folder` (ids).
fn entries(cache: &Path, folder: &str) -> Vec<String> {
    files_under(&repo_cache(cache).join(folder))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Every file in the cache is named by the BLAKE3 of its bytes (a list blob's by its keyed id,
/// which only the key can check), no temporary file is left, and modes are private.
fn assert_cache_sound(cache: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let root = repo_cache(cache);
    assert_eq!(
        std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for f in files_under(&root) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&f).unwrap();
        let parent = f.parent().unwrap();
        if parent.ends_with("lists") || parent.ends_with("blobs") {
            assert!(name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()));
        } else {
            assert_eq!(blake3::hash(&bytes).to_hex().as_str(), name, "{f:?}");
        }
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f:?}");
    }
}

#[test]
fn warm_cache_saves_the_reads_of_manifests_index_and_catalogue() {
    let s = setup("cache-warm");
    // Cold: a new cache folder; the listing reads from the repository.
    let (cold_list, cold) = s.list("reader", &[]);
    let cold_reads: u64 = FOLDERS.iter().map(|f| reads(&cold, f)).sum();
    assert!(cold_reads > 0, "{cold}");
    assert_eq!(cold_list.as_array().unwrap().len(), 3);
    assert_cache_sound(&s.cache("reader"));

    // Warm: the same listing, without a read of any cached folder.
    let (warm_list, warm) = s.list("reader", &[]);
    assert_eq!(warm_list, cold_list);
    for f in FOLDERS {
        assert_eq!(reads(&warm, f), 0, "{f}: {warm}");
    }
    assert!(
        warm["read"]["requests"].as_u64().unwrap() < cold["read"]["requests"].as_u64().unwrap(),
        "cold {cold}\nwarm {warm}"
    );

    // What a writer wrote went into its cache: its next snapshot reads no index file, and the
    // restore of the newest snapshot reads no manifest.
    let out = s
        .dv(
            "writer",
            &[
                "snapshot",
                "--json",
                "--stats-backend",
                "--stdin",
                "--stdin-name",
                "dump.sql",
            ],
        )
        .write_stdin(synthetic_dump(150_000, 99))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    let stats = &stats["backend_requests"];
    for f in FOLDERS {
        assert_eq!(reads(stats, f), 0, "{f}: {stats}");
    }
}

#[test]
fn damaged_cache_entry_is_refetched_and_never_trusted() {
    let s = setup("cache-damaged");
    let (list, _) = s.list("reader", &[]);
    let root = repo_cache(&s.cache("reader"));
    let files = files_under(&root);
    assert!(!files.is_empty());
    for f in &files {
        let mut b = std::fs::read(f).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x01;
        std::fs::write(f, b).unwrap();
    }
    let (again, stats) = s.list("reader", &[]);
    assert_eq!(again, list);
    // Every damaged entry that was needed was read from the repository again, and now holds
    // the repository's bytes.
    let reread: u64 = FOLDERS.iter().map(|f| reads(&stats, f)).sum();
    assert!(reread > 0, "{stats}");
    assert_cache_sound(&s.cache("reader"));
    let out = s
        .dv("reader", &["restore", "latest", "--stdout", "--quiet"])
        .assert()
        .success();
    assert!(out.get_output().stdout == synthetic_dump(150_000, 72));
}

#[test]
fn no_cache_gives_the_same_results_and_writes_nothing() {
    let s = setup("cache-none");
    let (cached, _) = s.list("reader", &[]);
    let (uncached, stats) = s.list("none", &["--no-cache"]);
    assert_eq!(uncached, cached);
    assert!(reads(&stats, "snapshots") + reads(&stats, "catalogue") > 0);
    let out = s
        .dv(
            "none",
            &["restore", "latest", "--stdout", "--quiet", "--no-cache"],
        )
        .assert()
        .success();
    assert!(out.get_output().stdout == synthetic_dump(150_000, 72));
    s.dv("none", &["--no-cache", "forget", "--keep-last", "2"])
        .assert()
        .success();
    assert!(
        !s.cache("none").exists(),
        "--no-cache must write nothing under the cache folder"
    );
    // A size bound of 0 is the same as --no-cache.
    s.dv("zero", &["--cache-max-size", "0", "snapshots"])
        .assert()
        .success();
    assert!(!s.cache("zero").exists());
    // `check` judges the repository itself and never uses (nor fills) the cache.
    s.dv("check", &["check"]).assert().success();
    assert!(!s.cache("check").exists());
}

#[test]
fn forgotten_snapshots_entry_is_removed_at_the_next_listing() {
    let s = setup("cache-forget");
    s.list("reader", &[]);
    let victim = s.snaps[0].clone();
    let survivor = s.snaps[2].clone();
    // Warm both manifests into the cache (a restore reads its snapshot's manifest).
    for id in [&victim, &survivor] {
        s.dv("reader", &["restore", id, "--stdout", "--quiet"])
            .assert()
            .success();
        assert!(entries(&s.cache("reader"), "snapshots").contains(id));
    }
    // Another host (another cache) forgets it: this cache still has the entry…
    s.dv("other", &["forget", &victim]).assert().success();
    assert!(entries(&s.cache("reader"), "snapshots").contains(&victim));
    // …until this cache's next listing of snapshots/ shows it is gone (with config version 2
    // readers list only catalogue/, where a tombstone hides it; prune lists snapshots/).
    s.dv("reader", &["prune"]).assert().success();
    let (list, _) = s.list("reader", &[]);
    let ids: Vec<&str> = (list.as_array().unwrap().iter())
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&victim.as_str()));
    assert!(!entries(&s.cache("reader"), "snapshots").contains(&victim));
    // The forgetting process's own cache dropped it when it deleted the file.
    assert!(!entries(&s.cache("other"), "snapshots").contains(&victim));
    // Entries of files still there stay.
    assert_eq!(ids.len(), 2);
    assert!(entries(&s.cache("reader"), "snapshots").contains(&survivor));
}

#[test]
fn two_processes_share_one_cache() {
    let s = setup("cache-two");
    let (expected, _) = s.list("solo", &[]);
    for round in 0..3 {
        let cache = format!("shared-{round}");
        let spawn = |args: &[&str]| {
            let mut c = s.repo.process(args);
            c.env("DUMPVAULT_CACHE_DIR", s.cache(&cache))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        };
        let a = spawn(&["snapshots", "--json"]);
        let b = spawn(&["snapshots", "--json"]);
        let c = spawn(&["restore", "latest", "--stdout", "--quiet"]);
        for p in [a, b] {
            let out = p.wait_with_output().unwrap();
            assert!(out.status.success(), "{out:?}");
            let list: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(list, expected);
        }
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout == synthetic_dump(150_000, 72));
        assert_cache_sound(&s.cache(&cache));
    }
}

#[test]
fn cache_max_size_evicts_beyond_the_bound() {
    let s = setup("cache-bound");
    let (expected, _) = s.list("full", &[]);
    let full: u64 = files_under(&repo_cache(&s.cache("full")))
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let n_full = files_under(&repo_cache(&s.cache("full"))).len();
    assert!(n_full >= 2, "{n_full}");
    let bound = full / 2;
    let (list, _) = s.list("small", &["--cache-max-size", &bound.to_string()]);
    assert_eq!(list, expected);
    let kept = files_under(&repo_cache(&s.cache("small")));
    let total: u64 = kept
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert!(total <= bound, "{total} > {bound}");
    assert!(kept.len() < n_full);
    assert_cache_sound(&s.cache("small"));
}

/// `args` plus `--json --stats-backend` with cache `cache`: stdout and the request counts.
fn with_stats(s: &Setup, cache: &str, args: &[&str]) -> (Vec<u8>, Value) {
    let mut all = args.to_vec();
    all.extend(["--json", "--stats-backend"]);
    let out = s.dv(cache, &all).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    let stats: Value = serde_json::from_str(err.lines().last().unwrap_or("")).unwrap();
    (out.stdout, stats["backend_requests"].clone())
}

/// Restores snapshot `snap` to a new file with cache `cache`: its bytes and the counts.
fn restore_with_stats(s: &Setup, cache: &str, snap: &str, extra: &[&str]) -> (Vec<u8>, Value) {
    let target = s
        .dir
        .path()
        .join(format!("restore-{}", rand::random::<u64>()));
    let mut args = vec!["restore", snap, "--target", target.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (_, stats) = with_stats(s, cache, &args);
    let bytes = std::fs::read(&target).unwrap();
    std::fs::remove_file(&target).unwrap();
    (bytes, stats)
}

#[test]
fn warm_cache_restore_and_diff_read_no_list_blob_from_the_backend() {
    let s = setup("cache-lists");
    let want = synthetic_dump(150_000, 72);
    let (bytes, cold) = restore_with_stats(&s, "reader", "latest", &[]);
    assert!(bytes == want);
    let lists = entries(&s.cache("reader"), "lists");
    assert!(!lists.is_empty(), "no list blob cached");
    assert_cache_sound(&s.cache("reader"));
    // Warm: the same data reads but for the list blobs, which come from the cache.
    let (bytes, warm) = restore_with_stats(&s, "reader", "latest", &[]);
    assert!(bytes == want);
    assert_eq!(
        reads(&warm, "data") + lists.len() as u64,
        reads(&cold, "data"),
        "cold {cold}\nwarm {warm}"
    );
    assert_eq!(entries(&s.cache("reader"), "lists"), lists);
    // --no-cache: the same bytes, every list blob read from the backend, nothing cached.
    let (bytes, none) = restore_with_stats(&s, "none", "latest", &["--no-cache"]);
    assert!(bytes == want);
    assert_eq!(reads(&none, "data"), reads(&cold, "data"));
    assert!(!s.cache("none").exists());

    // diff walks both snapshots' trees: warm, it reads none of their list blobs.
    let diff = ["diff", &s.snaps[0], &s.snaps[2]];
    let (cold_out, cold) = with_stats(&s, "differ", &diff);
    let n = entries(&s.cache("differ"), "lists").len() as u64;
    assert!(n >= 2, "{n} list blobs cached by diff");
    let (warm_out, warm) = with_stats(&s, "differ", &diff);
    assert_eq!(warm_out, cold_out);
    assert_eq!(
        reads(&warm, "data") + n,
        reads(&cold, "data"),
        "{cold}\n{warm}"
    );
    let mut uncached = diff.to_vec();
    uncached.push("--no-cache");
    let (none_out, _) = with_stats(&s, "none", &uncached);
    assert_eq!(none_out, cold_out);
}

#[test]
fn damaged_list_blob_entry_is_refetched_and_never_trusted() {
    let s = setup("cache-lists-damaged");
    let want: Vec<Vec<u8>> = (70..73).map(|i| synthetic_dump(150_000, i)).collect();
    // Data reads of restoring every snapshot with cache "reader".
    let restore_all = || {
        let mut total = 0;
        for (snap, want) in s.snaps.iter().zip(&want) {
            let (bytes, stats) = restore_with_stats(&s, "reader", snap, &[]);
            assert!(bytes == *want, "a damaged list blob entry was trusted");
            total += reads(&stats, "data");
        }
        total
    };
    let cold = restore_all();
    let dir = repo_cache(&s.cache("reader")).join("lists");
    let files = files_under(&dir);
    assert!(files.len() >= 2, "{files:?}");
    let good: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let warm = cold - files.len() as u64;
    assert_eq!(restore_all(), warm);
    let mut flipped = good[0].clone();
    flipped[good[0].len() / 2] ^= 0x01;
    let damages: [Vec<(usize, Vec<u8>)>; 2] = [
        // A flipped bit, and another list blob's valid sealed bytes (they decrypt, but fail
        // the keyed id check).
        vec![(0, flipped), (1, good[0].clone())],
        // A truncated entry, and an empty one.
        vec![(0, good[0][..good[0].len() / 2].to_vec()), (1, Vec::new())],
    ];
    for damage in damages {
        for (i, bytes) in &damage {
            std::fs::write(&files[*i], bytes).unwrap();
        }
        // Each damaged entry was read from its pack again (one read each beyond a warm
        // restore's), and holds the pack's bytes again.
        assert_eq!(restore_all(), warm + damage.len() as u64, "cold {cold}");
        for (f, g) in files.iter().zip(&good) {
            assert!(std::fs::read(f).unwrap() == *g, "{f:?} not refetched");
        }
    }
    assert_cache_sound(&s.cache("reader"));
}

#[test]
fn local_repository_list_blobs_are_never_cached() {
    let t = TestRepo::new();
    let dump = synthetic_dump(150_000, 5);
    t.snapshot_bytes(&dump, &[]);
    let cache = t.path("cache");
    let out = (t.dv(&["restore", "latest", "--stdout", "--quiet"]))
        .env("DUMPVAULT_CACHE_DIR", &cache)
        .assert()
        .success();
    assert!(out.get_output().stdout == dump);
    assert!(!cache.exists(), "a local repository was cached");
}

#[test]
fn a_writers_own_list_blobs_go_into_its_cache() {
    let s = setup("cache-written-lists");
    // A reader restores the newest snapshot twice: the warm run reads no list blob.
    let want = synthetic_dump(150_000, 72);
    let (bytes, cold) = restore_with_stats(&s, "reader", "latest", &[]);
    assert!(bytes == want);
    let (_, warm) = restore_with_stats(&s, "reader", "latest", &[]);
    assert!(
        reads(&warm, "data") < reads(&cold, "data"),
        "{cold}\n{warm}"
    );
    // The writer never read the newest snapshot's list blobs, it wrote them: they are in its
    // cache, so its first restore reads only data chunks (the next hourly snapshot, which
    // walks this one's chunk list for delta bases, reads none from the packs either).
    let (bytes, writer) = restore_with_stats(&s, "writer", "latest", &[]);
    assert!(bytes == want);
    assert_eq!(
        reads(&writer, "data"),
        reads(&warm, "data"),
        "reader cold {cold}\nreader warm {warm}\nwriter {writer}"
    );
    assert_cache_sound(&s.cache("writer"));
}
