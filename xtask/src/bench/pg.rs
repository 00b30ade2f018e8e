//! The PostgreSQL workloads: a pgbench series (pgbench -i -s N, then pgbench -T between hourly
//! snapshots) on the local server, and the one-table restore measured on the synthetic dump
//! loaded into a database. Databases are uniquely named and dropped afterwards.

use super::measure::{self, Cost};
use super::tools::{Input, Kind};
use super::{Ceiling, Env, Opts, Snap, ToolRun, Workload};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOST: &str = "127.0.0.1";
const PORT: &str = "5432";
const USER: &str = "postgres";
/// Plain pg_dump bytes per pgbench scale unit, measured with PostgreSQL 15 (scale 1: 9.5 MB,
/// scale 7: 67 MB); the "scale 1 ≈ 15 MB" is the database, not its dump.
const DUMP_PER_SCALE: f64 = 9.6e6;

fn bin(name: &str) -> PathBuf {
    measure::which(name).unwrap_or_else(|| Path::new("/usr/lib/postgresql/15/bin").join(name))
}

fn url(db: &str) -> String {
    format!("postgres://{USER}@{HOST}:{PORT}/{db}")
}

fn client(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.args(["-h", HOST, "-p", PORT, "-U", USER]);
    c
}

fn check(c: &mut Command) -> Result<std::process::Output> {
    let o = c.output().with_context(|| format!("cannot start {c:?}"))?;
    anyhow::ensure!(
        o.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(o)
}

/// A database that is dropped when this goes out of scope.
struct Db(String);

impl Db {
    fn create(prefix: &str) -> Result<Db> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("{prefix}_{}_{secs}", std::process::id());
        check(
            client("psql")
                .args(["-X", "-q", "-d", "postgres", "-c"])
                .arg(format!("CREATE DATABASE {name}")),
        )?;
        Ok(Db(name))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = client("psql")
            .args(["-X", "-q", "-d", "postgres", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0))
            .output();
    }
}

/// Hashes of the lines of a dump.
fn line_set(path: &Path) -> Result<HashSet<u64>> {
    let f = std::fs::File::open(path)?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut set = HashSet::new();
    let mut line = Vec::new();
    while r.read_until(b'\n', &mut line)? > 0 {
        set.insert(line_hash(&line));
        line.clear();
    }
    Ok(set)
}

