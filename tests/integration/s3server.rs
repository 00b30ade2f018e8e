//! A real S3-compatible server for the tests: moto (`moto[server]` from PyPI), installed on
//! first use into a virtual environment under `target/tmp/moto-venv`, started on a free
//! loopback port per test and stopped when the handle drops; plus a repository helper for
//! driving the binary against it.
//!
//! Without IAM checks moto accepts any credentials (the tests set fixed ones);
//! [`S3Server::require_credentials`] turns its checks on for the bad-credentials test. (moto
//! checks SigV4 signatures of list requests against the raw query string, which rejects
//! OpenDAL's correctly signed listings, so the checks stay off elsewhere.)

use assert_cmd::Command;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The pip requirement installed for the tests.
pub const MOTO_REQUIREMENT: &str = "moto[server]>=5,<6";
/// Access key the tests use while moto does not check credentials.
pub const ACCESS_KEY: &str = "dumpvault-test-key";
/// Secret key the tests use while moto does not check credentials.
pub const SECRET_KEY: &str = "dumpvault-test-secret";

/// Readiness polls of a starting server, [`POLL_INTERVAL`] apart (60 s in all).
const READY_ATTEMPTS: u32 = 600;
/// Pause between two readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

static INSTALLED: Mutex<Option<PathBuf>> = Mutex::new(None);

