//! Fuzzes the chunk-list blob decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::{decode_versioned, list::ListBlob};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_versioned::<ListBlob>(data);
});
