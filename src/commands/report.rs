//! `report`: the figures of a repository per database, for the HTML report a DBA reads.
//!
//! Snapshots are grouped by database identity ([`crate::format::snapshot::Manifest::identity`]:
//! engine, server or file, and name; a piped `shop.sql` is the database `shop`), the same
//! identity `forget` groups by and `--database` selects. Per database: every
//! snapshot in time order with its dump size, the bytes it added to the repository and the
//! running total of those bytes (the repository's growth due to that database), the last
//! snapshot (every stored snapshot is a successful one: a failed dump writes none) and the
//! newest verification of any of its snapshots.

use crate::commands::snapshots::{self, Filter, SnapshotEntry};
use crate::commands::verify;
use crate::error::Result;
use crate::format::verification::Verification;
use crate::repository::Repository;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One snapshot in a database's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SnapshotPoint {
    /// Snapshot id (hex).
    pub id: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// Snapshot time, UTC (RFC 3339).
    pub time: String,
    /// Snapshot time, Unix seconds.
    pub unix_time: i64,
    /// Plain size of its streams, bytes.
    pub size: u64,
    /// Bytes it added to the repository (new blobs, sealed).
    pub bytes_added: u64,
    /// Bytes added by this database's snapshots up to and including this one.
    pub cumulative_added: u64,
    /// Its newest verification, if any.
    pub verified: Option<VerificationSummary>,
}

/// A verification, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerificationSummary {
    /// Verified snapshot (hex).
    pub snapshot: String,
    /// When it finished (RFC 3339, UTC).
    pub time: String,
    /// Whether it passed.
    pub ok: bool,
    /// `stream` or `into <engine>`.
    pub mode: String,
    /// What failed; empty when ok.
    pub detail: String,
}

impl From<&Verification> for VerificationSummary {
    fn from(v: &Verification) -> Self {
        VerificationSummary {
            snapshot: v.snapshot.clone(),
            time: v.time.clone(),
            ok: v.ok,
            mode: v.mode.clone(),
            detail: v.detail.clone(),
        }
    }
}

/// The figures of one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseReport {
    /// Database name (for a piped stream without a recorded one, the stream name without
    /// extension; `(unnamed)` for a snapshot without database and streams).
    pub name: String,
    /// Its identity, e.g. `postgres db1:5432/shop` or `stream shop` (equal to `name` for a
    /// snapshot without database).
    pub identity: String,
    /// Source kind of its newest snapshot (`postgres`, `sqlite`, `stdin`…).
    pub engine: String,
    /// Hosts its snapshots were taken on, sorted.
    pub hosts: Vec<String>,
    /// Its snapshots, oldest first.
    pub snapshots: Vec<SnapshotPoint>,
    /// Time of the newest snapshot (RFC 3339, UTC).
    pub last_snapshot: Option<String>,
    /// Sum of the bytes its snapshots added.
    pub bytes_added: u64,
    /// Dump size of the newest snapshot, bytes.
    pub latest_size: u64,
    /// The newest verification of any of its snapshots (by verification time).
    pub last_verification: Option<VerificationSummary>,
}

/// The figures of a repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Repository location.
    pub repository: String,
    /// When the report was made (RFC 3339, UTC).
    pub generated: String,
    /// Snapshots counted.
    pub snapshots: usize,
    /// Bytes added by all of them (what each snapshot wrote when it was taken; the bytes of
    /// forgotten snapshots, and bytes shared by later ones, are not in it).
    pub bytes_added: u64,
    /// Size of the repository's pack files now, bytes (what the storage holds).
    pub repository_bytes: u64,
    /// Per database, by name.
    pub databases: Vec<DatabaseReport>,
}

/// The name a snapshot is listed under: its database ([`crate::format::snapshot::Manifest::database`]),
/// else its first stream's name.
pub fn database_key(e: &SnapshotEntry) -> String {
    let m = &e.manifest;
    m.database()
        .or_else(|| m.streams.first().map(|s| s.name.clone()))
        .unwrap_or_else(|| "(unnamed)".into())
}

/// Groups `list` by database identity (named as [`database_key`] says) and computes each
/// one's figures; `verified` holds the newest verification of each snapshot by id (hex), as
/// [`verify::latest`] returns. Databases come sorted by name, then identity; snapshots
/// oldest first.
pub fn gather(
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
) -> Vec<DatabaseReport> {
    let mut groups: BTreeMap<(String, String), Vec<&SnapshotEntry>> = BTreeMap::new();
    for e in list {
        let name = database_key(e);
        let identity = e.manifest.identity().unwrap_or_else(|| name.clone());
        groups.entry((name, identity)).or_default().push(e);
    }
    groups
        .into_iter()
        .map(|((name, identity), mut entries)| {
            entries.sort_by_cached_key(|e| (e.time(), e.id));
            let mut total = 0u64;
            let mut hosts: Vec<String> = Vec::new();
            let mut last_verification: Option<&Verification> = None;
            let snapshots: Vec<SnapshotPoint> = entries
                .iter()
                .map(|e| {
                    let m = &e.manifest;
                    total += m.summary.bytes_added;
                    if !hosts.contains(&m.host) {
                        hosts.push(m.host.clone());
                    }
                    let v = verified.get(&e.id.to_hex());
                    if let Some(v) = v {
                        let newer = last_verification
                            .is_none_or(|old| verification_time(v) > verification_time(old));
                        if newer {
                            last_verification = Some(v);
                        }
                    }
                    SnapshotPoint {
                        id: e.id.to_hex(),
                        short_id: e.id.short(),
                        time: e.time().to_string(),
                        unix_time: e.time().as_second(),
                        size: m.streams.iter().map(|s| s.size).sum(),
                        bytes_added: m.summary.bytes_added,
                        cumulative_added: total,
                        verified: v.map(VerificationSummary::from),
                    }
                })
                .collect();
            hosts.sort();
            let newest = entries.last();
            DatabaseReport {
                name,
                identity,
                engine: newest.map_or_else(String::new, |e| e.manifest.source.kind.clone()),
                hosts,
                last_snapshot: snapshots.last().map(|s| s.time.clone()),
                latest_size: snapshots.last().map_or(0, |s| s.size),
                bytes_added: total,
                last_verification: last_verification.map(VerificationSummary::from),
                snapshots,
            }
        })
        .collect()
}

