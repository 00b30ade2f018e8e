//! Notifications: a configured shell command run once per job that failed (and per job that
//! succeeded, with `on_success`), with the details in environment variables and as JSON on
//! standard input; and a webhook that receives the same JSON as an HTTP POST. Both are bounded
//! by a timeout (the command is killed when it overruns, the request given up); a failure is
//! reported to the caller to log, and never stops the backups.
//!
//! Environment: `DUMPVAULT_JOB` (job name), `DUMPVAULT_STATUS` (`ok` or `failed`),
//! `DUMPVAULT_ERROR` (the job's errors, `; `-separated, empty when ok),
//! `DUMPVAULT_FAILED_DATABASES` (comma-separated), `DUMPVAULT_HOST`.

pub use super::config::mask_webhook;
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
    /// The webhook request failed: no connection, timeout, or a status other than 2xx.
    #[error("webhook {url}: {message}")]
    Webhook {
        /// The URL, password masked.
        url: String,
        /// What went wrong.
        message: String,
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

/// POSTs the notification as JSON (`Content-Type: application/json`) to `url`, giving up
/// after `timeout` (connecting, sending and reading the answer together). Redirects are not
/// followed.
///
/// Errors: [`NotifyError::Webhook`] when the request fails or the answer is not 2xx; the
/// caller logs it and carries on.
pub fn post_webhook(url: &str, n: &Notification, timeout: Duration) -> Result<(), NotifyError> {
    let fail = |message: String| NotifyError::Webhook {
        url: mask_webhook(url),
        message,
    };
    // Without the source chain, reqwest's errors say only "error sending request".
    let chain = |e: &dyn std::error::Error| {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        msg
    };
    let body = serde_json::to_vec(n).unwrap_or_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("dumpvault/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(chain(&e)))?;
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        // Without the URL: its path may hold a token.
        .map_err(|e| e.without_url())
        .map_err(|e| {
            if e.is_timeout() {
                fail(format!("no answer within {timeout:?}"))
            } else {
                fail(chain(&e))
            }
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("answered {status}")));
    }
    Ok(())
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

    /// A one-connection HTTP server on loopback answering `status`; returns its URL and a
    /// handle yielding the request it read (head and body).
    fn serve_once(status: &str) -> (String, std::thread::JoinHandle<(String, String)>) {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let status = status.to_string();
        let h = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut w = stream;
            write!(
                w,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            (head, String::from_utf8(body).unwrap())
        });
        (url, h)
    }

    #[test]
    fn webhook_posts_the_json_and_reports_failures() {
        let (url, h) = serve_once("200 OK");
        post_webhook(&url, &note(), Duration::from_secs(10)).unwrap();
        let (head, body) = h.join().unwrap();
        assert!(head.starts_with("POST /hook HTTP/1.1\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json, serde_json::to_value(note()).unwrap());

        let (url, h) = serve_once("500 Internal Server Error");
        let e = post_webhook(&url, &note(), Duration::from_secs(10)).unwrap_err();
        h.join().unwrap();
        assert!(e.to_string().contains("answered 500"), "{e}");
        assert!(!e.to_string().contains("/hook"), "the path is masked: {e}");
    }

    #[test]
    fn webhook_paths_and_passwords_are_masked() {
        assert_eq!(
            mask_webhook("https://hooks.example.com/services/T0/B0/secret"),
            "https://hooks.example.com/***"
        );
        assert_eq!(
            mask_webhook("http://u:pw@h:8080/x?token=1"),
            "http://u:***@h:8080/***"
        );
        assert_eq!(mask_webhook("http://h:8080/"), "http://h:8080/");
        assert_eq!(mask_webhook("http://h"), "http://h");
    }

    /// Layering: `notify` may use `config`, never the other way (`config` is the lower
    /// module); the old code had `config` call `notify::mask_webhook` and `notify` call
    /// `config::mask_url`, a circle.
    #[test]
    fn config_does_not_import_notify() {
        let needle = ["notify", "::"].concat();
        for (name, text) in [
            ("mod.rs", include_str!("config/mod.rs")),
            ("file.rs", include_str!("config/file.rs")),
            ("resolve.rs", include_str!("config/resolve.rs")),
            ("show.rs", include_str!("config/show.rs")),
        ] {
            assert!(!text.contains(&needle), "config/{name} uses {needle}");
        }
    }
}
