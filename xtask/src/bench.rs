//! `cargo xtask bench`: the project's performance figures. dumpvault, restic, BorgBackup and
//! (when on PATH) rustic back up the same dumps: a synthetic pg_dump-style hourly series and a
//! real PostgreSQL series driven by pgbench; `cat`, BLAKE3 and `zstd -3 -T0` over the same bytes
//! give the ceiling, the zstd -3 size of the changed rows the floor. Prints a Markdown table and
//! writes target/bench/results.json (and results.md). See docs/bench.md.

mod fleet;
mod gen;
pub mod index_mem;
mod measure;
mod models;
mod nobase;
mod pg;
mod report;
pub mod restore;
mod scale;
mod sysbench;
mod tools;

use anyhow::{bail, Context, Result};
use measure::Cost;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tools::{Kind, Tool};

/// Parameters of a run.
#[derive(Clone, Debug)]
pub struct Opts {
    pub size: u64,
    pub hours: usize,
    pub seed: u64,
    pub quick: bool,
    pub pg_scale: Option<u32>,
    pub pg_seconds: u64,
    pub pg_hours: usize,
    pub synthetic: bool,
    pub postgres: bool,
    pub default_kdf: bool,
    /// dumpvault's average chunk in KiB (`--chunk-avg-kib`; min a quarter, max four times it),
    /// `None`: the repository default.
    pub chunk_avg_kib: Option<u32>,
    pub keep: bool,
    /// The churn models to run (`--model`; default all).
    pub models: Vec<models::Which>,
}

const USAGE: &str = "usage: cargo xtask bench [--quick] [--model uniform|hotspot|mixed|pgbench|sysbench|all]
       [--size BYTES|300MiB|1GiB] [--hours H] [--seed N]
       [--pg-scale N] [--pg-seconds S] [--pg-hours H] [--no-synthetic] [--no-postgres]
       [--test-kdf] [--chunk-avg-kib N] [--keep]
       cargo xtask bench --scale [--max N] [--no-s3]   (issue 19: 100 to 50 000 snapshots; --scale --help)
       cargo xtask bench --fleet [--dbs N] [--runs R]  (issue 19: one `run` over 200 databases; --fleet --help)
  --quick         synthetic models 32 MiB and 4 hours; pgbench and sysbench 3 hours of 3 s
                  (the whole run under 5 minutes on 2 cores)
  --model         churn models, comma-separated (default all): uniform, hotspot, mixed (synthetic
                  dumps), pgbench (PostgreSQL), sysbench (oltp_read_write on MariaDB)
  --size          synthetic dump size (default 1GiB); the pgbench scale follows (1 = ~9.6 MB of dump)
  --hours         hourly snapshots after the first (default 8)
  --pg-seconds    pgbench -T between PostgreSQL snapshots (default 15, quick 3)
  --test-kdf      dumpvault repositories with the small test Argon2id cost (default: 64 MiB, 3 passes)
  --chunk-avg-kib dumpvault repositories with this average chunk (min N/4, max 4N KiB;
                  default: the repository default, 64 KiB)
  --keep          keep the repositories under target/bench/work";

fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("bad size {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        u => bail!("bad size unit {u:?} in {s:?}"),
    };
    Ok((n * mult) as u64)
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        size: 1 << 30,
        hours: 8,
        seed: 1,
        quick: false,
        pg_scale: None,
        pg_seconds: 15,
        pg_hours: 8,
        synthetic: true,
        postgres: true,
        default_kdf: true,
        chunk_avg_kib: None,
        keep: false,
        models: Vec::new(),
    };
    let mut model_args = Vec::new();
    let (mut size, mut pg_seconds, mut pg_hours, mut hours) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--size" => size = Some(parse_size(&val()?)?),
            "--hours" => hours = Some(val()?.parse()?),
            "--seed" => o.seed = val()?.parse()?,
            "--pg-scale" => o.pg_scale = Some(val()?.parse()?),
            "--pg-seconds" => pg_seconds = Some(val()?.parse()?),
            "--pg-hours" => pg_hours = Some(val()?.parse()?),
            "--no-synthetic" => o.synthetic = false,
            "--no-postgres" => o.postgres = false,
            "--test-kdf" => o.default_kdf = false,
            "--chunk-avg-kib" => o.chunk_avg_kib = Some(val()?.parse()?),
            "--keep" => o.keep = true,
            "--model" => model_args.push(val()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    o.models = models::parse(&model_args)?;
    if o.quick {
        o.size = 32 << 20;
        o.hours = 4;
        o.pg_seconds = 3;
        o.pg_hours = 3;
    }
    if let Some(s) = size {
        o.size = s;
    }
    if let Some(h) = hours {
        o.hours = h;
        if !o.quick {
            o.pg_hours = h;
        }
    }
    if let Some(s) = pg_seconds {
        o.pg_seconds = s;
    }
    if let Some(h) = pg_hours {
        o.pg_hours = h;
    }
    anyhow::ensure!(o.size >= 1 << 20, "--size must be at least 1 MiB");
    anyhow::ensure!(o.hours >= 1 && o.pg_hours >= 1, "at least one hour");
    Ok(o)
}

