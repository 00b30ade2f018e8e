//! Which tables a snapshot holds (for `ls`) and what `restore --table` writes: names as users
//! type them (quoted, globbed), partitions with their partitioned table, and the objects a
//! table needs (its schema, column types and collations, the functions its constraints,
//! defaults, generated columns, indexes, policies and triggers call, the sequences its defaults
//! use, extensions, inheritance parents), leaving out foreign keys to tables that are not
//! restored.
//!
//! The planner is pure: the DDL it reads (table definitions, functions, sequences, types, the
//! tables' constraints, defaults, indexes, policies, foreign keys and triggers) is
//! handed in as bytes per section, fetched by the caller from the repository
//! ([`ddl_sections`] says which). It must not read the repository or scan dump bytes.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::name::{decode, encode, schema_of};
use super::{table_summaries, Section, SectionKind, TablesError};
use crate::format::source::Dialect;

/// What kind of table an `ls` line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// An ordinary table (or an inheritance child).
    Table,
    /// A partitioned table (PostgreSQL): its rows live in its partitions.
    Partitioned,
    /// A partition of a partitioned table.
    Partition,
}

impl TableKind {
    /// `table`, `partitioned`, `partition`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Table => "table",
            TableKind::Partitioned => "partitioned",
            TableKind::Partition => "partition",
        }
    }
}

/// One table of a snapshot, for `ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Name as in the table index, in its stored form ([`super::name`]: `Sales.Order Items`,
    /// `"Sales.EU".Order Items`).
    pub name: String,
    /// Name as `ls` prints it and `--table` accepts it (`"Sales"."Order Items"`).
    pub display: String,
    /// Table, partitioned table or partition.
    pub kind: TableKind,
    /// For a partition: its partitioned table (stored form), when the index records it.
    pub partition_of: Option<String>,
    /// Data rows, `None` when the dump holds no data for it.
    pub rows: Option<u64>,
    /// Bytes of all its sections, bytes.
    pub bytes: u64,
}

/// What `restore --table` writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Byte ranges of the stream to write, merged, in stream order.
    pub ranges: Vec<Range<u64>>,
    /// The tables restored with their data (the selection and the partitions it brings), in
    /// the stored form of the table index.
    pub tables: Vec<String>,
    /// What was left out or added, one sentence each (foreign keys, inheritance parents).
    pub warnings: Vec<String>,
}

/// Partition -> partitioned table, from `TABLE ATTACH` sections that record the parent.
fn partition_parents(sections: &[Section]) -> HashMap<&str, &str> {
    sections
        .iter()
        .filter(|s| s.object_type == "TABLE ATTACH")
        .filter_map(|s| Some((s.table.as_deref()?, s.name.as_str())))
        .filter(|(t, p)| t != p)
        .collect()
}

/// The tables of a dump, in order of first appearance: those with a table definition or data
/// (views, sequences and other objects are not tables).
pub fn list_tables(sections: &[Section]) -> Vec<TableInfo> {
    let parents = partition_parents(sections);
    let partitioned: BTreeSet<&str> = parents.values().copied().collect();
    table_summaries(sections)
        .into_iter()
        .map(|t| {
            let partition_of = parents.get(t.name.as_str()).map(|p| p.to_string());
            let kind = if partitioned.contains(t.name.as_str()) {
                TableKind::Partitioned
            } else if partition_of.is_some() || has_attach(sections, &t.name) {
                TableKind::Partition
            } else {
                TableKind::Table
            };
            TableInfo {
                display: display_name(&t.name),
                name: t.name,
                kind,
                partition_of,
                rows: t.rows,
                bytes: t.bytes,
            }
        })
        .collect()
}

fn has_attach(sections: &[Section], table: &str) -> bool {
    (sections.iter()).any(|s| s.object_type == "TABLE ATTACH" && s.table.as_deref() == Some(table))
}

/// Whether an identifier part is written without quotes (lower case, digits, `_`, `$`).
fn plain(part: &str) -> bool {
    let mut c = part.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase() || f == '_')
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
}

