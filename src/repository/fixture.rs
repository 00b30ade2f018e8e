//! Unit-test fixtures for the modules that write into a repository (test builds only): an
//! in-memory repository with a cheap key and small packs, incompressible data, and data
//! edited a little.

use super::{InitOptions, Repository};
use crate::backend::Backend;
use crate::crypto::kdf::KdfParams;

/// A new repository on the memory backend `memory://{name}` (a name no other test uses),
/// password `pw`, Argon2id at its least cost, 64 KiB packs (so a few hundred KB of data
/// fill several).
pub(crate) fn memory_repo(name: &str) -> Repository {
    let backend = Backend::open(&format!("memory://{name}")).unwrap();
    let opts = InitOptions {
        kdf: KdfParams::with_cost(64, 1, 1),
        pack_size: 64 * 1024,
        ..Default::default()
    };
    Repository::init(backend, b"pw", opts).unwrap()
}

/// `len` incompressible bytes from `seed` (xorshift).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `a` with one byte changed every 40 000 bytes (by `x`): every chunk of it changes a little,
/// so the next snapshot stores each as a delta on the previous one's.
pub(crate) fn edited(a: &[u8], x: u8) -> Vec<u8> {
    let mut v = a.to_vec();
    for i in (1_000..v.len()).step_by(40_000) {
        v[i] ^= x;
    }
    v
}
