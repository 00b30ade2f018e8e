//! The commands measured at one size of the history, through the release binary with
//! `--json --stats-backend`.

use super::super::measure;
use super::shape::Shape;
use super::{time, touch, POLICY};
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The measured commands, in the order of the tables.
pub(super) const COMMANDS: [&str; 7] = [
    "snapshot, cold cache",
    "snapshot, warm cache",
    "snapshots",
    "snapshots --database",
    "forget --dry-run",
    "forget --dry-run --database",
    "restore latest (1 MB)",
];

/// Whether `command` prints every snapshot of the repository: its output is proportional to
/// the history, so it cannot stay flat whatever the catalogue costs.
pub(super) fn whole_history(command: &str) -> bool {
    command == COMMANDS[2] || command == COMMANDS[4]
}

/// One measured command at one size.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub(super) shape: Shape,
    pub(super) backend: &'static str,
    pub(super) level: usize,
    pub(super) command: &'static str,
    /// Wall time, seconds: the least of the runs.
    pub(super) wall: f64,
    /// CPU time (user + system), seconds: the least of the runs (on a loaded machine the
    /// wall time also measures the others' work).
    pub(super) cpu: f64,
    pub(super) rss_kib: u64,
    /// `--stats-backend` JSON (`backend_requests`).
    pub(super) stats: Value,
}

impl Row {
    pub(super) fn requests(&self, kind: &str) -> u64 {
        self.stats[kind]["requests"].as_u64().unwrap_or(0)
    }
    pub(super) fn total(&self) -> u64 {
        ["list", "read", "stat", "write", "delete"]
            .iter()
            .map(|k| self.requests(k))
            .sum()
    }
}

/// How to run the binary on one backend.
#[derive(Clone)]
pub(super) struct Runner {
    pub(super) bin: PathBuf,
    pub(super) pwfile: PathBuf,
    pub(super) work: PathBuf,
    /// Credentials for moto (empty for the local disk).
    pub(super) s3_env: Vec<(String, String)>,
    /// Added to the hour to make each backend's changes of the 1 MB database its own (the
    /// same change twice would be deduplicated and write nothing).
    pub(super) round_base: u64,
}

/// Where and what one level measures.
pub(super) struct Level<'a> {
    pub(super) shape: Shape,
    pub(super) backend: &'static str,
    /// The repository location.
    pub(super) loc: &'a str,
    pub(super) level: usize,
    /// The measured (1 MB) database's file.
    pub(super) db: &'a Path,
}

impl Runner {
    /// The binary on repository `loc` with cache folder `cache`, `--json --stats-backend`.
    fn dv(&self, loc: &str, cache: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("DUMPVAULT_REPOSITORY", loc)
            .env("DUMPVAULT_PASSWORD_FILE", &self.pwfile)
            .env("DUMPVAULT_CACHE_DIR", cache)
            .env_remove("DUMPVAULT_PASSWORD")
            .env_remove("DUMPVAULT_PASSWORD_COMMAND");
        for (k, v) in &self.s3_env {
            c.env(k, v);
        }
        c.args(["--json", "--stats-backend"]).args(args);
        c
    }

