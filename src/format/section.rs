//! Table sections of a dump stream as recorded in the snapshot manifest: [`Section`] and
//! [`SectionKind`]. Persisted (bincode, `repo-format.md` section 10): field and variant order is
//! the disk format, so these types live here, not beside the scanner in `tables`, which
//! re-exports them. Owns no scanning.

use serde::{Deserialize, Serialize};

/// What a [`Section`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SectionKind {
    /// Session settings and comments at the top of the dump, before the first object.
    Preamble,
    /// DDL of one object: table, index, constraint, trigger, view, function, sequence...
    Schema,
    /// Data: table rows, or other data such as sequence values.
    Data,
    /// Anything else: repeated setting blocks, footers, routines, events.
    Other,
}

/// One section of a dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// What the section holds.
    pub kind: SectionKind,
    /// Object type, e.g. `TABLE`, `TABLE DATA`, `INDEX`, `CONSTRAINT`, `SEQUENCE`, `VIEW`,
    /// `FUNCTION`; `SETTINGS` for [`SectionKind::Other`] sections holding only session settings and
    /// comments (always restored); empty for the preamble and unrecognised content.
    pub object_type: String,
    /// Object name as in the dump, unquoted; schema-qualified for PostgreSQL (`public.orders`).
    pub name: String,
    /// The table this section belongs to, if any (for indexes, constraints, triggers, data...).
    pub table: Option<String>,
    /// First byte of the section in the stream.
    pub start: u64,
    /// End of the section in the stream (exclusive).
    pub end: u64,
    /// Number of data rows, for `TABLE DATA` sections.
    pub rows: Option<u64>,
}
