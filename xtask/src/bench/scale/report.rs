//! The scale bench's tables (Markdown), its JSON, and issue 19's targets for every command
//! of every shape: met, or missed by how much.

use super::super::measure;
use super::level::{whole_history, Row, COMMANDS};
use super::shape::Shape;
use super::Opts;
use serde_json::{json, Value};
use std::time::Duration;

/// The targets' bound: the figure at the largest size over the figure at the smallest.
const BOUND: f64 = 1.5;

/// Marks a command whose output lists every snapshot of the repository.
const WHOLE: &str = " †";

fn label(command: &str) -> String {
    if whole_history(command) {
        format!("{command}{WHOLE}")
    } else {
        command.to_string()
    }
}

/// `met:` or `**MISSED** (×r over the bound)`, for `ratio`.
fn verdict(ratio: f64) -> String {
    if ratio <= BOUND {
        "met:".into()
    } else {
        format!("**MISSED** (×{:.1} over the bound):", ratio / BOUND)
    }
}

/// CPU times are counted in clock ticks of 10 ms: a figure below is taken as 10 ms in a
/// ratio (a command of 0 ticks at 100 snapshots would make any later figure look infinite).
const CPU_TICK: f64 = 0.01;

/// A target line: `what`: `z` at the largest size ≤ 1.5 × `a` at the smallest, the smaller
/// figure taken as at least `floor` in the ratio.
fn line(
    what: &str,
    (z, a): (f64, f64),
    (hi, lo): (usize, usize),
    unit: &str,
    floor: f64,
) -> (String, bool) {
    let ratio = z.max(floor) / a.max(floor);
    let fig = |v: f64| match unit {
        "s" => format!("{v:.3} s"),
        _ => format!("{v:.0} {unit}"),
    };
    let text = format!(
        "{} {what}: {} at {hi} ≤ {BOUND} × {} at {lo} (×{ratio:.2})",
        verdict(ratio),
        fig(z),
        fig(a)
    );
    (text, ratio <= BOUND)
}

/// Issue 19's targets for these rows: (line with figures and verdict, met).
pub(super) fn targets(rows: &[Row], levels: &[usize]) -> Vec<(String, bool)> {
    let (lo, hi) = (levels[0], *levels.last().unwrap_or(&levels[0]));
    let find = |s: Shape, b: &str, l: usize, c: &str| {
        (rows.iter())
            .find(|r| r.shape == s && r.backend.starts_with(b) && r.level == l && r.command == c)
    };
    let mut out = Vec::new();
    for shape in Shape::ALL {
        let s = shape.name();
        for c in COMMANDS {
            if let (Some(a), Some(z)) = (find(shape, "local", lo, c), find(shape, "local", hi, c)) {
                let c = label(c);
                out.push(line(
                    &format!("{s}, local, {c}"),
                    (z.wall, a.wall),
                    (hi, lo),
                    "s",
                    1e-3,
                ));
                let what = format!("{s}, local, {c}, CPU");
                out.push(line(&what, (z.cpu, a.cpu), (hi, lo), "s", CPU_TICK));
            }
        }
        for c in &COMMANDS[1..] {
            if let (Some(a), Some(z)) = (find(shape, "S3", lo, c), find(shape, "S3", hi, c)) {
                let what = format!("{s}, S3 warm cache, {}", label(c));
                let figs = (z.total() as f64, a.total() as f64);
                out.push(line(&what, figs, (hi, lo), "requests", 1.0));
            }
        }
        // Only remote repositories are cached: on local disk every index file is read each
        // time.
        let warm = rows
            .iter()
            .filter(|r| r.shape == shape && r.command == COMMANDS[1]);
        for r in warm.filter(|r| r.backend.starts_with("S3")) {
            let beyond = r.total() - r.requests("write");
            out.push((
                format!(
                    "{} {s}, {}, {} snapshots, warm hourly snapshot: {beyond} requests beyond its {} writes ≤ 10",
                    if beyond <= 10 { "met:" } else { "**MISSED**:" },
                    r.backend,
                    r.level,
                    r.requests("write")
                ),
                beyond <= 10,
            ));
        }
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

/// One table per shape and backend, the targets, and the notes.
pub(super) fn markdown(
    rows: &[Row],
    levels: &[usize],
    checks: &[(String, bool)],
    notes: &[String],
    opts: &Opts,
    took: Duration,
) -> String {
    let mut md = String::new();
    let head: Vec<String> = levels.iter().map(|l| thousands(*l)).collect();
    let mut tables: Vec<(Shape, &str)> = rows.iter().map(|r| (r.shape, r.backend)).collect();
    tables.dedup();
    for (shape, b) in tables {
        md += &format!(
            "#### {}, {b}: wall time, CPU time (user + sys; both the least of the runs), backend requests (list/read/stat/write/delete)\n\n| command | {} |\n|---|{}\n",
            shape.name(),
            head.join(" | "),
            "---|".repeat(levels.len())
        );
        for c in COMMANDS {
            let cells: Vec<String> = levels
                .iter()
                .map(|l| {
                    (rows.iter())
                        .find(|r| {
                            r.shape == shape && r.backend == b && r.level == *l && r.command == c
                        })
                        .map_or("–".into(), cell)
                })
                .collect();
            md += &format!("| {} | {} |\n", label(c), cells.join(" | "));
        }
        md += "\n";
    }
    md += &format!(
        "{WHOLE}: lists every snapshot of the repository: output of a size proportional to the \
         history, so it grows with it whatever the catalogue costs.\n\n#### Targets\n\n"
    );
    for (t, _) in checks {
        md += &format!("- {t}\n");
    }
    md += "\n";
    for n in notes {
        md += &format!("- {n}\n");
    }
    let shapes: Vec<&str> = opts.shapes.iter().map(|s| s.name()).collect();
    md += &format!(
        "- `cargo xtask bench --scale --max {}{} --shape {}` (seed {}), {:.0} s in all; load average at the end {}\n",
        opts.max,
        if opts.s3 { "" } else { " --no-s3" },
        if shapes.len() > 1 { "both" } else { shapes[0] },
        opts.seed,
        took.as_secs_f64(),
        crate::bench::loadavg()
    );
    md
}

fn cell(r: &Row) -> String {
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
}

/// `scale.json`: every row, the targets and the notes.
pub(super) fn json(
    rows: &[Row],
    levels: &[usize],
    checks: &[(String, bool)],
    notes: &[String],
    seed: u64,
    took: Duration,
) -> Value {
    let js: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"shape": r.shape.name(), "backend": r.backend, "snapshots": r.level,
                "command": r.command, "whole_history": whole_history(r.command),
                "wall_s": measure::round3(r.wall), "cpu_s": measure::round3(r.cpu),
                "peak_rss_kib": r.rss_kib, "backend_requests": r.stats})
        })
        .collect();
    let checks_js: Vec<Value> = (checks.iter())
        .map(|(t, ok)| json!({"target": t, "met": ok}))
        .collect();
    json!({"seed": seed, "levels": levels, "rows": js, "targets": checks_js, "notes": notes,
        "total_s": took.as_secs_f64(),
        "load": std::fs::read_to_string("/proc/loadavg").unwrap_or_default()})
}
