//! Blob bodies in the local cache: the data and delta blobs a snapshot writes, and those it
//! reads as delta bases, sealed as in their pack, under `<cache dir>/<repository id>/blobs/<blob
//! id>`. The next hourly snapshot of the same database deltas its changed chunks against the
//! previous snapshot's chunks at the same place (and decodes their chains): with these entries
//! it reads none of them from the packs (repo-format.md section 18).
//!
//! Bounded apart from the rest of the cache: bodies hold at most [`BODY_SHARE`] of
//! [`super::CacheSettings::max_size`] (the least recently read are evicted first), so a large
//! snapshot cannot push the index and catalogue out; and one process keeps the bodies of the
//! blobs it writes only up to that bound (a first snapshot of a large database would only
//! churn through the folder). They count towards the whole cache's bound too.
//!
//! Like a list blob's, a body entry is named by the blob's keyed id, which only a reader with
//! the key can check: [`crate::pack::reader`] opens it like bytes read from the pack (decrypt,
//! decode against its base, keyed id) and, when that fails, deletes it
//! ([`super::super::Backend::uncache_blob_body`]) and reads the pack. It is used only for a
//! blob the index knows.

use super::{Cache, BODIES};
use crate::format::pack::{BlobKind, PackBlob};
use crate::id::Id;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

/// Bodies hold at most this fraction (1 / `BODY_SHARE`) of a repository cache's bound.
pub const BODY_SHARE: u64 = 4;

impl Cache {
    fn body_file(&self, id: &Id) -> PathBuf {
        self.root.join(BODIES).join(id.to_hex())
    }

    /// Bytes the bodies may take.
    fn body_bound(&self) -> u64 {
        self.max_size / BODY_SHARE
    }

    /// The cached sealed body of blob `id`, not verified; `None` without an entry. A hit makes
    /// the entry the most recently read.
    fn get_body(&self, id: &Id) -> Option<Vec<u8>> {
        let file = self.body_file(id);
        let bytes = std::fs::read(&file).ok()?;
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&file) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `sealed` as the body of blob `id`, then evicts bodies beyond their bound (and
    /// entries beyond the cache's). A body bigger than the bound is not kept. Failures are
    /// ignored.
    fn put_body(&self, id: &Id, sealed: &[u8]) {
        let len = sealed.len() as u64;
        if len > self.body_bound() || self.write_atomic(&self.body_file(id), sealed).is_err() {
            return;
        }
        let over = {
            let mut used = self.bodies_used.lock().unwrap_or_else(|p| p.into_inner());
            let n = used.get_or_insert_with(|| self.bodies().iter().map(|e| e.1).sum());
            *n += len;
            *n > self.body_bound()
        };
        if over {
            self.evict_bodies();
        }
        self.added(len);
    }

    /// Deletes the body entry of blob `id`.
    fn remove_body(&self, id: &Id) {
        if std::fs::remove_file(self.body_file(id)).is_ok() {
            *self.bodies_used.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.forget_count();
        }
    }

    /// Every body entry: (file, bytes, last access); temporary files are not entries.
    fn bodies(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(rd) = std::fs::read_dir(self.root.join(BODIES)) else {
            return Vec::new();
        };
        rd.flatten()
            .filter(|e| Id::from_hex(&e.file_name().to_string_lossy()).is_ok())
            .filter_map(|e| {
                let m = e.metadata().ok().filter(|m| m.is_file())?;
                Some((
                    e.path(),
                    m.len(),
                    m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ))
            })
            .collect()
    }

    /// Deletes the least recently read bodies until they hold at most 90% of their bound.
    fn evict_bodies(&self) {
        let mut entries = self.bodies();
        entries.sort_by_key(|e| e.2);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let target = self.body_bound() / 10 * 9;
        for (file, size, _) in entries {
            if total <= target {
                break;
            }
            if std::fs::remove_file(&file).is_ok() {
                total -= size;
            }
        }
        *self.bodies_used.lock().unwrap_or_else(|p| p.into_inner()) = Some(total);
        self.forget_count();
    }
}

impl super::super::Backend {
    /// The sealed body of data or delta blob `id` from the local cache, when one is attached
    /// and holds it; `None` otherwise (no request is made either way). Not verified: open it
    /// like bytes read from the blob's pack, and call [`Self::uncache_blob_body`] when that
    /// fails.
    pub fn cached_blob_body(&self, id: &Id) -> Option<Vec<u8>> {
        self.cache.as_ref()?.get_body(id)
    }

    /// Keeps `sealed`, data or delta blob `id` as read from its pack and successfully opened
    /// (a delta base), in the local cache when one is attached; failures are ignored.
    pub fn cache_blob_body(&self, id: &Id, sealed: &[u8]) {
        if let Some(c) = &self.cache {
            c.put_body(id, sealed);
        }
    }

    /// Deletes blob `id`'s body entry (it did not open: damaged, or another encoding).
    pub fn uncache_blob_body(&self, id: &Id) {
        if let Some(c) = &self.cache {
            c.remove_body(id);
        }
    }

    /// Keeps the blobs of a pack about to be written (`blobs`: its header entries, `pack`: its
    /// bytes) in the local cache when one is attached, as reading them back from the pack
    /// would: list blobs (the next snapshot of the same database walks this one's chunk list
    /// to find its delta bases), and data and delta blobs (its delta bases) while this
    /// process has kept less than the bodies' bound of them. An entry is opened and checked
    /// like any cached blob before it is used, and only for a blob the index knows, so one
    /// left by a pack whose write then failed is never used.
    pub fn cache_blobs_of_pack(&self, blobs: &[PackBlob], pack: &[u8]) {
        let Some(c) = &self.cache else { return };
        for b in blobs {
            let (start, len) = (b.offset as usize, b.length as usize);
            let Some(sealed) = pack.get(start..start + len) else {
                continue;
            };
            if b.kind == BlobKind::List {
                c.put_list(&Id(b.id), sealed);
            } else if c.bodies_written.fetch_add(len as u64, Ordering::Relaxed) < c.body_bound() {
                c.put_body(&Id(b.id), sealed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cache;
    use super::*;

    #[test]
    fn bodies_stay_within_their_share_of_the_bound_oldest_evicted_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 4000);
        assert_eq!(c.body_bound(), 1000);
        let ids: Vec<Id> = (0..5u8).map(|i| Id::hash(&[i])).collect();
        let old = SystemTime::now() - std::time::Duration::from_secs(600);
        for (i, id) in ids.iter().take(3).enumerate() {
            c.put_body(id, &[i as u8; 300]);
            let f = std::fs::File::options()
                .write(true)
                .open(c.body_file(id))
                .unwrap();
            f.set_modified(old + std::time::Duration::from_secs(i as u64))
                .unwrap();
        }
        // A hit makes the oldest the most recent; 1 200 bytes are cut to 900 or less.
        assert_eq!(c.get_body(&ids[0]), Some(vec![0; 300]));
        c.put_body(&ids[3], &[3; 300]);
        let left: Vec<bool> = ids.iter().map(|id| c.body_file(id).exists()).collect();
        assert_eq!(left, [true, false, true, true, false]);
        let total: u64 = c.bodies().iter().map(|e| e.1).sum();
        assert!(total <= 1000, "{total}");
        // A body bigger than the bound is not kept; a removed one is gone.
        c.put_body(&ids[4], &[4; 1001]);
        assert_eq!(c.get_body(&ids[4]), None);
        c.remove_body(&ids[0]);
        assert_eq!(c.get_body(&ids[0]), None);
    }
}
