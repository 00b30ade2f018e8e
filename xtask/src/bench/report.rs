//! The figures of a run: derived per tool, printed as Markdown and written as JSON.

mod targets;

use super::measure::round3;
use super::tools::Kind;
use super::{Env, Opts, ToolRun, Workload};
use serde_json::{json, Value};
use std::fmt::Write;

pub fn human(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Derived figures of one tool in one workload.
#[derive(Default, Clone)]
pub struct Figures {
    pub first_mbps: f64,
    pub later_mbps: f64,
    pub later_median_mbps: f64,
    /// forget (keep 3) + prune, wall seconds and peak RSS MiB.
    pub prune_s: f64,
    pub prune_rss_mib: f64,
    pub first_cpu: f64,
    pub later_cpu: f64,
    pub first_added: f64,
    pub later_added: f64,
    pub later_added_pct: f64,
    pub later_added_x_floor: f64,
    pub restore_mbps: f64,
    pub restore_s: f64,
    pub table_s: f64,
    pub table_pct: f64,
    pub peak_rss_mib: f64,
    pub cpu_total: f64,
    pub repo_size: f64,
}

pub fn figures(w: &Workload, r: &ToolRun) -> Figures {
    let mut f = Figures {
        table_s: f64::NAN,
        table_pct: f64::NAN,
        prune_s: f64::NAN,
        prune_rss_mib: f64::NAN,
        ..Default::default()
    };
    let tp = |s: &super::Snap| s.bytes as f64 / 1e6 / s.cost.wall;
    if let Some(s) = r.snaps.first() {
        f.first_mbps = tp(s);
        f.first_cpu = s.cost.cpu();
        f.first_added = s.added as f64;
    }
    let later = r.snaps.get(1..).unwrap_or(&[]);
    f.later_mbps = mean(&later.iter().map(tp).collect::<Vec<_>>());
    let mut sorted: Vec<f64> = later.iter().map(tp).collect();
    sorted.sort_by(f64::total_cmp);
    f.later_median_mbps = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    if let Some(c) = r.extra["prune"]["cost"].as_object() {
        f.prune_s = c.get("wall_s").and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
        f.prune_rss_mib = c
            .get("peak_rss_kib")
            .and_then(|x| x.as_f64())
            .map_or(f64::NAN, |k| k / 1024.0);
    }
    f.later_cpu = mean(&later.iter().map(|s| s.cost.cpu()).collect::<Vec<_>>());
    f.later_added = mean(&later.iter().map(|s| s.added as f64).collect::<Vec<_>>());
    let later_bytes = mean(&later.iter().map(|s| s.bytes as f64).collect::<Vec<_>>());
    f.later_added_pct = 100.0 * f.later_added / later_bytes;
    let floor: u64 = w.floor.iter().skip(1).sum();
    let added: u64 = later.iter().map(|s| s.added).sum();
    f.later_added_x_floor = added as f64 / floor as f64;
    let mut rss = r.snaps.iter().map(|s| s.cost.rss_kib).max().unwrap_or(0);
    let mut cpu: f64 = r.snaps.iter().map(|s| s.cost.cpu()).sum();
    if let Some(c) = r.restore {
        f.restore_s = c.wall;
        f.restore_mbps = r.restore_bytes as f64 / 1e6 / c.wall;
        rss = rss.max(c.rss_kib);
        cpu += c.cpu();
    }
    if let Some((c, _, _)) = &r.table_restore {
        f.table_s = c.wall;
        let full = r.extra["table_restore_full"]["cost"]["wall_s"]
            .as_f64()
            .unwrap_or(f.restore_s);
        f.table_pct = 100.0 * c.wall / full;
        rss = rss.max(c.rss_kib);
    }
    f.peak_rss_mib = (rss as f64 / 1024.0).max(f.prune_rss_mib.max(0.0));
    f.cpu_total = cpu;
    f.repo_size = r.repo_size as f64;
    f
}

/// (name, MB/s) of the tightest ceiling for first snapshots, later snapshots and restores.
fn ceiling(w: &Workload, which: &str) -> Option<(String, f64)> {
    let tp = |c: &super::Ceiling| (c.name.clone(), c.bytes as f64 / 1e6 / c.cost.wall);
    if w.ceilings.iter().any(|c| c.name.ends_with("(first)")) {
        // Database models: the dump program alone.
        let want = match which {
            "first" => "(first)",
            "later" => "(mean)",
            _ => return None,
        };
        return w.ceilings.iter().find(|c| c.name.ends_with(want)).map(tp);
    }
    if which == "restore" {
        return w.ceilings.iter().find(|c| c.name == "cat").map(tp);
    }
    w.ceilings.iter().map(tp).min_by(|a, b| a.1.total_cmp(&b.1))
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".into()
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b != 0.0 {
        let r = a / b;
        if r >= 10.0 {
            format!("{r:.0}×")
        } else if r >= 0.1 {
            format!("{r:.2}×")
        } else {
            format!("{r:.4}×")
        }
    } else {
        "–".into()
    }
}

struct Row {
    label: &'static str,
    /// true: higher is better (peer "best" = max), false: lower is better.
    higher: bool,
    get: fn(&Figures) -> f64,
    fmt: fn(f64) -> String,
    ceiling: Option<&'static str>,
}

fn mbps(x: f64) -> String {
    num(x, 1)
}
fn secs(x: f64) -> String {
    num(x, 2)
}
fn bytes(x: f64) -> String {
    if x.is_finite() {
        human(x as u64)
    } else {
        "–".into()
    }
}
fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}%")
    } else {
        "–".into()
    }
}
fn times(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}×")
    } else {
        "–".into()
    }
}
fn mib(x: f64) -> String {
    num(x, 1)
}

