//! moto, the S3 server the tests use, for the benches that measure S3 (`--scale`, `--fleet`).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const MOTO_REQUIREMENT: &str = "moto[server]>=5,<6";

/// moto's S3 server on a free loopback port, from the virtual environment the tests use
/// (target/tmp/moto-venv, installed when missing); killed on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) port: u16,
}

impl Moto {
    fn python(tmp: &Path) -> Result<PathBuf> {
        let dir = tmp.join("moto-venv");
        let py = dir.join("bin/python");
        let ok = |py: &Path| {
            Command::new(py)
                .args(["-c", "import moto.server, flask, werkzeug"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if ok(&py) {
            return Ok(py);
        }
        let partial = tmp.join(format!("moto-venv.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(tmp)?;
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&partial))?;
        let pip = "-m pip install --quiet --disable-pip-version-check";
        crate::run(
            Command::new(partial.join("bin/python"))
                .args(pip.split(' '))
                .arg(MOTO_REQUIREMENT),
        )?;
        if !ok(&py) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&partial, &dir)?;
        }
        let _ = std::fs::remove_dir_all(&partial);
        anyhow::ensure!(ok(&py), "moto does not import from {}", py.display());
        Ok(py)
    }

    pub(crate) fn start(tmp: &Path) -> Result<Moto> {
        let py = Moto::python(tmp)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(tmp.join(format!("moto-scale-{port}.log")))?;
        let child = Command::new(py)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting moto")?;
        let mut m = Moto { child, port };
        // Bounded: 600 polls 100 ms apart.
        for _ in 0..600 {
            if let Some(st) = m.child.try_wait()? {
                bail!("moto exited ({st}); see target/tmp/moto-scale-{port}.log");
            }
            if m.http("GET", "/").is_ok_and(|s| s == 200) {
                return Ok(m);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("moto did not answer on port {port} within 60 s")
    }

    /// One bodiless HTTP/1.1 request; returns the status.
    fn http(&self, method: &str, path: &str) -> Result<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.port
        )?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        (resp.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .context("no HTTP status")
    }

    pub(crate) fn create_bucket(&self, bucket: &str) -> Result<()> {
        let st = self.http("PUT", &format!("/{bucket}"))?;
        anyhow::ensure!(st == 200, "creating bucket {bucket}: HTTP {st}");
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
