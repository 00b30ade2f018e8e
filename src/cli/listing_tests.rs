//! The streamed `snapshots` output against the output it replaces (kept here as the
//! reference: a `serde_json::Value` of the whole list, and a `comfy_table` over all rows).

use super::*;
use dumpvault::format::snapshot::{Manifest, Summary};
use dumpvault::format::source::Dialect;
use dumpvault::format::verification::TableCheck;
use dumpvault::id::Id;
use serde_json::json;

/// The `--json` document as it was printed before (a `Value` tree, pretty-printed).
fn old_json(list: &[SnapshotEntry], verified: &HashMap<String, Verification>) -> String {
    let v: Vec<_> = list
        .iter()
        .map(|e| {
            let m = &e.manifest;
            json!({"id": e.id.to_hex(), "short_id": e.id.short(), "time": e.time().to_string(),
                "local_time": e.local_time(), "host": m.host, "tags": m.tags, "source": m.source,
                "database": m.database(), "engine": m.source.kind,
                "size": m.streams.iter().map(|s| s.size).sum::<u64>(),
                "added": m.summary.bytes_added,
                "verified": verified.get(&e.id.to_hex()),
                "streams": m.streams.iter().map(|s| json!({"name": s.name, "size": s.size,
                    "blake3": hex::encode(s.blake3), "chunks": s.chunks})).collect::<Vec<_>>()})
        })
        .collect();
    format!("{}\n", serde_json::to_string_pretty(&v).unwrap())
}

/// The table as it was printed before (`comfy_table` over all rows).
fn old_table(
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
    utc: bool,
) -> String {
    use super::super::output::{render, show_time, table};
    let time = if utc { "time (UTC)" } else { "time" };
    let header = [
        "id", time, "host", "engine", "database", "size", "verified", "tags",
    ];
    let mut t = table(&header, &[5]);
    for e in list {
        let m = &e.manifest;
        let size: u64 = m.streams.iter().map(|s| s.size).sum();
        let v = verified.get(&e.id.to_hex()).map_or("-".into(), |v| {
            let ok = if v.ok { "ok" } else { "FAILED" };
            format!("{ok} {}", v.time.get(..10).unwrap_or(&v.time))
        });
        t.add_row(vec![
            e.id.short(),
            show_time(e.time(), utc),
            m.host.clone(),
            m.source.kind.clone(),
            m.database().unwrap_or_else(|| "-".into()),
            human_bytes(size),
            v,
            m.tags.join(","),
        ]);
    }
    format!("{}\n{} snapshot(s)\n", render(&t), list.len())
}

fn stream(name: &str, size: u64, chunks: u64) -> StreamRef {
    StreamRef {
        name: name.into(),
        size,
        blake3: [size as u8; 32],
        root: [7; 32],
        chunks,
        sections: Vec::new(),
    }
}

/// Snapshots of every shape the listing shows: a database with a server and a dialect, a
/// piped stream without a database, two streams, tags, a time with an offset, no time at all,
/// a host name beyond ASCII.
fn entries() -> (Vec<SnapshotEntry>, HashMap<String, Verification>) {
    let pg = SourceInfo {
        kind: "postgres".into(),
        database: Some("shop".into()),
        command: Some("pg_dump shop".into()),
        tool_version: Some("pg_dump (PostgreSQL) 15.19".into()),
        server_version: Some("15.19".into()),
        dialect: Some(Dialect::Postgres),
        options: vec!["server=db1:5432".into(), "primary-key order".into()],
    };
    let piped = SourceInfo {
        kind: "stdin".into(),
        ..Default::default()
    };
    let manifest = |time: &str, host: &str, tags: &[&str], source: &SourceInfo, streams| Manifest {
        time: time.into(),
        host: host.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        source: source.clone(),
        streams,
        summary: Summary {
            bytes_added: 12_345,
            ..Default::default()
        },
        original: None,
    };
    let list = vec![
        SnapshotEntry {
            id: Id([1; 32]),
            manifest: manifest(
                "2026-12-06T08:06:22+01:00[Europe/Berlin]",
                "db1",
                &["fleet", "job=db1"],
                &pg,
                vec![
                    stream("shop.sql", 3 << 20, 12),
                    stream("globals.sql", 900, 1),
                ],
            ),
        },
        SnapshotEntry {
            id: Id([0xab; 32]),
            manifest: manifest("2026-12-06T09:00:00Z", "höst", &[], &piped, vec![]),
        },
        SnapshotEntry {
            id: Id([0x0c; 32]),
            manifest: manifest(
                "not a time",
                "h",
                &["x"],
                &piped,
                vec![stream("dump.sql", 0, 0)],
            ),
        },
    ];
    let mut verified = HashMap::new();
    for (ok, e) in [(true, &list[0]), (false, &list[2])] {
        let v = Verification {
            snapshot: e.id.to_hex(),
            time: "2026-12-07T10:00:00Z".into(),
            host: "db1".into(),
            mode: "into postgres".into(),
            ok,
            detail: if ok {
                String::new()
            } else {
                "1 table differs".into()
            },
            tables: vec![TableCheck {
                table: "public.users".into(),
                expected: 3,
                actual: Some(3),
            }],
        };
        verified.insert(e.id.to_hex(), v);
    }
    (list, verified)
}

#[test]
fn the_json_listing_is_the_document_the_value_tree_gave() {
    let (list, verified) = entries();
    for n in [0, 1, list.len()] {
        let mut out = Vec::new();
        write_json(&mut out, &list[..n], &verified).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            old_json(&list[..n], &verified)
        );
    }
}

#[test]
fn the_table_is_the_one_comfy_table_laid_out() {
    let (list, verified) = entries();
    for utc in [true, false] {
        for n in [0, 1, list.len()] {
            let mut out = Vec::new();
            write_table(&mut out, &list[..n], &verified, utc).unwrap();
            let got = String::from_utf8(out).unwrap();
            assert_eq!(got, old_table(&list[..n], &verified, utc));
        }
    }
}