const ROWS: &[Row] = &[
    Row {
        label: "first snapshot, MB/s of dump",
        higher: true,
        get: |f| f.first_mbps,
        fmt: mbps,
        ceiling: Some("first"),
    },
    Row {
        label: "later snapshots, mean MB/s",
        higher: true,
        get: |f| f.later_mbps,
        fmt: mbps,
        ceiling: Some("later"),
    },
    Row {
        label: "later snapshots, median MB/s",
        higher: true,
        get: |f| f.later_median_mbps,
        fmt: mbps,
        ceiling: None,
    },
    Row {
        label: "forget (keep 3) + prune, s",
        higher: false,
        get: |f| f.prune_s,
        fmt: secs,
        ceiling: None,
    },
    Row {
        label: "first snapshot, CPU s",
        higher: false,
        get: |f| f.first_cpu,
        fmt: secs,
        ceiling: None,
    },
    Row {
        label: "later snapshots, mean CPU s",
        higher: false,
        get: |f| f.later_cpu,
        fmt: secs,
        ceiling: None,
    },
    Row {
        label: "first snapshot, bytes stored",
        higher: false,
        get: |f| f.first_added,
        fmt: bytes,
        ceiling: None,
    },
    Row {
        label: "bytes stored per hourly snapshot (mean)",
        higher: false,
        get: |f| f.later_added,
        fmt: bytes,
        ceiling: Some("floor"),
    },
    Row {
        label: "… as % of the dump",
        higher: false,
        get: |f| f.later_added_pct,
        fmt: pct,
        ceiling: None,
    },
    Row {
        label: "… as multiple of zstd -3 of the changed rows",
        higher: false,
        get: |f| f.later_added_x_floor,
        fmt: times,
        ceiling: None,
    },
    Row {
        label: "restore (latest, whole), MB/s",
        higher: true,
        get: |f| f.restore_mbps,
        fmt: mbps,
        ceiling: Some("restore"),
    },
    Row {
        label: "one-table restore, s",
        higher: false,
        get: |f| f.table_s,
        fmt: secs,
        ceiling: None,
    },
    Row {
        label: "… as % of the whole restore",
        higher: false,
        get: |f| f.table_pct,
        fmt: |x| {
            if x.is_finite() {
                format!("{x:.1}%")
            } else {
                "–".into()
            }
        },
        ceiling: None,
    },
    Row {
        label: "peak RSS, MiB (max over all runs)",
        higher: false,
        get: |f| f.peak_rss_mib,
        fmt: mib,
        ceiling: None,
    },
    Row {
        label: "CPU s, all snapshots + restore",
        higher: false,
        get: |f| f.cpu_total,
        fmt: secs,
        ceiling: None,
    },
    Row {
        label: "repository size",
        higher: false,
        get: |f| f.repo_size,
        fmt: bytes,
        ceiling: None,
    },
];

fn best_peer(figs: &[(Kind, Figures)], row: &Row) -> f64 {
    let vals = figs
        .iter()
        .filter(|(k, _)| *k != Kind::Dumpvault)
        .map(|(_, f)| (row.get)(f))
        .filter(|x| x.is_finite());
    if row.higher {
        vals.fold(f64::NAN, f64::max)
    } else {
        vals.fold(f64::NAN, f64::min)
    }
}