/// `part` quoted for display: `"Order Items"`; a part holding control characters (a newline,
/// a tab...) in PostgreSQL's Unicode escape form, `U&"new\000aline"` (a backslash doubled),
/// so it reads apart from a name with a space there; [`parse_pattern`] reads both back.
fn quote_part(part: &str) -> String {
    if !part.chars().any(char::is_control) {
        return format!("\"{}\"", part.replace('"', "\"\""));
    }
    let mut out = String::from("U&\"");
    for c in part.chars() {
        match c {
            '"' => out.push_str("\"\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() && (c as u32) <= 0xffff => {
                out.push_str(&format!("\\{:04x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\+{:06x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a Unicode escape (after its `\`) of a `U&"…"` part: `\`, 4 hex digits or `+` and
/// 6 hex digits; `None` when malformed.
fn unicode_escape(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<char> {
    if chars.peek() == Some(&'\\') {
        chars.next();
        return Some('\\');
    }
    let n = if chars.peek() == Some(&'+') {
        chars.next();
        6
    } else {
        4
    };
    let hex: String = (0..n).filter_map(|_| chars.next()).collect();
    (hex.len() == n)
        .then(|| u32::from_str_radix(&hex, 16).ok())
        .flatten()
        .and_then(char::from_u32)
}

/// A table name (stored form of the table index, [`super::name`]) as `ls` prints it: schema
/// and table quoted when they are not plain lower-case identifiers (`public.orders`,
/// `"Sales"."Order Items"`, `"Sales.EU"."Order Items"` for `"Sales.EU".Order Items`).
pub fn display_name(name: &str) -> String {
    display_parts(&decode(name))
}

/// Unquoted name parts as `ls` prints them: each quoted unless plain, joined with `.`.
fn display_parts<S: AsRef<str>>(parts: &[S]) -> String {
    let q = |p: &str| {
        if plain(p) {
            p.to_string()
        } else {
            quote_part(p)
        }
    };
    let parts: Vec<String> = parts.iter().map(|p| q(p.as_ref())).collect();
    parts.join(".")
}

/// One part of a `--table` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    text: String,
    /// Unquoted and holding `*` or `?`.
    glob: bool,
}

/// Splits a `--table` argument into parts: `"Sales"."Order Items"`, `Sales.Order Items`,
/// `public.order*`, `public.U&"new\000aline"` (as `ls` prints names holding control
/// characters). Quoted parts are literal; in unquoted ones `*` and `?` are wildcards.
fn parse_pattern(p: &str) -> Option<Vec<Part>> {
    let (mut parts, mut cur, mut quoted, mut glob) = (Vec::new(), String::new(), false, false);
    let mut chars = p.chars().peekable();
    let (mut was_quoted, mut unicode) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' if quoted => quoted = false,
            '\\' if quoted && unicode => cur.push(unicode_escape(&mut chars)?),
            '"' if cur.is_empty() && !was_quoted => (quoted, was_quoted) = (true, true),
            'U' | 'u' if cur.is_empty() && !was_quoted && chars.clone().take(2).eq(['&', '"']) => {
                chars.nth(1);
                (quoted, was_quoted, unicode) = (true, true, true);
            }
            '.' if !quoted && parts.is_empty() => {
                parts.push(Part {
                    text: std::mem::take(&mut cur),
                    glob,
                });
                (glob, was_quoted, unicode) = (false, false, false);
            }
            '*' | '?' if !quoted => {
                glob = true;
                cur.push(c);
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    parts.push(Part { text: cur, glob });
    parts.iter().all(|p| !p.text.is_empty()).then_some(parts)
}

/// Wildcard match: `*` any run, `?` one character.
fn glob_match(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            (pi, si) = (pi + 1, si + 1);
        } else if pi < p.len() && p[pi] == '*' {
            (star, mark, pi) = (Some(pi), si, pi + 1);
        } else if let Some(st) = star {
            (pi, mark, si) = (st + 1, mark + 1, mark + 1);
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn part_match(p: &Part, s: &str) -> bool {
    if p.glob {
        glob_match(&p.text, s)
    } else {
        p.text == s
    }
}

/// A parsed `--table` argument.
struct Pattern {
    parts: Vec<Part>,
    /// The argument itself when it has no quotes and no wildcards: it also names a table
    /// (or table part) whose name holds dots (`Sales.EU.Order Items`, MySQL's `Dot.Table`).
    literal: Option<String>,
    /// Some part holds a wildcard.
    glob: bool,
}

impl Pattern {
    fn parse(p: &str) -> Option<Pattern> {
        let parts = parse_pattern(p)?;
        Some(Pattern {
            literal: (!p.contains(['"', '*', '?'])).then(|| p.to_string()),
            glob: parts.iter().any(|p| p.glob),
            parts,
        })
    }

    /// Whether it names stored table name `t` whole (schema and table, or a name of one part).
    fn whole(&self, t: &str) -> bool {
        let tp = decode(t);
        let by_parts = match (&self.parts[..], &tp[..]) {
            // One part names the whole name (`"Dot.Table"` also in snapshots written before
            // names were quoted, which hold `Dot.Table`).
            ([one], _) => part_match(one, &tp.join(".")),
            ([s, n], [ts, tn]) => part_match(s, ts) && part_match(n, tn),
            _ => false,
        };
        by_parts || self.literal.as_ref().is_some_and(|l| *l == tp.join("."))
    }

    /// Whether it names the table part of qualified stored name `t`.
    fn bare(&self, t: &str) -> bool {
        let literal = |tn: &String| self.literal.as_ref() == Some(tn);
        match (&self.parts[..], &decode(t)[..]) {
            ([one], [_, tn]) => part_match(one, tn) || literal(tn),
            (_, [_, tn]) => literal(tn),
            _ => false,
        }
    }
}

/// How a table name given by a user names a table of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameMatch {
    /// Whole: schema and table (`"Sales.EU"."Order Items"`), or a name without schema.
    Whole,
    /// By its table part only (`"Order Items"`, `orders`); should be unique among the tables.
    Bare,
    /// Not this table (or `pattern` is malformed: an unclosed quote, an empty part).
    No,
}

/// Whether `pattern` (a name as `ls` prints it, quotes optional, `*` and `?` wildcards in
/// unquoted parts) names table `table` (stored form, [`super::name`]), and how. The rules of
/// [`resolve`], for one table.
pub fn match_table(pattern: &str, table: &str) -> NameMatch {
    match Pattern::parse(pattern) {
        Some(p) if p.whole(table) => NameMatch::Whole,
        Some(p) if p.bare(table) => NameMatch::Bare,
        _ => NameMatch::No,
    }
}

/// Resolves `--table` arguments to the tables of the dump (stored names, in dump order),
/// adding the partitions of every partitioned table chosen (recursively). A name is matched
/// whole (`public.orders`), or, given without a schema, against the table part (`orders`),
/// which must then be unique; a glob (`public.order*`) may match several tables and must
/// match one. Quoted parts may hold dots (`"Sales.EU"."Order Items"`); an unquoted name
/// without wildcards also matches a table whose parts, joined with `.`, spell it.
///
/// Errors: [`TablesError::NoTables`], [`TablesError::UnknownTable`] (listing the tables as
/// `ls` prints them), [`TablesError::AmbiguousTable`].
pub fn resolve(sections: &[Section], patterns: &[String]) -> Result<Vec<String>, TablesError> {
    if patterns.is_empty() {
        return Err(TablesError::NoTables);
    }
    let all: Vec<String> = table_summaries(sections)
        .into_iter()
        .map(|t| t.name)
        .collect();
    let unknown = |name: &str| TablesError::UnknownTable {
        name: name.to_string(),
        available: all.iter().map(|t| display_name(t)).collect(),
    };
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    for pat in patterns {
        let p = Pattern::parse(pat).ok_or_else(|| unknown(pat))?;
        let exact: Vec<&str> = (all.iter().map(String::as_str))
            .filter(|t| p.whole(t))
            .collect();
        let found = if exact.is_empty() || p.glob {
            let mut v = exact;
            v.extend(all.iter().map(String::as_str).filter(|t| p.bare(t)));
            v
        } else {
            exact
        };
        let glob = p.glob;
        match found[..] {
            [] => return Err(unknown(pat)),
            [_, _, ..] if !glob => {
                return Err(TablesError::AmbiguousTable {
                    name: pat.clone(),
                    candidates: found.iter().map(|t| display_name(t)).collect(),
                })
            }
            _ => chosen.extend(found),
        }
    }
    let parents = partition_parents(sections);
    loop {
        let more: Vec<&str> = (parents.iter())
            .filter(|(c, p)| chosen.contains(**p) && !chosen.contains(**c))
            .map(|(c, _)| *c)
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    let chosen: BTreeSet<String> = chosen.into_iter().map(str::to_string).collect();
    Ok(all
        .iter()
        .filter(|t| chosen.contains(*t))
        .cloned()
        .collect())
}

/// Indexes into `sections` of the sections whose text [`plan`] reads for `tables` (resolved):
/// for PostgreSQL every table, type, domain, extension, function and sequence definition
/// (pre-data, small) and the foreign keys, triggers, constraints, defaults, indexes and
/// policies of `tables`; for MySQL/MariaDB the definitions of `tables`.
pub fn ddl_sections(dialect: Dialect, sections: &[Section], tables: &[String]) -> Vec<usize> {
    let ours = |s: &Section| s.table.as_ref().is_some_and(|t| tables.contains(t));
    (sections.iter().enumerate())
        .filter(|(_, s)| s.kind == SectionKind::Schema)
        .filter(|(_, s)| match (dialect, s.object_type.as_str()) {
            (Dialect::Postgres, "TABLE" | "TYPE" | "DOMAIN" | "EXTENSION" | "FUNCTION") => true,
            (Dialect::Postgres, "SEQUENCE") => true,
            (
                Dialect::Postgres,
                "FK CONSTRAINT" | "TRIGGER" | "CHECK CONSTRAINT" | "CONSTRAINT" | "DEFAULT"
                | "INDEX" | "POLICY",
            ) => ours(s),
            (Dialect::MySql, "TABLE") => ours(s),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// An identifier at the start of `s` (after blanks): its unquoted parts and the rest.
fn ident(s: &str) -> Option<(Vec<String>, &str)> {
    super::syntax::ident(s.as_bytes()).map(|(p, r)| (p, &s[s.len() - r.len()..]))
}

/// The tables named after each ` REFERENCES ` in `ddl` (stored form), with the byte offset of
/// the keyword.
fn references(ddl: &str) -> Vec<(usize, String)> {
    ddl.match_indices(" REFERENCES ")
        .filter_map(|(i, k)| Some((i, encode(&ident(&ddl[i + k.len()..])?.0))))
        .collect()
}

/// The byte ranges of `  CONSTRAINT ... REFERENCES x ...` lines in a MySQL `CREATE TABLE`,
/// each from the comma ending the line before (so what remains stays valid SQL), with the
/// constraint's line and the table it references.
fn mysql_foreign_keys(ddl: &str) -> Vec<(Range<usize>, String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in ddl.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let body = line.trim_end_matches(['\n', '\r', ',']);
        if !body.trim_start().starts_with("CONSTRAINT ") || !body.contains(" FOREIGN KEY ") {
            continue;
        }
        let Some((_, r)) = references(body).into_iter().next() else {
            continue;
        };
        if !ddl[..start].ends_with(",\n") {
            continue;
        }
        out.push((start - 2..start + body.len(), body.trim().to_string(), r));
    }
    out
}

/// Plans `restore --table` for `tables` (from [`resolve`]): the preamble and setting blocks
/// (and, MySQL, the sequences and other objects written before the first table),
/// every section of those tables (definition, data, indexes, constraints, triggers, policies,
/// comments, grants, owned sequences and their values), the attachment of partitions whose
/// partitioned table is restored, and what the tables need: their schemas, the types,
/// domains and collations their columns use, the functions their CHECK constraints (and their
/// domains'), defaults, generated columns, index expressions, policies and triggers call (and
/// the functions those call, schema-qualified), the sequences their defaults use that they do
/// not own (definition, value, grants; not `OWNED BY`), with the grants and comments of those
/// objects, the extensions, and (created empty, with a warning) the tables they inherit from
/// and the table whose identity sequence a default uses. A foreign key to a table not
/// restored is left out with a warning unless `with_foreign_keys`.
///
/// `ddl` holds the text of sections (by index, see [`ddl_sections`]); a missing one is treated
/// as holding nothing to look at.
pub fn plan(
    dialect: Dialect,
    sections: &[Section],
    tables: &[String],
    with_foreign_keys: bool,
    ddl: &HashMap<usize, Vec<u8>>,
) -> Plan {
    let text = |i: usize| ddl.get(&i).map(|b| String::from_utf8_lossy(b).into_owned());
    let selected: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let parents = partition_parents(sections);
    let mut keep = vec![false; sections.len()];
    let mut cut: Vec<Range<u64>> = Vec::new();
    let mut warnings = Vec::new();
    let fk_warning = |table: &str, fk: &str, to: &str| {
        format!(
            "left out foreign key {fk} of {} to {}, which is not restored (add --table {} or \
             --with-foreign-keys to keep it)",
            display_name(table),
            display_name(to),
            display_name(to)
        )
    };
    for (i, s) in sections.iter().enumerate() {
        let table = s.table.as_deref().filter(|t| selected.contains(t));
        keep[i] = match (s.kind, s.object_type.as_str(), table) {
            (SectionKind::Preamble, _, _) => true,
            (SectionKind::Other, "SETTINGS", _) => true,
            // MySQL objects written before the first table (sequences...): they were part of
            // the preamble and came with every table before they had sections of their own.
            (SectionKind::Schema, "SEQUENCE" | "DDL", None) if dialect == Dialect::MySql => true,
            (SectionKind::Other, _, _) | (_, _, None) => false,
            (_, "TABLE ATTACH", Some(t)) => s.name == t || selected.contains(s.name.as_str()),
            (_, "INDEX ATTACH", Some(t)) => parents.get(t).is_some_and(|p| selected.contains(p)),
            (_, "FK CONSTRAINT", Some(t)) => {
                let d = text(i).unwrap_or_default();
                let refs = references(&d);
                let away: Vec<&String> = (refs.iter().map(|(_, r)| r))
                    .filter(|r| !selected.contains(r.as_str()))
                    .collect();
                if away.is_empty() || with_foreign_keys {
                    true
                } else {
                    let fk = (d.find("ADD CONSTRAINT "))
                        .and_then(|k| ident(&d[k + "ADD CONSTRAINT ".len()..]))
                        .map_or_else(|| display_name(&s.name), |(p, _)| display_parts(&p));
                    warnings.push(fk_warning(t, &fk, away[0]));
                    false
                }
            }
            (_, "TABLE", Some(t)) if dialect == Dialect::MySql && !with_foreign_keys => {
                let d = text(i).unwrap_or_default();
                for (r, line, to) in mysql_foreign_keys(&d) {
                    if !selected.contains(to.as_str()) {
                        cut.push(s.start + r.start as u64..s.start + r.end as u64);
                        let fk = line.split(" FOREIGN KEY").next().unwrap_or(&line);
                        let fk = fk.trim_start_matches("CONSTRAINT ");
                        let fk = ident(fk).map_or(fk.to_string(), |(p, _)| display_parts(&p[..1]));
                        warnings.push(fk_warning(t, &fk, &to));
                    }
                }
                true
            }
            _ => true,
        };
    }
    if dialect == Dialect::Postgres {
        pg_dependencies(sections, &selected, &text, &mut keep, &mut warnings);
    }
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for (s, _) in sections.iter().zip(&keep).filter(|(_, k)| **k) {
        for r in subtract(s.start..s.end, &cut) {
            match ranges.last_mut() {
                Some(l) if l.end == r.start => l.end = r.end,
                _ => ranges.push(r),
            }
        }
    }
    Plan {
        ranges,
        tables: tables.to_vec(),
        warnings,
    }
}

/// `r` without the (sorted, disjoint) ranges `cut`.
fn subtract(r: Range<u64>, cut: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = r.start;
    for c in cut.iter().filter(|c| c.start < r.end && r.start < c.end) {
        if c.start > at {
            out.push(at..c.start);
        }
        at = at.max(c.end);
    }
    if at < r.end {
        out.push(at..r.end);
    }
    out
}

/// Whether `text` names the schema-qualified object `name` (stored form), written as pg_dump
/// writes names (quoted when not plain, or always quoted).
fn names(text: &str, name: &str) -> bool {
    names_then(text, name, |_| true)
}

/// Whether `text` calls the schema-qualified function `name` (stored form, no arguments):
/// names it, followed by `(`.
fn calls(text: &str, name: &str) -> bool {
    names_then(text, name, |rest| rest.trim_start().starts_with('('))
}

/// [`names`], where the text after the name must also satisfy `after`.
fn names_then(text: &str, name: &str, after: impl Fn(&str) -> bool) -> bool {
    let [s, n] = &decode(name)[..] else {
        return false;
    };
    let q = |p: &str| {
        if plain(p) {
            p.to_string()
        } else {
            quote_part(p)
        }
    };
    let forms = [
        format!("{}.{}", q(s), q(n)),
        format!("{}.{}", quote_part(s), quote_part(n)),
    ];
    let is_id = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"';
    forms.iter().any(|f| {
        text.match_indices(f.as_str()).any(|(i, _)| {
            let rest = &text[i + f.len()..];
            !text[..i].ends_with(is_id) && !rest.starts_with(is_id) && after(rest)
        })
    })
}

/// The function a `FUNCTION` section is named by (`public.is_even(integer)`, pg_dump's
/// header names are unquoted): its stored name without the argument list (`public.is_even`).
fn function_name(section_name: &str) -> Option<String> {
    let [schema, sig] = &decode(section_name)[..] else {
        return None;
    };
    let (name, _) = sig.split_once('(')?;
    (!name.is_empty()).then(|| encode(&[schema.as_str(), name]))
}

/// The object an `ACL`, `COMMENT` or `SECURITY LABEL` section is about, when it is a
/// function, sequence, type, domain or collation: (kind word, schema, name as pg_dump's
/// object header writes it, unquoted: `is_even(integer)`, `Order Items_id_seq`).
fn about(section_name: &str) -> Option<(&'static str, String, String)> {
    let [schema, tag] = &decode(section_name)[..] else {
        return None;
    };
    let (kind, rest) = ["FUNCTION", "SEQUENCE", "TYPE", "DOMAIN", "COLLATION"]
        .into_iter()
        .find_map(|k| Some((k, tag.strip_prefix(k)?.strip_prefix(' ')?)))?;
    // The tag may quote the name (`SEQUENCE "Order Items_id_seq"`); the object's header does not.
    let name = match rest.starts_with('"').then(|| ident(rest)).flatten() {
        Some((p, after)) if p.len() == 1 => format!("{}{after}", p[0]),
        _ => rest.to_string(),
    };
    Some((kind, schema.clone(), name))
}

/// Adds to `keep` what the kept PostgreSQL tables need (see [`plan`]).
fn pg_dependencies(
    sections: &[Section],
    selected: &BTreeSet<&str>,
    text: &dyn Fn(usize) -> Option<String>,
    keep: &mut [bool],
    warnings: &mut Vec<String>,
) {
    let table_defs = |name: &str| -> Vec<usize> {
        (sections.iter().enumerate())
            .filter(|(_, s)| s.object_type == "TABLE" && s.name == name)
            .map(|(i, _)| i)
            .collect()
    };
    // Inheritance parents: their definitions only, recursively.
    let mut queue: Vec<String> = selected.iter().map(|s| s.to_string()).collect();
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    while let Some(t) = queue.pop() {
        for i in table_defs(&t) {
            let d = text(i).unwrap_or_default();
            let Some(k) = d.find("\nINHERITS (") else {
                continue;
            };
            let mut rest = &d[k + "\nINHERITS (".len()..];
            while let Some((p, r)) = ident(rest) {
                let p = encode(&p);
                if seen.insert(p.clone()) {
                    warnings.push(format!(
                        "also created {} (definition only, no rows), which {} inherits from",
                        display_name(&p),
                        display_name(&t)
                    ));
                    for j in table_defs(&p) {
                        keep[j] = true;
                    }
                    queue.push(p);
                }
                rest = match r.trim_start().strip_prefix(',') {
                    Some(r) => r,
                    None => break,
                };
            }
        }
    }
    // What the kept definitions name, recursively: types, domains and collations of columns;
    // functions called by CHECK constraints (of tables and domains), defaults, generated
    // columns, index expressions, policies and triggers, and the functions those call;
    // sequences used by defaults (a shared one, or another table's), with their values.
    loop {
        let kept_text: String = (0..sections.len())
            .filter(|&i| keep[i] && sections[i].kind == SectionKind::Schema)
            .filter_map(text)
            .collect();
        let mut added = false;
        for (i, s) in sections.iter().enumerate() {
            if keep[i] {
                continue;
            }
            let wanted = match s.object_type.as_str() {
                "TYPE" | "DOMAIN" | "COLLATION" => names(&kept_text, &s.name),
                "FUNCTION" => function_name(&s.name).is_some_and(|f| calls(&kept_text, &f)),
                "SEQUENCE" if names(&kept_text, &s.name) => {
                    // An identity sequence is made by its table's `ALTER TABLE ... ADD
                    // GENERATED`: it comes with that table's definition (no rows).
                    let identity = text(i).is_some_and(|d| d.contains(" ADD GENERATED "));
                    match s.table.as_deref() {
                        Some(t) if identity && !selected.contains(t) => {
                            warnings.push(format!(
                                "also created {} (definition only, no rows): a restored \
                                 table's default uses its identity sequence {} (add --table {} \
                                 to restore its rows too)",
                                display_name(t),
                                display_name(&s.name),
                                display_name(t)
                            ));
                            for j in table_defs(t) {
                                keep[j] = true;
                            }
                            true
                        }
                        _ => true,
                    }
                }
                "EXTENSION" => true,
                _ => false,
            };
            if wanted {
                keep[i] = true;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    // The values of the sequences kept, and the grants, comments and security labels of the
    // functions, sequences, types, domains and collations kept (those of the tables' own
    // objects are filed under the tables already). Not a sequence's `OWNED BY`: its table
    // may not be restored.
    let kinds = |ty: &str| -> &'static [&'static str] {
        match ty {
            "FUNCTION" => &["FUNCTION"],
            "SEQUENCE" => &["SEQUENCE"],
            "TYPE" | "DOMAIN" => &["TYPE", "DOMAIN"],
            "COLLATION" => &["COLLATION"],
            _ => &[],
        }
    };
    let mut deps: BTreeSet<(&'static str, String, String)> = BTreeSet::new();
    let mut sequences: BTreeSet<&str> = BTreeSet::new();
    for (s, _) in sections.iter().zip(keep.iter()).filter(|(_, k)| **k) {
        if let [schema, name] = &decode(&s.name)[..] {
            for k in kinds(&s.object_type) {
                deps.insert((k, schema.clone(), name.clone()));
            }
        }
        if s.object_type == "SEQUENCE" {
            sequences.insert(&s.name);
        }
    }
    for (i, s) in sections.iter().enumerate() {
        let wanted = match s.object_type.as_str() {
            "SEQUENCE SET" => sequences.contains(s.name.as_str()),
            "ACL" | "COMMENT" | "SECURITY LABEL" => {
                about(&s.name).is_some_and(|d| deps.contains(&d))
            }
            _ => false,
        };
        keep[i] |= wanted;
    }
    // The schemas (unquoted) of everything kept (and of extensions' `WITH SCHEMA`).
    let mut schemas: BTreeSet<String> = BTreeSet::new();
    for (i, s) in sections.iter().enumerate().filter(|(i, _)| keep[*i]) {
        let owner = s.table.as_deref().unwrap_or(&s.name);
        if s.kind == SectionKind::Schema
            && s.object_type != "EXTENSION"
            && s.object_type != "SCHEMA"
        {
            // The section's own schema too: a sequence of another schema's table.
            schemas.extend(schema_of(owner));
            if matches!(
                s.object_type.as_str(),
                "SEQUENCE" | "FUNCTION" | "COLLATION"
            ) {
                schemas.extend(schema_of(&s.name));
            }
        }
        if s.object_type == "EXTENSION" {
            let d = text(i).unwrap_or_default();
            if let Some(k) = d.find(" WITH SCHEMA ") {
                if let Some((p, _)) = ident(&d[k + " WITH SCHEMA ".len()..]) {
                    schemas.insert(p.join("."));
                }
            }
        }
    }
    for (i, s) in sections.iter().enumerate() {
        // A schema's section is named by the schema alone: `"Sales.EU"` (or, written before
        // names were quoted, `Sales.EU`).
        let schema = match &decode(&s.name)[..] {
            [one] => one.clone(),
            _ => s.name.clone(),
        };
        if s.object_type == "SCHEMA" && schemas.contains(&schema) {
            keep[i] = true;
        }
    }
}
