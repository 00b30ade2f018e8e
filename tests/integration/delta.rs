//! Delta blobs through the binary: hourly snapshots with scattered edits store patches against
//! the previous snapshot's chunks; a chain of the maximum depth restores byte for byte; prune
//! keeps every base a kept delta needs; a damaged base is reported with every snapshot that
//! depends on it.

use crate::common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Longest delta chain the format allows (`MAX_DELTA_DEPTH`, repo-format.md section 6).
const MAX_DEPTH: usize = dumpvault::delta::MAX_DELTA_DEPTH;

/// `dump` with 6 bytes overwritten every `every` bytes by a text that depends on `hour`
/// (scattered row changes that keep the length).
fn edit(dump: &mut [u8], hour: usize, every: usize) {
    let text = format!("h{hour:05}");
    let mut at = (hour * 131) % every;
    while at + text.len() < dump.len() {
        dump[at..at + text.len()].copy_from_slice(text.as_bytes());
        at += every;
    }
}

fn json(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

/// Every delta blob's base, from all index files (`cat index ID`).
fn bases(t: &TestRepo) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for f in files_under(&t.repo.join("index")) {
        let id = f.file_name().unwrap().to_str().unwrap().to_string();
        let v = json(&t.dv(&["cat", "index", &id]).assert().success());
        for p in v["packs"].as_array().unwrap() {
            for b in p["blobs"].as_array().unwrap() {
                if b["kind"] == "Delta" {
                    let base = b["base"].as_str().expect("a delta has a base");
                    out.insert(b["id"].as_str().unwrap().to_string(), base.to_string());
                }
            }
        }
    }
    out
}

fn depth(bases: &HashMap<String, String>, id: &str) -> usize {
    let (mut d, mut at) = (0, id);
    while let Some(b) = bases.get(at) {
        d += 1;
        at = b;
        assert!(
            d <= MAX_DEPTH + 1,
            "delta chain loops or is too long at {id}"
        );
    }
    d
}

fn pack_files(t: &TestRepo) -> HashSet<PathBuf> {
    files_under(&t.repo.join("data")).into_iter().collect()
}

