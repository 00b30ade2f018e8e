//! Issue 16's targets, one table per churn model, and the overall verdict: a target is met
//! only when it is met on every model. Also the byte breakdown of each model's second
//! dumpvault snapshot and the no-base analysis of the uniform model.

use super::{figures, human, Figures};
use crate::bench::tools::Kind;
use crate::bench::Workload;
use serde_json::{json, Value};
use std::fmt::Write;

/// One target on one model.
pub struct Verdict {
    pub target: &'static str,
    /// dumpvault's figure, as text.
    pub measured: String,
    /// What it is compared with, as text.
    pub reference: String,
    /// `Some(factor)`: how far from the target (≤ 1 met; > 1 missed by that factor);
    /// `None`: not measured.
    pub factor: Option<f64>,
}

impl Verdict {
    fn text(&self) -> String {
        match self.factor {
            Some(f) if f <= 1.0 => "met".into(),
            Some(f) if f.is_finite() => format!("**missed by {f:.2}×**"),
            _ => "– (not measured)".into(),
        }
    }
}

/// (tool, figures) of the best peer for `get` (highest or lowest).
fn best(figs: &[(Kind, Figures)], get: fn(&Figures) -> f64, higher: bool) -> Option<(Kind, f64)> {
    figs.iter()
        .filter(|(k, _)| *k != Kind::Dumpvault)
        .map(|(k, f)| (*k, get(f)))
        .filter(|(_, v)| v.is_finite() && *v > 0.0)
        .max_by(|a, b| {
            if higher {
                a.1.total_cmp(&b.1)
            } else {
                b.1.total_cmp(&a.1)
            }
        })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The targets of issue 16 on workload `w`.
pub fn verdicts(w: &Workload) -> Vec<Verdict> {
    let figs: Vec<(Kind, Figures)> = w.tools.iter().map(|r| (r.kind, figures(w, r))).collect();
    let Some(dv) = figs
        .iter()
        .find(|(k, _)| *k == Kind::Dumpvault)
        .map(|x| x.1.clone())
    else {
        return Vec::new();
    };
    let restic = figs
        .iter()
        .find(|(k, _)| *k == Kind::Restic)
        .map(|x| x.1.clone());
    let mut out = Vec::new();
    let (rh, rf) = restic
        .as_ref()
        .map_or((f64::NAN, f64::NAN), |r| (r.later_added, r.first_added));
    out.push(Verdict {
        target: "bytes stored per hourly snapshot ≤ 1/10 of restic's",
        measured: format!(
            "{} ({:.3}% of the dump)",
            human(dv.later_added as u64),
            dv.later_added_pct
        ),
        reference: format!(
            "restic {}",
            if rh.is_finite() {
                human(rh as u64)
            } else {
                "not run".into()
            }
        ),
        factor: finite(dv.later_added / (0.1 * rh)),
    });
    out.push(Verdict {
        target: "bytes stored per hourly snapshot ≤ 3× the floor (zstd -3 of changed rows)",
        measured: format!("{:.2}× the floor", dv.later_added_x_floor),
        reference: "3×".into(),
        factor: finite(dv.later_added_x_floor / 3.0),
    });
    out.push(Verdict {
        target: "repository after the first snapshot ≤ restic's",
        measured: human(dv.first_added as u64),
        reference: format!(
            "restic {}",
            if rf.is_finite() {
                human(rf as u64)
            } else {
                "not run".into()
            }
        ),
        factor: finite(dv.first_added / rf),
    });
    type Get = fn(&Figures) -> f64;
    let speed: [(&'static str, Get, f64, bool, &str); 4] = [
        (
            "first snapshot MB/s ≥ 1.2× the fastest peer",
            |f| f.first_mbps,
            1.2,
            true,
            "MB/s",
        ),
        (
            "later snapshots MB/s (median) ≥ 3× the fastest peer",
            |f| f.later_median_mbps,
            3.0,
            true,
            "MB/s",
        ),
        (
            "restore MB/s ≥ the fastest peer",
            |f| f.restore_mbps,
            1.0,
            true,
            "MB/s",
        ),
        (
            "forget (keep 3) + prune s ≤ the fastest peer",
            |f| f.prune_s,
            1.0,
            false,
            "s",
        ),
    ];
    for (target, get, factor, higher, unit) in speed {
        let (reference, fac) = match best(&figs, get, higher) {
            Some((k, v)) => (
                format!("{} {v:.2} {unit}", k.name()),
                if higher {
                    finite(factor * v / get(&dv))
                } else {
                    finite(get(&dv) / v)
                },
            ),
            None => ("no peer measured".into(), None),
        };
        out.push(Verdict {
            target,
            measured: if get(&dv).is_finite() {
                format!("{:.2} {unit}", get(&dv))
            } else {
                "–".into()
            },
            reference,
            factor: fac.filter(|_| get(&dv).is_finite()),
        });
    }
    out.push(Verdict {
        target: "peak RSS (snapshot, restore, prune) ≤ 128 MiB",
        measured: format!("{:.1} MiB", dv.peak_rss_mib),
        reference: "128 MiB".into(),
        factor: finite(dv.peak_rss_mib / 128.0),
    });
    out
}

fn breakdown_row(w: &Workload) -> Option<String> {
    let r = w.tools.iter().find(|r| r.kind == Kind::Dumpvault)?;
    let b = r.extra.get("breakdown")?;
    let n = |k: &str, f: &str| b[k][f].as_u64().unwrap_or(0);
    let one = |k: &str| {
        format!(
            "{} / {} / {}",
            n(k, "count"),
            human(n(k, "stored")),
            human(n(k, "raw"))
        )
    };
    Some(format!(
        "| {} | {} | {} | {} | {} / {} | {} | {} ({} files) | {:.1}% |",
        w.name,
        human(b["bytes_added"].as_u64().unwrap_or(0)),
        one("delta"),
        one("whole"),
        n("list", "count"),
        human(n("list", "stored")),
        human(b["pack_overhead"].as_u64().unwrap_or(0)),
        human(b["index_bytes"].as_u64().unwrap_or(0)),
        b["index_files"].as_u64().unwrap_or(0),
        100.0 * b["no_base_share"].as_f64().unwrap_or(f64::NAN),
    ))
}

/// The per-model target tables, the overall table, the breakdowns and the no-base analysis.
pub fn markdown(workloads: &[Workload]) -> String {
    let mut s = String::new();
    let all: Vec<(String, Vec<Verdict>)> = workloads
        .iter()
        .map(|w| (w.name.clone(), verdicts(w)))
        .collect();
    for (name, vs) in &all {
        let _ = writeln!(s, "### Targets: {name}\n\n| target | dumpvault | reference | verdict |\n|---|---|---|---|");
        for v in vs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                v.target,
                v.measured,
                v.reference,
                v.text()
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "### Targets overall (met only when met on every model)\n"
    );
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(
        s,
        "| target | {} | overall |\n|---|{}---|",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    let targets: Vec<&str> = all
        .first()
        .map_or(Vec::new(), |(_, v)| v.iter().map(|v| v.target).collect());
    for t in targets {
        let cells: Vec<Option<&Verdict>> = all
            .iter()
            .map(|(_, vs)| vs.iter().find(|v| v.target == t))
            .collect();
        let facs: Vec<f64> = cells
            .iter()
            .filter_map(|c| c.and_then(|v| v.factor))
            .collect();
        let worst = facs.iter().copied().fold(f64::NAN, f64::max);
        let overall = if facs.len() < cells.len() {
            "– (not measured on every model)".to_string()
        } else if worst <= 1.0 {
            "**met**".into()
        } else {
            format!("**missed** (worst by {worst:.2}×)")
        };
        let texts: Vec<String> = cells
            .iter()
            .map(|c| c.map_or("–".into(), Verdict::text))
            .collect();
        let _ = writeln!(s, "| {t} | {} | {overall} |", texts.join(" | "));
    }
    let _ = writeln!(
        s,
        "\nNot measured by this bench: peak RSS flat from 1 to 4 GiB (`--size`), `snapshot --jobs N` \
         against `pg_dump -j N -Fd`, index memory per blob.\n"
    );
    let rows: Vec<String> = workloads.iter().filter_map(breakdown_row).collect();
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "### Where the second snapshot's bytes go (`dumpvault stats --breakdown`)\n\n\
             | model | added | delta blobs (n / stored / raw) | stored whole (n / stored / raw) | \
             list blobs (n / stored) | pack headers | index file | new chunks without base |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in rows {
            let _ = writeln!(s, "{r}");
        }
        let _ = writeln!(s);
    }
    for w in workloads {
        let Some(v) = w
            .tools
            .iter()
            .find(|r| r.kind == Kind::Dumpvault)
            .and_then(|r| r.extra.get("no_base"))
        else {
            continue;
        };
        let _ = writeln!(
            s,
            "### Why new chunks got no delta base ({}, second snapshot)\n\n{} new data chunks: {} delta, {} whole \
             ({:.1}%); finder proposed no candidate for {}, only unusable ones for {}.\n\n\
             | class | chunks | stored whole | patch against the content base |\n|---|---:|---:|---:|",
            w.name,
            v["new_data_chunks"], v["delta"], v["whole"],
            100.0 * v["no_base_share"].as_f64().unwrap_or(0.0),
            v["no_candidates"], v["candidates_unusable"]
        );
        if let Some(m) = v["classes"].as_object() {
            for (k, c) in m {
                let _ = writeln!(
                    s,
                    "| {k} | {} | {} | {} |",
                    c["chunks"],
                    human(c["stored_whole"].as_u64().unwrap_or(0)),
                    human(c["patch_against_content_base"].as_u64().unwrap_or(0))
                );
            }
        }
        let d = &v["first_candidate_minus_content_base_chunks"];
        let _ = writeln!(
            s,
            "\nDistance from the finder's first candidate to the content base: median {} chunks, \
             max {}, within ±1 for {} of {}.\n",
            d["median_abs"], d["max_abs"], d["within_one"], d["measured"]
        );
    }
    s
}

/// The verdicts as JSON: per model, and overall.
pub fn json(workloads: &[Workload]) -> Value {
    let per: Vec<Value> = workloads
        .iter()
        .map(|w| {
            json!({"model": w.name, "targets": verdicts(w).iter().map(|v| json!({
                "target": v.target, "measured": v.measured, "reference": v.reference,
                "factor": v.factor, "met": v.factor.map(|f| f <= 1.0)})).collect::<Vec<_>>()})
        })
        .collect();
    json!({"per_model": per})
}
