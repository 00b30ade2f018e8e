//! `cargo xtask bench --scale [--max N] [--no-s3] [--seed N] [--keep]`: how the everyday
//! commands cost as a repository's history grows (issue 19).
//!
//! One repository per backend (a local directory, and a bucket on moto, the S3 server the
//! tests use) grows 100 → 1 000 → 10 000 → 50 000 snapshots (up to `--max`). It starts with
//! one real snapshot per database (20 SQLite databases: 4 hosts × 5, tags `fleet` and
//! `job=HOST`; the measured one is 1 MB, the others 100 KB), taken through the library exactly
//! as `snapshot` takes them. The rest of the history is written through the library as the
//! manifests an unchanged hourly snapshot writes (a copy of that database's real manifest with
//! its own time, nothing added), one every hour over the years, database after database, then
//! the catalogue is compacted as `prune` leaves it. Argon2id has the small test cost.
//!
//! At each size, through the release binary with `--stats-backend`, it measures wall time, CPU
//! time and backend requests of: one more hourly snapshot of the 1 MB database (a few rows
//! changed), with an empty cache and then with the cache the first one filled (twice; the least
//! counts); `snapshots`; `forget --dry-run` with the fleet policy (48 hourly, 30 daily,
//! 12 weekly, 12 monthly); `restore latest` of the 1 MB database. Read-only commands run five
//! times on local disk (the least wall time and the least CPU time count: the machine may be
//! loaded), once on moto (whose own listing dominates). Prints Markdown, writes
//! target/bench/scale.md and scale.json, and checks the targets (see [`targets`]). The
//! repository is made by `init` (config version 2: the catalogue decides which snapshots
//! exist, so the grown manifests become visible only through the compaction, as prune's).

