//! `cargo xtask bench --fleet [--dbs N] [--runs R] [--jobs J] [--only ENGINE] [--s3]
//! [--test-kdf] [--seed N] [--keep]`: the economics of one `dumpvault run` over a fleet of
//! small databases (issue 19).
//!
//! Creates N databases (default 200): half SQLite files, half PostgreSQL databases on the local
//! server (uniquely named, dropped afterwards; `--only sqlite|postgres`: all of one engine),
//! each about 3 MB of rows with its own content; one repository (on local disk, or with `--s3`
//! in a bucket of moto, the S3 server the tests use, started as `--scale` starts it) with one
//! job per engine (`keep = { last = 100 }`). Then, R
//! times (default 3), makes one hour's change in every database (1% of the rows updated, among
//! the newest 5%; 0.3% new rows), times the dump tools alone
//! over every database one after the other (`pg_dump` to /dev/null, the same pg_dump program
//! dumpvault picks: the newest in /usr/lib/postgresql/*/bin, not Debian's Perl `pg_wrapper` on
//! PATH, whose own start-up would count as tool time; SQLite's online backup to a file, as
//! dumpvault takes it), and times `dumpvault run --jobs J` (default 1, so that the
//! two add up the same way) with `/usr/bin/time -v` and `--stats-backend`.
//!
//! Fixed cost per database = (run wall time − dump tools' wall time) / N. Targets: ≤ 50 ms
//! fixed cost per database, peak RSS ≤ 256 MiB, and per run: the key file read once, the
//! index folder and the catalogue folder listed once and each of their files read at most once.
//! The backend requests per database are reported too (on S3 each is a round trip, and paid).

use super::measure;
use super::scale::{make_db, touch, Moto};
use super::tools::PASSWORD;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const HOST: &str = "127.0.0.1";
const PORT: &str = "5432";
const USER: &str = "postgres";
/// Rows of ~110 bytes: about 3 MB of dump per database.
const ROWS: usize = 27_000;

/// Any credentials do for moto.
const S3_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "dumpvault-bench-key"),
    ("AWS_SECRET_ACCESS_KEY", "dumpvault-bench-secret"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

const USAGE: &str = "usage: cargo xtask bench --fleet [--dbs N] [--runs R] [--jobs J] [--only ENGINE] [--s3] [--test-kdf] [--seed N] [--keep] [--bin P]
  --dbs N     databases (default 200: half SQLite, half PostgreSQL)
  --runs R    `dumpvault run` repetitions (default 3)
  --jobs J    databases dumped at once (default 1: the dump tools are timed one after the other)
  --only E    all databases of one engine: sqlite or postgres (the per-engine fixed cost)
  --s3        the repository in a bucket on moto (local S3 server) instead of a local directory
  --test-kdf  repository with the small test Argon2id cost (default: 64 MiB, 3 passes)
  --keep      keep target/bench/fleet-work
  --bin P     measure this dumpvault binary instead of building target/release/dumpvault";

struct Opts {
    dbs: usize,
    runs: usize,
    jobs: usize,
    /// `Some(true)`: SQLite only; `Some(false)`: PostgreSQL only; `None`: half each.
    only_sqlite: Option<bool>,
    s3: bool,
    test_kdf: bool,
    seed: u64,
    keep: bool,
    /// A dumpvault binary to measure instead of building target/release/dumpvault.
    bin: Option<PathBuf>,
}

impl Opts {
    /// How many of the databases are SQLite files (the rest are PostgreSQL databases).
    fn sqlite_count(&self) -> usize {
        match self.only_sqlite {
            Some(true) => self.dbs,
            Some(false) => 0,
            None => self.dbs / 2,
        }
    }
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        dbs: 200,
        runs: 3,
        jobs: 1,
        only_sqlite: None,
        s3: false,
        test_kdf: false,
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
            "--fleet" => {}
            "--dbs" => o.dbs = val()?.parse()?,
            "--runs" => o.runs = val()?.parse()?,
            "--jobs" => o.jobs = val()?.parse()?,
            "--only" => {
                o.only_sqlite = match val()?.as_str() {
                    "sqlite" => Some(true),
                    "postgres" | "pg" => Some(false),
                    e => bail!("--only {e:?}: sqlite or postgres\n{USAGE}"),
                }
            }
            "--s3" => o.s3 = true,
            "--test-kdf" => o.test_kdf = true,
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
    anyhow::ensure!(
        o.dbs >= 2 && o.runs >= 1 && o.jobs >= 1,
        "bad --dbs/--runs/--jobs"
    );
    Ok(o)
}

fn psql() -> Command {
    let mut c = Command::new("psql");
    c.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        HOST,
        "-p",
        PORT,
        "-U",
        USER,
    ]);
    c
}

