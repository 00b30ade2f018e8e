//! Unit-test fixtures for the modules that write into a repository (test builds only): an
//! in-memory repository with a cheap key and small packs, incompressible data, and data
//! edited a little.

use super::{InitOptions, Repository};
use crate::backend::Backend;
use crate::crypto::kdf::KdfParams;
use crate::crypto::MasterKey;

/// A new repository on the memory backend `memory://{name}` (a name no other test uses),
/// password `pw`, a fixed master key ([`fixed_key`]), Argon2id at its least cost, the default
/// chunker parameters, 64 KiB packs (so a few hundred KB of data fill several).
pub(crate) fn memory_repo(name: &str) -> Repository {
    let backend = Backend::open(&format!("memory://{name}")).unwrap();
    let opts = InitOptions {
        kdf: KdfParams::with_cost(64, 1, 1),
        pack_size: 64 * 1024,
        master: Some(fixed_key()),
        share_encryption_key: true,
        ..Default::default()
    };
    Repository::init(backend, b"pw", opts).unwrap()
}

/// The fixture's master key: fixed, so that chunk boundaries (the chunker seed), and with
/// them the blobs and pack layouts tests assert on, are the same on every run. Under a random
/// key the prune repack tests failed about one run in 150, their forgotten snapshot's blobs
/// landing in packs that were not worth repacking. The seed is the first from 1 that a new
/// repository with the default chunker parameters would accept
/// ([`crate::chunker::seed_is_sound`]), found once per test process.
fn fixed_key() -> MasterKey {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let chunker = super::ChunkerParams::default();
        (1u64..)
            .find(|s| crate::chunker::seed_is_sound(*s, &chunker))
            .expect("a sound seed")
    });
    let mut bytes = [7u8; 72];
    bytes[64..].copy_from_slice(&seed.to_le_bytes());
    MasterKey::from_bytes(&bytes).expect("72 bytes")
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

/// One snapshot of stream `d` (database `d`, from stdin) per dump in `dumps`, in order, into
/// `r`, each through a fresh handle on its backend (as separate runs would be).
pub(crate) fn snapshot_each(r: &Repository, dumps: impl IntoIterator<Item = Vec<u8>>) {
    use crate::commands::snapshot::{self, SnapshotOptions};
    use crate::index::SharedIndex;
    use crate::progress::NoProgress;
    use crate::source::stdin::ReaderSource;
    use crate::source::DumpSource;
    for bytes in dumps {
        let src = ReaderSource::new(std::io::Cursor::new(bytes));
        let src: Box<dyn DumpSource> = Box::new(src.with_database("d".into()));
        let r = Repository::open(r.backend().clone(), b"pw").unwrap();
        let index = SharedIndex::start(&r, "snapshot").unwrap();
        let opts = SnapshotOptions::default();
        snapshot::run(&r, &index, vec![("d".into(), src)], &opts, &NoProgress).unwrap();
    }
}
