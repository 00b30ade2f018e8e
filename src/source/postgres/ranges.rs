//! Key ranges of a big table, so that `snapshot --jobs N` of one database COPYs it over several
//! sessions (issue 16, parallel dump): [`split`] gives each table big enough a list of `WHERE`
//! predicates on the first primary-key column, in key order, that together select every row
//! exactly once; [`super::tabledata`] COPYs one range per session and concatenates them in that
//! order, so the stream is the one a single `ORDER BY <key>` COPY gives, byte for byte.
//!
//! A range on the first key column alone cuts the key order into contiguous runs, also for a
//! composite key (rows equal in the first column fall in the same range). Tables are split
//! when their heap holds at least two pieces of [`PIECE_BYTES`], into at most [`MAX_PIECES`],
//! and when the first key column's type is one of:
//!
//! - `smallint`, `integer`, `bigint` ([`KeyKind::Int`]): their `<` and `>=` are the very
//!   ordering `ORDER BY` uses. The cut points come from the column's
//!   `pg_stats.histogram_bounds` (no scan), else from its `min` and `max` (two index probes),
//!   spread evenly.
//! - `text`, `character varying`, `uuid`, `date`, `timestamp`, `timestamp with time zone`,
//!   `numeric` ([`KeyKind::Literal`]): the cut points come from the histogram only (no
//!   histogram, no split), as SQL literals the server quotes (`quote_literal` of each bound,
//!   in histogram order), compared as `"k" >= 'abc'::text AND "k" < 'abd'::text`. This is
//!   sound because `ORDER BY "k"` and the `<`/`>=` operators both use the type's default btree
//!   operator class and the column's collation (the column's implicit collation wins over the
//!   literal's default one), and ANALYZE sorts the histogram with that same operator class and
//!   collation: ranges between bounds taken in histogram order are contiguous runs of the
//!   `ORDER BY` order. Equal adjacent literals are dropped, so the cuts rise strictly; two
//!   distinct literals that compare equal (a nondeterministic collation, `1.0` and `1.00`) only
//!   give an empty range, and every row still falls in exactly one. A histogram that is not in
//!   the column's order now (its collation's sort order changed since ANALYZE, as with a C
//!   library upgrade) would make overlapping ranges: [`split`] checks the order on the server,
//!   with the column's collation, and does not split such a table. In a `SQL_ASCII` database a
//!   bound need not be UTF-8; such bounds cannot be written in SQL text and are left out (a
//!   subsequence of bounds in order is in order), so the cuts are the UTF-8 ones.
//!
//! The cut points need not be accurate or current: the first range is open below and the last
//! open above.
//!
//! Owns choosing the ranges. It must not COPY ([`super::tabledata`]) or list tables
//! ([`super::dump`]).

use super::conn::Session;
use super::{db_err, quote};
use crate::source::SourceError;
use postgres::{SimpleQueryMessage, Statement};

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

/// A table [`split`] may cut: its names, the first key column (when of a type it cuts on) and
/// its heap size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SplitKey {
    /// Schema and table name, unquoted (as `pg_stats` has them).
    pub schema: String,
    pub table: String,
    /// The qualified, quoted name (`schema.table`, as `quote_ident` made it).
    pub qualified: String,
    /// The first primary-key column; `None` when its type is not one [`split`] cuts on.
    pub column: Option<KeyColumn>,
    /// `pg_relation_size` of the table in bytes (0 when not asked for).
    pub bytes: u64,
}

/// The first primary-key column of a table [`split`] may cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyColumn {
    /// The column's name, unquoted.
    pub name: String,
    /// How its cut points are found and written.
    pub kind: KeyKind,
}

