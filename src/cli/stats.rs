//! `dumpvault stats [--by database]`: sizes, deduplication and growth.

use super::output::{human_bytes, render, table};
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

/// Days the snapshots must span before a growth rate is shown: over less, one snapshot's
/// bytes divided by minutes give absurd rates (`16.6 GiB/day over 0.0 days`).
pub const MIN_GROWTH_SPAN_DAYS: f64 = 1.0;

/// `1.2 MiB/day`, or `-` with no rate or when the snapshots span less than a day.
fn growth(g: Option<f64>, span_days: f64) -> String {
    match g {
        Some(g) if span_days >= MIN_GROWTH_SPAN_DAYS => {
            format!("{}/day", human_bytes(g.round() as u64))
        }
        _ => "-".into(),
    }
}

/// The `growth:` line: the rate over the span, or why there is none yet.
fn growth_text(g: Option<f64>, span_days: f64) -> String {
    if span_days < MIN_GROWTH_SPAN_DAYS {
        let hours = span_days * 24.0;
        return format!("- (shown once the snapshots span a day; they span {hours:.1} hours)");
    }
    match g {
        Some(_) => format!("{} over {span_days:.1} days", growth(g, span_days)),
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
        "growth:          {}",
        growth_text(f.growth_bytes_per_day, f.span_days)
    );
    if let Some(dbs) = &s.databases {
        println!();
        let header = [
            "database",
            "snapshots",
            "logical",
            "added",
            "dedup",
            "growth",
        ];
        let mut t = table(&header, &[1, 2, 3, 4, 5]);
        for d in dbs {
            t.add_row(vec![
                d.database.clone().unwrap_or_else(|| "-".into()),
                d.figures.snapshots.to_string(),
                human_bytes(d.figures.logical_bytes),
                human_bytes(d.figures.added_bytes),
                format!("{:.1}x", d.dedup_ratio),
                growth(d.figures.growth_bytes_per_day, d.figures.span_days),
            ]);
        }
        println!("{}", render(&t));
    }
    Ok(0)
}
