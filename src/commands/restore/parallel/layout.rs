//! How a dump splits into the parts of a parallel restore (see the parent module): made from
//! the snapshot's table index alone, before anything is read.

use crate::tables::{Section, SectionKind};
use std::collections::HashMap;
use std::ops::Range;

/// One part of the dump loaded over its own connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What the part is, for messages (`data of table public.orders`).
    pub what: String,
    /// The table it belongs to, when any.
    pub table: Option<String>,
    /// Stream byte ranges, sorted, not overlapping.
    pub ranges: Vec<Range<u64>>,
    /// Tables no other running part may touch at the same time (foreign keys).
    pub locks: Vec<String>,
}

impl Unit {
    /// Bytes of the part.
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }
    pub(crate) fn start(&self) -> u64 {
        self.ranges.first().map_or(0, |r| r.start)
    }
}

/// How a dump splits into parts (see the module documentation). Pure: made from the table index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The preamble and settings blocks, in stream order (each part starts with those before it).
    pub settings: Vec<Range<u64>>,
    /// Pre-data, in stream order.
    pub pre: Vec<Range<u64>>,
    /// Table data, biggest first.
    pub data: Vec<Unit>,
    /// Other data, in stream order.
    pub other_data: Vec<Range<u64>>,
    /// Indexes and index-backed constraints, those of the biggest tables first.
    pub indexes: Vec<Unit>,
    /// `ALTER INDEX … ATTACH PARTITION` (PostgreSQL `INDEX ATTACH`), in stream order: run in
    /// one session after every index and constraint (both indexes must exist) and before the
    /// foreign keys (a partitioned table's unique index is valid, and can back a foreign key,
    /// only once every partition's index is attached).
    pub attach: Vec<Range<u64>>,
    /// Foreign keys, those of the biggest tables first: after every index, constraint and
    /// index attachment, as pg_dump orders them.
    pub foreign_keys: Vec<Unit>,
    /// The rest of the post-data (and triggers), in stream order.
    pub rest: Vec<Range<u64>>,
    /// Whether the parts cover the whole stream (no `--table`): the restore then checks the
    /// whole stream's BLAKE3 hash.
    pub whole: bool,
}

/// Pushes `r` onto sorted `v`, merging it with the last range when adjacent.
fn push(v: &mut Vec<Range<u64>>, r: Range<u64>) {
    match v.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ => v.push(r),
    }
}

/// The parts of `s` inside `ranges` (all of it without ranges).
fn clip(s: &Section, ranges: Option<&[Range<u64>]>) -> Vec<Range<u64>> {
    match ranges {
        None => std::iter::once(s.start..s.end).collect(),
        Some(rs) => rs
            .iter()
            .map(|r| r.start.max(s.start)..r.end.min(s.end))
            .filter(|r| r.start < r.end)
            .collect(),
    }
}