/// One tool's figures for one workload.
pub struct ToolRun {
    pub kind: Kind,
    /// Per snapshot: bytes of dump read, cost, repository growth, the tool's own figure.
    pub snaps: Vec<Snap>,
    pub restore: Option<Cost>,
    pub restore_bytes: u64,
    pub restore_check: String,
    pub table_restore: Option<(Cost, u64, String)>,
    pub repo_size: u64,
    pub extra: Value,
}

pub struct Snap {
    pub bytes: u64,
    pub cost: Cost,
    pub added: u64,
    pub reported_added: Option<u64>,
}

impl ToolRun {
    fn new(kind: Kind) -> ToolRun {
        ToolRun {
            kind,
            snaps: Vec::new(),
            restore: None,
            restore_bytes: 0,
            restore_check: String::new(),
            table_restore: None,
            repo_size: 0,
            extra: Value::Null,
        }
    }
}

/// A ceiling: a tool doing less than a backup over the same bytes.
pub struct Ceiling {
    pub name: String,
    pub bytes: u64,
    pub cost: Cost,
}

/// One workload's results.
pub struct Workload {
    pub name: String,
    pub title: String,
    pub dump_sizes: Vec<u64>,
    /// Per hour: zstd -3 bytes of the changed rows (hour 0: 0).
    pub floor: Vec<u64>,
    pub changed_bytes: Vec<u64>,
    pub tools: Vec<ToolRun>,
    pub ceilings: Vec<Ceiling>,
    pub notes: Vec<String>,
    pub params: Value,
}

/// Availability of the peers, probed once.
pub struct Env {
    pub bench_dir: PathBuf,
    pub work: PathBuf,
    pub dumpvault: PathBuf,
    pub peers: Vec<(Kind, PathBuf)>,
    pub skipped: Vec<String>,
    pub versions: Vec<(String, String)>,
    /// /proc/loadavg at the start and the end: the machine may be shared.
    pub load: Vec<String>,
}

pub fn run(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--scale") {
        return scale::run(args);
    }
    if args.iter().any(|a| a == "--fleet") {
        return fleet::run(args);
    }
    let opts = parse(args)?;
    let started = std::time::Instant::now();
    let root = super::root();
    let bench_dir = root.join("target/bench");
    let work = bench_dir.join("work");
    std::fs::create_dir_all(&work)?;

    // 1. dumpvault in release
    let build = std::time::Instant::now();
    super::run(super::cargo().args(["build", "--release", "--bin", "dumpvault"]))?;
    let build_secs = build.elapsed().as_secs_f64();
    let dumpvault = root.join("target/release/dumpvault");

    // 2. peers and ceilings: never installed here, skipped with the reason
    let mut env = Env {
        bench_dir: bench_dir.clone(),
        work,
        dumpvault: dumpvault.clone(),
        peers: Vec::new(),
        skipped: Vec::new(),
        versions: Vec::new(),
        load: vec![loadavg()],
    };
    if let Some(v) = measure::version(&dumpvault.to_string_lossy(), &["--version"]) {
        env.versions.push(("dumpvault".into(), v));
    }
    for (kind, prog, vargs) in [
        (Kind::Restic, "restic", &["version"][..]),
        (Kind::Borg, "borg", &["--version"][..]),
        (Kind::Rustic, "rustic", &["--version"][..]),
    ] {
        match measure::which(prog) {
            Some(p) => {
                let v = measure::version(&p.to_string_lossy(), vargs).unwrap_or_default();
                env.versions.push((prog.into(), v));
                env.peers.push((kind, p));
            }
            None => env.skipped.push(format!(
                "{prog}: skipped, not on PATH{}",
                match kind {
                    Kind::Restic => " (Debian: apt-get install restic)",
                    Kind::Borg => " (Debian: apt-get install borgbackup)",
                    _ => " (not installed by the bench)",
                }
            )),
        }
    }
    for (prog, vargs) in [
        ("zstd", &["--version"][..]),
        ("b3sum", &["--version"][..]),
        ("cat", &["--version"][..]),
        ("/usr/bin/time", &["--version"][..]),
    ] {
        match measure::which(prog) {
            Some(p) => env.versions.push((
                prog.trim_start_matches("/usr/bin/").into(),
                measure::version(&p.to_string_lossy(), vargs).unwrap_or_default(),
            )),
            None => env.skipped.push(match prog {
                "b3sum" => "b3sum: not on PATH; the BLAKE3 ceiling uses the blake3 crate (one thread) in xtask".into(),
                "zstd" => "zstd: not on PATH (Debian: apt-get install zstd); the zstd -3 -T0 ceiling is skipped".into(),
                "/usr/bin/time" => "/usr/bin/time: missing; peak RSS and CPU come from /proc polling".into(),
                p => format!("{p}: not on PATH"),
            }),
        }
    }
    for s in &env.skipped {
        eprintln!("bench: {s}");
    }

    let workloads = models::run(&mut env, &opts);
    let total_secs = started.elapsed().as_secs_f64();
    env.load.push(loadavg());
    let md = report::markdown(&env, &opts, &workloads, total_secs, build_secs);
    println!("{md}");
    let results = report::json(&env, &opts, &workloads, total_secs, build_secs);
    std::fs::write(
        bench_dir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(bench_dir.join("results.md"), &md)?;
    eprintln!(
        "bench: wrote {} and results.md ({:.0} s, release build {:.0} s)",
        bench_dir.join("results.json").display(),
        total_secs,
        build_secs
    );
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&env.work);
    }
    Ok(())
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// BLAKE3 of a file, in this process (one thread).
fn blake3_file(path: &Path) -> Result<(blake3::Hash, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((h.finalize(), n))
}

