//! Tests of the SQLite source and restore target on real databases (rusqlite's bundled SQLite):
//! round trips of both forms, snapshots under concurrent writers, statement splitting on
//! restore, refusal and cleanup on errors.

use super::*;
use crate::source::{Dialect, DumpSource, SourceInfo};
use rusqlite::Connection;
use std::io::Read;
use std::sync::mpsc;
use SqliteFormat::{Image, Sql};

fn read_all(mut src: Box<dyn DumpSource>) -> (Vec<u8>, SourceInfo) {
    let mut bytes = Vec::new();
    src.read_to_end(&mut bytes).unwrap();
    (bytes, src.finish().unwrap())
}

fn dump(path: &Path, format: SqliteFormat) -> Vec<u8> {
    read_all(open_source(path, format).unwrap()).0
}

fn restore(path: &Path, dump: &[u8], format: SqliteFormat, drop: bool) -> Result<(), SourceError> {
    restore_into(path, &mut &dump[..], format, drop, &|| {})
}

/// Schema entries and every table's sorted rows, values in exact, typed `Debug` form.
fn contents(path: &Path) -> Vec<Vec<Vec<String>>> {
    let conn = Connection::open(path).unwrap();
    let all = |sql: &str| {
        let n = conn.prepare(sql).unwrap().column_count();
        let row = |r: &Row<'_>| (0..n).map(|i| Ok(format!("{:?}", r.get_ref(i)?))).collect();
        let mut rows: Vec<Vec<String>> = all_rows(&conn, sql, [], row).unwrap();
        rows.sort();
        rows
    };
    let mut out = vec![all("SELECT type, name, tbl_name, sql FROM sqlite_schema")];
    let sql = "SELECT name FROM sqlite_schema WHERE type = 'table'";
    for table in all_rows(&conn, sql, [], |r| r.get::<_, String>(0)).unwrap() {
        out.push(all(&format!("SELECT * FROM {}", quote_ident(&table))));
    }
    out
}

