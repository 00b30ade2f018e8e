//! Snapshot catalogue files `catalogue/<id>`: sealed `version || bincode(CatalogueFile)`, a
//! compact summary of snapshot manifests (everything but the table sections), so that listing
//! and choosing snapshots does not read every manifest, and (version 2) the ids of forgotten
//! snapshots. Specified in `repo-format.md`, section 17.

use super::snapshot::{Manifest, StreamRef, Summary};
use super::source::SourceInfo;
use super::{decode_body, encode_versioned, FormatError};
use serde::{Deserialize, Serialize};

/// One stream of a catalogued snapshot: its [`StreamRef`] without the table sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueStream {
    /// Stream name.
    pub name: String,
    /// Plain length, bytes.
    pub size: u64,
    /// Unkeyed BLAKE3 of the whole plain stream.
    pub blake3: [u8; 32],
    /// Root list blob of the chunk list tree.
    pub root: [u8; 32],
    /// Number of data chunks.
    pub chunks: u64,
}

/// The summary of one snapshot manifest: every field of [`Manifest`] except the streams'
/// table sections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    /// The snapshot id (the name of its manifest file).
    pub id: [u8; 32],
    /// Length of the manifest file `snapshots/<id>` (sealed), bytes: a reader that lists a
    /// file of another length reads the manifest instead (a replaced or truncated file).
    pub size: u64,
    /// As [`Manifest::time`].
    pub time: String,
    /// As [`Manifest::host`].
    pub host: String,
    /// As [`Manifest::tags`].
    pub tags: Vec<String>,
    /// As [`Manifest::source`].
    pub source: SourceInfo,
    /// The streams, without sections.
    pub streams: Vec<CatalogueStream>,
    /// As [`Manifest::summary`].
    pub summary: Summary,
    /// As [`Manifest::original`].
    pub original: Option<[u8; 32]>,
}

impl CatalogueEntry {
    /// The entry of snapshot `id` with manifest `m`, stored in a file of `size` bytes.
    pub fn of(id: [u8; 32], size: u64, m: &Manifest) -> Self {
        CatalogueEntry {
            id,
            size,
            time: m.time.clone(),
            host: m.host.clone(),
            tags: m.tags.clone(),
            source: m.source.clone(),
            streams: (m.streams.iter())
                .map(|s| CatalogueStream {
                    name: s.name.clone(),
                    size: s.size,
                    blake3: s.blake3,
                    root: s.root,
                    chunks: s.chunks,
                })
                .collect(),
            summary: m.summary.clone(),
            original: m.original,
        }
    }

    /// As [`Manifest::database`] of [`CatalogueEntry::to_manifest`], without building the
    /// manifest: the recorded database, else for a piped stream the database its first
    /// stream's name gives.
    pub fn database(&self) -> Option<String> {
        let first = self.streams.first().map(|s| s.name.as_str());
        self.source.database_for(first)
    }

    /// As [`Manifest::identity`] of [`CatalogueEntry::to_manifest`] (what retention groups
    /// by and the delta base finder matches), without building the manifest.
    pub fn identity(&self) -> Option<String> {
        self.database().map(|db| self.source.identity_of(&db))
    }

    /// Every name a `--database` filter matches this entry by (the snapshot filter of the
    /// commands): the database, its identity, and for a piped
    /// stream its first stream's name. What a [`CataloguePart`] records in `names`.
    pub fn filter_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(3);
        if let Some(db) = self.database() {
            out.push(self.source.identity_of(&db));
            out.push(db);
        }
        if self.source.is_stream() {
            out.extend(self.streams.first().map(|s| s.name.clone()));
        }
        out
    }

    /// The manifest this entry summarises, with every stream's `sections` empty (read the
    /// manifest itself when the sections are needed).
    pub fn to_manifest(&self) -> Manifest {
        Manifest {
            time: self.time.clone(),
            host: self.host.clone(),
            tags: self.tags.clone(),
            source: self.source.clone(),
            streams: (self.streams.iter())
                .map(|s| StreamRef {
                    name: s.name.clone(),
                    size: s.size,
                    blake3: s.blake3,
                    root: s.root,
                    chunks: s.chunks,
                    sections: Vec::new(),
                })
                .collect(),
            summary: self.summary.clone(),
            original: self.original,
        }
    }
}

