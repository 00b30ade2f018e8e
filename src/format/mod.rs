//! The only code that turns repository objects into bytes and back; mirrors `repo-format.md`.
//!
//! Hot structures (pack headers, index files, manifests, chunk lists) are bincode 2 in its
//! `standard` configuration (little-endian, variable-length integers) with a version byte in front;
//! user-facing metadata (config, key files, locks) is JSON. Sealing happens in
//! [`crate::repository`], not here.

pub mod catalogue;
pub mod config;
#[cfg(test)]
mod fuzz_tests;
pub mod index;
pub mod key;
pub mod layout;
pub mod list;
pub mod lock;
pub mod pack;
pub mod section;
pub mod snapshot;
pub mod source;
pub mod verification;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The format version this build writes and the highest it reads of key files, manifests
/// and list blobs (the config has its own, [`CONFIG_VERSION`]).
pub const FORMAT_VERSION: u32 = 1;

/// The config version `init` writes and the highest a reader accepts: 2 since the catalogue
/// decides which snapshots exist, 3 since prune may split it into per-database parts
/// (`repo-format.md` sections 4 and 17), 4 since delta blobs may be splices (tag 3,
/// section 6). Version 1 configs (older repositories) keep the listing of `snapshots/` as that
/// authority.
pub const CONFIG_VERSION: u32 = 4;

/// The first config version in which the snapshot catalogue is authoritative.
pub const CONFIG_CATALOGUE_AUTHORITATIVE: u32 = 2;

/// The first config version whose catalogue files may have parts (catalogue file version 3,
/// `catalogue-parts/`): dumpvault versions that do not read parts refuse the repository.
pub const CONFIG_CATALOGUE_PARTS: u32 = 3;

/// The first config version whose delta blobs may be splices (tag 3, `repo-format.md`
/// section 6): dumpvault versions that do not decode splices refuse the repository, rather
/// than report those blobs as damaged.
pub const CONFIG_SPLICES: u32 = 4;

/// Version byte of pack headers and index files, which gained the delta blob's `base` in
/// version 2 (`repo-format.md`, section 7). Readers accept 1 and 2; writers write 2.
pub const INDEX_VERSION: u8 = 2;

/// Largest bincode object decoded, in bytes: a bound so damaged lengths cannot exhaust memory.
pub const DECODE_LIMIT: usize = 256 * 1024 * 1024;

/// A decoding failure, without the object name (the caller adds it).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Bytes do not decode as the expected structure.
    #[error("does not decode: {0}")]
    Decode(String),
    /// The version byte is newer than this build understands.
    #[error("unknown format version {0}")]
    Version(u32),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Encodes `value` as `version byte || bincode(value)`.
pub fn encode_versioned<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoded straight behind the version byte: no second buffer and copy of the whole body
    // (7 MB for prune's new index file at a 4 GiB dump).
    let mut out = vec![FORMAT_VERSION as u8];
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config())
        .expect("in-memory bincode encoding cannot fail");
    out
}

/// Decodes `version byte || bincode(value)`; trailing bytes are an error.
pub fn decode_versioned<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormatError> {
    let (&v, rest) = bytes
        .split_first()
        .ok_or_else(|| FormatError::Decode("empty".into()))?;
    if v as u32 != FORMAT_VERSION {
        return Err(FormatError::Version(v as u32));
    }
    decode_body(rest)
}

/// Encodes `value` as `INDEX_VERSION || bincode(value)` (pack headers, index files).
pub fn encode_index_versioned<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = encode_versioned(value);
    out[0] = INDEX_VERSION;
    out
}

/// Decodes a pack header or index file: version 1 as `Old` (converted), version
/// [`INDEX_VERSION`] as `T`. Errors: another version byte, or bytes that do not decode.
pub fn decode_index_versioned<T: DeserializeOwned, Old: DeserializeOwned + Into<T>>(
    bytes: &[u8],
) -> Result<T, FormatError> {
    match bytes.first() {
        None => Err(FormatError::Decode("empty".into())),
        Some(1) => decode_body::<Old>(&bytes[1..]).map(Into::into),
        Some(&v) if v == INDEX_VERSION => decode_body(&bytes[1..]),
        Some(&v) => Err(FormatError::Version(v as u32)),
    }
}

/// Decodes the bincode body after the version byte; trailing bytes are an error.
fn decode_body<T: DeserializeOwned>(rest: &[u8]) -> Result<T, FormatError> {
    let (value, used) = bincode::serde::decode_from_slice(rest, bincode_config())
        .map_err(|e| FormatError::Decode(e.to_string()))?;
    if used != rest.len() {
        return Err(FormatError::Decode(format!(
            "{} trailing bytes",
            rest.len() - used
        )));
    }
    Ok(value)
}

/// Decodes JSON metadata. Errors: a message from the JSON parser.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormatError> {
    serde_json::from_slice(bytes).map_err(|e| FormatError::Decode(e.to_string()))
}

/// Encodes JSON metadata, pretty-printed.
pub fn encode_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("JSON encoding of plain structs cannot fail")
}

#[cfg(test)]
mod layering_tests {
    /// Modules `format` must not import from: everything above it, where a reordered field or
    /// variant would silently change the disk format.
    const ABOVE: [&str; 8] = [
        "source",
        "tables",
        "commands",
        "cli",
        "fleet",
        "delta",
        "stream",
        "repository",
    ];

    /// Every persisted type lives in `format/`: no file here names a module above it (the old
    /// `snapshot.rs` imported `source::SourceInfo` and `tables::Section`).
    #[test]
    fn format_imports_nothing_above_it() {
        let files = [
            ("catalogue.rs", include_str!("catalogue.rs")),
            ("config.rs", include_str!("config.rs")),
            ("index.rs", include_str!("index.rs")),
            ("key.rs", include_str!("key.rs")),
            ("layout.rs", include_str!("layout.rs")),
            ("list.rs", include_str!("list.rs")),
            ("lock.rs", include_str!("lock.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("pack.rs", include_str!("pack.rs")),
            ("section.rs", include_str!("section.rs")),
            ("snapshot.rs", include_str!("snapshot.rs")),
            ("source.rs", include_str!("source.rs")),
            ("verification.rs", include_str!("verification.rs")),
        ];
        for (name, text) in files {
            for m in ABOVE {
                let needle = format!("crate::{m}::");
                assert!(!text.contains(&needle), "format/{name} names {needle}");
            }
        }
    }

    /// `delta` (engine, now `archive/parent.rs`) takes the manifest time parser from `format`,
    /// not from `commands`.
    #[test]
    fn delta_does_not_import_commands() {
        let needle = ["crate::", "commands::"].concat();
        assert!(!include_str!("../archive/parent.rs").contains(&needle));
    }
}
