//! `dumpvault migrate catalogue`: upgrade a repository to the current config version (4): the
//! snapshot catalogue decides which snapshots exist, in per-database parts, and delta blobs
//! may be splices.

use super::Ctx;
use anyhow::Result;
use dumpvault::commands::migrate;

/// What to migrate.
#[derive(clap::Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Upgrade to config version 4: the catalogue decides which snapshots exist (readers stop
    /// listing every snapshot file) and changed chunks may be stored as splices. Needs every
    /// other dumpvault process to be done; older dumpvault versions cannot open the
    /// repository afterwards.
    Catalogue,
}

/// Runs `migrate`.
pub fn run(ctx: &Ctx, a: MigrateArgs) -> Result<i32> {
    let What::Catalogue = a.what;
    let repo = ctx.open()?;
    let (_, out) = migrate::catalogue(&repo)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if out.from_version == out.to_version {
        println!(
            "config version {}: the catalogue already decides which snapshots exist",
            out.to_version
        );
    } else {
        println!(
            "config version {} -> {}: {} snapshot(s) catalogued; the catalogue now decides which \
             snapshots exist",
            out.from_version, out.to_version, out.snapshots
        );
    }
    for id in &out.damaged {
        eprintln!(
            "dumpvault: warning: snapshots/{id} does not open and is no longer listed \
             (`dumpvault check` names it, `dumpvault repair snapshots --forget-broken` removes it)"
        );
    }
    Ok(0)
}
