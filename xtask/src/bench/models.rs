//! The churn models of `cargo xtask bench` (issue 16): which run, the synthetic series through
//! every tool, and what is measured after a series' snapshots: `stats --breakdown` of the
//! second dumpvault snapshot, and `forget` + `prune` keeping the newest 3 snapshots in every
//! tool.

use super::gen::{self, Model};
use super::measure::{self, Cost};
use super::tools::{Input, Kind, Tool};
use super::{Env, Opts, Snap, ToolRun, Workload};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// A churn model of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Synthetic(Model),
    Pgbench,
    Sysbench,
}

/// Every model, in report order.
pub const ALL: [Which; 5] = [
    Which::Synthetic(Model::Uniform),
    Which::Synthetic(Model::Hotspot),
    Which::Synthetic(Model::Mixed),
    Which::Pgbench,
    Which::Sysbench,
];

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Synthetic(m) => m.name(),
            Which::Pgbench => "pgbench",
            Which::Sysbench => "sysbench",
        }
    }
}

/// `--model uniform|hotspot|mixed|pgbench|sysbench|all` (comma-separated; repeatable).
pub fn parse(list: &[String]) -> Result<Vec<Which>> {
    if list.is_empty() {
        return Ok(ALL.to_vec());
    }
    let mut out = Vec::new();
    for name in list.iter().flat_map(|l| l.split(',')) {
        let name = name.trim();
        if name == "all" {
            out.extend(ALL);
            continue;
        }
        match ALL.iter().find(|w| w.name() == name) {
            Some(w) => out.push(*w),
            None => {
                bail!("unknown model {name:?}: uniform, hotspot, mixed, pgbench, sysbench or all")
            }
        }
    }
    out.dedup();
    Ok(out)
}

/// Runs the models of `opts` in order; a model that fails is reported in `env.skipped`.
pub fn run(env: &mut Env, opts: &Opts) -> Vec<Workload> {
    let mut out = Vec::new();
    for which in &opts.models {
        let res = match which {
            Which::Synthetic(m) if opts.synthetic => synthetic(env, opts, *m),
            Which::Pgbench if opts.postgres => super::pg::series(env, opts),
            Which::Sysbench => super::sysbench::series(env, opts),
            _ => continue,
        };
        match res {
            Ok(mut w) => {
                w.name = which.name().into();
                out.push(w);
            }
            Err(e) => {
                eprintln!("bench: model {} failed: {e:#}", which.name());
                env.skipped
                    .push(format!("model {}: failed: {e:#}", which.name()));
            }
        }
    }
    out
}

/// Snapshots kept by the measured `forget` + `prune` (issue 16: keep 3 of 9).
pub const KEEP: usize = 3;

/// After a series: the breakdown of dumpvault's second snapshot (into `r.extra`), then
/// `forget` keeping the newest [`KEEP`] snapshots and `prune`, timed (`r.extra["prune"]`).
/// Failures are recorded, not raised: the other figures stand.
pub fn finish(tool: &Tool, r: &mut ToolRun) {
    if !r.extra.is_object() {
        r.extra = json!({});
    }
    if tool.kind == Kind::Dumpvault {
        match breakdown(tool, 1) {
            Ok(b) => r.extra["breakdown"] = b,
            Err(e) => r.extra["breakdown_error"] = json!(format!("{e:#}")),
        }
    }
    if r.snaps.len() <= KEEP {
        return;
    }
    let before = tool.repo_size();
    match prune(tool) {
        Ok(cost) => {
            eprintln!(
                "bench:   {} forget (keep {KEEP} of {}) + prune: {:.2} s",
                tool.kind.name(),
                r.snaps.len(),
                cost.wall
            );
            r.extra["prune"] = json!({"cost": cost.json(), "kept": KEEP, "of": r.snaps.len(),
                "repository_before": before, "repository_after": tool.repo_size()});
        }
        Err(e) => r.extra["prune_error"] = json!(format!("{e:#}")),
    }
}

/// `dumpvault stats --breakdown` of the `n`th snapshot (0 = oldest).
fn breakdown(tool: &Tool, n: usize) -> Result<Value> {
    let list = tool.snapshots_json().context("snapshots --json")?;
    let id = list
        .as_array()
        .and_then(|a| a.get(n))
        .and_then(|s| s["id"].as_str())
        .with_context(|| format!("no snapshot {n} in {list}"))?
        .to_string();
    let mut c = tool.cmd();
    c.args(["--json", "stats", "--breakdown", &id]);
    let ran = measure::run(&c, None, None, &tool.scratch.join("run"))?;
    let v: Value = serde_json::from_str(&ran.stdout).context("stats --json")?;
    Ok(v["breakdown"].clone())
}

/// `forget` keeping the newest [`KEEP`] snapshots, then `prune` deleting at once (as restic
/// and rustic do; borg: `prune` then `compact`).
fn prune(tool: &Tool) -> Result<Cost> {
    let keep = KEEP.to_string();
    let scratch = tool.scratch.join("run");
    let mut c = tool.cmd();
    match tool.kind {
        Kind::Dumpvault => {
            c.args([
                "forget",
                "--keep-last",
                &keep,
                "--prune",
                "--instant-delete",
            ]);
        }
        Kind::Restic => {
            c.args(["forget", "--keep-last", &keep, "--prune"]);
        }
        Kind::Rustic => {
            c.args([
                "forget",
                "--keep-last",
                &keep,
                "--prune",
                "--instant-delete",
            ]);
        }
        Kind::Borg => {
            c.args(["prune", "--keep-last", &keep]);
            let first = measure::run(&c, None, None, &scratch)?.cost;
            let mut k = tool.cmd();
            k.arg("compact");
            let second = measure::run(&k, None, None, &scratch)?.cost;
            return Ok(Cost {
                wall: first.wall + second.wall,
                user: first.user + second.user,
                sys: first.sys + second.sys,
                rss_kib: first.rss_kib.max(second.rss_kib),
            });
        }
    }
    Ok(measure::run(&c, None, None, &scratch)?.cost)
}