/// The table a foreign key refers to, unquoted (`public.customers`), from its DDL text.
pub fn referenced_table(ddl: &str) -> Option<String> {
    let at = ddl.find(" REFERENCES ")? + " REFERENCES ".len();
    let mut parts = Vec::new();
    let mut chars = ddl[at..].chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') || chars.peek() == Some(&'`') {
            let q = chars.next()?;
            loop {
                match chars.next()? {
                    c if c == q && chars.peek() == Some(&q) => {
                        chars.next();
                        part.push(q);
                    }
                    c if c == q => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '(' || c.is_whitespace() {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        if chars.peek() == Some(&'.') {
            chars.next();
        } else {
            break;
        }
    }
    Some(crate::tables::name::encode(&parts)).filter(|p| !p.is_empty())
}

/// Splits a dump into parts; `None` when it holds no table data (a single session then does).
/// `ranges` restricts it to those byte ranges (`restore --table`). A foreign key's locks name
/// its own table here; [`super::run`] adds the table it refers to, read from its text.
pub fn layout(sections: &[Section], ranges: Option<&[Range<u64>]>) -> Option<Layout> {
    let is_data = |s: &Section| s.kind == SectionKind::Data && s.object_type == "TABLE DATA";
    let last_data = sections
        .iter()
        .rposition(|s| is_data(s) && !clip(s, ranges).is_empty())?;
    let first_data = sections.iter().position(is_data)?;
    let mut l = Layout {
        whole: ranges.is_none(),
        ..Layout::default()
    };
    let mut table_bytes: HashMap<String, u64> = HashMap::new();
    for (i, s) in sections.iter().enumerate() {
        let parts = clip(s, ranges);
        if parts.is_empty() {
            continue;
        }
        let settings = s.kind == SectionKind::Preamble || s.object_type == "SETTINGS";
        if settings {
            parts.iter().for_each(|r| push(&mut l.settings, r.clone()));
        }
        let table = s.table.clone();
        let unit = |what: String, locks: Vec<String>| Unit {
            what,
            table: table.clone(),
            ranges: parts.clone(),
            locks,
        };
        let into = if is_data(s) {
            let name = s.table.clone().unwrap_or_else(|| s.name.clone());
            *table_bytes.entry(name.clone()).or_default() += s.end - s.start;
            l.data
                .push(unit(format!("data of table {name}"), Vec::new()));
            continue;
        } else if s.kind == SectionKind::Data {
            &mut l.other_data
        } else if settings && i > first_data && i < last_data {
            continue;
        } else if i < last_data && s.object_type != "TRIGGER" {
            &mut l.pre
        } else if i > last_data && matches!(s.object_type.as_str(), "INDEX" | "CONSTRAINT") {
            let what = format!("{} {}", s.object_type.to_lowercase(), s.name);
            l.indexes.push(unit(what, Vec::new()));
            continue;
        } else if i > last_data && s.object_type == "INDEX ATTACH" {
            &mut l.attach
        } else if i > last_data && s.object_type == "FK CONSTRAINT" {
            let locks: Vec<String> = s.table.iter().cloned().collect();
            let what = format!("foreign key {}", s.name);
            l.foreign_keys.push(unit(what, locks));
            continue;
        } else {
            &mut l.rest
        };
        parts.into_iter().for_each(|r| push(into, r));
    }
    let size = |u: &Unit| {
        let t = u.table.as_ref();
        std::cmp::Reverse(t.and_then(|t| table_bytes.get(t)).copied().unwrap_or(0))
    };
    l.data.sort_by_key(|u| std::cmp::Reverse(u.bytes()));
    l.indexes.sort_by_key(size);
    l.foreign_keys.sort_by_key(size);
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(kind: SectionKind, ty: &str, name: &str, table: Option<&str>, r: Range<u64>) -> Section {
        Section {
            kind,
            object_type: ty.into(),
            name: name.into(),
            table: table.map(String::from),
            start: r.start,
            end: r.end,
            rows: None,
        }
    }

    #[test]
    fn referenced_table_reads_quoted_and_plain_names() {
        let ddl = "ALTER TABLE ONLY public.b\n    ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.a(id);";
        assert_eq!(referenced_table(ddl).as_deref(), Some("public.a"));
        let ddl = "ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES \"Sales\".\"Order \"\"Items\"(id);";
        assert_eq!(
            referenced_table(ddl).as_deref(),
            Some("Sales.Order \"Items")
        );
        assert_eq!(referenced_table("no key here"), None);
    }

    #[test]
    fn layout_splits_pre_data_tables_and_post_data() {
        use SectionKind::*;
        let s = vec![
            sec(Preamble, "", "", None, 0..10),
            sec(Schema, "TABLE", "public.a", Some("public.a"), 10..20),
            sec(Schema, "TABLE", "public.b", Some("public.b"), 20..30),
            sec(Other, "SETTINGS", "", None, 30..35),
            sec(Data, "TABLE DATA", "public.a", Some("public.a"), 35..40),
            sec(Data, "TABLE DATA", "public.b", Some("public.b"), 40..90),
            sec(Data, "SEQUENCE SET", "public.s", None, 90..95),
            sec(Other, "SETTINGS", "", None, 95..100),
            sec(
                Schema,
                "CONSTRAINT",
                "public.a a_pkey",
                Some("public.a"),
                100..110,
            ),
            sec(Schema, "INDEX", "public.b_i", Some("public.b"), 110..120),
            sec(
                Schema,
                "FK CONSTRAINT",
                "public.b f",
                Some("public.b"),
                120..130,
            ),
            sec(Schema, "TRIGGER", "public.b t", Some("public.b"), 130..140),
        ];
        let l = layout(&s, None).unwrap();
        assert_eq!(l.settings, vec![0..10, 30..35, 95..100]);
        assert_eq!(l.pre, vec![0..35]);
        let data: Vec<_> = l.data.iter().map(|u| u.ranges.clone()).collect();
        assert_eq!(data, vec![vec![40..90], vec![35..40]], "biggest first");
        assert_eq!(l.other_data, vec![90..95]);
        let idx: Vec<_> = l.indexes.iter().map(|u| u.ranges.clone()).collect();
        assert_eq!(idx, vec![vec![110..120], vec![100..110]], "big table first");
        assert_eq!(l.foreign_keys[0].locks, vec!["public.b"]);
        assert_eq!(l.rest, vec![95..100, 130..140]);
        // Restricted to some ranges: only what lies inside them.
        let cut = std::iter::once(0..40).collect::<Vec<_>>();
        let l = layout(&s, Some(&cut)).unwrap();
        assert_eq!(l.data.len(), 1);
        assert!(l.indexes.is_empty() && l.rest.is_empty());
        // No table data: no parallel layout.
        assert!(layout(&s[..4], None).is_none());
    }

    #[test]
    fn index_attachments_run_after_indexes_and_before_foreign_keys() {
        // pg_dump's post-data of a foreign key to a partitioned table (probe finding 4): the
        // parent's key is valid only once the partitions' keys are attached to it.
        use SectionKind::*;
        let m = Some("public.measurements");
        let s = vec![
            sec(Preamble, "", "", None, 0..10),
            sec(Schema, "TABLE", "public.measurements", m, 10..20),
            sec(Data, "TABLE DATA", "public.m1", Some("public.m1"), 20..30),
            sec(
                Data,
                "TABLE DATA",
                "public.m_ref",
                Some("public.m_ref"),
                30..40,
            ),
            sec(
                Schema,
                "CONSTRAINT",
                "public.measurements measurements_pkey",
                m,
                40..50,
            ),
            sec(
                Schema,
                "CONSTRAINT",
                "public.m1 m1_pkey",
                Some("public.m1"),
                50..60,
            ),
            sec(
                Schema,
                "INDEX ATTACH",
                "public.m1_pkey",
                Some("public.m1"),
                60..70,
            ),
            sec(
                Schema,
                "FK CONSTRAINT",
                "public.m_ref f",
                Some("public.m_ref"),
                70..80,
            ),
            sec(
                Schema,
                "TRIGGER",
                "public.m_ref t",
                Some("public.m_ref"),
                80..90,
            ),
        ];
        let l = layout(&s, None).unwrap();
        assert_eq!(l.indexes.len(), 2);
        assert_eq!(l.attach, vec![60..70]);
        assert_eq!(l.foreign_keys[0].ranges, vec![70..80]);
        assert_eq!(
            l.rest,
            vec![80..90],
            "the attachment is no longer left for the end"
        );
    }

    #[test]
    fn mysql_layout_defers_triggers_after_all_data() {
        use SectionKind::*;
        let s = vec![
            sec(Preamble, "", "", None, 0..10),
            sec(Schema, "TABLE", "a", Some("a"), 10..20),
            sec(Data, "TABLE DATA", "a", Some("a"), 20..30),
            sec(Schema, "TRIGGER", "a", Some("a"), 30..40),
            sec(Schema, "TABLE", "b", Some("b"), 40..50),
            sec(Data, "TABLE DATA", "b", Some("b"), 50..60),
            sec(Schema, "VIEW", "v", None, 60..70),
        ];
        let l = layout(&s, None).unwrap();
        assert_eq!(l.pre, vec![0..20, 40..50]);
        assert_eq!(l.rest, vec![30..40, 60..70]);
    }
}
