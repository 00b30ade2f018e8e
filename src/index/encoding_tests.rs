//! Tests of the index's compact encoding (issue 16): bases referred to by record position
//! (renumbered at merges), bases in no index, chains of deltas, copies of one blob in several
//! packs (rule W2: the whole copy is preferred), locations too wide for a record, and the
//! blob table against a hash map.

use super::packed::Slot;
use super::reference::Reference;
use super::table::{key, At, Table};
use super::tests::{blob, marked, merging_at, pack, same_answers};
use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An id whose first 16 bytes are `head` and last 16 bytes `tail`.
fn id(head: u8, tail: u8) -> [u8; 32] {
    let mut i = [head; 32];
    i[16..].fill(tail);
    i
}

fn pack_with(n: u8, blobs: Vec<PackBlob>) -> IndexPack {
    let mut p = pack(n, &[]);
    p.blobs = blobs;
    p
}

fn file(packs: Vec<IndexPack>) -> IndexFile {
    IndexFile {
        packs,
        ..Default::default()
    }
}

/// Adds `files` one by one to indexes of four layouts (all in the overlay; merged at every
/// key; compacted after each file; compacted after every other file), checking after each
/// file that they answer as the reference about `packs` and `blobs`, and calling `check` with
/// the file's position. Returns the indexes.
fn step_by_step(
    files: &[IndexFile],
    packs: &[[u8; 32]],
    blobs: &[[u8; 32]],
    check: impl Fn(usize, &Index),
) -> Vec<Index> {
    let mut done = Vec::new();
    for layout in 0..4 {
        let mut i = match layout {
            1 => merging_at(1),
            _ => Index::default(),
        };
        let mut r = Reference::default();
        for (n, f) in files.iter().enumerate() {
            let fid = Id([n as u8 + 100; 32]);
            i.add_file(fid, f).unwrap();
            r.add_file(fid, f);
            if layout == 2 || (layout == 3 && n % 2 == 0) {
                i.compact();
            }
            same_answers(&i, &r, packs, blobs, &format!("layout {layout}, file {n}"));
            check(n, &i);
        }
        done.push(i);
    }
    done
}

#[test]
fn a_delta_whose_base_is_in_no_index_names_it_and_follows_it_once_added() {
    let (x, y) = (id(10, 1), id(20, 2));
    let files = [
        file(vec![pack_with(
            1,
            vec![blob(BlobKind::Delta, x, 5, Some(y))],
        )]),
        file(vec![pack_with(2, vec![blob(BlobKind::Data, y, 7, None)])]),
    ];
    let indexes = step_by_step(&files, &[[1; 32], [2; 32]], &[x, y], |n, i| {
        assert_eq!(i.base_of(&Id(x)), Some(Id(y)), "file {n}");
        assert_eq!(i.delta_depth(&Id(x), 5), 1, "file {n}");
        let packs: Vec<Id> = [[1; 32], [2; 32]][..=n].iter().map(|p| Id(*p)).collect();
        assert_eq!(i.chain_packs(&Id(x)), packs, "file {n}");
        // Until its base is indexed, a delta does not count for deduplication.
        assert_eq!(i.contains(&Id(x)), n == 1, "file {n}");
    });
    // Once the base is indexed and merged, its key is not kept twice.
    for mut i in indexes {
        i.compact();
        assert_eq!(i.memory().bases, 28, "{:?}", i.memory());
    }
}

#[test]
fn a_base_that_is_itself_a_delta_is_followed_while_new_keys_move_the_records() {
    // a → b → c (whole), keys near the top, then 3000 blobs most of which sort below them:
    // every merge renumbers the positions the bases are referred to by.
    let (a, b, c) = (id(0xf0, 1), id(0xf1, 2), id(0xf2, 3));
    let mut files = vec![file(vec![pack_with(
        1,
        vec![
            blob(BlobKind::Delta, a, 1, Some(b)),
            blob(BlobKind::Delta, b, 2, Some(c)),
            blob(BlobKind::Data, c, 3, None),
        ],
    )])];
    let mut rng = StdRng::seed_from_u64(5);
    let mut blobs = vec![a, b, c];
    for n in 0..30 {
        let ids: Vec<[u8; 32]> = (0..100).map(|_| rng.gen()).collect();
        let p = (ids.iter().enumerate())
            .map(|(k, id)| blob(BlobKind::Data, *id, k as u32, None))
            .collect();
        files.push(file(vec![pack_with(2 + n, p)]));
        blobs.extend(ids);
    }
    step_by_step(&files, &[[1; 32]], &blobs, |n, i| {
        assert_eq!(i.base_of(&Id(a)), Some(Id(b)), "file {n}");
        assert_eq!(i.base_of(&Id(b)), Some(Id(c)), "file {n}");
        assert_eq!(i.base_of(&Id(c)), None, "file {n}");
        assert_eq!((i.delta_depth(&Id(a), 5), i.delta_depth(&Id(b), 5)), (2, 1));
        assert_eq!(i.chain_packs(&Id(a)), vec![Id([1; 32]); 3], "file {n}");
        assert!(i.contains(&Id(a)), "file {n}");
    });
}

