//! `dumpvault diff <a> <b>`: per table, what changed between two snapshots of one database.

use super::output::human_bytes;
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::diff::{self, TableStatus};

/// The two snapshots.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The older snapshot: id prefix or `latest`.
    a: String,
    /// The newer snapshot: id prefix or `latest`.
    b: String,
}

fn rows(r: Option<u64>) -> String {
    r.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
}

/// Runs `diff`.
pub fn run(ctx: &Ctx, a: DiffArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let d = diff::run(&repo, &a.a, &a.b)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    println!(
        "{} ({}) -> {} ({}), database {}",
        &d.a[..8],
        d.a_time.split('[').next().unwrap_or(""),
        &d.b[..8],
        d.b_time.split('[').next().unwrap_or(""),
        d.database.as_deref().unwrap_or("-")
    );
    if !d.tables.is_empty() {
        println!(
            "{:<32}  {:<9}  {:>11}  {:>11}  {:>13}",
            "table", "status", "rows before", "rows after", "bytes changed"
        );
        for t in &d.tables {
            let status = match t.status {
                TableStatus::Added => "added",
                TableStatus::Removed => "removed",
                TableStatus::Changed => "changed",
                TableStatus::Unchanged => "unchanged",
            };
            println!(
                "{:<32}  {:<9}  {:>11}  {:>11}  {:>13}",
                t.table,
                status,
                rows(t.rows_before),
                rows(t.rows_after),
                human_bytes(t.bytes_changed)
            );
        }
    }
    for s in &d.streams {
        println!(
            "stream {}: {} of {} in chunks {} does not hold",
            s.name,
            human_bytes(s.bytes_changed),
            s.size_after
                .map(human_bytes)
                .unwrap_or_else(|| "(removed)".into()),
            &d.a[..8]
        );
    }
    println!(
        "{} added {} to the repository",
        &d.b[..8],
        human_bytes(d.b_bytes_added)
    );
    Ok(0)
}
