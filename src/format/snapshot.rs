//! Snapshot manifests `snapshots/<id>`: sealed `version || bincode(Manifest)`.

use super::section::Section;
use super::source::SourceInfo;
use serde::{Deserialize, Serialize};

/// Parses a manifest time ([`Manifest::time`]: RFC 3339 with offset, optionally with a
/// bracketed zone name). `None` when `s` is neither.
///
/// A time with a UTC offset (every manifest's) is read as a timestamp, its offset deciding,
/// without looking up the time zone of its annotation (`[Europe/Berlin]`): a listing of 50 000
/// snapshots spent most of its time parsing in that lookup. Read as a zoned time instead, the
/// offset is either the one the zone has then (the same instant) or is refused, and the
/// timestamp was the fallback. Only a zoned time without an offset needs the zone.
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    (s.parse::<jiff::Timestamp>().ok())
        .or_else(|| s.parse::<jiff::Zoned>().ok().map(|z| z.timestamp()))
}

/// One named stream of a snapshot (a dump, or e.g. PostgreSQL globals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRef {
    /// Stream name, e.g. `shop.sql`.
    pub name: String,
    /// Plain length, bytes.
    pub size: u64,
    /// Unkeyed BLAKE3 of the whole plain stream.
    pub blake3: [u8; 32],
    /// Root list blob of the chunk list tree.
    pub root: [u8; 32],
    /// Number of data chunks.
    pub chunks: u64,
    /// Table sections found by the scanner (empty for opaque streams).
    pub sections: Vec<Section>,
}

/// Figures about how the snapshot was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Bytes read from the source.
    pub bytes_read: u64,
    /// Sealed bytes added to the repository (new blobs), bytes.
    pub bytes_added: u64,
    /// Data chunks in the stream(s).
    pub chunks: u64,
    /// Blobs that were new to the repository.
    pub new_blobs: u64,
    /// Wall-clock duration, milliseconds.
    pub duration_ms: u64,
}

/// A snapshot manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Time the snapshot started: RFC 3339 with the host's UTC offset.
    pub time: String,
    /// Host name.
    pub host: String,
    /// Tags: `key=value` or bare words.
    pub tags: Vec<String>,
    /// Where the dump came from.
    pub source: SourceInfo,
    /// The streams.
    pub streams: Vec<StreamRef>,
    /// Figures.
    pub summary: Summary,
    /// Id of the snapshot this was copied from, in another repository.
    pub original: Option<[u8; 32]>,
}

impl Manifest {
    /// The database this snapshot is of: the recorded `source.database`, else for a piped
    /// stream (`stdin`, `command`; snapshots written before the database was recorded) its
    /// first stream's name without extension ([`super::source::database_of_stream`]). `None`
    /// for other sources without a database.
    pub fn database(&self) -> Option<String> {
        let first = self.streams.first().map(|s| s.name.as_str());
        self.source.database_for(first)
    }

