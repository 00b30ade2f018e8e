//! `diff`: what changed between two snapshots of the same database, per table.
//!
//! Each stream's chunk list (list blobs) gives every chunk's byte range, and a byte of
//! snapshot `b` counts as changed when it lies in a chunk that no stream of snapshot `a` holds.
//! A table's rows and byte sizes come from the manifests' sections (schema and data sections
//! with that `table`). Chunks are about 16 KiB, so a change near a table's edge also lands in
//! chunks holding some of the neighbouring table's bytes; for a table with the same rows and
//! size in both, those bytes (and only those) are read from both snapshots and compared, and
//! the table counts 0 changed bytes when they are equal.
//!
//! For every table whose bytes changed, the rows of both snapshots are compared ([`join`]):
//! rows inserted, updated and deleted, matched on the primary key parsed from the table's DDL
//! ([`ddl`]), and the columns, indexes, constraints and triggers added, dropped or altered.
//! [`rows`] streams the changed rows of one table.

mod ddl;
mod join;
mod rows;

pub use ddl::SchemaChange;
pub use join::{RowChange, RowCounts, RowOp, Values};

use crate::commands::snapshots::{self, Filter, SnapshotEntry};
use crate::error::{Error, Result};
use crate::format::snapshot::{Manifest, StreamRef};
use crate::id::Id;
use crate::index::Index;
use crate::repository::Repository;
use crate::source::Dialect;
use crate::stream::{Node, Walk};
use crate::tables::select::{display_name, match_table, NameMatch};
use crate::tables::{table_summaries, Section, SectionKind, TableSummary};
use serde::Serialize;
use std::collections::HashSet;
use std::ops::Range;

/// How a table differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// Only in `b`.
    Added,
    /// Only in `a`.
    Removed,
    /// In both, with changed bytes or a different row count or size.
    Changed,
    /// In both, every byte in chunks `a` holds, same rows and size.
    Unchanged,
}

/// One table's difference.
#[derive(Debug, Clone, Serialize)]
pub struct TableDiff {
    /// Stream the table is in (e.g. `shop.sql`).
    pub stream: String,
    /// Table name as the dump names it (`public.orders`).
    pub table: String,
    /// What happened to it.
    pub status: TableStatus,
    /// Data rows in `a` (`None` when absent there or when the dump holds no rows section).
    pub rows_before: Option<u64>,
    /// Data rows in `b`.
    pub rows_after: Option<u64>,
    /// Bytes of its sections (DDL and data) in `a`, bytes.
    pub bytes_before: u64,
    /// Bytes of its sections in `b`, bytes.
    pub bytes_after: u64,
    /// Bytes of its sections in `b` that lie in chunks `a` does not hold, bytes.
    pub bytes_changed: u64,
    /// Rows only in `b` (all of them for an added table); `None` when the rows could not be
    /// compared (see `note`).
    pub rows_inserted: Option<u64>,
    /// Rows in both with the same key and other values.
    pub rows_updated: Option<u64>,
    /// Rows only in `a` (all of them for a removed table).
    pub rows_deleted: Option<u64>,
    /// How rows were matched: `primary key (id)` or `whole rows`; `None` when not compared.
    pub compared_by: Option<String>,
    /// Why rows were matched by hash or not compared at all, when so.
    pub note: Option<String>,
    /// Columns, indexes, constraints and triggers added, dropped or altered.
    pub schema_changes: Vec<SchemaChange>,
}

impl TableDiff {
    /// Table `o` of stream `stream`, present in the first snapshot only.
    fn removed(stream: &str, o: &crate::tables::TableSummary) -> Self {
        TableDiff {
            stream: stream.to_string(),
            table: o.name.clone(),
            status: TableStatus::Removed,
            rows_before: o.rows,
            rows_after: None,
            bytes_before: o.bytes,
            bytes_after: 0,
            bytes_changed: 0,
            rows_inserted: Some(0),
            rows_updated: Some(0),
            rows_deleted: o.rows,
            compared_by: None,
            note: None,
            schema_changes: vec![],
        }
    }
}

/// One stream's difference.
#[derive(Debug, Clone, Serialize)]
pub struct StreamDiff {
    /// Stream name.
    pub name: String,
    /// Size in `a`, bytes (`None` when `a` has no such stream).
    pub size_before: Option<u64>,
    /// Size in `b`, bytes (`None` when `b` has no such stream).
    pub size_after: Option<u64>,
    /// Bytes of the stream in `b` that lie in chunks `a` does not hold, bytes.
    pub bytes_changed: u64,
}

