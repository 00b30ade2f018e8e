//! The backup tools under test: dumpvault and its peers restic, BorgBackup and rustic, each
//! driven through its command line against its own repository directory.

use super::measure::{self, sh_quote, Cost};
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PASSWORD: &str = "dumpvault-bench-password";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dumpvault,
    Restic,
    Borg,
    Rustic,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dumpvault => "dumpvault",
            Kind::Restic => "restic",
            Kind::Borg => "borg",
            Kind::Rustic => "rustic",
        }
    }
}

/// Where a snapshot's dump comes from.
pub enum Input<'a> {
    /// A dump file, fed on stdin.
    File(&'a Path),
    /// A PostgreSQL database: dumpvault takes it by URL, the peers through `pg_dump URL |`.
    Postgres { url: &'a str, pg_dump: &'a str },
}

/// One tool with its repository for one workload.
pub struct Tool {
    pub kind: Kind,
    pub program: PathBuf,
    pub repo: PathBuf,
    pub scratch: PathBuf,
    /// Stream name inside the backup.
    pub name: String,
    snapshots: usize,
    /// dumpvault's default Argon2id cost (false: the small test cost).
    pub default_kdf: bool,
    /// More arguments for dumpvault's `init` (the bench's `--chunk-avg-kib`).
    pub init_args: Vec<String>,
}

impl Tool {
    pub fn new(kind: Kind, program: PathBuf, work: &Path, name: &str, default_kdf: bool) -> Tool {
        Tool {
            kind,
            program,
            repo: work.join(format!("repo-{}", kind.name())),
            scratch: work.join(format!("scratch-{}", kind.name())),
            name: name.into(),
            snapshots: 0,
            default_kdf,
            init_args: Vec::new(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.program);
        let pwfile = self.scratch.join("password");
        match self.kind {
            Kind::Dumpvault => {
                c.env("DUMPVAULT_REPOSITORY", &self.repo)
                    .env("DUMPVAULT_PASSWORD_FILE", &pwfile);
            }
            Kind::Restic => {
                c.env("RESTIC_REPOSITORY", &self.repo)
                    .env("RESTIC_PASSWORD_FILE", &pwfile)
                    .env("RESTIC_CACHE_DIR", self.scratch.join("cache"));
            }
            Kind::Borg => {
                c.env("BORG_REPO", &self.repo)
                    .env(
                        "BORG_PASSCOMMAND",
                        format!("cat {}", sh_quote(&pwfile.to_string_lossy())),
                    )
                    .env("BORG_BASE_DIR", self.scratch.join("base"))
                    .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
                    .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes");
            }
            Kind::Rustic => {
                c.env("RUSTIC_REPOSITORY", &self.repo)
                    .env("RUSTIC_PASSWORD_FILE", &pwfile)
                    .env("RUSTIC_CACHE_DIR", self.scratch.join("cache"))
                    .arg("--no-progress");
            }
        }
        c
    }

    /// Removes an old repository and creates a new one.
    pub fn init(&mut self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.repo);
        let _ = std::fs::remove_dir_all(&self.scratch);
        std::fs::create_dir_all(&self.scratch)?;
        std::fs::write(self.scratch.join("password"), format!("{PASSWORD}\n"))?;
        let mut c = self.cmd();
        match self.kind {
            Kind::Dumpvault => {
                c.arg("init").args(&self.init_args);
                if !self.default_kdf {
                    c.args(["--kdf-memory-kib", "8192", "--kdf-iterations", "1"]);
                }
            }
            Kind::Restic => {
                c.args(["init", "--repository-version", "2"]);
            }
            Kind::Borg => {
                c.args(["init", "--encryption", "repokey-blake2"]);
            }
            Kind::Rustic => {
                c.args(["init"]);
            }
        }
        measure::run(&c, None, None, &self.scratch.join("run"))
            .with_context(|| format!("{} init", self.kind.name()))?;
        self.snapshots = 0;
        Ok(())
    }

    /// The backup command line (without its input).
    fn backup_args(&self, c: &mut Command) {
        match self.kind {
            Kind::Dumpvault => {
                c.args(["--json", "snapshot", "--stdin", "--stdin-name", &self.name]);
            }
            Kind::Restic => {
                c.args([
                    "backup",
                    "--json",
                    "--stdin",
                    "--stdin-filename",
                    &self.name,
                ]);
            }
            Kind::Borg => {
                c.args([
                    "create",
                    "--json",
                    "--compression",
                    "zstd,3",
                    "--stdin-name",
                    &self.name,
                ])
                .arg(format!("::s{:03}", self.snapshots))
                .arg("-");
            }
            Kind::Rustic => {
                // `--force`: no parent. rustic 0.11 matches the stdin entry against the
                // previous snapshot's (same name, no size or mtime to differ) and then keeps
                // the parent's content without reading stdin: from a pipe the dump tool is
                // killed by SIGPIPE (the pgbench model's exit 141); from a file the snapshot
                // silently holds the previous dump. restic and borg never use a parent for
                // stdin; every chunk is still deduplicated against the index.
                c.args(["backup", "--force", "--stdin-filename", &self.name, "-"]);
            }
        }
    }

