//! The whole stream's BLAKE3 hash, computed from parts of the stream that many threads read in
//! any order. BLAKE3 is a tree hash over 1 KiB chunks: every complete, aligned, power-of-two
//! block of chunks that is not the whole stream is a node of that tree, so each [`Segment`]
//! (bytes read at a known stream offset) hashes such blocks as its bytes pass and keeps the
//! bytes of the chunks it only partly holds. [`StreamHash::finalize`] then builds the root from
//! those nodes and fragments. Segments may overlap (the same bytes read twice): any node they
//! both hold has the same value.

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::ops::Range;
use std::sync::Mutex;

/// BLAKE3's chunk, bytes.
const CHUNK: u64 = 1024;
/// The biggest block a segment hashes at once (the tree above it is built by merging), bytes.
const BLOCK: u64 = 64 * 1024;

#[derive(Default)]
struct Nodes {
    /// Chaining values of nodes, by (stream offset, length).
    blocks: HashMap<(u64, u64), ChainingValue>,
    /// Bytes of partly held chunks, by (stream offset, length); each lies inside one chunk.
    frags: BTreeMap<(u64, u64), Vec<u8>>,
}

/// Collects the nodes of a stream of `size` bytes from its segments (thread-safe).
pub struct StreamHash {
    size: u64,
    nodes: Mutex<Nodes>,
}

impl StreamHash {
    /// A hash of a stream of `size` bytes, nothing fed yet.
    pub fn new(size: u64) -> Self {
        StreamHash {
            size,
            nodes: Mutex::new(Nodes::default()),
        }
    }

    /// A segment of the stream starting at byte `offset`; its bytes go in with
    /// [`Segment::update`] and count once [`Segment::finish`] ran.
    pub fn segment(&self, offset: u64) -> Segment<'_> {
        Segment {
            sink: self,
            pos: offset,
            buf: Vec::new(),
            head: 0,
            stack: Vec::new(),
            frags: Vec::new(),
        }
    }

    /// The BLAKE3 hash of the whole stream, or `None` when some byte of it was never fed.
    pub fn finalize(&self) -> Option<[u8; 32]> {
        let nodes = self.nodes.lock().ok()?;
        if self.size <= CHUNK {
            let bytes = chunk_bytes(&nodes, 0, self.size)?;
            return Some(*blake3::hash(&bytes).as_bytes());
        }
        let left = left_subtree_len(self.size);
        let l = cv(&nodes, 0, left)?;
        let r = cv(&nodes, left, self.size - left)?;
        Some(*merge_subtrees_root(&l, &r, Mode::Hash).as_bytes())
    }
}

/// The chaining value of the non-root node (offset, len), from stored nodes and fragments.
fn cv(nodes: &Nodes, off: u64, len: u64) -> Option<ChainingValue> {
    if let Some(c) = nodes.blocks.get(&(off, len)) {
        return Some(*c);
    }
    if len <= CHUNK {
        let bytes = chunk_bytes(nodes, off, len)?;
        let mut h = blake3::Hasher::new();
        h.set_input_offset(off);
        h.update(&bytes);
        return Some(h.finalize_non_root());
    }
    let left = left_subtree_len(len);
    let l = cv(nodes, off, left)?;
    let r = cv(nodes, off + left, len - left)?;
    Some(merge_subtrees_non_root(&l, &r, Mode::Hash))
}

/// The bytes `off..off + len` of one chunk, put together from fragments; `None` when a byte
/// is missing.
fn chunk_bytes(nodes: &Nodes, off: u64, len: u64) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len as usize];
    let mut have = vec![false; len as usize];
    for ((at, n), bytes) in nodes.frags.range((off, 0)..(off + len, 0)) {
        let from = (at - off) as usize;
        let to = (from + *n as usize).min(out.len());
        out[from..to].copy_from_slice(&bytes[..to - from]);
        have[from..to].iter_mut().for_each(|h| *h = true);
    }
    have.iter().all(|h| *h).then_some(out)
}