/// The difference between two snapshots.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Snapshot `a` (hex id).
    pub a: String,
    /// Snapshot `b` (hex id).
    pub b: String,
    /// Time of `a` as recorded.
    pub a_time: String,
    /// Time of `b` as recorded.
    pub b_time: String,
    /// The database both are of (for piped streams, from the stream name unless recorded).
    pub database: Option<String>,
    /// Per stream, `b`'s streams first (in order), then those only `a` has.
    pub streams: Vec<StreamDiff>,
    /// Per table, in `b`'s order, then the tables only `a` has.
    pub tables: Vec<TableDiff>,
    /// Sealed bytes `b` added to the repository when it was taken (its `summary.bytes_added`).
    pub b_bytes_added: u64,
}

/// A stream's chunks: (id, byte range) in stream order.
fn chunks(repo: &Repository, index: &Index, s: &StreamRef) -> Result<Vec<(Id, Range<u64>)>> {
    let mut out = Vec::with_capacity(s.chunks as usize);
    for n in Walk::of(repo, index, Id(s.root)) {
        if let Node::Chunk(c) = n? {
            out.push((c.id, c.offset..c.offset + c.size));
        }
    }
    Ok(out)
}

/// Bytes of `ranges` (sorted, disjoint) that overlap `r`.
fn overlap(ranges: &[Range<u64>], r: &Range<u64>) -> u64 {
    let from = ranges.partition_point(|c| c.end <= r.start);
    ranges[from..]
        .iter()
        .take_while(|c| c.start < r.end)
        .map(|c| c.end.min(r.end) - c.start.max(r.start))
        .sum()
}

/// Bytes in the sections of `table` that overlap `changed`.
fn table_changed(sections: &[Section], table: &str, changed: &[Range<u64>]) -> u64 {
    sections
        .iter()
        .filter(|s| s.table.as_deref() == Some(table))
        .map(|s| overlap(changed, &(s.start..s.end)))
        .sum()
}

/// The two streams being compared, for [`same_bytes`].
struct Pair<'a> {
    repo: &'a Repository,
    index: &'a Index,
    a: (&'a Id, &'a StreamRef),
    b: (&'a Id, &'a StreamRef),
}

/// Whether the bytes of `table` in `b` that lie in `changed` chunks equal the bytes at the
/// same places (relative to each section's start) in `a`: then only a neighbour of the table
/// changed within a shared chunk (such as the random `\restrict` key pg_dump 17 writes in the
/// preamble). `None` when the table's sections do not line up (different number, kinds,
/// names or lengths), so no byte-wise comparison applies. Reads only those bytes.
fn same_bytes(p: &Pair, table: &str, changed: &[Range<u64>]) -> Result<Option<bool>> {
    let secs = |s: &StreamRef| -> Vec<Section> {
        s.sections
            .iter()
            .filter(|x| x.table.as_deref() == Some(table))
            .cloned()
            .collect()
    };
    let (sa, sb) = (secs(p.a.1), secs(p.b.1));
    let lined_up = sa.len() == sb.len()
        && sa.iter().zip(&sb).all(|(x, y)| {
            x.kind == y.kind
                && x.object_type == y.object_type
                && x.name == y.name
                && x.end - x.start == y.end - y.start
        });
    if !lined_up {
        return Ok(None);
    }
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for (x, y) in sa.iter().zip(&sb) {
        let from = changed.partition_point(|c| c.end <= y.start);
        for c in changed[from..].iter().take_while(|c| c.start < y.end) {
            let (s, e) = (c.start.max(y.start), c.end.min(y.end));
            rb.push(s..e);
            ra.push(s - y.start + x.start..e - y.start + x.start);
        }
    }
    let read = |(id, s): (&Id, &StreamRef), ranges: &[Range<u64>]| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        crate::commands::restore::run(
            p.repo,
            p.index,
            id,
            s,
            Some(ranges),
            &mut out,
            &crate::progress::NoProgress,
        )?;
        Ok(out)
    };
    Ok(Some(read(p.a, &ra)? == read(p.b, &rb)?))
}

