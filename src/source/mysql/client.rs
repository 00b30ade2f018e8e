//! The MySQL / MariaDB client programs: finding `mariadb-dump`/`mysqldump` and `mariadb`/`mysql`
//! on `PATH`, the anonymous option file that carries the credentials, and a [`Session`] that runs
//! SQL through the client.
//!
//! Owns starting client programs with credentials. It must never put a credential on a command
//! line or in a file with a name, and must not dump or restore (see `dump` and `target`).

use super::{io_err, lit, spawn_err, unhex, MyUrl};
use crate::source::command::describe_status;
use crate::source::SourceError;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

/// Dump programs, in order of preference.
pub(super) const DUMP_TOOLS: &[&str] = &["mariadb-dump", "mysqldump"];
/// SQL clients, in order of preference (`mariadb` understands MariaDB's sandbox-mode line).
const CLIENT_TOOLS: &[&str] = &["mariadb", "mysql"];
/// Client flags: batch output, utf8mb4, and binary mode (no `\r\n` translation, which would
/// alter routine bodies; no client commands but `DELIMITER`).
const CLIENT_FLAGS: &str = "--batch --skip-column-names --binary-mode \
    --default-character-set=utf8mb4 --max-allowed-packet=1G";

/// Finds the first of `names` on `PATH`.
pub(super) fn find_tool<'a>(names: &[&'a str]) -> Result<&'a str, SourceError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = names.iter().find(|name| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    found.copied().ok_or_else(|| SourceError::Spawn {
        tool: names.join(" or "),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not found in PATH; install the MariaDB or MySQL client programs",
        ),
    })
}

/// An anonymous `[client]` option file holding the connection settings. It has no name in any
/// file system (a memfd on Linux, an unlinked temporary file elsewhere), so nothing is left
/// behind however the process ends; children read it through an inherited descriptor.
pub(super) struct OptionFile(std::fs::File);

/// A copy of the option file's descriptor that a child inherits, for the duration of one
/// spawn: drop it once the child is started.
pub(super) struct Inherited(std::os::fd::OwnedFd);

impl Inherited {
    /// `--defaults-extra-file=/dev/fd/N`.
    pub(super) fn arg(&self) -> OsString {
        use std::os::fd::AsRawFd;
        OsString::from(format!(
            "--defaults-extra-file=/dev/fd/{}",
            self.0.as_raw_fd()
        ))
    }
}

impl OptionFile {
    fn write(url: &MyUrl) -> Result<Self, SourceError> {
        // Quoted values take the escapes \\ \" \n \r \t, so any password survives.
        let quote = |v: &str| {
            let v = v
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('\n', r"\n");
            format!("\"{}\"", v.replace('\r', r"\r").replace('\t', r"\t"))
        };
        let mut text = String::from("[client]\n");
        if let Some(u) = &url.user {
            text += &format!("user={}\n", quote(u));
        }
        if let Some(p) = &url.password {
            text += &format!("password={}\n", quote(p));
        }
        if let Some(h) = &url.host {
            text += &format!("host={}\nprotocol=TCP\n", quote(h));
        }
        if let Some(p) = url.port {
            text += &format!("port={p}\n");
        }
        let mut file = anonymous_file().map_err(io_err("creating a MySQL option file"))?;
        // The clients ignore a world-writable option file.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(io_err("writing a MySQL option file"))?;
        Ok(Self(file))
    }

    /// A descriptor of the file without close-on-exec, so the next child inherits it under the
    /// same number. Other children started by this process meanwhile inherit it too; it closes
    /// when they end.
    pub(super) fn inherit(&self) -> Result<Inherited, SourceError> {
        #[cfg(not(target_os = "linux"))]
        {
            // Elsewhere /dev/fd/N duplicates the descriptor, offset included.
            use std::io::Seek;
            (&self.0)
                .rewind()
                .map_err(io_err("rewinding the MySQL option file"))?;
        }
        // dup(2) clears close-on-exec on the copy.
        rustix::io::dup(&self.0)
            .map(Inherited)
            .map_err(|e| io_err("passing the MySQL option file")(e.into()))
    }
}

