//! Fuzzes the pack trailer split and the pack header decoder (on the raw input and on the
//! part the trailer designates): never a panic, and a split always lies inside the input.
#![no_main]

use dumpvault::format::pack::{decode_header, split_trailer, TRAILER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_header(data);
    if let Ok((area, header)) = split_trailer(data) {
        assert_eq!(area + header.len() + TRAILER_LEN, data.len());
        let _ = decode_header(header);
    }
});
