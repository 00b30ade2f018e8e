//! Tests of the index: the writer rules on live and obsolete packs, the compact tables, and a
//! randomized comparison with the hash-map index they replaced (`reference.rs`).

use super::reference::Reference;
use super::table::Table;
use super::*;
use crate::format::index::ObsoletePack;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(super) fn pack(n: u8, blobs: &[u8]) -> IndexPack {
    IndexPack {
        id: [n; 32],
        size: 100,
        blobs: blobs
            .iter()
            .enumerate()
            .map(|(i, b)| PackBlob {
                kind: BlobKind::Data,
                id: [*b; 32],
                offset: i as u32 * 10,
                length: 10,
                raw_length: 5,
                base: None,
            })
            .collect(),
    }
}

pub(super) fn marked(n: u8, at: i64) -> ObsoletePack {
    ObsoletePack {
        id: [n; 32],
        marked_at: at,
    }
}

#[test]
fn obsolete_blobs_are_readable_but_not_for_dedup() {
    let mut i = Index::default();
    let f = IndexFile {
        packs: vec![pack(1, &[10, 11]), pack(2, &[12])],
        supersedes: vec![],
        obsolete: vec![marked(1, 50)],
    };
    i.add_file(Id([0; 32]), &f).unwrap();
    assert!(!i.contains(&Id([10; 32])));
    assert_eq!(i.get(&Id([10; 32])).unwrap().0, Id([1; 32]));
    assert!(i.contains(&Id([12; 32])));
    assert!(!i.is_live(&Id([1; 32])));
    assert_eq!(i.obsolete[&Id([1; 32])], 50);
}

pub(super) fn delta(n: u8, blob: u8, base: u8) -> IndexPack {
    let mut p = pack(n, &[blob]);
    p.blobs[0].kind = BlobKind::Delta;
    p.blobs[0].base = Some([base; 32]);
    p
}

