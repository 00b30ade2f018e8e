//! Delta chains are checked against their ids once, at the blob asked for: the links below it
//! are decoded without their own checks, and a link cached that way is checked before it
//! serves as a writer's base (issue 16: checking every link was most of a later snapshot's
//! BLAKE3 time).

use super::*;
use crate::commands::snapshot::{self, SnapshotOptions};
use crate::format::pack::PackBlob;
use crate::index::SharedIndex;
use crate::progress::NoProgress;
use crate::repository::fixture::{edited, memory_repo, noise};
use crate::source::stdin::ReaderSource;
use crate::source::DumpSource;

/// Three snapshots of one stream (a, b, c), each chunk a delta on the one before. Returns the
/// repository, a fresh handle on it (nothing cached) and a chain `[top, link, bottom]`: a
/// delta of c, its base (a delta of b) and that one's base (a whole chunk of a), with their
/// plaintexts.
fn chain(name: &str) -> (Repository, [(Id, Vec<u8>); 3]) {
    let r = memory_repo(&format!("reader-{name}"));
    let a = noise(7, 300_000);
    let (b, c) = (edited(&a, 1), edited(&edited(&a, 1), 2));
    for bytes in [&a, &b, &c] {
        let src = ReaderSource::new(std::io::Cursor::new(bytes.to_vec()));
        let src: Box<dyn DumpSource> = Box::new(src.with_database("d".into()));
        let r = Repository::open(r.backend().clone(), b"pw").unwrap();
        let index = SharedIndex::start(&r, "snapshot").unwrap();
        let opts = SnapshotOptions::default();
        snapshot::run(&r, &index, vec![("d".into(), src)], &opts, &NoProgress).unwrap();
    }
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
    assert!(
        !cache.get(&link.0).unwrap().1,
        "a link is not checked on the way"
    );
    assert!(
        !cache.get(&bottom.0).unwrap().1,
        "a link is not checked on the way"
    );
    // Offered as a writer's base, a link is checked first.
    assert_eq!(*cached_base(&r, &link.0).unwrap(), link.1);
    assert!(cache.get(&link.0).unwrap().1);
    // Asked for itself, it is checked too.
    assert_eq!(*read_base(&r, &index, &bottom.0).unwrap(), bottom.1);
    assert!(cache.get(&bottom.0).unwrap().1);
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