/// Whether two snapshots are of one database: the same identity
/// ([`crate::format::snapshot::Manifest::identity`]), or the same engine and name when one was
/// written before the server (or file) was recorded.
fn same_database(a: &Manifest, b: &Manifest) -> bool {
    if a.identity() == b.identity() {
        return true;
    }
    let bare =
        |m: &Manifest| m.database().map(|d| format!("{} {d}", m.source.kind)) == m.identity();
    a.source.kind == b.source.kind && a.database() == b.database() && (bare(a) || bare(b))
}

/// Finds snapshots `a` and `b` and checks that they are of one database.
fn pair(repo: &Repository, a: &str, b: &str) -> Result<(SnapshotEntry, SnapshotEntry)> {
    let a = snapshots::find(repo, a, &Filter::default())?;
    let b = snapshots::find(repo, b, &Filter::default())?;
    if !same_database(&a.manifest, &b.manifest) {
        let name = |e: &SnapshotEntry| {
            let id = e.manifest.identity();
            format!(
                "{} ({})",
                e.id.short(),
                id.as_deref().unwrap_or("without database")
            )
        };
        return Err(Error::Invalid(format!(
            "snapshots {} and {} are not of the same database; diff compares two snapshots of \
             one database (list them with `dumpvault snapshots --database NAME`)",
            name(&a),
            name(&b)
        )));
    }
    Ok((a, b))
}

/// Compares snapshot `a` with snapshot `b` (id prefixes or `latest`): per table the bytes,
/// the rows inserted, updated and deleted (reading the data of each table whose bytes
/// changed, in constant memory) and the schema changes.
///
/// Errors: [`Error::Invalid`] when the two are of different databases or sources (`diff`
/// compares two snapshots of one database); an unknown or ambiguous snapshot; a list blob
/// or data chunk that cannot be read ([`Error::Corrupt`] naming its pack).
pub fn run(repo: &Repository, a: &str, b: &str) -> Result<Diff> {
    let (a, b) = pair(repo, a, b)?;
    let (ma, mb) = (&a.manifest, &b.manifest);
    let index = Index::load(repo)?;
    let mut held: HashSet<Id> = HashSet::new();
    for s in &ma.streams {
        held.extend(chunks(repo, &index, s)?.into_iter().map(|c| c.0));
    }
    let mut streams = Vec::new();
    let mut tables = Vec::new();
    for sb in &mb.streams {
        let sa = ma.streams.iter().find(|s| s.name == sb.name);
        let dialects = match sa {
            Some(sa) => Some((
                dialect(repo, &index, &a, sa)?,
                dialect(repo, &index, &b, sb)?,
            )),
            None => None,
        };
        let changed = changed_ranges(repo, &index, &held, sb)?;
        streams.push(StreamDiff {
            name: sb.name.clone(),
            size_before: sa.map(|s| s.size),
            size_after: Some(sb.size),
            bytes_changed: changed.iter().map(|r| r.end - r.start).sum(),
        });
        let sides = Sides {
            repo,
            index: &index,
            a: &a.id,
            b: &b.id,
            sa,
            sb,
            dialects,
            changed,
        };
        diff_tables(&sides, &mut tables)?;
    }
    for sa in ma
        .streams
        .iter()
        .filter(|s| !mb.streams.iter().any(|b| b.name == s.name))
    {
        streams.push(StreamDiff {
            name: sa.name.clone(),
            size_before: Some(sa.size),
            size_after: None,
            bytes_changed: 0,
        });
        for o in table_summaries(&sa.sections) {
            tables.push(TableDiff::removed(&sa.name, &o));
        }
    }
    Ok(Diff {
        a: a.id.to_hex(),
        b: b.id.to_hex(),
        a_time: ma.time.clone(),
        b_time: mb.time.clone(),
        database: mb.database(),
        streams,
        tables,
        b_bytes_added: mb.summary.bytes_added,
    })
}

/// The byte ranges of stream `sb` in chunks that snapshot `a` does not hold (`held`), in
/// order, adjacent ones merged.
fn changed_ranges(
    repo: &Repository,
    index: &Index,
    held: &HashSet<Id>,
    sb: &StreamRef,
) -> Result<Vec<Range<u64>>> {
    let mut changed: Vec<Range<u64>> = Vec::new();
    for (id, r) in chunks(repo, index, sb)? {
        if held.contains(&id) {
            continue;
        }
        match changed.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => changed.push(r),
        }
    }
    Ok(changed)
}

