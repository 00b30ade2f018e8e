//! Restores that must load in the dump's dependency order (probe findings 4, 9 and 12), by
//! `restore --to` (parallel, the default, and `--jobs 1`) and by `verify --into`, which
//! restores the same way: a foreign key to a partitioned table, a MariaDB sequence written
//! before the tables, and a PostgreSQL table whose name holds a newline.

use crate::common::TestRepo;
use crate::db::{mariadb_at, my_server, pg_server, psql_at, unique_name, MyDb, PgDb};

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

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Runs `dumpvault args`, asserting exit 0; returns stdout and stderr.
fn ok(t: &TestRepo, args: &[&str]) -> String {
    let out = t.dv(args).output().unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "dumpvault {args:?}: {all}");
    all
}

#[test]
fn pg_foreign_key_to_a_partitioned_table_restores_and_verifies() {
    let src = PgDb::create("rofk");
    src.sql(
        "CREATE TABLE measurements (city int, logdate date, v numeric,
             PRIMARY KEY (city, logdate)) PARTITION BY LIST (city);
         CREATE TABLE m1 PARTITION OF measurements FOR VALUES IN (1);
         CREATE TABLE m_other PARTITION OF measurements DEFAULT;
         CREATE TABLE m_ref (id int PRIMARY KEY, city int, logdate date,
             FOREIGN KEY (city, logdate) REFERENCES measurements);
         INSERT INTO measurements VALUES (1, '2024-01-01', 1), (2, '2024-01-01', 2);
         INSERT INTO m_ref VALUES (1, 1, '2024-01-01');",
    );
    let t = TestRepo::new();
    ok(&t, &["snapshot", &src.url()]);
    for jobs in [None, Some("1"), Some("3")] {
        let name = unique_name("rofkto");
        let _guard = DropPg(name.clone());
        let to = format!("{}/{name}", pg_server());
        let db = ["--database", src.name.as_str()];
        let mut args = vec!["restore", "latest", "--to", &to, "--create"];
        args.extend(db);
        args.extend(jobs.iter().flat_map(|j| ["--jobs", j]));
        ok(&t, &args);
        let facts = psql_at(
            &name,
            "SELECT count(*) FROM measurements; SELECT count(*) FROM m_ref;
             SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0;
             SELECT indisvalid FROM pg_index WHERE indexrelid = 'measurements_pkey'::regclass;",
        );
        assert_eq!(facts, "2\n1\n1\nt\n", "--jobs {jobs:?}");
    }
    // verify --into loads it as restore --to does (the parallel loader, with the step that
    // attaches the partitions' indexes), and passes.
    let name = unique_name("rofkv");
    let _guard = DropPg(name.clone());
    let into = format!("{}/{name}", pg_server());
    let db = ["--database", src.name.as_str()];
    let out = ok(
        &t,
        &[&["-v", "verify", "latest", "--into", &into], &db[..]].concat(),
    );
    assert!(out.contains("index attachments"), "{out}");
    assert!(out.contains("PASS  snapshot"), "{out}");
}

#[test]
fn my_sequence_before_the_tables_is_created_once() {
    let src = MyDb::create("roseq");
    src.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, v varchar(10));
         CREATE TABLE zeta (id int PRIMARY KEY);
         CREATE TABLE third (id int PRIMARY KEY);
         INSERT INTO zeta VALUES (7); INSERT INTO third VALUES (1), (2);
         INSERT INTO orders VALUES (1, 'a'), (2, 'b');
         CREATE SEQUENCE s1 START WITH 50;
         SELECT NEXTVAL(s1);",
    );
    let t = TestRepo::new();
    ok(&t, &["snapshot", &src.url()]);
    for jobs in ["3", "1"] {
        let name = unique_name("roseqto");
        let _guard = DropMy(name.clone());
        let to = format!("{}/{name}", my_server());
        ok(
            &t,
            &[
                "restore",
                "latest",
                "--to",
                &to,
                "--create",
                "--jobs",
                jobs,
                "--database",
                &src.name,
            ],
        );
        let facts = mariadb_at(
            Some(&name),
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM zeta),
                    (SELECT count(*) FROM third), NEXTVAL(s1);",
        );
        // The sequence keeps its place: the source handed out values up to 1049 (cache 1000).
        assert_eq!(
            facts.split_whitespace().collect::<Vec<_>>(),
            ["2", "1", "2", "1050"],
            "--jobs {jobs}"
        );
    }
    let name = unique_name("roseqv");
    let _guard = DropMy(name.clone());
    let into = format!("{}/{name}", my_server());
    let args = [
        "-v",
        "verify",
        "latest",
        "--into",
        &into,
        "--database",
        &src.name,
    ];
    let out = ok(&t, &args);
    assert!(out.contains("parallel restore step"), "{out}");
}

#[test]
fn pg_table_whose_name_holds_a_newline_is_counted_listed_and_restored() {
    let src = PgDb::create("ronl");
    src.sql(
        "CREATE TABLE public.\"new\nline\" (id int PRIMARY KEY, \"col\nnl\" text);
         CREATE TABLE public.\"new line\" (id int PRIMARY KEY);
         INSERT INTO public.\"new\nline\" VALUES (1, 'x'), (2, 'y');
         INSERT INTO public.\"new line\" VALUES (1);",
    );
    let t = TestRepo::new();
    ok(&t, &["snapshot", &src.url()]);
    let ls = t.dv(&["--json", "ls", "latest"]).output().unwrap();
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let listed: Vec<(String, u64)> = (ls.as_array().unwrap().iter())
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let newline = r#"public.U&"new\000aline""#;
    assert_eq!(
        listed,
        [
            (newline.to_string(), 2),
            (r#"public."new line""#.to_string(), 1)
        ]
    );
    let name = unique_name("ronlto");
    let _guard = DropPg(name.clone());
    let to = format!("{}/{name}", pg_server());
    let db = ["--database", src.name.as_str()];
    ok(
        &t,
        &[&["restore", "latest", "--to", &to, "--create"], &db[..]].concat(),
    );
    let counts =
        "SELECT count(*) FROM public.\"new\nline\"; SELECT count(*) FROM public.\"new line\";";
    assert_eq!(psql_at(&name, counts), "2\n1\n");
    // The name as `ls` prints it restores that table alone.
    let one = unique_name("ronlt");
    let _guard = DropPg(one.clone());
    let to = format!("{}/{one}", pg_server());
    ok(
        &t,
        &[
            "restore",
            "latest",
            "--table",
            newline,
            "--to",
            &to,
            "--create",
            "--database",
            &src.name,
        ],
    );
    let sql = "SELECT count(*) FROM public.\"new\nline\"; SELECT to_regclass('public.\"new line\"') IS NULL;";
    assert_eq!(psql_at(&one, sql), "2\nt\n");
    let v = unique_name("ronlv");
    let _guard = DropPg(v.clone());
    let into = format!("{}/{v}", pg_server());
    ok(
        &t,
        &[&["verify", "latest", "--into", &into], &db[..]].concat(),
    );
}