#[test]
fn w2_a_delta_counts_only_when_its_whole_chain_is_live() {
    // Blob 20 (live pack 5) is a delta on 21 (live pack 6), itself a delta on 22, whose
    // only pack 7 is marked obsolete: no writer may rely on 20 or 21.
    let mut i = Index::default();
    let f = IndexFile {
        packs: vec![delta(5, 20, 21), delta(6, 21, 22), pack(7, &[22])],
        supersedes: vec![],
        obsolete: vec![marked(7, 50)],
    };
    i.add_file(Id([0; 32]), &f).unwrap();
    assert!(!i.contains(&Id([20; 32])));
    assert!(!i.contains(&Id([21; 32])));
    assert!(i.knows(&Id([20; 32])));
    assert_eq!(
        i.chain_packs(&Id([20; 32])),
        vec![Id([5; 32]), Id([6; 32]), Id([7; 32])]
    );
    // A whole copy of 20, written again by a later snapshot, is preferred and counts.
    i.add_file(
        Id([1; 32]),
        &IndexFile {
            packs: vec![pack(8, &[20])],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(i.contains(&Id([20; 32])));
    assert_eq!(i.get(&Id([20; 32])).unwrap().0, Id([8; 32]));
    assert_eq!(i.base_of(&Id([20; 32])), None);
    // A base in no index breaks the chain too.
    let mut j = Index::default();
    j.add_file(
        Id([2; 32]),
        &IndexFile {
            packs: vec![delta(9, 30, 31)],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!j.contains(&Id([30; 32])));
}

#[test]
fn live_in_any_file_wins_and_live_copies_are_preferred() {
    let mut i = Index::default();
    let pruned = IndexFile {
        packs: vec![pack(1, &[10])],
        supersedes: vec![],
        obsolete: vec![marked(1, 50), marked(3, 60)],
    };
    i.add_file(Id([0; 32]), &pruned).unwrap();
    // A snapshot's index file written concurrently lists pack 3 as live, and pack 2 holds
    // another copy of blob 10.
    let snap = IndexFile {
        packs: vec![pack(3, &[13]), pack(2, &[10])],
        ..Default::default()
    };
    i.add_file(Id([9; 32]), &snap).unwrap();
    assert!(i.is_live(&Id([3; 32])));
    assert!(i.contains(&Id([13; 32])));
    assert!(i.contains(&Id([10; 32])));
    assert_eq!(i.get(&Id([10; 32])).unwrap().0, Id([2; 32]));
}

/// An index whose tables merge their overlays past `n` keys (to exercise merges).
pub(super) fn merging_at(n: usize) -> Index {
    Index {
        blobs: Table::with_min_recent(n),
        ..Index::default()
    }
}

pub(super) fn blob(kind: BlobKind, id: [u8; 32], offset: u32, base: Option<[u8; 32]>) -> PackBlob {
    PackBlob {
        kind,
        id,
        offset,
        length: offset.wrapping_add(10),
        raw_length: offset.wrapping_add(20),
        base,
    }
}

#[test]
fn lookups_find_every_blob_and_nothing_else() {
    let mut i = merging_at(2);
    let ids: Vec<Id> = (0..50u8).map(|n| Id([n; 32])).collect();
    let mut p = pack(1, &[]);
    p.blobs = (ids.iter().enumerate())
        .map(|(n, id)| blob(BlobKind::Data, id.0, n as u32 * 100, None))
        .collect();
    i.add_file(
        Id([0; 32]),
        &IndexFile {
            packs: vec![p],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(i.len(), 50);
    for (n, id) in ids.iter().enumerate() {
        let (pack, loc) = i.get(id).unwrap();
        assert_eq!(
            (pack, loc.offset, loc.length),
            (Id([1; 32]), n as u32 * 100, 10 + n as u32 * 100)
        );
        assert_eq!(
            (loc.raw_length, loc.kind, loc.pack),
            (20 + n as u32 * 100, BlobKind::Data, 0)
        );
        assert!(i.contains(id) && i.knows(id));
    }
    // Ids that differ from a known one in the last byte of the 16-byte prefix, or in the first.
    let mut near = [7u8; 32];
    near[15] = 8;
    let mut far = [7u8; 32];
    far[0] = 200;
    for id in [Id(near), Id(far), Id([255; 32])] {
        assert!(i.get(&id).is_none() && !i.knows(&id) && !i.contains(&id));
    }
}

#[test]
fn the_same_blob_in_two_packs_keeps_the_first_live_whole_copy() {
    let mut i = merging_at(1);
    let x = [40u8; 32];
    let file = |packs| IndexFile {
        packs,
        ..Default::default()
    };
    let mut p1 = pack(1, &[]);
    p1.blobs.push(blob(BlobKind::Delta, x, 5, Some([41; 32])));
    let mut p2 = pack(2, &[]);
    p2.blobs.push(blob(BlobKind::Data, x, 7, None));
    let mut p3 = pack(3, &[]);
    p3.blobs.push(blob(BlobKind::Data, x, 9, None));
    i.add_file(Id([0; 32]), &file(vec![p1])).unwrap();
    assert_eq!(i.base_of(&Id(x)), Some(Id([41; 32])));
    assert_eq!(i.deltas(), 1);
    // A whole copy beats the delta; a later whole copy does not beat the first whole one.
    i.add_file(Id([1; 32]), &file(vec![p2, p3])).unwrap();
    assert_eq!(i.get(&Id(x)).unwrap().0, Id([2; 32]));
    assert_eq!(i.get(&Id(x)).unwrap().1.offset, 7);
    assert_eq!((i.base_of(&Id(x)), i.deltas(), i.len()), (None, 0, 1));
    i.compact();
    assert_eq!(i.get(&Id(x)).unwrap().0, Id([2; 32]));
    assert_eq!((i.base_of(&Id(x)), i.deltas(), i.len()), (None, 0, 1));
}

/// Builds `n` synthetic blobs, a tenth of them deltas on an earlier blob, in files of 5000
/// blobs in packs of 250 (with `absent_bases`, the deltas' bases are in no index instead).
fn synthetic_with(n: usize, seed: u64, absent_bases: bool) -> Vec<(Id, IndexFile)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut files, mut ids) = (Vec::new(), Vec::<[u8; 32]>::with_capacity(n));
    while ids.len() < n {
        let mut f = IndexFile::default();
        while ids.len() < n && f.packs.len() < 20 {
            let mut p = pack(0, &[]);
            p.id = rng.gen();
            for _ in 0..250.min(n - ids.len()) {
                let made = ids.len();
                let base = (made % 10 == 9).then(|| match absent_bases {
                    true => rng.gen(),
                    false => ids[rng.gen_range(0..made)],
                });
                let kind = if base.is_some() {
                    BlobKind::Delta
                } else {
                    BlobKind::Data
                };
                ids.push(rng.gen());
                p.blobs.push(blob(kind, ids[made], made as u32, base));
            }
            f.packs.push(p);
        }
        files.push((Id(rng.gen()), f));
    }
    files
}

/// [`synthetic_with`] bases that are indexed blobs, as a snapshot writes them.
fn synthetic(n: usize, seed: u64) -> Vec<(Id, IndexFile)> {
    synthetic_with(n, seed, false)
}

/// This thread's CPU time so far, seconds (0 without `/proc/thread-self/schedstat`).
fn cpu_time() -> f64 {
    super::reference::cpu_seconds("/proc/thread-self/schedstat")
}

/// Bytes of the directory of runs of a compacted table of `n` keys.
fn runs_bytes(n: usize) -> usize {
    match n < 64 {
        true => 0,
        false => 4 * ((1 << (n / 16).ilog2()) + 1),
    }
}

/// Issue 16: at most 32 bytes per blob with a tenth of them delta blobs, and whole blobs do
/// not pay for bases: 28 bytes per blob and 28 per delta blob (the index before stored 32 and
/// 48: 36.9 bytes per blob).
#[test]
fn a_compact_index_holds_at_most_32_bytes_per_blob_with_a_tenth_deltas() {
    let n: usize = std::env::var("DUMPVAULT_INDEX_BLOBS").map_or(100_000, |v| v.parse().unwrap());
    let files = synthetic(n, 16);
    let started = cpu_time();
    let mut i = Index::default();
    for (id, f) in &files {
        i.add_file(*id, f).unwrap();
    }
    let loading = i.memory();
    i.compact();
    let new_time = cpu_time() - started;
    let m = i.memory();
    let started = cpu_time();
    let mut r = Reference::default();
    for (id, f) in &files {
        r.add_file(*id, f);
    }
    let old_time = cpu_time() - started;
    let per_blob = |bytes: usize| bytes as f64 / n as f64;
    println!(
        "{n} blobs, {} deltas: {:.2} B/blob in all ({:.1} while loading): blob table {:.2} \
         B/blob, side table {:.1} B/delta; packs {:.1} B/blob, load {new_time:.3} s CPU; \
         hash-map index: {:.1} B/blob, load {old_time:.3} s CPU",
        i.deltas(),
        per_blob(m.blobs + m.bases),
        per_blob(loading.blobs + loading.bases),
        per_blob(m.blobs),
        m.bases as f64 / i.deltas() as f64,
        per_blob(m.packs),
        per_blob(r.blob_heap_bytes()),
    );
    let deltas = n / 10;
    assert_eq!((i.len(), i.deltas()), (n, deltas));
    assert_eq!(m.blobs, 28 * n + runs_bytes(n), "{m:?}");
    assert_eq!(m.bases, 28 * deltas, "{m:?}");
    assert!(per_blob(m.blobs + m.bases) <= 32.0, "{m:?}");
    // Loading costs at most a third more (the overlay of the last blobs added).
    assert!(
        per_blob(loading.blobs + loading.bases) <= 32.0 * 4.0 / 3.0,
        "{loading:?}"
    );
    // The index this one replaced fails the same bound.
    assert!(per_blob(r.blob_heap_bytes()) > 32.0);
}

/// Whole blobs pay nothing for delta blobs: without deltas the index holds exactly 28 bytes
/// per blob and the directory; a delta whose base is in no index pays 16 bytes more for the
/// base's key.
#[test]
fn whole_blobs_pay_nothing_for_bases_and_absent_bases_pay_16_bytes() {
    let n = 20_000;
    let mut whole = synthetic(n, 3);
    for b in whole
        .iter_mut()
        .flat_map(|f| f.1.packs.iter_mut())
        .flat_map(|p| &mut p.blobs)
    {
        (b.kind, b.base) = (BlobKind::Data, None);
    }
    let m = Index::build(&whole).unwrap().memory();
    assert_eq!((m.blobs, m.bases), (28 * n + runs_bytes(n), 0));
    let i = Index::build(&synthetic_with(n, 3, true)).unwrap();
    let m = i.memory();
    assert_eq!(i.deltas(), n / 10);
    assert_eq!(
        (m.blobs, m.bases),
        (28 * n + runs_bytes(n), (28 + 16) * n / 10)
    );
}

/// One random index file over small pools of pack and blob ids, so that packs and blobs recur
/// across files, live and obsolete, whole and delta, with and without bases.
fn random_file(rng: &mut StdRng, packs: &[[u8; 32]], blobs: &[[u8; 32]]) -> IndexFile {
    let mut f = IndexFile::default();
    for _ in 0..rng.gen_range(0..4) {
        let mut p = pack(0, &[]);
        p.id = packs[rng.gen_range(0..packs.len())];
        p.size = rng.gen_range(1..1000);
        for _ in 0..rng.gen_range(0..7) {
            let kind = [BlobKind::Data, BlobKind::List, BlobKind::Delta][rng.gen_range(0..3)];
            let base = rng
                .gen_bool(0.8)
                .then(|| blobs[rng.gen_range(0..blobs.len())]);
            let id = blobs[rng.gen_range(0..blobs.len())];
            // A tenth of the locations have numbers too wide for a record.
            let offset = match rng.gen_bool(0.1) {
                true => rng.gen::<u32>() >> rng.gen_range(0..8),
                false => rng.gen_range(0..1 << 20),
            };
            p.blobs.push(blob(kind, id, offset, base));
        }
        f.packs.push(p);
    }
    for _ in 0..rng.gen_range(0..3) {
        let at = rng.gen_range(0..100);
        f.obsolete.push(ObsoletePack {
            id: packs[rng.gen_range(0..packs.len())],
            marked_at: at,
        });
    }
    f
}

/// Asserts that `i` answers every question about `pools` as the reference `r` does.
pub(super) fn same_answers(
    i: &Index,
    r: &Reference,
    packs: &[[u8; 32]],
    blobs: &[[u8; 32]],
    at: &str,
) {
    assert_eq!(
        (i.len(), i.is_empty(), i.deltas()),
        (r.len(), r.is_empty(), r.deltas()),
        "{at}"
    );
    assert_eq!(
        (i.packs(), &i.files, &i.obsolete),
        (r.packs(), &r.files, &r.obsolete),
        "{at}"
    );
    for p in packs.iter().chain([&[0xee; 32]]) {
        assert_eq!(
            i.is_live(&Id(*p)),
            r.is_live(&Id(*p)),
            "{at}: pack {}",
            Id(*p).short()
        );
    }
    for b in blobs.iter().chain([&[0xee; 32]]).map(|b| Id(*b)) {
        let what = format!("{at}: blob {}", b.short());
        assert_eq!(i.get(&b), r.get(&b), "{what}");
        assert_eq!(i.contains(&b), r.contains(&b), "{what}");
        assert_eq!(i.knows(&b), r.knows(&b), "{what}");
        assert_eq!(i.chain_packs(&b), r.chain_packs(&b), "{what}");
        assert_eq!(i.base_of(&b), r.base_of(&b), "{what}");
        for limit in 1..6 {
            assert_eq!(i.delta_depth(&b, limit), r.delta_depth(&b, limit), "{what}");
        }
    }
}

#[test]
fn randomized_comparison_with_the_hash_map_index() {
    let first: u64 = std::env::var("DUMPVAULT_INDEX_SEED").map_or(1, |v| v.parse().unwrap());
    println!(
        "seeds {first}..{} (DUMPVAULT_INDEX_SEED=N starts at N)",
        first + 400
    );
    for seed in first..first + 400 {
        let mut rng = StdRng::seed_from_u64(seed);
        let packs: Vec<[u8; 32]> = (0..rng.gen_range(1..12)).map(|_| rng.gen()).collect();
        let blobs: Vec<[u8; 32]> = (0..rng.gen_range(1..40)).map(|_| rng.gen()).collect();
        let mut r = Reference::default();
        let mut small = merging_at(rng.gen_range(1..5));
        let mut default = Index::default();
        let (mut files, mut whole_files) = (Vec::new(), true);
        for n in 0..rng.gen_range(1..9) {
            let (fid, f) = (Id(rng.gen()), random_file(&mut rng, &packs, &blobs));
            if rng.gen_bool(0.1) && !f.packs.is_empty() {
                whole_files = false;
                r.add_pack(&f.packs[0]);
                small.add_pack(&f.packs[0]).unwrap();
                default.add_pack(&f.packs[0]).unwrap();
            } else {
                r.add_file(fid, &f);
                small.add_file(fid, &f).unwrap();
                default.add_file(fid, &f).unwrap();
                files.push((fid, f));
            }
            let at = format!("seed {seed}, file {n}");
            same_answers(&small, &r, &packs, &blobs, &at);
            same_answers(&default, &r, &packs, &blobs, &at);
            if rng.gen_bool(0.3) {
                small.compact();
                same_answers(&small, &r, &packs, &blobs, &format!("{at}, compacted"));
            }
        }
        default.compact();
        same_answers(
            &default,
            &r,
            &packs,
            &blobs,
            &format!("seed {seed}, compacted"),
        );
        if whole_files {
            // Every blob once, at the location the index chose (as check groups them by pack).
            let mut got: Vec<(Id, Location)> = default.blobs_in(&files).collect();
            let mut want: Vec<(Id, Location)> = r.blobs().map(|(i, l)| (*i, *l)).collect();
            got.sort_by_key(|e| e.0);
            want.sort_by_key(|e| e.0);
            assert_eq!(got, want, "seed {seed}: blobs_in");
        }
    }
}

#[test]
fn load_skips_superseded_files_whether_read_before_or_after_their_replacement() {
    use crate::backend::Backend;
    use crate::crypto::kdf::KdfParams;
    use crate::repository::InitOptions;
    let (mut replacement_first, mut replacement_last) = (false, false);
    for n in 0..64 {
        let backend = Backend::open(&format!("memory://index-load-{n}")).unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        let mut rng = StdRng::seed_from_u64(n);
        let packs: Vec<[u8; 32]> = (0..6).map(|_| rng.gen()).collect();
        let blobs: Vec<[u8; 32]> = (0..20).map(|_| rng.gen()).collect();
        let old = repo
            .save_index_file(&random_file(&mut rng, &packs, &blobs))
            .unwrap();
        let kept = repo
            .save_index_file(&random_file(&mut rng, &packs, &blobs))
            .unwrap();
        let mut new = random_file(&mut rng, &packs, &blobs);
        new.supersedes.push(old.0);
        let new = repo.save_index_file(&new).unwrap();
        replacement_first |= new < old;
        replacement_last |= new > old;
        let mut r = Reference::default();
        for (id, f) in Index::load_files(&repo).unwrap() {
            if id != old {
                r.add_file(id, &f);
            }
        }
        let i = Index::load(&repo).unwrap();
        same_answers(&i, &r, &packs, &blobs, &format!("repository {n}"));
        assert!(i.files.contains(&kept) && !i.files.contains(&old));
        if replacement_first && replacement_last {
            return;
        }
    }
    panic!("64 repositories and the replacement never sorted both before and after");
}

/// Prune, check, stats and repair read the index files themselves and build the index with
/// [`Index::from_files`]: it must skip superseded files, as [`Index::load`] does, and hold the
/// compact layout (before it existed they added files without compacting: up to a quarter more
/// memory, the overlay of the last blobs added).
#[test]
fn from_files_skips_superseded_files_and_is_compact() {
    let n = 20_000;
    let mut files = synthetic(n, 7);
    let mut rng = StdRng::seed_from_u64(7);
    let packs: Vec<[u8; 32]> = (0..6).map(|_| rng.gen()).collect();
    let blobs: Vec<[u8; 32]> = (0..20).map(|_| rng.gen()).collect();
    let old = random_file(&mut rng, &packs, &blobs);
    let mut new = random_file(&mut rng, &packs, &blobs);
    let old_id = Id(rng.gen());
    new.supersedes.push(old_id.0);
    files.insert(1, (old_id, old));
    files.push((Id(rng.gen()), new));
    let i = Index::build(&files).unwrap();
    let mut r = Reference::default();
    for (id, f) in files.iter().filter(|(id, _)| *id != old_id) {
        r.add_file(*id, f);
    }
    same_answers(&i, &r, &packs, &blobs, "from_files");
    assert!(!i.files.contains(&old_id) && i.files.len() == files.len() - 1);
    let m = i.memory();
    assert_eq!(m.blobs, 28 * i.len() + runs_bytes(i.len()), "{m:?}");
}
