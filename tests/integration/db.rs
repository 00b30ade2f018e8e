//! Test databases on the local servers: each test creates its own uniquely named database and
//! drops it when the handle drops. Servers come from `DUMPVAULT_TEST_POSTGRES_URL` /
//! `DUMPVAULT_TEST_MYSQL_URL` (defaults: PostgreSQL on 127.0.0.1:5432 as `postgres`, MariaDB on
//! 127.0.0.1:3306 as `root`). A server that does not answer fails the test: database tests
//! never skip.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database name unique to this process and call: `dvt_<prefix>_<pid>_<n>`.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("dvt_{prefix}_{}_{n}", std::process::id())
}

/// Server URL without a database, e.g. `postgres://postgres@127.0.0.1:5432`.
fn server(var: &str, default: &str) -> String {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_string());
    // Strip a trailing `/database` (keep `scheme://authority`).
    match url.find("://").map(|i| i + 3) {
        Some(start) => match url[start..].find('/') {
            Some(slash) => url[..start + slash].to_string(),
            None => url,
        },
        None => url,
    }
}

/// The PostgreSQL server URL (no database part).
pub fn pg_server() -> String {
    server(
        "DUMPVAULT_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

/// The MySQL/MariaDB server URL (no database part), `mysql://root@127.0.0.1:3306`.
pub fn my_server() -> String {
    server(
        "DUMPVAULT_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    )
}

fn run(cmd: &mut Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A PostgreSQL database created for one test, dropped on drop.
pub struct PgDb {
    /// Database name.
    pub name: String,
}

impl PgDb {
    /// Creates `dvt_<prefix>_…` on the test server.
    pub fn create(prefix: &str) -> Self {
        let name = unique_name(prefix);
        psql_at("postgres", &format!("CREATE DATABASE \"{name}\";"));
        PgDb { name }
    }

    /// `postgres://…/name`, for dumpvault.
    pub fn url(&self) -> String {
        format!("{}/{}", pg_server(), self.name)
    }

    /// Runs SQL with `psql -v ON_ERROR_STOP=1` in this database; returns unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        psql_at(&self.name, sql)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        drop_pg(&self.name);
    }
}

/// Drops PostgreSQL database `name` if it exists, ending its sessions; errors ignored.
fn drop_pg(name: &str) {
    let _ = Command::new("psql")
        .args(["-X", "-q", "-d", &format!("{}/postgres", pg_server())])
        .args([
            "-c",
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ])
        .output();
}

/// Drops PostgreSQL database `.0` when dropped: one a restore creates under a name the test
/// chose.
pub struct PgName(pub String);

impl Drop for PgName {
    fn drop(&mut self) {
        drop_pg(&self.0);
    }
}

/// Drops MariaDB database `.0` when dropped: one a restore creates under a name the test chose.
pub struct MyName(pub String);

impl Drop for MyName {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(my_client_args(None))
            .args(["-e", &format!("DROP DATABASE IF EXISTS `{}`", self.0)])
            .output();
    }
}

/// Runs SQL in PostgreSQL database `db`, failing the test on any error.
pub fn psql_at(db: &str, sql: &str) -> String {
    run(
        Command::new("psql").args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &format!("{}/{db}", pg_server()),
        ]),
        sql,
    )
}

/// A MariaDB database created for one test, dropped on drop.
pub struct MyDb {
    /// Database name.
    pub name: String,
}

impl MyDb {
    /// Creates `dvt_<prefix>_…` on the test server.
    pub fn create(prefix: &str) -> Self {
        let name = unique_name(prefix);
        mariadb_at(None, &format!("CREATE DATABASE `{name}`;"));
        MyDb { name }
    }

    /// `mysql://…/name`, for dumpvault.
    pub fn url(&self) -> String {
        format!("{}/{}", my_server(), self.name)
    }

    /// Runs SQL with the `mariadb` client in this database; returns tab-separated output.
    pub fn sql(&self, sql: &str) -> String {
        mariadb_at(Some(&self.name), sql)
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(my_client_args(None))
            .args(["-e", &format!("DROP DATABASE IF EXISTS `{}`", self.name)])
            .output();
    }
}

/// `mariadb` client arguments for the test server (host, port, user), then the database.
pub fn my_client_args(db: Option<&str>) -> Vec<String> {
    let s = my_server();
    let rest = s.split("://").nth(1).unwrap_or("root@127.0.0.1:3306");
    let (user, hostport) = rest.split_once('@').unwrap_or(("root", rest));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut v = vec![
        "-h".to_string(),
        host.to_string(),
        "-P".to_string(),
        port.to_string(),
        "-u".to_string(),
        user.split(':').next().unwrap_or("root").to_string(),
        "-N".to_string(),
        "-B".to_string(),
    ];
    v.extend(db.map(str::to_string));
    v
}

/// Runs SQL with the `mariadb` client, failing the test on any error.
pub fn mariadb_at(db: Option<&str>, sql: &str) -> String {
    run(Command::new("mariadb").args(my_client_args(db)), sql)
}
