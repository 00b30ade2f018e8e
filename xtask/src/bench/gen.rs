//! The synthetic pg_dump-style series: ten similar tables of rows in primary-key order; every
//! hour 0.5% of the rows are updated (80% of the updates among the newest 5% of rows), 0.3%
//! inserted (new, highest keys) and 0.1% deleted. Everything is derived from the seed, so the
//! files are generated once and reused for the same seed, size and hours.
//!
//! Each hour also yields its "floor": the zstd -3 size of the changed rows' text (updated and
//! inserted rows as they appear in the new dump, plus the deleted keys), the least a backup of
//! that hour could store.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Tables in the synthetic dump.
pub const TABLES: usize = 10;
/// Share of rows updated, inserted and deleted per hour.
const UPDATE: f64 = 0.005;
const INSERT: f64 = 0.003;
const DELETE: f64 = 0.001;
/// Share of updates among the newest rows, and how many rows count as newest.
const HOT_UPDATES: u64 = 80;
const HOT_SHARE: u64 = 20; // the newest 1/20 = 5% of rows

/// A generated series: one dump file per hour (hour 0 is the initial dump).
pub struct Series {
    pub files: Vec<PathBuf>,
    pub sizes: Vec<u64>,
    /// Per hour: rows updated, inserted, deleted (hour 0: the initial rows as inserts).
    pub changes: Vec<[u64; 3]>,
    /// Per hour: bytes of the changed rows' text, and its zstd -3 size (the floor).
    pub changed_bytes: Vec<u64>,
    pub floor: Vec<u64>,
    /// Seconds spent generating (0 when reused).
    pub generated_secs: f64,
}

/// Name of table `t` in the dump.
pub fn table_name(t: usize) -> String {
    format!("orders_{t:02}")
}

