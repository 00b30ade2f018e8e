//! Tests of the MySQL / MariaDB engine against the test server (see [`crate::source::testdb`]):
//! each test creates its own uniquely named database (and user) and drops it, also on failure.
//! They never skip: a server that does not answer fails them.

use super::client::{find_tool, Session, DUMP_TOOLS};
use super::target::database_switch;
use super::*;
use crate::source::{testdb, Dialect, SourceInfo};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test server, from [`testdb::mysql_url`] (the server tests/integration uses). A server
/// that does not answer fails the test: database tests never skip.
fn server() -> MyUrl {
    server_at(&testdb::mysql_url())
}

/// The server at `url`; panics when it does not answer.
fn server_at(url: &str) -> MyUrl {
    let url = MyUrl::parse(url).unwrap();
    if let Err(e) = list_databases(&url) {
        panic!("no MySQL test server at {url} ({}): {e}", testdb::MYSQL_VAR);
    }
    url
}

#[test]
#[should_panic(expected = "no MySQL test server at mysql://root@127.0.0.1:1/test")]
fn an_unreachable_test_server_fails_the_test() {
    server_at("mysql://root@127.0.0.1:1/test");
}

/// A uniquely named database (`dv_my_<pid>_<n>`), dropped with its test user on drop.
struct TestDb(MyUrl);

impl TestDb {
    fn new(server: &MyUrl, create: bool) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let db = Self(server.with_database(&format!("dv_my_{}_{n}", std::process::id())));
        let name = ident(db.name());
        let make = format!("CREATE DATABASE {name} CHARACTER SET utf8mb4");
        run(&db.0, None, &format!("DROP DATABASE IF EXISTS {name};"));
        run(&db.0, None, if create { &make } else { "" });
        db
    }

    fn name(&self) -> &str {
        self.0.database.as_deref().unwrap()
    }

    fn sql(&self, sql: &str) -> String {
        run(&self.0, Some(self.name()), sql)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (db, user) = (ident(self.name()), self.name().to_string() + "_u");
        let sql = format!("DROP DATABASE IF EXISTS {db}; DROP USER IF EXISTS '{user}'@'%';");
        let _ = Session::open(&self.0).map(|s| s.query(None, &sql, "cleanup"));
    }
}

fn run(url: &MyUrl, db: Option<&str>, sql: &str) -> String {
    let session = Session::open(url).unwrap();
    session.query(db, sql, "test SQL").unwrap()
}

fn dump(url: &MyUrl, order_by_primary: bool) -> (String, SourceInfo) {
    let mut source = open_source(url, &MyOptions { order_by_primary }).unwrap();
    let mut text = String::new();
    source.read_to_string(&mut text).unwrap();
    (text, source.finish().unwrap())
}

fn error<T>(result: Result<T, SourceError>) -> String {
    result.err().expect("an error").to_string()
}

/// A plain `mariadb-dump --skip-dump-date`, with the database name taken out of comments.
fn reference_dump(db: &TestDb) -> String {
    let session = Session::open(&db.0).unwrap();
    let mut cmd = Command::new(find_tool(DUMP_TOOLS).unwrap());
    let flags = "--skip-dump-date --routines --events --hex-blob".split(' ');
    let fd = session.file.inherit().unwrap();
    let out = cmd.arg(fd.arg()).args(flags).arg(db.name()).output();
    drop(fd);
    normalize(&String::from_utf8(out.unwrap().stdout).unwrap(), db.name())
}

fn normalize(dump: &str, name: &str) -> String {
    let comment = |c: &str| format!("--{}", c.replace(name, "DB"));
    let line = |l: &str| l.strip_prefix("--").map_or(l.to_string(), comment);
    dump.lines().map(line).collect::<Vec<_>>().join("\n")
}

