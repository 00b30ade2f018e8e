//! Unit tests of the catalogue: views, two processes, compaction, tombstones.

use super::*;
use crate::backend::Backend;
use crate::crypto::kdf::KdfParams;
use crate::format::snapshot::{StreamRef, Summary};
use crate::repository::InitOptions;
use crate::source::SourceInfo;

pub(super) fn manifest(n: u64) -> Manifest {
    Manifest {
        time: format!("2026-12-06T10:{:02}:00+00:00", n % 60),
        host: "h".into(),
        tags: vec![],
        source: SourceInfo {
            kind: "stdin".into(),
            database: Some(format!("db{n}")),
            ..Default::default()
        },
        streams: vec![StreamRef {
            name: "d.sql".into(),
            size: n,
            blake3: [0; 32],
            root: [0; 32],
            chunks: 1,
            sections: vec![],
        }],
        summary: Summary::default(),
        original: None,
    }
}

fn listed(repo: &Repository) -> Vec<Id> {
    let mut v: Vec<Id> = load(repo)
        .unwrap()
        .entries
        .iter()
        .map(|e| Id(e.id))
        .collect();
    v.sort();
    v
}

fn files(repo: &Repository) -> usize {
    repo.list(FileKind::Catalogue).unwrap().len()
}

/// An entry of database `db` (host `h`) at `time` with one stream `stream`.
fn entry(n: u8, db: &str, time: &str, stream: &str) -> Arc<CatalogueEntry> {
    let mut m = manifest(u64::from(n));
    m.time = time.into();
    m.source.database = Some(db.into());
    m.streams[0].name = stream.into();
    Arc::new(CatalogueEntry::of([n; 32], 1, &m))
}

#[test]
fn newest_with_stream_picks_the_newest_of_the_database_by_time_then_id() {
    let view = View {
        entries: vec![
            // Out of time order, as the id order of a view gives them; a later time in
            // another offset is still compared as an instant.
            entry(1, "a", "2026-12-06T10:00:00+00:00", "d.sql"),
            entry(2, "a", "2026-12-06T12:30:00+02:00", "d.sql"),
            entry(3, "a", "2026-12-06T09:00:00+00:00", "d.sql"),
            entry(4, "b", "2026-12-06T23:00:00+00:00", "d.sql"),
            entry(5, "a", "2026-12-06T11:00:00+00:00", "other.sql"),
            entry(6, "a", "2026-12-06T10:30:00+00:00", "d.sql"),
            entry(7, "a", "2026-12-06T10:30:00+00:00", "d.sql"),
        ],
        ..Default::default()
    };
    let id = |e: Option<&Arc<CatalogueEntry>>| e.map(|e| e.id[0]);
    let a = entry(1, "a", "", "").identity();
    // 12:30+02:00 is 10:30Z: tied with 6 and 7, the greater id wins (as the scan of the
    // whole view did); 5 is newer but has no d.sql.
    assert_eq!(id(view.newest_with_stream(a.as_deref(), "d.sql")), Some(7));
    assert_eq!(
        id(view.newest_with_stream(a.as_deref(), "other.sql")),
        Some(5)
    );
    assert_eq!(id(view.newest_with_stream(a.as_deref(), "x.sql")), None);
    let b = entry(4, "b", "", "").identity();
    assert_eq!(id(view.newest_with_stream(b.as_deref(), "d.sql")), Some(4));
    assert_eq!(id(view.newest_with_stream(Some("c"), "d.sql")), None);
    assert_eq!(id(View::default().newest_with_stream(None, "d.sql")), None);
}

/// Two processes `a` and `b` of a new repository at `url` whose config has `version`.
pub(super) fn pair(url: &str, version: u32) -> (Repository, Repository) {
    let backend = Backend::open(url).unwrap();
    let opts = InitOptions {
        kdf: KdfParams::with_cost(64, 1, 1),
        ..Default::default()
    };
    let a = Repository::init(backend, b"pw", opts).unwrap();
    assert_eq!(a.config().version, crate::format::CONFIG_VERSION);
    let mut config = a.config().clone();
    config.version = version;
    let a = a.with_config(config);
    a.write_config().unwrap();
    let b = Repository::open(a.backend().clone(), b"pw").unwrap();
    assert_eq!(b.config().version, version);
    (a, b)
}

