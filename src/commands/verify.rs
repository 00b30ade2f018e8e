//! `verify` without a scratch database: stream every stream of a snapshot end to end exactly as
//! `restore` would (every chunk list and chunk read, opened, decompressed and checked against
//! its keyed id; the length and BLAKE3 of the whole stream matched against the manifest) and
//! write nothing.

use crate::commands::restore;
use crate::commands::snapshots::SnapshotEntry;
use crate::error::Error;
use crate::format::verification::{TableCheck, Verification};
use crate::format::{decode_json, encode_json};
use crate::id::Id;
use crate::index::Index;
use crate::progress::Progress;
use crate::repository::{FileKind, Repository};
use crate::source::database::normalize_table;
use crate::tables::{table_summaries, Section};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The verdict on one stream.
#[derive(Debug, Clone, Serialize)]
pub struct StreamVerdict {
    /// Stream name.
    pub name: String,
    /// Plain length recorded in the manifest, bytes.
    pub size: u64,
    /// Data chunks read.
    pub chunks_read: u64,
    /// Sealed bytes read from packs.
    pub bytes_read: u64,
    /// Whether every chunk verified and the stream's length and BLAKE3 matched.
    pub ok: bool,
    /// What failed, naming the damaged object.
    pub error: Option<String>,
    /// Whether the failure is damage (corrupt or missing data) rather than, e.g., storage
    /// being unreachable.
    pub damaged: bool,
}

/// The verdict on a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutcome {
    /// Snapshot id (hex).
    pub snapshot: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// One verdict per stream, in manifest order.
    pub streams: Vec<StreamVerdict>,
    /// Whether every stream verified.
    pub ok: bool,
}

/// Forwards byte counts only, so several streams share one bar.
struct Counting<'a>(&'a dyn Progress);

impl Progress for Counting<'_> {
    fn inc(&self, bytes: u64) {
        self.0.inc(bytes)
    }
}

/// Verifies every stream of `entry` against `index`. Damage is reported in the outcome (one
/// damaged stream does not stop the others); this never returns `Err` and never writes.
pub fn run(
    repo: &Repository,
    index: &Index,
    entry: &SnapshotEntry,
    progress: &dyn Progress,
) -> VerifyOutcome {
    progress.set_total(entry.manifest.streams.iter().map(|s| s.size).sum());
    let counting = Counting(progress);
    let mut streams = Vec::new();
    for s in &entry.manifest.streams {
        let r = restore::run(
            repo,
            index,
            &entry.id,
            s,
            None,
            &mut std::io::sink(),
            &counting,
        );
        streams.push(match r {
            Ok(o) => StreamVerdict {
                name: s.name.clone(),
                size: s.size,
                chunks_read: o.chunks_read,
                bytes_read: o.bytes_read,
                ok: true,
                error: None,
                damaged: false,
            },
            Err(e) => StreamVerdict {
                name: s.name.clone(),
                size: s.size,
                chunks_read: 0,
                bytes_read: 0,
                ok: false,
                damaged: is_damage(&e),
                error: Some(e.to_string()),
            },
        });
    }
    progress.finish();
    VerifyOutcome {
        snapshot: entry.id.to_hex(),
        short_id: entry.id.short(),
        ok: streams.iter().all(|s| s.ok),
        streams,
    }
}

/// Compares the row counts of a restored database (`actual`, keyed by
/// [`normalize_table`]d schema-qualified name) with those the dump recorded in `sections`.
///
/// Only tables whose data section recorded a row count are compared; with `selected`
/// non-empty, only those tables (a bare name matches any schema). A table missing from
/// `actual` has `actual: None`. Names are matched exactly, then by `.name` suffix (SQLite and
/// MySQL dumps name tables without a schema).
pub fn compare_tables(
    sections: &[Section],
    actual: &BTreeMap<String, u64>,
    selected: &[String],
) -> Vec<TableCheck> {
    let mut out = Vec::new();
    for t in table_summaries(sections) {
        let Some(rows) = t.rows else { continue };
        let name = normalize_table(&t.name);
        let suffix = |a: &str, b: &str| a == b || a.ends_with(&format!(".{b}"));
        let wanted =
            selected.is_empty() || selected.iter().any(|w| suffix(&name, &normalize_table(w)));
        if !wanted {
            continue;
        }
        let got = actual.get(&name).copied().or_else(|| {
            actual
                .iter()
                .find(|(k, _)| suffix(k, &name) || suffix(&name, k))
                .map(|(_, v)| *v)
        });
        out.push(TableCheck {
            table: name,
            expected: rows,
            actual: got,
        });
    }
    out
}