/// Runs `script` through psql connected to `postgres`.
fn psql_script(script: &str) -> Result<()> {
    use std::io::Write;
    let mut child = psql()
        .args(["-d", "postgres"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting psql")?;
    child
        .stdin
        .take()
        .context("psql stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// PostgreSQL databases this bench created; dropped on drop.
struct PgFleet(Vec<String>);

impl PgFleet {
    fn create(n: usize, seed: u64) -> Result<PgFleet> {
        let mut fleet = PgFleet(Vec::new());
        let mut script = String::new();
        for i in 0..n {
            let name = format!("dvbench_fleet_{}_{i:03}", std::process::id());
            script += &format!(
                "CREATE DATABASE {name};\n\\c {name}\n\
                 CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, payload text);\n\
                 INSERT INTO items SELECT g, 'item ' || g, md5(g || ':{seed}:{i}:a') || \
                 md5(g || ':{seed}:{i}:b') || md5(g || ':{seed}:{i}:c') \
                 FROM generate_series(0, {}) g;\n\\c postgres\n",
                ROWS - 1
            );
            fleet.0.push(name);
        }
        psql_script(&script)?;
        Ok(fleet)
    }

    /// One hour's change of every database, as [`touch`] makes it for SQLite: 1% of the rows
    /// updated, among the newest 5%, and 0.3% new rows.
    fn touch(&self, round: u64) -> Result<()> {
        let mut script = String::new();
        for name in &self.0 {
            script += &format!(
                "\\c {name}\nUPDATE items SET name = 'changed in round {round}' \
                 WHERE id >= {} AND id % 5 = {};\n\
                 INSERT INTO items SELECT (SELECT max(id) FROM items) + g, 'new in round {round}', \
                 md5(g || ':{round}') FROM generate_series(1, {}) g;\n",
                ROWS - ROWS / 20,
                round % 5,
                ROWS * 3 / 1000
            );
        }
        psql_script(&script)
    }

    fn url(name: &str) -> String {
        format!("postgres://{USER}@{HOST}:{PORT}/{name}")
    }
}

impl Drop for PgFleet {
    fn drop(&mut self) {
        let script: String = (self.0.iter())
            .map(|n| format!("DROP DATABASE IF EXISTS {n};\n"))
            .collect();
        if let Err(e) = psql_script(&script) {
            eprintln!("bench --fleet: dropping the fleet databases failed: {e:#}");
        }
    }
}

/// Wall seconds of the dump tools alone, one database after the other: `pg_dump` to /dev/null,
/// SQLite's online backup API into a file (dumpvault's own SQLite snapshot step).
fn tools_alone(pg: &PgFleet, sqlite: &[PathBuf], scratch: &Path) -> Result<(f64, f64)> {
    let pg_dump = pg_dump_program();
    let _ = Command::new("sync").status();
    let t = Instant::now();
    for name in &pg.0 {
        let st = Command::new(&pg_dump)
            .args(["-h", HOST, "-p", PORT, "-U", USER, "-d", name])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(st.success(), "pg_dump {name} failed ({st})");
    }
    let pg_secs = t.elapsed().as_secs_f64();
    let copy = scratch.join("backup.db");
    let t = Instant::now();
    for p in sqlite {
        let _ = std::fs::remove_file(&copy);
        let src = rusqlite::Connection::open(p)?;
        let mut dst = rusqlite::Connection::open(&copy)?;
        rusqlite::backup::Backup::new(&src, &mut dst)?.run_to_completion(
            128,
            std::time::Duration::ZERO,
            None,
        )?;
    }
    let _ = std::fs::remove_file(&copy);
    Ok((pg_secs, t.elapsed().as_secs_f64()))
}

/// The pg_dump dumpvault runs: the newest /usr/lib/postgresql/*/bin/pg_dump, else the one on
/// PATH (on Debian a Perl wrapper that costs 40-80 ms to start).
fn pg_dump_program() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let p = e.path().join("bin/pg_dump");
            p.is_file().then_some((major, p))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map_or_else(|| PathBuf::from("pg_dump"), |(_, p)| p)
}

/// One measured run.
struct RunRow {
    wall: f64,
    pg_tools: f64,
    sqlite_tools: f64,
    rss_kib: u64,
    ok: usize,
    failed: Vec<String>,
    stats: Value,
    /// Index and catalogue files in the repository before the run.
    before: (usize, usize),
}

impl RunRow {
    fn fixed_ms(&self, n: usize) -> f64 {
        (self.wall - self.pg_tools - self.sqlite_tools) * 1000.0 / n as f64
    }
    /// Backend requests of every kind.
    fn requests(&self) -> u64 {
        let kinds = ["list", "read", "stat", "write", "delete"];
        kinds
            .iter()
            .map(|k| self.stats[*k]["requests"].as_u64().unwrap_or(0))
            .sum()
    }
    fn folder(&self, folder: &str, kind: &str) -> u64 {
        self.stats["by_folder"][folder][kind]["requests"]
            .as_u64()
            .unwrap_or(0)
    }
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) => n += 1,
                Err(_) => {}
            }
        }
    }
    n
}

