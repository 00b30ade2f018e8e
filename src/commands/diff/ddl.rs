//! A table's definition as `diff` compares it: its columns, primary key, and the indexes,
//! constraints and triggers of its DDL sections, read from the `CREATE TABLE` statement
//! (PostgreSQL, MariaDB/MySQL, SQLite) and, for PostgreSQL, the post-data sections filed under
//! the table (`ALTER TABLE ONLY … ADD CONSTRAINT … PRIMARY KEY (…)`, `CREATE INDEX …`).

use serde::Serialize;

/// One item of a table's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// `column`, `index`, `constraint` or `trigger`.
    pub kind: &'static str,
    /// Column or object name (the definition itself for an unnamed constraint).
    pub name: String,
    /// Definition, whitespace collapsed.
    pub definition: String,
}

/// What `diff` knows of a table's definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDef {
    /// Columns, in order.
    pub columns: Vec<String>,
    /// Primary-key columns, in key order (empty: no primary key found).
    pub primary_key: Vec<String>,
    /// Columns, indexes, constraints and triggers.
    pub items: Vec<Item>,
}

/// One change of a table's definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaChange {
    /// `column`, `index`, `constraint` or `trigger`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `added`, `dropped` or `altered`.
    pub change: String,
    /// Definition before (`None` when added).
    pub before: Option<String>,
    /// Definition after (`None` when dropped).
    pub after: Option<String>,
}

/// Collapses whitespace runs to one space, outside nothing (definitions are compared, not run).
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The SQL of a section without comment lines and session settings.
fn statements(text: &str) -> String {
    let lines = text.lines().filter(|l| {
        let t = l.trim_start();
        !(t.is_empty()
            || t.starts_with("--")
            || t.starts_with("SET ")
            || t.starts_with("/*!40")
            || t.starts_with("\\")
            || t.starts_with("ALTER TABLE") && t.contains(" OWNER TO "))
    });
    collapse(&lines.collect::<Vec<_>>().join(" "))
}

/// Splits `s` at commas outside parentheses and quotes.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quote, mut from) = (Vec::new(), 0i32, None, 0);
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(&s[from..i]);
                    from = i + 1;
                }
                _ => {}
            },
        }
    }
    out.push(&s[from..]);
    out
}

/// The text inside the outer parentheses after `CREATE TABLE name`, if any.
fn create_body(sql: &str) -> Option<&str> {
    let upper = sql.to_ascii_uppercase();
    let at = upper.find("CREATE TABLE")?;
    let rest = &sql[at..];
    let (mut depth, mut quote, mut open) = (0i32, None, None);
    for (i, c) in rest.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '(' => {
                    if depth == 0 {
                        open = Some(i);
                    }
                    depth += 1;
                }
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return open.map(|o| &rest[o + 1..i]);
                    }
                }
                ';' if depth == 0 => return None,
                _ => {}
            },
        }
    }
    None
}

