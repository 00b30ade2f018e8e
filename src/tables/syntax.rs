//! Small SQL syntax helpers on a line prefix: whitespace, keywords, (quoted, qualified)
//! identifiers, `ON table`, `INSERT INTO table`, session-setting lines.
//!
//! Owns: recognising words and names at the start of a byte slice, without state. Must not:
//! keep state across lines or find statement ends (that is `lexer`'s).

use super::name::encode;

pub(super) fn skip_ws(s: &[u8]) -> &[u8] {
    &s[s.iter().take_while(|c| c.is_ascii_whitespace()).count()..]
}

pub(super) fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Strips keyword `k` (a space-separated phrase, case-insensitive, whole words) after optional whitespace.
pub(super) fn kw<'a>(s: &'a [u8], k: &str) -> Option<&'a [u8]> {
    k.split(' ').try_fold(s, |s, w| {
        let s = skip_ws(s);
        let ok = s.len() >= w.len() && s[..w.len()].eq_ignore_ascii_case(w.as_bytes());
        (ok && !s.get(w.len()).is_some_and(|&c| is_ident(c))).then(|| &s[w.len()..])
    })
}

/// Parses a possibly qualified, possibly quoted identifier; returns its unquoted parts and the rest.
pub(super) fn ident(s: &[u8]) -> Option<(Vec<String>, &[u8])> {
    let mut s = skip_ws(s);
    let mut parts = Vec::new();
    loop {
        let (part, rest) = match *s.first()? {
            q @ (b'"' | b'`' | b'\'' | b'[') => {
                let close = if q == b'[' { b']' } else { q };
                let (mut out, mut i) = (Vec::new(), 1);
                loop {
                    let c = *s.get(i)?;
                    i += 1;
                    if c != close {
                        out.push(c);
                    } else if close != b']' && s.get(i) == Some(&close) {
                        out.push(c);
                        i += 1;
                    } else {
                        break;
                    }
                }
                (out, &s[i..])
            }
            _ => {
                let n = s.iter().take_while(|&&c| is_ident(c)).count();
                (n > 0).then_some(())?;
                (s[..n].to_vec(), &s[n..])
            }
        };
        parts.push(String::from_utf8_lossy(&part).into_owned());
        match rest.strip_prefix(b".") {
            Some(r) => s = r,
            None => return Some((parts, rest)),
        }
    }
}

/// The table after the first bare `ON [ONLY]` keyword (indexes, triggers), in the stored form
/// of [`encode`].
pub(super) fn on_table(mut s: &[u8]) -> Option<String> {
    loop {
        s = skip_ws(s);
        if let Some(r) = kw(s, "ON") {
            return ident(kw(r, "ONLY").unwrap_or(r)).map(|(p, _)| encode(&p));
        }
        s = match ident(s) {
            Some((_, rest)) => rest,
            None => s.get(1..)?,
        };
    }
}

/// Parses `INSERT [IGNORE | OR x] INTO name` / `REPLACE INTO name`: the table (stored form of
/// [`encode`]), whether a column list follows, and the rest after the name.
pub(super) fn insert_target(t: &[u8]) -> Option<(String, bool, &[u8])> {
    let mut s = kw(t, "INSERT").or_else(|| kw(t, "REPLACE"))?;
    for _ in 0..3 {
        if let Some((name, rest)) = kw(s, "INTO").and_then(ident) {
            return Some((encode(&name), skip_ws(rest).starts_with(b"("), rest));
        }
        s = ident(s)?.1;
    }
    None
}

/// Whether a line (between statements) only holds a session setting, comment or blank.
pub(super) fn is_settings_line(t: &[u8]) -> bool {
    let t = skip_ws(t);
    let cond = t
        .strip_prefix(b"/*!")
        .or_else(|| t.strip_prefix(b"/*M!"))
        .map(|r| {
            let r = &r[r.iter().take_while(|c| c.is_ascii_digit()).count()..];
            kw(r, "SET").is_some() || r.starts_with(b"\\- enable the sandbox mode")
        });
    cond.unwrap_or(false)
        || t.is_empty()
        || t.starts_with(b"--")
        || t.starts_with(b"SELECT pg_catalog.set_config(")
        || t.starts_with(b"\\restrict ")
        || t.starts_with(b"\\unrestrict ")
        || [
            "SET",
            "PRAGMA",
            "BEGIN TRANSACTION;",
            "COMMIT;",
            "ROLLBACK;",
        ]
        .iter()
        .any(|k| kw(t, k).is_some())
}

/// Whether a MySQL dump line may stay in the preamble, which every parallel restore session
/// runs: settings, comments, blanks and version-conditional comments (`/*!40101 SET …*/`,
/// mysqldump's `/*!50717 PREPARE s …*/` probes); any other statement is schema.
pub(super) fn is_session_line(t: &[u8]) -> bool {
    let t = skip_ws(t);
    is_settings_line(t) || t.starts_with(b"/*")
}
