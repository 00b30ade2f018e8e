//! `dumpvault repair index` (rebuild the index from the pack headers) and
//! `dumpvault repair snapshots [--forget-broken]` (list, then remove, snapshots whose data is
//! gone).

use super::output::Bar;
use super::Ctx;
use anyhow::Result;
use dumpvault::commands::repair::{self, RepairIndexOptions};
use dumpvault::error::EXIT_DAMAGED;

/// Arguments of `repair`.
#[derive(clap::Args)]
pub struct RepairArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Rebuild the index from the packs' headers (after index files were lost or damaged).
    Index {
        /// Read every pack in full and index only blobs that verify (slow).
        #[arg(long)]
        read_all_packs: bool,
    },
    /// List the snapshots that can no longer be restored in full; remove them with
    /// --forget-broken.
    Snapshots {
        /// Delete the manifests of the broken snapshots (their data goes with `prune`).
        #[arg(long)]
        forget_broken: bool,
        /// Also read every pack in full to find damaged data (slow).
        #[arg(long)]
        read_data: bool,
    },
}

/// Runs `repair`.
pub fn run(ctx: &Ctx, a: RepairArgs) -> Result<i32> {
    let repo = ctx.open()?;
    match a.what {
        What::Index { read_all_packs } => {
            let bar = Bar::new(ctx.progress && read_all_packs, Some(0));
            let o = repair::repair_index(&repo, &RepairIndexOptions { read_all_packs }, &bar)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                for d in &o.dropped {
                    eprintln!("warning: left out {}: {}", d.object, d.detail);
                }
                if o.bad_blobs > 0 {
                    eprintln!(
                        "warning: left out {} blob(s) that do not verify",
                        o.bad_blobs
                    );
                }
                println!(
                    "rebuilt the index: {} packs, {} blobs ({} packs from old index entries) in {} \
                     new index file(s); removed {} old index file(s)",
                    o.packs,
                    o.blobs,
                    o.from_old_index,
                    o.written.len(),
                    o.removed.len()
                );
            }
            Ok(0)
        }
        What::Snapshots {
            forget_broken,
            read_data,
        } => {
            let bar = Bar::new(ctx.progress && read_data, Some(0));
            let o = repair::repair_snapshots(&repo, forget_broken, read_data, &bar)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                for b in &o.broken {
                    println!("{}  broken by {}", b.short_id, b.causes.join(", "));
                }
                if o.broken.is_empty() {
                    println!("every snapshot can be restored in full");
                } else if o.removed {
                    println!(
                        "removed {} broken snapshot(s); `dumpvault prune` frees their space",
                        o.broken.len()
                    );
                } else {
                    println!(
                        "{} broken snapshot(s); remove them with `dumpvault repair snapshots --forget-broken`",
                        o.broken.len()
                    );
                }
            }
            Ok(if o.broken.is_empty() || o.removed {
                0
            } else {
                EXIT_DAMAGED
            })
        }
    }
}
