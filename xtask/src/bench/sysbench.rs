//! The sysbench model (issue 16): sysbench `oltp_read_write` on the local MariaDB, 4 sbtest
//! tables (200k rows each; `--quick`: 25k), `--time` seconds of it between hourly snapshots.
//! dumpvault takes each snapshot by URL with its own MariaDB source; each peer gets
//! `mariadb-dump --single-transaction --order-by-primary DB |`. The floor is the zstd -3 size
//! of the lines of each hour's dump that the previous hour's lacked (MariaDB writes one row
//! per line).
//!
//! Without sysbench on PATH (Debian: `apt-get install sysbench`) the bench says so and
//! applies the same mix by SQL itself: per transaction an indexed update, a non-indexed
//! update, and a delete plus re-insert of one row, with seeded random keys.

use super::gen::Rng;
use super::measure::{self, Cost};
use super::tools::{Input, Kind};
use super::{Ceiling, Env, Opts, ToolRun, Workload};
use anyhow::{Context, Result};
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const TABLES: u32 = 4;
const HOST: &str = "127.0.0.1";
const PORT: &str = "3306";

fn client(prog: &str, db: &str) -> Command {
    let mut c = Command::new(prog);
    c.args(["-h", HOST, "-P", PORT, "-u", "root", db]);
    c
}

