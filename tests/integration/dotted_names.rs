//! Tables whose schema or name holds a dot, through the binary against the real PostgreSQL 15
//! and MariaDB 10.11: `ls` prints them whole (`"Sales.EU"."Order Items"`), `restore --table`
//! with that name (or the bare table name) restores the table with its schema into a fresh
//! database equal to the source (compared with `pg_dump`), and `diff --rows` finds them.

use crate::common::TestRepo;
use crate::db::{mariadb_at, pg_server, psql_at, unique_name, MyDb, MyName, PgDb, PgName};
use serde_json::Value;
use std::process::Command;

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

/// `pg_dump` of the tables `tables` (quoted, qualified) of `db`, without the random
/// `\restrict` lines.
fn pg_dump_tables(db: &str, tables: &[&str]) -> String {
    let mut cmd = Command::new("pg_dump");
    cmd.args(["--format=plain", "-d", &format!("{}/{db}", pg_server())]);
    for t in tables {
        cmd.args(["-t", t]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let kept: Vec<&str> = (text.lines())
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .collect();
    kept.join("\n")
}

/// The `ls --json` lines of `id`: (name as printed, stored name, kind, partition_of).
fn listed(t: &TestRepo, id: &str) -> Vec<(String, String, String, Value)> {
    let ls = json_ok(t, &["ls", "--json", id]);
    (ls.as_array().unwrap().iter())
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap().to_string();
            (s("name"), s("table"), s("kind"), t["partition_of"].clone())
        })
        .collect()
}

const PG_SOURCE: &str = r#"
CREATE SCHEMA "Sales.EU";
CREATE TYPE "Sales.EU"."mood.x" AS ENUM ('a', 'b');
CREATE FUNCTION "Sales.EU".touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TABLE "Sales.EU"."Order Items" (id serial PRIMARY KEY, n text, m "Sales.EU"."mood.x");
COMMENT ON COLUMN "Sales.EU"."Order Items".n IS 'note';
CREATE INDEX "oi.n" ON "Sales.EU"."Order Items" (n);
CREATE TRIGGER "t.g" BEFORE INSERT ON "Sales.EU"."Order Items"
    FOR EACH ROW EXECUTE FUNCTION "Sales.EU".touch();
