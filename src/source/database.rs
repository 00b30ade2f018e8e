//! Database URLs: `postgres://`, `mysql://` / `mariadb://` and `sqlite://`, dispatched to the
//! engine modules for dumping, listing databases, restoring and counting rows.

use super::{mysql, postgres, sqlite, DumpSource, SourceError};
use std::collections::BTreeMap;
use std::io::Read;

/// A parsed database URL.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// A PostgreSQL server and database.
    Postgres(postgres::PgUrl),
    /// A MySQL or MariaDB server and database.
    MySql(mysql::MyUrl),
    /// An SQLite database file.
    Sqlite(std::path::PathBuf),
}

/// Databases that a restore of this process created and has not finished, to be dropped if
/// the process is interrupted ([`drop_unfinished`]).
static UNFINISHED: std::sync::Mutex<Vec<(u64, DatabaseUrl)>> = std::sync::Mutex::new(Vec::new());

/// Registers a database that a restore creates (`restore --to … --create` of a database that
/// did not exist) for as long as the guard lives: if a signal stops the process meanwhile,
/// [`drop_unfinished`] drops it instead of leaving a half-loaded database behind. The failure
/// path drops it itself; success keeps it (drop the guard).
#[derive(Debug)]
pub struct UnfinishedGuard(u64);

impl UnfinishedGuard {
    /// Registers `url`'s database as created by a restore that is still running.
    pub fn register(url: &DatabaseUrl) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut u = UNFINISHED.lock().unwrap_or_else(|p| p.into_inner());
        u.push((id, url.clone()));
        UnfinishedGuard(id)
    }
}

impl Drop for UnfinishedGuard {
    fn drop(&mut self) {
        let mut u = UNFINISHED.lock().unwrap_or_else(|p| p.into_inner());
        u.retain(|(id, _)| *id != self.0);
    }
}

/// Whether a restore made its target database itself: recorded by the engine right after its
/// own `CREATE DATABASE` succeeded (for SQLite, its rename into a path no file held), through
/// the callback [`Creation::record`] that the engine's restore and prepare functions take.
/// Only then is the database this restore's to drop when it fails ([`Creation::made`]), and
/// only then is it registered for the interrupt path ([`UnfinishedGuard`]). A database that
/// another client created between a look and this restore's `CREATE` (which then fails) is
/// never taken for this restore's own.
#[derive(Debug)]
pub struct Creation {
    url: DatabaseUrl,
    drop_if_interrupted: bool,
    made: std::sync::atomic::AtomicBool,
    guard: std::sync::Mutex<Option<UnfinishedGuard>>,
}

impl Creation {
    /// Nothing made yet for `url`'s database. With `drop_if_interrupted`, a database this
    /// restore makes is dropped if a signal stops the process before this value is dropped.
    pub fn new(url: &DatabaseUrl, drop_if_interrupted: bool) -> Self {
        Creation {
            url: url.clone(),
            drop_if_interrupted,
            made: std::sync::atomic::AtomicBool::new(false),
            guard: std::sync::Mutex::new(None),
        }
    }

    /// Records that this restore's own `CREATE DATABASE` (or rename) made the database.
    pub fn record(&self) {
        use std::sync::atomic::Ordering;
        if self.made.swap(true, Ordering::SeqCst) || !self.drop_if_interrupted {
            return;
        }
        let mut guard = self.guard.lock().unwrap_or_else(|p| p.into_inner());
        *guard = Some(UnfinishedGuard::register(&self.url));
    }

    /// Whether [`Creation::record`] was called: the database is this restore's own.
    pub fn made(&self) -> bool {
        self.made.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// For the interrupt path: drops every database registered by a live [`UnfinishedGuard`],
/// ending the sessions still loading it. Returns each database's name and the outcome (the
/// databases stay registered, so a guard dropped later changes nothing).
pub fn drop_unfinished() -> Vec<(String, Result<(), SourceError>)> {
    let urls: Vec<DatabaseUrl> = {
        let u = UNFINISHED.lock().unwrap_or_else(|p| p.into_inner());
        u.iter().map(|(_, url)| url.clone()).collect()
    };
    urls.iter()
        .map(|url| (url.database(), url.drop_database()))
        .collect()
}

/// Per-engine dump options from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpOptions {
    /// PostgreSQL: plain pg_dump heap order instead of primary-key order.
    pub heap_order: bool,
    /// MySQL/MariaDB: `--order-by-primary` off.
    pub no_order_by_primary: bool,
    /// PostgreSQL: also store roles and tablespaces as a `globals.sql` stream.
    pub globals: bool,
    /// SQLite: store the database image instead of a SQL dump.
    pub sqlite_image: bool,
    /// PostgreSQL: sessions that COPY the table data (see
    /// [`postgres::PgOptions::jobs`]); 0 and 1 mean one.
    pub table_jobs: usize,
}

/// One stream of a database snapshot: its name in the manifest (e.g. `shop.sql`) and its source.
pub type NamedSource = (String, Box<dyn DumpSource>);

impl DatabaseUrl {
    /// Whether `s` looks like a database URL this module handles.
    pub fn is_url(s: &str) -> bool {
        postgres::PgUrl::is_url(s) || mysql::MyUrl::is_url(s) || s.starts_with("sqlite:")
    }