#[test]
fn copies_in_several_packs_replace_each_other_and_free_their_side_entries() {
    let (x, b1, b2) = (id(30, 1), id(40, 2), id(50, 3));
    let whole = |n, offset| pack_with(n, vec![blob(BlobKind::Data, x, offset, None)]);
    let delta = |n, base| pack_with(n, vec![blob(BlobKind::Delta, x, n as u32, Some(base))]);
    let bases = pack_with(
        9,
        vec![
            blob(BlobKind::Data, b1, 1, None),
            blob(BlobKind::Data, b2, 2, None),
        ],
    );
    let files = [
        // x whole in pack 1, which the same file marks obsolete.
        IndexFile {
            packs: vec![whole(1, 1), bases],
            obsolete: vec![marked(1, 5)],
            ..Default::default()
        },
        // A live delta copy on b1 replaces the obsolete whole copy.
        file(vec![delta(2, b1)]),
        // A live delta copy on b2 does not replace the live delta (neither is whole).
        file(vec![delta(3, b2)]),
        // A live whole copy replaces the delta (rule W2).
        file(vec![whole(4, 4)]),
    ];
    let packs = [[1; 32], [2; 32], [3; 32], [4; 32], [9; 32]];
    let indexes = step_by_step(&files, &packs, &[x, b1, b2], |n, i| {
        let (want_pack, want_base) = match n {
            0 => (1, None),
            1 | 2 => (2, Some(Id(b1))),
            _ => (4, None),
        };
        assert_eq!(i.get(&Id(x)).unwrap().0, Id([want_pack; 32]), "file {n}");
        assert_eq!(i.base_of(&Id(x)), want_base, "file {n}");
        let deltas = usize::from(n == 1 || n == 2);
        assert_eq!(
            (i.deltas(), i.contains(&Id(x))),
            (deltas, n > 0),
            "file {n}"
        );
    });
    // The replaced delta's side entry is freed by compacting.
    for mut i in indexes {
        i.compact();
        assert_eq!((i.len(), i.memory().bases), (3, 0), "{:?}", i.memory());
    }
    // An obsolete delta copy is replaced by a live delta copy on another base.
    let files = [
        IndexFile {
            packs: vec![delta(5, b1)],
            obsolete: vec![marked(5, 5)],
            ..Default::default()
        },
        file(vec![delta(6, b2)]),
    ];
    step_by_step(&files, &[[5; 32], [6; 32]], &[x, b1, b2], |n, i| {
        let want = if n == 0 { b1 } else { b2 };
        assert_eq!(i.base_of(&Id(x)), Some(Id(want)), "file {n}");
        assert_eq!(i.deltas(), 1, "file {n}");
    });
}

#[test]
fn a_whole_copy_indexed_first_is_kept_and_a_later_delta_copy_costs_nothing() {
    let (x, b) = (id(60, 1), id(70, 2));
    let files = [
        file(vec![pack_with(
            1,
            vec![
                blob(BlobKind::Data, x, 1, None),
                blob(BlobKind::Data, b, 2, None),
            ],
        )]),
        file(vec![pack_with(
            2,
            vec![blob(BlobKind::Delta, x, 3, Some(b))],
        )]),
    ];
    let indexes = step_by_step(&files, &[[1; 32], [2; 32]], &[x, b], |n, i| {
        assert_eq!(i.get(&Id(x)).unwrap().0, Id([1; 32]), "file {n}");
        assert_eq!((i.base_of(&Id(x)), i.deltas()), (None, 0), "file {n}");
    });
    for mut i in indexes {
        i.compact();
        assert_eq!(i.memory().bases, 0);
    }
}

