//! Per-table views of a scanned dump: sizes and row counts for `ls`, byte ranges for
//! `restore --table`.
//!
//! Owns: [`table_summaries`] and [`ranges_for_tables`], pure functions of the [`Section`] list.
//! Must not: read dump bytes or scan; dependency planning (types, trigger functions, foreign
//! keys) is `select`'s.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::name::decode;
use super::{Section, SectionKind, TablesError};

/// Per-table summary, for `dumpvault ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Table name, as in [`Section::table`].
    pub name: String,
    /// Data rows, or `None` when the dump holds no data section for the table.
    pub rows: Option<u64>,
    /// Bytes of all sections of the table (DDL and data).
    pub bytes: u64,
}

/// Summarises the tables of a dump, in order of first appearance.
///
/// Only tables count: names with a table definition (`TABLE`) or data (`TABLE DATA`) section;
/// the bytes of the other sections filed under a table (indexes, constraints...) add to it.
pub fn table_summaries(sections: &[Section]) -> Vec<TableSummary> {
    let tables: std::collections::HashSet<&str> = sections
        .iter()
        .filter(|s| matches!(s.object_type.as_str(), "TABLE" | "TABLE DATA"))
        .filter_map(|s| s.table.as_deref())
        .collect();
    let mut out: Vec<TableSummary> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for s in sections {
        let Some(table) = s.table.as_deref().filter(|t| tables.contains(t)) else {
            continue;
        };
        let i = *index.entry(table).or_insert_with(|| {
            out.push(TableSummary {
                name: table.to_string(),
                rows: None,
                bytes: 0,
            });
            out.len() - 1
        });
        out[i].bytes += s.end - s.start;
        if s.kind == SectionKind::Data && s.object_type == "TABLE DATA" {
            out[i].rows = Some(out[i].rows.unwrap_or(0) + s.rows.unwrap_or(0));
        }
    }
    out
}

/// Byte ranges (merged, in stream order) that restore only `tables`: the preamble, every
/// `SETTINGS` section (repeated setting blocks and footers), and every schema or data section whose
/// `table` or `name` is one of `tables` (stored form, [`super::name`]). A bare name (`orders`,
/// unquoted) also matches the table part of a qualified one (`public.orders`) if that is
/// unique.
pub fn ranges_for_tables(
    sections: &[Section],
    tables: &[String],
) -> Result<Vec<Range<u64>>, TablesError> {
    if tables.is_empty() {
        return Err(TablesError::NoTables);
    }
    let object = |s: &&Section| matches!(s.kind, SectionKind::Schema | SectionKind::Data);
    let mut keys: Vec<&str> = sections
        .iter()
        .filter(object)
        .flat_map(|s| [s.table.as_deref(), Some(&*s.name)])
        .flatten()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut wanted = Vec::new();
    for t in tables {
        if keys.contains(&t.as_str()) {
            wanted.push(t.as_str());
            continue;
        }
        let found: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| matches!(&decode(k)[..], [_, b] if b == t))
            .collect();
        match found[..] {
            [one] => wanted.push(one),
            [] => {
                let available = table_summaries(sections)
                    .into_iter()
                    .map(|s| s.name)
                    .collect();
                return Err(TablesError::UnknownTable {
                    name: t.clone(),
                    available,
                });
            }
            _ => {
                let candidates = found.iter().map(|s| s.to_string()).collect();
                return Err(TablesError::AmbiguousTable {
                    name: t.clone(),
                    candidates,
                });
            }
        }
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    for s in sections {
        let keep = s.kind == SectionKind::Preamble
            || (s.kind == SectionKind::Other && s.object_type == "SETTINGS")
            || (object(&s)
                && wanted
                    .iter()
                    .any(|w| s.table.as_deref() == Some(w) || s.name == *w));
        match out.last_mut() {
            _ if !keep || s.end == s.start => {}
            Some(r) if r.end == s.start => r.end = s.end,
            _ => out.push(s.start..s.end),
        }
    }
    Ok(out)
}
