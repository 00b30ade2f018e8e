//! Real storage servers on loopback for the backend conformance suite, one per backend the
//! README advertises besides the local directory: S3 (moto, see `s3server.rs`), SFTP (the
//! system's OpenSSH `sshd`, run unprivileged-style from a temporary folder with a generated
//! host key and user key), WebDAV (wsgidav), Azure Blob (azurite) and GCS
//! (gcp-storage-emulator).
//!
//! The Python servers are installed on first use into a virtual environment under
//! `target/tmp/servers-venv`, azurite with npm under `target/tmp/azurite`; `sshd` comes from
//! Debian's `openssh-server`, which `.ci/run` installs. Each server starts on a free loopback
//! port and is polled (bounded) until it accepts connections; it is killed when its handle
//! drops.

use crate::s3server::{Repo, S3Server, ACCESS_KEY, SECRET_KEY};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The pip requirements of the Python servers.
pub const PYTHON_SERVERS: &[&str] = &["wsgidav>=4,<5", "cheroot>=10", "gcp-storage-emulator"];
/// The npm package of the Azure Blob emulator.
pub const AZURITE: &str = "azurite@3";
/// Azurite's well-known development account.
pub const AZURE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known (public) development account key.
pub const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Readiness polls of a starting server, [`POLL_INTERVAL`] apart (60 s in all).
const READY_ATTEMPTS: u32 = 600;
/// Pause between two readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A storage service the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// S3 through moto.
    S3,
    /// SFTP through OpenSSH's sshd.
    Sftp,
    /// WebDAV through wsgidav.
    Webdav,
    /// Azure Blob Storage through azurite.
    Azblob,
    /// Google Cloud Storage through gcp-storage-emulator.
    Gcs,
}

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn must(cmd: &mut Command, what: &str) {
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

fn runs_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs into `dir` with `install(partial)` unless `ready(dir)`: into a folder of this
/// process first, renamed into place, so concurrent installers do not mix.
fn install_once(
    lock: &Mutex<bool>,
    dir: &Path,
    ready: impl Fn(&Path) -> bool,
    install: impl Fn(&Path),
) {
    let mut done = lock.lock().unwrap_or_else(|p| p.into_inner());
    if *done || ready(dir) {
        *done = true;
        return;
    }
    let partial = dir.with_file_name(format!(
        "{}.partial-{}",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    install(&partial);
    if !ready(dir) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::rename(&partial, dir).expect("moving an installed server into place");
    } else {
        let _ = std::fs::remove_dir_all(&partial);
    }
    assert!(
        ready(dir),
        "the server installed into {} does not run",
        dir.display()
    );
    *done = true;
}

/// The folder of the Python virtual environment holding wsgidav and gcp-storage-emulator.
fn python_servers() -> PathBuf {
    static LOCK: Mutex<bool> = Mutex::new(false);
    let dir = tmp_root().join("servers-venv");
    let ready = |d: &Path| {
        runs_ok(
            Command::new(d.join("bin/python"))
                .args(["-c", "import wsgidav, cheroot, gcp_storage_emulator"]),
        )
    };
    install_once(&LOCK, &dir, ready, |partial| {
        let python = std::env::var("DUMPVAULT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("installing {PYTHON_SERVERS:?} into {}", dir.display());
        must(
            Command::new(&python).args(["-m", "venv"]).arg(partial),
            "creating a Python virtual environment for the test servers",
        );
        must(
            Command::new(partial.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(PYTHON_SERVERS),
            "pip install of the test servers",
        );
    });
    dir
}

/// The azurite-blob program, installed with npm when missing.
fn azurite_blob() -> PathBuf {
    static LOCK: Mutex<bool> = Mutex::new(false);
    let dir = tmp_root().join("azurite");
    let bin = |d: &Path| d.join("node_modules/.bin/azurite-blob");
    install_once(
        &LOCK,
        &dir,
        |d| runs_ok(Command::new(bin(d)).arg("--version")),
        |partial| {
            eprintln!("installing {AZURITE} into {}", dir.display());
            std::fs::create_dir_all(partial).unwrap();
            must(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                    .arg(partial)
                    .arg(AZURITE),
                "npm install azurite",
            );
        },
    );
    bin(&dir)
}

/// Every process: (pid, parent pid, command line).
fn processes() -> Vec<(u32, u32, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // `pid (name) state ppid …`: the name may hold spaces, so split after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        let argv = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let argv = (argv.split(|b| *b == 0))
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        out.push((pid, ppid, argv));
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Credentials the library (in this test process) reads from the environment: set once, to
/// the fixed test values, before any backend of the suite opens.
fn set_test_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY);
    });
}

/// A running server of one [`Service`], with a bucket (container, folder) named `bucket`
/// ready; stopped when dropped.
pub struct Server {
    /// Which service.
    pub service: Service,
    /// Its loopback port.
    pub port: u16,
    child: Option<Child>,
    s3: Option<S3Server>,
    dir: tempfile::TempDir,
    /// The user key, for SFTP.
    key: PathBuf,
}

/// The bucket (container) every server has.
pub const BUCKET: &str = "conformance";

impl Server {
    /// Installs the service's server if needed, starts it on a free loopback port, waits
    /// (bounded) until it accepts connections and creates [`BUCKET`].
    pub fn start(service: Service) -> Self {
        set_test_credentials();
        let dir = tempfile::tempdir().expect("temporary folder for a test server");
        let mut s = Server {
            service,
            port: 0,
            child: None,
            s3: None,
            key: dir.path().join("user_key"),
            dir,
        };
        if service == Service::S3 {
            let server = S3Server::start();
            server.create_bucket(BUCKET);
            s.port = server.port;
            s.s3 = Some(server);
            return s;
        }
        for _ in 0..3 {
            s.port = free_port();
            let log = s.dir.path().join("server.log");
            let out = std::fs::File::create(&log).unwrap();
            let mut cmd = s.command();
            cmd.stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out);
            s.child = Some(
                cmd.spawn()
                    .unwrap_or_else(|e| panic!("starting {service:?} ({cmd:?}): {e}")),
            );
            if s.wait_ready() {
                s.create_bucket();
                return s;
            }
            // Lost the port to another process, or the server failed: try another port.
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!("{service:?} did not start on port {}: {log}", s.port);
            s.stop();
        }
        panic!("{service:?} did not start (see the logs above)");
    }

    fn command(&self) -> Command {
        let port = self.port.to_string();
        let dir = self.dir.path();
        match self.service {
            Service::S3 => unreachable!("moto is started by S3Server"),
            Service::Webdav => {
                let root = dir.join("dav");
                std::fs::create_dir_all(root.join(BUCKET)).unwrap();
                // Through `python -m`: the venv's scripts name the folder it was installed in.
                let mut c = Command::new(python_servers().join("bin/python"));
                c.args(["-m", "wsgidav.server.server_cli", "--host", "127.0.0.1"])
                    .args(["--port", &port, "--auth", "anonymous", "--no-config", "-q"])
                    .arg("--root")
                    .arg(root);
                c
            }
            Service::Gcs => {
                let mut c = Command::new(python_servers().join("bin/python"));
                c.args(["-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1"])
                    .args([
                        "--port",
                        &port,
                        "--default-bucket",
                        BUCKET,
                        "--in-memory",
                        "-q",
                    ])
                    .current_dir(dir);
                c
            }
            Service::Azblob => {
                let mut c = Command::new(azurite_blob());
                c.args(["--blobHost", "127.0.0.1", "--blobPort", &port])
                    .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck"])
                    .args(["--loose", "--disableTelemetry"])
                    .current_dir(dir);
                c
            }
            Service::Sftp => self.sshd_command(),
        }
    }

    /// An sshd on `self.port` that lets this user in with a key generated here, with its own
    /// host key, pid file and configuration in the temporary folder.
    fn sshd_command(&self) -> Command {
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect(
                "sshd not found: install Debian's openssh-server (`.ci/run` does: \
                 apt-get install -y openssh-server)",
            );
        let dir = self.dir.path();
        let host_key = dir.join("host_key");
        for key in [&host_key, &self.key] {
            if !key.exists() {
                must(
                    Command::new("ssh-keygen")
                        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                        .arg(key),
                    "ssh-keygen",
                );
            }
        }
        let authorized = dir.join("authorized_keys");
        std::fs::copy(self.key.with_extension("pub"), &authorized).unwrap();
        // sshd needs its privilege separation folder.
        let _ = std::fs::create_dir_all("/run/sshd");
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {auth}\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
                 Subsystem sftp internal-sftp\n",
                port = self.port,
                host = host_key.display(),
                dir = dir.display(),
                auth = authorized.display(),
            ),
        )
        .unwrap();
        let mut c = Command::new(sshd);
        c.args(["-D", "-e", "-f"]).arg(config);
        c
    }

    fn wait_ready(&mut self) -> bool {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        for _ in 0..READY_ATTEMPTS {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            if TcpStream::connect_timeout(&addr, POLL_INTERVAL).is_ok() {
                return true;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        false
    }

    /// The `ssh` control masters that log in with this server's user key (SFTP), by pid.
    pub fn ssh_masters(&self) -> Vec<u32> {
        let key = self.key.to_string_lossy().into_owned();
        processes()
            .into_iter()
            .filter(|(_, _, argv)| {
                argv.first().is_some_and(|a| a.ends_with("ssh"))
                    && argv.iter().any(|a| a == "-M")
                    && argv.contains(&key)
            })
            .map(|(pid, _, _)| pid)
            .collect()
    }

    fn stop(&mut self) {
        if self.service == Service::Sftp {
            // The sessions outlive the listening sshd, and the masters outlive the processes
            // that started them (this one's library calls): end both.
            let sshd = self.child.as_ref().map(Child::id);
            let sessions = (processes().into_iter())
                .filter(|(_, ppid, _)| Some(*ppid) == sshd)
                .map(|(pid, _, _)| pid);
            for pid in sessions.chain(self.ssh_masters()) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Creates [`BUCKET`] where the service needs it created through its API (Azure: a
    /// container, signed with the development key by a short Python script using only the
    /// standard library). WebDAV and SFTP use folders, GCS gets it from `--default-bucket`.
    fn create_bucket(&self) {
        if self.service != Service::Azblob {
            return;
        }
        let script = r#"
import base64, hmac, hashlib, http.client, sys
from email.utils import formatdate
port, account, key, container = sys.argv[1:5]
date = formatdate(usegmt=True)
version = "2021-08-06"
# Verb, 11 standard headers (all empty: a zero Content-Length is empty), x-ms headers, resource.
to_sign = "PUT\n" + "\n" * 11 + "x-ms-date:%s\nx-ms-version:%s\n" % (date, version)
# Path-style URL: the resource is the account, then the path (which names it again).
to_sign += "/%s/%s/%s\nrestype:container" % (account, account, container)
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest())
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
conn.request("PUT", "/%s/%s?restype=container" % (account, container), body=b"", headers={
    "x-ms-date": date, "x-ms-version": version, "Content-Length": "0",
    "Authorization": "SharedKey %s:%s" % (account, sig.decode())})
resp = conn.getresponse()
body = resp.read()
if resp.status != 201:
    sys.exit("HTTP %d: %s" % (resp.status, body.decode(errors="replace")))
"#;
        must(
            Command::new("python3").args(["-c", script]).args([
                &self.port.to_string(),
                AZURE_ACCOUNT,
                AZURE_KEY,
                BUCKET,
            ]),
            "creating the azurite container",
        );
    }

    /// The repository location for `prefix` (a folder inside [`BUCKET`]).
    pub fn location(&self, prefix: &str) -> String {
        let port = self.port;
        match self.service {
            Service::S3 => self.s3.as_ref().unwrap().url(BUCKET, prefix),
            Service::Webdav => format!("webdav+http://127.0.0.1:{port}/{BUCKET}/{prefix}"),
            Service::Gcs => format!(
                "gcs://{BUCKET}/{prefix}?endpoint=http://127.0.0.1:{port}&skip_signature=true"
            ),
            Service::Azblob => format!(
                "azblob://{BUCKET}/{prefix}?account={AZURE_ACCOUNT}\
                 &endpoint=http://127.0.0.1:{port}/{AZURE_ACCOUNT}"
            ),
            Service::Sftp => {
                let user = Command::new("id")
                    .arg("-un")
                    .output()
                    .ok()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "root".into());
                let root = self.dir.path().join("sftp").join(BUCKET).join(prefix);
                std::fs::create_dir_all(&root).unwrap();
                format!(
                    "sftp://{user}@127.0.0.1:{port}{}?key={}&known_hosts=Accept",
                    root.display(),
                    self.key.display()
                )
            }
        }
    }

    /// The environment the binary needs for this service (credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        match self.service {
            Service::S3 => crate::s3server::s3_env(ACCESS_KEY, SECRET_KEY),
            Service::Azblob => vec![("AZURE_STORAGE_ACCOUNT_KEY".into(), AZURE_KEY.into())],
            _ => Vec::new(),
        }
    }

    /// A repository (not created yet) at `prefix`, driven through the binary.
    pub fn repo(&self, prefix: &str) -> Repo {
        Repo {
            location: self.location(prefix),
            password: crate::common::PASSWORD.into(),
            env: self.env(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