    /// Runs `args` `times` times; the least wall time and the least CPU time count (the
    /// requests are the last run's).
    fn timed(
        &self,
        at: &Level,
        command: &'static str,
        cache: &Path,
        args: &[&str],
        times: usize,
    ) -> Result<Row> {
        let scratch = self.work.join("run");
        let mut best: Option<Row> = None;
        for _ in 0..times {
            let ran = measure::run(&self.dv(at.loc, cache, args), None, None, &scratch)
                .with_context(|| {
                    let (s, b, l) = (at.shape.name(), at.backend, at.level);
                    format!("{s}, {b}, {l} snapshots: {command}")
                })?;
            let stderr = std::fs::read_to_string(scratch.join("stderr")).unwrap_or_default();
            let stats = (stderr.lines().rev())
                .find_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|v| v["backend_requests"].clone())
                .filter(|v| v.is_object())
                .with_context(|| format!("{command}: no backend_requests line on stderr"))?;
            let row = Row {
                shape: at.shape,
                backend: at.backend,
                level: at.level,
                command,
                wall: ran.cost.wall,
                cpu: ran.cost.cpu(),
                rss_kib: ran.cost.rss_kib,
                stats,
            };
            best = Some(least(best, row));
        }
        best.context("no run")
    }

    /// Measures every command of [`COMMANDS`] at `at`; `hour` is the newest snapshot's hour
    /// (each snapshot taken here is an hour later).
    pub(super) fn measure_level(&self, at: &Level, hour: &mut u64) -> Result<Vec<Row>> {
        let tag = at.backend.split_whitespace().next().unwrap_or("b");
        let cache = (self.work).join(format!("cache-{}-{tag}-{}", at.shape.name(), at.level));
        let db = at.db;
        let db_name = db.file_name().map(|n| n.to_string_lossy().into_owned());
        let db_name = db_name.unwrap_or_default();
        let url = format!("sqlite://{}", db.display());
        let mut snap = |cache: &Path, command: &'static str, times: usize| -> Result<Row> {
            let mut best: Option<Row> = None;
            for _ in 0..times {
                *hour += 1;
                touch(db, self.round_base + *hour)?;
                let t = time(*hour)?.timestamp().to_string();
                let mut args = vec!["snapshot", "--host", "host0", "--time", t.as_str()];
                let tags = at.shape.tags(0);
                for tg in &tags {
                    args.extend(["--tag", tg.as_str()]);
                }
                args.push(url.as_str());
                let r = self.timed(at, command, cache, &args, 1)?;
                best = Some(least(best, r));
            }
            best.context("no run")
        };
        // On moto the wall time is moto's own listing (it sorts the whole bucket for each
        // 1 000-key page), so two runs each there: the first fills the cache with what the
        // snapshots before did not read (e.g. every catalogue part), the requests counted are
        // the second's, with a warm cache.
        let n = if self.s3_env.is_empty() { 5 } else { 2 };
        let mut rows = vec![
            snap(&cache, COMMANDS[0], 1)?,
            snap(&cache, COMMANDS[1], n.min(2))?,
        ];
        let one = ["--database", db_name.as_str()];
        let policy: Vec<&str> = POLICY.split(' ').collect();
        let forget = [&["forget", "--dry-run"][..], &policy[..]].concat();
        let forget_one = [&forget[..], &one[..]].concat();
        let snapshots_one = [&["snapshots"][..], &one[..]].concat();
        rows.push(self.timed(at, COMMANDS[2], &cache, &["snapshots"], n)?);
        rows.push(self.timed(at, COMMANDS[3], &cache, &snapshots_one, n)?);
        rows.push(self.timed(at, COMMANDS[4], &cache, &forget, n)?);
        rows.push(self.timed(at, COMMANDS[5], &cache, &forget_one, n)?);
        let target = self.work.join("restored.sql");
        let t = target.to_string_lossy().into_owned();
        let restore = [
            "restore",
            "latest",
            "--database",
            db_name.as_str(),
            "--target",
            t.as_str(),
            "--overwrite",
        ];
        rows.push(self.timed(at, COMMANDS[6], &cache, &restore, n)?);
        let restored = std::fs::metadata(&target).map_or(0, |m| m.len());
        anyhow::ensure!(restored > 500_000, "restore wrote {restored} bytes");
        let _ = std::fs::remove_file(&target);
        for r in &rows {
            eprintln!(
                "bench --scale: {} {} {}: {}: {:.3} s, {} requests",
                at.shape.name(),
                at.backend,
                at.level,
                r.command,
                r.wall,
                r.total()
            );
        }
        Ok(rows)
    }
}

/// The least wall time and the least CPU time of `best` and `row`, with `row`'s requests
/// (the last run's).
fn least(best: Option<Row>, row: Row) -> Row {
    match best {
        Some(b) => Row {
            wall: b.wall.min(row.wall),
            cpu: b.cpu.min(row.cpu),
            rss_kib: b.rss_kib.max(row.rss_kib),
            ..row
        },
        None => row,
    }
}
