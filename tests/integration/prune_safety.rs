//! Prune never frees data because it cannot read something (probe finding 13), and a pack lost
//! outside prune is named as damage with the commands that mend it, not "run the snapshot
//! again" (probe finding 14).
//!
//! - A listed manifest that does not open (one flipped byte, a bad sync) stops `prune` and
//!   `forget --prune` (exit 3, naming the file, nothing marked or deleted): put back from a
//!   copy, its snapshot restores; `repair snapshots --forget-broken` gives it up, and prune
//!   then frees its data.
//! - A damaged index file stops prune with `dumpvault repair index` (finding 7 j).
//! - A pack deleted outside prune fails the next snapshot of the same data with exit 3 and
//!   `dumpvault check`, then `dumpvault repair index`; after those the next snapshot works and
//!   stores the data again, which makes the older snapshot restorable too.

use crate::common::{files_under, stderr, synthetic_dump, TestRepo};

/// Flips one byte in the middle of `path`; returns the file's bytes as they were.
fn flip(path: &std::path::Path) -> Vec<u8> {
    let good = std::fs::read(path).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    std::fs::write(path, bad).unwrap();
    good
}

/// Snapshots `data` as stream `name` at `time`; returns the snapshot id.
fn snap(t: &TestRepo, data: &[u8], name: &str, time: &str) -> String {
    let out = t
        .dv(&[
            "snapshot",
            "--json",
            "--stdin",
            "--stdin-name",
            name,
            "--time",
            time,
        ])
        .write_stdin(data.to_vec())
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Every file under `data/` and `index/`: what prune would change.
fn packs_and_index(t: &TestRepo) -> Vec<std::path::PathBuf> {
    let mut v = files_under(&t.repo.join("data"));
    v.extend(files_under(&t.repo.join("index")));
    v
}

/// Asserts that `err` refuses because of the manifest `file`, with the next steps.
fn refuses_for(err: &str, file: &str) {
    for part in [
        file,
        "cannot be read",
        "prune cannot tell which data",
        "stopped without marking or deleting anything",
        "back from a copy",
        "`dumpvault repair snapshots --forget-broken`",
    ] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
}

#[test]
fn prune_refuses_while_a_manifest_cannot_be_read_and_the_copy_put_back_restores() {
    let t = TestRepo::new();
    let (a, b) = (synthetic_dump(300_000, 71), synthetic_dump(300_000, 72));
    snap(&t, &a, "a.sql", "2026-01-01T03:00:00Z");
    let bid = snap(&t, &b, "b.sql", "2026-01-01T04:00:00Z");
    let file = format!("snapshots/{bid}");
    let good = flip(&t.repo.join(&file));
    let before = packs_and_index(&t);
    // Twice, as an hourly prune would: the old prune marked b's pack, then deleted it.
    for args in [
        &["prune", "--grace", "0s", "--dry-run"][..],
        &["prune", "--grace", "0s"],
        &["prune", "--grace", "0s"],
    ] {
        let out = t.dv(args).assert().code(3);
        refuses_for(&stderr(&out), &file);
        assert_eq!(
            packs_and_index(&t),
            before,
            "{args:?} changed the repository"
        );
    }
    // The manifest put back from a copy of the repository: its snapshot restores, and prune
    // keeps its data.
    std::fs::write(t.repo.join(&file), good).unwrap();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    assert!(t.restore_bytes(&bid) == b);
    t.dv(&["check"]).assert().success();
}

#[test]
fn forget_prune_refuses_too_and_forget_broken_then_prune_frees_the_data() {
    let t = TestRepo::new();
    let dumps: Vec<Vec<u8>> = (0..3).map(|i| synthetic_dump(300_000, 80 + i)).collect();
    let ids: Vec<String> = (dumps.iter().enumerate())
        .map(|(i, d)| snap(&t, d, "shop.sql", &format!("2026-01-0{}T03:00:00Z", i + 1)))
        .collect();
    // The newest snapshot's manifest is damaged; the policy keeps it.
    let file = format!("snapshots/{}", ids[2]);
    flip(&t.repo.join(&file));
    let before = packs_and_index(&t);
    let out = t
        .dv(&["forget", "--keep-last", "2", "--prune", "--grace", "0s"])
        .assert()
        .code(3);
    refuses_for(&stderr(&out), &file);
    assert_eq!(
        packs_and_index(&t),
        before,
        "forget --prune marked or deleted"
    );

    // Giving the damaged snapshot up: prune goes on and frees what only it (and the
    // forgotten one) used; the snapshot in between still restores.
    t.dv(&["repair", "snapshots", "--forget-broken"])
        .assert()
        .success();
    assert!(!t.repo.join(&file).exists());
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    assert!(t.packs().len() < before.len());
    assert!(t.restore_bytes(&ids[1]) == dumps[1]);
    t.dv(&["check"]).assert().success();
}

/// Probe finding 7 j.
#[test]
fn prune_on_a_damaged_index_file_says_repair_index() {
    let t = TestRepo::new();
    snap(
        &t,
        &synthetic_dump(200_000, 90),
        "a.sql",
        "2026-01-01T03:00:00Z",
    );
    let index = files_under(&t.repo.join("index"));
    assert_eq!(index.len(), 1);
    flip(&index[0]);
    let out = t.dv(&["prune", "--grace", "0s"]).assert().code(3);
    let err = stderr(&out);
    let name = index[0].file_name().unwrap().to_str().unwrap();
    assert!(err.contains(&format!("index/{name}")), "{err}");
    assert!(err.contains("run `dumpvault repair index`"), "{err}");
    t.dv(&["repair", "index"]).assert().success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
}

/// Probe finding 14: a pack deleted outside prune (a disk fault, a bucket lifecycle rule).
#[test]
fn a_pack_lost_outside_prune_fails_snapshots_as_damage_until_repair_index() {
    let t = TestRepo::new();
    let dump = synthetic_dump(400_000, 91);
    let first = snap(&t, &dump, "s.sql", "2026-01-01T03:00:00Z");
    let packs = t.packs();
    assert_eq!(packs.len(), 1);
    std::fs::remove_file(&packs[0]).unwrap();
    let name = packs[0].file_name().unwrap().to_str().unwrap().to_string();
    for hour in 4..6 {
        let out = t
            .dv(&["snapshot", "--stdin", "--stdin-name", "s.sql"])
            .args(["--time", &format!("2026-01-01T0{hour}:00:00Z")])
            .write_stdin(dump.clone())
            .assert()
            .code(3);
        let err = stderr(&out);
        for part in [
            name.as_str(),
            "no prune removed it",
            "run `dumpvault check`",
            "then `dumpvault repair index`",
        ] {
            assert!(err.contains(part), "{part:?} missing: {err}");
        }
        assert!(!err.contains("concurrent prune"), "{err}");
    }
    t.dv(&["check"]).assert().code(3);
    t.dv(&["repair", "index"]).assert().success();
    let again = snap(&t, &dump, "s.sql", "2026-01-01T06:00:00Z");
    assert!(t.restore_bytes(&again) == dump);
    // The data stored again under the same ids heals the first snapshot too.
    assert!(t.restore_bytes(&first) == dump);
}
