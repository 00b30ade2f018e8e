//! `dumpvault diff <a> <b>`: per table, what changed between two snapshots of one database:
//! rows inserted, updated and deleted, schema changes, bytes; `--rows TABLE` lists the rows.

use super::output::human_bytes;
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::diff::{self, RowChange, RowOp, TableStatus, Values};
use std::io::Write;

/// The two snapshots, and what to show.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The older snapshot: id prefix or `latest`.
    a: String,
    /// The newer snapshot: id prefix or `latest`.
    b: String,
    /// Print the changed rows of this table (`+` inserted, `-` deleted, `~` updated with old
    /// and new values), streaming in constant memory; with `--json`, one JSON object per line.
    #[arg(long, value_name = "TABLE")]
    rows: Option<String>,
}

/// A value as text output shows it: NULL, a bare word or number, or a quoted string.
fn show(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '+' | '.' | '_' | ':')) =>
        {
            s.clone()
        }
        Some(s) => format!(
            "'{}'",
            s.replace('\\', "\\\\")
                .replace('\'', "''")
                .replace('\n', "\\n")
                .replace('\t', "\\t")
        ),
    }
}

fn pairs(v: &Values) -> String {
    (v.0.iter())
        .map(|(k, x)| format!("{k}={}", show(x)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One changed row as a text line.
fn row_line(c: &RowChange) -> String {
    let none = Values::default();
    let (old, new) = (
        c.old.as_ref().unwrap_or(&none),
        c.new.as_ref().unwrap_or(&none),
    );
    match c.op {
        RowOp::Inserted => format!("+ {}", pairs(new)),
        RowOp::Deleted => format!("- {}", pairs(old)),
        RowOp::Updated => {
            let changes: Vec<_> = (old.0.iter().zip(&new.0))
                .map(|((k, o), (_, n))| format!("{k}: {} -> {}", show(o), show(n)))
                .collect();
            format!("~ {}: {}", pairs(&c.key), changes.join(", "))
        }
    }
}

/// `diff --rows TABLE`.
fn run_rows(ctx: &Ctx, a: &DiffArgs, table: &str) -> Result<i32> {
    let repo = ctx.open()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let json = ctx.json;
    let mut sink = |c: RowChange| -> dumpvault::error::Result<()> {
        let line = if json {
            serde_json::to_string(&c)
                .map_err(|e| dumpvault::error::Error::Invalid(e.to_string()))?
        } else {
            row_line(&c)
        };
        writeln!(out, "{line}")
            .map_err(|e| dumpvault::error::Error::io("writing the changed rows", e))
    };
    let r = diff::rows(&repo, &a.a, &a.b, table, &mut sink)?;
    if json {
        writeln!(out, "{}", serde_json::json!({ "summary": r }))?;
    } else {
        for s in &r.schema_changes {
            writeln!(out, "schema: {} {} {}", s.kind, s.name, s.change)?;
        }
        writeln!(
            out,
            "{}: {} inserted, {} updated, {} deleted (rows matched by {})",
            r.table, r.counts.inserted, r.counts.updated, r.counts.deleted, r.counts.method
        )?;
    }
    out.flush()?;
    if let Some(n) = &r.counts.note {
        eprintln!("note: {n}");
    }
    Ok(0)
}

fn rows(r: Option<u64>) -> String {
    r.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
}

/// Runs `diff`.
pub fn run(ctx: &Ctx, a: DiffArgs) -> Result<i32> {
    if let Some(t) = &a.rows {
        return run_rows(ctx, &a, t);
    }
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
            "{:<32}  {:<9}  {:>11}  {:>11}  {:>9}  {:>9}  {:>9}  {:>13}",
            "table",
            "status",
            "rows before",
            "rows after",
            "inserted",
            "updated",
            "deleted",
            "bytes changed"
        );
        for t in &d.tables {
            let status = match t.status {
                TableStatus::Added => "added",
                TableStatus::Removed => "removed",
                TableStatus::Changed => "changed",
                TableStatus::Unchanged => "unchanged",
            };
            println!(
                "{:<32}  {:<9}  {:>11}  {:>11}  {:>9}  {:>9}  {:>9}  {:>13}",
                t.table,
                status,
                rows(t.rows_before),
                rows(t.rows_after),
                rows(t.rows_inserted),
                rows(t.rows_updated),
                rows(t.rows_deleted),
                human_bytes(t.bytes_changed)
            );
            for c in &t.schema_changes {
                let def = match (&c.before, &c.after) {
                    (Some(b), Some(a)) => format!("{b} -> {a}"),
                    (b, a) => a.clone().or(b.clone()).unwrap_or_default(),
                };
                println!("    {} {} {}: {def}", c.kind, c.name, c.change);
            }
            if let Some(n) = &t.note {
                println!("    note: {n}");
            }
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