/// The newest catalogue file version: 2 added `forgotten` (tombstones), 3 added `parts`.
/// Readers read 1, 2 and 3.
pub const CATALOGUE_VERSION: u8 = 3;

/// One part of a compacted catalogue (version 3): the entries of ONE database identity, in a
/// file `catalogue-parts/<file>` of their own, so that a reader that needs one database's
/// snapshots reads only its part. Written by prune only (`repo-format.md` section 17).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CataloguePart {
    /// The part file's id (BLAKE3 of its stored bytes): `catalogue-parts/<file>`, sealed
    /// `version || bincode(CatalogueFile)` with only `entries`.
    pub file: [u8; 32],
    /// [`CatalogueEntry::identity`] shared by every entry of the part.
    pub identity: Option<String>,
    /// Every name a `--database` filter may match one of its entries by
    /// ([`CatalogueEntry::filter_names`] of all its entries), sorted, each once.
    pub names: Vec<String>,
    /// Number of entries in the part file.
    pub count: u64,
}

/// The contents of one catalogue file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueFile {
    /// Entries, one per snapshot (in snapshot id order as written; readers accept any order
    /// and duplicates).
    pub entries: Vec<CatalogueEntry>,
    /// Ids of catalogue files this one replaces (written by prune): every live entry of those
    /// files is in this one.
    pub supersedes: Vec<[u8; 32]>,
    /// Tombstones (version 2): ids of snapshots that are forgotten, in id order as written. A
    /// snapshot id, once here, never names a live snapshot again (ids are hashes of sealed
    /// bytes with a random nonce). Empty in version 1 files.
    pub forgotten: Vec<[u8; 32]>,
    /// Parts (version 3, written by prune): entries kept in part files of their own, one per
    /// database identity. A reader that reads this file must also read the parts whose
    /// entries it needs; they belong to this file as if inline. Empty in older versions.
    pub parts: Vec<CataloguePart>,
}

/// A version 2 catalogue file, which has no parts.
#[derive(Deserialize, Serialize)]
struct CatalogueFileV2 {
    entries: Vec<CatalogueEntry>,
    supersedes: Vec<[u8; 32]>,
    forgotten: Vec<[u8; 32]>,
}

/// A version 1 catalogue file, which has no tombstones.
#[derive(Deserialize, Serialize)]
struct CatalogueFileV1 {
    entries: Vec<CatalogueEntry>,
    supersedes: Vec<[u8; 32]>,
}

/// Encodes a catalogue file's plaintext (before sealing) as `version` 1, 2 or 3 (any other
/// value writes [`CATALOGUE_VERSION`]). Repositories get the version their config asks for, so
/// that the dumpvault versions that may share them read them: version 1 has no tombstones and
/// version 2 no parts, so `forgotten` (version 1) and `parts` (versions 1 and 2) must be empty
/// then (they are dropped otherwise).
pub fn encode_catalogue_file(f: &CatalogueFile, version: u8) -> Vec<u8> {
    if version == 1 {
        return encode_versioned(&CatalogueFileV1 {
            entries: f.entries.clone(),
            supersedes: f.supersedes.clone(),
        });
    }
    if version == 2 {
        let mut out = encode_versioned(&CatalogueFileV2 {
            entries: f.entries.clone(),
            supersedes: f.supersedes.clone(),
            forgotten: f.forgotten.clone(),
        });
        out[0] = 2;
        return out;
    }
    let mut out = encode_versioned(f);
    out[0] = CATALOGUE_VERSION;
    out
}

