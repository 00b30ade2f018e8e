//! Restore checks before it writes and cleans up after itself: `latest` and `--to` pick a
//! snapshot of the target's engine, another engine is refused before anything is created, a
//! database `--create` made is dropped when the restore fails (unless `--keep-failed`), and
//! every refusal names the flag that would allow it.

use crate::common::TestRepo;
use crate::db::{pg_server, psql_at, unique_name, MyDb, PgDb};
use serde_json::Value;

const SQLITE_DUMP: &[u8] =
    b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nCOMMIT;\n";

/// A pg_dump-style dump whose second statement fails.
const FAILING_PG_DUMP: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE public.a (i integer);\nINSERT INTO public.a VALUES (1);\nSELECT 1/0;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

fn snapshot_stdin(t: &TestRepo, data: &[u8], name: &str) -> String {
    let args = ["snapshot", "--json", "--stdin", "--stdin-name", name];
    let out = t.dv(&args).write_stdin(data.to_vec()).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn pg_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql_at("postgres", &sql).trim() == "1"
}

fn stderr_of(a: assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Drops a PostgreSQL database on drop (for targets the restore itself creates).
struct DropPg(String);

impl Drop for DropPg {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0);
        let _ = std::panic::catch_unwind(|| psql_at("postgres", &sql));
    }
}

#[test]
fn latest_into_a_database_picks_a_snapshot_of_its_engine() {
    let src = PgDb::create("rcsrc");
    src.sql("CREATE TABLE public.k (i int PRIMARY KEY); INSERT INTO public.k VALUES (1), (2);");
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    // The newest snapshot is SQLite; `latest --to postgres://` must not pick it.
    snapshot_stdin(&t, SQLITE_DUMP, "lite.sql");
    let name = unique_name("rclatest");
    let _guard = DropPg(name.clone());
    let to = format!("{}/{name}", pg_server());
    t.dv(&["restore", "latest", "--to", &to, "--create"])
        .assert()
        .success();
    assert_eq!(psql_at(&name, "SELECT count(*) FROM public.k").trim(), "2");
}

#[test]
fn another_engine_is_refused_before_anything_is_created() {
    let t = TestRepo::new();
    let lite = snapshot_stdin(&t, SQLITE_DUMP, "lite.sql");
    let name = unique_name("rcengine");
    let _guard = DropPg(name.clone());
    let to = format!("{}/{name}", pg_server());
    let err = stderr_of(
        t.dv(&["restore", &lite, "--to", &to, "--create"])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("SQLite") && err.contains("PostgreSQL"),
        "{err}"
    );
    assert!(!pg_exists(&name), "nothing may be created: {err}");
    // `latest` with no snapshot of the target's engine names both engines too.
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &to, "--create"])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("no PostgreSQL snapshot") && err.contains("SQLite"),
        "{err}"
    );
    assert!(!pg_exists(&name), "nothing may be created: {err}");
    let my = MyDb::create("rcengine");
    let err = stderr_of(
        t.dv(&["restore", &lite, "--to", &my.url()])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("SQLite") && err.contains("MySQL/MariaDB"),
        "{err}"
    );
}

#[test]
fn a_database_created_by_a_failed_restore_is_dropped_unless_keep_failed() {
    let t = TestRepo::new();
    let id = snapshot_stdin(&t, FAILING_PG_DUMP, "bad.sql");
    let name = unique_name("rcfail");
    let _guard = DropPg(name.clone());
    let to = format!("{}/{name}", pg_server());
    let err = stderr_of(
        t.dv(&["restore", &id, "--to", &to, "--create"])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("division by zero") && err.contains("--keep-failed"),
        "{err}"
    );
    assert!(
        !pg_exists(&name),
        "the half-restored database must be dropped: {err}"
    );
    let args = ["restore", &id, "--to", &to, "--create", "--keep-failed"];
    t.dv(&args).assert().failure();
    assert!(pg_exists(&name), "--keep-failed keeps it");
    // A database that existed before is never dropped.
    let existing = PgDb::create("rcfailx");
    t.dv(&["restore", &id, "--to", &existing.url()])
        .assert()
        .failure();
    assert!(pg_exists(&existing.name));
}

#[test]
fn every_refusal_names_the_flag_that_allows_it() {
    let src = PgDb::create("rcflag");
    src.sql("CREATE TABLE public.k (i int PRIMARY KEY);");
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    // Not empty, and already existing: --drop-existing.
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &src.url()])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("not empty") && err.contains("--drop-existing"),
        "{err}"
    );
    let args = ["restore", "latest", "--to", &src.url(), "--create"];
    let err = stderr_of(t.dv(&args).assert().failure());
    assert!(
        err.contains("already exists") && err.contains("--drop-existing"),
        "{err}"
    );
    // Missing: --create.
    let missing = format!("{}/{}", pg_server(), unique_name("rcmissing"));
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &missing])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("does not exist") && err.contains("--create"),
        "{err}"
    );
    // The same for MariaDB.
    let my = MyDb::create("rcflag");
    my.sql("CREATE TABLE k (i int PRIMARY KEY);");
    t.dv(&["snapshot", &my.url()]).assert().success();
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &my.url()])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("not empty") && err.contains("--drop-existing"),
        "{err}"
    );
    let gone = format!("{}_missing", my.url());
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &gone])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("does not exist") && err.contains("--create"),
        "{err}"
    );
}
