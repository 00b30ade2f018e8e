//! `repair config`: write a lost `config` again from a key file and the data.
//!
//! The master key (encryption key, blob-id key, chunker seed) is in every key file, so a
//! password that opens one recovers it. The config's other fields are recorded nowhere else:
//!
//! - chunker sizes: given, or the known defaults (32/128/512 KiB since 2026-12-07, 16/64/256
//!   KiB since delta blobs, 4/16/64 KiB before) tried against the chunk sizes the snapshots record: candidates whose `max_size`
//!   some chunk exceeds are ruled out, and of the rest the one whose `avg_size` is nearest the
//!   median chunk (on a log scale) wins. No chunk sizes to learn from: the current defaults.
//! - pack size: given, or the largest pack's size rounded down to whole MiB (a pack is closed
//!   once it reaches the target), or 16 MiB when no pack reaches 1 MiB.
//! - compression level: given, or 3 (the default).
//! - repository id: a new random one.
//! - config version: 1, under which the listing of `snapshots/` decides which snapshots exist
//!   (`repo-format.md` section 17). Whether the lost config was version 2 (the catalogue
//!   decides) is recorded nowhere; version 1 hides no snapshot either way (tombstones are still
//!   honoured), where version 2 would hide the manifests no catalogue entry lists.
//!
//! A wrong guess never makes data unreadable: every blob records how it is stored. It only
//! costs deduplication against the old snapshots (other chunk boundaries) or changes the size
//! of new packs.

use crate::backend::Backend;
use crate::commands::check::load_index_lenient;
use crate::error::{Error, Result};
use crate::format::config::{ChunkerParams, Config};
use crate::id::Id;
use crate::pack::reader::read_blob;
use crate::repository::{FileKind, Repository, CONFIG_PATH};
use crate::stream::decode_list;
use serde::Serialize;
use std::collections::HashSet;

/// Level-0 chunk sizes sampled at most (the newest snapshots first).
const MAX_SAMPLES: usize = 200_000;

/// The chunker parameters of repositories created before delta blobs (format version 1).
pub const V1_CHUNKER: ChunkerParams = ChunkerParams {
    min_size: 4 * 1024,
    avg_size: 16 * 1024,
    max_size: 64 * 1024,
    normalization: 1,
};

/// Settings given on the command line instead of being recovered.
#[derive(Debug, Clone, Default)]
pub struct RepairConfigOptions {
    /// Chunker parameters, when known.
    pub chunker: Option<ChunkerParams>,
    /// zstd level for new blobs.
    pub compression_level: Option<i32>,
    /// Target pack size, bytes.
    pub pack_size: Option<u64>,
}

/// What `repair config` wrote, and where each value came from.
#[derive(Debug, Clone, Serialize)]
pub struct RepairConfigOutcome {
    /// The config written.
    pub config: Config,
    /// Where the chunker parameters come from.
    pub chunker_source: String,
    /// Where the pack size comes from.
    pub pack_size_source: String,
    /// Where the compression level comes from.
    pub compression_source: String,
    /// What could not be recovered.
    pub lost: Vec<String>,
}

/// Writes a new `config` for the repository at `backend`, whose config is missing, opening a
/// key file with `password`. Durable when it returns; returns the opened repository.
///
/// Errors: [`Error::Invalid`] when a config file exists (it is never replaced: move a damaged
/// one aside first), when there are no key files (the master key is lost with them), or when
/// the recorded chunk sizes fit no known chunker parameters (give them); [`Error::WrongPassword`]
/// when no key file opens; storage errors.
pub fn repair_config(
    backend: Backend,
    password: &[u8],
    opts: &RepairConfigOptions,
) -> Result<(Repository, RepairConfigOutcome)> {
    let location = backend.location().to_string();
    if backend.size(CONFIG_PATH)?.is_some() {
        return Err(Error::Invalid(format!(
            "{location} has a config file; `repair config` only writes a missing one and never \
             replaces a file. If `dumpvault check` says the config is damaged, move it aside \
             (e.g. rename it to config.damaged), then run this again"
        )));
    }
    let provisional = Config {
        // See the module documentation: the version that hides nothing.
        version: 1,
        id: Id::random().to_hex(),
        chunker: ChunkerParams::default(),
        compression_level: opts.compression_level.unwrap_or(3),
        pack_size: opts.pack_size.unwrap_or(16 << 20),
    };
    let mut repo = match Repository::open_without_config(backend, password, provisional) {
        Err(Error::NotARepository { .. }) => {
            return Err(Error::Invalid(format!(
                "{location} has no key files: the master key that encrypts every object is lost \
                 with them, so the config cannot be rebuilt and the data cannot be read; \
                 restore the keys/ folder from a copy of the repository"
            )))
        }
        r => r?,
    };
    let mut config = repo.config().clone();
    let mut lost = vec![
        format!(
            "the repository id (the new one is {}; `copy` links that recorded the old id see a \
             different repository)",
            &config.id[..8]
        ),
        "whether the catalogue decided which snapshots exist (config version 2): version 1 is \
         written, under which the listing of snapshots/ decides, so no snapshot is hidden"
            .into(),
    ];
    let chunker_source = match opts.chunker {
        Some(c) => {
            config.chunker = c;
            "given on the command line".to_string()
        }
        None => {
            let sizes = chunk_sizes(&repo)?;
            let (c, why) = choose_chunker(&sizes)?;
            config.chunker = c;
            why
        }
    };
    let pack_size_source = match opts.pack_size {
        Some(_) => "given on the command line".to_string(),
        None => {
            let largest = repo
                .list(FileKind::Pack)?
                .iter()
                .map(|p| p.1)
                .max()
                .unwrap_or(0);
            if largest >= 1 << 20 {
                config.pack_size = (largest >> 20) << 20;
                format!("the largest pack ({largest} bytes), rounded down to whole MiB")
            } else {
                lost.push("the pack size (no full pack to learn it from)".into());
                "the default (no pack reaches 1 MiB)".to_string()
            }
        }
    };
    let compression_source = match opts.compression_level {
        Some(_) => "given on the command line".to_string(),
        None => {
            lost.push(
                "the compression level for new blobs (stored blobs keep theirs: each records \
                 how it is stored)"
                    .into(),
            );
            "the default".to_string()
        }
    };
    repo = repo.with_config(config.clone());
    repo.write_config()?;
    let backend = repo.backend().clone();
    let repo = Repository::open(backend, password)?;
    Ok((
        repo,
        RepairConfigOutcome {
            config,
            chunker_source,
            pack_size_source,
            compression_source,
            lost,
        },
    ))
}

