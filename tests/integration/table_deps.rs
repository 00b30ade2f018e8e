//! `restore --table` brings what a table's DDL needs (probe finding 5), through the binary
//! against the real PostgreSQL 15: a table whose CHECK constraints call functions (directly,
//! through a domain, through another function) and a table whose default draws from a
//! sequence it does not own (shared by two tables, or another table's serial) each restore
//! alone into a fresh database: exit 0, rows equal to the source, and the sequence goes on
//! where the source's left off.

use crate::common::TestRepo;
use crate::db::{pg_server, psql_at, unique_name, PgDb, PgName};

const SOURCE: &str = r#"
CREATE SCHEMA util;
CREATE FUNCTION public.is_even(int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 2 = 0';
CREATE FUNCTION public.helper(int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 < 1000';
CREATE FUNCTION public.is_small(int) RETURNS bool LANGUAGE sql IMMUTABLE
    AS 'SELECT public.helper($1)';
CREATE FUNCTION util.positive(numeric) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 > 0';
CREATE FUNCTION util.twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE DOMAIN util.money_pos AS numeric CHECK (util.positive(VALUE));
CREATE SEQUENCE public.shared_seq START 100;
GRANT USAGE ON SEQUENCE public.shared_seq TO PUBLIC;
CREATE TABLE public.checked (id int PRIMARY KEY CHECK (public.is_even(id)),
    n int CHECK (public.is_small(n)), price util.money_pos,
    d int GENERATED ALWAYS AS (util.twice(id)) STORED);
CREATE INDEX checked_expr ON public.checked (util.twice(n));
CREATE TABLE public.a (id bigint PRIMARY KEY DEFAULT nextval('public.shared_seq'), v text);
CREATE TABLE public.b (id bigint PRIMARY KEY DEFAULT nextval('public.shared_seq'), v text);
CREATE TABLE public.s (id serial PRIMARY KEY);
CREATE TABLE public.uses_s (id int PRIMARY KEY DEFAULT nextval('public.s_id_seq'), v text);
INSERT INTO public.checked VALUES (2, 1, 2.5), (4, 2, 3.5);
INSERT INTO public.a (v) VALUES ('x'), ('y');
INSERT INTO public.b (v) VALUES ('z');
INSERT INTO public.s DEFAULT VALUES;
INSERT INTO public.uses_s (v) VALUES ('p'), ('q');
"#;

#[test]
fn postgres_table_restores_alone_with_the_functions_and_sequences_its_ddl_uses() {
    let src = PgDb::create("tdeps");
    src.sql(SOURCE);
    let t = TestRepo::new();
    let out = t.dv(&["snapshot", "--json", &src.url()]).assert().success();
    let snap: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let id = snap["id"].as_str().unwrap().to_string();

    // (table, rows query, what the next row gets)
    let cases = [
        (
            "public.checked",
            "SELECT id, n, price, d FROM public.checked ORDER BY id",
            // The CHECKs run on a new row: is_even, is_small -> helper, the domain's positive.
            "INSERT INTO public.checked VALUES (6, 3, 1.5) RETURNING d",
        ),
        (
            "public.a",
            "SELECT id, v FROM public.a ORDER BY id",
            "INSERT INTO public.a (v) VALUES ('new') RETURNING id",
        ),
        (
            "public.uses_s",
            "SELECT id, v FROM public.uses_s ORDER BY id",
            "INSERT INTO public.uses_s (v) VALUES ('new') RETURNING id",
        ),
    ];
    for (table, rows, next) in cases {
        let target = unique_name("tdeps_to");
        let _drop = PgName(target.clone());
        let to = format!("{}/{target}", pg_server());
        let args = ["restore", &id, "--table", table, "--to", &to, "--create"];
        let out = t.dv(&args).output().unwrap();
        assert!(
            out.status.success(),
            "restore --table {table}: exit {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(psql_at(&target, rows), src.sql(rows), "{table}");
        // The source's next value, taken after the restore's.
        let want = src.sql(next);
        assert_eq!(psql_at(&target, next), want, "{table}: next row");
    }
    // The figures compared are the ones meant: the shared sequence stood at 102 (a: 100, 101;
    // b: 102) and the serial at 3 (s: 1; uses_s: 2, 3), so the new rows got 103 and 4.
    assert_eq!(src.sql("SELECT last_value FROM public.shared_seq"), "103\n");
    assert_eq!(src.sql("SELECT last_value FROM public.s_id_seq"), "4\n");
}