fn python_ok(py: &Path) -> bool {
    std::process::Command::new(py)
        .args(["-c", "import moto.server, flask, werkzeug"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn must(cmd: &mut std::process::Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python interpreter of a virtual environment holding moto, installing it (python3 -m
/// venv, pip install) when missing. Concurrent test processes each install into their own
/// folder and rename it into place; the first one wins.
pub fn moto_python() -> PathBuf {
    let mut done = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(py) = &*done {
        return py.clone();
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("moto-venv");
    let py = dir.join("bin").join("python");
    if !python_ok(&py) {
        let partial = dir.with_file_name(format!("moto-venv.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let python = std::env::var("DUMPVAULT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("installing {MOTO_REQUIREMENT} into {}", dir.display());
        must(
            std::process::Command::new(&python)
                .args(["-m", "venv"])
                .arg(&partial),
            "creating a Python virtual environment for moto",
        );
        must(
            std::process::Command::new(partial.join("bin").join("python")).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                MOTO_REQUIREMENT,
            ]),
            "pip install moto[server]",
        );
        if python_ok(&py) {
            let _ = std::fs::remove_dir_all(&partial);
        } else {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&partial, &dir).expect("moving the moto environment into place");
        }
        assert!(python_ok(&py), "moto does not import from {}", py.display());
    }
    *done = Some(py.clone());
    py
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connecting to moto");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A running moto server; killed on drop.
pub struct S3Server {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    log: PathBuf,
}

impl S3Server {
    /// Installs moto if needed, starts it on a free loopback port and waits (a bounded number
    /// of polls) until it answers.
    pub fn start() -> Self {
        let py = moto_python();
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        for _ in 0..3 {
            let port = free_port();
            let log = logs.join(format!("moto-{port}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let child = std::process::Command::new(&py)
                .args([
                    "-m",
                    "moto.server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("starting moto");
            let mut server = S3Server { child, port, log };
            if server.wait_ready() {
                return server;
            }
            // Lost the port to another process, or moto failed: try again on another port.
        }
        panic!("moto did not start; see target/tmp/moto-*.log");
    }

    fn wait_ready(&mut self) -> bool {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        for _ in 0..READY_ATTEMPTS {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&addr, POLL_INTERVAL).is_ok()
                && http(self.port, "GET", "/", &[], b"").0 == 200
            {
                return true;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        false
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` through the S3 API (PUT /bucket).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}"), &[], b"");
        assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    }

    /// The repository location for `prefix` in `bucket`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!("s3://{bucket}/{prefix}?endpoint={}", self.endpoint())
    }

    /// Turns moto's IAM checks on: creates a user with full rights, then makes every later
    /// request need a valid signature. Returns the user's (access key, secret key).
    pub fn require_credentials(&self) -> (String, String) {
        // Unsigned IAM calls are routed by a signature-shaped header; moto checks nothing yet.
        let auth = "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", auth),
        ];
        let iam = |body: &str| {
            let (status, text) = http(self.port, "POST", "/", &form, body.as_bytes());
            assert_eq!(status, 200, "IAM {body}: {text}");
            text
        };
        iam("Action=CreateUser&UserName=dv&Version=2010-05-08");
        let key = iam("Action=CreateAccessKey&UserName=dv&Version=2010-05-08");
        let field = |name: &str| {
            let open = format!("<{name}>");
            let start = key.find(&open).expect("access key in the reply") + open.len();
            key[start..start + key[start..].find('<').unwrap()].to_string()
        };
        let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        iam(&format!(
            "Action=PutUserPolicy&UserName=dv&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"
        ));
        self.set_auth("0");
        (field("AccessKeyId"), field("SecretAccessKey"))
    }

    /// Turns moto's IAM checks off again.
    pub fn accept_any_credentials(&self) {
        self.set_auth("inf");
    }

    fn set_auth(&self, after: &str) {
        let (status, text) = http(
            self.port,
            "POST",
            "/moto-api/reset-auth",
            &[("Content-Type", "text/plain")],
            after.as_bytes(),
        );
        assert_eq!(status, 200, "moto reset-auth: {text}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A repository at any location, driven through the binary.
pub struct Repo {
    /// Its location.
    pub location: String,
    /// Its password.
    pub password: String,
    /// Extra environment (credentials).
    pub env: Vec<(String, String)>,
}

impl Repo {
    /// A repository on `server` (not created yet) with the default test credentials.
    pub fn s3(server: &S3Server, bucket: &str, prefix: &str) -> Self {
        Repo {
            location: server.url(bucket, prefix),
            password: crate::common::PASSWORD.into(),
            env: s3_env(ACCESS_KEY, SECRET_KEY),
        }
    }

    /// A repository in a local folder (not created yet).
    pub fn fs(path: &Path) -> Self {
        Repo {
            location: path.to_string_lossy().into_owned(),
            password: crate::common::PASSWORD.into(),
            env: Vec::new(),
        }
    }

    /// The binary with this repository, its password and environment, as a plain process
    /// (for tests that kill it).
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_dumpvault"));
        c.env("DUMPVAULT_REPOSITORY", &self.location)
            .env("DUMPVAULT_PASSWORD", &self.password)
            .env_remove("DUMPVAULT_PASSWORD_FILE")
            .env_remove("DUMPVAULT_PASSWORD_COMMAND")
            .env_remove("DUMPVAULT_FROM_PASSWORD")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            // Never ask a cloud metadata service for credentials.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Remote repositories are cached: keep the tests' cache out of the user's home.
            .env(
                "DUMPVAULT_CACHE_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/dumpvault-cache"),
            );
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.args(args);
        c
    }

    /// The binary with this repository, its password and environment.
    pub fn dv(&self, args: &[&str]) -> Command {
        Command::from_std(self.process(args))
    }

    /// `init` with cheap KDF settings and `extra` arguments.
    pub fn init(&self, extra: &[&str]) {
        let mut args = vec!["init", "--kdf-memory-kib", "64", "--kdf-iterations", "1"];
        args.extend_from_slice(extra);
        self.dv(&args).assert().success();
    }

    /// Snapshots `data` from stdin; returns the parsed `--json` output.
    pub fn snapshot(&self, data: &[u8], extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["snapshot", "--json", "--stdin", "--stdin-name", "dump.sql"];
        args.extend_from_slice(extra);
        let out = self.dv(&args).write_stdin(data.to_vec()).assert().success();
        serde_json::from_slice(&out.get_output().stdout).unwrap()
    }

    /// Restores `snapshot` to standard output.
    pub fn restore(&self, snapshot: &str) -> Vec<u8> {
        let out = self
            .dv(&["restore", snapshot, "--stdout", "--quiet"])
            .assert()
            .success();
        out.get_output().stdout.clone()
    }

    /// The snapshots, as `snapshots --json` lists them.
    pub fn snapshots(&self) -> Vec<serde_json::Value> {
        let out = self.dv(&["snapshots", "--json"]).assert().success();
        serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Environment for S3 credentials.
pub fn s3_env(key: &str, secret: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), key.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), secret.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}
