//! What a user sees (issue 18): one exit-code contract (0 ok, 1 failed, 2 usage or
//! configuration, 3 damaged or locked, 130/143 interrupted), JSON errors with `--json`,
//! `restore --overwrite`, no folder created by a read-only command, unknown S3 parameters, and
//! readable output: `snapshots` times, the snapshot summary, `stats` without a rate under a
//! day.

use crate::common::{synthetic_dump, TestRepo, PASSWORD};
use assert_cmd::Command;
use serde_json::Value;
use std::io::Read;
use std::process::Stdio;

/// The binary with no repository and no password from the environment.
fn bare() -> Command {
    let mut c = Command::cargo_bin("dumpvault").unwrap();
    c.env_remove("DUMPVAULT_REPOSITORY")
        .env_remove("DUMPVAULT_PASSWORD")
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND");
    c
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

fn stdout_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).to_string()
}

/// The single JSON object a `--json` command printed on stderr for its error.
fn json_error(a: &assert_cmd::assert::Assert) -> Value {
    let err = stderr_of(a);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    serde_json::from_str(&err).unwrap_or_else(|e| panic!("not JSON ({e}): {err}"))
}

#[test]
fn no_repository_is_a_usage_error() {
    let a = bare()
        .args(["snapshots"])
        .env("DUMPVAULT_PASSWORD", "x")
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("no repository given") && err.contains("--repo"),
        "{err}"
    );
}

#[test]
fn no_password_is_a_usage_error() {
    let t = TestRepo::new();
    // A password file that cannot be read.
    let missing = t.path("no-such-password-file");
    let a = bare()
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .args(["snapshots", "--password-file", missing.to_str().unwrap()])
        .assert()
        .code(2);
    assert!(
        stderr_of(&a).contains("cannot read password file"),
        "{}",
        stderr_of(&a)
    );
    // No password at all, and no terminal to ask on (setsid: no controlling terminal).
    let out = std::process::Command::new("setsid")
        .arg(assert_cmd::cargo::cargo_bin("dumpvault"))
        .arg("snapshots")
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .env_remove("DUMPVAULT_PASSWORD")
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no password given"), "{err}");
    // A wrong one is a usage error too.
    t.dv(&["snapshots"])
        .env("DUMPVAULT_PASSWORD", "not the password")
        .assert()
        .code(2);
}

#[test]
fn restore_without_a_target_is_a_usage_error() {
    let t = TestRepo::new();
    let s = t.snapshot_bytes(b"CREATE TABLE a();\n", &[]);
    let id = s["short_id"].as_str().unwrap();
    let a = t.dv(&["restore", id]).assert().code(2);
    assert!(
        stderr_of(&a).contains("--target FILE, --stdout or --to"),
        "{}",
        stderr_of(&a)
    );
}

#[test]
fn each_exit_code_of_the_contract() {
    let t = TestRepo::new();
    // 0: it worked.
    t.dv(&["snapshots"]).assert().code(0);
    // 2: a flag clap does not know.
    t.dv(&["snapshots", "--no-such-flag"]).assert().code(2);
    // 1: the operation failed (the dump command failed).
    let a = t.dv(&["snapshot", "--command", "exit 7"]).assert().code(1);
    assert!(stderr_of(&a).contains("exit"), "{}", stderr_of(&a));
    // 2: the snapshot command given nothing to store.
    t.dv(&["snapshot"]).assert().code(2);
    // 3: damaged — the config no longer authenticates.
    t.snapshot_bytes(&synthetic_dump(10_000, 1), &[]);
    let config = t.repo.join("config");
    let mut bytes = std::fs::read(&config).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&config, bytes).unwrap();
    let a = t.dv(&["snapshots"]).assert().code(3);
    assert!(stderr_of(&a).contains("config"), "{}", stderr_of(&a));
}

