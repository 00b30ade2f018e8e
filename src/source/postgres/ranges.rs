//! Key ranges of a big table, so that `snapshot --jobs N` of one database COPYs it over several
//! sessions (issue 16, parallel dump): [`split`] gives each table big enough a list of `WHERE`
//! predicates on the first primary-key column, in key order, that together select every row
//! exactly once; [`super::tabledata`] COPYs one range per session and concatenates them in that
//! order, so the stream is the one a single `ORDER BY <key>` COPY gives, byte for byte.
//!
//! Only tables whose first key column is `smallint`, `integer` or `bigint` are split: their
//! `<` and `>=` are the very ordering `ORDER BY` uses (no collation, no operator class choice),
//! and a range on the first column alone cuts the key order into contiguous runs also for a
//! composite key. The cut points come from the column's `pg_stats.histogram_bounds` (no scan),
//! else from its `min` and `max` (two index probes), spread evenly; they need not be accurate
//! or current, since the first range is open below and the last open above. A table is split
//! when its heap holds at least two pieces of [`PIECE_BYTES`], into at most [`MAX_PIECES`].
//!
//! Owns choosing the ranges. It must not COPY ([`super::tabledata`]) or list tables
//! ([`super::dump`]).

use super::conn::Session;
use super::{db_err, quote};
use crate::source::SourceError;
use postgres::SimpleQueryMessage;

/// Heap bytes per range of a split table (16 MiB): with N sessions taking ranges in key order,
/// the spools hold about N ranges ahead of the one being passed on.
pub(super) const PIECE_BYTES: u64 = 16 << 20;

/// At most this many ranges per table (the default statistics target keeps 101 histogram
/// bounds, so more would need a sample).
pub(super) const MAX_PIECES: u64 = 64;

/// Heap bytes per key range: [`PIECE_BYTES`]; with the `test-hooks` feature,
/// `DUMPVAULT_TEST_PIECE_BYTES` when set (so that tests split small tables).
pub(super) fn piece_bytes() -> u64 {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = super::env_var("DUMPVAULT_TEST_PIECE_BYTES").and_then(|v| v.parse().ok()) {
        return n;
    }
    PIECE_BYTES
}

/// A table [`split`] may cut: its names, the first key column (when of an integer type) and
/// its heap size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SplitKey {
    /// Schema and table name, unquoted (as `pg_stats` has them).
    pub schema: String,
    pub table: String,
    /// The qualified, quoted name (`schema.table`, as `quote_ident` made it).
    pub qualified: String,
    /// The first primary-key column, unquoted; `None` when it is not `int2`, `int4` or `int8`.
    pub column: Option<String>,
    /// `pg_relation_size` of the table in bytes (0 when not asked for).
    pub bytes: u64,
}

/// The ranges of each table: for `keys[i]`, either no predicate (COPY it whole) or the `WHERE`
/// predicates of its ranges in key order. Tables of at least `2 × piece_bytes` with an integer
/// first key column are cut into `bytes / piece_bytes` ranges (at most [`MAX_PIECES`]).
///
/// Runs its queries on `client`, the snapshot transaction (a `min`/`max` that fails, e.g. on
/// row-level security, would fail that table's COPY just the same). Errors: a query fails; the
/// transaction is then aborted and the dump fails.
pub(super) fn split(
    client: &mut Session,
    keys: &[SplitKey],
    piece_bytes: u64,
) -> Result<Vec<Vec<String>>, SourceError> {
    let mut out = vec![Vec::new(); keys.len()];
    let wanted = |k: &SplitKey| match k.column {
        Some(_) if piece_bytes > 0 => (k.bytes / piece_bytes).min(MAX_PIECES) as usize,
        _ => 0,
    };
    if keys.iter().all(|k| wanted(k) < 2) {
        return Ok(out);
    }
    let what = "reading the key statistics of the tables to split";
    let stats = client
        .prepare(
            "SELECT s.histogram_bounds::pg_catalog.text FROM pg_catalog.pg_stats s
              WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3
                AND NOT s.inherited",
        )
        .map_err(|e| db_err(what, &e))?;
    for (k, ranges) in keys.iter().zip(&mut out) {
        let (pieces, Some(column)) = (wanted(k), k.column.as_deref()) else {
            continue;
        };
        if pieces < 2 {
            continue;
        }
        let row = client
            .query_opt(&stats, &[&k.schema, &k.table, &column])
            .map_err(|e| db_err(what, &e))?;
        let histogram = row
            .and_then(|r| r.get::<_, Option<String>>(0))
            .and_then(|t| parse_bounds(&t));
        let cuts = match histogram {
            Some(h) if h.len() >= 2 => from_histogram(&h, pieces),
            _ => from_min_max(min_max(client, k, column)?, pieces),
        };
        *ranges = predicates(&quote(column), &cuts);
        tracing::debug!(table = %k.qualified, ranges = ranges.len(), "split by key ranges");
    }
    Ok(out)
}

