//! Verification records `verifications/<id>`: sealed JSON, one per run of `dumpvault verify`,
//! so `snapshots` can show when each snapshot was last proven restorable.

use serde::{Deserialize, Serialize};

/// The outcome of one verification of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Id of the verified snapshot (64 hex digits).
    pub snapshot: String,
    /// When the verification finished: RFC 3339, UTC.
    pub time: String,
    /// Host that ran it.
    pub host: String,
    /// `stream` (every chunk read and the stream's BLAKE3 matched) or `into <engine>`
    /// (restored into a scratch database and each table's row count compared).
    pub mode: String,
    /// Whether everything checked passed.
    pub ok: bool,
    /// One line on what failed; empty when `ok`.
    #[serde(default)]
    pub detail: String,
    /// Per-table results (empty for `stream`).
    #[serde(default)]
    pub tables: Vec<TableCheck>,
}

/// A restored table's row count against the count the snapshot recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCheck {
    /// Table name as the dump names it, without quotes (`public.users`).
    pub table: String,
    /// Rows the snapshot's dump holds for it.
    pub expected: u64,
    /// Rows found in the restored database; `None` when the table is missing there.
    pub actual: Option<u64>,
}

impl TableCheck {
    /// Whether the restored table has exactly the recorded rows.
    pub fn ok(&self) -> bool {
        self.actual == Some(self.expected)
    }
}