fn line_hash(line: &[u8]) -> u64 {
    let h = blake3::hash(line);
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The lines of `path` not in `old` (the changed and new rows), their bytes and zstd -3 size.
fn changed_lines(path: &Path, old: &HashSet<u64>) -> Result<(u64, u64)> {
    let f = std::fs::File::open(path)?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut out = Vec::new();
    let mut line = Vec::new();
    while r.read_until(b'\n', &mut line)? > 0 {
        if !old.contains(&line_hash(&line)) {
            out.extend_from_slice(&line);
        }
        line.clear();
    }
    Ok((
        out.len() as u64,
        zstd::bulk::compress(&out, 3)?.len() as u64,
    ))
}

pub fn series(env: &Env, opts: &Opts) -> Result<Workload> {
    let scale = opts
        .pg_scale
        .unwrap_or_else(|| ((opts.size as f64 / DUMP_PER_SCALE).round() as u32).max(1));
    let db = Db::create("dvbench_pgbench")?;
    let u = url(&db.0);
    eprintln!(
        "bench: PostgreSQL series: pgbench -i -s {scale} in database {}",
        db.0
    );
    let t = std::time::Instant::now();
    check(client("pgbench").args(["-i", "-q", "-s", &scale.to_string(), &db.0]))?;
    let init_secs = t.elapsed().as_secs_f64();
    let work = env.work.join("postgres");
    std::fs::create_dir_all(&work)?;
    let dump_dir = env.bench_dir.join("postgres");
    std::fs::create_dir_all(&dump_dir)?;
    let pg_dump = bin("pg_dump").to_string_lossy().into_owned();

    let mut tools = super::tools_for(env, opts, &work, "pgbench.sql");
    let mut runs: Vec<ToolRun> = tools.iter().map(|t| ToolRun::new(t.kind)).collect();
    for t in &mut tools {
        t.init()?;
    }
    let mut w = Workload {
        name: "postgres".into(),
        title: String::new(),
        dump_sizes: Vec::new(),
        floor: Vec::new(),
        changed_bytes: Vec::new(),
        tools: Vec::new(),
        ceilings: Vec::new(),
        notes: Vec::new(),
        params: json!({}),
    };
    let mut tps = Vec::new();
    let mut pg_dump_costs = Vec::new();
    let mut prev: Option<HashSet<u64>> = None;
    let scratch = work.join("scratch-pg");
    let mut dump_path = dump_dir.join("dump-00.sql");
    for hour in 0..=opts.pg_hours {
        if hour > 0 {
            let o = check(client("pgbench").args([
                "-n",
                "-c",
                "2",
                "-j",
                "2",
                "-T",
                &opts.pg_seconds.to_string(),
                &db.0,
            ]))?;
            let text = String::from_utf8_lossy(&o.stdout);
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix("tps = "))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0);
            tps.push(v);
        }
        // pg_dump alone: the ceiling, and the bytes the floor is computed from
        dump_path = dump_dir.join(format!("dump-{hour:02}.sql"));
        let mut c = Command::new(&pg_dump);
        c.args(["-f"]).arg(&dump_path).arg(&u);
        let cost = measure::run(&c, None, None, &scratch)?.cost;
        let size = std::fs::metadata(&dump_path)?.len();
        pg_dump_costs.push((size, cost));
        w.dump_sizes.push(size);
        match &prev {
            None => {
                w.floor.push(0);
                w.changed_bytes.push(0);
            }
            Some(old) => {
                let (changed, floor) = changed_lines(&dump_path, old)?;
                w.changed_bytes.push(changed);
                w.floor.push(floor);
            }
        }
        prev = Some(line_set(&dump_path)?);
        if hour > 0 {
            let _ = std::fs::remove_file(dump_dir.join(format!("dump-{:02}.sql", hour - 1)));
        }
        let input = Input::Postgres {
            url: &u,
            pg_dump: &pg_dump,
        };
        backup_hour(&mut tools, &mut runs, hour, size, &input)?;
    }
    let (last_hash, _) = super::blake3_file(&dump_path)?;
    let restored = work.join("restored.sql");
    for (t, r) in tools.iter().zip(runs.iter_mut()) {
        // A failed restore is a finding: record it and keep the other figures.
        let restored_ok = match t.restore(&restored, None) {
            Ok(cost) => Some(cost),
            Err(e) => {
                let msg = format!("{e:#}");
                r.restore_check = format!("FAILED: {}", msg.lines().last().unwrap_or("").trim());
                None
            }
        };
        if let Some(cost) = restored_ok {
            let (h, n) = super::blake3_file(&restored)?;
            r.restore = Some(cost);
            r.restore_bytes = n;
            r.restore_check = if t.kind == Kind::Dumpvault {
                "verified by dumpvault (primary-key order dump)".into()
            } else if h == last_hash {
                "identical to pg_dump".into()
            } else if n == std::fs::metadata(&dump_path).map_or(0, |m| m.len()) {
                "same size as the separate pg_dump run, bytes differ (heap order: synchronized \
             sequential scans start where another scan is)"
                    .into()
            } else {
                "DIFFERS in size from the separate pg_dump run".into()
            };
        }
        if t.kind == Kind::Dumpvault {
            let table = "public.pgbench_accounts";
            match t.restore(&restored, Some(table)) {
                Ok(c) => {
                    let bytes = std::fs::metadata(&restored).map_or(0, |m| m.len());
                    r.table_restore = Some((c, bytes, table.into()));
                }
                Err(e) => w.notes.push(format!(
                    "dumpvault restore --table {table} FAILED: {}",
                    format!("{e:#}").lines().last().unwrap_or("").trim()
                )),
            }
            r.extra = json!({"snapshots": t.snapshots_json()});
        }
        let _ = std::fs::remove_file(&restored);
        super::models::finish(t, r);
        r.repo_size = t.repo_size();
        if !opts.keep {
            t.cleanup();
        }
    }
    let _ = std::fs::remove_file(&dump_path);
    w.title = format!(
        "PostgreSQL pgbench series: scale {scale}, 1 + {} snapshots {} s of pgbench apart, dump {}",
        opts.pg_hours,
        opts.pg_seconds,
        super::report::human(w.dump_sizes[0])
    );
    let (b0, c0) = pg_dump_costs[0];
    let n = pg_dump_costs.len() as f64;
    w.ceilings.push(Ceiling {
        name: "pg_dump (first)".into(),
        bytes: b0,
        cost: c0,
    });
    w.ceilings.push(Ceiling {
        name: "pg_dump (mean)".into(),
        bytes: (pg_dump_costs.iter().map(|x| x.0).sum::<u64>() as f64 / n) as u64,
        cost: Cost {
            wall: pg_dump_costs.iter().map(|x| x.1.wall).sum::<f64>() / n,
            user: pg_dump_costs.iter().map(|x| x.1.user).sum::<f64>() / n,
            sys: pg_dump_costs.iter().map(|x| x.1.sys).sum::<f64>() / n,
            rss_kib: pg_dump_costs.iter().map(|x| x.1.rss_kib).max().unwrap_or(0),
        },
    });
    w.notes.push(
        "dumpvault runs pg_dump itself (rows in primary-key order); each peer gets `pg_dump URL |` \
         (heap order), timed together, so every figure includes pg_dump. The floor is the zstd -3 \
         size of the lines of each hour's pg_dump output that the previous hour's lacked."
            .into(),
    );
    w.notes.push(
        "one-table restore here is public.pgbench_accounts, which holds nearly all rows; the \
         one-table target is measured on the synthetic series."
            .into(),
    );
    w.params = json!({"scale": scale, "hours": opts.pg_hours, "pgbench_seconds": opts.pg_seconds,
        "pgbench": "-n -c 2 -j 2", "pgbench_init_s": measure::round3(init_secs), "tps": tps,
        "database": db.0});
    w.tools = runs;
    Ok(w)
}

