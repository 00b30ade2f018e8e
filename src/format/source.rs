//! Where a dump came from, as recorded in the snapshot manifest: [`SourceInfo`] and the SQL
//! [`Dialect`]. Persisted (bincode, `repo-format.md` section 10): field and variant order is the
//! disk format, so these types live here, not in `source/`, which re-exports them. Owns no I/O
//! and runs no tool.

use serde::{Deserialize, Serialize};

/// What produced a dump and how; stored in the snapshot manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Source kind: `stdin`, `command`, `postgres`, `mysql` or `sqlite`.
    pub kind: String,
    /// Database name, when the source is a database.
    pub database: Option<String>,
    /// The dump command line (without passwords), when known.
    pub command: Option<String>,
    /// Version string of the dump tool (e.g. `pg_dump (PostgreSQL) 15.19`), when known.
    pub tool_version: Option<String>,
    /// Version string of the database server, when known.
    pub server_version: Option<String>,
    /// SQL dialect of the stream, used by the table scanner; `None` for opaque streams.
    pub dialect: Option<Dialect>,
    /// Notable options, e.g. `primary-key order`, `format=image`.
    pub options: Vec<String>,
}

/// Option prefix naming the server a database was dumped from: `server=HOST:PORT`.
pub const SERVER_OPTION: &str = "server=";
/// Option prefix naming the file an SQLite database was read from: `path=/abs/file.db`.
pub const PATH_OPTION: &str = "path=";

impl SourceInfo {
    /// Which database this is, for grouping snapshots (retention): engine, server or file,
    /// and name, e.g. `postgres db1:5432/shop` or `sqlite /var/lib/app/app.db`; two databases
    /// of the same name on different servers or engines are different. Snapshots written
    /// before the server was recorded give `postgres shop`. A piped stream (`stdin` or
    /// `command`) with a recorded database gives `stream shop`, the same for both kinds.
    /// `None` when no database is recorded (see
    /// [`crate::format::snapshot::Manifest::identity`], which derives one from the stream).
    pub fn identity(&self) -> Option<String> {
        self.database.as_deref().map(|db| self.identity_of(db))
    }

    /// The database of a snapshot of this source whose first stream is named `first_stream`:
    /// the recorded `database`, else for a piped stream (`stdin`, `command`; snapshots written
    /// before the database was recorded) the stream's name without extension
    /// ([`database_of_stream`]). `None` for other sources without a database.
    pub fn database_for(&self, first_stream: Option<&str>) -> Option<String> {
        if let Some(db) = &self.database {
            return Some(db.clone());
        }
        let stream = first_stream.filter(|_| self.is_stream())?;
        Some(database_of_stream(stream))
    }

    /// [`SourceInfo::identity`] for the database name `db`.
    pub fn identity_of(&self, db: &str) -> String {
        if self.is_stream() {
            return format!("stream {db}");
        }
        let at = self.options.iter().find_map(|o| {
            (o.strip_prefix(SERVER_OPTION).map(|s| format!("{s}/{db}")))
                .or_else(|| o.strip_prefix(PATH_OPTION).map(str::to_string))
        });
        format!("{} {}", self.kind, at.unwrap_or_else(|| db.to_string()))
    }

    /// True for a piped stream (`--stdin` or `--command`), whose database is named by the
    /// user (`--database`) or by its stream name (see [`database_of_stream`]).
    pub fn is_stream(&self) -> bool {
        self.kind == "stdin" || self.kind == "command"
    }
}

/// Compression suffixes dropped before the extension by [`database_of_stream`].
const COMPRESSION_SUFFIXES: [&str; 6] = [".gz", ".zst", ".xz", ".bz2", ".lz4", ".zstd"];

/// The database a piped stream is of when no `--database` was given: the stream name without
/// its directory, a compression suffix and its extension (`shop.sql` and `shop.sql.gz` give
/// `shop`, `dump.sql` gives `dump`). A name that would become empty (`.sql`) stays as it is.
pub fn database_of_stream(stream: &str) -> String {
    let base = stream.rsplit('/').next().unwrap_or(stream);
    let mut name = base;
    if let Some(s) = (COMPRESSION_SUFFIXES.iter()).find_map(|c| name.strip_suffix(c)) {
        name = s;
    }
    if let Some((stem, _)) = name.rsplit_once('.') {
        name = stem;
    }
    if name.is_empty() {
        base.to_string()
    } else {
        name.to_string()
    }
}

/// SQL dialect of a dump stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dialect {
    /// `pg_dump` plain format (or dumpvault's primary-key-ordered equivalent).
    Postgres,
    /// `mariadb-dump` / `mysqldump` output.
    MySql,
    /// SQLite `.dump`-style SQL text.
    Sqlite,
}
