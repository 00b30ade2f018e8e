//! Text and JSON output, and progress: a terminal bar, or JSON status lines with `--json`.

use dumpvault::commands::snapshot::SnapshotOutcome;
use dumpvault::format::section::Section;
use dumpvault::progress::{Progress, Progresses};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use dumpvault::units::human_bytes;

/// Whether progress is JSON status lines (`--json`) instead of a terminal bar.
static JSON_STATUS: AtomicBool = AtomicBool::new(false);

/// What is drawn on the terminal: one bar, or several under one [`Bars`].
enum Active {
    Bar(indicatif::WeakProgressBar),
    Multi(indicatif::MultiProgress),
}

/// The terminal bar(s) being drawn, if any: log lines hide them while they are written.
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

/// Makes every [`Bar`] shown from now on print JSON status lines (`--json`) instead of
/// drawing a terminal bar.
pub fn set_json_status(on: bool) {
    JSON_STATUS.store(on, Ordering::Relaxed);
}

/// Runs `f` (a write to stderr) with the terminal bars, if any are drawn, hidden meanwhile.
pub fn suspend_bars<R>(f: impl FnOnce() -> R) -> R {
    let (bar, multi) = match ACTIVE.lock().as_deref() {
        Ok(Some(Active::Bar(w))) => (w.upgrade(), None),
        Ok(Some(Active::Multi(m))) => (None, Some(m.clone())),
        _ => (None, None),
    };
    match (bar, multi) {
        (Some(b), _) => b.suspend(f),
        (_, Some(m)) => m.suspend(f),
        _ => f(),
    }
}

/// Sets (or with `None` clears) what [`suspend_bars`] hides.
fn set_active(a: Option<Active>) {
    if let Ok(mut slot) = ACTIVE.lock() {
        *slot = a;
    }
}

