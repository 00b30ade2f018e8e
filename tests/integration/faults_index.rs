//! Fault injection, index side: damaged, missing, wrong and disagreeing index files, and a
//! snapshot referencing a chunk no index knows (see `faults.rs` for the shared repository).

use crate::faults::*;
use dumpvault::compress::compress;
use dumpvault::format::encode_versioned;
use dumpvault::format::index::IndexFile;
use dumpvault::format::list::{ListBlob, ListEntry};
use dumpvault::format::pack::BlobKind;
use dumpvault::id::Id;
use dumpvault::index::Index;
use dumpvault::pack::packer::Packer;
use dumpvault::pack::reader::read_blob;
use dumpvault::repository::Repository;
use dumpvault::stream::decode_list;
use dumpvault::tables::{Section, SectionKind};
use std::path::Path;

#[test]
fn damaged_index_file_is_named_and_repair_index_recovers() {
    for damage in [flip_middle as fn(&Path), truncate] {
        let b = Base::build();
        let index = &b.snaps[1].index[0];
        damage(index);
        b.check_fails(
            &[],
            &[&name(index), &b.snaps[1].short, "repair index"],
            &[&b.snaps[0].short, &b.snaps[2].short],
        );
        b.restore_fails(1);
        b.restores(0);
        b.restores(2);
        b.repair_index_recovers();
        assert!(!index.exists(), "the damaged index file is replaced");
    }
}

#[test]
fn missing_index_file_is_recovered_by_repair_index() {
    let b = Base::build();
    let index = &b.snaps[1].index[0];
    std::fs::remove_file(index).unwrap();
    b.check_fails(
        &[],
        &[&b.snaps[1].short, "in no index file", "repair index"],
        &[&b.snaps[0].short],
    );
    b.restore_fails(1);
    b.restores(0);
    b.restores(2);
    // Forgetting would throw away a recoverable snapshot: refused until the index is repaired.
    let (code, _, err) = b.run(&["repair", "snapshots", "--forget-broken"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("repair index"), "{err}");
    assert!(b.snapshot_file(1).exists());
    b.repair_index_recovers();
}

/// Writes, through the library, a copy of snapshot `i`'s index file with blob `victim` of its
/// first pack moved to another blob's offset; returns the new file's id.
fn write_moved_entry(b: &Base, i: usize, supersede: bool) -> Id {
    let repo = b.repo();
    let old = id_of(&b.snaps[i].index[0]);
    let mut f: IndexFile = repo.load_index_file(&old).unwrap();
    let blobs = &mut f.packs[0].blobs;
    let v = blobs.iter().position(|x| x.kind == BlobKind::Data).unwrap();
    let other = (v + 1) % blobs.len();
    blobs[v].offset = blobs[other].offset;
    if supersede {
        f.supersedes = vec![old.0];
    }
    repo.save_index_file(&f).unwrap()
}

#[test]
fn index_entry_with_a_wrong_offset_is_named_and_repaired() {
    let b = Base::build();
    let new = write_moved_entry(&b, 1, true);
    b.check_fails(
        &[],
        &[&new.to_hex(), &b.snaps[1].short, "pack header says"],
        &[&b.snaps[0].short, &b.snaps[2].short],
    );
    b.restore_fails(1);
    b.restores(0);
    b.restores(2);
    b.repair_index_recovers();
}

#[test]
fn two_index_files_disagreeing_are_named_and_repaired() {
    let b = Base::build();
    let new = write_moved_entry(&b, 1, false);
    b.check_fails(
        &[],
        &[&new.to_hex(), "pack header says"],
        &[&b.snaps[0].short, &b.snaps[2].short],
    );
    // Whichever entry the index uses, the restore is right or fails cleanly.
    let target = b.t.path("either.sql");
    let (code, _, _) = b.run(&[
        "restore",
        &b.snaps[1].id,
        "--target",
        target.to_str().unwrap(),
    ]);
    if code == 0 {
        assert!(std::fs::read(&target).unwrap() == b.snaps[1].dump);
    } else {
        assert!(!target.exists());
    }
    b.restores(0);
    b.restores(2);
    b.repair_index_recovers();
}

/// Appends the first two data chunks under list blob `id` to `out`, depth first.
fn first_chunks(repo: &Repository, index: &Index, id: Id, out: &mut Vec<ListEntry>) {
    let list = decode_list(&id, &read_blob(repo, index, &id).unwrap()).unwrap();
    for e in list.entries {
        if out.len() == 2 {
            return;
        }
        if list.level == 0 {
            out.push(e);
        } else {
            first_chunks(repo, index, Id(e.id), out);
        }
    }
}

#[test]
fn snapshot_referencing_an_unknown_chunk_is_named_with_its_table() {
    let b = Base::build();
    let repo = b.repo();
    let index = Index::load(&repo).unwrap();
    let base_id = Id::from_hex(&b.snaps[0].id).unwrap();
    let mut m = repo.load_manifest(&base_id).unwrap();
    // The first two chunks of snapshot 0, with an unknown chunk between them.
    let mut chunks = Vec::new();
    first_chunks(&repo, &index, Id(m.streams[0].root), &mut chunks);
    let (a, c) = (chunks[0], chunks[1]);
    let unknown = Id::random();
    let entries = vec![
        a,
        ListEntry {
            id: unknown.0,
            size: 1000,
        },
        c,
    ];
    let plain = encode_versioned(&ListBlob { level: 0, entries });
    let root = repo.key().blob_id(&plain);
    let mut packer = Packer::new(repo.clone());
    packer
        .add(
            BlobKind::List,
            root,
            plain.len() as u32,
            None,
            &repo.key().seal(&compress(&plain, 3)),
        )
        .unwrap();
    packer.finish().unwrap();
    let section = |name: &str, start: u64, end: u64| Section {
        kind: SectionKind::Data,
        object_type: "TABLE DATA".into(),
        name: name.into(),
        table: Some(name.into()),
        start,
        end,
        rows: Some(1),
    };
    let s = &mut m.streams[0];
    s.root = root.0;
    s.size = a.size + 1000 + c.size;
    s.chunks = 3;
    s.sections = vec![
        section("public.intact", 0, a.size),
        section("public.lost", a.size, a.size + 1000),
        section("public.tail", a.size + 1000, s.size),
    ];
    m.source.database = Some("shop".into());
    let sid = repo.save_manifest(&m).unwrap();
    // Published as `snapshot` does: without a catalogue entry a config version 2 repository
    // does not list the manifest (repo-format.md section 17), so restore would not find it.
    dumpvault::repository::catalogue::publish(&repo, &sid, &m, None).unwrap();

    b.check_fails(
        &[],
        &[&unknown.to_hex(), &sid.short(), "public.lost"],
        &[&b.snaps[0].short, "public.intact"],
    );
    let (_, out, _) = b.run(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["detail"].as_str().unwrap().contains(&unknown.to_hex()))
        .unwrap();
    assert_eq!(
        p["affected"],
        serde_json::json!([{"snapshot": sid.short(), "database": "shop", "stream": "dump.sql",
            "tables": ["public.lost"]}])
    );
    let target = b.t.path("unknown.sql");
    let (code, _, err) = b.run(&[
        "restore",
        &sid.to_hex(),
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains(&unknown.to_hex()), "{err}");
    assert!(!target.exists());
    for i in 0..3 {
        b.restores(i);
    }
}