/// How [`split`] cuts on a key column, by its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// `smallint`, `integer` or `bigint`: integer cut points, from the histogram, else from
    /// `min` and `max`.
    Int,
    /// `text`, `character varying`, `uuid`, `date`, `timestamp`, `timestamp with time zone` or
    /// `numeric`: literal cut points from the histogram only.
    Literal {
        /// The type's name as `pg_catalog.format_type(atttypid, NULL)` gives it (`text`,
        /// `timestamp with time zone`): the casts of the histogram and of the literals.
        type_name: String,
        /// The column's collation, qualified and quoted (`pg_catalog."und-x-icu"`); `None`
        /// for a type without collations.
        collation: Option<String>,
    },
}

/// The ranges of each table: for `keys[i]`, either no predicate (COPY it whole) or the `WHERE`
/// predicates of its ranges in key order. Tables of at least `2 × piece_bytes` whose first
/// key column is of a type in [`KeyKind`] are cut into `bytes / piece_bytes` ranges (at most
/// [`MAX_PIECES`]), fewer when the statistics have fewer distinct cut points.
///
/// Runs its queries on `client`, the snapshot transaction (a `min`/`max` that fails, e.g. on
/// row-level security, would fail that table's COPY just the same); the literals of
/// [`KeyKind::Literal`] cut points are read in that session and read back in sessions with the
/// same settings ([`super::dump::SESSION_SQL`]). Errors: a query fails; the transaction is then
/// aborted and the dump fails.
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
        let (pieces, Some(column)) = (wanted(k), k.column.as_ref()) else {
            continue;
        };
        if pieces < 2 {
            continue;
        }
        let cuts = match &column.kind {
            KeyKind::Int => int_cuts(client, &stats, k, &column.name, pieces)?,
            KeyKind::Literal {
                type_name,
                collation,
            } => {
                let bounds = literal_bounds(client, k, column, type_name, collation.as_deref())?;
                let cuts = bounds
                    .map(|b| from_histogram(&b, pieces))
                    .unwrap_or_default();
                (cuts.into_iter())
                    .map(|c| format!("{c}::{type_name}"))
                    .collect()
            }
        };
        *ranges = predicates(&quote(&column.name), &cuts);
        if ranges.is_empty() {
            tracing::debug!(table = %k.qualified, "no key ranges: COPYed whole");
        } else {
            tracing::debug!(table = %k.qualified, ranges = ranges.len(), "split by key ranges");
        }
    }
    Ok(out)
}

/// Up to `pieces - 1` integer cut points on `column` of table `k`, strictly rising: from the
/// histogram (`stats`, the `pg_stats` query of [`split`]), else from `min` and `max`.
fn int_cuts(
    client: &mut Session,
    stats: &Statement,
    k: &SplitKey,
    column: &str,
    pieces: usize,
) -> Result<Vec<String>, SourceError> {
    let what = "reading the key statistics of the tables to split";
    let row = client
        .query_opt(stats, &[&k.schema, &k.table, &column])
        .map_err(|e| db_err(what, &e))?;
    let histogram = row
        .and_then(|r| r.get::<_, Option<String>>(0))
        .and_then(|t| parse_bounds(&t));
    let cuts = match histogram {
        Some(h) if h.len() >= 2 => from_histogram(&h, pieces),
        _ => from_min_max(min_max(client, k, column)?, pieces),
    };
    Ok(cuts.iter().map(i64::to_string).collect())
}

