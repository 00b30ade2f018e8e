//! Parallel restore into a database (`restore --to URL --jobs N`): the same tables, rows,
//! sequence values and schema as a one-session `--single-transaction` restore, for PostgreSQL
//! and MariaDB; a table whose data fails to load fails the restore and drops the database
//! `--create` made.

use crate::common::TestRepo;
use crate::db::{mariadb_at, my_server, pg_server, psql_at, unique_name, MyDb, PgDb};
use std::process::Command;

/// Drops a PostgreSQL database on drop (for targets the restore itself creates).
struct DropPg(String);

impl Drop for DropPg {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.0);
        let _ = std::panic::catch_unwind(|| psql_at("postgres", &sql));
    }
}

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
    let _guards = (DropPg(par.clone()), DropPg(one.clone()));
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
    let _guard = DropPg(name.clone());
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
    let _guard = DropPg(name.clone());
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
