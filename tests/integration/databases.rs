//! Database sources through the binary, against the real PostgreSQL 15 and MariaDB 10.11 on
//! this machine: round trips checked with the engines' own dumps, primary-key order against
//! heap order after updates, single-table restores, `--all-databases` with a failing database,
//! SQLite under concurrent writers, and a dump tool killed midway.

use crate::common::TestRepo;
use crate::db::{
    mariadb_at, my_client_args, pg_server, psql_at, unique_name, MyDb, MyName, PgDb, PgName,
};
use serde_json::Value;
use std::process::Command;
use std::time::Instant;

/// Runs `args` successfully and parses its `--json` output.
fn json_ok(t: &TestRepo, args: &[&str]) -> Value {
    let out = t.dv(args).assert().success();
    let o = out.get_output();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn snapshot_count(t: &TestRepo) -> usize {
    json_ok(t, &["snapshots", "--json"])
        .as_array()
        .unwrap()
        .len()
}

/// Standard output of a command that must succeed.
fn output_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The lines of `text` (bytes: dumps hold binary data).
fn lines_of(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}

/// `pg_dump` of `db` without the lines that differ between any two runs (the random
/// `\restrict` keys, timestamps in comments).
fn pg_dump_of(db: &str) -> Vec<Vec<u8>> {
    let text = output_of(Command::new("pg_dump").args([
        "--format=plain",
        "-d",
        &format!("{}/{db}", pg_server()),
    ]));
    let varying = |l: &Vec<u8>| {
        l.starts_with(b"\\restrict ")
            || l.starts_with(b"\\unrestrict ")
            || l.starts_with(b"-- Started on")
            || l.starts_with(b"-- Completed on")
    };
    let mut lines = lines_of(&text);
    lines.retain(|l| !varying(l));
    lines
}

fn assert_same_lines(a: &[Vec<u8>], b: &[Vec<u8>], what: &str) {
    if a != b {
        let at = a.iter().zip(b).position(|(x, y)| x != y);
        let at = at.unwrap_or(a.len().min(b.len()));
        panic!(
            "{what} differ at line {at} ({} vs {} lines): {:?} / {:?}",
            a.len(),
            b.len(),
            a.get(at).map(|l| String::from_utf8_lossy(l)),
            b.get(at).map(|l| String::from_utf8_lossy(l))
        );
    }
}

/// `lines` with the data rows of each `COPY … FROM stdin;` block sorted.
fn sort_copy_rows(mut lines: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with(b"COPY ") && lines[i].ends_with(b" FROM stdin;") {
            let start = i + 1;
            let end = start + lines[start..].iter().position(|l| l == b"\\.").unwrap();
            lines[start..end].sort();
            i = end;
        }
        i += 1;
    }
    lines
}

/// Drops a PostgreSQL role at the end of a test, also on failure.
struct PgRole(String);

impl Drop for PgRole {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-X", "-q", "-d", &format!("{}/postgres", pg_server())])
            .args(["-c", &format!("DROP ROLE IF EXISTS \"{}\"", self.0)])
            .output();
    }
}

const PG_SCHEMA: &str = r#"
CREATE SEQUENCE ticket_seq START 100;
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2),
    notes text, data json, meta jsonb, photo bytea, ratio float8);
CREATE TABLE orders (id serial PRIMARY KEY, customer bigint REFERENCES customers, total numeric,
    ticket int DEFAULT nextval('ticket_seq'));
CREATE TABLE audit (id serial PRIMARY KEY, msg text);
CREATE TABLE events (at int, what text);
CREATE VIEW rich_customers AS SELECT id, name FROM customers WHERE balance > 100;
CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN INSERT INTO audit (msg) VALUES ('order ' || NEW.id); RETURN NEW; END $$;
CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
INSERT INTO customers SELECT i, 'name ' || i || ' ünïcødé ☃ 日本', i * 1.5,
    CASE WHEN i % 3 = 0 THEN NULL ELSE E'tab\there\nnew line \\ back' END,
    CASE WHEN i % 4 = 0 THEN NULL ELSE '{"k": [1, 2], "s": "ü"}'::json END,
    jsonb_build_object('i', i, 's', 'x"y'),
    CASE WHEN i % 5 = 0 THEN NULL ELSE decode('00ff' || lpad(to_hex(i), 4, '0'), 'hex') END,
    i / 3.0
    FROM generate_series(1, 400) i;
