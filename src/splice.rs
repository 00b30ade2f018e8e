//! Splices: a chunk written as copies of its base's byte ranges and added bytes, the COPY and
//! ADD instructions of VCDIFF (RFC 3284, section 5), without its address caches or code
//! tables. repo-format.md, section 6 ("Splice payloads").
//!
//! Owns: finding the ranges a chunk shares with its base, and the instruction encoding. Must
//! not: compress, seal or tag a blob (that is [`crate::compress`]).
//!
//! The finder suits dump text, where a changed chunk is its base with some rows replaced,
//! inserted or deleted. Rows start at anchors, the positions after a line feed or after a
//! `),(` (rows of an extended `INSERT`); a row's key is the row that follows ([`MIN_KEY`] to
//! [`MAX_KEY`] bytes).
//! The chunk is walked from anchor to anchor. A row found whole in the base starts a copy: it
//! is looked for first where the last copy points (the base row after it, the row it stopped
//! in, the row after that), then by up to [`SEARCHES`] plain searches of the base, then in an
//! index of the base's rows by key hash, built only then. A changed row that agrees long
//! enough with the base row after the last copy, or with a base row sharing its first
//! [`PREFIX`] bytes (a second index, built only when needed), starts a copy too. A copy is
//! extended backwards over the bytes not yet written and forwards while the bytes agree; the
//! walk goes on from the first differing byte. A chunk that agrees with its base costs about a
//! comparison of their bytes: no entropy coder sees the unchanged rows, and most chunks with
//! scattered changes never index their base.

/// A row's key (the bytes hashed to find the base's copy of the row that starts at an anchor)
/// is the row up to the next anchor, at least this many bytes (a shorter row's key runs into
/// the next row)...
pub const MIN_KEY: usize = 16;

/// ... and at most this many: longer rows are known by their first [`MAX_KEY`] bytes. Whole
/// rows first, not a fixed prefix: rows of one table often share a long prefix
/// (`INSERT INTO "customers" VALUES(` is 31 bytes), and a prefix key would match the wrong row.
pub const MAX_KEY: usize = 256;

/// A row whose whole key the base lacks (it changed) is compared with the base row after the
/// last copy, the row it most likely replaced, and copied from there when they agree for at
/// least this many bytes from the anchor, or for all of that base row but its last byte (a
/// row that gained a column). Rows of one table often agree on their first 31 bytes or so
/// (`INSERT INTO "customers" VALUES(`) and a few digits of the key; fewer bytes than this
/// are another row.
pub const AGREES: usize = 48;

/// When that row does not agree either (before the first copy, or after a deleted or moved
/// row), a changed row is looked up by its first [`PREFIX`] bytes, in a second index built
/// only then, under the same agreement rule.
pub const PREFIX: usize = 32;

/// At most this many bytes of the base are named as the bytes an add replaced
/// ([`Splice::replaced`]).
pub const REPLACED_MAX: usize = 4096;

/// Rows looked for by a plain search of the base ([`memchr::memmem`]) before its rows are
/// indexed: in hour 3 of the bench's uniform series at 280 MiB, 4 592 of 5 359 splices then
/// built no index (docs/bench.md, "Splices found without indexing the base").
pub const SEARCHES: usize = 2;

mod compose;
pub use compose::Composed;

/// One instruction of a splice: add `add` bytes (taken in order from the splice's added
/// bytes), then copy `copy_len` bytes of the base starting at `copy_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// Bytes taken from the added bytes, first.
    pub add: usize,
    /// Offset in the base of the copy that follows, bytes.
    pub copy_start: usize,
    /// Length of the copy, bytes (0 only in the last instruction).
    pub copy_len: usize,
}

/// A chunk as a splice of its base: the instructions and the added bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// The instructions, in the chunk's order.
    pub ops: Vec<Op>,
    /// The added bytes of all instructions, concatenated.
    pub added: Vec<u8>,
}

