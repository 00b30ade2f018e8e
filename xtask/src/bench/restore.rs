//! `cargo xtask bench-restore`: restoring a database by `dumpvault restore --to --jobs 1` and
//! `--jobs 2`, `--single-transaction` (one session), the restic-style pipe
//! `dumpvault restore --stdout | client`, `restic dump | psql` (when restic is on PATH) and the
//! engine's own tool:
//!
//! - PostgreSQL: a pgbench database, `pg_restore -j 2` of a `pg_dump -Fd` of it; into the local
//!   server or (`--fresh-server`) a server this bench starts with initdb's defaults and 64 MiB
//!   of `shared_buffers`;
//! - MariaDB: sysbench-style `sbtest` tables made with SQL, `mariadb < mariadb-dump file`.
//!
//! Wall-clock seconds, best and median of `--runs`; prints a Markdown table per engine and
//! writes target/bench/restore.md.

#[path = "restore_my.rs"]
mod my;
#[path = "restore_server.rs"]
mod server;

use super::measure::{self, sh_quote};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask bench-restore [--engine pg|mariadb|all] [--pg-scale N]
       [--my-rows N] [--my-tables T] [--runs R] [--fresh-server] [--keep] [--no-build]
  --engine        which engines (default all)
  --pg-scale      pgbench -i scale of the source database (default 30: ~280 MiB of dump; 100: ~1 GB)
  --my-rows       rows per sbtest table (default 1000000: ~200 MiB of dump per table)
  --my-tables     sbtest tables (default 1, as sysbench's default)
  --runs          restores per method (default 3)
  --fresh-server  PostgreSQL: start a server of our own (initdb defaults, shared_buffers 64MB)
                  instead of using 127.0.0.1:5432
  --keep          keep the work directory target/bench/restore-work
  --no-build      use target/release/dumpvault as it is (no cargo build --release first)";

/// What to measure.
pub struct Opts {
    pg: bool,
    mariadb: bool,
    pub scale: u32,
    pub my_rows: u64,
    pub my_tables: usize,
    pub runs: usize,
    fresh_server: bool,
    keep: bool,
    no_build: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut o = Opts {
            pg: true,
            mariadb: true,
            scale: 30,
            my_rows: 1_000_000,
            my_tables: 1,
            runs: 3,
            fresh_server: false,
            keep: false,
            no_build: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().context(USAGE);
            match a.as_str() {
                "--engine" => match value()?.as_str() {
                    "pg" | "postgres" => (o.pg, o.mariadb) = (true, false),
                    "mariadb" | "mysql" => (o.pg, o.mariadb) = (false, true),
                    "all" => (o.pg, o.mariadb) = (true, true),
                    _ => bail!("{USAGE}"),
                },
                "--pg-scale" => o.scale = value()?.parse().context(USAGE)?,
                "--my-rows" => o.my_rows = value()?.parse().context(USAGE)?,
                "--my-tables" => o.my_tables = value()?.parse().context(USAGE)?,
                "--runs" => o.runs = value()?.parse::<usize>().context(USAGE)?.max(1),
                "--fresh-server" => o.fresh_server = true,
                "--keep" => o.keep = true,
                "--no-build" => o.no_build = true,
                _ => bail!("{USAGE}"),
            }
        }
        Ok(o)
    }

    /// The command line that reproduces this run.
    pub fn command(&self) -> String {
        let engine = match (self.pg, self.mariadb) {
            (true, false) => " --engine pg",
            (false, true) => " --engine mariadb",
            _ => "",
        };
        let mut c = format!("cargo xtask bench-restore{engine} --runs {}", self.runs);
        if self.pg {
            c += &format!(" --pg-scale {}", self.scale);
            if self.fresh_server {
                c += " --fresh-server";
            }
        }
        if self.mariadb {
            c += &format!(" --my-rows {} --my-tables {}", self.my_rows, self.my_tables);
        }
        c
    }
}

/// The work directory and the dumpvault binary.
pub struct Bench {
    pub work: PathBuf,
    /// Shell-quoted path of the release binary.
    pub dv: String,
}

impl Bench {
    /// Shell-quoted path of `name` in the work directory.
    pub fn q(&self, name: &str) -> String {
        sh_quote(&self.work.join(name).to_string_lossy())
    }