#[test]
fn json_errors_are_json_on_stderr() {
    let a = bare().args(["snapshots", "--json"]).assert().code(2);
    let e = json_error(&a);
    assert_eq!(e["exit_code"], 2, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("no repository given"),
        "{e}"
    );
    assert!(a.get_output().stdout.is_empty());
    // A usage error clap finds is JSON too, with the same code.
    let a = bare()
        .args(["--json", "snapshots", "--bogus"])
        .assert()
        .code(2);
    let e = json_error(&a);
    assert_eq!(e["exit_code"], 2, "{e}");
    assert!(e["error"].as_str().unwrap().contains("--bogus"), "{e}");
    // A failed operation: exit 1 in the object as in the status.
    let t = TestRepo::new();
    let a = t
        .dv(&["snapshot", "--json", "--command", "exit 7"])
        .assert()
        .code(1);
    assert_eq!(json_error(&a)["exit_code"], 1);
}

#[test]
fn an_interrupt_is_json_with_json() {
    let t = TestRepo::new();
    let ready = t.path("ready");
    assert!(std::process::Command::new("mkfifo")
        .arg(&ready)
        .status()
        .unwrap()
        .success());
    // The command writes some dump bytes, then says so on the FIFO, then waits for its end.
    let command = format!(
        "head -c 100000 /dev/zero; echo go > '{}'; exec sleep 600",
        ready.display()
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dumpvault"))
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .args(["snapshot", "--json", "--command", &command])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blocks until the dump command runs, i.e. long after the signal handler was installed.
    let mut go = String::new();
    std::fs::File::open(&ready)
        .unwrap()
        .read_to_string(&mut go)
        .unwrap();
    assert_eq!(go.trim(), "go");
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let e: Value = serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(e["exit_code"], 130);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("interrupted by SIGINT"),
        "{e}"
    );
}

#[test]
fn restore_refuses_to_overwrite_a_file_without_overwrite() {
    let t = TestRepo::new();
    let dump = synthetic_dump(50_000, 3);
    let s = t.snapshot_bytes(&dump, &[]);
    let id = s["short_id"].as_str().unwrap();
    let target = t.path("existing.sql");
    std::fs::write(&target, b"keep me").unwrap();
    let a = t
        .dv(&["restore", id, "--target", target.to_str().unwrap()])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("--overwrite") && err.contains("existing.sql"),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
    t.dv(&[
        "restore",
        id,
        "--target",
        target.to_str().unwrap(),
        "--overwrite",
    ])
    .assert()
    .success();
    assert!(std::fs::read(&target).unwrap() == dump);
}

#[test]
fn read_only_commands_do_not_create_a_missing_repository() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexist");
    for args in [
        &["snapshots"][..],
        &["stats"],
        &["check"],
        &["ls", "latest"],
    ] {
        let a = bare()
            .env("DUMPVAULT_REPOSITORY", &missing)
            .env("DUMPVAULT_PASSWORD", "x")
            .args(args)
            .assert()
            .code(2);
        assert!(
            stderr_of(&a).contains("not a dumpvault repository"),
            "{}",
            stderr_of(&a)
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }
    // `init` still creates it, private.
    bare()
        .env("DUMPVAULT_REPOSITORY", &missing)
        .env("DUMPVAULT_PASSWORD", "x")
        .args(["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"])
        .assert()
        .success();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&missing).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn unknown_s3_parameter_is_an_error() {
    let a = bare()
        .env("DUMPVAULT_PASSWORD", "x")
        .args(["snapshots", "--repo", "s3://bucket/prefix?regoin=eu-west-1"])
        .assert()
        .code(2);
    let err = stderr_of(&a);
    assert!(
        err.contains("unknown parameter \"regoin\"") && err.contains("region"),
        "{err}"
    );
}

/// The column of `field` in the header line must be where the row's value starts.
fn column_of(line: &str, value: &str) -> usize {
    line.find(value)
        .unwrap_or_else(|| panic!("{value:?} not in {line:?}"))
}

