//! `diff` of two snapshots of one database, per table (SQLite and PostgreSQL), and its refusal
//! of snapshots of different databases.

use crate::common::{json, sqlite_two_tables, stderr, TestRepo};

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
