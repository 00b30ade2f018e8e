//! `stats --breakdown`: where a snapshot's added bytes went, from the index's own entries.

use crate::common::*;
use serde_json::Value;

fn json(t: &TestRepo, args: &[&str]) -> Value {
    let out = t.dv(args).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Overwrites 8 bytes every `every` bytes with a text depending on `hour`: scattered row
/// changes of the same length, touching every chunk.
fn scatter(dump: &mut [u8], hour: usize, every: usize) {
    let text = format!("hr{hour:06}");
    let mut at = (hour * 977) % every;
    while at + text.len() < dump.len() {
        dump[at..at + text.len()].copy_from_slice(text.as_bytes());
        at += every;
    }
}

fn n(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} not a number in {v}"))
}

/// The parts add up to the manifest's `bytes_added`.
fn assert_adds_up(b: &Value) {
    let parts = n(b, &["delta", "stored"])
        + n(b, &["whole", "stored"])
        + n(b, &["list", "stored"])
        + n(b, &["pack_overhead"]);
    assert_eq!(n(b, &["other_stored"]), 0, "{b}");
    assert_eq!(n(b, &["missing"]), 0, "{b}");
    assert_eq!(parts, n(b, &["bytes_added"]), "parts of {b}");
    assert_eq!(n(b, &["accounted"]), n(b, &["bytes_added"]), "{b}");
    assert!(
        n(b, &["index_files"]) >= 1 && n(b, &["index_bytes"]) > 0,
        "{b}"
    );
}

#[test]
fn breakdown_adds_up_and_scattered_churn_is_stored_as_delta_blobs() {
    let t = TestRepo::new();
    let mut dump = synthetic_dump(2 << 20, 7);
    let first = t.snapshot_bytes(&dump, &[]);
    scatter(&mut dump, 1, 16 * 1024);
    let second = t.snapshot_bytes(&dump, &[]);

    // The first snapshot: everything whole, nothing patched.
    let first_id = first["id"].as_str().unwrap();
    let b1 = json(&t, &["stats", "--json", "--breakdown", &first_id[..12]])["breakdown"].clone();
    assert_eq!(b1["snapshot"].as_str(), Some(first_id));
    assert_adds_up(&b1);
    assert_eq!(n(&b1, &["delta", "count"]), 0, "{b1}");
    assert!(n(&b1, &["whole", "count"]) > 10, "{b1}");
    assert_eq!(n(&b1, &["whole", "raw"]), dump.len() as u64, "{b1}");
    assert!(n(&b1, &["list", "count"]) >= 1, "{b1}");

    // The second (latest, the default): every chunk changed, most are delta blobs.
    let b2 = json(&t, &["stats", "--json", "--breakdown"])["breakdown"].clone();
    assert_eq!(b2["snapshot"], second["id"], "{b2}");
    assert_eq!(n(&b2, &["bytes_added"]), n(&second, &["bytes_added"]));
    assert_adds_up(&b2);
    let (deltas, whole) = (n(&b2, &["delta", "count"]), n(&b2, &["whole", "count"]));
    assert!(deltas > 0 && deltas > 4 * whole, "{b2}");
    // Every chunk changed but one the 16 KiB spacing can miss: a chunk shorter than that
    // (a table start's cut, or the stream's tail after the last change) may come out the same.
    // Boundaries depend on the repository's own chunker key, so this varies by repository.
    let changed = n(&b2, &["delta", "raw"]) + n(&b2, &["whole", "raw"]);
    let len = dump.len() as u64;
    assert!(
        changed <= len && changed + 2 * 16 * 1024 >= len,
        "almost every chunk changed: {b2}"
    );
    assert!(
        n(&b2, &["delta", "stored"]) < n(&b2, &["delta", "raw"]) / 20,
        "{b2}"
    );
    let share = b2["no_base_share"].as_f64().unwrap();
    assert!(
        (share - whole as f64 / (whole + deltas) as f64).abs() < 1e-9,
        "{b2}"
    );

    // The text form names every part.
    let out = t.dv(&["stats", "--breakdown"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for want in [
        "delta blobs",
        "data blobs stored whole",
        "list blobs",
        "pack headers and trailers",
        "index files",
        "new data chunks without a delta base",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}

#[test]
fn breakdown_of_an_unchanged_snapshot_is_only_its_new_lists_or_nothing() {
    let t = TestRepo::new();
    let dump = synthetic_dump(1 << 20, 9);
    t.snapshot_bytes(&dump, &[]);
    t.snapshot_bytes(&dump, &[]);
    let b = json(&t, &["stats", "--json", "--breakdown", "latest"])["breakdown"].clone();
    assert_eq!(n(&b, &["bytes_added"]), 0, "{b}");
    assert_eq!(
        n(&b, &["whole", "count"]) + n(&b, &["delta", "count"]),
        0,
        "{b}"
    );
    assert_eq!(n(&b, &["list", "count"]), 0, "{b}");
    assert_eq!(n(&b, &["packs"]), 0, "{b}");
    // An unknown snapshot is an error naming it.
    let out = t
        .dv(&["stats", "--breakdown", "ffffffffff"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("ffffffffff"), "{err}");
}
