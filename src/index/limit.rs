//! The limits of the in-memory index, and the typed error of a repository beyond them.
//!
//! The blob table numbers its entries in 31 bits (a base reference keeps the top bit, see
//! [`super::packed::ABSENT`]) and its side-table entries and pack positions in 30 bits: at 28
//! bytes per blob, 2³¹ blobs are about 60 GiB of index in memory, so a repository reaches these
//! limits only far beyond what one machine's memory holds. Adding a blob, a side-table entry or
//! a pack past a limit is refused with [`IndexFull`] before anything is changed; the loader
//! turns it into [`Error::IndexTooLarge`], naming the repository.

use crate::error::Error;
use crate::repository::Repository;

/// How many blobs, side-table entries and packs an index may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Blobs (keys of the sorted arrays, whose positions must stay below 2³¹).
    pub blobs: usize,
    /// Side-table entries: delta blobs, and locations whose numbers do not fit a record.
    pub extras: usize,
    /// Packs (positions fit 30 bits beside the blob kind).
    pub packs: usize,
}

impl Limits {
    /// The limits of the real tables.
    pub const REAL: Limits = Limits {
        blobs: (super::packed::ABSENT as usize) - 1,
        extras: super::packed::MAX_EXTRAS,
        packs: super::packed::MAX_PACKS,
    };

    /// The limits a new table takes: [`Limits::REAL`].
    #[cfg(not(test))]
    pub fn current() -> Limits {
        Limits::REAL
    }

    /// The limits a new table takes: in tests, what [`with_limits`] set for this thread.
    #[cfg(test)]
    pub fn current() -> Limits {
        TEST_LIMITS.with(|l| l.get())
    }
}

#[cfg(test)]
thread_local! {
    static TEST_LIMITS: std::cell::Cell<Limits> = const { std::cell::Cell::new(Limits::REAL) };
}

/// Runs `f` with indexes made on this thread limited to `limits` (tests: the real limits take
/// tens of GiB to reach).
#[cfg(test)]
pub fn with_limits<T>(limits: Limits, f: impl FnOnce() -> T) -> T {
    struct Restore(Limits);
    impl Drop for Restore {
        fn drop(&mut self) {
            TEST_LIMITS.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(TEST_LIMITS.with(|l| l.replace(limits)));
    f()
}

/// The index files list more than the in-memory index holds: which limit was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IndexFull {
    /// More blobs than [`Limits::blobs`] (the limit given).
    #[error("its index files list more than {0} blobs")]
    Blobs(usize),
    /// More delta blobs and wide locations together than [`Limits::extras`] (the limit given).
    #[error(
        "its index files list more than {0} delta blobs and blobs at offsets or of lengths \
         too large for a compact entry"
    )]
    SideEntries(usize),
    /// More packs than [`Limits::packs`] (the limit given).
    #[error("its index files list more than {0} packs")]
    Packs(usize),
}

