//! A dump produced by a child process: `--command 'pg_dump mydb'`, or a dump tool that a database
//! source starts. The child's stdout is the dump; its stderr is captured (bounded) for the error
//! message; a non-zero exit or a signal makes [`DumpSource::finish`] fail.

use super::{DumpSource, SourceError, SourceInfo};
use std::io::Read;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

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
    /// Starts `cmd` with stdout and stderr piped (stdin is null). `what` names the dump in error
    /// messages, e.g. `pg_dump of database "shop"`.
    ///
    /// Errors: [`SourceError::Spawn`] when the program cannot be started.
    pub fn spawn(mut cmd: Command, info: SourceInfo, what: String) -> Result<Self, SourceError> {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SourceError::Spawn { tool, source })?;
        let stdout = child.stdout.take().expect("stdout is piped");
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
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