/// Writes manifest `n` and its catalogue file; returns its id.
fn snapshot(repo: &Repository, n: u64, replaces: Option<&Id>) -> Id {
    let m = manifest(n);
    let id = repo.save_manifest(&m).unwrap();
    record(repo, &id, &m, replaces).unwrap();
    id
}

pub(super) fn sorted(mut v: Vec<Id>) -> Vec<Id> {
    v.sort();
    v
}

#[test]
fn two_processes_forget_compact_and_uncatalogued_manifests() {
    let (a, b) = pair("memory://catalogue-two-processes", 1);
    // An older writer: manifests without catalogue entries.
    let old: Vec<Id> = (0..3)
        .map(|n| a.save_manifest(&manifest(n)).unwrap())
        .collect();
    assert_eq!(files(&a), 0);
    let mut all = old.clone();
    all.sort();
    assert_eq!(listed(&a), all);
    // A's next write catalogues them with its own snapshot.
    let m = manifest(3);
    let s3 = a.save_manifest(&m).unwrap();
    record(&a, &s3, &m, None).unwrap();
    assert_eq!(files(&a), 1);
    let f = read_file(&a, &a.list(FileKind::Catalogue).unwrap()[0].0)
        .unwrap()
        .unwrap();
    assert_eq!(f.entries.len(), 4);
    let listed_size = (a.list(FileKind::Snapshot).unwrap().into_iter())
        .find(|(i, _)| *i == s3)
        .unwrap()
        .1;
    assert!(f
        .entries
        .iter()
        .any(|e| Id(e.id) == s3 && e.size == listed_size));
    // A manifest file replaced since its entry was written is read, and found damaged.
    let replaced = old[2];
    let path = FileKind::Snapshot.path(&replaced);
    let good = a.backend().read(&path).unwrap();
    a.backend().write(&path, b"garbage".to_vec()).unwrap();
    let v = load(&b).unwrap();
    assert_eq!(v.damaged, vec![replaced]);
    assert!(!v.entries.iter().any(|e| Id(e.id) == replaced));
    a.backend().write(&path, good).unwrap();
    // B forgets one; A (which read the catalogue before) no longer lists it.
    b.backend()
        .delete(&FileKind::Snapshot.path(&old[0]))
        .unwrap();
    let live: Vec<Id> = listed(&b);
    assert_eq!(live.len(), 3);
    assert_eq!(listed(&a), live);
    // B compacts; A's stale memo still lists exactly the live snapshots.
    let c = compact(&b, &[]).unwrap();
    assert_eq!(c.removed, 1);
    assert_eq!(files(&b), 1);
    assert_eq!(listed(&a), live);
    assert_eq!(compact(&b, &[]).unwrap(), Compacted::default());
    // A manifest whose writer died before its catalogue file is listed, and compaction
    // adds it.
    let orphan = b.save_manifest(&manifest(4)).unwrap();
    assert!(listed(&a).contains(&orphan));
    compact(&b, &[]).unwrap();
    let f = read_file(&b, &b.list(FileKind::Catalogue).unwrap()[0].0)
        .unwrap()
        .unwrap();
    assert!(f.entries.iter().any(|e| Id(e.id) == orphan));
    assert_eq!(f.entries.len(), 4);
}

