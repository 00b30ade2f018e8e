//! PostgreSQL source (`snapshot postgres://user@host:port/db`) and restore target (`restore --to`).
//!
//! Dumps are plain-format SQL that plain `psql` restores. By default table data comes in
//! primary-key order, so rows that `UPDATE` or `VACUUM` moved around the heap do not change the
//! byte stream (which keeps deduplication effective): dumpvault opens a `REPEATABLE READ`
//! transaction, exports its snapshot and streams, all from that one snapshot, `pg_dump
//! --section=pre-data`, one `COPY … ORDER BY <primary key>` block per table with a primary key
//! (framed exactly like pg_dump's own data entries), `pg_dump --section=data` for the rest (tables
//! without a primary key, sequence values, large objects) and `pg_dump --section=post-data`.
//! [`PgOptions::heap_order`] runs one plain `pg_dump` instead.
//!
//! Settings missing from the URL fall back to libpq's environment (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGDATABASE`, `PGPASSWORD`, `PGSSLMODE`). The tools get the URL's parts as those variables, so
//! a password never appears on a command line. dumpvault's own connection does not speak TLS:
//! `sslmode=require` and stricter are refused (and `~/.pgpass` is only read by the tools).

use super::command::{describe_status, ChildSource, STDERR_LIMIT};
use super::{Dialect, DumpSource, SourceError, SourceInfo};
use postgres::config::SslMode;
use postgres::{Client, NoTls};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

/// A PostgreSQL connection URL, `postgres://user:password@host:port/database?sslmode=prefer`.
/// Every part is optional; a missing one falls back to libpq's environment variables.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PgUrl {
    /// Host name, IP address, or Unix socket directory (starting with `/`).
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// User name.
    pub user: Option<String>,
    /// Password; never displayed and never put on a command line.
    pub password: Option<String>,
    /// Database name.
    pub database: Option<String>,
    /// libpq `sslmode` (`disable`, `allow`, `prefer`, `require`, ...).
    pub sslmode: Option<String>,
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn io_err(what: String, source: io::Error) -> SourceError {
    SourceError::Io { what, source }
}

fn db_err(what: &str, e: &postgres::Error) -> SourceError {
    let message = match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.to_string(),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    };
    SourceError::Database {
        what: what.to_string(),
        message,
    }
}

fn bad_url(why: &str) -> SourceError {
    SourceError::Invalid(format!("invalid PostgreSQL URL: {why}"))
}

/// Percent-decodes a URL part (without echoing it: it may be a password); empty is `None`.
fn decode(s: &str) -> Result<Option<String>, SourceError> {
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < bytes.len() {
        let escaped = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match bytes[i] {
            b'%' => out.push(escaped.ok_or_else(|| bad_url("bad percent escape"))?),
            b => out.push(b),
        }
        i += if bytes[i] == b'%' { 3 } else { 1 };
    }
    let s = String::from_utf8(out).map_err(|_| bad_url("a part is not UTF-8"))?;
    Ok(Some(s).filter(|s| !s.is_empty()))
}

fn encode(s: &str) -> String {
    let keep = |c: u8| c.is_ascii_alphanumeric() || b"-._~".contains(&c);
    let enc = |c: u8| {
        if keep(c) {
            (c as char).to_string()
        } else {
            format!("%{c:02X}")
        }
    };
    s.bytes().map(enc).collect()
}

impl PgUrl {
    /// Whether `s` is meant as a PostgreSQL URL (starts with `postgres://` or `postgresql://`).
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Parses `postgres://` or `postgresql://` URLs: percent-escapes decoded, `[::1]` hosts, and
    /// the query parameters `sslmode`, `host` (e.g. a socket directory) and `port`.
    ///
    /// Errors: [`SourceError::Invalid`] for another scheme, a bad port or escape, an unknown
    /// parameter, or several hosts.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let rest = (s
            .strip_prefix("postgresql://")
            .or_else(|| s.strip_prefix("postgres://")))
        .ok_or_else(|| bad_url("it must start with postgres:// or postgresql://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => v6.split_once(']').ok_or_else(|| bad_url("unclosed ["))?,
            None => hostport.rsplit_once(':').unwrap_or((hostport, "")),
        };
        let port_num = |p: &str| {
            p.trim_start_matches(':')
                .parse()
                .map_err(|_| bad_url("bad port"))
        };
        let mut url = PgUrl {
            host: decode(host)?,
            port: if port.is_empty() {
                None
            } else {
                Some(port_num(port)?)
            },
            user: decode(user)?,
            password: decode(password)?,
            database: decode(path)?,
            sslmode: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("sslmode", v) => url.sslmode = decode(v)?,
                ("host", v) => url.host = decode(v)?,
                ("port", v) => url.port = Some(port_num(v)?),
                (key, _) => return Err(bad_url(&format!("unsupported parameter {key:?}"))),
            }
        }
        if url.host.as_deref().is_some_and(|h| h.contains(',')) {
            return Err(bad_url("several hosts are not supported"));
        }
        Ok(url)
    }

    /// The same server and credentials with another database.
    pub fn with_database(&self, database: &str) -> PgUrl {
        let database = Some(database.to_string());
        PgUrl {
            database,
            ..self.clone()
        }
    }

    /// The user name in effect: the URL's, else `PGUSER`, else the login name (as libpq does).
    pub fn effective_user(&self) -> String {
        let login = || env_var("USER").or_else(|| env_var("LOGNAME"));
        let user = self
            .user
            .clone()
            .or_else(|| env_var("PGUSER"))
            .or_else(login);
        user.unwrap_or_else(|| "postgres".into())
    }

    /// The database name in effect: the URL's, else `PGDATABASE`, else the user name.
    pub fn database_name(&self) -> String {
        let db = self.database.clone().or_else(|| env_var("PGDATABASE"));
        db.unwrap_or_else(|| self.effective_user())
    }

    /// The URL's parts as libpq environment variables, without the password.
    fn env_pairs(&self) -> Vec<(&'static str, String)> {
        let port = self.port.map(|p| p.to_string());
        let vars = [
            ("PGHOST", &self.host),
            ("PGPORT", &port),
            ("PGUSER", &self.user),
        ];
        let more = [("PGDATABASE", &self.database), ("PGSSLMODE", &self.sslmode)];
        let all = vars.into_iter().chain(more);
        all.filter_map(|(k, v)| Some((k, v.clone()?))).collect()
    }
}