INSERT INTO orders (customer, total) SELECT i % 50 + 1, i / 7.0 FROM generate_series(1, 600) i;
INSERT INTO events SELECT i, 'e' || i FROM generate_series(1, 50) i;
SELECT setval('ticket_seq', 4242);
"#;

#[test]
fn postgres_round_trip_matches_pg_dump() {
    let started = Instant::now();
    let src = PgDb::create("pgrt");
    src.sql(PG_SCHEMA);
    let t = TestRepo::new();
    let snap = json_ok(&t, &["snapshot", "--json", &src.url()]);
    assert_eq!(snap["database"], src.name.as_str());
    let id = snap["id"].as_str().unwrap();

    let tables = json_ok(&t, &["ls", "--json", id]);
    let rows = |name: &str| {
        let tables = tables.as_array().unwrap();
        let t = tables.iter().find(|t| t["table"] == name);
        t.unwrap_or_else(|| panic!("{name} not in {tables:?}"))["rows"].as_u64()
    };
    assert_eq!(rows("public.customers"), Some(400));
    assert_eq!(rows("public.orders"), Some(600));
    assert_eq!(rows("public.audit"), Some(600));

    // Primary-key order: the restored tables hold their rows in key order, the original's heap
    // may not (the restore cannot reproduce row placement), so rows are compared per table as
    // sorted sets; everything else line by line.
    let target = unique_name("pgrt_to");
    let _cleanup = PgName(target.clone());
    let to = format!("{}/{target}", pg_server());
    t.dv(&["restore", id, "--to", &to, "--create"])
        .assert()
        .success();
    let original = pg_dump_of(&src.name);
    assert_same_lines(
        &sort_copy_rows(original.clone()),
        &sort_copy_rows(pg_dump_of(&target)),
        "pg_dumps (rows sorted within each table)",
    );
    // Heap order: the restore reproduces the original's row order too, so the dumps are
    // identical as they are.
    let heap = json_ok(&t, &["snapshot", "--json", "--heap-order", &src.url()]);
    let heap_target = unique_name("pgrt_heap");
    let _cleanup_heap = PgName(heap_target.clone());
    let heap_to = format!("{}/{heap_target}", pg_server());
    let heap_id = heap["id"].as_str().unwrap();
    t.dv(&["restore", heap_id, "--to", &heap_to, "--create"])
        .assert()
        .success();
    assert_same_lines(
        &original,
        &pg_dump_of(&heap_target),
        "pg_dumps (heap order)",
    );
    // The restore refuses an existing database unless asked to drop it, and leaves it intact.
    // (This once exited 0 without a word: when the refusal closed the pipe before the stream
    // was sent, the broken pipe was reported instead of the refusal, and broken pipes exit 0.)
    let out = t
        .dv(&["restore", id, "--to", &to, "--create"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&target) && err.contains("already exists"),
        "{err}"
    );
    assert_same_lines(
        &sort_copy_rows(original.clone()),
        &sort_copy_rows(pg_dump_of(&target)),
        "the refused target is untouched",
    );
    println!(
        "postgres round trip took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

const MY_SCHEMA: &str = r#"
CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, price DECIMAL(12,2), name TEXT,
    meta JSON, pic BLOB, note VARCHAR(50) NULL, ratio DOUBLE) DEFAULT CHARSET=utf8mb4;
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg TEXT) DEFAULT CHARSET=utf8mb4;
CREATE TABLE tags (item INT, tag VARCHAR(20)) DEFAULT CHARSET=utf8mb4;
INSERT INTO items (price, name, meta, pic, note, ratio)
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
    SELECT i * 1.25, CONCAT('name ', i, ' ünïcødé ☃ 日本 \'quoted\' tab\there'),
        IF(i % 4 = 0, NULL, JSON_OBJECT('i', i, 's', 'x"y')),
        IF(i % 5 = 0, NULL, UNHEX(CONCAT('00FF', LPAD(HEX(i), 4, '0')))),
        IF(i % 3 = 0, NULL, 'note'), i / 3
    FROM s;
