//! `dumpvault prune` and `dumpvault unlock`: parse, one library call, print the summary.

use super::output::human_bytes;
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::prune::{self, plan::Settings, PruneOptions, PruneOutcome};
use dumpvault::Error;

/// Prune settings, shared by `prune` and `forget --prune`.
#[derive(clap::Args)]
pub struct PruneFlags {
    /// Repack packs whose unused share exceeds this: a percentage such as `5%`, or `unlimited`.
    #[arg(long, default_value = "5%", value_name = "PERCENT")]
    max_unused: String,
    /// Delete packs only once marked obsolete longer than this (e.g. `12h`, `90m`, `30s`). It
    /// must be longer than any snapshot runs.
    #[arg(long, default_value = "12h", value_name = "DURATION")]
    grace: String,
    /// Delete unused data now, without the grace period: only for a repository that nothing
    /// else writes to while prune runs.
    #[arg(long, conflicts_with = "grace")]
    instant_delete: bool,
}

/// Arguments of `prune`.
#[derive(clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    flags: PruneFlags,
    /// Only print what would be deleted, repacked and kept.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

/// Arguments of `unlock`.
#[derive(clap::Args)]
pub struct UnlockArgs {
    /// Remove every lock, not only stale ones (only when no dumpvault process uses the
    /// repository).
    #[arg(long)]
    remove_all: bool,
}

fn invalid(msg: String) -> anyhow::Error {
    Error::Invalid(msg).into()
}

/// Parses `--max-unused`: `unlimited`, or a percentage from 0 to 100 with an optional `%`.
fn parse_max_unused(s: &str) -> Result<Option<f64>> {
    if s.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let n = s.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(Some(v)),
        _ => Err(invalid(format!(
            "--max-unused {s:?} is not a percentage from 0% to 100% or `unlimited`"
        ))),
    }
}

/// Parses `--grace`: a non-negative duration such as `12h`, `1h30m`, `45s`.
fn parse_grace(s: &str) -> Result<i64> {
    match s.trim().parse::<jiff::SignedDuration>() {
        Ok(d) if !d.is_negative() => Ok(d.as_secs()),
        _ => Err(invalid(format!(
            "--grace {s:?} is not a duration such as `12h`, `1h30m` or `30s`"
        ))),
    }
}

impl PruneFlags {
    /// The library options.
    pub fn options(&self, dry_run: bool) -> Result<PruneOptions> {
        Ok(PruneOptions {
            settings: Settings {
                grace_secs: parse_grace(&self.grace)?,
                max_unused_percent: parse_max_unused(&self.max_unused)?,
                instant_delete: self.instant_delete,
            },
            dry_run,
        })
    }
}

/// Runs `prune`.
pub fn run(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    let opts = a.flags.options(a.dry_run)?;
    let repo = ctx.open()?;
    let bar = super::output::Bar::new(ctx.progress, None);
    let out = prune::run(&repo, &opts, &bar)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print(&out, opts.settings.grace_secs);
    }
    Ok(0)
}

/// Prints a prune summary as text; `grace_secs` (the run's grace period) says until when
/// marked packs are kept: a prune run after that time deletes them.
pub fn print(o: &PruneOutcome, grace_secs: i64) {
    let s = &o.stats;
    let row = |what: &str, packs: u64, bytes: u64, note: String| {
        println!(
            "  {what:<12} {packs:>6} packs {:>11}{note}",
            human_bytes(bytes)
        );
    };
    println!(
        "{} ({} snapshots, {} packs, {}):",
        if o.dry_run {
            "prune plan (dry run, nothing changed)"
        } else {
            "pruned"
        },
        o.snapshots,
        s.packs,
        human_bytes(s.bytes)
    );
    row("keep", s.keep_packs, s.keep_bytes, String::new());
    let copy = format!("  (copy {})", human_bytes(s.repack_copy_bytes));
    row("repack", s.repack_packs, s.repack_bytes, copy);
    let later = match o.instant_delete {
        true => "  (deleted now)".to_string(),
        false => {
            let until = jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(grace_secs))
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default();
            format!("  (marked; kept until {until}, then deleted by the next prune)")
        }
    };
    row("unused", s.unused_packs, s.unused_bytes, later.clone());
    row("unindexed", s.unindexed_packs, s.unindexed_bytes, later);
    row("delete now", s.delete_packs, s.delete_bytes, String::new());
    let held = match s.deferred_by_lock {
        0 => String::new(),
        n => format!("  ({n} held back by running snapshots)"),
    };
    row("waiting", s.waiting_packs, s.waiting_bytes, held);
    if o.new_packs > 0 {
        println!(
            "  wrote {} new packs ({})",
            o.new_packs,
            human_bytes(o.new_bytes)
        );
    }
    if s.resurrected_packs > 0 {
        println!(
            "  {} obsolete packs are used by a snapshot again and were kept",
            s.resurrected_packs
        );
    }
    if s.missing_packs > 0 {
        eprintln!(
            "warning: {} packs listed in the index are missing; run `dumpvault check`",
            s.missing_packs
        );
    }
}

/// Runs `unlock`.
pub fn unlock(ctx: &Ctx, a: UnlockArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let removed = dumpvault::repository::lock::remove(&repo, a.remove_all)?;
    if ctx.json {
        let v: Vec<_> = (removed.iter())
            .map(|(id, l)| serde_json::json!({"id": id.to_hex(), "lock": l}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for (id, l) in &removed {
            match l {
                Some(l) => println!(
                    "removed lock {} (`{}` on {}, pid {})",
                    id.short(),
                    l.command,
                    l.host,
                    l.pid
                ),
                None => println!("removed unreadable lock {}", id.short()),
            }
        }
        println!("{} lock(s) removed", removed.len());
    }
    Ok(0)
}
