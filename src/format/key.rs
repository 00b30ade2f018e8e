//! Key files `keys/<id>`: plain JSON holding Argon2id parameters and the master key material
//! sealed under the password-derived key. Several key files may open one repository.

use serde::{Deserialize, Serialize};

/// One key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// Format version of the key file (see [`super::FORMAT_VERSION`]).
    pub version: u32,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Host that created the key.
    pub host: String,
    /// Always `"argon2id"`.
    pub kdf: String,
    /// Argon2id parameters and salt.
    pub kdf_params: KdfParams,
    /// `seal(kek, master key material)`, hex; see [`crate::crypto::MasterKey::to_bytes`].
    #[serde(with = "hex::serde")]
    pub data: Vec<u8>,
}

/// Argon2id parameters of one key file (the `kdf_params` object). Fresh parameters and the
/// derivation itself are in [`crate::crypto::kdf`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism (lanes).
    pub parallelism: u32,
    /// 16 random bytes, hex in the key file.
    #[serde(with = "hex::serde")]
    pub salt: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{decode_json, encode_json};

    /// The fixture repository's key file, byte for byte: decoding and encoding it again gives
    /// the same bytes, so the shape of [`KeyFile`] and [`KdfParams`] (which moved here from
    /// `crypto::kdf`) is the one on disk.
    #[test]
    fn fixture_key_file_round_trips_byte_for_byte() {
        let stored: &[u8] = include_bytes!(
            "../../tests/fixtures/repo-v1/keys/e1f1c653ec49032e03e56d8a1279e500f639183c0528b1c2c3e55084c2d9e5f0"
        );
        let key: KeyFile = decode_json(stored).unwrap();
        assert_eq!(key.kdf_params.memory_kib, 64);
        assert_eq!(
            key.kdf_params.salt.len(),
            16,
            "the salt is 16 bytes, hex in the file"
        );
        assert_eq!(encode_json(&key), stored);
    }
}