/// A stream of snapshot `b` and its namesake in snapshot `a`, if any, being compared.
struct Sides<'a> {
    repo: &'a Repository,
    index: &'a Index,
    /// Snapshot ids.
    a: &'a Id,
    b: &'a Id,
    /// The stream in `a` (none: the stream is new) and in `b`.
    sa: Option<&'a StreamRef>,
    sb: &'a StreamRef,
    /// The dialects of the two streams, when `sa` exists.
    dialects: Option<(Option<Dialect>, Option<Dialect>)>,
    /// Byte ranges of `sb` in chunks `a` does not hold ([`changed_ranges`]).
    changed: Vec<Range<u64>>,
}

/// Appends to `tables` one entry per table of the stream in `b`, then one per table only the
/// stream in `a` has (removed).
fn diff_tables(sides: &Sides, tables: &mut Vec<TableDiff>) -> Result<()> {
    let before = (sides.sa)
        .map(|s| table_summaries(&s.sections))
        .unwrap_or_default();
    let after = table_summaries(&sides.sb.sections);
    for t in &after {
        let old = before.iter().find(|o| o.name == t.name);
        tables.push(diff_table(sides, t, old)?);
    }
    for o in before
        .iter()
        .filter(|o| !after.iter().any(|t| t.name == o.name))
    {
        tables.push(TableDiff::removed(&sides.sb.name, o));
    }
    Ok(())
}

/// Table `t` of the stream in `b` against its namesake `old` in `a`: its status, bytes and
/// rows; the rows inserted, updated and deleted are read for a changed table.
fn diff_table(sides: &Sides, t: &TableSummary, old: Option<&TableSummary>) -> Result<TableDiff> {
    let (sa, sb, changed) = (sides.sa, sides.sb, &sides.changed);
    let mut bytes_changed = table_changed(&sb.sections, &t.name, changed);
    if let (Some(o), Some(sa)) = (old, sa) {
        if bytes_changed > 0 && o.rows == t.rows && o.bytes == t.bytes {
            let pair = Pair {
                repo: sides.repo,
                index: sides.index,
                a: (sides.a, sa),
                b: (sides.b, sb),
            };
            if same_bytes(&pair, &t.name, changed)? == Some(true) {
                bytes_changed = 0;
            }
        }
    }
    let status = match old {
        None => TableStatus::Added,
        Some(o) if bytes_changed > 0 || o.rows != t.rows || o.bytes != t.bytes => {
            TableStatus::Changed
        }
        Some(_) => TableStatus::Unchanged,
    };
    let mut d = TableDiff {
        stream: sb.name.clone(),
        table: t.name.clone(),
        status,
        rows_before: old.and_then(|o| o.rows),
        rows_after: t.rows,
        bytes_before: old.map(|o| o.bytes).unwrap_or(0),
        bytes_after: t.bytes,
        bytes_changed,
        rows_inserted: None,
        rows_updated: None,
        rows_deleted: None,
        compared_by: None,
        note: None,
        schema_changes: vec![],
    };
    match (status, sa) {
        (TableStatus::Unchanged, _) => {
            (d.rows_inserted, d.rows_updated, d.rows_deleted) = (Some(0), Some(0), Some(0));
        }
        (TableStatus::Added, _) | (_, None) => {
            (d.rows_inserted, d.rows_updated, d.rows_deleted) = (t.rows, Some(0), Some(0));
        }
        (_, Some(sa)) => {
            let (da, db) = sides.dialects.unwrap_or((None, None));
            let two = Two {
                repo: sides.repo,
                index: sides.index,
                a: (sides.a, sa, da),
                b: (sides.b, sb, db),
            };
            compare_table(&two, &mut d)?;
        }
    }
    Ok(d)
}

/// The two sides of a stream being compared row by row: snapshot, stream, dialect.
struct Two<'a> {
    repo: &'a Repository,
    index: &'a Index,
    a: (&'a Id, &'a StreamRef, Option<Dialect>),
    b: (&'a Id, &'a StreamRef, Option<Dialect>),
}

/// Bytes `r` of a stream.
fn read_range(
    repo: &Repository,
    index: &Index,
    id: &Id,
    s: &StreamRef,
    r: Range<u64>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::commands::restore::run(
        repo,
        index,
        id,
        s,
        Some(&[r]),
        &mut out,
        &crate::progress::NoProgress,
    )?;
    Ok(out)
}