INSERT INTO tags VALUES (1, 'a'), (2, NULL), (1, 'ü');
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 100;
DELIMITER //
CREATE PROCEDURE add_item(p DECIMAL(12,2)) BEGIN INSERT INTO items (price) VALUES (p); END//
CREATE TRIGGER items_log AFTER INSERT ON items FOR EACH ROW
    BEGIN INSERT INTO log (msg) VALUES (CONCAT('item ', NEW.id)); END//
DELIMITER ;
CALL add_item(3.00);
CALL add_item(4.50);
DELETE FROM items WHERE id = 502;
"#;

/// `mariadb-dump --skip-dump-date` of `db` with the database name replaced (it appears in
/// comment lines).
fn mariadb_dump_of(db: &str) -> Vec<Vec<u8>> {
    let mut args = my_client_args(None);
    args.retain(|a| a != "-N" && a != "-B");
    let text = output_of(
        Command::new("mariadb-dump")
            .args(&args)
            .args(["--skip-dump-date", "--routines", "--triggers", "--events"])
            .arg(db),
    );
    let replace = |l: Vec<u8>| {
        let at = l.windows(db.len()).position(|w| w == db.as_bytes());
        match at {
            Some(i) => [&l[..i], b"<db>", &l[i + db.len()..]].concat(),
            None => l,
        }
    };
    lines_of(&text).into_iter().map(replace).collect()
}

#[test]
fn mariadb_round_trip_matches_mariadb_dump() {
    let started = Instant::now();
    let src = MyDb::create("myrt");
    src.sql(MY_SCHEMA);
    let t = TestRepo::new();
    let snap = json_ok(&t, &["snapshot", "--json", &src.url()]);
    let id = snap["id"].as_str().unwrap();
    let target = unique_name("myrt_to");
    let _cleanup = MyName(target.clone());
    let to = format!("{}/{target}", crate::db::my_server());
    t.dv(&["restore", id, "--to", &to, "--create"])
        .assert()
        .success();
    let (a, b) = (mariadb_dump_of(&src.name), mariadb_dump_of(&target));
    let has = |needle: &str| {
        let needle = needle.as_bytes();
        a.iter()
            .any(|l| l.windows(needle.len()).any(|w| w == needle))
    };
    // Bulk inserts reserve AUTO_INCREMENT values in batches: the counter (past the deleted
    // last row) must come back as it was, which the comparison below checks.
    assert!(
        has(") ENGINE=InnoDB AUTO_INCREMENT="),
        "no AUTO_INCREMENT in the dump"
    );
    for object in ["PROCEDURE `add_item`", "TRIGGER items_log", "VIEW `cheap`"] {
        assert!(has(object), "{object} missing from the dump");
    }
    assert_same_lines(&a, &b, "mariadb-dumps");
    println!(
        "mariadb round trip took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn primary_key_order_adds_less_than_heap_order_after_updates() {
    let started = Instant::now();
    let db = PgDb::create("pkheap");
    // About 50 MB on disk (a 30 MB dump); autovacuum off so the test decides what moves.
    db.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, customer int, amount numeric(10,2),
            status text, note text) WITH (autovacuum_enabled = false);
         INSERT INTO orders SELECT i, (i::bigint * 7919) % 100000, (i % 10000) / 100.0, 'new',
            md5(i::text) || md5((i * 3)::text) FROM generate_series(1, 350000) i;",
    );
    // A busy history: rows updated all over the table, then vacuumed, so the heap has free
    // space everywhere (as autovacuum leaves it on a live database).
    db.sql("UPDATE orders SET status = 'seen' WHERE id % 100 = 0;");
    db.sql("VACUUM orders;");
    let size: u64 = db
        .sql(&format!("SELECT pg_database_size('{}')", db.name))
        .trim()
        .parse()
        .unwrap();
    let (pk, heap) = (TestRepo::new(), TestRepo::new());
    let url = db.url();
    let snap = |t: &TestRepo, heap_order: bool| {
        let mut args = vec!["snapshot", "--json", url.as_str()];
        if heap_order {
            args.push("--heap-order");
        }
        json_ok(t, &args)
    };
    let first = snap(&pk, false);
    snap(&heap, true);
    // 1% of the rows (the hot, recent orders) change with plain UPDATEs.
    db.sql("UPDATE orders SET status = 'paid' WHERE id BETWEEN 200001 AND 203500;");
    let pk_added = snap(&pk, false)["bytes_added"].as_u64().unwrap();
    let heap_added = snap(&heap, true)["bytes_added"].as_u64().unwrap();
    println!(
        "database {} MB, dump {} bytes; after updating 1% of the rows the second snapshot added \
         {pk_added} bytes in primary-key order and {heap_added} bytes with --heap-order \
         ({:.1} s)",
        size / 1_000_000,
        first["bytes_read"],
        started.elapsed().as_secs_f64()
    );
    assert!(size > 45_000_000, "database is only {size} bytes");
    assert!(
        pk_added * 2 < heap_added,
        "primary-key order added {pk_added} bytes, heap order {heap_added}"
    );
}

