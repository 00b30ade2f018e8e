//! Tests of the dump scanner on real dumps of each dialect (the `PG`, `MY` and `LITE` fixtures
//! at the end), fed in many slicings. The two `*_restore_one_table` tests load the selected
//! ranges into the local PostgreSQL and MariaDB servers; a server that does not answer fails
//! them (they never skip).

#[test]
fn dialects_are_recognised_from_the_first_bytes() {
    let pg = b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n";
    assert_eq!(detect_dialect(pg), Some(Dialect::Postgres));
    let maria =
        b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19  Distrib 10.11.6\n";
    assert_eq!(detect_dialect(maria), Some(Dialect::MySql));
    assert_eq!(
        detect_dialect(b"-- MySQL dump 10.13  Distrib 8.0\n"),
        Some(Dialect::MySql)
    );
    let lite = b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\n";
    assert_eq!(detect_dialect(lite), Some(Dialect::Sqlite));
    assert_eq!(detect_dialect(b"SQLite format 3\0"), None);
    assert_eq!(
        detect_dialect(b"COPY public.items (id) FROM stdin;\n"),
        None
    );
    assert_eq!(detect_dialect(b""), None);
}

use super::scanner::HEAD_LIMIT;
use super::*;
use crate::format::source::Dialect;
use std::io::Write;
use std::process::{Command, Stdio};

/// Scans `dump` fed in slices of `step` bytes (0: pseudo-random sizes).
fn scan(d: Dialect, dump: &[u8], step: usize) -> Vec<Section> {
    let (mut s, mut i, mut x) = (TableScanner::new(d), 0, 7u64);
    while i < dump.len() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = if step > 0 {
            step
        } else {
            1 + (x >> 33) as usize % 5000
        };
        let n = n.min(dump.len() - i);
        s.update(&dump[i..i + n]);
        i += n;
        assert!(s.head_capacity() <= HEAD_LIMIT);
    }
    s.finish()
}

/// Scans with several slicings, checks they agree and cover the dump contiguously.
fn sections(d: Dialect, dump: &str) -> Vec<Section> {
    sliced(d, dump, &[1, 2, 7, 100, 0])
}

fn sliced(d: Dialect, dump: &str, steps: &[usize]) -> Vec<Section> {
    let whole = scan(d, dump.as_bytes(), dump.len());
    for &step in steps {
        assert_eq!(scan(d, dump.as_bytes(), step), whole, "step {step}");
    }
    let mut at = 0;
    for s in &whole {
        assert!(s.start == at && s.end > s.start, "{s:?}");
        at = s.end;
    }
    assert_eq!(at, dump.len() as u64);
    whole
}

fn table_of<'a>(s: &'a [Section], ty: &str, name: &str) -> Option<&'a str> {
    let found = s.iter().find(|s| s.object_type == ty && s.name == name);
    found
        .unwrap_or_else(|| panic!("no {ty} {name}"))
        .table
        .as_deref()
}

fn rows(s: &[Section]) -> Vec<(String, Option<u64>)> {
    table_summaries(s)
        .into_iter()
        .map(|t| (t.name, t.rows))
        .collect()
}

fn select(dump: &str, sections: &[Section], tables: &[&str]) -> String {
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let ranges = ranges_for_tables(sections, &tables).unwrap();
    ranges
        .into_iter()
        .map(|r| &dump[r.start as usize..r.end as usize])
        .collect()
}

/// Runs `cmd` with `input` on stdin; panics unless it succeeds; returns stdout.
fn run(cmd: &mut Command, input: &str) -> String {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

fn scratch_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("dv_tables_{}_{}", std::process::id(), nanos.subsec_nanos())
}

#[test]
fn postgres_sections() {
    let s = sections(Dialect::Postgres, PG);
    let expect = [
        ("other.orders", 2),
        ("public.customers", 4),
        ("public.orders", 5),
    ];
    let expect: Vec<_> = expect
        .iter()
        .map(|(t, n)| (t.to_string(), Some(*n)))
        .collect();
    assert_eq!(rows(&s), expect);
    assert_eq!(s[0].kind, SectionKind::Preamble);
    let (c, o) = (Some("public.customers"), Some("public.orders"));
    assert_eq!(table_of(&s, "SEQUENCE", "public.customers_id_seq"), c);
    assert_eq!(
        table_of(&s, "SEQUENCE OWNED BY", "public.customers_id_seq"),
        c
    );
    assert_eq!(table_of(&s, "SEQUENCE SET", "public.customers_id_seq"), c);
    assert_eq!(table_of(&s, "SEQUENCE", "public.orders_id_seq"), o);
    assert_eq!(table_of(&s, "SEQUENCE SET", "public.orders_id_seq"), o);
    assert_eq!(table_of(&s, "DEFAULT", "public.customers id"), c);
    assert_eq!(table_of(&s, "INDEX", "public.orders_customer_idx"), o);
    assert_eq!(table_of(&s, "TRIGGER", "public.orders orders_touch"), o);
    assert_eq!(
        table_of(&s, "FK CONSTRAINT", "public.orders orders_customer_id_fkey"),
        o
    );
    assert_eq!(table_of(&s, "FUNCTION", "public.touch()"), None);
    let settings: Vec<&str> = (s.iter().filter(|s| s.object_type == "SETTINGS"))
        .map(|s| &PG[s.start as usize..s.end as usize])
        .collect();
    assert!(settings[0].starts_with("SET default_tablespace = '';\n\nSET default_table_"));
    assert!(settings[1].contains("PostgreSQL database dump complete\n--\n\n\\unrestrict "));
    let err = ranges_for_tables(&s, &["orders".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ambiguous; use one of: other.orders, public.orders"),
        "{err}"
    );
    let err = ranges_for_tables(&s, &["nope".into()])
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("available tables: other.orders, public.customers, public.orders"));
    let one = select(PG, &s, &["customers"]);
    assert!(one.starts_with(&PG[..s[1].start as usize]) && one.contains("\\unrestrict "));
    assert!(one.contains("OWNED BY public.customers.id;") && one.contains("setval('public.c"));
    assert!(!one.contains("public.orders") && !one.contains("touch()"));
}

#[test]
fn postgres_concatenated_sections() {
    // dumpvault's own stream: pre-data dump, its COPY sections, then a post-data dump.
    let (data, post) = (
        PG.find("\n--\n-- Data for").unwrap(),
        PG.find("\n--\n-- Name: customers customers_pkey").unwrap(),
    );
    let header = &PG[..PG.find("\n--\n-- Name").unwrap()];
    let footer = &PG[PG
        .find("\n--\n-- PostgreSQL database dump complete")
        .unwrap()..];
    let dump = [&PG[..data], footer, &PG[data..post], header, &PG[post..]].concat();
    let s = sections(Dialect::Postgres, &dump);
    assert_eq!(rows(&s), rows(&sections(Dialect::Postgres, PG)));
    let one = select(&dump, &s, &["public.orders"]);
    assert_eq!(one.matches("\\restrict ").count(), 2);
    assert_eq!(one.matches("\\unrestrict ").count(), 2);
    assert!(one.contains("CREATE INDEX orders_customer_idx") && !one.contains("COPY other"));
}

#[test]
fn postgres_restore_one_table() {
    let url = crate::source::testdb::postgres_url();
    let (base, rest) = url.rsplit_once('/').unwrap();
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    let db = scratch_name();
    let psql = |d: &str, sql: &str| {
        let conn = format!("{base}/{d}{query}");
        run(
            Command::new("psql").args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", &conn]),
            sql,
        )
    };
    let s = sections(Dialect::Postgres, PG);
    psql("postgres", &format!("CREATE DATABASE {db};"));
    let result = std::panic::catch_unwind(|| {
        psql(
            &db,
            &select(PG, &s, &["customers", "public.orders", "touch()"]),
        );
        for t in ["public.customers", "public.orders"] {
            let got = psql(
                &db,
                &format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT;"),
            );
            let start = PG.find(&format!("COPY {t} (")).unwrap();
            let block = &PG[start..][PG[start..].find('\n').unwrap() + 1..];
            assert_eq!(got, block[..block.find("\n\\.\n").unwrap() + 1]);
        }
        let other = psql(
            &db,
            "SELECT to_regclass('other.orders') IS NULL, nextval('orders_id_seq');",
        );
        assert_eq!(other, "t|6\n");
    });
    psql("postgres", &format!("DROP DATABASE {db};"));
    result.unwrap();
}

