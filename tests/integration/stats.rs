//! `stats` (whole repository and `--by database`) against the snapshot list and the bytes in
//! the repository directory.

use crate::common::{files_under, json, snapshots, sqlite_two_tables, synthetic_dump, TestRepo};

/// Sum of the sizes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    files_under(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[test]
fn stats_agree_with_snapshots_and_the_repository_directory() {
    let t = TestRepo::new();
    let base = synthetic_dump(400_000, 4);
    let mut changed = base.clone();
    changed[200_000..200_020].copy_from_slice(b"changed row changed!");
    t.snapshot_bytes(&base, &["--time", "2026-01-01T00:00:00+00:00"]);
    let second = t.snapshot_bytes(&changed, &["--time", "2026-01-03T00:00:00+00:00"]);
    let db = t.path("shop.db");
    sqlite_two_tables(&db, 500);
    let url = format!("sqlite://{}", db.display());
    t.dv(&["snapshot", &url, "--time", "2026-01-02T00:00:00+00:00"])
        .assert()
        .success();

    let list = snapshots(&t);
    assert_eq!(list.len(), 3);
    let s = json(&mut t.dv(&["stats", "--json"]));
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    let sum = |k: &str| list.iter().map(|e| e[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(n("snapshots"), 3);
    assert_eq!(n("logical_bytes"), sum("size"));
    assert_eq!(n("added_bytes"), sum("added"));
    assert_eq!(n("pack_bytes"), dir_bytes(&t.repo.join("data")));
    assert_eq!(n("packs"), t.packs().len() as u64);
    assert_eq!(n("index_bytes"), dir_bytes(&t.repo.join("index")));
    assert_eq!(n("stored_bytes"), n("pack_bytes") + n("index_bytes"));
    assert_eq!(n("repository_bytes"), dir_bytes(&t.repo));
    let ratio = s["dedup_ratio"].as_f64().unwrap();
    assert!((ratio - n("logical_bytes") as f64 / n("stored_bytes") as f64).abs() < 1e-9);
    assert!(ratio > 1.0, "two near-identical dumps deduplicate: {s}");
    // Two days from the first to the last snapshot; growth = what came after the first.
    assert!((s["span_days"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{s}");
    let first_added = list[0]["added"].as_u64().unwrap();
    let growth = s["growth_bytes_per_day"].as_f64().unwrap();
    assert!(
        (growth - (n("added_bytes") - first_added) as f64 / 2.0).abs() < 1e-6,
        "{s}"
    );
    assert!(second["bytes_added"].as_u64().unwrap() < first_added);

    let by = json(&mut t.dv(&["stats", "--by", "database", "--json"]));
    let rows = by["databases"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by}");
    // Piped snapshots are the database named by their stream (`dump.sql`: `dump`).
    assert_eq!(rows[0]["database"], "dump", "{by}");
    assert_eq!(rows[0]["snapshots"], 2);
    assert_eq!(rows[1]["database"], "shop.db");
    assert_eq!(rows[1]["snapshots"], 1);
    assert!(rows[1]["growth_bytes_per_day"].is_null());
    let total = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total("logical_bytes"), n("logical_bytes"));
    assert_eq!(total("added_bytes"), n("added_bytes"));
    let out = t.dv(&["stats", "--by", "database"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("dedup ratio") && text.contains("shop.db"),
        "{text}"
    );
}

/// Snapshots that span less than a day give no growth rate, in JSON as in text (issue 18:
/// `growth: 16.6 GiB/day over 0.0 days`).
#[test]
fn no_growth_rate_before_the_snapshots_span_a_day() {
    let t = TestRepo::new();
    let base = synthetic_dump(200_000, 7);
    let mut changed = base.clone();
    changed.extend_from_slice(b"INSERT INTO t VALUES (1);\n");
    t.snapshot_bytes(&base, &["--time", "2026-01-01T00:00:00+00:00"]);
    t.snapshot_bytes(&changed, &["--time", "2026-01-01T01:00:00+00:00"]);
    let s = json(&mut t.dv(&["stats", "--json"]));
    assert!(s["growth_bytes_per_day"].is_null(), "{s}");
    assert!(
        (s["span_days"].as_f64().unwrap() - 1.0 / 24.0).abs() < 1e-9,
        "{s}"
    );
    let out = t.dv(&["stats"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("they span 1.0 hours"), "{text}");
}