/// md5 of every row of `table` in key order.
fn pg_table_digest(db: &str, table: &str) -> String {
    psql_at(
        db,
        &format!("SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t;"),
    )
    .trim()
    .to_string()
}

#[test]
fn table_restore_reads_a_fraction_of_the_chunks() {
    let started = Instant::now();
    let src = PgDb::create("onetable");
    let mut sql = String::new();
    for n in 0..10 {
        sql += &format!(
            "CREATE TABLE t{n} (id int PRIMARY KEY, v text, x numeric);
             INSERT INTO t{n} SELECT i, md5((i * {}) ::text) || ' row ' || i, i / 7.0
                FROM generate_series(1, 16000) i;",
            n + 1
        );
    }
    src.sql(&sql);
    let t = TestRepo::new();
    let id = json_ok(&t, &["snapshot", "--json", &src.url()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = unique_name("onetable_to");
    let _cleanup = PgName(target.clone());
    let to = format!("{}/{target}", pg_server());
    let o = json_ok(
        &t,
        &[
            "restore", "--json", &id, "--to", &to, "--create", "--table", "t3",
        ],
    );
    let (read, total) = (
        o["chunks_read"].as_u64().unwrap(),
        o["chunks_total"].as_u64().unwrap(),
    );
    println!(
        "--table t3 read {read} of {total} chunks ({} of {} bytes) ({:.1} s)",
        o["bytes_written"],
        o["dump_size"],
        started.elapsed().as_secs_f64()
    );
    assert!(total >= 40, "the dump should span many chunks: {o}");
    assert!(read * 4 < total, "{o}");
    assert_eq!(
        pg_table_digest(&src.name, "t3"),
        pg_table_digest(&target, "t3")
    );
    let tables = psql_at(
        &target,
        "SELECT string_agg(relname, ',') FROM pg_class WHERE relkind = 'r' \
         AND relnamespace = 'public'::regnamespace;",
    );
    assert_eq!(tables.trim(), "t3");
}

#[test]
fn all_databases_snapshot_each_and_report_the_failed_one() {
    let started = Instant::now();
    let prefix = format!("alldb{}", std::process::id());
    let role = PgRole(unique_name("reader"));
    psql_at("postgres", &format!("CREATE ROLE \"{}\" LOGIN;", role.0));
    let dbs: Vec<PgDb> = (0..5).map(|_| PgDb::create(&prefix)).collect();
    for (i, db) in dbs.iter().enumerate() {
        db.sql(&format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT i, 'db {i} row ' || i FROM generate_series(1, 2000) i;
             GRANT SELECT ON t TO PUBLIC;"
        ));
    }
    // A database that is not ours and would match without --include.
    let other = PgDb::create("alldbother");
    let server = pg_server();
    let as_role = server.replacen("://postgres@", &format!("://{}@", role.0), 1);
    assert_ne!(
        as_role, server,
        "the test server URL should name user postgres"
    );
    let pattern = format!("dvt_{prefix}_*");
    let t = TestRepo::new();
    let run = |t: &TestRepo| {
        let args = [
            "snapshot",
            "--json",
            "--all-databases",
            "--include",
            &pattern,
            "--jobs",
            "2",
            &as_role,
        ];
        t.dv(&args).output().unwrap()
    };
    let out = run(&t);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:?}");
    let listed = json_ok(&t, &["snapshots", "--json"]);
    let mut names: Vec<&str> = (listed.as_array().unwrap().iter())
        .map(|s| s["database"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<&str> = dbs.iter().map(|d| d.name.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected);
    assert!(!names.contains(&other.name.as_str()));

    // The role may no longer connect to one of them.
    let locked = &dbs[2].name;
    psql_at(
        "postgres",
        &format!("REVOKE CONNECT ON DATABASE \"{locked}\" FROM PUBLIC;"),
    );
    let out = run(&t);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("database {locked}")) && stderr.contains("permission denied"),
        "{stderr}"
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    for r in rows {
        let failed = r["database"] == locked.as_str();
        assert_eq!(r["status"], if failed { "failed" } else { "ok" }, "{r}");
        if failed {
            assert!(
                r["error"].as_str().unwrap().contains(locked.as_str()),
                "{r}"
            );
        }
    }
    assert_eq!(snapshot_count(&t), 9);
    // The table summary names the failed database too.
    let out = t
        .dv(&[
            "snapshot",
            "--all-databases",
            "--include",
            &pattern,
            "--jobs",
            "2",
            &as_role,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table.lines().find(|l| l.starts_with(locked.as_str()));
    assert!(line.is_some_and(|l| l.contains("failed")), "{table}");
    assert!(table.contains("1 of 5 databases failed"), "{table}");
    println!(
        "--all-databases runs took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sqlite_snapshot_under_concurrent_inserts_is_consistent() {
    let started = Instant::now();
    let t = TestRepo::new();
    let path = t.path("live.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL, note TEXT);
         CREATE TABLE lines (order_id INTEGER PRIMARY KEY REFERENCES orders, qty INTEGER,
            payload BLOB);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
         INSERT INTO orders SELECT i, i * 1.5, 'order ' || i || ' ünï' FROM s;
         INSERT INTO lines SELECT id, id % 7, randomblob(200) FROM orders;",
    )
    .unwrap();
    drop(conn);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (snap, inserted) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut c = rusqlite::Connection::open(&path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // Each transaction adds an order and its line: a consistent copy has as many
                // lines as orders.
                let tx = c.transaction().unwrap();
                tx.execute(
                    "INSERT INTO orders (amount, note) VALUES (?1, 'concurrent')",
                    [n as f64],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO lines VALUES (last_insert_rowid(), 1, randomblob(200))",
                    [],
                )
                .unwrap();
                tx.commit().unwrap();
                n += 1;
                if n == 50 {
                    started_tx.send(()).unwrap();
                }
            }
            n
        });
        started_rx.recv().unwrap();
        let url = format!("sqlite://{}", path.display());
        let sql = json_ok(&t, &["snapshot", "--json", &url]);
        let image = json_ok(&t, &["snapshot", "--json", "--format", "image", &url]);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        ((sql, image), writer.join().unwrap())
    });
    assert!(inserted >= 50);
    for (what, s) in [("sql", &snap.0), ("image", &snap.1)] {
        let restored = t.path(&format!("restored-{what}.db"));
        let to = format!("sqlite://{}", restored.display());
        t.dv(&["restore", s["id"].as_str().unwrap(), "--to", &to])
            .assert()
            .success();
        let c = rusqlite::Connection::open(&restored).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{what}");
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        let orders = count("SELECT count(*) FROM orders");
        assert_eq!(orders, count("SELECT count(*) FROM lines"), "{what}");
        assert_eq!(orders, count("SELECT max(id) FROM orders"), "{what}");
        assert!(
            orders >= 20050 && orders <= 20000 + inserted as i64,
            "{what}: {orders} orders"
        );
        let orphans = count(
            "SELECT count(*) FROM lines l LEFT JOIN orders o ON o.id = l.order_id \
             WHERE o.id IS NULL",
        );
        assert_eq!(orphans, 0, "{what}");
        println!("sqlite {what} snapshot: {orders} orders, {inserted} inserted meanwhile");
    }
    println!(
        "sqlite concurrent test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The directory of the newest installed PostgreSQL client programs.
fn pg_bin_dir() -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join("pg_dump").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        let v = d.parent().unwrap().file_name().unwrap().to_string_lossy();
        v.parse::<u32>().unwrap_or(0)
    });
    dirs.pop()
        .expect("a pg_dump under /usr/lib/postgresql/*/bin")
}