/// Why splice instructions cannot be applied: they do not fit the base or the expected length.
#[derive(Debug, thiserror::Error)]
#[error("damaged splice: {0}")]
pub struct SpliceError(pub &'static str);

/// Whether `buf[i]` (0 < i) starts a row: it follows a line feed, or the `),(` between two rows
/// of an extended `INSERT`.
fn is_anchor(buf: &[u8], i: usize) -> bool {
    buf[i - 1] == b'\n' || (i >= 3 && &buf[i - 3..i] == b"),(")
}

/// The next anchor at or after `from` (a row start, see [`is_anchor`]) that is followed by at
/// least [`MIN_KEY`] bytes.
fn next_anchor(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.max(1);
    while i + MIN_KEY <= buf.len() {
        if is_anchor(buf, i) {
            return Some(i);
        }
        // The next candidate: after a line feed or after a `(`.
        let rel = memchr::memchr2(b'\n', b'(', &buf[i..buf.len() - MIN_KEY])?;
        i += rel + 1;
    }
    None
}

/// The last anchor at or before `upto` and after `floor` (a row start, see [`is_anchor`]), if
/// followed by at least [`MIN_KEY`] bytes: the start of the row that holds byte `upto`.
fn prev_anchor(buf: &[u8], upto: usize, floor: usize) -> Option<usize> {
    let mut end = upto.min(buf.len().checked_sub(MIN_KEY)?);
    while end > floor {
        if is_anchor(buf, end) {
            return Some(end);
        }
        // The previous candidate: after a line feed or after a `(`, before `end`.
        end = floor + memchr::memrchr2(b'\n', b'(', &buf[floor..end - 1])? + 1;
    }
    None
}

/// The key of the row starting at anchor `a`: the bytes up to the next anchor, at least
/// [`MIN_KEY`] and at most [`MAX_KEY`] of them; `None` when fewer than [`MIN_KEY`] remain.
fn key(buf: &[u8], a: usize) -> Option<&[u8]> {
    let cap = buf.len().min(a + MAX_KEY);
    let mut end = cap;
    let mut i = a;
    while let Some(rel) = memchr::memchr2(b'\n', b'(', &buf[i..cap]) {
        let p = i + rel;
        if buf[p] == b'\n' || (p >= 2 && &buf[p - 2..p] == b"),") {
            end = p + 1;
            break;
        }
        i = p + 1;
    }
    let end = end.max(a + MIN_KEY);
    buf.get(a..end)
}

/// The hash of `key` (any length).
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = key.len() as u64;
    let mut words = key.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h.rotate_left(23) ^ v).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// The length of the common prefix of `a` and `b`, bytes.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let d = u64::from_le_bytes(x.try_into().expect("8 bytes"))
            ^ u64::from_le_bytes(y.try_into().expect("8 bytes"));
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Slots probed for one key (linear probing) before it is given up.
const PROBES: usize = 8;

/// The base's anchors by key hash: an open-addressing table (linear probing, at most
/// [`PROBES`] slots per key) of offsets plus one (0 = empty); the first anchor of a key is the
/// one found.
struct Anchors {
    shift: u32,
    slots: Vec<u32>,
}

impl Anchors {
    /// The index of `base`'s rows by their whole keys, or by their first [`PREFIX`] bytes
    /// (rows that have as many) when `prefix`.
    fn of(base: &[u8], prefix: bool) -> Self {
        // One key per row (a line, or a row of an extended INSERT), one slot per 16 bytes:
        // at most half full with rows of 32 bytes or more (dump rows are usually longer).
        // Shorter rows can fill it; probes are bounded ([`PROBES`]), so a key that finds no
        // slot is left out and costs only its copy.
        let want = (base.len() / 16).next_power_of_two().max(64);
        let mut t = Anchors {
            shift: 64 - want.trailing_zeros(),
            slots: vec![0; want],
        };
        let mut at = Some(0);
        while let Some(a) = at {
            let Some(k) = key(base, a) else { break };
            match prefix {
                false => t.insert(base, k, a),
                true if k.len() >= PREFIX => t.insert(base, &k[..PREFIX], a),
                true => {}
            }
            // A key that ends at its row's end ends at the next anchor.
            let end = a + k.len();
            at = match end + MIN_KEY <= base.len() && is_anchor(base, end) {
                true => Some(end),
                false => next_anchor(base, a + 1),
            };
        }
        t
    }

