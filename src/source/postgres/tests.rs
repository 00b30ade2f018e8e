//! Tests of the PostgreSQL engine against the test server (see [`crate::source::testdb`]): each
//! test creates its own uniquely named databases and roles and drops them, also on failure.
//! They never skip: a server that does not answer fails them.

use super::conn::connect;
use super::tool::{describe_cmd, newest_in, pick_tool, version_num};
use super::*;
use crate::source::{testdb, Dialect, DumpSource, SourceInfo};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The test server's `postgres` database, from [`testdb::postgres_url`] (the server
/// tests/integration uses). A server that does not answer fails the test: database tests never
/// skip.
pub(super) fn server() -> PgUrl {
    server_at(&testdb::postgres_url())
}

/// The `postgres` database of the server at `url`; panics when it does not answer.
fn server_at(url: &str) -> PgUrl {
    let url = PgUrl::parse(url).unwrap().with_database("postgres");
    if let Err(e) = connect(&url) {
        panic!(
            "no PostgreSQL test server at {url} ({}): {e}",
            testdb::POSTGRES_VAR
        );
    }
    url
}

#[test]
#[should_panic(expected = "no PostgreSQL test server at postgres://postgres@127.0.0.1:1/postgres")]
fn an_unreachable_test_server_fails_the_test() {
    server_at("postgres://postgres@127.0.0.1:1/test");
}

fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}_{}_{n}", std::process::id())
}

pub(super) fn exec(url: &PgUrl, sql: &str) {
    let result = connect(url).unwrap().batch_execute(sql);
    result.unwrap_or_else(|e| panic!("{}", db_err(sql, &e)));
}

/// Drops a database (or a role: `DROP ROLE`) at the end of a test, also on failure.
pub(super) struct Guard(PgUrl, String, &'static str);

impl Guard {
    /// Reserves a database name; with `sql`, creates the database and runs `sql` in it.
    pub(super) fn db(admin: &PgUrl, sql: Option<&str>) -> (Guard, PgUrl) {
        let name = unique("dv_pg");
        let guard = Guard(admin.clone(), name.clone(), "DATABASE");
        if let Some(sql) = sql {
            exec(admin, &format!("CREATE DATABASE {name}"));
            exec(&admin.with_database(&name), sql);
        }
        (guard, admin.with_database(&name))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let force = if self.2 == "DATABASE" {
            " WITH (FORCE)"
        } else {
            ""
        };
        let sql = format!("DROP {} IF EXISTS {}{force}", self.2, self.1);
        let _ = connect(&self.0).map(|mut c| c.batch_execute(&sql));
    }
}

pub(super) fn read_all(mut src: Box<dyn DumpSource>) -> Result<(String, SourceInfo), SourceError> {
    let mut out = String::new();
    src.read_to_string(&mut out).unwrap();
    Ok((out, src.finish()?))
}

fn opts(heap_order: bool) -> PgOptions {
    PgOptions {
        heap_order,
        globals: false,
        jobs: 1,
    }
}

fn dump(url: &PgUrl, heap_order: bool) -> String {
    read_all(open_source(url, &opts(heap_order)).unwrap())
        .unwrap()
        .0
}

/// The dump without the lines that differ between any two pg_dump runs (restrict keys).
pub(super) fn normalize(dump: &str) -> Vec<&str> {
    let random = |l: &&str| l.starts_with("\\restrict") || l.starts_with("\\unrestrict");
    dump.lines().filter(|l| !random(l)).collect()
}

pub(super) fn assert_same(a: &[&str], b: &[&str]) {
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    let at = first.unwrap_or(a.len().min(b.len()));
    assert!(
        a == b,
        "differ at line {at}: {:?} / {:?}",
        a.get(at),
        b.get(at)
    );
}

/// The data lines of the COPY block that starts with `copy_line`.
fn copy_rows<'a>(dump: &'a str, copy_line: &str) -> Vec<&'a str> {
    let rows = dump.lines().skip_while(|l| *l != copy_line).skip(1);
    rows.take_while(|l| *l != "\\.").collect()
}

const SCHEMA: &str = r#"
    CREATE SEQUENCE ticket_seq START 100;
    CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2),
        notes text, data json, meta jsonb, photo bytea, ratio float8,
        created timestamptz DEFAULT '2024-01-02 03:04:05+00');
    CREATE TABLE orders (customer bigint REFERENCES customers, n int, total numeric,
        ticket int DEFAULT nextval('ticket_seq'), twice int GENERATED ALWAYS AS (n * 2) STORED,
        PRIMARY KEY (n, customer));
    CREATE TABLE "Odd ""Name""" ("select" int PRIMARY KEY, "Mixed Case" text);
    CREATE TABLE events (at int, what text);
    CREATE TABLE audit (id serial PRIMARY KEY, gone int, msg text);
    ALTER TABLE audit DROP COLUMN gone;
    CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE balance > 100;
    CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN INSERT INTO audit (msg) VALUES ('order ' || NEW.n); RETURN NEW; END $$;
    CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
    INSERT INTO customers SELECT i, 'name ' || i || ' ünïcødé ☃ 日本', i * 1.5,
        CASE WHEN i % 3 = 0 THEN NULL ELSE E'tab\there\nnew line \\ back' END,
        '{"k": [1, 2]}', jsonb_build_object('i', i, 's', 'x"y'),
        decode('00ff' || lpad(to_hex(i), 4, '0'), 'hex'), i / 3.0
        FROM generate_series(300, 1, -1) i;
    INSERT INTO orders (customer, n, total) SELECT i % 50 + 1, i, i / 7.0
        FROM generate_series(1, 500) i;
    INSERT INTO "Odd ""Name""" VALUES (2, NULL), (1, 'x');
    INSERT INTO events SELECT i, 'e' || i FROM generate_series(1, 50) i;
    SELECT setval('ticket_seq', 4242);
    SELECT lo_from_bytea(424242, '\x0102'::bytea);
