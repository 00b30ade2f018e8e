//! Fleet mode through the binary, against the real PostgreSQL 15 and MariaDB 10.11 on this
//! machine: `dumpvault run` over seven jobs (one broken) with retention, copy to a second
//! repository, the metrics and status files and the notification command; `run --daemon` on
//! an every-second schedule stopped by SIGTERM mid-dump; a plain run stopped by SIGTERM; due
//! and named jobs; an unopenable repository and a notification command killed at its timeout;
//! the layering of defaults < file < `DUMPVAULT_*` < flags seen through `config show`;
//! configuration errors (exit code 2); the notification webhook (a loopback HTTP server gets
//! one POST for the broken job, a dead URL only a warning); and the `min_free_space` floor.

use crate::common::{files_under, TestRepo, PASSWORD};
use crate::db::{pg_server, psql_at, unique_name, MyDb, PgDb};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Fleet settings read from the environment: removed so that the test's own environment does
/// not leak into the configuration under test.
const FLEET_VARS: [&str; 9] = [
    "DUMPVAULT_REPOSITORY",
    "DUMPVAULT_PASSWORD",
    "DUMPVAULT_PASSWORD_FILE",
    "DUMPVAULT_PASSWORD_COMMAND",
    "DUMPVAULT_CONFIG",
    "DUMPVAULT_JOBS",
    "DUMPVAULT_METRICS_FILE",
    "DUMPVAULT_STATUS_FILE",
    "DUMPVAULT_NOTIFY_TIMEOUT",
];

/// Overall bound of each wait on a running process (polled, never slept on).
const TIMEOUT: Duration = Duration::from_secs(60);

/// The binary with `args` and none of [`FLEET_VARS`] set.
fn fleet(args: &[&str]) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("dumpvault").unwrap();
    for v in FLEET_VARS {
        c.env_remove(v);
    }
    c.args(args);
    c
}