/// Plain sizes of the level-0 chunks of the snapshots, newest first, without the last chunk of
/// each stream (which may be short); snapshots or lists that do not read are skipped.
fn chunk_sizes(repo: &Repository) -> Result<Vec<u64>> {
    let loaded = load_index_lenient(repo)?;
    let index = &loaded.index;
    let mut snaps: Vec<(String, Vec<[u8; 32]>)> = Vec::new();
    for (id, _) in repo.list(FileKind::Snapshot)? {
        if let Ok(m) = repo.load_manifest(&id) {
            snaps.push((m.time.clone(), m.streams.iter().map(|s| s.root).collect()));
        }
    }
    snaps.sort_by(|a, b| b.0.cmp(&a.0));
    let mut sizes = Vec::new();
    let mut seen: HashSet<Id> = HashSet::new();
    for (_, roots) in snaps {
        for root in roots {
            let mut stream = Vec::new();
            let mut stack = vec![Id(root)];
            while let Some(lid) = stack.pop() {
                if !seen.insert(lid) {
                    continue;
                }
                let Ok(list) = read_blob(repo, index, &lid).and_then(|p| decode_list(&lid, &p))
                else {
                    continue;
                };
                if list.level > 0 {
                    stack.extend(list.entries.iter().rev().map(|e| Id(e.id)));
                } else {
                    stream.extend(list.entries.iter().map(|e| e.size));
                }
            }
            stream.pop();
            sizes.extend(stream);
            if sizes.len() >= MAX_SAMPLES {
                return Ok(sizes);
            }
        }
    }
    Ok(sizes)
}

/// Picks the chunker parameters `sizes` (level-0 chunk sizes) fit; see the module
/// documentation.
///
/// Errors: [`Error::Invalid`] when a chunk exceeds every candidate's `max_size`.
pub fn choose_chunker(sizes: &[u64]) -> Result<(ChunkerParams, String)> {
    let candidates = [
        (ChunkerParams::default(), "the current default"),
        (ChunkerParams::DELTA_2026, "the default until 2026-12-07"),
        (V1_CHUNKER, "the version 1 default"),
    ];
    if sizes.is_empty() {
        return Ok((
            candidates[0].0,
            "the current default (no snapshot records chunk sizes to learn from)".into(),
        ));
    }
    let largest = *sizes.iter().max().expect("not empty");
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2].max(1) as f64;
    let best = candidates
        .iter()
        .filter(|(c, _)| largest <= c.max_size as u64)
        .min_by(|a, b| {
            let d = |c: &ChunkerParams| (median / c.avg_size as f64).ln().abs();
            d(&a.0).total_cmp(&d(&b.0))
        });
    match best {
        Some((c, name)) => Ok((
            *c,
            format!(
                "{name}, which fits the {} chunks sampled (largest {largest} bytes, median {} \
                 bytes)",
                sizes.len(),
                median as u64
            ),
        )),
        None => Err(Error::Invalid(format!(
            "the snapshots hold chunks of up to {largest} bytes, more than any known chunker \
             parameters allow; give them with --chunker-min, --chunker-avg and --chunker-max"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_pick_their_parameters() {
        // Chunks above 64 KiB rule out the version 1 parameters.
        let new: Vec<u64> = (0..100).map(|i| 20_000 + i * 2500).collect();
        assert_eq!(choose_chunker(&new).unwrap().0, ChunkerParams::default());
        // A median near 64 KiB: the default until 2026-12-07; a chunk over 256 KiB rules it out.
        let mut delta: Vec<u64> = (0..100).map(|i| 16_384 + i * 1000).collect();
        assert_eq!(choose_chunker(&delta).unwrap().0, ChunkerParams::DELTA_2026);
        delta.push(300_000);
        assert_eq!(choose_chunker(&delta).unwrap().0, ChunkerParams::default());
        // All at most 64 KiB with a median near 16 KiB: version 1.
        let old: Vec<u64> = (0..100).map(|i| 4096 + i * 400).collect();
        assert_eq!(choose_chunker(&old).unwrap().0, V1_CHUNKER);
        assert_eq!(choose_chunker(&[]).unwrap().0, ChunkerParams::default());
        let e = choose_chunker(&[1 << 20]).unwrap_err().to_string();
        assert!(e.contains("--chunker-min"), "{e}");
    }
}
