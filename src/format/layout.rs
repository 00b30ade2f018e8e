//! The repository's layout: the kinds of files and the path of each (repo-format.md, section 1).
//! Paths only; reading and writing them is [`crate::backend`]'s and [`crate::repository`]'s.

use crate::id::Id;

/// Kinds of repository files and their folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `keys/<id>`.
    Key,
    /// `data/<2 hex>/<id>`.
    Pack,
    /// `index/<id>`.
    Index,
    /// `snapshots/<id>`.
    Snapshot,
    /// `locks/<id>`.
    Lock,
    /// `verifications/<id>`.
    Verification,
    /// `catalogue/<id>` (snapshot catalogue files, repo-format.md section 17).
    Catalogue,
    /// `catalogue-parts/<id>` (the parts of a compacted catalogue, one per database identity;
    /// read through the catalogue file that names them, never listed by readers).
    CataloguePart,
}

impl FileKind {
    /// The folder, with a trailing `/`.
    pub fn dir(self) -> &'static str {
        match self {
            FileKind::Key => "keys/",
            FileKind::Pack => "data/",
            FileKind::Index => "index/",
            FileKind::Snapshot => "snapshots/",
            FileKind::Lock => "locks/",
            FileKind::Verification => "verifications/",
            FileKind::Catalogue => "catalogue/",
            FileKind::CataloguePart => "catalogue-parts/",
        }
    }

    /// The word used in messages.
    pub fn noun(self) -> &'static str {
        match self {
            FileKind::Key => "key",
            FileKind::Pack => "pack",
            FileKind::Index => "index",
            FileKind::Snapshot => "snapshot",
            FileKind::Lock => "lock",
            FileKind::Verification => "verification",
            FileKind::Catalogue => "catalogue",
            FileKind::CataloguePart => "catalogue part",
        }
    }

    /// Path of the file with id `id`.
    pub fn path(self, id: &Id) -> String {
        let hex = id.to_hex();
        match self {
            FileKind::Pack => format!("data/{}/{}", &hex[..2], hex),
            _ => format!("{}{}", self.dir(), hex),
        }
    }
}
