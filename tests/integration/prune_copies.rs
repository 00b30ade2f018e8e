//! Prune repacking a pack that holds one copy of a blob stored twice: a delta copy beside a
//! whole copy (a writer stores a chunk again, whole, when the chain of the copy it knew is not
//! live: rule W2), or two delta copies on different bases (two writers that stored the same
//! new chunk at once). The index reads one copy; prune may keep the other. Repacking must open
//! the copy it moves against the base of that copy, not of the one the index reads: before,
//! `forget --prune` failed every time with "delta blob without a base in the index" (seen in
//! `prune::prune_in_a_loop_while_snapshots_run`, about 1 run in 10).

use crate::common::{synthetic_dump, TestRepo, PASSWORD};
use dumpvault::backend::Backend;
use dumpvault::blob::codec;
use dumpvault::format::encode_versioned;
use dumpvault::format::index::IndexFile;
use dumpvault::format::list::{ListBlob, ListEntry};
use dumpvault::format::pack::BlobKind;
use dumpvault::format::snapshot::{Manifest, StreamRef, Summary};
use dumpvault::id::Id;
use dumpvault::pack::packer::Packer;
use dumpvault::repository::FileKind;
use dumpvault::repository::Repository;

/// A plaintext and its blob id.
struct Blob {
    id: Id,
    plain: Vec<u8>,
}

fn blob(repo: &Repository, plain: Vec<u8>) -> Blob {
    Blob {
        id: repo.key().blob_id(&plain),
        plain,
    }
}

/// Writes one pack holding `blobs` (each stored whole, or as a delta on the given base) and
/// one index file listing it; returns (pack id, index file id).
fn write_pack(repo: &Repository, blobs: &[(&Blob, Option<&Blob>)]) -> (Id, Id) {
    let mut packer = Packer::without_index_files(repo.clone());
    for (b, base) in blobs {
        let (sealed, kind, base_id) = match base {
            None => (
                codec::encode_whole(repo.key(), &b.plain, 3),
                BlobKind::Data,
                None,
            ),
            Some(base) => {
                let (sealed, used) =
                    codec::encode(repo.key(), &b.plain, 3, Some((base.id, &base.plain)));
                assert_eq!(used, Some(base.id), "the delta pays");
                (sealed, BlobKind::Delta, used)
            }
        };
        packer
            .add(kind, b.id, b.plain.len() as u32, base_id, &sealed)
            .unwrap();
    }
    let (packs, _) = packer.finish_packs().unwrap();
    assert_eq!(packs.len(), 1);
    let file = IndexFile {
        packs: packs.clone(),
        ..Default::default()
    };
    (Id(packs[0].id), repo.save_index_file(&file).unwrap())
}

fn remove(repo: &Repository, (pack, file): (Id, Id)) {
    repo.backend().delete(&FileKind::Pack.path(&pack)).unwrap();
    repo.backend().delete(&FileKind::Index.path(&file)).unwrap();
}

/// Writes and publishes (as `snapshot` does) a snapshot whose one stream is the chunks
/// `chunks`, in order, under a list blob of its own pack; returns its id and the stream.
fn write_snapshot(repo: &Repository, chunks: &[&Blob]) -> (Id, Vec<u8>) {
    let entries = (chunks.iter())
        .map(|c| ListEntry {
            id: c.id.0,
            size: c.plain.len() as u64,
        })
        .collect();
    let plain = encode_versioned(&ListBlob { level: 0, entries });
    let root = blob(repo, plain);
    let mut packer = Packer::new(repo.clone());
    let sealed = codec::encode_whole(repo.key(), &root.plain, 3);
    (packer.add(
        BlobKind::List,
        root.id,
        root.plain.len() as u32,
        None,
        &sealed,
    ))
    .unwrap();
    packer.finish().unwrap();
    let stream: Vec<u8> = chunks.iter().flat_map(|c| c.plain.clone()).collect();
    let m = Manifest {
        time: "2026-12-06T12:00:00Z".into(),
        host: "test".into(),
        tags: Vec::new(),
        source: Default::default(),
        streams: vec![StreamRef {
            name: "dump.sql".into(),
            size: stream.len() as u64,
            blake3: *blake3::hash(&stream).as_bytes(),
            root: root.id.0,
            chunks: chunks.len() as u64,
            sections: Vec::new(),
        }],
        summary: Summary::default(),
        original: None,
    };
    let id = repo.save_manifest(&m).unwrap();
    dumpvault::repository::catalogue::publish(repo, &id, &m, None).unwrap();
    (id, stream)
}

/// `base` with three bytes changed, from `at` on: a delta on `base` is a few bytes.
fn edited(base: &[u8], seed: u8, at: usize) -> Vec<u8> {
    let mut x = base.to_vec();
    for i in [at, at + 20_000, at + 40_000] {
        x[i] ^= seed;
    }
    x
}

