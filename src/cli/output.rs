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

/// A table laid out as restic lays out its own: a header, a line of dashes under it, columns
/// two spaces apart, no borders, no wrapping. `right` lists the (0-based) columns aligned
/// right, the figures. Add rows with `add_row`, print with [`render`].
pub fn table(header: &[&str], right: &[usize]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    // Header line and its intersections only: no borders, no vertical lines.
    t.load_preset("     --            ");
    t.set_header(header.to_vec());
    let last = header.len().saturating_sub(1);
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i == last { 0 } else { 2 }));
        if right.contains(&i) {
            col.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    t
}

/// The table's text, without trailing blanks on any line (no final newline).
pub fn render(t: &comfy_table::Table) -> String {
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A snapshot time to the second, as restic shows it (`2026-12-06 08:06:22`): in the local
/// time zone (`TZ`, else the system's), or in UTC when `utc`.
pub fn show_time(t: jiff::Timestamp, utc: bool) -> String {
    let tz = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    t.to_zoned(tz).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// How many times smaller than the dump the stored bytes are, and what that ratio measures;
/// `None` when it means nothing (nothing was stored).
///
/// When every chunk was new (a first snapshot), the ratio is compression; otherwise it is
/// deduplication and compression together.
pub fn snapshot_ratio(
    read: u64,
    stored: u64,
    chunks: u64,
    new_blobs: u64,
) -> Option<(f64, &'static str)> {
    if stored == 0 || read == 0 {
        return None;
    }
    let what = if new_blobs >= chunks {
        "compression: every chunk was new"
    } else {
        "deduplication and compression"
    };
    Some((read as f64 / stored as f64, what))
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
    let ratio = snapshot_ratio(s.bytes_read, s.bytes_added, s.chunks, s.new_blobs);
    if json {
        // `dedup_ratio` (kept for scripts) is null where it means nothing, as is
        // `compression_ratio` unless every chunk was new.
        let all_new = s.new_blobs >= s.chunks;
        println!(
            "{}",
            json!({"id": o.id.to_hex(), "short_id": o.id.short(), "time": o.manifest.time,
                "bytes_read": s.bytes_read, "logical_bytes": s.bytes_read,
                "bytes_added": s.bytes_added, "stored_bytes": s.bytes_added, "chunks": s.chunks,
                "new_blobs": s.new_blobs, "dedup_ratio": ratio.map(|r| r.0),
                "compression_ratio": ratio.filter(|_| all_new).map(|r| r.0),
                "duration_ms": s.duration_ms, "database": o.manifest.database(),
                "tags": o.manifest.tags})
        );
    } else {
        println!("{}", snapshot_summary(o));
    }
}

/// One line on a saved snapshot: its logical size (the dump's bytes), how many of its chunks
/// were new, the bytes that added to the repository (sealed: compressed and encrypted), and a
/// ratio only where it means something.
pub fn snapshot_summary(o: &SnapshotOutcome) -> String {
    let s = &o.manifest.summary;
    let head = format!(
        "snapshot {} saved: logical {}, new chunks {} of {}, stored {}",
        o.id.short(),
        human_bytes(s.bytes_read),
        s.new_blobs.min(s.chunks),
        s.chunks,
        human_bytes(s.bytes_added),
    );
    match snapshot_ratio(s.bytes_read, s.bytes_added, s.chunks, s.new_blobs) {
        _ if s.bytes_read == 0 => format!("{head} (an empty dump)"),
        None => format!("{head}: nothing added, every chunk was already in the repository"),
        Some((r, what)) => format!("{head} ({r:.1}x smaller, {what})"),
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
    utc: bool,
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
    let time = if utc { "time (UTC)" } else { "time" };
    let header = [
        "id", time, "host", "engine", "database", "size", "verified", "tags",
    ];
    let mut t = table(&header, &[5]);
    for e in list {
        let m = &e.manifest;
        let size: u64 = m.streams.iter().map(|s| s.size).sum();
        t.add_row(vec![
            e.id.short(),
            show_time(e.time(), utc),
            m.host.clone(),
            m.source.kind.clone(),
            m.database().unwrap_or_else(|| "-".into()),
            human_bytes(size),
            verified_cell(verified.get(&e.id.to_hex())),
            m.tags.join(","),
        ]);
    }
    writeln!(out, "{}", render(&t))?;
    writeln!(out, "{} snapshot(s)", list.len())?;
    out.flush()
}
