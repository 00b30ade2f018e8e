//! Content-defined chunking with FastCDC (Xia et al., "FastCDC: a Fast and Efficient
//! Content-Defined Chunking Approach for Data Deduplication", USENIX ATC 2016, and the 2020
//! journal version), streaming over any reader, with the repository's secret gear seed.

use crate::format::config::ChunkerParams;
use fastcdc::v2020::{Normalization, StreamCDC};
use std::io::Read;

/// Yields the chunks of `source` in order; each `Vec` is one chunk's bytes
/// (`min_size..=max_size` long, except the last). Memory: one `max_size` buffer.
pub fn chunks<R: Read>(
    source: R,
    params: &ChunkerParams,
    seed: u64,
) -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    let level = match params.normalization {
        0 => Normalization::Level0,
        1 => Normalization::Level1,
        2 => Normalization::Level2,
        _ => Normalization::Level3,
    };
    StreamCDC::with_level_and_seed(
        source,
        params.min_size as usize,
        params.avg_size as usize,
        params.max_size as usize,
        level,
        seed,
    )
    .map(|r| r.map(|c| c.data).map_err(std::io::Error::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_input_and_depend_on_seed() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let data: Vec<u8> = (0..2_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let p = ChunkerParams::default();
        let a: Vec<Vec<u8>> = chunks(&data[..], &p, 1).map(|c| c.unwrap()).collect();
        assert_eq!(a.concat(), data);
        assert!(a.iter().all(|c| c.len() <= p.max_size as usize));
        let b: Vec<usize> = chunks(&data[..], &p, 2).map(|c| c.unwrap().len()).collect();
        assert_ne!(a.iter().map(|c| c.len()).collect::<Vec<_>>(), b);
    }
}
