//! Property tests for every decoder of repository bytes: arbitrary input never panics, and
//! input that cannot be a valid object (wrong version byte, a strict prefix or an extension of
//! a valid encoding, a damaged sealed object, a bad compression tag) is always an error. The
//! same decoders have cargo-fuzz targets in `fuzz/` for longer runs.

use super::config::Config;
use super::index::{decode_index_file, encode_index_file, IndexFile, IndexPack, ObsoletePack};
use super::key::KeyFile;
use super::list::{ListBlob, ListEntry};
use super::lock::Lock;
use super::pack::{decode_header, encode_header, split_trailer, BlobKind, PackBlob};
use super::snapshot::{Manifest, StreamRef, Summary};
use super::{
    decode_json, decode_versioned, encode_json, encode_versioned, FORMAT_VERSION, INDEX_VERSION,
};
use crate::compress::{compress, decompress};
use crate::crypto::{open_with, MasterKey};
use crate::format::section::{Section, SectionKind};
use crate::format::source::SourceInfo;
use proptest::prelude::*;

/// Runs every binary decoder on `bytes`; returns which ones accepted it.
fn decode_all(bytes: &[u8]) -> Vec<(&'static str, bool)> {
    vec![
        ("manifest", decode_versioned::<Manifest>(bytes).is_ok()),
        ("index", decode_index_file(bytes).is_ok()),
        ("list", decode_versioned::<ListBlob>(bytes).is_ok()),
        ("pack header", decode_header(bytes).is_ok()),
    ]
}

/// Runs every JSON decoder on `bytes`; returns which ones accepted it.
fn decode_all_json(bytes: &[u8]) -> Vec<(&'static str, bool)> {
    vec![
        ("key file", decode_json::<KeyFile>(bytes).is_ok()),
        ("config", decode_json::<Config>(bytes).is_ok()),
        ("lock", decode_json::<Lock>(bytes).is_ok()),
    ]
}

fn blob(seed: u8, i: u32) -> PackBlob {
    PackBlob {
        kind: [BlobKind::Data, BlobKind::List, BlobKind::Delta][(seed % 3) as usize],
        id: [seed.wrapping_add(i as u8); 32],
        offset: i * 1000 + seed as u32,
        length: 500 + i,
        raw_length: 70_000 + seed as u32,
        base: (seed % 3 == 2).then_some([seed ^ 0x55; 32]),
    }
}

/// One valid encoding of each versioned object, varied by `seed` and `n`.
fn samples(seed: u8, n: u32, text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let blobs: Vec<PackBlob> = (0..n).map(|i| blob(seed, i)).collect();
    let index = IndexFile {
        packs: vec![IndexPack {
            id: [seed; 32],
            size: 16 << 20,
            blobs: blobs.clone(),
        }],
        supersedes: vec![[seed ^ 0xff; 32]; (n % 3) as usize],
        obsolete: vec![
            ObsoletePack {
                id: [7; 32],
                marked_at: -(seed as i64) * 1_000_000,
            };
            (n % 2) as usize
        ],
    };
    let list = ListBlob {
        level: seed % 4,
        entries: (0..n)
            .map(|i| ListEntry {
                id: [i as u8; 32],
                size: (i as u64) << 30,
            })
            .collect(),
    };
    let manifest = Manifest {
        time: "2026-01-02T03:04:05+01:00[Europe/Paris]".into(),
        host: text.into(),
        tags: vec![text.into(); (n % 3) as usize],
        source: SourceInfo {
            kind: "postgres".into(),
            database: Some(text.into()),
            options: vec!["primary-key order".into()],
            ..Default::default()
        },
        streams: vec![StreamRef {
            name: format!("{text}.sql"),
            size: 1 << 40,
            blake3: [seed; 32],
            root: [seed ^ 1; 32],
            chunks: n as u64,
            sections: (0..n % 4)
                .map(|i| Section {
                    kind: SectionKind::Data,
                    object_type: "TABLE DATA".into(),
                    name: format!("public.t{i}"),
                    table: Some(format!("public.t{i}")),
                    start: i as u64 * 100,
                    end: i as u64 * 100 + 99,
                    rows: Some(u64::MAX - i as u64),
                })
                .collect(),
        }],
        summary: Summary {
            bytes_read: 1,
            bytes_added: 2,
            chunks: 3,
            new_blobs: 4,
            duration_ms: 5,
        },
        original: seed.is_multiple_of(2).then_some([seed; 32]),
    };
    vec![
        ("manifest", encode_versioned(&manifest)),
        ("index", encode_index_file(&index)),
        ("list", encode_versioned(&list)),
        ("pack header", encode_header(&blobs)),
    ]
}

