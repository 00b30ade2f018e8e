//! Comparing one table's rows in two snapshots.
//!
//! Both dumps hold the rows in primary-key order (PostgreSQL `COPY (SELECT … ORDER BY pk)`,
//! MariaDB `--order-by-primary`, SQLite rowid order for an `INTEGER PRIMARY KEY`), so two
//! streaming readers of the table's data sections are merge-joined on the key: memory holds one
//! row per side and a 4 MiB read window. Each side's keys must rise strictly (by
//! [`cmp_value`]); when they do not (a text key in a locale collation, a SQLite key that is not
//! the rowid) or the table has no primary key, rows are matched by hash instead: a row line's
//! hash (or its key's) goes to a map, in as many passes over both sides as keep the map within
//! [`HASH_BUDGET`] (a pass takes the rows whose hash falls in its share), because sorting
//! would not fit in constant memory. Without a key an update shows as a delete and an insert.

use super::ddl::TableDef;
use super::rows::{cmp_value, decode, Format, Row, RowReader, Source};
use crate::error::{Error, Result};
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::Index;
use crate::repository::Repository;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

/// Plain bytes a [`RangeReader`] restores at a time, bytes.
const WINDOW: u64 = 4 << 20;

/// Memory the hash matching of one pass may use, bytes (estimated per row).
pub const HASH_BUDGET: u64 = 64 << 20;

/// Estimated memory of one row's hash entry, bytes.
const ENTRY_BYTES: u64 = 96;

/// Streams byte ranges of a snapshot's stream, one window at a time, through the restore
/// reader ([`crate::commands::restore::run`] with ranges).
pub struct RangeReader<'a> {
    repo: &'a Repository,
    index: &'a Index,
    snapshot: &'a Id,
    stream: &'a StreamRef,
    ranges: Vec<Range<u64>>,
    buf: Vec<u8>,
    at: usize,
}

impl Source for RangeReader<'_> {
    fn fill(&mut self) -> Result<&[u8]> {
        while self.at >= self.buf.len() && !self.ranges.is_empty() {
            let r = self.ranges[0].clone();
            let end = r.end.min(r.start + WINDOW);
            let window = r.start..end;
            self.buf.clear();
            self.at = 0;
            crate::commands::restore::run(
                self.repo,
                self.index,
                self.snapshot,
                self.stream,
                Some(std::slice::from_ref(&window)),
                &mut self.buf,
                &crate::progress::NoProgress,
            )?;
            if end == r.end {
                self.ranges.remove(0);
            } else {
                self.ranges[0].start = end;
            }
        }
        Ok(&self.buf[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at += n;
    }
}

/// One snapshot's side of a table.
pub struct Side<'a> {
    /// The repository.
    pub repo: &'a Repository,
    /// Its index.
    pub index: &'a Index,
    /// The snapshot.
    pub snapshot: &'a Id,
    /// The stream holding the table.
    pub stream: &'a StreamRef,
    /// Byte ranges of the table's data sections, in stream order.
    pub ranges: Vec<Range<u64>>,
    /// The table's definition.
    pub def: TableDef,
    /// Quoted strings use backslash escapes (MySQL/MariaDB).
    pub backslash: bool,
    /// Rows, as the table index counted them.
    pub rows: u64,
}

impl<'a> Side<'a> {
    fn open(&self) -> RowReader<RangeReader<'a>> {
        RowReader::new(
            RangeReader {
                repo: self.repo,
                index: self.index,
                snapshot: self.snapshot,
                stream: self.stream,
                ranges: self.ranges.clone(),
                buf: Vec::new(),
                at: 0,
            },
            self.backslash,
        )
    }
    fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }
}

/// Column values in column order, as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values(pub Vec<(String, Option<String>)>);

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOp {
    /// Only in the newer snapshot (`+`).
    Inserted,
    /// Only in the older snapshot (`-`).
    Deleted,
    /// Same key, other values (`~`).
    Updated,
}

/// One changed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowChange {
    /// What happened.
    pub op: RowOp,
    /// The key's values (empty when the table has no primary key).
    pub key: Values,
    /// Old values: the whole row for a delete, the changed columns for an update.
    pub old: Option<Values>,
    /// New values: the whole row for an insert, the changed columns for an update.
    pub new: Option<Values>,
}

/// How the rows were matched, and the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    /// Rows only in the newer snapshot.
    pub inserted: u64,
    /// Rows with the same key and other values.
    pub updated: u64,
    /// Rows only in the older snapshot.
    pub deleted: u64,
    /// `primary key (a, b)`, or `whole rows` (no usable key) with the reason in `note`.
    pub method: String,
    /// Why rows were matched by hash, and in how many passes; `None` for a merge join.
    pub note: Option<String>,
}

