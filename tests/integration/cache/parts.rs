//! Catalogue parts on S3 (config version 3, repo-format.md section 17): a command that needs
//! one database reads that database's part once, then from the local cache.

use crate::s3server::{Repo, S3Server};
use dumpvault::repository::catalogue::PART_MIN_ENTRIES;
use serde_json::Value;

/// Runs `args` with `--json --stats-backend` and cache folder `cache`; returns the standard
/// output and the requests of `op` on `catalogue-parts/`.
fn run(repo: &Repo, cache: &std::path::Path, args: &[&str], op: &str) -> (String, u64) {
    let mut all = args.to_vec();
    all.extend(["--json", "--stats-backend"]);
    let out = repo
        .dv(&all)
        .env("DUMPVAULT_CACHE_DIR", cache)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    let part = &stats["backend_requests"]["by_folder"]["catalogue-parts"][op]["requests"];
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (stdout, part.as_u64().unwrap_or(0))
}

#[test]
fn one_database_reads_its_part_once_then_from_the_cache() {
    let server = S3Server::start();
    server.create_bucket("parts");
    let repo = Repo::s3(&server, "parts", "repo");
    repo.init(&[]);
    for db in ["alpha", "beta"] {
        for n in 0..PART_MIN_ENTRIES {
            let data = format!("-- {db} hour {n}\nCOPY t (a) FROM stdin;\n{n}\n\\.\n");
            repo.snapshot(data.as_bytes(), &["--database", db]);
        }
    }
    repo.dv(&["prune"]).assert().success();
    let cache = tempfile::tempdir().unwrap();
    let args = ["snapshots", "--database", "beta"];
    let (out, reads) = run(&repo, cache.path(), &args, "read");
    assert_eq!(reads, 1, "the part of beta only");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), PART_MIN_ENTRIES);
    let (again, reads) = run(&repo, cache.path(), &args, "read");
    assert_eq!(reads, 0, "from the cache");
    assert_eq!(again, out);
    // Every snapshot: alpha's part read now, beta's from the cache.
    let (out, reads) = run(&repo, cache.path(), &["snapshots"], "read");
    assert_eq!(reads, 1);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 2 * PART_MIN_ENTRIES);
}