/// Decodes a catalogue file's plaintext, version 1 (no tombstones), 2 (no parts) or 3.
/// Errors: another version byte ([`FormatError::Version`]), or bytes that do not decode
/// (trailing bytes included).
pub fn decode_catalogue_file(bytes: &[u8]) -> Result<CatalogueFile, FormatError> {
    match bytes.first() {
        None => Err(FormatError::Decode("empty".into())),
        Some(1) => decode_body::<CatalogueFileV1>(&bytes[1..]).map(|f| CatalogueFile {
            entries: f.entries,
            supersedes: f.supersedes,
            ..Default::default()
        }),
        Some(2) => decode_body::<CatalogueFileV2>(&bytes[1..]).map(|f| CatalogueFile {
            entries: f.entries,
            supersedes: f.supersedes,
            forgotten: f.forgotten,
            parts: Vec::new(),
        }),
        Some(&v) if v == CATALOGUE_VERSION => decode_body(&bytes[1..]),
        Some(&v) => Err(FormatError::Version(v as u32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_and_drops_only_sections() {
        let m = Manifest {
            time: "2026-12-06T10:00:00+01:00[Europe/Paris]".into(),
            host: "db1".into(),
            tags: vec!["job=x".into()],
            source: SourceInfo {
                kind: "sqlite".into(),
                database: Some("shop".into()),
                ..Default::default()
            },
            streams: vec![StreamRef {
                name: "shop.sql".into(),
                size: 7,
                blake3: [1; 32],
                root: [2; 32],
                chunks: 3,
                sections: vec![],
            }],
            summary: Summary {
                bytes_read: 7,
                ..Default::default()
            },
            original: Some([9; 32]),
        };
        let mut f = CatalogueFile {
            entries: vec![CatalogueEntry::of([5; 32], 99, &m)],
            supersedes: vec![[6; 32]],
            ..Default::default()
        };
        // Version 1 (no tombstones) reads back as version 2 with none.
        let v1 = encode_catalogue_file(&f, 1);
        assert_eq!(v1[0], 1);
        assert_eq!(decode_catalogue_file(&v1).unwrap(), f);
        f.forgotten = vec![[7; 32], [8; 32]];
        let v2 = encode_catalogue_file(&f, 2);
        assert_eq!(v2[0], 2);
        assert_eq!(decode_catalogue_file(&v2).unwrap(), f);
        f.parts = vec![CataloguePart {
            file: [3; 32],
            identity: Some("sqlite /x/shop.db".into()),
            names: vec!["shop".into(), "sqlite /x/shop.db".into()],
            count: 40,
        }];
        let bytes = encode_catalogue_file(&f, CATALOGUE_VERSION);
        assert_eq!(bytes[0], 3);
        let back = decode_catalogue_file(&bytes).unwrap();
        assert_eq!(back, f);
        // A version 3 file is not a version 2 file with trailing bytes, nor the reverse.
        for older in [1, 2] {
            let mut as_older = bytes.clone();
            as_older[0] = older;
            assert!(decode_catalogue_file(&as_older).is_err());
        }
        let mut v2_as_3 = v2.clone();
        v2_as_3[0] = 3;
        assert!(decode_catalogue_file(&v2_as_3).is_err());
        let mut newer = bytes.clone();
        newer[0] = 4;
        assert!(matches!(
            decode_catalogue_file(&newer),
            Err(FormatError::Version(4))
        ));
        assert_eq!(back.entries[0].to_manifest(), m);
        assert_eq!(back.entries[0].identity(), m.identity());
        // A piped stream without a recorded database: its stream name gives it.
        let mut piped = m.clone();
        piped.source = SourceInfo {
            kind: "stdin".into(),
            ..Default::default()
        };
        let e = CatalogueEntry::of([5; 32], 99, &piped);
        assert_eq!(e.identity(), piped.identity());
        assert_eq!(e.identity().as_deref(), Some("stream shop"));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_catalogue_file(&trailing).is_err());
    }
}
