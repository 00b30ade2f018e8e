//! Catalog questions about a MySQL / MariaDB server through the client: which databases exist,
//! exact row counts per table, and dropping a scratch database.
//!
//! Owns read-only catalog queries and [`drop_database`]. It must not drop anything but the one
//! database it is asked to (only scratch databases this program created).

use super::client::Session;
use super::{ident, lit, unhex, MyUrl};
use crate::source::SourceError;
use std::collections::BTreeMap;

/// Databases that [`list_databases`] leaves out.
const SYSTEM_DATABASES: &[&str] = &["information_schema", "performance_schema", "mysql", "sys"];

/// Lists the server's databases, sorted, without `information_schema`, `performance_schema`,
/// `mysql` and `sys`. The URL's database is ignored.
pub fn list_databases(url: &MyUrl) -> Result<Vec<String>, SourceError> {
    let session = Session::open(url)?;
    let sql = "SELECT HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA;";
    let out = session.query(None, sql, &format!("listing the databases of {url}"))?;
    let mut names: Vec<String> = out
        .lines()
        .filter_map(unhex)
        .filter(|n| !SYSTEM_DATABASES.contains(&n.as_str()))
        .collect();
    names.sort();
    Ok(names)
}

/// Exact row counts (`COUNT(*)`, in one consistent snapshot) of the base tables of `url`'s
/// database; views and sequences are left out.
pub fn table_row_counts(url: &MyUrl) -> Result<BTreeMap<String, u64>, SourceError> {
    let db = url.require_database("count rows")?;
    let session = Session::open(url)?;
    let what = format!("counting rows in database \"{db}\"");
    let sql = format!(
        "SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
         AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED');",
        lit(db)
    );
    let tables: Vec<String> = session
        .query(Some(db), &sql, &what)?
        .lines()
        .filter_map(unhex)
        .collect();
    let mut sql = String::from(
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;
         START TRANSACTION WITH CONSISTENT SNAPSHOT;\n",
    );
    for t in &tables {
        sql += &format!("SELECT COUNT(*) FROM {};\n", ident(t));
    }
    let out = session.query(Some(db), &(sql + "COMMIT;\n"), &what)?;
    let counts: Option<Vec<u64>> = out.lines().map(|n| n.trim().parse().ok()).collect();
    let counts = counts.filter(|c| c.len() == tables.len()).ok_or_else(|| {
        let message = format!("unexpected output {out:?}");
        SourceError::Database { what, message }
    })?;
    Ok(tables.into_iter().zip(counts).collect())
}

/// Whether the URL's database exists on the server. Errors: [`SourceError::Database`].
pub fn database_exists(url: &MyUrl) -> Result<bool, SourceError> {
    let db = url.require_database("look up")?;
    Ok(Session::open(url)?.objects(db)?.is_some())
}

/// Drops the URL's database if it exists, ending other sessions on it first (the loaders of
/// an interrupted restore, whose metadata locks `DROP DATABASE` would wait for), as
/// PostgreSQL's `WITH (FORCE)` does. Only for scratch databases this program created.
/// Errors: [`SourceError::Database`].
pub fn drop_database(url: &MyUrl) -> Result<(), SourceError> {
    let db = url.require_database("drop")?;
    let session = Session::open(url)?;
    let sessions = format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = {} AND ID <> CONNECTION_ID();",
        lit(db)
    );
    let ids = session.query(None, &sessions, &format!("listing sessions on \"{db}\""))?;
    for id in ids.lines().filter_map(|l| l.trim().parse::<u64>().ok()) {
        // A session that ended meanwhile is no error.
        let _ = session.query(None, &format!("KILL CONNECTION {id};"), "ending a session");
    }
    let sql = format!("DROP DATABASE IF EXISTS {};", ident(db));
    session.query(None, &sql, &format!("dropping database \"{db}\""))?;
    Ok(())
}