/// A random slot: any kind, a tenth of them with numbers too wide for a record.
fn random_slot(rng: &mut StdRng) -> Slot {
    let kind = [BlobKind::Data, BlobKind::List, BlobKind::Delta][rng.gen_range(0..3)];
    let wide = rng.gen_bool(0.1);
    let mut num = |narrow: u32| match wide && rng.gen_bool(0.5) {
        true => rng.gen::<u32>() | 1 << 31,
        false => rng.gen_range(0..narrow),
    };
    let b = PackBlob {
        kind,
        id: [0; 32],
        offset: num(1 << 28),
        length: num(1 << 21),
        raw_length: num(1 << 21),
        base: None,
    };
    let pack = match wide && rng.gen_bool(0.3) {
        true => rng.gen_range(1 << 24..1 << 30),
        false => rng.gen_range(0..1 << 24),
    };
    Slot::new(pack, &b)
}

/// The blob table against a hash map: random puts over a small pool of keys (new keys,
/// replacements of every kind, bases in the pool, in the overlay or in no entry), merges at
/// random thresholds and compactions; every answer and the side table's size must match.
#[test]
fn the_blob_table_agrees_with_a_hash_map_through_merges_and_compactions() {
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let pool: Vec<[u8; 32]> = (0..rng.gen_range(1..80)).map(|_| rng.gen()).collect();
        let mut t = Table::with_min_recent(rng.gen_range(1..20));
        let mut want: HashMap<u128, (Slot, Option<[u8; 32]>)> = HashMap::new();
        for step in 0..rng.gen_range(1..300) {
            let k = key(&Id(pool[rng.gen_range(0..pool.len())]));
            let slot = random_slot(&mut rng);
            let base = match rng.gen_range(0..3) {
                0 => None,
                1 => Some(pool[rng.gen_range(0..pool.len())]),
                _ => Some(rng.gen()),
            };
            t.put(t.find(k), k, slot, base).unwrap();
            let kept = base.filter(|_| slot.kind() == BlobKind::Delta);
            want.insert(k, (slot, kept));
            if rng.gen_bool(0.02) {
                t.compact();
                let bases = want.values().filter(|(s, _)| packed::needs_extra(s));
                let absent = (want.values().filter_map(|w| w.1))
                    .filter(|b| !want.contains_key(&key(&Id(*b))))
                    .count();
                let bytes = 28 * bases.count() + 16 * absent;
                assert_eq!(t.heap_bytes().extras, bytes, "seed {seed}, step {step}");
            }
            agrees(&t, &want, &pool, &format!("seed {seed}, step {step}"));
        }
    }
}

/// Asserts that `t` holds exactly `want` for every key of `pool` and one unknown key.
fn agrees(t: &Table, want: &HashMap<u128, (Slot, Option<[u8; 32]>)>, pool: &[[u8; 32]], at: &str) {
    assert_eq!(t.len(), want.len(), "{at}");
    let with_base = want.values().filter(|w| w.1.is_some()).count();
    assert_eq!(t.with_base(), with_base, "{at}");
    for k in pool.iter().map(|b| key(&Id(*b))).chain([u128::MAX]) {
        let found: Option<At> = t.find(k);
        let Some((slot, base)) = want.get(&k) else {
            assert_eq!(found, None, "{at}");
            continue;
        };
        let found = found.unwrap();
        assert_eq!(t.slot(found), *slot, "{at}");
        let got = t.base(found);
        assert_eq!(got.map(|b| b.0), base.map(Id), "{at}");
        if let Some((b, next)) = got {
            assert_eq!(next, t.find(key(&b)), "{at}");
        }
    }
}

/// Reserved, the sorted arrays are filled in place through every merge (grown step by step,
/// the blocks they left stayed resident: a load's peak RSS was 12 to 14 MiB higher at 10⁶
/// blobs), and compacting gives back what the estimate had too many.
#[test]
fn reserved_arrays_fill_in_place_and_compact_gives_back_the_rest() {
    let mut t = Table::with_min_recent(16);
    t.reserve(1500);
    for n in 0..1000u32 {
        let id = *blake3::hash(&n.to_le_bytes()).as_bytes();
        let slot = Slot::new(0, &blob(BlobKind::Data, id, n, None));
        t.put(None, key(&Id(id)), slot, None).unwrap();
        assert_eq!(t.capacity(), 1500, "after {n} keys");
    }
    t.compact();
    assert_eq!((t.len(), t.capacity()), (1000, 1000));
}
