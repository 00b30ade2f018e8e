//! `dumpvault stats [--by database] [--breakdown [SNAPSHOT]]`: sizes, deduplication and growth;
//! where one snapshot's added bytes went.

use super::output::{human_bytes, render, show_time, table};
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
    /// Also say where one snapshot's added bytes went (default: the latest): delta blobs,
    /// data blobs stored whole, list blobs, pack overhead, index files. Reads the chunk lists
    /// of that snapshot and the older ones, no data blob.
    #[arg(long, value_name = "SNAPSHOT", num_args = 0..=1, default_missing_value = "latest")]
    breakdown: Option<String>,
}

/// Days the snapshots must span before a growth rate is shown: over less, one snapshot's
/// bytes divided by minutes give absurd rates (`16.6 GiB/day over 0.0 days`).
pub use dumpvault::commands::stats::MIN_GROWTH_SPAN_DAYS;

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
    let b = match &a.breakdown {
        Some(spec) => Some(stats::breakdown(&repo, spec)?),
        None => None,
    };
    if ctx.json {
        let mut v = serde_json::to_value(&s)?;
        if let (Some(b), Some(m)) = (&b, v.as_object_mut()) {
            m.insert("breakdown".into(), serde_json::to_value(b)?);
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
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
    if let Some(b) = &b {
        print_breakdown(b);
    }
    Ok(0)
}

/// The `--breakdown` table: one row per kind of bytes, with its share of the pack bytes.
fn print_breakdown(b: &stats::Breakdown) {
    let snap = b.snapshot.get(..8).unwrap_or(&b.snapshot);
    println!();
    // To the second in local time, as `snapshots` shows it.
    let time = dumpvault::format::snapshot::parse_time(&b.time)
        .map_or_else(|| b.time.clone(), |t| show_time(t, false));
    println!(
        "snapshot {snap} ({time}): added {} for {} read",
        human_bytes(b.bytes_added),
        human_bytes(b.bytes_read)
    );
    let share = |x: u64| {
        if b.accounted == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * x as f64 / b.accounted as f64)
        }
    };
    let mut t = table(&["what", "count", "stored", "raw", "share"], &[1, 2, 3, 4]);
    for (what, f) in [
        ("delta blobs", b.delta),
        ("data blobs stored whole", b.whole),
        ("list blobs", b.list),
    ] {
        t.add_row(vec![
            what.to_string(),
            f.count.to_string(),
            human_bytes(f.stored),
            human_bytes(f.raw),
            share(f.stored),
        ]);
    }
    t.add_row(vec![
        "pack headers and trailers".into(),
        b.packs.to_string(),
        human_bytes(b.pack_overhead),
        "-".into(),
        share(b.pack_overhead),
    ]);
    if b.other_stored > 0 {
        t.add_row(vec![
            "other writers' blobs in these packs".into(),
            "-".into(),
            human_bytes(b.other_stored),
            "-".into(),
            share(b.other_stored),
        ]);
    }
    t.add_row(vec![
        "index files (not in added)".into(),
        format!("{} entries", b.index_entries),
        human_bytes(b.index_bytes),
        "-".into(),
        "-".into(),
    ]);
    println!("{}", render(&t));
    println!(
        "new data chunks without a delta base: {} of {} ({:.1}%)",
        b.whole.count,
        b.whole.count + b.delta.count,
        100.0 * b.no_base_share
    );
    if b.missing > 0 {
        println!(
            "blobs the index does not list: {} (run `dumpvault check`)",
            b.missing
        );
    }
}