impl PgUrl {
    /// `server=HOST:PORT` for [`SourceInfo::options`] (libpq's defaults shown as `local` and
    /// 5432): names the server in [`SourceInfo::identity`].
    pub fn server_option(&self) -> String {
        let host = self.host.as_deref().unwrap_or("local");
        format!(
            "{}{host}:{}",
            super::SERVER_OPTION,
            self.port.unwrap_or(5432)
        )
    }
}

impl fmt::Display for PgUrl {
    /// Formats the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", encode(user))?;
        }
        match &self.host {
            Some(h) if h.contains(':') && !h.starts_with('/') => write!(f, "[{h}]")?,
            Some(h) => f.write_str(&encode(h))?,
            None => {}
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(db) = &self.database {
            write!(f, "/{}", encode(db))?;
        }
        if let Some(mode) = &self.sslmode {
            write!(f, "?sslmode={}", encode(mode))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

/// How to dump a database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgOptions {
    /// Plain `pg_dump` (rows in heap order) instead of primary-key order.
    pub heap_order: bool,
    /// Also store the cluster's roles and tablespaces ([`open_globals`]).
    pub globals: bool,
}

/// Connects with the URL's settings, falling back to libpq's environment and defaults.
fn connect(url: &PgUrl) -> Result<Client, SourceError> {
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
fn connect_maintenance(url: &PgUrl) -> Result<Client, SourceError> {
    connect(&url.with_database("postgres")).or_else(|_| connect(&url.with_database("template1")))
}

/// `SHOW server_version_num` and `SHOW server_version`.
fn server_version(client: &mut Client, db: &str) -> Result<(u32, String), SourceError> {
    let what = format!("querying the server version of database \"{db}\"");
    let mut show = |name: &str| -> Result<String, SourceError> {
        let row = client.query_one(&format!("SHOW {name}"), &[]);
        Ok(row.map_err(|e| db_err(&what, &e))?.get(0))
    };
    let num = show("server_version_num")?;
    let bad = || SourceError::Invalid(format!("server_version_num of database \"{db}\": {num}"));
    Ok((num.parse().map_err(|_| bad())?, show("server_version")?))
}

/// `15.19` → 150019, as `server_version_num` (9.x releases count as major version 9).
fn version_num(s: &str) -> Option<u32> {
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let mut parts = s[..end].split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    Some(major * 10000 + parts.next().flatten().unwrap_or(0))
}

/// A PostgreSQL client program found on this machine.
#[derive(Debug)]
struct Tool {
    path: PathBuf,
    /// First line of `--version`, e.g. `pg_dump (PostgreSQL) 15.19`.
    version: String,
    num: u32,
}

/// The newest `name` in /usr/lib/postgresql/*/bin and PATH (earlier places win ties).
fn newest_tool(name: &str) -> Option<Tool> {
    let versioned = std::fs::read_dir("/usr/lib/postgresql").map(|d| d.flatten());
    let mut dirs: Vec<PathBuf> = versioned
        .map(|d| d.map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let (mut seen, mut newest) = (HashSet::new(), None::<Tool>);
    for path in dirs.into_iter().map(|d| d.join(name)) {
        if !path.is_file() || !seen.insert(path.canonicalize().unwrap_or(path.clone())) {
            continue;
        }
        let mut cmd = Command::new(&path);
        let Ok(out) = cmd.arg("--version").stdin(Stdio::null()).output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().next().unwrap_or("").trim().to_string();
        let newer = |n: &u32| out.status.success() && newest.as_ref().is_none_or(|t| *n > t.num);
        if let Some(num) = version
            .split_whitespace()
            .find_map(version_num)
            .filter(newer)
        {
            newest = Some(Tool { path, version, num });
        }
    }
    newest
}

/// The newest `name` if it is at least as new as the server, else a clear refusal.
fn pick_tool(name: &str, server_num: u32, server_version: &str) -> Result<Tool, SourceError> {
    let server = server_version
        .split_whitespace()
        .next()
        .unwrap_or(server_version);
    let install = format!("install postgresql-client-{}", server_num / 10000);
    let refusal = match newest_tool(name) {
        Some(t) if t.num / 10000 >= server_num / 10000 => return Ok(t),
        Some(t) => format!(
            "PostgreSQL server is {server} but the newest {name} here is {}.{}: {install}",
            t.num / 10000,
            t.num % 10000
        ),
        None => format!("no {name} found in /usr/lib/postgresql/*/bin or PATH: {install}"),
    };
    Err(SourceError::Invalid(refusal))
}

fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The command line as a shell would read it, with the URL's environment and no password.
fn describe_cmd(url: &PgUrl, tool: &Path, args: &[String]) -> String {
    let env = url
        .env_pairs()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(&v)));
    let cmd = std::iter::once(tool.display().to_string()).chain(args.iter().cloned());
    env.chain(cmd.map(|a| shell_quote(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn tool_cmd(tool: &Path, url: &PgUrl, args: &[String]) -> Command {
    let mut cmd = Command::new(tool);
    cmd.args(args).envs(url.env_pairs());
    if let Some(password) = &url.password {
        cmd.env("PGPASSWORD", password);
    }
    cmd
}

/// Double-quotes a name: an SQL identifier, or a pg_dump pattern matching exactly this name.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies `r` to `w`, telling read errors (the dump failed) from write errors (the reader left).
fn pump(r: &mut impl Read, w: &mut impl Write, what: &str) -> Result<(), SourceError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(format!("reading {what}"), e)),
        };
        w.write_all(&buf[..n])
            .map_err(|e| io_err(format!("passing on {what}"), e))?;
    }
}

/// Session settings as pg_dump makes them, then the snapshot transaction.
const SESSION_SQL: &str = "SET statement_timeout = 0; SET lock_timeout = 0;
    SET idle_in_transaction_session_timeout = 0; SET DateStyle = ISO;
    SET IntervalStyle = postgres; SET extra_float_digits TO 3; SET row_security = off;
    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Ordinary tables with a primary key that pg_dump dumps data for (not extension members):
/// schema, name, owner, qualified quoted name, quoted column list, quoted key columns.
const PK_TABLES_SQL: &str = "SELECT n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner),
    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped GENERATED),
    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i)
       FROM pg_catalog.unnest(p.conkey) WITH ORDINALITY AS k(num, i)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p'
 WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid
          AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname";