/// The first identifier of `s` (quoted or bare) and the rest.
fn first_ident(s: &str) -> (String, &str) {
    let s = s.trim_start();
    if let Some(q) = s.chars().next().filter(|c| matches!(c, '"' | '`' | '[')) {
        let close = if q == '[' { ']' } else { q };
        if let Some(end) = s[1..].find(close) {
            return (s[1..1 + end].to_string(), &s[2 + end..]);
        }
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .unwrap_or(s.len());
    (s[..end].to_string(), &s[end..])
}

/// The identifiers in the first parenthesised list after `PRIMARY KEY` in `s`, prefix lengths
/// (`col(10)`) and sort orders left out.
fn key_columns(s: &str) -> Option<Vec<String>> {
    let at = s.to_ascii_uppercase().find("PRIMARY KEY")?;
    let rest = &s[at + 11..];
    let open = rest.find('(')?;
    let inner = &rest[open + 1..];
    let mut depth = 0;
    let mut end = inner.len();
    for (i, c) in inner.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = i;
                break;
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    let cols = split_top(&inner[..end])
        .into_iter()
        .map(|c| first_ident(c).0)
        .collect::<Vec<_>>();
    (!cols.is_empty() && cols.iter().all(|c| !c.is_empty())).then_some(cols)
}

const CONSTRAINT_WORDS: [&str; 5] = ["CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"];
const INDEX_WORDS: [&str; 5] = ["KEY", "INDEX", "FULLTEXT", "SPATIAL", "EXCLUDE"];

/// Parses a table's DDL: `table` is the text of its `TABLE` section(s), `others` the object
/// type, name and text of its other schema sections (indexes, constraints, triggers).
pub fn parse(table: &str, others: &[(String, String, String)]) -> TableDef {
    let mut def = TableDef::default();
    if let Some(body) = create_body(table) {
        for item in split_top(body) {
            let item = collapse(item);
            if item.is_empty() {
                continue;
            }
            let word = item
                .split(|c: char| c.is_whitespace() || c == '(')
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let upper = item.to_ascii_uppercase();
            if CONSTRAINT_WORDS.contains(&word.as_str()) || INDEX_WORDS.contains(&word.as_str()) {
                let kind = if CONSTRAINT_WORDS.contains(&word.as_str())
                    && !upper.starts_with("UNIQUE KEY")
                    && !upper.starts_with("UNIQUE INDEX")
                {
                    "constraint"
                } else {
                    "index"
                };
                let name = match word.as_str() {
                    "CONSTRAINT" => first_ident(&item[10..]).0,
                    "PRIMARY" => "PRIMARY KEY".to_string(),
                    "KEY" | "INDEX" => first_ident(&item[word.len()..]).0,
                    _ if upper.starts_with("UNIQUE KEY")
                        || upper.starts_with("FULLTEXT KEY")
                        || upper.starts_with("SPATIAL KEY") =>
                    {
                        let skip = item.find("KEY").map_or(0, |i| i + 3);
                        first_ident(&item[skip..]).0
                    }
                    _ => item.clone(),
                };
                if upper.contains("PRIMARY KEY") && def.primary_key.is_empty() {
                    def.primary_key = key_columns(&item).unwrap_or_default();
                }
                def.items.push(Item {
                    kind,
                    name,
                    definition: item,
                });
            } else {
                let (name, rest) = first_ident(&item);
                if rest.to_ascii_uppercase().contains("PRIMARY KEY") && def.primary_key.is_empty() {
                    def.primary_key = vec![name.clone()];
                }
                def.columns.push(name.clone());
                def.items.push(Item {
                    kind: "column",
                    name,
                    definition: collapse(rest),
                });
            }
        }
    }
    for (ty, name, text) in others {
        let kind = match ty.as_str() {
            "INDEX" => "index",
            "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" => "constraint",
            "TRIGGER" => "trigger",
            _ => continue,
        };
        let sql = statements(text);
        if def.primary_key.is_empty() && ty == "CONSTRAINT" {
            if let Some(k) = key_columns(&sql) {
                def.primary_key = k;
            }
        }
        // pg_dump names a constraint `table name`: keep the object's own name.
        let short = name.rsplit_once(' ').map_or(name.as_str(), |(_, n)| n);
        def.items.push(Item {
            kind,
            name: short.to_string(),
            definition: sql,
        });
    }
    def
}

/// What changed from definition `a` to definition `b`, in `b`'s order, then what `a` alone has.
pub fn changes(a: &TableDef, b: &TableDef) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    let find = |d: &TableDef, i: &Item| {
        d.items
            .iter()
            .find(|x| x.kind == i.kind && x.name == i.name)
            .cloned()
    };
    for i in &b.items {
        match find(a, i) {
            None => out.push(SchemaChange {
                kind: i.kind.into(),
                name: i.name.clone(),
                change: "added".into(),
                before: None,
                after: Some(i.definition.clone()),
            }),
            Some(o) if o.definition != i.definition => out.push(SchemaChange {
                kind: i.kind.into(),
                name: i.name.clone(),
                change: "altered".into(),
                before: Some(o.definition),
                after: Some(i.definition.clone()),
            }),
            Some(_) => {}
        }
    }
    for o in a.items.iter().filter(|o| find(b, o).is_none()) {
        out.push(SchemaChange {
            kind: o.kind.into(),
            name: o.name.clone(),
            change: "dropped".into(),
            before: Some(o.definition.clone()),
            after: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_key_comes_from_the_post_data_constraint() {
        let table = "--\n-- Name: t; Type: TABLE\n--\n\nCREATE TABLE public.t (\n    id integer NOT NULL,\n    \"Na me\" text DEFAULT 'a,b'::text\n);\n\n\nALTER TABLE public.t OWNER TO postgres;\n";
        let pk = (
            "CONSTRAINT".to_string(),
            "public.t t_pkey".to_string(),
            "--\n-- Name: t t_pkey; Type: CONSTRAINT\n--\n\nALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n".to_string(),
        );
        let def = parse(table, &[pk]);
        assert_eq!(def.columns, vec!["id", "Na me"]);
        assert_eq!(def.primary_key, vec!["id"]);
        assert_eq!(def.items[2].name, "t_pkey");
        assert_eq!(def.items[2].kind, "constraint");
    }

    #[test]
    fn mysql_and_sqlite_keys_come_from_create_table() {
        let my = "DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (\n  `a` int(11) NOT NULL,\n  `b` varchar(10) DEFAULT NULL,\n  PRIMARY KEY (`a`,`b`(5)),\n  KEY `ib` (`b`)\n) ENGINE=InnoDB;\n";
        let def = parse(my, &[]);
        assert_eq!(def.columns, vec!["a", "b"]);
        assert_eq!(def.primary_key, vec!["a", "b"]);
        assert!(def
            .items
            .iter()
            .any(|i| i.kind == "index" && i.name == "ib"));
        let lite = parse("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", &[]);
        assert_eq!(lite.primary_key, vec!["id"]);
        assert_eq!(lite.columns, vec!["id", "v"]);
    }

    #[test]
    fn changes_name_added_dropped_and_altered_items() {
        let a = parse(
            "CREATE TABLE t (id int, v text, w int, KEY `k` (`v`));",
            &[],
        );
        let b = parse("CREATE TABLE t (id int, v varchar(5), x int);", &[]);
        let c = changes(&a, &b);
        let got: Vec<_> = c
            .iter()
            .map(|c| format!("{} {} {}", c.kind, c.name, c.change))
            .collect();
        assert_eq!(
            got,
            vec![
                "column v altered",
                "column x added",
                "column w dropped",
                "index k dropped"
            ]
        );
    }
}