    /// The slots to probe for `key`, in order (every slot at most once).
    fn probe(&self, key: &[u8]) -> impl Iterator<Item = usize> {
        let first = (hash(key) >> self.shift) as usize;
        let mask = self.slots.len() - 1;
        (0..PROBES.min(self.slots.len())).map(move |i| (first + i) & mask)
    }

    fn insert(&mut self, base: &[u8], key: &[u8], a: usize) {
        for s in self.probe(key) {
            match (self.slots[s] as usize).checked_sub(1) {
                None => {
                    self.slots[s] = a as u32 + 1;
                    return;
                }
                // The same key is here already: the first anchor keeps it.
                Some(at) if base.get(at..at + key.len()) == Some(key) => return,
                Some(_) => {}
            }
        }
    }

    /// The base offset of a row whose bytes start with `key`, if indexed.
    fn find(&self, base: &[u8], key: &[u8]) -> Option<usize> {
        for s in self.probe(key) {
            let at = (self.slots[s] as usize).checked_sub(1)?;
            if base.get(at..at + key.len()) == Some(key) {
                return Some(at);
            }
        }
        None
    }
}

impl Splice {
    /// The splice of `data` against `base`: `None` when the chunk shares no anchored row with
    /// the base, or either is 4 GiB or more. Instructions alternate adds and copies; a copy
    /// starts with a whole row (or [`MAX_KEY`] bytes of it) or with the first [`AGREES`]
    /// bytes of a changed row (or all of its base row but the last byte), plus what was
    /// matched backwards.
    pub fn find(data: &[u8], base: &[u8]) -> Option<Splice> {
        Self::find_noting(data, base, &mut false)
    }

