//! `dumpvault report` through the binary: a repository with three stdin streams (one named
//! with HTML metacharacters), an SQLite database and a verification; the HTML page has one
//! section per database with its name and snapshot count, inline SVG charts, no script and no
//! external asset, escapes the names, and its figures match `snapshots --json`.

use crate::common::{synthetic_dump, TestRepo};
use serde_json::Value;
use std::collections::BTreeMap;

/// A name with every character HTML must escape.
const ODD: &str = "o'brien <&> \"q\".sql";

/// HTML-escaped `s`, as the report writes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The group a `snapshots --json` entry belongs to: its database, else its first stream.
fn group(s: &Value) -> String {
    match s["database"].as_str() {
        Some(d) => d.to_string(),
        None => s["streams"][0]["name"].as_str().unwrap().to_string(),
    }
}

/// Every value of attribute `attr` (e.g. `href=`) in `html`.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let lower = html.to_ascii_lowercase();
    lower
        .match_indices(attr)
        .map(|(i, _)| {
            let v = html[i + attr.len()..].trim_start_matches(['"', '\'']);
            &v[..v.find(['"', '\'', ' ', '>']).unwrap_or(v.len())]
        })
        .collect()
}

#[test]
fn html_report_has_a_section_per_database_with_charts_and_matching_figures() {
    let t = TestRepo::new();
    let streams = [("shop.sql", 4usize), ("crm.sql", 2), (ODD, 3)];
    for (name, count) in streams {
        for k in 0..count {
            let time = format!("2026-11-{:02}T0{}:05:00+00:00", 20 + k, k % 10);
            let data = synthetic_dump(60_000 + 10_000 * k, k as u64 + name.len() as u64);
            t.dv(&["snapshot", "--stdin", "--stdin-name", name, "--time", &time])
                .write_stdin(data)
                .assert()
                .success();
        }
    }
    let db = t.path("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\
         INSERT INTO t (v) VALUES ('a'), ('b'), ('c');",
    )
    .unwrap();
    drop(conn);
    let url = format!("sqlite://{}", db.display());
    t.dv(&["snapshot", &url]).assert().success();
    t.dv(&["verify", "latest", "--database", "app.db"])
        .assert()
        .success();

    let out = t.dv(&["snapshots", "--json"]).assert().success();
    let list: Vec<Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in &list {
        *counts.entry(group(s)).or_default() += 1;
    }
    assert_eq!(counts.len(), 4, "{counts:?}");

    let file = t.path("report.html");
    let out = t
        .dv(&["report", "--html", file.to_str().unwrap()])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("4 database(s), 10 snapshot(s)"), "{stdout}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..100]);
    // The header says what each total is: the storage held, and what the snapshots added.
    assert!(html.contains(" in pack files · "), "{}", &html[..600]);
    assert!(html.contains(" added by the snapshots listed when they were taken"));

    // One section per database, named, with its snapshot count and three charts.
    let sections: Vec<&str> = html.split("<section class=\"database\"").skip(1).collect();
    assert_eq!(sections.len(), counts.len());
    for (name, n) in &counts {
        let e = esc(name);
        let s = sections
            .iter()
            .find(|s| s.contains(&format!("data-database=\"{e}\"")))
            .unwrap_or_else(|| panic!("no section for {name}"));
        assert!(s.contains(&format!("data-snapshots=\"{n}\"")), "{name}");
        assert!(s.contains(&format!("<h2>{e}</h2>")), "{name}");
        assert!(s.contains(&format!("<b>{n}</b> snapshot(s)")), "{name}");
        assert_eq!(s.matches("<svg").count(), 3, "{name}");
    }
    // Names are escaped wherever they appear.
    assert!(!html.contains("o'brien <&>"), "unescaped name");
    assert!(html.contains(&esc(ODD.trim_end_matches(".sql"))));
    // The verification shows in app.db's section; the streams were never verified.
    let app = sections
        .iter()
        .find(|s| s.contains("<h2>app.db</h2>"))
        .unwrap();
    assert!(
        app.contains("<span class=\"badge good\">ok</span>"),
        "{app}"
    );
    let shop = sections
        .iter()
        .find(|s| s.contains("<h2>shop</h2>"))
        .unwrap();
    assert!(shop.contains("never verified"));

    // Self-contained: no script, and nothing loaded from elsewhere.
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    for attr in ["src=", "href="] {
        for v in attr_values(&html, attr) {
            assert!(
                !v.contains("://") && !v.starts_with("//"),
                "{attr}{v} loads an external asset"
            );
        }
    }

    // The figures behind the page match `snapshots --json`.
    let out = t.dv(&["report", "--json"]).assert().success();
    let r: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(r["snapshots"], list.len());
    let total: u64 = list.iter().map(|s| s["added"].as_u64().unwrap()).sum();
    assert_eq!(r["bytes_added"], total);
    let dbs = r["databases"].as_array().unwrap();
    let names: Vec<&str> = dbs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, counts.keys().map(String::as_str).collect::<Vec<_>>());
    for d in dbs {
        let name = d["name"].as_str().unwrap();
        let mine: Vec<&Value> = list.iter().filter(|s| group(s) == name).collect();
        let points = d["snapshots"].as_array().unwrap();
        assert_eq!(points.len(), mine.len(), "{name}");
        // Same snapshots, oldest first (as `snapshots` lists them), with their figures.
        for (p, s) in points.iter().zip(&mine) {
            assert_eq!(p["id"], s["id"], "{name}");
            assert_eq!(p["bytes_added"], s["added"], "{name}");
            assert_eq!(p["size"], s["size"], "{name}");
        }
        let cumulative: u64 = mine.iter().map(|s| s["added"].as_u64().unwrap()).sum();
        assert_eq!(points.last().unwrap()["cumulative_added"], cumulative);
        assert_eq!(d["last_snapshot"], mine.last().unwrap()["time"], "{name}");
        let verified = mine.iter().rev().find_map(|s| s["verified"].as_object());
        match verified {
            Some(v) => assert_eq!(d["last_verification"]["time"], v["time"]),
            None => assert_eq!(d["last_verification"], Value::Null, "{name}"),
        }
    }
    assert_eq!(dbs[0]["name"], "app.db");
    assert_eq!(dbs[0]["last_verification"]["ok"], true);
}

