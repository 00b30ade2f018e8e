//! Key files `keys/<id>`: plain JSON holding Argon2id parameters and the master key material
//! sealed under the password-derived key. Several key files may open one repository.

use crate::crypto::kdf::KdfParams;
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