/// Decodes `bytes` as the object `kind` names.
fn decode_as(kind: &str, bytes: &[u8]) -> bool {
    match kind {
        "manifest" => decode_versioned::<Manifest>(bytes).is_ok(),
        "index" => decode_index_file(bytes).is_ok(),
        "list" => decode_versioned::<ListBlob>(bytes).is_ok(),
        _ => decode_header(bytes).is_ok(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes: no decoder panics; with a wrong version byte every binary decoder
    /// refuses; JSON metadata never decodes from noise; nothing opens without the key.
    #[test]
    fn random_bytes_are_rejected_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        key in any::<[u8; 32]>(),
    ) {
        let binary = decode_all(&bytes);
        let v = bytes.first().copied();
        if v != Some(FORMAT_VERSION as u8) && v != Some(INDEX_VERSION) {
            prop_assert!(binary.iter().all(|(_, ok)| !ok), "{binary:?}");
        }
        if v == Some(INDEX_VERSION) {
            prop_assert!(binary.iter().all(|(k, ok)| !ok || *k == "index" || *k == "pack header"));
        }
        let json = decode_all_json(&bytes);
        prop_assert!(json.iter().all(|(_, ok)| !ok), "{json:?}");
        prop_assert!(open_with(&key, &bytes).is_err());
        prop_assert!(MasterKey::generate().open(&bytes).is_err());
        if bytes.len() != crate::crypto::MASTER_KEY_LEN {
            prop_assert!(MasterKey::from_bytes(&bytes).is_err());
        }
        if let Ok((area, header)) = split_trailer(&bytes) {
            prop_assert!(area + header.len() + 4 == bytes.len());
        } else {
            let header_too_long = bytes.len() >= 4 && {
                let n = bytes.len() - 4;
                u32::from_le_bytes(bytes[n..].try_into().unwrap()) as usize > n
            };
            prop_assert!(bytes.len() < 4 || header_too_long);
        }
        let raw = bytes.len().saturating_sub(1);
        match bytes.first() {
            Some(0) => prop_assert!(decompress(&bytes, raw + 1).is_err()),
            Some(1) => { let _ = decompress(&bytes, raw); }
            _ => prop_assert!(decompress(&bytes, raw).is_err()),
        }
    }

    /// Bytes after a valid version byte: no decoder panics (they may decode by chance).
    #[test]
    fn random_payloads_after_the_version_byte_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = vec![FORMAT_VERSION as u8];
        bytes.extend(tail);
        let _ = decode_all(&bytes);
        let _ = decompress(&bytes, 1 << 16);
    }

    /// A strict prefix of a valid encoding, an extension of it, a newer version byte, and any
    /// damage to a sealed object are all refused.
    #[test]
    fn damaged_valid_objects_are_rejected(
        seed in any::<u8>(),
        n in 0u32..40,
        text in "[a-z0-9_]{0,12}",
        cut in any::<prop::sample::Index>(),
        extra in any::<u8>(),
        bit in any::<prop::sample::Index>(),
    ) {
        for (kind, enc) in samples(seed, n, &text) {
            prop_assert!(decode_as(kind, &enc), "{kind} round trip");
            let c = cut.index(enc.len());
            prop_assert!(!decode_as(kind, &enc[..c]), "{kind} prefix of {c} bytes");
            let mut longer = enc.clone();
            longer.push(extra);
            prop_assert!(!decode_as(kind, &longer), "{kind} with a trailing byte");
            let mut newer = enc.clone();
            newer[0] = INDEX_VERSION + 1 + (extra % 200);
            prop_assert!(!decode_as(kind, &newer), "{kind} with version {}", newer[0]);

            let key = MasterKey::generate();
            let sealed = key.seal(&enc);
            let mut flipped = sealed.clone();
            let b = bit.index(sealed.len() * 8);
            flipped[b / 8] ^= 1 << (b % 8);
            prop_assert!(key.open(&flipped).is_err(), "{kind}: bit {b} flipped");
            prop_assert!(key.open(&sealed[..c.min(sealed.len() - 1)]).is_err());
            prop_assert_eq!(key.open(&sealed).unwrap(), enc.clone());

            let z = compress(&enc, 3);
            prop_assert_eq!(decompress(&z, enc.len()).unwrap(), enc.clone());
            prop_assert!(decompress(&z, enc.len() + 1).is_err());
            prop_assert!(decompress(&z[..c.min(z.len() - 1)], enc.len()).is_err());
        }
    }

    /// JSON metadata: strict prefixes of a valid config, key file or lock are refused.
    #[test]
    fn truncated_json_metadata_is_rejected(cut in any::<prop::sample::Index>(), n in any::<u32>()) {
        let config = encode_json(&Config {
            version: 1,
            id: format!("{n:064x}"),
            chunker: Default::default(),
            compression_level: 3,
            pack_size: n as u64,
        });
        let key = encode_json(&KeyFile {
            version: 1,
            created: "2026-01-02T03:04:05+00:00[UTC]".into(),
            host: format!("h{n}"),
            kdf: "argon2id".into(),
            kdf_params: crate::crypto::kdf::KdfParams::with_cost(64, 1, 1),
            data: vec![n as u8; 112],
        });
        let lock = encode_json(&Lock {
            exclusive: n % 2 == 0,
            host: "h".into(),
            pid: n,
            time: n as i64,
            created: 0,
            command: "prune".into(),
        });
        prop_assert!(decode_json::<Config>(&config).is_ok());
        prop_assert!(decode_json::<KeyFile>(&key).is_ok());
        prop_assert!(decode_json::<Lock>(&lock).is_ok());
        prop_assert!(decode_json::<Config>(&config[..cut.index(config.len())]).is_err());
        prop_assert!(decode_json::<KeyFile>(&key[..cut.index(key.len())]).is_err());
        prop_assert!(decode_json::<Lock>(&lock[..cut.index(lock.len())]).is_err());
    }
}

#[test]
fn huge_declared_lengths_are_refused_not_allocated() {
    // Version byte, then a sequence length of 2^60 as a u64 varint (253 + 8 bytes).
    let mut bytes = vec![FORMAT_VERSION as u8, 253];
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(decode_header(&bytes).is_err());
    let mut list = vec![FORMAT_VERSION as u8, 0, 253];
    list.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(decode_versioned::<ListBlob>(&list).is_err());
}
