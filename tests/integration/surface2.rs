//! Issue 18, the rest: usage errors that exited 1 (`repair` and `copy` without a password,
//! `verify --into` of another engine), the `run` summary table, fleet output files in a
//! missing directory, Prometheus `engine`/`server` labels, and the disk-space floor of a
//! local `copy_to` target.

use crate::common::{TestRepo, PASSWORD};
use crate::db::{pg_server, PgDb};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("dumpvault")
}

/// Runs the binary without a controlling terminal (setsid) nor any password variable, so
/// that no password can be asked for; returns (exit code, stderr).
fn no_tty(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = std::process::Command::new("setsid");
    c.arg(bin()).args(args).stdin(Stdio::null());
    for v in [
        "DUMPVAULT_PASSWORD",
        "DUMPVAULT_PASSWORD_FILE",
        "DUMPVAULT_PASSWORD_COMMAND",
        "DUMPVAULT_FROM_PASSWORD",
        "DUMPVAULT_FROM_PASSWORD_FILE",
        "DUMPVAULT_FROM_PASSWORD_COMMAND",
    ] {
        c.env_remove(v);
    }
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn repair_config_without_password_exits_2() {
    let t = TestRepo::new();
    let repo = t.repo.to_str().unwrap();
    let (code, err) = no_tty(&["repair", "config"], &[("DUMPVAULT_REPOSITORY", repo)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no password given"), "{err}");
    // Bad chunker sizes are a usage error too.
    let a = t
        .dv(&[
            "repair",
            "config",
            "--chunker-min",
            "9",
            "--chunker-avg",
            "4",
            "--chunker-max",
            "10",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("--chunker-min 9"), "{err}");
}

#[test]
fn copy_without_source_password_exits_2() {
    let a = TestRepo::new();
    let b = TestRepo::new();
    let from = a.repo.to_str().unwrap();
    let (code, err) = no_tty(
        &["copy", "--from", from],
        &[
            ("DUMPVAULT_REPOSITORY", b.repo.to_str().unwrap()),
            ("DUMPVAULT_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no source repository password given") && err.contains("(--from)"),
        "{err}"
    );
    // An unreadable source password file names the file and the side.
    let missing = b.path("no-such-file");
    let out = b
        .dv(&[
            "copy",
            "--from",
            from,
            "--from-password-file",
            missing.to_str().unwrap(),
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("cannot read source password file") && err.contains("no-such-file"),
        "{err}"
    );
}

#[test]
fn verify_into_another_engine_exits_2_naming_both() {
    let t = TestRepo::new();
    let db = PgDb::create("vinto");
    db.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    t.dv(&["snapshot", &db.url()]).assert().success();
    let a = t
        .dv(&[
            "verify",
            "latest",
            "--into",
            "mysql://root@127.0.0.1:3306/dvt_never_created",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("is a postgres dump") && err.contains("in a mysql database"),
        "{err}"
    );
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn fleet(t: &TestRepo, args: &[&str]) -> (Option<i32>, String, String) {
    let mut c = Command::cargo_bin("dumpvault").unwrap();
    c.env_remove("DUMPVAULT_REPOSITORY")
        .env_remove("DUMPVAULT_PASSWORD")
        .env_remove("DUMPVAULT_CONFIG")
        .env_remove("DUMPVAULT_METRICS_FILE")
        .env_remove("DUMPVAULT_STATUS_FILE")
        .current_dir(t.dir.path())
        .args(args);
    let o = c.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn output_files_in_a_missing_directory_are_a_config_error() {
    let t = TestRepo::new();
    let pass = t.path("pass");
    write_private(&pass, &format!("{PASSWORD}\n"));
    let missing = t.path("no-such-dir").join("m.prom");
    let cfg = t.path("dumpvault.toml");
    write_private(
        &cfg,
        &format!(
            "metrics_file = {:?}\n\n[repository.main]\nurl = {:?}\npassword_file = {:?}\n\n\
             [job.shop]\nrepository = \"main\"\nsources = [\"{}/shop\"]\n",
            missing.to_str().unwrap(),
            t.repo.to_str().unwrap(),
            pass.to_str().unwrap(),
            pg_server()
        ),
    );
    let c = cfg.to_str().unwrap();
    let (code, out, err) = fleet(&t, &["run", "--config", c]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.contains("metrics_file")
            && err.contains(missing.to_str().unwrap())
            && err.contains("does not exist"),
        "{err}"
    );
    // Nothing ran.
    let snaps: Value = serde_json::from_slice(
        &t.dv(&["snapshots", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 0);
    // The status file via the environment: also named, with its origin.
    let status = t.path("gone").join("status.json");
    let mut cmd = Command::cargo_bin("dumpvault").unwrap();
    let o = cmd
        .env("DUMPVAULT_STATUS_FILE", &status)
        .env_remove("DUMPVAULT_METRICS_FILE")
        .args(["run", "--config", c, "--metrics-file"])
        .arg(t.path("m.prom"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("status_file") && err.contains("environment DUMPVAULT_STATUS_FILE"),
        "{err}"
    );
    // `config show` flags it and still shows the configuration.
    let (code, out, err) = fleet(&t, &["config", "show", "--json", "--config", c]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: metrics_file"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert!(problems[0].as_str().unwrap().contains("metrics_file"));
}

/// `name value` pairs of a Prometheus text file: series (with labels) to value.
fn series(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn run_table_metrics_labels_and_copy_floor() {
    let t = TestRepo::new();
    let offsite = TestRepo::new();
    let db = PgDb::create("labels");
    db.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    // The same database through two server names: two series, not one.
    let other = db.url().replacen("127.0.0.1", "localhost", 1);
    assert_ne!(other, db.url(), "the test server is reached as 127.0.0.1");
    let pass = t.path("pass");
    write_private(&pass, &format!("{PASSWORD}\n"));
    let metrics = t.path("m.prom");
    let cfg = t.path("dumpvault.toml");
    write_private(
        &cfg,
        &format!(
            "metrics_file = {:?}\n\n[repository.main]\nurl = {:?}\npassword_file = {:?}\n\n\
             [repository.offsite]\nurl = {:?}\npassword_file = {:?}\nmin_free_space = \"1EiB\"\n\n\
             [job.shop]\nrepository = \"main\"\nsources = [{:?}, {:?}]\ncopy_to = \"offsite\"\n",
            metrics.to_str().unwrap(),
            t.repo.to_str().unwrap(),
            pass.to_str().unwrap(),
            offsite.repo.to_str().unwrap(),
            pass.to_str().unwrap(),
            db.url(),
            other
        ),
    );
    let (code, out, err) = fleet(&t, &["run", "--config", cfg.to_str().unwrap()]);
    // Both snapshots are made; the copy is refused by the target's floor, so the job fails.
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        err.contains("copy to repository \"offsite\"")
            && err.contains("copy refused")
            && err.contains("min_free_space"),
        "{err}"
    );
    let snaps: Value = serde_json::from_slice(
        &offsite
            .dv(&["snapshots", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 0, "nothing copied");

    // The summary is a table like `snapshots`: header, dashes, one row per database.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["job", "database", "status", "snapshot", "duration", "logical", "stored"],
        "{out}"
    );
    assert!(lines[1].starts_with("---"), "{out}");
    let rows: Vec<&str> = lines[2..]
        .iter()
        .copied()
        .filter(|l| l.starts_with("shop "))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for r in &rows {
        let cells: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cells[1], db.name, "{out}");
        assert_eq!(cells[2], "ok", "{out}");
        assert_eq!(cells[3].len(), 8, "{out}");
    }
    assert!(!out.contains("dedup"), "{out}");

    // Two series of `dumpvault_last_run_success`, told apart by `server`.
    let text = std::fs::read_to_string(&metrics).unwrap();
    let ok: Vec<String> = series(&text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("dumpvault_last_run_success{"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(ok.len(), 2, "{text}");
    for (k, host) in ok.iter().zip(["127.0.0.1", "localhost"]) {
        assert!(
            k.contains(&format!("database=\"{}\"", db.name))
                && k.contains("engine=\"postgres\"")
                && k.contains(&format!("server=\"{host}:")),
            "{text}"
        );
    }
    // Each series counts its own server's snapshot.
    let counts: Vec<f64> = series(&text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("dumpvault_snapshots{"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(counts, [1.0, 1.0], "{text}");
}
