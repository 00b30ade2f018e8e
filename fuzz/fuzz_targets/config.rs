//! Fuzzes the repository config (JSON) decoder: any input is a value or an error, never a
//! panic.
#![no_main]

use dumpvault::format::{config::Config, decode_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_json::<Config>(data);
});