/// Generates (or reuses) the series under `dir`.
pub fn synthetic(dir: &Path, seed: u64, size: u64, hours: usize) -> Result<Series> {
    let meta_path = dir.join("meta.json");
    if let Ok(text) = std::fs::read_to_string(&meta_path) {
        if let Ok(s) = load(dir, &text) {
            eprintln!("bench: reusing the synthetic series in {}", dir.display());
            return Ok(s);
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let started = std::time::Instant::now();
    let mut gen = Generator::new(seed, size);
    let mut s = Series {
        files: Vec::new(),
        sizes: Vec::new(),
        changes: Vec::new(),
        changed_bytes: Vec::new(),
        floor: Vec::new(),
        generated_secs: 0.0,
    };
    for hour in 0..=hours {
        let changed = if hour == 0 {
            let rows: u64 = gen.tables.iter().map(|t| t.rows.len() as u64).sum();
            s.changes.push([0, rows, 0]);
            Vec::new()
        } else {
            let (counts, changed) = gen.advance(hour as u64);
            s.changes.push(counts);
            changed
        };
        let path = dir.join(format!("hour-{hour:02}.sql"));
        let written = gen.write(&path)?;
        let floor = if hour == 0 {
            0
        } else {
            zstd::bulk::compress(&changed, 3)?.len() as u64
        };
        eprintln!(
            "bench: generated {} ({} bytes; changed rows {} bytes, zstd -3 {} bytes)",
            path.display(),
            written,
            changed.len(),
            floor
        );
        s.files.push(path);
        s.sizes.push(written);
        s.changed_bytes.push(changed.len() as u64);
        s.floor.push(floor);
    }
    s.generated_secs = started.elapsed().as_secs_f64();
    let meta = json!({
        "seed": seed, "size": size, "hours": hours,
        "sizes": s.sizes, "changes": s.changes, "changed_bytes": s.changed_bytes, "floor": s.floor,
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
    Ok(Series {
        files,
        sizes,
        changes,
        changed_bytes: nums("changed_bytes")?,
        floor: nums("floor")?,
        generated_secs: 0.0,
    })
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Rng {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for p in parts {
            r.0 ^= *p;
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy)]
struct Row {
    id: u64,
    ver: u32,
    len: u32,
}

struct Table {
    rows: Vec<Row>,
    text: Vec<u8>,
    next_id: u64,
}

struct Generator {
    seed: u64,
    tables: Vec<Table>,
}

const WORDS: [&str; 48] = [
    "express",
    "standard",
    "gift",
    "fragile",
    "return",
    "priority",
    "customer",
    "called",
    "about",
    "delivery",
    "window",
    "leave",
    "at",
    "door",
    "reception",
    "please",
    "ring",
    "twice",
    "invoice",
    "company",
    "address",
    "changed",
    "second",
    "floor",
    "warehouse",
    "backorder",
    "partial",
    "shipment",
    "discount",
    "applied",
    "coupon",
    "loyalty",
    "member",
    "wrapping",
    "note",
    "card",
    "birthday",
    "urgent",
    "weekend",
    "evening",
    "morning",
    "pickup",
    "locker",
    "signature",
    "required",
    "insured",
    "oversize",
    "pallet",
];
const NAMES: [&str; 16] = [
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "henry", "iris", "jonas", "kara",
    "liam", "mia", "noah", "olivia", "paul",
];
const STATUS: [&str; 6] = [
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
];
const CURRENCY: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];
const COLUMNS: &str =
    "id, customer_id, created_at, updated_at, status, amount, currency, email, note";

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since 1970 (UTC).
fn push_time(out: &mut Vec<u8>, secs: u64) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    push_u64(out, y as u64);
    out.push(b'-');
    push_2(out, m as u64);
    out.push(b'-');
    push_2(out, d as u64);
    out.push(b' ');
    push_2(out, rem / 3600);
    out.push(b':');
    push_2(out, rem / 60 % 60);
    out.push(b':');
    push_2(out, rem % 60);
}

const EPOCH: u64 = 1_767_225_600; // 2026-01-01

/// One COPY line of table `t`: the stable columns come from (seed, table, id), the mutable
/// ones from (seed, table, id, version).
fn row_text(out: &mut Vec<u8>, seed: u64, t: usize, id: u64, ver: u32) {
    let mut fixed = Rng::new(&[seed, t as u64, id]);
    let mut var = Rng::new(&[seed, t as u64, id, u64::from(ver) + 1]);
    let customer = fixed.below(200_000) + 1;
    let created = EPOCH + id * 3 + fixed.below(3);
    push_u64(out, id);
    out.push(b'\t');
    push_u64(out, customer);
    out.push(b'\t');
    push_time(out, created);
    out.push(b'\t');
    push_time(out, created + u64::from(ver) * 3600 + var.below(3600));
    out.push(b'\t');
    let status = (u64::from(ver) + var.below(2)).min(STATUS.len() as u64 - 1);
    out.extend_from_slice(STATUS[status as usize].as_bytes());
    out.push(b'\t');
    let cents = var.below(50_000) + 99;
    push_u64(out, cents / 100);
    out.push(b'.');
    push_2(out, cents % 100);
    out.push(b'\t');
    out.extend_from_slice(CURRENCY[fixed.below(4) as usize].as_bytes());
    out.push(b'\t');
    out.extend_from_slice(NAMES[(customer % 16) as usize].as_bytes());
    out.push(b'.');
    push_u64(out, customer);
    out.extend_from_slice(b"@example.com\t");
    let words = 3 + var.below(9);
    for w in 0..words {
        if w > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(WORDS[var.below(WORDS.len() as u64) as usize].as_bytes());
    }
    out.push(b'\n');
}

impl Generator {
    fn new(seed: u64, size: u64) -> Generator {
        let mut sample = Vec::new();
        for id in 1..=2000 {
            row_text(&mut sample, seed, 0, id, 0);
        }
        let avg = sample.len() as u64 / 2000;
        let per_table = (size / TABLES as u64 / avg).max(100);
        let tables = (0..TABLES)
            .map(|t| {
                let mut text = Vec::with_capacity((per_table * (avg + 2)) as usize);
                let mut rows = Vec::with_capacity(per_table as usize);
                for id in 1..=per_table {
                    let before = text.len();
                    row_text(&mut text, seed, t, id, 0);
                    rows.push(Row {
                        id,
                        ver: 0,
                        len: (text.len() - before) as u32,
                    });
                }
                Table {
                    rows,
                    text,
                    next_id: per_table + 1,
                }
            })
            .collect();
        Generator { seed, tables }
    }

    /// Applies one hour of changes; returns (updated, inserted, deleted) and the changed text.
    fn advance(&mut self, hour: u64) -> ([u64; 3], Vec<u8>) {
        let mut counts = [0u64; 3];
        let mut changed = Vec::new();
        for (t, table) in self.tables.iter_mut().enumerate() {
            let mut rng = Rng::new(&[self.seed, t as u64, hour, 0x5eed]);
            let n = table.rows.len() as u64;
            let updates = (n as f64 * UPDATE).round() as u64;
            let inserts = (n as f64 * INSERT).round() as u64;
            let deletes = (n as f64 * DELETE).round() as u64;
            // 0 = unchanged, 1 = updated, 2 = deleted
            let mut mark = vec![0u8; n as usize];
            for _ in 0..updates {
                let i = if rng.below(100) < HOT_UPDATES {
                    n - 1 - rng.below(n / HOT_SHARE)
                } else {
                    rng.below(n)
                };
                mark[i as usize] = 1;
            }
            for _ in 0..deletes {
                mark[rng.below(n) as usize] = 2;
            }
            let mut rows = Vec::with_capacity(table.rows.len() + inserts as usize);
            let mut text = Vec::with_capacity(table.text.len() + table.text.len() / 64);
            let mut off = 0usize;
            for (row, m) in table.rows.iter().zip(&mark) {
                let old = &table.text[off..off + row.len as usize];
                off += row.len as usize;
                match m {
                    0 => {
                        text.extend_from_slice(old);
                        rows.push(*row);
                    }
                    1 => {
                        counts[0] += 1;
                        let ver = row.ver + 1;
                        let before = text.len();
                        row_text(&mut text, self.seed, t, row.id, ver);
                        changed.extend_from_slice(&text[before..]);
                        rows.push(Row {
                            id: row.id,
                            ver,
                            len: (text.len() - before) as u32,
                        });
                    }
                    _ => {
                        counts[2] += 1;
                        push_u64(&mut changed, row.id);
                        changed.push(b'\n');
                    }
                }
            }
            for _ in 0..inserts {
                counts[1] += 1;
                let id = table.next_id;
                table.next_id += 1;
                let before = text.len();
                row_text(&mut text, self.seed, t, id, 0);
                changed.extend_from_slice(&text[before..]);
                rows.push(Row {
                    id,
                    ver: 0,
                    len: (text.len() - before) as u32,
                });
            }
            table.rows = rows;
            table.text = text;
        }
        (counts, changed)
    }

    /// Writes the dump as pg_dump plain text would: settings, tables, data, constraints.
    fn write(&self, path: &Path) -> Result<u64> {
        let tmp = path.with_extension("tmp");
        let f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(
            b"--\n-- PostgreSQL database dump\n--\n\n\
-- Dumped from database version 15.20\n-- Dumped by pg_dump version 15.20\n\n\
SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n\
SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\
SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n\
SET xmloption = content;\nSET client_min_messages = warning;\nSET row_security = off;\n\n\
SET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n",
        )?;
        for t in 0..TABLES {
            let name = table_name(t);
            write!(
                w,
                "--\n-- Name: {name}; Type: TABLE; Schema: public; Owner: postgres\n--\n\n\
CREATE TABLE public.{name} (\n    id bigint NOT NULL,\n    customer_id bigint NOT NULL,\n    \
created_at timestamp without time zone NOT NULL,\n    updated_at timestamp without time zone NOT NULL,\n    \
status text NOT NULL,\n    amount numeric(12,2) NOT NULL,\n    currency character(3) NOT NULL,\n    \
email text NOT NULL,\n    note text\n);\n\n\n\
ALTER TABLE public.{name} OWNER TO postgres;\n\n"
            )?;
        }
        for (t, table) in self.tables.iter().enumerate() {
            let name = table_name(t);
            write!(
                w,
                "--\n-- Data for Name: {name}; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n\
COPY public.{name} ({COLUMNS}) FROM stdin;\n"
            )?;
            w.write_all(&table.text)?;
            w.write_all(b"\\.\n\n\n")?;
        }
        for t in 0..TABLES {
            let name = table_name(t);
            write!(
                w,
                "--\n-- Name: {name} {name}_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres\n--\n\n\
ALTER TABLE ONLY public.{name}\n    ADD CONSTRAINT {name}_pkey PRIMARY KEY (id);\n\n\n"
            )?;
        }
        w.write_all(b"--\n-- PostgreSQL database dump complete\n--\n\n")?;
        w.flush()?;
        drop(w);
        std::fs::rename(&tmp, path)?;
        Ok(std::fs::metadata(path)?.len())
    }
}