/// Where the bench's repository lives: a local directory, or a bucket on moto (kept running
/// while this lives).
struct Location {
    url: String,
    /// The local directory, to count its index and catalogue files.
    dir: Option<PathBuf>,
    env: Vec<(&'static str, &'static str)>,
    _moto: Option<Moto>,
}

impl Location {
    fn new(s3: bool, work: &Path) -> Result<Location> {
        if !s3 {
            let dir = work.join("repo");
            let url = dir.display().to_string();
            return Ok(Location {
                url,
                dir: Some(dir),
                env: Vec::new(),
                _moto: None,
            });
        }
        let moto = Moto::start(&crate::root().join("target/tmp"))?;
        moto.create_bucket("fleet")?;
        Ok(Location {
            url: format!("s3://fleet/repo?endpoint=http://127.0.0.1:{}", moto.port),
            dir: None,
            env: S3_ENV.to_vec(),
            _moto: Some(moto),
        })
    }

    /// Index and catalogue files in the repository: counted on disk, or on S3 the files
    /// written minus those deleted by the earlier runs (`rows`; `init` writes neither).
    fn files(&self, rows: &[RunRow]) -> (usize, usize) {
        if let Some(dir) = &self.dir {
            return (
                count_files(&dir.join("index")),
                count_files(&dir.join("catalogue")),
            );
        }
        let net = |folder: &str| -> usize {
            let sum = |kind: &str| rows.iter().map(|r| r.folder(folder, kind)).sum::<u64>();
            sum("write").saturating_sub(sum("delete")) as usize
        };
        (net("index"), net("catalogue"))
    }
}

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
    let work = out_dir.join("fleet-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("sqlite"))?;
    let n_sqlite = opts.sqlite_count();
    let t = Instant::now();
    let sqlite: Vec<PathBuf> = (0..n_sqlite)
        .map(|i| work.join("sqlite").join(format!("app{i:03}.db")))
        .collect();
    for (i, p) in sqlite.iter().enumerate() {
        make_db(p, ROWS * 120, opts.seed * 1000 + i as u64)?;
    }
    let pg = PgFleet::create(opts.dbs - n_sqlite, opts.seed)?;
    let setup = t.elapsed().as_secs_f64();
    eprintln!(
        "bench --fleet: {} databases created in {setup:.1} s",
        opts.dbs
    );
    let repo = Location::new(opts.s3, &work)?;
    let pwfile = work.join("password");
    std::fs::write(&pwfile, format!("{PASSWORD}\n"))?;
    let mut init = Command::new(&bin);
    init.env("DUMPVAULT_REPOSITORY", &repo.url)
        .env("DUMPVAULT_PASSWORD_FILE", &pwfile)
        .envs(repo.env.iter().copied())
        .args(["init", "--quiet"]);
    if opts.test_kdf {
        init.args(["--kdf-memory-kib", "8192", "--kdf-iterations", "1"]);
    }
    crate::run(&mut init)?;
    let config = work.join("dumpvault.toml");
    std::fs::write(
        &config,
        config_toml(&repo.url, &pwfile, &sqlite, &pg, &work),
    )?;
    let mut rows = Vec::new();
    for round in 0..opts.runs as u64 {
        for p in &sqlite {
            touch(p, round + 1)?;
        }
        pg.touch(round + 1)?;
        let (pg_tools, sqlite_tools) = tools_alone(&pg, &sqlite, &work)?;
        let before = repo.files(&rows);
        let names = job_names(&sqlite, &pg);
        let (ran, stats, ok, failed) =
            dumpvault_run(&bin, &config, &repo, &names, opts.jobs, &work)
                .with_context(|| format!("dumpvault run, round {round}"))?;
        let row = RunRow {
            wall: ran.cost.wall,
            pg_tools,
            sqlite_tools,
            rss_kib: ran.cost.rss_kib,
            ok,
            failed,
            stats,
            before,
        };
        eprintln!(
            "bench --fleet: run {}: {:.2} s, dump tools alone {:.2} s, fixed {:.1} ms per database, peak RSS {} MiB, {:.1} requests per database, {} ok",
            round + 1,
            row.wall,
            row.pg_tools + row.sqlite_tools,
            row.fixed_ms(opts.dbs),
            row.rss_kib / 1024,
            row.requests() as f64 / opts.dbs as f64,
            row.ok
        );
        rows.push(row);
    }
    drop(pg);
    let md = markdown(&rows, &opts, setup, started.elapsed().as_secs_f64());
    println!("{md}");
    std::fs::write(out_dir.join("fleet.md"), &md)?;
    let js: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"wall_s": measure::round3(r.wall), "pg_dump_s": measure::round3(r.pg_tools),
                "sqlite_backup_s": measure::round3(r.sqlite_tools),
                "fixed_ms_per_db": measure::round3(r.fixed_ms(opts.dbs)),
                "requests_per_db": measure::round3(r.requests() as f64 / opts.dbs as f64),
                "peak_rss_kib": r.rss_kib, "ok": r.ok, "failed": r.failed,
                "index_files_before": r.before.0, "catalogue_files_before": r.before.1,
                "backend_requests": r.stats})
        })
        .collect();
    std::fs::write(
        out_dir.join("fleet.json"),
        serde_json::to_string_pretty(&json!({"dbs": opts.dbs, "sqlite": n_sqlite,
            "postgres": opts.dbs - n_sqlite, "jobs": opts.jobs, "s3": opts.s3,
            "test_kdf": opts.test_kdf, "seed": opts.seed, "runs": js}))?,
    )?;
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// Runs `dumpvault run` once over the fleet's two jobs; returns what it cost, its
/// `--stats-backend` figures, the databases that succeeded and those that failed.
fn dumpvault_run(
    bin: &Path,
    config: &Path,
    repo: &Location,
    names: &[&str],
    jobs: usize,
    work: &Path,
) -> Result<(measure::Ran, Value, usize, Vec<String>)> {
    let mut c = Command::new(bin);
    c.env("DUMPVAULT_CONFIG", config)
        .env_remove("DUMPVAULT_REPOSITORY")
        .envs(repo.env.iter().copied())
        .args(["--json", "--stats-backend", "run", "--jobs"])
        .arg(jobs.to_string())
        .args(names);
    let ran = measure::run(&c, None, None, &work.join("run"))?;
    let stderr = std::fs::read_to_string(work.join("run/stderr")).unwrap_or_default();
    let stats = (stderr.lines().rev())
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["backend_requests"].clone())
        .context("no backend_requests line on stderr")?;
    let out: Value = serde_json::from_str(ran.stdout.trim()).context("run --json output")?;
    let (mut ok, mut failed) = (0, Vec::new());
    for j in out["jobs"].as_array().into_iter().flatten() {
        for d in j["databases"].as_array().into_iter().flatten() {
            if d["status"] == "ok" {
                ok += 1;
            } else {
                failed.push(format!("{}: {}", d["database"], d["error"]));
            }
        }
    }
    Ok((ran, stats, ok, failed))
}