#[test]
fn version_2_the_catalogue_decides_and_tombstones_hide_for_good() {
    let (a, b) = pair("memory://catalogue-v2", 2);
    // A writer stopped between its manifest and its catalogue file: stored, not visible.
    let orphan = a.save_manifest(&manifest(0)).unwrap();
    assert!(listed(&a).is_empty());
    let s: Vec<Id> = (1..4).map(|n| snapshot(&a, n, None)).collect();
    // One version 2 file per snapshot, holding only its entry (no pending entries).
    assert_eq!(files(&a), 3);
    for (fid, _) in a.list(FileKind::Catalogue).unwrap() {
        assert_eq!(read_file(&a, &fid).unwrap().unwrap().entries.len(), 1);
    }
    assert_eq!(listed(&b), sorted(s.clone()));
    // B forgets s[0] (tombstone first): A, which read the catalogue before, sees it gone
    // although its manifest is still there.
    assert!(forget(&b, &[s[0]]).unwrap().is_some());
    assert_eq!(forget(&b, &[]).unwrap(), None);
    assert_eq!(listed(&a), sorted(vec![s[1], s[2]]));
    // A retag: the new entry and the old snapshot's tombstone in one file.
    let retagged = snapshot(&b, 5, Some(&s[1]));
    assert_eq!(listed(&a), sorted(vec![s[2], retagged]));
    // Compaction catalogues the orphan and keeps the tombstones of the manifests still
    // there.
    let c = compact(&b, &[]).unwrap();
    assert_eq!(c.removed, 5);
    let f = read_file(&b, &b.list(FileKind::Catalogue).unwrap()[0].0)
        .unwrap()
        .unwrap();
    assert_eq!(
        f.forgotten,
        sorted(vec![s[0], s[1]])
            .iter()
            .map(|i| i.0)
            .collect::<Vec<_>>()
    );
    let live = sorted(vec![orphan, s[2], retagged]);
    assert_eq!(listed(&a), live);
    assert_eq!(listed(&b), live);
    // The manifests go; the next compaction drops their tombstones, and no process (A read
    // files with their entries before) brings them back.
    for id in [s[0], s[1]] {
        b.backend().delete(&FileKind::Snapshot.path(&id)).unwrap();
    }
    compact(&b, &[]).unwrap();
    let f = read_file(&b, &b.list(FileKind::Catalogue).unwrap()[0].0)
        .unwrap()
        .unwrap();
    assert!(f.forgotten.is_empty());
    let fresh = Repository::open(a.backend().clone(), b"pw").unwrap();
    assert_eq!(listed(&fresh), live);
    assert_eq!(listed(&a), live);
    assert_eq!(compact(&b, &[]).unwrap(), Compacted::default());
    // A process that read an entry, then missed the tombstone file (forgotten, deleted and
    // compacted meanwhile) does not see a ghost: only listed files count.
    let s6 = snapshot(&b, 6, None);
    assert!(listed(&a).contains(&s6));
    forget(&b, &[s6]).unwrap();
    b.backend().delete(&FileKind::Snapshot.path(&s6)).unwrap();
    compact(&b, &[]).unwrap();
    let stale = Repository::open(a.backend().clone(), b"pw").unwrap();
    assert_eq!(listed(&stale), live);
    assert_eq!(listed(&a), live);
}

#[test]
fn version_2_a_damaged_file_falls_back_to_the_listing() {
    let (a, b) = pair("memory://catalogue-v2-damaged", 2);
    let s: Vec<Id> = (1..3).map(|n| snapshot(&a, n, None)).collect();
    let orphan = a.save_manifest(&manifest(0)).unwrap();
    forget(&a, &[s[0]]).unwrap();
    let victim = (a.list(FileKind::Catalogue).unwrap().into_iter())
        .map(|(f, _)| f)
        .find(|f| {
            read_file(&a, f)
                .unwrap()
                .unwrap()
                .entries
                .iter()
                .any(|e| Id(e.id) == s[1])
        })
        .unwrap();
    let path = FileKind::Catalogue.path(&victim);
    let mut bytes = b.backend().read(&path).unwrap();
    bytes[45] ^= 1;
    b.backend().write(&path, bytes).unwrap();
    assert_eq!(
        load_catalogue_only(&b).unwrap().map(|v| v.entries.len()),
        None
    );
    // Nothing hidden: every manifest not forgotten is listed, s[1] and the orphan included.
    assert_eq!(listed(&b), sorted(vec![s[1], orphan]));
    assert!(tombstones(&b).unwrap().contains(&s[0]));
}

#[test]
fn version_2_a_view_has_each_snapshot_once_in_id_order() {
    let (a, b) = pair("memory://catalogue-v2-once", 2);
    let ids: Vec<Id> = (0..6).map(|n| snapshot(&a, n, None)).collect();
    // The same entries again, in other files (a retried write; a second process's record):
    // readers accept duplicates.
    for (n, id) in ids.iter().enumerate().rev().step_by(2) {
        record(&b, id, &manifest(n as u64), None).unwrap();
    }
    forget(&a, &[ids[3]]).unwrap();
    let live = sorted(ids.iter().copied().filter(|i| *i != ids[3]).collect());
    for repo in [&a, &b] {
        let view = load(repo).unwrap();
        let got: Vec<Id> = view.entries.iter().map(|e| Id(e.id)).collect();
        assert_eq!(got, live, "each once, in snapshot id order");
    }
}