/// A file with no name: a memfd on Linux (never on disk), else an unlinked temporary file.
fn anonymous_file() -> std::io::Result<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        let fd = rustix::fs::memfd_create("dumpvault-my-options", rustix::fs::MemfdFlags::CLOEXEC)?;
        Ok(std::fs::File::from(fd))
    }
    #[cfg(not(target_os = "linux"))]
    {
        tempfile::tempfile()
    }
}

/// A client program plus the option file for one connection.
pub(super) struct Session {
    pub(super) client: &'static str,
    pub(super) file: OptionFile,
}

impl Session {
    pub(super) fn open(url: &MyUrl) -> Result<Self, SourceError> {
        Ok(Self {
            client: find_tool(CLIENT_TOOLS)?,
            file: OptionFile::write(url)?,
        })
    }

    /// The client with the option file and [`CLIENT_FLAGS`], and the descriptor it inherits
    /// (keep it until the client is spawned).
    pub(super) fn client(
        &self,
        database: Option<&str>,
    ) -> Result<(Command, Inherited), SourceError> {
        let fd = self.file.inherit()?;
        let mut cmd = Command::new(self.client);
        cmd.arg(fd.arg()).args(CLIENT_FLAGS.split_whitespace());
        cmd.args(database.map(|db| format!("--database={db}")));
        Ok((cmd, fd))
    }

    /// Runs `sql` (fed on stdin) and returns the tab-separated output.
    pub(super) fn query(
        &self,
        database: Option<&str>,
        sql: &str,
        what: &str,
    ) -> Result<String, SourceError> {
        let (mut cmd, fd) = self.client(database)?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err(self.client))?;
        drop(fd);
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let sql = sql.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(sql.as_bytes()));
        let out = child.wait_with_output().map_err(io_err(what))?;
        let _ = writer.join();
        if !out.status.success() {
            let message = Some(client_errors(&out.stderr)).filter(|m| !m.is_empty());
            let message = message.unwrap_or_else(|| describe_status(out.status));
            return Err(SourceError::Database {
                what: what.to_string(),
                message,
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The tables, views, sequences, routines and events of `db` as (kind, name), views first;
    /// `None` when `db` does not exist.
    pub(super) fn objects(&self, db: &str) -> Result<Option<Vec<(String, String)>>, SourceError> {
        let l = lit(db);
        let sql = format!(
            "SELECT 'DATABASE', '' FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {l}
             UNION ALL SELECT TABLE_TYPE, HEX(TABLE_NAME) FROM information_schema.TABLES
             WHERE TABLE_SCHEMA = {l} UNION ALL SELECT ROUTINE_TYPE, HEX(ROUTINE_NAME)
             FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {l} UNION ALL
             SELECT 'EVENT', HEX(EVENT_NAME) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {l};"
        );
        let out = self.query(None, &sql, &format!("looking up database \"{db}\""))?;
        let mut objects: Vec<(String, String)> = (out.lines())
            .filter_map(|line| line.split_once('\t'))
            .filter_map(|(kind, name)| Some((kind.to_string(), unhex(name)?)))
            .collect();
        let exists = objects.iter().any(|(kind, _)| kind == "DATABASE");
        objects.retain(|(kind, _)| kind != "DATABASE");
        objects.sort_by_key(|(kind, _)| kind != "VIEW");
        Ok(exists.then_some(objects))
    }
}

/// The `ERROR ...` lines of a client's stderr, without the echo of the failed statement (which
/// can be megabytes); the first 4 KiB of it when there are none.
pub(super) fn client_errors(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("ERROR")).collect();
    match errors.is_empty() {
        true => text.trim().chars().take(4096).collect(),
        false => errors.join("\n"),
    }
}

/// The dump tool's `--version` line.
pub(super) fn tool_version(tool: &str) -> Result<String, SourceError> {
    let out = Command::new(tool)
        .arg("--version")
        .output()
        .map_err(spawn_err(tool))?;
    if !out.status.success() {
        return Err(SourceError::Failed {
            what: format!("{tool} --version"),
            status: describe_status(out.status),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
