//! The database servers that unit tests under src/ run against: the variables and defaults of
//! tests/integration/db.rs (and `cargo xtask test`), so one setting names one server everywhere.
//!
//! Owns the two variable names and their defaults only. It must not skip: a test that needs a
//! server and cannot reach it fails (each engine's tests check the connection and panic).

/// The variable naming the PostgreSQL test server (a `postgres://` URL; its database part is
/// ignored by tests that create their own).
pub(crate) const POSTGRES_VAR: &str = "DUMPVAULT_TEST_POSTGRES_URL";
/// The variable naming the MySQL/MariaDB test server (a `mysql://` URL).
pub(crate) const MYSQL_VAR: &str = "DUMPVAULT_TEST_MYSQL_URL";

/// [`POSTGRES_VAR`], else `postgres://postgres@127.0.0.1:5432/test`.
pub(crate) fn postgres_url() -> String {
    std::env::var(POSTGRES_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// [`MYSQL_VAR`], else `mysql://root@127.0.0.1:3306/test`.
pub(crate) fn mysql_url() -> String {
    std::env::var(MYSQL_VAR).unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}
