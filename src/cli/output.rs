//! Text and JSON output, and the progress bar.

use dumpvault::commands::snapshot::SnapshotOutcome;
use dumpvault::commands::snapshots::SnapshotEntry;
use dumpvault::format::verification::Verification;
use dumpvault::progress::Progress;
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;

pub use dumpvault::units::human_bytes;

/// A progress bar on stderr, or nothing when stderr is not a terminal.
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar when `show`, with `total` bytes if known.
    pub fn new(show: bool, total: Option<u64>) -> Self {
        if !show {
            return Bar(None);
        }
        let pb = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let style = match total {
            Some(_) => "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            None => "{spinner} {bytes} {bytes_per_sec} {elapsed}",
        };
        if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
            pb.set_style(s);
        }
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Bar(Some(pb))
    }
}

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.set_length(bytes);
        }
    }
    fn inc(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

fn ratio(read: u64, added: u64) -> f64 {
    if added == 0 {
        read as f64
    } else {
        read as f64 / added as f64
    }
}

/// Prints a snapshot's outcome.
pub fn print_snapshot(o: &SnapshotOutcome, json: bool) {
    let s = &o.manifest.summary;
    let incomplete = dumpvault::commands::snapshot::INCOMPLETE_TAG;
    if o.manifest.tags.iter().any(|t| t == incomplete) {
        eprintln!(
            "dumpvault: warning: snapshot {} holds a dump without its completion marker (cut \
             short); stored as asked by --allow-incomplete and tagged `{incomplete}`",
            o.id.short()
        );
    }
    if json {
        println!(
            "{}",
            json!({"id": o.id.to_hex(), "short_id": o.id.short(), "time": o.manifest.time,
                "bytes_read": s.bytes_read, "bytes_added": s.bytes_added, "chunks": s.chunks,
                "new_blobs": s.new_blobs, "dedup_ratio": ratio(s.bytes_read, s.bytes_added),
                "duration_ms": s.duration_ms, "database": o.manifest.database(),
                "tags": o.manifest.tags})
        );
    } else {
        println!(
            "snapshot {} saved: read {}, added {} to the repository (dedup ratio {:.1}x)",
            o.id.short(),
            human_bytes(s.bytes_read),
            human_bytes(s.bytes_added),
            ratio(s.bytes_read, s.bytes_added)
        );
    }
}

/// `ok 2026-12-04` or `FAILED 2026-12-04` (UTC date of the newest verification), or `-`.
fn verified_cell(v: Option<&Verification>) -> String {
    match v {
        None => "-".into(),
        Some(v) => format!(
            "{} {}",
            if v.ok { "ok" } else { "FAILED" },
            v.time.get(..10).unwrap_or(&v.time)
        ),
    }
}

/// Prints the snapshot list; `verified` holds the newest verification of each snapshot (by
/// snapshot id, hex).
///
/// Errors: writing to stdout failed (a closed pipe: `dumpvault snapshots | head -1`).
pub fn print_snapshots(
    list: &[SnapshotEntry],
    verified: &HashMap<String, Verification>,
    json: bool,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let v: Vec<_> = list
            .iter()
            .map(|e| {
                let m = &e.manifest;
                json!({"id": e.id.to_hex(), "short_id": e.id.short(), "time": e.time().to_string(),
                    "local_time": m.time, "host": m.host, "tags": m.tags, "source": m.source,
                    "database": m.database(), "engine": m.source.kind,
                    "size": m.streams.iter().map(|s| s.size).sum::<u64>(),
                    "added": m.summary.bytes_added,
                    "verified": verified.get(&e.id.to_hex()),
                    "streams": m.streams.iter().map(|s| json!({"name": s.name, "size": s.size,
                        "blake3": hex::encode(s.blake3), "chunks": s.chunks})).collect::<Vec<_>>()})
            })
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        )?;
        return out.flush();
    }
    writeln!(
        out,
        "{:<8}  {:<25}  {:<12}  {:<8}  {:<16}  {:>10}  {:<17}  tags",
        "id", "time", "host", "engine", "database", "size", "verified"
    )?;
    for e in list {
        let m = &e.manifest;
        let size: u64 = m.streams.iter().map(|s| s.size).sum();
        writeln!(
            out,
            "{:<8}  {:<25}  {:<12}  {:<8}  {:<16}  {:>10}  {:<17}  {}",
            e.id.short(),
            m.time.split('[').next().unwrap_or(""),
            m.host,
            m.source.kind,
            m.database().as_deref().unwrap_or("-"),
            human_bytes(size),
            verified_cell(verified.get(&e.id.to_hex())),
            m.tags.join(",")
        )?;
    }
    writeln!(out, "{} snapshot(s)", list.len())?;
    out.flush()
}
