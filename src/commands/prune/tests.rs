//! Prune against snapshots that race with it, on the memory backend: the orders of events the
//! protocol must survive (`repo-format.md`, "Prune"), forced deterministically.

use super::*;
use crate::commands::restore;
use crate::commands::snapshot::{self, SnapshotOptions};
use crate::format::encode_json;
use crate::format::lock::Lock;
use crate::format::pack::{BlobKind, PackBlob};
use crate::index::SharedIndex;
use crate::progress::NoProgress;
use crate::repository::fixture::{edited, memory_repo, noise};
use crate::source::stdin::ReaderSource;
use crate::source::DumpSource;

fn repo(name: &str) -> Repository {
    memory_repo(&format!("prune-{name}"))
}

fn snap(repo: &Repository, index: &SharedIndex, bytes: Vec<u8>) -> (Id, Manifest) {
    let src: Box<dyn DumpSource> = Box::new(ReaderSource::new(std::io::Cursor::new(bytes)));
    let o = snapshot::run(
        repo,
        index,
        vec![("d".into(), src)],
        &SnapshotOptions::default(),
        &NoProgress,
    )
    .unwrap();
    (o.id, o.manifest)
}

fn restored(repo: &Repository, id: &Id) -> Vec<u8> {
    let m = repo.load_manifest(id).unwrap();
    let index = Index::load(repo).unwrap();
    let mut out = Vec::new();
    restore::run(repo, &index, id, &m.streams[0], None, &mut out, &NoProgress).unwrap();
    out
}

fn forget(repo: &Repository, id: &Id) {
    repo.backend().delete(&FileKind::Snapshot.path(id)).unwrap();
}

fn prune(repo: &Repository) -> Stats {
    let opts = PruneOptions {
        settings: Settings {
            grace_secs: 0,
            max_unused_percent: Some(5.0),
            instant_delete: false,
        },
        dry_run: false,
    };
    run(repo, &opts, &NoProgress).unwrap().stats
}

#[test]
fn snapshot_deduplicating_against_a_just_marked_pack_stays_restorable() {
    let r = repo("race");
    let a = noise(1, 300_000);
    let (first, _) = snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), a.clone());
    forget(&r, &first);
    // A snapshot process loads the index before prune marks the packs of `a` obsolete...
    let early = SharedIndex::start(&r, "snapshot").unwrap();
    early.get().unwrap();
    let p1 = prune(&r);
    assert!(p1.unused_packs > 0, "{p1:?}");
    // ...and stores the same data after the mark: it deduplicates against the marked packs.
    let (late, m) = snap(&r, &early, a.clone());
    assert_eq!(m.summary.new_blobs, 0);
    assert!(restored(&r, &late) == a, "readable from the obsolete packs");
    // The next prune finds the snapshot referencing blobs that only obsolete packs hold.
    let p2 = prune(&r);
    assert_eq!(p2.resurrected_packs, p1.unused_packs, "{p2:?}");
    assert_eq!(p2.delete_packs, 0);
    let p3 = prune(&r);
    assert_eq!((p3.delete_packs, p3.waiting_packs), (0, 0), "{p3:?}");
    assert!(restored(&r, &late) == a);
    // Live again: new snapshots deduplicate against them.
    let (_, again) = snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), a.clone());
    assert_eq!(again.summary.new_blobs, 0);
}

#[test]
fn marked_packs_wait_for_snapshots_that_started_before_the_mark() {
    let r = repo("held");
    let (first, _) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(2, 200_000),
    );
    let (second, _) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(3, 100_000),
    );
    forget(&r, &first);
    // A snapshot that started well before the mark and is still running.
    let now = lock::now_secs();
    let running = Lock {
        exclusive: false,
        host: crate::hostname(),
        pid: std::process::id(),
        time: now,
        created: now - 100,
        command: "snapshot".into(),
    };
    let lock_id = r.save_file(FileKind::Lock, &encode_json(&running)).unwrap();
    let packs_before = r.list(FileKind::Pack).unwrap().len() as u64;
    let p1 = prune(&r);
    assert!(p1.unused_packs > 0);
    let p2 = prune(&r);
    assert_eq!(p2.delete_packs, 0, "{p2:?}");
    assert_eq!(p2.deferred_by_lock, p1.unused_packs);
    r.backend().delete(&FileKind::Lock.path(&lock_id)).unwrap();
    let p3 = prune(&r);
    assert_eq!(p3.delete_packs, p1.unused_packs, "{p3:?}");
    let packs_after = r.list(FileKind::Pack).unwrap().len() as u64;
    assert_eq!(packs_after, packs_before - p1.unused_packs);
    assert!(restored(&r, &second) == noise(3, 100_000));
    assert_eq!(
        r.list(FileKind::Index).unwrap().len(),
        1,
        "one compacted index"
    );
}

