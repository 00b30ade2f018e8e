//! `verify --into`: a snapshot restored into a scratch database that verify creates and drops,
//! every table's row count compared with the snapshot, PASS/FAIL per table, and the outcome
//! recorded so `snapshots` shows when each snapshot was last proven restorable.

use crate::common::TestRepo;
use crate::db::{mariadb_at, psql_at, unique_name, MyDb, PgDb};

const PG_SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, note text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer int REFERENCES customers(id),
                     total numeric(12,2), doc jsonb);
CREATE TABLE victim (id int PRIMARY KEY, payload text);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
INSERT INTO customers SELECT g, 'customer ' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'ü' END
  FROM generate_series(1, 200) g;
INSERT INTO orders SELECT g, 1 + g % 200, g * 1.5, jsonb_build_object('n', g)
  FROM generate_series(1, 1000) g;
INSERT INTO victim SELECT g, repeat('x', g) FROM generate_series(1, 10) g;
";

/// Snapshots `url` into `repo`; returns the snapshot id.
fn snapshot(repo: &TestRepo, url: &str) -> String {
    let out = repo.dv(&["snapshot", "--json", url]).assert().success();
    let line = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// The `verified` field `snapshots --json` shows for `id`.
fn verified(repo: &TestRepo, id: &str) -> serde_json::Value {
    let out = repo.dv(&["snapshots", "--json"]).assert().success();
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let entry = list.as_array().unwrap().iter().find(|e| e["id"] == id);
    entry.unwrap()["verified"].clone()
}

fn pg_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql_at("postgres", &sql).trim() == "1"
}

#[test]
fn postgres_verify_into_creates_compares_and_drops_the_scratch_database() {
    let src = PgDb::create("verify_src");
    src.sql(PG_SCHEMA);
    let repo = TestRepo::new();
    let id = snapshot(&repo, &src.url());
    let scratch = unique_name("verify_scratch");
    let into = format!("{}/{scratch}", crate::db::pg_server());
    let out = repo
        .dv(&["verify", &id, "--into", &into])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for (table, rows) in [("customers", 200), ("orders", 1000), ("victim", 10)] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("public.{table} ")));
        let line = line.unwrap_or_else(|| panic!("no line for {table}: {text}"));
        assert!(
            line.starts_with("PASS") && line.contains(&rows.to_string()),
            "{line}"
        );
    }
    assert!(text.contains("3 tables, 0 differ"), "{text}");
    assert!(!pg_exists(&scratch), "the scratch database was not dropped");
    let v = verified(&repo, &id);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["mode"], "into postgres");
    assert_eq!(v["tables"].as_array().unwrap().len(), 3);
    let listing = repo.dv(&["snapshots"]).assert().success();
    let listing = String::from_utf8_lossy(&listing.get_output().stdout).into_owned();
    assert!(
        listing.contains("verified") && listing.contains("ok 20"),
        "{listing}"
    );
}

#[test]
fn postgres_verify_into_reports_the_table_whose_rows_went_missing() {
    let src = PgDb::create("verify_lossy_src");
    src.sql(PG_SCHEMA);
    let repo = TestRepo::new();
    let id = snapshot(&repo, &src.url());
    // An empty scratch database with an event trigger: every table called `victim` created in
    // it gets a row trigger that silently discards rows with an even id, as a broken restore
    // path would.
    let scratch = PgDb::create("verify_lossy_scratch");
    scratch.sql(
        "CREATE FUNCTION public.drop_even() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
         CREATE FUNCTION public.trap() RETURNS event_trigger LANGUAGE plpgsql AS $$
         DECLARE r record;
         BEGIN
           FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
             IF r.object_type = 'table' AND r.object_identity = 'public.victim' THEN
               EXECUTE 'CREATE TRIGGER lossy BEFORE INSERT ON public.victim
                        FOR EACH ROW EXECUTE FUNCTION public.drop_even()';
             END IF;
           END LOOP;
         END $$;
         CREATE EVENT TRIGGER trap ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
           EXECUTE FUNCTION public.trap();",
    );
    let out = repo
        .dv(&["verify", &id, "--into", &scratch.url()])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let fail: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        fail.iter()
            .any(|l| l.contains("public.victim: 5 rows, the snapshot has 10")),
        "{text}"
    );
    assert!(text.contains("1 differ"), "{text}");
    for table in ["customers", "orders"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("public.{table} ")));
        assert!(line.is_some_and(|l| l.starts_with("PASS")), "{text}");
    }
    // The scratch database existed before, so verify leaves it (and its trap) in place.
    assert!(pg_exists(&scratch.name));
    let v = verified(&repo, &id);
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("public.victim"),
        "{v}"
    );
    let listing = repo.dv(&["snapshots"]).assert().success();
    let listing = String::from_utf8_lossy(&listing.get_output().stdout).into_owned();
    assert!(listing.contains("FAILED 20"), "{listing}");
}

