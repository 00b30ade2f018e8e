//! The key hint of the local cache: which key file last opened a repository, and its bytes, so
//! that the next open tries it without listing `keys/` and reading every key file
//! (repo-format.md section 18). Kept under `<cache dir>/keys/<config>/<key id>`, where
//! `<config>` is the BLAKE3 of the repository's sealed `config` as stored: the repository id
//! (the cache folder's name) is inside the sealed config, so the hint must be found before the
//! key that opens it. At most one key file per config is remembered (the last that opened it).
//!
//! An entry is never trusted: its name must be the BLAKE3 of its bytes (else it is deleted), and
//! the caller ([`crate::repository::keys::find_key_for_config`]) accepts the master key it
//! opens only when that key opens the sealed config, and only after a `stat` shows
//! `keys/<key id>` still in the repository with the same size.

use super::{create_dir, remove_unused_repositories, UNUSED_REPOSITORY_AFTER};
use crate::id::Id;
use std::path::PathBuf;
use std::time::SystemTime;

/// The folder of key hints inside the cache directory.
const KEYS: &str = "keys";

impl super::super::Backend {
    /// `<cache dir>/keys/<BLAKE3 of config>` when this storage would be cached (remote, and the
    /// process's settings enable a cache with a known directory); `None` otherwise.
    fn key_hint_dir(&self, config: &[u8]) -> Option<PathBuf> {
        let remote = self.local.is_none() && self.op.info().scheme() != "memory";
        let base = super::settings_dir()?;
        remote.then(|| base.join(KEYS).join(Id::hash(config).to_hex()))
    }

    /// The key file the local cache remembers as having opened the repository whose sealed
    /// config is `config`: its id and JSON bytes, checked (the id is the BLAKE3 of the bytes;
    /// a damaged entry is deleted). `None` without a cache or an entry. No request is made.
    pub fn cached_key(&self, config: &[u8]) -> Option<(Id, Vec<u8>)> {
        let dir = self.key_hint_dir(config)?;
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = e.file_name();
            let Some(id) = name.to_str().and_then(|n| Id::from_hex(n).ok()) else {
                continue;
            };
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue;
            };
            if Id::hash(&bytes) == id {
                // Marks the hint as in use (unused ones go after 30 days).
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.set_modified(SystemTime::now());
                }
                return Some((id, bytes));
            }
            let _ = std::fs::remove_file(e.path());
        }
        None
    }

    /// Remembers key file `id` (`bytes`, its JSON as stored) as the one that opened the
    /// repository whose sealed config is `config`, replacing any other remembered for it; also
    /// removes the hints of configs unused for 30 days. Does nothing without a cache, or when
    /// the bytes are not key file `id`. Failures are ignored: the hint is only a shortcut.
    pub fn remember_key(&self, config: &[u8], id: &Id, bytes: &[u8]) {
        let Some(dir) = self.key_hint_dir(config) else {
            return;
        };
        if Id::hash(bytes) != *id || create_dir(&dir).is_err() {
            return;
        }
        let file = dir.join(id.to_hex());
        if super::write_atomic_in(&dir, &file, bytes).is_err() {
            return;
        }
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten().filter(|e| e.path() != file) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        if let Some(parent) = dir.parent() {
            remove_unused_repositories(parent, UNUSED_REPOSITORY_AFTER);
        }
    }

    /// Forgets the key file remembered for the sealed config `config` (it no longer opens the
    /// repository, or is gone from it). Does nothing without a cache.
    pub fn forget_key(&self, config: &[u8]) {
        if let Some(dir) = self.key_hint_dir(config) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
