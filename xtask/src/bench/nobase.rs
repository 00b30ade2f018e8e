//! Why changed chunks get no delta base (issue 16, part 1): on the second snapshot of the
//! uniform and mixed models, every new data chunk that dumpvault stored whole is re-examined with the library:
//! the base finder ([`dumpvault::delta::BaseFinder::propose`], by content then by position,
//! with the table anchors of the new snapshot's data sections) is replayed against the first
//! snapshot's chunk list to get the candidates it proposed, and the chunk's "content base" is
//! found by content: the previous dump's chunk holding the first line of the new chunk that
//! the previous dump has unchanged. Each whole chunk falls in one class:
//! - `content_base_proposed`: the content base was among the candidates, yet no patch paid;
//! - `stale_shift_pays`: the candidates missed the content base (the position shift was off by
//!   more than a chunk) and a patch against the content base would be within the margin;
//! - `stale_shift_no_gain`: missed, and a patch against the content base would not pay either;
//! - `no_shared_line`: no line of the chunk is in the previous dump (new rows only).
//!
//! Reads every whole chunk and its content base: a diagnostic, run on two models only.

use super::tools::{Tool, PASSWORD};
use anyhow::{Context, Result};
use dumpvault::backend::Backend;
use dumpvault::blob::codec::encode_chunk;
use dumpvault::delta::{choose_base, BaseFinder};
use dumpvault::format::pack::BlobKind;
use dumpvault::id::Id;
use dumpvault::index::Index;
use dumpvault::repository::Repository;
use dumpvault::stream::{Node, Walk};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// (chunk id, stream offset, length) of every data chunk of the stream under `root`.
fn chunks(repo: &Repository, index: &Index, root: Id) -> Result<Vec<(Id, u64, u64)>> {
    let mut out = Vec::new();
    for n in Walk::of(repo, index, root) {
        if let Node::Chunk(c) = n.map_err(|e| anyhow::anyhow!("{}", e.error))? {
            out.push((c.id, c.offset, c.size));
        }
    }
    Ok(out)
}

/// Sorted (hash of line, offset) of every line of `text`.
fn line_offsets(text: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(text.len() / 64);
    let mut at = 0usize;
    for line in text.split_inclusive(|b| *b == b'\n') {
        out.push((hash(line), at as u64));
        at += line.len();
    }
    out.sort_unstable();
    out
}

