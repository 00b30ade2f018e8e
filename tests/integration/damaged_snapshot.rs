//! One damaged snapshot file does not block the others (issue 14, section 4): `snapshots`,
//! `restore` and `ls` of other snapshots, `stats`, `report` and `forget` warn, name the file and
//! go on (exit 0); `check` still reports the damage (exit 3). Prune stops at it (exit 3: it
//! cannot tell which data the snapshot needs, probe finding 13) until the file is put back or
//! given up with `repair snapshots --forget-broken`; so does an intact snapshot file sealed
//! under another key.

use crate::common::{synthetic_dump, TestRepo};
use serde_json::Value;

const WARNING: &str = "corrupt or tampered data; it is skipped";

/// Runs `args`, which must succeed and warn about `file` on stderr; returns stdout.
fn warns(t: &TestRepo, args: &[&str], file: &str) -> Vec<u8> {
    let out = t.dv(args).assert().success();
    let o = out.get_output();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(file) && err.contains(WARNING),
        "{args:?} must warn about {file}: {err}"
    );
    o.stdout.clone()
}

fn ids(list: &Value) -> Vec<String> {
    let list = list.as_array().unwrap();
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_damaged_snapshot_file_is_skipped_with_a_warning() {
    let t = TestRepo::new();
    // Config version 1: listings read `snapshots/` and so see a manifest file replaced in
    // place. (With version 2 the catalogue decides, lists it without reading it, and its
    // restore and `check` name the damage; repo-format.md section 17.)
    crate::common::set_config_version(&t.repo, 1);
    let dumps: Vec<Vec<u8>> = (0..3).map(|i| synthetic_dump(200_000, 40 + i)).collect();
    let made: Vec<String> = (dumps.iter())
        .enumerate()
        .map(|(i, d)| {
            let time = format!("2026-01-0{}T03:00:00Z", i + 1);
            let s = t.snapshot_bytes(d, &["--time", &time]);
            s["id"].as_str().unwrap().to_string()
        })
        .collect();
    let file = format!("snapshots/{}", made[1]);
    std::fs::write(t.repo.join(&file), b"garbage, not a sealed manifest").unwrap();

    let list: Value = serde_json::from_slice(&warns(&t, &["snapshots", "--json"], &file)).unwrap();
    assert_eq!(ids(&list), [made[0].clone(), made[2].clone()]);
    warns(&t, &["snapshots"], &file);

    // Restores of the other snapshots work, by id and as `latest`.
    let target = t.path("latest.out");
    let target_s = target.to_str().unwrap();
    warns(&t, &["restore", "latest", "--target", target_s], &file);
    assert!(std::fs::read(&target).unwrap() == dumps[2]);
    assert!(t.restore_bytes(&made[0][..8]) == dumps[0]);
    warns(&t, &["ls", "latest"], &file);

    let stats: Value = serde_json::from_slice(&warns(&t, &["stats", "--json"], &file)).unwrap();
    assert_eq!(stats["snapshots"], 2, "{stats}");
    warns(&t, &["report"], &file);

    // `check` still reports the damage.
    let out = t.dv(&["check"]).assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        err.contains(&made[1]) || stdout.contains(&made[1]),
        "{err}{stdout}"
    );

    // Retention works on the readable snapshots and leaves the damaged file to `repair`.
    warns(&t, &["forget", "--keep-last", "1"], &file);
    let list: Value = serde_json::from_slice(&warns(&t, &["snapshots", "--json"], &file)).unwrap();
    assert_eq!(ids(&list), [made[2].clone()]);
    assert!(t.repo.join(&file).exists());

    // Prune stops at it: its data cannot be named, and freeing it would make putting the
    // file back from a copy useless. Given up, the snapshot no longer stops prune.
    let out = t.dv(&["prune", "--grace", "0s"]).assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains(&file) && err.contains("--forget-broken"),
        "{err}"
    );
    t.dv(&["repair", "snapshots", "--forget-broken"])
        .assert()
        .success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    assert!(t.restore_bytes(&made[2]) == dumps[2]);
}

/// A snapshot file that is intact but sealed under another key may be a good snapshot of
/// someone's: prune stops and deletes nothing.
#[test]
fn prune_stops_at_a_snapshot_sealed_under_another_key() {
    let t = TestRepo::new();
    let other = TestRepo::new();
    let s = other.snapshot_bytes(&synthetic_dump(100_000, 60), &[]);
    let id = s["id"].as_str().unwrap();
    let name = format!("snapshots/{id}");
    t.snapshot_bytes(&synthetic_dump(100_000, 61), &[]);
    std::fs::copy(other.repo.join(&name), t.repo.join(&name)).unwrap();
    let packs = t.packs();
    let out = t.dv(&["prune", "--grace", "0s"]).assert().code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("decrypts with no key of this repository"),
        "{err}"
    );
    assert_eq!(t.packs(), packs);
}
