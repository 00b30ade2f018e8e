//! Fuzzes opening sealed objects and parsing master key material: arbitrary input never opens
//! under a fixed key (a forgery would be a bug in the AEAD use) and never panics.
#![no_main]

use dumpvault::crypto::{open_with, MasterKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(open_with(&[7u8; 32], data).is_err());
    let _ = MasterKey::from_bytes(data);
});
