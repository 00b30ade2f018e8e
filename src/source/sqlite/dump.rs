//! SQL dumps follow the `sqlite3` CLI's `.dump`: tables in schema order (`sqlite_sequence`
//! last), each table's rows in rowid or primary-key order (stable for deduplication), then
//! indexes, triggers and views together in schema (creation) order, as the CLI does, which
//! keeps `INSTEAD OF` triggers after their views. Values are written exactly (REALs that SQLite
//! would parse one ulp off as an exact expression).
//!
//! Owns: the SQL text of a database, written from a connection to any [`Write`]. Must not: take
//! the snapshot, spawn threads or open files (`backup` does).

use std::io::{self, Write};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use super::{all_rows, quote_ident};

type DynError = Box<dyn std::error::Error + Send + Sync>;

fn join_idents(columns: &[&(String, i64, i64)]) -> String {
    let quoted: Vec<_> = columns.iter().map(|c| quote_ident(&c.0)).collect();
    quoted.join(",")
}

/// Writes the whole `.dump`-style SQL text of `conn`'s main database to `out`.
pub(super) fn write_dump(conn: &Connection, out: &mut impl Write) -> Result<(), DynError> {
    out.write_all(b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")?;
    let sql = "SELECT type, name, sql FROM sqlite_schema WHERE sql NOT NULL ORDER BY rowid";
    let objects = all_rows(conn, sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let (mut tables, others): (Vec<(String, String, String)>, Vec<_>) =
        objects.into_iter().partition(|o| o.0 == "table");
    tables.sort_by_key(|t| t.1 == "sqlite_sequence"); // stable sort: otherwise schema order
    let mut writable_schema = false;
    for (_, name, sql) in &tables {
        if name == "sqlite_sequence" {
            out.write_all(b"DELETE FROM sqlite_sequence;\n")?;
        } else if name.starts_with("sqlite_stat") {
            out.write_all(b"ANALYZE sqlite_schema;\n")?;
        } else if name.starts_with("sqlite_") {
            continue;
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            // Like the CLI: register the virtual table without running its constructor; its
            // shadow tables are dumped as ordinary tables.
            if !std::mem::replace(&mut writable_schema, true) {
                out.write_all(b"PRAGMA writable_schema=ON;\n")?;
            }
            let (n, s) = (name.replace('\'', "''"), sql.replace('\'', "''"));
            out.write_all(b"INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)")?;
            writeln!(out, "VALUES('table','{n}','{n}',0,'{s}');")?;
            continue;
        } else {
            write_statement(out, sql)?;
        }
        dump_rows(conn, name, out)?;
    }
    for (_, _, sql) in &others {
        write_statement(out, sql)?;
    }
    if writable_schema {
        out.write_all(b"PRAGMA writable_schema=OFF;\n")?;
    }
    Ok(out.write_all(b"COMMIT;\n")?)
}

fn write_statement(out: &mut impl Write, sql: &str) -> io::Result<()> {
    // As the CLI does: a `--` comment in the text must not swallow the terminating `;`.
    let end = if sql.contains("--") { "\n;\n" } else { ";\n" };
    write!(out, "{sql}{end}")
}

/// Writes one `INSERT` per row of `table`, in rowid (or primary-key) order.
fn dump_rows(conn: &Connection, table: &str, out: &mut impl Write) -> Result<(), DynError> {
    let sql = "SELECT name, hidden, pk FROM pragma_table_xinfo(?1)";
    let row = |r: &Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
    let columns: Vec<(String, i64, i64)> = all_rows(conn, sql, [table], row)?;
    let sql = "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1";
    let without_rowid: bool = conn.query_row(sql, [table], |r| r.get(0))?;
    // Generated (hidden) columns cannot be inserted: list the stored ones when some are left out.
    let stored: Vec<_> = columns.iter().filter(|c| c.1 == 0).collect();
    if stored.is_empty() {
        return Ok(());
    }
    let list = join_idents(&stored);
    let order = if without_rowid {
        let mut pk: Vec<_> = columns.iter().filter(|c| c.2 > 0).collect();
        pk.sort_by_key(|c| c.2);
        Some(join_idents(&pk))
    } else {
        let free = |a: &&str| !columns.iter().any(|c| c.0.eq_ignore_ascii_case(a));
        let aliases = ["rowid", "_rowid_", "oid"];
        aliases.into_iter().find(free).map(String::from)
    };
    let order_by = order.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
    let table = quote_ident(table);
    let mut select = conn.prepare(&format!("SELECT {list} FROM {table}{order_by}"))?;
    let target = (stored.len() < columns.len()).then(|| format!("({list})"));
    let prefix = format!("INSERT INTO {table}{} VALUES(", target.unwrap_or_default());
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        out.write_all(prefix.as_bytes())?;
        for i in 0..stored.len() {
            out.write_all(if i > 0 { b"," } else { b"" })?;
            write_value(out, row.get_ref(i)?, conn)?;
        }
        out.write_all(b");\n")?;
    }
    Ok(())
}

fn write_hex(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (i, b) in chunk.iter().enumerate() {
            buf[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
            buf[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
        }
        out.write_all(&buf[..2 * chunk.len()])?;
    }
    Ok(())
}

/// SQL text that SQLite evaluates to exactly the finite `f`.
///
/// SQLite's text-to-float conversion (`sqlite3AtoF`, used for literals and `CAST`) is not
/// correctly rounded: the shortest round-trip text (`{:?}`) of e.g. `-1e-300` parses one ulp off,
/// and so do some 20-digit texts. So the shortest text is checked with SQLite itself, and when it
/// does not come back exact the value is written as `(m*1.0*2^k…)`: an integer significand
/// `m < 2^53` scaled by integer powers of two, every step of which is exact in IEEE 754.
fn real_text(conn: &Connection, f: f64) -> String {
    let short = format!("{f:?}");
    let parsed = conn
        .prepare_cached("SELECT CAST(?1 AS REAL)")
        .and_then(|mut st| st.query_row([&short], |r| r.get::<_, f64>(0)));
    if matches!(parsed, Ok(p) if p.to_bits() == f.to_bits()) || f == 0.0 {
        return short;
    }
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    while m & 1 == 0 {
        m >>= 1;
        e += 1;
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let mut text = format!("({sign}{m}*1.0");
    let op = if e < 0 { '/' } else { '*' };
    let mut k = e.unsigned_abs();
    while k > 0 {
        let step = k.min(52);
        text.push_str(&format!("{op}{}", 1u64 << step));
        k -= step;
    }
    text.push(')');
    text
}

/// Writes an exact SQL literal (or, for some REALs, an exact expression) for `value`; `conn`
/// checks how SQLite parses REAL text.
fn write_value(out: &mut impl Write, value: ValueRef<'_>, conn: &Connection) -> io::Result<()> {
    match value {
        ValueRef::Null => out.write_all(b"NULL"),
        ValueRef::Integer(i) => write!(out, "{i}"),
        ValueRef::Real(f) if f.is_nan() => out.write_all(b"NULL"),
        ValueRef::Real(f) if f.is_infinite() => {
            write!(out, "{}1e999", &"-"[..usize::from(f < 0.0)])
        }
        ValueRef::Real(f) => out.write_all(real_text(conn, f).as_bytes()),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) if !s.contains('\0') => write!(out, "'{}'", s.replace('\'', "''")),
            // NUL or invalid UTF-8 cannot appear in SQL text: spell the bytes out.
            _ => {
                out.write_all(b"CAST(X'")?;
                write_hex(out, t)?;
                out.write_all(b"' AS TEXT)")
            }
        },
        ValueRef::Blob(b) => {
            out.write_all(b"X'")?;
            write_hex(out, b)?;
            out.write_all(b"'")
        }
    }
}