    /// [`Splice::find`], setting `indexed` when it had to index the base's rows (an index of
    /// either kind).
    fn find_noting(data: &[u8], base: &[u8], indexed: &mut bool) -> Option<Splice> {
        if data.len() < MIN_KEY || base.len() < MIN_KEY || base.len() >= u32::MAX as usize {
            return None;
        }
        // Both indexes of the base are built only when a row is not where the last copy
        // points: a chunk that changed in a few rows is mostly found without them.
        let mut by_row: Option<Anchors> = None;
        let mut by_prefix: Option<Anchors> = None;
        let mut ops = Vec::new();
        let mut added = Vec::new();
        // `done`: the chunk's bytes up to here are written (added or copied).
        let mut done = 0;
        // The base row after the last copy: the row a changed row most likely replaced, or
        // the next unchanged row after a replaced one.
        let mut expect: Option<usize> = None;
        // The base row the last copy stopped in: the next unchanged row after an inserted one.
        let mut stopped: Option<usize> = None;
        let mut searches = SEARCHES;
        let mut at = Some(0);
        while let Some(a) = at {
            let Some((fwd, b)) = key(data, a).and_then(|k| {
                let agree = |b: usize| common_prefix(&data[a..], &base[b..]);
                let agrees = |&(fwd, b): &(usize, usize)| {
                    let row = key(base, b).map_or(usize::MAX, |r| r.len());
                    fwd >= AGREES.min(row.saturating_sub(1))
                };
                // The row after the last copy, the row it stopped in, the row after the first
                // (looked for only when the others miss); each compared once.
                let skipped =
                    std::iter::once_with(|| expect.and_then(|e| next_anchor(base, e + 1)));
                let guesses = [expect, stopped].into_iter().chain(skipped).flatten();
                let whole = |b: usize| Some((agree(b), b)).filter(|(fwd, _)| *fwd >= k.len());
                if let Some(found) = guesses.filter_map(whole).next() {
                    return Some(found);
                }
                if by_row.is_none() && searches > 0 {
                    // Until the base is indexed: a few searches cost less than an index (the
                    // first rows of a chunk, before any copy points anywhere, or a moved row).
                    searches -= 1;
                    let row =
                        memchr::memmem::find_iter(base, k).find(|&b| b == 0 || is_anchor(base, b));
                    if let Some(b) = row {
                        return Some((agree(b), b));
                    }
                }
                let rows = by_row.get_or_insert_with(|| Anchors::of(base, false));
                if let Some(b) = rows.find(base, k) {
                    return Some((agree(b), b));
                }
                if let Some(found) = expect.map(|b| (agree(b), b)).filter(agrees) {
                    return Some(found);
                }
                if k.len() < PREFIX {
                    return None;
                }
                let index = by_prefix.get_or_insert_with(|| Anchors::of(base, true));
                let b = index.find(base, &k[..PREFIX])?;
                Some((agree(b), b)).filter(agrees)
            }) else {
                at = next_anchor(data, a + 1);
                continue;
            };
            let back = (data[done..a].iter().rev())
                .zip(base[..b].iter().rev())
                .take_while(|(x, y)| x == y)
                .count();
            added.extend_from_slice(&data[done..a - back]);
            ops.push(Op {
                add: a - back - done,
                copy_start: b - back,
                copy_len: back + fwd,
            });
            done = a + fwd;
            expect = next_anchor(base, b + fwd);
            stopped = prev_anchor(base, b + fwd, b);
            at = next_anchor(data, done);
        }
        *indexed = by_row.is_some() || by_prefix.is_some();
        if ops.is_empty() {
            return None;
        }
        if done < data.len() {
            let end = ops.last().map_or(0, |o| o.copy_start + o.copy_len);
            added.extend_from_slice(&data[done..]);
            ops.push(Op {
                add: data.len() - done,
                copy_start: end + (base.len() - end).min(REPLACED_MAX),
                copy_len: 0,
            });
        }
        Some(Splice { ops, added })
    }

    /// The base bytes the adds replaced, concatenated: for each instruction that adds, the
    /// base bytes between the previous copy's end (0 for the first) and its own copy's start,
    /// at most [`REPLACED_MAX`] of them (the last ones), and none when its copy starts before
    /// the previous one ended. Derived from the instructions alone, so that a reader builds
    /// the same bytes; a writer compresses the added bytes against them.
    pub fn replaced(ops: &[Op], base: &[u8]) -> Result<Vec<u8>, SpliceError> {
        Self::replaced_from(ops, base.len(), |from, to, out| {
            out.extend_from_slice(&base[from..to])
        })
    }

    /// [`Splice::replaced`] for a base of `base_len` bytes held in any form: `copy(from, to,
    /// out)` appends the base's bytes `from..to` to `out` (called only with ranges inside the
    /// base).
    pub fn replaced_from(
        ops: &[Op],
        base_len: usize,
        mut copy: impl FnMut(usize, usize, &mut Vec<u8>),
    ) -> Result<Vec<u8>, SpliceError> {
        let mut out = Vec::new();
        let mut end = 0usize;
        for o in ops {
            if o.copy_start > base_len {
                return Err(SpliceError("a copy starts past the base's end"));
            }
            if o.add > 0 && o.copy_start > end {
                let from = end.max(o.copy_start.saturating_sub(REPLACED_MAX));
                copy(from, o.copy_start, &mut out);
            }
            end = o
                .copy_start
                .checked_add(o.copy_len)
                .filter(|&e| e <= base_len)
                .ok_or(SpliceError("a copy runs past the base's end"))?;
        }
        Ok(out)
    }

