//! PostgreSQL client programs (`pg_dump`, `pg_dumpall`, `psql`): finding the newest one on this
//! machine, refusing one older than the server, and building its command line with the URL's
//! settings as libpq environment variables (the password only as `PGPASSWORD`).
//!
//! Owns tool choice and command building. It must not connect to a server, start a dump or a
//! restore, or put a password on a command line or in a description.

use super::PgUrl;
use crate::source::SourceError;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// `15.19` → 150019, as `server_version_num` (9.x releases count as major version 9).
pub(super) fn version_num(s: &str) -> Option<u32> {
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let mut parts = s[..end].split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    Some(major * 10000 + parts.next().flatten().unwrap_or(0))
}

/// A PostgreSQL client program found on this machine.
#[derive(Debug)]
pub(super) struct Tool {
    pub(super) path: PathBuf,
    /// First line of `--version`, e.g. `pg_dump (PostgreSQL) 15.19`.
    pub(super) version: String,
    pub(super) num: u32,
}

/// A program as run: the path it is started by (Debian's `pg_wrapper` answers as the name it
/// is called by: `/usr/bin/psql` and `/usr/bin/pg_dump` are one file), and the file that path
/// leads to: its canonical path, size and modification time. A program replaced on disk (a
/// client upgrade while the daemon runs) is another file.
type FileStamp = (PathBuf, PathBuf, u64, Option<std::time::SystemTime>);

/// `--version` answers by program file (`None`: it failed or named no version), so that a run
/// over many databases asks each program once. Starting one is not free: Debian's `pg_wrapper`
/// on PATH is a Perl script that takes 40-80 ms to answer (issue 19, fleet fixed cost).
static VERSIONS: Mutex<BTreeMap<FileStamp, Option<(String, u32)>>> = Mutex::new(BTreeMap::new());

/// The first line of `path --version` and its version number, asked once per program file
/// (see [`VERSIONS`]).
fn tool_version(path: &Path) -> Option<(String, u32)> {
    let canonical = path.canonicalize().unwrap_or(path.to_path_buf());
    let meta = std::fs::metadata(&canonical).ok()?;
    let stamp = (
        path.to_path_buf(),
        canonical,
        meta.len(),
        meta.modified().ok(),
    );
    let cached = VERSIONS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&stamp)
        .cloned();
    if let Some(answer) = cached {
        return answer;
    }
    let mut cmd = Command::new(path);
    let out = cmd.arg("--version").stdin(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next().unwrap_or("").trim().to_string();
    let num = version.split_whitespace().find_map(version_num);
    let answer = num.filter(|_| out.status.success()).map(|n| (version, n));
    let mut versions = VERSIONS.lock().unwrap_or_else(|p| p.into_inner());
    versions.insert(stamp, answer.clone());
    answer
}

/// The newest `name` in /usr/lib/postgresql/*/bin and PATH (earlier places win ties). Each
/// program's `--version` is asked once per process and program file ([`tool_version`]).
pub(super) fn newest_tool(name: &str) -> Option<Tool> {
    let versioned = std::fs::read_dir("/usr/lib/postgresql").map(|d| d.flatten());
    let mut dirs: Vec<PathBuf> = versioned
        .map(|d| d.map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    newest_in(name, dirs)
}

/// The newest `name` in `dirs` (earlier ones win ties), as [`newest_tool`].
pub(super) fn newest_in(name: &str, dirs: Vec<PathBuf>) -> Option<Tool> {
    let (mut seen, mut newest) = (HashSet::new(), None::<Tool>);
    for path in dirs.into_iter().map(|d| d.join(name)) {
        if !path.is_file() || !seen.insert(path.canonicalize().unwrap_or(path.clone())) {
            continue;
        }
        match tool_version(&path) {
            Some((version, num)) if newest.as_ref().is_none_or(|t| num > t.num) => {
                newest = Some(Tool { path, version, num });
            }
            _ => {}
        }
    }
    newest
}

/// The newest `name` if it is at least as new as the server, else a clear refusal.
pub(super) fn pick_tool(
    name: &str,
    server_num: u32,
    server_version: &str,
) -> Result<Tool, SourceError> {
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
pub(super) fn describe_cmd(url: &PgUrl, tool: &Path, args: &[String]) -> String {
    let env = url
        .env_pairs()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", shell_quote(&v)));
    let cmd = std::iter::once(tool.display().to_string()).chain(args.iter().cloned());
    env.chain(cmd.map(|a| shell_quote(&a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command line for the log (`-v`): [`describe_cmd`], with `PGPASSWORD=***` in front
/// when the URL has a password (it is passed in that variable), never the password itself.
pub(super) fn log_cmd(url: &PgUrl, tool: &Path, args: &[String]) -> String {
    let line = describe_cmd(url, tool, args);
    match url.password {
        Some(_) => format!("PGPASSWORD=*** {line}"),
        None => line,
    }
}

pub(super) fn tool_cmd(tool: &Path, url: &PgUrl, args: &[String]) -> Command {
    let mut cmd = Command::new(tool);
    cmd.args(args).envs(url.env_pairs());
    if let Some(password) = &url.password {
        cmd.env("PGPASSWORD", password);
    }
    cmd
}
