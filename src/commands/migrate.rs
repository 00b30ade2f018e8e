//! `migrate catalogue`: bring a repository to the current config version (4,
//! `repo-format.md` sections 4, 6 and 17): from version 1 or 2, make the snapshot catalogue
//! authoritative and split into per-database parts; from version 3, allow splices.
//!
//! Under the exclusive lock, and only while no other process holds a lock: from version 1,
//! compacts the catalogue completely (every manifest listed gets an entry,
//! `catalogue::compact`); then writes the config with version 4, and, from version 1 or 2,
//! compacts again into parts. From then on readers list `catalogue/` only, and dumpvault
//! versions that predate version 4 refuse the repository.

use crate::commands::snapshots;
use crate::error::{Error, Result};
use crate::repository::lock::{self, LockGuard};
use crate::repository::{catalogue, Repository};
use serde::Serialize;

/// What `migrate catalogue` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MigrateOutcome {
    /// Config version before.
    pub from_version: u32,
    /// Config version now.
    pub to_version: u32,
    /// Snapshots catalogued (every readable manifest).
    pub snapshots: usize,
    /// Manifests that do not open (damaged): not catalogued, so no longer listed; `check`
    /// names them, `repair snapshots --forget-broken` removes them.
    pub damaged: Vec<String>,
}

/// Migrates `repo` to config version 4 ([`crate::format::CONFIG_VERSION`]); a repository
/// already there is left alone (its outcome says so). Returns the repository as migrated.
///
/// Errors: [`Error::Locked`] when another process holds a lock (a prune's, or any writer's:
/// nothing is changed; run it again when they are done); storage errors (the config is written
/// last, so an interrupted migration leaves the repository at its old version).
pub fn catalogue(repo: &Repository) -> Result<(Repository, MigrateOutcome)> {
    let from = repo.config().version;
    let mut out = MigrateOutcome {
        from_version: from,
        to_version: from,
        ..Default::default()
    };
    if repo.config().version >= crate::format::CONFIG_VERSION {
        return Ok((repo.clone(), out));
    }
    let guard = LockGuard::exclusive(repo, "migrate")?;
    let now = lock::now_secs();
    let others = (lock::list(repo)?.into_iter())
        .filter(|(id, l)| *id != guard.id() && !lock::is_stale(l, now))
        .count();
    if others > 0 {
        guard.release()?;
        return Err(Error::Locked(format!(
            "{others} other process(es) hold a lock on {}: `migrate catalogue` runs only \
             while nothing else does; nothing was changed, run it again when they are done \
             (`dumpvault unlock` removes the locks of processes that died)",
            repo.backend().location()
        )));
    }
    if repo.config().catalogue_parts() {
        // Version 3: the catalogue is already in parts; only the config changes (version 4:
        // delta blobs may be splices, which older readers refuse rather than misread).
        let mut config = repo.config().clone();
        config.version = crate::format::CONFIG_VERSION;
        let migrated = repo.clone().with_config(config);
        migrated.write_config()?;
        guard.release()?;
        out.to_version = migrated.config().version;
        return Ok((migrated, out));
    }
    let loaded = snapshots::load_all(repo)?;
    let manifests: Vec<_> = (loaded.entries.into_iter())
        .map(|e| (e.id, e.manifest))
        .collect();
    if !repo.config().catalogue_authoritative() {
        // Complete before the catalogue decides (version 1 files, which version 1 readers
        // sharing the repository meanwhile read).
        catalogue::compact(repo, &manifests)?;
    }
    let mut config = repo.config().clone();
    config.version = crate::format::CONFIG_VERSION;
    let migrated = repo.clone().with_config(config);
    migrated.write_config()?;
    // Now in parts (config version 3 and later): dumpvault versions that do not read parts refuse the
    // repository from the config on. Interrupted here, the next prune does it.
    catalogue::compact(&migrated, &manifests)?;
    guard.release()?;
    out.to_version = migrated.config().version;
    out.snapshots = manifests.len();
    out.damaged = loaded.damaged.iter().map(|i| i.to_hex()).collect();
    Ok((migrated, out))
}