/// Where changed rows go; `None` to count only.
pub type Sink<'s> = Option<&'s mut dyn FnMut(RowChange) -> Result<()>>;

/// Column names and formats of both sides, and how they line up.
struct Layout {
    a_cols: Vec<String>,
    b_cols: Vec<String>,
    a_fmt: Format,
    b_fmt: Format,
    /// (a index, b index) of the columns both sides have.
    common: Vec<(usize, usize)>,
    /// Key column indexes per side (empty: no key).
    a_key: Vec<usize>,
    b_key: Vec<usize>,
    key: Vec<String>,
}

impl Layout {
    fn new<S: Source>(a: &RowReader<S>, b: &RowReader<S>, da: &TableDef, db: &TableDef) -> Self {
        let a_cols = a.columns.clone().unwrap_or_else(|| da.columns.clone());
        let b_cols = b.columns.clone().unwrap_or_else(|| db.columns.clone());
        let common = (a_cols.iter().enumerate())
            .filter_map(|(i, c)| Some((i, b_cols.iter().position(|x| x == c)?)))
            .collect();
        let pos = |cols: &[String], key: &[String]| -> Option<Vec<usize>> {
            key.iter()
                .map(|k| cols.iter().position(|c| c == k))
                .collect()
        };
        let key = if da.primary_key == db.primary_key || da.primary_key.is_empty() {
            db.primary_key.clone()
        } else {
            da.primary_key.clone()
        };
        let (a_key, b_key) = match (pos(&a_cols, &key), pos(&b_cols, &key)) {
            (Some(x), Some(y)) if !key.is_empty() => (x, y),
            _ => (vec![], vec![]),
        };
        Layout {
            a_cols,
            b_cols,
            a_fmt: a.format,
            b_fmt: b.format,
            common,
            a_key,
            b_key,
            key,
        }
    }

    fn keyed(&self) -> bool {
        !self.a_key.is_empty()
    }

    fn key_of(&self, row: &Row, a: bool) -> Option<Vec<Option<String>>> {
        let (idx, fmt) = if a {
            (&self.a_key, self.a_fmt)
        } else {
            (&self.b_key, self.b_fmt)
        };
        idx.iter()
            .map(|&i| row.get(i).map(|f| decode(f, fmt)))
            .collect()
    }

    fn values(&self, row: &Row, a: bool, only: Option<&[(usize, usize)]>) -> Values {
        let (cols, fmt) = if a {
            (&self.a_cols, self.a_fmt)
        } else {
            (&self.b_cols, self.b_fmt)
        };
        let name = |i: usize| {
            cols.get(i)
                .cloned()
                .unwrap_or_else(|| format!("column{}", i + 1))
        };
        Values(match only {
            None => (row.iter().enumerate())
                .map(|(i, f)| (name(i), decode(f, fmt)))
                .collect(),
            Some(pairs) => (pairs.iter())
                .map(|&(ia, ib)| {
                    let i = if a { ia } else { ib };
                    (name(i), row.get(i).and_then(|f| decode(f, fmt)))
                })
                .collect(),
        })
    }

    fn key_values(&self, row: &Row, a: bool) -> Values {
        let idx = if a { &self.a_key } else { &self.b_key };
        let fmt = if a { self.a_fmt } else { self.b_fmt };
        Values(
            (idx.iter().zip(&self.key))
                .map(|(&i, k)| (k.clone(), row.get(i).and_then(|f| decode(f, fmt))))
                .collect(),
        )
    }

    /// Columns both sides have whose values differ.
    fn differing(&self, x: &Row, y: &Row) -> Vec<(usize, usize)> {
        let same_fmt = self.a_fmt == self.b_fmt;
        (self.common.iter().copied())
            .filter(|&(i, j)| match (x.get(i), y.get(j)) {
                (Some(p), Some(q)) if same_fmt => p != q,
                (Some(p), Some(q)) => decode(p, self.a_fmt) != decode(q, self.b_fmt),
                (p, q) => p.is_some() != q.is_some(),
            })
            .collect()
    }

    /// Hash of a row's common columns (the whole row when the columns are the same).
    fn row_hash(&self, row: &Row, a: bool) -> u128 {
        let mut h = blake3::Hasher::new();
        for &(i, j) in &self.common {
            let f = row.get(if a { i } else { j }).map_or(&[][..], |f| &f[..]);
            h.update(&(f.len() as u64).to_le_bytes());
            h.update(f);
        }
        if self.common.is_empty() {
            for f in row {
                h.update(&(f.len() as u64).to_le_bytes());
                h.update(f);
            }
        }
        u128::from_le_bytes(h.finalize().as_bytes()[..16].try_into().unwrap_or([0; 16]))
    }

