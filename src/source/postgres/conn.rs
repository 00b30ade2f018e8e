//! dumpvault's own connection to a PostgreSQL server (the `postgres` crate, no TLS): connect with
//! the URL's settings or libpq's environment, the maintenance database, the server version.
//!
//! Also [`Session`], the same connection on `tokio-postgres` directly, for dumps: it runs a
//! whole COPY in one runtime entry, and mirrors the few `Client` calls dumps make.
//!
//! Owns connecting only. It must not run client programs (see `tool`) and must not hold SQL of
//! its own beyond the server version: `Session`'s query calls only pass on the SQL their
//! callers give; catalog queries live in `catalog`, dump queries in `dump`.

use super::{db_err, env_var, io_err, PgUrl};
use crate::source::SourceError;
use postgres::config::SslMode;
use postgres::types::ToSql;
use postgres::{Client, Error, NoTls, Row, SimpleQueryMessage, Statement};
use std::future::Future;
use std::path::Path;
use std::pin::{pin, Pin};
use std::task::Poll;
use tokio::runtime::Runtime;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::Socket;

/// Connects with the URL's settings, falling back to libpq's environment and defaults.
pub(super) fn connect(url: &PgUrl) -> Result<Client, SourceError> {
    let (cfg, what) = config(url)?;
    postgres::Config::from(cfg)
        .connect(NoTls)
        .map_err(|e| db_err(&what, &e))
}

/// The settings of a connection to the URL's database (URL, then libpq's environment, then
/// defaults), and what connecting is called in errors.
fn config(url: &PgUrl) -> Result<(tokio_postgres::Config, String), SourceError> {
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
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(&host)
        .port(port.unwrap_or(5432))
        .user(url.effective_user());
    cfg.dbname(url.database_name())
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
    Ok((cfg, what))
}

/// A connection driven by its own current-thread runtime, for work that runs many messages
/// per call (a COPY: [`Session::run`] enters the runtime once for the whole of it, where the
/// `postgres` crate's reader enters it once per row). Same settings as [`connect`].
pub(super) struct Session {
    /// `None` only while dropping: dropping it asks the connection to terminate.
    client: Option<tokio_postgres::Client>,
    conn: Pin<Box<tokio_postgres::Connection<Socket, NoTlsStream>>>,
    /// The connection has ended (closed or failed): it must not be polled again.
    done: bool,
    rt: Runtime,
}

impl Session {
    /// Connects as [`connect`] does. Errors: as [`connect`], or the runtime cannot start.
    pub(super) fn connect(url: &PgUrl) -> Result<Self, SourceError> {
        let (cfg, what) = config(url)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| io_err(format!("{what}: starting a runtime"), e))?;
        let (client, conn) = rt
            .block_on(cfg.connect(NoTls))
            .map_err(|e| db_err(&what, &e))?;
        Ok(Session {
            client: Some(client),
            conn: Box::pin(conn),
            done: false,
            rt,
        })
    }

    /// Runs `f` on the client to completion in one runtime entry, driving the connection
    /// meanwhile. Errors: the connection failed (`f`'s own errors are in its output `T`).
    pub(super) fn run<T>(
        &mut self,
        f: impl AsyncFnOnce(&tokio_postgres::Client) -> T,
    ) -> Result<T, Error> {
        let client = self
            .client
            .as_ref()
            .expect("a session's client lives until drop");
        let (conn, done) = (&mut self.conn, &mut self.done);
        let mut fut = pin!(f(client));
        self.rt.block_on(std::future::poll_fn(|cx| {
            if !*done {
                match conn.as_mut().poll(cx) {
                    Poll::Ready(Err(e)) => {
                        *done = true;
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Ok(())) => *done = true,
                    Poll::Pending => {}
                }
            }
            fut.as_mut().poll(cx).map(Ok)
        }))
    }
}

/// The `postgres` crate's `Client` calls dumpvault makes on a session, each in one
/// [`Session::run`]. Errors: the server's or the connection's.
impl Session {
    /// Runs `sql` (one or more statements) with the simple query protocol.
    pub(super) fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.run(async |c| c.simple_query(sql).await)?
    }

    /// Runs `sql` (one or more statements), discarding any rows.
    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.run(async |c| c.batch_execute(sql).await)?
    }

    /// Prepares `sql`, a statement with `$n` parameters.
    pub(super) fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        self.run(async |c| c.prepare(sql).await)?
    }

    /// Runs a prepared statement with `params`: its one row or none (more rows: an error).
    pub(super) fn query_opt(
        &mut self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        self.run(async |c| c.query_opt(statement, params).await)?
    }
}

impl Drop for Session {
    /// Closes the session as the `postgres` crate does: terminate, then wait for the close.
    fn drop(&mut self) {
        drop(self.client.take());
        if !self.done {
            let _ = self.rt.block_on(self.conn.as_mut());
        }
    }
}

/// Connects to the `postgres` maintenance database, else `template1`.
pub(super) fn connect_maintenance(url: &PgUrl) -> Result<Client, SourceError> {
    connect(&url.with_database("postgres")).or_else(|_| connect(&url.with_database("template1")))
}

/// The server's `server_version_num` and `server_version`, in one round trip (the simple
/// query protocol: no separate prepare).
pub(super) fn server_version(client: &mut Session, db: &str) -> Result<(u32, String), SourceError> {
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