"#;

#[test]
fn round_trip_restores_an_identical_database() {
    let admin = server();
    let (_source, source) = Guard::db(&admin, Some(SCHEMA));
    let (pk_dump, info) = read_all(open_source(&source, &PgOptions::default()).unwrap()).unwrap();
    assert_eq!(
        (info.kind.as_str(), info.database),
        ("postgres", source.database.clone())
    );
    assert_eq!(
        (info.options, info.dialect),
        (
            vec!["primary-key order".into(), source.server_option()],
            Some(Dialect::Postgres)
        )
    );
    assert!(info
        .tool_version
        .unwrap()
        .starts_with("pg_dump (PostgreSQL) "));
    assert!(info
        .command
        .unwrap()
        .contains("pg_dump --format=plain --no-password"));
    // Our own blocks, in key order, for rows inserted out of order.
    let odd = "COPY public.\"Odd \"\"Name\"\"\" (\"select\", \"Mixed Case\") FROM stdin;";
    assert_eq!(copy_rows(&pk_dump, odd), ["1\tx", "2\t\\N"]);
    let orders = copy_rows(
        &pk_dump,
        "COPY public.orders (customer, n, total, ticket) FROM stdin;",
    );
    assert_eq!(orders.len(), 500);
    assert!(pk_dump.contains("\n1\tname 1 ünïcødé ☃ 日本\t1.50\ttab\\there\\nnew line \\\\ back\t"));
    assert!(pk_dump.contains("SELECT pg_catalog.setval('public.ticket_seq', 4242, true);"));

    let (_target, target) = Guard::db(&admin, None);
    restore_into(&target, &mut pk_dump.as_bytes(), true, false, &|| {}).unwrap();
    assert!(list_databases(&admin)
        .unwrap()
        .contains(target.database.as_ref().unwrap()));
    assert_same(&normalize(&pk_dump), &normalize(&dump(&target, false)));
    // Heap order differs where the restore wrote rows in key order: compare sorted lines.
    let (original, restored) = (dump(&source, true), dump(&target, true));
    assert!(original.contains("CREATE TRIGGER orders_log") && original.contains("lo_create"));
    let sorted = |d: &str| -> Vec<String> {
        let mut lines: Vec<String> = normalize(d).into_iter().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&original), sorted(&restored));
    let counts = table_row_counts(&target).unwrap();
    assert_eq!(counts, table_row_counts(&source).unwrap());
    assert_eq!(
        (
            counts["public.orders"],
            counts["public.\"Odd \"\"Name\"\"\""]
        ),
        (500, 2)
    );
}

#[test]
fn primary_key_order_survives_updates() {
    let admin = server();
    let (_db, url) = Guard::db(
        &admin,
        Some(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2000) i;
         UPDATE t SET v = v || '!' WHERE id % 3 = 0;",
        ),
    );
    let ids = |d: &str| -> Vec<i32> {
        let rows = copy_rows(d, "COPY public.t (id, v) FROM stdin;");
        rows.iter()
            .map(|l| l.split('\t').next().unwrap().parse().unwrap())
            .collect()
    };
    assert!(
        !ids(&dump(&url, true)).is_sorted(),
        "the update should have moved rows"
    );
    let before = dump(&url, false);
    assert_eq!(ids(&before), (1..=2000).collect::<Vec<_>>());
    exec(&url, "UPDATE t SET v = 'changed' WHERE id = 1000");
    let after = dump(&url, false);
    let (before, after) = (normalize(&before), normalize(&after));
    assert_eq!(before.len(), after.len());
    let diff: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
    assert_eq!(diff, [(&"1000\tv1000", &"1000\tchanged")]);
}

/// Our child processes started with `PGDATABASE=db`.
fn children_of_db(db: &str) -> Vec<String> {
    let (me, env) = (
        std::process::id().to_string(),
        format!("\0PGDATABASE={db}\0"),
    );
    let mut pids = Vec::new();
    for dir in std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .map(|e| e.path())
    {
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().nth(1));
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        if ppid == Some(&me) && String::from_utf8_lossy(&environ).contains(&env) {
            pids.push(dir.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    pids
}

#[test]
fn failures_surface_and_dropping_stops_everything() {
    let admin = server();
    for heap_order in [false, true] {
        let missing = admin.with_database(&unique("dv_pg_missing"));
        let err = open_source(&missing, &opts(heap_order));
        let err = err
            .map_or_else(|e| e, |src| read_all(src).unwrap_err())
            .to_string();
        assert!(err.contains(&missing.database_name()), "{err}");
    }
    let role = unique("dv_pg_role");
    exec(&admin, &format!("CREATE ROLE {role} LOGIN"));
    let _role = Guard(admin.clone(), role.clone(), "ROLE");
    let (_db, url) = Guard::db(
        &admin,
        Some(
            "CREATE TABLE secret (x int);
         CREATE TABLE big (id int PRIMARY KEY, v text); GRANT SELECT ON big TO PUBLIC;
         INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 50000) i;",
        ),
    );
    let db = url.database_name();
    // pg_dump fails (permission denied for table secret): the error comes from finish. In
    // primary-key order the snapshot session, which locks every table pg_dump locks before
    // starting it, fails first, naming the table.
    let as_role = PgUrl {
        user: Some(role),
        ..url.clone()
    };
    let err = open_source(&as_role, &opts(false)).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Database { .. }), "{text}");
    assert!(
        text.contains(&db) && text.contains("permission denied for table secret"),
        "{text}"
    );
    let src = open_source(&as_role, &opts(true)).unwrap();
    let err = read_all(src).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Failed { .. }), "{text}");
    assert!(
        text.contains(&db) && text.contains("permission denied"),
        "{text}"
    );
    // A killed pg_dump (blocked on a full pipe) is detected.
    let mut src = open_source(&url, &opts(true)).unwrap();
    src.read_exact(&mut [0u8; 100]).unwrap();
    let pids = children_of_db(&db);
    assert_eq!(pids.len(), 1);
    Command::new("kill")
        .args(["-9", &pids[0]])
        .status()
        .unwrap();
    let err = read_all(src).unwrap_err().to_string();
    assert!(
        err.contains("killed by signal 9") && err.contains(&db),
        "{err}"
    );
    // Dropping a primary-key-order source early ends its children and its connection.
    let mut src = open_source(&url, &PgOptions::default()).unwrap();
    src.read_exact(&mut [0u8; 100]).unwrap();
    drop(src);
    wait_until_gone(&admin, &db, "dropped early");
}

