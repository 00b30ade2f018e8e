//! `snapshots`: list snapshots, filter them, and resolve `latest` or an id prefix.
//!
//! Listing reads the snapshot catalogue ([`crate::repository::catalogue`]), not every
//! manifest: the listed entries carry manifests without table sections. [`find`] returns the
//! full manifest of the snapshot it resolves; [`load_all`] (prune's walk) reads every manifest.

use crate::error::{Error, Result};
use crate::format::catalogue::CatalogueEntry;
pub use crate::format::snapshot::parse_time;
use crate::format::snapshot::Manifest;
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::fmt::Write as _;

/// Which snapshots to consider. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep snapshots of these hosts.
    pub hosts: Vec<String>,
    /// Keep snapshots carrying all of these tags.
    pub tags: Vec<String>,
    /// Keep snapshots of these databases: a name ([`Manifest::database`], so `shop` for a
    /// piped `shop.sql`), an identity ([`Manifest::identity`], e.g. `postgres db1:5432/shop`),
    /// or for a piped stream its stream name (`shop.sql`).
    pub databases: Vec<String>,
}

impl Filter {
    /// Whether `m` passes.
    pub fn matches(&self, m: &Manifest) -> bool {
        let first = m.streams.first().map(|s| s.name.as_str());
        self.passes(&m.host, &m.tags, &m.source, first)
    }

    /// Whether the snapshot a catalogue entry summarises passes: as [`Filter::matches`] of
    /// [`CatalogueEntry::to_manifest`], without building the manifest.
    pub fn matches_entry(&self, e: &CatalogueEntry) -> bool {
        let first = e.streams.first().map(|s| s.name.as_str());
        self.passes(&e.host, &e.tags, &e.source, first)
    }

    /// The catalogue's view for this filter: with `--database`, only the catalogue parts
    /// of those databases are read (`repo-format.md` section 17), so one database's listing
    /// costs what its own history costs; the view may hold other snapshots too.
    ///
    /// Errors: as [`crate::repository::catalogue::load`].
    pub fn load(&self, repo: &Repository) -> Result<crate::repository::catalogue::View> {
        use crate::repository::catalogue::{load_where, Want};
        load_where(repo, Want::Databases(&self.databases))
    }

    /// The test of both: host, tags, and the database as recorded, by identity, or (piped
    /// streams) by the first stream's name.
    fn passes(
        &self,
        host: &str,
        tags: &[String],
        source: &crate::source::SourceInfo,
        first_stream: Option<&str>,
    ) -> bool {
        let wanted = |s: &str| self.databases.iter().any(|d| d == s);
        let database = || source.database_for(first_stream);
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h == host))
            && self.tags.iter().all(|t| tags.contains(t))
            && (self.databases.is_empty()
                || database().is_some_and(|d| wanted(&d))
                || database().is_some_and(|d| wanted(&source.identity_of(&d)))
                || (source.is_stream() && first_stream.is_some_and(wanted)))
    }
}

/// A snapshot and its manifest.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    /// Snapshot id.
    pub id: Id,
    /// The manifest. From [`list`] and [`load_catalogued`] (the catalogue), every stream's
    /// `sections` is empty: use [`SnapshotEntry::complete`] (or [`find`]) where the table
    /// sections are needed.
    pub manifest: Manifest,
}

impl SnapshotEntry {
    /// This snapshot with its full manifest, read from `snapshots/<id>` (table sections
    /// included).
    ///
    /// Errors: as [`Repository::load_manifest`]; [`Error::Backend`] (not found) when the
    /// snapshot was forgotten meanwhile.
    pub fn complete(&self, repo: &Repository) -> Result<SnapshotEntry> {
        Ok(SnapshotEntry {
            id: self.id,
            manifest: repo.load_manifest(&self.id)?,
        })
    }

