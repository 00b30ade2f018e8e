//! Fuzzes the index file decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::{decode_versioned, index::IndexFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_versioned::<IndexFile>(data);
});
