//! Password-based key derivation with Argon2id (RFC 9106), with the parameters stored in each
//! key file ([`KdfParams`], whose persisted shape is [`crate::format::key`]'s).

/// Argon2id parameters of one key file: the persisted shape lives in
/// [`crate::format::key`]; choosing costs and deriving keys with them is done here.
pub use crate::format::key::KdfParams;

impl KdfParams {
    /// Production defaults: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option), random salt.
    pub fn new_default() -> Self {
        Self::with_cost(64 * 1024, 3, 1)
    }

    /// Explicit costs with a fresh random salt (tests use tiny costs to stay fast).
    pub fn with_cost(memory_kib: u32, iterations: u32, parallelism: u32) -> Self {
        let mut salt = vec![0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        KdfParams {
            memory_kib,
            iterations,
            parallelism,
            salt,
        }
    }

    /// Derives the 32-byte key-encryption key from `password`.
    ///
    /// Errors: a message when the parameters are outside Argon2's limits (a damaged key file).
    pub fn derive(&self, password: &[u8]) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
        let params =
            argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
                .map_err(|e| format!("invalid Argon2id parameters: {e}"))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        a.hash_password_into(password, &self.salt, out.as_mut())
            .map_err(|e| format!("Argon2id failed: {e}"))?;
        Ok(out)
    }
}