/// The histogram bounds of `column` of table `k`, in histogram order, each as a quoted SQL
/// literal of the column's type (`'o''brien'`, `E'back\\slash'`); `None`: no histogram of at
/// least two bounds, or bounds that are not in the column's order (compared with `>=` of
/// `type_name` under `collation`, as `ORDER BY` compares). Bounds that are not UTF-8 (a
/// `SQL_ASCII` database's text, read as stored: [`super::dump::RAW_BYTES_SQL`]) are left out:
/// they cannot be written in SQL text.
///
/// The server does the quoting and the parsing: the histogram's text form is read back as an
/// array of the type in this very session, and `quote_literal` writes each bound as its output
/// function does in this session, converted to the session's client encoding as the server
/// would send it as text, but read as `bytea`, so that a bound that is not UTF-8 is no error.
/// For `timestamp with time zone` that text depends on the session's `TimeZone`, but it
/// carries the offset (`2020-03-08 03:00:00-04` under `DateStyle` ISO, which every dump
/// session sets), so the literal means the same instant wherever it is read back: here, and
/// in the sessions that COPY the ranges.
fn literal_bounds(
    client: &mut Session,
    k: &SplitKey,
    column: &KeyColumn,
    type_name: &str,
    collation: Option<&str>,
) -> Result<Option<Vec<String>>, SourceError> {
    let collate = collation
        .map(|c| format!(" COLLATE {c}"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT pg_catalog.array_agg(pg_catalog.convert_to(pg_catalog.quote_literal(b),
                    pg_catalog.current_setting('client_encoding')) ORDER BY i),
                pg_catalog.bool_and(ordered)
           FROM (SELECT h.b, h.i, h.b{collate} >= pg_catalog.lag(h.b{collate}) OVER (ORDER BY h.i)
                        AS ordered
                   FROM pg_catalog.pg_stats s,
                        pg_catalog.unnest(s.histogram_bounds::pg_catalog.text::{type_name}[])
                            WITH ORDINALITY AS h(b, i)
                  WHERE s.schemaname = $1 AND s.tablename = $2 AND s.attname = $3
                    AND NOT s.inherited) AS bounds"
    );
    let what = format!("reading the key statistics of table {}", k.qualified);
    let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&k.schema, &k.table, &column.name];
    let row = client
        .run(async |c| c.query_one(sql.as_str(), &params).await)
        .and_then(|r| r)
        .map_err(|e| db_err(&what, &e))?;
    let Ok(Some(bounds)) = row.try_get::<_, Option<Vec<Vec<u8>>>>(0) else {
        tracing::debug!(table = %k.qualified, "no histogram bounds to split by");
        return Ok(None);
    };
    if row.get::<_, Option<bool>>(1) == Some(false) {
        tracing::warn!(
            table = %k.qualified,
            "the key statistics are not in the key column's order (has its collation changed \
             since the last ANALYZE?): the table is COPYed whole"
        );
        return Ok(None);
    }
    let all = bounds.len();
    let bounds: Vec<String> = (bounds.into_iter())
        .filter_map(|b| String::from_utf8(b).ok())
        .collect();
    if bounds.len() < all {
        tracing::debug!(
            table = %k.qualified,
            left_out = all - bounds.len(),
            "histogram bounds that are not UTF-8 are not cut points"
        );
    }
    Ok(Some(bounds).filter(|b| b.len() >= 2))
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

/// Up to `pieces - 1` cut points taken evenly from histogram bounds (at least two), in their
/// order, without equal neighbours: strictly rising when the bounds are sorted.
fn from_histogram<T: Clone + PartialEq>(bounds: &[T], pieces: usize) -> Vec<T> {
    let m = bounds.len() - 1;
    let mut cuts: Vec<T> = (1..pieces)
        .map(|i| bounds[(i * m + pieces / 2) / pieces].clone())
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

/// The `WHERE` predicates of the ranges that `cuts` (SQL values, strictly rising) make on
/// `column` (quoted): below the first cut, between each two, from the last one on; none
/// without cuts.
fn predicates(column: &str, cuts: &[String]) -> Vec<String> {
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
    /// column never analysed (`min`/`max`), and a text key never analysed (not split: no
    /// histogram, and no `min`/`max` for text).
    const TABLES: &str = r#"
        CREATE TABLE big (id int PRIMARY KEY, v text);
        INSERT INTO big SELECT i, md5(i::text) FROM generate_series(20000, 1, -1) i;
        CREATE TABLE comp (g bigint, n int, v text, PRIMARY KEY (g, n));
        INSERT INTO comp SELECT i / 50, 49 - i % 50, 'c' || i FROM generate_series(19999, 0, -1) i;
        CREATE TABLE "Odd ""Split"" Table" ("Key ""Col""" smallint PRIMARY KEY, v text);
        INSERT INTO "Odd ""Split"" Table" SELECT i, repeat('x', 40)
            FROM generate_series(10000, -10000, -1) i;
        CREATE TABLE words (w text PRIMARY KEY, n int) WITH (autovacuum_enabled = false);
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

    /// The one-session dump of `url`, after checking that dumps over 2 and 3 sessions (tables
    /// cut at [`SMALL`]) are the same stream.
    fn one_stream_at_any_jobs(url: &PgUrl) -> String {
        let one = read_all(open_with(url, &with_jobs(1), SMALL).unwrap())
            .unwrap()
            .0;
        for jobs in [2, 3] {
            let (text, _) = read_all(open_with(url, &with_jobs(jobs), SMALL).unwrap()).unwrap();
            assert_same(&normalize(&one), &normalize(&text));
        }
        one
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
            let col = quote(&k.column.as_ref().unwrap().name);
            for cut in r.iter().filter_map(|p| p.split(">= ").nth(1)) {
                let cut = cut.split(' ').next().unwrap();
                let sql = format!("SELECT count(*) FROM {q} WHERE {col} = {cut}");
                assert!(count(&url, &sql) >= 1, "{q}: no key at the cut {cut}");
            }
        }
        let one = one_stream_at_any_jobs(&url);
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
        let literals = ["'a'", "'a b'", "'a b'", "E'\\\\'", "'Ü'"];
        assert_eq!(from_histogram(&literals, 8), ["'a b'", "E'\\\\'", "'Ü'"]);
        assert_eq!(from_min_max(Some((1, 9)), 4), vec![3, 5, 7]);
        assert_eq!(from_min_max(Some((5, 6)), 4), vec![6]);
        assert_eq!(from_min_max(Some((3, 3)), 4), Vec::<i64>::new());
        assert_eq!(from_min_max(None, 4), Vec::<i64>::new());
        let extreme = from_min_max(Some((i64::MIN, i64::MAX)), 2);
        assert_eq!(extreme, vec![0]);
        assert!(predicates("\"k\"", &[]).is_empty());
        assert_eq!(
            predicates("\"k\"", &["10".into(), "20".into()]),
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

    /// Tables whose first key column is cut by literal bounds, all analysed but `never` (not
    /// split: no histogram). `@COLL` is a collation that is not "C" where the server has one.
    /// Every text key holds a quote, a space, a backslash or non-ASCII letters.
    const LITERAL_TABLES: &str = r#"
        CREATE TABLE t_text (k text COLLATE @COLL PRIMARY KEY, v text);
        INSERT INTO t_text SELECT (ARRAY['o''brien ', 'a b', E'back\\slash', 'Ünïcode', 'Zed'])
            [i % 5 + 1] || md5(i::text), md5(i::text) FROM generate_series(1, 20000) i;
        INSERT INTO t_text VALUES ('o''brien', ''), ('a b', ''), (E'back\\slash', ''),
            ('Ünïcode', ''), ('ab', ''), ('A b', ''), ('', '');
        CREATE TABLE t_varchar (k varchar(40) PRIMARY KEY, v text);
        INSERT INTO t_varchar SELECT 'v ' || md5(i::text), md5(i::text)
            FROM generate_series(1, 20000) i;
        CREATE TABLE t_uuid (k uuid PRIMARY KEY, v text);
        INSERT INTO t_uuid SELECT md5(i::text)::uuid, md5(i::text) FROM generate_series(1, 20000) i;
        CREATE TABLE t_date (k date PRIMARY KEY, v text);
        INSERT INTO t_date SELECT DATE '1950-01-01' + i, md5(i::text) FROM generate_series(1, 20000) i;
        INSERT INTO t_date VALUES ('-infinity', ''), ('infinity', ''), ('0044-03-15 BC', '');
        CREATE TABLE t_ts (k timestamp PRIMARY KEY, v text);
        INSERT INTO t_ts SELECT TIMESTAMP '2000-01-01' + i * INTERVAL '61 minutes 7.25 seconds',
            md5(i::text) FROM generate_series(1, 20000) i;
        CREATE TABLE t_tstz (k timestamptz PRIMARY KEY, v text);
        INSERT INTO t_tstz SELECT TIMESTAMPTZ '2020-01-01 00:00:00+00'
            + i * INTERVAL '17 minutes 0.5 seconds', md5(i::text) FROM generate_series(1, 20000) i;
        INSERT INTO t_tstz VALUES ('1850-06-01 12:00:00+00', ''), ('infinity', '');
        CREATE TABLE t_num (k numeric PRIMARY KEY, v text);
        INSERT INTO t_num SELECT (i - 10000) * 0.125, md5(i::text) FROM generate_series(1, 20000) i;
        INSERT INTO t_num VALUES ('NaN', ''), (1e30, ''), (-0.000001, '');
        CREATE TABLE t_pair (g text COLLATE @COLL, n int, v text, PRIMARY KEY (g, n));
        INSERT INTO t_pair SELECT 'g ' || md5((i / 40)::text), 39 - i % 40, md5(i::text)
            FROM generate_series(1, 20000) i;
        CREATE TABLE never (k uuid PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
        INSERT INTO never SELECT md5(i::text)::uuid, md5(i::text) FROM generate_series(1, 20000) i;
        ANALYZE t_text; ANALYZE t_varchar; ANALYZE t_uuid; ANALYZE t_date; ANALYZE t_ts;
        ANALYZE t_tstz; ANALYZE t_num; ANALYZE t_pair;"#;

    /// A collation of the server that does not sort as "C" does, quoted (ICU's root, else
    /// libc's `en_US`); `None` when it has neither.
    fn not_c_collation(url: &PgUrl) -> Option<String> {
        let sql = "SELECT collname::text FROM pg_collation
            WHERE collname IN ('und-x-icu', 'en_US.utf8', 'en_US')
            ORDER BY array_position(ARRAY['und-x-icu', 'en_US.utf8', 'en_US'], collname::text)";
        let rows = connect(url).unwrap().query(sql, &[]).unwrap();
        rows.first().map(|r| quote(r.get(0)))
    }

    /// The split keys of the tables of the database at `url` and their ranges at [`SMALL`],
    /// chosen in a fresh snapshot session.
    fn split_all(url: &PgUrl) -> (Vec<SplitKey>, Vec<Vec<String>>) {
        let mut c = Session::connect(url).unwrap();
        c.batch_execute(SESSION_SQL).unwrap();
        let tables = pk_tables(&mut c, 150000, true).unwrap();
        let keys: Vec<SplitKey> = tables.iter().map(split_key).collect();
        let ranges = split(&mut c, &keys, SMALL).unwrap();
        (keys, ranges)
    }

    /// Issue 16: tables whose first key column is text (with a collation not "C"), varchar,
    /// uuid, date, timestamp, timestamptz or numeric, or text then int, are cut at the
    /// server-quoted histogram bounds into ranges that take every row once, also read in a
    /// session of another time zone and date style; the dumps over 2 and 3 sessions (time zone
    /// `America/New_York`) are the one-session dump, byte for byte. A table never analysed
    /// is not split.
    #[test]
    fn literal_key_ranges_take_every_row_once_and_keep_the_stream() {
        let coll = not_c_collation(&server()).unwrap_or_else(|| "\"default\"".into());
        let (_db, url) = Guard::db(&server(), Some(&LITERAL_TABLES.replace("@COLL", &coll)));
        let db = quote(&url.database_name());
        exec(
            &url,
            &format!("ALTER DATABASE {db} SET TimeZone = 'America/New_York'"),
        );
        let (keys, ranges) = split_all(&url);
        let mut other = connect(&url).unwrap();
        other
            .batch_execute("SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'")
            .unwrap();
        let mut text_cuts = String::new();
        for (k, r) in keys.iter().zip(&ranges) {
            let q = &k.qualified;
            if k.table == "never" {
                assert!(r.is_empty(), "{q}: {r:?}");
                continue;
            }
            assert!(r.len() >= 8 && r.len() <= 64, "{q}: {r:?}");
            let once = r.iter().map(|p| format!("({p})::int")).collect::<Vec<_>>();
            let sql = format!("SELECT count(*) FROM {q} WHERE {} <> 1", once.join(" + "));
            let wrong: i64 = other.query_one(&sql, &[]).unwrap().get(0);
            assert_eq!(wrong, 0, "{q}: {r:?}");
            let ty = match k.table.as_str() {
                "t_text" | "t_pair" => "text",
                "t_varchar" => "character varying",
                "t_uuid" => "uuid",
                "t_date" => "date",
                "t_ts" => "timestamp without time zone",
                "t_tstz" => "timestamp with time zone",
                _ => "numeric",
            };
            let col = if k.table == "t_pair" { "g" } else { "k" };
            assert!(r[0].starts_with(&format!("\"{col}\" < '")), "{q}: {r:?}");
            assert!(r[0].ends_with(&format!("'::{ty}")), "{q}: {r:?}");
            if k.table == "t_text" {
                text_cuts = r.join("\n");
            }
        }
        for part in ["o''brien ", "a b", "E'back\\\\slash", "Ünïcode", "Zed"] {
            assert!(text_cuts.contains(part), "{part}: {text_cuts}");
        }
        assert!(keys.iter().any(|k| k.table == "never"));
        let one = one_stream_at_any_jobs(&url);
        assert!(
            one.contains("\no'brien\t\n"),
            "the text keys reach the dump"
        );
        assert!(
            one.contains("\n1850-06-01 07:03:58-04:56:02\t\n"),
            "the time zone"
        );
    }

    /// A text key's histogram that is not in the column's order now (the histogram of a "C"
    /// column of the same values put in its place, as a sort order changed since ANALYZE
    /// leaves it) would give overlapping ranges: the table is not split.
    #[test]
    fn a_histogram_out_of_the_key_order_does_not_split_the_table() {
        let admin = server();
        let coll = not_c_collation(&admin).expect("a test server with an ICU or en_US collation");
        let sql = format!(
            "CREATE TABLE stale (k text COLLATE {coll} PRIMARY KEY, c text COLLATE \"C\", v text);
            INSERT INTO stale SELECT x, x, md5(x) FROM (SELECT (ARRAY['a', 'B', 'c', 'D'])
                [i % 4 + 1] || md5(i::text) AS x FROM generate_series(1, 20000) i) s;
            ANALYZE stale;"
        );
        let (_db, url) = Guard::db(&admin, Some(&sql));
        let (_, fresh) = split_all(&url);
        assert!(fresh[0].len() >= 8, "{fresh:?}");
        let swap = "UPDATE pg_catalog.pg_statistic s SET stavalues1 = o.stavalues1
              FROM pg_catalog.pg_statistic o
             WHERE s.starelid = 'stale'::regclass AND s.staattnum = 1 AND s.stakind1 = 2
               AND o.starelid = s.starelid AND o.staattnum = 2 AND o.stakind1 = 2";
        assert_eq!(connect(&url).unwrap().execute(swap, &[]).unwrap(), 1);
        let (_, stale) = split_all(&url);
        assert_eq!(stale, [Vec::<String>::new()]);
        let one = read_all(open_with(&url, &with_jobs(1), SMALL).unwrap());
        let two = read_all(open_with(&url, &with_jobs(2), SMALL).unwrap());
        assert_same(&normalize(&one.unwrap().0), &normalize(&two.unwrap().0));
    }
}