fn workload_table(w: &Workload) -> String {
    let figs: Vec<(Kind, Figures)> = w.tools.iter().map(|r| (r.kind, figures(w, r))).collect();
    let mut s = String::new();
    let _ = writeln!(s, "### {}\n", w.title);
    let names: Vec<&str> = figs.iter().map(|(k, _)| k.name()).collect();
    let _ = writeln!(
        s,
        "| figure | {} | dumpvault ÷ restic | dumpvault ÷ best peer | ceiling / floor | dumpvault ÷ ceiling / floor |",
        names.join(" | ")
    );
    let _ = writeln!(s, "|---|{}---|---|---|---|", "---:|".repeat(names.len()));
    let floor_mean = mean(
        &w.floor
            .iter()
            .skip(1)
            .map(|x| *x as f64)
            .collect::<Vec<_>>(),
    );
    for row in ROWS {
        let vals: Vec<f64> = figs.iter().map(|(_, f)| (row.get)(f)).collect();
        if vals.iter().all(|v| !v.is_finite()) {
            continue;
        }
        let dv = figs
            .iter()
            .find(|(k, _)| *k == Kind::Dumpvault)
            .map_or(f64::NAN, |(_, f)| (row.get)(f));
        let restic = figs
            .iter()
            .find(|(k, _)| *k == Kind::Restic)
            .map_or(f64::NAN, |(_, f)| (row.get)(f));
        let (cname, cval) = match row.ceiling {
            Some("floor") => ("zstd -3 of changed rows".to_string(), floor_mean),
            Some(which) => ceiling(w, which).unwrap_or(("–".into(), f64::NAN)),
            None => ("".into(), f64::NAN),
        };
        let ctext = if cval.is_finite() {
            format!("{} {}", (row.fmt)(cval), cname)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            row.label,
            vals.iter()
                .map(|v| (row.fmt)(*v))
                .collect::<Vec<_>>()
                .join(" | "),
            ratio(dv, restic),
            ratio(dv, best_peer(&figs, row)),
            ctext,
            if cval.is_finite() {
                ratio(dv, cval)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Ceilings over the same bytes (first dump):\n");
    let _ = writeln!(
        s,
        "| ceiling | MB/s | CPU s | peak RSS MiB |\n|---|---:|---:|---:|"
    );
    for c in &w.ceilings {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.2} | {} |",
            c.name,
            c.bytes as f64 / 1e6 / c.cost.wall,
            c.cost.cpu(),
            if c.cost.rss_kib > 0 {
                format!("{:.1}", c.cost.rss_kib as f64 / 1024.0)
            } else {
                "–".into()
            }
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Per snapshot (bytes stored = repository growth; MB/s):\n"
    );
    let _ = writeln!(
        s,
        "| hour | dump | changed rows | floor (zstd -3) | {} |",
        names
            .iter()
            .map(|n| format!("{n} stored | {n} MB/s"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|{}",
        "---:|---:|".repeat(names.len())
    );
    for h in 0..w.dump_sizes.len() {
        let cells: Vec<String> = w
            .tools
            .iter()
            .map(|r| match r.snaps.get(h) {
                Some(sn) => format!(
                    "{} | {:.0}",
                    human(sn.added),
                    sn.bytes as f64 / 1e6 / sn.cost.wall
                ),
                None => "– | –".into(),
            })
            .collect();
        let _ = writeln!(
            s,
            "| {h} | {} | {} | {} | {} |",
            human(w.dump_sizes[h]),
            human(w.changed_bytes[h]),
            human(w.floor[h]),
            cells.join(" | ")
        );
    }
    let _ = writeln!(s);
    for r in &w.tools {
        if !r.restore_check.is_empty() {
            let _ = writeln!(s, "- {} restore: {}", r.kind.name(), r.restore_check);
        }
    }
    for n in &w.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"nproc": nproc, "cpu_model": model, "memory_bytes": mem_kib * 1024,
        "memory": human(mem_kib * 1024), "kernel": kernel.trim()})
}

fn command_line(opts: &Opts) -> String {
    let _ = opts;
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

pub fn markdown(env: &Env, opts: &Opts, workloads: &[Workload], total: f64, build: f64) -> String {
    let m = machine();
    let mut s = String::new();
    let _ = writeln!(s, "## dumpvault bench\n");
    let _ = writeln!(
        s,
        "`{}` — {} — {} × {}, {} RAM — {:.0} s (release build {:.0} s)\n",
        command_line(opts),
        utc_now(),
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or(""),
        m["memory"].as_str().unwrap_or(""),
        total,
        build
    );
    let _ = writeln!(
        s,
        "Tools: {}\n",
        env.versions
            .iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "MB = 10^6 bytes; throughput = dump bytes ÷ wall time; costs by {}; dumpvault repositories with {} Argon2id \
         and {}; restic repository version 2, compression auto; borg `--compression zstd,3`, repokey-blake2.\n",
        super::measure::method(),
        if opts.default_kdf { "the default (64 MiB, 3 passes)" } else { "the test (8 MiB, 1 pass)" },
        match opts.chunk_avg_kib {
            Some(k) => format!("chunks of {} / {k} / {} KiB", k / 4, k * 4),
            None => "the default chunker parameters".into(),
        }
    );
    let _ = writeln!(
        s,
        "Load average (1, 5, 15 min) at the start: {}; at the end: {}. Other work on the machine \
         slows wall-clock figures; CPU seconds are less affected.\n",
        env.load.first().map_or("", String::as_str),
        env.load.last().map_or("", String::as_str)
    );
    for sk in &env.skipped {
        let _ = writeln!(s, "- skipped: {sk}");
    }
    if !env.skipped.is_empty() {
        let _ = writeln!(s);
    }
    for w in workloads {
        s.push_str(&workload_table(w));
        let _ = writeln!(s);
    }
    s.push_str(&targets::markdown(workloads));
    s
}

fn cost_json(c: &super::measure::Cost) -> Value {
    c.json()
}

pub fn json(env: &Env, opts: &Opts, workloads: &[Workload], total: f64, build: f64) -> Value {
    let wl: Vec<Value> = workloads
        .iter()
        .map(|w| {
            let tools: Vec<Value> = w
                .tools
                .iter()
                .map(|r| {
                    let f = figures(w, r);
                    json!({
                        "tool": r.kind.name(),
                        "snapshots": r.snaps.iter().enumerate().map(|(h, s)| json!({
                            "hour": h, "bytes": s.bytes, "stored": s.added, "reported_added": s.reported_added,
                            "mb_per_s": round3(s.bytes as f64 / 1e6 / s.cost.wall), "cost": cost_json(&s.cost)})).collect::<Vec<_>>(),
                        "restore": r.restore.map(|c| json!({"bytes": r.restore_bytes, "cost": cost_json(&c),
                            "check": r.restore_check})),
                        "table_restore": r.table_restore.as_ref().map(|(c, b, n)| json!({"table": n, "bytes": b, "cost": cost_json(c)})),
                        "repository_bytes": r.repo_size,
                        "figures": {
                            "first_mb_per_s": round3(f.first_mbps), "later_mean_mb_per_s": round3(f.later_mbps),
                            "first_cpu_s": round3(f.first_cpu), "later_mean_cpu_s": round3(f.later_cpu),
                            "first_stored": f.first_added, "later_mean_stored": round3(f.later_added),
                            "later_stored_pct_of_dump": f.later_added_pct, "later_stored_x_floor": f.later_added_x_floor,
                            "restore_mb_per_s": round3(f.restore_mbps), "table_restore_s": f.table_s,
                            "table_restore_pct_of_full": f.table_pct, "peak_rss_mib": f.peak_rss_mib,
                            "cpu_total_s": round3(f.cpu_total)},
                        "extra": r.extra,
                    })
                })
                .collect();
            json!({
                "name": w.name, "title": w.title, "params": w.params,
                "dump_sizes": w.dump_sizes, "changed_rows_bytes": w.changed_bytes, "floor_zstd3": w.floor,
                "ceilings": w.ceilings.iter().map(|c| json!({"name": c.name, "bytes": c.bytes,
                    "mb_per_s": round3(c.bytes as f64 / 1e6 / c.cost.wall), "cost": cost_json(&c.cost)})).collect::<Vec<_>>(),
                "tools": tools, "notes": w.notes,
            })
        })
        .collect();
    json!({
        "command": command_line(opts),
        "date": utc_now(),
        "machine": machine(),
        "versions": env.versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "skipped": env.skipped,
        "load_average": {"start": env.load.first(), "end": env.load.last()},
        "measured_by": super::measure::method(),
        "parameters": {"size": opts.size, "hours": opts.hours, "seed": opts.seed, "quick": opts.quick,
            "pg_scale": opts.pg_scale, "pg_seconds": opts.pg_seconds, "pg_hours": opts.pg_hours,
            "dumpvault_kdf": if opts.default_kdf { "default: 65536 KiB, 3 passes" } else { "test: 8192 KiB, 1 pass" },
            "dumpvault_chunk_avg_kib": opts.chunk_avg_kib},
        "total_s": round3(total), "release_build_s": round3(build),
        "workloads": wl,
        "targets": targets::json(workloads),
    })
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