/// Everything the background thread of a primary-key-order dump needs.
struct PkJob {
    tool: PathBuf,
    url: PgUrl,
    db: String,
    snapshot: String,
    /// Rows of [`PK_TABLES_SQL`].
    tables: Vec<[String; 6]>,
    /// The database is not UTF-8: our COPY rows are, pg_dump's sections are not.
    utf8_switch: bool,
}

impl PkJob {
    /// Runs pg_dump on the exported snapshot with `args`, passing its output on.
    fn section(&self, args: &[String], out: &mut impl Write) -> Result<(), SourceError> {
        let snapshot = format!("--snapshot={}", self.snapshot);
        let mut all = vec!["--format=plain".into(), "--no-password".into(), snapshot];
        all.extend_from_slice(args);
        let what = format!("pg_dump {} of database \"{}\"", args[0], self.db);
        let cmd = tool_cmd(&self.tool, &self.url, &all);
        let mut child = ChildSource::spawn(cmd, SourceInfo::default(), what.clone())?;
        pump(&mut child, out, &what)?;
        Box::new(child).finish().map(drop)
    }

    fn run(&self, client: &mut Client, out: &mut impl Write) -> Result<(), SourceError> {
        let what = format!("the dump of database \"{}\"", self.db);
        let write_err = |e| io_err(format!("passing on {what}"), e);
        self.section(&["--section=pre-data".into()], out)?;
        if self.utf8_switch && !self.tables.is_empty() {
            out.write_all(b"SET client_encoding = 'UTF8';\n\n")
                .map_err(write_err)?;
        }
        for [schema, name, owner, qualified, columns, key] in &self.tables {
            // As pg_dump's sanitize_line: names in comments must not break the line.
            let [schema_c, name_c, owner_c] =
                [schema, name, owner].map(|s| s.replace(['\n', '\r'], " "));
            let header = format!(
                "--\n-- Data for Name: {name_c}; Type: TABLE DATA; Schema: {schema_c}; \
                 Owner: {owner_c}\n--\n\nCOPY {qualified} ({columns}) FROM stdin;\n"
            );
            out.write_all(header.as_bytes()).map_err(write_err)?;
            let sql =
                format!("COPY (SELECT {columns} FROM ONLY {qualified} ORDER BY {key}) TO STDOUT");
            let what = format!("COPY of table {qualified} in database \"{}\"", self.db);
            let mut rows = client.copy_out(&sql).map_err(|e| db_err(&what, &e))?;
            pump(&mut rows, out, &what)?;
            out.write_all(b"\\.\n\n\n").map_err(write_err)?;
        }
        let exclude =
            |t: &[String; 6]| format!("--exclude-table-data={}.{}", quote(&t[0]), quote(&t[1]));
        let data = std::iter::once("--section=data".into()).chain(self.tables.iter().map(exclude));
        self.section(&data.collect::<Vec<_>>(), out)?;
        self.section(&["--section=post-data".into()], out)?;
        let ending = format!("ending the snapshot transaction of {what}");
        client
            .batch_execute("COMMIT")
            .map_err(|e| db_err(&ending, &e))?;
        out.flush().map_err(write_err)
    }
}

/// A primary-key-order dump: a background thread writes the stream into a pipe. Dropping it
/// closes the pipe: the thread's next write fails, and it returns, killing the running pg_dump
/// (as [`ChildSource`] does when dropped) and closing the snapshot connection.
struct PkOrderSource {
    reader: io::PipeReader,
    worker: Option<JoinHandle<Result<(), SourceError>>>,
    info: SourceInfo,
    what: String,
}