    /// Runs `bash -o pipefail -c line` with repository `repo` (under the work directory);
    /// returns the wall-clock seconds.
    pub fn timed(&self, line: &str, repo: &str) -> Result<f64> {
        eprintln!("$ {line}");
        let start = Instant::now();
        let st = Command::new("bash")
            .args(["-o", "pipefail", "-c", line])
            .env("DUMPVAULT_REPOSITORY", self.work.join(repo))
            .env("DUMPVAULT_PASSWORD", "bench")
            .env(
                "RESTIC_REPOSITORY",
                self.work.join(format!("{repo}-restic")),
            )
            .env("RESTIC_PASSWORD", "bench")
            .status()
            .with_context(|| format!("cannot run {line}"))?;
        let secs = start.elapsed().as_secs_f64();
        if !st.success() {
            bail!("{line} failed ({st})");
        }
        Ok(secs)
    }

    /// Times each method `runs` times, the methods taking turns (run 1 of each, then run 2...,
    /// so a change in the machine's load falls on all of them): `reset` before each run,
    /// `check` after it; returns the Markdown rows (best, median, all runs).
    pub fn measure(
        &self,
        methods: &[(String, String)],
        repo: &str,
        runs: usize,
        reset: &dyn Fn() -> Result<()>,
        check: &dyn Fn(&str) -> Result<()>,
    ) -> Result<Vec<String>> {
        let mut secs = vec![Vec::new(); methods.len()];
        for _ in 0..runs {
            for ((name, line), secs) in methods.iter().zip(&mut secs) {
                reset()?;
                secs.push(self.timed(line, repo)?);
                check(name)?;
            }
        }
        reset()?;
        let mut rows = Vec::new();
        for ((name, _), mut secs) in methods.iter().zip(secs) {
            let all: Vec<String> = secs.iter().map(|s| format!("{s:.1}")).collect();
            secs.sort_by(f64::total_cmp);
            rows.push(format!(
                "| {name} | {:.1} | {:.1} | {} |",
                secs[0],
                secs[secs.len() / 2],
                all.join(", ")
            ));
        }
        Ok(rows)
    }
}

/// Runs `psql -c sql` on `url`; its output, trimmed.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Machine facts for the report: cores and the load average when the bench started.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cores} cores, load average {} at the start",
        load.join(" ")
    )
}

