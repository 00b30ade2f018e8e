//! Retention scope through the binary (issue 14, section 2): piped streams are databases of
//! their own (`shop.sql` is the database `shop`) for `forget`, `--database` and `snapshots`;
//! snapshots tagged `keep` survive every policy; `forget --dry-run` names the rule that keeps
//! each snapshot; and `dumpvault run` forgets only the snapshots its job made (`job=NAME`),
//! never a manual one of the same database, a `keep`-tagged one or another job's, against the
//! real PostgreSQL.

use crate::common::{synthetic_dump, TestRepo, PASSWORD};
use crate::db::PgDb;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

/// `snapshots --json` with `extra` arguments (filters).
fn snapshots(t: &TestRepo, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["snapshots", "--json"];
    args.extend_from_slice(extra);
    let out = t.dv(&args).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v.as_array().unwrap().clone()
}

/// Snapshots a piped dump named `stream` at `time` (UTC); returns its id.
fn piped(t: &TestRepo, stream: &str, time: &str, seed: u64, extra: &[&str]) -> String {
    let mut args = vec!["--stdin-name", stream, "--time", time];
    args.extend_from_slice(extra);
    let mut cmd = vec!["snapshot", "--json", "--stdin"];
    cmd.extend_from_slice(&args);
    let data = synthetic_dump(30_000, seed);
    let out = t.dv(&cmd).write_stdin(data).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Ids of `list`, sorted.
fn ids(list: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = (list.iter())
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn two_stdin_databases_keep_one_each_and_database_selects_by_name() {
    let t = TestRepo::new();
    let shop1 = piped(&t, "shop.sql", "2026-12-04T10:00:00Z", 1, &[]);
    let crm1 = piped(&t, "crm.sql", "2026-12-04T11:00:00Z", 2, &[]);
    let shop2 = piped(&t, "shop.sql", "2026-12-05T10:00:00Z", 3, &[]);
    let crm2 = piped(&t, "crm.sql", "2026-12-05T11:00:00Z", 4, &[]);

    // The stream name without extension is the database, in `snapshots` and `--database`.
    let shop = snapshots(&t, &["--database", "shop"]);
    assert_eq!(ids(&shop), sorted(vec![shop1.clone(), shop2.clone()]));
    assert!(shop.iter().all(|s| s["database"] == "shop"), "{shop:?}");
    assert_eq!(ids(&snapshots(&t, &["--database", "shop.sql"])), ids(&shop));
    assert_eq!(snapshots(&t, &["--database", "crm"]).len(), 2);

    // Each database keeps its newest: two groups, not one.
    let out = t
        .dv(&["forget", "--keep-last", "1", "--time-zone", "UTC"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("database stream shop: keep 1, remove 1"),
        "{text}"
    );
    assert!(
        text.contains("database stream crm: keep 1, remove 1"),
        "{text}"
    );
    assert_eq!(ids(&snapshots(&t, &[])), sorted(vec![shop2, crm2]));
    for gone in [&shop1, &crm1] {
        let line = text.lines().find(|l| l.contains(&gone[..8])).unwrap();
        assert!(line.trim_start().starts_with("remove"), "{text}");
    }

    // `--database` at snapshot time names the database whatever the stream is called.
    let billing = piped(
        &t,
        "dump.sql",
        "2026-12-05T12:00:00Z",
        5,
        &["--database", "billing"],
    );
    let b = snapshots(&t, &["--database", "billing"]);
    assert_eq!(ids(&b), [billing]);
    let cmd = t
        .dv(&[
            "snapshot",
            "--json",
            "--command",
            "printf 'hello\\n'",
            "--stdin-name",
            "shop.sql",
            "--time",
            "2026-12-06T10:00:00Z",
        ])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&cmd.get_output().stdout).unwrap();
    let by_command = v["id"].as_str().unwrap().to_string();
    // A `--command` dump of shop.sql is the same database as the piped ones.
    let shop = snapshots(&t, &["--database", "shop"]);
    assert_eq!(shop.len(), 2, "{shop:?}");
    assert!(ids(&shop).contains(&by_command));
    let err = t
        .dv(&["snapshot", "postgres://127.0.0.1/x", "--database", "y"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&err.get_output().stderr).into_owned();
    assert!(
        err.contains("--database is for --stdin and --command"),
        "{err}"
    );
}

#[test]
fn keep_tagged_snapshots_survive_and_dry_run_names_each_reason() {
    let t = TestRepo::new();
    let kept = piped(
        &t,
        "shop.sql",
        "2026-12-03T09:00:00Z",
        1,
        &["--tag", "keep"],
    );
    let ticket = piped(
        &t,
        "shop.sql",
        "2026-12-03T10:00:00Z",
        2,
        &["--tag", "keep,ticket=DBA-42"],
    );
    let old = piped(&t, "shop.sql", "2026-12-04T09:00:00Z", 3, &[]);
    let day5 = piped(&t, "shop.sql", "2026-12-05T09:00:00Z", 4, &[]);
    let newest = piped(&t, "shop.sql", "2026-12-05T10:00:00Z", 5, &[]);

    let out = t
        .dv(&[
            "forget",
            "--keep-last",
            "1",
            "--keep-daily",
            "2",
            "--time-zone",
            "UTC",
            "--dry-run",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = |id: &str| {
        (text.lines())
            .find(|l| l.contains(&id[..8]))
            .unwrap_or_else(|| panic!("no line for {id} in {text}"))
            .to_string()
    };
    assert!(line(&newest).contains("last 1, daily 2026-12-05"), "{text}");
    assert!(line(&day5).trim_start().starts_with("remove"), "{text}");
    assert!(line(&old).contains("daily 2026-12-04"), "{text}");
    assert!(line(&kept).ends_with("tag keep"), "{text}");
    assert!(line(&ticket).ends_with("tag keep"), "{text}");
    assert!(text.contains("would keep 4 and remove 1"), "{text}");
    assert_eq!(snapshots(&t, &[]).len(), 5, "dry run removes nothing");

    // keep-tagged snapshots survive --keep-last 1 and take no place in it.
    t.dv(&["forget", "--keep-last", "1"]).assert().success();
    assert_eq!(
        ids(&snapshots(&t, &[])),
        sorted(vec![kept.clone(), ticket.clone(), newest])
    );
    // Even --unsafe-allow-remove-all leaves them; forgetting by id still works.
    t.dv(&["forget", "--unsafe-allow-remove-all"])
        .assert()
        .success();
    assert_eq!(ids(&snapshots(&t, &[])), sorted(vec![kept.clone(), ticket]));
    t.dv(&["forget", &kept]).assert().success();
    assert_eq!(snapshots(&t, &[]).len(), 1);
}

#[test]
fn fleet_run_forgets_only_its_own_snapshots() {
    let t = TestRepo::new();
    let shop = PgDb::create("ret_shop");
    shop.sql(
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a');",
    );
    let other = PgDb::create("ret_other");
    other.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");

    // Before the fleet's first run: manual snapshots of its database, and another database.
    let manual = |url: &str, tags: &[&str]| {
        let mut args = vec!["snapshot", "--json", url];
        for tag in tags {
            args.extend(["--tag", tag]);
        }
        let out = t.dv(&args).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let keep = manual(&shop.url(), &["keep,ticket=DBA-42"]);
    let plain = manual(&shop.url(), &["manual"]);
    let foreign = manual(&other.url(), &[]);
    t.dv(&["verify", &keep]).assert().success();
    t.dv(&["verify", &foreign]).assert().success();

    let pass = t.path("pass");
    std::fs::write(&pass, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let metrics = t.path("metrics.prom");
    let cfg = t.path("dumpvault.toml");
    let text = format!(
        "metrics_file = {:?}\n\n[repository.main]\nurl = {:?}\npassword_file = {:?}\n\n\
         [job.shop]\nrepository = \"main\"\nsources = [{:?}]\nkeep = {{ last = 1 }}\n",
        metrics.to_str().unwrap(),
        t.repo.to_str().unwrap(),
        pass.to_str().unwrap(),
        shop.url()
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = || {
        let mut c = assert_cmd::Command::cargo_bin("dumpvault").unwrap();
        for v in [
            "DUMPVAULT_REPOSITORY",
            "DUMPVAULT_PASSWORD",
            "DUMPVAULT_PASSWORD_FILE",
            "DUMPVAULT_PASSWORD_COMMAND",
            "DUMPVAULT_CONFIG",
            "DUMPVAULT_JOBS",
            "DUMPVAULT_METRICS_FILE",
            "DUMPVAULT_STATUS_FILE",
        ] {
            c.env_remove(v);
        }
        let out = c
            .args(["run", "--json", "--config", cfg.to_str().unwrap()])
            .assert()
            .success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        v["jobs"][0].clone()
    };

    // First run: its snapshot is the job's only one; nothing else is touched.
    let first = run();
    assert_eq!(first["forgotten"], 0, "{first}");
    let list = snapshots(&t, &[]);
    assert_eq!(list.len(), 4, "{list:?}");
    let made: Vec<&Value> = (list.iter())
        .filter(|s| {
            s["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "job=shop")
        })
        .collect();
    assert_eq!(made.len(), 1, "{list:?}");
    let run1 = made[0]["id"].as_str().unwrap().to_string();

    // Second run: keep last 1 among the job's own snapshots forgets only the first run's.
    let second = run();
    assert_eq!(second["forgotten"], 1, "{second}");
    let left = ids(&snapshots(&t, &[]));
    assert_eq!(left.len(), 4, "{left:?}");
    for id in [&keep, &plain, &foreign] {
        assert!(left.contains(id), "{id} was forgotten: {left:?}");
    }
    // The metrics count the job's own snapshots of its database, not the manual ones.
    let prom = std::fs::read_to_string(&metrics).unwrap();
    let want = format!(
        "dumpvault_snapshots{{job=\"shop\",database=\"{}\",engine=\"postgres\",\
         server=\"127.0.0.1:5432\",repository=\"main\"}} 1\n",
        shop.name
    );
    assert!(prom.contains(&want), "{prom}");
    assert!(
        !left.contains(&run1),
        "the job's older snapshot stays: {left:?}"
    );
}
