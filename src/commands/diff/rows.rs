//! Reading the rows of a table's data sections one at a time, for the row-level `diff`:
//! PostgreSQL `COPY … FROM stdin` text (tab-separated, `\N`, backslash escapes) and `INSERT …
//! VALUES (…),(…);` statements (MariaDB/MySQL extended inserts, SQLite `.dump` lines, pg_dump
//! `--inserts`). Only one row is held at a time, so memory does not grow with the table.
//!
//! Fields are kept as the dump spells them (raw bytes): two rows are equal when their bytes
//! are; [`decode`] turns a field into its value for display and key ordering.

use crate::error::{Error, Result};

/// A pull source of dump bytes (the byte-range restore reader, or a slice in tests).
pub trait Source {
    /// The next buffered bytes; empty at the end of the data.
    ///
    /// Errors: whatever reading the repository fails with.
    fn fill(&mut self) -> Result<&[u8]>;
    /// Marks the first `n` bytes of the last [`fill`](Self::fill) as read.
    fn consume(&mut self, n: usize);
}

impl Source for &[u8] {
    fn fill(&mut self) -> Result<&[u8]> {
        Ok(self)
    }
    fn consume(&mut self, n: usize) {
        *self = &self[n..];
    }
}

/// How the fields of a row are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PostgreSQL COPY text: `\N` is NULL, backslash escapes.
    Copy,
    /// SQL literals: `NULL`, `'quoted'` strings (with backslash escapes when `backslash`).
    Sql {
        /// MySQL/MariaDB: `\` escapes inside strings.
        backslash: bool,
    },
}

/// One row: its fields as written in the dump.
pub type Row = Vec<Vec<u8>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between statements.
    Lines,
    /// Inside a `COPY … FROM stdin` block.
    Copy,
    /// After `VALUES` of an INSERT statement.
    Values,
}

/// Streams the rows of a table's data sections.
pub struct RowReader<S: Source> {
    src: S,
    backslash: bool,
    state: State,
    /// Column names from the last `COPY` or `INSERT` column list, if any.
    pub columns: Option<Vec<String>>,
    /// Format of the rows read so far.
    pub format: Format,
    line: Vec<u8>,
}

impl<S: Source> RowReader<S> {
    /// Reads rows from `src`; `backslash` when quoted strings use backslash escapes (MySQL).
    pub fn new(src: S, backslash: bool) -> Self {
        RowReader {
            src,
            backslash,
            state: State::Lines,
            columns: None,
            format: Format::Sql { backslash },
            line: Vec::new(),
        }
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        Ok(self.src.fill()?.first().copied())
    }

    fn bump(&mut self) -> Result<Option<u8>> {
        let b = self.peek()?;
        if b.is_some() {
            self.src.consume(1);
        }
        Ok(b)
    }