/// The PostgreSQL section: a pgbench database on `server`, restored by every method.
fn pg_section(b: &Bench, o: &Opts, server: &str, about: &str) -> Result<String> {
    let (scale, pid) = (o.scale, std::process::id());
    let src = format!("bench_restore_src_{pid}");
    let target = format!("bench_restore_to_{pid}");
    let db = |d: &str| format!("{server}/{d}");
    let drop_db = |d: &str| {
        psql(
            &db("postgres"),
            &format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"),
        )
        .map(drop)
    };
    drop_db(&src)?;
    psql(&db("postgres"), &format!("CREATE DATABASE {src}"))?;
    let result = (|| -> Result<String> {
        let (src_url, to) = (sh_quote(&db(&src)), db(&target));
        let dv = &b.dv;
        b.timed(
            &format!("pgbench -q -i --foreign-keys -s {scale} {src_url}"),
            "pg",
        )?;
        b.timed(
            &format!("{dv} init --kdf-memory-kib 64 --kdf-iterations 1"),
            "pg",
        )?;
        b.timed(&format!("{dv} snapshot {src_url}"), "pg")?;
        b.timed(
            &format!("{dv} restore latest --target {}", b.q("pg.sql")),
            "pg",
        )?;
        let dump_bytes = std::fs::metadata(b.work.join("pg.sql"))?.len();
        let pgdir = b.q("pgdir");
        b.timed(&format!("pg_dump -Fd -Z0 -j 2 -f {pgdir} {src_url}"), "pg")?;
        let restic = measure::which("restic");
        if restic.is_some() {
            b.timed("restic init", "pg")?;
            let backup = format!(
                "restic backup --stdin --stdin-filename dump.sql < {}",
                b.q("pg.sql")
            );
            b.timed(&backup, "pg")?;
        }
        let psql_in = format!("psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d {to}");
        let create = format!(
            "psql -X -q -d {} -c 'CREATE DATABASE {target}' && ",
            db("postgres")
        );
        let mut methods: Vec<(String, String)> = vec![
            (
                "dumpvault restore --to --jobs 2".into(),
                format!("{dv} restore latest --to {to} --create --jobs 2"),
            ),
            (
                "dumpvault restore --to --jobs 1".into(),
                format!("{dv} restore latest --to {to} --create --jobs 1"),
            ),
            (
                "dumpvault restore --to --single-transaction (one session)".into(),
                format!("{dv} restore latest --to {to} --create --single-transaction"),
            ),
            (
                "dumpvault restore --stdout \\| psql --single-transaction".into(),
                format!("{create}{dv} restore latest --stdout | {psql_in}"),
            ),
            (
                "pg_restore -j 2 (pg_dump -Fd)".into(),
                format!("{create}pg_restore -j 2 -d {to} {pgdir}"),
            ),
        ];
        if restic.is_some() {
            methods.push((
                "restic dump \\| psql --single-transaction".into(),
                format!("{create}restic dump latest dump.sql | {psql_in}"),
            ));
        }
        let reset = || drop_db(&target);
        let check = |name: &str| {
            let n = psql(&db(&target), "SELECT count(*) FROM pgbench_accounts")?;
            anyhow::ensure!(
                n == (scale as u64 * 100_000).to_string(),
                "{name}: {n} rows"
            );
            Ok(())
        };
        let rows = b.measure(&methods, "pg", o.runs, &reset, &check)?;
        let shared = psql(&db("postgres"), "SHOW shared_buffers")?;
        let version = psql(&db("postgres"), "SHOW server_version")?;
        let mut md = format!(
            "PostgreSQL: restore of a pgbench database (scale {scale}, {:.0} MiB plain dump) into \
             PostgreSQL {version} ({about}, shared_buffers {shared}), {}; wall-clock seconds over \
             {} runs (methods taking turns), each into a new database.\n\n\
             | method | best s | median s | runs in order s |\n|---|---:|---:|---:|\n",
            dump_bytes as f64 / 1048576.0,
            machine(),
            o.runs
        );
        md += &rows.join("\n");
        md += "\n";
        if restic.is_none() {
            md += "\nrestic: not on PATH, `restic dump | psql` not measured; `dumpvault restore \
                   --stdout | psql` is the same one-session pipe.\n";
        }
        Ok(md)
    })();
    let _ = drop_db(&target);
    let _ = drop_db(&src);
    result
}

/// Runs `cargo xtask bench-restore`.
pub fn run(args: &[String]) -> Result<()> {
    let o = Opts::parse(args)?;
    let root = super::super::root();
    if !o.no_build {
        super::super::run(super::super::cargo().args([
            "build",
            "--release",
            "--bin",
            "dumpvault",
        ]))?;
    }
    let b = Bench {
        dv: sh_quote(&root.join("target/release/dumpvault").to_string_lossy()),
        work: root.join("target/bench/restore-work"),
    };
    let _ = std::fs::remove_dir_all(&b.work);
    std::fs::create_dir_all(&b.work)?;
    let result = (|| -> Result<String> {
        let mut md = String::new();
        if o.pg {
            let fresh = match o.fresh_server {
                true => Some(server::Fresh::start(&b.work)?),
                false => None,
            };
            let (url, about) = match &fresh {
                Some(f) => (f.url(), "a server of its own, initdb defaults"),
                None => (
                    "postgres://postgres@127.0.0.1:5432".into(),
                    "the local server",
                ),
            };
            md += &pg_section(&b, &o, &url, about)?;
        }
        if o.mariadb {
            if !md.is_empty() {
                md += "\n";
            }
            md += &my::section(&b, &o, &machine())?;
        }
        md += &format!("\nCommand: `{}`\n", o.command());
        Ok(md)
    })();
    if !o.keep {
        let _ = std::fs::remove_dir_all(&b.work);
    }
    let md = result?;
    println!("{md}");
    let out = root.join("target/bench/restore.md");
    std::fs::write(&out, &md)?;
    eprintln!("bench-restore: wrote {}", out.display());
    Ok(())
}