use super::measure;
use super::tools::PASSWORD;
use anyhow::{bail, Context, Result};
use dumpvault::backend::Backend;
use dumpvault::commands::snapshot::{self, SnapshotOptions};
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::format::snapshot::Manifest;
use dumpvault::id::Id;
use dumpvault::index::SharedIndex;
use dumpvault::progress::NoProgress;
use dumpvault::repository::{catalogue, FileKind, InitOptions, Repository};
use dumpvault::source::database::{DatabaseUrl, DumpOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod moto;
pub(super) use moto::Moto;

/// Repository sizes, in snapshots.
const LEVELS: [usize; 4] = [100, 1_000, 10_000, 50_000];
const HOSTS: usize = 4;
const DBS_PER_HOST: usize = 5;
const GROUPS: usize = HOSTS * DBS_PER_HOST;
/// The fleet's keep policy.
const POLICY: &str = "--keep-hourly 48 --keep-daily 30 --keep-weekly 12 --keep-monthly 12";
/// Time of the first snapshot (Unix seconds: 2019-01-01T00:00:00Z); each next one is an hour
/// later.
const START: i64 = 1_546_300_800;
/// Threads writing manifests while a repository grows.
const WRITERS: usize = 4;
const ACCESS_KEY: &str = "dumpvault-bench-key";
const SECRET_KEY: &str = "dumpvault-bench-secret";

const USAGE: &str =
    "usage: cargo xtask bench --scale [--max N] [--no-s3] [--seed N] [--keep] [--bin P]
  --max N    largest repository, in snapshots (default 50000; 10000 for a quicker run)
  --no-s3    local disk only (no moto)
  --seed N   seed of the generated databases (default 1)
  --keep     keep target/bench/scale-work
  --bin P    measure this dumpvault binary instead of building target/release/dumpvault";

struct Opts {
    max: usize,
    s3: bool,
    seed: u64,
    keep: bool,
    /// A dumpvault binary to measure instead of building target/release/dumpvault.
    bin: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        max: 50_000,
        s3: true,
        seed: 1,
        keep: false,
        bin: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--scale" => {}
            "--max" => o.max = val()?.parse()?,
            "--no-s3" => o.s3 = false,
            "--seed" => o.seed = val()?.parse()?,
            "--keep" => o.keep = true,
            "--bin" => o.bin = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    anyhow::ensure!(o.max >= LEVELS[0], "--max must be at least {}", LEVELS[0]);
    Ok(o)
}

/// One measured command at one size.
#[derive(Clone, Debug)]
struct Row {
    backend: &'static str,
    level: usize,
    command: &'static str,
    /// Wall time, seconds: the least of the runs.
    wall: f64,
    /// CPU time (user + system), seconds: the least of the runs (on a loaded machine the
    /// wall time also measures the others' work).
    cpu: f64,
    rss_kib: u64,
    /// `--stats-backend` JSON (`backend_requests`).
    stats: Value,
}

impl Row {
    fn requests(&self, kind: &str) -> u64 {
        self.stats[kind]["requests"].as_u64().unwrap_or(0)
    }
    fn total(&self) -> u64 {
        ["list", "read", "stat", "write", "delete"]
            .iter()
            .map(|k| self.requests(k))
            .sum()
    }
}

const COMMANDS: [&str; 5] = [
    "snapshot, cold cache",
    "snapshot, warm cache",
    "snapshots",
    "forget --dry-run",
    "restore latest (1 MB)",
];

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let started = Instant::now();
    let root = crate::root();
    let bin = match &opts.bin {
        Some(b) => b.clone(),
        None => {
            crate::run(crate::cargo().args(["build", "--release", "--bin", "dumpvault"]))?;
            root.join("target/release/dumpvault")
        }
    };
    let out_dir = root.join("target/bench");
    let work = out_dir.join("scale-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("dbs"))?;
    let pwfile = work.join("password");
    std::fs::write(&pwfile, format!("{PASSWORD}\n"))?;
    let dbs: Vec<PathBuf> = (0..GROUPS)
        .map(|g| {
            work.join("dbs")
                .join(format!("{}-db{}.db", host(g), g % DBS_PER_HOST))
        })
        .collect();
    for (g, p) in dbs.iter().enumerate() {
        make_db(
            p,
            if g == 0 { 1 << 20 } else { 100 << 10 },
            opts.seed + g as u64,
        )?;
    }
    let levels: Vec<usize> = LEVELS.into_iter().filter(|l| *l <= opts.max).collect();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let bench = Bench {
        bin,
        pwfile,
        work: work.clone(),
        dbs,
        s3_env: Vec::new(),
        round_base: 0,
    };
    rows.extend(bench.backend("local", &work.join("repo"), &levels, &mut notes)?);
    if opts.s3 {
        let moto = Moto::start(&root.join("target/tmp"))?;
        moto.create_bucket("scale")?;
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        for (k, v) in &env {
            std::env::set_var(k, v);
        }
        let bench = Bench {
            s3_env: env,
            round_base: 1 << 32,
            ..bench
        };
        let url = format!("s3://scale/repo?endpoint=http://127.0.0.1:{}", moto.port);
        rows.extend(bench.backend("S3 (moto)", Path::new(&url), &levels, &mut notes)?);
    }
    if opts.s3 {
        notes.push(format!(
            "S3: `--stats-backend` counts a listing once however many pages it takes; listing \
             `snapshots/` takes ⌈snapshots / 1000⌉ ListObjectsV2 pages ({} at {} snapshots), \
             and moto spends about 1 s per page at 50 000 objects, hence its wall times",
            levels.last().map_or(0, |l| l.div_ceil(1000)),
            levels.last().copied().unwrap_or(0)
        ));
    }
    let checks = targets(&rows, &levels);
    let md = markdown(&rows, &levels, &checks, &notes, &opts, started.elapsed());
    println!("{md}");
    std::fs::write(out_dir.join("scale.md"), &md)?;
    let js: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"backend": r.backend, "snapshots": r.level, "command": r.command,
                "wall_s": measure::round3(r.wall), "cpu_s": measure::round3(r.cpu), "peak_rss_kib": r.rss_kib,
                "backend_requests": r.stats})
        })
        .collect();
    let checks_js: Vec<Value> = (checks.iter())
        .map(|(t, ok)| json!({"target": t, "met": ok}))
        .collect();
    std::fs::write(
        out_dir.join("scale.json"),
        serde_json::to_string_pretty(&json!({"seed": opts.seed, "levels": levels,
            "rows": js, "targets": checks_js, "notes": notes,
            "total_s": started.elapsed().as_secs_f64(), "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()}))?,
    )?;
    eprintln!(
        "bench --scale: wrote {} ({:.0} s)",
        out_dir.join("scale.md").display(),
        started.elapsed().as_secs_f64()
    );
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

fn host(g: usize) -> String {
    format!("host{}", g / DBS_PER_HOST)
}

fn tags(g: usize) -> Vec<String> {
    vec!["fleet".into(), format!("job={}", host(g))]
}

/// The time of the snapshot at `hour`, as a `Zoned` in UTC.
fn time(hour: u64) -> Result<jiff::Zoned> {
    let ts = jiff::Timestamp::from_second(START + hour as i64 * 3600)?;
    Ok(ts.to_zoned(jiff::tz::TimeZone::UTC))
}

/// A SQLite database of about `bytes` at `path`: one table of rows with ~100 bytes of
/// pseudo-random text.
pub(super) fn make_db(path: &Path, bytes: usize, seed: u64) -> Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT);",
    )?;
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare("INSERT INTO items VALUES (?1, ?2, ?3)")?;
        for i in 0..(bytes / 120).max(1) {
            let payload: String = (0..100)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (b'a' + (x % 26) as u8) as char
                })
                .collect();
            st.execute(rusqlite::params![i as i64, format!("item {i}"), payload])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// One hour's change of the database at `path`, as the main bench's synthetic series models