/// Waits (up to 20 s, polling: the server ends a closed session on its own time) until
/// database `db` has no session and no pg_dump child of this process; fails the test naming
/// `case` otherwise.
fn wait_until_gone(admin: &PgUrl, db: &str, case: &str) {
    let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sessions: i64 = connect(admin).unwrap().query_one(&sql, &[]).unwrap().get(0);
        if sessions == 0 && children_of_db(db).is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: {sessions} sessions or pg_dump still there"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `n` pg_dump children of this process for database `db`, once each has started
/// (polling up to 20 s: between fork and exec a child still shows this process's environment
/// and command line, which once failed this test on a loaded machine).
fn pg_dumps_started(db: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pids = children_of_db(db);
        if pids.len() >= n && pids.iter().all(|p| cmdline(p).contains("pg_dump")) {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} pg_dump runs started",
            pids.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The command line of process `pid`, arguments joined by spaces.
fn cmdline(pid: &str) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

/// Issue 19 (fleet fixed cost): a primary-key-order dump starts its second pg_dump run
/// (the rest of the data and the post-data) at once, beside the first, and still passes the
/// output on in order; killing either run fails the dump, and nothing is left running.
#[test]
fn both_pg_dump_runs_start_at_once_and_either_failing_fails_the_dump() {
    let admin = server();
    // More pre-data and more rest-of-data than the pipes hold: both runs block until read.
    let (_db, url) = Guard::db(
        &admin,
        Some(
            "DO $$ BEGIN EXECUTE format('CREATE FUNCTION big() RETURNS text LANGUAGE sql AS %L',
                'SELECT ' || quote_literal(repeat('x', 1000000))); END $$;
             CREATE TABLE keyed (id int PRIMARY KEY, v text);
             INSERT INTO keyed SELECT i, 'k' || i FROM generate_series(3, 1, -1) i;
             CREATE TABLE unkeyed (v text);
             INSERT INTO unkeyed SELECT repeat('y', 1000) || i FROM generate_series(1, 1000) i;",
        ),
    );
    let db = url.database_name();
    let src = open_source(&url, &PgOptions::default()).unwrap();
    let mut running: Vec<String> = pg_dumps_started(&db, 2)
        .iter()
        .map(|p| cmdline(p))
        .collect();
    running.sort();
    assert_eq!(running.len(), 2, "{running:?}");
    assert!(
        running[0].contains("--section=data --section=post-data"),
        "{running:?}"
    );
    assert!(running[1].contains("--section=pre-data"), "{running:?}");
    let (text, _) = read_all(src).unwrap();
    let [function, keyed, unkeyed, index] = [
        "CREATE FUNCTION public.big()",
        "COPY public.keyed (id, v) FROM stdin;",
        "COPY public.unkeyed (v) FROM stdin;",
        "ADD CONSTRAINT keyed_pkey PRIMARY KEY",
    ]
    .map(|s| text.find(s).unwrap_or_else(|| panic!("{s} missing")));
    assert!(function < keyed && keyed < unkeyed && unkeyed < index);
    assert_eq!(
        copy_rows(&text, "COPY public.keyed (id, v) FROM stdin;"),
        ["1\tk1", "2\tk2", "3\tk3"]
    );
    assert_eq!(
        copy_rows(&text, "COPY public.unkeyed (v) FROM stdin;").len(),
        1000
    );
    assert!(children_of_db(&db).is_empty());
    // Killing either run (the other one blocked on its full pipe) fails the dump, naming the
    // run, and leaves no pg_dump and no session behind.
    for section in ["--section=pre-data", "--section=data"] {
        let src = open_source(&url, &PgOptions::default()).unwrap();
        let pids = pg_dumps_started(&db, 2);
        let victim = pids.iter().find(|p| cmdline(p).contains(section)).unwrap();
        Command::new("kill").args(["-9", victim]).status().unwrap();
        let err = read_all(src).unwrap_err().to_string();
        assert!(
            err.contains("killed by signal 9") && err.contains(section) && err.contains(&db),
            "{err}"
        );
        assert!(
            children_of_db(&db).is_empty(),
            "{section}: pg_dump left running"
        );
        wait_until_gone(&admin, &db, section);
    }
}

/// Issue 16 (parallel dump): table data COPYed by N sessions on the exported snapshot gives
/// the stream one session gives, byte for byte (quoted names, partitions, foreign keys).
#[test]
fn parallel_table_copies_give_the_stream_one_session_gives() {
    let admin = server();
    let more = r#"
        CREATE SCHEMA "Sales";
        CREATE TABLE "Sales"."Order Items" (id int PRIMARY KEY, sku text, qty int);
        INSERT INTO "Sales"."Order Items" SELECT i, 'sku' || (i % 97), i % 5
            FROM generate_series(4000, 1, -1) i;
        CREATE TABLE measures (day date, id int, v float8, PRIMARY KEY (day, id))
            PARTITION BY RANGE (day);
        CREATE TABLE measures_2025 PARTITION OF measures
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        CREATE TABLE measures_2026 PARTITION OF measures
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        INSERT INTO measures SELECT DATE '2025-06-01' + (i % 400), i, i / 3.0
            FROM generate_series(1, 3000) i;"#;
    let (_db, url) = Guard::db(&admin, Some(&format!("{SCHEMA}{more}")));
    let one = dump(&url, false);
    for jobs in [2, 3, 8] {
        let o = PgOptions {
            jobs,
            ..opts(false)
        };
        let (text, info) = read_all(open_source(&url, &o).unwrap()).unwrap();
        assert_same(&normalize(&one), &normalize(&text));
        let said = format!("table data over {jobs} sessions");
        assert!(info.options.contains(&said), "{:?}", info.options);
    }
    assert!(one.contains("COPY \"Sales\".\"Order Items\" (id, sku, qty) FROM stdin;"));
    assert!(one.contains("COPY public.measures_2026 (day, id, v) FROM stdin;"));
    wait_until_gone(&admin, &url.database_name(), "after the parallel dumps");
}

/// Issue 16 (parallel dump): one table's COPY failing in a worker session (row-level security
/// the dumping role may not bypass) fails the dump from `finish`, naming the table, and leaves
/// no session and no pg_dump behind; the tables after it are not waited for.
#[test]
fn a_failing_parallel_copy_fails_the_dump_and_leaves_nothing_behind() {
    let admin = server();
    let role = unique("dv_pg_rls");
    exec(&admin, &format!("CREATE ROLE {role} LOGIN"));
    let _role = Guard(admin.clone(), role.clone(), "ROLE");
    let (_db, url) = Guard::db(
        &admin,
        Some(&format!(
            "CREATE TABLE a1 (id int PRIMARY KEY, v text);
             CREATE TABLE b2 (id int PRIMARY KEY, v text);
             CREATE TABLE c3 (id int PRIMARY KEY, v text);
             CREATE TABLE d4 (id int PRIMARY KEY, v text);
             INSERT INTO a1 SELECT i, repeat('a', 200) FROM generate_series(1, 20000) i;
             INSERT INTO b2 VALUES (1, 'hidden');
             INSERT INTO c3 SELECT i, 'c' FROM generate_series(1, 100) i;
             INSERT INTO d4 SELECT i, 'd' FROM generate_series(1, 100) i;
             ALTER TABLE b2 ENABLE ROW LEVEL SECURITY;
             CREATE POLICY mine ON b2 USING (v = current_user);
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
        )),
    );
    let db = url.database_name();
    let as_role = PgUrl {
        user: Some(role),
        ..url.clone()
    };
    for jobs in [1, 3] {
        let o = PgOptions {
            jobs,
            ..opts(false)
        };
        let err = read_all(open_source(&as_role, &o).unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("public.b2") && text.contains("row-level security"),
            "{jobs} sessions: {text}"
        );
        wait_until_gone(&admin, &db, &format!("{jobs} sessions"));
    }
}

/// Writes an executable fake client program `name` into `dir` that answers `--version` with
/// `version` and logs each such question to `log`; returns once it can be run (a process
/// forked meanwhile may hold the file open for writing for a moment: ETXTBSY).
fn fake_tool(dir: &Path, name: &str, version: &str, log: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = --version ] || exit 0\necho asked >> '{}'\necho \"${{0##*/}} (PostgreSQL) {version}\"\n",
        log.display()
    );
    let partial = dir.join(format!("{name}.partial"));
    std::fs::write(&partial, script).unwrap();
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&partial, dir.join(name)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new(dir.join(name)).status().is_err() {
        assert!(Instant::now() < deadline, "{name} does not start");
        std::thread::yield_now();
    }
}

