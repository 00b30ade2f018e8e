//! `cargo xtask bench-index`: memory and load time of the in-memory index (issue 16: at most
//! 32 bytes per blob). Writes a local repository whose index files list `--blobs` synthetic
//! blobs (hourly-sized files of 5000 blobs in packs of 250, `--delta-percent` of them deltas),
//! then loads it in fresh child processes, `--runs` times, and prints per run: the load time
//! (wall and CPU), the index's heap bytes (computed from its tables' capacities) and the
//! process's peak RSS. Each run loads it twice: with `dumpvault::index::Index::load`, and as
//! the index did before issue 16 (every file decoded first, then one hash map of whole ids,
//! [`Reference`]), for comparison. After the memory figures, each run times lookups of every
//! blob (`get`, and `contains`, which follows a delta's chain) and of as many unknown ids, in
//! CPU time per lookup, the least of [`LOOKUP_ROUNDS`] rounds.

use super::tools::PASSWORD;
use anyhow::{bail, Context, Result};
use dumpvault::backend::Backend;
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::format::index::{IndexFile, IndexPack};
use dumpvault::format::pack::{BlobKind, PackBlob};
use dumpvault::id::Id;
use dumpvault::index::reference::{self, Reference};
use dumpvault::index::{Index, Location};
use dumpvault::repository::{InitOptions, Repository};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const USAGE: &str = "usage: cargo xtask bench-index [--blobs N] [--delta-percent P] [--runs R]";

