//! `snapshots`: list snapshot manifests, filter them, and resolve `latest` or an id prefix.

use crate::error::{Error, Result};
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::repository::{FileKind, Repository};

/// Which snapshots to consider. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep snapshots of these hosts.
    pub hosts: Vec<String>,
    /// Keep snapshots carrying all of these tags.
    pub tags: Vec<String>,
    /// Keep snapshots of these databases.
    pub databases: Vec<String>,
}

impl Filter {
    /// Whether `m` passes.
    pub fn matches(&self, m: &Manifest) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&m.host))
            && self.tags.iter().all(|t| m.tags.contains(t))
            && (self.databases.is_empty()
                || m.source
                    .database
                    .as_ref()
                    .is_some_and(|d| self.databases.contains(d)))
    }
}

/// A snapshot and its manifest.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    /// Snapshot id.
    pub id: Id,
    /// The manifest.
    pub manifest: Manifest,
}

impl SnapshotEntry {
    /// The snapshot time.
    pub fn time(&self) -> jiff::Timestamp {
        parse_time(&self.manifest.time).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

/// Parses a manifest time (RFC 3339 with offset, optionally with a bracketed zone name).
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Zoned>()
        .map(|z| z.timestamp())
        .or_else(|_| s.parse::<jiff::Timestamp>())
        .ok()
}

/// All snapshots passing `filter`, oldest first.
///
/// Errors: the first manifest that cannot be read, by name.
pub fn list(repo: &Repository, filter: &Filter) -> Result<Vec<SnapshotEntry>> {
    let mut out = Vec::new();
    for (id, _) in repo.list(FileKind::Snapshot)? {
        let manifest = repo.load_manifest(&id)?;
        if filter.matches(&manifest) {
            out.push(SnapshotEntry { id, manifest });
        }
    }
    out.sort_by_key(|e| (e.time(), e.id));
    Ok(out)
}

/// Resolves `latest` (the newest passing `filter`) or a unique id prefix (filter ignored).
///
/// Errors: [`Error::NotFound`] when nothing matches, [`Error::Invalid`] when a prefix is ambiguous.
pub fn find(repo: &Repository, spec: &str, filter: &Filter) -> Result<SnapshotEntry> {
    if spec == "latest" {
        return list(repo, filter)?.pop().ok_or_else(|| {
            Error::NotFound(format!(
                "no snapshot in {} matches the filter; list them with `dumpvault snapshots`",
                repo.backend().location()
            ))
        });
    }
    let spec_l = spec.to_ascii_lowercase();
    let matches: Vec<Id> = repo
        .list(FileKind::Snapshot)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.to_hex().starts_with(&spec_l))
        .collect();
    match matches.as_slice() {
        [id] => Ok(SnapshotEntry {
            id: *id,
            manifest: repo.load_manifest(id)?,
        }),
        [] => Err(Error::NotFound(format!(
            "no snapshot {spec:?} in {}; list them with `dumpvault snapshots`",
            repo.backend().location()
        ))),
        _ => Err(Error::Invalid(format!(
            "snapshot id prefix {spec:?} is ambiguous; give more digits"
        ))),
    }
}
