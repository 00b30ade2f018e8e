//! The table engine of the synthetic series: rows in primary-key order rendered as COPY lines,
//! one hour of [`Change`]s applied, the dump written as plain pg_dump text.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// splitmix64.
pub struct Rng(u64);

impl Rng {
    pub fn new(parts: &[u64]) -> Rng {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for p in parts {
            r.0 ^= *p;
            r.next();
        }
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
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

pub fn push_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `units.cc` from cents.
pub fn push_money(out: &mut Vec<u8>, cents: u64) {
    push_u64(out, cents / 100);
    out.push(b'.');
    push_2(out, cents % 100);
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since 1970 (UTC).
pub fn push_time(out: &mut Vec<u8>, secs: u64) {
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

/// Words for free-text columns, chosen by `rng`.
pub fn push_words(out: &mut Vec<u8>, rng: &mut Rng, words: &[&str], n: u64) {
    for w in 0..n {
        if w > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(words[rng.below(words.len() as u64) as usize].as_bytes());
    }
}

/// Writes one row's columns (no newline): (out, seed, table number, id, version, epoch).
/// The version changes with each update of the row, the epoch with each rewrite of the table.
pub type RowFn = fn(&mut Vec<u8>, u64, usize, u64, u32, u32);

/// A table's definition.
pub struct Def {
    /// Name without schema, unquoted (`Product Reviews`).
    pub name: String,
    /// (column, SQL type and constraints), in order.
    pub columns: Vec<(&'static str, &'static str)>,
    pub row: RowFn,
    /// Share of the dump's rows' bytes, in percent.
    pub share: u64,
    /// Foreign keys: (column, referenced table), dumped `NOT VALID` (rows may reference
    /// deleted keys, as after `ALTER TABLE … ADD … NOT VALID`).
    pub fks: Vec<(&'static str, &'static str)>,
}

#[derive(Clone, Copy)]
pub struct Row {
    pub id: u64,
    pub ver: u32,
    pub len: u32,
}

pub struct Table {
    pub def: Def,
    pub t: usize,
    pub rows: Vec<Row>,
    pub text: Vec<u8>,
    pub next_id: u64,
    epoch: u32,
    /// Columns added by ALTER TABLE: (name, type, every row's value).
    added: Vec<(String, String, String)>,
    /// CREATE INDEX statements.
    indexes: Vec<(String, String)>,
}

/// One hour's change of one table.
#[derive(Default)]
pub struct Change {
    /// Per row: 0 unchanged, 1 updated, 2 deleted (empty: none).
    pub mark: Vec<u8>,
    /// Rows inserted with new, highest keys.
    pub inserts: u64,
    /// Every row rewritten (the epoch column changes).
    pub rewrite: bool,
    /// A column added: (name, type, value of every row).
    pub add_column: Option<(String, String, String)>,
    /// An index created: (name, column).
    pub index: Option<(String, String)>,
}

/// A quoted identifier when pg_dump would quote it.
pub fn ident(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

impl Table {
    fn render(&self, out: &mut Vec<u8>, seed: u64, id: u64, ver: u32) {
        (self.def.row)(out, seed, self.t, id, ver, self.epoch);
        for (_, _, v) in &self.added {
            out.push(b'\t');
            out.extend_from_slice(v.as_bytes());
        }
        out.push(b'\n');
    }

    fn qualified(&self) -> String {
        format!("public.{}", ident(&self.def.name))
    }
}

pub struct Schema {
    pub seed: u64,
    pub tables: Vec<Table>,
}

impl Schema {
    /// The tables of `defs` filled to about `size` bytes of rows in all.
    pub fn new(seed: u64, size: u64, defs: Vec<Def>) -> Schema {
        let total: u64 = defs.iter().map(|d| d.share).sum::<u64>().max(1);
        let tables = (defs.into_iter().enumerate())
            .map(|(t, def)| {
                let mut tb = Table {
                    def,
                    t,
                    rows: Vec::new(),
                    text: Vec::new(),
                    next_id: 1,
                    epoch: 0,
                    added: Vec::new(),
                    indexes: Vec::new(),
                };
                let mut sample = Vec::new();
                for id in 1..=2000 {
                    tb.render(&mut sample, seed, id, 0);
                }
                let avg = sample.len() as u64 / 2000;
                let n = (size * tb.def.share / total / avg).max(100);
                let mut text = Vec::with_capacity((n * (avg + 2)) as usize);
                let mut rows = Vec::with_capacity(n as usize);
                for id in 1..=n {
                    let before = text.len();
                    tb.render(&mut text, seed, id, 0);
                    rows.push(Row {
                        id,
                        ver: 0,
                        len: (text.len() - before) as u32,
                    });
                }
                tb.text = text;
                tb.rows = rows;
                tb.next_id = n + 1;
                tb
            })
            .collect();
        Schema { seed, tables }
    }

    /// Applies one hour of changes (one per table, in table order; missing ones are none);
    /// returns (rows updated or rewritten, inserted, deleted) and the changed text.
    pub fn apply(&mut self, changes: Vec<Change>) -> ([u64; 3], Vec<u8>) {
        let mut counts = [0u64; 3];
        let mut changed = Vec::new();
        let seed = self.seed;
        for (table, ch) in self.tables.iter_mut().zip(changes) {
            // A rewrite or a new column changes every row's text.
            let every = ch.rewrite || ch.add_column.is_some();
            if let Some(c) = ch.add_column {
                let ddl = format!(
                    "ALTER TABLE {} ADD COLUMN {} {};\n",
                    table.qualified(),
                    c.0,
                    c.1
                );
                changed.extend_from_slice(ddl.as_bytes());
                table.added.push(c);
            }
            if let Some(ix) = ch.index {
                let ddl = format!(
                    "CREATE INDEX {} ON {} ({});\n",
                    ix.0,
                    table.qualified(),
                    ix.1
                );
                changed.extend_from_slice(ddl.as_bytes());
                table.indexes.push(ix);
            }
            if ch.rewrite {
                table.epoch += 1;
            }
            let mut rows = Vec::with_capacity(table.rows.len() + ch.inserts as usize);
            let mut text = Vec::with_capacity(table.text.len() + table.text.len() / 64);
            let mut off = 0usize;
            for (i, row) in table.rows.iter().enumerate() {
                let old = &table.text[off..off + row.len as usize];
                off += row.len as usize;
                let m = ch.mark.get(i).copied().unwrap_or(0);
                if m == 2 {
                    counts[2] += 1;
                    push_u64(&mut changed, row.id);
                    changed.push(b'\n');
                    continue;
                }
                if m == 0 && !every {
                    text.extend_from_slice(old);
                    rows.push(*row);
                    continue;
                }
                counts[0] += 1;
                let ver = row.ver + u32::from(m == 1);
                let before = text.len();
                table.render(&mut text, seed, row.id, ver);
                changed.extend_from_slice(&text[before..]);
                rows.push(Row {
                    id: row.id,
                    ver,
                    len: (text.len() - before) as u32,
                });
            }
            for _ in 0..ch.inserts {
                counts[1] += 1;
                let id = table.next_id;
                table.next_id += 1;
                let before = text.len();
                table.render(&mut text, seed, id, 0);
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

    /// Writes the dump as pg_dump plain text would: settings, tables, data, constraints,
    /// indexes, foreign keys. Returns its size in bytes.
    pub fn write(&self, path: &Path) -> Result<u64> {
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
        for tb in &self.tables {
            let mut cols: Vec<String> = (tb.def.columns.iter())
                .map(|(c, ty)| format!("    {} {ty}", ident(c)))
                .collect();
            cols.extend(
                tb.added
                    .iter()
                    .map(|(c, ty, _)| format!("    {} {ty}", ident(c))),
            );
            write!(
                w,
                "--\n-- Name: {}; Type: TABLE; Schema: public; Owner: postgres\n--\n\n\
CREATE TABLE {} (\n{}\n);\n\n\nALTER TABLE {} OWNER TO postgres;\n\n",
                tb.def.name,
                tb.qualified(),
                cols.join(",\n"),
                tb.qualified()
            )?;
        }
        for tb in &self.tables {
            let mut cols: Vec<String> = tb.def.columns.iter().map(|(c, _)| ident(c)).collect();
            cols.extend(tb.added.iter().map(|(c, _, _)| ident(c)));
            write!(
                w,
                "--\n-- Data for Name: {}; Type: TABLE DATA; Schema: public; Owner: postgres\n--\n\n\
COPY {} ({}) FROM stdin;\n",
                tb.def.name,
                tb.qualified(),
                cols.join(", ")
            )?;
            w.write_all(&tb.text)?;
            w.write_all(b"\\.\n\n\n")?;
        }
        for tb in &self.tables {
            let (name, q) = (&tb.def.name, tb.qualified());
            let pkey = ident(&format!("{name}_pkey"));
            write!(
                w,
                "--\n-- Name: {name} {name}_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres\n--\n\n\
ALTER TABLE ONLY {q}\n    ADD CONSTRAINT {pkey} PRIMARY KEY (id);\n\n\n"
            )?;
        }
        for tb in &self.tables {
            for (ix, col) in &tb.indexes {
                write!(
                    w,
                    "--\n-- Name: {ix}; Type: INDEX; Schema: public; Owner: postgres\n--\n\n\
CREATE INDEX {ix} ON {} USING btree ({col});\n\n\n",
                    tb.qualified()
                )?;
            }
        }
        for tb in &self.tables {
            for (col, refd) in &tb.def.fks {
                let name = &tb.def.name;
                let fk = format!("{}_{col}_fkey", name.to_lowercase().replace(' ', "_"));
                write!(
                    w,
                    "--\n-- Name: {name} {fk}; Type: FK CONSTRAINT; Schema: public; Owner: postgres\n--\n\n\
ALTER TABLE ONLY {}\n    ADD CONSTRAINT {fk} FOREIGN KEY ({col}) REFERENCES public.{}(id) NOT VALID;\n\n\n",
                    tb.qualified(),
                    ident(refd)
                )?;
            }
        }
        w.write_all(b"--\n-- PostgreSQL database dump complete\n--\n\n")?;
        w.flush()?;
        drop(w);
        std::fs::rename(&tmp, path)?;
        Ok(std::fs::metadata(path)?.len())
    }

    /// Marks for one hour of scattered changes of `table`: `updates`, then `deletes` rows
    /// chosen by `pick` (an index below the row count).
    pub fn marks(
        n: usize,
        updates: u64,
        deletes: u64,
        mut pick: impl FnMut(bool) -> u64,
    ) -> Vec<u8> {
        let mut mark = vec![0u8; n];
        for _ in 0..updates {
            mark[pick(true) as usize % n.max(1)] = 1;
        }
        for _ in 0..deletes {
            mark[pick(false) as usize % n.max(1)] = 2;
        }
        mark
    }
}
