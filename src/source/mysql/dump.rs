//! MySQL / MariaDB dumps: [`open_source`] runs `mariadb-dump`/`mysqldump` on one database with
//! pinned flags (consistent, primary-key order by default, extended INSERTs split at
//! [`NET_BUFFER_LENGTH`]).
//!
//! Owns producing dump bytes and their [`SourceInfo`]. It must not restore or drop anything, and
//! a failed or killed dump must surface from [`DumpSource::finish`].

use super::client::{find_tool, tool_version, Session, DUMP_TOOLS};
use super::MyUrl;
use crate::source::command::ChildSource;
use crate::source::{Dialect, DumpSource, SourceError, SourceInfo};
use std::io::Read;
use std::process::Command;

/// Maximum size of one extended INSERT statement in a dump (4 MiB): a quarter of the statement
/// boundaries of the 1 MiB default, below every usual server's default `max_allowed_packet`.
pub const NET_BUFFER_LENGTH: u32 = 4 * 1024 * 1024;
/// Flags of every dump. Besides consistency (`--single-transaction`) and completeness, they pin
/// output-affecting options a `[mysqldump]` group in the user's option files could change.
const DUMP_FLAGS: &str = "--single-transaction --quick --routines --triggers --events --hex-blob \
    --skip-dump-date --comments --extended-insert --add-drop-table --create-options --set-charset \
    --tz-utc --default-character-set=utf8mb4 --no-tablespaces --max-allowed-packet=1G";

/// Dump options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyOptions {
    /// Dump rows in primary-key order (`--order-by-primary`), so unchanged rows keep their place
    /// and deduplicate across snapshots. Default `true`.
    pub order_by_primary: bool,
}

impl Default for MyOptions {
    fn default() -> Self {
        Self {
            order_by_primary: true,
        }
    }
}

/// A running dump.
struct MySource {
    child: ChildSource,
}

impl Read for MySource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.child.read(buf)
    }
}

impl DumpSource for MySource {
    fn info(&self) -> SourceInfo {
        self.child.info()
    }

    fn finish(self: Box<Self>) -> Result<SourceInfo, SourceError> {
        Box::new(self.child).finish()
    }
}

/// Starts a dump of `url`'s database. Checks the connection first (`SELECT VERSION()`), so a bad
/// password or an unknown database fails here with the server's message.
///
/// Errors: [`SourceError::Invalid`] without a database, [`SourceError::Spawn`] when neither
/// `mariadb-dump` nor `mysqldump` (or no client) is installed, [`SourceError::Database`] when the
/// connection fails.
pub fn open_source(url: &MyUrl, opts: &MyOptions) -> Result<Box<dyn DumpSource>, SourceError> {
    let db = url.require_database("dump")?.to_string();
    let tool = find_tool(DUMP_TOOLS)?;
    let tool_version = tool_version(tool)?;
    let session = Session::open(url)?;
    let connecting = format!("connecting to {url}");
    let version = session.query(Some(&db), "SELECT VERSION();", &connecting)?;
    let mut flags: Vec<String> = DUMP_FLAGS.split_whitespace().map(String::from).collect();
    flags.push(format!("--net-buffer-length={NET_BUFFER_LENGTH}"));
    let order = if opts.order_by_primary {
        "primary-key order"
    } else {
        "server order"
    };
    let host = url.host.as_deref().unwrap_or("local");
    let options = vec![
        order.to_string(),
        format!("net-buffer-length={NET_BUFFER_LENGTH}"),
        format!(
            "{}{host}:{}",
            crate::source::SERVER_OPTION,
            url.port.unwrap_or(3306)
        ),
    ];
    if opts.order_by_primary {
        flags.push("--order-by-primary".into());
    }
    if !tool_version.contains("MariaDB") {
        // Oracle's mysqldump: no GTID_PURGED statement (it breaks restores elsewhere); from 8.0
        // on, no column-statistics query (MariaDB servers do not have that table).
        flags.push("--set-gtid-purged=OFF".into());
        if !tool_version.contains("Distrib 5.") {
            flags.push("--column-statistics=0".into());
        }
    }
    let fd = session.file.inherit()?;
    let mut cmd = Command::new(tool);
    cmd.arg(fd.arg()).args(&flags).arg("--").arg(&db);
    let flags = flags.join(" ");
    let command = format!("{tool} --defaults-extra-file=<options for {url}> {flags} -- {db}");
    // The password is in the option file, never on the command line nor in the log.
    tracing::info!(database = %db, command = %command, "dump command");
    let info = SourceInfo {
        kind: "mysql".into(),
        database: Some(db.clone()),
        command: Some(command),
        tool_version: Some(tool_version),
        server_version: Some(version.trim().to_string()),
        dialect: Some(Dialect::MySql),
        options,
    };
    let child = ChildSource::spawn(cmd, info, format!("{tool} of database \"{db}\""));
    drop(fd);
    Ok(Box::new(MySource { child: child? }))
}