    /// Reads up to and including the next newline into `self.line` (without it); `false` at
    /// the end of the data.
    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        loop {
            let buf = self.src.fill()?;
            if buf.is_empty() {
                return Ok(!self.line.is_empty());
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.line.extend_from_slice(&buf[..i]);
                    self.src.consume(i + 1);
                    return Ok(true);
                }
                None => {
                    let n = buf.len();
                    self.line.extend_from_slice(buf);
                    self.src.consume(n);
                }
            }
        }
    }

    fn skip_ws(&mut self) -> Result<()> {
        loop {
            let buf = self.src.fill()?;
            let n = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
            let all = n == buf.len() && n > 0;
            self.src.consume(n);
            if !all {
                return Ok(());
            }
        }
    }

    /// The next row, or `None` at the end of the data.
    ///
    /// Errors: a row cut off by the end of the data ([`Error::Invalid`]), or a read error.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            match self.state {
                State::Copy => {
                    if !self.read_line()? {
                        return Ok(None);
                    }
                    if self.line == b"\\." {
                        self.state = State::Lines;
                        continue;
                    }
                    return Ok(Some(
                        self.line
                            .split(|b| *b == b'\t')
                            .map(<[u8]>::to_vec)
                            .collect(),
                    ));
                }
                State::Values => {
                    self.skip_ws()?;
                    match self.peek()? {
                        None => return Ok(None),
                        Some(b'(') => {
                            self.bump()?;
                            return self.tuple().map(Some);
                        }
                        Some(b',') => {
                            self.bump()?;
                        }
                        Some(_) => {
                            // `;`, or a clause such as `ON DUPLICATE KEY …`: the statement ends
                            // with this line.
                            self.read_line()?;
                            self.state = State::Lines;
                        }
                    }
                }
                State::Lines => {
                    self.skip_ws()?;
                    let mut word = Vec::new();
                    while let Some(b) = self.peek()? {
                        if !b.is_ascii_alphabetic() || word.len() > 8 {
                            break;
                        }
                        word.push(b.to_ascii_uppercase());
                        self.bump()?;
                    }
                    match &word[..] {
                        b"COPY" => {
                            self.read_line()?;
                            if self.line.trim_ascii_end().ends_with(b"FROM stdin;") {
                                self.columns = copy_columns(&self.line);
                                self.format = Format::Copy;
                                self.state = State::Copy;
                            }
                        }
                        b"INSERT" | b"REPLACE" => {
                            if self.insert_head()? {
                                self.columns = insert_columns(&self.line);
                                self.format = Format::Sql {
                                    backslash: self.backslash,
                                };
                                self.state = State::Values;
                            }
                        }
                        [] if self.peek()?.is_none() => return Ok(None),
                        _ => {
                            self.read_line()?;
                        }
                    }
                }
            }
        }
    }

    /// Reads an INSERT statement up to its `VALUES` keyword into `self.line`; `false` when the
    /// statement has none (it is then skipped to its line's end).
    fn insert_head(&mut self) -> Result<bool> {
        self.line.clear();
        let mut quote = None;
        while let Some(b) = self.bump()? {
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if matches!(b, b'"' | b'`' | b'\'') => quote = Some(b),
                None if b == b'\n' && self.line.ends_with(b";") => return Ok(false),
                None => {}
            }
            self.line.push(b);
            let next = self.peek()?;
            if quote.is_none()
                && self.line.len() >= 7
                && self.line[self.line.len() - 6..].eq_ignore_ascii_case(b"VALUES")
                && !self.line[self.line.len() - 7].is_ascii_alphanumeric()
                && next.is_none_or(|n| n == b'(' || n.is_ascii_whitespace())
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads one parenthesised tuple after its `(`.
    fn tuple(&mut self) -> Result<Row> {
        let mut fields = Vec::new();
        loop {
            self.skip_ws()?;
            let mut v = Vec::new();
            let (mut depth, mut quote) = (0u32, None::<u8>);
            let end = loop {
                let Some(b) = self.bump()? else {
                    return Err(Error::Invalid(
                        "a row of INSERT values is cut off by the end of the table's data".into(),
                    ));
                };
                match quote {
                    Some(q) => {
                        if b == q {
                            quote = None;
                        } else if b == b'\\' && q == b'\'' && self.backslash {
                            v.push(b);
                            if let Some(n) = self.bump()? {
                                v.push(n);
                            }
                            continue;
                        }
                    }
                    None => match b {
                        b'\'' | b'"' | b'`' => quote = Some(b),
                        b'(' => depth += 1,
                        b')' if depth > 0 => depth -= 1,
                        b',' | b')' if depth == 0 => break b,
                        _ => {}
                    },
                }
                v.push(b);
            };
            let len = v.trim_ascii_end().len();
            v.truncate(len);
            fields.push(v);
            if end == b')' {
                return Ok(fields);
            }
        }
    }
}

/// Splits an identifier list `a, "B c", `d`` into unquoted names.
pub fn ident_list(s: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut quote = None;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        match quote {
            Some(q) if b == q => {
                if s.get(i + 1) == Some(&q) {
                    cur.push(q);
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => cur.push(b),
            None => match b {
                b'"' | b'`' | b'[' => quote = Some(if b == b'[' { b']' } else { b }),
                b',' => out.push(String::from_utf8_lossy(&std::mem::take(&mut cur)).into_owned()),
                b if b.is_ascii_whitespace() => {}
                b => cur.push(b),
            },
        }
        i += 1;
    }
    if !cur.is_empty() || !out.is_empty() {
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
    out
}

/// The column list of `COPY name (a, b) FROM stdin;` (the line after `COPY`).
fn copy_columns(line: &[u8]) -> Option<Vec<String>> {
    let end = memchr::memmem::rfind(line, b") FROM stdin")?;
    let start = last_open(&line[..end])?;
    Some(ident_list(&line[start + 1..end]))
}

/// The column list of `INSERT INTO name (a, b) VALUES` (the head after `INSERT`), if any.
fn insert_columns(head: &[u8]) -> Option<Vec<String>> {
    let body = head[..head.len() - 6].trim_ascii_end();
    if !body.ends_with(b")") {
        return None;
    }
    let end = body.len() - 1;
    let start = last_open(&body[..end])?;
    Some(ident_list(&body[start + 1..end]))
}

/// The `(` opening the parenthesised group that ends at the end of `s`, outside quotes.
fn last_open(s: &[u8]) -> Option<usize> {
    let mut quote = None;
    let mut open = None;
    for (i, &b) in s.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if matches!(b, b'"' | b'`') => quote = Some(b),
            None if b == b'(' => open = Some(i),
            None => {}
        }
    }
    open
}

