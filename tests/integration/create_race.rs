//! A database another client creates while a restore is about to create it is never taken for
//! the restore's own: `restore --to URL --create` and `verify --into` decided that they had
//! created their database from a look before their own `CREATE DATABASE`. When someone else
//! created the same name between the two, the `CREATE` failed and the failure path dropped
//! that client's database, and so would the interrupt path. Each test holds the restore at the
//! pause point `restore-before-create` (after the engine's look, before its `CREATE`), creates
//! the database as another client would, then lets the restore go on (or interrupts it) and
//! checks that the other client's database and its rows are still there. No test sleeps.

use crate::common::{dv_process as dv, Reap, TestRepo};
use crate::concurrency::Paused;
use crate::db::{mariadb_at, my_server, pg_server, psql_at, unique_name};
use crate::db::{MyDb, MyName, PgDb, PgName};
use crate::s3server::Repo;
use std::io::Write;
use std::process::Stdio;

const POINT: &str = "restore-before-create";

/// Starts `args` on `t`'s repository and returns it once it is held at [`POINT`].
fn held(t: &TestRepo, args: &[&str]) -> Paused {
    let mut p = Paused::start(
        &Repo::fs(&t.repo),
        t.dir.path(),
        "create",
        args,
        POINT,
        None,
    );
    p.wait_at(POINT);
    p
}

/// Lets the held process go on; returns whether it succeeded, and its stderr.
fn release(mut p: Paused) -> (bool, String) {
    p.release();
    let (ok, _, err) = p.finish();
    (ok, err)
}

/// A PostgreSQL snapshot of a small database with one keyed table.
fn pg_snapshot(t: &TestRepo) -> PgDb {
    let src = PgDb::create("crsrc");
    src.sql(
        "CREATE TABLE public.t (id int PRIMARY KEY, v text);
         INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 500) g;",
    );
    let out = dv(t, &["snapshot", &src.url()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    src
}

/// Creates PostgreSQL database `name` with a table of 3 rows, as another client would.
fn pg_create_theirs(name: &str) {
    psql_at("postgres", &format!("CREATE DATABASE \"{name}\";"));
    psql_at(
        name,
        "CREATE TABLE theirs (i int); INSERT INTO theirs VALUES (1), (2), (3);",
    );
}

fn pg_theirs_rows(name: &str) -> String {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}';");
    if psql_at("postgres", &sql).trim() != "1" {
        return "the database is gone".into();
    }
    psql_at(name, "SELECT count(*) FROM theirs;")
        .trim()
        .to_string()
}

fn pg_restore_keeps_a_database_created_meanwhile(extra: &[&str]) {
    let t = TestRepo::new();
    let src = pg_snapshot(&t);
    let name = unique_name("crpg");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let mut args = vec!["restore", "latest", "--database", &src.name, "--to", &to];
    args.extend_from_slice(&["--create"]);
    args.extend_from_slice(extra);
    let p = held(&t, &args);
    let _reap = Reap(vec![p.pid()]);
    pg_create_theirs(&name);
    let (ok, err) = release(p);
    assert!(!ok, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert!(!err.contains("dropped database"), "{err}");
    assert_eq!(pg_theirs_rows(&name), "3", "{err}");
}

#[test]
fn a_parallel_restore_never_drops_a_database_another_client_created_meanwhile() {
    pg_restore_keeps_a_database_created_meanwhile(&[]);
}

#[test]
fn a_single_session_restore_never_drops_a_database_another_client_created_meanwhile() {
    pg_restore_keeps_a_database_created_meanwhile(&["--single-transaction"]);
}

#[test]
fn an_interrupt_before_the_create_leaves_another_clients_database() {
    let t = TestRepo::new();
    let src = pg_snapshot(&t);
    let name = unique_name("crint");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let args = [
        "restore",
        "latest",
        "--database",
        &src.name,
        "--to",
        &to,
        "--create",
    ];
    let p = held(&t, &args);
    let _reap = Reap(vec![p.pid()]);
    pg_create_theirs(&name);
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let (ok, _, err) = p.finish();
    assert!(!ok && err.contains("interrupted"), "{err}");
    assert!(!err.contains("dropped database"), "{err}");
    assert_eq!(pg_theirs_rows(&name), "3", "{err}");
}

#[test]
fn verify_into_never_drops_a_database_another_client_created_meanwhile() {
    let t = TestRepo::new();
    let src = pg_snapshot(&t);
    let name = unique_name("crver");
    let _guard = PgName(name.clone());
    let into = format!("{}/{name}", pg_server());
    let args = ["verify", "latest", "--database", &src.name, "--into", &into];
    let p = held(&t, &args);
    let _reap = Reap(vec![p.pid()]);
    pg_create_theirs(&name);
    let (ok, err) = release(p);
    assert!(!ok, "{err}");
    assert_eq!(pg_theirs_rows(&name), "3", "{err}");
}

#[test]
fn a_mariadb_restore_never_drops_a_database_another_client_created_meanwhile() {
    let t = TestRepo::new();
    let src = MyDb::create("crsrc");
    src.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t VALUES (1, 'one'), (2, 'two');",
    );
    let out = dv(&t, &["snapshot", &src.url()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let name = unique_name("crmy");
    let _guard = MyName(name.clone());
    let to = format!("{}/{name}", my_server());
    let args = ["restore", "latest", "--to", &to, "--create"];
    let p = held(&t, &args);
    let _reap = Reap(vec![p.pid()]);
    mariadb_at(
        None,
        &format!(
            "CREATE DATABASE `{name}`; CREATE TABLE `{name}`.theirs (i int);
             INSERT INTO `{name}`.theirs VALUES (1), (2), (3);"
        ),
    );
    let (ok, err) = release(p);
    assert!(!ok, "{err}");
    assert!(!err.contains("dropped database"), "{err}");
    let rows = mariadb_at(None, &format!("SELECT count(*) FROM `{name}`.theirs;"));
    assert_eq!(rows.trim(), "3", "{err}");
}

#[test]
fn an_sqlite_restore_never_removes_a_file_another_process_wrote_meanwhile() {
    let t = TestRepo::new();
    let dump = b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nCOMMIT;\n";
    let mut snap = dv(&t, &["snapshot", "--stdin", "--stdin-name", "lite.sql"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    snap.stdin.take().unwrap().write_all(dump).unwrap();
    assert!(snap.wait().unwrap().success());
    let path = t.path("target.db");
    let to = format!("sqlite://{}", path.display());
    let p = held(&t, &["restore", "latest", "--to", &to, "--create"]);
    let _reap = Reap(vec![p.pid()]);
    std::fs::write(&path, b"their file").unwrap();
    let (ok, err) = release(p);
    assert!(!ok, "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"their file", "{err}");
}
