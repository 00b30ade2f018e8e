//! `dumpvault forget`: parse the policy, plan, print per group ([`super::forget_out`]), delete
//! (then maybe prune).

use super::forget_out::{write_text, ForgetJson};
use super::prune::PruneFlags;
use super::{Ctx, FilterArgs};
use anyhow::{Context, Result};
use dumpvault::commands::forget::{self, ForgetOptions};
use dumpvault::commands::{prune, snapshots};
use dumpvault::retention::{parse_duration, CalendarDuration, GroupBy, Policy};
use dumpvault::Error;
use std::io::Write;

/// Arguments of `forget`.
#[derive(clap::Args)]
pub struct ForgetArgs {
    /// Snapshots to forget (ids, unique prefixes or `latest`), instead of a policy.
    snapshots: Vec<String>,
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N")]
    keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have snapshots.
    #[arg(long, value_name = "N")]
    keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days that have snapshots.
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have snapshots.
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have snapshots.
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have snapshots.
    #[arg(long, value_name = "N")]
    keep_yearly: Option<u32>,
    /// Keep every snapshot within DURATION (e.g. `2d12h`; y, m = months, w, d, h) of the newest.
    #[arg(long, value_name = "DURATION")]
    keep_within: Option<String>,
    /// Keep the newest snapshot of every hour within DURATION of the newest snapshot.
    #[arg(long, value_name = "DURATION")]
    keep_within_hourly: Option<String>,
    /// Keep the newest snapshot of every day within DURATION of the newest snapshot.
    #[arg(long, value_name = "DURATION")]
    keep_within_daily: Option<String>,
    /// Keep the newest snapshot of every ISO week within DURATION of the newest snapshot.
    #[arg(long, value_name = "DURATION")]
    keep_within_weekly: Option<String>,
    /// Keep the newest snapshot of every month within DURATION of the newest snapshot.
    #[arg(long, value_name = "DURATION")]
    keep_within_monthly: Option<String>,
    /// Keep the newest snapshot of every year within DURATION of the newest snapshot.
    #[arg(long, value_name = "DURATION")]
    keep_within_yearly: Option<String>,
    /// Keep snapshots with this tag (repeatable; `a,b` needs both).
    #[arg(long, value_name = "TAG")]
    keep_tag: Vec<String>,
    /// Apply the policy per group of these fields: any of host, database, tags ("" = one group).
    #[arg(long, default_value = "host,database")]
    group_by: String,
    #[command(flatten)]
    filter: FilterArgs,
    /// Time zone of the calendar buckets (IANA name; default: the system's, or `TZ`).
    #[arg(long, value_name = "ZONE")]
    time_zone: Option<String>,
    /// With no --keep-* option: remove every selected snapshot.
    #[arg(long)]
    unsafe_allow_remove_all: bool,
    /// Only print what would be kept and removed, and why.
    #[arg(short = 'n', long)]
    dry_run: bool,
    /// Run `prune` afterwards.
    #[arg(long, conflicts_with = "dry_run")]
    prune: bool,
    #[command(flatten)]
    prune_flags: PruneFlags,
}

fn duration(flag: &str, v: &Option<String>) -> Result<Option<CalendarDuration>> {
    v.as_deref()
        .map(|s| parse_duration(s).map_err(|e| Error::Invalid(format!("--{flag}: {e}")).into()))
        .transpose()
}

impl ForgetArgs {
    fn policy(&self) -> Result<Policy> {
        Ok(Policy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within: duration("keep-within", &self.keep_within)?,
            keep_within_hourly: duration("keep-within-hourly", &self.keep_within_hourly)?,
            keep_within_daily: duration("keep-within-daily", &self.keep_within_daily)?,
            keep_within_weekly: duration("keep-within-weekly", &self.keep_within_weekly)?,
            keep_within_monthly: duration("keep-within-monthly", &self.keep_within_monthly)?,
            keep_within_yearly: duration("keep-within-yearly", &self.keep_within_yearly)?,
            keep_tags: self.keep_tag.clone(),
        })
    }
}

/// Runs `forget`.
pub fn run(ctx: &Ctx, a: ForgetArgs) -> Result<i32> {
    let policy = a.policy()?;
    let prune_opts = a.prune_flags.options(false)?;
    let group_by = GroupBy::parse(&a.group_by).map_err(|e| Error::Invalid(e.to_string()))?;
    let tz = match &a.time_zone {
        Some(z) => jiff::tz::TimeZone::get(z).map_err(|_| {
            Error::Invalid(format!(
                "--time-zone {z:?} is not a known IANA time zone (e.g. Europe/Berlin, UTC)"
            ))
        })?,
        None => jiff::tz::TimeZone::system(),
    };
    if !a.snapshots.is_empty() && (!policy.is_empty() || a.unsafe_allow_remove_all) {
        return Err(Error::Invalid(
            "give either snapshot ids or a --keep-* policy, not both".into(),
        )
        .into());
    }
    let repo = ctx.open()?;
    // A policy plans only the snapshots the filter selects, so only those are listed (with
    // `--database`, that database's catalogue part); ids are resolved among all.
    let filter = if a.snapshots.is_empty() {
        a.filter.filter()
    } else {
        Default::default()
    };
    let all = snapshots::list(&repo, &filter)?;
    let plan = if a.snapshots.is_empty() {
        let opts = ForgetOptions {
            policy,
            group_by,
            filter,
            tz,
            allow_remove_all: a.unsafe_allow_remove_all,
        };
        forget::plan(&all, &opts)?
    } else {
        forget::plan_ids(&all, &forget::resolve(&repo, &a.snapshots)?)
    };
    let removed = if a.dry_run {
        Vec::new()
    } else {
        forget::execute(&repo, &plan).context("removing snapshots")?
    };
    if !ctx.json {
        let mut out = super::listing::stdout();
        write_text(&mut out, &plan, a.dry_run, a.prune)?;
        out.flush()?;
    }
    let pruned = if a.prune {
        let bar = super::output::Bar::new(ctx.progress, None);
        Some(prune::run(&repo, &prune_opts, &bar)?)
    } else {
        None
    };
    if ctx.json {
        let doc = ForgetJson {
            dry_run: a.dry_run,
            plan: &plan,
            removed: &removed,
            prune: pruned.as_ref(),
        };
        let mut out = super::listing::stdout();
        doc.write(&mut out)?;
        out.flush()?;
    } else if let Some(p) = &pruned {
        super::prune::print(p, prune_opts.settings.grace_secs);
    }
    super::listing::leave_to_exit((all, plan));
    Ok(0)
}
