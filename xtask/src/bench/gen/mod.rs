//! The synthetic pg_dump-style series, one per churn model (issue 16): tables of rows in
//! primary-key order, changed every hour by the model, written as plain pg_dump text. Everything
//! is derived from the seed, so a series is generated once and reused for the same model, seed,
//! size and hours (target/bench/synthetic-…/meta.json).
//!
//! Models: [`Model::Hotspot`] (ten `orders_NN` tables, 80% of updates among the newest 5% of
//! rows: the bench's original series, byte for byte), [`Model::Uniform`] (an e-commerce schema
//! with foreign keys and a quoted table name, updates and deletes scattered uniformly over
//! every table) and [`Model::Mixed`] (the uniform churn plus one schema or bulk event per hour:
//! 5% of rows deleted, a column added, a table rewritten, an index created).
//!
//! Each hour also yields its "floor": the zstd -3 size of the changed rows' text (updated,
//! inserted and rewritten rows as they appear in the new dump, the deleted keys, new DDL), the
//! least a backup of that hour could store.

mod hotspot;
mod mixed;
mod tables;
mod uniform;

use anyhow::{Context, Result};
pub use hotspot::table_name;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
pub use tables::Rng;
use tables::{Change, Schema};

/// A synthetic churn model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Uniform,
    Hotspot,
    Mixed,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Uniform => "uniform",
            Model::Hotspot => "hotspot",
            Model::Mixed => "mixed",
        }
    }

    /// One line on what the model changes per hour.
    pub fn describe(self) -> &'static str {
        match self {
            Model::Hotspot => hotspot::DESCRIPTION,
            Model::Uniform => uniform::DESCRIPTION,
            Model::Mixed => mixed::DESCRIPTION,
        }
    }

    /// The table whose one-table restore is measured (schema-qualified, as in the dump).
    pub fn sample_table(self) -> String {
        match self {
            Model::Hotspot => format!("public.{}", hotspot::table_name(3)),
            _ => "public.orders".into(),
        }
    }
}

/// A generated series: one dump file per hour (hour 0 is the initial dump).
pub struct Series {
    pub files: Vec<PathBuf>,
    pub sizes: Vec<u64>,
    /// Per hour: rows updated (or rewritten), inserted, deleted (hour 0: the rows as inserts).
    pub changes: Vec<[u64; 3]>,
    /// Per hour: what else happened (schema events of the mixed model), or "".
    pub events: Vec<String>,
    /// Per hour: bytes of the changed rows' text, and its zstd -3 size (the floor).
    pub changed_bytes: Vec<u64>,
    pub floor: Vec<u64>,
    /// Seconds spent generating (0 when reused).
    pub generated_secs: f64,
}

fn schema(model: Model, seed: u64, size: u64) -> Schema {
    match model {
        Model::Hotspot => hotspot::schema(seed, size),
        Model::Uniform | Model::Mixed => uniform::schema(seed, size),
    }
}

/// One hour of the model's changes, per table, and the event's description.
fn changes(model: Model, s: &Schema, hour: u64) -> (Vec<Change>, String) {
    match model {
        Model::Hotspot => (hotspot::changes(s, hour), String::new()),
        Model::Uniform => (uniform::changes(s, hour), String::new()),
        Model::Mixed => mixed::changes(s, hour),
    }
}

/// Generates (or reuses) the series of `model` under `dir`.
pub fn series(dir: &Path, model: Model, seed: u64, size: u64, hours: usize) -> Result<Series> {
    let meta_path = dir.join("meta.json");
    if let Ok(text) = std::fs::read_to_string(&meta_path) {
        if let Ok(s) = load(dir, &text) {
            eprintln!(
                "bench: reusing the {} series in {}",
                model.name(),
                dir.display()
            );
            return Ok(s);
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let started = std::time::Instant::now();
    let mut sch = schema(model, seed, size);
    let mut s = Series {
        files: Vec::new(),
        sizes: Vec::new(),
        changes: Vec::new(),
        events: Vec::new(),
        changed_bytes: Vec::new(),
        floor: Vec::new(),
        generated_secs: 0.0,
    };
    for hour in 0..=hours {
        let changed = if hour == 0 {
            let rows: u64 = sch.tables.iter().map(|t| t.rows.len() as u64).sum();
            s.changes.push([0, rows, 0]);
            s.events.push(String::new());
            Vec::new()
        } else {
            let (ch, event) = changes(model, &sch, hour as u64);
            let (counts, changed) = sch.apply(ch);
            s.changes.push(counts);
            s.events.push(event);
            changed
        };
        let path = dir.join(format!("hour-{hour:02}.sql"));
        let written = sch.write(&path)?;
        let floor = if hour == 0 {
            0
        } else {
            zstd::bulk::compress(&changed, 3)?.len() as u64
        };
        eprintln!(
            "bench: generated {} ({written} bytes; changed rows {} bytes, zstd -3 {floor} bytes) {}",
            path.display(),
            changed.len(),
            s.events[hour]
        );
        s.files.push(path);
        s.sizes.push(written);
        s.changed_bytes.push(changed.len() as u64);
        s.floor.push(floor);
    }
    s.generated_secs = started.elapsed().as_secs_f64();
    let meta = json!({
        "model": model.name(), "seed": seed, "size": size, "hours": hours,
        "sizes": s.sizes, "changes": s.changes, "events": s.events,
        "changed_bytes": s.changed_bytes, "floor": s.floor,
    });
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)?)?;
    Ok(s)
}

fn load(dir: &Path, text: &str) -> Result<Series> {
    let v: Value = serde_json::from_str(text)?;
    let nums = |k: &str| -> Result<Vec<u64>> {
        v[k].as_array()
            .context("meta")?
            .iter()
            .map(|x| x.as_u64().context("meta"))
            .collect()
    };
    let sizes = nums("sizes")?;
    let mut files = Vec::new();
    for (h, want) in sizes.iter().enumerate() {
        let p = dir.join(format!("hour-{h:02}.sql"));
        anyhow::ensure!(
            std::fs::metadata(&p)?.len() == *want,
            "size of {}",
            p.display()
        );
        files.push(p);
    }
    let changes = v["changes"]
        .as_array()
        .context("meta")?
        .iter()
        .map(|c| {
            let a = c.as_array().context("meta")?;
            let g = |i: usize| a.get(i).and_then(Value::as_u64).context("meta");
            Ok([g(0)?, g(1)?, g(2)?])
        })
        .collect::<Result<Vec<_>>>()?;
    let events = (v["events"].as_array().context("meta")?.iter())
        .map(|e| e.as_str().unwrap_or_default().to_string())
        .collect();
    Ok(Series {
        files,
        sizes,
        changes,
        events,
        changed_bytes: nums("changed_bytes")?,
        floor: nums("floor")?,
        generated_secs: 0.0,
    })
}