impl Read for PkOrderSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl DumpSource for PkOrderSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        let drained = io::copy(&mut self.reader, &mut io::sink());
        drained.map_err(|e| io_err(format!("reading {}", self.what), e))?;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Ok(()))) => Ok(self.info.clone()),
            Some(Ok(Err(e))) => Err(e),
            _ => Err(SourceError::Invalid(format!(
                "{}: the dump thread failed",
                self.what
            ))),
        }
    }
}

/// Opens a dump of the URL's database: consistent, plain format, uncompressed, restorable with
/// `psql` (see the module documentation for primary-key order). `opts.globals` is not handled
/// here: see [`open_globals`].
///
/// Errors: the server cannot be reached or the database does not exist, no pg_dump at least as
/// new as the server, or pg_dump cannot be started. Failures during the dump (pg_dump exiting
/// non-zero or killed, a lost connection) come from [`DumpSource::finish`].
pub fn open_source(url: &PgUrl, opts: &PgOptions) -> Result<Box<dyn DumpSource>, SourceError> {
    let db = url.database_name();
    let what = format!("pg_dump of database \"{db}\"");
    let mut client = connect(url)?;
    let (num, server) = server_version(&mut client, &db)?;
    let tool = pick_tool("pg_dump", num, &server)?;
    let mut args = vec!["--format=plain".to_string(), "--no-password".to_string()];
    let mut info = SourceInfo {
        kind: "postgres".into(),
        database: Some(db.clone()),
        command: Some(describe_cmd(url, &tool.path, &args)),
        tool_version: Some(tool.version.clone()),
        server_version: Some(server),
        dialect: Some(Dialect::Postgres),
        options: vec!["heap order".into(), url.server_option()],
    };
    if opts.heap_order {
        drop(client);
        let cmd = tool_cmd(&tool.path, url, &args);
        return Ok(Box::new(ChildSource::spawn(cmd, info, what)?));
    }
    args.extend([
        "--snapshot=SNAPSHOT".into(),
        "--section=pre-data|data|post-data".into(),
    ]);
    info.command = Some(describe_cmd(url, &tool.path, &args));
    info.options = vec!["primary-key order".into(), url.server_option()];

    let starting = format!("starting the dump of database \"{db}\"");
    let failed = |e: postgres::Error| db_err(&starting, &e);
    client.batch_execute(SESSION_SQL).map_err(failed)?;
    let snapshot = client.query_one("SELECT pg_export_snapshot()", &[]);
    let snapshot: String = snapshot.map_err(failed)?.get(0);
    let generated = if num >= 120000 {
        "AND a.attgenerated = ''"
    } else {
        ""
    };
    let rows = client.query(&PK_TABLES_SQL.replace("GENERATED", generated), &[]);
    let column = |r: &postgres::Row, i| r.get::<_, Option<String>>(i).unwrap_or_default();
    let tables: Vec<[String; 6]> = rows
        .map_err(failed)?
        .iter()
        .map(|r| std::array::from_fn(|i| column(r, i)))
        .collect();
    if !tables.is_empty() {
        let list: Vec<String> = tables.iter().map(|t| format!("ONLY {}", t[3])).collect();
        let lock = format!("LOCK TABLE {} IN ACCESS SHARE MODE", list.join(", "));
        client.batch_execute(&lock).map_err(failed)?;
    }
    let encoding = client.query_one("SHOW server_encoding", &[]);
    let encoding: String = encoding.map_err(failed)?.get(0);
    let utf8_switch = !matches!(encoding.as_str(), "UTF8" | "SQL_ASCII");
    let (tool, url) = (tool.path, url.clone());
    let job = PkJob {
        tool,
        url,
        db,
        snapshot,
        tables,
        utf8_switch,
    };
    let (reader, writer) = io::pipe().map_err(|e| io_err("creating a pipe".into(), e))?;
    let worker = std::thread::Builder::new()
        .name("dumpvault-pg-dump".into())
        .spawn(move || {
            job.run(
                &mut client,
                &mut BufWriter::with_capacity(256 * 1024, writer),
            )
        })
        .map_err(|e| io_err("starting the dump thread".into(), e))?;
    Ok(Box::new(PkOrderSource {
        reader,
        worker: Some(worker),
        info,
        what,
    }))
}

/// Opens `pg_dumpall --globals-only` (roles, tablespaces) of the URL's server, for
/// [`PgOptions::globals`]. Errors: as [`open_source`].
pub fn open_globals(url: &PgUrl) -> Result<Box<dyn DumpSource>, SourceError> {
    let (num, server) = server_version(&mut connect(url)?, &url.database_name())?;
    let tool = pick_tool("pg_dumpall", num, &server)?;
    let args = vec!["--globals-only".to_string(), "--no-password".to_string()];
    let info = SourceInfo {
        kind: "postgres".into(),
        command: Some(describe_cmd(url, &tool.path, &args)),
        tool_version: Some(tool.version),
        server_version: Some(server),
        dialect: Some(Dialect::Postgres),
        options: vec!["globals-only".into()],
        ..Default::default()
    };
    let what = format!("pg_dumpall --globals-only of {url}");
    Ok(Box::new(ChildSource::spawn(
        tool_cmd(&tool.path, url, &args),
        info,
        what,
    )?))
}

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
const USER_TABLES_SQL: &str = "SELECT pg_catalog.quote_ident(n.nspname) || '.' ||
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