#[test]
fn snapshots_shows_local_time_to_the_second_and_utc_on_request() {
    let t = TestRepo::new();
    t.snapshot_bytes(
        b"CREATE TABLE a();\n",
        &["--time", "2026-12-06T08:06:22.77691575+00:00"],
    );
    // A fixed zone nine hours east of UTC (POSIX form, no zone files needed).
    let local = t.dv(&["snapshots"]).env("TZ", "JST-9").assert().success();
    let text = stdout_of(&local);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("id") && lines[0].contains("time"),
        "{text}"
    );
    assert!(lines[1].chars().all(|c| c == '-' || c == ' '), "{text}");
    let row = lines[2];
    assert!(row.contains("2026-12-06 17:06:22"), "{text}");
    assert!(!text.contains(".77") && !text.contains("+00:00"), "{text}");
    // Columns line up: every header starts where its values start.
    assert_eq!(
        column_of(lines[0], "time"),
        column_of(row, "2026-12-06"),
        "{text}"
    );
    assert_eq!(
        column_of(lines[0], "host"),
        column_of(row, &gethostname()),
        "{text}"
    );
    let utc = t
        .dv(&["snapshots", "--utc"])
        .env("TZ", "JST-9")
        .assert()
        .success();
    let text = stdout_of(&utc);
    assert!(
        text.contains("time (UTC)") && text.contains("2026-12-06 08:06:22"),
        "{text}"
    );
}

