//! 32-byte identifiers of repository objects and blobs, printed as 64 lowercase hex digits.
//!
//! Files (packs, index files, snapshots, keys, locks) are named by the unkeyed BLAKE3 hash of their
//! stored bytes, so the storage name proves the content. Blobs are named by the keyed BLAKE3 hash
//! of their plaintext (see [`crate::crypto::MasterKey::blob_id`]), so names reveal nothing.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A 32-byte identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Id(pub [u8; 32]);

impl Id {
    /// The unkeyed BLAKE3 hash of `bytes` (BLAKE3 specification, 32-byte output).
    pub fn hash(bytes: &[u8]) -> Self {
        Id(*blake3::hash(bytes).as_bytes())
    }

    /// A random identifier from the operating system's generator.
    pub fn random() -> Self {
        let mut b = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        Id(b)
    }

    /// Full 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, used in listings.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Parses 64 hex digits. Errors: a message naming the bad input.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|_| format!("{s:?} is not a 64-digit hex id"))?;
        Ok(Id(b))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = Id::hash(b"abc");
        assert_eq!(Id::from_hex(&id.to_hex()).unwrap(), id);
        assert_eq!(id.short().len(), 8);
        assert!(Id::from_hex("xyz").is_err());
    }
}