/// Loads `dump` into a new database, snapshots it by URL with dumpvault and restores it whole
/// and one table. Returns (full cost, bytes), (table cost, bytes, name) and a note.
#[allow(clippy::type_complexity)]
pub fn table_restore(
    env: &Env,
    opts: &Opts,
    dump: &Path,
) -> Result<((Cost, u64), (Cost, u64, String), String)> {
    let db = Db::create("dvbench_tables")?;
    eprintln!(
        "bench: loading {} into database {} for the one-table restore",
        dump.display(),
        db.0
    );
    let t = std::time::Instant::now();
    check(
        client("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.0, "-f"])
            .arg(dump),
    )?;
    let load = t.elapsed().as_secs_f64();
    let work = env.work.join("tables");
    let mut tool = super::tools_for(env, opts, &work, "tables.sql").remove(0);
    tool.init()?;
    let (snap, _) = tool.backup(&Input::Postgres {
        url: &url(&db.0),
        pg_dump: "",
    })?;
    let restored = work.join("restored.sql");
    let full = tool.restore(&restored, None)?;
    let full_bytes = std::fs::metadata(&restored)?.len();
    let name = format!("public.{}", super::gen::table_name(3));
    let table = tool.restore(&restored, Some(&name))?;
    let table_bytes = std::fs::metadata(&restored)?.len();
    let _ = std::fs::remove_file(&restored);
    if !opts.keep {
        tool.cleanup();
    }
    let note = format!(
        "one-table restore: the first synthetic dump loaded into PostgreSQL ({load:.0} s) and taken \
         by `dumpvault snapshot postgres://…` ({:.1} s); `restore latest --target` {:.2} s for {} vs \
         `restore latest --table {name} --target` {:.2} s for {}",
        snap.wall,
        full.wall,
        super::report::human(full_bytes),
        table.wall,
        super::report::human(table_bytes)
    );
    Ok(((full, full_bytes), (table, table_bytes, name), note))
}

/// Backs up one hour's database (`input`, `size` bytes of dump) with every tool, printing and
/// recording each tool's cost and bytes added. Shared by the pgbench and sysbench series.
pub(super) fn backup_hour(
    tools: &mut [super::tools::Tool],
    runs: &mut [ToolRun],
    hour: usize,
    size: u64,
    input: &Input,
) -> Result<()> {
    for (t, r) in tools.iter_mut().zip(runs.iter_mut()) {
        let before = t.repo_size();
        let (cost, j) = t.backup(input)?;
        let added = t.repo_size().saturating_sub(before);
        let bytes = match t.kind {
            Kind::Dumpvault => j
                .as_ref()
                .and_then(|j| j["bytes_read"].as_u64())
                .unwrap_or(size),
            _ => size,
        };
        eprintln!(
            "bench:   hour {hour} {}: {:.2} s, {:.0} MB/s, +{}",
            t.kind.name(),
            cost.wall,
            bytes as f64 / 1e6 / cost.wall,
            super::report::human(added)
        );
        r.snaps.push(Snap {
            bytes,
            cost,
            added,
            reported_added: super::reported_added(t.kind, j.as_ref()),
        });
    }
    Ok(())
}
