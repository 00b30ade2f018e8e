//! Delta chains are checked against their ids once, at the blob asked for: the links below it
//! are decoded without their own checks, and a link cached that way is checked before it
//! serves as a writer's base (issue 16: checking every link was most of a later snapshot's
//! BLAKE3 time).

use super::*;
use crate::format::pack::PackBlob;
use crate::repository::fixture::{edited, memory_repo, noise, snapshot_each};
use std::collections::HashMap;

/// Three snapshots of one stream (a, b, c), each chunk a delta on the one before. Returns the
/// repository, a fresh handle on it (nothing cached) and a chain `[top, link, bottom]`: a
/// delta of c, its base (a delta of b) and that one's base (a whole chunk of a), with their
/// plaintexts.
fn chain(name: &str) -> (Repository, [(Id, Vec<u8>); 3]) {
    let r = memory_repo(&format!("reader-{name}"));
    let a = noise(7, 300_000);
    let (b, c) = (edited(&a, 1), edited(&edited(&a, 1), 2));
    snapshot_each(&r, [a, b, c]);
    let files = Index::load_files(&r).unwrap();
    let entries: HashMap<[u8; 32], PackBlob> = (files.iter().flat_map(|(_, f)| &f.packs))
        .flat_map(|p| p.blobs.iter().map(|b| (b.id, *b)))
        .collect();
    let base = |b: &PackBlob| b.base.and_then(|id| entries.get(&id));
    let top = (entries.values())
        .find(|t| {
            base(t)
                .and_then(base)
                .is_some_and(|a| a.kind == BlobKind::Data)
        })
        .expect("a delta on a delta on a whole chunk");
    let link = base(top).unwrap();
    let bottom = base(link).unwrap();
    let index = Index::load(&r).unwrap();
    let plain = |id: [u8; 32]| read_blob(&r, &index, &Id(id)).unwrap();
    let fresh = Repository::open(r.backend().clone(), b"pw").unwrap();
    (fresh, [top, link, bottom].map(|b| (Id(b.id), plain(b.id))))
}

#[test]
fn a_chain_is_checked_at_the_blob_asked_for_and_its_links_when_they_serve() {
    let (r, [top, link, bottom]) = chain("checked-once");
    let index = Index::load(&r).unwrap();
    assert_eq!(*read_base(&r, &index, &top.0).unwrap(), top.1);
    let cache = r.base_cache();
    assert!(
        cache.get(&top.0).unwrap().1,
        "the blob asked for is checked"
    );
    // A link is not checked on the way: the bottom is cached unchecked, and a link between is
    // cached unchecked when it was made whole (a zstd patch) or not at all (a splice, composed).
    assert!(cache.get(&link.0).is_none_or(|(_, checked)| !checked));
    assert!(
        !cache.get(&bottom.0).unwrap().1,
        "a link is not checked on the way"
    );
    // Offered as a writer's base, a cached link is checked first.
    assert_eq!(*cached_base(&r, &bottom.0).unwrap(), bottom.1);
    assert!(cache.get(&bottom.0).unwrap().1);
    // Asked for itself, a link is checked too.
    assert_eq!(*read_base(&r, &index, &link.0).unwrap(), link.1);
    assert!(cache.get(&link.0).unwrap().1);
}

#[test]
fn a_link_that_decodes_wrong_never_serves_and_spoils_the_blob_above_it() {
    let (r, [top, link, _]) = chain("wrong-link");
    let index = Index::load(&r).unwrap();
    // A link cached unchecked with the wrong bytes (as a wrong index entry would give).
    let mut wrong = link.1.clone();
    wrong[100] ^= 0xff;
    r.base_cache().put(link.0, Arc::new(wrong), false);
    assert!(
        cached_base(&r, &link.0).is_none(),
        "a wrong link is no base"
    );
    // The blob above it fails its own check: damage, never wrong output.
    let err = read_base(&r, &index, &top.0).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    // Asked for itself, the link is read again from its pack and comes out right.
    assert_eq!(*read_base(&r, &index, &link.0).unwrap(), link.1);
    assert_eq!(*read_base(&r, &index, &top.0).unwrap(), top.1);
}

/// Rows of dump text (`n` rows, about 40 bytes each), version `v`: row `i` carries hour `v` when
/// `i % 50 == v % 50`, so each version changes every 50th row of the one before.
fn rows(n: usize, v: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let h = (0..=v).rev().find(|h| i % 50 == h % 50).unwrap_or(0);
            format!("{i}\tcustomer {:08}\tupdated at hour {h}\n", i * 7).into_bytes()
        })
        .collect()
}