#[test]
fn dry_run_and_instant_delete() {
    let r = repo("instant");
    let (first, _) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(4, 200_000),
    );
    let (second, _) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(5, 100_000),
    );
    forget(&r, &first);
    let files = |r: &Repository| {
        (
            r.list(FileKind::Pack).unwrap(),
            r.list(FileKind::Index).unwrap(),
        )
    };
    let before = files(&r);
    let mut opts = PruneOptions {
        dry_run: true,
        ..Default::default()
    };
    let dry = run(&r, &opts, &NoProgress).unwrap();
    assert!(dry.dry_run && dry.stats.unused_packs > 0);
    assert_eq!(files(&r), before, "a dry run changes nothing");
    opts.dry_run = false;
    opts.settings.instant_delete = true;
    let out = run(&r, &opts, &NoProgress).unwrap();
    assert_eq!(out.stats.delete_packs, dry.stats.unused_packs);
    assert_eq!(
        files(&r).0.len(),
        before.0.len() - dry.stats.unused_packs as usize
    );
    assert!(restored(&r, &second) == noise(5, 100_000));
    assert!(lock::list(&r).unwrap().is_empty());
}

/// The list blobs and data chunks of `m`'s streams.
fn blobs_of(repo: &Repository, index: &Index, m: &Manifest) -> HashSet<Id> {
    let mut out = HashSet::new();
    for s in &m.streams {
        let mut walk = Walk::of(repo, index, Id(s.root)).once();
        for n in walk.by_ref() {
            if let Node::Chunk(c) = n.unwrap() {
                out.insert(c.id);
            }
        }
        out.extend(walk.into_seen());
    }
    out
}

/// Issue 16: prune holds the used blobs as their places in the index (8 bytes each, not
/// 32-byte ids); a blob counts as used exactly when a snapshot walked references it.
#[test]
fn used_blobs_by_place_are_the_snapshots_blobs() {
    let r = repo("used-at");
    let (_, kept) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(1, 1_500_000),
    );
    let (_, other) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(2, 1_500_000),
    );
    let index = Index::load(&r).unwrap();
    let (mine, theirs) = (blobs_of(&r, &index, &kept), blobs_of(&r, &index, &other));
    assert!(mine.len() > 4 && theirs.difference(&mine).count() > 4);
    let keys = used_blobs(&r, &index, &[(Id([0; 32]), kept)]).unwrap();
    let used = UsedAt {
        index: &index,
        keys: &keys,
    };
    assert_eq!(used.count(), mine.len());
    assert!(mine.iter().all(|id| used.contains(id)));
    assert!(theirs.difference(&mine).all(|id| !used.contains(id)));
}

/// Flips one byte in the middle of the file at `path`; returns its bytes as they were.
fn flip(repo: &Repository, path: &str) -> Vec<u8> {
    let good = repo.backend().read(path).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    repo.backend().write(path, bad).unwrap();
    good
}

fn grace0(dry_run: bool) -> PruneOptions {
    PruneOptions {
        settings: Settings {
            grace_secs: 0,
            max_unused_percent: Some(5.0),
            instant_delete: false,
        },
        dry_run,
    }
}