CREATE TABLE "Sales.EU"."Lines.v2" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item int REFERENCES "Sales.EU"."Order Items" (id), q text);
CREATE TABLE "Sales.EU"."Parted.T" (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE "Sales.EU"."Parted.T p1" PARTITION OF "Sales.EU"."Parted.T" FOR VALUES FROM (0) TO (10);
CREATE TABLE "Sales.EU".p2 PARTITION OF "Sales.EU"."Parted.T" FOR VALUES FROM (10) TO (20);
CREATE INDEX ON "Sales.EU"."Parted.T" (v);
CREATE TABLE public.plain (id int PRIMARY KEY, v text);
INSERT INTO "Sales.EU"."Order Items" (n, m) SELECT 'n' || g, 'a' FROM generate_series(1, 50) g;
INSERT INTO "Sales.EU"."Lines.v2" (item, q) VALUES (1, 'x'), (2, 'y'), (1, 'z');
INSERT INTO "Sales.EU"."Parted.T" VALUES (1, 'a'), (11, 'b'), (12, 'c');
INSERT INTO public.plain VALUES (1, 'one');
"#;

#[test]
fn postgres_tables_in_a_dotted_schema_are_listed_and_restored_whole() {
    let src = PgDb::create("dotted");
    src.sql(PG_SOURCE);
    let t = TestRepo::new();
    let id = json_ok(&t, &["snapshot", "--json", &src.url()])["id"]
        .as_str()
        .unwrap()
        .to_string();

    let ls = listed(&t, &id);
    let row = |name: &str| {
        (ls.iter().find(|l| l.0 == name)).unwrap_or_else(|| panic!("{name} not in {ls:?}"))
    };
    let oi = row("\"Sales.EU\".\"Order Items\"");
    assert_eq!(
        (oi.1.as_str(), oi.2.as_str()),
        ("\"Sales.EU\".Order Items", "table")
    );
    assert_eq!(row("\"Sales.EU\".\"Parted.T\"").2, "partitioned");
    let p1 = row("\"Sales.EU\".\"Parted.T p1\"");
    assert_eq!(
        (p1.2.as_str(), &p1.3),
        ("partition", &Value::from("\"Sales.EU\".Parted.T"))
    );
    // Names without a dot are stored and printed as before.
    assert_eq!(row("public.plain").1, "public.plain");
    let text = t
        .dv(&["ls", &id])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("\"Sales.EU\".\"Order Items\""), "{text}");
    assert!(
        text.contains("partition of \"Sales.EU\".\"Parted.T\""),
        "{text}"
    );

    // The table, its partitioned neighbour, their schema and what they need, into a fresh
    // database: equal to the source (pg_dump of those tables), rows checked by the restore.
    let target = unique_name("dotted_to");
    let _drop = PgName(target.clone());
    let to = format!("{}/{target}", pg_server());
    let args = [
        "restore",
        &id,
        "--to",
        &to,
        "--create",
        "--table",
        "\"Sales.EU\".\"Order Items\"",
        "--table",
        "\"Sales.EU\".\"Parted.T\"",
    ];
    t.dv(&args).assert().success();
    let tables = [
        "\"Sales.EU\".\"Order Items\"",
        "\"Sales.EU\".\"Parted.T\"",
        "\"Sales.EU\".\"Parted.T p1\"",
        "\"Sales.EU\".p2",
    ];
    let want = pg_dump_tables(&src.name, &tables);
    assert!(want.contains("COPY \"Sales.EU\".\"Order Items\" (id, n, m) FROM stdin;"));
    assert_eq!(pg_dump_tables(&target, &tables), want);
    let others = psql_at(
        &target,
        "SELECT to_regclass('\"Sales.EU\".\"Lines.v2\"') IS NULL, \
         to_regclass('public.plain') IS NULL, \
         nextval('\"Sales.EU\".\"Order Items_id_seq\"');",
    );
    assert_eq!(others, "t|t|51\n");

    // The bare table name, when unique, does the same.
    let bare = unique_name("dotted_bare");
    let _drop_bare = PgName(bare.clone());
    let to = format!("{}/{bare}", pg_server());
    let args = [
        "restore",
        &id,
        "--to",
        &to,
        "--create",
        "--table",
        "\"Order Items\"",
    ];
    t.dv(&args).assert().success();
    let oi = ["\"Sales.EU\".\"Order Items\""];
    assert_eq!(pg_dump_tables(&bare, &oi), pg_dump_tables(&src.name, &oi));

    // The name split at the wrong dot is not in the dump, and the message lists the right one.
    let wrong = unique_name("dotted_wrong");
    let _drop_wrong = PgName(wrong.clone());
    let to = format!("{}/{wrong}", pg_server());
    let args = [
        "restore",
        &id,
        "--to",
        &to,
        "--create",
        "--table",
        "\"Sales\".\"EU.Order Items\"",
    ];
    let out = t.dv(&args).assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("is not in this dump"), "{err}");
    assert!(err.contains("\"Sales.EU\".\"Order Items\""), "{err}");

    // diff --rows finds the table by the name `ls` prints.
    src.sql("UPDATE \"Sales.EU\".\"Order Items\" SET n = 'changed' WHERE id = 7;");
    let id2 = json_ok(&t, &["snapshot", "--json", &src.url()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let args = ["diff", "--rows", "\"Sales.EU\".\"Order Items\"", &id, &id2];
    let out = t.dv(&args).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("changed"), "{text}");
}

#[test]
fn mariadb_table_with_a_dot_is_listed_as_one_name() {
    let src = MyDb::create("dotted");
    src.sql(
        "CREATE TABLE `Dot.Table` (id int PRIMARY KEY, v text);
         INSERT INTO `Dot.Table` VALUES (1, 'a'), (2, 'b');
         CREATE TABLE plain (id int PRIMARY KEY);
         INSERT INTO plain VALUES (1);",
    );
    let t = TestRepo::new();
    let id = json_ok(&t, &["snapshot", "--json", &src.url()])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ls = listed(&t, &id);
    let names: Vec<(&str, &str)> = ls.iter().map(|l| (l.0.as_str(), l.1.as_str())).collect();
    assert_eq!(
        names,
        [("\"Dot.Table\"", "\"Dot.Table\""), ("plain", "plain")]
    );
    for (n, pattern) in ["\"Dot.Table\"", "Dot.Table"].into_iter().enumerate() {
        let target = format!("{}_{n}", unique_name("dotted_to"));
        let _drop = MyName(target.clone());
        let to = format!("{}/{target}", crate::db::my_server());
        let args = ["restore", &id, "--to", &to, "--create", "--table", pattern];
        t.dv(&args).assert().success();
        let got = mariadb_at(
            Some(&target),
            "SELECT * FROM `Dot.Table` ORDER BY id; SHOW TABLES;",
        );
        assert_eq!(got, "1\ta\n2\tb\nDot.Table\n", "--table {pattern}");
    }
}