/// The SQL dialect of a stream: as recorded, from the source kind, or from its first bytes.
fn dialect(
    repo: &Repository,
    index: &Index,
    e: &SnapshotEntry,
    s: &StreamRef,
) -> Result<Option<Dialect>> {
    let src = &e.manifest.source;
    let known = src.dialect.or(match src.kind.as_str() {
        "postgres" => Some(Dialect::Postgres),
        "mysql" => Some(Dialect::MySql),
        "sqlite" => Some(Dialect::Sqlite),
        _ => None,
    });
    if known.is_some() || s.sections.is_empty() {
        return Ok(known);
    }
    let head = read_range(repo, index, &e.id, s, 0..s.size.min(1024))?;
    Ok(crate::tables::detect_dialect(&head))
}

/// One side of `table`: its data ranges and parsed definition.
fn side<'a>(
    t: &Two<'a>,
    (id, s, dialect): (&'a Id, &'a StreamRef, Option<Dialect>),
    table: &str,
) -> Result<join::Side<'a>> {
    let mine = || {
        s.sections
            .iter()
            .filter(|x| x.table.as_deref() == Some(table))
    };
    let mut create = String::new();
    let mut others = Vec::new();
    for x in mine().filter(|x| x.kind == SectionKind::Schema) {
        let text = String::from_utf8_lossy(&read_range(t.repo, t.index, id, s, x.start..x.end)?)
            .into_owned();
        if x.object_type == "TABLE" {
            create.push_str(&text);
        } else {
            others.push((x.object_type.clone(), x.name.clone(), text));
        }
    }
    let data = || mine().filter(|x| x.kind == SectionKind::Data && x.object_type == "TABLE DATA");
    Ok(join::Side {
        repo: t.repo,
        index: t.index,
        snapshot: id,
        stream: s,
        ranges: data().map(|x| x.start..x.end).collect(),
        def: ddl::parse(&create, &others),
        backslash: dialect == Some(Dialect::MySql),
        rows: data().filter_map(|x| x.rows).sum(),
    })
}