    fn key_hash(&self, row: &Row, a: bool) -> u128 {
        if !self.keyed() {
            return self.row_hash(row, a);
        }
        let mut h = blake3::Hasher::new();
        for v in self.key_of(row, a).unwrap_or_default() {
            let v = v.unwrap_or_default();
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v.as_bytes());
        }
        u128::from_le_bytes(h.finalize().as_bytes()[..16].try_into().unwrap_or([0; 16]))
    }

    fn emit(&self, sink: &mut Sink, op: RowOp, old: Option<&Row>, new: Option<&Row>) -> Result<()> {
        let Some(f) = sink else { return Ok(()) };
        let change = match (old, new) {
            (Some(o), Some(n)) => {
                let d = self.differing(o, n);
                RowChange {
                    op,
                    key: self.key_values(n, false),
                    old: Some(self.values(o, true, Some(&d))),
                    new: Some(self.values(n, false, Some(&d))),
                }
            }
            (Some(o), None) => RowChange {
                op,
                key: if self.keyed() {
                    self.key_values(o, true)
                } else {
                    Values::default()
                },
                old: Some(self.values(o, true, None)),
                new: None,
            },
            (_, n) => RowChange {
                op,
                key: match n {
                    Some(n) if self.keyed() => self.key_values(n, false),
                    _ => Values::default(),
                },
                old: None,
                new: n.map(|n| self.values(n, false, None)),
            },
        };
        f(change)
    }
}

/// A row with its key.
struct Cur {
    row: Row,
    key: Vec<Option<String>>,
}

fn cmp_keys(a: &[Option<String>], b: &[Option<String>]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match cmp_value(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

/// Why a merge join could not be used.
enum Stop {
    Fail(Error),
    Fallback(String),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Fail(e)
    }
}

/// Reads the next row of one side with its key, checking that keys rise.
fn next_keyed<S: Source>(
    r: &mut RowReader<S>,
    lay: &Layout,
    a: bool,
    prev: &mut Option<Vec<Option<String>>>,
    table: &str,
) -> std::result::Result<Option<Cur>, Stop> {
    let Some(row) = r.next_row()? else {
        return Ok(None);
    };
    let key = lay
        .key_of(&row, a)
        .ok_or_else(|| Stop::Fallback(format!("a row of {table} lacks a primary-key column")))?;
    if let Some(p) = prev {
        if cmp_keys(p, &key) != Ordering::Less {
            return Err(Stop::Fallback(format!(
                "the rows of {table} are not in ascending key order as dumpvault compares keys \
                 (a text key in a locale collation, or a key that is not the dump order)"
            )));
        }
    }
    *prev = Some(key.clone());
    Ok(Some(Cur { row, key }))
}

fn merge(a: &Side, b: &Side, table: &str, sink: &mut Sink) -> std::result::Result<RowCounts, Stop> {
    let (mut ra, mut rb) = (a.open(), b.open());
    // Read the first row of each side before the layout: COPY names its columns.
    let fa = ra.next_row()?;
    let fb = rb.next_row()?;
    let lay = Layout::new(&ra, &rb, &a.def, &b.def);
    if !lay.keyed() {
        return Err(Stop::Fallback(if lay.key.is_empty() {
            format!("{table} has no primary key")
        } else {
            format!("the primary key of {table} is not among its dumped columns")
        }));
    }
    let mut counts = RowCounts {
        method: format!("primary key ({})", lay.key.join(", ")),
        ..Default::default()
    };
    let (mut pa, mut pb) = (None, None);
    let first = |row: Option<Row>, a: bool, prev: &mut Option<Vec<Option<String>>>| {
        row.map(|row| {
            let key = lay.key_of(&row, a).ok_or_else(|| {
                Stop::Fallback(format!("a row of {table} lacks a primary-key column"))
            })?;
            *prev = Some(key.clone());
            Ok::<_, Stop>(Cur { row, key })
        })
        .transpose()
    };
    let mut ca = first(fa, true, &mut pa)?;
    let mut cb = first(fb, false, &mut pb)?;
    loop {
        let ord = match (&ca, &cb) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => cmp_keys(&x.key, &y.key),
        };
        match ord {
            Ordering::Less => {
                if let Some(x) = &ca {
                    counts.deleted += 1;
                    lay.emit(sink, RowOp::Deleted, Some(&x.row), None)?;
                }
                ca = next_keyed(&mut ra, &lay, true, &mut pa, table)?;
            }
            Ordering::Greater => {
                if let Some(y) = &cb {
                    counts.inserted += 1;
                    lay.emit(sink, RowOp::Inserted, None, Some(&y.row))?;
                }
                cb = next_keyed(&mut rb, &lay, false, &mut pb, table)?;
            }
            Ordering::Equal => {
                if let (Some(x), Some(y)) = (&ca, &cb) {
                    if !lay.differing(&x.row, &y.row).is_empty() {
                        counts.updated += 1;
                        lay.emit(sink, RowOp::Updated, Some(&x.row), Some(&y.row))?;
                    }
                }
                ca = next_keyed(&mut ra, &lay, true, &mut pa, table)?;
                cb = next_keyed(&mut rb, &lay, false, &mut pb, table)?;
            }
        }
    }
    Ok(counts)
}