/// Stores the outcome of a verification as `verifications/<id>`. Errors: the backend's.
pub fn record(repo: &Repository, v: &Verification) -> Result<Id, Error> {
    repo.save_file(FileKind::Verification, &encode_json(v))
}

/// The newest verification of each snapshot, keyed by snapshot id (hex). Records that cannot
/// be read or decoded are skipped (they only inform; `check` does not need them).
///
/// Errors: the backend's, when the folder cannot be listed.
pub fn latest(repo: &Repository) -> Result<HashMap<String, Verification>, Error> {
    let mut out: HashMap<String, Verification> = HashMap::new();
    for (id, _) in repo.list(FileKind::Verification)? {
        let Ok(plain) = repo.load_file(FileKind::Verification, &id) else {
            continue;
        };
        let Ok(v) = decode_json::<Verification>(&plain) else {
            continue;
        };
        let newer = out
            .get(&v.snapshot)
            .is_none_or(|old| time_of(&v) > time_of(old));
        if newer {
            out.insert(v.snapshot.clone(), v);
        }
    }
    Ok(out)
}

/// Verification records of snapshots not in `snapshots` (hex ids) written before `before`:
/// what prune removes. Unreadable records are left alone.
///
/// Errors: the backend's, when the folder cannot be listed.
pub fn orphans(
    repo: &Repository,
    snapshots: &std::collections::HashSet<String>,
    before: jiff::Timestamp,
) -> Result<Vec<Id>, Error> {
    let mut out = Vec::new();
    for (id, _) in repo.list(FileKind::Verification)? {
        let Ok(plain) = repo.load_file(FileKind::Verification, &id) else {
            continue;
        };
        let Ok(v) = decode_json::<Verification>(&plain) else {
            continue;
        };
        if !snapshots.contains(&v.snapshot) && time_of(&v) < before {
            out.push(id);
        }
    }
    Ok(out)
}

fn time_of(v: &Verification) -> jiff::Timestamp {
    v.time.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Whether `e` means the snapshot's data is damaged or missing.
fn is_damage(e: &Error) -> bool {
    match e {
        Error::Corrupt { .. } | Error::UnsupportedVersion { .. } | Error::NotFound(_) => true,
        Error::Backend(b) => b.class == crate::backend::ErrorClass::NotFound,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::commands::snapshots::find;
    use crate::crypto::kdf::KdfParams;
    use crate::index::SharedIndex;
    use crate::progress::NoProgress;
    use crate::repository::InitOptions;

    fn repo_with(data: &[u8]) -> (Repository, SnapshotEntry) {
        let backend =
            Backend::open(&format!("memory://verify-{}", crate::id::Id::random())).unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        let source = crate::source::stdin::ReaderSource::new(std::io::Cursor::new(data.to_vec()));
        let index = SharedIndex::start(&repo, "snapshot").unwrap();
        crate::commands::snapshot::run(
            &repo,
            &index,
            vec![("a.sql".into(), Box::new(source))],
            &Default::default(),
            &NoProgress,
        )
        .unwrap();
        let entry = find(&repo, "latest", &Default::default()).unwrap();
        (repo, entry)
    }

    #[test]
    fn passes_whole_and_fails_naming_the_pack_when_a_chunk_is_damaged() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i * 7919).to_le_bytes())
            .collect();
        let (repo, entry) = repo_with(&data);
        let index = Index::load(&repo).unwrap();
        let ok = run(&repo, &index, &entry, &NoProgress);
        assert!(ok.ok, "{ok:?}");
        assert_eq!(ok.streams[0].name, "a.sql");
        assert!(ok.streams[0].chunks_read > 1);

        let (pack, size) = repo.list(FileKind::Pack).unwrap()[0];
        let path = FileKind::Pack.path(&pack);
        let mut bytes = repo.backend().read(&path).unwrap();
        bytes[(size / 2) as usize] ^= 0x40;
        repo.backend().write(&path, bytes).unwrap();
        let bad = run(&repo, &index, &entry, &NoProgress);
        assert!(!bad.ok && bad.streams[0].damaged, "{bad:?}");
        let err = bad.streams[0].error.as_deref().unwrap();
        assert!(err.contains(&pack.to_hex()), "{err}");
    }
}
