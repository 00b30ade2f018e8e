//! Parallel restore into a database (`restore --to URL --jobs N`): the same tables, rows,
//! sequence values and schema as a one-session `--single-transaction` restore, for PostgreSQL
//! and MariaDB; a table whose data fails to load fails the restore and drops the database
//! `--create` made.

use crate::common::TestRepo;
use crate::db::{mariadb_at, my_server, pg_server, psql_at, unique_name, MyDb, PgDb, PgName};
use std::process::Command;

/// Drops a MariaDB database on drop.
struct DropMy(String);

impl Drop for DropMy {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS `{}`", self.0);
        let _ = std::panic::catch_unwind(|| mariadb_at(None, &sql));
    }
}

/// One big table, several small ones, foreign keys (also across the small ones and into the
/// big one), indexes (partial, expression, unique), a CHECK, a sequence with a value, serial and
/// identity columns, a trigger, a view and a materialized view with an index.
const PG_SCHEMA: &str = "
CREATE TABLE public.customers (id int PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE public.products (id serial PRIMARY KEY, title text, price numeric CHECK (price >= 0));
CREATE TABLE public.orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer int NOT NULL REFERENCES public.customers(id),
    product int REFERENCES public.products(id),
    amount int NOT NULL, note text);
CREATE INDEX orders_customer ON public.orders (customer);
CREATE INDEX orders_big ON public.orders (amount) WHERE amount > 900;
CREATE INDEX orders_lower ON public.orders (lower(note));
CREATE TABLE public.order_notes (order_id bigint REFERENCES public.orders(id), line int,
    body text, PRIMARY KEY (order_id, line));
CREATE TABLE public.tags (name text);
CREATE SEQUENCE public.ticket START 100;
SELECT setval('public.ticket', 4242);
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.body := upper(NEW.body); RETURN NEW; END $$;
CREATE TRIGGER order_notes_touch BEFORE INSERT ON public.order_notes
  FOR EACH ROW EXECUTE FUNCTION public.touch();
INSERT INTO public.customers SELECT g, 'customer ' || g FROM generate_series(1, 300) g;
INSERT INTO public.products (title, price) SELECT 'product ' || g, g FROM generate_series(1, 50) g;
INSERT INTO public.orders (customer, product, amount, note)
  SELECT g % 300 + 1, g % 50 + 1, g % 1000, 'note ' || (g % 77) FROM generate_series(1, 60000) g;
INSERT INTO public.order_notes SELECT g, 1, 'line ' || g FROM generate_series(1, 500) g;
INSERT INTO public.tags VALUES ('a'), ('b'), (NULL);
CREATE VIEW public.big_orders AS SELECT * FROM public.orders WHERE amount > 990;
CREATE MATERIALIZED VIEW public.per_customer AS
  SELECT customer, count(*) AS n FROM public.orders GROUP BY customer;
CREATE UNIQUE INDEX per_customer_key ON public.per_customer (customer);
";

/// What must be equal after two restores: per table rows and a checksum, sequence values.
const PG_FACTS: &str = "
SELECT 'customers', count(*), md5(string_agg(c::text, ',' ORDER BY id)) FROM public.customers c
UNION ALL SELECT 'products', count(*), md5(string_agg(p::text, ',' ORDER BY id)) FROM public.products p
UNION ALL SELECT 'orders', count(*), md5(string_agg(o::text, ',' ORDER BY id)) FROM public.orders o
UNION ALL SELECT 'order_notes', count(*), md5(string_agg(n::text, ',' ORDER BY order_id)) FROM public.order_notes n
UNION ALL SELECT 'tags', count(*), md5(string_agg(coalesce(name, '-'), ',' ORDER BY name)) FROM public.tags
UNION ALL SELECT 'per_customer', count(*), md5(string_agg(v::text, ',' ORDER BY customer)) FROM public.per_customer v
UNION ALL SELECT 'ticket', last_value, '' FROM public.ticket
UNION ALL SELECT 'products_id_seq', last_value, '' FROM public.products_id_seq
UNION ALL SELECT 'orders_id_seq', last_value, '' FROM public.orders_id_seq;
";

