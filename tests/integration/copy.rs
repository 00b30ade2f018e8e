//! `copy` between repositories: fs to a real S3 API (moto on loopback) with shared chunker
//! parameters, a copy killed midway and resumed, sealed-blob copies with shared keys, and bad
//! input naming the side at fault.

use crate::common::{files_under, synthetic_dump, TestRepo, PASSWORD};
use crate::s3server::{Repo, S3Server};
use serde_json::Value;

/// Polls of the target while a copy runs, [`POLL`] apart.
const KILL_POLLS: u32 = 1200;
const POLL: std::time::Duration = std::time::Duration::from_millis(25);

/// An hourly series: one dump, with `hour` more rows changed each hour (same length).
fn hourly(base: &[u8], hour: usize) -> Vec<u8> {
    let mut d = base.to_vec();
    for j in 0..hour {
        let at = 100_000 + j * 230_000;
        let text = format!("changed in hour {hour}, row {j}\n");
        d[at..at + text.len()].copy_from_slice(text.as_bytes());
    }
    d
}

fn copy(target: &Repo, from: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["copy", "--json", "--from", from];
    args.extend_from_slice(extra);
    let out = target
        .dv(&args)
        .env("DUMPVAULT_FROM_PASSWORD", PASSWORD)
        .assert()
        .success();
    let o = out.get_output();
    (
        serde_json::from_slice(&o.stdout).unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn source(t: &TestRepo) -> String {
    t.repo.to_string_lossy().into_owned()
}

/// Every file of a local repository with its bytes, to show that a command left it untouched.
fn contents(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn tag_of(v: &Value) -> String {
    v["tags"][0].as_str().unwrap_or("").to_string()
}

#[test]
fn fs_to_s3_copy_is_incremental_and_shares_chunks() {
    let a = TestRepo::new();
    let base = synthetic_dump(3 * 1024 * 1024, 21);
    for h in 0..10 {
        a.snapshot_bytes(&hourly(&base, h), &["--tag", &format!("hour={h}")]);
    }
    let server = S3Server::start();
    server.create_bucket("offsite");
    let b = Repo::s3(&server, "offsite", "db1");
    let init = b
        .dv(&[
            "init",
            "--kdf-memory-kib",
            "64",
            "--kdf-iterations",
            "1",
            "--copy-chunker-params-from",
            &source(&a),
        ])
        .env("DUMPVAULT_FROM_PASSWORD", PASSWORD)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&init.get_output().stderr).into_owned();
    assert!(said.contains("sharing chunker parameters"), "{said}");

    let (first, said) = copy(&b, &source(&a), &[]);
    assert!(said.contains("re-encrypting"), "{said}");
    assert_eq!(first["mode"], "reencrypt_blobs");
    assert_eq!(first["copied"].as_array().unwrap().len(), 10, "{first}");
    println!(
        "fs -> S3 copy of 10 snapshots: {} chunks, {} bytes uploaded",
        first["data_chunks_copied"], first["bytes_uploaded"]
    );

    let (again, _) = copy(&b, &source(&a), &[]);
    println!(
        "second copy: {} snapshots copied, {} chunks transferred",
        again["copied"].as_array().unwrap().len(),
        again["data_chunks_copied"]
    );
    assert_eq!(again["copied"].as_array().unwrap().len(), 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 10);
    assert_eq!(again["data_chunks_copied"], 0);
    assert_eq!(again["bytes_uploaded"], 0);

    // One hourly change: the copy uploads about what the snapshot added to A.
    let d10 = hourly(&base, 10);
    let added = a.snapshot_bytes(&d10, &["--tag", "hour=10"])["bytes_added"]
        .as_u64()
        .unwrap();
    let (hour, _) = copy(&b, &source(&a), &[]);
    let uploaded = hour["bytes_uploaded"].as_u64().unwrap();
    println!("hourly change: snapshot added {added} bytes to A, copy uploaded {uploaded} bytes");
    assert_eq!(hour["copied"].as_array().unwrap().len(), 1);
    assert!(
        uploaded <= added + added / 2 + 16 * 1024,
        "{uploaded} vs {added}"
    );
    assert!(b.restore("latest") == d10);

    // A snapshot taken straight into B deduplicates against the copied chunks.
    let d11 = hourly(&base, 11);
    let into_a = a.snapshot_bytes(&d11, &[])["bytes_added"].as_u64().unwrap();
    let into_b = b.snapshot(&d11, &[])["bytes_added"].as_u64().unwrap();
    println!("the next hour taken directly: {into_a} bytes added to A, {into_b} to B");
    assert!(into_b < d11.len() as u64 / 20, "{into_b}");
    assert!(into_b <= 2 * into_a + 16 * 1024, "{into_b} vs {into_a}");
    // Copying A's snapshot of that hour adds nothing to B, and the copy says so: a copied
    // snapshot records what the copy wrote into B, not what it cost A.
    let (last, _) = copy(&b, &source(&a), &[]);
    let target = &last["copied"][0]["target"];
    let copied = (b.snapshots().into_iter())
        .find(|s| s["id"] == *target)
        .unwrap();
    assert!(into_a > 0);
    assert_eq!(copied["added"], 0, "{copied}");
    b.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn killed_copy_resumes_and_leaves_the_target_consistent() {
    let a = TestRepo::new();
    let dumps: Vec<Vec<u8>> = (0..10)
        .map(|i| synthetic_dump(1024 * 1024 + i * 4096, 100 + i as u64))
        .collect();
    for (i, d) in dumps.iter().enumerate() {
        a.snapshot_bytes(d, &["--tag", &format!("n={i}")]);
    }
    let server = S3Server::start();
    server.create_bucket("offsite");
    let b = Repo::s3(&server, "offsite", "resume");
    b.init(&["--pack-size-mib", "1"]);

    // Slowed down so that the kill lands midway.
    let mut child = b
        .process(&[
            "copy",
            "--quiet",
            "--from",
            &source(&a),
            "--limit-upload",
            "1024",
            "--connections",
            "2",
        ])
        .env("DUMPVAULT_FROM_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = 0;
    for _ in 0..KILL_POLLS {
        seen = b.snapshots().len();
        if seen >= 3 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "copy ended early");
        std::thread::sleep(POLL);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = b.snapshots().len();
    println!("copy killed with {kept} of 10 snapshots in the target");
    assert!((3..10).contains(&kept), "seen {seen}, kept {kept}");
    // Consistent after the kill: every snapshot there restores.
    b.dv(&["check", "--read-data"]).assert().success();

    let (rest, said) = copy(&b, &source(&a), &[]);
    assert!(said.contains("re-chunking"), "{said}");
    assert_eq!(rest["mode"], "rechunk");
    assert_eq!(
        rest["copied"].as_array().unwrap().len(),
        10 - kept,
        "{rest}"
    );
    assert_eq!(rest["skipped"].as_array().unwrap().len(), kept);
    b.dv(&["check", "--read-data"]).assert().success();
    let list = b.snapshots();
    assert_eq!(list.len(), 10);
    for s in &list {
        let n: usize = tag_of(s).trim_start_matches("n=").parse().unwrap();
        assert!(
            b.restore(s["id"].as_str().unwrap()) == dumps[n],
            "snapshot n={n}"
        );
    }
    let (none, _) = copy(&b, &source(&a), &[]);
    assert_eq!(none["data_chunks_copied"], 0);
}

#[test]
fn shared_keys_move_sealed_blobs() {
    let a = TestRepo::new();
    let base = synthetic_dump(2 * 1024 * 1024, 5);
    let ids: Vec<String> = (0..3)
        .map(|h| {
            a.snapshot_bytes(&hourly(&base, h), &[])["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let b = Repo::fs(&a.path("b"));
    let init = b
        .dv(&[
            "init",
            "--kdf-memory-kib",
            "64",
            "--kdf-iterations",
            "1",
            "--copy-keys-from",
            &source(&a),
        ])
        .env("DUMPVAULT_FROM_PASSWORD", PASSWORD)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&init.get_output().stderr).into_owned();
    assert!(said.contains("opens the other"), "{said}");

    // Only the middle snapshot first, by id prefix; then the rest.
    let (one, said) = copy(&b, &source(&a), &[&ids[1][..8]]);
    assert!(said.contains("without decrypting"), "{said}");
    assert_eq!(one["mode"], "sealed_blobs");
    assert_eq!(one["copied"].as_array().unwrap().len(), 1);
    let (rest, _) = copy(&b, &source(&a), &[]);
    assert_eq!(rest["copied"].as_array().unwrap().len(), 2);
    assert_eq!(rest["skipped"].as_array().unwrap().len(), 1);
    assert!(
        rest["data_chunks_copied"].as_u64().unwrap() < one["data_chunks_copied"].as_u64().unwrap(),
        "the other hours share most chunks with the first copy: {rest}"
    );
    for s in b.snapshots() {
        let m = b
            .dv(&["cat", "snapshot", s["id"].as_str().unwrap()])
            .assert()
            .success();
        let m: Value = serde_json::from_slice(&m.get_output().stdout).unwrap();
        assert!(!m["manifest"]["original"].is_null(), "{m}");
    }
    assert!(b.restore("latest") == hourly(&base, 2));
    b.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn bad_input_names_the_side_and_leaves_the_source_alone() {
    let a = TestRepo::new();
    a.snapshot_bytes(&synthetic_dump(300_000, 9), &[]);
    let before = contents(&a.repo);
    let b = Repo::fs(&a.path("b"));
    b.init(&[]);

    let fail = |target: &Repo, from: &str, from_pw: &str, code: i32| -> String {
        let out = target
            .dv(&["copy", "--from", from])
            .env("DUMPVAULT_FROM_PASSWORD", from_pw)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fail(&b, &source(&a), "wrong", 2);
    assert!(
        err.contains("source repository") && err.contains("wrong password"),
        "{err}"
    );

    let wrong_target = Repo {
        password: "wrong".into(),
        ..Repo::fs(&a.path("b"))
    };
    let err = fail(&wrong_target, &source(&a), PASSWORD, 2);
    assert!(
        err.contains("target repository") && err.contains("wrong password"),
        "{err}"
    );

    std::fs::create_dir_all(a.path("empty")).unwrap();
    let err = fail(&Repo::fs(&a.path("empty")), &source(&a), PASSWORD, 2);
    assert!(
        err.contains("target repository") && err.contains("not a dumpvault repository"),
        "{err}"
    );
    assert!(
        files_under(&a.path("empty")).is_empty(),
        "nothing written to a non-repository"
    );

    let err = fail(&b, a.path("nowhere").to_str().unwrap(), PASSWORD, 2);
    assert!(
        err.contains("source repository") && err.contains("not a dumpvault repository"),
        "{err}"
    );

    let err = fail(&Repo::fs(&a.repo), &source(&a), PASSWORD, 2);
    assert!(err.contains("same location"), "{err}");

    let server = S3Server::start();
    let err = fail(
        &Repo::s3(&server, "absent", "repo"),
        &source(&a),
        PASSWORD,
        1,
    );
    assert!(
        err.contains("target repository") && err.contains("does not exist"),
        "{err}"
    );

    assert!(contents(&a.repo) == before, "the source changed");
    assert!(b.snapshots().is_empty());

    // A pack of the source gone while copying (a prune on the source, or lost): the message
    // names the source and says what to do (probe finding 7 e: a bare NotFound).
    for pack in a.packs() {
        std::fs::remove_file(pack).unwrap();
    }
    let err = fail(&b, &source(&a), PASSWORD, 1);
    assert!(
        err.contains("source repository") && err.contains("run the copy again"),
        "{err}"
    );
    assert!(b.snapshots().is_empty());
}