/// `cat`, BLAKE3 and `zstd -3 -T0` over `file`.
fn ceilings(env: &Env, file: &Path) -> Result<Vec<Ceiling>> {
    let bytes = std::fs::metadata(file)?.len();
    let scratch = env.work.join("scratch-ceiling");
    let mut out = Vec::new();
    let dev_null = Path::new("/dev/null");
    let mut cat = Command::new("cat");
    cat.arg(file);
    // once to warm the page cache, then measured
    measure::run(&cat, None, Some(dev_null), &scratch)?;
    out.push(Ceiling {
        name: "cat".into(),
        bytes,
        cost: measure::run(&cat, None, Some(dev_null), &scratch)?.cost,
    });
    if measure::which("b3sum").is_some() {
        let mut c = Command::new("b3sum");
        c.arg(file);
        out.push(Ceiling {
            name: "b3sum".into(),
            bytes,
            cost: measure::run(&c, None, None, &scratch)?.cost,
        });
    } else {
        let t = std::time::Instant::now();
        let (u0, s0) = measure::self_cpu();
        blake3_file(file)?;
        let (u1, s1) = measure::self_cpu();
        out.push(Ceiling {
            name: "BLAKE3 (blake3 crate, 1 thread)".into(),
            bytes,
            cost: Cost {
                wall: t.elapsed().as_secs_f64(),
                user: u1 - u0,
                sys: s1 - s0,
                rss_kib: 0,
            },
        });
    }
    if measure::which("zstd").is_some() {
        let mut c = Command::new("zstd");
        c.args(["-3", "-T0", "-q", "-c"]).arg(file);
        out.push(Ceiling {
            name: "zstd -3 -T0".into(),
            bytes,
            cost: measure::run(&c, None, Some(dev_null), &scratch)?.cost,
        });
    }
    Ok(out)
}

fn tools_for(env: &Env, opts: &Opts, dir: &Path, name: &str) -> Vec<Tool> {
    let mut v = vec![Tool::new(
        Kind::Dumpvault,
        env.dumpvault.clone(),
        dir,
        name,
        opts.default_kdf,
    )];
    if let Some(kib) = opts.chunk_avg_kib {
        let bytes = |k: u32| (k * 1024).to_string();
        v[0].init_args = [
            "--chunker-min",
            &bytes(kib / 4),
            "--chunker-avg",
            &bytes(kib),
        ]
        .into_iter()
        .chain(["--chunker-max", &bytes(kib * 4)])
        .map(String::from)
        .collect();
    }
    for (k, p) in &env.peers {
        v.push(Tool::new(*k, p.clone(), dir, name, opts.default_kdf));
    }
    v
}

/// The bytes the tool itself says it added, where it says so.
fn reported_added(kind: Kind, json: Option<&Value>) -> Option<u64> {
    let j = json?;
    match kind {
        Kind::Dumpvault => j["bytes_added"].as_u64(),
        Kind::Restic => j["data_added"].as_u64(),
        Kind::Borg => j["archive"]["stats"]["deduplicated_size"].as_u64(),
        Kind::Rustic => None,
    }
}