/// Bytes of the stream read in order from one offset (see the module documentation).
pub struct Segment<'a> {
    sink: &'a StreamHash,
    /// Stream offset of `buf[head]`.
    pos: u64,
    buf: Vec<u8>,
    head: usize,
    /// Hashed nodes not yet merged with their sibling: (offset, length, value).
    stack: Vec<(u64, u64, ChainingValue)>,
    frags: Vec<(u64, Vec<u8>)>,
}

impl Segment<'_> {
    /// Adds the next bytes of the segment.
    pub fn update(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.drain(false);
    }

    /// Hashes what is left and hands the segment's nodes to its [`StreamHash`].
    pub fn finish(mut self) {
        self.drain(true);
        if let Ok(mut nodes) = self.sink.nodes.lock() {
            for (off, len, c) in self.stack.drain(..) {
                nodes.blocks.insert((off, len), c);
            }
            for (off, b) in self.frags.drain(..) {
                nodes.frags.insert((off, b.len() as u64), b);
            }
        }
    }

    fn avail(&self) -> u64 {
        (self.buf.len() - self.head) as u64
    }

    /// Hashes the blocks the buffer holds; at the `last` call also the smaller ones at the end.
    fn drain(&mut self, last: bool) {
        let size = self.sink.size;
        loop {
            let avail = self.avail();
            if avail == 0 {
                break;
            }
            if !self.pos.is_multiple_of(CHUNK) || size <= CHUNK {
                let to_edge = CHUNK - self.pos % CHUNK;
                if avail < to_edge && !last {
                    break;
                }
                self.frag(avail.min(to_edge));
                continue;
            }
            let mut len = match self.pos {
                0 => BLOCK,
                p => BLOCK.min(1 << p.trailing_zeros()),
            };
            // Only non-root nodes: a block as big as the stream would be the root.
            while len >= size && len > CHUNK {
                len /= 2;
            }
            if avail < len {
                if !last {
                    break;
                }
                if avail < CHUNK {
                    self.frag(avail);
                    continue;
                }
                len = 1 << avail.ilog2();
            }
            self.block(len);
        }
        if self.head > (1 << 20) && self.head * 2 > self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    fn frag(&mut self, n: u64) {
        let b = self.buf[self.head..self.head + n as usize].to_vec();
        self.frags.push((self.pos, b));
        self.head += n as usize;
        self.pos += n;
    }

    fn block(&mut self, len: u64) {
        let mut h = blake3::Hasher::new();
        h.set_input_offset(self.pos);
        h.update(&self.buf[self.head..self.head + len as usize]);
        let mut node = (self.pos, len, h.finalize_non_root());
        self.head += len as usize;
        self.pos += len;
        while let Some(&(off, l, c)) = self.stack.last() {
            let sibling = l == node.1 && off + l == node.0 && off.is_multiple_of(2 * l);
            if !sibling || 2 * l >= self.sink.size {
                break;
            }
            self.stack.pop();
            node = (off, 2 * l, merge_subtrees_non_root(&c, &node.2, Mode::Hash));
        }
        self.stack.push(node);
    }
}

/// Writes to `inner` and feeds a [`StreamHash`] with the same bytes, which are the stream's
/// bytes inside `ranges` (sorted, not overlapping), in order.
pub struct Fed<'a, W: Write> {
    inner: W,
    hash: Option<&'a StreamHash>,
    ranges: &'a [Range<u64>],
    at: usize,
    seg: Option<(u64, Segment<'a>)>,
}

impl<'a, W: Write> Fed<'a, W> {
    /// Feeds `hash` (nothing when `None`) with what goes to `inner`.
    pub fn new(inner: W, hash: Option<&'a StreamHash>, ranges: &'a [Range<u64>]) -> Self {
        Fed {
            inner,
            hash,
            ranges,
            at: 0,
            seg: None,
        }
    }