    /// Takes one snapshot; returns its cost and the tool's JSON output (if it gives one).
    pub fn backup(&mut self, input: &Input) -> Result<(Cost, Option<Value>)> {
        let ran = match input {
            Input::File(f) => {
                let mut c = self.cmd();
                self.backup_args(&mut c);
                measure::run(&c, Some(f), None, &self.scratch.join("run"))
            }
            Input::Postgres { url, pg_dump } => {
                if self.kind == Kind::Dumpvault {
                    let mut c = self.cmd();
                    c.args(["--json", "snapshot", url]);
                    measure::run(&c, None, None, &self.scratch.join("run"))
                } else {
                    let mut inner = self.cmd();
                    self.backup_args(&mut inner);
                    // Each side's status on its own: a dump killed by SIGPIPE (141) means the
                    // tool stopped reading before the end, whatever the tool's own status.
                    let line = format!(
                        "{} {} | {}; s=(\"${{PIPESTATUS[@]}}\"); \
                         if [ \"${{s[0]}}\" != 0 ]; then echo \"the dump command exited ${{s[0]}} \
                         (141: SIGPIPE: {} stopped reading its stdin early)\" >&2; exit 1; fi; \
                         exit \"${{s[1]}}\"",
                        sh_quote(pg_dump),
                        sh_quote(url),
                        shell_line(&inner),
                        self.kind.name(),
                    );
                    let mut c = Command::new("bash");
                    c.args(["-c", &line]);
                    for (k, v) in inner.get_envs() {
                        if let Some(v) = v {
                            c.env(k, v);
                        }
                    }
                    measure::run(&c, None, None, &self.scratch.join("run"))
                }
            }
        }
        .with_context(|| format!("{} backup", self.kind.name()))?;
        self.snapshots += 1;
        // restic prints one JSON object per line; the summary is the last.
        let json = ran
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
            .or_else(|| serde_json::from_str(ran.stdout.trim()).ok());
        Ok((ran.cost, json))
    }

    /// Restores the newest snapshot (whole, or `table` only: dumpvault) to `target`.
    pub fn restore(&self, target: &Path, table: Option<&str>) -> Result<Cost> {
        let _ = std::fs::remove_file(target);
        let mut c = self.cmd();
        let ran = match self.kind {
            Kind::Dumpvault => {
                c.args(["restore", "latest", "--target"]).arg(target);
                if let Some(t) = table {
                    c.args(["--table", t]);
                }
                measure::run(&c, None, None, &self.scratch.join("run"))
            }
            Kind::Restic => {
                c.args(["dump", "latest", &format!("/{}", self.name)]);
                measure::run(&c, None, Some(target), &self.scratch.join("run"))
            }
            Kind::Borg => {
                c.args(["extract", "--stdout"])
                    .arg(format!("::s{:03}", self.snapshots.saturating_sub(1)));
                measure::run(&c, None, Some(target), &self.scratch.join("run"))
            }
            Kind::Rustic => {
                c.args(["dump", &format!("latest:{}", self.name)]);
                measure::run(&c, None, Some(target), &self.scratch.join("run"))
            }
        }
        .with_context(|| format!("{} restore", self.kind.name()))?;
        Ok(ran.cost)
    }

    /// dumpvault only: `snapshots --json`.
    pub fn snapshots_json(&self) -> Option<Value> {
        if self.kind != Kind::Dumpvault {
            return None;
        }
        let mut c = self.cmd();
        c.args(["--json", "snapshots"]);
        let ran = measure::run(&c, None, None, &self.scratch.join("run")).ok()?;
        serde_json::from_str(&ran.stdout).ok()
    }

    pub fn repo_size(&self) -> u64 {
        measure::dir_size(&self.repo)
    }

    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.repo);
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The command as one sh line: environment assignments are left to the caller.
fn shell_line(c: &Command) -> String {
    let mut parts = vec![sh_quote(&c.get_program().to_string_lossy())];
    parts.extend(c.get_args().map(|a| sh_quote(&a.to_string_lossy())));
    parts.join(" ")
}
