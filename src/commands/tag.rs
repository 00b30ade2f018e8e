//! `tag`: change the tags of snapshots. A manifest is named by the hash of its sealed bytes,
//! so a retagged snapshot gets a new id: the new manifest is written first (durable), then ONE
//! catalogue file with its entry and (config version 2) the old snapshot's tombstone
//! ([`crate::repository::catalogue::record`]), then the old manifest is deleted. With config
//! version 2 the catalogue file is the switch: before it the old snapshot is listed, after it
//! the new one, never both (a crash before it leaves a manifest no entry lists, which prune
//! catalogues: then both are listed, the only duplicate left). With config version 1 a crash
//! leaves the snapshot twice at worst, never not at all.
//!
//! The new manifest keeps `original` when there is one and otherwise records the old id
//! there, so `copy` (which matches snapshots by `original`, see
//! [`crate::commands::copy::is_copy_of`]) still knows a target's copy of the old snapshot is
//! this one and does not copy it again. The newest verification record of the old snapshot is
//! recorded again for the new id (the data is the same).

use crate::commands::snapshots::{self, Filter, SnapshotEntry};
use crate::error::{Error, Result};
use crate::repository::lock::LockGuard;
use crate::repository::{FileKind, Repository};
use serde::Serialize;

/// How to change the tags.
#[derive(Debug, Clone, Default)]
pub struct TagChange {
    /// Tags to add (kept once; existing ones stay where they are).
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
    /// Replace all tags by these (empty strings are dropped, so `[""]` clears all tags); not
    /// together with `add` / `remove`.
    pub set: Option<Vec<String>>,
}

impl TagChange {
    /// Checks the change is meaningful. Errors: [`Error::Invalid`] when nothing is asked or
    /// `set` is combined with `add` / `remove`.
    pub fn validate(&self) -> Result<()> {
        if self.set.is_some() && !(self.add.is_empty() && self.remove.is_empty()) {
            return Err(Error::Invalid(
                "--set replaces all tags and cannot be combined with --add or --remove".into(),
            ));
        }
        if self.set.is_none() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::Invalid(
                "no tag change given: use --add TAG, --remove TAG or --set TAG (repeatable)".into(),
            ));
        }
        Ok(())
    }

    /// The tags after applying the change to `old` (order kept, no duplicates).
    pub fn apply(&self, old: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let base: Vec<&String> = match &self.set {
            Some(set) => set.iter().filter(|t| !t.is_empty()).collect(),
            None => old
                .iter()
                .filter(|t| !self.remove.contains(t))
                .chain(self.add.iter().filter(|t| !t.is_empty()))
                .collect(),
        };
        for t in base {
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        out
    }
}

/// One snapshot's result.
#[derive(Debug, Clone, Serialize)]
pub struct Retagged {
    /// The snapshot's id before (hex).
    pub old: String,
    /// Its id now (hex); the same as `old` when the tags did not change.
    pub new: String,
    /// Tags before.
    pub old_tags: Vec<String>,
    /// Tags now.
    pub tags: Vec<String>,
    /// Whether the manifest was rewritten.
    pub changed: bool,
}

/// Applies `change` to each snapshot in `specs` (id prefixes or `latest`). All specs are
/// resolved before anything is written; a snapshot named twice is changed once. Snapshots
/// whose tags would not change are left alone.
///
/// Errors: [`Error::Invalid`] for an invalid change (nothing written); [`Error::NotFound`] /
/// [`Error::Invalid`] for a spec that matches no or several snapshots (nothing written);
/// storage errors (snapshots retagged before the error stay retagged).
pub fn run(repo: &Repository, specs: &[String], change: &TagChange) -> Result<Vec<Retagged>> {
    change.validate()?;
    if specs.is_empty() {
        return Err(Error::Invalid(
            "no snapshot given: name snapshots by id prefix or `latest`".into(),
        ));
    }
    let mut todo: Vec<SnapshotEntry> = Vec::new();
    for spec in specs {
        let e = snapshots::find(repo, spec, &Filter::default())?;
        if !todo.iter().any(|x| x.id == e.id) {
            todo.push(e);
        }
    }
    // Like a snapshot, a rewrite of manifests announces itself to prune (section 14).
    let lock = LockGuard::shared(repo, "tag")?;
    let verified = crate::commands::verify::latest(repo)?;
    let mut out = Vec::new();
    for e in todo {
        let tags = change.apply(&e.manifest.tags);
        if tags == e.manifest.tags {
            out.push(Retagged {
                old: e.id.to_hex(),
                new: e.id.to_hex(),
                old_tags: e.manifest.tags.clone(),
                tags,
                changed: false,
            });
            continue;
        }
        let mut m = e.manifest.clone();
        m.tags = tags.clone();
        m.original = Some(e.manifest.original.unwrap_or(e.id.0));
        let new = repo.save_manifest(&m)?;
        // Its catalogue entry (and the old one's tombstone) follows the manifest, before the
        // old manifest goes.
        crate::repository::catalogue::publish(repo, &new, &m, Some(&e.id))?;
        if let Some(v) = verified.get(&e.id.to_hex()) {
            let mut v = v.clone();
            v.snapshot = new.to_hex();
            crate::commands::verify::record(repo, &v)?;
        }
        crate::testhook::pause("tag-before-delete");
        repo.backend().delete(&FileKind::Snapshot.path(&e.id))?;
        out.push(Retagged {
            old: e.id.to_hex(),
            new: new.to_hex(),
            old_tags: e.manifest.tags,
            tags,
            changed: true,
        });
    }
    lock.release()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn apply_add_remove_set() {
        let c = TagChange {
            add: s(&["b", "c", "c"]),
            remove: s(&["a"]),
            set: None,
        };
        assert_eq!(c.apply(&s(&["a", "b"])), s(&["b", "c"]));
        let c = TagChange {
            set: Some(s(&["x", "", "x"])),
            ..Default::default()
        };
        assert_eq!(c.apply(&s(&["a"])), s(&["x"]));
        let clear = TagChange {
            set: Some(s(&[""])),
            ..Default::default()
        };
        assert!(clear.apply(&s(&["a"])).is_empty());
        assert!(TagChange::default().validate().is_err());
        let both = TagChange {
            add: s(&["a"]),
            set: Some(vec![]),
            ..Default::default()
        };
        assert!(both.validate().is_err());
    }
}
