//! Unit tests of the catalogue parts (config version 3): compaction by database, loads that
//! read one database's part, and parts gone, damaged or left by an interrupted prune.

use super::tests::{pair, sorted};
use super::*;

/// Manifest `n` of SQLite database `db` (stream `<db>.sql`).
fn manifest_of(db: &str, n: u64) -> Manifest {
    let mut m = super::tests::manifest(n);
    m.time = format!("2026-12-06T{:02}:{:02}:00+00:00", n / 60 % 24, n % 60);
    m.source.kind = "sqlite".into();
    m.source.database = Some(db.into());
    m.streams[0].name = format!("{db}.sql");
    m
}

/// Writes `count` snapshots of `db` with their catalogue files; returns their ids.
fn snapshots_of(repo: &Repository, db: &str, count: u64) -> Vec<Id> {
    (0..count)
        .map(|n| {
            let m = manifest_of(db, n);
            let id = repo.save_manifest(&m).unwrap();
            record(repo, &id, &m, None).unwrap();
            id
        })
        .collect()
}

fn ids(view: &View) -> Vec<Id> {
    sorted(view.entries.iter().map(|e| Id(e.id)).collect())
}

fn parts_listed(repo: &Repository) -> Vec<Id> {
    (repo.list(FileKind::CataloguePart).unwrap().into_iter())
        .map(|(id, _)| id)
        .collect()
}

/// The catalogue file of a compacted repository (the only one listed).
fn head(repo: &Repository) -> CatalogueFile {
    let files = repo.list(FileKind::Catalogue).unwrap();
    assert_eq!(files.len(), 1);
    read_file(repo, &files[0].0).unwrap().unwrap()
}

fn identity(db: &str) -> Option<String> {
    CatalogueEntry::of([0; 32], 0, &manifest_of(db, 0)).identity()
}

#[test]
fn version_3_compaction_splits_by_database_and_one_database_reads_its_part_only() {
    let (a, _) = pair("memory://catalogue-parts-split", 3);
    let n = PART_MIN_ENTRIES as u64;
    let big = snapshots_of(&a, "big", n + 3);
    let other = snapshots_of(&a, "other", n);
    let small = snapshots_of(&a, "small", 3);
    let all = sorted([big.clone(), other.clone(), small.clone()].concat());
    let c = compact(&a, &[]).unwrap();
    assert_eq!((c.parts_written, c.parts_removed), (2, 0));
    let h = head(&a);
    assert_eq!(
        h.entries.len(),
        3,
        "a database below the minimum stays inline"
    );
    assert_eq!(h.parts.len(), 2);
    let big_part = h
        .parts
        .iter()
        .find(|p| p.identity == identity("big"))
        .unwrap();
    assert_eq!(big_part.count, n + 3);
    assert!(big_part.names.contains(&"big".to_string()));
    assert_eq!(parts_listed(&a).len(), 2);
    // A new process that needs one database reads that database's part only.
    let fresh = || Repository::open(a.backend().clone(), b"pw").unwrap();
    let r = fresh();
    let big_id = identity("big");
    let v = load_where(&r, Want::Identity(big_id.as_deref())).unwrap();
    assert_eq!(ids(&v), sorted([big.clone(), small.clone()].concat()));
    assert_eq!(
        r.catalogue_memo()
            .state()
            .parts
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![Id(big_part.file)]
    );
    let v = load_where(&r, Want::Identity(identity("small").as_deref())).unwrap();
    assert_eq!(ids(&v), sorted(small.clone()));
    // By `--database` name; then everything.
    let r = fresh();
    let names = vec!["other".to_string()];
    let v = load_where(&r, Want::Databases(&names)).unwrap();
    assert_eq!(ids(&v), sorted([other.clone(), small.clone()].concat()));
    assert_eq!(r.catalogue_memo().state().parts.len(), 1);
    assert_eq!(ids(&load(&r).unwrap()), all);
    assert_eq!(ids(&load(&fresh()).unwrap()), all);
    // Compacted already: nothing written.
    assert_eq!(compact(&a, &[]).unwrap(), Compacted::default());
    // One snapshot of `big` forgotten and its manifest deleted: its part is rewritten, the
    // other database's part named again unchanged, the old part deleted.
    forget(&a, &[big[0]]).unwrap();
    assert!(!ids(&load(&r).unwrap()).contains(&big[0]));
    a.backend()
        .delete(&FileKind::Snapshot.path(&big[0]))
        .unwrap();
    let c = compact(&a, &[]).unwrap();
    assert_eq!((c.parts_written, c.parts_removed), (1, 1));
    let h2 = head(&a);
    let other_file = |h: &CatalogueFile| {
        (h.parts.iter())
            .find(|p| p.identity == identity("other"))
            .map(|p| p.file)
    };
    assert_eq!(other_file(&h2), other_file(&h));
    assert_eq!(parts_listed(&a).len(), 2);
    let live: Vec<Id> = all.iter().copied().filter(|i| *i != big[0]).collect();
    assert_eq!(ids(&load(&fresh()).unwrap()), live);
    // `r` had read the old part: it lists the new catalogue file and reads the new part.
    assert_eq!(ids(&load(&r).unwrap()), live);
    // A version 2 repository keeps one file without parts.
    let (v2, _) = pair("memory://catalogue-parts-v2", 2);
    snapshots_of(&v2, "big", n + 1);
    let c = compact(&v2, &[]).unwrap();
    assert_eq!(c.parts_written, 0);
    assert_eq!(head(&v2).entries.len(), n as usize + 1);
    assert!(parts_listed(&v2).is_empty());
}