/// Runs the command; returns (exit code, stdout, stderr).
fn outcome(c: &mut assert_cmd::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Writes `text` to `path` with permission bits `mode`.
fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `s` as a TOML basic string (the paths and URLs here are plain ASCII).
fn q(s: impl AsRef<str>) -> String {
    format!("{:?}", s.as_ref())
}

fn p(path: &Path) -> String {
    q(path.to_str().unwrap())
}

/// `snapshots --json` of `t`.
fn snapshots(t: &TestRepo) -> Vec<Value> {
    let out = t.dv(&["snapshots", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v.as_array().unwrap().clone()
}

/// Unix seconds of a `snapshots --json` entry's `time`.
fn unix_time(s: &Value) -> i64 {
    s["time"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}

/// What a snapshot and its copy share: database, time and streams (name, size, BLAKE3).
fn fingerprint(s: &Value) -> (String, String, String) {
    (
        s["database"].as_str().unwrap().to_string(),
        s["time"].as_str().unwrap().to_string(),
        // Not the chunk counts: a copy between unrelated repositories chunks again.
        (s["streams"].as_array().unwrap().iter())
            .map(|st| format!("{} {} {}", st["name"], st["size"], st["blake3"]))
            .collect::<Vec<_>>()
            .join(";"),
    )
}

/// Bytes of every file of the repository except its locks.
fn repo_bytes(t: &TestRepo) -> u64 {
    files_under(&t.repo)
        .iter()
        .filter(|f| !f.starts_with(t.repo.join("locks")))
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

/// Samples of a Prometheus text file: metric name → label set (as written) → value.
fn prometheus(text: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap();
        out.entry(name.to_string()).or_default().insert(
            labels.trim_end_matches('}').to_string(),
            value.parse().unwrap(),
        );
    }
    out
}

fn db_labels(job: &str, database: &str, url: &str, repository: &str) -> String {
    let (engine, server) = engine_server(url);
    format!(
        "job=\"{job}\",database=\"{database}\",engine=\"{engine}\",server=\"{server}\",\
         repository=\"{repository}\""
    )
}

/// The engine and `HOST:PORT` of a test server URL (`postgres://postgres@127.0.0.1:5432/x`).
fn engine_server(url: &str) -> (&'static str, String) {
    let engine = if url.starts_with("postgres") {
        "postgres"
    } else {
        "mysql"
    };
    let rest = url.split("://").nth(1).unwrap_or("");
    let host = rest.rsplit('@').next().unwrap_or("");
    (engine, host.split('/').next().unwrap_or("").to_string())
}

/// The status file's key of a database: job, engine, server, database.
fn status_key(job: &str, database: &str, url: &str) -> String {
    let (engine, server) = engine_server(url);
    format!("{job}/{engine}/{server}/{database}")
}

/// One call of the notification script: its `key=value` lines and the JSON it read.
struct Call {
    vars: BTreeMap<String, String>,
    stdin: Value,
}

/// A notification script appending each call's variables and standard input to `log`, and
/// printing a line on its standard output.
fn notify_script(dir: &Path, log: &Path) -> std::path::PathBuf {
    let script = dir.join("notify.sh");
    let text = format!(
        "#!/bin/sh\n\
         log={}\n\
         {{\n\
         echo '=== call'\n\
         printf 'job=%s\\n' \"$DUMPVAULT_JOB\"\n\
         printf 'status=%s\\n' \"$DUMPVAULT_STATUS\"\n\
         printf 'failed=%s\\n' \"$DUMPVAULT_FAILED_DATABASES\"\n\
         printf 'host=%s\\n' \"$DUMPVAULT_HOST\"\n\
         printf 'error=%s' \"$DUMPVAULT_ERROR\" | tr '\\n' ' '\n\
         echo\n\
         echo '=== stdin'\n\
         cat\n\
         echo\n\
         }} >> \"$log\"\n\
         echo \"notified $DUMPVAULT_JOB on stdout\"\n",
        log.to_str().unwrap()
    );
    write_mode(&script, &text, 0o755);
    script
}

/// The calls recorded in the notification log (none if it does not exist).
fn calls(log: &Path) -> Vec<Call> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split("=== call\n")
        .filter(|c| !c.is_empty())
        .map(|c| {
            let (head, stdin) = c.split_once("=== stdin\n").unwrap();
            Call {
                vars: head
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                stdin: serde_json::from_str(stdin.trim())
                    .unwrap_or_else(|e| panic!("notification stdin is not JSON ({e}): {stdin:?}")),
            }
        })
        .collect()
}

/// Parses `run --json` output.
fn run_json(stdout: &str, stderr: &str) -> Value {
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("run --json output is not JSON ({e}): {stdout}\n{stderr}"))
}

#[test]
fn run_snapshots_keeps_copies_measures_and_notifies_the_broken_job() {
    let main = TestRepo::new();
    let offsite = TestRepo::new();
    let pgs: Vec<PgDb> = (0..4)
        .map(|i| {
            let d = PgDb::create("fleet");
            d.sql(&format!(
                "CREATE TABLE items (id int PRIMARY KEY, name text);\n\
                 INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, {}) g;",
                100 * (i + 1)
            ));
            d
        })
        .collect();
    let mys: Vec<MyDb> = (0..2)
        .map(|i| {
            let d = MyDb::create("fleet");
            d.sql(&format!(
                "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40));\n\
                 INSERT INTO items WITH RECURSIVE s(n) AS \
                 (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {}) \
                 SELECT n, CONCAT('item ', n) FROM s;",
                50 * (i + 1)
            ));
            d
        })
        .collect();
    let missing = unique_name("missing"); // never created

    // job name → database name.
    let mut jobs: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (i, d) in pgs.iter().enumerate() {
        jobs.insert(format!("pg{i}"), (d.name.clone(), d.url()));
    }
    for (i, d) in mys.iter().enumerate() {
        jobs.insert(format!("my{i}"), (d.name.clone(), d.url()));
    }

    let pass = main.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let metrics = main.path("metrics.prom");
    let status = main.path("status.json");
    let log = main.path("notify.log");
    let script = notify_script(main.dir.path(), &log);
    let mut cfg = format!(
        "jobs = 3\nmetrics_file = {}\nstatus_file = {}\n\n\
         [repository.main]\nurl = {}\npassword_file = {}\n\n\
         [repository.offsite]\nurl = {}\npassword_file = {}\n\n\
         [notify]\ncommand = {}\ntimeout = \"20s\"\n",
        p(&metrics),
        p(&status),
        p(&main.repo),
        p(&pass),
        p(&offsite.repo),
        p(&pass),
        q(format!("sh {}", script.to_str().unwrap())),
    );
    for (job, (_, url)) in &jobs {
        cfg.push_str(&format!(
            "\n[job.{job}]\nrepository = \"main\"\nsources = [{}]\ntags = [\"fleet\"]\n\
             copy_to = \"offsite\"\nkeep = {{ last = 1 }}\n",
            q(url)
        ));
    }
    cfg.push_str(&format!(
        "\n[job.broken]\nrepository = \"main\"\nsources = [{}]\nkeep = {{ last = 1 }}\n",
        q(format!("{}/{missing}", pg_server()))
    ));
    let cfg_path = main.path("dumpvault.toml");
    write_mode(&cfg_path, &cfg, 0o600);
    let cfg_arg = cfg_path.to_str().unwrap();

    let mut previous_ids: BTreeSet<String> = BTreeSet::new();
    for round in 1..=2usize {
        let (code, stdout, stderr) = outcome(&mut fleet(&["run", "--json", "--config", cfg_arg]));
        assert_eq!(code, 1, "round {round}: one job fails\n{stdout}\n{stderr}");
        // The notification command's output goes to stderr: stdout is the JSON alone.
        assert!(stderr.contains("notified broken on stdout"), "{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let out = run_json(&stdout, &stderr);
        assert_eq!(out["exit_code"], 1);
        assert_eq!(out["stopped"], false);
        assert_eq!(out["repository_errors"], serde_json::json!([]));
        assert_eq!(out["warnings"], serde_json::json!([]), "{out}");
        let by_job: BTreeMap<String, &Value> = (out["jobs"].as_array().unwrap().iter())
            .map(|j| (j["name"].as_str().unwrap().to_string(), j))
            .collect();
        assert_eq!(by_job.len(), 7, "{out}");

        // The broken job failed alone, with the reason; the others succeeded.
        let broken = by_job["broken"];
        assert_eq!(broken["status"], "failed");
        assert_eq!(broken["databases"][0]["database"], missing.as_str());
        assert_eq!(broken["databases"][0]["status"], "failed");
        let err = broken["errors"][0].as_str().unwrap();
        assert!(err.contains(&missing), "{err}");
        assert!(stderr.contains(&missing), "{stderr}");
        let mut run_ids: BTreeMap<String, String> = BTreeMap::new(); // database → id
        let mut run_added: BTreeMap<String, u64> = BTreeMap::new();
        for (job, (db, _)) in &jobs {
            let j = by_job[job.as_str()];
            assert_eq!(j["status"], "ok", "{j}");
            assert_eq!(j["errors"], serde_json::json!([]));
            let d = &j["databases"][0];
            assert_eq!(d["database"], db.as_str());
            assert_eq!(d["status"], "ok");
            assert!(d["bytes_read"].as_u64().unwrap() > 0, "{d}");
            run_ids.insert(db.clone(), d["snapshot"].as_str().unwrap().to_string());
            run_added.insert(db.clone(), d["bytes_added"].as_u64().unwrap());
            // Retention: keep last = 1 removes the previous round's snapshot.
            assert_eq!(j["forgotten"], if round == 1 { 0 } else { 1 }, "{j}");
            assert_eq!(j["copied"], 1, "{j}");
        }
        // Prune runs once for main, and only when retention removed snapshots.
        let prunes = out["prunes"].as_array().unwrap();
        if round == 1 {
            assert!(prunes.is_empty(), "{out}");
        } else {
            assert_eq!(prunes.len(), 1, "{out}");
            assert_eq!(prunes[0]["repository"], "main");
            assert_eq!(prunes[0]["error"], Value::Null);
        }

        // Main: exactly this round's six snapshots, one per database.
        let list = snapshots(&main);
        let ids: BTreeMap<String, String> = list
            .iter()
            .map(|s| {
                (
                    s["database"].as_str().unwrap().to_string(),
                    s["id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(list.len(), 6, "{list:?}");
        assert_eq!(ids, run_ids);
        assert!(
            list.iter()
                .all(|s| s["tags"][0] == "fleet"
                    && s["tags"][1].as_str().unwrap().starts_with("job="))
        );
        assert!(ids.values().all(|i| !previous_ids.contains(i)));

        // Offsite: every round's snapshots (it has no retention).
        let copies = snapshots(&offsite);
        assert_eq!(copies.len(), 6 * round, "{copies:?}");
        let mut per_db: BTreeMap<String, usize> = BTreeMap::new();
        for c in &copies {
            *per_db
                .entry(c["database"].as_str().unwrap().into())
                .or_default() += 1;
        }
        assert!(per_db.values().all(|n| *n == round), "{per_db:?}");
        // A copy gets its own id; it keeps the database, time and streams.
        let copied: BTreeSet<(String, String, String)> = copies.iter().map(fingerprint).collect();
        assert!(
            list.iter().all(|s| copied.contains(&fingerprint(s))),
            "this round's snapshots are in offsite: {copies:?}"
        );

        // Metrics match what the repositories report.
        let m = prometheus(&std::fs::read_to_string(&metrics).unwrap());
        for s in &list {
            let db = s["database"].as_str().unwrap();
            let (job, (_, url)) = jobs.iter().find(|(_, (d, _))| d == db).unwrap();
            let l = db_labels(job, db, url, "main");
            let get = |name: &str| {
                *m[name]
                    .get(&l)
                    .unwrap_or_else(|| panic!("no {name}{{{l}}} in {m:?}"))
            };
            assert_eq!(
                get("dumpvault_last_success_timestamp_seconds"),
                unix_time(s) as f64
            );
            assert_eq!(
                get("dumpvault_last_bytes_added"),
                s["added"].as_u64().unwrap() as f64
            );
            assert_eq!(s["added"].as_u64().unwrap(), run_added[db]);
            assert_eq!(get("dumpvault_snapshots"), 1.0);
            assert_eq!(get("dumpvault_last_run_success"), 1.0);
            assert!(get("dumpvault_last_bytes_read") > 0.0);
        }
        let bl = db_labels("broken", &missing, &pg_server(), "main");
        assert_eq!(m["dumpvault_last_run_success"][&bl], 0.0);
        assert_eq!(m["dumpvault_snapshots"][&bl], 0.0);
        assert!(!m["dumpvault_last_success_timestamp_seconds"].contains_key(&bl));
        assert_eq!(
            m["dumpvault_repository_size_bytes"]["repository=\"main\""],
            repo_bytes(&main) as f64
        );
        assert_eq!(
            m["dumpvault_repository_size_bytes"]["repository=\"offsite\""],
            repo_bytes(&offsite) as f64
        );

        // The status file agrees.
        let st: Value = serde_json::from_slice(&std::fs::read(&status).unwrap()).unwrap();
        assert_eq!(st["jobs"]["broken"]["status"], "failed");
        for (job, (db, url)) in &jobs {
            let d = &st["databases"][status_key(job, db, url)];
            assert_eq!(d["last_snapshot"], run_ids[db].as_str(), "{st}");
            assert_eq!(d["snapshots"], 1);
        }

        // The notification: once per run, for the broken job only.
        let c = calls(&log);
        assert_eq!(c.len(), round, "one call per run");
        let last = &c[round - 1];
        assert_eq!(last.vars["job"], "broken");
        assert_eq!(last.vars["status"], "failed");
        assert_eq!(last.vars["failed"], missing);
        assert!(last.vars["error"].contains(&missing), "{:?}", last.vars);
        assert!(!last.vars["host"].is_empty());
        assert_eq!(last.stdin["job"], "broken");
        assert_eq!(last.stdin["failed_databases"], serde_json::json!([missing]));

        previous_ids = ids.into_values().collect();
    }
    main.dv(&["check"]).assert().success();
    offsite.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn daemon_runs_on_schedule_and_stops_cleanly_on_sigterm() {
    let t = TestRepo::new();
    let db = PgDb::create("daemon");
    db.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);\n\
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200000) g;",
    );
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let status = t.path("status.json");
    let cfg = t.path("dumpvault.toml");
    write_mode(
        &cfg,
        &format!(
            "status_file = {}\n\n[repository.main]\nurl = {}\npassword_file = {}\n\n\
             [job.tick]\nrepository = \"main\"\nsources = [{}]\nschedule = \"* * * * * *\"\n\n\
             [job.manual]\nrepository = \"main\"\nsources = [{}]\n",
            p(&status),
            p(&t.repo),
            p(&pass),
            q(db.url()),
            q(format!("{}/{}", pg_server(), unique_name("never"))),
        ),
        0o600,
    );
    let stdout = std::fs::File::create(t.path("daemon.out")).unwrap();
    let stderr = std::fs::File::create(t.path("daemon.err")).unwrap();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    for v in FLEET_VARS {
        cmd.env_remove(v);
    }
    let mut child = cmd
        .args([
            "run",
            "--daemon",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let err_text = || std::fs::read_to_string(t.path("daemon.err")).unwrap_or_default();

    // Wait until the status file records two snapshots of the scheduled job's database.
    let key = status_key("tick", &db.name, &db.url());
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("daemon exited early ({s}): {}", err_text());
        }
        let count = std::fs::read(&status)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["databases"][&key]["snapshots"].as_u64())
            .unwrap_or(0);
        if count >= 2 {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "the daemon did not run the job twice in {TIMEOUT:?}: {}",
            err_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM while a dump runs: wait for a connection to the database (dumps only).
    let dumping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid();",
        db.name
    );
    while psql_at("postgres", &dumping).trim() == "0" {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("daemon exited early ({s}): {}", err_text());
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "no dump started in {TIMEOUT:?}: {}",
            err_text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > TIMEOUT * 2 {
            let _ = child.kill();
            panic!("the daemon did not stop after SIGTERM: {}", err_text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = err_text();
    assert_eq!(code.code(), Some(0), "{err}");
    assert!(err.contains("stopped cleanly"), "{err}");

    // Only complete snapshots, all of the scheduled job (the unscheduled one never ran), and
    // no lock left behind.
    t.dv(&["check", "--read-data"]).assert().success();
    let list = snapshots(&t);
    assert!(list.len() >= 2, "{list:?}");
    assert!(list.iter().all(|s| s["database"] == db.name.as_str()));
    assert!(files_under(&t.repo.join("locks")).is_empty());
    // Each run printed its outcome as one line of JSON.
    let out = std::fs::read_to_string(t.path("daemon.out")).unwrap();
    let runs: Vec<Value> = out.lines().map(|l| run_json(l, &err)).collect();
    assert!(runs.len() >= 2, "{out}");
    assert!(
        runs.iter()
            .all(|r| r["jobs"][0]["name"] == "tick" && r["exit_code"] == 0),
        "{out}"
    );
    // Every run reported is stored and nothing else: the run that SIGTERM interrupted
    // finished its dump (and knew it was stopping).
    let reported: BTreeSet<&str> = runs
        .iter()
        .map(|r| r["jobs"][0]["databases"][0]["snapshot"].as_str().unwrap())
        .collect();
    let stored: BTreeSet<&str> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(reported, stored);
    let last = runs.last().unwrap();
    assert_eq!(last["stopped"], true, "{out}");
    assert_eq!(last["jobs"][0]["databases"][0]["status"], "ok", "{out}");
    println!(
        "daemon: {} runs, dump durations (ms): {:?}",
        runs.len(),
        runs.iter()
            .map(|r| r["jobs"][0]["databases"][0]["duration_ms"]
                .as_u64()
                .unwrap())
            .collect::<Vec<_>>()
    );
    let last_id = list.last().unwrap()["id"].as_str().unwrap().to_string();
    let restored = t.restore_bytes(&last_id);
    assert!(
        String::from_utf8_lossy(&restored).contains("CREATE TABLE public.t "),
        "restored dump"
    );
}

/// `config show --json` with `extra` arguments and `env` variables.
fn show(cfg: &Path, env: &[(&str, &str)], extra: &[&str]) -> Value {
    let mut args = vec![
        "config",
        "show",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut c = fleet(&args);
    for (k, v) in env {
        c.env(k, v);
    }
    let (code, stdout, stderr) = outcome(&mut c);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn setting(v: &Value, key: &str) -> (Value, String) {
    (
        v[key]["value"].clone(),
        v[key]["origin"].as_str().unwrap().to_string(),
    )
}

#[test]
fn config_show_layers_defaults_file_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let repo_section = "[repository.main]\nurl = \"/srv/backup/main\"\npassword = \"hunter2\"\n\n\
        [job.shop]\nrepository = \"main\"\n\
        sources = [\"postgres://shop:s3cret@127.0.0.1:5432/shop\"]\n";
    // Built-in defaults only.
    let bare = dir.path().join("bare.toml");
    write_mode(&bare, repo_section, 0o600);
    let v = show(&bare, &[], &[]);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    assert_eq!(setting(&v, "jobs"), (cores.into(), "default".into()));
    assert_eq!(setting(&v, "metrics_file"), (Value::Null, "default".into()));
    assert_eq!(setting(&v, "status_file"), (Value::Null, "default".into()));
    assert_eq!(
        setting(&v, "notify_timeout"),
        ("30s".into(), "default".into())
    );
    assert_eq!(
        setting(&v, "config_file"),
        (bare.to_str().unwrap().into(), "flag --config".into())
    );
    // Secrets are masked.
    let text = v.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert_eq!(v["repositories"]["main"]["password"], "password = ***");
    assert_eq!(
        v["job"]["shop"]["sources"][0],
        "postgres://shop:***@127.0.0.1:5432/shop"
    );

    // The file over the defaults.
    let full = dir.path().join("full.toml");
    write_mode(
        &full,
        &format!(
            "jobs = 4\nmetrics_file = \"/from/file.prom\"\nstatus_file = \"/from/file.json\"\n\n\
             [notify]\ncommand = \"true\"\ntimeout = \"11s\"\n\n{repo_section}"
        ),
        0o600,
    );
    let v = show(&full, &[], &[]);
    assert_eq!(setting(&v, "jobs"), (4.into(), "file, line 1".into()));
    assert_eq!(
        setting(&v, "metrics_file"),
        ("/from/file.prom".into(), "file, line 2".into())
    );
    assert_eq!(
        setting(&v, "status_file"),
        ("/from/file.json".into(), "file, line 3".into())
    );
    assert_eq!(
        setting(&v, "notify_timeout"),
        ("11s".into(), "file, line 7".into())
    );

    // The environment over the file.
    let env = [
        ("DUMPVAULT_JOBS", "5"),
        ("DUMPVAULT_METRICS_FILE", "/from/env.prom"),
        ("DUMPVAULT_STATUS_FILE", "/from/env.json"),
        ("DUMPVAULT_NOTIFY_TIMEOUT", "12s"),
    ];
    let v = show(&full, &env, &[]);
    assert_eq!(
        setting(&v, "jobs"),
        (5.into(), "environment DUMPVAULT_JOBS".into())
    );
    assert_eq!(
        setting(&v, "metrics_file"),
        (
            "/from/env.prom".into(),
            "environment DUMPVAULT_METRICS_FILE".into()
        )
    );
    assert_eq!(
        setting(&v, "status_file"),
        (
            "/from/env.json".into(),
            "environment DUMPVAULT_STATUS_FILE".into()
        )
    );
    assert_eq!(
        setting(&v, "notify_timeout"),
        ("12s".into(), "environment DUMPVAULT_NOTIFY_TIMEOUT".into())
    );

    // Flags over the environment.
    let flags = [
        "--jobs",
        "6",
        "--metrics-file",
        "/from/flag.prom",
        "--status-file",
        "/from/flag.json",
        "--notify-timeout",
        "13s",
    ];
    let v = show(&full, &env, &flags);
    assert_eq!(setting(&v, "jobs"), (6.into(), "flag --jobs".into()));
    assert_eq!(
        setting(&v, "metrics_file"),
        ("/from/flag.prom".into(), "flag --metrics-file".into())
    );
    assert_eq!(
        setting(&v, "status_file"),
        ("/from/flag.json".into(), "flag --status-file".into())
    );
    assert_eq!(
        setting(&v, "notify_timeout"),
        ("13s".into(), "flag --notify-timeout".into())
    );

    // Each setting is layered on its own: jobs from a flag, the metrics file from the
    // environment, the notify timeout from the file, the status file from its default.
    let v = show(
        &bare,
        &[("DUMPVAULT_METRICS_FILE", "/from/env.prom")],
        &["--jobs", "2"],
    );
    assert_eq!(setting(&v, "jobs"), (2.into(), "flag --jobs".into()));
    assert_eq!(
        setting(&v, "metrics_file"),
        (
            "/from/env.prom".into(),
            "environment DUMPVAULT_METRICS_FILE".into()
        )
    );
    assert_eq!(setting(&v, "status_file"), (Value::Null, "default".into()));
    let v = show(
        &full,
        &[("DUMPVAULT_JOBS", "9")],
        &["--notify-timeout", "2m"],
    );
    assert_eq!(
        setting(&v, "jobs"),
        (9.into(), "environment DUMPVAULT_JOBS".into())
    );
    assert_eq!(
        setting(&v, "metrics_file"),
        ("/from/file.prom".into(), "file, line 2".into())
    );
    assert_eq!(
        setting(&v, "notify_timeout"),
        ("120s".into(), "flag --notify-timeout".into())
    );

    // The file itself: DUMPVAULT_CONFIG, overridden by --config.
    let mut c = fleet(&["config", "show", "--json"]);
    c.env("DUMPVAULT_CONFIG", &full);
    let (code, stdout, stderr) = outcome(&mut c);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        setting(&v, "config_file"),
        (
            full.to_str().unwrap().into(),
            "environment DUMPVAULT_CONFIG".into()
        )
    );
    assert_eq!(setting(&v, "jobs").0, 4);
    let v = show(&bare, &[("DUMPVAULT_CONFIG", full.to_str().unwrap())], &[]);
    assert_eq!(setting(&v, "config_file").1, "flag --config");
    assert_eq!(setting(&v, "jobs").1, "default");

    // The text form shows the same values and origins.
    let (code, stdout, stderr) = outcome(
        fleet(&[
            "config",
            "show",
            "--config",
            full.to_str().unwrap(),
            "--jobs",
            "7",
        ])
        .env("DUMPVAULT_NOTIFY_TIMEOUT", "12s"),
    );
    assert_eq!(code, 0, "{stderr}");
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_string()
    };
    assert!(line("jobs").starts_with("jobs = 7 ") && line("jobs").ends_with("# flag --jobs"));
    assert!(line("metrics_file").contains("\"/from/file.prom\""));
    assert!(line("metrics_file").ends_with("# file, line 2"));
    assert!(line("notify_timeout").ends_with("# environment DUMPVAULT_NOTIFY_TIMEOUT"));
    // Repositories and jobs are TOML tables from the file, without unset (null) values.
    assert!(!stdout.contains("null"), "{stdout}");
    assert!(stdout.contains("\n[repository."), "{stdout}");
    assert!(stdout.contains("\n[job."), "{stdout}");
    assert!(
        stdout.contains(&format!("# from {}", full.display())),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("s3cret"),
        "{stdout}"
    );

    // A bad value in the environment or a flag names the variable or flag.
    let mut c = fleet(&["config", "show", "--config", full.to_str().unwrap()]);
    c.env("DUMPVAULT_JOBS", "zero");
    let (code, _, stderr) = outcome(&mut c);
    assert_eq!(code, 2);
    assert!(stderr.contains("DUMPVAULT_JOBS"), "{stderr}");
    let (code, _, stderr) = outcome(&mut fleet(&[
        "config",
        "show",
        "--config",
        full.to_str().unwrap(),
        "--notify-timeout",
        "soon",
    ]));
    assert_eq!(code, 2);
    assert!(stderr.contains("--notify-timeout"), "{stderr}");
}

#[test]
fn bad_configurations_are_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = "[repository.main]\nurl = \"/srv/backup/main\"\npassword_file = \"/etc/pw\"\n\n\
        [job.shop]\nrepository = \"main\"\nsources = [\"postgres://postgres@127.0.0.1:5432/shop\"]\n\
        schedule = \"0 * * * *\"\n";
    let file = |name: &str, text: &str, mode: u32| {
        let f = dir.path().join(name);
        write_mode(&f, text, mode);
        f
    };
    // Both commands load the configuration the same way.
    let refuse = |f: &Path| -> String {
        let mut first = None;
        for cmd in [["run", "--config"], ["config", "show"]] {
            let mut args = cmd.to_vec();
            if cmd[0] == "config" {
                args.push("--config");
            }
            args.push(f.to_str().unwrap());
            let (code, stdout, stderr) = outcome(&mut fleet(&args));
            assert_eq!(code, 2, "{args:?}: {stdout}\n{stderr}");
            assert!(stderr.contains(f.to_str().unwrap()), "{stderr}");
            first.get_or_insert(stderr);
        }
        first.unwrap()
    };
    let f = file("good.toml", good, 0o644);
    fleet(&["config", "show", "--config", f.to_str().unwrap()])
        .assert()
        .success();

    // An inline password in a file others can read: refused, with the fix.
    let inline = good.replace("password_file = \"/etc/pw\"", "password = \"hunter2\"");
    let f = file("inline.toml", &inline, 0o644);
    let e = refuse(&f);
    assert!(e.contains(&format!("chmod 600 {}", f.display())), "{e}");
    assert!(e.contains("mode 644"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    fleet(&["config", "show", "--config", f.to_str().unwrap()])
        .assert()
        .success();

    // So is a database password in a source URL (masked in the message).
    let url = good.replace("postgres@", "postgres:hunter2@");
    let f = file("urlpass.toml", &url, 0o640);
    let e = refuse(&f);
    assert!(e.contains(&format!("chmod 600 {}", f.display())), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    fleet(&["config", "show", "--config", f.to_str().unwrap()])
        .assert()
        .success();

    // An unknown key: its line and column.
    let f = file(
        "unknown.toml",
        &good.replace("schedule =", "schedul ="),
        0o644,
    );
    let e = refuse(&f);
    assert!(e.contains("unknown field `schedul`"), "{e}");
    assert!(e.contains("line 8, column 1"), "{e}");

    // A bad cron expression: the file, line and column.
    let f = file("cron.toml", &good.replace("0 * * * *", "61 * * * *"), 0o644);
    let e = refuse(&f);
    assert!(e.contains(&format!("{}:8:12:", f.display())), "{e}");
    assert!(e.contains("schedule") && e.contains("61 * * * *"), "{e}");

    // A job naming an undefined repository.
    let f = file(
        "norepo.toml",
        &good.replace("repository = \"main\"", "repository = \"nope\""),
        0o644,
    );
    let e = refuse(&f);
    assert!(e.contains(&format!("{}:6:14:", f.display())), "{e}");
    assert!(e.contains("\"nope\" is not defined"), "{e}");

    // A copy_to naming an undefined repository.
    let f = file(
        "nocopy.toml",
        &format!("{good}copy_to = \"offsite\"\n"),
        0o644,
    );
    let e = refuse(&f);
    assert!(
        e.contains(":9:11:") && e.contains("\"offsite\" is not defined"),
        "{e}"
    );

    // A file that does not exist, and a job the file does not define.
    let e = refuse(&dir.path().join("absent.toml"));
    assert!(e.contains("cannot read configuration file"), "{e}");
    let f = file("good2.toml", good, 0o644);
    let (code, _, stderr) = outcome(&mut fleet(&[
        "run",
        "--config",
        f.to_str().unwrap(),
        "nosuchjob",
    ]));
    assert_eq!(code, 2);
    assert!(stderr.contains("no job named \"nosuchjob\""), "{stderr}");
}

#[test]
fn plain_run_selects_due_jobs_and_named_jobs() {
    let t = TestRepo::new();
    let db = PgDb::create("due");
    db.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);");
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let log = t.path("notify.log");
    let script = notify_script(t.dir.path(), &log);
    let cfg = t.path("dumpvault.toml");
    write_mode(
        &cfg,
        &format!(
            "status_file = {}\n\n[repository.main]\nurl = {}\npassword_file = {}\n\n\
             [job.yearly]\nrepository = \"main\"\nsources = [{url}]\n\
             schedule = \"0 0 1 1 *\"\ntags = [\"yearly\"]\n\n\
             [job.always]\nrepository = \"main\"\nsources = [{url}]\ntags = [\"always\"]\n\n\
             [notify]\ncommand = {}\non_success = true\n",
            p(&t.path("status.json")),
            p(&t.repo),
            p(&pass),
            q(format!("sh {}", script.to_str().unwrap())),
            url = q(db.url()),
        ),
        0o600,
    );
    let run = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["run", "--json", "--config", cfg.to_str().unwrap()];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = outcome(&mut fleet(&args));
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let out = run_json(&stdout, &stderr);
        (out["jobs"].as_array().unwrap().iter())
            .map(|j| j["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Never run: due. Run since its last tick: not due. Named: runs regardless.
    assert_eq!(run(&[]), ["always", "yearly"]);
    assert_eq!(run(&[]), ["always"]);
    assert_eq!(run(&["yearly"]), ["yearly"]);
    let tags: Vec<String> = snapshots(&t)
        .iter()
        .map(|s| s["tags"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        tags.iter().filter(|t| *t == "yearly").count(),
        2,
        "{tags:?}"
    );
    assert_eq!(
        tags.iter().filter(|t| *t == "always").count(),
        2,
        "{tags:?}"
    );
    // With on_success, every job run is notified, with its status.
    let c = calls(&log);
    let notified: Vec<(&str, &str)> = c
        .iter()
        .map(|c| (c.vars["job"].as_str(), c.vars["status"].as_str()))
        .collect();
    assert_eq!(
        notified,
        [
            ("always", "ok"),
            ("yearly", "ok"),
            ("always", "ok"),
            ("yearly", "ok")
        ]
    );
    assert!(c
        .iter()
        .all(|c| c.vars["error"].is_empty() && c.vars["failed"].is_empty()));
    assert_eq!(c[0].stdin["databases"][0]["status"], "ok");
}

#[test]
fn unopenable_repository_and_slow_notification_do_not_stop_the_other_jobs() {
    let t = TestRepo::new();
    let db = PgDb::create("slow");
    db.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let cfg = t.path("dumpvault.toml");
    write_mode(
        &cfg,
        &format!(
            "[repository.main]\nurl = {}\npassword_file = {}\n\n\
             [repository.gone]\nurl = {}\npassword_file = {}\n\n\
             [job.fine]\nrepository = \"main\"\nsources = [{url}]\n\n\
             [job.lost]\nrepository = \"gone\"\nsources = [{url}]\n\n\
             [notify]\ncommand = \"echo paging; sleep 30\"\n",
            p(&t.repo),
            p(&pass),
            p(&t.path("no-such-repository")),
            p(&pass),
            url = q(db.url()),
        ),
        0o600,
    );
    let started = Instant::now();
    let (code, stdout, stderr) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "--notify-timeout",
        "1s",
    ]));
    // The notification was killed after its timeout, with whatever it started.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        code, 2,
        "a repository could not be opened\n{stdout}\n{stderr}"
    );
    let out = run_json(&stdout, &stderr);
    assert_eq!(out["exit_code"], 2);
    let repo_errors = &out["repository_errors"];
    assert_eq!(repo_errors.as_array().unwrap().len(), 1, "{repo_errors}");
    assert!(
        repo_errors[0]
            .as_str()
            .unwrap()
            .contains("repository \"gone\""),
        "{repo_errors}"
    );
    // One notification per failed job, each killed at its timeout.
    let warnings = &out["warnings"];
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.starts_with("job lost") && w.contains("ran longer than 1s"),
        "{w}"
    );
    assert!(stderr.contains("paging"), "{stderr}");
    let jobs = out["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["name"], "fine");
    assert_eq!(jobs[0]["status"], "ok");
    assert_eq!(jobs[1]["name"], "lost");
    assert_eq!(jobs[1]["status"], "failed");
    let list = snapshots(&t);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], jobs[0]["databases"][0]["snapshot"]);
    assert!(!t.path("no-such-repository").join("config").exists());
}

#[test]
fn plain_run_stopped_by_sigterm_fails_the_unfinished_job_and_keeps_it_due() {
    let t = TestRepo::new();
    let offsite = TestRepo::new();
    let big = PgDb::create("sigbig");
    big.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);\n\
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 200000) g;",
    );
    let small = PgDb::create("sigsmall");
    small.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let log = t.path("notify.log");
    let script = notify_script(t.dir.path(), &log);
    let cfg = t.path("dumpvault.toml");
    // One dump at a time, the big database first: SIGTERM during its dump leaves the small
    // one not started.
    write_mode(
        &cfg,
        &format!(
            "jobs = 1\nstatus_file = {}\n\n\
             [repository.main]\nurl = {}\npassword_file = {}\n\n\
             [repository.offsite]\nurl = {}\npassword_file = {}\n\n\
             [job.both]\nrepository = \"main\"\nsources = [{}, {}]\n\
             schedule = \"0 0 1 1 *\"\ncopy_to = \"offsite\"\n\n\
             [notify]\ncommand = {}\n",
            p(&t.path("status.json")),
            p(&t.repo),
            p(&pass),
            p(&offsite.repo),
            p(&pass),
            q(big.url()),
            q(small.url()),
            q(format!("sh {}", script.to_str().unwrap())),
        ),
        0o600,
    );
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    for v in FLEET_VARS {
        cmd.env_remove(v);
    }
    let child = cmd
        .args(["run", "--json", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dumping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid();",
        big.name
    );
    let started = Instant::now();
    while psql_at("postgres", &dumping).trim() == "0" {
        assert!(started.elapsed() < TIMEOUT, "the dump did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let out = run_json(&stdout, &stderr);
    assert_eq!(out["stopped"], true);
    let job = &out["jobs"][0];
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(
        job["databases"][0]["status"], "ok",
        "the running dump finishes"
    );
    assert_eq!(job["databases"][1]["status"], "skipped");
    let errors = job["errors"].to_string();
    assert!(
        errors.contains(&small.name) && errors.contains("not started"),
        "{errors}"
    );
    assert!(
        errors.contains("offsite") && errors.contains("not run"),
        "{errors}"
    );
    assert_eq!(job["copied"], 0);
    let c = calls(&log);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].vars["job"], "both");
    assert_eq!(c[0].vars["status"], "failed");
    t.dv(&["check"]).assert().success();
    assert_eq!(snapshots(&t).len(), 1);

    // The scheduled job is still due: the next run does all of it.
    let (code, stdout, stderr) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let out = run_json(&stdout, &stderr);
    assert_eq!(out["jobs"][0]["name"], "both", "{out}");
    assert_eq!(out["jobs"][0]["status"], "ok", "{out}");
    // Copied: this run's two snapshots and the one the stopped run did not copy.
    assert_eq!(out["jobs"][0]["copied"], 3, "{out}");
    assert_eq!(snapshots(&t).len(), 3);
    let copied: BTreeSet<_> = snapshots(&offsite).iter().map(fingerprint).collect();
    let source: BTreeSet<_> = snapshots(&t).iter().map(fingerprint).collect();
    assert_eq!(copied, source);
    // And then it is not due until its next tick.
    let (code, stdout, _) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 0);
    assert_eq!(run_json(&stdout, "")["jobs"], serde_json::json!([]));
}

/// A request the test HTTP server received.
struct Received {
    method: String,
    path: String,
    content_type: String,
    body: String,
}

/// A tiny HTTP server on 127.0.0.1 in a thread: reads each request (head and
/// `Content-Length` body), sends it on the channel, then answers 200. The answer goes out only
/// after the request is on the channel, so once the client has exited, everything it sent has
/// been received.
fn webhook_server() -> (String, std::sync::mpsc::Receiver<Received>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/dumpvault", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if r.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let (mut len, mut content_type) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap_or((&line, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ = tx.send(Received {
                method,
                path,
                content_type,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let mut w = stream;
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

/// An SQLite database file with one small table.
fn sqlite_db(path: &Path) -> String {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');",
    )
    .unwrap();
    format!("sqlite://{}", path.display())
}

#[test]
fn webhook_receives_one_post_for_the_broken_job_and_a_dead_one_changes_nothing() {
    let t = TestRepo::new();
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let good = sqlite_db(&t.path("good.db"));
    let missing = t.path("nowhere").join("gone.db");
    let (url, received) = webhook_server();
    let config = |webhook: &str, on_success: bool, broken: bool| {
        let mut c = format!(
            "[repository.main]\nurl = {}\npassword_file = {}\n\n\
             [job.fine]\nrepository = \"main\"\nsources = [{}]\n\n\
             [notify]\nwebhook = {}\non_success = {on_success}\ntimeout = \"10s\"\n",
            p(&t.repo),
            p(&pass),
            q(&good),
            q(webhook),
        );
        if broken {
            c.push_str(&format!(
                "\n[job.broken]\nrepository = \"main\"\nsources = [{}]\n",
                q(format!("sqlite://{}", missing.display()))
            ));
        }
        let f = t.path("dumpvault.toml");
        write_mode(&f, &c, 0o600);
        f
    };

    // A broken job: exactly one POST, for it, with its name and error in the JSON.
    let cfg = config(&url, false, true);
    // `config show` hides the webhook's path (where tokens usually are).
    let shown = show(&cfg, &[], &[]);
    let host = url.trim_end_matches("/hooks/dumpvault");
    assert_eq!(shown["notify"]["webhook"], format!("{host}/***"));
    let (code, stdout, stderr) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let out = run_json(&stdout, &stderr);
    assert_eq!(out["warnings"], serde_json::json!([]), "{out}");
    let posts: Vec<Received> = received.try_iter().collect();
    assert_eq!(posts.len(), 1, "one POST, for the failed job only");
    let post = &posts[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.path, "/hooks/dumpvault");
    assert_eq!(post.content_type, "application/json");
    let json: Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(json["job"], "broken");
    assert_eq!(json["status"], "failed");
    assert_eq!(json["failed_databases"], serde_json::json!(["gone.db"]));
    let err = json["errors"][0].as_str().unwrap();
    assert!(
        err.contains("gone.db") && err.contains("not an existing file"),
        "{err}"
    );
    assert_eq!(json["databases"][0]["status"], "failed");

    // Nobody listens: the run still succeeds (exit 0), with a warning naming the webhook.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let cfg = config(&dead_url, true, false);
    let (code, stdout, stderr) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let out = run_json(&stdout, &stderr);
    assert_eq!(out["jobs"][0]["status"], "ok");
    let warnings = out["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{out}");
    let w = warnings[0].as_str().unwrap();
    assert!(w.starts_with("job fine: webhook http://127.0.0.1:"), "{w}");
    assert!(stderr.contains("warning: job fine: webhook"), "{stderr}");
    assert_eq!(snapshots(&t).len(), 2, "both runs stored fine's snapshot");
}

#[test]
fn disk_floor_above_the_free_space_fails_every_database_and_writes_nothing() {
    let t = TestRepo::new();
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let a = sqlite_db(&t.path("a.db"));
    let b = sqlite_db(&t.path("b.db"));
    let log = t.path("notify.log");
    let script = notify_script(t.dir.path(), &log);
    let cfg = t.path("dumpvault.toml");
    // The default floor, 1 EiB, is more than any test machine's disk has free.
    write_mode(
        &cfg,
        &format!(
            "min_free_space = \"1EiB\"\n\n\
             [repository.main]\nurl = {}\npassword_file = {}\n\n\
             [job.both]\nrepository = \"main\"\nsources = [{}, {}]\n\n\
             [notify]\ncommand = {}\n",
            p(&t.repo),
            p(&pass),
            q(&a),
            q(&b),
            q(format!("sh {}", script.to_str().unwrap())),
        ),
        0o600,
    );
    let before = crate::common::files_under(&t.repo.join("snapshots")).len();
    let (code, stdout, stderr) = outcome(&mut fleet(&[
        "run",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let out = run_json(&stdout, &stderr);
    let job = &out["jobs"][0];
    assert_eq!(job["status"], "failed");
    let dbs = job["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 2, "{job}");
    for d in dbs {
        assert_eq!(d["status"], "failed", "{d}");
        let e = d["error"].as_str().unwrap();
        assert!(
            e.contains("snapshot refused: repository \"main\"")
                && e.contains("bytes) free on its file system")
                && e.contains("below its min_free_space of 1.0 EiB (1152921504606846976 bytes)")
                && e.contains("lower min_free_space"),
            "{e}"
        );
    }
    assert!(stderr.contains("snapshot refused"), "{stderr}");
    // Notified as failed databases; no snapshot written.
    let c = calls(&log);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].vars["failed"], "a.db,b.db");
    assert_eq!(
        crate::common::files_under(&t.repo.join("snapshots")).len(),
        before
    );
    assert!(snapshots(&t).is_empty());
}

#[test]
fn the_example_configuration_loads() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dumpvault.toml");
    let (code, out, err) = outcome(&mut fleet(&[
        "config",
        "show",
        "--json",
        "--config",
        example.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let text = v.to_string();
    for job in ["shop", "analytics", "crm"] {
        assert!(text.contains(&format!("\"{job}\"")), "job {job} in {text}");
    }
    assert_eq!(text.matches("postgres://").count(), 3, "{text}");
    assert_eq!(
        text.matches("mysql://").count() + text.matches("mariadb://").count(),
        2
    );
}

/// Two jobs writing one repository share one index load (and one shared lock): the run reads
/// each index file once, not once per job (issue 19, fleet run economics).
#[test]
fn two_jobs_on_one_repository_load_its_index_once() {
    let t = TestRepo::new();
    let pass = t.path("pass");
    write_mode(&pass, &format!("{PASSWORD}\n"), 0o600);
    let a = sqlite_db(&t.path("a.db"));
    let b = sqlite_db(&t.path("b.db"));
    let cfg = t.path("dumpvault.toml");
    write_mode(
        &cfg,
        &format!(
            "[repository.main]\nurl = {}\npassword_file = {}\n\n\
             [job.one]\nrepository = \"main\"\nsources = [{}]\n\n\
             [job.two]\nrepository = \"main\"\nsources = [{}]\n",
            p(&t.repo),
            p(&pass),
            q(&a),
            q(&b),
        ),
        0o600,
    );
    let args = [
        "run",
        "--json",
        "--stats-backend",
        "--config",
        cfg.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = outcome(&mut fleet(&args));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let index_files = std::fs::read_dir(t.repo.join("index")).unwrap().count() as u64;
    assert!(
        index_files >= 2,
        "{index_files} index files after the first run"
    );
    let (code, stdout, stderr) = outcome(&mut fleet(&args));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let stats: Value = (stderr.lines())
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()?
                .get("backend_requests")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no backend_requests line: {stderr}"));
    let index_reads = stats["by_folder"]["index"]["read"]["requests"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        index_reads, index_files,
        "each of the {index_files} index files is read once per run: {stats}"
    );
    // ...and the index folder is listed once (the repository size lists the whole repository
    // in one go, not folder by folder).
    let index_lists = &stats["by_folder"]["index"]["list"]["requests"];
    assert_eq!(index_lists.as_u64(), Some(1), "{stats}");
}
