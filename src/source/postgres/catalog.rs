//! Catalog questions about a PostgreSQL server over dumpvault's own connection: which databases
//! exist, exact row counts per table, and dropping a scratch database.
//!
//! Owns read-only catalog queries and [`drop_database`]. It must not run client programs, and
//! must not drop anything but the one database it is asked to (only scratch databases this
//! program created).

use super::conn::{connect, connect_maintenance};
use super::{db_err, quote, PgUrl};
use crate::source::SourceError;
use std::collections::BTreeMap;

/// Names of the server's databases that accept connections, sorted; templates are excluded, the
/// `postgres` maintenance database is listed. Connects to the URL's database when it names one,
/// else to `postgres` (or `template1`). Errors: [`SourceError::Database`].
pub fn list_databases(url: &PgUrl) -> Result<Vec<String>, SourceError> {
    let mut client = if url.database.is_some() {
        connect(url)?
    } else {
        connect_maintenance(url)?
    };
    let sql = "SELECT datname FROM pg_catalog.pg_database \
               WHERE NOT datistemplate AND datallowconn ORDER BY datname";
    let rows = client
        .query(sql, &[])
        .map_err(|e| db_err(&format!("listing databases at {url}"), &e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Tables (`relkind` in `KINDS`) in user schemas, quoted and schema-qualified.
pub(super) const USER_TABLES_SQL: &str = "SELECT pg_catalog.quote_ident(n.nspname) || '.' ||
    pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN (KINDS) AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
          AND d.deptype = 'e')";

/// Exact row counts (`count(*)` in one snapshot) of the ordinary tables in user schemas that
/// are not part of an extension, keyed by quoted schema-qualified name (`public.users`,
/// `public."Odd Name"`). Errors: [`SourceError::Database`].
pub fn table_row_counts(url: &PgUrl) -> Result<BTreeMap<String, u64>, SourceError> {
    let mut client = connect(url)?;
    let what = format!("counting rows in database \"{}\"", url.database_name());
    let failed = |e: postgres::Error| db_err(&what, &e);
    let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    client.batch_execute(begin).map_err(failed)?;
    let mut counts = BTreeMap::new();
    for row in client
        .query(&USER_TABLES_SQL.replace("KINDS", "'r'"), &[])
        .map_err(failed)?
    {
        let table: String = row.get(0);
        let count = client.query_one(&format!("SELECT count(*) FROM ONLY {table}"), &[]);
        counts.insert(table, count.map_err(failed)?.get::<_, i64>(0) as u64);
    }
    client.batch_execute("COMMIT").map_err(failed)?;
    Ok(counts)
}

/// Whether the URL's database exists on the server. Errors: [`SourceError::Database`].
pub fn database_exists(url: &PgUrl) -> Result<bool, SourceError> {
    let db = url.database_name();
    let sql = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1";
    let row = connect_maintenance(url)?.query_opt(sql, &[&db]);
    let checking = format!("looking for database \"{db}\"");
    Ok(row.map_err(|e| db_err(&checking, &e))?.is_some())
}

/// Drops the URL's database if it exists, ending other sessions on it (`WITH (FORCE)`).
/// Only for scratch databases this program created. Errors: [`SourceError::Database`].
pub fn drop_database(url: &PgUrl) -> Result<(), SourceError> {
    let db = url.database_name();
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(&db));
    let dropping = format!("dropping database \"{db}\"");
    connect_maintenance(url)?
        .batch_execute(&sql)
        .map_err(|e| db_err(&dropping, &e))
}
