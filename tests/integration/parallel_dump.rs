//! `snapshot postgres://… --jobs N` of one database (issue 16, parallel dump): the table data is
//! COPYed by N sessions on one exported snapshot, and the stored stream is the one a single
//! session stores, byte for byte, so it deduplicates completely against it.

use crate::common::TestRepo;
use crate::db::PgDb;
use serde_json::Value;

/// Runs `args` successfully and parses its `--json` output.
fn json_ok(t: &TestRepo, args: &[&str]) -> Value {
    let out = t.dv(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The restored dump of snapshot `id` without pg_dump's per-run `\restrict` key lines.
fn restored(t: &TestRepo, id: &str) -> Vec<String> {
    let out = t.dv(&["restore", id, "--stdout"]).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let random = |l: &&str| l.starts_with("\\restrict") || l.starts_with("\\unrestrict");
    text.lines()
        .filter(|l| !random(l))
        .map(String::from)
        .collect()
}

#[test]
fn a_snapshot_with_table_sessions_stores_the_stream_one_session_stores() {
    let db = PgDb::create("pgjobs");
    db.sql(
        r#"CREATE SCHEMA "Sales";
        CREATE TABLE "Sales"."Order Items" (id int PRIMARY KEY, sku text, qty int);
        INSERT INTO "Sales"."Order Items" SELECT i, md5(i::text), i % 5
            FROM generate_series(20000, 1, -1) i;
        CREATE TABLE customers (id int PRIMARY KEY, name text);
        INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 5000) i;
        CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, total int);
        INSERT INTO orders SELECT i, i % 5000 + 1, i FROM generate_series(1, 8000) i;
        CREATE TABLE notes (v text);
        INSERT INTO notes SELECT 'n' || i FROM generate_series(1, 100) i;"#,
    );
    let t = TestRepo::new();
    let one = json_ok(&t, &["snapshot", "--json", &db.url()]);
    let three = json_ok(&t, &["snapshot", "--json", "--jobs", "3", &db.url()]);
    let [one_id, three_id] = [&one, &three].map(|s| s["id"].as_str().unwrap().to_string());
    assert_eq!(restored(&t, &one_id), restored(&t, &three_id));
    // Byte-identical apart from pg_dump's random restrict keys: only the chunks holding those
    // two lines (each may touch the two chunks around a boundary), and the chunk list, are
    // new; every other chunk is deduplicated and the new ones are patches. The ~1 MB dump cuts
    // into 4 to ~20 chunks by each repository's chunker key, so the bounds do not count
    // chunks (`>= 10` failed once in CI with 9 chunks, `<= 4` new blobs once with 5 of 12).
    let [new, added, read] =
        ["new_blobs", "bytes_added", "bytes_read"].map(|k| three[k].as_u64().unwrap());
    assert!(new <= 6 && added * 20 < read, "{three}");
    let listed = json_ok(&t, &["snapshots", "--json"]);
    let options = |id: &str| {
        let all = listed.as_array().unwrap();
        let s = all
            .iter()
            .find(|s| s["id"].as_str().unwrap().starts_with(&id[..8]));
        s.unwrap()["source"]["options"].to_string()
    };
    assert!(options(&three_id).contains("table data over 3 sessions"));
    assert!(!options(&one_id).contains("sessions"));
}

/// Issue 16: with `--jobs 2`, a big table (here: big by `DUMPVAULT_TEST_PIECE_BYTES`, a test
/// hook) is COPYed in key ranges over both sessions, and the snapshot still stores the stream
/// one session stores (quoted names, a composite key, a text key cut by its histogram).
#[test]
fn a_big_table_cut_into_key_ranges_stores_the_stream_one_session_stores() {
    let db = PgDb::create("pgsplit");
    db.sql(
        r#"CREATE TABLE "Big ""One""" ("the id" bigint PRIMARY KEY, v text);
        INSERT INTO "Big ""One""" SELECT i, md5(i::text) FROM generate_series(30000, 1, -1) i;
        CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b));
        INSERT INTO pairs SELECT i % 300, i, 'p' || i FROM generate_series(1, 20000) i;
        CREATE TABLE words (w text PRIMARY KEY);
        INSERT INTO words SELECT md5(i::text) FROM generate_series(1, 5000) i;
        ANALYZE "Big ""One"""; ANALYZE words;"#,
    );
    let t = TestRepo::new();
    let one = json_ok(&t, &["snapshot", "--json", &db.url()]);
    let out = t
        .dv(&["snapshot", "--json", "--jobs", "2", &db.url()])
        .env("DUMPVAULT_TEST_PIECE_BYTES", "65536")
        .env("DUMPVAULT_LOG", "dumpvault::source::postgres=debug")
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let split: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("split by key ranges"))
        .collect();
    assert_eq!(split.len(), 3, "{stderr}");
    assert!(
        split[0].contains("Big") && split[1].contains("pairs") && split[2].contains("words"),
        "{split:?}"
    );
    let two: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let [one_id, two_id] = [&one, &two].map(|s| s["id"].as_str().unwrap().to_string());
    assert_eq!(restored(&t, &one_id), restored(&t, &two_id));
    let [new, added, read] =
        ["new_blobs", "bytes_added", "bytes_read"].map(|k| two[k].as_u64().unwrap());
    assert!(new <= 6 && added * 20 < read, "{two}");
}
