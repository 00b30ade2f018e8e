//! `cargo xtask bench-restore`: restoring one pgbench database into the local PostgreSQL, by
//! `dumpvault restore --to --jobs 1` and `--jobs 2`, `--single-transaction` (one session), the
//! restic-style pipe `dumpvault restore --stdout | psql`, `restic dump | psql` (when restic is on
//! PATH) and `pg_restore -j 2` of a `pg_dump -Fd` of the same database. Wall-clock seconds, best
//! and median of `--runs`; prints a Markdown table and writes target/bench/restore.md.

use super::measure::{self, sh_quote};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const USAGE: &str = "usage: cargo xtask bench-restore [--pg-scale N] [--runs R] [--keep]
  --pg-scale  pgbench -i scale of the source database (default 30: ~280 MiB of dump; 100: ~1 GB)
  --runs      restores per method (default 3)
  --keep      keep the work directory target/bench/restore-work";

fn psql(db: &str, sql: &str) -> Result<String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!("{SERVER}/{db}"))
        .args(["-c", sql])
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

fn drop_db(db: &str) -> Result<()> {
    psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    )
    .map(drop)
}

/// Runs `sh -c line` with the repository settings; returns the wall-clock seconds.
fn timed(line: &str, work: &Path) -> Result<f64> {
    eprintln!("$ {line}");
    let start = Instant::now();
    let st = Command::new("bash")
        .args(["-o", "pipefail", "-c", line])
        .env("DUMPVAULT_REPOSITORY", work.join("repo"))
        .env("DUMPVAULT_PASSWORD", "bench")
        .env("RESTIC_REPOSITORY", work.join("restic"))
        .env("RESTIC_PASSWORD", "bench")
        .status()
        .with_context(|| format!("cannot run {line}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !st.success() {
        bail!("{line} failed ({st})");
    }
    Ok(secs)
}

/// Runs `cargo xtask bench-restore`.
pub fn run(args: &[String]) -> Result<()> {
    let (mut scale, mut runs, mut keep) = (30u32, 3usize, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().context(USAGE);
        match a.as_str() {
            "--pg-scale" => scale = value()?.parse().context(USAGE)?,
            "--runs" => runs = value()?.parse().context(USAGE)?,
            "--keep" => keep = true,
            _ => bail!("{USAGE}"),
        }
    }
    let root = super::super::root();
    super::super::run(super::super::cargo().args(["build", "--release", "--bin", "dumpvault"]))?;
    let dv = sh_quote(&root.join("target/release/dumpvault").to_string_lossy());
    let work = root.join("target/bench/restore-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let q = |p: &str| sh_quote(&work.join(p).to_string_lossy());

    let src = format!("bench_restore_src_{}", std::process::id());
    let target = format!("bench_restore_to_{}", std::process::id());
    drop_db(&src)?;
    psql("postgres", &format!("CREATE DATABASE {src}"))?;
    let src_url = format!("{SERVER}/{src}");
    let to = format!("{SERVER}/{target}");
    let result = (|| -> Result<String> {
        timed(
            &format!(
                "pgbench -q -i --foreign-keys -s {scale} {}",
                sh_quote(&src_url)
            ),
            &work,
        )?;
        timed(
            &format!("{dv} init --kdf-memory-kib 64 --kdf-iterations 1"),
            &work,
        )?;
        timed(&format!("{dv} snapshot {}", sh_quote(&src_url)), &work)?;
        timed(
            &format!("{dv} restore latest --target {}", q("dump.sql")),
            &work,
        )?;
        let dump_bytes = std::fs::metadata(work.join("dump.sql"))?.len();
        timed(
            &format!(
                "pg_dump -Fd -Z0 -j 2 -f {} {}",
                q("pgdir"),
                sh_quote(&src_url)
            ),
            &work,
        )?;
        let restic = measure::which("restic");
        if restic.is_some() {
            timed("restic init", &work)?;
            let backup = format!(
                "restic backup --stdin --stdin-filename dump.sql < {}",
                q("dump.sql")
            );
            timed(&backup, &work)?;
        }
        let psql_in = format!("psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d {to}");
        let create = format!("psql -X -q -d {SERVER}/postgres -c 'CREATE DATABASE {target}' && ");
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
                "dumpvault restore --to --single-transaction (one session, as before)".into(),
                format!("{dv} restore latest --to {to} --create --single-transaction"),
            ),
            (
                "dumpvault restore --stdout \\| psql --single-transaction".into(),
                format!("{create}{dv} restore latest --stdout | {psql_in}"),
            ),
            (
                "pg_restore -j 2 (pg_dump -Fd)".into(),
                format!("{create}pg_restore -j 2 -d {to} {}", q("pgdir")),
            ),
        ];
        if restic.is_some() {
            methods.push((
                "restic dump \\| psql --single-transaction".into(),
                format!("{create}restic dump latest dump.sql | {psql_in}"),
            ));
        }
        let mut rows = Vec::new();
        for (name, line) in &methods {
            let mut secs = Vec::new();
            for _ in 0..runs {
                drop_db(&target)?;
                secs.push(timed(line, &work)?);
                let n = psql(&target, "SELECT count(*) FROM pgbench_accounts")?;
                anyhow::ensure!(
                    n == (scale as u64 * 100_000).to_string(),
                    "{name}: {n} rows"
                );
            }
            drop_db(&target)?;
            secs.sort_by(f64::total_cmp);
            rows.push(format!(
                "| {name} | {:.1} | {:.1} | {} |",
                secs[0],
                secs[secs.len() / 2],
                secs.iter()
                    .map(|s| format!("{s:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let shared = psql("postgres", "SHOW shared_buffers")?;
        let server = psql("postgres", "SHOW server_version")?;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mut md = format!(
            "Restore of a pgbench database (scale {scale}, {:.0} MiB plain dump) into PostgreSQL \
             {server} on 127.0.0.1 (shared_buffers {shared}), {cores} cores; wall-clock seconds \
             over {runs} runs, each into a new database.\n\n\
             | method | best s | median s | all runs s |\n|---|---:|---:|---:|\n",
            dump_bytes as f64 / 1048576.0
        );
        md += &rows.join("\n");
        md += "\n";
        if restic.is_none() {
            md += "\nrestic: not on PATH, `restic dump | psql` skipped (Debian: apt-get install \
                   restic); `dumpvault restore --stdout | psql` is the same one-session pipe.\n";
        }
        md += &format!("\nCommand: `cargo xtask bench-restore --pg-scale {scale} --runs {runs}`\n");
        Ok(md)
    })();
    let _ = drop_db(&target);
    let _ = drop_db(&src);
    if !keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    let md = result?;
    println!("{md}");
    let out = root.join("target/bench/restore.md");
    std::fs::write(&out, &md)?;
    eprintln!("bench-restore: wrote {}", out.display());
    Ok(())
}
