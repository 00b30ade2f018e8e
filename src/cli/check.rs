//! `dumpvault check`: structure always, pack contents with `--read-data` or
//! `--read-data-subset`; damaged objects printed with the snapshots and tables they affect.

use super::output::{human_bytes, Bar};
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::check::{self, CheckOptions, CheckReport, Problem, Subset};
use dumpvault::error::EXIT_DAMAGED;

/// Arguments of `check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Also read every pack in full and verify every blob.
    #[arg(long, conflicts_with = "read_data_subset")]
    read_data: bool,
    /// Read only some packs in full: `n/m` (the n-th of m fixed slices: run 1/7 … 7/7 on
    /// seven days to cover everything), `P%` (random) or a size such as `2GiB` (random).
    #[arg(long, value_name = "n/m|P%|SIZE")]
    read_data_subset: Option<String>,
}

/// Runs `check`; exit code 3 when anything is damaged.
pub fn run(ctx: &Ctx, a: CheckArgs) -> Result<i32> {
    let read_data = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => Some(s.parse::<Subset>()?),
        (None, true) => Some(Subset::All),
        (None, false) => None,
    };
    let repo = ctx.open()?;
    let bar = Bar::new(ctx.progress && read_data.is_some(), Some(0));
    let report = check::run(&repo, &CheckOptions { read_data }, &bar)?;
    print(&report, ctx.json)?;
    Ok(if report.problems.is_empty() {
        0
    } else {
        EXIT_DAMAGED
    })
}

/// Prints a check report: problems on stderr, the verdict on stdout (or all of it as JSON).
pub fn print(r: &CheckReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    for p in &r.problems {
        eprintln!("error: {}: {}{}", p.object, p.detail, affected(p));
    }
    let read = match &r.read_data {
        Some(s) => format!(
            ", read {} packs ({}, subset {s})",
            r.packs_read,
            human_bytes(r.bytes_read)
        ),
        None => String::new(),
    };
    if !r.repair_packs.is_empty() {
        eprintln!(
            "damaged packs: run `dumpvault repair packs {}` to move their intact blobs into new \
             packs and drop the damaged ones from the index (the next snapshot of the same data \
             stores them again)",
            r.repair_packs.join(" ")
        );
    }
    // Snapshots a problem keeps from being restored but the chunk walk could not see (a
    // catalogue entry whose manifest is missing).
    let mut unreadable: Vec<&str> = (r.problems.iter())
        .flat_map(|p| &p.affected_snapshots)
        .map(String::as_str)
        .filter(|s| !r.damaged_snapshots.iter().any(|d| d.starts_with(s)))
        .collect();
    unreadable.sort_unstable();
    unreadable.dedup();
    let verdict = if r.problems.is_empty() {
        "no errors".to_string()
    } else if r.damaged_snapshots.is_empty() && !unreadable.is_empty() {
        format!(
            "ERRORS FOUND ({} damaged objects; {} snapshot(s) cannot be restored: {}; \
             `dumpvault repair snapshots --forget-broken` removes them, or restore another \
             snapshot)",
            r.problems.len(),
            unreadable.len(),
            unreadable.join(", ")
        )
    } else if r.damaged_snapshots.is_empty() {
        format!(
            "ERRORS FOUND ({} damaged objects; every snapshot still restores)",
            r.problems.len()
        )
    } else {
        let first = if r.repair_packs.is_empty() {
            "`dumpvault repair index` if index files were lost or damaged, then"
        } else {
            "`dumpvault repair packs` (above), a new snapshot of the same data, then"
        };
        format!(
            "ERRORS FOUND ({} damaged objects; {} snapshot(s) cannot be restored in full: \
             {first} `dumpvault repair snapshots` lists what stays broken and \
             `--forget-broken` removes it)",
            r.problems.len(),
            r.damaged_snapshots.len() + unreadable.len()
        )
    };
    println!(
        "checked {} snapshots, {} index files, {} packs, {} blobs{read}: {verdict}",
        r.snapshots, r.index_files, r.packs, r.blobs
    );
    Ok(())
}

/// ` (affects snapshot 1a2b3c4d (shop: public.orders, public.items), …)`, or nothing.
fn affected(p: &Problem) -> String {
    if p.affected.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = p
        .affected
        .iter()
        .map(|a| {
            let mut what = Vec::new();
            if let Some(db) = &a.database {
                what.push(db.clone());
            }
            if !a.tables.is_empty() {
                what.push(format!("tables {}", a.tables.join(", ")));
            }
            if what.is_empty() {
                a.snapshot.clone()
            } else {
                format!("{} ({})", a.snapshot, what.join(": "))
            }
        })
        .collect();
    format!(" (affects snapshots {})", parts.join(", "))
}