/// `pg_dump --schema-only` of a database, without the random `\restrict` keys.
fn pg_schema(db: &str) -> String {
    let out = Command::new("pg_dump")
        .args(["--schema-only", "-d", &format!("{}/{db}", pg_server())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pg_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql_at("postgres", &sql).trim() == "1"
}

fn stderr_of(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn pg_jobs_restore_equals_a_single_transaction_restore() {
    let src = PgDb::create("prsrc");
    src.sql(PG_SCHEMA);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let (par, one) = (unique_name("prjobs"), unique_name("prone"));
    let _guards = (PgName(par.clone()), PgName(one.clone()));
    let to = |db: &str| format!("{}/{db}", pg_server());
    t.dv(&[
        "restore",
        "latest",
        "--to",
        &to(&par),
        "--create",
        "--jobs",
        "2",
    ])
    .assert()
    .success();
    t.dv(&[
        "restore",
        "latest",
        "--to",
        &to(&one),
        "--create",
        "--single-transaction",
    ])
    .assert()
    .success();
    let facts = psql_at(&par, PG_FACTS);
    assert_eq!(facts, psql_at(&one, PG_FACTS));
    assert_eq!(facts, src.sql(PG_FACTS), "the source has the same rows");
    assert!(
        facts.contains("orders|60000|") && facts.contains("ticket|4242|"),
        "{facts}"
    );
    assert_eq!(pg_schema(&par), pg_schema(&one));
    assert_eq!(pg_schema(&par), pg_schema(&src.name));
    // The constraints hold and the trigger exists after the parallel load.
    let err = Command::new("psql")
        .args(["-X", "-q", "-d", &to(&par), "-c"])
        .arg("INSERT INTO public.orders (customer, amount) VALUES (99999, 1)")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("foreign key"),
        "{err:?}"
    );
    psql_at(&par, "INSERT INTO public.order_notes VALUES (1, 2, 'x')");
    let body = psql_at(&par, "SELECT body FROM public.order_notes WHERE line = 2");
    assert_eq!(body.trim(), "X");
}

#[test]
fn pg_jobs_restore_of_some_tables_keeps_their_indexes_and_keys() {
    let src = PgDb::create("prtab");
    src.sql(PG_SCHEMA);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let name = unique_name("prtabto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let args = ["restore", "latest", "--to", &to, "--create", "--jobs", "2"];
    let tables = ["--table", "public.orders", "--table", "public.customers"];
    t.dv(&[&args[..], &tables[..]].concat()).assert().success();
    let sql = "SELECT count(*) FROM public.orders; SELECT count(*) FROM public.customers;
        SELECT count(*) FROM pg_indexes WHERE tablename = 'orders';
        SELECT count(*) FROM pg_constraint WHERE contype = 'f';
        SELECT to_regclass('public.products') IS NULL;";
    // orders: 4 indexes (key, customer, partial, expression); its key to customers is kept,
    // the one to products (not restored) is left out.
    assert_eq!(psql_at(&name, sql), "60000\n300\n4\n1\nt\n");
}

#[test]
fn pg_a_table_that_fails_to_load_fails_the_restore_and_drops_the_database() {
    let src = PgDb::create("prfail");
    src.sql(PG_SCHEMA);
    let out = Command::new("pg_dump")
        .args(["-d", &src.url()])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A NULL in a NOT NULL column of one small table: its COPY fails in the restore.
    let dump = String::from_utf8(out.stdout).unwrap();
    let bad = dump.replacen("\n1\tcustomer 1\n", "\n1\t\\N\n", 1);
    assert_ne!(bad, dump, "the dump has the row to break");
    let t = TestRepo::new();
    let stream = format!("{}.sql", src.name);
    let args = ["snapshot", "--stdin", "--stdin-name", &stream];
    t.dv(&args).write_stdin(bad).assert().success();
    let name = unique_name("prfailto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let a = t
        .dv(&["restore", "latest", "--to", &to, "--create", "--jobs", "2"])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(err.contains("data of table public.customers"), "{err}");
    assert!(err.contains("null value"), "{err}");
    assert!(err.contains("--keep-failed"), "{err}");
    assert!(!pg_exists(&name), "the created database is dropped: {err}");
    // --keep-failed keeps it, with the tables that did load.
    let keep = [
        "restore",
        "latest",
        "--to",
        &to,
        "--create",
        "--jobs",
        "2",
        "--keep-failed",
    ];
    t.dv(&keep).assert().code(1);
    assert!(pg_exists(&name));
    let n = psql_at(&name, "SELECT count(*) FROM public.customers");
    assert_eq!(n.trim(), "0", "the failed table loaded nothing");
}

/// One big table, small ones, foreign keys, secondary indexes, a generated column, a trigger, a
/// view and a procedure.
const MY_SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name varchar(40) NOT NULL UNIQUE) ENGINE=InnoDB;
CREATE TABLE orders (id bigint AUTO_INCREMENT PRIMARY KEY, customer int NOT NULL,
  amount int NOT NULL, doubled int AS (amount * 2) STORED, note varchar(40),
  KEY by_amount (amount), CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES customers (id))
  ENGINE=InnoDB;
CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, what varchar(40)) ENGINE=InnoDB;
CREATE TABLE notes (n int) ENGINE=MyISAM;
INSERT INTO customers SELECT seq, CONCAT('customer ', seq) FROM seq_1_to_200;
INSERT INTO orders (customer, amount, note) SELECT seq % 200 + 1, seq % 1000, CONCAT('n', seq % 7)
  FROM seq_1_to_40000;
INSERT INTO notes VALUES (1), (2);
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW
  INSERT INTO audit (what) VALUES (CONCAT('order ', NEW.id));
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 990;
CREATE PROCEDURE count_orders() SELECT count(*) FROM orders;
";

/// Row counts and checksums, then the schema as information_schema describes it.
fn my_facts(db: &str) -> String {
    let l = format!("'{db}'");
    let sql = format!(
        "SELECT 'customers', count(*), md5(group_concat(id, name ORDER BY id)) FROM customers;
         SELECT 'orders', count(*), md5(group_concat(id, customer, amount, doubled, note ORDER BY id)) FROM orders;
         SELECT 'audit', count(*) FROM audit; SELECT 'notes', count(*) FROM notes;
         SELECT TABLE_NAME, TABLE_TYPE, ENGINE, AUTO_INCREMENT FROM information_schema.TABLES
           WHERE TABLE_SCHEMA = {l} ORDER BY 1;
         SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
           GENERATION_EXPRESSION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {l} ORDER BY 1, 2;
         SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE
           FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = {l} ORDER BY 1, 2, 3;
         SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME
           FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = {l} ORDER BY 1;
         SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS
           WHERE TRIGGER_SCHEMA = {l} ORDER BY 1;
         SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = {l};
         SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES
           WHERE ROUTINE_SCHEMA = {l};"
    );
    // View definitions name their database: compare them without it.
    mariadb_at(Some(db), &sql).replace(&format!("`{db}`."), "")
}

#[test]
fn mysql_jobs_restore_equals_a_single_transaction_restore() {
    let src = MyDb::create("prmy");
    src.sql(MY_SCHEMA);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let (par, one) = (unique_name("prmyjobs"), unique_name("prmyone"));
    let _guards = (DropMy(par.clone()), DropMy(one.clone()));
    let server = my_server();
    let to = |db: &str| format!("{server}/{db}");
    t.dv(&[
        "restore",
        "latest",
        "--to",
        &to(&par),
        "--create",
        "--jobs",
        "2",
    ])
    .assert()
    .success();
    t.dv(&[
        "restore",
        "latest",
        "--to",
        &to(&one),
        "--create",
        "--single-transaction",
    ])
    .assert()
    .success();
    let facts = my_facts(&par);
    assert_eq!(facts, my_facts(&one));
    assert_eq!(facts, my_facts(&src.name));
    assert!(
        facts.contains("orders\t40000\t") && facts.contains("audit\t0"),
        "{facts}"
    );
    // The trigger was not there while the data loaded, and is there now.
    mariadb_at(
        Some(&par),
        "INSERT INTO orders (customer, amount) VALUES (1, 1);",
    );
    assert_eq!(
        mariadb_at(Some(&par), "SELECT count(*) FROM audit").trim(),
        "1"
    );
}

/// Piece size for the split tests: small, so a table of a few hundred KiB is cut into pieces
/// (release builds cut only tables over 16 MiB).
const SPLIT_BYTES: &str = "50000";

/// A big table without a primary key whose text has line feeds, tabs, backslashes and carriage
/// returns (escaped in COPY text), NULLs and duplicate rows; a small table with a key.
const PG_BIG: &str = "
CREATE TABLE public.events (id int NOT NULL, kind text NOT NULL, body text, at timestamptz);
INSERT INTO public.events SELECT g % 19000, 'k' || (g % 7),
  CASE WHEN g % 5 = 0 THEN E'line 1\\nline 2\\ttab \\\\ back\\\\nslash ' || g
       WHEN g % 5 = 1 THEN NULL
       ELSE repeat('x', g % 50) || E'\\r' END,
  '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 20000) g;
CREATE INDEX events_kind ON public.events (kind);
CREATE TABLE public.kinds (name text PRIMARY KEY);
INSERT INTO public.kinds SELECT 'k' || g FROM generate_series(0, 6) g;
";

/// Rows and a checksum of every row of both tables (the big one has no key: ordered by text).
const PG_BIG_FACTS: &str = "
SELECT 'events', count(*), md5(string_agg(e::text, '|' ORDER BY e::text)) FROM public.events e
UNION ALL SELECT 'kinds', count(*), md5(string_agg(k::text, '|' ORDER BY name)) FROM public.kinds k
UNION ALL SELECT 'index', count(*), '' FROM pg_indexes WHERE indexname = 'events_kind';
";

/// The `(N of M chunks)` figures of a restore's message.
fn chunks_of(stderr: &str) -> (u64, u64) {
    let at = stderr
        .find(" chunks)")
        .expect("the message names the chunks");
    let open = stderr[..at].rfind('(').unwrap();
    let (n, m) = stderr[open + 1..at].split_once(" of ").unwrap();
    (n.parse().unwrap(), m.parse().unwrap())
}

#[test]
fn pg_a_big_table_split_across_connections_is_restored_row_for_row() {
    let src = PgDb::create("prbig");
    src.sql(PG_BIG);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let name = unique_name("prbigto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let a = t
        .dv(&["restore", "latest", "--to", &to, "--create", "--jobs", "3"])
        .env("DUMPVAULT_TEST_SPLIT_BYTES", SPLIT_BYTES)
        .assert()
        .success();
    let facts = psql_at(&name, PG_BIG_FACTS);
    assert_eq!(facts, src.sql(PG_BIG_FACTS));
    assert!(
        facts.contains("events|20000|") && facts.contains("index|1|"),
        "{facts}"
    );
    // Every chunk counted once, though the parts read the chunks at their edges again.
    let (n, m) = chunks_of(&stderr_of(&a));
    assert_eq!(n, m, "{}", stderr_of(&a));
}

#[test]
fn pg_a_failing_piece_fails_the_restore_and_drops_the_database() {
    let src = PgDb::create("prpiece");
    src.sql(PG_BIG);
    let out = Command::new("pg_dump")
        .args(["-d", &src.url()])
        .output()
        .unwrap();
    assert!(out.status.success());
    // A NULL kind (NOT NULL) in one row near the end of the big table: the last piece fails.
    let dump = String::from_utf8(out.stdout).unwrap();
    let line = dump
        .lines()
        .rfind(|l| l.starts_with("18990\t"))
        .expect("the row to break")
        .to_string();
    let mut fields: Vec<&str> = line.split('\t').collect();
    fields[1] = "\\N";
    let bad = dump.replacen(
        &format!("\n{line}\n"),
        &format!("\n{}\n", fields.join("\t")),
        1,
    );
    assert_ne!(bad, dump);
    let t = TestRepo::new();
    let stream = format!("{}.sql", src.name);
    let args = ["snapshot", "--stdin", "--stdin-name", &stream];
    t.dv(&args).write_stdin(bad).assert().success();
    let name = unique_name("prpieceto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let a = t
        .dv(&["restore", "latest", "--to", &to, "--create", "--jobs", "3"])
        .env("DUMPVAULT_TEST_SPLIT_BYTES", SPLIT_BYTES)
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("data of table public.events (piece 3 of 3)"),
        "{err}"
    );
    assert!(err.contains("null value"), "{err}");
    assert!(!pg_exists(&name), "the created database is dropped: {err}");
}

#[test]
fn pg_jobs_restore_checks_the_whole_stream_hash() {
    use dumpvault::backend::Backend;
    use dumpvault::repository::Repository;
    let src = PgDb::create("prhash");
    src.sql(PG_SCHEMA);
    let t = TestRepo::new();
    let out = t.dv(&["snapshot", "--json", &src.url()]).assert().success();
    let made: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = dumpvault::id::Id::from_hex(made["id"].as_str().unwrap()).unwrap();
    // The same snapshot, recording another whole-stream hash: every chunk is intact, so only
    // the whole-stream check can tell.
    let repo = Repository::open(
        Backend::open(t.repo.to_str().unwrap()).unwrap(),
        crate::common::PASSWORD.as_bytes(),
    )
    .unwrap();
    let mut m = repo.load_manifest(&id).unwrap();
    m.streams[0].blake3[0] ^= 1;
    let wrong = repo.save_manifest(&m).unwrap();
    // Published to the catalogue as `snapshot` does: in a config version 2 repository a
    // manifest without a catalogue entry is not visible (repo-format.md section 17).
    dumpvault::repository::catalogue::publish(&repo, &wrong, &m, None).unwrap();
    let wrong = wrong.to_hex();
    let name = unique_name("prhashto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let a = t
        .dv(&["restore", &wrong, "--to", &to, "--create", "--jobs", "2"])
        .assert()
        .failure();
    let err = stderr_of(&a);
    assert!(err.contains("BLAKE3"), "{err}");
    assert!(!pg_exists(&name), "the created database is dropped: {err}");
    // The recorded snapshot restores.
    let ok = made["id"].as_str().unwrap();
    t.dv(&["restore", ok, "--to", &to, "--create", "--jobs", "2"])
        .assert()
        .success();
}

/// A big table without a primary key whose strings hold line feeds, `;`, tabs, backslashes,
/// quotes and `);\n(` (escaped in the dump), NULLs and duplicates: about 12 MB, three INSERT
/// statements; a small table with a key.
const MY_BIG: &str = "
CREATE TABLE events (id int NOT NULL, kind varchar(10) NOT NULL, body text, KEY by_kind (kind))
  ENGINE=InnoDB;
INSERT INTO events SELECT seq % 59000, CONCAT('k', seq % 7),
  CASE WHEN seq % 5 = 0 THEN CONCAT('a;\\nb\\t', REPEAT('y', 150), '\\\\ ''q'' \");\\n(', seq)
       WHEN seq % 5 = 1 THEN NULL
       ELSE REPEAT('x', 180 + seq % 40) END
  FROM seq_1_to_60000;
CREATE TABLE kinds (name varchar(10) PRIMARY KEY) ENGINE=InnoDB;
INSERT INTO kinds SELECT CONCAT('k', seq) FROM seq_0_to_6;
";

fn my_big_facts(db: &str) -> String {
    let sql = "SET SESSION group_concat_max_len = 1073741824;
        SELECT 'events', count(*), md5(group_concat(CONCAT_WS('|', id, kind, COALESCE(body, '<null>'))
          ORDER BY id, kind, body SEPARATOR '/')) FROM events;
        SELECT 'kinds', count(*), md5(group_concat(name ORDER BY name)) FROM kinds;
        SELECT 'index', count(*) FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME = 'by_kind';";
    mariadb_at(Some(db), sql)
}

#[test]
fn mysql_a_big_table_split_across_connections_is_restored_row_for_row() {
    let src = MyDb::create("prmybig");
    src.sql(MY_BIG);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let server = my_server();
    let name = unique_name("prmybigto");
    let _guard = DropMy(name.clone());
    let to = format!("{server}/{name}");
    let a = t
        .dv(&["restore", "latest", "--to", &to, "--create", "--jobs", "3"])
        .env("DUMPVAULT_TEST_SPLIT_BYTES", SPLIT_BYTES)
        .assert()
        .success();
    let facts = my_big_facts(&name);
    assert_eq!(facts, my_big_facts(&src.name));
    assert!(
        facts.contains("events\t60000\t") && facts.contains("index\t1"),
        "{facts}"
    );
    let (n, m) = chunks_of(&stderr_of(&a));
    assert_eq!(n, m);

    // A row of the last statement that cannot load fails the restore, naming its piece, and
    // the database it created is dropped.
    let target = t.path("my.sql");
    let target_s = target.to_str().unwrap();
    t.dv(&["restore", "latest", "--target", target_s])
        .assert()
        .success();
    let dump = std::fs::read_to_string(&target).unwrap();
    let bad = dump.replacen("\n(58990,'k", "\n(58990,NULL,'k", 1);
    assert_ne!(bad, dump, "the row to break");
    let stream = format!("{}.sql", src.name);
    let args = ["snapshot", "--stdin", "--stdin-name", &stream];
    t.dv(&args).write_stdin(bad).assert().success();
    let name = unique_name("prmyfail");
    let _guard = DropMy(name.clone());
    let to = format!("{server}/{name}");
    let a = t
        .dv(&["restore", "latest", "--to", &to, "--create", "--jobs", "3"])
        .env("DUMPVAULT_TEST_SPLIT_BYTES", SPLIT_BYTES)
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(err.contains("data of table events (piece 3 of 3)"), "{err}");
    let exists =
        format!("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'");
    assert_eq!(mariadb_at(None, &exists).trim(), "0", "dropped: {err}");
}

/// A table whose CHECK holds only in a session with `synchronous_commit = off`, and an index
/// whose expression holds only with `maintenance_work_mem` of 256MB (the restore's default):
/// a parallel restore loads them only when its data and index sessions have those settings.
/// A table without indexes, which nothing but a row count would scan.
const PG_SETTINGS: &str = "
CREATE FUNCTION public.setting_is(v int, name text, value text) RETURNS int LANGUAGE plpgsql
  IMMUTABLE AS $$ BEGIN
    IF current_setting(name) <> value THEN
      RAISE EXCEPTION 'setting % is %, not %', name, current_setting(name), value;
    END IF;
    RETURN v;
  END $$;
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
CREATE TABLE public.loaded (id int PRIMARY KEY,
  CHECK (public.setting_is(id, 'synchronous_commit', 'off') = id));
INSERT INTO public.loaded SELECT g FROM generate_series(1, 500) g;
CREATE INDEX loaded_mwm ON public.loaded ((public.setting_is(id, 'maintenance_work_mem', '256MB')));
CREATE TABLE public.plain (v text);
INSERT INTO public.plain SELECT 'v' || g FROM generate_series(1, 300) g;
";

#[test]
fn pg_jobs_restore_loads_data_without_waiting_for_flushes_and_builds_indexes_with_more_memory() {
    let src = PgDb::create("prset");
    src.sql(PG_SETTINGS);
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    let name = unique_name("prsetto");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let args = ["restore", "latest", "--to", &to, "--create", "--jobs", "2"];
    let a = t.dv(&args).assert();
    let err = stderr_of(&a);
    a.success();
    let sql = "SELECT count(*) FROM public.loaded;
        SELECT count(*) FROM pg_indexes WHERE indexname = 'loaded_mwm';";
    assert_eq!(psql_at(&name, sql), "500\n1\n", "{err}");
    // The settings were the restore sessions' own: a new session has the server's.
    let settings = "SHOW synchronous_commit; SHOW maintenance_work_mem;";
    assert_eq!(psql_at(&name, settings), psql_at("postgres", settings));
    // The row counts were checked from the COPY tags: no table was scanned again.
    let scans = "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'plain'";
    assert_eq!(psql_at(&name, scans), "0\n", "{err}");
    // Another size: the index session does not have 256MB, and the index fails to build.
    let other = unique_name("prsetmwm");
    let _guard2 = PgName(other.clone());
    let to2 = format!("{}/{other}", pg_server());
    let args = ["restore", "latest", "--to", &to2, "--create", "--jobs", "2"];
    let a = t
        .dv(&[&args[..], &["--maintenance-work-mem", "96MB"]].concat())
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("setting maintenance_work_mem is 96MB, not 256MB"),
        "{err}"
    );
    // A size the server would read as kilobytes, or no size, is refused before anything runs.
    for bad in ["256", "lots", "512kB"] {
        let a = t
            .dv(&[&args[..], &["--maintenance-work-mem", bad]].concat())
            .assert()
            .code(2);
        assert!(stderr_of(&a).contains("256MB or 1GB"), "{bad}");
    }
}