/// Restores a plain-format dump into the URL's database with `psql -X -q -v ON_ERROR_STOP=1
/// --single-transaction`: all or nothing.
///
/// With `create` the database is created (from `template0`); if it exists that is an error
/// unless `drop_existing`, which drops it first. Without `create` the database must exist and
/// hold no relations in user schemas, unless `drop_existing`, which then drops and recreates it
/// (from `template0`, owned by the connecting user). Nothing is dropped without
/// `drop_existing`; dropping fails while others are connected to the database.
///
/// Errors: [`SourceError::Invalid`] for a refused or missing target, [`SourceError::Failed`]
/// naming the database when psql fails (its stderr attached), [`SourceError::Io`] when reading
/// `dump` fails (psql is then killed, so nothing is committed).
pub fn restore_into(
    url: &PgUrl,
    dump: &mut dyn Read,
    create: bool,
    drop_existing: bool,
) -> Result<(), SourceError> {
    prepare_restore(url, create, drop_existing)?;
    let db = url.database_name();
    run_psql(&url.with_database(&db), dump, &db, true)
}

/// Prepares the URL's database for a restore, as [`restore_into`] describes (`create`,
/// `drop_existing`), without loading anything: the first step of a parallel restore.
///
/// Errors: [`SourceError::Invalid`] for a refused or missing target (naming the flag that
/// allows it), [`SourceError::Database`] when the server refuses.
pub fn prepare_restore(url: &PgUrl, create: bool, drop_existing: bool) -> Result<(), SourceError> {
    let db = url.database_name();
    let url = url.with_database(&db);
    let refuse = |why: &str| Err(SourceError::Invalid(format!("database \"{db}\" {why}")));
    let mut admin = connect_maintenance(&url)?;
    let preparing = format!("preparing database \"{db}\" for restore");
    let failed = |e: postgres::Error| db_err(&preparing, &e);
    let sql = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1";
    let exists = admin.query_opt(sql, &[&db]).map_err(failed)?.is_some();
    let replace = "add --drop-existing to drop it and restore into a new one";
    let recreate = match (exists, create) {
        (false, false) => return refuse("does not exist; add --create to create it"),
        (true, true) if !drop_existing => return refuse(&format!("already exists; {replace}")),
        (_, true) => true,
        (true, false) => {
            let kinds = "'r', 'p', 'v', 'm', 'S', 'f'";
            let sql = format!(
                "SELECT EXISTS ({})",
                USER_TABLES_SQL.replace("KINDS", kinds)
            );
            let row = connect(&url)?.query_one(&sql, &[]).map_err(failed)?;
            if row.get(0) && !drop_existing {
                return refuse(&format!("is not empty; {replace}"));
            }
            row.get(0)
        }
    };
    if recreate {
        if exists {
            admin
                .batch_execute(&format!("DROP DATABASE {}", quote(&db)))
                .map_err(failed)?;
        }
        let sql = format!("CREATE DATABASE {} TEMPLATE template0", quote(&db));
        admin.batch_execute(&sql).map_err(failed)?;
    }
    Ok(())
}

/// Loads one part of a plain-format dump (`dump`: session settings, then SQL and `COPY` data)
/// into the URL's database with its own `psql` session, as a parallel restore does for each
/// table: all or nothing when `one_transaction`, else statement by statement (so that
/// concurrent sessions never hold each other's locks until the end). `what` names the part in
/// errors (e.g. `data of table public.orders`).
///
/// Errors: [`SourceError::Failed`] naming the part and the database when psql fails (its
/// stderr attached), [`SourceError::Io`] when reading `dump` fails (psql is then killed).
pub fn load_part(
    url: &PgUrl,
    dump: &mut dyn Read,
    one_transaction: bool,
    what: &str,
) -> Result<(), SourceError> {
    let db = url.database_name();
    let url = url.with_database(&db);
    run_psql(&url, dump, &db, one_transaction).map_err(|e| match e {
        SourceError::Failed { status, stderr, .. } => SourceError::Failed {
            what: format!("psql loading {what} into database \"{db}\""),
            status,
            stderr,
        },
        e => e,
    })
}

/// Reads a child's stderr to the end, keeping its last [`STDERR_LIMIT`] bytes.
fn collect_tail(mut r: impl Read) -> String {
    let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
    while let Ok(n @ 1..) = r.read(&mut buf) {
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * STDERR_LIMIT {
            kept.drain(..kept.len() - STDERR_LIMIT);
        }
    }
    let start = kept.len().saturating_sub(STDERR_LIMIT);
    String::from_utf8_lossy(&kept[start..]).trim().to_string()
}