fn sql(db: &str, text: &str) -> Result<()> {
    let mut child = client("mariadb", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting mariadb")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(text.as_bytes())?;
    let o = child.wait_with_output()?;
    anyhow::ensure!(
        o.status.success(),
        "mariadb failed: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(())
}

/// A database dropped when this goes out of scope.
struct Db(String);

impl Db {
    fn create() -> Result<Db> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let name = format!("dvbench_sbtest_{}_{secs}", std::process::id());
        sql("", &format!("CREATE DATABASE {name}"))?;
        Ok(Db(name))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = sql("", &format!("DROP DATABASE IF EXISTS {}", self.0));
    }
}

fn sysbench(db: &str, rows: u64, seed: u64, args: &[&str]) -> Result<String> {
    let mut c = Command::new("sysbench");
    c.args(["oltp_read_write", "--db-driver=mysql"])
        .arg(format!("--mysql-host={HOST}"))
        .arg(format!("--mysql-port={PORT}"))
        .args(["--mysql-user=root", "--mysql-password="])
        .arg(format!("--mysql-db={db}"))
        .arg(format!("--tables={TABLES}"))
        .arg(format!("--table-size={rows}"))
        .arg(format!("--rand-seed={seed}"))
        .args(args);
    let o = c.output().context("starting sysbench")?;
    anyhow::ensure!(
        o.status.success(),
        "sysbench {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A sysbench-style `c` or `pad` value: groups of 11 digits joined by '-'.
fn digits(rng: &mut Rng, groups: usize) -> String {
    let g: Vec<String> = (0..groups)
        .map(|_| format!("{:011}", rng.below(100_000_000_000)))
        .collect();
    g.join("-")
}

/// Creates and fills the sbtest tables without sysbench.
fn prepare_sql(db: &str, rows: u64, seed: u64) -> Result<()> {
    for t in 1..=TABLES {
        sql(db, &format!(
            "CREATE TABLE sbtest{t} (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0, \
             c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), \
             KEY k_{t} (k)) ENGINE=InnoDB;\n\
             INSERT INTO sbtest{t} (id, k, c, pad) SELECT seq, FLOOR(RAND({s}) * {rows}) + 1, \
             CONCAT_WS('-', LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0')), \
             CONCAT_WS('-', LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0'), LPAD(FLOOR(RAND() * 1e11), 11, '0'), \
             LPAD(FLOOR(RAND() * 1e11), 11, '0')) FROM seq_1_to_{rows};",
            s = seed + u64::from(t)
        ))?;
    }
    Ok(())
}

/// `transactions` of the oltp_read_write write mix by SQL, with keys from (seed, hour).
fn run_sql(db: &str, rows: u64, seed: u64, hour: u64, transactions: u64) -> Result<()> {
    let mut rng = Rng::new(&[seed, hour, 0x5b]);
    let mut text = String::new();
    for _ in 0..transactions {
        let t = 1 + rng.below(u64::from(TABLES));
        let (a, b, d) = (
            1 + rng.below(rows),
            1 + rng.below(rows),
            1 + rng.below(rows),
        );
        let (c, c2, pad) = (
            digits(&mut rng, 10),
            digits(&mut rng, 10),
            digits(&mut rng, 5),
        );
        let k = 1 + rng.below(rows);
        text.push_str(&format!(
            "BEGIN; UPDATE sbtest{t} SET k = k + 1 WHERE id = {a}; \
             UPDATE sbtest{t} SET c = '{c}' WHERE id = {b}; DELETE FROM sbtest{t} WHERE id = {d}; \
             INSERT INTO sbtest{t} (id, k, c, pad) VALUES ({d}, {k}, '{c2}', '{pad}'); COMMIT;\n"
        ));
    }
    sql(db, &text)
}

fn line_hash(line: &[u8]) -> u64 {
    let h = blake3::hash(line);
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// The set of line hashes of `path`, and the bytes and zstd -3 size of the lines not in `old`.
fn lines(path: &Path, old: Option<&HashSet<u64>>) -> Result<(HashSet<u64>, u64, u64)> {
    let mut r = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let (mut set, mut out, mut line) = (HashSet::new(), Vec::new(), Vec::new());
    while r.read_until(b'\n', &mut line)? > 0 {
        let h = line_hash(&line);
        if old.is_some_and(|o| !o.contains(&h)) {
            out.extend_from_slice(&line);
        }
        set.insert(h);
        line.clear();
    }
    let floor = if out.is_empty() {
        0
    } else {
        zstd::bulk::compress(&out, 3)?.len() as u64
    };
    Ok((set, out.len() as u64, floor))
}

/// The sysbench series through every tool.
pub fn series(env: &Env, opts: &Opts) -> Result<Workload> {
    let rows: u64 = if opts.quick { 25_000 } else { 200_000 };
    let have = measure::which("sysbench").is_some();
    if !have {
        eprintln!(
            "bench: sysbench is not installed (Debian: `apt-get install sysbench`); applying \
             the oltp_read_write write mix by SQL from the bench instead"
        );
    }
    let db = Db::create()?;
    eprintln!(
        "bench: sysbench series: {TABLES} × {rows} rows in MariaDB database {}",
        db.0
    );
    if have {
        sysbench(&db.0, rows, opts.seed, &["prepare"])?;
    } else {
        prepare_sql(&db.0, rows, opts.seed)?;
    }
    let work = env.work.join("sysbench");
    let dump_dir = env.bench_dir.join("sysbench");
    std::fs::create_dir_all(&dump_dir)?;
    std::fs::create_dir_all(&work)?;
    let script = dump_script(&work, &db.0)?;
    let url = format!("mysql://root@{HOST}:{PORT}/{}", db.0);
    let dump_cmd = script.to_string_lossy().into_owned();
    let mut tools = super::tools_for(env, opts, &work, "sbtest.sql");
    let mut runs: Vec<ToolRun> = tools.iter().map(|t| ToolRun::new(t.kind)).collect();
    for t in &mut tools {
        t.init()?;
    }
    let mut w = Workload {
        name: "sysbench".into(),
        title: String::new(),
        dump_sizes: Vec::new(),
        floor: Vec::new(),
        changed_bytes: Vec::new(),
        tools: Vec::new(),
        ceilings: Vec::new(),
        notes: Vec::new(),
        params: json!({}),
    };
    let (mut prev, mut dump_costs, mut tps) = (None, Vec::new(), Vec::new());
    let dump_path = dump_dir.join("dump.sql");
    for hour in 0..=opts.pg_hours {
        if hour > 0 {
            churn(&db.0, rows, opts, hour as u64, have, &mut tps)?;
        }
        let mut c = Command::new(&script);
        c.arg(&url);
        let cost = measure::run(&c, None, Some(&dump_path), &work.join("s"))?.cost;
        let size = std::fs::metadata(&dump_path)?.len();
        dump_costs.push((size, cost));
        w.dump_sizes.push(size);
        let (set, changed, floor) = lines(&dump_path, prev.as_ref())?;
        w.changed_bytes.push(changed);
        w.floor.push(floor);
        prev = Some(set);
        let input = Input::Postgres {
            url: &url,
            pg_dump: &dump_cmd,
        };
        super::pg::backup_hour(&mut tools, &mut runs, hour, size, &input)?;
    }
    restore_all(&tools, &mut runs, &work, opts);
    let _ = std::fs::remove_file(&dump_path);
    w.title = format!(
        "sysbench: oltp_read_write on MariaDB, {TABLES} × {rows} rows, 1 + {} snapshots {} s apart{}, dump {}",
        opts.pg_hours,
        opts.pg_seconds,
        if have { "" } else { " (write mix applied by SQL: sysbench not installed)" },
        super::report::human(w.dump_sizes[0])
    );
    w.ceilings = ceilings(&dump_costs);
    w.notes.push(
        "dumpvault runs mariadb-dump itself (its MariaDB source); each peer gets `mariadb-dump \
         --single-transaction --order-by-primary DB |`, timed together."
            .into(),
    );
    w.params = json!({"tables": TABLES, "rows": rows, "hours": opts.pg_hours,
        "seconds": opts.pg_seconds, "sysbench": have, "transactions": tps, "database": db.0});
    w.tools = runs;
    Ok(w)
}

/// One "hour" of oltp_read_write: sysbench for `--pg-seconds`, else the write mix by SQL.
fn churn(
    db: &str,
    rows: u64,
    opts: &Opts,
    hour: u64,
    have: bool,
    tps: &mut Vec<String>,
) -> Result<()> {
    let secs = opts.pg_seconds;
    if have {
        let out = sysbench(
            db,
            rows,
            opts.seed + hour,
            &[
                "run",
                "--threads=2",
                &format!("--time={secs}"),
                "--report-interval=0",
            ],
        )?;
        tps.push(
            out.lines()
                .find(|l| l.contains("transactions:"))
                .unwrap_or("")
                .trim()
                .to_string(),
        );
    } else {
        run_sql(db, rows, opts.seed, hour, 400 * secs)?;
    }
    Ok(())
}

/// Restores the newest snapshot of every tool, then [`super::models::finish`] and cleanup.
fn restore_all(tools: &[super::tools::Tool], runs: &mut [ToolRun], work: &Path, opts: &Opts) {
    let restored = work.join("restored.sql");
    for (t, r) in tools.iter().zip(runs.iter_mut()) {
        match t.restore(&restored, None) {
            Ok(cost) => {
                r.restore = Some(cost);
                r.restore_bytes = std::fs::metadata(&restored).map_or(0, |m| m.len());
                r.restore_check = "restored (size only: each tool's own dump)".into();
            }
            Err(e) => {
                let msg = format!("{e:#}");
                r.restore_check = format!("FAILED: {}", msg.lines().last().unwrap_or("").trim());
            }
        }
        if t.kind == Kind::Dumpvault {
            r.extra = json!({"snapshots": t.snapshots_json()});
        }
        let _ = std::fs::remove_file(&restored);
        super::models::finish(t, r);
        r.repo_size = t.repo_size();
        if !opts.keep {
            t.cleanup();
        }
    }
}

/// The dump program alone: its first run and the mean of all.
fn ceilings(dump_costs: &[(u64, Cost)]) -> Vec<Ceiling> {
    let mut out = Vec::new();
    let n = dump_costs.len() as f64;
    let (b0, c0) = dump_costs[0];
    out.push(Ceiling {
        name: "mariadb-dump (first)".into(),
        bytes: b0,
        cost: c0,
    });
    out.push(Ceiling {
        name: "mariadb-dump (mean)".into(),
        bytes: (dump_costs.iter().map(|x| x.0).sum::<u64>() as f64 / n) as u64,
        cost: Cost {
            wall: dump_costs.iter().map(|x| x.1.wall).sum::<f64>() / n,
            user: dump_costs.iter().map(|x| x.1.user).sum::<f64>() / n,
            sys: dump_costs.iter().map(|x| x.1.sys).sum::<f64>() / n,
            rss_kib: dump_costs.iter().map(|x| x.1.rss_kib).max().unwrap_or(0),
        },
    });
    out
}

/// The peers' dump command, a script taking (and ignoring) the URL dumpvault takes.
fn dump_script(work: &Path, db: &str) -> Result<std::path::PathBuf> {
    let script = work.join("mariadb-dump.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec mariadb-dump -h {HOST} -P {PORT} -u root --single-transaction \
             --order-by-primary --skip-dump-date {db}\n"
        ),
    )?;
    measure::run(
        Command::new("chmod").arg("+x").arg(&script),
        None,
        None,
        &work.join("s"),
    )?;
    Ok(script)
}
