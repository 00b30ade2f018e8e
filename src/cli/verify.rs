//! `dumpvault verify <snapshot|latest>`: read a snapshot end to end as a restore would (every
//! chunk verified, the stream's BLAKE3 matched) without writing anything.

use super::output::{human_bytes, Bar};
use super::{Ctx, FilterArgs};
use anyhow::Result;
use dumpvault::commands::{self, check::load_index_lenient};
use dumpvault::error::{EXIT_DAMAGED, EXIT_FAILURE};

/// Arguments of `verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Snapshot id (or unique prefix), or `latest`.
    snapshot: String,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `verify`: exit 0 when every stream verifies, 3 when data is damaged or missing, 1 when
/// the verification could not complete for another reason.
pub fn run(ctx: &Ctx, a: VerifyArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let entry = commands::snapshots::find(&repo, &a.snapshot, &a.filter.filter())?;
    let loaded = load_index_lenient(&repo)?;
    for (_, e) in &loaded.damaged {
        eprintln!("warning: skipped {e}");
    }
    let total = entry.manifest.streams.iter().map(|s| s.size).sum();
    let bar = Bar::new(ctx.progress, Some(total));
    let o = commands::verify::run(&repo, &loaded.index, &entry, &bar);
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        for s in &o.streams {
            match &s.error {
                None => println!(
                    "PASS  snapshot {} stream {}: {} in {} chunks read, BLAKE3 matches",
                    o.short_id,
                    s.name,
                    human_bytes(s.size),
                    s.chunks_read
                ),
                Some(e) => println!("FAIL  snapshot {} stream {}: {e}", o.short_id, s.name),
            }
        }
    }
    Ok(if o.ok {
        0
    } else if o.streams.iter().any(|s| s.damaged) {
        EXIT_DAMAGED
    } else {
        EXIT_FAILURE
    })
}
