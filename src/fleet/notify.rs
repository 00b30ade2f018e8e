//! Notifications: a configured shell command run once per job that failed (and per job that
//! succeeded, with `on_success`), with the details in environment variables and as JSON on
//! standard input. The command is bounded by a timeout and killed when it overruns; its
//! failure is reported to the caller to log, and never stops the backups.
//!
//! Environment: `DUMPVAULT_JOB` (job name), `DUMPVAULT_STATUS` (`ok` or `failed`),
//! `DUMPVAULT_ERROR` (the job's errors, `; `-separated, empty when ok),
//! `DUMPVAULT_FAILED_DATABASES` (comma-separated), `DUMPVAULT_HOST`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a notification command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// It could not be started.
    #[error("cannot run notification command `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The error.
        source: std::io::Error,
    },
    /// It exited unsuccessfully.
    #[error("notification command `{command}` failed ({status})")]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// It ran longer than the timeout and was killed.
    #[error("notification command `{command}` ran longer than {timeout:?} and was killed")]
    Timeout {
        /// The command.
        command: String,
        /// The timeout.
        timeout: Duration,
    },
}

/// What a notification is about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notification {
    /// Job name.
    pub job: String,
    /// `ok` or `failed`.
    pub status: String,
    /// The job's errors (empty when ok).
    pub errors: Vec<String>,
    /// Databases that failed.
    pub failed_databases: Vec<String>,
    /// This host.
    pub host: String,
    /// When (RFC 3339).
    pub time: String,
    /// Per-database results, as in `run --json`.
    pub databases: serde_json::Value,
}

/// Runs `command` with `sh -c`, the notification in its environment and as JSON on stdin;
/// waits at most `timeout`, then kills it. Its output goes to this process's stderr.
///
/// Errors: [`NotifyError`]; the caller logs it and carries on.
pub fn run_command(command: &str, n: &Notification, timeout: Duration) -> Result<(), NotifyError> {
    let mut cmd = Command::new("sh");
    // Its own process group, so that a timeout kills whatever it started too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .arg("-c")
        .arg(command)
        .env("DUMPVAULT_JOB", &n.job)
        .env("DUMPVAULT_STATUS", &n.status)
        .env("DUMPVAULT_ERROR", n.errors.join("; "))
        .env("DUMPVAULT_FAILED_DATABASES", n.failed_databases.join(","))
        .env("DUMPVAULT_HOST", &n.host)
        .stdin(Stdio::piped())
        // To stderr, as documented: on stdout it would corrupt `run --json`.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| NotifyError::Spawn {
            command: command.to_string(),
            source,
        })?;
    let json = serde_json::to_vec(n).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read stdin must not block us: write from a thread that
        // ends when the pipe closes.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&json);
        });
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(NotifyError::Failed {
                    command: command.to_string(),
                    status,
                })
            }
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                #[cfg(unix)]
                // `--`: without it procps-ng's kill takes `-PGID` for an option and kills
                // nothing (exiting 0), leaving the command's children running.
                let _ = Command::new("kill")
                    .args(["-KILL", "--"])
                    .arg(format!("-{}", child.id()))
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::Timeout {
                    command: command.to_string(),
                    timeout,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> Notification {
        Notification {
            job: "shop".into(),
            status: "failed".into(),
            errors: vec!["database shop: connection refused".into()],
            failed_databases: vec!["shop".into()],
            host: "h".into(),
            time: "t".into(),
            databases: serde_json::json!([]),
        }
    }

    #[test]
    fn passes_details_and_bounds_time() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let cmd = format!(
            "cat > '{}.json'; echo \"$DUMPVAULT_JOB|$DUMPVAULT_ERROR\" > '{}'",
            out.display(),
            out.display()
        );
        run_command(&cmd, &note(), Duration::from_secs(10)).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(got, "shop|database shop: connection refused\n");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
        assert_eq!(json["job"], "shop");

        let t = Instant::now();
        let e = run_command("sleep 10", &note(), Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, NotifyError::Timeout { .. }), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let e = run_command("exit 3", &note(), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(e, NotifyError::Failed { .. }), "{e}");
    }
}