/// Probe finding 13: a manifest that does not open (one flipped byte) stops prune, dry run or
/// not, before it marks or deletes anything; put back from a copy, its snapshot restores.
/// (The old prune skipped it with a warning, marked its packs, and the next prune deleted
/// them.)
#[test]
fn a_damaged_manifest_stops_prune_before_it_marks_anything() {
    let r = repo("damaged-manifest");
    let (a, b) = (noise(21, 200_000), noise(22, 200_000));
    snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), a.clone());
    let (bid, _) = snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), b.clone());
    let path = FileKind::Snapshot.path(&bid);
    let good = flip(&r, &path);
    let files = |r: &Repository| {
        (
            r.list(FileKind::Pack).unwrap(),
            r.list(FileKind::Index).unwrap(),
        )
    };
    let before = files(&r);
    for dry_run in [true, false, false] {
        let e = run(&r, &grace0(dry_run), &NoProgress).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Corrupt { .. }), "{msg}");
        assert_eq!(e.exit_code(), crate::error::EXIT_DAMAGED);
        for part in [
            path.as_str(),
            "cannot be read",
            "without marking or deleting anything",
            "back from a copy",
            "`dumpvault repair snapshots --forget-broken`",
        ] {
            assert!(msg.contains(part), "{part:?} missing: {msg}");
        }
        assert_eq!(files(&r), before, "nothing marked or deleted");
    }
    assert!(lock::list(&r).unwrap().is_empty(), "the lock is released");
    // The replica's copy of the manifest: the snapshot restores, and prune keeps its data.
    r.backend().write(&path, good).unwrap();
    prune(&r);
    prune(&r);
    assert!(restored(&r, &bid) == b);
}

/// Several damaged manifests are named (up to five, then a count).
#[test]
fn unreadable_manifests_names_five_and_counts_the_rest() {
    let r = repo("damaged-many");
    let ids: Vec<Id> = (1..=7u8).map(|n| Id([n; 32])).collect();
    let msg = unreadable_manifests(&r, &ids).to_string();
    assert!(msg.starts_with("7 snapshots ("), "{msg}");
    assert!(msg.contains(&FileKind::Snapshot.path(&ids[4])), "{msg}");
    assert!(!msg.contains(&FileKind::Snapshot.path(&ids[5])), "{msg}");
    assert!(
        msg.contains("2 more") && msg.contains("the files back"),
        "{msg}"
    );
}

/// A damaged manifest that a tombstone forgets (`repair snapshots --forget-broken` or a
/// `forget` interrupted before deleting it) is given up: prune goes on and deletes it.
#[test]
fn a_damaged_manifest_a_tombstone_forgets_does_not_stop_prune() {
    let r = repo("damaged-forgotten");
    let (a, b) = (noise(23, 200_000), noise(24, 200_000));
    let (aid, _) = snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), a);
    snap(&r, &SharedIndex::start(&r, "snapshot").unwrap(), b);
    let path = FileKind::Snapshot.path(&aid);
    flip(&r, &path);
    crate::repository::catalogue::forget(&r, &[aid]).unwrap();
    let out = run(&r, &grace0(false), &NoProgress).unwrap();
    assert_eq!(out.forgotten_manifests_removed, 1);
    assert!(out.stats.unused_packs > 0, "{out:?}");
    assert_eq!(r.backend().size(&path).unwrap(), None);
}

/// Phase two: a manifest written while prune ran that does not open stops prune before it
/// deletes anything (it may need a pack due for deletion).
#[test]
fn a_damaged_manifest_written_during_prune_stops_it_before_deleting() {
    let r = repo("damaged-fresh");
    let (aid, _) = snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(25, 200_000),
    );
    snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(26, 200_000),
    );
    forget(&r, &aid);
    assert!(prune(&r).unused_packs > 0);
    let g = gather(&r).unwrap();
    let mut plan = g.plan(lock::now_secs() + 1, grace0(false).settings);
    assert!(!plan.delete.is_empty());
    let fresh = Id([7; 32]);
    r.backend()
        .write(
            &FileKind::Snapshot.path(&fresh),
            b"not a sealed manifest".to_vec(),
        )
        .unwrap();
    let e = recheck(&r, &g, &mut plan).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&FileKind::Snapshot.path(&fresh)), "{msg}");
    assert!(msg.contains("--forget-broken"), "{msg}");
}

/// Probe finding 7 j: a damaged index file stops prune with the command that rebuilds it.
#[test]
fn a_damaged_index_file_stops_prune_with_repair_index() {
    let r = repo("damaged-index");
    snap(
        &r,
        &SharedIndex::start(&r, "snapshot").unwrap(),
        noise(27, 100_000),
    );
    let (file, _) = r.list(FileKind::Index).unwrap()[0];
    flip(&r, &FileKind::Index.path(&file));
    let e = run(&r, &grace0(false), &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.exit_code(), crate::error::EXIT_DAMAGED, "{msg}");
    assert!(msg.contains(&FileKind::Index.path(&file)), "{msg}");
    assert!(msg.contains("run `dumpvault repair index`"), "{msg}");
}

