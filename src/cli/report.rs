//! `dumpvault report`: the repository's figures per database, as text, JSON, or one
//! self-contained HTML page with inline SVG charts (drawn with plotters; no scripts, no
//! external assets, so it can be mailed or opened offline).

use super::output::human_bytes;
use super::{Ctx, FilterArgs};
use anyhow::{anyhow, Context, Result};
use dumpvault::commands::report::{DatabaseReport, Report, SnapshotPoint, VerificationSummary};
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML page (inline SVG charts) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Runs `report`.
pub fn run(ctx: &Ctx, a: ReportArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let report = dumpvault::commands::report::run(&repo, &a.filter.filter())?;
    let now = jiff::Timestamp::now();
    if let Some(path) = &a.html {
        let page = html(&report, now)?;
        std::fs::write(path, page)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    // The same table layout as `snapshots` and `stats` (no trailing blanks), times to the
    // second in local time.
    let mut t = super::output::table(
        &[
            "database",
            "engine",
            "snapshots",
            "last snapshot",
            "added",
            "last verification",
        ],
        &[2, 4],
    );
    for d in &report.databases {
        // A name two databases share (one name on two servers) is shown as the identity.
        let shared = report.databases.iter().filter(|o| o.name == d.name).count() > 1;
        let last = (d.last_snapshot.as_deref())
            .and_then(dumpvault::commands::snapshots::parse_time)
            .map_or("-".into(), |t| super::output::show_time(t, false));
        t.add_row(vec![
            if shared {
                d.identity.clone()
            } else {
                d.name.clone()
            },
            d.engine.to_string(),
            d.snapshots.len().to_string(),
            last,
            human_bytes(d.bytes_added),
            verification_text(d.last_verification.as_ref()),
        ]);
    }
    println!("{}", super::output::render(&t));
    if let Some(path) = &a.html {
        println!(
            "report of {} database(s), {} snapshot(s) written to {}",
            report.databases.len(),
            report.snapshots,
            path.display()
        );
    }
    Ok(0)
}

/// `ok 2026-12-04 06:30 (stream)`, `FAILED …` or `never`.
fn verification_text(v: Option<&VerificationSummary>) -> String {
    match v {
        None => "never".into(),
        Some(v) => format!(
            "{} {} ({})",
            if v.ok { "ok" } else { "FAILED" },
            short_time(&v.time),
            v.mode
        ),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-12-04 06:30` (UTC) of an RFC 3339 time; the text itself when it does not parse.
fn short_time(t: &str) -> String {
    match dumpvault::commands::snapshots::parse_time(t) {
        Some(ts) => ts.strftime("%Y-%m-%d %H:%M").to_string(),
        None => t.to_string(),
    }
}

/// `3h`, `2d 4h`, `45m`: how long ago `t` was, before `now`.
fn age(t: &str, now: jiff::Timestamp) -> (String, i64) {
    let Some(ts) = dumpvault::commands::snapshots::parse_time(t) else {
        return ("?".into(), i64::MAX);
    };
    let secs = (now.as_second() - ts.as_second()).max(0);
    let text = if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d {}h", secs / 86400, secs % 86400 / 3600)
    };
    (text, secs)
}

/// CSS class of a last-snapshot age: fresh within 26 hours, old within 7 days, stale after.
fn age_class(secs: i64) -> &'static str {
    match secs {
        s if s <= 26 * 3600 => "good",
        s if s <= 7 * 86400 => "warn",
        _ => "bad",
    }
}

fn verification_cell(v: Option<&VerificationSummary>) -> String {
    match v {
        None => "<span class=\"badge none\">never verified</span>".into(),
        Some(v) => format!(
            "<span class=\"badge {}\">{}</span> {} <span class=\"muted\">({}, snapshot {})</span>{}",
            if v.ok { "good" } else { "bad" },
            if v.ok { "ok" } else { "FAILED" },
            escape(&short_time(&v.time)),
            escape(&v.mode),
            escape(v.snapshot.get(..8).unwrap_or(&v.snapshot)),
            if v.detail.is_empty() {
                String::new()
            } else {
                format!("<br><span class=\"muted\">{}</span>", escape(&v.detail))
            }
        ),
    }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
header{background:#1f3a5f;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:22px}
header p{margin:0;opacity:.9;font-size:14px}
main{padding:20px 28px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;margin:8px 0 4px}
th,td{border-bottom:1px solid #e3e7eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
section.database{background:#fff;border:1px solid #dde2e7;border-radius:6px;margin:22px 0;padding:14px 18px}
section.database h2{margin:0 0 6px;font-size:18px}
.facts{font-size:13px;margin:0 0 10px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;flex:1 1 340px;max-width:380px}
figcaption{font-size:13px;font-weight:600;margin-bottom:2px}
svg{max-width:100%;height:auto}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600}
.good{background:#dcf3e3;color:#17622f}.warn{background:#fff1cc;color:#7a5a00}
.bad{background:#fbdcdc;color:#8f1d1d}.none{background:#eceff2;color:#5b6570}
.muted{color:#6b7682}
code{font-size:12px}
";

/// The whole page: a header, an overview table, and one section per database with three
/// charts and its latest snapshots. Every text from the repository is escaped.
pub fn html(r: &Report, now: jiff::Timestamp) -> Result<String> {
    let mut h = String::new();
    let title = format!("dumpvault report: {}", r.repository);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<header>\n\
         <h1>dumpvault backup report</h1>\n<p>Repository <code>{}</code> · generated {} UTC · \
         {} database(s) · {} snapshot(s) · {} in pack files · {} added by the snapshots listed \
         when they were taken</p>\n</header>\n<main>\n",
        escape(&title),
        escape(&r.repository),
        escape(&now.strftime("%Y-%m-%d %H:%M").to_string()),
        r.databases.len(),
        r.snapshots,
        escape(&human_bytes(r.repository_bytes)),
        escape(&human_bytes(r.bytes_added)),
    );
    if r.databases.is_empty() {
        h.push_str("<p>The repository holds no snapshots (matching the filter).</p>\n");
    } else {
        h.push_str(
            "<table class=\"overview\">\n<tr><th>database</th><th>engine</th>\
             <th class=\"num\">snapshots</th><th>last snapshot (UTC)</th><th>age</th>\
             <th>last verification</th><th class=\"num\">latest dump</th>\
             <th class=\"num\">added in total</th></tr>\n",
        );
        for (i, d) in r.databases.iter().enumerate() {
            let (age_text, secs) = d
                .last_snapshot
                .as_deref()
                .map_or(("-".into(), i64::MAX), |t| age(t, now));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
                 <td><span class=\"badge {}\">{}</span></td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr>",
                escape(&d.name),
                escape(&d.engine),
                d.snapshots.len(),
                escape(
                    &d.last_snapshot
                        .as_deref()
                        .map(short_time)
                        .unwrap_or_default()
                ),
                age_class(secs),
                escape(&age_text),
                verification_cell(d.last_verification.as_ref()),
                escape(&human_bytes(d.latest_size)),
                escape(&human_bytes(d.bytes_added)),
            );
            let _ = i;
        }
        h.push_str("</table>\n");
    }
    for (i, d) in r.databases.iter().enumerate() {
        section(&mut h, i, d, now)?;
    }
    h.push_str("</main>\n</body>\n</html>\n");
    Ok(h)
}

fn section(h: &mut String, i: usize, d: &DatabaseReport, now: jiff::Timestamp) -> Result<()> {
    let name = escape(&d.name);
    let (age_text, secs) = d
        .last_snapshot
        .as_deref()
        .map_or(("-".into(), i64::MAX), |t| age(t, now));
    let _ = write!(
        h,
        "<section class=\"database\" id=\"db-{i}\" data-database=\"{name}\" data-snapshots=\"{}\">\n\
         <h2>{name}</h2>\n<p class=\"facts\">{} · {} · host {} · <b>{}</b> snapshot(s) · last snapshot \
         {} UTC <span class=\"badge {}\">{} ago</span> · last verification: {} · {} added in total\
         </p>\n<div class=\"charts\">\n",
        d.snapshots.len(),
        escape(&d.engine),
        escape(&d.identity),
        escape(&d.hosts.join(", ")),
        d.snapshots.len(),
        escape(&d.last_snapshot.as_deref().map(short_time).unwrap_or_default()),
        age_class(secs),
        escape(&age_text),
        verification_cell(d.last_verification.as_ref()),
        escape(&human_bytes(d.bytes_added)),
    );
    let charts = [
        ("Snapshots over time", snapshots_chart(&d.snapshots, now)?),
        ("Bytes added per snapshot", added_chart(&d.snapshots)?),
        (
            "Repository growth (cumulative bytes added)",
            growth_chart(&d.snapshots, now)?,
        ),
    ];
    for (title, svg) in charts {
        let _ = write!(
            h,
            "<figure><figcaption>{}</figcaption>\n{svg}</figure>\n",
            escape(title)
        );
    }
    h.push_str(
        "</div>\n<table class=\"snapshots\">\n<tr><th>snapshot</th><th>time (UTC)</th>\
                <th class=\"num\">dump size</th><th class=\"num\">added</th>\
                <th>verified</th></tr>\n",
    );
    const SHOWN: usize = 10;
    for s in d.snapshots.iter().rev().take(SHOWN) {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&s.short_id),
            escape(&short_time(&s.time)),
            escape(&human_bytes(s.size)),
            escape(&human_bytes(s.bytes_added)),
            match &s.verified {
                None => "-".to_string(),
                Some(v) => format!(
                    "<span class=\"badge {}\">{}</span> {}",
                    if v.ok { "good" } else { "bad" },
                    if v.ok { "ok" } else { "FAILED" },
                    escape(&short_time(&v.time))
                ),
            }
        );
    }
    if d.snapshots.len() > SHOWN {
        let _ = writeln!(
            h,
            "<tr><td colspan=\"5\" class=\"muted\">… and {} older snapshot(s)</td></tr>",
            d.snapshots.len() - SHOWN
        );
    }
    h.push_str("</table>\n</section>\n");
    Ok(())
}

const W: u32 = 380;
const H: u32 = 230;
const BLUE_: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const GREEN_: RGBColor = RGBColor(0x2f, 0x85, 0x5a);
const ORANGE_: RGBColor = RGBColor(0xc0, 0x56, 0x21);

fn draw_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw a chart: {e}")
}

/// The time span of the points, widened to at least an hour either side of a single time.
fn time_range(points: &[SnapshotPoint], now: jiff::Timestamp) -> std::ops::Range<f64> {
    let min = points.iter().map(|p| p.unix_time).min().unwrap_or(0) as f64;
    let max = points.iter().map(|p| p.unix_time).max().unwrap_or(0) as f64;
    let pad = ((max - min) * 0.05).max(if max > min { 60.0 } else { 3600.0 });
    // The axis never runs past the report's own time (unless a snapshot claims a later one).
    let end = (max + pad).min((now.as_second() as f64).max(max + 1.0));
    (min - pad)..end
}

/// Binary units of a byte axis: (bytes, name).
const BYTE_UNITS: [(u64, &str); 6] = [
    (1, "B"),
    (1 << 10, "KiB"),
    (1 << 20, "MiB"),
    (1 << 30, "GiB"),
    (1 << 40, "TiB"),
    (1 << 50, "PiB"),
];

/// Most ticks a byte axis has above 0.
const BYTE_TICKS: u64 = 5;

/// A byte axis: ticks at 0 and multiples of a round step (1, 2 or 5 times a power of ten of
/// one binary unit: 500 B, 1 KiB, 20 KiB, 200 MiB, 1 GiB…), each labelled in the step's unit.
#[derive(Debug, Clone, PartialEq)]
struct ByteAxis {
    /// Tick values, bytes, from 0 up to the axis top.
    ticks: Vec<f64>,
    /// The unit of every label: (bytes, name).
    unit: (u64, &'static str),
}

impl ByteAxis {
    /// The axis for values up to `max` bytes: the smallest step with at most [`BYTE_TICKS`]
    /// ticks above 0 covering `max` plus 5% headroom (and at least 1 KiB, so that an axis of
    /// nothing added does not read `0 B, 0 B, 1 B`); the top is the last tick.
    fn new(max: u64) -> Self {
        let want = ((max as f64 * 1.05).ceil() as u64).max(1024);
        for unit in BYTE_UNITS {
            for m in [1, 2, 5, 10, 20, 50, 100, 200, 500] {
                let step = m * unit.0;
                let n = want.div_ceil(step);
                if n <= BYTE_TICKS {
                    let ticks = (0..=n).map(|k| (k * step) as f64).collect();
                    return ByteAxis { ticks, unit };
                }
            }
        }
        // Beyond 500 PiB: whole PiB steps.
        let unit = BYTE_UNITS[BYTE_UNITS.len() - 1];
        let step = want.div_ceil(BYTE_TICKS).div_ceil(unit.0) * unit.0;
        let ticks = (0..=BYTE_TICKS).map(|k| (k * step) as f64).collect();
        ByteAxis { ticks, unit }
    }

    /// The axis top, bytes (the last tick).
    fn top(&self) -> f64 {
        self.ticks.last().copied().unwrap_or(1024.0)
    }

    /// The label of a tick: `0 B`, else a whole number of the axis unit (`500 KiB`,
    /// `1500 KiB`, `2 MiB`).
    fn label(&self, y: f64) -> String {
        let units = (y.max(0.0) / self.unit.0 as f64).round() as u64;
        if units == 0 {
            return "0 B".into();
        }
        format!("{units} {}", self.unit.1)
    }
}

/// An axis of `f64` values whose ticks are given ([`ByteAxis`], [`TimeAxis`]) instead of
/// plotters' own decimal ones; the labels come from the chart's label formatters.
struct Ticked {
    range: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: &[f64]) -> Self {
        Ticked {
            range: range.into(),
            ticks: ticks.to_vec(),
        }
    }
}

impl Ranged for Ticked {
    type ValueType = f64;
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    /// The given ticks, as bold lines; no light ones.
    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
}

/// Tick steps of a time axis, seconds: round minutes, hours, days, weeks, then 30-day steps.
const TIME_STEPS: [i64; 24] = [
    10,
    30,
    60,
    2 * 60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
    60 * 86400,
    90 * 86400,
    180 * 86400,
    365 * 86400,
    730 * 86400,
    1825 * 86400,
];

/// A time axis: ticks (Unix seconds) at multiples of a round step chosen from the span, and
/// a label format under which no two ticks read the same.
#[derive(Debug, Clone, PartialEq)]
struct TimeAxis {
    /// Tick times, Unix seconds, within the range.
    ticks: Vec<f64>,
    /// `strftime` format of the labels (UTC).
    format: &'static str,
}

impl TimeAxis {
    /// The axis over `range` (Unix seconds): the smallest step of [`TIME_STEPS`] that gives
    /// at most 4 ticks (3 with the long `%m-%d %H:%M` labels, so they do not overlap in a
    /// chart 380 pixels wide). Labels: `%H:%M:%S` under a minute's step, `%H:%M` over a span
    /// under a day, `%m-%d %H:%M` over a longer one, `%m-%d` for day steps within a year,
    /// `%Y-%m-%d` beyond; ticks on distinct multiples of the step thereby never share a label.
    fn new(range: &std::ops::Range<f64>) -> Self {
        let span = range.end - range.start;
        let mut last = TimeAxis {
            ticks: Vec::new(),
            format: "%Y-%m-%d",
        };
        for step in TIME_STEPS {
            let format = match step {
                s if s < 60 => "%H:%M:%S",
                s if s < 86400 && span < 86400.0 => "%H:%M",
                s if s < 86400 => "%m-%d %H:%M",
                _ if span < 360.0 * 86400.0 => "%m-%d",
                _ => "%Y-%m-%d",
            };
            let most = if format == "%m-%d %H:%M" { 3 } else { 4 };
            let first = (range.start / step as f64).ceil() as i64;
            let ticks: Vec<f64> = (first..)
                .map(|k| (k * step) as f64)
                .take_while(|t| *t <= range.end)
                .take(most + 1)
                .collect();
            last = TimeAxis { ticks, format };
            if last.ticks.len() <= most {
                return last;
            }
        }
        last
    }

    /// The label of tick `x` (Unix seconds), in UTC.
    fn label(&self, x: f64) -> String {
        match jiff::Timestamp::from_second(x.round() as i64) {
            Ok(t) => t.strftime(self.format).to_string(),
            Err(_) => String::new(),
        }
    }
}

/// Takes the SVG plotters wrote, without the namespace attribute (not needed inline in HTML,
/// and it keeps the page free of any URL).
fn finish(svg: String) -> String {
    svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

/// Most points a line chart marks with a dot: beyond, dots would only blur the line (and
/// swell the page).
const MAX_DOTS: usize = 200;

/// The points to mark with a dot: all of them, or none past [`MAX_DOTS`].
fn dots(data: &[(f64, f64)]) -> impl Iterator<Item = &(f64, f64)> {
    data.iter()
        .take(if data.len() > MAX_DOTS { 0 } else { data.len() })
}

/// Cumulative snapshot count against time, one dot per snapshot (up to [`MAX_DOTS`]).
fn snapshots_chart(points: &[SnapshotPoint], now: jiff::Timestamp) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let xr = time_range(points, now);
        let xa = TimeAxis::new(&xr);
        let ymax = (points.len() as f64 * 1.15).max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(40)
            .build_cartesian_2d(Ticked::new(xr, &xa.ticks), 0f64..ymax)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .y_labels((ymax as usize + 1).min(6))
            .x_label_formatter(&|x| xa.label(*x))
            // Whole numbers only: a count has no fractions.
            .y_label_formatter(&|y| {
                if (y - y.round()).abs() < 1e-9 {
                    format!("{y:.0}")
                } else {
                    String::new()
                }
            })
            .y_desc("snapshots")
            .label_style(("sans-serif", 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(draw_err)?;
        let data: Vec<(f64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.unix_time as f64, (i + 1) as f64))
            .collect();
        let mut steps = Vec::new();
        for (i, (x, y)) in data.iter().enumerate() {
            if i > 0 {
                steps.push((*x, y - 1.0));
            }
            steps.push((*x, *y));
        }
        chart
            .draw_series(LineSeries::new(steps, BLUE_.stroke_width(2)))
            .map_err(draw_err)?;
        chart
            .draw_series(dots(&data).map(|p| Circle::new(*p, 3, BLUE_.filled())))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(finish(svg))
}

/// One bar per snapshot (oldest left): the bytes it added.
fn added_chart(points: &[SnapshotPoint]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let n = points.len().max(1) as u32;
        let ya = ByteAxis::new(points.iter().map(|p| p.bytes_added).max().unwrap_or(0));
        let yr = Ticked::new(0f64..ya.top(), &ya.ticks);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(58)
            .build_cartesian_2d((1u32..n).into_segmented(), yr)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels((n as usize).min(8))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => format!("#{i}"),
                SegmentValue::Last => String::new(),
            })
            .y_label_formatter(&|y| ya.label(*y))
            .x_desc("snapshot, oldest first")
            .label_style(("sans-serif", 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(ORANGE_.filled())
                    .margin(if n > 40 { 0 } else { 3 })
                    .data(
                        points
                            .iter()
                            .enumerate()
                            .map(|(i, p)| (i as u32 + 1, p.bytes_added as f64)),
                    ),
            )
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(finish(svg))
}

/// Running total of the bytes added against time.
fn growth_chart(points: &[SnapshotPoint], now: jiff::Timestamp) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let xr = time_range(points, now);
        let xa = TimeAxis::new(&xr);
        let ya = ByteAxis::new(points.last().map_or(0, |p| p.cumulative_added));
        let yr = Ticked::new(0f64..ya.top(), &ya.ticks);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(26)
            .y_label_area_size(58)
            .build_cartesian_2d(Ticked::new(xr, &xa.ticks), yr)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| xa.label(*x))
            .y_label_formatter(&|y| ya.label(*y))
            .label_style(("sans-serif", 12))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .draw()
            .map_err(draw_err)?;
        let data: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (p.unix_time as f64, p.cumulative_added as f64))
            .collect();
        chart
            .draw_series(
                AreaSeries::new(data.clone(), 0.0, GREEN_.mix(0.2))
                    .border_style(GREEN_.stroke_width(2)),
            )
            .map_err(draw_err)?;
        chart
            .draw_series(dots(&data).map(|p| Circle::new(*p, 3, GREEN_.filled())))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(finish(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(unix_time: i64) -> SnapshotPoint {
        SnapshotPoint {
            unix_time,
            ..Default::default()
        }
    }

    #[test]
    fn byte_axes_have_distinct_ticks_and_time_axes_end_at_the_report() {
        // Nothing added: the axis spans at least 1 KiB, so ticks read 0 B, 500 B, … not
        // 0 B, 0 B, 1 B.
        let a = ByteAxis::new(0);
        assert_eq!(a.ticks, [0.0, 500.0, 1000.0, 1500.0]);
        let labels: Vec<String> = a.ticks.iter().map(|y| a.label(*y)).collect();
        assert_eq!(labels, ["0 B", "500 B", "1000 B", "1500 B"]);
        // 1.5 MB of decimal bytes: 500 KiB steps, labelled in KiB.
        let a = ByteAxis::new(1_500_000);
        let labels: Vec<String> = a.ticks.iter().map(|y| a.label(*y)).collect();
        assert_eq!(
            labels,
            ["0 B", "500 KiB", "1000 KiB", "1500 KiB", "2000 KiB"]
        );
        let a = ByteAxis::new(7 << 30);
        let labels: Vec<String> = a.ticks.iter().map(|y| a.label(*y)).collect();
        assert_eq!(labels, ["0 B", "2 GiB", "4 GiB", "6 GiB", "8 GiB"]);
        // Time ticks on round steps with distinct labels, whatever the span.
        for (span, format) in [
            (300.0, "%H:%M"),
            (7200.0, "%H:%M"),
            (30.0 * 3600.0, "%m-%d %H:%M"),
            (2.5 * 86400.0, "%m-%d"),
            (400.0 * 86400.0, "%Y-%m-%d"),
        ] {
            let start = 1_796_551_234.0;
            let a = TimeAxis::new(&(start..start + span));
            assert_eq!(a.format, format, "{span}");
            assert!((2..=4).contains(&a.ticks.len()), "{span}: {a:?}");
            let labels: std::collections::HashSet<String> =
                a.ticks.iter().map(|x| a.label(*x)).collect();
            assert_eq!(labels.len(), a.ticks.len(), "{span}: {labels:?}");
        }
        // Snapshots until 10 minutes before the report: the axis stops at the report's time.
        let now = jiff::Timestamp::from_second(100_000).unwrap();
        let r = time_range(&[point(10_000), point(99_400)], now);
        assert_eq!(r.end, 100_000.0);
        assert!(r.start < 10_000.0);
        // A snapshot that claims a later time than the report still shows.
        let r = time_range(&[point(100_500)], now);
        assert!(r.end > 100_500.0);
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