/// Reads its bytes at most `.1` bytes per call, so statements cross buffer boundaries.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// The statements `sql` splits into on restore, checked to be the same for several slicings,
/// and whether it ends between statements.
fn statements(sql: &str) -> (Vec<String>, bool) {
    let split = |step: usize| {
        let mut out = Vec::new();
        let mut input = Trickle(sql.as_bytes(), step);
        let (n, at_rest) = load::split_statements(&mut input, "test", |n, s| {
            assert_eq!(n, out.len() + 1);
            out.push(String::from_utf8(s.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        assert_eq!(n, out.len());
        (out, at_rest)
    };
    let whole = split(sql.len().max(1));
    for step in [1, 2, 3, 7, 64] {
        assert_eq!(split(step), whole, "step {step}");
    }
    whole
}

fn query(path: &Path, sql: &str) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn url_parsing_and_statement_splitting() {
    let ok = |url| parse_url(url).unwrap();
    assert_eq!(ok("sqlite:///abs/p.db"), Path::new("/abs/p.db"));
    assert_eq!(ok("sqlite://rel/p.db"), Path::new("rel/p.db"));
    assert_eq!(ok("SQLite:rel.db"), Path::new("rel.db"));
    assert!(parse_url("postgres://x").is_err() && parse_url("sqlite://").is_err());
    let sql = "INSERT INTO t VALUES('a;''b', \"c;\" /* ; */, [d;]);-- x;\nCREATE TRIGGER tr \
                   AFTER INSERT ON t BEGIN UPDATE t SET a = CASE WHEN 1 THEN 2 END; SELECT 'END;'; \
                   END;CREATE TEMP TABLE end(x);SELECT 1-/**/-1 /";
    let (got, at_rest) = statements(sql);
    let (trigger, table) = (&got[1], &got[2]);
    assert!(trigger.starts_with("-- x;\nCREATE TRIGGER") && trigger.ends_with("'END;'; END;"));
    assert_eq!(table, "CREATE TEMP TABLE end(x);");
    assert!(got.len() == 3 && !at_rest);
}

/// A `.dump` whose statements hold `;` in strings, quoted names, comments (`/*/` opens one),
/// `CASE … END`, a trigger's `WHEN` clause and columns named `end`.
pub(crate) const EDGE: &str = "PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a, \"end\", [b;c] /*/ ;
INSERT INTO log VALUES('comment'); */ , d -- ; comment
);
CREATE TABLE log(m);
INSERT INTO t VALUES('x;y','END;',';','--');
CREATE TRIGGER tw AFTER INSERT ON t WHEN CASE WHEN new.a = 'go' THEN 1 END
BEGIN
  INSERT INTO log VALUES('tw;' || new.\"end\");
  UPDATE t SET end = 'done; END' WHERE a = 'go';
END;
CREATE TRIGGER te AFTER UPDATE ON t BEGIN
  INSERT INTO log VALUES(CASE WHEN new.end = 'x' THEN 'a' ELSE 'b;' END);
END;
CREATE TRIGGER tu AFTER DELETE ON t BEGIN
  UPDATE t SET end = 'gone';
  INSERT INTO log VALUES('tu');
END;
INSERT INTO t VALUES('go','e','f','g');
COMMIT;
";

#[test]
fn statements_end_where_sqlite_ends_them() {
    let (got, at_rest) = statements(EDGE);
    let firsts: Vec<&str> = got
        .iter()
        .map(|s| s.trim_start().split(' ').next().unwrap())
        .collect();
    let want = [
        "PRAGMA", "BEGIN", "CREATE", "CREATE", "INSERT", "CREATE", "CREATE", "CREATE",
    ];
    assert_eq!(firsts[..8], want);
    assert_eq!((got.len(), at_rest), (10, true));
    assert!(got[5].ends_with("WHERE a = 'go';\nEND;") && got[7].ends_with("VALUES('tu');\nEND;"));
    for tail in [
        "-",
        "/",
        "/* x",
        "'",
        "end",
        "CREATE TRIGGER x BEGIN SELECT 1; END",
    ] {
        assert!(!statements(&format!("SELECT 1;{tail}")).1, "{tail:?}");
    }
    assert!(statements("SELECT 1; -- x").1);
}

#[test]
fn restore_splits_statements_where_sqlite_does() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("edge.db");
    restore(&target, EDGE.as_bytes(), Sql, false).unwrap();
    let conn = Connection::open(&target).unwrap();
    let text = |r: &Row<'_>| r.get::<_, String>(0);
    let log = all_rows(&conn, "SELECT m FROM log ORDER BY rowid", [], text).unwrap();
    assert_eq!(log, ["tw;e", "b;"]);
    let sql = "SELECT a || '|' || \"end\" || '|' || \"b;c\" FROM t ORDER BY rowid";
    let rows = all_rows(&conn, sql, [], text).unwrap();
    assert_eq!(rows, ["x;y|END;|;", "go|done; END|f"]);
}

#[test]
fn sql_and_image_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("shop.db");
    let conn = Connection::open(&src).unwrap();
    conn.execute_batch(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n, rowid);
             CREATE TABLE seq(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
             CREATE TABLE kv(k TEXT, j INTEGER, v, g AS (j * 2), PRIMARY KEY (j, k)) WITHOUT ROWID;
             CREATE TABLE \"odd \"\"name\"\"\"(x -- comment
             );
             CREATE VIRTUAL TABLE ft USING fts5(body);
             CREATE INDEX t_s ON t(s, i);
             CREATE VIEW v AS SELECT id, s FROM t WHERE i > 0;
             CREATE TRIGGER tr AFTER INSERT ON t BEGIN
               INSERT INTO seq(v) VALUES ('row;' || NEW.id);
               UPDATE t SET n = CASE WHEN NEW.n IS NULL THEN 'x' END WHERE 0;
             END;
             CREATE TRIGGER vi INSTEAD OF INSERT ON v BEGIN INSERT INTO t(s) VALUES (NEW.s); END;
             INSERT INTO ft VALUES ('hello world'), ('dedup backups');
             INSERT INTO \"odd \"\"name\"\"\" VALUES (1), ('two');
             INSERT INTO t(i, s) VALUES (1, CAST(X'ff00fe' AS TEXT)); DELETE FROM seq;
             BEGIN; INSERT INTO v(s) VALUES ('via view'); ANALYZE;",
    )
    .unwrap();
    let texts = [
        "it's",
        "line1\nline2\r\n",
        "ünïcødé ✓ 😀",
        "",
        "a;b -- c /*",
        "nul\0in",
    ];
    let reals = [0.1, 1e300, -1e-300, 1.0 / 3.0, -0.0, 5e-324, f64::MAX, 1e16];
    let insert = "INSERT INTO t(i, r, s, b, n, rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    for (k, r) in reals.into_iter().chain([f64::INFINITY]).enumerate() {
        let blob: Vec<u8> = (0..=255u8).cycle().skip(k).take(k * 100).collect();
        let (i, s, n) = (
            [i64::MIN, i64::MAX, 0][k % 3],
            texts[k % 6],
            Some(r).filter(|_| k % 2 == 1),
        );
        conn.execute(insert, (i, r, s, blob, n, k as i64)).unwrap();
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let f = Some(f64::from_bits(rng))
            .filter(|f| f.is_finite())
            .unwrap_or(1.5);
        let sql = "INSERT INTO kv(k, j, v) VALUES ('r', ?1, ?2)";
        conn.execute(sql, (rng as i64, f)).unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();

    let (sql, info) = read_all(open_source(&src, Sql).unwrap());
    assert_eq!(
        (info.kind.as_str(), info.database.as_deref()),
        ("sqlite", Some("shop.db"))
    );
    let path = format!("path={}", std::path::absolute(&src).unwrap().display());
    assert_eq!(
        (info.dialect, &info.options[..]),
        (
            Some(Dialect::Sqlite),
            &["format=sql".into(), path.clone()][..]
        )
    );
    assert_eq!(info.identity(), Some(format!("sqlite {}", &path[5..])));
    assert_eq!(
        info.tool_version,
        Some(format!("SQLite {}", rusqlite::version()))
    );
    let text = String::from_utf8(sql.clone()).unwrap();
    assert!(text.starts_with("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t("));
    assert!(text.ends_with("PRAGMA writable_schema=OFF;\nCOMMIT;\n"));
    assert!(text
        .contains("\nINSERT INTO \"t\" VALUES(3,-9223372036854775808,0.1,'it''s',X'',NULL,0);\n"));
    assert!(text.contains(
        "\nINSERT INTO \"t\" VALUES(4,9223372036854775807,1e300,'line1\nline2\r\n',X'0102"
    ));
    // -1e-300 is one SQLite parses one ulp off from its shortest text: written exactly.
    assert!(text.contains(",(-"));
    assert!(text.contains("CAST(X'6e756c00696e' AS TEXT)") && text.contains(",1e999,"));
    let restored = dir.path().join("restored.db");
    restore(&restored, &sql, Sql, false).unwrap();
    assert_eq!(query(&restored, "PRAGMA integrity_check"), "ok");
    assert_eq!(contents(&src), contents(&restored));
    let fts = "SELECT body FROM ft WHERE ft MATCH 'dedup'";
    assert_eq!(query(&restored, fts), "dedup backups");
    let counts = table_row_counts(&restored).unwrap();
    assert_eq!(counts, table_row_counts(&src).unwrap());
    let expected = [("kv", 2000), ("odd \"name\"", 2), ("seq", 10), ("t", 11)];
    assert_eq!(counts, expected.map(|(t, n)| (t.to_string(), n)).into());
    assert!(
        dump(&restored, Sql) == sql,
        "dump of the restored database differs"
    );

    let (image, info) = read_all(open_source(&src, Image).unwrap());
    assert_eq!(
        (info.dialect, &info.options[..]),
        (None, &["format=image".into(), path][..])
    );
    let from_image = dir.path().join("image.db");
    restore(&from_image, &image, Image, false).unwrap();
    assert_eq!(contents(&src), contents(&from_image));
}

#[test]
fn snapshot_while_another_thread_writes() {
    for mode in ["wal", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("busy.db");
        let conn = Connection::open(&src).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", mode, |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB); CREATE TABLE c(n INTEGER);
                 WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
                 INSERT INTO t(pad) SELECT randomblob(3000) FROM s; INSERT INTO c VALUES (1000);",
        )
        .unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let writer_path = src.clone();
        let writer = std::thread::spawn(move || {
            let conn = Connection::open(writer_path).unwrap();
            conn.busy_timeout(Duration::from_secs(60)).unwrap();
            conn.execute_batch("PRAGMA synchronous=OFF").unwrap();
            // One row and one counter update per transaction, until told to stop.
            let step = "BEGIN IMMEDIATE; INSERT INTO t(pad) VALUES (randomblob(500));
                            UPDATE c SET n = n + 1; COMMIT;";
            for i in 0..200_000 {
                if stop_rx.try_recv().is_ok() {
                    return i;
                }
                conn.execute_batch(step).unwrap();
                if i == 20 {
                    started_tx.send(()).unwrap();
                }
            }
            200_000
        });
        started_rx.recv().unwrap();
        let (image, sql) = (dump(&src, Image), dump(&src, Sql));
        stop_tx.send(()).unwrap();
        let written = writer.join().unwrap();
        for (dump, format) in [(image, Image), (sql, Sql)] {
            let restored = dir.path().join(format!("{format:?}.db"));
            restore(&restored, &dump, format, false).unwrap();
            assert_eq!(query(&restored, "PRAGMA integrity_check"), "ok");
            let counts = "SELECT format('%d %d', (SELECT count(*) FROM t), (SELECT n FROM c))";
            let counts = query(&restored, counts);
            let (rows, n) = counts.split_once(' ').unwrap();
            assert_eq!(
                rows, n,
                "{mode} {format:?} snapshot is not transaction-consistent"
            );
            assert!((1021..=1000 + written).contains(&rows.parse().unwrap()));
        }
    }
}

