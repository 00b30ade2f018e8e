//! The repository core through the binary: round trips, deduplication, bad input, crashes.

use crate::common::*;
use std::io::Write;

fn added(v: &serde_json::Value) -> u64 {
    v["bytes_added"].as_u64().unwrap()
}

#[test]
fn hundred_mb_round_trip_and_dedup() {
    let t = TestRepo::new();
    let dump = synthetic_dump(100 * 1024 * 1024, 7);
    let first = t.snapshot_bytes(&dump, &["--tag", "run=1"]);
    assert_eq!(first["bytes_read"].as_u64().unwrap(), dump.len() as u64);
    assert!(
        added(&first) < dump.len() as u64 / 2,
        "compression should help: {first}"
    );
    let restored = t.restore_bytes(first["id"].as_str().unwrap());
    assert!(restored == dump, "restored dump differs");

    let again = t.snapshot_bytes(&dump, &[]);
    println!(
        "second snapshot of the same 100 MB added {} bytes",
        added(&again)
    );
    assert!(added(&again) < dump.len() as u64 / 100, "{again}");

    let mut inserted = dump[..dump.len() / 2].to_vec();
    inserted.extend(std::iter::repeat_n(b'x', 1024));
    inserted.extend_from_slice(&dump[dump.len() / 2..]);
    let third = t.snapshot_bytes(&inserted, &[]);
    println!("1 KB inserted in the middle added {} bytes", added(&third));
    assert!(added(&third) < 1024 * 1024, "{third}");
    assert!(t.restore_bytes("latest") == inserted);

    let list = t.dv(&["snapshots", "--json"]).assert().success();
    let list: serde_json::Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for key in ["id", "short_id", "time", "host", "tags", "source", "size"] {
        assert!(list[0].get(key).is_some(), "missing {key}");
    }
    let tagged = t
        .dv(&["snapshots", "--json", "--tag", "run=1"])
        .assert()
        .success();
    let tagged: serde_json::Value = serde_json::from_slice(&tagged.get_output().stdout).unwrap();
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    t.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn wrong_password_fails_cleanly() {
    let t = TestRepo::new();
    t.snapshot_bytes(b"some data\n", &[]);
    let out = t
        .dv(&["snapshots"])
        .env("DUMPVAULT_PASSWORD", "nope")
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("wrong password"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_and_non_repositories_are_named() {
    let t = TestRepo::new();
    let empty = t.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = t
        .dv(&["snapshots"])
        .env("DUMPVAULT_REPOSITORY", &empty)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("is not a dumpvault repository"), "{err}");
    let out = t.dv(&["init"]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("already holds"), "{err}");
}

#[test]
fn flipped_byte_in_pack_fails_restore_naming_the_pack() {
    let t = TestRepo::new();
    let dump = synthetic_dump(2 * 1024 * 1024, 3);
    let s = t.snapshot_bytes(&dump, &[]);
    let packs = t.packs();
    assert!(!packs.is_empty());
    let pack = &packs[0];
    let mut bytes = std::fs::read(pack).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x01;
    std::fs::write(pack, &bytes).unwrap();
    let target = t.path("out.sql");
    let out = t
        .dv(&[
            "restore",
            s["id"].as_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let name = pack.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "error should name pack {name}: {err}");
    assert!(!target.exists(), "no restored file may be left behind");
    assert!(!t.path("out.dumpvault-partial").exists());
    let out = t.dv(&["check", "--read-data"]).assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(name) && err.contains(&s["short_id"].as_str().unwrap().to_string()),
        "{err}"
    );
}

#[test]
fn failing_command_leaves_no_snapshot() {
    let t = TestRepo::new();
    let out = t
        .dv(&[
            "snapshot",
            "--command",
            "printf 'CREATE TABLE a();\\n'; echo 'pg_dump: error: connection refused' >&2; exit 1",
        ])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("exit code 1") && err.contains("connection refused"),
        "{err}"
    );
    assert!(files_under(&t.repo.join("snapshots")).is_empty());
    let ok = t
        .dv(&["snapshot", "--json", "--command", "printf 'hello\\n'"])
        .assert()
        .success();
    let ok: serde_json::Value = serde_json::from_slice(&ok.get_output().stdout).unwrap();
    assert_eq!(t.restore_bytes(ok["id"].as_str().unwrap()), b"hello\n");
}

/// dumpvault runs with glibc's malloc limited to 2 arenas (peak memory flat with the dump's
/// size; src/main.rs), and keeps a value the user set: its dump command inherits what the
/// process had.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_process_runs_with_two_malloc_arenas_unless_the_user_set_them() {
    let t = TestRepo::new();
    for (set, want) in [(None, "2\n"), (Some("4"), "4\n")] {
        let show = "printf '%s\\n' \"$MALLOC_ARENA_MAX\"";
        let mut c = t.dv(&["snapshot", "--json", "--command", show]);
        c.env_remove("MALLOC_ARENA_MAX");
        if let Some(v) = set {
            c.env("MALLOC_ARENA_MAX", v);
        }
        let out = c.assert().success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(
            t.restore_bytes(v["id"].as_str().unwrap()),
            want.as_bytes(),
            "MALLOC_ARENA_MAX set by the user: {set:?}"
        );
    }
}