fn config_toml(repo: &str, pwfile: &Path, sqlite: &[PathBuf], pg: &PgFleet, work: &Path) -> String {
    let list =
        |v: Vec<String>| -> String { v.iter().map(|s| format!("  {s:?},\n")).collect::<String>() };
    let sq = list(
        sqlite
            .iter()
            .map(|p| format!("sqlite://{}", p.display()))
            .collect(),
    );
    let pgs = list(pg.0.iter().map(|n| PgFleet::url(n)).collect());
    // Runs minutes apart all fall in one hour: the fleet policy (48 hourly, 30 daily, …) would
    // forget each run's predecessors and prune every run. `last = 100` forgets nothing here, so
    // a run is what an hourly run costs before its retention removes anything.
    let keep = "keep = { last = 100 }";
    let mut toml = format!(
        "status_file = {:?}\n\n[repository.main]\nurl = {repo:?}\npassword_file = {:?}\n",
        work.join("status.json").display().to_string(),
        pwfile.display().to_string()
    );
    for (name, sources) in [("sqlite", sq), ("pg", pgs)] {
        if !sources.is_empty() {
            toml += &format!(
                "\n[job.{name}]\nrepository = \"main\"\ntags = [\"fleet\"]\n{keep}\n\
                 sources = [\n{sources}]\n"
            );
        }
    }
    toml
}

