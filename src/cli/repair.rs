//! `dumpvault repair index` (rebuild the index from the pack headers),
//! `dumpvault repair packs [PACK…]` (salvage the intact blobs of damaged packs and retire them),
//! `dumpvault repair snapshots [--forget-broken]` (list, then remove, snapshots whose data is
//! gone) and `dumpvault repair config` (write a lost config again from a key file).

use super::output::Bar;
use super::Ctx;
use anyhow::Result;
use dumpvault::backend::Backend;
use dumpvault::commands::repair::{
    self, RepairConfigOptions, RepairIndexOptions, RepairPacksOptions,
};
use dumpvault::error::EXIT_DAMAGED;
use dumpvault::format::config::ChunkerParams;
use dumpvault::repository::Repository;

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
    /// Move the intact blobs of damaged, truncated or missing packs into new packs and drop
    /// the damaged blobs from the index, so the next snapshot stores them again. The damaged
    /// packs are marked obsolete (prune deletes them later), never deleted here.
    Packs {
        /// Pack ids (or unique prefixes of 8+ hex digits) as `check --read-data` names them;
        /// none: read every indexed pack in full and repair those that are damaged.
        packs: Vec<String>,
    },
    /// Write a lost `config` again: the master key comes from a key file (your password), the
    /// chunker parameters from the chunk sizes the snapshots record (or the options below).
    Config {
        /// Smallest chunk in bytes (with --chunker-avg and --chunker-max; default: recovered).
        #[arg(long, requires_all = ["chunker_avg", "chunker_max"])]
        chunker_min: Option<u32>,
        /// Average chunk in bytes.
        #[arg(long, requires_all = ["chunker_min", "chunker_max"])]
        chunker_avg: Option<u32>,
        /// Largest chunk in bytes.
        #[arg(long, requires_all = ["chunker_min", "chunker_avg"])]
        chunker_max: Option<u32>,
        /// Target pack size in MiB (default: recovered from the largest pack).
        #[arg(long)]
        pack_size_mib: Option<u64>,
        /// zstd level for new blobs (default 3; not recorded anywhere but the lost config).
        #[arg(long)]
        compression_level: Option<i32>,
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
    if let What::Config {
        chunker_min,
        chunker_avg,
        chunker_max,
        pack_size_mib,
        compression_level,
    } = a.what
    {
        let opts = RepairConfigOptions {
            chunker: chunker_params(chunker_min, chunker_avg, chunker_max)?,
            compression_level,
            pack_size: pack_size_mib.map(|m| m * 1024 * 1024),
        };
        return config(ctx, &opts);
    }
    let repo = ctx.open()?;
    match a.what {
        What::Config { .. } => Ok(0),
        What::Packs { packs } => self::packs(ctx, &repo, packs),
        What::Index { read_all_packs } => index(ctx, &repo, read_all_packs),
        What::Snapshots {
            forget_broken,
            read_data,
        } => snapshots(ctx, &repo, forget_broken, read_data),
    }
}

/// The chunker parameters `--chunker-min/avg/max` give (all three or none: clap checks).
///
/// Errors: a usage error unless min <= avg <= max, all even and within FastCDC (2020)'s
/// limits (min 64 B..=1 MiB, avg 256 B..=4 MiB, max 1 KiB..=16 MiB).
pub(crate) fn chunker_params(
    min: Option<u32>,
    avg: Option<u32>,
    max: Option<u32>,
) -> Result<Option<ChunkerParams>> {
    Ok(match (min, avg, max) {
        (Some(min_size), Some(avg_size), Some(max_size)) => {
            let in_range = (64..=1 << 20).contains(&min_size)
                && (256..=4 << 20).contains(&avg_size)
                && (1024..=16 << 20).contains(&max_size);
            let even = [min_size, avg_size, max_size].iter().all(|v| v % 2 == 0);
            if !(min_size <= avg_size && avg_size <= max_size && in_range && even) {
                return Err(dumpvault::Error::usage(format!(
                    "--chunker-min {min_size}, --chunker-avg {avg_size}, --chunker-max \
                     {max_size}: need even sizes with min <= avg <= max, min 64 B to 1 MiB, \
                     avg 256 B to 4 MiB, max 1 KiB to 16 MiB (FastCDC's limits)"
                ))
                .into());
            }
            Some(ChunkerParams {
                min_size,
                avg_size,
                max_size,
                normalization: 1,
            })
        }
        _ => None,
    })
}