/// Issue 19 (fleet fixed cost): each client program is asked its version once per process
/// (Debian's pg_wrapper, a Perl script, took 40-80 ms per database), and again once the
/// program file is replaced (an upgrade).
#[test]
fn a_client_program_is_asked_its_version_once_per_program_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("asked");
    let asked = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    fake_tool(dir.path(), "pg_fake", "99.1", &log);
    let find = || newest_in("pg_fake", vec![dir.path().to_path_buf()]).unwrap();
    for _ in 0..3 {
        let tool = find();
        assert_eq!(
            (tool.num, tool.version.as_str()),
            (990001, "pg_fake (PostgreSQL) 99.1")
        );
    }
    assert_eq!(asked(), 1);
    fake_tool(dir.path(), "pg_fake", "100.12", &log);
    assert_eq!((find().num, find().num), (1000012, 1000012));
    assert_eq!(asked(), 2);
    // One file under two names (as Debian's pg_wrapper is psql and pg_dump): each name is
    // asked, and answers as itself.
    std::os::unix::fs::symlink(dir.path().join("pg_fake"), dir.path().join("pg_other")).unwrap();
    let other = newest_in("pg_other", vec![dir.path().to_path_buf()]).unwrap();
    assert_eq!(other.version, "pg_other (PostgreSQL) 100.12");
    assert_eq!(
        (find().version, asked()),
        ("pg_fake (PostgreSQL) 100.12".into(), 3)
    );
}