fn hash(line: &[u8]) -> u64 {
    let h = blake3::hash(line);
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// The offset in the previous dump of the first full line of `new[start..end]` found there
/// unchanged, and that line's offset in the new dump.
fn first_shared(new: &[u8], start: usize, end: usize, old: &[(u64, u64)]) -> Option<(u64, u64)> {
    let first = new[start..end].iter().position(|b| *b == b'\n')? + start + 1;
    let mut at = first;
    for line in new[first..end].split_inclusive(|b| *b == b'\n') {
        if !line.ends_with(b"\n") || line.len() < 16 {
            at += line.len();
            continue;
        }
        let h = hash(line);
        let i = old.partition_point(|(x, _)| *x < h);
        if let Some((x, off)) = old.get(i) {
            if *x == h {
                return Some((*off, at as u64));
            }
        }
        at += line.len();
    }
    None
}

fn median(v: &mut [i64]) -> i64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Runs the analysis on `tool`'s repository (dumpvault) for the snapshots of `hour0`, `hour1`.
pub fn analyse(tool: &Tool, hour0: &Path, hour1: &Path) -> Result<Value> {
    let started = std::time::Instant::now();
    let backend = Backend::open(&tool.repo.to_string_lossy())?;
    let repo = Repository::open(backend, PASSWORD.as_bytes())?;
    let index = Index::load(&repo)?;
    let level = repo.config().compression_level;
    let list = dumpvault::commands::snapshots::load_catalogued(&repo)?.entries;
    anyhow::ensure!(list.len() >= 2, "fewer than 2 snapshots");
    let (s0, s1) = (&list[0].manifest.streams[0], &list[1].manifest.streams[0]);
    let prev = chunks(&repo, &index, Id(s0.root))?;
    let next = chunks(&repo, &index, Id(s1.root))?;
    let prev_pos: HashMap<Id, usize> = prev.iter().enumerate().map(|(i, c)| (c.0, i)).collect();
    let old_text = std::fs::read(hour0).context("reading hour 0")?;
    let new_text = std::fs::read(hour1).context("reading hour 1")?;
    let old_lines = line_offsets(&old_text);
    drop(old_text);
    let mut finder = BaseFinder::from_stream(&repo, &index, s0)?;
    // The table anchors the reader reported: the new stream's data sections.
    let anchors: Vec<(u64, String)> = (s1.sections.iter())
        .filter(|s| s.kind == dumpvault::format::section::SectionKind::Data)
        .map(|s| (s.start, s.table.clone().unwrap_or_else(|| s.name.clone())))
        .collect();
    let mut load = |b: &Id| dumpvault::pack::reader::read_base(&repo, &index, b).ok();
    let mut seen: HashSet<Id> = HashSet::new();
    let mut classes: HashMap<&str, (u64, u64, u64)> = HashMap::new();
    let (mut new_chunks, mut deltas, mut whole) = (0u64, 0u64, 0u64);
    let (mut off_by, mut no_candidates, mut unusable) = (Vec::new(), 0u64, 0u64);
    for (id, offset, size) in &next {
        let is_new = !prev_pos.contains_key(id) && seen.insert(*id);
        let (start, end) = (*offset as usize, (*offset + *size) as usize);
        let data = new_text
            .get(start..end)
            .context("hour 1 shorter than its snapshot")?;
        let from = anchors.partition_point(|a| a.0 < *offset);
        let to = anchors.partition_point(|a| a.0 < *offset + *size);
        let candidates = finder.propose(&mut load, id, data, is_new, &anchors[from..to]);
        if !is_new {
            continue;
        }
        new_chunks += 1;
        let Some((_, loc)) = index.get(id) else {
            continue;
        };
        if loc.kind == BlobKind::Delta {
            deltas += 1;
            continue;
        }
        whole += 1;
        let usable: Vec<Id> = candidates
            .iter()
            .filter_map(|c| choose_base(&index, *c, repo.config().max_delta_depth()))
            .collect();
        if candidates.is_empty() {
            no_candidates += 1;
        } else if usable.is_empty() {
            unusable += 1;
        }
        let class = match first_shared(&new_text, start, end.min(new_text.len()), &old_lines) {
            None => ("no_shared_line", 0),
            Some((old_off, _new_off)) => {
                let ci = prev.partition_point(|c| c.1 <= old_off).saturating_sub(1);
                let content = prev[ci].0;
                if let Some(first) = candidates.first().and_then(|c| prev_pos.get(c)) {
                    off_by.push(ci as i64 - *first as i64);
                }
                let plain = dumpvault::pack::reader::read_blob(&repo, &index, id)?;
                let base = dumpvault::pack::reader::read_base(&repo, &index, &content)?;
                let (enc, used) = encode_chunk(&plain, level, Some((content, &base)));
                let would = if used.is_some() { enc.len() as u64 } else { 0 };
                if candidates.contains(&content) {
                    ("content_base_proposed", would)
                } else if used.is_some() {
                    ("stale_shift_pays", would)
                } else {
                    ("stale_shift_no_gain", 0)
                }
            }
        };
        let e = classes.entry(class.0).or_default();
        e.0 += 1;
        e.1 += u64::from(loc.length);
        e.2 += class.1;
    }
    let abs_off: Vec<i64> = off_by.iter().map(|x| x.abs()).collect();
    let within_one = abs_off.iter().filter(|x| **x <= 1).count();
    let v = json!({
        "new_data_chunks": new_chunks, "delta": deltas, "whole": whole,
        "no_base_share": whole as f64 / new_chunks.max(1) as f64,
        "no_candidates": no_candidates, "candidates_unusable": unusable,
        "previous_chunks_loaded": finder.loads(),
        "classes": classes.iter().map(|(k, (n, stored, patch))| (k.to_string(),
            json!({"chunks": n, "stored_whole": stored, "patch_against_content_base": patch})))
            .collect::<serde_json::Map<_, _>>(),
        "first_candidate_minus_content_base_chunks": {
            "median_abs": median(&mut abs_off.clone()), "max_abs": abs_off.iter().max(),
            "within_one": within_one, "measured": abs_off.len()},
        "seconds": super::measure::round3(started.elapsed().as_secs_f64()),
    });
    eprintln!("bench: no-base analysis (snapshot 2): {v}");
    Ok(v)
}