const SCHEMA: &str = r#"
CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT,
  balance DECIMAL(20,6), born DATETIME(6), doc JSON, photo BLOB, flags BIT(3), kind ENUM('a','b'),
  ratio DOUBLE) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
  total DECIMAL(12,2), FOREIGN KEY (customer_id) REFERENCES customers (id));
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(200));
CREATE TABLE no_key (a INT, b VARCHAR(10));
INSERT INTO customers VALUES (1, 'Zoë 😀 名前', 'l1\r\nl2\ttab \\ back\'slash', -12345678901234.123456,
  '2024-02-29 12:34:56.789012', '{"a": [1, {"b": null}], "e": "🎉"}',
  UNHEX(CONCAT('000102030405060708090A0B0C0D0E0F5C27220D0A1A', REPEAT('FF80', 40))), b'101', 'b',
  1.5e-300), (2, 'nulls', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, '', '', 0, '1970-01-01 00:00:01', '[]', '', b'0', 'a', -0.0);
INSERT INTO no_key VALUES (2, 'x'), (1, NULL), (2, 'x');
CREATE VIEW customer_totals AS SELECT c.name, SUM(o.total) AS total
  FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name;
CREATE TRIGGER orders_ai AFTER INSERT ON orders FOR EACH ROW
  INSERT INTO audit (msg) VALUES (CONCAT('order ', NEW.id));
DELIMITER //
CREATE PROCEDURE add_order(IN c INT, IN t DECIMAL(12,2)) BEGIN-CRLF
  INSERT INTO orders (customer_id, total) VALUES (c, t);
END //
DELIMITER ;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01' DO DELETE FROM audit WHERE id < 0;
CALL add_order(1, 10.50); CALL add_order(1, 0.01); CALL add_order(2, 99.99);
DELETE FROM orders WHERE id = 2;"#;

#[test]
fn round_trip_restores_an_identical_database() {
    let server = server();
    let (src, dst) = (TestDb::new(&server, true), TestDb::new(&server, false));
    // The CRLF in the procedure body is lost unless restores use binary mode.
    src.sql(&SCHEMA.replace("BEGIN-CRLF\n", "BEGIN\r\n"));
    let (text, info) = dump(&src.0, true);
    let version = info.tool_version.unwrap_or_default();
    assert_eq!(
        (info.kind.as_str(), info.dialect),
        ("mysql", Some(Dialect::MySql))
    );
    assert_eq!(info.database.as_deref(), Some(src.name()));
    assert!(version.contains("Ver") && info.server_version.is_some());
    assert!(info.command.unwrap().contains(" --order-by-primary "));
    assert_eq!(info.options[0], "primary-key order");
    assert!(text.contains("-- Table structure for table `orders`"));
    assert!(text.contains("-- Dumping data for table `orders`"));

    restore_into(&dst.0, &mut text.as_bytes(), true, false, &|| {}).unwrap();
    assert_eq!(reference_dump(&src), reference_dump(&dst));
    assert!(
        reference_dump(&src).contains("CREATE DEFINER="),
        "incomplete"
    );
    let again = dump(&dst.0, true).0;
    assert_eq!(normalize(&text, src.name()), normalize(&again, dst.name()));
    let counts = table_row_counts(&dst.0).unwrap();
    assert_eq!(counts, table_row_counts(&src.0).unwrap());
    let expected = [("audit", 3), ("customers", 3), ("no_key", 3), ("orders", 2)];
    assert_eq!(counts, expected.map(|(t, n)| (t.to_string(), n)).into());
    let body = "SELECT HEX(ROUTINE_DEFINITION) FROM information_schema.ROUTINES \
                WHERE ROUTINE_SCHEMA = DATABASE()";
    assert!(dst.sql(body).contains("0D0A"), "CRLF lost");
    let row = "SELECT HEX(name), HEX(photo), HEX(doc) FROM customers WHERE id = 1";
    assert_eq!(src.sql(row), dst.sql(row));
    assert!(src.sql(row).starts_with("5A6FC3AB20F09F988020")); // "Zoë 😀 "
}

