//! dumpvault's own connection to a PostgreSQL server (the `postgres` crate, no TLS): connect with
//! the URL's settings or libpq's environment, the maintenance database, the server version.
//!
//! Owns connecting only. It must not run client programs (see `tool`) and must not query beyond
//! the server version: catalog queries live in `catalog`, dump queries in `dump`.

use super::{db_err, env_var, PgUrl};
use crate::source::SourceError;
use postgres::config::SslMode;
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::path::Path;

/// Connects with the URL's settings, falling back to libpq's environment and defaults.
pub(super) fn connect(url: &PgUrl) -> Result<Client, SourceError> {
    let what = format!(
        "connecting to database \"{}\" at {url}",
        url.database_name()
    );
    let socket = Some("/var/run/postgresql").filter(|d| Path::new(d).is_dir());
    let host = url.host.clone().or_else(|| env_var("PGHOST"));
    let host = host.unwrap_or_else(|| socket.unwrap_or("localhost").to_string());
    let port = url
        .port
        .or_else(|| env_var("PGPORT").and_then(|p| p.parse().ok()));
    let mut cfg = postgres::Config::new();
    cfg.host(&host)
        .port(port.unwrap_or(5432))
        .user(&url.effective_user());
    cfg.dbname(&url.database_name())
        .application_name("dumpvault");
    cfg.connect_timeout(std::time::Duration::from_secs(30));
    if let Some(password) = url.password.clone().or_else(|| env_var("PGPASSWORD")) {
        cfg.password(password);
    }
    match url
        .sslmode
        .clone()
        .or_else(|| env_var("PGSSLMODE"))
        .as_deref()
    {
        None | Some("prefer" | "allow") => cfg.ssl_mode(SslMode::Prefer),
        Some("disable") => cfg.ssl_mode(SslMode::Disable),
        Some(mode) => {
            let why = format!("{what}: sslmode={mode} is not supported (no TLS in dumpvault)");
            return Err(SourceError::Invalid(why));
        }
    };
    cfg.connect(NoTls).map_err(|e| db_err(&what, &e))
}

/// Connects to the `postgres` maintenance database, else `template1`.
pub(super) fn connect_maintenance(url: &PgUrl) -> Result<Client, SourceError> {
    connect(&url.with_database("postgres")).or_else(|_| connect(&url.with_database("template1")))
}

/// The server's `server_version_num` and `server_version`, in one round trip (the simple
/// query protocol: no separate prepare).
pub(super) fn server_version(client: &mut Client, db: &str) -> Result<(u32, String), SourceError> {
    let what = format!("querying the server version of database \"{db}\"");
    let sql = "SELECT pg_catalog.current_setting('server_version_num'), \
               pg_catalog.current_setting('server_version')";
    let rows = client.simple_query(sql).map_err(|e| db_err(&what, &e))?;
    let row = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some((r.get(0), r.get(1))),
        _ => None,
    });
    let (num, version) = match row {
        Some((Some(num), Some(version))) => (num.to_string(), version.to_string()),
        _ => return Err(SourceError::Invalid(format!("{what}: no answer"))),
    };
    let bad = || SourceError::Invalid(format!("server_version_num of database \"{db}\": {num}"));
    Ok((num.parse().map_err(|_| bad())?, version))
}