/// Deep chains (MAX_DELTA_DEPTH 16): hourly versions of rows become a chain of splices deeper
/// than the zstd patches may go; reading the top composes them, builds the chunk once and
/// caches only whole plaintexts (the chain's bottom, zstd patches' results) and the top.
#[test]
fn a_deep_chain_of_splices_is_composed_and_only_whole_plaintexts_are_cached() {
    let r = memory_repo("reader-deep");
    let hours = MAX_DELTA_DEPTH;
    snapshot_each(&r, (0..=hours).map(|v| rows(3000, v)));
    let index = Index::load(&r).unwrap();
    let files = Index::load_files(&r).unwrap();
    let ids: Vec<Id> = (files.iter().flat_map(|(_, f)| &f.packs))
        .flat_map(|p| p.blobs.iter().map(|b| Id(b.id)))
        .collect();
    let top = *ids
        .iter()
        .max_by_key(|id| index.delta_depth(id, READ_DELTA_DEPTH))
        .unwrap();
    let depth = index.delta_depth(&top, READ_DELTA_DEPTH);
    assert!(
        depth > MAX_PATCH_DEPTH + 2 && depth <= MAX_DELTA_DEPTH,
        "a deep chain: {depth}"
    );
    let mut chain = vec![top];
    while let Some(b) = index.base_of(chain.last().unwrap()) {
        chain.push(b);
    }
    // Each link, read on its own (link by link, checked), is what the composed read gives.
    let fresh = Repository::open(r.backend().clone(), b"pw").unwrap();
    let want = read_blob(&fresh, &index, &top).unwrap();
    let fresh = Repository::open(r.backend().clone(), b"pw").unwrap();
    assert_eq!(*read_base(&fresh, &index, &top).unwrap(), want);
    let cache = fresh.base_cache();
    assert!(cache.get(&top).unwrap().1, "the top, checked");
    let bottom = chain.last().unwrap();
    assert!(!cache.get(bottom).unwrap().1, "the bottom, unchecked");
    // Links above the zstd patches' reach are splices: composed, never built or cached.
    let spliced = &chain[1..chain.len() - 1 - MAX_PATCH_DEPTH];
    assert!(!spliced.is_empty());
    for link in spliced {
        assert!(cache.get(link).is_none(), "a composed link is not built");
    }
    // Read ahead, the same chain comes from the sealed bytes kept, with the same result.
    let ahead = Repository::open(r.backend().clone(), b"pw").unwrap();
    prefetch_bases(&ahead, &index, &[top]);
    let kept = chain[1..]
        .iter()
        .filter(|l| ahead.base_cache().has_sealed(l));
    assert_eq!(
        kept.count(),
        chain.len() - 1,
        "every link read ahead, sealed"
    );
    assert!(
        !ahead.base_cache().has_sealed(&top),
        "the blob itself is not read ahead"
    );
    let read = ahead.base_cache().bytes_read();
    assert_eq!(*read_base(&ahead, &index, &top).unwrap(), want);
    assert!(
        chain.iter().all(|l| !ahead.base_cache().has_sealed(l)),
        "links read ahead are kept only until used"
    );
    let top_len = u64::from(index.get(&top).unwrap().1.length);
    assert_eq!(
        ahead.base_cache().bytes_read() - read,
        top_len,
        "only the top is read: no link again after the read-ahead"
    );
}

/// A snapshot's read-ahead (prefetch_chains) reads the previous chunks themselves with their
/// chains; a restore's (prefetch_bases) only their chains.
#[test]
fn chains_are_read_ahead_with_or_without_the_blobs_themselves() {
    let r = memory_repo("reader-ahead");
    snapshot_each(&r, (0..=5).map(|v| rows(3000, v)));
    let index = Index::load(&r).unwrap();
    let files = Index::load_files(&r).unwrap();
    let top = (files.iter().flat_map(|(_, f)| &f.packs))
        .flat_map(|p| p.blobs.iter().map(|b| Id(b.id)))
        .max_by_key(|id| index.delta_depth(id, READ_DELTA_DEPTH))
        .unwrap();
    let base = index.base_of(&top).expect("a delta");
    for (with_self, r) in [(false, &r), (true, &r)] {
        let fresh = Repository::open(r.backend().clone(), b"pw").unwrap();
        match with_self {
            false => prefetch_bases(&fresh, &index, &[top]),
            true => prefetch_chains(&fresh, &index, &[top]),
        }
        assert_eq!(fresh.base_cache().has_sealed(&top), with_self);
        assert!(fresh.base_cache().has_sealed(&base));
        let want = read_blob(r, &index, &top).unwrap();
        assert_eq!(*read_base(&fresh, &index, &top).unwrap(), want);
        assert!(!fresh.base_cache().has_sealed(&top) && !fresh.base_cache().has_sealed(&base));
    }
}
