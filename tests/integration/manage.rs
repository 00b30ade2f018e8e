//! Everyday management through the binary: key files (add, remove, passwd), retagging
//! snapshots (and copying them once), repository stats, per-table diffs, shell completions.

use crate::common::{files_under, synthetic_dump, TestRepo, PASSWORD};
use assert_cmd::Command;
use serde_json::Value;

/// Cheap Argon2id costs for new key files, as `TestRepo::new` uses for `init`.
const CHEAP_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-iterations", "1"];

fn json(cmd: &mut Command) -> Value {
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn stderr(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// `key list --json` opened with `password`.
fn keys(t: &TestRepo, password: &str) -> Vec<Value> {
    let v = json(
        t.dv(&["key", "list", "--json"])
            .env("DUMPVAULT_PASSWORD", password),
    );
    v.as_array().unwrap().clone()
}

fn in_use(keys: &[Value]) -> String {
    let used: Vec<&Value> = keys.iter().filter(|k| k["in_use"] == true).collect();
    assert_eq!(used.len(), 1, "exactly one key in use: {keys:?}");
    used[0]["id"].as_str().unwrap().to_string()
}

fn snapshots(t: &TestRepo) -> Vec<Value> {
    json(&mut t.dv(&["snapshots", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

fn tags(v: &Value) -> Vec<String> {
    v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn key_add_then_remove_refuses_the_key_in_use_and_the_last_key() {
    let t = TestRepo::new();
    let data = synthetic_dump(200_000, 1);
    t.snapshot_bytes(&data, &[]);
    let first = keys(&t, PASSWORD);
    assert_eq!(first.len(), 1);
    let old_id = in_use(&first);
    assert!(!first[0]["host"].as_str().unwrap().is_empty());
    assert!(!first[0]["created"].as_str().unwrap().is_empty());

    let file = t.path("new-password");
    std::fs::write(&file, "second password\n").unwrap();
    let mut args = vec!["key", "add", "--json", "--new-password-file"];
    args.push(file.to_str().unwrap());
    args.extend_from_slice(&CHEAP_KDF);
    let added = json(&mut t.dv(&args));
    let new_id = added["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old_id);
    assert!(t.repo.join("keys").join(&new_id).is_file());

    // Both passwords open the repository, each through its own key file.
    assert_eq!(in_use(&keys(&t, PASSWORD)), old_id);
    let with_new = keys(&t, "second password");
    assert_eq!(with_new.len(), 2);
    assert_eq!(in_use(&with_new), new_id);
    let restored = {
        let target = t.path("with-new.out");
        t.dv(&["restore", "latest", "--target", target.to_str().unwrap()])
            .env("DUMPVAULT_PASSWORD", "second password")
            .assert()
            .success();
        std::fs::read(&target).unwrap()
    };
    assert!(restored == data, "restore with the new password differs");

    // The key in use is refused without --force, by a unique prefix too.
    let out = t.dv(&["key", "remove", &old_id[..10]]).assert().code(2);
    let err = stderr(&out);
    assert!(
        err.contains("key in use") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(keys(&t, PASSWORD).len(), 2);
    // An unknown key is named.
    let out = t.dv(&["key", "remove", "ffffffffff"]).assert().code(1);
    assert!(
        stderr(&out).contains("no key \"ffffffffff\""),
        "{}",
        stderr(&out)
    );

    // Removing the other key (not in use for this password) works.
    t.dv(&["key", "remove", &old_id])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .success();
    assert!(!t.repo.join("keys").join(&old_id).exists());
    let out = t.dv(&["snapshots"]).assert().code(2);
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));

    // The last key is refused even with --force.
    let out = t
        .dv(&["key", "remove", &new_id, "--force"])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .code(2);
    let err = stderr(&out);
    assert!(err.contains("last key file"), "{err}");
    assert_eq!(keys(&t, "second password").len(), 1);

    // With two keys, --force removes the key in use.
    let mut args = vec!["key", "add"];
    args.extend_from_slice(&CHEAP_KDF);
    t.dv(&args)
        .env("DUMPVAULT_PASSWORD", "second password")
        .env("DUMPVAULT_NEW_PASSWORD", "third password")
        .assert()
        .success();
    t.dv(&["key", "remove", &new_id, "--force"])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .success();
    assert_eq!(keys(&t, "third password").len(), 1);
    t.dv(&["check"])
        .env("DUMPVAULT_PASSWORD", "third password")
        .assert()
        .success();
}

#[test]
fn key_passwd_changes_the_password() {
    let t = TestRepo::new();
    let data = synthetic_dump(100_000, 2);
    t.snapshot_bytes(&data, &[]);
    let old_id = in_use(&keys(&t, PASSWORD));
    let mut args = vec!["key", "passwd", "--json"];
    args.extend_from_slice(&CHEAP_KDF);
    let o = json(t.dv(&args).env("DUMPVAULT_NEW_PASSWORD", "changed"));
    assert_eq!(o["removed"]["id"].as_str().unwrap(), old_id);
    let new_id = o["added"]["id"].as_str().unwrap();

    let out = t.dv(&["snapshots"]).assert().code(2);
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    let now = keys(&t, "changed");
    assert_eq!(now.len(), 1);
    assert_eq!(in_use(&now), new_id);
    let target = t.path("after-passwd.out");
    t.dv(&["restore", "latest", "--target", target.to_str().unwrap()])
        .env("DUMPVAULT_PASSWORD", "changed")
        .assert()
        .success();
    assert!(std::fs::read(&target).unwrap() == data);

    // An empty new password is refused and changes nothing.
    let out = t
        .dv(&["key", "passwd"])
        .env("DUMPVAULT_PASSWORD", "changed")
        .env("DUMPVAULT_NEW_PASSWORD", "")
        .assert()
        .code(2);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert_eq!(in_use(&keys(&t, "changed")), new_id);
}

#[test]
fn tag_add_remove_set_keep_restores_and_copy_copies_once() {
    let a = TestRepo::new();
    let data = synthetic_dump(300_000, 3);
    let first = a.snapshot_bytes(&data, &["--tag", "x"]);
    let id0 = first["id"].as_str().unwrap().to_string();
    a.dv(&["verify", "latest"]).assert().success();

    let out = json(&mut a.dv(&[
        "tag",
        "--json",
        &id0[..8],
        "--add",
        "hourly",
        "--add",
        "env=prod",
    ]));
    let r = &out.as_array().unwrap()[0];
    assert_eq!(r["old"].as_str().unwrap(), id0);
    let id1 = r["new"].as_str().unwrap().to_string();
    assert_ne!(id1, id0);
    let list = snapshots(&a);
    assert_eq!(list.len(), 1, "the old manifest is gone: {list:?}");
    assert_eq!(list[0]["id"].as_str().unwrap(), id1);
    assert_eq!(tags(&list[0]), ["x", "hourly", "env=prod"]);
    assert_eq!(
        list[0]["verified"]["ok"], true,
        "the verification is carried over: {}",
        list[0]
    );

    // Text output: old -> new.
    let out = a.dv(&["tag", "latest", "--remove", "x"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains(&format!("{} -> ", &id1[..8])), "{text}");
    assert_eq!(tags(&snapshots(&a)[0]), ["hourly", "env=prod"]);
    a.dv(&["tag", "latest", "--set", "keep", "--set", "weekly"])
        .assert()
        .success();
    assert_eq!(tags(&snapshots(&a)[0]), ["keep", "weekly"]);
    let filtered = json(&mut a.dv(&["snapshots", "--json", "--tag", "weekly"]));
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert!(a.restore_bytes("latest") == data);
    a.dv(&["check", "--read-data"]).assert().success();

    // Bad requests change nothing.
    let before = snapshots(&a);
    a.dv(&["tag", "latest", "--set", "a", "--add", "b"])
        .assert()
        .code(2);
    let out = a.dv(&["tag", "latest"]).assert().code(2);
    assert!(stderr(&out).contains("no tag change"), "{}", stderr(&out));
    assert_eq!(snapshots(&a)[0]["id"], before[0]["id"]);

    // Copy, retag the source, copy again: the retagged snapshot is not copied twice.
    let b = TestRepo::new();
    let copy = |target: &TestRepo| {
        json(
            target
                .dv(&["copy", "--json", "--from", a.repo.to_str().unwrap()])
                .env("DUMPVAULT_FROM_PASSWORD", PASSWORD),
        )
    };
    assert_eq!(copy(&b)["copied"].as_array().unwrap().len(), 1);
    a.dv(&["tag", "latest", "--add", "after-copy"])
        .assert()
        .success();
    let again = copy(&b);
    assert_eq!(again["copied"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 1, "{again}");
    // Retagging the copy in the target does not make it copyable again either.
    b.dv(&["tag", "latest", "--add", "offsite"])
        .assert()
        .success();
    assert_eq!(copy(&b)["copied"].as_array().unwrap().len(), 0);
    let in_b = snapshots(&b);
    assert_eq!(in_b.len(), 1);
    assert_eq!(tags(&in_b[0]), ["keep", "weekly", "offsite"]);
    assert!(b.restore_bytes("latest") == data);

    // `--set ''` clears every tag.
    a.dv(&["tag", "latest", "--set", ""]).assert().success();
    assert!(tags(&snapshots(&a)[0]).is_empty());
}

/// Sum of the sizes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// A SQLite database with tables `a` and `b` of `rows` rows each.
fn sqlite_two_tables(path: &std::path::Path, rows: u32) {
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

#[test]
fn stats_agree_with_snapshots_and_the_repository_directory() {
    let t = TestRepo::new();
    let base = synthetic_dump(400_000, 4);
    let mut changed = base.clone();
    changed[200_000..200_020].copy_from_slice(b"changed row changed!");
    t.snapshot_bytes(&base, &["--time", "2026-01-01T00:00:00+00:00"]);
    let second = t.snapshot_bytes(&changed, &["--time", "2026-01-03T00:00:00+00:00"]);
    let db = t.path("shop.db");
    sqlite_two_tables(&db, 500);
    let url = format!("sqlite://{}", db.display());
    t.dv(&["snapshot", &url, "--time", "2026-01-02T00:00:00+00:00"])
        .assert()
        .success();

    let list = snapshots(&t);
    assert_eq!(list.len(), 3);
    let s = json(&mut t.dv(&["stats", "--json"]));
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let sum = |k: &str| list.iter().map(|e| e[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(n("snapshots"), 3);
    assert_eq!(n("logical_bytes"), sum("size"));
    assert_eq!(n("added_bytes"), sum("added"));
    assert_eq!(n("pack_bytes"), dir_bytes(&t.repo.join("data")));
    assert_eq!(n("packs"), t.packs().len() as u64);
    assert_eq!(n("index_bytes"), dir_bytes(&t.repo.join("index")));
    assert_eq!(n("stored_bytes"), n("pack_bytes") + n("index_bytes"));
    assert_eq!(n("repository_bytes"), dir_bytes(&t.repo));
    let ratio = s["dedup_ratio"].as_f64().unwrap();
    assert!((ratio - n("logical_bytes") as f64 / n("stored_bytes") as f64).abs() < 1e-9);
    assert!(ratio > 1.0, "two near-identical dumps deduplicate: {s}");
    // Two days from the first to the last snapshot; growth = what came after the first.
    assert!((s["span_days"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{s}");
    let first_added = list[0]["added"].as_u64().unwrap();
    let growth = s["growth_bytes_per_day"].as_f64().unwrap();
    assert!(
        (growth - (n("added_bytes") - first_added) as f64 / 2.0).abs() < 1e-6,
        "{s}"
    );
    assert!(second["bytes_added"].as_u64().unwrap() < first_added);

    let by = json(&mut t.dv(&["stats", "--by", "database", "--json"]));
    let rows = by["databases"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by}");
    // Piped snapshots are the database named by their stream (`dump.sql`: `dump`).
    assert_eq!(rows[0]["database"], "dump", "{by}");
    assert_eq!(rows[0]["snapshots"], 2);
    assert_eq!(rows[1]["database"], "shop.db");
    assert_eq!(rows[1]["snapshots"], 1);
    assert!(rows[1]["growth_bytes_per_day"].is_null());
    let total = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("logical_bytes"), n("logical_bytes"));
    assert_eq!(total("added_bytes"), n("added_bytes"));
    let out = t.dv(&["stats", "--by", "database"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("dedup ratio") && text.contains("shop.db"),
        "{text}"
    );
}

#[test]
fn diff_names_the_table_that_changed() {
    let t = TestRepo::new();
    let db = t.path("app.db");
    sqlite_two_tables(&db, 5000);
    let url = format!("sqlite://{}", db.display());
    let snap = |t: &TestRepo| json(&mut t.dv(&["snapshot", "--json", &url]));
    let first = snap(&t);
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "UPDATE b SET v = 'changed ' || v WHERE id BETWEEN 2000 AND 2010;
             INSERT INTO b VALUES (9999, 'a new row');",
        )
        .unwrap();
    }
    let second = snap(&t);
    let (a, b) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );

    let d = json(&mut t.dv(&["diff", "--json", &a[..8], b]));
    assert_eq!(d["database"], "app.db");
    let tables = d["tables"].as_array().unwrap();
    let table = |name: &str| {
        tables
            .iter()
            .find(|x| x["table"] == name)
            .unwrap_or_else(|| panic!("no table {name} in {d}"))
    };
    let (ta, tb) = (table("a"), table("b"));
    assert_eq!(ta["status"], "unchanged", "{d}");
    assert_eq!(ta["bytes_changed"], 0, "{d}");
    assert_eq!(
        (&ta["rows_before"], &ta["rows_after"]),
        (&5000.into(), &5000.into())
    );
    assert_eq!(tb["status"], "changed", "{d}");
    assert_eq!(
        (&tb["rows_before"], &tb["rows_after"]),
        (&5000.into(), &5001.into())
    );
    let changed = tb["bytes_changed"].as_u64().unwrap();
    assert!(
        changed > 0 && changed <= tb["bytes_after"].as_u64().unwrap(),
        "{d}"
    );
    let stream = &d["streams"][0];
    assert!(stream["bytes_changed"].as_u64().unwrap() >= changed, "{d}");
    assert_eq!(d["b_bytes_added"], second["bytes_added"]);

    let out = t.dv(&["diff", a, b]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line_b = text
        .lines()
        .find(|l| l.starts_with("b "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line_b.contains("changed"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("a ") && l.contains("unchanged")),
        "{text}"
    );

    // Snapshots of different databases are refused.
    let other = t.snapshot_bytes(b"not a database\n", &[]);
    let out = t
        .dv(&["diff", a, other["id"].as_str().unwrap()])
        .assert()
        .code(2);
    assert!(
        stderr(&out).contains("not of the same database"),
        "{}",
        stderr(&out)
    );
}

/// PostgreSQL: `public.a` comes first and shares the dump's first chunk with the preamble
/// (which pg_dump may vary between runs, e.g. its random `\restrict` key); it still counts as
/// unchanged, while `public.b`, where rows were updated and one inserted, is named.
#[test]
fn diff_of_postgres_snapshots_names_the_changed_table() {
    let t = TestRepo::new();
    let db = crate::db::PgDb::create("diff");
    db.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text);
         CREATE TABLE b (id int PRIMARY KEY, v text);
         INSERT INTO a SELECT i, repeat('x', i % 50) FROM generate_series(1, 5000) i;
         INSERT INTO b SELECT i, repeat('y', i % 50) FROM generate_series(1, 5000) i;",
    );
    let url = db.url();
    let first = json(&mut t.dv(&["snapshot", "--json", &url]));
    db.sql(
        "UPDATE b SET v = 'zz' WHERE id BETWEEN 2000 AND 2005;
         INSERT INTO b VALUES (9999, 'n');",
    );
    let second = json(&mut t.dv(&["snapshot", "--json", &url]));
    let d = json(&mut t.dv(&[
        "diff",
        "--json",
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    ]));
    let tables = d["tables"].as_array().unwrap();
    let table = |name: &str| tables.iter().find(|x| x["table"] == name).unwrap();
    assert_eq!(table("public.a")["status"], "unchanged", "{d}");
    assert_eq!(table("public.a")["bytes_changed"], 0, "{d}");
    let b = table("public.b");
    assert_eq!(b["status"], "changed", "{d}");
    assert_eq!(
        (&b["rows_before"], &b["rows_after"]),
        (&5000.into(), &5001.into())
    );
    assert!(b["bytes_changed"].as_u64().unwrap() > 0, "{d}");
}

#[test]
fn completions_are_generated_from_the_command_line() {
    let run = |shell: &str| {
        let out = Command::cargo_bin("dumpvault")
            .unwrap()
            .env_remove("DUMPVAULT_REPOSITORY")
            .args(["completions", shell])
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    };
    let bash = run("bash");
    assert!(bash.contains("dumpvault"), "{bash}");
    for sub in ["snapshot", "restore", "tag", "stats", "diff", "key"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    assert!(run("zsh").contains("#compdef dumpvault"));
    assert!(run("fish").contains("complete -c dumpvault"));
    Command::cargo_bin("dumpvault")
        .unwrap()
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
}
