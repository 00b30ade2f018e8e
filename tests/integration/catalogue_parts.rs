//! Config version 3: prune splits the catalogue into per-database parts (repo-format.md
//! section 17), and a command that needs one database reads that database's part only, so
//! its cost follows that database's history, not the repository's.

use super::process;
use crate::common::{synthetic_dump, TestRepo, PASSWORD};
use dumpvault::backend::Backend;
use dumpvault::id::Id;
use dumpvault::repository::catalogue::{self, PART_MIN_ENTRIES};
use dumpvault::repository::Repository;
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

/// Runs `args` with `--json --stats-backend` (feeding `stdin`); returns the exit code, the
/// standard output and the read requests of `catalogue-parts/`.
fn part_reads(t: &TestRepo, args: &[&str], stdin: &[u8]) -> (i32, String, u64) {
    let mut all = args.to_vec();
    all.extend(["--json", "--stats-backend"]);
    let mut child = process(&t.repo, PASSWORD, &all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    let folder = &stats["backend_requests"]["by_folder"]["catalogue-parts"];
    let reads = folder["read"]["requests"].as_u64().unwrap_or(0);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.code().unwrap_or(-1), out, reads)
}

/// Takes one real snapshot of each of `dbs` (stdin, `--database <db>`), then writes
/// `per_db - 1` more hourly manifests of each through the library (copies of the real one,
/// each with its own time), each with its catalogue file, as unchanged hourly snapshots would.
fn history(t: &TestRepo, dbs: &[&str], per_db: usize) {
    for (i, db) in dbs.iter().enumerate() {
        let data = synthetic_dump(20_000, i as u64);
        t.snapshot_bytes(&data, &["--database", db]);
    }
    let backend = Backend::open(t.repo.to_str().unwrap()).unwrap();
    let repo = Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    for e in catalogue::load(&repo).unwrap().entries.iter() {
        let base = repo.load_manifest(&Id(e.id)).unwrap();
        for h in 1..per_db {
            let mut m = base.clone();
            m.time = format!("2020-01-01T{:02}:{:02}:00+00:00", h / 60, h % 60);
            let id = repo.save_manifest(&m).unwrap();
            catalogue::record(&repo, &id, &m, None).unwrap();
        }
    }
}

fn parts_on_disk(t: &TestRepo) -> Vec<std::path::PathBuf> {
    let dir = t.repo.join("catalogue-parts");
    let mut v: Vec<_> = (std::fs::read_dir(dir).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn one_database_commands_read_its_catalogue_part_only() {
    let t = TestRepo::new();
    let per_db = PART_MIN_ENTRIES + 2;
    history(&t, &["alpha", "beta", "gamma"], per_db);
    t.dv(&["prune"]).assert().success();
    assert_eq!(parts_on_disk(&t).len(), 3, "one part per database");
    let target = t.path("alpha.out");
    let target = target.to_str().unwrap();
    let restore = [
        "restore",
        "latest",
        "--database",
        "alpha",
        "--target",
        target,
    ];
    let (code, _, reads) = part_reads(&t, &restore, b"");
    assert_eq!((code, reads), (0, 1));
    assert_eq!(std::fs::read(target).unwrap(), synthetic_dump(20_000, 0));
    let (code, out, reads) = part_reads(&t, &["snapshots", "--database", "beta"], b"");
    assert_eq!((code, reads), (0, 1));
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), per_db);
    // A new snapshot of one database reads that database's part for its delta base.
    let data = synthetic_dump(20_000, 2);
    let snap = ["snapshot", "--stdin", "--database", "gamma"];
    let (code, _, reads) = part_reads(&t, &snap, &data);
    assert_eq!((code, reads), (0, 1));
    // The whole listing reads every part.
    let (code, out, reads) = part_reads(&t, &["snapshots"], b"");
    assert_eq!((code, reads), (0, 3));
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 3 * per_db + 1);
    let (code, _, _) = part_reads(&t, &["check"], b"");
    assert_eq!(code, 0);
}

#[test]
fn a_damaged_part_is_reported_by_check_listed_around_and_replaced_by_prune() {
    let t = TestRepo::new();
    let per_db = PART_MIN_ENTRIES;
    history(&t, &["alpha", "beta"], per_db);
    t.dv(&["prune"]).assert().success();
    let parts = parts_on_disk(&t);
    assert_eq!(parts.len(), 2);
    let mut bytes = std::fs::read(&parts[0]).unwrap();
    bytes[60] ^= 1;
    std::fs::write(&parts[0], bytes).unwrap();
    // `check` names the part; nothing is hidden: the listing and the manifests say.
    let out = t.dv(&["check"]).assert().failure();
    let err = crate::common::stderr(&out) + &String::from_utf8_lossy(&out.get_output().stdout);
    assert!(err.contains("catalogue part"), "{err}");
    let (code, out, _) = part_reads(&t, &["snapshots"], b"");
    assert_eq!(code, 0);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 2 * per_db);
    // Prune rebuilds the part from the manifests and deletes the damaged one.
    t.dv(&["prune"]).assert().success();
    assert!(!parts_on_disk(&t).contains(&parts[0]));
    assert_eq!(parts_on_disk(&t).len(), 2);
    t.dv(&["check"]).assert().success();
}

/// `forget` with a policy and `--database` plans that database's snapshots only, so it lists
/// that database's part only (it listed every snapshot of the repository before: brief A).
#[test]
fn forget_of_one_database_reads_its_catalogue_part_only() {
    let t = TestRepo::new();
    let per_db = PART_MIN_ENTRIES + 2;
    history(&t, &["alpha", "beta", "gamma"], per_db);
    t.dv(&["prune"]).assert().success();
    let all = ["forget", "--dry-run", "--keep-last", "3"];
    let one = [&all[..], &["--database", "alpha"]].concat();
    let (code, out, reads) = part_reads(&t, &one, b"");
    assert_eq!((code, reads), (0, 1), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["groups"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["plan"]["keep"], 3);
    assert_eq!(v["plan"]["remove"], per_db - 3);
    // The whole repository's plan reads every part.
    let (code, _, reads) = part_reads(&t, &all, b"");
    assert_eq!((code, reads), (0, 3));
}
