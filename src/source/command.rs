//! A dump produced by a child process: `--command 'pg_dump mydb'`, or a dump tool that a database
//! source starts. The child's stdout is the dump; its stderr is captured (bounded) for the error
//! message; a non-zero exit or a signal makes [`DumpSource::finish`] fail.

use super::{DumpSource, SourceError, SourceInfo};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The process groups of the running dump tools (each runs in its own group, led by the
/// child), and whether the process is stopping on a signal.
struct Groups {
    stopping: bool,
    running: BTreeSet<u32>,
}

static GROUPS: Mutex<Groups> = Mutex::new(Groups {
    stopping: false,
    running: BTreeSet::new(),
});

fn groups() -> MutexGuard<'static, Groups> {
    GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends SIGKILL to every process of group `pgid` (through `kill(1)`: `--` keeps procps-ng's
/// kill from reading `-PGID` as an option).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--"])
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills the process group of every running dump tool (the tool and whatever it started) and
/// refuses to start new ones: the process is stopping on a signal. Returns how many groups
/// were killed. Idempotent.
pub fn kill_running_dumps() -> usize {
    let mut g = groups();
    g.stopping = true;
    let running = std::mem::take(&mut g.running);
    for pgid in &running {
        kill_group(*pgid);
    }
    running.len()
}

/// Most bytes of a child's stderr kept for the error message (the tail is kept).
pub const STDERR_LIMIT: usize = 64 * 1024;

/// A running child process whose stdout is the dump.
pub struct ChildSource {
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<String>>,
    info: SourceInfo,
    what: String,
}

impl ChildSource {
    /// Starts `cmd` with stdout and stderr piped (stdin is null), in a process group of its
    /// own, so that a Ctrl-C reaches only dumpvault, and dumpvault's interrupt path (or a
    /// drop) ends the tool with everything it started. `what` names the dump in error
    /// messages, e.g. `pg_dump of database "shop"`.
    ///
    /// Errors: [`SourceError::Spawn`] when the program cannot be started, or the process is
    /// stopping on a signal.
    pub fn spawn(mut cmd: Command, info: SourceInfo, what: String) -> Result<Self, SourceError> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let mut g = groups();
        if g.stopping {
            return Err(SourceError::Spawn {
                tool,
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "not started: the process is stopping on a signal",
                ),
            });
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| SourceError::Spawn { tool, source })?;
        g.running.insert(child.id());
        drop(g);
        crate::testhook::pause("dump-spawned");
        let stdout = child.stdout.take().expect("stdout is piped");
        super::pipe::widen(&stdout);
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || collect_stderr(&mut err));
        Ok(Self {
            child,
            stdout,
            stderr: Some(stderr),
            info,
            what,
        })
    }

    /// Starts `sh -c <command line>`, the `--command` source.
    pub fn shell(command_line: &str) -> Result<Self, SourceError> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command_line);
        let info = SourceInfo {
            kind: "command".into(),
            command: Some(command_line.to_string()),
            ..Default::default()
        };
        Self::spawn(cmd, info, format!("dump command `{command_line}`"))
    }

    /// Records `database` as the database this dump is of (`--database`, or the stream name
    /// without extension), so that retention, `--database` and reports tell it apart.
    pub fn with_database(mut self, database: String) -> Self {
        self.info.database = Some(database);
        self
    }
}

/// Reads a child's stderr to the end, keeping at most [`STDERR_LIMIT`] bytes of its tail.
fn collect_stderr(r: &mut impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * STDERR_LIMIT {
            kept.drain(..kept.len() - STDERR_LIMIT);
        }
    }
    if kept.len() > STDERR_LIMIT {
        kept.drain(..kept.len() - STDERR_LIMIT);
    }
    String::from_utf8_lossy(&kept).trim().to_string()
}

/// Describes an exit status for an error message: `exit code 1`, `killed by signal 9`.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

impl Read for ChildSource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl DumpSource for ChildSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn finish(mut self: Box<Self>) -> Result<SourceInfo, SourceError> {
        // Drain what is left so a child blocked on a full pipe can exit.
        std::io::copy(&mut self.stdout, &mut std::io::sink()).map_err(|source| {
            SourceError::Io {
                what: format!("reading {}", self.what),
                source,
            }
        })?;
        let status = self.child.wait().map_err(|source| SourceError::Io {
            what: format!("waiting for {}", self.what),
            source,
        })?;
        groups().running.remove(&self.child.id());
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !status.success() {
            return Err(SourceError::Failed {
                what: self.what.clone(),
                status: describe_status(status),
                stderr,
            });
        }
        Ok(self.info.clone())
    }
}

impl Drop for ChildSource {
    fn drop(&mut self) {
        let mut g = groups();
        if let Ok(None) = self.child.try_wait() {
            kill_group(self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        g.running.remove(&self.child.id());
    }
}