/// The table's smallest and largest key in the snapshot (`None`: no rows).
fn min_max(
    client: &mut Session,
    k: &SplitKey,
    column: &str,
) -> Result<Option<(i64, i64)>, SourceError> {
    let c = quote(column);
    let sql = format!(
        "SELECT min({c})::pg_catalog.text, max({c})::pg_catalog.text FROM ONLY {}",
        k.qualified
    );
    let what = format!("reading the key range of table {}", k.qualified);
    let rows = client.simple_query(&sql).map_err(|e| db_err(&what, &e))?;
    let row = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some((r.get(0), r.get(1))),
        _ => None,
    });
    Ok(match row {
        Some((Some(lo), Some(hi))) => lo.parse().ok().zip(hi.parse().ok()),
        _ => None,
    })
}

/// The integers of an array's text form (`{1,20,300}`); `None` when any is not one.
fn parse_bounds(text: &str) -> Option<Vec<i64>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    inner.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// Up to `pieces - 1` cut points taken evenly from sorted histogram bounds, strictly rising.
fn from_histogram(bounds: &[i64], pieces: usize) -> Vec<i64> {
    let m = bounds.len() - 1;
    let mut cuts: Vec<i64> = (1..pieces)
        .map(|i| bounds[(i * m + pieces / 2) / pieces])
        .collect();
    cuts.dedup();
    cuts
}

/// Up to `pieces - 1` cut points spread evenly over `(lo, hi]` (rounded up), strictly rising.
fn from_min_max(range: Option<(i64, i64)>, pieces: usize) -> Vec<i64> {
    let Some((lo, hi)) = range.filter(|(lo, hi)| lo < hi) else {
        return Vec::new();
    };
    let (span, n) = (i128::from(hi) - i128::from(lo), pieces as i128);
    let mut cuts: Vec<i64> = (1..n)
        .map(|i| (i128::from(lo) + (span * i + n - 1) / n) as i64)
        .collect();
    cuts.dedup();
    cuts
}