    /// Ends the segments fed so far; returns the inner writer.
    pub fn finish(mut self) -> W {
        if let Some((_, s)) = self.seg.take() {
            s.finish();
        }
        self.inner
    }
}

impl<W: Write> Write for Fed<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(b)?;
        let Some(hash) = self.hash else {
            return Ok(b.len());
        };
        let mut rest = b;
        while !rest.is_empty() && self.at < self.ranges.len() {
            let r = &self.ranges[self.at];
            let (left, seg) = self
                .seg
                .get_or_insert_with(|| (r.end - r.start, hash.segment(r.start)));
            let n = rest.len().min(*left as usize);
            seg.update(&rest[..n]);
            *left -= n as u64;
            rest = &rest[n..];
            if *left == 0 {
                if let Some((_, s)) = self.seg.take() {
                    s.finish();
                }
                self.at += 1;
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic byte pattern, `n` bytes from `seed`.
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        crate::repository::fixture::noise(seed, n)
    }

    /// Feeds `data` cut at `cuts` (each segment fed in writes of `step` bytes), plus the
    /// `extra` ranges again (overlaps), and returns the result.
    fn hash_of(
        data: &[u8],
        cuts: &[usize],
        step: usize,
        extra: &[Range<usize>],
    ) -> Option<[u8; 32]> {
        let h = StreamHash::new(data.len() as u64);
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(data.len());
        let segs = bounds.windows(2).map(|w| w[0]..w[1]);
        let extra = extra
            .iter()
            .filter(|r| r.start < r.end && r.end <= data.len());
        for r in segs.chain(extra.cloned()) {
            let mut s = h.segment(r.start as u64);
            data[r].chunks(step.max(1)).for_each(|c| s.update(c));
            s.finish();
        }
        h.finalize()
    }

    #[test]
    fn any_cut_of_the_stream_gives_its_blake3() {
        let seed = 0x5eed_0015;
        eprintln!("seed {seed:#x}");
        let sizes = [
            0, 1, 1023, 1024, 1025, 2048, 3000, 65536, 65537, 200_000, 300_001,
        ];
        for (i, &n) in sizes.iter().enumerate() {
            let data = bytes(n, seed + i as u64);
            let want = *blake3::hash(&data).as_bytes();
            assert_eq!(
                hash_of(&data, &[], 7000, &[]),
                Some(want),
                "{n} bytes in one"
            );
            let r = bytes(8, seed ^ n as u64);
            let mut cuts: Vec<usize> = r.iter().map(|b| (*b as usize * n) / 256).collect();
            cuts.sort();
            cuts.dedup();
            cuts.retain(|c| *c > 0 && *c < n);
            for step in [1000, 4096, 1 << 20] {
                let extra = [n / 3..n / 2, n / 5..n / 5 + 1];
                assert_eq!(
                    hash_of(&data, &cuts, step, &extra),
                    Some(want),
                    "{n} at {cuts:?}"
                );
            }
            if n > 0 {
                // A byte never fed: no hash.
                let h = StreamHash::new(n as u64);
                let mut s = h.segment(0);
                s.update(&data[..n - 1]);
                s.finish();
                assert_eq!(h.finalize(), None, "{n} bytes, last missing");
            }
        }
    }

    #[test]
    fn fed_maps_writes_to_its_ranges() {
        let data = bytes(100_000, 7);
        let h = StreamHash::new(data.len() as u64);
        let ranges = [0..10_000u64, 10_000..64_000, 70_000..100_000];
        let mut f = Fed::new(Vec::new(), Some(&h), &ranges);
        let mut seg = h.segment(64_000);
        seg.update(&data[64_000..70_000]);
        seg.finish();
        for r in &ranges {
            for c in data[r.start as usize..r.end as usize].chunks(3333) {
                f.write_all(c).unwrap();
            }
        }
        let out = f.finish();
        assert_eq!(out.len(), 94_000);
        assert_eq!(h.finalize(), Some(*blake3::hash(&data).as_bytes()));
    }
}