#[test]
fn mysql_sections() {
    let s = sections(Dialect::MySql, MY);
    let expect = [
        ("customers", Some(3)),
        ("empty_t", Some(0)),
        ("orders", Some(4)),
    ];
    let expect: Vec<_> = expect.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(rows(&s), expect);
    assert_eq!(table_of(&s, "TRIGGER", "orders"), Some("orders"));
    assert_eq!(table_of(&s, "VIEW", "big_orders"), None);
    let last = s.last().unwrap();
    assert_eq!(
        (last.kind, last.object_type.as_str()),
        (SectionKind::Other, "SETTINGS")
    );
    assert!(MY[last.start as usize..].starts_with("/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE"));
    let one = select(MY, &s, &["orders"]);
    assert!(one.contains("CREATE TABLE `orders`") && one.contains("trigger orders_bi"));
    assert!(!one.contains("`customers` VALUES") && !one.contains("big_orders"));
    assert!(one.ends_with(&MY[last.start as usize..]));
    // Statements at the start of lines inside routine bodies do not start sections.
    let body = "begin\nINSERT INTO `t` VALUES (1);\nCREATE TABLE `u` (a int);\nreturn x*2; end";
    let routine = MY.replace("begin return x*2; end", body);
    let kinds = |s: &[Section]| {
        s.iter()
            .map(|s| (s.kind, s.name.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&sections(Dialect::MySql, &routine)), kinds(&s));
}

#[test]
fn mysql_restore_one_table() {
    let url = crate::source::testdb::mysql_url();
    let rest = url.trim_start_matches("mysql://");
    let (user, host) = rest.split_once('@').unwrap_or(("root", rest));
    let host = host.split('/').next().unwrap();
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let (user, pass) = user.split_once(':').unwrap_or((user, ""));
    let db = scratch_name();
    let mariadb = |d: &str, sql: &str| {
        let mut cmd = Command::new("mariadb");
        cmd.args(["-N", "-B", "-h", host, "-P", port, "-u", user, d]);
        if !pass.is_empty() {
            cmd.arg(format!("-p{pass}"));
        }
        run(&mut cmd, sql)
    };
    let s = sections(Dialect::MySql, MY);
    mariadb("", &format!("CREATE DATABASE {db};"));
    let result = std::panic::catch_unwind(|| {
        mariadb(&db, &select(MY, &s, &["orders"]));
        let got = mariadb(&db, "SELECT * FROM orders ORDER BY id; SHOW TABLES;");
        let want = "1\t1\t10.50\ta\n2\t1\t200.00\tmulti\\nline\n\
                3\t2\t3.00\t-- Dumping data for table `x`\n4\t3\t150.00\tNULL\norders\n";
        assert_eq!(got, want);
        mariadb(&db, &select(MY, &s, &["customers"]));
        let got = mariadb(
            &db,
            "SELECT id, name, note, HEX(pic) FROM customers ORDER BY id;",
        );
        let want = "1\talice\tline1\\nline2 (paren), comma\t00FF0A27\n\
                2\tb'ob\tquote \" and \\\\ backslash);\tNULL\n3\tcarol\t),(\t616263\n";
        assert_eq!(got, want);
    });
    mariadb("", &format!("DROP DATABASE {db};"));
    result.unwrap();
}

#[test]
fn long_lines_stay_bounded() {
    let tuple = "(1,'it''s \\'q\\' (x), y;\\n',0x00FF,NULL,-2.5)";
    let mut my = String::from("-- Dumping data for table `t`\n--\n\nLOCK TABLES `t` WRITE;\n");
    my += &format!(
        "INSERT INTO `t` VALUES {};\n",
        vec![tuple; 100_000].join(",")
    );
    my += "INSERT INTO `t` (`a`, `b`) VALUES (1,'x'),\n(2,'y');\nUNLOCK TABLES;\n";
    assert_eq!(
        rows(&sliced(Dialect::MySql, &my, &[997, 0])),
        [("t".to_string(), Some(100_002))]
    );
    let cols: Vec<String> = (0..1000).map(|i| format!("column_{i}")).collect();
    let pg = format!(
        "--\n-- Data for Name: w; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n\
             COPY public.w ({}) FROM stdin;\n--\n\\\\.\n{}\n\\.\n\n",
        cols.join(", "),
        "x".repeat(10_000)
    );
    assert_eq!(
        rows(&sections(Dialect::Postgres, &pg)),
        [("public.w".to_string(), Some(3))]
    );
}

#[test]
fn sqlite_sections() {
    let s = sections(Dialect::Sqlite, LITE);
    let expect = [("customers", Some(6)), ("order items", Some(3))];
    assert_eq!(rows(&s), expect.map(|(t, n)| (t.to_string(), n)));
    assert_eq!(
        table_of(&s, "SEQUENCE SET", "sqlite_sequence"),
        Some("customers")
    );
    assert_eq!(table_of(&s, "INDEX", "oi_idx"), Some("order items"));
    assert_eq!(table_of(&s, "TRIGGER", "trg_ins"), Some("order items"));
    assert_eq!(table_of(&s, "TRIGGER", "trg2"), Some("customers"));
    assert_eq!(table_of(&s, "VIEW", "v_big"), None);
    assert_eq!(s.last().unwrap().object_type, "SETTINGS");
    let one = select(LITE, &s, &["order items"]);
    assert!(one.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE IF"));
    assert!(one.contains("CREATE INDEX oi_idx") && one.ends_with("end;\nCOMMIT;\n"));
    assert!(!one.contains("INSERT INTO customers") && !one.contains("trg2"));
    // The selected ranges load on their own (SQLite as bundled with rusqlite: never skipped).
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(&one).unwrap();
    let sql = "SELECT count(*), sum(id) FROM \"order items\"";
    let got: (i64, i64) = conn
        .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(got, (3, 6));
    // Older sqlite3 versions write newlines inside strings as they are.
    let old = "CREATE TABLE t(a);\nINSERT INTO t VALUES('x\nCREATE TABLE u(b);\n');\n\
                   INSERT INTO t VALUES('[');\nCREATE TABLE \"v\"\"w\" (a /* ' */);\n";
    let s = sections(Dialect::Sqlite, old);
    assert_eq!(
        rows(&s),
        [("t".to_string(), Some(2)), ("v\"w".to_string(), None)]
    );
}

/// The SQLite restore tests' dump whose statements hold `;` and statement-like lines in
/// comments (`/*/` opens one), trigger `WHEN` clauses with `CASE … END`, and columns named
/// `end`: statements end where `sqlite3_complete` ends them, so no line inside one starts a
/// section.
use crate::source::sqlite::tests::EDGE as LITE_EDGE;

#[test]
fn sqlite_statements_end_where_sqlite_ends_them() {
    let s = sections(Dialect::Sqlite, LITE_EDGE);
    assert_eq!(
        rows(&s),
        [("t".to_string(), Some(2)), ("log".to_string(), None)]
    );
    let kinds: Vec<(&str, &str)> = s
        .iter()
        .map(|s| (s.object_type.as_str(), s.name.as_str()))
        .collect();
    let want = [
        ("", ""),
        ("TABLE", "t"),
        ("TABLE", "log"),
        ("TABLE DATA", "t"),
        ("TRIGGER", "tw"),
        ("TRIGGER", "te"),
        ("TRIGGER", "tu"),
        ("TABLE DATA", "t"),
        ("SETTINGS", ""),
    ];
    assert_eq!(kinds, want);
    assert!(complete_at(Dialect::Sqlite, LITE_EDGE, LITE_EDGE.len()));
    let one = select(LITE_EDGE, &s, &["t"]);
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!("CREATE TABLE log(m);\n{one}"))
        .unwrap();
    let log: String = conn
        .query_row("SELECT group_concat(m, ',') FROM log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(log, "tw;e,b;");
}

/// Whether `dump` cut to its first `cut` bytes is complete, the same for every slicing.
fn complete_at(d: Dialect, dump: &str, cut: usize) -> bool {
    let part = &dump.as_bytes()[..cut];
    let results: Vec<bool> = [1, 3, 64, 4096, cut.max(1)]
        .iter()
        .map(|&step| {
            let mut s = TableScanner::new(d);
            for piece in part.chunks(step) {
                s.update(piece);
            }
            s.end().complete
        })
        .collect();
    assert!(
        results.iter().all(|&r| r == results[0]),
        "cut {cut}: {results:?}"
    );
    results[0]
}

#[test]
fn completion_marker_must_end_the_dump() {
    let markers = [
        (
            Dialect::Postgres,
            PG,
            "-- PostgreSQL database dump complete\n",
        ),
        (
            Dialect::MySql,
            MY,
            "-- Dump completed on 2026-11-23 19:20:34\n",
        ),
        (Dialect::Sqlite, LITE, "COMMIT;\n"),
    ];
    for (d, dump, marker) in markers {
        let end = dump.rfind(marker).unwrap() + marker.len();
        assert!(complete_at(d, dump, dump.len()), "{d:?} whole dump");
        assert!(complete_at(d, dump, end), "{d:?} cut after the marker");
        assert!(
            complete_at(d, dump, end - 1),
            "{d:?} marker without newline"
        );
        // Every cut before the marker, at line ends and inside lines, is incomplete.
        for cut in (0..end - marker.len()).step_by(7) {
            assert!(!complete_at(d, dump, cut), "{d:?} cut at {cut}");
        }
        for (cut, _) in dump[..end - marker.len()].match_indices('\n') {
            assert!(
                !complete_at(d, dump, cut + 1),
                "{d:?} cut at line end {cut}"
            );
        }
        // Anything after the footer makes it incomplete again.
        let more = format!("{dump}SELECT 1;\n");
        assert!(
            !complete_at(d, &more, more.len()),
            "{d:?} statement after the marker"
        );
    }
    // A marker inside COPY data or inside a statement does not count.
    let copy = "--\n-- PostgreSQL database dump\n--\n\n--\n-- Data for Name: t; Type: TABLE \
                    DATA; Schema: public; Owner: x\n--\n\nCOPY public.t (a) FROM stdin;\n\
                    -- PostgreSQL database dump complete\n";
    assert!(!complete_at(Dialect::Postgres, copy, copy.len()));
    let lite = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\n\
                    INSERT INTO t VALUES('x\nCOMMIT;\n";
    assert!(!complete_at(Dialect::Sqlite, lite, lite.len()));
    let rolled_back = "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nROLLBACK; -- due to errors\n";
    assert!(!complete_at(
        Dialect::Sqlite,
        rolled_back,
        rolled_back.len()
    ));
}

#[test]
fn stored_names_quote_only_parts_that_would_read_wrongly() {
    use super::name::{decode, encode};
    let cases: [(&[&str], &str); 10] = [
        // Unchanged from the form before quoting: old snapshots read as they always did.
        (&["public", "orders"], "public.orders"),
        (&["Sales", "Order Items"], "Sales.Order Items"),
        (&["public", "Dot.Table"], "public.Dot.Table"),
        (&["public", "q\"uote"], "public.q\"uote"),
        (&["orders"], "orders"),
        (&[""], ""),
        // A dot in a schema, or in a name of one part; a part starting with a quote.
        (&["Sales.EU", "Order Items"], "\"Sales.EU\".Order Items"),
        (&["Sales.EU", "x.y"], "\"Sales.EU\".x.y"),
        (&["Dot.Table"], "\"Dot.Table\""),
        (&["a\".b", "\"t\""], "\"a\"\".b\".\"\"\"t\"\"\""),
    ];
    for (parts, stored) in cases {
        assert_eq!(encode(parts), stored, "{parts:?}");
        assert_eq!(decode(stored), parts, "{stored}");
    }
    // Names written before quoting whose parts merely start with a quote keep their text.
    assert_eq!(decode("public.\"x\""), ["public", "\"x\""]);
    assert_eq!(decode("\"x\".t"), ["\"x\"", "t"]);
    assert_eq!(decode("\"open.t"), ["\"open", "t"]);
    assert_eq!(decode("\"a.b\"c.t"), ["\"a", "b\"c.t"]);
}

/// `select::resolve` of one `--table` argument, as `ls` prints the tables found.
fn resolved(s: &[Section], pattern: &str) -> Result<Vec<String>, String> {
    let found = select::resolve(s, &[pattern.to_string()]).map_err(|e| e.to_string())?;
    Ok(found.iter().map(|t| select::display_name(t)).collect())
}

/// What `restore --table` writes for `tables` (stored names), with the plan's warnings.
fn planned(dialect: Dialect, dump: &str, s: &[Section], tables: &[&str]) -> (String, Vec<String>) {
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let ddl = (select::ddl_sections(dialect, s, &tables).into_iter())
        .map(|i| {
            (
                i,
                dump.as_bytes()[s[i].start as usize..s[i].end as usize].to_vec(),
            )
        })
        .collect();
    let plan = select::plan(dialect, s, &tables, false, &ddl);
    let text = (plan.ranges.iter())
        .map(|r| &dump[r.start as usize..r.end as usize])
        .collect();
    (text, plan.warnings)
}

#[test]
fn postgres_names_with_dots_are_listed_and_selected_whole() {
    let s = sections(Dialect::Postgres, PG_DOTTED);
    let (oi, lines) = ("\"Sales.EU\".Order Items", "\"Sales.EU\".Lines.v2");
    let expect = [
        (lines, Some(3)),
        (oi, Some(2)),
        ("\"Sales.EU\".Parted.T", None),
        ("\"Sales.EU\".Parted.T p1", Some(1)),
        ("\"Sales.EU\".p2", Some(2)),
        ("public.Dot.Table", Some(1)),
        ("public.plain", Some(0)),
        ("public.q\"uote", Some(2)),
    ];
    let expect: Vec<_> = expect.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    assert_eq!(rows(&s), expect);
    for (ty, name, table) in [
        ("SCHEMA", "\"Sales.EU\"", None),
        ("TYPE", "\"Sales.EU\".mood.x", None),
        ("FUNCTION", "\"Sales.EU\".touch()", None),
        ("SEQUENCE", "\"Sales.EU\".Lines.v2_id_seq", Some(lines)),
        ("SEQUENCE SET", "\"Sales.EU\".Lines.v2_id_seq", Some(lines)),
        ("SEQUENCE", "\"Sales.EU\".Order Items_id_seq", Some(oi)),
        (
            "SEQUENCE OWNED BY",
            "\"Sales.EU\".Order Items_id_seq",
            Some(oi),
        ),
        ("SEQUENCE SET", "\"Sales.EU\".Order Items_id_seq", Some(oi)),
        ("COMMENT", "\"Sales.EU\".COLUMN \"Order Items\".n", Some(oi)),
        ("DEFAULT", "\"Sales.EU\".Order Items id", Some(oi)),
        (
            "CONSTRAINT",
            "\"Sales.EU\".Order Items Order Items_pkey",
            Some(oi),
        ),
        ("INDEX", "\"Sales.EU\".oi.n", Some(oi)),
        ("TRIGGER", "\"Sales.EU\".Order Items t.g", Some(oi)),
        (
            "FK CONSTRAINT",
            "\"Sales.EU\".Lines.v2 Lines.v2_item_fkey",
            Some(lines),
        ),
        (
            "INDEX",
            "\"Sales.EU\".Parted.T_v_idx",
            Some("\"Sales.EU\".Parted.T"),
        ),
        (
            "INDEX ATTACH",
            "\"Sales.EU\".p2_v_idx",
            Some("\"Sales.EU\".p2"),
        ),
        (
            "CONSTRAINT",
            "public.Dot.Table Dot.Table_pkey",
            Some("public.Dot.Table"),
        ),
    ] {
        assert_eq!(table_of(&s, ty, name), table, "{ty} {name}");
    }
    let attach: Vec<(&str, Option<&str>)> = (s.iter())
        .filter(|s| s.object_type == "TABLE ATTACH")
        .map(|s| (s.name.as_str(), s.table.as_deref()))
        .collect();
    let parted = "\"Sales.EU\".Parted.T";
    let parts = [Some("\"Sales.EU\".Parted.T p1"), Some("\"Sales.EU\".p2")];
    assert_eq!(attach, [(parted, parts[0]), (parted, parts[1])]);

    let listed: Vec<(String, &str, Option<String>)> = select::list_tables(&s)
        .into_iter()
        .map(|t| (t.display, t.kind.as_str(), t.partition_of))
        .collect();
    let part_of = Some(parted.to_string());
    let want = [
        ("\"Sales.EU\".\"Lines.v2\"", "table", None),
        ("\"Sales.EU\".\"Order Items\"", "table", None),
        ("\"Sales.EU\".\"Parted.T\"", "partitioned", None),
        ("\"Sales.EU\".\"Parted.T p1\"", "partition", part_of.clone()),
        ("\"Sales.EU\".p2", "partition", part_of),
        ("public.\"Dot.Table\"", "table", None),
        ("public.plain", "table", None),
        ("public.\"q\"\"uote\"", "table", None),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(d, k, p)| (d.to_string(), k, p))
        .collect();
    assert_eq!(listed, want);

    let one = Ok(vec!["\"Sales.EU\".\"Order Items\"".to_string()]);
    for pattern in [
        "\"Sales.EU\".\"Order Items\"",
        "\"Sales.EU\".Order Items",
        "\"Order Items\"",
        "Order Items",
        "Sales.EU.Order Items",
        "\"Sales.EU\".Order*",
    ] {
        assert_eq!(resolved(&s, pattern), one, "{pattern}");
    }
    let dot = Ok(vec!["public.\"Dot.Table\"".to_string()]);
    for pattern in [
        "public.\"Dot.Table\"",
        "\"Dot.Table\"",
        "Dot.Table",
        "public.Dot.Table",
    ] {
        assert_eq!(resolved(&s, pattern), dot, "{pattern}");
    }
    assert_eq!(resolved(&s, "\"Sales.EU\".*").unwrap().len(), 5);
    assert_eq!(resolved(&s, "\"Sales.EU\".\"Parted.T\"").unwrap().len(), 3);
    assert_eq!(
        resolved(&s, "q\"uote"),
        Ok(vec!["public.\"q\"\"uote\"".to_string()])
    );
    let err = resolved(&s, "\"Sales\".\"EU.Order Items\"").unwrap_err();
    assert!(
        err.contains("available tables: \"Sales.EU\".\"Lines.v2\", \"Sales.EU\".\"Order Items\", "),
        "{err}"
    );

    // Restoring the table brings its schema, column type, trigger function and sequence.
    let (text, warnings) = planned(Dialect::Postgres, PG_DOTTED, &s, &[oi]);
    for want in [
        "CREATE SCHEMA \"Sales.EU\";",
        "CREATE TYPE \"Sales.EU\".\"mood.x\"",
        "CREATE FUNCTION \"Sales.EU\".touch()",
        "CREATE TABLE \"Sales.EU\".\"Order Items\"",
        "CREATE SEQUENCE \"Sales.EU\".\"Order Items_id_seq\"",
        "COMMENT ON COLUMN \"Sales.EU\".\"Order Items\".n",
        "COPY \"Sales.EU\".\"Order Items\" (id, n, m) FROM stdin;\n1\ta\ta\n",
        "setval('\"Sales.EU\".\"Order Items_id_seq\"', 2, true)",
        "CREATE INDEX \"oi.n\"",
        "CREATE TRIGGER \"t.g\"",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(!text.contains("Lines.v2") && !text.contains("Parted") && !text.contains("public."));
    assert_eq!(warnings, Vec::<String>::new());
    // A foreign key to a table not restored is left out, naming both tables as `ls` does.
    let (text, warnings) = planned(Dialect::Postgres, PG_DOTTED, &s, &[lines]);
    assert!(text.contains("COPY \"Sales.EU\".\"Lines.v2\"") && !text.contains("REFERENCES"));
    assert!(text.contains("CREATE SCHEMA \"Sales.EU\";"));
    assert_eq!(
        warnings,
        [
            "left out foreign key \"Lines.v2_item_fkey\" of \"Sales.EU\".\"Lines.v2\" to \
          \"Sales.EU\".\"Order Items\", which is not restored (add --table \
          \"Sales.EU\".\"Order Items\" or --with-foreign-keys to keep it)"
        ]
    );
    let (text, warnings) = planned(Dialect::Postgres, PG_DOTTED, &s, &[lines, oi]);
    assert!(text.contains("REFERENCES \"Sales.EU\".\"Order Items\"(id)") && warnings.is_empty());
    // A partitioned table brings its partitions, their attachments and index attachments.
    let tables = select::resolve(&s, &["\"Sales.EU\".\"Parted.T\"".into()]).unwrap();
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    let (text, _) = planned(Dialect::Postgres, PG_DOTTED, &s, &tables);
    assert_eq!(text.matches("ATTACH PARTITION").count(), 4, "{text}");
    assert!(text.contains("COPY \"Sales.EU\".p2 (k, v) FROM stdin;\n11\tb\n12\tc\n\\.\n"));
}

#[test]
fn mysql_names_with_dots_are_one_name() {
    let s = sections(Dialect::MySql, MY_DOTTED);
    let expect = vec![
        ("\"Dot.Table\"".to_string(), Some(2)),
        ("plain".to_string(), Some(1)),
    ];
    assert_eq!(rows(&s), expect);
    let listed: Vec<String> = select::list_tables(&s)
        .into_iter()
        .map(|t| t.display)
        .collect();
    assert_eq!(listed, ["\"Dot.Table\"", "plain"]);
    let one = Ok(vec!["\"Dot.Table\"".to_string()]);
    for pattern in ["\"Dot.Table\"", "Dot.Table"] {
        assert_eq!(resolved(&s, pattern), one, "{pattern}");
    }
    // The index as written before names were quoted reads as it did then.
    let mut old = s.clone();
    for sec in &mut old {
        sec.name = sec.name.replace('"', "");
        sec.table = sec.table.as_ref().map(|t| t.replace('"', ""));
    }
    let listed: Vec<String> = (select::list_tables(&old).into_iter())
        .map(|t| t.display)
        .collect();
    assert_eq!(listed, ["\"Dot\".\"Table\"", "plain"]);
    let one = Ok(vec!["\"Dot\".\"Table\"".to_string()]);
    for pattern in ["\"Dot.Table\"", "Dot.Table", "\"Dot\".\"Table\""] {
        assert_eq!(resolved(&old, pattern), one, "{pattern}");
    }
    let (text, warnings) = planned(Dialect::MySql, MY_DOTTED, &s, &["plain"]);
    assert!(!text.contains("REFERENCES") && text.contains("KEY `fk.d` (`d`)\n) ENGINE"));
    assert_eq!(
        warnings,
        [
            "left out foreign key \"fk.d\" of plain to \"Dot.Table\", which is not restored (add \
          --table \"Dot.Table\" or --with-foreign-keys to keep it)"
        ]
    );
}

/// Real `pg_dump` output.
/// `restore --table` brings what a table's DDL needs beyond types and trigger functions
/// (probe finding 5): functions called by CHECK constraints (inline and `NOT VALID`), by a
/// domain's CHECK, generated columns and index expressions, and the functions those call;
/// a sequence a column default uses that the table does not own (shared, another table's
/// serial, another table's identity), with its value and grants, never its `OWNED BY`.
#[test]
fn postgres_table_brings_functions_and_sequences_its_ddl_uses() {
    let s = sections(Dialect::Postgres, PG_DEPS);
    let plan = |t: &str| planned(Dialect::Postgres, PG_DEPS, &s, &[t]);

    let (text, warnings) = plan("public.checked");
    for want in [
        "CREATE SCHEMA util;",
        "CREATE FUNCTION public.is_even(integer)",
        "CREATE FUNCTION public.is_small(integer)",
        // Called by is_small's body, which the CHECK calls.
        "CREATE FUNCTION public.helper(integer)",
        "CREATE FUNCTION util.positive(numeric)",
        "CREATE DOMAIN util.money_pos",
        "CREATE FUNCTION util.twice(integer)",
        "CREATE TABLE public.checked",
        "COPY public.checked (id, n, price) FROM stdin;\n2\t1\t2.5\n4\t2\t3.5\n\\.\n",
        "CREATE INDEX checked_expr ON public.checked USING btree (util.twice(n));",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    assert!(
        !text.contains("public.unused") && !text.contains("SEQUENCE"),
        "{text}"
    );
    assert_eq!(warnings, Vec::<String>::new());

    // A CHECK constraint pg_dump writes apart (NOT VALID).
    let (text, _) = plan("public.nv");
    assert!(
        text.contains("CREATE FUNCTION public.is_even(integer)"),
        "{text}"
    );
    assert!(text.contains("ADD CONSTRAINT nv_even CHECK (public.is_even(id)) NOT VALID;"));

    // A sequence shared by two tables: its definition, value and grant come with either.
    for (t, not) in [("public.a", "public.b"), ("public.b", "public.a")] {
        let (text, warnings) = plan(t);
        for want in [
            "CREATE SEQUENCE public.shared_seq\n",
            "SELECT pg_catalog.setval('public.shared_seq', 102, true);",
            "GRANT USAGE ON SEQUENCE public.shared_seq TO PUBLIC;",
        ] {
            assert!(text.contains(want), "{t}: {want} missing from:\n{text}");
        }
        assert!(!text.contains(&format!("CREATE TABLE {not} ")), "{text}");
        assert!(text.find("CREATE SEQUENCE") < text.find("CREATE TABLE"));
        assert_eq!(warnings, Vec::<String>::new());
    }

    // Another table's serial: the sequence and its value, not the table nor `OWNED BY`.
    let (text, warnings) = plan("public.uses_s");
    assert!(text.contains("CREATE SEQUENCE public.s_id_seq\n"), "{text}");
    assert!(text.contains("SELECT pg_catalog.setval('public.s_id_seq', 3, true);"));
    assert!(!text.contains("OWNED BY") && !text.contains("CREATE TABLE public.s "));
    assert_eq!(warnings, Vec::<String>::new());

    // Another table's identity sequence is made by that table's ALTER TABLE: the table's
    // definition comes along (no rows), with a warning.
    let (text, warnings) = plan("public.uses_ident");
    assert!(text.contains("CREATE TABLE public.ident ("), "{text}");
    assert!(text.contains("ADD GENERATED ALWAYS AS IDENTITY"));
    assert!(text.contains("SELECT pg_catalog.setval('public.ident_id_seq', 2, true);"));
    assert!(!text.contains("COPY public.ident ") && text.contains("COPY public.uses_ident "));
    assert_eq!(
        warnings,
        [
            "also created public.ident (definition only, no rows): a restored table's default \
             uses its identity sequence public.ident_id_seq (add --table public.ident to \
             restore its rows too)"
        ]
    );
}

const PG: &str = r#"--
-- PostgreSQL database dump
--

\restrict 018HGaG88dZjy8fhSQ2XzZHLVjG0iQ79byiPazx2aTpiofooEIvO9UqBzZaqNET

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: other; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA other;


ALTER SCHEMA other OWNER TO postgres;

--
-- Name: touch(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ begin new.memo := coalesce(new.memo,'') || ''; return new; end $$;


ALTER FUNCTION public.touch() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: orders; Type: TABLE; Schema: other; Owner: postgres
--

CREATE TABLE other.orders (
    x integer
);


ALTER TABLE other.orders OWNER TO postgres;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.customers (
    id integer NOT NULL,
    name text NOT NULL,
    note text
);


ALTER TABLE public.customers OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.customers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.customers_id_seq OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: orders; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id integer,
    total numeric(10,2) DEFAULT 0,
    memo text
);


ALTER TABLE public.orders OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

ALTER TABLE public.orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: customers id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);


--
-- Data for Name: orders; Type: TABLE DATA; Schema: other; Owner: postgres
--

COPY other.orders (x) FROM stdin;
1
2
\.


--
-- Data for Name: customers; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.customers (id, name, note) FROM stdin;
1	alice	line1\nline2
2	bob	tab\there
3	carol	back\\slash
4	d	\N
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.orders (id, customer_id, total, memo) FROM stdin;
1	1	10.50	a
2	1	200.00	multi\nline
3	2	3.00	\\.
4	3	150.00	
5	4	1.00	x
\.


--
-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.customers_id_seq', 4, true);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.orders_id_seq', 5, true);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: orders_customer_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id);


--
-- Name: orders orders_touch; Type: TRIGGER; Schema: public; Owner: postgres
--

CREATE TRIGGER orders_touch BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id);


--
-- PostgreSQL database dump complete
--

\unrestrict 018HGaG88dZjy8fhSQ2XzZHLVjG0iQ79byiPazx2aTpiofooEIvO9UqBzZaqNET

"#;

/// Real `mariadb-dump --routines --triggers --hex-blob` output.
const MY: &str = r#"/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: tblscan_sample_6934
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Temporary table structure for view `big_orders`
--

DROP TABLE IF EXISTS `big_orders`;
/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `big_orders` AS SELECT
 NULL AS `id`,
 NULL AS `customer_id`,
 NULL AS `total`,
 NULL AS `memo` */;
SET character_set_client = @saved_cs_client;

--
-- Table structure for table `customers`
--

DROP TABLE IF EXISTS `customers`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `customers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(50) NOT NULL,
  `note` text DEFAULT NULL,
  `pic` blob DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `customers`
--

LOCK TABLES `customers` WRITE;
/*!40000 ALTER TABLE `customers` DISABLE KEYS */;
INSERT INTO `customers` VALUES
(1,'alice','line1\nline2 (paren), comma',0x00FF0A27),
(2,'b\'ob','quote \" and \\ backslash);',NULL),
(3,'carol','),(',0x616263);
/*!40000 ALTER TABLE `customers` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `empty_t`
--

DROP TABLE IF EXISTS `empty_t`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `empty_t` (
  `a` int(11) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `empty_t`
--

LOCK TABLES `empty_t` WRITE;
/*!40000 ALTER TABLE `empty_t` DISABLE KEYS */;
/*!40000 ALTER TABLE `empty_t` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `orders`
--

DROP TABLE IF EXISTS `orders`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) DEFAULT NULL,
  `total` decimal(10,2) DEFAULT 0.00,
  `memo` text DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `fk_c` (`customer_id`),
  KEY `orders_total_idx` (`total`),
  CONSTRAINT `fk_c` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `orders`
--

LOCK TABLES `orders` WRITE;
/*!40000 ALTER TABLE `orders` DISABLE KEYS */;
INSERT INTO `orders` VALUES
(1,1,10.50,'a'),
(2,1,200.00,'multi\nline'),
(3,2,3.00,'-- Dumping data for table `x`'),
(4,3,150.00,NULL);
/*!40000 ALTER TABLE `orders` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`127.0.0.1`*/ /*!50003 trigger orders_bi before insert on orders for each row begin set new.memo = concat(coalesce(new.memo,''), ''); end 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Dumping routines for database 'tblscan_sample_6934'
--
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP FUNCTION IF EXISTS `dbl` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb3 */ ;
/*!50003 SET character_set_results = utf8mb3 */ ;
/*!50003 SET collation_connection  = utf8mb3_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`root`@`127.0.0.1` FUNCTION `dbl`(x int) RETURNS int(11)
    DETERMINISTIC
begin return x*2; end
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Final view structure for view `big_orders`
--

/*!50001 DROP VIEW IF EXISTS `big_orders`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb3 */;
/*!50001 SET character_set_results     = utf8mb3 */;
/*!50001 SET collation_connection      = utf8mb3_general_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`root`@`127.0.0.1` SQL SECURITY DEFINER */
/*!50001 VIEW `big_orders` AS select `orders`.`id` AS `id`,`orders`.`customer_id` AS `customer_id`,`orders`.`total` AS `total`,`orders`.`memo` AS `memo` from `orders` where `orders`.`total` > 100 */;
/*!50001 SET character_set_client      = @saved_cs_client */;
/*!50001 SET character_set_results     = @saved_cs_results */;
/*!50001 SET collation_connection      = @saved_col_connection */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2026-11-23 19:20:34
"#;

/// Real `sqlite3 .dump` output.
const LITE: &str = r#"PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE customers (id integer primary key autoincrement, name text not null, note text -- it's a comment
);
INSERT INTO customers VALUES(1,'alice','x;y');
INSERT INTO customers VALUES(2,'bob','x;y');
INSERT INTO customers VALUES(3,'c',NULL);
INSERT INTO customers VALUES(4,'a',NULL);
INSERT INTO customers VALUES(5,'a',NULL);
INSERT INTO customers VALUES(6,'a',NULL);
CREATE TABLE IF NOT EXISTS "order items" (id int, customer_id int references customers(id), memo text, data blob);
INSERT INTO "order items" VALUES(1,1,'a',X'00ff');
INSERT INTO "order items" VALUES(2,1,replace('CREATE TABLE x(a);\nINSERT INTO y VALUES(1);','\n',char(10)),NULL);
INSERT INTO "order items" VALUES(3,2,'(),(',NULL);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('customers',6);
CREATE INDEX oi_idx on "order items"(customer_id);
CREATE VIEW v_big as select * from "order items" where id > 1;
CREATE TRIGGER trg_ins after insert on "order items" begin update customers set note = 'x;y' where id = new.customer_id; insert into customers(name) values ('a'); end;
CREATE TRIGGER trg2 after delete on customers
begin
  select case when old.id > 0 then 1 else 2 end;
end;
COMMIT;
"#;

/// Real `pg_dump` output: a schema, tables, a type, an index and a trigger whose names hold
/// dots, a partitioned table, a foreign key, a name with a double quote.
const PG_DOTTED: &str = r#"--
-- PostgreSQL database dump
--

\restrict EZIJM77CMvn8S4yl0DC9pjnybrhjnH19eZ8CoiA7fZEIZgTGgCphnw7WRTAaeT3

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: Sales.EU; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA "Sales.EU";


ALTER SCHEMA "Sales.EU" OWNER TO postgres;

--
-- Name: mood.x; Type: TYPE; Schema: Sales.EU; Owner: postgres
--

CREATE TYPE "Sales.EU"."mood.x" AS ENUM (
    'a',
    'b'
);


ALTER TYPE "Sales.EU"."mood.x" OWNER TO postgres;

--
-- Name: touch(); Type: FUNCTION; Schema: Sales.EU; Owner: postgres
--

CREATE FUNCTION "Sales.EU".touch() RETURNS trigger
    LANGUAGE plpgsql
    AS $$BEGIN RETURN NEW; END$$;


ALTER FUNCTION "Sales.EU".touch() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Lines.v2; Type: TABLE; Schema: Sales.EU; Owner: postgres
--

CREATE TABLE "Sales.EU"."Lines.v2" (
    id integer NOT NULL,
    item integer,
    q text
);


ALTER TABLE "Sales.EU"."Lines.v2" OWNER TO postgres;

--
-- Name: Lines.v2_id_seq; Type: SEQUENCE; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE "Sales.EU"."Lines.v2" ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME "Sales.EU"."Lines.v2_id_seq"
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: Order Items; Type: TABLE; Schema: Sales.EU; Owner: postgres
--

CREATE TABLE "Sales.EU"."Order Items" (
    id integer NOT NULL,
    n text,
    m "Sales.EU"."mood.x"
);


ALTER TABLE "Sales.EU"."Order Items" OWNER TO postgres;

--
-- Name: COLUMN "Order Items".n; Type: COMMENT; Schema: Sales.EU; Owner: postgres
--

COMMENT ON COLUMN "Sales.EU"."Order Items".n IS 'note';


--
-- Name: Order Items_id_seq; Type: SEQUENCE; Schema: Sales.EU; Owner: postgres
--

CREATE SEQUENCE "Sales.EU"."Order Items_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE "Sales.EU"."Order Items_id_seq" OWNER TO postgres;

--
-- Name: Order Items_id_seq; Type: SEQUENCE OWNED BY; Schema: Sales.EU; Owner: postgres
--

ALTER SEQUENCE "Sales.EU"."Order Items_id_seq" OWNED BY "Sales.EU"."Order Items".id;


--
-- Name: Parted.T; Type: TABLE; Schema: Sales.EU; Owner: postgres
--

CREATE TABLE "Sales.EU"."Parted.T" (
    k integer,
    v text
)
PARTITION BY RANGE (k);


ALTER TABLE "Sales.EU"."Parted.T" OWNER TO postgres;

--
-- Name: Parted.T p1; Type: TABLE; Schema: Sales.EU; Owner: postgres
--

CREATE TABLE "Sales.EU"."Parted.T p1" (
    k integer,
    v text
);


ALTER TABLE "Sales.EU"."Parted.T p1" OWNER TO postgres;

--
-- Name: p2; Type: TABLE; Schema: Sales.EU; Owner: postgres
--

CREATE TABLE "Sales.EU".p2 (
    k integer,
    v text
);


ALTER TABLE "Sales.EU".p2 OWNER TO postgres;

--
-- Name: Dot.Table; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public."Dot.Table" (
    id integer NOT NULL
);


ALTER TABLE public."Dot.Table" OWNER TO postgres;

--
-- Name: plain; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.plain (
    id integer
);


ALTER TABLE public.plain OWNER TO postgres;

--
-- Name: q"uote; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public."q""uote" (
    id integer
);


ALTER TABLE public."q""uote" OWNER TO postgres;

--
-- Name: Parted.T p1; Type: TABLE ATTACH; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Parted.T" ATTACH PARTITION "Sales.EU"."Parted.T p1" FOR VALUES FROM (0) TO (10);


--
-- Name: p2; Type: TABLE ATTACH; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Parted.T" ATTACH PARTITION "Sales.EU".p2 FOR VALUES FROM (10) TO (20);


--
-- Name: Order Items id; Type: DEFAULT; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Order Items" ALTER COLUMN id SET DEFAULT nextval('"Sales.EU"."Order Items_id_seq"'::regclass);


--
-- Data for Name: Lines.v2; Type: TABLE DATA; Schema: Sales.EU; Owner: postgres
--

COPY "Sales.EU"."Lines.v2" (id, item, q) FROM stdin;
1	1	x
2	2	y
3	1	z
\.


--
-- Data for Name: Order Items; Type: TABLE DATA; Schema: Sales.EU; Owner: postgres
--

COPY "Sales.EU"."Order Items" (id, n, m) FROM stdin;
1	a	a
2	b	b
\.


--
-- Data for Name: Parted.T p1; Type: TABLE DATA; Schema: Sales.EU; Owner: postgres
--

COPY "Sales.EU"."Parted.T p1" (k, v) FROM stdin;
1	a
\.


--
-- Data for Name: p2; Type: TABLE DATA; Schema: Sales.EU; Owner: postgres
--

COPY "Sales.EU".p2 (k, v) FROM stdin;
11	b
12	c
\.


--
-- Data for Name: Dot.Table; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public."Dot.Table" (id) FROM stdin;
1
\.


--
-- Data for Name: plain; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.plain (id) FROM stdin;
\.


--
-- Data for Name: q"uote; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public."q""uote" (id) FROM stdin;
1
2
\.


--
-- Name: Lines.v2_id_seq; Type: SEQUENCE SET; Schema: Sales.EU; Owner: postgres
--

SELECT pg_catalog.setval('"Sales.EU"."Lines.v2_id_seq"', 3, true);


--
-- Name: Order Items_id_seq; Type: SEQUENCE SET; Schema: Sales.EU; Owner: postgres
--

SELECT pg_catalog.setval('"Sales.EU"."Order Items_id_seq"', 2, true);


--
-- Name: Lines.v2 Lines.v2_pkey; Type: CONSTRAINT; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Lines.v2"
    ADD CONSTRAINT "Lines.v2_pkey" PRIMARY KEY (id);


--
-- Name: Order Items Order Items_pkey; Type: CONSTRAINT; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Order Items"
    ADD CONSTRAINT "Order Items_pkey" PRIMARY KEY (id);


--
-- Name: Dot.Table Dot.Table_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public."Dot.Table"
    ADD CONSTRAINT "Dot.Table_pkey" PRIMARY KEY (id);


--
-- Name: Parted.T_v_idx; Type: INDEX; Schema: Sales.EU; Owner: postgres
--

CREATE INDEX "Parted.T_v_idx" ON ONLY "Sales.EU"."Parted.T" USING btree (v);


--
-- Name: Parted.T p1_v_idx; Type: INDEX; Schema: Sales.EU; Owner: postgres
--

CREATE INDEX "Parted.T p1_v_idx" ON "Sales.EU"."Parted.T p1" USING btree (v);


--
-- Name: oi.n; Type: INDEX; Schema: Sales.EU; Owner: postgres
--

CREATE INDEX "oi.n" ON "Sales.EU"."Order Items" USING btree (n);


--
-- Name: p2_v_idx; Type: INDEX; Schema: Sales.EU; Owner: postgres
--

CREATE INDEX p2_v_idx ON "Sales.EU".p2 USING btree (v);


--
-- Name: Parted.T p1_v_idx; Type: INDEX ATTACH; Schema: Sales.EU; Owner: postgres
--

ALTER INDEX "Sales.EU"."Parted.T_v_idx" ATTACH PARTITION "Sales.EU"."Parted.T p1_v_idx";


--
-- Name: p2_v_idx; Type: INDEX ATTACH; Schema: Sales.EU; Owner: postgres
--

ALTER INDEX "Sales.EU"."Parted.T_v_idx" ATTACH PARTITION "Sales.EU".p2_v_idx;


--
-- Name: Order Items t.g; Type: TRIGGER; Schema: Sales.EU; Owner: postgres
--

CREATE TRIGGER "t.g" BEFORE INSERT ON "Sales.EU"."Order Items" FOR EACH ROW EXECUTE FUNCTION "Sales.EU".touch();


--
-- Name: Lines.v2 Lines.v2_item_fkey; Type: FK CONSTRAINT; Schema: Sales.EU; Owner: postgres
--

ALTER TABLE ONLY "Sales.EU"."Lines.v2"
    ADD CONSTRAINT "Lines.v2_item_fkey" FOREIGN KEY (item) REFERENCES "Sales.EU"."Order Items"(id);


--
-- PostgreSQL database dump complete
--

\unrestrict EZIJM77CMvn8S4yl0DC9pjnybrhjnH19eZ8CoiA7fZEIZgTGgCphnw7WRTAaeT3

"#;

/// Real `mariadb-dump` output: a table whose name holds a dot, a foreign key to it.
const MY_DOTTED: &str = r#"/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: c_dotted_my
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `Dot.Table`
--

DROP TABLE IF EXISTS `Dot.Table`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `Dot.Table` (
  `id` int(11) NOT NULL,
  `v` text DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `Dot.Table`
--

LOCK TABLES `Dot.Table` WRITE;
/*!40000 ALTER TABLE `Dot.Table` DISABLE KEYS */;
INSERT INTO `Dot.Table` VALUES
(1,'a'),
(2,'b');
/*!40000 ALTER TABLE `Dot.Table` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `plain`
--

DROP TABLE IF EXISTS `plain`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `plain` (
  `id` int(11) NOT NULL,
  `d` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `fk.d` (`d`),
  CONSTRAINT `fk.d` FOREIGN KEY (`d`) REFERENCES `Dot.Table` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `plain`
--

LOCK TABLES `plain` WRITE;
/*!40000 ALTER TABLE `plain` DISABLE KEYS */;
INSERT INTO `plain` VALUES
(1,1);
/*!40000 ALTER TABLE `plain` ENABLE KEYS */;
UNLOCK TABLES;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed
"#;

/// pg_dump writes a name holding a newline over two lines in statements, and with a space in
/// its one-line headers (probe finding 12).
const PG_NEWLINE: &str = "--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

--
-- Name: new line; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.\"new
line\" (
    id integer NOT NULL,
    \"col
nl\" text
);


--
-- Name: new line; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.\"new line\" (
    id integer NOT NULL
);


--
-- Data for Name: new line; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.\"new
line\" (id, \"col
nl\") FROM stdin;
1\tx
2\ty
\\.


--
-- Data for Name: new line; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.\"new line\" (id) FROM stdin;
7
\\.


--
-- Name: new line new line_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.\"new
line\"
    ADD CONSTRAINT \"new
line_pkey\" PRIMARY KEY (id);


--
-- PostgreSQL database dump complete
--

";

#[test]
fn postgres_names_with_newlines_are_read_from_their_statements() {
    let s = sections(Dialect::Postgres, PG_NEWLINE);
    // Both tables, told apart, with their rows (the two-line COPY header was 0 rows).
    assert_eq!(
        rows(&s),
        vec![
            ("public.new\nline".to_string(), Some(2)),
            ("public.new line".to_string(), Some(1)),
        ]
    );
    let tables: Vec<_> = (s.iter())
        .filter(|s| s.object_type == "TABLE")
        .map(|s| s.table.clone().unwrap())
        .collect();
    assert_eq!(tables, ["public.new\nline", "public.new line"]);
    assert_eq!(
        table_of(&s, "CONSTRAINT", "public.new line new line_pkey"),
        Some("public.new\nline")
    );
    // `ls` prints the newline escaped, apart from the space, and `--table` reads it back.
    let shown: Vec<_> = (select::list_tables(&s).into_iter())
        .map(|t| t.display)
        .collect();
    assert_eq!(
        shown,
        [r#"public.U&"new\000aline""#, r#"public."new line""#]
    );
    assert_eq!(
        resolved(&s, r#"public.U&"new\000aline""#),
        Ok(vec![r#"public.U&"new\000aline""#.to_string()])
    );
    assert_eq!(
        resolved(&s, r#"public."new line""#),
        Ok(vec![r#"public."new line""#.to_string()])
    );
    let one = select(PG_NEWLINE, &s, &["public.new\nline"]);
    assert!(
        one.contains("1\tx\n2\ty\n") && !one.contains("\n7\n"),
        "{one}"
    );
    assert_eq!(
        select::display_name(r#"a.back\slash"#),
        r#"a."back\slash""#,
        "no control character: quoted as before"
    );
    assert_eq!(
        select::display_name("a.b\\\t\"c"),
        r#"a.U&"b\\\0009""c""#,
        "backslash doubled, tab escaped, quote doubled"
    );
}

#[test]
fn mysql_sequences_before_the_first_table_are_schema_not_preamble() {
    let dump = "/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: shop
-- ------------------------------------------------------
-- Server version\t10.11.6-MariaDB

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;

--
-- Sequence structure for `s1`
--

DROP SEQUENCE IF EXISTS `s1`;
CREATE SEQUENCE `s1` start with 50 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB;
DO SETVAL(`s1`, 50, 0);

--
-- Table structure for table `orders`
--

DROP TABLE IF EXISTS `orders`;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL DEFAULT nextval(`s1`),
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;

--
-- Dumping data for table `orders`
--

LOCK TABLES `orders` WRITE;
INSERT INTO `orders` VALUES
(1),
(2);
UNLOCK TABLES;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;

-- Dump completed
";
    let s = sections(Dialect::MySql, dump);
    let pre = &s[0];
    assert_eq!(pre.kind, SectionKind::Preamble);
    let text = &dump[pre.start as usize..pre.end as usize];
    assert!(!text.contains("SEQUENCE"), "{text}");
    let seq = (s.iter().find(|s| s.object_type == "SEQUENCE")).expect("a SEQUENCE section");
    assert_eq!((seq.kind, seq.name.as_str()), (SectionKind::Schema, "s1"));
    let text = &dump[seq.start as usize..seq.end as usize];
    assert!(text.starts_with("--\n-- Sequence structure") && text.contains("DO SETVAL"));
    assert_eq!(rows(&s), vec![("orders".to_string(), Some(2))]);
    // `restore --table orders` still brings the sequence its default uses.
    let (picked, _) = planned(Dialect::MySql, dump, &s, &["orders"]);
    assert!(picked.contains("CREATE SEQUENCE `s1`"), "{picked}");
    // A statement of a kind this scanner has no header for, before the first table: schema.
    let other = dump.replace("-- Sequence structure for `s1`", "-- Something else");
    let s = sections(Dialect::MySql, &other);
    let text = &other[s[0].start as usize..s[0].end as usize];
    assert!(!text.contains("CREATE SEQUENCE"), "{text}");
    assert!(s
        .iter()
        .any(|x| x.kind == SectionKind::Schema && x.object_type == "DDL"));
    // A snapshot taken before this kept the sequence in its preamble: a parallel restore
    // starts each session with the preamble's session lines only.
    let old_preamble = &dump[..dump.find("--\n-- Table structure").unwrap()];
    let kept = String::from_utf8(mysql_session_lines(old_preamble.as_bytes())).unwrap();
    assert!(kept.contains("/*!40101 SET NAMES utf8mb4 */;\n"), "{kept}");
    assert!(kept.starts_with("/*M!999999"), "{kept}");
    assert!(
        !kept.contains("SEQUENCE") && !kept.contains("SETVAL"),
        "{kept}"
    );
}

/// pg_dump 15 (`--no-owner`) of `tests/integration/table_deps.rs`'s source schema, with
/// `public.unused`, `public.nv` (a `NOT VALID` CHECK) and `public.uses_ident` added.
const PG_DEPS: &str = r#"--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: util; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA util;


--
-- Name: positive(numeric); Type: FUNCTION; Schema: util; Owner: -
--

CREATE FUNCTION util.positive(numeric) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$SELECT $1 > 0$_$;


--
-- Name: money_pos; Type: DOMAIN; Schema: util; Owner: -
--

CREATE DOMAIN util.money_pos AS numeric
	CONSTRAINT money_pos_check CHECK (util.positive(VALUE));


--
-- Name: helper(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.helper(integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$SELECT $1 < 1000$_$;


--
-- Name: is_even(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.is_even(integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$SELECT $1 % 2 = 0$_$;


--
-- Name: is_small(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.is_small(integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $_$SELECT public.helper($1)$_$;


--
-- Name: unused(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.unused(integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$SELECT true$$;


--
-- Name: twice(integer); Type: FUNCTION; Schema: util; Owner: -
--

CREATE FUNCTION util.twice(integer) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $_$SELECT $1 * 2$_$;


--
-- Name: shared_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.shared_seq
    START WITH 100
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: a; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.a (
    id bigint DEFAULT nextval('public.shared_seq'::regclass) NOT NULL,
    v text
);


--
-- Name: b; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.b (
    id bigint DEFAULT nextval('public.shared_seq'::regclass) NOT NULL,
    v text
);


--
-- Name: checked; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.checked (
    id integer NOT NULL,
    n integer,
    price util.money_pos,
    d integer GENERATED ALWAYS AS (util.twice(id)) STORED,
    CONSTRAINT checked_id_check CHECK (public.is_even(id)),
    CONSTRAINT checked_n_check CHECK (public.is_small(n))
);


--
-- Name: ident; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ident (
    id integer NOT NULL
);


--
-- Name: ident_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.ident ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ident_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: nv; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.nv (
    id integer NOT NULL
);


--
-- Name: s; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.s (
    id integer NOT NULL
);


--
-- Name: s_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.s_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: s_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.s_id_seq OWNED BY public.s.id;


--
-- Name: uses_ident; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.uses_ident (
    id integer DEFAULT nextval('public.ident_id_seq'::regclass) NOT NULL
);


--
-- Name: uses_s; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.uses_s (
    id integer DEFAULT nextval('public.s_id_seq'::regclass) NOT NULL,
    v text
);


--
-- Name: s id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.s ALTER COLUMN id SET DEFAULT nextval('public.s_id_seq'::regclass);


--
-- Data for Name: a; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.a (id, v) FROM stdin;
100	x
101	y
\.


--
-- Data for Name: b; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.b (id, v) FROM stdin;
102	z
\.


--
-- Data for Name: checked; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.checked (id, n, price) FROM stdin;
2	1	2.5
4	2	3.5
\.


--
-- Data for Name: ident; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ident (id) FROM stdin;
1
\.


--
-- Data for Name: nv; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.nv (id) FROM stdin;
3
4
\.


--
-- Data for Name: s; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.s (id) FROM stdin;
1
\.


--
-- Data for Name: uses_ident; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.uses_ident (id) FROM stdin;
2
\.


--
-- Data for Name: uses_s; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.uses_s (id, v) FROM stdin;
2	p
3	q
\.


--
-- Name: ident_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ident_id_seq', 2, true);


--
-- Name: s_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.s_id_seq', 3, true);


--
-- Name: shared_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.shared_seq', 102, true);


--
-- Name: a a_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.a
    ADD CONSTRAINT a_pkey PRIMARY KEY (id);


--
-- Name: b b_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.b
    ADD CONSTRAINT b_pkey PRIMARY KEY (id);


--
-- Name: checked checked_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.checked
    ADD CONSTRAINT checked_pkey PRIMARY KEY (id);


--
-- Name: ident ident_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ident
    ADD CONSTRAINT ident_pkey PRIMARY KEY (id);


--
-- Name: nv nv_even; Type: CHECK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE public.nv
    ADD CONSTRAINT nv_even CHECK (public.is_even(id)) NOT VALID;


--
-- Name: nv nv_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.nv
    ADD CONSTRAINT nv_pkey PRIMARY KEY (id);


--
-- Name: s s_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.s
    ADD CONSTRAINT s_pkey PRIMARY KEY (id);


--
-- Name: uses_ident uses_ident_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.uses_ident
    ADD CONSTRAINT uses_ident_pkey PRIMARY KEY (id);


--
-- Name: uses_s uses_s_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.uses_s
    ADD CONSTRAINT uses_s_pkey PRIMARY KEY (id);


--
-- Name: checked_expr; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX checked_expr ON public.checked USING btree (util.twice(n));


--
-- Name: SEQUENCE shared_seq; Type: ACL; Schema: public; Owner: -
--

GRANT USAGE ON SEQUENCE public.shared_seq TO PUBLIC;


--
-- PostgreSQL database dump complete
--


"#;