fn synthetic(env: &Env, opts: &Opts, model: Model) -> Result<Workload> {
    let dir = env.bench_dir.join(format!(
        "synthetic-{}-seed{}-{}-h{}",
        model.name(),
        opts.seed,
        opts.size,
        opts.hours
    ));
    let series = gen::series(&dir, model, opts.seed, opts.size, opts.hours)?;
    let last = series.files.last().context("no files")?.clone();
    let (last_hash, _) = super::blake3_file(&last)?;
    let mut w = Workload {
        name: model.name().into(),
        title: format!(
            "{}: synthetic pg_dump series, {}; 1 + {} hourly dumps of {}",
            model.name(),
            model.describe(),
            opts.hours,
            super::report::human(series.sizes[0])
        ),
        dump_sizes: series.sizes.clone(),
        floor: series.floor.clone(),
        changed_bytes: series.changed_bytes.clone(),
        tools: Vec::new(),
        ceilings: super::ceilings(env, &series.files[0])?,
        notes: Vec::new(),
        params: json!({"model": model.name(), "seed": opts.seed, "size": opts.size,
            "hours": opts.hours, "description": model.describe(), "changes": series.changes,
            "events": series.events, "generation_s": measure::round3(series.generated_secs),
            "dir": dir}),
    };
    let work = env.work.join(model.name());
    let restored = work.join("restored.sql");
    for mut tool in super::tools_for(env, opts, &work, "synthetic.sql") {
        eprintln!("bench: {} series: {}", model.name(), tool.kind.name());
        tool.init()?;
        let mut r = ToolRun::new(tool.kind);
        for (h, f) in series.files.iter().enumerate() {
            let before = tool.repo_size();
            let (cost, json) = tool.backup(&Input::File(f))?;
            let added = tool.repo_size().saturating_sub(before);
            eprintln!(
                "bench:   hour {h}: {:.2} s, {:.0} MB/s, +{} (repository)",
                cost.wall,
                series.sizes[h] as f64 / 1e6 / cost.wall,
                super::report::human(added)
            );
            r.snaps.push(Snap {
                bytes: series.sizes[h],
                cost,
                added,
                reported_added: super::reported_added(tool.kind, json.as_ref()),
            });
        }
        let cost = tool.restore(&restored, None)?;
        let (h, n) = super::blake3_file(&restored)?;
        r.restore = Some(cost);
        r.restore_bytes = n;
        r.restore_check = if h == last_hash {
            "identical".into()
        } else {
            "DIFFERS".into()
        };
        if tool.kind == Kind::Dumpvault {
            table_restore_stdin(&tool, &restored, model, &mut r, &mut w);
            r.extra = json!({"snapshots": tool.snapshots_json()});
            if matches!(model, Model::Uniform | Model::Mixed) {
                match super::nobase::analyse(&tool, &series.files[0], &series.files[1]) {
                    Ok(v) => r.extra["no_base"] = v,
                    Err(e) => w.notes.push(format!("no-base analysis failed: {e:#}")),
                }
            }
        }
        let _ = std::fs::remove_file(&restored);
        finish(&tool, &mut r);
        r.repo_size = tool.repo_size();
        if !opts.keep {
            tool.cleanup();
        }
        w.tools.push(r);
    }
    if model == Model::Hotspot && opts.postgres && !opts.quick {
        table_restore_pg(env, opts, &series.files[0], &mut w);
    }
    Ok(w)
}

/// Streams from --stdin carry no table index: records what `restore --table` says.
fn table_restore_stdin(
    tool: &Tool,
    restored: &std::path::Path,
    model: Model,
    r: &mut ToolRun,
    w: &mut Workload,
) {
    let t = model.sample_table();
    match tool.restore(restored, Some(&t)) {
        Ok(c) => {
            let bytes = std::fs::metadata(restored).map_or(0, |m| m.len());
            r.table_restore = Some((c, bytes, t));
        }
        Err(e) => w.notes.push(format!(
            "`dumpvault restore --table {t}` on the --stdin snapshot fails: {}",
            format!("{e:#}").lines().last().unwrap_or("").trim()
        )),
    }
}

/// One-table restore needs the table index that database snapshots carry: loads the first
/// dump into PostgreSQL and snapshots it by URL.
fn table_restore_pg(env: &Env, opts: &Opts, first: &std::path::Path, w: &mut Workload) {
    match super::pg::table_restore(env, opts, first) {
        Ok((full, table, note)) => {
            w.notes.push(note);
            if let Some(r) = w.tools.iter_mut().find(|t| t.kind == Kind::Dumpvault) {
                r.extra["table_restore_via_postgres"] = json!({
                    "full": {"cost": full.0.json(), "bytes": full.1},
                    "table": {"cost": table.0.json(), "bytes": table.1, "name": table.2}});
                if r.table_restore.is_none() {
                    r.table_restore = Some(table.clone());
                    r.extra["table_restore_full"] = json!({"cost": full.0.json(), "bytes": full.1});
                }
            }
        }
        Err(e) => w.notes.push(format!(
            "one-table restore through PostgreSQL failed: {e:#}"
        )),
    }
}