#[test]
fn restore_refuses_to_overwrite() {
    let admin = server();
    let one = "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1);";
    let (_source, source) = Guard::db(&admin, Some(one));
    let (_target, target) = Guard::db(&admin, Some("CREATE TABLE keep (id int);"));
    let pk_dump = dump(&source, false);
    for create in [false, true] {
        let err =
            restore_into(&target, &mut pk_dump.as_bytes(), create, false, &|| {}).unwrap_err();
        let name = target.database_name();
        assert!(matches!(err, SourceError::Invalid(_)) && err.to_string().contains(&name));
    }
    assert!(table_row_counts(&target)
        .unwrap()
        .contains_key("public.keep"));
    let (_missing, missing) = Guard::db(&admin, None);
    let err = restore_into(&missing, &mut pk_dump.as_bytes(), false, false, &|| {}).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let bad = restore_into(
        &missing,
        &mut &b"CREATE TABLE x (;"[..],
        true,
        false,
        &|| {},
    )
    .unwrap_err();
    assert!(matches!(bad, SourceError::Failed { .. }));
    assert!(bad.to_string().contains(&missing.database_name()), "{bad}");
    restore_into(&target, &mut pk_dump.as_bytes(), false, true, &|| {}).unwrap();
    let counts = table_row_counts(&target).unwrap();
    assert_eq!(counts, BTreeMap::from([("public.a".to_string(), 1)]));
    let (globals, info) = read_all(open_globals(&admin).unwrap()).unwrap();
    assert!(globals.contains("CREATE ROLE postgres;"), "{globals}");
    assert_eq!(info.options, ["globals-only"]);
}

#[test]
fn urls_versions_and_quoting() {
    let url = PgUrl::parse("postgresql://al%40ice:s3cr%3At@db.example:6543/shop?sslmode=disable");
    let url = url.unwrap();
    assert_eq!(
        (url.user.as_deref(), url.password.as_deref()),
        (Some("al@ice"), Some("s3cr:t"))
    );
    assert_eq!(
        (url.host.as_deref(), url.port),
        (Some("db.example"), Some(6543))
    );
    assert_eq!(
        url.to_string(),
        "postgres://al%40ice@db.example:6543/shop?sslmode=disable"
    );
    assert!(!format!("{url:?}").contains("s3cr"));
    assert_eq!(url.with_database("x").database_name(), "x");
    let v6 = PgUrl::parse("postgres://[::1]:5433").unwrap();
    assert_eq!((v6.host.as_deref(), v6.port), (Some("::1"), Some(5433)));
    assert_eq!(v6.to_string(), "postgres://[::1]:5433");
    let sock = PgUrl::parse("postgres:///db?host=%2Fvar%2Frun%2Fpostgresql").unwrap();
    assert_eq!(sock.host.as_deref(), Some("/var/run/postgresql"));
    assert_eq!(PgUrl::parse("postgres://").unwrap(), PgUrl::default());
    for bad in [
        "mysql://x",
        "postgres://h:p/db",
        "postgres://h/db?foo=1",
        "postgres://h/%zz",
    ] {
        assert!(PgUrl::parse(bad).is_err(), "{bad}");
    }
    let cmd = describe_cmd(&url, Path::new("/bin/pg_dump"), &["--a b".into()]);
    let env = "PGHOST=db.example PGPORT=6543 PGUSER=al@ice PGDATABASE=shop PGSSLMODE=disable";
    assert_eq!(cmd, format!("{env} /bin/pg_dump '--a b'"));
    assert_eq!(version_num("15.19"), Some(150019));
    assert_eq!(
        (version_num("16beta1"), version_num("(PostgreSQL)")),
        (Some(160000), None)
    );
    assert_eq!(quote("a\"b.*"), "\"a\"\"b.*\"");
    let err = pick_tool("pg_dump", 990001, "99.1 (Debian)")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("PostgreSQL server is 99.1 but the newest pg_dump here is 1"));
    assert!(err.ends_with(": install postgresql-client-99"), "{err}");
}

/// Issue 16: a COPY that fails mid-stream (its session terminated once rows came through)
/// fails the dump from `finish`, naming the table and the database, and leaves nothing behind.
#[test]
fn a_copy_failing_mid_stream_fails_the_dump_naming_the_table() {
    let admin = server();
    let rows = "INSERT INTO big SELECT i, repeat('x', 200) FROM generate_series(1, 100000) i";
    let sql = format!("CREATE TABLE big (id int PRIMARY KEY, v text); {rows}");
    let (_db, url) = Guard::db(&admin, Some(&sql));
    let db = url.database_name();
    let mut src = open_source(&url, &opts(false)).unwrap();
    // 20 MiB of rows: more than the pipe, the buffers and the socket hold, so the COPY is
    // still running (blocked on its socket) once its first row came through.
    let (mut seen, mut buf) = (Vec::new(), [0u8; 4096]);
    let first_row = b"COPY public.big (id, v) FROM stdin;\n1\t";
    while !seen.windows(first_row.len()).any(|w| w == first_row) {
        let n = src.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended before the COPY of big");
        seen.extend_from_slice(&buf[..n]);
    }
    let kill = format!(
        "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid, 20000))
           FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE 'COPY (SELECT%'"
    );
    let killed: i64 = connect(&admin)
        .unwrap()
        .query_one(&kill, &[])
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    let err = read_all(src).unwrap_err().to_string();
    let what = format!("reading COPY of table public.big in database \"{db}\"");
    assert!(err.contains(&what), "{err}");
    wait_until_gone(&admin, &db, "after the failed COPY");
}

