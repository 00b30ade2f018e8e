//! Fuzzes the key file (JSON) decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::{decode_json, key::KeyFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_json::<KeyFile>(data);
});