#[test]
fn restore_refuses_overwrite_and_keeps_target_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t.db");
    let good = b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nCOMMIT;\n";
    restore(&target, good, Sql, false).unwrap();
    let before = std::fs::read(&target).unwrap();
    let err = restore(&target, good, Sql, false).unwrap_err();
    assert!(err.to_string().contains("pass --drop-existing"), "{err}");
    let bad: [&[u8]; 6] = [
        b"BEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1;\nCOMMIT;\n",
        b"BEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\n",
        b"CREATE TABLE t(a);\nINSERT INTO t VALUES('unterminated);\n",
        b"",
        b"SQLite format 3\0 but not really an image",
        b"",
    ];
    for (i, dump) in bad.into_iter().enumerate() {
        let format = [Sql, Image][i / 4];
        let fresh = dir.path().join("fresh.db");
        assert!(restore(&fresh, dump, format, false).is_err(), "dump {i}");
        assert!(!fresh.exists(), "dump {i} left a target behind");
        assert!(restore(&target, dump, format, true).is_err());
        assert!(
            std::fs::read(&target).unwrap() == before,
            "dump {i} damaged the target"
        );
    }
    let names = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name());
    assert_eq!(
        names.collect::<Vec<_>>(),
        ["t.db"],
        "temporary files left behind"
    );
    let replacement = b"BEGIN;CREATE TABLE u(b);INSERT INTO u VALUES(2),(3);COMMIT;";
    restore(&target, replacement, Sql, true).unwrap();
    let counts = table_row_counts(&target).unwrap();
    assert_eq!(counts, [("u".to_string(), 2)].into());
}

#[test]
fn temporary_copy_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.db");
    let fill = "CREATE TABLE t(x); WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL \
                    SELECT i + 1 FROM s WHERE i < 20000) INSERT INTO t SELECT randomblob(100) FROM s;";
    Connection::open(&src).unwrap().execute_batch(fill).unwrap();
    for format in [Sql, Image] {
        // Dropped part-way: the dump thread is blocked on the full pipe and must stop.
        let mut source = backup::start(&src, format).unwrap();
        let copy = source._copy.path().to_path_buf();
        source.read_exact(&mut [0u8; 100]).unwrap();
        drop(source);
        assert!(!copy.exists());
        let mut source = Box::new(backup::start(&src, format).unwrap());
        let copy = source._copy.path().to_path_buf();
        assert!(io::copy(&mut source, &mut io::sink()).unwrap() > 2_000_000);
        source.finish().unwrap();
        assert!(!copy.exists());
    }
    let missing = open_source(&dir.path().join("missing.db"), Image);
    assert!(missing
        .err()
        .unwrap()
        .to_string()
        .contains("is not an existing file"));
}
