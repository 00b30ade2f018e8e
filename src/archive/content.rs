//! Delta bases by content: a window over the previous stream's chunks that the base finder
//! ([`super::parent::BaseFinder::propose`]) walks along the new stream, so that a new chunk's
//! base is the previous chunk holding the same rows, however far the byte positions drifted
//! (scattered deletes move every later row of a table back by a growing amount: 5% deleted
//! rows put a table's last rows ~5% of the table earlier, dozens of chunks off).
//!
//! Both chunks are cut into records: lines, and within long lines the rows of an extended
//! `INSERT` (each `),(` starts one). A record is matched by its whole bytes (unchanged row) or,
//! failing that, by its first field (up to the first tab or comma: the key of a row in COPY
//! text or in an `INSERT`'s values, when the first column is the primary key; an updated row,
//! or every row of a table that gained a column). Each new record votes, by its length (half
//! for a key match), for the previous chunk holding it; the most voted chunks are the
//! candidates. This is a merge of the two streams: the window loads previous chunks in stream
//! order (each at most once between two resets, at most [`MAX_LOADS`] per new chunk), keeps
//! the newest [`WINDOW`], and is reset where the finder re-anchors (a table start, a shared
//! chunk).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The maps' keys are hashes already: used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashMapOf = HashMap<u64, Hit, BuildHasherDefault<Prehashed>>;

/// A record's hashes in the window: of its bytes, and of its key if any.
type Hashes = (u64, Option<u64>);

/// Previous chunks whose records the window keeps (~1 MiB of 64 KiB chunks, as hashes only).
pub const WINDOW: usize = 16;
/// Most previous chunks loaded (read from packs) for one new chunk.
pub const MAX_LOADS: usize = 2;
/// Records shorter than this in bytes are not matched (`\.`, blank lines, `);`).
const MIN_RECORD: usize = 12;
/// The longest first field, in bytes, taken as a record's key.
const MAX_KEY: usize = 48;
/// One record in `SAMPLE` is matched: those whose key (or, without a key, whose bytes) hash
/// to 0 modulo `SAMPLE` (bits 32 and up: the maps use the low and top bits), the same records in both streams (content-defined sampling, as the
/// features of a resemblance sketch), so the window holds and looks up a quarter of them.
pub const SAMPLE: u64 = 4;

/// Where a record of a loaded previous chunk is: the chunk's index in the previous stream and
/// the record's offset in the chunk, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub chunk: u32,
    pub at: u32,
}

/// One record of a chunk: its offset and length in bytes, the hash of its bytes and of its
/// key (first field), if it has one.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub at: u32,
    pub len: u32,
    pub line: u64,
    pub key: Option<u64>,
}

/// The sampled complete records of `bytes` (a chunk): the spans between two record starts
/// (after a `\n`, or the `(` of a `),(`), at least [`MIN_RECORD`] bytes long, one in about
/// [`SAMPLE`] (by content). The span before the first start and after the last one may be
/// cut by the chunk's ends and are left out.
pub fn records(bytes: &[u8], sample: u64) -> Vec<Record> {
    // One pass over the chunk, in order: after a line feed, or at the `(` of a `),(`.
    let starts: Vec<usize> = memchr::memchr2_iter(b'\n', b'(', bytes)
        .filter_map(|i| match bytes[i] {
            b'\n' => Some(i + 1),
            _ => (i >= 2 && &bytes[i - 2..i] == b"),").then_some(i),
        })
        .collect();
    let sample = sample.max(1);
    let mut out = Vec::with_capacity(starts.len() / sample as usize + 1);
    for w in starts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b - a < MIN_RECORD {
            continue;
        }
        let rec = &bytes[a..b];
        let head = &rec[..rec.len().min(MAX_KEY)];
        let key = memchr::memchr2(b'\t', b',', head)
            .filter(|p| *p > 0)
            .map(|p| hash(&rec[..p]));
        let line = match key {
            Some(k) if (k >> 32) % sample != 0 => continue,
            Some(_) => hash(rec),
            None => match hash(rec) {
                h if (h >> 32) % sample != 0 => continue,
                h => h,
            },
        };
        out.push(Record {
            at: a as u32,
            len: (b - a) as u32,
            line,
            key,
        });
    }
    out
}

/// A 64-bit hash of `b` (FxHash's multiply-rotate over 8-byte words, then a final mix): only
/// to find equal records; a collision costs one poor delta base candidate, nothing more.
fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h.rotate_left(5) ^ x).wrapping_mul(K);
    }
    for &x in words.remainder() {
        h = (h.rotate_left(5) ^ u64::from(x)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The votes of a new chunk's records for the previous chunks in the window.
#[derive(Debug, Default)]
pub struct Votes {
    /// (previous chunk index, votes), most voted first.
    pub ranked: Vec<(u32, u64)>,
    /// The first record found unchanged in the most voted chunk: its offset in the new chunk
    /// and where it is in the previous stream (fixes the offset shift exactly).
    pub align: Option<(u32, Hit)>,
    /// Whether the new chunk's last record was found (else its tail may lie in a previous
    /// chunk not loaded yet).
    pub tail_found: bool,
}

/// The sliding window over the previous stream's chunks: see the module notes.
pub struct Window {
    /// One record in `sample` is matched ([`SAMPLE`]; 1 in tests).
    pub sample: u64,
    /// The loaded chunks in load order, with the hashes they added (to evict them).
    loaded: VecDeque<(u32, Vec<Hashes>)>,
    lines: HashMapOf,
    keys: HashMapOf,
    /// Index in the previous stream of the next chunk to load.
    pub next: usize,
    /// Chunks loaded in all (read from packs, or from the base cache).
    pub loads: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            sample: SAMPLE,
            loaded: VecDeque::new(),
            lines: HashMapOf::default(),
            keys: HashMapOf::default(),
            next: 0,
            loads: 0,
        }
    }
}