#[test]
fn primary_key_order_changes_only_the_updated_row() {
    let server = server();
    let db = TestDb::new(&server, true);
    db.sql(
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(200), n INT);
         INSERT INTO t WITH RECURSIVE s(i) AS (SELECT 300 UNION ALL SELECT i - 1 FROM s
           WHERE i > 1) SELECT i, CONCAT('name ', i), i * 7 FROM s;",
    );
    let before = dump(&db.0, true).0;
    assert_eq!(before, dump(&db.0, true).0, "not deterministic");
    assert!(before.contains("-- ORDER BY:  `id`"));
    db.sql("UPDATE t SET name = 'a much longer name than before' WHERE id = 137;");
    let after = dump(&db.0, true).0;
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    assert_eq!(b.len(), a.len());
    let changed: Vec<&str> = (0..a.len())
        .filter(|&i| a[i] != b[i])
        .map(|i| a[i])
        .collect();
    assert_eq!(changed, ["(137,'a much longer name than before',959),"]);
    let (text, info) = dump(&db.0, false);
    assert!(!text.contains("-- ORDER BY:") && !info.command.unwrap().contains("order-by"));
}

#[test]
fn credentials_stay_in_a_private_option_file() {
    let server = server();
    let db = TestDb::new(&server, true);
    let (user, password) = (format!("{}_u", db.name()), "p\"a'ss #x\\y z; é\t");
    let quoted = password.replace('\\', "\\\\").replace('\'', "''");
    db.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}';
         GRANT ALL ON {}.* TO '{user}'@'%';
         CREATE TABLE big (id INT PRIMARY KEY, pad TEXT);
         INSERT INTO big WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s
           WHERE i < 900) SELECT i, REPEAT('x', 3000) FROM s;",
        ident(db.name())
    ));
    let mut url = db.0.clone();
    (url.user, url.password) = (Some(user), Some(password.to_string()));
    assert!(!format!("{url} {url:?}").contains("a'ss"));
    // The dump blocks on its full stdout pipe, so it is still running here.
    let mut source = open_source(&url, &MyOptions::default()).unwrap();
    assert!(!source.info().command.unwrap().contains("a'ss"));
    let me = std::process::id().to_string();
    let find = || {
        std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat.rsplit_once(") ")?.1.split(' ').nth(1)?.to_string();
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args = String::from_utf8_lossy(cmdline.strip_suffix(b"\0")?).into_owned();
            let args: Vec<String> = args.split('\0').map(String::from).collect();
            (ppid == me && args.last()? == db.name()).then_some((e.path(), args))
        })
    };
    // /proc is read while other tests of this process start and end children: look a few
    // times (bounded) before concluding, and then say why the dump is gone.
    let child = (0..50).find_map(|_| {
        find().or_else(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            None
        })
    });
    let Some((proc_dir, args)) = child else {
        let mut out = String::new();
        let read = source.read_to_string(&mut out);
        panic!(
            "the dump process is not running: read {read:?}, finish {:?}",
            source.finish().err()
        );
    };
    assert!(args.iter().all(|a| !a.contains("a'ss")), "{args:?}");
    // The option file is an inherited descriptor of a file with no name.
    let fd = args[1]
        .strip_prefix("--defaults-extra-file=/dev/fd/")
        .unwrap();
    let file = proc_dir.join("fd").join(fd);
    let target = std::fs::read_link(&file).unwrap();
    assert!(
        target.to_string_lossy().starts_with("/memfd:"),
        "{target:?}"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let options = std::fs::read_to_string(&file).unwrap();
    assert!(options.contains(r#"password="p\"a'ss #x\\y z; é\t""#));
    let mut text = String::new();
    source.read_to_string(&mut text).unwrap();
    source.finish().unwrap();
    assert!(text.contains("INSERT INTO `big` VALUES"));

    url.password = Some("wrong password".into());
    let err = error(open_source(&url, &MyOptions::default()));
    assert!(
        err.contains("Access denied") && !err.contains("wrong"),
        "{err}"
    );
    assert!(error(list_databases(&url)).contains("Access denied"));
}

#[test]
fn missing_databases_and_occupied_targets_are_refused() {
    let server = server();
    let db = TestDb::new(&server, true);
    let names = list_databases(&server).unwrap();
    assert!(names.contains(&db.name().into()) && !names.contains(&"mysql".into()));
    let missing = server.with_database(&format!("{}_missing", db.name()));
    let err = error(open_source(&missing, &MyOptions::default()));
    assert!(err.contains(&format!("'{}_missing'", db.name())), "{err}");
    let err = error(restore_into(&missing, &mut &b""[..], false, false, &|| {}));
    assert!(err.contains("does not exist"), "{err}");

    db.sql("CREATE TABLE keep (i INT); INSERT INTO keep VALUES (1);");
    let new = b"CREATE TABLE fresh (i INT);\n";
    let err = error(restore_into(&db.0, &mut &new[..], false, false, &|| {}));
    assert!(err.contains("not empty") && err.contains("keep"), "{err}");
    let err = error(restore_into(&db.0, &mut &new[..], true, false, &|| {}));
    assert!(err.contains("already exists"), "{err}");
    assert!(table_row_counts(&db.0).unwrap().contains_key("keep"));
    let fresh = BTreeMap::from([("fresh".to_string(), 0)]);
    restore_into(&db.0, &mut &new[..], false, true, &|| {}).unwrap();
    assert_eq!(table_row_counts(&db.0).unwrap(), fresh);
    restore_into(&db.0, &mut &new[..], true, true, &|| {}).unwrap();
    assert_eq!(table_row_counts(&db.0).unwrap(), fresh);

    let other = b"DROP TABLE fresh;\n/*!40000 USE `mysql` */;\nCREATE TABLE x (i INT);";
    let err = error(restore_into(&db.0, &mut &other[..], false, true, &|| {}));
    assert!(err.contains("switches databases at line 2"), "{err}");
    assert_eq!(table_row_counts(&db.0).unwrap(), fresh, "changed");
    let result = restore_into(&db.0, &mut &b"CREATE TABLE (;"[..], false, true, &|| {});
    assert!(matches!(result, Err(SourceError::Failed { .. })));
    let err = error(result);
    assert!(
        err.contains(db.name()) && err.contains("ERROR 1064"),
        "{err}"
    );
}

#[test]
fn urls_guards_and_tools_work_offline() {
    let url = MyUrl::parse("mariadb://us%40r:p%3Aw@d@db.example:3307/shop%20db").unwrap();
    assert_eq!(url.password.as_deref(), Some("p:w@d"));
    assert!(MyUrl::is_url("MariaDB://h/d") && !MyUrl::is_url("postgres://h/d"));
    assert_eq!(url.to_string(), "mariadb://us@r@db.example:3307/shop db");
    assert!(!format!("{url:?}").contains("p:w"));
    assert_eq!(url.with_database("x").database.as_deref(), Some("x"));
    let v6: MyUrl = "mysql://[::1]:3306".parse().unwrap();
    assert_eq!((v6.host.as_deref(), v6.port), (Some("::1"), Some(3306)));
    assert_eq!(v6.to_string(), "mysql://[::1]:3306");
    let local = MyUrl::parse("mysql:///db").unwrap();
    assert_eq!((local.user, local.host, local.port), (None, None, None));
    for bad in [
        "pg://h/db",
        "mysql://h:99999/d",
        "mysql://h/a/b",
        "mysql://h/d?x",
        "h",
    ] {
        let result = MyUrl::parse(bad);
        assert!(matches!(result, Err(SourceError::Invalid(_))), "{bad}");
    }
    let err = error(MyUrl::parse("mysql://u:secret@h:x/db"));
    assert!(!err.contains("secret"), "{err}");

    let ok = "-- Current Database: `x`\nINSERT INTO t VALUES ('USE x');\n  user_id INT,";
    assert_eq!(database_switch(ok.as_bytes()), None);
    let bad = database_switch(b"SELECT 1;\n  /*!40000 DROP DATABASE IF EXISTS `x`*/;");
    assert!(bad.unwrap().starts_with("line 2 "));
    assert!(database_switch(b"select 1;\nCREATE DATABASE y").is_some());
    let err = error(find_tool(&["dv-no-such-tool", "dv-nor-this"]));
    assert!(err.contains("dv-no-such-tool or dv-nor-this"), "{err}");
}