/// Least time between two JSON status lines, from `DUMPVAULT_PROGRESS_INTERVAL_MS`
/// (milliseconds; 0: a line on every update), else 500 ms.
fn status_interval() -> Duration {
    let ms = std::env::var("DUMPVAULT_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(500);
    Duration::from_millis(ms)
}

/// Progress on stderr: a terminal bar (bytes, rate, ETA when a total is known, the phase and
/// the item, e.g. the table being dumped), JSON status lines with `--json` (see
/// [`set_json_status`]), or nothing.
pub struct Bar {
    show: Show,
    /// After [`Progress::finish`], keep a spinner until [`Bar::done`] (see [`Bar::lingering`]).
    linger: bool,
    /// Items by stream offset (see [`Bar::follow_sections`]): `(start, label)`, sorted; the
    /// bytes done so far and the label shown last.
    follow: Mutex<Follow>,
    /// The items running at once ([`Progress::start_item`]), oldest first.
    running: Mutex<Vec<String>>,
}

#[derive(Default)]
struct Follow {
    starts: Vec<(u64, String)>,
    done: u64,
    shown: usize,
}

enum Show {
    Off,
    Tty(TtyBar),
    Json(JsonStatus),
}

/// Phase and item, the bar's message.
#[derive(Default)]
struct Text {
    phase: String,
    item: String,
    /// The total is known: the bar style, with an ETA.
    sized: bool,
}

impl Text {
    fn message(&self) -> String {
        match (self.phase.is_empty(), self.item.is_empty()) {
            (_, true) => self.phase.clone(),
            (true, false) => self.item.clone(),
            (false, false) => format!("{}: {}", self.phase, self.item),
        }
    }
}

struct TtyBar {
    pb: indicatif::ProgressBar,
    text: Mutex<Text>,
    /// The [`Bars`] whose line this is; the line goes when the bar is done.
    multi: Option<indicatif::MultiProgress>,
}

// `{prefix}`: the bar's label and a blank when it is one of several ([`Bars`]), else empty.
const SPINNER_STYLE: &str =
    "{prefix}{spinner} {bytes:>10} {bytes_per_sec:>12} {elapsed:>4} {wide_msg}";
const BAR_STYLE: &str = "{prefix}{spinner} [{bar:20}] {bytes:>10}/{total_bytes} \
                         {bytes_per_sec:>12} eta {eta:>4} {wide_msg}";
const FINISHING_STYLE: &str = "{prefix}{spinner} {bytes:>10} in {elapsed} {wide_msg}";

impl TtyBar {
    fn style(&self, template: &str) {
        if let Ok(s) = indicatif::ProgressStyle::with_template(template) {
            self.pb.set_style(s.progress_chars("=> "));
        }
    }

    /// Changes the message with `f`; draws at once when it changed (one draw per table at
    /// most per chunk, so a capture of the terminal shows every phase).
    fn update(&self, f: impl FnOnce(&mut Text)) {
        let Ok(mut t) = self.text.lock() else { return };
        let before = t.message();
        f(&mut t);
        let after = t.message();
        drop(t);
        if after != before {
            self.pb.set_message(after);
            self.pb.force_draw();
        }
    }

    fn sized(&self) {
        let first = self
            .text
            .lock()
            .map(|mut t| !std::mem::replace(&mut t.sized, true));
        if first.unwrap_or(false) {
            self.style(BAR_STYLE);
            self.pb.force_draw();
        }
    }
}

struct JsonStatus {
    /// The label of a bar among several ([`Bars`]): each line names it as `database`.
    label: Option<String>,
    started: Instant,
    interval: Duration,
    state: Mutex<JsonState>,
}

struct JsonState {
    done: u64,
    total: Option<u64>,
    phase: String,
    item: String,
    last: Instant,
}

impl JsonStatus {
    /// Prints a status line (restic's `status` message) when the interval has passed; under
    /// the state's lock, so `bytes_done` never decreases from one line to the next.
    fn maybe_emit(&self, s: &mut JsonState) {
        let now = Instant::now();
        if now.duration_since(s.last) < self.interval {
            return;
        }
        s.last = now;
        let elapsed = now.duration_since(self.started).as_secs_f64();
        let percent = s
            .total
            .filter(|t| *t > 0)
            .map(|t| (s.done as f64 / t as f64).min(1.0));
        let remaining = percent
            .filter(|p| *p > 0.0)
            .map(|p| (elapsed / p - elapsed).max(0.0).round() as u64);
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let mut line = json!({"message_type": "status", "percent_done": percent,
            "bytes_done": s.done, "total_bytes": s.total, "item": opt(&s.item),
            "phase": opt(&s.phase), "seconds_elapsed": elapsed.round() as u64,
            "seconds_remaining": remaining});
        if let Some(label) = &self.label {
            line["database"] = json!(label);
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

impl Bar {
    /// Progress when `show` (the command line's `progress`: not `--quiet`, and a terminal or
    /// `--json`), with `total` bytes if known: JSON status lines with `--json`, else a bar.
    pub fn new(show: bool, total: Option<u64>) -> Self {
        Bar::build(show, total, None, None)
    }

    /// As [`Bar::new`]; with `label`, one of several: its line (under `multi`) or its status
    /// lines name it.
    fn build(
        show: bool,
        total: Option<u64>,
        label: Option<&str>,
        multi: Option<&indicatif::MultiProgress>,
    ) -> Self {
        let bar = |show| Bar {
            show,
            linger: false,
            follow: Mutex::default(),
            running: Mutex::default(),
        };
        if !show {
            return bar(Show::Off);
        }
        if JSON_STATUS.load(Ordering::Relaxed) {
            let now = Instant::now();
            let state = JsonState {
                done: 0,
                total,
                phase: String::new(),
                item: String::new(),
                last: now,
            };
            return bar(Show::Json(JsonStatus {
                label: label.map(str::to_string),
                started: now,
                interval: status_interval(),
                state: Mutex::new(state),
            }));
        }
        // Hidden, styled and labelled before it is drawn anywhere: a bar drawn in the default
        // style before it joins its `multi` leaves a stray spinner line above the bars.
        let hidden = indicatif::ProgressDrawTarget::hidden();
        let pb = indicatif::ProgressBar::with_draw_target(total, hidden);
        if let Some(l) = label {
            pb.set_prefix(format!("{l} "));
        }
        let mut tty = TtyBar {
            pb,
            text: Mutex::new(Text::default()),
            multi: multi.cloned(),
        };
        tty.style(SPINNER_STYLE);
        if total.is_some() {
            tty.sized();
        }
        tty.pb = match multi {
            Some(m) => m.add(tty.pb.clone()),
            None => {
                tty.pb
                    .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                set_active(Some(Active::Bar(tty.pb.downgrade())));
                if total.is_some() {
                    tty.pb.force_draw();
                }
                tty.pb.clone()
            }
        };
        tty.pb.enable_steady_tick(Duration::from_millis(120));
        bar(Show::Tty(tty))
    }

    /// After [`Progress::finish`] (the bytes are done), keeps a spinner with the phase
    /// (`finishing` until another is set) until [`Bar::done`] or the bar is dropped: a restore
    /// into a database still waits for the server and checks row counts then.
    pub fn lingering(mut self) -> Self {
        self.linger = true;
        self
    }

    /// Names the item from the bytes done, read as offsets into a stream of `sections` (a
    /// restore writing the stream in order): a data section's table, else the section's type
    /// and name. An empty slice stops it (work not in stream order, e.g. a parallel restore).
    pub fn follow_sections(&self, sections: &[Section]) {
        if matches!(self.show, Show::Off) {
            return;
        }
        let starts = sections
            .iter()
            .map(|s| {
                let label = match (&s.table, s.object_type.as_str()) {
                    (Some(t), "TABLE DATA") => t.clone(),
                    _ if s.name.is_empty() || s.object_type.is_empty() => String::new(),
                    (_, kind) => format!("{kind} {}", s.name),
                };
                (s.start, label)
            })
            .collect();
        if let Ok(mut f) = self.follow.lock() {
            *f = Follow {
                starts,
                done: 0,
                shown: usize::MAX,
            };
        }
    }

    /// Advances [`Bar::follow_sections`] by `bytes`; sets the item when it changed.
    fn follow(&self, bytes: u64) {
        let Ok(mut f) = self.follow.lock() else {
            return;
        };
        if f.starts.is_empty() {
            return;
        }
        f.done += bytes;
        let done = f.done;
        let i = f.starts.partition_point(|(start, _)| *start <= done);
        let i = i.saturating_sub(1);
        if i != f.shown {
            f.shown = i;
            let label = f.starts[i].1.clone();
            drop(f);
            self.set_item(&label);
        }
    }

    /// Removes the bar (before printing a summary).
    pub fn done(&self) {
        if let Show::Tty(b) = &self.show {
            b.pb.finish_and_clear();
            match &b.multi {
                Some(m) => m.remove(&b.pb),
                None => set_active(None),
            }
        }
    }

    /// Shows the running items ([`Progress::start_item`]) as the item: the two oldest, and how
    /// many more.
    fn show_running(&self, change: impl FnOnce(&mut Vec<String>)) {
        let Ok(mut r) = self.running.lock() else {
            return;
        };
        change(&mut r);
        let mut text = r.iter().take(2).cloned().collect::<Vec<_>>().join(", ");
        if r.len() > 2 {
            text.push_str(&format!(" (+{} more)", r.len() - 2));
        }
        drop(r);
        self.set_item(&text);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.done();
    }
}

impl Progress for Bar {
    fn set_total(&self, bytes: u64) {
        match &self.show {
            Show::Tty(b) => {
                b.pb.set_length(bytes);
                b.sized();
            }
            Show::Json(j) => {
                if let Ok(mut s) = j.state.lock() {
                    s.total = Some(bytes);
                }
            }
            Show::Off => {}
        }
    }
    fn add_total(&self, bytes: u64) {
        match &self.show {
            Show::Tty(b) => {
                b.pb.set_length(b.pb.length().unwrap_or(0) + bytes);
                b.sized();
            }
            Show::Json(j) => {
                if let Ok(mut s) = j.state.lock() {
                    s.total = Some(s.total.unwrap_or(0) + bytes);
                }
            }
            Show::Off => {}
        }
    }
    fn inc(&self, bytes: u64) {
        self.follow(bytes);
        match &self.show {
            Show::Tty(b) => {
                b.pb.inc(bytes);
                // A dump larger than the estimate: the bar stays full, the ETA short.
                let pos = b.pb.position();
                if b.pb.length().is_some_and(|len| pos > len) {
                    b.pb.set_length(pos);
                }
            }
            Show::Json(j) => {
                if let Ok(mut s) = j.state.lock() {
                    s.done += bytes;
                    j.maybe_emit(&mut s);
                }
            }
            Show::Off => {}
        }
    }
    fn set_phase(&self, phase: &str) {
        match &self.show {
            Show::Tty(b) => b.update(|t| t.phase = phase.to_string()),
            Show::Json(j) => {
                if let Ok(mut s) = j.state.lock() {
                    s.phase = phase.to_string();
                }
            }
            Show::Off => {}
        }
    }
    fn set_item(&self, item: &str) {
        match &self.show {
            Show::Tty(b) => b.update(|t| t.item = item.to_string()),
            Show::Json(j) => {
                if let Ok(mut s) = j.state.lock() {
                    s.item = item.to_string();
                }
            }
            Show::Off => {}
        }
    }
    fn start_item(&self, item: &str) {
        self.show_running(|r| r.push(item.to_string()));
    }
    fn end_item(&self, item: &str) {
        self.show_running(|r| {
            if let Some(i) = r.iter().position(|x| x == item) {
                r.remove(i);
            }
        });
    }
    fn finish(&self) {
        match &self.show {
            Show::Tty(b) if self.linger => {
                b.style(FINISHING_STYLE);
                b.update(|t| {
                    t.phase = "finishing".into();
                    t.item.clear();
                });
            }
            Show::Tty(_) => self.done(),
            _ => {}
        }
    }
}

/// Several bars at once, one line each (an indicatif `MultiProgress`): one per database of a
/// multi-database snapshot or of a fleet run. Shown as [`Bar::new`] says (JSON status lines
/// naming each bar's label with `--json`, nothing when not `show`).
pub struct Bars {
    show: bool,
    multi: Option<indicatif::MultiProgress>,
}

impl Bars {
    /// Bars shown when `show` (see [`Bar::new`]).
    pub fn new(show: bool) -> Self {
        let multi = (show && !JSON_STATUS.load(Ordering::Relaxed)).then(|| {
            let m =
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr());
            set_active(Some(Active::Multi(m.clone())));
            m
        });
        Bars { show, multi }
    }

    /// A bar of its own line, labelled `label` (e.g. the database), until it is dropped or
    /// [`Bar::done`].
    pub fn bar(&self, label: &str) -> Bar {
        Bar::build(self.show, None, Some(label), self.multi.as_ref())
    }

    /// Removes every line (before printing a summary).
    pub fn done(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
            set_active(None);
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.done();
    }
}

impl Progresses for Bars {
    fn start(&self, label: &str) -> Box<dyn Progress + '_> {
        Box::new(self.bar(label))
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
/// The ratio names what made the stored bytes smaller: deduplication when some chunks were
/// already in the repository, deltas when `delta_blobs` new chunks were stored as patches
/// against earlier chunks, and compression always. When every chunk was new and none was a
/// delta (a first snapshot), it is compression alone.
pub fn snapshot_ratio(o: &SnapshotOutcome) -> Option<(f64, &'static str)> {
    let s = &o.manifest.summary;
    let (read, stored) = (s.bytes_read, s.bytes_added);
    if stored == 0 || read == 0 {
        return None;
    }
    let what = match (s.new_blobs >= s.chunks, o.delta_blobs > 0) {
        (true, false) => "compression: every chunk was new",
        (true, true) => "deltas against earlier chunks and compression",
        (false, false) => "deduplication and compression",
        (false, true) => "deduplication, deltas against earlier chunks and compression",
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
    let ratio = snapshot_ratio(o);
    if json {
        // `dedup_ratio` (kept for scripts) is null where it means nothing, as is
        // `compression_ratio` unless every chunk was new and stored whole.
        let compression_only = s.new_blobs >= s.chunks && o.delta_blobs == 0;
        println!(
            "{}",
            json!({"id": o.id.to_hex(), "short_id": o.id.short(), "time": o.manifest.time,
                "bytes_read": s.bytes_read, "logical_bytes": s.bytes_read,
                "bytes_added": s.bytes_added, "stored_bytes": s.bytes_added, "chunks": s.chunks,
                "new_blobs": s.new_blobs, "delta_blobs": o.delta_blobs,
                "delta_bytes": o.delta_bytes, "dedup_ratio": ratio.map(|r| r.0),
                "compression_ratio": ratio.filter(|_| compression_only).map(|r| r.0),
                "duration_ms": s.duration_ms, "database": o.manifest.database(),
                "tags": o.manifest.tags})
        );
    } else {
        println!("{}", snapshot_summary(o));
    }
}

/// One line on a saved snapshot: its logical size (the dump's bytes), how many of its chunks
/// were new and how many of those were stored as deltas (with their sealed bytes), the bytes
/// that added to the repository (sealed: compressed and encrypted), and a ratio only where it
/// means something.
pub fn snapshot_summary(o: &SnapshotOutcome) -> String {
    let s = &o.manifest.summary;
    let deltas = match o.delta_blobs {
        0 => String::new(),
        n => format!(" ({n} stored as deltas, {})", human_bytes(o.delta_bytes)),
    };
    let head = format!(
        "snapshot {} saved: logical {}, new chunks {} of {}{deltas}, stored {}",
        o.id.short(),
        human_bytes(s.bytes_read),
        s.new_blobs.min(s.chunks),
        s.chunks,
        human_bytes(s.bytes_added),
    );
    let ratio = snapshot_ratio(o);
    match ratio {
        _ if s.bytes_read == 0 => format!("{head} (an empty dump)"),
        None => format!("{head}: nothing added, every chunk was already in the repository"),
        Some((r, what)) => format!("{head} ({r:.1}x smaller, {what})"),
    }
}