/// Fills in the row counts and schema changes of table `d` present in both snapshots. Rows
/// the parser cannot read leave the counts empty, with the reason in `note`.
fn compare_table(t: &Two, d: &mut TableDiff) -> Result<()> {
    let (sa, sb) = (side(t, t.a, &d.table)?, side(t, t.b, &d.table)?);
    d.schema_changes = ddl::changes(&sa.def, &sb.def);
    match join::compare(&sa, &sb, &d.table, None) {
        Ok(c) => {
            (d.rows_inserted, d.rows_updated, d.rows_deleted) =
                (Some(c.inserted), Some(c.updated), Some(c.deleted));
            d.compared_by = Some(c.method);
            d.note = c.note;
        }
        Err(Error::Invalid(why)) => {
            d.note = Some(format!("rows not compared ({why}): byte figures only"));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The changed rows of one table, as [`rows`] found them.
#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    /// The table, as the table index names it.
    pub table: String,
    /// Counts, and how rows were matched.
    pub counts: RowCounts,
    /// Columns, indexes, constraints and triggers added, dropped or altered.
    pub schema_changes: Vec<SchemaChange>,
}

/// Streams the changed rows of `table` from snapshot `a` to snapshot `b` to `sink`: inserted,
/// deleted and updated rows (updates with the changed columns' old and new values), in key
/// order when the rows are merge-joined on the primary key. Memory stays bounded whatever the
/// table's size. `table` is the name `ls` prints (quotes optional) or a bare name that is
/// unique.
///
/// Errors: [`Error::Invalid`] for snapshots of different databases or rows the parser cannot
/// read; [`Error::NotFound`] when neither snapshot has the table; repository read errors;
/// whatever `sink` returns.
pub fn rows(
    repo: &Repository,
    a: &str,
    b: &str,
    table: &str,
    sink: &mut dyn FnMut(RowChange) -> Result<()>,
) -> Result<TableRows> {
    let (ea, eb) = pair(repo, a, b)?;
    let mut found = Vec::new();
    for s in &eb.manifest.streams {
        let sa = ea.manifest.streams.iter().find(|x| x.name == s.name);
        let names = sa
            .map(|sa| table_summaries(&sa.sections))
            .unwrap_or_default()
            .into_iter()
            .chain(table_summaries(&s.sections))
            .map(|t| t.name);
        for n in names {
            let hit = match_table(table, &n);
            if hit != NameMatch::No && !found.iter().any(|(_, f, _)| *f == n) {
                found.push((s.name.clone(), n, hit));
            }
        }
    }
    let exact: Vec<_> = (found.iter())
        .filter(|(_, _, m)| *m == NameMatch::Whole)
        .map(|(s, n, _)| (s.clone(), n.clone()))
        .collect();
    let found: Vec<_> = found.into_iter().map(|(s, n, _)| (s, n)).collect();
    let (stream, name) = match (exact.as_slice(), found.as_slice()) {
        ([one], _) | ([], [one]) => one.clone(),
        ([], []) => {
            return Err(Error::NotFound(format!(
            "table {table} is in neither snapshot {} nor {}; `dumpvault ls {}` lists the tables",
            ea.id.short(),
            eb.id.short(),
            eb.id.short()
        )))
        }
        _ => {
            let names: Vec<_> = found.iter().map(|(_, n)| display_name(n)).collect();
            return Err(Error::Invalid(format!(
                "table name {table} is ambiguous ({}); give it schema-qualified",
                names.join(", ")
            )));
        }
    };
    let index = Index::load(repo)?;
    let sb = eb.manifest.streams.iter().find(|s| s.name == stream);
    let sa = ea.manifest.streams.iter().find(|s| s.name == stream);
    let (Some(sa), Some(sb)) = (sa, sb) else {
        return Err(Error::NotFound(format!(
            "stream {stream} is not in both snapshots {} and {}",
            ea.id.short(),
            eb.id.short()
        )));
    };
    let two = Two {
        repo,
        index: &index,
        a: (&ea.id, sa, dialect(repo, &index, &ea, sa)?),
        b: (&eb.id, sb, dialect(repo, &index, &eb, sb)?),
    };
    let (xa, xb) = (side(&two, two.a, &name)?, side(&two, two.b, &name)?);
    let counts = join::compare(&xa, &xb, &name, Some(sink))?;
    Ok(TableRows {
        table: name,
        counts,
        schema_changes: ddl::changes(&xa.def, &xb.def),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceInfo;

    fn manifest(kind: &str, db: Option<&str>, options: &[&str], stream: &str) -> Manifest {
        Manifest {
            time: "2026-01-01T00:00:00Z".into(),
            host: "h".into(),
            tags: vec![],
            source: SourceInfo {
                kind: kind.into(),
                database: db.map(Into::into),
                options: options.iter().map(|o| o.to_string()).collect(),
                ..Default::default()
            },
            streams: vec![StreamRef {
                name: stream.into(),
                size: 0,
                blake3: [0; 32],
                root: [0; 32],
                chunks: 0,
                sections: vec![],
            }],
            summary: Default::default(),
            original: None,
        }
    }

    #[test]
    fn same_database_goes_by_identity() {
        let old_shop = manifest("stdin", None, &[], "shop.sql");
        let new_shop = manifest("command", Some("shop"), &[], "shop.sql");
        let crm = manifest("stdin", None, &[], "crm.sql");
        assert!(same_database(&old_shop, &new_shop));
        assert!(!same_database(&old_shop, &crm), "two piped databases");
        let pg = |opts: &[&str]| manifest("postgres", Some("shop"), opts, "shop.sql");
        let (db1, db2) = (pg(&["server=db1:5432"]), pg(&["server=db2:5432"]));
        assert!(!same_database(&db1, &db2), "one name on two servers");
        assert!(
            same_database(&pg(&[]), &db1),
            "written before the server was recorded"
        );
        assert!(!same_database(&pg(&[]), &new_shop), "engine differs");
    }

    #[test]
    fn overlap_counts_only_shared_bytes() {
        let changed = vec![0..10, 20..30, 40..50];
        assert_eq!(overlap(&changed, &(5..25)), 10);
        assert_eq!(overlap(&changed, &(10..20)), 0);
        assert_eq!(overlap(&changed, &(0..100)), 30);
        assert_eq!(overlap(&changed, &(45..46)), 1);
        assert_eq!(overlap(&[], &(0..5)), 0);
    }
}
