//! A PostgreSQL server of the bench's own for `bench-restore --fresh-server`: `initdb` defaults
//! ("as shipped") but `shared_buffers` of 64 MiB, on a free port of 127.0.0.1, trust
//! authentication, in a temporary directory; stopped and removed on drop. As root, the server
//! programs run as the `postgres` user (initdb refuses root).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A running server.
pub struct Fresh {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

/// The directory of the newest installed PostgreSQL server programs.
fn bindir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let initdb = super::measure::which("initdb").context("no initdb found (postgresql server)")?;
    Ok(initdb.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// Runs a server program, as the `postgres` user when we are root.
fn as_server(bin: &Path, prog: &str, args: &[&str]) -> Result<()> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")?;
    let mut cmd = match root {
        true => {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join(prog));
            c
        }
        false => Command::new(bin.join(prog)),
    };
    cmd.args(args);
    eprintln!("$ {cmd:?}");
    let st = cmd.status().with_context(|| format!("cannot run {prog}"))?;
    if !st.success() {
        bail!("{prog} failed ({st})");
    }
    Ok(())
}

impl Fresh {
    /// Initialises and starts a server (see the module documentation).
    pub fn start(_work: &Path) -> Result<Fresh> {
        let bin = bindir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("dumpvault-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let me = Command::new("id").arg("-u").output()?;
        if me.stdout == b"0\n" {
            let st = Command::new("chown")
                .args(["postgres:"])
                .arg(&dir)
                .status()?;
            anyhow::ensure!(st.success(), "cannot chown {}", dir.display());
        }
        let fresh = Fresh { dir, bin, port };
        let data = fresh.dir.join("data");
        let (data_s, dir_s) = (data.to_string_lossy(), fresh.dir.to_string_lossy());
        let args = ["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"];
        as_server(&fresh.bin, "initdb", &args)?;
        let opts =
            format!("-p {port} -k {dir_s} -c listen_addresses=127.0.0.1 -c shared_buffers=64MB");
        let log = fresh.dir.join("log").to_string_lossy().into_owned();
        as_server(
            &fresh.bin,
            "pg_ctl",
            &["-D", &data_s, "-l", &log, "-w", "-o", &opts, "start"],
        )?;
        Ok(fresh)
    }

    /// The server's URL, without a database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = as_server(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