    /// The snapshot time ([`parse_time`] of the manifest's; the Unix epoch when it has none).
    pub fn time(&self) -> jiff::Timestamp {
        parse_time(&self.manifest.time).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// The snapshot time in the UTC offset it was taken at (the manifest's), to the second, as
    /// RFC 3339: `2026-12-06T14:00:00+01:00` (`+00:00` when the manifest gives none).
    pub fn local_time(&self) -> String {
        self.local_time_at(self.time())
    }

    /// [`SnapshotEntry::local_time`] where `time` is [`SnapshotEntry::time`], computed
    /// already (a listing that shows both parses the time once).
    pub fn local_time_at(&self, time: jiff::Timestamp) -> String {
        use jiff::fmt::temporal::{Pieces, PiecesOffset};
        let offset = match Pieces::parse(self.manifest.time.as_str()).map(|p| p.offset()) {
            Ok(Some(PiecesOffset::Numeric(n))) => n.offset(),
            _ => jiff::tz::Offset::UTC,
        };
        let mut out = String::with_capacity(25);
        let dt = offset.to_datetime(time);
        let secs = offset.seconds();
        if secs % 60 == 0 && push_civil(&mut out, dt, 'T') {
            let (sign, abs) = (if secs < 0 { '-' } else { '+' }, secs.unsigned_abs());
            let (h, m) = (abs / 3600, abs % 3600 / 60);
            let _ = write!(out, "{sign}{h:02}:{m:02}");
            return out;
        }
        let tz = jiff::tz::TimeZone::fixed(offset);
        (time.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z")).to_string()
    }
}

/// Appends `dt` as `strftime("%Y-%m-%d{sep}%H:%M:%S")` does (`2026-12-06 14:00:00`, or with
/// `T`), without interpreting a format; returns `false` and appends nothing for a year
/// outside 0–9999 (then use `strftime`).
pub fn push_civil(out: &mut String, dt: jiff::civil::DateTime, sep: char) -> bool {
    if !(0..=9999).contains(&dt.year()) {
        return false;
    }
    let y = dt.year() as u16;
    let digits = |n: u16| (b'0' + (n % 10) as u8) as char;
    out.extend([digits(y / 1000), digits(y / 100), digits(y / 10), digits(y)]);
    let two = |out: &mut String, c: char, n: i8| {
        let n = n as u16;
        out.extend([c, digits(n / 10), digits(n)]);
    };
    two(out, '-', dt.month());
    two(out, '-', dt.day());
    two(out, sep, dt.hour());
    two(out, ':', dt.minute());
    two(out, ':', dt.second());
    true
}

/// Every readable snapshot of a repository, and the ones that are damaged.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Snapshots whose manifest loaded, oldest first.
    pub entries: Vec<SnapshotEntry>,
    /// Snapshots whose manifest file fails authentication, does not match its name or does
    /// not decode ([`Error::Corrupt`]), in id order.
    pub damaged: Vec<Id>,
}

/// Every snapshot of the repository from the catalogue (see
/// [`crate::repository::catalogue::load`]): manifests without table sections, oldest first; a
/// snapshot without a catalogue entry has its manifest read, and a damaged one is set aside
/// in [`Loaded::damaged`]. Prints nothing but the warning for a damaged catalogue file.
///
/// Errors: as [`crate::repository::catalogue::load`].
pub fn load_catalogued(repo: &Repository) -> Result<Loaded> {
    let view = crate::repository::catalogue::load(repo)?;
    let mut out = Loaded {
        entries: (view.entries.iter())
            .map(|e| SnapshotEntry {
                id: Id(e.id),
                manifest: e.to_manifest(),
            })
            .collect(),
        damaged: view.damaged,
    };
    out.entries.sort_by_cached_key(|e| (e.time(), e.id));
    Ok(out)
}

/// Loads every snapshot manifest (table sections included; prune's walk and what needs the
/// chunk lists of all snapshots), leniently: a damaged manifest ([`Error::Corrupt`]) is set
/// aside in [`Loaded::damaged`] instead of failing the whole listing, and a manifest removed
/// while listing (a concurrent `forget`) is skipped silently. Prints nothing; see [`list`]
/// for the warning.
///
/// Errors: listing fails, or a manifest cannot be read for another reason (storage error,
/// [`Error::UnsupportedVersion`]: a newer dumpvault wrote it, so it is not damaged and must
/// not be treated as absent).
pub fn load_all(repo: &Repository) -> Result<Loaded> {
    let mut out = Loaded::default();
    for (id, _) in repo.list(FileKind::Snapshot)? {
        match repo.load_manifest(&id) {
            Ok(manifest) => out.entries.push(SnapshotEntry { id, manifest }),
            Err(Error::Corrupt { .. }) => out.damaged.push(id),
            Err(Error::Backend(e)) if e.class == crate::backend::ErrorClass::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    out.entries.sort_by_cached_key(|e| (e.time(), e.id));
    Ok(out)
}

/// Warns on stderr, once per process for each id, that the snapshot files `damaged` are
/// skipped: `dumpvault: warning: snapshots/<id>: corrupt or tampered data; it is skipped
/// (...)`.
pub fn warn_damaged(damaged: &[Id]) {
    static WARNED: std::sync::Mutex<Vec<Id>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    for id in damaged {
        if warned.contains(id) {
            continue;
        }
        warned.push(*id);
        eprintln!(
            "dumpvault: warning: {}: corrupt or tampered data; it is skipped \
             (`dumpvault check` reports it, `dumpvault repair snapshots --forget-broken` \
             removes it)",
            FileKind::Snapshot.path(id)
        );
    }
}

/// All readable snapshots passing `filter`, oldest first, from the catalogue (manifests
/// without table sections, see [`load_catalogued`]). Damaged manifests are skipped with a
/// warning on stderr ([`warn_damaged`]), so one damaged file does not block listing,
/// restoring the others, retention or statistics; `check` still reports it.
///
/// Errors: as [`load_catalogued`].
pub fn list(repo: &Repository, filter: &Filter) -> Result<Vec<SnapshotEntry>> {
    let view = filter.load(repo)?;
    warn_damaged(&view.damaged);
    let mut out: Vec<SnapshotEntry> = (view.entries.iter())
        .filter(|e| filter.matches_entry(e))
        .map(|e| SnapshotEntry {
            id: Id(e.id),
            manifest: e.to_manifest(),
        })
        .collect();
    out.sort_by_cached_key(|e| (e.time(), e.id));
    Ok(out)
}

/// Resolves `latest` (the newest usable snapshot passing `filter`, chosen from the catalogue,
/// see [`newest_usable`]: snapshots tagged `incomplete` and entries whose manifest is missing
/// are skipped with a warning on stderr) or a unique id prefix (filter ignored); returns the
/// full manifest (table sections included).
///
/// Errors: [`Error::NotFound`] when nothing matches (or every match is skipped),
/// [`Error::Invalid`] when a prefix is ambiguous, [`Error::Corrupt`] when the snapshot an id
/// names is catalogued but its manifest is missing ([`missing_manifest`]).
pub fn find(repo: &Repository, spec: &str, filter: &Filter) -> Result<SnapshotEntry> {
    if spec == "latest" {
        // The newest as `list` orders them (time, then id), without building every manifest.
        let view = filter.load(repo)?;
        warn_damaged(&view.damaged);
        let mut matching: Vec<(jiff::Timestamp, Id, &CatalogueEntry)> = (view.entries.iter())
            .filter(|e| filter.matches_entry(e))
            .map(|e| {
                let t = parse_time(&e.time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                (t, Id(e.id), &**e)
            })
            .collect();
        matching.sort_unstable_by_key(|&(t, id, _)| (t, id));
        let newest_first = matching.iter().rev().map(|&(_, id, e)| (id, &e.tags[..]));
        let none = format!(
            "no snapshot in {} matches the filter; list them with `dumpvault snapshots`",
            repo.backend().location()
        );
        return newest_usable(repo, newest_first, &none);
    }
    let id = find_id(repo, spec)?;
    Ok(SnapshotEntry {
        id,
        manifest: repo
            .load_manifest(&id)
            .map_err(|e| missing_manifest(&id, e))?,
    })
}

/// The snapshot a unique id prefix `spec` names, among those that exist (with config version
/// 2 or later the catalogue's, else the listing of `snapshots/`), without reading its
/// manifest.
///
/// Errors: [`Error::NotFound`] when nothing matches, [`Error::Invalid`] when the prefix is
/// ambiguous; as [`crate::repository::catalogue::load`].
pub fn find_id(repo: &Repository, spec: &str) -> Result<Id> {
    let spec_l = spec.to_ascii_lowercase();
    // With config version 2 the catalogue says which snapshots exist (a forgotten manifest
    // not deleted yet is not one); with version 1 the listing of `snapshots/` does.
    let existing: Vec<Id> = match repo.config().catalogue_authoritative() {
        true => (crate::repository::catalogue::load(repo)?.entries.iter())
            .map(|e| Id(e.id))
            .collect(),
        false => (repo.list(FileKind::Snapshot)?.into_iter())
            .map(|(id, _)| id)
            .collect(),
    };
    let matches: Vec<Id> = (existing.into_iter())
        .filter(|id| id.to_hex().starts_with(&spec_l))
        .collect();
    match matches.as_slice() {
        [id] => Ok(*id),
        [] => Err(Error::NotFound(format!(
            "no snapshot {spec:?} in {}; list them with `dumpvault snapshots`",
            repo.backend().location()
        ))),
        _ => Err(Error::Invalid(format!(
            "snapshot id prefix {spec:?} is ambiguous; give more digits"
        ))),
    }
}

/// True for the error of reading a file that is not there.
fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Backend(b) if b.class == crate::backend::ErrorClass::NotFound)
}

/// `e`, the error of reading the manifest of snapshot `id`, made to say what a missing
/// manifest means ([`Error::Corrupt`], exit 3: the catalogue lists a snapshot whose manifest
/// file was lost or deleted) and what to do; any other error unchanged.
pub fn missing_manifest(id: &Id, e: Error) -> Error {
    if !is_not_found(&e) {
        return e;
    }
    Error::corrupt(
        format!("snapshot {}", id.short()),
        format!(
            "its manifest {} is missing (lost or deleted), so the snapshot is listed but \
             cannot be read; `dumpvault repair snapshots --forget-broken` (or `dumpvault \
             prune`) drops the entry; restore another snapshot (`dumpvault snapshots`)",
            FileKind::Snapshot.path(id)
        ),
    )
}

/// The snapshot `latest` names among `newest_first` (ids with their tags, newest first):
/// the first one not tagged `incomplete` ([`crate::retention::is_incomplete`]: a cut-short
/// dump stored with `--allow-incomplete`) whose manifest exists, with its full manifest.
/// Each snapshot passed over is named in a warning on stderr: a newer incomplete one (give
/// its id to use it anyway), and a catalogued one whose manifest file is missing (with the
/// command that drops the entry).
///
/// Errors: [`Error::NotFound`] when none is usable: with the message `none` when there is no
/// candidate, else with one naming the skipped ones; storage
/// errors reading a manifest (other than its absence).
pub fn newest_usable<'a>(
    repo: &Repository,
    newest_first: impl IntoIterator<Item = (Id, &'a [String])>,
    none: &str,
) -> Result<SnapshotEntry> {
    let (mut incomplete, mut missing) = (Vec::new(), Vec::new());
    for (id, tags) in newest_first {
        if crate::retention::is_incomplete(tags) {
            incomplete.push(id);
            continue;
        }
        match repo.load_manifest(&id) {
            Ok(manifest) => {
                if let Some(list) = short_ids(&incomplete) {
                    eprintln!(
                        "dumpvault: warning: `latest` is snapshot {}: newer snapshot(s) {list} \
                         are tagged `incomplete` (the dump was cut short, stored with \
                         --allow-incomplete) and were skipped; give an id to use one anyway",
                        id.short()
                    );
                }
                return Ok(SnapshotEntry { id, manifest });
            }
            Err(e) if is_not_found(&e) => {
                eprintln!(
                    "dumpvault: warning: `latest` skipped snapshot {}: its manifest {} is \
                     missing (lost or deleted); `dumpvault repair snapshots --forget-broken` \
                     (or `dumpvault prune`) drops the entry",
                    id.short(),
                    FileKind::Snapshot.path(&id)
                );
                missing.push(id);
            }
            Err(e) => return Err(e),
        }
    }
    let mut why = Vec::new();
    if let Some(list) = short_ids(&incomplete) {
        why.push(format!(
            "{list} tagged `incomplete` (cut-short dumps; give an id to use one anyway)"
        ));
    }
    if let Some(list) = short_ids(&missing) {
        why.push(format!(
            "{list} with a missing manifest (`dumpvault repair snapshots --forget-broken` \
             drops them)"
        ));
    }
    Err(Error::NotFound(match why.is_empty() {
        true => none.to_string(),
        false => format!(
            "no usable snapshot for `latest` in {}: skipped {}; list them with \
             `dumpvault snapshots`",
            repo.backend().location(),
            why.join(", and ")
        ),
    }))
}

/// `1a2b3c4d, 5e6f7a8b` for a non-empty list.
fn short_ids(ids: &[Id]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.iter().map(Id::short).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::StreamRef;
    use crate::source::SourceInfo;

    fn manifest(host: &str, tags: &[&str], source: SourceInfo, stream: &str) -> Manifest {
        Manifest {
            time: "2026-12-06T10:00:00+00:00".into(),
            host: host.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            source,
            streams: vec![StreamRef {
                name: stream.into(),
                size: 1,
                blake3: [0; 32],
                root: [0; 32],
                chunks: 1,
                sections: vec![],
            }],
            summary: Default::default(),
            original: None,
        }
    }

    /// Times of every shape a manifest may hold, and some it should not.
    const TIMES: [&str; 16] = [
        "2026-12-06T08:06:22+01:00[Europe/Berlin]",
        "2026-12-06T08:06:22.123456789+01:00[Europe/Berlin]",
        "2026-12-06T08:06:22+05:00[Europe/Berlin]",
        "2026-10-25T02:30:00+01:00[Europe/Berlin]",
        "2026-10-25T02:30:00+02:00[Europe/Berlin]",
        "2026-12-06T09:00:00Z",
        "2026-12-06T09:00:00Z[America/New_York]",
        "2019-01-01T00:00:00+00:00[UTC]",
        "2026-12-06T08:06:22-03:30",
        "2026-12-06T08:06:22+01:00[+01:00]",
        "2026-12-06T10:00:00[Europe/Paris]",
        "0005-03-04T05:06:07+05:30",
        "-000044-03-15T12:00:00+00:00",
        "2026-12-06T08:06:22+01:00[Nowhere/Atlantis]",
        "not a time",
        "",
    ];

    #[test]
    fn parse_time_reads_every_time_as_the_zoned_time_first_did() {
        // The old order: a zoned time, then a timestamp.
        let old = |s: &str| {
            (s.parse::<jiff::Zoned>().map(|z| z.timestamp()))
                .or_else(|_| s.parse::<jiff::Timestamp>())
                .ok()
        };
        for t in TIMES {
            assert_eq!(parse_time(t), old(t), "{t:?}");
        }
        assert!(
            parse_time(TIMES[10]).is_some(),
            "a zoned time without offset"
        );
    }

    #[test]
    fn civil_times_and_local_times_are_written_as_strftime_writes_them() {
        let tz = jiff::tz::TimeZone::get("America/St_Johns").unwrap();
        for t in TIMES.iter().filter_map(|t| parse_time(t)) {
            for z in [jiff::tz::TimeZone::UTC, tz.clone()] {
                let zoned = t.to_zoned(z.clone());
                for sep in [' ', 'T'] {
                    let mut s = String::from("x");
                    let want = zoned
                        .strftime(&format!("%Y-%m-%d{sep}%H:%M:%S"))
                        .to_string();
                    match push_civil(&mut s, z.to_datetime(t), sep) {
                        true => assert_eq!(s, format!("x{want}")),
                        false => assert!(s == "x" && t.to_zoned(z.clone()).year() < 0, "{t}"),
                    }
                }
            }
        }
        for t in TIMES {
            let mut m = manifest("h", &[], SourceInfo::default(), "s");
            m.time = t.into();
            let e = SnapshotEntry {
                id: Id([1; 32]),
                manifest: m,
            };
            // The old computation: the offset of the string, the time shown in it.
            use jiff::fmt::temporal::{Pieces, PiecesOffset};
            let offset = match Pieces::parse(t).map(|p| p.offset()) {
                Ok(Some(PiecesOffset::Numeric(n))) => n.offset(),
                _ => jiff::tz::Offset::UTC,
            };
            let z = parse_time(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let z = z.to_zoned(jiff::tz::TimeZone::fixed(offset));
            let want = z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
            assert_eq!(e.local_time(), want, "{t:?}");
        }
    }

    #[test]
    fn a_catalogue_entry_matches_exactly_as_its_manifest() {
        let db = |kind: &str, name: Option<&str>, options: &[&str]| SourceInfo {
            kind: kind.into(),
            database: name.map(str::to_string),
            options: options.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        };
        let manifests = [
            manifest(
                "h1",
                &["fleet"],
                db("postgres", Some("shop"), &[]),
                "shop.sql",
            ),
            manifest("h2", &[], db("stdin", None, &[]), "crm.sql.gz"),
            manifest(
                "h1",
                &["fleet", "job=x"],
                db("command", Some("crm"), &[]),
                "x.sql",
            ),
            manifest("h2", &["keep"], db("sqlite", Some("a.db"), &[]), "a.sql"),
        ];
        let f = |hosts: &[&str], tags: &[&str], dbs: &[&str]| Filter {
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            databases: dbs.iter().map(|s| s.to_string()).collect(),
        };
        let mut filters = vec![
            f(&[], &[], &[]),
            f(&["h1"], &[], &[]),
            f(&["h2", "h3"], &["keep"], &[]),
            f(&[], &["fleet", "job=x"], &[]),
            f(&[], &[], &["crm"]),
            f(&[], &[], &["stream crm", "a.db"]),
            f(&[], &[], &["crm.sql.gz"]),
            f(&["h1"], &["fleet"], &["shop", "x.sql"]),
        ];
        for m in &manifests {
            filters.extend(m.identity().map(|i| f(&[], &[], &[i.as_str()])));
        }
        let mut matched = 0;
        for m in &manifests {
            let e = CatalogueEntry::of([1; 32], 1, m);
            for filter in &filters {
                assert_eq!(
                    filter.matches_entry(&e),
                    filter.matches(m),
                    "{filter:?} {m:?}"
                );
                matched += usize::from(filter.matches(m));
            }
        }
        assert!(matched > manifests.len(), "the filters select something");
    }
}