    /// The identity of [`Manifest::database`] (engine, server or file, and name, see
    /// [`SourceInfo::identity`]): what retention groups by, `--database` selects, and `report`
    /// and `diff` tell databases apart with.
    pub fn identity(&self) -> Option<String> {
        self.database().map(|db| self.source.identity_of(&db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::encode_versioned;
    use crate::format::section::SectionKind;
    use crate::format::source::Dialect;

    /// A manifest using every persisted enum variant (each `SectionKind`; the dialect given),
    /// and both `Some` and `None` of every optional field.
    fn golden_manifest(dialect: Option<Dialect>) -> Manifest {
        let section = |kind, start: u64, rows: Option<u64>| Section {
            kind,
            object_type: "TABLE DATA".into(),
            name: "public.t".into(),
            table: rows.map(|_| "public.t".to_string()),
            start,
            end: start + 300,
            rows,
        };
        Manifest {
            time: "2026-01-02T03:04:05.123456789+01:00".into(),
            host: "db1".into(),
            tags: vec!["daily".into(), "env=prod".into()],
            source: SourceInfo {
                kind: "postgres".into(),
                database: Some("shop".into()),
                command: Some("pg_dump shop".into()),
                tool_version: Some("pg_dump (PostgreSQL) 15.19".into()),
                server_version: None,
                dialect,
                options: vec!["server=db1:5432".into()],
            },
            streams: vec![StreamRef {
                name: "shop.sql".into(),
                size: 70_000,
                blake3: [7; 32],
                root: [9; 32],
                chunks: 3,
                sections: vec![
                    section(SectionKind::Preamble, 0, None),
                    section(SectionKind::Schema, 300, None),
                    section(SectionKind::Data, 600, Some(1_000_000)),
                    section(SectionKind::Other, 900, Some(0)),
                ],
            }],
            summary: Summary {
                bytes_read: 70_000,
                bytes_added: 251,
                chunks: 3,
                new_blobs: 2,
                duration_ms: 65_536,
            },
            original: Some([0xab; 32]),
        }
    }

    /// The manifest plaintext (`version || bincode(Manifest)`) for every dialect and none,
    /// concatenated, hex. Generated once from the code; a change here means the disk format
    /// changed (e.g. a reordered field or enum variant) and old manifests would misread.
    const GOLDEN: &str = concat!(
        "0123323032362d30312d30325430333a30343a30352e3132333435363738392b30313a303003646231020564",
        "61696c7908656e763d70726f6408706f737467726573010473686f70010c70675f64756d702073686f70011a",
        "70675f64756d702028506f737467726553514c292031352e3139000100010f7365727665723d6462313a3534",
        "3332010873686f702e73716cfc70110100070707070707070707070707070707070707070707070707070707",
        "070707070709090909090909090909090909090909090909090909090909090909090909090304000a544142",
        "4c452044415441087075626c69632e740000fb2c0100010a5441424c452044415441087075626c69632e7400",
        "fb2c01fb580200020a5441424c452044415441087075626c69632e7401087075626c69632e74fb5802fb8403",
        "01fc40420f00030a5441424c452044415441087075626c69632e7401087075626c69632e74fb8403fbb00401",
        "00fc70110100fbfb000302fc0000010001ababababababababababababababababababababababababababab",
        "ababababab0123323032362d30312d30325430333a30343a30352e3132333435363738392b30313a30300364",
        "623102056461696c7908656e763d70726f6408706f737467726573010473686f70010c70675f64756d702073",
        "686f70011a70675f64756d702028506f737467726553514c292031352e3139000101010f7365727665723d64",
        "62313a35343332010873686f702e73716cfc7011010007070707070707070707070707070707070707070707",
        "0707070707070707070709090909090909090909090909090909090909090909090909090909090909090304",
        "000a5441424c452044415441087075626c69632e740000fb2c0100010a5441424c452044415441087075626c",
        "69632e7400fb2c01fb580200020a5441424c452044415441087075626c69632e7401087075626c69632e74fb",
        "5802fb840301fc40420f00030a5441424c452044415441087075626c69632e7401087075626c69632e74fb84",
        "03fbb0040100fc70110100fbfb000302fc0000010001abababababababababababababababababababababab",
        "abababababababababab0123323032362d30312d30325430333a30343a30352e3132333435363738392b3031",
        "3a30300364623102056461696c7908656e763d70726f6408706f737467726573010473686f70010c70675f64",
        "756d702073686f70011a70675f64756d702028506f737467726553514c292031352e3139000102010f736572",
        "7665723d6462313a35343332010873686f702e73716cfc701101000707070707070707070707070707070707",
        "0707070707070707070707070707070909090909090909090909090909090909090909090909090909090909",
        "0909090304000a5441424c452044415441087075626c69632e740000fb2c0100010a5441424c452044415441",
        "087075626c69632e7400fb2c01fb580200020a5441424c452044415441087075626c69632e7401087075626c",
        "69632e74fb5802fb840301fc40420f00030a5441424c452044415441087075626c69632e7401087075626c69",
        "632e74fb8403fbb0040100fc70110100fbfb000302fc0000010001ababababababababababababababababab",
        "ababababababababababababababab0123323032362d30312d30325430333a30343a30352e31323334353637",
        "38392b30313a30300364623102056461696c7908656e763d70726f6408706f737467726573010473686f7001",
        "0c70675f64756d702073686f70011a70675f64756d702028506f737467726553514c292031352e3139000001",
        "0f7365727665723d6462313a35343332010873686f702e73716cfc7011010007070707070707070707070707",
        "0707070707070707070707070707070707070709090909090909090909090909090909090909090909090909",
        "090909090909090304000a5441424c452044415441087075626c69632e740000fb2c0100010a5441424c4520",
        "44415441087075626c69632e7400fb2c01fb580200020a5441424c452044415441087075626c69632e740108",
        "7075626c69632e74fb5802fb840301fc40420f00030a5441424c452044415441087075626c69632e74010870",
        "75626c69632e74fb8403fbb0040100fc70110100fbfb000302fc0000010001ababababababababababababab",
        "ababababababababababababababababababab0123323032362d30312d30325430333a30343a30352e313233",
        "3435363738392b30313a30300364623102056461696c7908656e763d70726f6408706f737467726573010473",
        "686f70010c70675f64756d702073686f70011a70675f64756d702028506f737467726553514c292031352e31",
        "390000010f7365727665723d6462313a35343332010873686f702e73716cfc70110100070707070707070707",
        "0707070707070707070707070707070707070707070707090909090909090909090909090909090909090909",
        "09090909090909090909090304000a5441424c452044415441087075626c69632e740000fb2c0100010a5441",
        "424c452044415441087075626c69632e7400fb2c01fb580200020a5441424c452044415441087075626c6963",
        "2e7401087075626c69632e74fb5802fb840301fc40420f00030a5441424c452044415441087075626c69632e",
        "7401087075626c69632e74fb8403fbb0040100fc70110100fbfb000302fc0000010000",
    );

    #[test]
    fn manifest_encoding_is_stable() {
        let dialects = [
            Some(Dialect::Postgres),
            Some(Dialect::MySql),
            Some(Dialect::Sqlite),
            None,
        ];
        let mut all = Vec::new();
        for d in dialects {
            let m = golden_manifest(d);
            let bytes = encode_versioned(&m);
            let back: Manifest = crate::format::decode_versioned(&bytes).unwrap();
            assert_eq!(back, m);
            all.extend(bytes);
        }
        let mut no_original = golden_manifest(None);
        no_original.original = None;
        all.extend(encode_versioned(&no_original));
        assert_eq!(hex::encode(&all), GOLDEN);
    }
}
