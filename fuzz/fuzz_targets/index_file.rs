//! Fuzzes the index file decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::index::decode_index_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_index_file(data);
});