/// The text report is laid out like `snapshots`: no trailing blanks, times to the second
/// (issue 18).
#[test]
fn text_report_has_no_trailing_blanks_and_times_to_the_second() {
    let t = TestRepo::new();
    t.snapshot_bytes(
        &synthetic_dump(100_000, 3),
        &["--time", "2026-01-01T10:20:30+00:00"],
    );
    let out = t.dv(&["report"]).env("TZ", "UTC").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.lines().all(|l| l == l.trim_end()), "{text:?}");
    assert!(text.contains("last snapshot"), "{text}");
    assert!(text.contains("2026-01-01 10:20:30"), "{text}");
}

/// The text of every `<text>` element of `svg` (plotters writes tick labels so).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

/// Byte axes tick at round binary units (`500 KiB`, `1 MiB`; 1-2-5 steps, one unit per
/// axis), and time axes never repeat a label: a short span (40 minutes) and one of about
/// three days (issue 18: `1.5 MB`-like ticks, several `12:00`).
#[test]
fn html_report_axes_tick_at_binary_units_and_distinct_times() {
    let t = TestRepo::new();
    let spans: [(&str, &[&str]); 2] = [
        (
            "short.sql",
            &[
                "2026-11-20T12:00:00+00:00",
                "2026-11-20T12:10:00+00:00",
                "2026-11-20T12:25:00+00:00",
                "2026-11-20T12:40:00+00:00",
            ],
        ),
        (
            "days.sql",
            &[
                "2026-11-20T01:00:00+00:00",
                "2026-11-21T13:00:00+00:00",
                "2026-11-22T23:00:00+00:00",
            ],
        ),
    ];
    for (name, times) in spans {
        for (k, time) in times.iter().enumerate() {
            let data = synthetic_dump(300_000 + 170_000 * k, 70 + k as u64);
            t.dv(&["snapshot", "--stdin", "--stdin-name", name, "--time", time])
                .write_stdin(data)
                .assert()
                .success();
        }
    }
    let file = t.path("axes.html");
    t.dv(&["report", "--html", file.to_str().unwrap()])
        .assert()
        .success();
    let html = std::fs::read_to_string(&file).unwrap();
    let sections: Vec<&str> = html.split("<section class=\"database\"").skip(1).collect();
    assert_eq!(sections.len(), 2);
    let units = ["B", "KiB", "MiB", "GiB"];
    for s in sections {
        let svgs: Vec<&str> = s.split("<svg").skip(1).collect();
        assert_eq!(svgs.len(), 3);
        // The snapshot-count chart and the growth chart have a time axis; the growth and the
        // bytes-added charts a byte axis.
        for (i, svg) in svgs.iter().enumerate() {
            let labels = svg_texts(svg);
            let bytes: Vec<&String> = labels
                .iter()
                .filter(|l| units.iter().any(|u| l.ends_with(&format!(" {u}"))))
                .collect();
            let times: Vec<&String> = labels
                .iter()
                .filter(|l| l.contains(':') || l.matches('-').count() == 1)
                .collect();
            if i > 0 {
                assert!(bytes.len() >= 3, "chart {i}: {labels:?}");
                let mut unit_of_axis = None;
                let mut values = Vec::new();
                for l in &bytes {
                    let (n, u) = l.split_once(' ').unwrap();
                    let n: u64 = n.parse().unwrap_or_else(|_| panic!("{l:?} in {labels:?}"));
                    values.push(n);
                    if n > 0 {
                        assert!(*unit_of_axis.get_or_insert(u) == u, "{labels:?}");
                    }
                }
                // Equal 1-2-5 steps from 0.
                let step = values[1] - values[0];
                let mantissa = step / 10u64.pow(step.ilog10());
                assert!([1, 2, 5].contains(&mantissa), "{labels:?}");
                assert!(values.windows(2).all(|w| w[1] - w[0] == step), "{labels:?}");
                assert_eq!(values[0], 0, "{labels:?}");
            }
            if i != 1 {
                assert!(times.len() >= 2, "chart {i}: {labels:?}");
                let distinct: std::collections::HashSet<&&String> = times.iter().collect();
                assert_eq!(distinct.len(), times.len(), "chart {i}: {labels:?}");
            }
        }
    }
}
