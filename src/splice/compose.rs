//! A delta chain's splices composed: the chunk at the top of a chain of splices, held as
//! pieces of the chain's bottom plaintext and of each link's added bytes, without building
//! the chunks between. It is the composition of COPY/ADD deltas (RFC 3284's instruction
//! model) that xdelta3's `merge` command performs on a sequence of VCDIFF deltas: each copy of
//! the upper delta is mapped through the lower one's pieces; the code here is this module's
//! own.
//!
//! Applying each splice of a chain copies the whole chunk once per link. Composing the
//! instructions instead costs a binary search per copy and one copy of the chunk at the end,
//! so a restore, and a snapshot that reads its bases, pay about the same for a chain of 20
//! splices as for one.

use super::{Op, Splice, SpliceError};
use std::sync::Arc;

/// Where a piece's bytes are: the chain's bottom plaintext, or link `i`'s added bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Bottom,
    Added(usize),
}

/// One piece of a composed chunk: the chunk's bytes up to `end` (from the previous piece's
/// end) are `source`'s bytes from `from` on.
#[derive(Debug, Clone, Copy)]
struct Piece {
    end: usize,
    source: Source,
    from: usize,
}

/// A chunk as pieces of a whole plaintext (the chain's bottom) and of added bytes: what a
/// chain of splices over that plaintext gives. Built with [`Composed::whole`], extended a
/// link at a time with [`Composed::splice`], turned into bytes with [`Composed::plain`].
#[derive(Debug, Clone)]
pub struct Composed {
    bottom: Arc<Vec<u8>>,
    added: Vec<Arc<Vec<u8>>>,
    pieces: Vec<Piece>,
}

impl Composed {
    /// The chunk `plain`, whole (one piece).
    pub fn whole(plain: Arc<Vec<u8>>) -> Self {
        let pieces = match plain.len() {
            0 => Vec::new(),
            n => vec![Piece {
                end: n,
                source: Source::Bottom,
                from: 0,
            }],
        };
        Composed {
            bottom: plain,
            added: Vec::new(),
            pieces,
        }
    }