#[test]
fn mariadb_verify_into_passes_and_drops_the_scratch_database() {
    let src = MyDb::create("verify_src");
    src.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DECIMAL(10,2), b BLOB);
         CREATE TABLE tags (id INT PRIMARY KEY AUTO_INCREMENT, tag TEXT);
         INSERT INTO items SELECT seq, CONCAT('item ', seq), seq / 7, UNHEX('00FF')
           FROM seq_1_to_500;
         INSERT INTO tags (tag) SELECT CONCAT('t', seq) FROM seq_1_to_50;",
    );
    let repo = TestRepo::new();
    let id = snapshot(&repo, &src.url());
    let scratch = unique_name("verify_scratch");
    let into = format!("{}/{scratch}", crate::db::my_server());
    let out = repo
        .dv(&["verify", "latest", "--into", &into])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for (table, rows) in [("items", 500), ("tags", 50)] {
        let line = text.lines().find(|l| l.contains(table)).unwrap_or("");
        assert!(
            line.starts_with("PASS") && line.contains(&rows.to_string()),
            "{text}"
        );
    }
    let sql =
        format!("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{scratch}'");
    assert_eq!(mariadb_at(None, &sql).trim(), "0", "scratch not dropped");
    assert_eq!(verified(&repo, &id)["mode"], "into mysql");
}

#[test]
fn verify_into_refuses_a_database_of_another_engine_and_a_non_empty_target() {
    let src = PgDb::create("verify_engine_src");
    src.sql(PG_SCHEMA);
    let repo = TestRepo::new();
    let id = snapshot(&repo, &src.url());
    let into = format!("{}/{}", crate::db::my_server(), unique_name("nope"));
    let out = repo.dv(&["verify", &id, "--into", &into]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("postgres dump") && err.contains("postgres URL"),
        "{err}"
    );
    // The original itself is not empty: restore refuses, and nothing is dropped.
    let out = repo
        .dv(&["verify", &id, "--into", &src.url()])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("not empty"), "{text}");
    assert_eq!(src.sql("SELECT count(*) FROM victim").trim(), "10");
}

#[test]
fn prune_removes_the_verification_records_of_forgotten_snapshots() {
    let t = TestRepo::new();
    let dump = crate::common::synthetic_dump(64 * 1024, 3);
    let old = t.snapshot_bytes(&dump, &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut newer = dump.clone();
    newer.extend_from_slice(b"1\tmore\n");
    let new = t.snapshot_bytes(&newer, &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&old, &new] {
        t.dv(&["verify", id]).assert().success();
    }
    let records = || crate::common::files_under(&t.repo.join("verifications")).len();
    assert_eq!(records(), 2);
    t.dv(&["forget", &old]).assert().success();
    let out = t.dv(&["prune", "--json"]).assert().success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["verifications_removed"], 1, "{v}");
    assert_eq!(records(), 1);
    assert_eq!(verified(&t, &new)["ok"], true);
}