/// The `WHERE` predicates of the ranges that `cuts` (strictly rising) make on `column` (quoted):
/// below the first cut, between each two, from the last one on; none without cuts.
fn predicates(column: &str, cuts: &[i64]) -> Vec<String> {
    let (Some(first), Some(last)) = (cuts.first(), cuts.last()) else {
        return Vec::new();
    };
    let mut out = vec![format!("{column} < {first}")];
    out.extend(
        cuts.windows(2)
            .map(|w| format!("{column} >= {} AND {column} < {}", w[0], w[1])),
    );
    out.push(format!("{column} >= {last}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::source::postgres::conn::{connect, Session};
    use crate::source::postgres::dump::{open_with, pk_tables, split_key, PgOptions, SESSION_SQL};
    use crate::source::postgres::tests::{assert_same, exec, normalize, read_all, server, Guard};
    use crate::source::postgres::PgUrl;

    /// Tables to split (dense keys, so every cut is a key): `int4` with a histogram, a
    /// composite key on `int8` (histogram with repeated values), a quoted `int2` table and
    /// column never analysed (`min`/`max`), and a text key (never split).
    const TABLES: &str = r#"
        CREATE TABLE big (id int PRIMARY KEY, v text);
        INSERT INTO big SELECT i, md5(i::text) FROM generate_series(20000, 1, -1) i;
        CREATE TABLE comp (g bigint, n int, v text, PRIMARY KEY (g, n));
        INSERT INTO comp SELECT i / 50, 49 - i % 50, 'c' || i FROM generate_series(19999, 0, -1) i;
        CREATE TABLE "Odd ""Split"" Table" ("Key ""Col""" smallint PRIMARY KEY, v text);
        INSERT INTO "Odd ""Split"" Table" SELECT i, repeat('x', 40)
            FROM generate_series(10000, -10000, -1) i;
        CREATE TABLE words (w text PRIMARY KEY, n int);
        INSERT INTO words SELECT md5(i::text), i FROM generate_series(1, 5000) i;
        ANALYZE big; ANALYZE comp;"#;

    /// Heap bytes per range in these tests: each table of ~1 MiB gets about 16 ranges.
    const SMALL: u64 = 64 << 10;

    fn with_jobs(jobs: usize) -> PgOptions {
        PgOptions {
            heap_order: false,
            globals: false,
            jobs,
        }
    }

    fn count(url: &PgUrl, sql: &str) -> i64 {
        let row = connect(url).unwrap().query_one(sql, &[]).unwrap();
        row.get(0)
    }

    /// Issue 16: the ranges of each big table with an integer first key column select every
    /// row exactly once (keys at the cuts included), and a dump whose tables are COPYed range
    /// by range over 2 or 3 sessions is the one-session dump, byte for byte.
    #[test]
    fn key_ranges_take_every_row_once_and_keep_the_stream() {
        let (_db, url) = Guard::db(&server(), Some(TABLES));
        let mut c = Session::connect(&url).unwrap();
        c.batch_execute(SESSION_SQL).unwrap();
        let keys: Vec<SplitKey> = pk_tables(&mut c, 150000, true)
            .unwrap()
            .iter()
            .map(split_key)
            .collect();
        let ranges = split(&mut c, &keys, SMALL).unwrap();
        let names: Vec<&str> = keys.iter().map(|k| k.qualified.as_str()).collect();
        assert_eq!(
            names,
            [
                "public.\"Odd \"\"Split\"\" Table\"",
                "public.big",
                "public.comp",
                "public.words"
            ]
        );
        for (k, r) in keys.iter().zip(&ranges) {
            if k.table == "words" {
                assert!(r.is_empty(), "{r:?}");
                continue;
            }
            assert!(r.len() >= 8 && r.len() <= 64, "{}: {r:?}", k.qualified);
            let q = &k.qualified;
            let once = r.iter().map(|p| format!("({p})::int")).collect::<Vec<_>>();
            let sql = format!("SELECT count(*) FROM {q} WHERE {} <> 1", once.join(" + "));
            assert_eq!(count(&url, &sql), 0, "{q}: {r:?}");
            let col = quote(k.column.as_deref().unwrap());
            for cut in r.iter().filter_map(|p| p.split(">= ").nth(1)) {
                let cut = cut.split(' ').next().unwrap();
                let sql = format!("SELECT count(*) FROM {q} WHERE {col} = {cut}");
                assert!(count(&url, &sql) >= 1, "{q}: no key at the cut {cut}");
            }
        }
        let one = read_all(open_with(&url, &with_jobs(1), SMALL).unwrap())
            .unwrap()
            .0;
        for jobs in [2, 3] {
            let (text, _) = read_all(open_with(&url, &with_jobs(jobs), SMALL).unwrap()).unwrap();
            assert_same(&normalize(&one), &normalize(&text));
        }
        assert!(one.contains("COPY public.\"Odd \"\"Split\"\" Table\" (\"Key \"\"Col\"\"\", v)"));
    }

    /// Issue 16: rows inserted, deleted or updated once the snapshot is exported (before any
    /// range is COPYed) do not reach a dump whose tables are cut into ranges.
    #[test]
    fn changes_after_the_snapshot_do_not_reach_the_ranges() {
        let (_db, url) = Guard::db(&server(), Some(TABLES));
        let one = read_all(open_with(&url, &with_jobs(1), SMALL).unwrap())
            .unwrap()
            .0;
        let src = open_with(&url, &with_jobs(2), SMALL).unwrap();
        exec(
            &url,
            r#"INSERT INTO big SELECT i, 'new' FROM generate_series(20001, 30000) i;
            INSERT INTO big SELECT -i, 'new' FROM generate_series(0, 999) i;
            DELETE FROM big WHERE id % 7 = 0;
            UPDATE comp SET v = 'changed' WHERE n = 3;
            INSERT INTO comp SELECT 200, -i, 'new' FROM generate_series(1, 500) i;
            DELETE FROM "Odd ""Split"" Table" WHERE "Key ""Col""" BETWEEN -500 AND 500;
            INSERT INTO "Odd ""Split"" Table" VALUES (-32768, 'low'), (32767, 'high');
            ANALYZE big;"#,
        );
        let (text, _) = read_all(src).unwrap();
        assert_same(&normalize(&one), &normalize(&text));
    }

    #[test]
    fn cut_points_rise_strictly_and_cover_every_key() {
        assert_eq!(
            parse_bounds("{-5,0,7,3000000000}"),
            Some(vec![-5, 0, 7, 3_000_000_000])
        );
        assert_eq!(parse_bounds("{a,b}"), None);
        let h: Vec<i64> = (0..=100).map(|i| i * 10).collect();
        assert_eq!(from_histogram(&h, 4), vec![250, 500, 750]);
        assert_eq!(from_histogram(&[1, 1, 1, 2], 8), vec![1, 2]);
        assert_eq!(from_min_max(Some((1, 9)), 4), vec![3, 5, 7]);
        assert_eq!(from_min_max(Some((5, 6)), 4), vec![6]);
        assert_eq!(from_min_max(Some((3, 3)), 4), Vec::<i64>::new());
        assert_eq!(from_min_max(None, 4), Vec::<i64>::new());
        let extreme = from_min_max(Some((i64::MIN, i64::MAX)), 2);
        assert_eq!(extreme, vec![0]);
        assert!(predicates("\"k\"", &[]).is_empty());
        assert_eq!(
            predicates("\"k\"", &[10, 20]),
            ["\"k\" < 10", "\"k\" >= 10 AND \"k\" < 20", "\"k\" >= 20"]
        );
        // Every key falls in exactly one range, at the cuts and at the extremes.
        let cuts = [-3, 0, 10];
        for key in [i64::MIN, -4, -3, -1, 0, 9, 10, 11, i64::MAX] {
            let hits = (0..=cuts.len())
                .filter(|&i| (i == 0 || key >= cuts[i - 1]) && (i == cuts.len() || key < cuts[i]))
                .count();
            assert_eq!(hits, 1, "{key}");
        }
    }
}