/// Pipes `dump` into psql on the URL's database.
fn run_psql(
    url: &PgUrl,
    dump: &mut dyn Read,
    db: &str,
    one_transaction: bool,
) -> Result<(), SourceError> {
    let missing = || SourceError::Invalid("no psql found: install postgresql-client".into());
    // Looked up once: a parallel restore runs psql for every table and index.
    static PSQL: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let psql = PSQL.get_or_init(|| newest_tool("psql").map(|t| t.path));
    let psql = psql.as_ref().ok_or_else(missing)?;
    let mut args = vec!["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password"];
    if one_transaction {
        args.push("--single-transaction");
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let mut cmd = tool_cmd(psql, url, &args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let tool = psql.display().to_string();
    let mut child = cmd
        .spawn()
        .map_err(|source| SourceError::Spawn { tool, source })?;
    let stderr = child
        .stderr
        .take()
        .map(|e| std::thread::spawn(move || collect_tail(e)));
    let (mut stdin, mut buf, mut write_error) = (child.stdin.take(), vec![0u8; 65536], None);
    while let Some(input) = stdin.as_mut() {
        let n = match dump.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = child.kill().and_then(|_| child.wait());
                return Err(io_err(
                    format!("reading the dump to restore into \"{db}\""),
                    e,
                ));
            }
        };
        if let Err(e) = input.write_all(&buf[..n]) {
            write_error = Some(e);
            break;
        }
    }
    drop(stdin);
    let what = format!("psql restore into database \"{db}\"");
    let status = child
        .wait()
        .map_err(|e| io_err(format!("waiting for {what}"), e))?;
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(SourceError::Failed {
            what,
            status: describe_status(status),
            stderr,
        });
    }
    write_error.map_or(Ok(()), |e| Err(io_err(format!("writing to {what}"), e)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The test server: `DUMPVAULT_TEST_PG`, else the local one; without `DUMPVAULT_TEST_PG` the
    /// tests skip when the local server is unreachable.
    fn server() -> Option<PgUrl> {
        let given = env_var("DUMPVAULT_TEST_PG");
        let default = "postgres://postgres@127.0.0.1:5432/postgres";
        let url = PgUrl::parse(given.as_deref().unwrap_or(default)).unwrap();
        match connect(&url) {
            Ok(_) => Some(url),
            Err(e) if given.is_none() => {
                eprintln!("skipping: no PostgreSQL: {e}");
                None
            }
            Err(e) => panic!("DUMPVAULT_TEST_PG: {e}"),
        }
    }

    fn unique(prefix: &str) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("{prefix}_{}_{n}", std::process::id())
    }

    fn exec(url: &PgUrl, sql: &str) {
        let result = connect(url).unwrap().batch_execute(sql);
        result.unwrap_or_else(|e| panic!("{}", db_err(sql, &e)));
    }

    /// Drops a database (or a role: `DROP ROLE`) at the end of a test, also on failure.
    struct Guard(PgUrl, String, &'static str);

    impl Guard {
        /// Reserves a database name; with `sql`, creates the database and runs `sql` in it.
        fn db(admin: &PgUrl, sql: Option<&str>) -> (Guard, PgUrl) {
            let name = unique("dv_pg");
            let guard = Guard(admin.clone(), name.clone(), "DATABASE");
            if let Some(sql) = sql {
                exec(admin, &format!("CREATE DATABASE {name}"));
                exec(&admin.with_database(&name), sql);
            }
            (guard, admin.with_database(&name))
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let force = if self.2 == "DATABASE" {
                " WITH (FORCE)"
            } else {
                ""
            };
            let sql = format!("DROP {} IF EXISTS {}{force}", self.2, self.1);
            let _ = connect(&self.0).map(|mut c| c.batch_execute(&sql));
        }
    }

    fn read_all(mut src: Box<dyn DumpSource>) -> Result<(String, SourceInfo), SourceError> {
        let mut out = String::new();
        src.read_to_string(&mut out).unwrap();
        Ok((out, src.finish()?))
    }

    fn opts(heap_order: bool) -> PgOptions {
        PgOptions {
            heap_order,
            globals: false,
        }
    }

    fn dump(url: &PgUrl, heap_order: bool) -> String {
        read_all(open_source(url, &opts(heap_order)).unwrap())
            .unwrap()
            .0
    }

    /// The dump without the lines that differ between any two pg_dump runs (restrict keys).
    fn normalize(dump: &str) -> Vec<&str> {
        let random = |l: &&str| l.starts_with("\\restrict") || l.starts_with("\\unrestrict");
        dump.lines().filter(|l| !random(l)).collect()
    }

    fn assert_same(a: &[&str], b: &[&str]) {
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        let at = first.unwrap_or(a.len().min(b.len()));
        assert!(
            a == b,
            "differ at line {at}: {:?} / {:?}",
            a.get(at),
            b.get(at)
        );
    }

    /// The data lines of the COPY block that starts with `copy_line`.
    fn copy_rows<'a>(dump: &'a str, copy_line: &str) -> Vec<&'a str> {
        let rows = dump.lines().skip_while(|l| *l != copy_line).skip(1);
        rows.take_while(|l| *l != "\\.").collect()
    }

    const SCHEMA: &str = r#"
        CREATE SEQUENCE ticket_seq START 100;
        CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(12,2),
            notes text, data json, meta jsonb, photo bytea, ratio float8,
            created timestamptz DEFAULT '2024-01-02 03:04:05+00');
        CREATE TABLE orders (customer bigint REFERENCES customers, n int, total numeric,
            ticket int DEFAULT nextval('ticket_seq'), twice int GENERATED ALWAYS AS (n * 2) STORED,
            PRIMARY KEY (n, customer));
        CREATE TABLE "Odd ""Name""" ("select" int PRIMARY KEY, "Mixed Case" text);
        CREATE TABLE events (at int, what text);
        CREATE TABLE audit (id serial PRIMARY KEY, gone int, msg text);
        ALTER TABLE audit DROP COLUMN gone;
        CREATE VIEW big_customers AS SELECT id, name FROM customers WHERE balance > 100;
        CREATE FUNCTION log_order() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN INSERT INTO audit (msg) VALUES ('order ' || NEW.n); RETURN NEW; END $$;
        CREATE TRIGGER orders_log AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION log_order();
        INSERT INTO customers SELECT i, 'name ' || i || ' ünïcødé ☃ 日本', i * 1.5,
            CASE WHEN i % 3 = 0 THEN NULL ELSE E'tab\there\nnew line \\ back' END,
            '{"k": [1, 2]}', jsonb_build_object('i', i, 's', 'x"y'),
            decode('00ff' || lpad(to_hex(i), 4, '0'), 'hex'), i / 3.0
            FROM generate_series(300, 1, -1) i;
        INSERT INTO orders (customer, n, total) SELECT i % 50 + 1, i, i / 7.0
            FROM generate_series(1, 500) i;
        INSERT INTO "Odd ""Name""" VALUES (2, NULL), (1, 'x');
        INSERT INTO events SELECT i, 'e' || i FROM generate_series(1, 50) i;
        SELECT setval('ticket_seq', 4242);
        SELECT lo_from_bytea(424242, '\x0102'::bytea);
    "#;

    #[test]
    fn round_trip_restores_an_identical_database() {
        let Some(admin) = server() else { return };
        let (_source, source) = Guard::db(&admin, Some(SCHEMA));
        let (pk_dump, info) =
            read_all(open_source(&source, &PgOptions::default()).unwrap()).unwrap();
        assert_eq!(
            (info.kind.as_str(), info.database),
            ("postgres", source.database.clone())
        );
        assert_eq!(
            (info.options, info.dialect),
            (
                vec!["primary-key order".into(), source.server_option()],
                Some(Dialect::Postgres)
            )
        );
        assert!(info
            .tool_version
            .unwrap()
            .starts_with("pg_dump (PostgreSQL) "));
        assert!(info
            .command
            .unwrap()
            .contains("pg_dump --format=plain --no-password"));
        // Our own blocks, in key order, for rows inserted out of order.
        let odd = "COPY public.\"Odd \"\"Name\"\"\" (\"select\", \"Mixed Case\") FROM stdin;";
        assert_eq!(copy_rows(&pk_dump, odd), ["1\tx", "2\t\\N"]);
        let orders = copy_rows(
            &pk_dump,
            "COPY public.orders (customer, n, total, ticket) FROM stdin;",
        );
        assert_eq!(orders.len(), 500);
        assert!(
            pk_dump.contains("\n1\tname 1 ünïcødé ☃ 日本\t1.50\ttab\\there\\nnew line \\\\ back\t")
        );
        assert!(pk_dump.contains("SELECT pg_catalog.setval('public.ticket_seq', 4242, true);"));

        let (_target, target) = Guard::db(&admin, None);
        restore_into(&target, &mut pk_dump.as_bytes(), true, false).unwrap();
        assert!(list_databases(&admin)
            .unwrap()
            .contains(target.database.as_ref().unwrap()));
        assert_same(&normalize(&pk_dump), &normalize(&dump(&target, false)));
        // Heap order differs where the restore wrote rows in key order: compare sorted lines.
        let (original, restored) = (dump(&source, true), dump(&target, true));
        assert!(original.contains("CREATE TRIGGER orders_log") && original.contains("lo_create"));
        let sorted = |d: &str| -> Vec<String> {
            let mut lines: Vec<String> = normalize(d).into_iter().map(String::from).collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&original), sorted(&restored));
        let counts = table_row_counts(&target).unwrap();
        assert_eq!(counts, table_row_counts(&source).unwrap());
        assert_eq!(
            (
                counts["public.orders"],
                counts["public.\"Odd \"\"Name\"\"\""]
            ),
            (500, 2)
        );
    }

    #[test]
    fn primary_key_order_survives_updates() {
        let Some(admin) = server() else { return };
        let (_db, url) = Guard::db(
            &admin,
            Some(
                "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2000) i;
             UPDATE t SET v = v || '!' WHERE id % 3 = 0;",
            ),
        );
        let ids = |d: &str| -> Vec<i32> {
            let rows = copy_rows(d, "COPY public.t (id, v) FROM stdin;");
            rows.iter()
                .map(|l| l.split('\t').next().unwrap().parse().unwrap())
                .collect()
        };
        assert!(
            !ids(&dump(&url, true)).is_sorted(),
            "the update should have moved rows"
        );
        let before = dump(&url, false);
        assert_eq!(ids(&before), (1..=2000).collect::<Vec<_>>());
        exec(&url, "UPDATE t SET v = 'changed' WHERE id = 1000");
        let after = dump(&url, false);
        let (before, after) = (normalize(&before), normalize(&after));
        assert_eq!(before.len(), after.len());
        let diff: Vec<_> = before.iter().zip(&after).filter(|(a, b)| a != b).collect();
        assert_eq!(diff, [(&"1000\tv1000", &"1000\tchanged")]);
    }

    /// Our child processes started with `PGDATABASE=db`.
    fn children_of_db(db: &str) -> Vec<String> {
        let (me, env) = (
            std::process::id().to_string(),
            format!("\0PGDATABASE={db}\0"),
        );
        let mut pids = Vec::new();
        for dir in std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .map(|e| e.path())
        {
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().nth(1));
            let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
            if ppid == Some(&me) && String::from_utf8_lossy(&environ).contains(&env) {
                pids.push(dir.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        pids
    }

    #[test]
    fn failures_surface_and_dropping_stops_everything() {
        let Some(admin) = server() else { return };
        for heap_order in [false, true] {
            let missing = admin.with_database(&unique("dv_pg_missing"));
            let err = open_source(&missing, &opts(heap_order));
            let err = err
                .map_or_else(|e| e, |src| read_all(src).unwrap_err())
                .to_string();
            assert!(err.contains(&missing.database_name()), "{err}");
        }
        let role = unique("dv_pg_role");
        exec(&admin, &format!("CREATE ROLE {role} LOGIN"));
        let _role = Guard(admin.clone(), role.clone(), "ROLE");
        let (_db, url) = Guard::db(
            &admin,
            Some(
                "CREATE TABLE secret (x int);
             CREATE TABLE big (id int PRIMARY KEY, v text); GRANT SELECT ON big TO PUBLIC;
             INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 50000) i;",
            ),
        );
        let db = url.database_name();
        // pg_dump fails (permission denied for table secret): the error comes from finish.
        let as_role = PgUrl {
            user: Some(role),
            ..url.clone()
        };
        for heap_order in [false, true] {
            let src = open_source(&as_role, &opts(heap_order)).unwrap();
            let err = read_all(src).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, SourceError::Failed { .. }), "{text}");
            assert!(
                text.contains(&db) && text.contains("permission denied"),
                "{text}"
            );
        }
        // A killed pg_dump (blocked on a full pipe) is detected.
        let mut src = open_source(&url, &opts(true)).unwrap();
        src.read_exact(&mut [0u8; 100]).unwrap();
        let pids = children_of_db(&db);
        assert_eq!(pids.len(), 1);
        Command::new("kill")
            .args(["-9", &pids[0]])
            .status()
            .unwrap();
        let err = read_all(src).unwrap_err().to_string();
        assert!(
            err.contains("killed by signal 9") && err.contains(&db),
            "{err}"
        );
        // Dropping a primary-key-order source early ends its children and its connection.
        let mut src = open_source(&url, &PgOptions::default()).unwrap();
        src.read_exact(&mut [0u8; 100]).unwrap();
        drop(src);
        let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sessions: i64 = connect(&admin)
                .unwrap()
                .query_one(&sql, &[])
                .unwrap()
                .get(0);
            if sessions == 0 && children_of_db(&db).is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{sessions} sessions still open");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn restore_refuses_to_overwrite() {
        let Some(admin) = server() else { return };
        let one = "CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a VALUES (1);";
        let (_source, source) = Guard::db(&admin, Some(one));
        let (_target, target) = Guard::db(&admin, Some("CREATE TABLE keep (id int);"));
        let pk_dump = dump(&source, false);
        for create in [false, true] {
            let err = restore_into(&target, &mut pk_dump.as_bytes(), create, false).unwrap_err();
            let name = target.database_name();
            assert!(matches!(err, SourceError::Invalid(_)) && err.to_string().contains(&name));
        }
        assert!(table_row_counts(&target)
            .unwrap()
            .contains_key("public.keep"));
        let (_missing, missing) = Guard::db(&admin, None);
        let err = restore_into(&missing, &mut pk_dump.as_bytes(), false, false).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let bad = restore_into(&missing, &mut &b"CREATE TABLE x (;"[..], true, false).unwrap_err();
        assert!(matches!(bad, SourceError::Failed { .. }));
        assert!(bad.to_string().contains(&missing.database_name()), "{bad}");
        restore_into(&target, &mut pk_dump.as_bytes(), false, true).unwrap();
        let counts = table_row_counts(&target).unwrap();
        assert_eq!(counts, BTreeMap::from([("public.a".to_string(), 1)]));
        let (globals, info) = read_all(open_globals(&admin).unwrap()).unwrap();
        assert!(globals.contains("CREATE ROLE postgres;"), "{globals}");
        assert_eq!(info.options, ["globals-only"]);
    }

    #[test]
    fn urls_versions_and_quoting() {
        let url =
            PgUrl::parse("postgresql://al%40ice:s3cr%3At@db.example:6543/shop?sslmode=disable");
        let url = url.unwrap();
        assert_eq!(
            (url.user.as_deref(), url.password.as_deref()),
            (Some("al@ice"), Some("s3cr:t"))
        );
        assert_eq!(
            (url.host.as_deref(), url.port),
            (Some("db.example"), Some(6543))
        );
        assert_eq!(
            url.to_string(),
            "postgres://al%40ice@db.example:6543/shop?sslmode=disable"
        );
        assert!(!format!("{url:?}").contains("s3cr"));
        assert_eq!(url.with_database("x").database_name(), "x");
        let v6 = PgUrl::parse("postgres://[::1]:5433").unwrap();
        assert_eq!((v6.host.as_deref(), v6.port), (Some("::1"), Some(5433)));
        assert_eq!(v6.to_string(), "postgres://[::1]:5433");
        let sock = PgUrl::parse("postgres:///db?host=%2Fvar%2Frun%2Fpostgresql").unwrap();
        assert_eq!(sock.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(PgUrl::parse("postgres://").unwrap(), PgUrl::default());
        for bad in [
            "mysql://x",
            "postgres://h:p/db",
            "postgres://h/db?foo=1",
            "postgres://h/%zz",
        ] {
            assert!(PgUrl::parse(bad).is_err(), "{bad}");
        }
        let cmd = describe_cmd(&url, Path::new("/bin/pg_dump"), &["--a b".into()]);
        let env = "PGHOST=db.example PGPORT=6543 PGUSER=al@ice PGDATABASE=shop PGSSLMODE=disable";
        assert_eq!(cmd, format!("{env} /bin/pg_dump '--a b'"));
        assert_eq!(version_num("15.19"), Some(150019));
        assert_eq!(
            (version_num("16beta1"), version_num("(PostgreSQL)")),
            (Some(160000), None)
        );
        assert_eq!(quote("a\"b.*"), "\"a\"\"b.*\"");
        let err = pick_tool("pg_dump", 990001, "99.1 (Debian)")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("PostgreSQL server is 99.1 but the newest pg_dump here is 1"));
        assert!(err.ends_with(": install postgresql-client-99"), "{err}");
    }
}