#[test]
fn version_3_a_part_gone_or_damaged_falls_back_to_the_manifests_and_prune_replaces_it() {
    let (a, _) = pair("memory://catalogue-parts-damaged", 3);
    let n = PART_MIN_ENTRIES as u64;
    let big = snapshots_of(&a, "big", n);
    let other = snapshots_of(&a, "other", n);
    let all = sorted([big.clone(), other].concat());
    compact(&a, &[]).unwrap();
    let h = head(&a);
    let part = |db: &str| {
        Id(h.parts
            .iter()
            .find(|p| p.identity == identity(db))
            .unwrap()
            .file)
    };
    let fresh = || Repository::open(a.backend().clone(), b"pw").unwrap();
    // Damaged: the catalogue alone cannot say; the listing and the manifests do.
    let path = FileKind::CataloguePart.path(&part("big"));
    let mut bytes = a.backend().read(&path).unwrap();
    bytes[50] ^= 1;
    a.backend().write(&path, bytes).unwrap();
    assert!(load_catalogue_only(&fresh()).unwrap().is_none());
    assert_eq!(ids(&load(&fresh()).unwrap()), all);
    // A load of the other database does not need the damaged part.
    let other_id = identity("other");
    let v = load_where(&fresh(), Want::Identity(other_id.as_deref())).unwrap();
    assert_eq!(v.entries.len(), n as usize);
    // Prune rebuilds the part from the manifests and deletes the damaged one.
    let c = compact(&a, &[]).unwrap();
    assert_eq!((c.parts_written, c.parts_removed), (1, 1));
    assert!(!parts_listed(&a).contains(&part("big")));
    assert_eq!(ids(&load_catalogue_only(&fresh()).unwrap().unwrap()), all);
    // Gone (deleted by hand): the same.
    let h = head(&a);
    let gone = Id(h.parts[0].file);
    a.backend()
        .delete(&FileKind::CataloguePart.path(&gone))
        .unwrap();
    assert!(load_catalogue_only(&fresh()).unwrap().is_none());
    assert_eq!(ids(&load(&fresh()).unwrap()), all);
    let c = compact(&a, &[]).unwrap();
    assert_eq!(c.parts_written, 1);
    assert_eq!(ids(&load_catalogue_only(&fresh()).unwrap().unwrap()), all);
}

#[test]
fn version_3_a_part_no_file_names_is_deleted_by_the_next_compaction() {
    let (a, _) = pair("memory://catalogue-parts-orphan", 3);
    let big = snapshots_of(&a, "big", PART_MIN_ENTRIES as u64);
    compact(&a, &[]).unwrap();
    let named = parts_listed(&a);
    assert_eq!(named.len(), 1);
    // A prune stopped after writing a part, before the catalogue file naming it.
    let entry = CatalogueEntry::of(big[0].0, 1, &manifest_of("big", 0));
    let orphan = write_part(&a, vec![entry]).unwrap();
    assert_eq!(parts_listed(&a).len(), 2);
    // Readers never list parts: the orphan changes nothing.
    let fresh = Repository::open(a.backend().clone(), b"pw").unwrap();
    assert_eq!(ids(&load(&fresh).unwrap()), sorted(big.clone()));
    // The next compaction deletes it, even with nothing else to change, and not the part
    // the catalogue names.
    let c = compact(&a, &[]).unwrap();
    assert_eq!((c.file, c.parts_written, c.parts_removed), (None, 0, 1));
    assert_eq!(parts_listed(&a), named);
    // Nor when it writes: another orphan, and a new snapshot.
    let entry = CatalogueEntry::of(big[1].0, 1, &manifest_of("big", 1));
    write_part(&a, vec![entry]).unwrap();
    let more = snapshots_of(&a, "small", 1);
    let c = compact(&a, &[]).unwrap();
    assert_eq!((c.parts_written, c.parts_removed), (0, 1));
    assert_eq!(parts_listed(&a), named);
    assert!(!parts_listed(&a).contains(&orphan));
    let fresh = Repository::open(a.backend().clone(), b"pw").unwrap();
    assert_eq!(ids(&load(&fresh).unwrap()), sorted([big, more].concat()));
}