impl Window {
    /// Empties the window; loading resumes at previous chunk `at`.
    pub fn reset(&mut self, at: usize) {
        self.loaded.clear();
        self.lines.clear();
        self.keys.clear();
        self.next = at;
    }

    /// Whether no chunk is loaded.
    pub fn is_empty(&self) -> bool {
        self.loaded.is_empty()
    }

    /// Index of the last chunk loaded.
    pub fn last(&self) -> Option<u32> {
        self.loaded.back().map(|(c, _)| *c)
    }

    /// Adds the records of previous chunk `chunk` (its bytes, empty when it could not be
    /// read), evicting the oldest chunk beyond [`WINDOW`].
    pub fn add(&mut self, chunk: u32, bytes: &[u8]) {
        let recs = records(bytes, self.sample);
        let mut hashes = Vec::with_capacity(recs.len());
        for r in &recs {
            let hit = Hit { chunk, at: r.at };
            self.lines.insert(r.line, hit);
            if let Some(k) = r.key {
                self.keys.insert(k, hit);
            }
            hashes.push((r.line, r.key));
        }
        self.loaded.push_back((chunk, hashes));
        self.loads += 1;
        while self.loaded.len() > WINDOW {
            let Some((old, hashes)) = self.loaded.pop_front() else {
                break;
            };
            for (line, key) in hashes {
                if self.lines.get(&line).is_some_and(|h| h.chunk == old) {
                    self.lines.remove(&line);
                }
                if let Some(k) = key {
                    if self.keys.get(&k).is_some_and(|h| h.chunk == old) {
                        self.keys.remove(&k);
                    }
                }
            }
        }
    }

    /// The votes of `recs` (a new chunk's records): a record found whole votes its length for
    /// the chunk holding it, one found by key half its length.
    pub fn vote(&self, recs: &[Record]) -> Votes {
        let mut ranked: Vec<(u32, u64)> = Vec::new();
        let mut found: Vec<Option<(Hit, bool)>> = Vec::with_capacity(recs.len());
        for r in recs {
            let hit = match self.lines.get(&r.line) {
                Some(h) => Some((*h, true)),
                None => r.key.and_then(|k| self.keys.get(&k)).map(|h| (*h, false)),
            };
            if let Some((h, whole)) = hit {
                let w = if whole { r.len } else { r.len / 2 };
                match ranked.iter_mut().find(|(c, _)| *c == h.chunk) {
                    Some(v) => v.1 += u64::from(w),
                    None => ranked.push((h.chunk, u64::from(w))),
                }
            }
            found.push(hit);
        }
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let align = ranked.first().and_then(|(best, _)| {
            recs.iter().zip(&found).find_map(|(r, f)| match f {
                Some((h, true)) if h.chunk == *best => Some((r.at, *h)),
                _ => None,
            })
        });
        Votes {
            ranked,
            align,
            tail_found: found.last().is_some_and(|f| f.is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_complete_lines_and_insert_rows() {
        let copy = b"7\tcut\n10\talpha beta\n11\tgamma delta\n12\tcut at the e";
        let r = records(copy, 1);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].at, r[0].len), (6, 14));
        assert_eq!(r[0].key, Some(hash(b"10")));
        let ins = b"xx'),(1,'first row'),(2,'second row'),(3,'cut";
        let r = records(ins, 1);
        assert_eq!(r.len(), 2);
        assert_eq!(&ins[r[0].at as usize..][..3], b"(1,");
        assert_eq!(r[1].key, Some(hash(b"(2")));
    }

    #[test]
    fn sampled_records_depend_on_content_only() {
        let rows: String = (0..400).map(|i| format!("{i}\tname {i}\tx\n")).collect();
        let all = records(rows.as_bytes(), 1);
        let some = records(rows.as_bytes(), SAMPLE);
        // About one in SAMPLE, the same rows wherever they are.
        assert!(some.len() * 2 > all.len() / SAMPLE as usize && some.len() < all.len() / 2);
        // Behind a new first line (row 0 becomes a complete record): the same rows again.
        let shifted = format!("first\n{rows}");
        let again: Vec<Option<u64>> = (records(shifted.as_bytes(), SAMPLE).iter())
            .map(|r| r.key)
            .filter(|k| *k != Some(hash(b"0")))
            .collect();
        assert_eq!(again, some.iter().map(|r| r.key).collect::<Vec<_>>());
    }

    #[test]
    fn records_vote_for_the_chunk_that_holds_them() {
        let old0 = b"x\n1\tone one one\n2\ttwo two two\n3\tthree three\n";
        let old1 = b"4\tfour four four\n5\tfive five five\n6\tsix six six six\n";
        let mut w = Window {
            sample: 1,
            ..Window::default()
        };
        w.add(0, old0);
        w.add(1, old1);
        // Row 4 deleted, row 5 updated, row 6 unchanged: chunk 1 wins, aligned on row 6.
        let new = b"ee\n3\tthree three\n5\tFIVE FIVE FIVE\n6\tsix six six six\n";
        let v = w.vote(&records(new, 1));
        assert_eq!(v.ranked[0].0, 1);
        assert_eq!(v.ranked[1].0, 0);
        assert_eq!(
            v.align.map(|(at, h)| (at, h.chunk, h.at)),
            Some((34, 1, 34))
        );
        assert!(v.tail_found);
        // Evicted chunks stop voting.
        for c in 2..2 + WINDOW as u32 {
            w.add(c, b"");
        }
        assert!(w.vote(&records(new, 1)).ranked.is_empty());
        assert_eq!(w.last(), Some(1 + WINDOW as u32));
    }
}