/// Prunes (repacking anything with unused space), then checks every byte, restores the
/// snapshot, prunes again (deleting what the first one marked) and checks and restores again.
fn prune_checks_and_restores(t: &TestRepo, snapshot: &Id, stream: &[u8]) {
    for _ in 0..2 {
        let out = t
            .dv(&["prune", "--grace", "0s", "--max-unused", "0%", "--json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "prune failed: {err}");
        t.dv(&["check", "--read-data"]).assert().success();
        let target = t.path("restored.sql");
        let _ = std::fs::remove_file(&target);
        let target_arg = target.to_str().unwrap();
        (t.dv(&["restore", &snapshot.to_hex(), "--target", target_arg]))
            .assert()
            .success();
        assert!(
            std::fs::read(&target).unwrap() == stream,
            "restored stream differs"
        );
    }
}

/// Two bases `b1` and `b2` (a few bytes apart) and a blob `x` with the edits of both (and one
/// of its own): its delta on either base copies that base's edit, so it does not decode
/// against the other base. Returns `[b1, b2, x]`.
fn two_bases(repo: &Repository) -> [Blob; 3] {
    let base = synthetic_dump(48 * 1024, 71);
    let b1 = blob(repo, edited(&base, 1, 100));
    let b2 = blob(repo, edited(&base, 2, 3000));
    let x = blob(repo, edited(&edited(&b1.plain, 2, 3000), 3, 6000));
    [b1, b2, x]
}

fn open(t: &TestRepo) -> Repository {
    let backend = Backend::open(t.repo.to_str().unwrap()).unwrap();
    Repository::open(backend, PASSWORD.as_bytes()).unwrap()
}

#[test]
fn a_delta_copy_kept_beside_the_whole_copy_the_index_reads_is_repacked() {
    let t = TestRepo::new();
    let repo = open(&t);
    let b = blob(&repo, synthetic_dump(48 * 1024, 61));
    let x = blob(&repo, edited(&b.plain, 1, 100));
    let unused = blob(&repo, synthetic_dump(48 * 1024, 62));
    write_pack(&repo, &[(&b, None)]);
    // Pack `delta` holds x as a delta on b, and an unused blob (so it is repacked); pack
    // `whole` holds x whole. The index reads the whole copy (a whole copy beats a delta);
    // prune claims each used blob in the first pack by id that serves it, so the delta copy
    // is the one kept (and moved) when `delta` sorts first: write `whole` until it does.
    let (delta, _) = write_pack(&repo, &[(&x, Some(&b)), (&unused, None)]);
    let mut whole = write_pack(&repo, &[(&x, None)]);
    while whole.0 < delta {
        remove(&repo, whole);
        whole = write_pack(&repo, &[(&x, None)]);
    }
    let (snapshot, stream) = write_snapshot(&repo, &[&x, &b]);
    prune_checks_and_restores(&t, &snapshot, &stream);
}

#[test]
fn a_delta_copy_on_another_base_than_the_indexed_copy_is_repacked() {
    let t = TestRepo::new();
    let repo = open(&t);
    let [b1, b2, x] = two_bases(&repo);
    let unused = [71, 72, 73].map(|s| blob(&repo, synthetic_dump(48 * 1024, s + 10)));
    write_pack(&repo, &[(&b1, None), (&b2, None)]);
    // x as a delta on b1 (pack `one`) and on b2 (pack `two`), each beside an unused blob. The
    // index reads the copy of the index file it reads first (files in id order); prune keeps
    // the copy of the pack first by id. Write `two` until these differ.
    let one = write_pack(&repo, &[(&x, Some(&b1)), (&unused[0], None)]);
    let mut two = write_pack(&repo, &[(&x, Some(&b2)), (&unused[1], None)]);
    while (one.0 < two.0) == (one.1 < two.1) {
        remove(&repo, two);
        two = write_pack(&repo, &[(&x, Some(&b2)), (&unused[2], None)]);
    }
    let (snapshot, stream) = write_snapshot(&repo, &[&x, &b1, &b2]);
    prune_checks_and_restores(&t, &snapshot, &stream);
}

/// `check --read-data` and `repair packs` open every copy they read against the base its own
/// entry names: before, `repair packs` decoded the copy the index does not read against the
/// indexed copy's base, called it damaged ("blob content does not match its id") and retired
/// its pack.
#[test]
fn check_and_repair_packs_open_a_delta_copy_on_another_base_against_its_own() {
    let t = TestRepo::new();
    let repo = open(&t);
    let [b1, b2, x] = two_bases(&repo);
    write_pack(&repo, &[(&b1, None), (&b2, None)]);
    write_pack(&repo, &[(&x, Some(&b1))]);
    write_pack(&repo, &[(&x, Some(&b2))]);
    let (snapshot, stream) = write_snapshot(&repo, &[&x, &b1, &b2]);
    t.dv(&["check", "--read-data"]).assert().success();
    let out = t.dv(&["repair", "packs", "--json"]).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "repair packs failed: {stdout}{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["examined"], 4, "{stdout}");
    assert_eq!(v["repaired"], serde_json::json!([]), "{stdout}");
    assert_eq!(v["dropped_blobs"], serde_json::json!([]), "{stdout}");
    assert_eq!(v["index_file"], serde_json::Value::Null, "{stdout}");
    t.dv(&["check", "--read-data"]).assert().success();
    let target = t.path("restored.sql");
    (t.dv(&[
        "restore",
        &snapshot.to_hex(),
        "--target",
        target.to_str().unwrap(),
    ]))
    .assert()
    .success();
    assert!(
        std::fs::read(&target).unwrap() == stream,
        "restored stream differs"
    );
}
