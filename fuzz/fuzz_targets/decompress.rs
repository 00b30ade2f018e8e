//! Fuzzes blob decompression: the first two input bytes give the expected length (so the
//! fuzzer explores both matching and wrong lengths), the rest is the tagged payload. Never a
//! panic, and a success always has the expected length.
#![no_main]

use dumpvault::compress::decompress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let raw_len = u16::from_le_bytes([data[0], data[1]]) as usize;
    if let Ok(out) = decompress(&data[2..], raw_len) {
        assert_eq!(out.len(), raw_len);
    }
});
