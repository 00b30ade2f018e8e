//! `dumpvault stats [--by database]`: sizes, deduplication and growth.

use super::output::human_bytes;
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::stats;

/// What to group by.
#[derive(Clone, Copy, clap::ValueEnum)]
enum By {
    /// One row per database.
    Database,
}

/// `stats` options.
#[derive(clap::Args)]
pub struct StatsArgs {
    /// Also give one row per database.
    #[arg(long, value_enum)]
    by: Option<By>,
}

fn growth(g: Option<f64>) -> String {
    match g {
        Some(g) => format!("{}/day", human_bytes(g.round() as u64)),
        None => "-".into(),
    }
}

/// Runs `stats`.
pub fn run(ctx: &Ctx, a: StatsArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let s = stats::run(&repo, matches!(a.by, Some(By::Database)))?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(0);
    }
    let f = &s.figures;
    println!("snapshots:       {}", f.snapshots);
    println!(
        "logical size:    {} (sum of the dumps' sizes)",
        human_bytes(f.logical_bytes)
    );
    println!(
        "stored size:     {} ({} packs {}, {} index files {})",
        human_bytes(s.stored_bytes),
        s.packs,
        human_bytes(s.pack_bytes),
        s.index_files,
        human_bytes(s.index_bytes)
    );
    println!("repository size: {}", human_bytes(s.repository_bytes));
    println!("dedup ratio:     {:.1}x", s.dedup_ratio);
    if !s.damaged_snapshots.is_empty() {
        println!(
            "damaged:         {} snapshot file(s) skipped (`dumpvault check` reports them)",
            s.damaged_snapshots.len()
        );
    }
    println!(
        "growth:          {} over {:.1} days",
        growth(f.growth_bytes_per_day),
        f.span_days
    );
    if let Some(dbs) = &s.databases {
        println!();
        println!(
            "{:<24}  {:>9}  {:>10}  {:>10}  {:>7}  {:>14}",
            "database", "snapshots", "logical", "added", "dedup", "growth"
        );
        for d in dbs {
            println!(
                "{:<24}  {:>9}  {:>10}  {:>10}  {:>6.1}x  {:>14}",
                d.database.as_deref().unwrap_or("-"),
                d.figures.snapshots,
                human_bytes(d.figures.logical_bytes),
                human_bytes(d.figures.added_bytes),
                d.dedup_ratio,
                growth(d.figures.growth_bytes_per_day)
            );
        }
    }
    Ok(0)
}
