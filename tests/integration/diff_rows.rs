//! `diff` by rows: per table, the rows inserted, updated and deleted between two snapshots
//! (merge-joined on the primary key, or matched by hash without one), schema changes, and
//! `--rows TABLE` listing the changed rows, on PostgreSQL (pgbench), MariaDB and SQLite.

use crate::common::TestRepo;
use crate::db::{MyDb, PgDb};
use assert_cmd::Command;
use serde_json::Value;

fn json(cmd: &mut Command) -> Value {
    let out = cmd.assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn text(cmd: &mut Command) -> (String, String) {
    let out = cmd.assert().success();
    let o = out.get_output();
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn snap(t: &TestRepo, url: &str) -> String {
    json(&mut t.dv(&["snapshot", "--json", url]))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn table<'a>(d: &'a Value, name: &str) -> &'a Value {
    (d["tables"].as_array().unwrap().iter())
        .find(|x| x["table"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {d}"))
}

/// (inserted, updated, deleted) of a table in `diff --json`.
fn counts(d: &Value, name: &str) -> (u64, u64, u64) {
    let t = table(d, name);
    let n = |k: &str| {
        t[k].as_u64()
            .unwrap_or_else(|| panic!("{k} of {name}: {t}"))
    };
    (n("rows_inserted"), n("rows_updated"), n("rows_deleted"))
}

/// The JSON lines of `diff --rows --json`: the changes, then the summary.
fn row_lines(t: &TestRepo, a: &str, b: &str, name: &str) -> (Vec<Value>, Value) {
    let (out, _) = text(&mut t.dv(&["diff", "--json", "--rows", name, a, b]));
    let mut v: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = v.pop().unwrap();
    (v, summary["summary"].clone())
}

#[test]
fn pgbench_changes_are_counted_and_listed_by_row() {
    let t = TestRepo::new();
    let db = PgDb::create("diffrows");
    let out = std::process::Command::new("pgbench")
        .args(["-i", "-s", "1", "-q", &db.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pgbench_history has no primary key: give it rows to delete.
    db.sql(
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
         SELECT 1, 1, i, i, '2026-01-01' FROM generate_series(1, 50) i;",
    );
    let url = db.url();
    let a = snap(&t, &url);
    db.sql(
        "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 200 = 0;
         DELETE FROM pgbench_history WHERE aid <= 20;
         INSERT INTO pgbench_branches SELECT i, 0 FROM generate_series(2, 31) i;
         DELETE FROM pgbench_tellers WHERE tid > 8;
         ALTER TABLE pgbench_tellers ADD COLUMN note text;",
    );
    let b = snap(&t, &url);

    let d = json(&mut t.dv(&["diff", "--json", &a, &b]));
    assert_eq!(counts(&d, "public.pgbench_accounts"), (0, 500, 0), "{d}");
    assert_eq!(
        table(&d, "public.pgbench_accounts")["compared_by"],
        "primary key (aid)"
    );
    assert_eq!(counts(&d, "public.pgbench_branches"), (30, 0, 0), "{d}");
    assert_eq!(counts(&d, "public.pgbench_tellers"), (0, 0, 2), "{d}");
    let tellers = table(&d, "public.pgbench_tellers");
    let added: Vec<_> = (tellers["schema_changes"].as_array().unwrap().iter())
        .map(|c| format!("{} {} {}", c["kind"], c["name"], c["change"]))
        .collect();
    assert_eq!(added, vec![r#""column" "note" "added""#], "{d}");
    assert_eq!(counts(&d, "public.pgbench_history"), (0, 0, 20), "{d}");
    let history = table(&d, "public.pgbench_history");
    assert_eq!(history["compared_by"], "whole rows");
    assert!(
        history["note"].as_str().unwrap().contains("no primary key"),
        "{d}"
    );

    let (rows, summary) = row_lines(&t, &a, &b, "pgbench_accounts");
    assert_eq!(rows.len(), 500, "{summary}");
    let mut last = 0;
    for r in &rows {
        assert_eq!(r["op"], "updated", "{r}");
        let aid: u64 = r["key"]["aid"].as_str().unwrap().parse().unwrap();
        assert!(aid.is_multiple_of(200) && aid > last, "key order: {r}");
        last = aid;
        assert_eq!(r["old"], serde_json::json!({"abalance": "0"}), "{r}");
        assert_eq!(r["new"], serde_json::json!({"abalance": "7"}), "{r}");
    }
    assert_eq!(summary["counts"]["updated"], 500);

    let (out, _) = text(&mut t.dv(&["diff", "--rows", "public.pgbench_branches", &a, &b]));
    let plus: Vec<_> = out.lines().filter(|l| l.starts_with("+ ")).collect();
    assert_eq!(plus.len(), 30, "{out}");
    assert_eq!(plus[0], "+ bid=2 bbalance=0 filler=NULL", "{out}");
    assert!(!out
        .lines()
        .any(|l| l.starts_with("- ") || l.starts_with("~ ")));

    let (out, err) = text(&mut t.dv(&["diff", "--rows", "pgbench_history", &a, &b]));
    let minus: Vec<_> = out.lines().filter(|l| l.starts_with("- ")).collect();
    assert_eq!(minus.len(), 20, "{out}");
    assert!(minus.iter().all(|l| l.contains("delta=")), "{out}");
    assert!(err.contains("no primary key"), "{err}");

    // The text summary shows the counts.
    let (out, _) = text(&mut t.dv(&["diff", &a, &b]));
    let line = (out.lines())
        .find(|l| l.starts_with("public.pgbench_accounts "))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<_> = line.split_whitespace().collect();
    assert_eq!(&cols[4..7], &["0", "500", "0"], "{out}");
    assert!(out.contains("column note added"), "{out}");
}

#[test]
fn mariadb_extended_inserts_are_compared_by_row() {
    let t = TestRepo::new();
    let db = MyDb::create("diffrows");
    db.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), n INT) ENGINE=InnoDB;
         INSERT INTO t SELECT seq, CONCAT('it''s, (', seq, ')'), NULL FROM seq_1_to_300;",
    );
    let url = db.url();
    let a = snap(&t, &url);
    db.sql(
        "UPDATE t SET v = 'new\\nline' WHERE id IN (10, 20, 30, 40, 50);
         DELETE FROM t WHERE id IN (100, 200, 300);
         INSERT INTO t VALUES (301, 'a', 1), (302, 'b', 2), (303, 'c', 3), (304, 'd', 4);
         CREATE INDEX tv ON t (v);",
    );
    let b = snap(&t, &url);
    let d = json(&mut t.dv(&["diff", "--json", &a, &b]));
    let name = d["tables"][0]["table"].as_str().unwrap().to_string();
    assert_eq!(counts(&d, &name), (4, 5, 3), "{d}");
    let changes = &table(&d, &name)["schema_changes"];
    assert_eq!(changes[0]["kind"], "index", "{d}");
    assert_eq!(changes[0]["name"], "tv", "{d}");
    assert_eq!(changes[0]["change"], "added", "{d}");

    let (rows, _) = row_lines(&t, &a, &b, &name);
    let updated: Vec<_> = rows.iter().filter(|r| r["op"] == "updated").collect();
    assert_eq!(updated.len(), 5);
    assert_eq!(updated[0]["key"]["id"], "10");
    assert_eq!(updated[0]["old"]["v"], "it's, (10)");
    assert_eq!(updated[0]["new"]["v"], "new\nline");
    let (out, _) = text(&mut t.dv(&["diff", "--rows", &name, &a, &b]));
    assert!(out.contains("- id=100 v='it''s, (100)' n=NULL"), "{out}");
    assert!(out.contains("+ id=304 v=d n=4"), "{out}");
}

#[test]
fn sqlite_rows_with_and_without_a_key() {
    let t = TestRepo::new();
    let path = t.path("app.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE log (msg TEXT);
         CREATE TABLE tags (name TEXT PRIMARY KEY, n INT);
         INSERT INTO tags VALUES ('m', 1), ('b', 2), ('x', 3), ('a', 4);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)
         INSERT INTO items SELECT i, 'item ' || i FROM s;
         INSERT INTO log VALUES ('a'), ('b'), ('b'), ('c');",
    )
    .unwrap();
    let url = format!("sqlite://{}", path.display());
    let a = snap(&t, &url);
    c.execute_batch(
        "UPDATE items SET name = 'renamed' WHERE id = 7;
         DELETE FROM items WHERE id = 8;
         INSERT INTO items VALUES (500, 'five hundred');
         DELETE FROM log WHERE rowid = 2;
         INSERT INTO log VALUES ('d');
         UPDATE tags SET n = 20 WHERE name = 'b';
         DELETE FROM tags WHERE name = 'x';",
    )
    .unwrap();
    drop(c);
    let b = snap(&t, &url);
    let d = json(&mut t.dv(&["diff", "--json", &a, &b]));
    assert_eq!(counts(&d, "items"), (1, 1, 1), "{d}");
    assert_eq!(table(&d, "items")["compared_by"], "primary key (id)");
    // One of the two 'b' rows went and 'd' came: a multiset difference.
    assert_eq!(counts(&d, "log"), (1, 0, 1), "{d}");
    // A text key in rowid order is not in key order: matched by hash on the key instead.
    assert_eq!(counts(&d, "tags"), (0, 1, 1), "{d}");
    let tags = table(&d, "tags");
    assert_eq!(tags["compared_by"], "primary key (name)", "{d}");
    assert!(
        tags["note"]
            .as_str()
            .unwrap()
            .contains("not in ascending key order"),
        "{d}"
    );
    let (rows, _) = row_lines(&t, &a, &b, "tags");
    assert_eq!(rows.len(), 2);
    let upd = rows.iter().find(|r| r["op"] == "updated").unwrap();
    assert_eq!(upd["key"]["name"], "b");
    assert_eq!(
        (&upd["old"]["n"], &upd["new"]["n"]),
        (&"2".into(), &"20".into())
    );

    let (out, _) = text(&mut t.dv(&["diff", "--rows", "items", &a, &b]));
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(
        &lines[..3],
        &[
            "~ id=7: name: 'item 7' -> renamed",
            "- id=8 name='item 8'",
            "+ id=500 name='five hundred'"
        ],
        "{out}"
    );
    let (out, _) = text(&mut t.dv(&["diff", "--rows", "log", &a, &b]));
    assert!(
        out.contains("- msg=b\n") && out.contains("+ msg=d\n"),
        "{out}"
    );

    let out = t
        .dv(&["diff", "--rows", "nosuch", &a, &b])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("nosuch") && err.contains("dumpvault ls"),
        "{err}"
    );
}