fn verification_time(v: &Verification) -> jiff::Timestamp {
    v.time.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The report of the snapshots of `repo` passing `filter`.
///
/// Errors: a manifest that cannot be read, or the verification records that cannot be listed.
pub fn run(repo: &Repository, filter: &Filter) -> Result<Report> {
    let list = snapshots::list(repo, filter)?;
    let verified = verify::latest(repo)?;
    let databases = gather(&list, &verified);
    Ok(Report {
        repository: repo.backend().location().to_string(),
        generated: jiff::Timestamp::now().to_string(),
        snapshots: list.len(),
        bytes_added: databases.iter().map(|d| d.bytes_added).sum(),
        repository_bytes: repo
            .list(crate::repository::FileKind::Pack)?
            .iter()
            .map(|p| p.1)
            .sum(),
        databases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::{Manifest, StreamRef, Summary};
    use crate::id::Id;
    use crate::source::SourceInfo;

    fn entry(db: Option<&str>, stream: &str, time: &str, added: u64) -> SnapshotEntry {
        SnapshotEntry {
            id: Id::random(),
            manifest: Manifest {
                time: time.into(),
                host: "h".into(),
                tags: vec![],
                source: SourceInfo {
                    kind: if db.is_some() { "sqlite" } else { "stdin" }.into(),
                    database: db.map(Into::into),
                    command: None,
                    tool_version: None,
                    server_version: None,
                    dialect: None,
                    options: vec![],
                },
                streams: vec![StreamRef {
                    name: stream.into(),
                    size: 1000,
                    blake3: [0; 32],
                    root: [0; 32],
                    chunks: 1,
                    sections: vec![],
                }],
                summary: Summary {
                    bytes_added: added,
                    ..Default::default()
                },
                original: None,
            },
        }
    }

    fn verification(e: &SnapshotEntry, time: &str, ok: bool) -> Verification {
        Verification {
            snapshot: e.id.to_hex(),
            time: time.into(),
            host: "h".into(),
            mode: "stream".into(),
            ok,
            detail: String::new(),
            tables: vec![],
        }
    }

    #[test]
    fn groups_by_database_or_stream_and_accumulates() {
        let a2 = entry(Some("app.db"), "app.db.sql", "2026-12-02T00:00:00Z", 10);
        let a1 = entry(Some("app.db"), "app.db.sql", "2026-12-01T00:00:00Z", 100);
        let s1 = entry(None, "shop.sql", "2026-12-01T12:00:00+01:00", 7);
        let mut verified = HashMap::new();
        verified.insert(
            a1.id.to_hex(),
            verification(&a1, "2026-12-03T00:00:00Z", false),
        );
        verified.insert(
            a2.id.to_hex(),
            verification(&a2, "2026-12-02T06:00:00Z", true),
        );
        let r = gather(&[a2.clone(), a1.clone(), s1], &verified);
        let names: Vec<&str> = r.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["app.db", "shop"]);
        let app = &r[0];
        assert_eq!(app.snapshots.len(), 2);
        assert_eq!(app.snapshots[0].id, a1.id.to_hex());
        assert_eq!(
            app.snapshots
                .iter()
                .map(|s| s.cumulative_added)
                .collect::<Vec<_>>(),
            [100, 110]
        );
        assert_eq!(app.bytes_added, 110);
        assert_eq!(app.last_snapshot.as_deref(), Some("2026-12-02T00:00:00Z"));
        // The newest verification by time, even of an older snapshot.
        let v = app.last_verification.as_ref().unwrap();
        assert!(!v.ok);
        assert_eq!(v.snapshot, a1.id.to_hex());
        let shop = &r[1];
        assert_eq!(
            (shop.engine.as_str(), shop.identity.as_str()),
            ("stdin", "stream shop")
        );
        assert_eq!(shop.last_snapshot.as_deref(), Some("2026-12-01T11:00:00Z"));
        assert_eq!(shop.last_verification, None);
    }

    #[test]
    fn one_name_on_two_servers_is_two_databases_and_piped_streams_are_apart() {
        let on = |server: &str| {
            let mut e = entry(Some("shop"), "shop.sql", "2026-12-01T00:00:00Z", 1);
            e.manifest.source.kind = "postgres".into();
            e.manifest.source.options = vec![format!("server={server}")];
            e
        };
        let piped = |stream: &str| entry(None, stream, "2026-12-01T00:00:00Z", 1);
        let list = [
            on("db1:5432"),
            on("db2:5432"),
            piped("shop.sql"),
            piped("crm.sql"),
        ];
        let r = gather(&list, &HashMap::new());
        let got = Vec::from_iter(r.iter().map(|d| (d.name.as_str(), d.identity.as_str())));
        let want = [
            ("crm", "stream crm"),
            ("shop", "postgres db1:5432/shop"),
            ("shop", "postgres db2:5432/shop"),
            ("shop", "stream shop"),
        ];
        assert_eq!(got, want);
    }
}