impl IndexFull {
    /// The error of repository `repo` ([`Error::IndexTooLarge`], exit code 1).
    pub fn in_repository(self, repo: &Repository) -> Error {
        Error::IndexTooLarge {
            location: repo.backend().location().to_string(),
            limit: self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::crypto::kdf::KdfParams;
    use crate::error::{exit_code_of, report, EXIT_FAILURE};
    use crate::format::index::IndexFile;
    use crate::id::Id;
    use crate::index::tests::{delta, pack};
    use crate::index::Index;
    use crate::repository::InitOptions;

    fn limited(blobs: usize, extras: usize, packs: usize) -> Limits {
        Limits {
            blobs,
            extras,
            packs,
        }
    }

    fn file(packs: Vec<crate::format::index::IndexPack>) -> IndexFile {
        IndexFile {
            packs,
            ..Default::default()
        }
    }

    /// A repository whose index files list more blobs than the index holds is refused with
    /// a typed error (exit 1) naming the repository and the way out, by [`Index::load`] and
    /// [`Index::from_files`] alike; at the limit exactly it loads. (The real limits, 2³¹
    /// blobs, take 60 GiB to reach, where the old loader panicked.)
    #[test]
    fn a_repository_past_the_blob_limit_is_a_typed_error_naming_it() {
        let backend = Backend::open("memory://index-limit").unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        repo.save_index_file(&file(vec![pack(1, &[1, 2, 3]), pack(2, &[4, 5])]))
            .unwrap();
        repo.save_index_file(&file(vec![pack(3, &[3, 6])])).unwrap();
        let index = with_limits(limited(6, 10, 10), || Index::load(&repo)).unwrap();
        assert_eq!(index.len(), 6);
        let files = Index::load_files(&repo).unwrap();
        for err in with_limits(limited(5, 10, 10), || {
            [Index::load(&repo), Index::from_files(&repo, &files)].map(|r| r.err().unwrap())
        }) {
            assert!(
                matches!(&err, Error::IndexTooLarge { location, limit }
                    if location == "memory://index-limit"
                        && *limit == IndexFull::Blobs(5).to_string()),
                "{err:?}"
            );
            assert_eq!(exit_code_of(&err), EXIT_FAILURE);
            let text = report(&err);
            assert!(text.starts_with("repository memory://index-limit is too large"));
            assert!(text.contains("more than 5 blobs") && text.contains("dumpvault copy"));
        }
    }

    /// Past the side-table limit a new delta blob, a whole blob of the overlay turned delta
    /// and a merged whole blob turned delta are each refused, leaving the index as it was; a
    /// delta replacing a delta reuses its entry and needs no room.
    #[test]
    fn side_entries_past_the_limit_are_refused_without_a_change() {
        use crate::index::tests::marked;
        with_limits(limited(100, 2, 100), || {
            let full = Err(IndexFull::SideEntries(2));
            let mut i = Index::default();
            i.add_pack(&delta(1, 10, 11)).unwrap();
            i.add_pack(&pack(2, &[12])).unwrap();
            i.add_pack(&delta(3, 13, 12)).unwrap();
            assert_eq!(i.add_pack(&delta(4, 14, 12)), full);
            assert!(!i.knows(&Id([14; 32])));
            i.compact();
            assert_eq!((i.len(), i.deltas()), (3, 2));
            // Obsolete whole copies replaced by live deltas: each needs an entry.
            let mut j = Index::default();
            let obsolete = IndexFile {
                packs: vec![pack(6, &[20, 21, 22, 23])],
                obsolete: vec![marked(6, 1)],
                ..Default::default()
            };
            j.add_file(Id([0; 32]), &obsolete).unwrap();
            j.add_pack(&delta(7, 20, 21)).unwrap();
            j.add_pack(&delta(8, 21, 22)).unwrap();
            assert_eq!(j.add_pack(&delta(9, 22, 23)), full);
            j.compact();
            assert_eq!(j.add_pack(&delta(9, 22, 23)), full);
            assert_eq!(j.get(&Id([22; 32])).unwrap().0, Id([6; 32]));
            assert_eq!((j.len(), j.deltas()), (4, 2));
            // A live delta over an obsolete delta reuses its entry.
            let mut k = Index::default();
            let obsolete = IndexFile {
                packs: vec![delta(10, 30, 31), delta(11, 32, 31)],
                obsolete: vec![marked(10, 1), marked(11, 1)],
                ..Default::default()
            };
            k.add_file(Id([0; 32]), &obsolete).unwrap();
            k.compact();
            k.add_pack(&delta(12, 30, 33)).unwrap();
            assert_eq!(k.base_of(&Id([30; 32])), Some(Id([33; 32])));
        });
    }

    /// A delta blob given a new base again and again (each base in no index) does not grow
    /// the list of absent base keys past one per side-table entry (plus one): it used to keep
    /// every replaced key until the next merge, so its 31-bit references could overflow.
    #[test]
    fn replaced_absent_bases_do_not_pile_up() {
        use crate::format::pack::{BlobKind, PackBlob};
        use crate::index::packed::Slot;
        use crate::index::table::{key, At, Table};
        with_limits(limited(100, 4, 100), || {
            let mut t = Table::default();
            let b = PackBlob {
                kind: BlobKind::Delta,
                id: [1; 32],
                offset: 0,
                length: 10,
                raw_length: 20,
                base: None,
            };
            let k = key(&Id([1; 32]));
            t.put(None, k, Slot::new(0, &b), Some([2; 32])).unwrap();
            t.compact();
            for base in 3..40u8 {
                t.put(Some(At::Sorted(0)), k, Slot::new(0, &b), Some([base; 32]))
                    .unwrap();
                assert!(t.absent_len() <= 5, "{} at base {base}", t.absent_len());
            }
            assert_eq!(t.base(At::Sorted(0)).unwrap().0, Id([39; 32]));
        });
    }

    /// One pack past the limit is refused before it is added; a known pack is not new.
    #[test]
    fn packs_past_the_limit_are_refused() {
        with_limits(limited(100, 100, 2), || {
            let mut i = Index::default();
            i.add_pack(&pack(1, &[1])).unwrap();
            i.add_pack(&pack(2, &[2])).unwrap();
            i.add_pack(&pack(1, &[3])).unwrap();
            assert_eq!(i.add_pack(&pack(3, &[4])), Err(IndexFull::Packs(2)));
            assert_eq!((i.packs().len(), i.len()), (2, 3));
        });
    }
}