    /// Parses a URL. Errors: [`SourceError::Invalid`] naming the problem.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        if postgres::PgUrl::is_url(s) {
            Ok(DatabaseUrl::Postgres(postgres::PgUrl::parse(s)?))
        } else if mysql::MyUrl::is_url(s) {
            Ok(DatabaseUrl::MySql(mysql::MyUrl::parse(s)?))
        } else if s.starts_with("sqlite:") {
            Ok(DatabaseUrl::Sqlite(sqlite::parse_url(s)?))
        } else {
            Err(SourceError::Invalid(format!(
                "{s:?} is not a database URL (postgres://, mysql://, mariadb:// or sqlite://)"
            )))
        }
    }

    /// The database name (the file name for SQLite).
    pub fn database(&self) -> String {
        match self {
            DatabaseUrl::Postgres(u) => u.database_name(),
            DatabaseUrl::MySql(u) => u.database.clone().unwrap_or_default(),
            DatabaseUrl::Sqlite(p) => p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// The same server with another database.
    pub fn with_database(&self, db: &str) -> Self {
        match self {
            DatabaseUrl::Postgres(u) => DatabaseUrl::Postgres(u.with_database(db)),
            DatabaseUrl::MySql(u) => DatabaseUrl::MySql(u.with_database(db)),
            DatabaseUrl::Sqlite(p) => DatabaseUrl::Sqlite(p.with_file_name(db)),
        }
    }

    /// The streams of a snapshot of this database: `(stream name, source)`; the dump first.
    ///
    /// Errors: the engine's error (connection, missing tool, unknown database).
    pub fn open(&self, opts: &DumpOptions) -> Result<Vec<NamedSource>, SourceError> {
        let db = self.database();
        Ok(match self {
            DatabaseUrl::Postgres(u) => {
                let po = postgres::PgOptions {
                    heap_order: opts.heap_order,
                    globals: opts.globals,
                    jobs: opts.table_jobs,
                };
                let mut v = vec![(format!("{db}.sql"), postgres::open_source(u, &po)?)];
                if opts.globals {
                    v.push(("globals.sql".to_string(), postgres::open_globals(u)?));
                }
                v
            }
            DatabaseUrl::MySql(u) => {
                let mo = mysql::MyOptions {
                    order_by_primary: !opts.no_order_by_primary,
                };
                vec![(format!("{db}.sql"), mysql::open_source(u, &mo)?)]
            }
            DatabaseUrl::Sqlite(p) => {
                let (fmt, name) = if opts.sqlite_image {
                    (sqlite::SqliteFormat::Image, db.clone())
                } else {
                    (sqlite::SqliteFormat::Sql, format!("{db}.sql"))
                };
                vec![(name, sqlite::open_source(p, fmt)?)]
            }
        })
    }

    /// Databases on the server (templates and system schemas excluded).
    pub fn list_databases(&self) -> Result<Vec<String>, SourceError> {
        match self {
            DatabaseUrl::Postgres(u) => postgres::list_databases(u),
            DatabaseUrl::MySql(u) => mysql::list_databases(u),
            DatabaseUrl::Sqlite(_) => Err(SourceError::Invalid(
                "--all-databases needs a server URL, not an SQLite file".into(),
            )),
        }
    }

    /// Feeds `dump` into the database. `image` says the stream is an SQLite database image.
    /// Nothing is dropped unless `drop_existing`. A database this call makes where none was
    /// is recorded in `creation` as soon as it exists, so the caller knows, even when the
    /// load fails later, whether the database is its own to drop.
    pub fn restore(
        &self,
        dump: &mut dyn Read,
        create: bool,
        drop_existing: bool,
        image: bool,
        creation: &Creation,
    ) -> Result<(), SourceError> {
        let made = &|| creation.record();
        match self {
            DatabaseUrl::Postgres(u) => {
                postgres::restore_into(u, dump, create, drop_existing, made)
            }
            DatabaseUrl::MySql(u) => mysql::restore_into(u, dump, create, drop_existing, made),
            DatabaseUrl::Sqlite(p) => {
                let fmt = if image {
                    sqlite::SqliteFormat::Image
                } else {
                    sqlite::SqliteFormat::Sql
                };
                sqlite::restore_into(p, dump, fmt, drop_existing, made)
            }
        }
    }

    /// Whether the database (the file, for SQLite) exists. Errors: the engine's.
    pub fn exists(&self) -> Result<bool, SourceError> {
        match self {
            DatabaseUrl::Postgres(u) => postgres::database_exists(u),
            DatabaseUrl::MySql(u) => mysql::database_exists(u),
            DatabaseUrl::Sqlite(p) => Ok(p.exists()),
        }
    }

    /// Drops the database (deletes the file, for SQLite) if it exists. Only for scratch
    /// databases this program created, such as `verify --into`'s. Errors: the engine's.
    pub fn drop_database(&self) -> Result<(), SourceError> {
        match self {
            DatabaseUrl::Postgres(u) => postgres::drop_database(u),
            DatabaseUrl::MySql(u) => mysql::drop_database(u),
            DatabaseUrl::Sqlite(p) => match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SourceError::Io {
                    what: format!("removing {}", p.display()),
                    source: e,
                }),
                _ => Ok(()),
            },
        }
    }

    /// Exact row counts per table, names normalised by [`normalize_table`].
    pub fn row_counts(&self) -> Result<BTreeMap<String, u64>, SourceError> {
        let raw = match self {
            DatabaseUrl::Postgres(u) => postgres::table_row_counts(u)?,
            DatabaseUrl::MySql(u) => mysql::table_row_counts(u)?,
            DatabaseUrl::Sqlite(p) => sqlite::table_row_counts(p)?,
        };
        Ok(raw
            .into_iter()
            .map(|(k, v)| (normalize_table(&k), v))
            .collect())
    }
}

/// A table name without quotes, for comparing names from dumps and from catalogs.
pub fn normalize_table(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '"' | '`')).collect()
}