/// A new database of server encoding `encoding` with the "C" locale (from `template0`), `sql`
/// run in it when given; dropped at the end of the test.
fn encoded_db(admin: &PgUrl, encoding: &str, sql: Option<&str>) -> (Guard, PgUrl) {
    let name = unique("dv_pg_enc");
    let guard = Guard(admin.clone(), name.clone(), "DATABASE");
    exec(
        admin,
        &format!(
            "CREATE DATABASE {name} ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' \
             TEMPLATE template0"
        ),
    );
    let url = admin.with_database(&name);
    if let Some(sql) = sql {
        exec(&url, sql);
    }
    (guard, url)
}

/// The whole stream of a dump as bytes (it need not be UTF-8), and its info.
fn read_bytes(mut src: Box<dyn DumpSource>) -> Result<(Vec<u8>, SourceInfo), SourceError> {
    let mut out = Vec::new();
    src.read_to_end(&mut out).unwrap();
    Ok((out, src.finish()?))
}

/// [`normalize`] for a dump that need not be UTF-8.
fn byte_lines(dump: &[u8]) -> Vec<&[u8]> {
    let random = |l: &&[u8]| l.starts_with(b"\\restrict") || l.starts_with(b"\\unrestrict");
    dump.split(|&b| b == b'\n').filter(|l| !random(l)).collect()
}

/// [`assert_same`] for lines that need not be UTF-8 (shown lossily).
fn assert_same_bytes(a: &[&[u8]], b: &[&[u8]]) {
    let first = a.iter().zip(b).position(|(x, y)| x != y);
    let at = first.unwrap_or(a.len().min(b.len()));
    let show = |l: Option<&&[u8]>| l.map(|l| String::from_utf8_lossy(l).into_owned());
    assert!(
        a == b,
        "differ at line {at}: {:?} / {:?}",
        show(a.get(at)),
        show(b.get(at))
    );
}

/// The COPY blocks of a dump that need not be UTF-8: each `COPY … FROM stdin;` line and its
/// data lines, sorted (rows in key order and rows in heap order compare equal).
fn sorted_copy_blocks(dump: &[u8]) -> BTreeMap<Vec<u8>, Vec<Vec<u8>>> {
    let mut blocks = BTreeMap::new();
    let mut lines = dump.split(|&b| b == b'\n');
    while let Some(line) = lines.next() {
        if line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;") {
            let rows = lines.by_ref().take_while(|l| *l != b"\\.");
            let mut rows: Vec<Vec<u8>> = rows.map(<[u8]>::to_vec).collect();
            rows.sort();
            blocks.insert(line.to_vec(), rows);
        }
    }
    blocks
}

/// The heap-order `pg_dump` of `url`, as bytes.
fn heap_dump(url: &PgUrl) -> Vec<u8> {
    read_bytes(open_source(url, &opts(true)).unwrap())
        .unwrap()
        .0
}

/// A SQL_ASCII database holding bytes that are not UTF-8 (`raw(hex)` makes such a text) in
/// values and in text primary keys (`words`, analysed: some histogram bounds are not UTF-8);
/// `nums` and `words` are about 1 MiB each.
const SQL_ASCII_TABLES: &str = r#"
    CREATE FUNCTION raw(h text) RETURNS text LANGUAGE sql IMMUTABLE
        AS $$ SELECT pg_catalog.convert_from(pg_catalog.decode(h, 'hex'), 'SQL_ASCII') $$;
    CREATE TABLE t (id int PRIMARY KEY, v text);
    INSERT INTO t VALUES (3, 'plain'), (1, raw('e974e9')), (2, E'caf\xe9 \xff\x80 ok');
    CREATE TABLE nums (id int PRIMARY KEY, v text);
    INSERT INTO nums SELECT i, raw('e9') || md5(i::text) || raw('ff')
        FROM generate_series(20000, 1, -1) i;
    CREATE TABLE words (k text PRIMARY KEY, n int);
    INSERT INTO words SELECT CASE WHEN i % 3 = 0 THEN raw('c3') ELSE '' END || md5(i::text)
        || CASE WHEN i % 2 = 0 THEN raw('e9') ELSE 'e' END, i FROM generate_series(1, 20000) i;
    CREATE TABLE loose (v text);
    INSERT INTO loose VALUES (raw('e9e9')), ('x');
    ANALYZE nums; ANALYZE words;"#;

/// Dumps the database at `source` (server encoding `encoding`) in primary-key order over one
/// session, then over 2 and 3 (tables cut into key ranges of 64 KiB) and checks they are the
/// same stream; for `SQL_ASCII`, checks that every table's rows are those of `pg_dump`'s own
/// dump, byte for byte (in other encodings our rows are UTF-8, pg_dump's are not); restores the
/// dump with psql into a new database of that encoding and checks that its dumps are the same
/// bytes. Returns the one-session dump.
fn encoded_round_trip(admin: &PgUrl, source: &PgUrl, encoding: &str) -> Vec<u8> {
    let small = 64 << 10;
    let one = read_bytes(super::dump::open_with(source, &opts(false), small).unwrap());
    let one = one.unwrap().0;
    let lines = byte_lines(&one);
    for jobs in [2, 3] {
        let o = PgOptions {
            jobs,
            ..opts(false)
        };
        let (text, _) = read_bytes(super::dump::open_with(source, &o, small).unwrap()).unwrap();
        assert_same_bytes(&lines, &byte_lines(&text));
    }
    let blocks = sorted_copy_blocks(&heap_dump(source));
    if encoding == "SQL_ASCII" {
        assert_eq!(sorted_copy_blocks(&one), blocks);
    }
    let (_target, target) = encoded_db(admin, encoding, None);
    restore_into(&target, &mut &one[..], false, false, &|| {}).unwrap();
    let again = read_bytes(open_source(&target, &opts(false)).unwrap());
    assert_same_bytes(&lines, &byte_lines(&again.unwrap().0));
    assert_eq!(sorted_copy_blocks(&heap_dump(&target)), blocks);
    wait_until_gone(admin, &source.database_name(), "after the dumps");
    one
}

