//! Encryption and keyed hashing: the master key, sealing with XChaCha20-Poly1305 (RFC 8439 and
//! draft-irtf-cfrg-xchacha), and keyed BLAKE3 blob ids (BLAKE3 specification, keyed mode).
//!
//! Every byte dumpvault stores, except key files' KDF parameters and the pack header length,
//! passes through [`MasterKey::seal`]. Authentication failures are reported as
//! "corrupt or tampered data" and nothing more specific.

pub mod kdf;

use crate::id::Id;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of the random nonce in front of every sealed object.
pub const NONCE_LEN: usize = 24;
/// Bytes of the Poly1305 tag at the end of every sealed object.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed object is longer than its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Bytes of the serialized master key material: encryption key, blob-id key, chunker seed.
pub const MASTER_KEY_LEN: usize = 32 + 32 + 8;

/// Authentication failed: the data was damaged or tampered with, or the key is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("corrupt or tampered data")]
pub struct AuthError;

/// The repository's secrets. No `Debug`, zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    encrypt: [u8; 32],
    blob_id: [u8; 32],
    chunker_seed: u64,
}

/// Test builds only: `DUMPVAULT_TEST_CHUNKER_SEED`, a fixed gear seed (a u64).
#[cfg(feature = "test-hooks")]
fn test_seed() -> Option<u64> {
    std::env::var("DUMPVAULT_TEST_CHUNKER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
}

impl MasterKey {
    /// Fresh random key material from the operating system's generator, with a chunker seed
    /// drawn until `accept` takes it (at most 10 000 draws, then the last one): a new
    /// repository screens its gear seed ([`crate::chunker::seed_is_sound`]).
    pub fn generate_with(accept: impl Fn(u64) -> bool) -> Self {
        let mut m = [0u8; MASTER_KEY_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut m);
        let mut k = Self::from_bytes(&m).expect("length is right");
        m.zeroize();
        for _ in 0..10_000 {
            if accept(k.chunker_seed) {
                break;
            }
            k.chunker_seed = rand::RngCore::next_u64(&mut rand::rngs::OsRng);
        }
        // Test builds only: a fixed gear seed, so that a test whose figures depend on where
        // chunks are cut is reproducible (`DUMPVAULT_TEST_CHUNKER_SEED`, a u64).
        #[cfg(feature = "test-hooks")]
        if let Some(seed) = test_seed() {
            k.chunker_seed = seed;
        }
        k
    }

    /// Fresh random key material from the operating system's generator (any chunker seed).
    pub fn generate() -> Self {
        Self::generate_with(|_| true)
    }

    /// Key material as stored inside a key file: `encrypt(32) || blob_id(32) || seed(u64 LE)`.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut v = Vec::with_capacity(MASTER_KEY_LEN);
        v.extend_from_slice(&self.encrypt);
        v.extend_from_slice(&self.blob_id);
        v.extend_from_slice(&self.chunker_seed.to_le_bytes());
        zeroize::Zeroizing::new(v)
    }

    /// Parses [`Self::to_bytes`] output. Errors: wrong length.
    pub fn from_bytes(b: &[u8]) -> Result<Self, AuthError> {
        if b.len() != MASTER_KEY_LEN {
            return Err(AuthError);
        }
        let mut k = MasterKey {
            encrypt: [0; 32],
            blob_id: [0; 32],
            chunker_seed: 0,
        };
        k.encrypt.copy_from_slice(&b[..32]);
        k.blob_id.copy_from_slice(&b[32..64]);
        k.chunker_seed = u64::from_le_bytes(b[64..72].try_into().expect("8 bytes"));
        Ok(k)
    }

    /// A copy with another encryption key but the same blob-id key and chunker seed, for
    /// `init --copy-chunker-params-from`: blobs keep their ids across the two repositories.
    pub fn with_new_encryption_key(&self) -> Self {
        let mut k = self.clone();
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k.encrypt);
        k
    }

    /// The secret seed of the FastCDC gear table.
    pub fn chunker_seed(&self) -> u64 {
        self.chunker_seed
    }

    /// Keyed BLAKE3 of a blob's plaintext: the blob id.
    pub fn blob_id(&self, plaintext: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.blob_id, plaintext).as_bytes())
    }

    /// Seals `plaintext`: `nonce(24, random) || ciphertext || tag(16)`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.encrypt, plaintext)
    }

    /// Opens a sealed object. Errors: [`AuthError`] for any damage, truncation or wrong key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        open_with(&self.encrypt, sealed)
    }
}

/// Seals `plaintext` under a raw 32-byte key (used for key files with the password-derived key).
pub fn seal_with(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), plaintext)
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens an object sealed by [`seal_with`]. Errors: [`AuthError`].
pub fn open_with(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(AuthError);
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[..NONCE_LEN]),
            &sealed[NONCE_LEN..],
        )
        .map_err(|_| AuthError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_with_draws_seeds_until_one_is_accepted() {
        for _ in 0..20 {
            let k = MasterKey::generate_with(|s| s % 5 == 0);
            assert_eq!(k.chunker_seed() % 5, 0);
        }
    }

    #[test]
    fn seal_open_and_tamper() {
        let k = MasterKey::generate();
        let s = k.seal(b"hello");
        assert_eq!(s.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(k.open(&s).unwrap(), b"hello");
        let mut bad = s.clone();
        bad[30] ^= 1;
        assert_eq!(k.open(&bad), Err(AuthError));
        assert_eq!(k.open(&s[..10]), Err(AuthError));
        assert_eq!(MasterKey::generate().open(&s), Err(AuthError));
    }

    #[test]
    fn blob_ids_are_keyed() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert_ne!(a.blob_id(b"x"), b.blob_id(b"x"));
        assert_ne!(a.blob_id(b"x"), Id::hash(b"x"));
        let again = MasterKey::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(again.blob_id(b"x"), a.blob_id(b"x"));
    }
}