/// A field's value: `None` for NULL, else the text (strings unquoted and unescaped; numbers,
/// hex literals and expressions as written). Invalid UTF-8 is replaced.
pub fn decode(raw: &[u8], format: Format) -> Option<String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match format {
        Format::Copy => {
            if raw == b"\\N" {
                return None;
            }
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\\' && i + 1 < raw.len() {
                    i += 1;
                    out.push(match raw[i] {
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 11,
                        b'0'..=b'7' => {
                            let mut v = 0u32;
                            let mut n = 0;
                            while n < 3 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                                v = v * 8 + u32::from(raw[i] - b'0');
                                i += 1;
                                n += 1;
                            }
                            out.push(v as u8);
                            continue;
                        }
                        c => c,
                    });
                } else {
                    out.push(raw[i]);
                }
                i += 1;
            }
            Some(text(&out))
        }
        Format::Sql { backslash } => {
            if raw.eq_ignore_ascii_case(b"NULL") {
                return None;
            }
            let Some(inner) = raw
                .strip_prefix(b"'")
                .and_then(|r| r.strip_suffix(b"'"))
                .filter(|_| raw.len() >= 2)
            else {
                return Some(text(raw));
            };
            let mut out = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                let b = inner[i];
                if b == b'\'' && inner.get(i + 1) == Some(&b'\'') {
                    out.push(b'\'');
                    i += 2;
                    continue;
                }
                if b == b'\\' && backslash && i + 1 < inner.len() {
                    out.push(match inner[i + 1] {
                        b'0' => 0,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'Z' => 26,
                        b'b' => 8,
                        c => c,
                    });
                    i += 2;
                    continue;
                }
                out.push(b);
                i += 1;
            }
            Some(text(&out))
        }
    }
}

/// Orders key values as a merge join needs: numbers (integers, decimals) by value before any
/// other value, other values by their bytes, NULL first. A total order, so a dump's key order
/// either agrees with it (numbers, or text in a byte-wise collation) or is found out of order.
pub fn cmp_value(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = match (a, b) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Less,
        (Some(_), None) => return Ordering::Greater,
        (Some(a), Some(b)) => (a, b),
    };
    let num = |s: &str| -> Option<(Option<i128>, f64)> {
        let f: f64 = s.parse().ok().filter(|f: &f64| f.is_finite())?;
        if !s
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.'))
        {
            return None;
        }
        Some((s.parse().ok(), f))
    };
    match (num(a), num(b)) {
        (Some((Some(x), _)), Some((Some(y), _))) => x.cmp(&y),
        (Some((_, x)), Some((_, y))) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8], backslash: bool) -> (Vec<Row>, RowReader<&[u8]>) {
        let mut r = RowReader::new(data, backslash);
        let mut rows = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            rows.push(row);
        }
        (rows, r)
    }

    fn s(v: &[&str]) -> Row {
        v.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn copy_rows_are_split_on_tabs() {
        let data = b"--\n-- Data for Name: t; Type: TABLE DATA\n--\n\nCOPY public.t (id, \"Na me\") FROM stdin;\n1\ta\\tb\n2\t\\N\n\\.\n\n\n";
        let (rows, r) = all(data, false);
        assert_eq!(rows, vec![s(&["1", "a\\tb"]), s(&["2", "\\N"])]);
        assert_eq!(r.columns, Some(vec!["id".to_string(), "Na me".to_string()]));
        assert_eq!(r.format, Format::Copy);
        assert_eq!(decode(b"a\\tb", Format::Copy).as_deref(), Some("a\tb"));
        assert_eq!(decode(b"\\N", Format::Copy), None);
    }

    #[test]
    fn extended_inserts_are_split_into_tuples() {
        let data = b"LOCK TABLES `t` WRITE;\n/*!40000 ALTER TABLE `t` DISABLE KEYS */;\nINSERT INTO `t` VALUES (1,'a,b)\\'',NULL),\n(2,'x''y',0x4142);\nUNLOCK TABLES;\n";
        let (rows, r) = all(data, true);
        assert_eq!(
            rows,
            vec![
                s(&["1", "'a,b)\\''", "NULL"]),
                s(&["2", "'x''y'", "0x4142"])
            ]
        );
        assert_eq!(r.columns, None);
        let f = Format::Sql { backslash: true };
        assert_eq!(decode(b"'a,b)\\''", f).as_deref(), Some("a,b)'"));
        assert_eq!(decode(b"NULL", f), None);
    }

    #[test]
    fn sqlite_inserts_with_expressions_and_columns() {
        let data = b"INSERT INTO t(a,\"b\") VALUES(1,replace('x\\ny','\\n',char(10)));\nINSERT INTO t(a,\"b\") VALUES(2,'it''s');\n";
        let (rows, r) = all(data, false);
        assert_eq!(
            rows,
            vec![
                s(&["1", "replace('x\\ny','\\n',char(10))"]),
                s(&["2", "'it''s'"])
            ]
        );
        assert_eq!(r.columns, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            decode(b"'it''s'", Format::Sql { backslash: false }).as_deref(),
            Some("it's")
        );
    }

    #[test]
    fn a_cut_off_tuple_is_an_error() {
        let mut r = RowReader::new(&b"INSERT INTO t VALUES (1,'a"[..], false);
        assert!(r.next_row().is_err());
    }

    #[test]
    fn keys_order_numbers_by_value() {
        use std::cmp::Ordering::*;
        let v = |s: &str| Some(s.to_string());
        assert_eq!(cmp_value(&v("9"), &v("10")), Less);
        assert_eq!(cmp_value(&v("1.5"), &v("10")), Less);
        assert_eq!(cmp_value(&v("10"), &v("abc")), Less);
        assert_eq!(cmp_value(&v("b"), &v("abc")), Greater);
        assert_eq!(cmp_value(&None, &v("1")), Less);
    }
}