/// Matches rows by hash, in passes that keep memory within [`HASH_BUDGET`].
fn hashed(a: &Side, b: &Side, reason: String, mut sink: Sink) -> Result<RowCounts> {
    let keep_rows = sink.is_some();
    let need = a.rows.max(b.rows) * ENTRY_BYTES + if keep_rows { a.bytes() } else { 0 };
    let passes = need.div_ceil(HASH_BUDGET).max(1) as u128;
    let mut counts = RowCounts::default();
    for pass in 0..passes {
        let (mut ra, mut rb) = (a.open(), b.open());
        let fa = ra.next_row()?;
        let fb = rb.next_row()?;
        let lay = Layout::new(&ra, &rb, &a.def, &b.def);
        counts.method = if lay.keyed() {
            format!("primary key ({})", lay.key.join(", "))
        } else {
            "whole rows".into()
        };
        let mut map: HashMap<u128, Vec<(u128, Option<Row>)>> = HashMap::new();
        let mut row = fa;
        while let Some(r) = row {
            let kh = lay.key_hash(&r, true);
            if kh % passes == pass {
                let rh = lay.row_hash(&r, true);
                map.entry(kh)
                    .or_default()
                    .push((rh, keep_rows.then_some(r)));
            }
            row = ra.next_row()?;
        }
        let mut row = fb;
        while let Some(r) = row {
            let kh = lay.key_hash(&r, false);
            if kh % passes == pass {
                match map.get_mut(&kh).and_then(Vec::pop) {
                    Some((rh, old)) => {
                        if lay.keyed() && rh != lay.row_hash(&r, false) {
                            counts.updated += 1;
                            lay.emit(&mut sink, RowOp::Updated, old.as_ref(), Some(&r))?;
                        }
                    }
                    None => {
                        counts.inserted += 1;
                        lay.emit(&mut sink, RowOp::Inserted, None, Some(&r))?;
                    }
                }
            }
            row = rb.next_row()?;
        }
        for (_, olds) in map {
            for (_, old) in olds {
                counts.deleted += 1;
                if let Some(o) = &old {
                    lay.emit(&mut sink, RowOp::Deleted, Some(o), None)?;
                }
            }
        }
    }
    let how = if passes == 1 {
        "in one pass".to_string()
    } else {
        format!("in {passes} passes over both snapshots, to stay within memory")
    };
    counts.note = Some(format!(
        "{reason}: rows matched by hash {how} (sorting is not possible in constant memory), \
         so changed rows are not listed in key order{}",
        if counts.method == "whole rows" {
            "; without a key an update counts as a delete and an insert"
        } else {
            ""
        }
    ));
    Ok(counts)
}

/// Compares the rows of one table in two snapshots; with `sink`, hands it every changed row
/// (in key order for a merge join).
///
/// Errors: a repository read error; a row cut off in the dump ([`Error::Invalid`]); whatever
/// `sink` returns.
pub fn compare(a: &Side, b: &Side, table: &str, mut sink: Sink) -> Result<RowCounts> {
    // With a sink, first make sure the merge join goes through, so no row is printed twice.
    let attempt = if sink.is_some() {
        match merge(a, b, table, &mut None) {
            Ok(_) => merge(a, b, table, &mut sink),
            Err(e) => Err(e),
        }
    } else {
        merge(a, b, table, &mut None)
    };
    match attempt {
        Ok(c) => Ok(c),
        Err(Stop::Fail(e)) => Err(e),
        Err(Stop::Fallback(reason)) => hashed(a, b, reason, sink),
    }
}