fn gethostname() -> String {
    let out = std::process::Command::new("hostname").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn snapshot_summary_says_what_a_ratio_means_and_omits_a_meaningless_one() {
    let t = TestRepo::new();
    let dump = synthetic_dump(300_000, 9);
    let snap = |t: &TestRepo| {
        let a = t
            .dv(&["snapshot", "--stdin", "--stdin-name", "dump.sql"])
            .write_stdin(dump.clone())
            .assert()
            .success();
        stdout_of(&a)
    };
    let first = snap(&t);
    assert!(
        first.contains("logical 293.0 KiB") && first.contains("stored"),
        "{first}"
    );
    assert!(
        first.contains("compression: every chunk was new"),
        "{first}"
    );
    assert!(!first.contains("dedup"), "{first}");
    let second = snap(&t);
    assert!(
        second.contains("nothing added, every chunk was already in the repository"),
        "{second}"
    );
    assert!(second.contains("stored 0 B"), "{second}");
    assert!(
        !second.contains("ratio") && !second.contains("x smaller"),
        "{second}"
    );
    let j = t.snapshot_bytes(&dump, &[]);
    assert!(j["dedup_ratio"].is_null(), "{j}");
    assert_eq!(j["stored_bytes"], 0, "{j}");
}

#[test]
fn stats_shows_no_growth_rate_under_a_day() {
    let t = TestRepo::new();
    t.snapshot_bytes(
        &synthetic_dump(100_000, 1),
        &["--time", "2026-12-06T08:00:00+00:00"],
    );
    t.snapshot_bytes(
        &synthetic_dump(120_000, 2),
        &["--time", "2026-12-06T09:00:00+00:00"],
    );
    let a = t.dv(&["stats", "--by", "database"]).assert().success();
    let text = stdout_of(&a);
    assert!(!text.contains("/day"), "{text}");
    assert!(
        text.contains(
            "growth:          - (shown once the snapshots span a day; they span 1.0 hours)"
        ),
        "{text}"
    );
    t.snapshot_bytes(
        &synthetic_dump(140_000, 3),
        &["--time", "2026-12-08T09:00:00+00:00"],
    );
    let a = t.dv(&["stats", "--by", "database"]).assert().success();
    let text = stdout_of(&a);
    assert!(text.contains("/day over 2.0 days"), "{text}");
    // The per-database table: header and figures aligned by comfy-table, a rate there too.
    let lines: Vec<&str> = text.lines().collect();
    let head = lines
        .iter()
        .position(|l| l.starts_with("database"))
        .unwrap();
    assert!(
        lines[head + 2].starts_with("dump") && lines[head + 2].ends_with("/day"),
        "{text}"
    );
    assert_eq!(
        lines[head].len(),
        lines[head + 2].len(),
        "right-aligned last column: {text}"
    );
}

/// A snapshot whose new chunks went in as deltas against the previous snapshot's says so:
/// how many and their bytes, and a ratio that names the deltas (it said "compression: every
/// chunk was new").
#[test]
fn snapshot_summary_counts_delta_blobs() {
    let t = TestRepo::new();
    let mut dump = synthetic_dump(1 << 20, 41);
    let snap = |data: &[u8], json: bool| {
        let mut args = vec!["snapshot", "--stdin", "--stdin-name", "dump.sql"];
        if json {
            args.push("--json");
        }
        let a = t.dv(&args).write_stdin(data.to_vec()).assert().success();
        stdout_of(&a)
    };
    let first = snap(&dump, false);
    assert!(
        first.contains("compression: every chunk was new") && !first.contains("delta"),
        "{first}"
    );
    // Scattered edits that keep the length: every chunk changes, each is a small patch.
    let edit = |dump: &mut Vec<u8>, hour: usize| {
        let text = format!("h{hour:05}");
        let mut at = hour * 131;
        while at + text.len() < dump.len() {
            dump[at..at + text.len()].copy_from_slice(text.as_bytes());
            at += 8 * 1024;
        }
    };
    edit(&mut dump, 1);
    let second = snap(&dump, false);
    assert!(!second.contains("every chunk was new"), "{second}");
    assert!(
        second.contains(" stored as deltas, ")
            && second.contains("deltas against earlier chunks and compression"),
        "{second}"
    );
    edit(&mut dump, 2);
    let j: Value = serde_json::from_str(&snap(&dump, true)).unwrap();
    let deltas = j["delta_blobs"].as_u64().unwrap();
    let delta_bytes = j["delta_bytes"].as_u64().unwrap();
    assert!(
        deltas > 0 && deltas <= j["new_blobs"].as_u64().unwrap(),
        "{j}"
    );
    assert!(
        delta_bytes > 0 && delta_bytes < j["stored_bytes"].as_u64().unwrap(),
        "{j}"
    );
    assert!(j["compression_ratio"].is_null(), "{j}");
    assert!(j["dedup_ratio"].as_f64().unwrap() > 1.0, "{j}");
    // The text's count is the same figure.
    assert!(second.contains("stored as deltas"), "{second}");
}

/// `snapshots --json`: `local_time` is RFC 3339 to the second in the offset the snapshot was
/// taken at (it was the manifest's long form with nanoseconds); `time` stays UTC as it was.
#[test]
fn snapshots_json_local_time_is_rfc3339_with_offset() {
    let t = TestRepo::new();
    t.snapshot_bytes(
        b"CREATE TABLE a();\n",
        &["--time", "2026-12-06T14:00:00.77691575+01:00"],
    );
    t.snapshot_bytes(
        b"CREATE TABLE b();\n",
        &["--time", "2026-12-07T02:30:05-05:30"],
    );
    let a = t
        .dv(&["snapshots", "--json"])
        .env("TZ", "JST-9")
        .assert()
        .success();
    let list: Vec<Value> = serde_json::from_str(&stdout_of(&a)).unwrap();
    let got: Vec<(&str, &str)> = list
        .iter()
        .map(|s| {
            (
                s["local_time"].as_str().unwrap(),
                s["time"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-12-06T14:00:00+01:00", "2026-12-06T13:00:00.77691575Z"),
            ("2026-12-07T02:30:05-05:30", "2026-12-07T08:00:05Z"),
        ]
    );
}
