//! PostgreSQL, primary-key order: a statement needing ACCESS EXCLUSIVE (ALTER TABLE, TRUNCATE)
//! that arrives as a snapshot starts queues behind the snapshot session's locks, and the
//! pg_dump runs and COPY sessions the snapshot starts next would queue behind it: a cycle
//! PostgreSQL cannot see (one edge is dumpvault's pipe), which used to hang the backup and
//! every session touching the table. The snapshot must instead fail within seconds (exit 1, no
//! snapshot, a message naming the table and what to do) and release its locks, so that the
//! statement completes; the next snapshot then succeeds and restores.
//!
//! Pause points order the steps (`pg-tables-locked`: the snapshot session holds its locks;
//! `pg-before-copy`: pre-data passed on, the table COPYs next), and pg_locks is read until the
//! statement is queued: no test waits by sleeping. Every wait is bounded: a snapshot that
//! still hangs fails the test and is killed.

use crate::common::{dv_process as dv, mkfifo, within_for, Reap, TestRepo};
use crate::db::{pg_server, psql_at, unique_name, PgDb, PgName};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long any blocking step may take before the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `f` on a thread and returns its result, failing the test after [`DEADLINE`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(DEADLINE, what, f)
}

/// A database with a text-keyed table (the one the statement changes), another keyed table and
/// one without a key (dumped by pg_dump's data section).
fn database() -> PgDb {
    let db = PgDb::create("ddlrace");
    db.sql(
        "CREATE TABLE textkey (k text PRIMARY KEY, v int);
         INSERT INTO textkey SELECT 'k' || i, i FROM generate_series(1, 2000) i;
         CREATE TABLE customers (id int PRIMARY KEY, name text);
         INSERT INTO customers SELECT i, 'c' || i FROM generate_series(1, 1000) i;
         CREATE TABLE nopk (v text);
         INSERT INTO nopk SELECT 'n' || i FROM generate_series(1, 100) i;",
    );
    db
}

/// The lines of a child's stderr, as they come.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until a session other than the snapshot's waits for ACCESS EXCLUSIVE on
/// `public.textkey` behind a lock a dumpvault session holds (read from pg_locks, one psql
/// run after another).
fn wait_until_queued(db: &PgDb, ddl: &mut Child) {
    let sql = "SELECT count(*) FROM pg_locks l
                WHERE l.relation = 'public.textkey'::regclass AND NOT l.granted
                  AND l.mode = 'AccessExclusiveLock'
                  AND EXISTS (SELECT 1 FROM pg_stat_activity a
                               WHERE a.pid = ANY (pg_blocking_pids(l.pid))
                                 AND a.application_name = 'dumpvault')";
    let start = Instant::now();
    while psql_at(&db.name, sql).trim() != "1" {
        assert!(ddl.try_wait().unwrap().is_none(), "the statement ended");
        assert!(start.elapsed() < DEADLINE, "the statement never queued");
    }
}

/// Starts a snapshot that pauses at `point`, runs `ddl` there, checks it queues behind the
/// snapshot, lets the snapshot go on, and checks that it fails within [`DEADLINE`] with the
/// message naming the table, the waiting session (`who`) and what to do, writes no snapshot,
/// and releases its locks (the statement completes); then that the next snapshot succeeds.
/// Returns the repository.
fn snapshot_racing(db: &PgDb, jobs: &str, point: &str, ddl: &str, who: &str) -> TestRepo {
    let t = TestRepo::new();
    let fifo = t.path("pause");
    mkfifo(&fifo);
    let mut snap = dv(&t, &["snapshot", "--quiet", "--jobs", jobs, &db.url()])
        .env("DUMPVAULT_TEST_PAUSE", point)
        .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reap = Reap(vec![snap.id()]);
    let lines = lines_of(&mut snap);
    let paused = format!("paused at {point}");
    let mut stderr = Vec::new();
    while !stderr.iter().any(|l: &String| l.contains(&paused)) {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) => stderr.push(line),
            Err(_) => panic!("the snapshot did not pause at {point}: {stderr:#?}"),
        }
    }

    let mut statement = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &db.url(),
            "-c",
            ddl,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    reap.0.push(statement.id());
    wait_until_queued(db, &mut statement);

    let release = fifo.clone();
    within("releasing the pause", move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(release)
            .unwrap();
        writeln!(f, "go").unwrap();
    });
    let status = within("the snapshot ending", move || snap.wait().unwrap());
    // Every line up to the end (the sender goes with the process; bounded all the same).
    while let Ok(line) = lines.recv_timeout(DEADLINE) {
        stderr.push(line);
    }
    let stderr = stderr.join("\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    for part in [
        "public.textkey",
        "queued behind this backup's lock",
        who,
        "No snapshot was written",
        "Run the snapshot again",
        "--heap-order",
    ] {
        assert!(stderr.contains(part), "{part:?} missing: {stderr}");
    }
    let done = within("the statement completing", move || {
        statement.wait_with_output().unwrap()
    });
    assert!(done.status.success(), "{done:?}");
    let listed = dv(&t, &["snapshots", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed, serde_json::json!([]), "a snapshot was written");

    // With the statement done, the same snapshot goes through.
    let again = dv(&t, &["snapshot", "--quiet", "--jobs", jobs, &db.url()])
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    t
}

/// Restores the latest snapshot of `db` into a new database and returns `sql`'s answer there.
fn restored(t: &TestRepo, db: &PgDb, sql: &str) -> String {
    let name = unique_name("ddlrace_r");
    let _drop = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let args = [
        "restore",
        "latest",
        "--database",
        &db.name,
        "--to",
        &to,
        "--create",
    ];
    let out = dv(t, &args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    psql_at(&name, sql).trim().to_string()
}

#[test]
fn pg_an_alter_table_queued_behind_the_snapshot_fails_it_instead_of_hanging() {
    let db = database();
    let t = snapshot_racing(
        &db,
        "1",
        "pg-tables-locked",
        "ALTER TABLE public.textkey ADD COLUMN extra int DEFAULT 7",
        "pg_dump --section=pre-data",
    );
    let sql = "SELECT count(*), sum(extra) FROM textkey; SELECT count(*) FROM nopk;";
    assert_eq!(restored(&t, &db, sql), "2000|14000\n100");
}

#[test]
fn pg_a_truncate_queued_behind_a_parallel_snapshot_fails_it_instead_of_hanging() {
    let db = database();
    let t = snapshot_racing(
        &db,
        "2",
        "pg-tables-locked",
        "TRUNCATE public.textkey",
        "pg_dump --section=pre-data",
    );
    let sql = "SELECT count(*) FROM textkey; SELECT count(*) FROM customers;";
    assert_eq!(restored(&t, &db, sql), "0\n1000");
}

#[test]
fn pg_an_alter_table_queued_before_the_parallel_copies_fails_the_snapshot() {
    let db = database();
    let t = snapshot_racing(
        &db,
        "2",
        "pg-before-copy",
        "ALTER TABLE public.textkey ADD COLUMN extra int DEFAULT 7",
        "COPY sessions (--jobs)",
    );
    let sql = "SELECT count(*), sum(extra) FROM textkey; SELECT count(*) FROM customers;";
    assert_eq!(restored(&t, &db, sql), "2000|14000\n1000");
}
