//! `init --copy-chunker-params-from A` and `init --copy-keys-from A`: a new repository linked to
//! an existing one so that `copy` between them moves blobs by id instead of re-chunking.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::format::config::Config;
use crate::format::{encode_json, FORMAT_VERSION};
use crate::id::Id;
use crate::repository::{keys, InitOptions, Repository, CONFIG_PATH};

/// What the new repository takes from the existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySharing {
    /// Its own encryption key, but the source's blob-id key, chunker seed and chunker
    /// parameters: snapshots copied in and snapshots taken directly deduplicate together, and
    /// `copy` re-encrypts blobs without re-chunking.
    ChunkerParams,
    /// The source's whole master key (and chunker parameters): `copy` moves sealed blobs without
    /// decrypting them. Trade-off: whoever opens one repository can read the other.
    AllKeys,
}

/// Creates a repository at `backend`, protected by `password` with `opts` (its compression
/// level, pack size and KDF costs), sharing keys with `from` as `sharing` says. The chunker
/// parameters are always the source's.
///
/// Errors: [`Error::AlreadyExists`] when `backend` already holds a repository; storage errors.
pub fn init_linked(
    backend: Backend,
    password: &[u8],
    mut opts: InitOptions,
    from: &Repository,
    sharing: KeySharing,
) -> Result<Repository> {
    opts.chunker = from.config().chunker;
    match sharing {
        KeySharing::ChunkerParams => {
            opts.master = Some(from.key().clone());
            Repository::init(backend, password, opts)
        }
        KeySharing::AllKeys => {
            if backend.size(CONFIG_PATH)?.is_some() {
                return Err(Error::AlreadyExists {
                    location: backend.location().into(),
                });
            }
            if let Some(found) = crate::repository::objects_present(&backend)? {
                return Err(Error::ConfigMissing {
                    location: backend.location().into(),
                    found,
                });
            }
            let key = from.key().clone();
            let config = Config {
                version: FORMAT_VERSION,
                id: Id::random().to_hex(),
                chunker: opts.chunker,
                compression_level: opts.compression_level,
                pack_size: opts.pack_size,
            };
            // Key file first, config last: a location with a config is a complete repository.
            keys::write_key(&backend, &key, password, opts.kdf.clone())?;
            backend.write(CONFIG_PATH, key.seal(&encode_json(&config)))?;
            Repository::open(backend, password)
        }
    }
}
