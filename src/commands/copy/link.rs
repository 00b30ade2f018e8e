//! `init --copy-chunker-params-from A` and `init --copy-keys-from A`: a new repository linked to
//! an existing one so that `copy` between them moves blobs by id instead of re-chunking.
//! Must not write keys or a config itself: it asks the one [`Repository::init`].

use crate::backend::Backend;
use crate::error::Result;
use crate::repository::{InitOptions, Repository};

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
/// Errors: as [`Repository::init`]: [`crate::error::Error::AlreadyExists`] when `backend` already
/// holds a repository; storage errors.
pub fn init_linked(
    backend: Backend,
    password: &[u8],
    mut opts: InitOptions,
    from: &Repository,
    sharing: KeySharing,
) -> Result<Repository> {
    opts.chunker = from.config().chunker;
    opts.master = Some(from.key().clone());
    opts.share_encryption_key = sharing == KeySharing::AllKeys;
    Repository::init(backend, password, opts)
}