#[test]
fn killed_dump_tool_leaves_no_snapshot() {
    let db = PgDb::create("killed");
    db.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i;",
    );
    let t = TestRepo::new();
    // A pg_dump that claims to be newer than any installed one (so dumpvault picks it), passes
    // on the first bytes of the real pg_dump's output and then is killed.
    let fake = t.path("bin");
    std::fs::create_dir(&fake).unwrap();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 99.0'; exit 0; fi\n\
         '{}/pg_dump' \"$@\" | head -c 3000\n\
         kill -9 $$\n",
        pg_bin_dir().display()
    );
    let tool = fake.join("pg_dump");
    std::fs::write(&tool, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    for heap_order in [false, true] {
        let mut args = vec!["snapshot", "--json"];
        if heap_order {
            args.push("--heap-order");
        }
        let url = db.url();
        args.push(&url);
        let out = t.dv(&args).env("PATH", &path).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains(&format!("database \"{}\"", db.name))
                && err.contains("killed by signal 9"),
            "heap order {heap_order}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(snapshot_count(&t), 0, "heap order {heap_order}");
    }
    // The same database snapshots fine with the real tool.
    json_ok(&t, &["snapshot", "--json", &db.url()]);
    assert_eq!(snapshot_count(&t), 1);
}

#[test]
fn retention_keeps_databases_of_one_name_on_different_engines_apart() {
    let pg = PgDb::create("samename");
    pg.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    mariadb_at(None, &format!("CREATE DATABASE `{}`;", pg.name));
    let my = MyDb {
        name: pg.name.clone(),
    };
    my.sql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let t = TestRepo::new();
    for _ in 0..2 {
        json_ok(&t, &["snapshot", "--json", &pg.url(), &my.url()]);
    }
    assert_eq!(snapshot_count(&t), 4);
    let plan = json_ok(&t, &["forget", "--json", "--keep-last", "1"]);
    let text = plan.to_string();
    let groups: Vec<String> = (plan["plan"]["groups"].as_array().unwrap().iter())
        .map(|g| g["group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(groups.len(), 2, "one group per engine and server: {text}");
    assert!(
        groups
            .iter()
            .any(|g| g.contains("postgres ") && g.contains(&pg.name))
            && groups
                .iter()
                .any(|g| g.contains("mysql ") && g.contains(&pg.name)),
        "{groups:?}"
    );
    // One snapshot of each database is left, not one of the two.
    let left = json_ok(&t, &["snapshots", "--json"]);
    let mut kinds: Vec<&str> = (left.as_array().unwrap().iter())
        .map(|s| s["engine"].as_str().unwrap_or_default())
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 2, "{left}");
    assert_ne!(kinds[0], kinds[1], "{left}");
}

#[test]
fn a_piped_pg_dump_gets_its_table_index_and_one_table_restores() {
    let db = PgDb::create("piped");
    db.sql(
        "CREATE TABLE a (id int PRIMARY KEY, v text);
         CREATE TABLE b (id int PRIMARY KEY, v text);
         INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 3000) g;
         INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 200) g;",
    );
    let dump = output_of(Command::new("pg_dump").args(["--format=plain", "-d", &db.url()]));
    let t = TestRepo::new();
    let snap = t.snapshot_bytes(&dump, &[]);
    let id = snap["id"].as_str().unwrap();
    let tables = json_ok(&t, &["ls", "--json", id]);
    let rows = |name: &str| {
        (tables.as_array().unwrap().iter())
            .find(|t| t["table"] == name)
            .and_then(|t| t["rows"].as_u64())
    };
    assert_eq!(
        (rows("public.a"), rows("public.b")),
        (Some(3000), Some(200))
    );
    let target = t.path("b.sql");
    t.dv(&["restore", id, "--table", "public.b", "--target"])
        .arg(&target)
        .assert()
        .success();
    let b = String::from_utf8(std::fs::read(&target).unwrap()).unwrap();
    assert!(
        b.contains("COPY public.b ") && b.contains("200\tb200"),
        "{b}"
    );
    assert!(!b.contains("COPY public.a "), "{b}");
}
