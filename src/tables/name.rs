//! The stored form of object names in the table index (`Section::name`, `Section::table`):
//! schema-qualified names as one string, compatible with snapshots written before names with
//! dots could be told apart.
//!
//! Owns: [`encode`] (parts -> stored string) and [`decode`] (stored string -> parts), the one
//! place that knows the format (repo-format.md, "Table index"). Must not: quote names for SQL
//! or for display (`select::display_name` does).
//!
//! The form: parts joined with `.`. A part is double-quoted, with `"` doubled, when it starts
//! with `"`, or when it holds a `.` and is not the last of two or more parts; otherwise it is
//! written as it is (`"Sales.EU".Order Items`, `public.Dot.Table`, `"Dot.Table"` for a name
//! of one part). Readers take a part starting with `"` as quoted only when it is well formed,
//! ends at a `.` (the first part) or at the end of the string, and its text is one a writer
//! quotes (holds a `.` or starts with `"`); any other part runs to the next `.` if it is the first, to the end of the string
//! if not (a name has at most two parts: pg_dump qualifies with the schema, MySQL and SQLite
//! dumps do not qualify). Names written before this form (never quoted) so read as they
//! always did: the first part up to the first dot, the rest after it.

/// Whether a writer quotes `part`: it starts with `"`, or holds a `.` and is not `last` of
/// two or more parts.
fn needs_quotes(part: &str, last: bool) -> bool {
    part.starts_with('"') || (!last && part.contains('.'))
}

/// `part` double-quoted with `"` doubled.
fn quote(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

/// The stored form of a (possibly qualified) name from its unquoted parts (one or two):
/// `["Sales.EU", "Order Items"]` gives `"Sales.EU".Order Items`, `["Dot.Table"]` gives
/// `"Dot.Table"`, `["public", "orders"]` gives `public.orders` and `["public", "Dot.Table"]`
/// `public.Dot.Table`, as before quoting was introduced.
pub fn encode<S: AsRef<str>>(parts: &[S]) -> String {
    let n = parts.len();
    let parts: Vec<String> = (parts.iter().enumerate())
        .map(|(i, p)| {
            let p = p.as_ref();
            // A single part is "last" too, but a dot in it would read as a separator.
            if needs_quotes(p, i + 1 == n && n > 1) {
                quote(p)
            } else {
                p.to_string()
            }
        })
        .collect();
    parts.join(".")
}

/// A quoted part at the start of `s`: its text and the rest after the closing quote, when it
/// is well formed, followed by `.` or the end, and its text one a writer quotes.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut text = String::new();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            text.push(c);
            continue;
        }
        let rest = &s[1 + i + 1..];
        if rest.starts_with('"') {
            chars.next();
            text.push('"');
            continue;
        }
        let ends = rest.is_empty() || rest.starts_with('.');
        return (ends && (text.contains('.') || text.starts_with('"'))).then_some((text, rest));
    }
    None
}

/// The unquoted parts of a stored name (see the module docs): `"Sales.EU".Order Items` gives
/// `["Sales.EU", "Order Items"]`; `Sales.Order Items` and the older `public.Dot.Table` give
/// `["Sales", "Order Items"]` and `["public", "Dot.Table"]`; `""` gives `[""]`.
pub fn decode(stored: &str) -> Vec<String> {
    let (first, rest) = match quoted(stored) {
        Some(q) => q,
        // Unquoted: the first part runs to the first dot.
        None => {
            let end = stored.find('.').unwrap_or(stored.len());
            (stored[..end].to_string(), &stored[end..])
        }
    };
    match rest.strip_prefix('.') {
        None => vec![first],
        // The second part is the rest: one quoted text to the end, or the rest as it is.
        Some(r) => match quoted(r) {
            Some((second, "")) => vec![first, second],
            _ => vec![first, r.to_string()],
        },
    }
}

/// The schema of a stored name with two parts or more (its first part); `None` for a name of
/// one part.
pub(crate) fn schema_of(stored: &str) -> Option<String> {
    let mut parts = decode(stored);
    (parts.len() > 1).then(|| parts.swap_remove(0))
}
