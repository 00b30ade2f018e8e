//! Fuzzes the lock file (JSON) decoder: any input is a value or an error, never a panic.
#![no_main]

use dumpvault::format::{decode_json, lock::Lock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_json::<Lock>(data);
});