/// The bench's jobs that have databases (see [`config_toml`]).
fn job_names(sqlite: &[PathBuf], pg: &PgFleet) -> Vec<&'static str> {
    let mut names = Vec::new();
    if !sqlite.is_empty() {
        names.push("sqlite");
    }
    if !pg.0.is_empty() {
        names.push("pg");
    }
    names
}

fn markdown(rows: &[RunRow], opts: &Opts, setup: f64, total: f64) -> String {
    let n = opts.dbs;
    let n_sqlite = opts.sqlite_count();
    let mut md = format!(
        "#### `dumpvault run` over {n} databases ({} SQLite, {} PostgreSQL, ~3 MB of dump each), --jobs {}, repository {}\n\n\
         | run | wall | pg_dump alone | SQLite backup alone | fixed cost per database | peak RSS | requests (list/read/stat/write/delete) | requests per database | keys read | index: listed, read (files) | catalogue: listed, read (files) | snapshots: listed, read | ok |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        n_sqlite,
        n - n_sqlite,
        opts.jobs,
        if opts.s3 { "on S3 (moto)" } else { "on local disk" }
    );
    let k = |r: &RunRow, kind: &str| r.stats[kind]["requests"].as_u64().unwrap_or(0);
    for (i, r) in rows.iter().enumerate() {
        md += &format!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {:.1} ms | {} MiB | {} ({}/{}/{}/{}/{}) | {:.1} | {} | {}, {} ({}) | {}, {} ({}) | {}, {} | {} |\n",
            i + 1,
            r.wall,
            r.pg_tools,
            r.sqlite_tools,
            r.fixed_ms(n),
            r.rss_kib / 1024,
            r.requests(),
            k(r, "list"),
            k(r, "read"),
            k(r, "stat"),
            k(r, "write"),
            k(r, "delete"),
            r.requests() as f64 / n as f64,
            r.folder("keys", "read"),
            r.folder("index", "list"),
            r.folder("index", "read"),
            r.before.0,
            r.folder("catalogue", "list"),
            r.folder("catalogue", "read"),
            r.before.1,
            r.folder("snapshots", "list"),
            r.folder("snapshots", "read"),
            r.ok
        );
    }
    md += "\n#### Targets\n\n";
    let mut check = |ok: bool, t: String| {
        md += &format!("- {} {t}\n", if ok { "met:" } else { "**MISSED**:" });
    };
    for (i, r) in rows.iter().enumerate() {
        let run = i + 1;
        check(
            r.fixed_ms(n) <= 50.0,
            format!(
                "run {run}: fixed cost {:.1} ms per database ≤ 50 ms",
                r.fixed_ms(n)
            ),
        );
        check(
            r.rss_kib <= 256 * 1024,
            format!("run {run}: peak RSS {} MiB ≤ 256 MiB", r.rss_kib / 1024),
        );
        check(
            r.folder("keys", "read") == 1,
            format!(
                "run {run}: key file read {} time(s): the key is derived once",
                r.folder("keys", "read")
            ),
        );
        check(
            r.folder("index", "list") == 1 && r.folder("index", "read") as usize <= r.before.0,
            format!(
                "run {run}: index listed {} time(s), {} reads of {} index files: loaded once",
                r.folder("index", "list"),
                r.folder("index", "read"),
                r.before.0
            ),
        );
        check(
            r.folder("catalogue", "list") == 1
                && r.folder("catalogue", "read") as usize <= r.before.1,
            format!(
                "run {run}: catalogue listed {} time(s), {} reads of {} catalogue files: read once",
                r.folder("catalogue", "list"),
                r.folder("catalogue", "read"),
                r.before.1
            ),
        );
        check(
            r.failed.is_empty() && r.ok == n,
            format!(
                "run {run}: {} of {n} databases ok{}",
                r.ok,
                if r.failed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.failed.join("; "))
                }
            ),
        );
    }
    md += &format!(
        "\n- databases created in {setup:.0} s; {total:.0} s in all; measured with {}; load average at the end {}\n\
         - `cargo xtask bench --fleet --dbs {n} --runs {} --jobs {}{}{}{}` (seed {})\n",
        measure::method(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        opts.runs,
        opts.jobs,
        match opts.only_sqlite {
            Some(true) => " --only sqlite",
            Some(false) => " --only postgres",
            None => "",
        },
        if opts.s3 { " --s3" } else { "" },
        if opts.test_kdf { " --test-kdf" } else { "" },
        opts.seed
    );
    md
}
