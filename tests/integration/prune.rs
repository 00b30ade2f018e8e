//! `forget`, `prune` and `unlock` through the binary: retention on an hourly timeline, space
//! reclaimed, a kill after every prune step, prune racing concurrent snapshots, the exclusive
//! lock, bad input.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;

/// A repository with 1 MiB packs, so a few MB of dumps spread over several packs.
fn small_repo() -> TestRepo {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let t = TestRepo { dir, repo };
    t.dv(&["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"])
        .args(["--pack-size-mib", "1"])
        .assert()
        .success();
    t
}

fn stdout_json(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn dir_size(p: &Path) -> u64 {
    files_under(p)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

/// `base` with a 96 KiB region (content `region`) inserted at a place that moves with `at`.
fn changed_dump(base: &[u8], at: u64, region: u64) -> Vec<u8> {
    let pos = (at as usize * 40_009) % base.len();
    let mut d = base[..pos].to_vec();
    d.extend(synthetic_dump(96 * 1024, 1000 + region));
    d.extend_from_slice(&base[pos..]);
    d
}

fn snapshot_ids(t: &TestRepo) -> BTreeSet<String> {
    let v = stdout_json(&t.dv(&["snapshots", "--json"]).assert().success());
    (v.as_array().unwrap().iter())
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn lock_count(t: &TestRepo) -> usize {
    files_under(&t.repo.join("locks")).len()
}

#[test]
fn hourly_timeline_forget_prune_and_size() {
    let t = small_repo();
    let base = synthetic_dump(2 * 1024 * 1024, 11);
    let mut times = Vec::new();
    let mut ids = Vec::new();
    let mut dumps = Vec::new();
    for i in 0..48u64 {
        let time = format!("2026-03-{:02}T{:02}:30:00+00:00", 10 + i / 24, i % 24);
        let dump = changed_dump(&base, i, i);
        let s = t.snapshot_bytes(&dump, &["--time", &time]);
        ids.push(s["id"].as_str().unwrap().to_string());
        times.push(time);
        dumps.push(dump);
    }
    let before = dir_size(&t.repo);

    // Expected keep set, computed here from the time strings: the newest snapshot of each of
    // the 6 newest hours, and of each of the 2 newest days.
    let mut expected = BTreeSet::new();
    for (prefix, count) in [(13, 6), (10, 2)] {
        let mut buckets: Vec<&str> = Vec::new();
        for i in (0..48).rev() {
            let b = &times[i][..prefix];
            if !buckets.contains(&b) && buckets.len() < count {
                buckets.push(b);
                expected.insert(i);
            }
        }
    }
    assert_eq!(
        expected,
        BTreeSet::from([23, 42, 43, 44, 45, 46, 47]),
        "test's own arithmetic"
    );

    let out = t
        .dv(&[
            "forget",
            "--keep-hourly",
            "6",
            "--keep-daily",
            "2",
            "--prune",
        ])
        .args(["--grace", "0s", "--time-zone", "UTC", "--json"])
        .assert()
        .success();
    let v = stdout_json(&out);
    let verdicts = v["plan"]["groups"][0]["snapshots"].as_array().unwrap();
    assert_eq!(verdicts.len(), 48);
    let kept: BTreeSet<usize> = (verdicts.iter())
        .filter(|s| s["keep"].as_bool().unwrap())
        .map(|s| {
            ids.iter()
                .position(|id| id == s["id"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(kept, expected);
    let v23 = verdicts
        .iter()
        .find(|s| s["id"] == ids[23].as_str())
        .unwrap();
    assert_eq!(v23["reasons"], serde_json::json!(["daily 2026-03-10"]));
    assert_eq!(v["removed"].as_array().unwrap().len(), 41);
    let first = &v["prune"];
    assert!(first["unused_packs"].as_u64().unwrap() + first["repack_packs"].as_u64().unwrap() > 0);
    let kept_ids: BTreeSet<String> = expected.iter().map(|&i| ids[i].clone()).collect();
    assert_eq!(snapshot_ids(&t), kept_ids);

    // Phase 2: the packs marked by the first prune are deleted by the second.
    let second = stdout_json(
        &t.dv(&["prune", "--grace", "0s", "--json"])
            .assert()
            .success(),
    );
    assert!(second["delete_packs"].as_u64().unwrap() > 0, "{second}");
    let after = dir_size(&t.repo);

    let fresh = small_repo();
    for &i in &expected {
        fresh.snapshot_bytes(&dumps[i], &["--time", &times[i]]);
    }
    let fresh_size = dir_size(&fresh.repo);
    println!(
        "48 hourly snapshots: {before} bytes; after forget + 2 prunes: {after} bytes; fresh \
         repository with the 7 kept: {fresh_size} bytes ({:+.1}%)",
        (after as f64 / fresh_size as f64 - 1.0) * 100.0
    );
    // Not equal to a fresh repository: the bases of kept delta blobs stay (repo-format.md
    // section 6), and packs under `--max-unused` (5%) keep their unused blobs. Measured:
    // +1% to +13% over runs (the chunker's seed is random) with chains of at most 3 deltas;
    // +2% to +30% over 11 runs with chains of up to 16 (MAX_DELTA_DEPTH), whose kept deltas
    // reach back up to 16 hours of forgotten links.
    assert!(
        after as f64 <= fresh_size as f64 * 1.45,
        "{after} vs fresh {fresh_size}"
    );
    for &i in &expected {
        assert!(t.restore_bytes(&ids[i]) == dumps[i], "snapshot {i} differs");
    }
    t.dv(&["check", "--read-data"]).assert().success();
    assert_eq!(lock_count(&t), 0, "every lock was released");
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from) {
        let target = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&f, &target).unwrap();
    }
}

#[test]
fn prune_killed_after_every_step_leaves_a_sound_repository() {
    let t = small_repo();
    // A first snapshot of unrelated data: its pack becomes wholly unused below, so the prune
    // under test always has a marked pack to delete.
    t.snapshot_bytes(&synthetic_dump(300_000, 997), &[]);
    let base = synthetic_dump(1024 * 1024, 21);
    let mut dumps = BTreeMap::new();
    for i in 0..10u64 {
        let d = changed_dump(&base, i, i);
        let s = t.snapshot_bytes(&d, &[]);
        dumps.insert(s["id"].as_str().unwrap().to_string(), d);
    }
    let forget = |n: &str| {
        t.dv(&["forget", "--keep-last", n, "--group-by", ""])
            .assert()
            .success();
    };
    forget("6");
    // Marks the packs only the forgotten snapshots used, and repacks nothing, so the first
    // snapshot's pack (base chunks every snapshot shares, plus its own region) is still there,
    // partly used, for the next prune to repack.
    t.dv(&["prune", "--grace", "0s", "--max-unused", "unlimited"])
        .assert()
        .success();
    forget("3");
    // The next prune deletes the packs marked above and repacks or marks new ones, so every
    // step has work to do. (`--max-unused 0`: whether some pack passes 5% unused depends on
    // where the secret-seeded chunker cuts, and on which chunks later deltas use as bases.)
    let plan = stdout_json(
        &t.dv(&[
            "prune",
            "--grace",
            "0s",
            "--max-unused",
            "0",
            "--dry-run",
            "--json",
        ])
        .assert()
        .success(),
    );
    assert!(plan["delete_packs"].as_u64().unwrap() > 0, "{plan}");
    assert!(plan["repack_packs"].as_u64().unwrap() > 0, "{plan}");
    let kept = snapshot_ids(&t);
    assert_eq!(kept.len(), 3);

    for step in 1..=9 {
        let dir = tempfile::tempdir().unwrap();
        let copy = TestRepo {
            repo: dir.path().join("repo"),
            dir,
        };
        copy_dir(&t.repo, &copy.repo);
        let out = copy
            .dv(&["prune", "--grace", "0s", "--max-unused", "0"])
            .env("DUMPVAULT_TEST_PRUNE_ABORT_AFTER", step.to_string())
            .assert()
            .failure();
        assert!(
            stderr(&out).contains(&format!("aborting after step {step}")),
            "{}",
            stderr(&out)
        );
        copy.dv(&["check"]).assert().success();
        for id in &kept {
            assert!(
                copy.restore_bytes(id) == dumps[id],
                "step {step}: {id} differs"
            );
        }
        // The dead process's lock is stale: the next prune runs, and `unlock` removes it.
        copy.dv(&["prune", "--grace", "0s"]).assert().success();
        copy.dv(&["prune", "--grace", "0s"]).assert().success();
        let report = stdout_json(
            &copy
                .dv(&["check", "--read-data", "--json"])
                .assert()
                .success(),
        );
        assert_eq!(
            report["notes"],
            serde_json::json!([]),
            "step {step}: {report}"
        );
        for id in &kept {
            assert!(
                copy.restore_bytes(id) == dumps[id],
                "step {step}: {id} differs"
            );
        }
        assert_eq!(
            lock_count(&copy),
            1,
            "step {step}: the aborted prune's lock"
        );
        let unlocked = copy.dv(&["unlock"]).assert().success();
        assert!(
            String::from_utf8_lossy(&unlocked.get_output().stdout).contains("1 lock(s) removed")
        );
        assert_eq!(lock_count(&copy), 0);
    }
}

#[test]
fn prune_in_a_loop_while_snapshots_run() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    let t = small_repo();
    let base = synthetic_dump(1024 * 1024, 31);
    const WRITERS: u64 = 3;
    const MAX_PER_WRITER: u64 = 25;
    const MAX_ROUNDS: u64 = 100;
    let written: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());
    let (finished, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let mut rounds = 0;
    let mut totals = BTreeMap::<&str, u64>::new();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (t, base, written, finished, stop) = (&t, &base, &written, &finished, &stop);
            s.spawn(move || {
                for k in 0..MAX_PER_WRITER {
                    if stop.load(SeqCst) {
                        break;
                    }
                    // Regions come from a small pool, so new snapshots keep deduplicating
                    // against data that forget has just made unused.
                    let d = changed_dump(base, w * 7 + k * 3, (w + k) % 4);
                    let out = t.snapshot_bytes(&d, &["--tag", &format!("w{w}")]);
                    let id = out["id"].as_str().unwrap().to_string();
                    written.lock().unwrap().push((id, d));
                }
                finished.fetch_add(1, SeqCst);
            });
        }
        // Forget and prune back to back until packs were deleted while snapshots ran.
        while finished.load(SeqCst) < WRITERS && rounds < MAX_ROUNDS {
            rounds += 1;
            let out = t
                .dv(&[
                    "forget",
                    "--keep-last",
                    "2",
                    "--group-by",
                    "tags",
                    "--prune",
                ])
                .args(["--grace", "1s", "--max-unused", "0%", "--json"])
                // One host, index writes in milliseconds: a 1 s lock window (rule P3) is
                // enough here, and lets packs go while snapshots keep running.
                .env("DUMPVAULT_TEST_LOCK_WINDOW_SECS", "1")
                .assert()
                .success();
            let v = stdout_json(&out);
            for k in [
                "delete_packs",
                "repack_packs",
                "resurrected_packs",
                "deferred_by_lock",
            ] {
                *totals.entry(k).or_default() += v["prune"][k].as_u64().unwrap();
            }
            if totals["delete_packs"] > 0 && rounds >= 8 {
                break;
            }
        }
        stop.store(true, SeqCst);
    });
    assert!(
        totals["delete_packs"] > 0 && totals["repack_packs"] > 0,
        "packs were deleted and repacked while snapshots ran: {totals:?}"
    );
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    t.dv(&["check", "--read-data"]).assert().success();
    let written = written.into_inner().unwrap();
    let remaining = snapshot_ids(&t);
    assert!(remaining.len() >= WRITERS as usize * 2);
    for (id, dump) in &written {
        if remaining.contains(id) {
            assert!(t.restore_bytes(id) == *dump, "{id} differs");
        }
    }
    println!(
        "{} snapshots by {WRITERS} writers during {rounds} forget+prune rounds: {totals:?}; \
         {} remain and restore",
        written.len(),
        remaining.len()
    );
    assert_eq!(lock_count(&t), 0);
}

#[test]
fn second_prune_is_refused_while_snapshots_go_on() {
    let t = small_repo();
    t.snapshot_bytes(&synthetic_dump(300_000, 41), &[]);
    let fifo = t.path("prune.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_dumpvault"))
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .env("DUMPVAULT_TEST_PAUSE", "prune-step-1")
        .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
        .args(["prune", "--grace", "0s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("paused at prune-step-1") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "prune ended early");
    }
    let refused = t.dv(&["prune"]).assert().code(3);
    let msg = stderr(&refused);
    assert!(msg.contains("locked exclusively by `prune`"), "{msg}");
    assert!(msg.contains(&format!("pid {}", first.id())), "{msg}");
    assert!(msg.contains("dumpvault unlock"), "{msg}");
    // Snapshots neither wait nor fail while prune holds its lock.
    let s = t.snapshot_bytes(&synthetic_dump(200_000, 42), &[]);
    // `unlock` leaves a live lock alone.
    let out = t.dv(&["unlock"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("0 lock(s) removed"));
    t.dv(&["prune"]).assert().code(3);

    std::fs::write(&fifo, "go\n").unwrap();
    assert!(first.wait().unwrap().success());
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    assert!(t.restore_bytes(s["id"].as_str().unwrap()) == synthetic_dump(200_000, 42));
    t.dv(&["check"]).assert().success();
    assert_eq!(lock_count(&t), 0);
}

#[test]
fn bad_input_removes_nothing() {
    let t = small_repo();
    for i in 0..3 {
        t.snapshot_bytes(&synthetic_dump(100_000, 50 + i), &[]);
    }
    let (snaps, packs) = (snapshot_ids(&t), t.packs());
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["forget", "--keep-within", "3x"],
            2,
            "invalid duration \"3x\"",
        ),
        (
            &["forget", "--keep-within-daily", "1d-2h"],
            2,
            "invalid duration",
        ),
        (
            &["forget", "--keep-daily", "0"],
            2,
            "--keep-daily 0 would keep no snapshots",
        ),
        (&["forget", "--keep-last", "-1"], 2, "-1"),
        (&["forget"], 2, "--unsafe-allow-remove-all"),
        (
            &["forget", "--group-by", "color", "--keep-last", "1"],
            2,
            "unknown --group-by field",
        ),
        (
            &["forget", "--time-zone", "Mars/Olympus", "--keep-last", "1"],
            2,
            "IANA",
        ),
        (&["forget", "deadbeef"], 1, "no snapshot \"deadbeef\""),
        (&["forget", "latest", "--keep-last", "1"], 2, "not both"),
        (
            &["forget", "--keep-last", "1", "--dry-run", "--prune"],
            2,
            "cannot be used with",
        ),
        (
            &["prune", "--max-unused", "150%"],
            2,
            "--max-unused \"150%\"",
        ),
        (&["prune", "--grace", "soon"], 2, "--grace \"soon\""),
        (
            &["prune", "--grace", "1h", "--instant-delete"],
            2,
            "cannot be used with",
        ),
    ];
    for (args, code, text) in cases {
        let out = t.dv(args).assert().code(*code);
        let msg = stderr(&out);
        assert!(msg.contains(text), "{args:?}: {msg}");
        assert!(!msg.contains("panicked"), "{args:?}: {msg}");
    }
    assert_eq!(snapshot_ids(&t), snaps);
    assert_eq!(t.packs(), packs);
    // A dry run removes nothing either, and says so.
    let out = t
        .dv(&["forget", "--keep-last", "1", "--dry-run"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("would keep 1 and remove 2"), "{text}");
    assert_eq!(snapshot_ids(&t), snaps);
}

#[test]
fn buckets_follow_the_time_zone_and_dst() {
    let t = small_repo();
    let mut ids = BTreeMap::new();
    // New York, autumn 2026: 01:30 happens twice (EDT, then EST).
    for time in [
        "2026-11-01T00:30:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        // Evening in New York, but already the next day in UTC.
        "2026-03-10T19:30:00-04:00",
        "2026-03-10T20:30:00-04:00",
    ] {
        let s = t.snapshot_bytes(time.as_bytes(), &["--time", time]);
        ids.insert(s["id"].as_str().unwrap().to_string(), time);
    }
    let kept = |args: &[&str]| -> BTreeSet<&str> {
        let mut a = vec!["forget", "--dry-run", "--json"];
        a.extend_from_slice(args);
        let v = stdout_json(&t.dv(&a).assert().success());
        (v["plan"]["groups"][0]["snapshots"]
            .as_array()
            .unwrap()
            .iter())
        .filter(|s| s["keep"].as_bool().unwrap())
        .map(|s| ids[s["id"].as_str().unwrap()])
        .collect()
    };
    let ny = ["--time-zone", "America/New_York"];
    assert_eq!(
        kept(&[&ny[..], &["--keep-hourly", "2"]].concat()),
        BTreeSet::from(["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"]),
        "the repeated 01:00 hour is two buckets"
    );
    assert_eq!(
        kept(&[&ny[..], &["--keep-daily", "3"]].concat()),
        BTreeSet::from(["2026-11-01T01:30:00-05:00", "2026-03-10T20:30:00-04:00"]),
        "in New York the March evening is one day"
    );
    assert_eq!(
        kept(&["--time-zone", "UTC", "--keep-daily", "3"]),
        BTreeSet::from([
            "2026-11-01T01:30:00-05:00",
            "2026-03-10T20:30:00-04:00",
            "2026-03-10T19:30:00-04:00"
        ]),
        "in UTC 20:30 New York time is already March 11"
    );
    assert_eq!(snapshot_ids(&t).len(), 5, "dry runs remove nothing");
}

/// A tmpfs mounted for one test (CI runs as root), unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, bytes: u64) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ok.success(), "mounting a tmpfs needs root");
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 14, section 5: on a full disk (a killed snapshot's partial file took the last
/// bytes), `prune` frees space instead of failing with ENOSPC: stale temporary files go
/// first, then the packs due for deletion, before anything is written. On 6967ef0 it failed
/// and only `rm .tmp/*` by hand helped.
#[test]
fn prune_frees_space_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"), 24 * 1024 * 1024);
    let t = TestRepo {
        repo: disk.0.join("repo"),
        dir,
    };
    t.dv(&["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"])
        .args(["--pack-size-mib", "1"])
        .assert()
        .success();
    let dumps: Vec<Vec<u8>> = (0..3).map(|i| synthetic_dump(3_000_000, 70 + i)).collect();
    let ids: Vec<String> = (dumps.iter())
        .enumerate()
        .map(|(i, d)| {
            let name = format!("db{i}");
            let s = t.snapshot_bytes(d, &["--database", &name]);
            s["id"].as_str().unwrap().to_string()
        })
        .collect();
    t.dv(&["forget", &ids[0], &ids[1]]).assert().success();
    // This prune marks their packs; the next one deletes them.
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    // A killed snapshot's partial file fills the disk.
    let partial = t.repo.join(".tmp").join("killed-snapshot.partial");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    let mut f = std::fs::File::create(&partial).unwrap();
    let block = vec![0x5au8; 64 * 1024];
    let full = loop {
        use std::io::Write;
        if let Err(e) = f.write_all(&block).and_then(|_| f.flush()) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(28), "{full}"); // ENOSPC
    drop(f);
    let old = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&partial)
        .status()
        .unwrap();
    assert!(old.success());
    let before = dir_size(&t.repo);
    let out = t
        .dv(&["prune", "--grace", "0s", "--json"])
        .assert()
        .success();
    let report = stdout_json(&out);
    assert!(report["delete_packs"].as_u64().unwrap() > 0, "{report}");
    assert!(!partial.exists());
    assert!(dir_size(&t.repo) < before);
    t.dv(&["check", "--read-data"]).assert().success();
    assert!(t.restore_bytes(&ids[2]) == dumps[2]);
    t.snapshot_bytes(&dumps[0], &["--database", "db0"]);
    drop(disk);
}

/// `forget --prune` says that it prunes (not "`dumpvault prune` frees their space"), and a
/// prune that keeps marked packs for the grace period says until when (issue 18).
#[test]
fn forget_with_prune_says_what_it_frees_and_until_when_marked_packs_stay() {
    let t = TestRepo::new();
    for seed in 0..3 {
        t.snapshot_bytes(&synthetic_dump(300_000, 100 + seed), &[]);
    }
    let out = t
        .dv(&["forget", "--keep-last", "1", "--prune", "--grace", "2h"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(!text.contains("`dumpvault prune` frees"), "{text}");
    assert!(
        text.contains("removed 2 snapshot(s); pruning their data:"),
        "{text}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let until = text
        .split("kept until ")
        .nth(1)
        .unwrap_or_else(|| panic!("no `kept until` in {text}"));
    let stamp: jiff::Timestamp = format!("{}Z", until[..19].replace(' ', "T"))
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {until}"));
    let ahead = stamp.as_second() - now;
    assert!((7000..=7300).contains(&ahead), "{ahead} s ahead: {text}");
}