#[test]
fn hourly_deltas_reach_the_maximum_chain_depth_and_restore_byte_for_byte() {
    let t = TestRepo::new();
    let mut dump = synthetic_dump(1 << 20, 41);
    let mut dumps = Vec::new();
    let mut added = Vec::new();
    for hour in 0..MAX_DEPTH + 3 {
        if hour > 0 {
            edit(&mut dump, hour, 8 * 1024);
        }
        let s = t.snapshot_bytes(&dump, &["--tag", &format!("h{hour}")]);
        added.push(s["bytes_added"].as_u64().unwrap());
        dumps.push((s["id"].as_str().unwrap().to_string(), dump.clone()));
    }
    println!("bytes added per hourly snapshot of a 1 MiB dump: {added:?}");
    // Every hour changed every chunk, yet each later snapshot costs a fraction of the first.
    for (h, a) in added.iter().enumerate().skip(1) {
        assert!(*a * 5 < added[0], "hour {h} added {a} of {}", added[0]);
    }
    let bases = bases(&t);
    let deepest = bases.keys().map(|id| depth(&bases, id)).max().unwrap();
    assert_eq!(
        deepest, MAX_DEPTH,
        "chains grow up to the maximum depth, never past it"
    );
    for (id, d) in &dumps {
        assert!(
            t.restore_bytes(id) == *d,
            "snapshot {id} restores identical"
        );
    }
    t.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn prune_keeps_the_bases_that_kept_deltas_need() {
    let t = TestRepo::new();
    let first = synthetic_dump(1 << 20, 43);
    let s1 = t.snapshot_bytes(&first, &[]);
    // The next hour: scattered edits everywhere, and a 200 KB region deleted, whose chunks
    // then nothing needs.
    let mut second = first.clone();
    edit(&mut second, 1, 8 * 1024);
    second.drain(300_000..500_000);
    let s2 = t.snapshot_bytes(&second, &[]);
    assert!(!bases(&t).is_empty(), "the second snapshot stored deltas");
    t.dv(&["forget", s1["id"].as_str().unwrap()])
        .assert()
        .success();
    let out = json(
        &t.dv(&["prune", "--json", "--instant-delete", "--max-unused", "0"])
            .assert()
            .success(),
    );
    println!("prune after forgetting the base snapshot: {out}");
    let stat = |k: &str| out[k].as_u64().unwrap();
    let freed = stat("unused_bytes") + stat("repack_bytes") - stat("repack_copy_bytes");
    assert!(
        freed > 100_000,
        "the deleted region's chunks are freed: {out}"
    );
    assert!(t.restore_bytes(s2["id"].as_str().unwrap()) == second);
    t.dv(&["check", "--read-data"]).assert().success();
}

/// Flips one byte in the middle of every blob of pack `path` (per its header in the index).
fn damage_blobs(t: &TestRepo, path: &Path) {
    let pack_hex = path.file_name().unwrap().to_str().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    for f in files_under(&t.repo.join("index")) {
        let id = f.file_name().unwrap().to_str().unwrap().to_string();
        let v = json(&t.dv(&["cat", "index", &id]).assert().success());
        for p in v["packs"].as_array().unwrap() {
            if p["id"].as_str().unwrap() != pack_hex {
                continue;
            }
            for b in p["blobs"].as_array().unwrap() {
                if b["kind"] != "List" {
                    let at = b["offset"].as_u64().unwrap() + b["length"].as_u64().unwrap() / 2;
                    bytes[at as usize] ^= 0x40;
                }
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_base_is_reported_with_every_snapshot_that_depends_on_it() {
    let t = TestRepo::new();
    let mut dump = synthetic_dump(1 << 20, 47);
    let before = pack_files(&t);
    let s1 = t.snapshot_bytes(&dump, &[]);
    let first_packs: Vec<PathBuf> = pack_files(&t).difference(&before).cloned().collect();
    let mut ids = vec![s1["id"].as_str().unwrap().to_string()];
    for hour in 1..=2 {
        edit(&mut dump, hour, 4 * 1024);
        ids.push(
            t.snapshot_bytes(&dump, &[])["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(!bases(&t).is_empty());
    for p in &first_packs {
        damage_blobs(&t, p);
    }
    let out = t.dv(&["check", "--read-data", "--json"]).assert().code(3);
    let v = json(&out);
    let mut damaged: Vec<String> = (v["damaged_snapshots"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    damaged.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(
        damaged, all,
        "every snapshot depends on the first one's chunks: {v}"
    );
    let name = first_packs[0].file_name().unwrap().to_str().unwrap();
    let problem = (v["problems"].as_array().unwrap().iter())
        .find(|p| p["object"].as_str().unwrap().contains(name))
        .unwrap_or_else(|| panic!("the damaged base pack is named: {v}"));
    let affected = problem["affected_snapshots"].as_array().unwrap();
    for id in &ids {
        assert!(
            affected.iter().any(|a| id.starts_with(a.as_str().unwrap())),
            "{id} is listed as affected by the damaged base: {problem}"
        );
    }
    // A restore of the newest snapshot, two deltas away, names the damaged pack.
    let err = t.dv(&["restore", &ids[2], "--stdout"]).assert().failure();
    let err = String::from_utf8_lossy(&err.get_output().stderr).to_string();
    assert!(err.contains(name), "{err}");
}

/// Blobs of kind `Data` (stored whole) in the index files not in `before`.
fn whole_data_blobs(t: &TestRepo, before: &HashSet<PathBuf>) -> usize {
    let mut n = 0;
    for f in files_under(&t.repo.join("index")) {
        if before.contains(&f) {
            continue;
        }
        let id = f.file_name().unwrap().to_str().unwrap().to_string();
        let v = json(&t.dv(&["cat", "index", &id]).assert().success());
        for p in v["packs"].as_array().unwrap() {
            n += (p["blobs"].as_array().unwrap().iter())
                .filter(|b| b["kind"] == "Data")
                .count();
        }
    }
    n
}

#[test]
fn a_stale_shift_still_finds_the_neighbouring_base() {
    // Rows inserted early in the dump shift everything after them by about one chunk, and
    // scattered edits change every chunk, so no chunk is shared and the position-based
    // proposal stays one chunk off: its neighbour in the previous stream is the right base.
    let t = TestRepo::new();
    let mut dump = synthetic_dump(2 << 20, 43);
    t.snapshot_bytes(&dump, &[]);
    let before: HashSet<PathBuf> = files_under(&t.repo.join("index")).into_iter().collect();
    edit(&mut dump, 1, 8 * 1024);
    let inserted = synthetic_dump(64 * 1024, 44);
    let at = 256 * 1024;
    let mut next = dump[..at].to_vec();
    next.extend_from_slice(&inserted);
    next.extend_from_slice(&dump[at..]);
    let s = t.snapshot_bytes(&next, &[]);
    let whole = whole_data_blobs(&t, &before);
    println!(
        "after a 64 KiB insert: {whole} chunks stored whole, {} bytes added",
        s["bytes_added"]
    );
    // Of the ~33 chunks, only those holding the inserted rows, and a few where the shift
    // exceeds one chunk, are stored whole (18 to 24 when only the shifted position was tried).
    assert!(whole <= 10, "{whole} chunks stored whole");
    let id = s["id"].as_str().unwrap();
    let out = t.dv(&["restore", id, "--stdout"]).assert().success();
    assert_eq!(out.get_output().stdout, next, "restored bytes differ");
}
