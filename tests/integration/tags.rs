//! Retagging snapshots through the binary (`tag --add/--remove/--set`), and copying a retagged
//! snapshot only once.

use crate::common::{json, snapshots, stderr, synthetic_dump, TestRepo, PASSWORD};
use serde_json::Value;

/// The tags of one `snapshots --json` entry.
fn tags(v: &Value) -> Vec<String> {
    v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tag_add_remove_set_keep_restores_and_copy_copies_once() {
    let a = TestRepo::new();
    let data = synthetic_dump(300_000, 3);
    let first = a.snapshot_bytes(&data, &["--tag", "x"]);
    let id0 = first["id"].as_str().unwrap().to_string();
    a.dv(&["verify", "latest"]).assert().success();

    let out = json(&mut a.dv(&[
        "tag",
        "--json",
        &id0[..8],
        "--add",
        "hourly",
        "--add",
        "env=prod",
    ]));
    let r = &out.as_array().unwrap()[0];
    assert_eq!(r["old"].as_str().unwrap(), id0);
    let id1 = r["new"].as_str().unwrap().to_string();
    assert_ne!(id1, id0);
    let list = snapshots(&a);
    assert_eq!(list.len(), 1, "the old manifest is gone: {list:?}");
    assert_eq!(list[0]["id"].as_str().unwrap(), id1);
    assert_eq!(tags(&list[0]), ["x", "hourly", "env=prod"]);
    assert_eq!(
        list[0]["verified"]["ok"], true,
        "the verification is carried over: {}",
        list[0]
    );

    // Text output: old -> new.
    let out = a.dv(&["tag", "latest", "--remove", "x"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains(&format!("{} -> ", &id1[..8])), "{text}");
    assert_eq!(tags(&snapshots(&a)[0]), ["hourly", "env=prod"]);
    a.dv(&["tag", "latest", "--set", "keep", "--set", "weekly"])
        .assert()
        .success();
    assert_eq!(tags(&snapshots(&a)[0]), ["keep", "weekly"]);
    let filtered = json(&mut a.dv(&["snapshots", "--json", "--tag", "weekly"]));
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert!(a.restore_bytes("latest") == data);
    a.dv(&["check", "--read-data"]).assert().success();

    // Bad requests change nothing.
    let before = snapshots(&a);
    a.dv(&["tag", "latest", "--set", "a", "--add", "b"])
        .assert()
        .code(2);
    let out = a.dv(&["tag", "latest"]).assert().code(2);
    assert!(stderr(&out).contains("no tag change"), "{}", stderr(&out));
    assert_eq!(snapshots(&a)[0]["id"], before[0]["id"]);

    // Copy, retag the source, copy again: the retagged snapshot is not copied twice.
    let b = TestRepo::new();
    let copy = |target: &TestRepo| {
        json(
            target
                .dv(&["copy", "--json", "--from", a.repo.to_str().unwrap()])
                .env("DUMPVAULT_FROM_PASSWORD", PASSWORD),
        )
    };
    assert_eq!(copy(&b)["copied"].as_array().unwrap().len(), 1);
    a.dv(&["tag", "latest", "--add", "after-copy"])
        .assert()
        .success();
    let again = copy(&b);
    assert_eq!(again["copied"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 1, "{again}");
    // Retagging the copy in the target does not make it copyable again either.
    b.dv(&["tag", "latest", "--add", "offsite"])
        .assert()
        .success();
    assert_eq!(copy(&b)["copied"].as_array().unwrap().len(), 0);
    let in_b = snapshots(&b);
    assert_eq!(in_b.len(), 1);
    assert_eq!(tags(&in_b[0]), ["keep", "weekly", "offsite"]);
    assert!(b.restore_bytes("latest") == data);

    // `--set ''` clears every tag.
    a.dv(&["tag", "latest", "--set", ""]).assert().success();
    assert!(tags(&snapshots(&a)[0]).is_empty());
}
