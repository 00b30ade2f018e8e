//! Fuzzes the snapshot manifest decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::{decode_versioned, snapshot::Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_versioned::<Manifest>(data);
});