/// it: about 1% of the rows updated, all among the newest 5%, and 0.3% new rows at the end.
pub(super) fn touch(path: &Path, round: u64) -> Result<()> {
    let c = rusqlite::Connection::open(path)?;
    let n: i64 = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
    c.execute(
        "UPDATE items SET name = ?1 WHERE id >= ?2 AND id % 5 = ?3",
        rusqlite::params![
            format!("changed in round {round}"),
            n - n / 20,
            (round % 5) as i64
        ],
    )?;
    c.execute(
        "INSERT INTO items (name, payload) SELECT 'new in round ' || ?1, payload FROM items \
         WHERE id < ?2",
        rusqlite::params![round as i64, (n * 3 / 1000).max(1)],
    )?;
    Ok(())
}

struct Bench {
    bin: PathBuf,
    pwfile: PathBuf,
    work: PathBuf,
    dbs: Vec<PathBuf>,
    /// Credentials for moto (empty for the local disk).
    s3_env: Vec<(String, String)>,
    /// Added to the hour to make each backend's changes of the 1 MB database its own (the
    /// same change twice would be deduplicated and write nothing).
    round_base: u64,
}

impl Bench {
    /// Grows the repository at `location` through `levels` and measures at each.
    fn backend(
        &self,
        name: &'static str,
        location: &Path,
        levels: &[usize],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Row>> {
        let loc = location.to_string_lossy().into_owned();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(8192, 1, 1),
            ..Default::default()
        };
        let repo = Repository::init(Backend::open(&loc)?, PASSWORD.as_bytes(), opts)?;
        anyhow::ensure!(
            repo.config().catalogue_authoritative(),
            "init wrote a config of version {}: the bench measures version 2",
            repo.config().version
        );
        let mut hour = 0u64;
        let mut bases = Vec::new();
        for (g, db) in self.dbs.iter().enumerate() {
            bases.push(real_snapshot(&repo, db, g, hour)?);
            hour += 1;
        }
        let mut rows = Vec::new();
        for &level in levels {
            let have = repo.list(FileKind::Snapshot)?.len();
            let t = Instant::now();
            let written = grow(&repo, &bases, &mut hour, level.saturating_sub(have))?;
            let c = catalogue::compact(&repo, &written)?;
            let msg = format!(
                "{name}: grew to {level} snapshots in {:.1} s ({} manifests written, catalogue compacted into 1 file, {} removed)",
                t.elapsed().as_secs_f64(),
                written.len(),
                c.removed
            );
            eprintln!("bench --scale: {msg}");
            notes.push(msg);
            rows.extend(self.measure_level(name, &loc, level, &mut hour)?);
        }
        Ok(rows)
    }

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
    #[allow(clippy::too_many_arguments)]
    fn timed(
        &self,
        backend: &'static str,
        loc: &str,
        level: usize,
        command: &'static str,
        cache: &Path,
        args: &[&str],
        times: usize,
    ) -> Result<Row> {
        let scratch = self.work.join("run");
        let mut best: Option<Row> = None;
        for _ in 0..times {
            let ran = measure::run(&self.dv(loc, cache, args), None, None, &scratch)
                .with_context(|| format!("{backend}, {level} snapshots: {command}"))?;
            let stderr = std::fs::read_to_string(scratch.join("stderr")).unwrap_or_default();
            let stats = (stderr.lines().rev())
                .find_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|v| v["backend_requests"].clone())
                .filter(|v| v.is_object())
                .with_context(|| format!("{command}: no backend_requests line on stderr"))?;
            let row = Row {
                backend,
                level,
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

    fn measure_level(
        &self,
        backend: &'static str,
        loc: &str,
        level: usize,
        hour: &mut u64,
    ) -> Result<Vec<Row>> {
        let tag = backend.split_whitespace().next().unwrap_or("b");
        let cache = self.work.join(format!("cache-{tag}-{level}"));
        let db = &self.dbs[0];
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
                let tags = tags(0);
                for tg in &tags {
                    args.extend(["--tag", tg.as_str()]);
                }
                args.push(url.as_str());
                let r = self.timed(backend, loc, level, command, cache, &args, 1)?;
                best = Some(least(best, r));
            }
            best.context("no run")
        };
        // On moto the wall time is moto's own listing (it sorts the whole bucket for each
        // 1 000-key page), so one run each there; the requests are the same every run.
        let n = if self.s3_env.is_empty() { 5 } else { 1 };
        let mut rows = vec![
            snap(&cache, COMMANDS[0], 1)?,
            snap(&cache, COMMANDS[1], n.min(2))?,
        ];
        rows.push(self.timed(backend, loc, level, COMMANDS[2], &cache, &["snapshots"], n)?);
        let mut forget = vec!["forget", "--dry-run"];
        forget.extend(POLICY.split(' '));
        rows.push(self.timed(backend, loc, level, COMMANDS[3], &cache, &forget, n)?);
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
        rows.push(self.timed(backend, loc, level, COMMANDS[4], &cache, &restore, n)?);
        let restored = std::fs::metadata(&target).map_or(0, |m| m.len());
        anyhow::ensure!(restored > 500_000, "restore wrote {restored} bytes");
        let _ = std::fs::remove_file(&target);
        for r in &rows {
            eprintln!(
                "bench --scale: {backend} {level}: {}: {:.3} s, {} requests",
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

/// Takes a real snapshot of database `g` at `hour` through the library; returns its manifest.
fn real_snapshot(repo: &Repository, db: &Path, g: usize, hour: u64) -> Result<Manifest> {
    let url = DatabaseUrl::parse(&format!("sqlite://{}", db.display()))?;
    let sources = url.open(&DumpOptions::default())?;
    let opts = SnapshotOptions {
        host: Some(host(g)),
        tags: tags(g),
        time: Some(time(hour)?),
        ..Default::default()
    };
    let index = SharedIndex::start(repo, "snapshot")?;
    let out = snapshot::run(repo, &index, sources, &opts, &NoProgress)?;
    Ok(out.manifest)
}

/// Writes `n` manifests, hour after hour, database after database: each the manifest of an
/// unchanged hourly snapshot of its database (its real manifest, its own time, nothing added).
fn grow(
    repo: &Repository,
    bases: &[Manifest],
    hour: &mut u64,
    n: usize,
) -> Result<Vec<(Id, Manifest)>> {
    let mut todo = Vec::with_capacity(n);
    for _ in 0..n {
        let g = (*hour % GROUPS as u64) as usize;
        let mut m = bases[g].clone();
        m.time = time(*hour)?.to_string();
        m.summary.bytes_added = 0;
        m.summary.new_blobs = 0;
        todo.push(m);
        *hour += 1;
    }
    let chunk = n.div_ceil(WRITERS).max(1);
    let results: Vec<Result<Vec<(Id, Manifest)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Vec<(Id, Manifest)>> {
                    (part.iter())
                        .map(|m| Ok((repo.save_manifest(m)?, m.clone())))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("writer panicked")))
            .collect()
    });
    let mut out = Vec::with_capacity(n);
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// The targets of issue 19 for these rows: (description with figures, met).
fn targets(rows: &[Row], levels: &[usize]) -> Vec<(String, bool)> {
    let (lo, hi) = (levels[0], *levels.last().unwrap_or(&levels[0]));
    let find = |b: &str, l: usize, c: &str| {
        rows.iter()
            .find(|r| r.backend.starts_with(b) && r.level == l && r.command == c)
    };
    let mut out = Vec::new();
    for c in COMMANDS {
        if let (Some(a), Some(z)) = (find("local", lo, c), find("local", hi, c)) {
            let ratio = z.wall / a.wall.max(1e-3);
            out.push((
                format!(
                    "local, {c}: {:.3} s at {hi} ≤ 1.5 × {:.3} s at {lo} (×{ratio:.2})",
                    z.wall, a.wall
                ),
                ratio <= 1.5,
            ));
            let ratio = z.cpu / a.cpu.max(1e-3);
            out.push((
                format!(
                    "local, {c}: CPU {:.3} s at {hi} ≤ 1.5 × {:.3} s at {lo} (×{ratio:.2})",
                    z.cpu, a.cpu
                ),
                ratio <= 1.5,
            ));
        }
    }
    for c in &COMMANDS[1..] {
        if let (Some(a), Some(z)) = (find("S3", lo, c), find("S3", hi, c)) {
            let ratio = z.total() as f64 / a.total().max(1) as f64;
            out.push((
                format!(
                    "S3 warm cache, {c}: {} requests at {hi} ≤ 1.5 × {} at {lo} (×{ratio:.2})",
                    z.total(),
                    a.total()
                ),
                ratio <= 1.5,
            ));
        }
    }
    // Only remote repositories are cached: on local disk every index file is read each time.
    for r in (rows.iter()).filter(|r| r.command == COMMANDS[1] && r.backend.starts_with("S3")) {
        let beyond = r.total() - r.requests("write");
        out.push((
            format!(
                "{}, {} snapshots, warm hourly snapshot: {beyond} requests beyond its {} writes ≤ 10",
                r.backend,
                r.level,
                r.requests("write")
            ),
            beyond <= 10,
        ));
    }
    out
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn markdown(
    rows: &[Row],
    levels: &[usize],
    checks: &[(String, bool)],
    notes: &[String],
    opts: &Opts,
    took: Duration,
) -> String {
    let mut md = String::new();
    let head: Vec<String> = levels.iter().map(|l| thousands(*l)).collect();
    let mut backends: Vec<&str> = rows.iter().map(|r| r.backend).collect();
    backends.dedup();
    for b in backends {
        md += &format!(
            "#### {b}: wall time, CPU time (user + sys; both the least of the runs), backend requests (list/read/stat/write/delete)\n\n| command | {} |\n|---|{}\n",
            head.join(" | "),
            "---|".repeat(levels.len())
        );
        for c in COMMANDS {
            let cells: Vec<String> = levels
                .iter()
                .map(|l| {
                    rows.iter()
                        .find(|r| r.backend == b && r.level == *l && r.command == c)
                        .map_or("–".into(), |r| {
                            format!(
                                "{:.2} s, CPU {:.3} s, {} ({}/{}/{}/{}/{})",
                                r.wall,
                                r.cpu,
                                r.total(),
                                r.requests("list"),
                                r.requests("read"),
                                r.requests("stat"),
                                r.requests("write"),
                                r.requests("delete")
                            )
                        })
                })
                .collect();
            md += &format!("| {c} | {} |\n", cells.join(" | "));
        }
        md += "\n";
    }
    md += "#### Targets\n\n";
    for (t, ok) in checks {
        md += &format!("- {} {t}\n", if *ok { "met:" } else { "**MISSED**:" });
    }
    md += "\n";
    for n in notes {
        md += &format!("- {n}\n");
    }
    md += &format!(
        "- `cargo xtask bench --scale --max {}{}` (seed {}), {:.0} s in all; load average at the end {}\n",
        opts.max,
        if opts.s3 { "" } else { " --no-s3" },
        opts.seed,
        took.as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    md
}
