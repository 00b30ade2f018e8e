//! Blobs as stored: [`codec`] turns a blob's plaintext into its sealed bytes and back.
//!
//! Owns the stored form of one blob (compression tag, delta payload, sealing). Must not read or
//! write packs, the index or the backend (that is [`crate::pack`]), nor choose delta bases
//! (that is [`crate::delta`]).

pub mod codec;
