//! `snapshots`' output, written as it is formatted: the table through [`Columns`] (no layout
//! over all rows by `comfy_table`), the JSON through serde's streaming serializer (no
//! `serde_json::Value` of the whole list), both to a buffered stdout. At 50 000 snapshots the
//! old table layout and the `Value` tree were about half of what the command cost.
//!
//! The JSON is the document the `Value` gave, byte for byte: the same keys with the same
//! values, pretty-printed, every object's keys in sorted order (a `Value` object is a sorted
//! map). The hand-written [`Serialize`] impls below list the keys in that order and
//! destructure each type they show whole, so a field added to one fails to compile here
//! instead of going missing from the output.

use super::columns::Columns;
use dumpvault::commands::snapshots::{push_civil, SnapshotEntry};
use dumpvault::format::snapshot::StreamRef;
use dumpvault::format::verification::Verification;
use dumpvault::source::SourceInfo;
use dumpvault::units::human_bytes;
use serde::ser::{Error as _, SerializeMap, Serializer};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufWriter, Write};

/// Bytes of stdout buffered between writes.
const BUFFER: usize = 64 << 10;

/// A buffered, locked stdout for output written piece by piece.
pub fn stdout() -> BufWriter<std::io::StdoutLock<'static>> {
    BufWriter::with_capacity(BUFFER, std::io::stdout().lock())
}

/// Leaves `big` (a listing of every snapshot, and what was built from it) to the end of the
/// process instead of freeing it: call it last in a command, just before it returns to
/// `main`, which exits. The kernel takes the pages back at once, where freeing 50 000
/// manifests one allocation at a time was about a sixth of `snapshots`' CPU time.
pub fn leave_to_exit<T>(big: T) {
    std::mem::forget(big);
}

/// Prints the snapshot list; `verified` holds the newest verification of each snapshot (by
/// snapshot id, hex). With `json`, one pretty-printed JSON array; else a table (times in UTC
/// when `utc`, else in the local time zone) and a count.
///
/// Errors: writing to stdout failed (a closed pipe: `dumpvault snapshots | head -1`).
pub fn print_snapshots(
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
    json: bool,
    utc: bool,
) -> std::io::Result<()> {
    let mut out = stdout();
    if json {
        write_json(&mut out, list, verified)?;
    } else {
        write_table(&mut out, list, verified, utc)?;
    }
    out.flush()
}

/// The `--json` document of [`print_snapshots`], and a line break.
///
/// Errors: writing to `out` failed.
pub fn write_json(
    out: &mut impl Write,
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
) -> std::io::Result<()> {
    let entries = Entries { list, verified };
    serde_json::to_writer_pretty(&mut *out, &entries).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}

/// The table of [`print_snapshots`] and its count line.
///
/// Errors: writing to `out` failed.
pub fn write_table(
    out: &mut impl Write,
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
    utc: bool,
) -> std::io::Result<()> {
    let tz = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    let time = if utc { "time (UTC)" } else { "time" };
    let header = [
        "id", time, "host", "engine", "database", "size", "verified", "tags",
    ];
    let mut t = Columns::new(&header, &[5]).with_capacity(list.len(), 96);
    for e in list {
        let m = &e.manifest;
        let size: u64 = m.streams.iter().map(|s| s.size).sum();
        t.cell_str(&e.id.short());
        let time = e.time();
        if !t.cell_with(|s| push_civil(s, tz.to_datetime(time), ' ')) {
            t.cell(time.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S"));
        }
        t.cell_str(&m.host);
        t.cell_str(&m.source.kind);
        t.cell_str(m.database().as_deref().unwrap_or("-"));
        t.cell(human_bytes(size));
        // Most repositories have no verification records: no id spelled out to look one up.
        let v = if verified.is_empty() {
            None
        } else {
            verified.get(&e.id.to_hex())
        };
        match v {
            None => t.cell_str("-"),
            Some(v) => t.cell(format_args!(
                "{} {}",
                if v.ok { "ok" } else { "FAILED" },
                v.time.get(..10).unwrap_or(&v.time)
            )),
        }
        t.cell_with(|s| {
            for (i, tag) in m.tags.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(tag);
            }
            true
        });
    }
    t.write_to(out)?;
    writeln!(out, "{} snapshot(s)", list.len())
}

/// The JSON array of snapshots, serialized element by element.
struct Entries<'a> {
    list: &'a [SnapshotEntry],
    verified: &'a HashMap<String, Verification>,
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.list.iter().map(|e| Entry {
            e,
            verified: self.verified,
        }))
    }
}

/// One snapshot of [`Entries`].
struct Entry<'a> {
    e: &'a SnapshotEntry,
    verified: &'a HashMap<String, Verification>,
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, m) = (self.e, &self.e.manifest);
        let id = e.id.to_hex();
        // A `Value` of the (rare, small) verification, as before: its keys sorted.
        let verified = serde_json::to_value(self.verified.get(&id)).map_err(S::Error::custom)?;
        let time = e.time();
        let mut map = s.serialize_map(Some(13))?;
        map.serialize_entry("added", &m.summary.bytes_added)?;
        map.serialize_entry("database", &m.database())?;
        map.serialize_entry("engine", &m.source.kind)?;
        map.serialize_entry("host", &m.host)?;
        map.serialize_entry("id", &id)?;
        map.serialize_entry("local_time", &e.local_time_at(time))?;
        map.serialize_entry("short_id", &e.id.short())?;
        map.serialize_entry("size", &m.streams.iter().map(|s| s.size).sum::<u64>())?;
        map.serialize_entry("source", &Source(&m.source))?;
        map.serialize_entry("streams", &Streams(&m.streams))?;
        map.serialize_entry("tags", &m.tags)?;
        map.serialize_entry("time", &Shown(time))?;
        map.serialize_entry("verified", &verified)?;
        map.end()
    }
}

/// A value serialized as the string its `Display` writes, without building the string.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A [`SourceInfo`], its keys sorted.
struct Source<'a>(&'a SourceInfo);

impl Serialize for Source<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let SourceInfo {
            kind,
            database,
            command,
            tool_version,
            server_version,
            dialect,
            options,
        } = self.0;
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("command", command)?;
        map.serialize_entry("database", database)?;
        map.serialize_entry("dialect", dialect)?;
        map.serialize_entry("kind", kind)?;
        map.serialize_entry("options", options)?;
        map.serialize_entry("server_version", server_version)?;
        map.serialize_entry("tool_version", tool_version)?;
        map.end()
    }
}

/// The streams of a snapshot: name, size, BLAKE3 (hex) and chunk count, keys sorted.
struct Streams<'a>(&'a [StreamRef]);

impl Serialize for Streams<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StreamJson))
    }
}

struct StreamJson<'a>(&'a StreamRef);

impl Serialize for StreamJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("blake3", &hex::encode(r.blake3))?;
        map.serialize_entry("chunks", &r.chunks)?;
        map.serialize_entry("name", &r.name)?;
        map.serialize_entry("size", &r.size)?;
        map.end()
    }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