/// `repair config`: writes the config again and prints what it holds.
fn config(ctx: &Ctx, opts: &RepairConfigOptions) -> Result<i32> {
    let backend = Backend::open(ctx.location()?)?;
    let pw = ctx.password(false)?;
    let (repo, o) = repair::repair_config(backend, pw.as_bytes(), opts)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        let c = &o.config;
        println!(
            "wrote a new config for {}: repository id {}",
            repo.backend().location(),
            &c.id[..8]
        );
        println!(
            "  chunker {}/{}/{} bytes: {}",
            c.chunker.min_size, c.chunker.avg_size, c.chunker.max_size, o.chunker_source
        );
        println!("  pack size {} bytes: {}", c.pack_size, o.pack_size_source);
        println!(
            "  compression level {}: {}",
            c.compression_level, o.compression_source
        );
        for l in &o.lost {
            println!("  lost: {l}");
        }
        println!("run `dumpvault check --read-data` to confirm every snapshot reads");
    }
    Ok(0)
}

/// `repair packs [PACK…]`.
fn packs(ctx: &Ctx, repo: &Repository, packs: Vec<String>) -> Result<i32> {
    let bar = Bar::new(ctx.progress, Some(0));
    let o = repair::repair_packs(repo, &RepairPacksOptions { packs }, &bar)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else if o.repaired.is_empty() {
        println!(
            "read {} pack(s): none is damaged; nothing changed",
            o.examined
        );
    } else {
        for r in &o.repaired {
            println!(
                "{}: {}; salvaged {} blob(s), lost {}",
                r.object,
                r.reason,
                r.salvaged,
                r.lost.len()
            );
        }
        println!(
            "retired {} damaged pack(s) (marked obsolete; prune deletes them), wrote {} \
             new pack(s); {} blob(s) are in no pack any more",
            o.repaired.len(),
            o.new_packs.len(),
            o.dropped_blobs.len()
        );
        if !o.dropped_blobs.is_empty() {
            println!(
                "snapshots that need them stay broken until a new snapshot of the same \
                 data stores them again; `dumpvault repair snapshots` lists them"
            );
        }
    }
    Ok(0)
}

/// `repair index [--read-all-packs]`.
fn index(ctx: &Ctx, repo: &Repository, read_all_packs: bool) -> Result<i32> {
    let bar = Bar::new(ctx.progress && read_all_packs, Some(0));
    let o = repair::repair_index(repo, &RepairIndexOptions { read_all_packs }, &bar)?;
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

/// `repair snapshots [--forget-broken] [--read-data]`: exit [`EXIT_DAMAGED`] while broken
/// snapshots remain.
fn snapshots(ctx: &Ctx, repo: &Repository, forget_broken: bool, read_data: bool) -> Result<i32> {
    let bar = Bar::new(ctx.progress && read_data, Some(0));
    let o = repair::repair_snapshots(repo, forget_broken, read_data, &bar)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        for b in &o.broken {
            println!("{}  broken by {}", b.short_id, b.causes.join(", "));
        }
        if o.broken.is_empty() && o.check.read_data.is_none() {
            println!(
                "every chunk of every snapshot is in the index and in no pack known to \
                 be damaged (packs were not read: --read-data reads them)"
            );
        } else if o.broken.is_empty() {
            println!("every snapshot can be restored in full (every pack was read)");
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