/// Three snapshots of one stream, each chunk a delta on the one before (a, then b, then c),
/// and b forgotten: b's deltas are c's bases, so they are used, and b's list blobs are not,
/// so b's pack is repacked. Returns the repository, the snapshots of a and c, and their data.
fn deltas_to_repack(name: &str) -> (Repository, [(Id, Vec<u8>); 2]) {
    let r = repo(name);
    let a = noise(31, 400_000);
    let (b, c) = (edited(&a, 1), edited(&edited(&a, 1), 2));
    let mut ids = Vec::new();
    for bytes in [&a, &b, &c] {
        let reader = ReaderSource::new(std::io::Cursor::new(bytes.to_vec()));
        let src: Box<dyn DumpSource> = Box::new(reader.with_database("d".into()));
        // A process per snapshot, as from the command line.
        let r = Repository::open(r.backend().clone(), b"pw").unwrap();
        let index = SharedIndex::start(&r, "snapshot").unwrap();
        let o = snapshot::run(
            &r,
            &index,
            vec![("d".into(), src)],
            &SnapshotOptions::default(),
            &NoProgress,
        )
        .unwrap();
        ids.push((o.id, o.delta_blobs));
    }
    assert_eq!(ids[0].1, 0);
    assert!(ids[1].1 > 0 && ids[2].1 > 0, "deltas stored: {ids:?}");
    forget(&r, &ids[1].0);
    (r, [(ids[0].0, a), (ids[2].0, c)])
}

/// Issue 16: repack copies a delta blob once it opens with the key, without reading and
/// decoding its chain of bases from other packs (that decoding was 94% of a prune's CPU time
/// on 9 hourly snapshots of a 570 MB dump: 3.1 s, now 0.34 s). Fails on the old code, which
/// read every copied delta's bases. What was copied still restores.
#[test]
fn repack_copies_delta_blobs_without_reading_their_bases() {
    let (r, kept) = deltas_to_repack("repack-deltas");
    // A new process: nothing in its cache of delta bases.
    let fresh = Repository::open(r.backend().clone(), b"pw").unwrap();
    let mut opts = grace0(false);
    opts.settings.instant_delete = true;
    let out = run(&fresh, &opts, &NoProgress).unwrap();
    assert!(out.stats.repack_packs > 0, "{:?}", out.stats);
    assert_eq!(fresh.base_cache().bytes_read(), 0, "no delta base read");
    for (id, bytes) in &kept {
        assert!(restored(&r, id) == *bytes);
    }
}

/// A delta blob that does not open (one flipped byte) stops the repack before anything is
/// deleted or marked: prune fails naming the pack, and every file is still there.
#[test]
fn a_damaged_delta_blob_stops_the_repack_before_anything_is_deleted() {
    let (r, _) = deltas_to_repack("repack-damaged-delta");
    let plan_of = |r: &Repository| run(r, &grace0(true), &NoProgress).unwrap().stats;
    assert!(plan_of(&r).repack_packs > 0);
    // A delta of the forgotten snapshot: a delta on a whole blob (the newest snapshot's are
    // deltas on deltas). Its pack is the one the plan repacks.
    let files = Index::load_files(&r).unwrap();
    let entries: Vec<(Id, PackBlob)> = (files.iter().flat_map(|(_, f)| &f.packs))
        .flat_map(|p| p.blobs.iter().map(|b| (Id(p.id), *b)))
        .collect();
    let kind_of = |id: [u8; 32]| {
        entries
            .iter()
            .find(|(_, b)| b.id == id)
            .map(|(_, b)| b.kind)
    };
    let (pack, blob) = (entries.iter())
        .find(|(_, b)| {
            b.base
                .is_some_and(|base| kind_of(base) == Some(BlobKind::Data))
        })
        .cloned()
        .expect("a delta on a whole blob");
    let path = FileKind::Pack.path(&pack);
    let mut bytes = r.backend().read(&path).unwrap();
    bytes[blob.offset as usize + blob.length as usize / 2] ^= 1;
    r.backend().write(&path, bytes).unwrap();
    let files = |r: &Repository| {
        (
            r.list(FileKind::Pack).unwrap(),
            r.list(FileKind::Index).unwrap(),
        )
    };
    let before = files(&r);
    let mut opts = grace0(false);
    opts.settings.instant_delete = true;
    let err = run(&r, &opts, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains(&path) || err.contains(&pack.to_hex()[..8]),
        "{err}"
    );
    assert_eq!(files(&r), before, "nothing deleted or written");
}