    /// The chunk: `ops` applied to `base` with `added`; `len` is the expected chunk length in
    /// bytes. Errors as [`Splice::walk`]. The tests' reference for [`Composed::splice`], which
    /// readers use.
    #[cfg(test)]
    pub fn apply(
        ops: &[Op],
        added: &[u8],
        base: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, SpliceError> {
        let mut out = Vec::with_capacity(len);
        Self::walk(ops, added.len(), base.len(), len, |add, copy| {
            out.extend_from_slice(&added[add]);
            out.extend_from_slice(&base[copy]);
        })?;
        Ok(out)
    }

    /// The one check of splice instructions before they are applied, to a base in any form
    /// ([`Composed::splice`], and the tests' `Splice::apply`): `ops` against `added_len` added bytes and a
    /// base of `base_len` bytes must give a chunk of `len` bytes. `each(add, copy)` is called
    /// per instruction, in order, with the range of the added bytes it appends and the range
    /// of the base it copies (both inside their buffers; nothing is called for instructions
    /// after an error). Errors when a copy leaves the base, the adds do not use exactly the
    /// added bytes, or the chunk is not `len` bytes.
    pub fn walk(
        ops: &[Op],
        added_len: usize,
        base_len: usize,
        len: usize,
        mut each: impl FnMut(std::ops::Range<usize>, std::ops::Range<usize>),
    ) -> Result<(), SpliceError> {
        let (mut used, mut written) = (0usize, 0usize);
        for o in ops {
            let add = (used.checked_add(o.add))
                .filter(|&e| e <= added_len)
                .map(|e| used..e)
                .ok_or(SpliceError("the adds need more bytes than were added"))?;
            let copy = (o.copy_start.checked_add(o.copy_len))
                .filter(|&e| e <= base_len)
                .map(|e| o.copy_start..e)
                .ok_or(SpliceError("a copy runs past the base's end"))?;
            written = (written.checked_add(o.add + o.copy_len))
                .filter(|&w| w <= len)
                .ok_or(SpliceError("the chunk is longer than its index entry says"))?;
            used = add.end;
            each(add, copy);
        }
        if used != added_len {
            return Err(SpliceError("added bytes left over"));
        }
        if written != len {
            return Err(SpliceError(
                "the chunk is shorter than its index entry says",
            ));
        }
        Ok(())
    }

    /// Whether `ops` applied to `base` with `added` give exactly `data` (compared in place,
    /// nothing copied): a writer's check of a splice before it is stored.
    pub fn matches(ops: &[Op], added: &[u8], base: &[u8], data: &[u8]) -> bool {
        let (mut rest, mut out) = (added, data);
        for o in ops {
            let copy =
                (o.copy_start.checked_add(o.copy_len)).and_then(|e| base.get(o.copy_start..e));
            let (Some((add, more)), Some(copy)) = (rest.split_at_checked(o.add), copy) else {
                return false;
            };
            let Some((got, tail)) = out.split_at_checked(add.len() + copy.len()) else {
                return false;
            };
            if got[..add.len()] != *add || got[add.len()..] != *copy {
                return false;
            }
            (rest, out) = (more, tail);
        }
        rest.is_empty() && out.is_empty()
    }

    /// The instructions as bytes: a LEB128 count, then per instruction `add`, the copy's start
    /// less the previous copy's end (0 for the first) zigzag-encoded, and `copy_len`, each an
    /// unsigned LEB128.
    pub fn encode_ops(ops: &[Op], out: &mut Vec<u8>) {
        put(out, ops.len() as u64);
        let mut end = 0usize;
        for o in ops {
            put(out, o.add as u64);
            let d = o.copy_start as i64 - end as i64;
            put(out, ((d << 1) ^ (d >> 63)) as u64);
            put(out, o.copy_len as u64);
            end = o.copy_start + o.copy_len;
        }
    }

    /// Reverses [`Splice::encode_ops`]: the instructions and the bytes after them. At most
    /// `max_ops` instructions are accepted (a chunk of n bytes needs at most n + 1).
    pub fn decode_ops(mut buf: &[u8], max_ops: usize) -> Result<(Vec<Op>, &[u8]), SpliceError> {
        let n = get(&mut buf)?;
        if n > max_ops as u64 {
            return Err(SpliceError("more instructions than the chunk has bytes"));
        }
        // Each instruction takes at least 3 bytes: a damaged count allocates no more than the
        // payload could hold.
        let mut ops = Vec::with_capacity((n as usize).min(buf.len() / 3));
        let mut end = 0i64;
        for _ in 0..n {
            let add = get(&mut buf)?;
            let z = get(&mut buf)?;
            let d = (z >> 1) as i64 ^ -((z & 1) as i64);
            let len = get(&mut buf)?;
            let start = end
                .checked_add(d)
                .filter(|&s| (0..u32::MAX as i64).contains(&s))
                .ok_or(SpliceError("a copy starts outside the base"))?;
            if add > u32::MAX as u64 || len > u32::MAX as u64 {
                return Err(SpliceError("an instruction longer than a chunk"));
            }
            end = start + len as i64;
            ops.push(Op {
                add: add as usize,
                copy_start: start as usize,
                copy_len: len as usize,
            });
        }
        Ok((ops, buf))
    }
}

/// Appends `v` as unsigned LEB128.
fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one unsigned LEB128 of at most 10 bytes from the front of `buf`.
fn get(buf: &mut &[u8]) -> Result<u64, SpliceError> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(v);
        }
    }
    Err(SpliceError("an instruction is cut short"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(keys: impl Iterator<Item = u32>, tag: &str) -> Vec<u8> {
        keys.map(|k| format!("{k}\t{tag}\tsome filler text of a row {}\n", k * 7))
            .collect::<String>()
            .into_bytes()
    }

    fn round_trip(data: &[u8], base: &[u8]) -> Splice {
        let s = Splice::find(data, base).expect("shares rows");
        let mut enc = Vec::new();
        Splice::encode_ops(&s.ops, &mut enc);
        enc.push(0xAB);
        let (ops, rest) = Splice::decode_ops(&enc, data.len() + 1).unwrap();
        assert_eq!((ops.as_slice(), rest), (s.ops.as_slice(), &[0xAB][..]));
        assert_eq!(
            Splice::apply(&ops, &s.added, base, data.len()).unwrap(),
            data
        );
        assert!(Splice::matches(&ops, &s.added, base, data));
        let mut other = data.to_vec();
        other[data.len() / 3] ^= 1;
        assert!(!Splice::matches(&ops, &s.added, base, &other));
        assert!(!Splice::matches(&ops, &s.added, base, &data[1..]));
        s
    }

    /// `lines` rewritten by `f` (line number, line, output), in order.
    fn edit(lines: &[&[u8]], f: impl Fn(usize, &[u8], &mut Vec<u8>)) -> Vec<u8> {
        let mut data = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            f(i, line, &mut data);
        }
        data
    }

    /// Issue 16 (later snapshots): a chunk whose rows were updated or deleted here and there
    /// is found row by row where its last copy points (the row after it, the row it stopped
    /// in, the row after that) and by a search before the first copy, without indexing the
    /// base, which was a thirteenth of a later snapshot's CPU time. A moved row is found by
    /// a search of the base; a new row is looked up in the index, built then. Every splice
    /// adds only what changed.
    #[test]
    fn scattered_changes_are_found_without_indexing_the_base() {
        let base = rows(0..600, "a");
        let lines: Vec<&[u8]> = base.split_inclusive(|&b| b == b'\n').collect();
        let found = |data: &[u8]| {
            let mut indexed = false;
            let s = Splice::find_noting(data, &base, &mut indexed).expect("shares rows");
            assert_eq!(s, round_trip(data, &base));
            (s.added.len(), indexed)
        };
        // Rows 300 and 450 updated in one byte; rows 200, 201 and 500 deleted.
        let updated = edit(&lines, |i, line, out| match i {
            300 | 450 => out.extend_from_slice(&rows(i as u32..i as u32 + 1, "b")),
            200 | 201 | 500 => {}
            _ => out.extend_from_slice(line),
        });
        assert_eq!(found(&updated), (2, false));
        // A new row: the index is built to look for it.
        const NEW: &[u8] = b"an inserted row, not in the base at all\n";
        let inserted = edit(&lines, |i, line, out| {
            if i == 100 {
                out.extend_from_slice(NEW);
            }
            out.extend_from_slice(line)
        });
        // (Its line feed is copied with the row before it.)
        assert_eq!(found(&inserted), (NEW.len() - 1, true));
        // Row 100 moved to the end: copied from where a search of the base finds it.
        let moved = edit(&lines, |i, line, out| match i {
            100 => {}
            599 => {
                out.extend_from_slice(line);
                out.extend_from_slice(lines[100]);
            }
            _ => out.extend_from_slice(line),
        });
        assert_eq!(found(&moved), (0, false));
    }

    #[test]
    fn prev_anchor_finds_the_row_holding_a_byte() {
        let buf = b"head\n(not a row) x),(second row of the insert),(third row, long enough\n";
        let second = buf.windows(3).position(|w| w == b"),(").unwrap() + 3;
        let third = second + buf[second..].windows(3).position(|w| w == b"),(").unwrap() + 3;
        assert_eq!(prev_anchor(buf, third - 1, 0), Some(second));
        assert_eq!(prev_anchor(buf, second + 3, 0), Some(second));
        assert_eq!(prev_anchor(buf, second, 0), Some(second));
        // The `(` after "head\n" starts no row; the line does.
        assert_eq!(prev_anchor(buf, 12, 0), Some(5));
        assert_eq!(prev_anchor(buf, 12, 5), None);
        assert_eq!(prev_anchor(buf, 3, 0), None);
        assert_eq!(prev_anchor(buf, buf.len() + 10, 0), Some(third));
    }

    #[test]
    fn a_changed_row_adds_only_its_changed_bytes() {
        let base = rows(0..500, "a");
        let mut data = base.clone();
        let at = data.len() / 2;
        data[at] = b'#';
        let s = round_trip(&data, &base);
        assert_eq!(s.added, b"#");
        assert_eq!(s.ops.len(), 2);
    }

    #[test]
    fn inserted_deleted_moved_and_shifted_rows_round_trip() {
        let base = rows(100..600, "a");
        let cases = [
            rows(100..300, "a")
                .into_iter()
                .chain(rows(1000..1010, "new"))
                .chain(rows(300..600, "a"))
                .collect::<Vec<u8>>(),
            rows((100..600).filter(|k| k % 17 != 0), "a"),
            rows(300..600, "a")
                .into_iter()
                .chain(rows(100..300, "a"))
                .collect(),
            rows(150..650, "a")[13..].to_vec(),
            rows((100..600).map(|k| if k % 50 == 0 { k + 1 } else { k }), "a"),
        ];
        for data in cases {
            let s = round_trip(&data, &base);
            assert!(
                s.added.len() < data.len() / 4,
                "{} of {}",
                s.added.len(),
                data.len()
            );
        }
    }

    #[test]
    fn rows_of_an_extended_insert_are_anchors() {
        let row = |k: u32| format!("({k},'name {k}','a longer text value for the row {k}')");
        let line = |ks: &mut dyn Iterator<Item = u32>| {
            let v: Vec<String> = ks.map(row).collect();
            format!("INSERT INTO `t` VALUES {};\n", v.join(",")).into_bytes()
        };
        let base = line(&mut (0..800));
        let data = line(&mut (0..800).filter(|k| k % 100 != 7));
        let s = round_trip(&data, &base);
        assert!(
            s.added.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&s.added)
        );
    }

    /// Rows that share a prefix longer than a fixed key (one `INSERT` per row, as sqlite3's
    /// `.dump` and `mysqldump --skip-extended-insert` write them) are found by their whole
    /// row: a fixed 32-byte key matched the first row of each run of ids and left most of the
    /// chunk added (the demo's second snapshot stored 832.6 KiB instead of 56.8 KiB).
    #[test]
    fn rows_with_a_long_common_prefix_are_found_by_their_whole_row() {
        let row = |k: u32, note: &str| {
            format!(
                "INSERT INTO \"customers\" VALUES({k},'customer {}','{note}');\n",
                k * 7
            )
        };
        let base: String = (0..2000).map(|k| row(k, "c@example.com")).collect();
        let data: String = (0..2000)
            .map(|k| {
                row(
                    k,
                    if k % 100 == 7 {
                        "changed"
                    } else {
                        "c@example.com"
                    },
                )
            })
            .collect();
        let s = round_trip(data.as_bytes(), base.as_bytes());
        assert!(s.added.len() <= 20 * 10, "{} bytes added", s.added.len());
        assert!(s.ops.len() <= 21, "{} instructions", s.ops.len());
    }

    /// A row that gained a column (`ALTER TABLE … ADD COLUMN … DEFAULT`) has no whole-row match
    /// but is the base row after the last copy, so only the new field of each row is added.
    #[test]
    fn rows_that_gained_a_column_add_only_the_new_field() {
        let base = rows(0..1000, "a");
        let text = String::from_utf8(base.clone()).unwrap();
        let data = text.replace('\n', "\tnew\n").into_bytes();
        let s = round_trip(&data, &base);
        // One field per row; the first row starts the chunk, with no copy before it.
        assert!((4000..4100).contains(&s.added.len()), "{}", s.added.len());
    }

    #[test]
    fn unrelated_data_has_no_splice() {
        assert_eq!(
            Splice::find(&rows(0..100, "a"), &rows(5000..5100, "b")),
            None
        );
        assert_eq!(Splice::find(b"short", b"short"), None);
    }

    #[test]
    fn replaced_bytes_are_the_rows_an_add_replaced() {
        let base = rows(0..100, "a");
        let mut data = base.clone();
        let row = 2000..2040;
        data.splice(row.clone(), b"x".iter().copied());
        let s = round_trip(&data, &base);
        let replaced = Splice::replaced(&s.ops, &base).unwrap();
        assert!(
            base[row].ends_with(&replaced) && !replaced.is_empty(),
            "{replaced:?}"
        );
    }

    #[test]
    fn damaged_instructions_are_errors_not_panics() {
        let base = rows(0..100, "a");
        let op = |add, copy_start, copy_len| Op {
            add,
            copy_start,
            copy_len,
        };
        let bad = [
            (vec![op(0, base.len() - 1, 2)], &b""[..], 2),
            (vec![op(2, 0, 0)], b"x", 2),
            (vec![op(0, 0, 10)], b"x", 11),
            (vec![op(0, 0, 10)], b"", 9),
            (vec![op(0, usize::MAX, 2)], b"", 2),
        ];
        for (ops, added, len) in bad {
            assert!(Splice::apply(&ops, added, &base, len).is_err(), "{ops:?}");
        }
        assert!(Splice::replaced(&[op(1, base.len() + 1, 0)], &base).is_err());
        assert!(Splice::decode_ops(&[0x80], 10).is_err());
        assert!(Splice::decode_ops(&[11], 10).is_err());
        assert!(
            Splice::decode_ops(&[1, 0, 1, 0], 10).is_err(),
            "starts at -1"
        );
    }
}