#[test]
fn kill_9_during_snapshot_leaves_a_working_repository() {
    let t = TestRepo::new();
    let older = synthetic_dump(3 * 1024 * 1024, 11);
    let s = t.snapshot_bytes(&older, &[]);
    let big = t.path("big.sql");
    std::fs::write(&big, synthetic_dump(40 * 1024 * 1024, 12)).unwrap();
    let ready = t.path("ready.fifo");
    let block = t.path("block.fifo");
    for f in [&ready, &block] {
        assert!(std::process::Command::new("mkfifo")
            .arg(f)
            .status()
            .unwrap()
            .success());
    }
    let script = format!(
        "cat '{}'; echo go > '{}'; cat '{}'",
        big.display(),
        ready.display(),
        block.display()
    );
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    cmd.env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .args(["snapshot", "--quiet", "--command", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // Opening the fifo blocks until the dump command has written all 40 MB into dumpvault.
    let mut line = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::open(&ready).unwrap(), &mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // Release the orphaned dump command.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&block)
        .unwrap()
        .flush()
        .unwrap();

    assert_eq!(files_under(&t.repo.join("snapshots")).len(), 1);
    let newer = synthetic_dump(1024 * 1024, 13);
    let n = t.snapshot_bytes(&newer, &[]);
    assert!(t.restore_bytes(s["id"].as_str().unwrap()) == older);
    assert!(t.restore_bytes(n["id"].as_str().unwrap()) == newer);
    t.dv(&["check"]).assert().success();
}

#[test]
fn fixture_repository_still_restores() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_dir(&fixture.join("repo-v1"), &repo);
    let target = dir.path().join("out.sql");
    let mut c = assert_cmd::Command::cargo_bin("dumpvault").unwrap();
    c.env("DUMPVAULT_REPOSITORY", &repo)
        .env("DUMPVAULT_PASSWORD", "fixture")
        .args(["restore", "latest", "--target", target.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(fixture.join("repo-v1.sql")).unwrap()
    );
    let mut c = assert_cmd::Command::cargo_bin("dumpvault").unwrap();
    c.env("DUMPVAULT_REPOSITORY", &repo)
        .env("DUMPVAULT_PASSWORD", "fixture")
        .args(["check", "--read-data"])
        .assert()
        .success();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// `init --chunker-min/avg/max` fixes the repository's chunker parameters (borg's
/// `--chunker-params`): they are recorded in the config, chunks follow them, and sizes outside
/// FastCDC's limits are a usage error that creates nothing.
#[test]
fn init_takes_chunker_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let t = TestRepo { dir, repo };
    let kdf = ["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"];
    let bad = [&kdf[..], &["--chunker-min", "16", "--chunker-avg", "64"]].concat();
    let bad = [&bad[..], &["--chunker-max", "128"]].concat();
    let a = t.dv(&bad).assert().code(2);
    let err = stderr(&a);
    assert!(err.contains("FastCDC's limits"), "{err}");
    assert!(!t.repo.join("config").exists(), "nothing created");
    let sizes = ["--chunker-min", "65536", "--chunker-avg", "262144"];
    let good = [&kdf[..], &sizes[..], &["--chunker-max", "1048576"]].concat();
    t.dv(&good).assert().success();
    let config = json(&mut t.dv(&["cat", "config"]));
    assert_eq!(config["chunker"]["min_size"], 65536, "{config}");
    assert_eq!(config["chunker"]["avg_size"], 262144, "{config}");
    assert_eq!(config["chunker"]["max_size"], 1048576, "{config}");
    let data = synthetic_dump(8 << 20, 7);
    let out = t.snapshot_bytes(&data, &[]);
    let id = out["id"].as_str().unwrap().to_string();
    assert_eq!(t.restore_bytes(&id), data);
    let stats = json(&mut t.dv(&["--json", "stats", "--breakdown", &id]));
    let chunks = stats["breakdown"]["whole"]["count"].as_u64();
    let chunks = chunks.unwrap_or_else(|| panic!("{stats}"));
    assert!(
        (8..=128).contains(&chunks),
        "8 MiB in chunks of >= 64 KiB: {chunks}"
    );
}