/// A SQL_ASCII database whose text is not UTF-8 (values, text keys) dumps in primary-key
/// order over one session and over 2 and 3, the same stream each time: pg_dump's
/// `SET client_encoding = 'SQL_ASCII'`, then the rows' bytes as stored, in key order. The
/// dump restores with psql into a SQL_ASCII database, the bytes coming back exactly.
#[test]
fn a_sql_ascii_database_with_text_that_is_not_utf8_dumps_in_key_order() {
    let admin = server();
    let (_source, source) = encoded_db(&admin, "SQL_ASCII", Some(SQL_ASCII_TABLES));
    let one = encoded_round_trip(&admin, &source, "SQL_ASCII");
    let blocks = sorted_copy_blocks(&one);
    let names: Vec<String> = blocks
        .keys()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let lines = byte_lines(&one);
    assert!(lines.contains(&&b"SET client_encoding = 'SQL_ASCII';"[..]));
    assert!(!lines.contains(&&b"SET client_encoding = 'UTF8';"[..]));
    let t_rows: Vec<&[u8]> = lines
        .iter()
        .skip_while(|l| **l != b"COPY public.t (id, v) FROM stdin;")
        .skip(1)
        .take(3)
        .copied()
        .collect();
    assert_eq!(
        t_rows,
        [&b"1\t\xe9t\xe9"[..], b"2\tcaf\xe9 \xff\x80 ok", b"3\tplain"]
    );
    // The parallel dumps above cut nums (integer key) and words (text key, some histogram
    // bounds not UTF-8: left out) into key ranges.
    let ranges = key_ranges(&source, true);
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    for (table, r) in &ranges {
        assert_eq!(r.len() >= 8, table != "t", "{table}: {r:?}");
    }
}

/// The tables of a primary-key-order dump of `url` and their key ranges at 64 KiB, chosen in
/// a snapshot session (`raw`: reading text as stored, for a SQL_ASCII database).
fn key_ranges(url: &PgUrl, raw: bool) -> Vec<(String, Vec<String>)> {
    use super::dump::{pk_tables, split_key, RAW_BYTES_SQL, SESSION_SQL};
    let mut session = super::conn::Session::connect(url).unwrap();
    let raw = if raw { RAW_BYTES_SQL } else { "" };
    session
        .batch_execute(&format!("{raw}; {SESSION_SQL}"))
        .unwrap();
    let tables = pk_tables(&mut session, 150000, true).unwrap();
    let keys: Vec<_> = tables.iter().map(split_key).collect();
    let ranges = super::ranges::split(&mut session, &keys, 64 << 10).unwrap();
    keys.into_iter().map(|k| k.table).zip(ranges).collect()
}

/// A LATIN1 database dumps in primary-key order with our rows in UTF-8 after a
/// `SET client_encoding = 'UTF8'` (pg_dump's sections are LATIN1), the same stream over one
/// session or several (a text key cut at bounds that are not ASCII), and restores into a
/// LATIN1 database whose dumps are the same bytes.
#[test]
fn a_latin1_database_dumps_our_rows_in_utf8() {
    let admin = server();
    let sql = "CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t VALUES (2, 'été'), (1, 'naïve ÿ');
        CREATE TABLE words (k text PRIMARY KEY, n int);
        INSERT INTO words SELECT (ARRAY['é', 'a', 'Ü', 'z'])[i % 4 + 1] || md5(i::text), i
            FROM generate_series(1, 20000) i;
        CREATE TABLE loose (v text);
        INSERT INTO loose VALUES ('àé');
        ANALYZE words;";
    let (_source, source) = encoded_db(&admin, "LATIN1", Some(sql));
    let one = encoded_round_trip(&admin, &source, "LATIN1");
    let lines = byte_lines(&one);
    let at = |line: &[u8]| lines.iter().position(|l| *l == line);
    let [latin1, utf8, t, loose] = [
        &b"SET client_encoding = 'LATIN1';"[..],
        b"SET client_encoding = 'UTF8';",
        b"COPY public.t (id, v) FROM stdin;",
        b"COPY public.loose (v) FROM stdin;",
    ]
    .map(|l| at(l).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(l))));
    assert!(latin1 < utf8 && utf8 < t && t < loose);
    assert_eq!(
        lines[t + 1..t + 3],
        ["1\tnaïve ÿ".as_bytes(), "2\tété".as_bytes()]
    );
    assert_eq!(lines[loose + 1], b"\xe0\xe9", "pg_dump's rows are LATIN1");
    let ranges = key_ranges(&source, false);
    assert!(ranges.iter().any(|(t, r)| t == "words" && r.len() >= 8));
}

