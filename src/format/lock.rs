//! Lock files `locks/<id>`: sealed JSON naming the holder. Shared locks are taken by writers
//! (snapshot, copy), exclusive ones by prune.

use serde::{Deserialize, Serialize};

/// A lock held on the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// `true` for prune's exclusive lock.
    pub exclusive: bool,
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Last refresh, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// When the holder first took the lock, seconds since the Unix epoch (UTC); kept across
    /// refreshes. Absent in older lock files, read as 0 (the oldest possible, the safe side).
    #[serde(default)]
    pub created: i64,
    /// The command holding it, e.g. `snapshot`.
    pub command: String,
}