/// Runs the bench (or, with `--load DIR`, one measured load in this process).
pub fn run(args: &[String]) -> Result<()> {
    let (mut blobs, mut delta_percent, mut runs) = (1_000_000usize, 10usize, 3usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--blobs" => blobs = val()?.parse()?,
            "--delta-percent" => delta_percent = val()?.parse()?,
            "--runs" => runs = val()?.parse()?,
            "--load" => return load(Path::new(val()?), false),
            "--load-hashmap" => return load(Path::new(val()?), true),
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    let dir = crate::target_dir().join(format!("bench-index/{blobs}-{delta_percent}"));
    if !dir.join("config").exists() {
        let t = Instant::now();
        write_repository(&dir, blobs, delta_percent)?;
        eprintln!(
            "bench-index: wrote {} in {:.1} s",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
    }
    println!("{blobs} blobs, {delta_percent}% deltas, index files of 5000 blobs:");
    for _ in 0..runs {
        for mode in ["--load", "--load-hashmap"] {
            let exe = std::env::current_exe()?;
            let out = Command::new(exe)
                .args(["bench-index", mode])
                .arg(&dir)
                .output()?;
            if !out.status.success() {
                bail!("load failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    Ok(())
}

/// Creates a repository at `dir` holding only index files (no packs: loading the index
/// does not read them).
fn write_repository(dir: &Path, blobs: usize, delta_percent: usize) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let opts = InitOptions {
        kdf: KdfParams::with_cost(8192, 1, 1),
        ..Default::default()
    };
    let repo = Repository::init(
        Backend::open(&dir.to_string_lossy())?,
        PASSWORD.as_bytes(),
        opts,
    )?;
    let id = bench_id;
    let mut made = 0;
    while made < blobs {
        let mut f = IndexFile::default();
        while made < blobs && f.packs.len() < 20 {
            let mut p = IndexPack {
                id: id("pack", made),
                size: 16 << 20,
                blobs: Vec::new(),
            };
            for k in 0..250.min(blobs - made) {
                let delta = made % 100 < delta_percent;
                p.blobs.push(PackBlob {
                    kind: if delta {
                        BlobKind::Delta
                    } else {
                        BlobKind::Data
                    },
                    id: id("blob", made),
                    offset: k as u32 * 65_536,
                    length: 40_000,
                    raw_length: 65_536,
                    base: delta.then(|| id("blob", made - made % 100 + 99)),
                });
                made += 1;
            }
            f.packs.push(p);
        }
        repo.save_index_file(&f)?;
    }
    Ok(())
}

/// Rounds of lookups timed per load; the least is printed (the machine is shared).
const LOOKUP_ROUNDS: usize = 5;

/// The id the bench gives blob `n` (`what` = "blob"), pack `n` ("pack"), or an unknown id.
fn bench_id(what: &str, n: usize) -> [u8; 32] {
    *blake3::hash(format!("{what}{n}").as_bytes()).as_bytes()
}

/// One measured load of the repository at `dir` (as before issue 16 with `hashmap`), printed
/// as one line, then its lookup times as a second line.
fn load(dir: &Path, hashmap: bool) -> Result<()> {
    let repo = Repository::open(Backend::open(&dir.to_string_lossy())?, PASSWORD.as_bytes())?;
    let rss_before = status_kib("VmRSS:")?;
    let (t, cpu) = (Instant::now(), cpu_seconds());
    // Each index is measured before it is dropped.
    if hashmap {
        let index = Reference::load(&repo)?;
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let (n, d, heap) = (index.len(), index.deltas(), index.blob_heap_bytes());
        let what = "hash map (before)";
        print_load(what, (n, d, heap), (secs, cpu), rss_before)?;
        print_lookups(n, |id| index.get(id).map(|l| l.1), |id| index.contains(id));
    } else {
        let index = Index::load(&repo)?;
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let (n, d, m) = (index.len(), index.deltas(), index.memory());
        let what = "compact (after)  ";
        print_load(what, (n, d, m.blobs + m.bases), (secs, cpu), rss_before)?;
        print_lookups(n, |id| index.get(id).map(|l| l.1), |id| index.contains(id));
    }
    Ok(())
}

/// Prints one load's figures: `(blobs, deltas, heap bytes)`, `(wall, CPU seconds)`, and the
/// RSS before loading, KiB.
fn print_load(
    what: &str,
    (blobs, deltas, heap): (usize, usize, usize),
    (secs, cpu): (f64, f64),
    rss_before: u64,
) -> Result<()> {
    println!(
        "  {what}: load {secs:.3} s ({cpu:.3} s CPU); blob and base tables {:.1} MiB = {:.2} \
         B/blob ({blobs} blobs, {deltas} deltas); RSS {:.1} MiB after ({:.1} before), peak \
         {:.1} MiB",
        heap as f64 / 1048576.0,
        heap as f64 / blobs.max(1) as f64,
        status_kib("VmRSS:")? as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        status_kib("VmHWM:")? as f64 / 1024.0,
    );
    Ok(())
}

/// Times lookups of the `blobs` ids the bench wrote and of as many unknown ids, with `get`
/// and `contains`, and prints the least CPU time per lookup over [`LOOKUP_ROUNDS`] rounds, ns.
fn print_lookups(
    blobs: usize,
    get: impl Fn(&Id) -> Option<Location>,
    contains: impl Fn(&Id) -> bool,
) {
    let known: Vec<Id> = (0..blobs).map(|n| Id(bench_id("blob", n))).collect();
    let unknown: Vec<Id> = (0..blobs).map(|n| Id(bench_id("absent", n))).collect();
    let least = |f: &dyn Fn(&Id) -> u64, ids: &[Id]| {
        let mut best = f64::MAX;
        for _ in 0..LOOKUP_ROUNDS {
            let started = cpu_seconds();
            let sum: u64 = ids.iter().map(f).sum();
            std::hint::black_box(sum);
            best = best.min(cpu_seconds() - started);
        }
        best * 1e9 / ids.len().max(1) as f64
    };
    let found = |id: &Id| get(id).map_or(0, |l| u64::from(l.offset) + 1);
    let hit = |id: &Id| u64::from(contains(id));
    println!(
        "    lookups, CPU ns each (least of {LOOKUP_ROUNDS}): get known {:.0}, get unknown {:.0}, \
         contains known {:.0}, contains unknown {:.0}",
        least(&found, &known),
        least(&found, &unknown),
        least(&hit, &known),
        least(&hit, &unknown),
    );
}

/// This process's CPU time so far, seconds (0 without `/proc/self/schedstat`).
fn cpu_seconds() -> f64 {
    reference::cpu_seconds("/proc/self/schedstat")
}

/// A `/proc/self/status` figure in KiB.
fn status_kib(field: &str) -> Result<u64> {
    let s = std::fs::read_to_string("/proc/self/status")?;
    let v = s
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(v.trim().trim_end_matches("kB").trim().parse()?)
}