/// In a SQL_ASCII database, a table whose name or column names are not UTF-8 has its data
/// dumped by pg_dump (heap order), the others in key order; the dump is correct over one
/// session or several, and restores byte for byte.
#[test]
fn tables_named_in_bytes_that_are_not_utf8_are_dumped_by_pg_dump() {
    let admin = server();
    let sql = r#"
        CREATE FUNCTION raw(h text) RETURNS text LANGUAGE sql IMMUTABLE
            AS $$ SELECT pg_catalog.convert_from(pg_catalog.decode(h, 'hex'), 'SQL_ASCII') $$;
        CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t SELECT i, raw('e9') || i FROM generate_series(20000, 1, -1) i;
        DO $$ BEGIN
            EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v text)', raw('e974e9'));
            EXECUTE format('INSERT INTO %I VALUES (2, %L), (1, ''b'')', raw('e974e9'), raw('ff'));
            EXECUTE format('CREATE TABLE odd_col (id int PRIMARY KEY, %I text)', raw('63e9'));
            INSERT INTO odd_col VALUES (2, raw('e9')), (1, 'a');
        END $$;
        ANALYZE t;"#;
    let (_source, source) = encoded_db(&admin, "SQL_ASCII", Some(sql));
    let one = encoded_round_trip(&admin, &source, "SQL_ASCII");
    let lines = byte_lines(&one);
    let tables: Vec<String> = key_ranges(&source, true).into_iter().map(|t| t.0).collect();
    assert_eq!(tables, ["t"]);
    let block = |copy: &[u8]| -> Vec<&[u8]> {
        let rows = lines.iter().skip_while(|l| **l != copy).skip(1);
        rows.take_while(|l| **l != b"\\.").copied().collect()
    };
    let odd = block(b"COPY public.\"\xe9t\xe9\" (id, v) FROM stdin;");
    assert_eq!(odd, [&b"2\t\xff"[..], b"1\tb"], "heap order, from pg_dump");
    let odd_col = block(b"COPY public.odd_col (id, \"c\xe9\") FROM stdin;");
    assert_eq!(
        odd_col,
        [&b"2\t\xe9"[..], b"1\ta"],
        "heap order, from pg_dump"
    );
    let t = block(b"COPY public.t (id, v) FROM stdin;");
    assert_eq!(t.len(), 20000);
    assert_eq!(t[0], b"1\t\xe91", "key order");
}

/// The server encoding and `LC_CTYPE` of the database at `url`.
fn encoding_of(url: &PgUrl) -> (String, String) {
    let sql = "SELECT pg_catalog.current_setting('server_encoding'), datctype::text
                 FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()";
    let row = connect(url).unwrap().query_one(sql, &[]).unwrap();
    (row.get(0), row.get(1))
}

/// The encoding of a dump is its first `SET client_encoding = '…';`, a plain name only.
#[test]
fn a_dumps_encoding_is_its_first_client_encoding_line() {
    use super::target::dump_encoding;
    let pg_dump = b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n\
                    SET client_encoding = 'LATIN1';\nSET client_encoding = 'UTF8';\n";
    assert_eq!(dump_encoding(pg_dump).as_deref(), Some("LATIN1"));
    let raw = b"\xe9\xff\n  SET client_encoding = 'SQL_ASCII';\n";
    assert_eq!(dump_encoding(raw).as_deref(), Some("SQL_ASCII"));
    for none in [
        &b"CREATE TABLE t (a int);\n"[..],
        b"SET client_encoding = 'EUC JP';\n",
        b"SET client_encoding = '';\n",
        b"SET client_encoding = 'UTF8",
        b"-- SET client_encoding = 'LATIN1';\n",
    ] {
        assert_eq!(
            dump_encoding(none),
            None,
            "{}",
            String::from_utf8_lossy(none)
        );
    }
}

/// `restore --create` of a dump of a SQL_ASCII or LATIN1 database creates the target in the
/// dump's encoding (its `SET client_encoding` line; the `C` locale), not the server's default
/// (UTF8): a SQL_ASCII database's bytes that are not UTF-8 come back as they were instead of
/// loading unchecked into a UTF8 database. The parallel restore's first step
/// ([`prepare_restore_for`], given the dump's start) does the same; a dump without the line
/// gets the server's default.
#[test]
fn restore_create_makes_the_database_in_the_dumps_encoding() {
    let admin = server();
    let sql_ascii = r#"
        CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t VALUES (1, E'caf\xe9'), (2, E'\xff\x80 ok'), (3, 'plain');
        CREATE TABLE loose (v text);
        INSERT INTO loose VALUES (E'\xe9\xe9');"#;
    let latin1 = "CREATE TABLE t (id int PRIMARY KEY, v text);
        INSERT INTO t VALUES (1, 'café'), (2, 'naïve');";
    for (encoding, sql) in [("SQL_ASCII", sql_ascii), ("LATIN1", latin1)] {
        let (_source, source) = encoded_db(&admin, encoding, Some(sql));
        let (dump, _) = read_bytes(open_source(&source, &opts(false)).unwrap()).unwrap();
        let (_target, target) = Guard::db(&admin, None);
        restore_into(&target, &mut &dump[..], true, false, &|| {}).unwrap();
        let wanted = (encoding.to_string(), "C".to_string());
        assert_eq!(encoding_of(&target), wanted);
        let blocks = sorted_copy_blocks(&heap_dump(&source));
        assert_eq!(
            sorted_copy_blocks(&heap_dump(&target)),
            blocks,
            "{encoding}"
        );
        let (_first, first) = Guard::db(&admin, None);
        let head = &dump[..dump.len().min(HEAD_BYTES)];
        prepare_restore_for(&first, head, true, false, &|| {}).unwrap();
        assert_eq!(encoding_of(&first), wanted);
        wait_until_gone(&admin, &source.database_name(), encoding);
    }
    let (_plain, plain) = Guard::db(&admin, None);
    prepare_restore_for(&plain, b"CREATE TABLE t (a int);\n", true, false, &|| {}).unwrap();
    let default = "SELECT pg_catalog.pg_encoding_to_char(encoding), datctype::text
                     FROM pg_catalog.pg_database WHERE datname = 'template0'";
    let row = connect(&admin).unwrap().query_one(default, &[]).unwrap();
    assert_eq!(encoding_of(&plain), (row.get(0), row.get(1)));
}