    /// The chunk's length in bytes.
    pub fn len(&self) -> usize {
        self.pieces.last().map_or(0, |p| p.end)
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The chunk's plaintext when it is one whole plaintext (no splice applied, or splices
    /// that gave the bottom back): shared, not copied.
    pub fn as_whole(&self) -> Option<&Arc<Vec<u8>>> {
        let whole = match self.pieces.as_slice() {
            [] => self.bottom.is_empty(),
            [p] => p.source == Source::Bottom && p.from == 0 && p.end == self.bottom.len(),
            _ => false,
        };
        whole.then_some(&self.bottom)
    }

    /// The chunk's plaintext: shared when whole ([`Composed::as_whole`]), else built with one
    /// copy of each piece.
    pub fn plain(&self) -> Arc<Vec<u8>> {
        if let Some(p) = self.as_whole() {
            return p.clone();
        }
        let mut out = Vec::with_capacity(self.len());
        self.copy(0, self.len(), &mut out);
        Arc::new(out)
    }

    /// The chunk's plaintext as an owned buffer ([`Composed::plain`]), copied only when the
    /// bytes are shared with another holder (a cache).
    pub fn into_plain(self) -> Vec<u8> {
        let plain = self.plain();
        drop(self);
        Arc::try_unwrap(plain).unwrap_or_else(|shared| (*shared).clone())
    }

    /// Pieces in the composed form: 1 for a whole chunk (a measure of how scattered a chain's
    /// changes are; tests and figures).
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    fn source(&self, s: Source) -> &[u8] {
        match s {
            Source::Bottom => &self.bottom,
            Source::Added(i) => &self.added[i],
        }
    }

    /// Appends the chunk's bytes `from..to` to `out` (`to` at most [`Composed::len`]).
    fn copy(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        self.each_piece(from, to, |s, at, n| {
            out.extend_from_slice(&self.source(s)[at..at + n])
        });
    }

    /// Calls `f(source, offset, len)` for the pieces that cover the chunk's bytes
    /// `from..to`, in order (cut to that range).
    fn each_piece(&self, from: usize, to: usize, mut f: impl FnMut(Source, usize, usize)) {
        let mut i = self.pieces.partition_point(|p| p.end <= from);
        let mut at = from;
        while at < to {
            let p = self.pieces[i];
            let start = if i == 0 { 0 } else { self.pieces[i - 1].end };
            let n = p.end.min(to) - at;
            f(p.source, p.from + (at - start), n);
            at += n;
            i += 1;
        }
    }

    /// The bytes splice instructions `ops` name as replaced in this chunk
    /// ([`Splice::replaced`], for a base held as pieces).
    ///
    /// Errors: as [`Splice::replaced`].
    pub fn replaced(&self, ops: &[Op]) -> Result<Vec<u8>, SpliceError> {
        Splice::replaced_from(ops, self.len(), |from, to, out| self.copy(from, to, out))
    }

    /// The chunk that splice `ops` with `added` make of this one (its base), of `len` bytes,
    /// composed: its pieces are this chunk's pieces the copies name and the added bytes. No
    /// byte is copied. The checks are [`Splice::walk`]'s.
    ///
    /// Errors: as [`Splice::walk`].
    pub fn splice(&self, ops: &[Op], added: Vec<u8>, len: usize) -> Result<Composed, SpliceError> {
        let link = self.added.len();
        let mut pieces: Vec<Piece> = Vec::with_capacity(self.pieces.len() + 2 * ops.len());
        // The chunk's length so far and where the last piece starts in it.
        let (mut end, mut last_start) = (0usize, 0usize);
        let mut push = |source: Source, from: usize, n: usize| {
            if n == 0 {
                return;
            }
            match pieces.last_mut() {
                // Contiguous with the last piece in the same source: the same piece, longer.
                Some(last) if last.source == source && last.from + (end - last_start) == from => {
                    last.end += n;
                }
                _ => {
                    last_start = end;
                    pieces.push(Piece {
                        end: end + n,
                        source,
                        from,
                    });
                }
            }
            end += n;
        };
        Splice::walk(ops, added.len(), self.len(), len, |add, copy| {
            push(Source::Added(link), add.start, add.len());
            self.each_piece(copy.start, copy.end, &mut push);
        })?;
        let mut added_all = self.added.clone();
        added_all.push(Arc::new(added));
        let out = Composed {
            bottom: self.bottom.clone(),
            added: added_all,
            pieces,
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Rows of dump text, `n` of them, row `i` holding `v(i)`.
    fn rows(n: usize, v: impl Fn(usize) -> u64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("{i}\tcustomer {i:08}\t{}\t2026-12-08\n", v(i)).into_bytes())
            .collect()
    }

    /// Each version of a chain of `hours` hourly edits of 2 000 rows (a few rows changed,
    /// one deleted and one inserted per hour), each the splice of the one before.
    fn versions(hours: usize) -> Vec<Vec<u8>> {
        (0..=hours)
            .map(|h| {
                let mut t = rows(2000, |i| {
                    i as u64 * 7 + (i % 97 < h) as u64 * 1000 * h as u64
                });
                if h > 0 {
                    let cut = (h * 131) % t.len();
                    let cut = cut + t[cut..].iter().position(|&b| b == b'\n').unwrap_or(0);
                    t.splice(cut..cut, format!("\nnew row {h}").into_bytes());
                }
                t
            })
            .collect()
    }

    #[test]
    fn a_composed_chain_gives_what_applying_each_splice_gives() {
        let v = versions(20);
        let mut composed = Composed::whole(Arc::new(v[0].clone()));
        for w in v.windows(2) {
            let s = Splice::find(&w[1], &w[0]).expect("rows shared");
            // One link applied to the bytes, and the same link composed with the pieces.
            assert_eq!(
                Splice::apply(&s.ops, &s.added, &w[0], w[1].len()).unwrap(),
                w[1]
            );
            assert_eq!(
                composed.replaced(&s.ops).unwrap(),
                Splice::replaced(&s.ops, &w[0]).unwrap()
            );
            composed = composed
                .splice(&s.ops, s.added.clone(), w[1].len())
                .unwrap();
            assert_eq!(*composed.plain(), w[1]);
            assert!(composed.as_whole().is_none());
        }
        // Twenty hours of scattered edits stay a few pieces per changed row.
        assert!(composed.pieces() < 200, "{} pieces", composed.pieces());
    }

    #[test]
    fn a_whole_chunk_is_shared_not_copied() {
        let plain = Arc::new(b"abc\ndef\n".to_vec());
        let c = Composed::whole(plain.clone());
        assert!(Arc::ptr_eq(&c.plain(), &plain));
        assert_eq!(c.len(), 8);
        let empty = Composed::whole(Arc::new(Vec::new()));
        assert!(empty.is_empty() && empty.as_whole().is_some());
        // A splice that copies the whole base back is the base again, still shared.
        let ops = [Op {
            add: 0,
            copy_start: 0,
            copy_len: 8,
        }];
        let same = c.splice(&ops, Vec::new(), 8).unwrap();
        assert!(Arc::ptr_eq(&same.plain(), &plain));
    }

    #[test]
    fn damaged_instructions_fail_as_applying_them_does() {
        let base = b"0123456789".to_vec();
        let c = Composed::whole(Arc::new(base.clone()));
        let bad: [(&[Op], &[u8], usize); 4] = [
            (
                &[Op {
                    add: 0,
                    copy_start: 8,
                    copy_len: 4,
                }],
                b"",
                4,
            ),
            (
                &[Op {
                    add: 3,
                    copy_start: 0,
                    copy_len: 1,
                }],
                b"ab",
                4,
            ),
            (
                &[Op {
                    add: 1,
                    copy_start: 0,
                    copy_len: 1,
                }],
                b"abc",
                2,
            ),
            (
                &[Op {
                    add: 1,
                    copy_start: 0,
                    copy_len: 5,
                }],
                b"a",
                5,
            ),
        ];
        for (ops, added, len) in bad {
            let want = Splice::apply(ops, added, &base, len).unwrap_err().0;
            let got = c.splice(ops, added.to_vec(), len).unwrap_err().0;
            assert_eq!(got, want);
        }
    }

    /// Random instructions over a random base: any that apply, compose to the same bytes,
    /// and any that fail, fail the same way.
    fn op() -> impl Strategy<Value = Op> {
        (0usize..6, 0usize..40, 0usize..12).prop_map(|(add, copy_start, copy_len)| Op {
            add,
            copy_start,
            copy_len,
        })
    }

    proptest! {
        #[test]
        fn random_chains_compose_to_the_applied_bytes(
            base in proptest::collection::vec(any::<u8>(), 0..40),
            links in proptest::collection::vec(
                (proptest::collection::vec(op(), 0..6), proptest::collection::vec(any::<u8>(), 0..30)),
                1..6,
            ),
        ) {
            let mut flat = base.clone();
            let mut composed = Composed::whole(Arc::new(base));
            for (ops, pool) in links {
                let need: usize = ops.iter().map(|o| o.add).sum();
                let added: Vec<u8> = pool.iter().copied().cycle().take(need).collect();
                let len: usize = ops.iter().map(|o| o.add + o.copy_len).sum();
                let added = if pool.is_empty() && need > 0 { Vec::new() } else { added };
                let applied = Splice::apply(&ops, &added, &flat, len);
                let spliced = composed.splice(&ops, added.clone(), len);
                prop_assert_eq!(
                    composed.replaced(&ops).ok(),
                    Splice::replaced(&ops, &flat).ok()
                );
                match (applied, spliced) {
                    (Ok(a), Ok(c)) => {
                        prop_assert_eq!(&*c.plain(), &a);
                        flat = a;
                        composed = c;
                    }
                    (Err(a), Err(c)) => prop_assert_eq!(a.0, c.0),
                    (a, c) => prop_assert!(false, "applied {:?}, composed {:?}", a.is_ok(), c.is_ok()),
                }
            }
        }
    }
}
