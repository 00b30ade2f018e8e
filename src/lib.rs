//! dumpvault: a content-addressed, deduplicating, encrypted backup repository for logical
//! database dumps.
//!
//! A dump is cut into content-defined chunks (FastCDC), each named by keyed BLAKE3, compressed
//! with zstd, sealed with XChaCha20-Poly1305 and stored in pack files on any OpenDAL backend;
//! a snapshot manifest records the stream's chunk list (as a tree of list blobs), its BLAKE3
//! hash, its table sections and tags. The on-disk format is specified in `repo-format.md`.
//!
//! ```
//! use dumpvault::{backend::Backend, commands, index::{Index, SharedIndex}, progress::NoProgress};
//! use dumpvault::repository::{InitOptions, Repository};
//! use dumpvault::crypto::kdf::KdfParams;
//!
//! let backend = Backend::open("memory://doc")?;
//! let opts = InitOptions { kdf: KdfParams::with_cost(64, 1, 1), ..Default::default() };
//! let repo = Repository::init(backend, b"secret", opts)?;
//! let source = dumpvault::source::stdin::ReaderSource::new(&b"CREATE TABLE t (a int);\n"[..]);
//! let index = SharedIndex::start(&repo, "snapshot")?;
//! let snap = commands::snapshot::run(&repo, &index, vec![("t.sql".into(), Box::new(source))],
//!     &Default::default(),
//!     &NoProgress)?;
//! let mut out = Vec::new();
//! let index = Index::load(&repo)?;
//! commands::restore::run(&repo, &index, &snap.id, &snap.manifest.streams[0], None, &mut out, &NoProgress)?;
//! assert_eq!(out, b"CREATE TABLE t (a int);\n");
//! # Ok::<(), dumpvault::Error>(())
//! ```

pub mod archive;
pub mod backend;
pub mod blob;
pub mod chunker;
pub mod commands;
pub mod compress;
pub mod crypto;
pub mod error;
pub mod fleet;
pub mod format;
pub mod id;
pub mod index;
pub mod pack;
pub mod password;
pub mod progress;
pub mod repository;
pub mod retention;
pub mod source;
pub mod splice;
pub mod stream;
pub mod tables;
pub mod testhook;
pub mod units;

pub use error::{Error, Result};

/// Delta base choice, moved to [`archive::parent`]; the old path stays for its users.
pub use archive::parent as delta;

/// This host's name, as recorded in snapshots, keys and locks. Test builds (feature
/// `test-hooks`) take a non-empty `DUMPVAULT_TEST_HOSTNAME` instead, so that processes of one
/// machine act as several hosts (locks of another host go stale by time only).
pub fn hostname() -> String {
    #[cfg(feature = "test-hooks")]
    if let Some(h) = std::env::var("DUMPVAULT_TEST_HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
    {
        return h;
    }
    gethostname::gethostname().to_string_lossy().into_owned()
}
