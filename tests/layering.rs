//! Module layering of `src/`, checked on the source text: no module imports from a module
//! above it (cli → fleet → commands → engine, and the engine's own order below), and no import
//! cycle between top-level modules, nor between the submodules of one top-level module.
//!
//! The order is written once, in [`LAYERS`]. A module may name modules of its own layer or of
//! any layer below it, never above. References are every `crate::…`, `super::…` and `self::…`
//! path in the library (and every `dumpvault::…` path in the binary, `src/main.rs` and
//! `src/cli/`), after removing comments, string literals and `#[cfg(test)]` items: unit tests
//! may build their fixtures with higher modules.
//!
//! Known violations in files being reworked by others are listed in [`ALLOWED`], each with the
//! fix; an entry that is no longer needed fails the test, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom: `(layer, modules)`. A module may import from its own layer and
/// from the layers below it. Every top-level module of `src/lib.rs` (and `cli`, the binary)
/// is in exactly one layer.
const LAYERS: &[(&str, &[&str])] = &[
    // The binary (src/main.rs, src/cli/): parses arguments, calls the library, prints.
    ("cli", &["cli"]),
    // Scheduled runs of many jobs from one config file: select, snapshot, retain, copy,
    // record, notify.
    ("fleet", &["fleet"]),
    // One operation per command (snapshot, restore, check, prune, copy, diff, key, tag, ...).
    ("commands", &["commands"]),
    // The snapshot pipeline: read → chunk → dedup → encode → pack, and the delta parent
    // choice (`crate::delta` is an alias of `archive::parent`).
    ("archive", &["archive"]),
    // A stream's chunk list as a tree of list blobs, and the one walk over it.
    ("stream", &["stream"]),
    // Pack files: the packer and the blob reader (with its delta base chains).
    ("pack", &["pack"]),
    // The in-memory index of blobs (loaded from the index files) and its shared loader.
    ("index", &["index"]),
    // Open/init, sealed file load/save, keys, locks, the snapshot catalogue.
    ("repository", &["repository"]),
    // The library's error type: wraps the storage and source errors below it.
    ("error", &["error"]),
    // Storage by location and path (OpenDAL, local files, cache) and the database engines
    // (dump sources and restore targets): peers, neither names the other.
    ("io", &["backend", "source"]),
    // Pure transforms of bytes and persisted values: the blob codec (compress + delta +
    // seal), the dump scanner, the chunker, the retention policy.
    ("transforms", &["blob", "tables", "chunker", "retention"]),
    // Primitives: sealing, keyed ids and key derivation (with format's persisted KDF
    // parameters); zstd framing.
    ("primitives", &["crypto", "compress", "splice"]),
    // Every persisted type and its byte encoding (repo-format.md), the repository layout;
    // names no module but the leaves, so no change elsewhere can move a byte on disk.
    ("format", &["format"]),
    // Leaves: ids, units, progress reporting, password sources, test hooks, items of
    // src/lib.rs itself.
    (
        "leaves",
        &["id", "units", "progress", "password", "testhook", "lib"],
    ),
];

/// Items of `src/lib.rs` that re-export a module or a module's items: `(name, module)`. Any
/// other root item that is not a module (e.g. `crate::hostname`) counts as module `lib`.
const ALIASES: &[(&str, &str)] = &[
    ("delta", "archive"),
    ("Error", "error"),
    ("Result", "error"),
];

/// Known wrong-way imports, to be fixed by the files' owners: `(file, module it names, why it
/// is allowed for now and the fix)`.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Known submodule cycles inside one top-level module: `(module, submodule, submodule it
/// names, why and the fix)`.
const ALLOWED_INNER: &[(&str, &str, &str, &str)] = &[];

/// One module reference: where it is and what it names.
#[derive(Debug, Clone)]
struct Ref {
    /// File relative to the package root, e.g. `src/index/mod.rs`.
    file: String,
    /// 1-based line.
    line: usize,
    /// The referring file's module path, e.g. `["index", "shared"]`.
    from: Vec<String>,
    /// The absolute path named, e.g. `["repository", "lock", "LockGuard"]`.
    to: Vec<String>,
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tops = top_modules(&src);
    let layer = layer_of();
    check_table(&tops, &layer);
    let refs = collect(&src);
    let mut bad = Vec::new();
    let mut used = BTreeSet::new();
    for r in &refs {
        let (from, to) = (r.from[0].as_str(), top_of(&r.to, &tops));
        if from == to || layer[from] <= layer[to] {
            continue;
        }
        if let Some(a) = ALLOWED.iter().position(|a| a.0 == r.file && a.1 == to) {
            used.insert(a);
            continue;
        }
        bad.push(format!(
            "{}:{}: `{from}` ({}) names `{}` ({}), a layer above it",
            r.file,
            r.line,
            LAYERS[layer[from]].0,
            r.to.join("::"),
            LAYERS[layer[to]].0
        ));
    }
    for (i, a) in ALLOWED.iter().enumerate() {
        if !used.contains(&i) {
            bad.push(format!("allow-list entry no longer needed: {a:?}"));
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tops = top_modules(&src);
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in collect(&src) {
        let to = top_of(&r.to, &tops).to_string();
        if r.from[0] != to && !ALLOWED.iter().any(|a| a.0 == r.file && a.1 == to) {
            let at = format!("{}:{}", r.file, r.line);
            edges
                .entry(r.from[0].clone())
                .or_default()
                .entry(to)
                .or_insert(at);
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "import cycle between top-level modules:\n{}",
            cycle.join("\n")
        );
    }
}

#[test]
fn submodules_of_a_module_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let refs = collect(&src);
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    let mut tops: Vec<&String> = refs.iter().map(|r| &r.from[0]).collect();
    tops.sort();
    tops.dedup();
    for top in tops {
        let subs = submodules(&src, top);
        let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for r in refs
            .iter()
            .filter(|r| &r.from[0] == top && r.to.first() == Some(top))
        {
            let (Some(from), Some(to)) = (r.from.get(1), r.to.get(1)) else {
                continue; // the module's root re-exports its children: not a cycle
            };
            if from == to || !subs.contains(to) {
                continue;
            }
            let allowed = ALLOWED_INNER
                .iter()
                .position(|a| a.0 == top && a.1 == from && a.2 == to);
            if let Some(a) = allowed {
                used.insert(a);
                continue;
            }
            let at = format!("{}:{}", r.file, r.line);
            edges
                .entry(from.clone())
                .or_default()
                .entry(to.clone())
                .or_insert(at);
        }
        if let Some(cycle) = find_cycle(&edges) {
            problems.push(format!("in `{top}`:\n{}", cycle.join("\n")));
        }
    }
    for (i, a) in ALLOWED_INNER.iter().enumerate() {
        if !used.contains(&i) {
            problems.push(format!("allow-list entry no longer needed: {a:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "submodule import cycles:\n{}",
        problems.join("\n")
    );
}

/// The lexer and path parser on small cases: comments, strings, test items and use trees.
#[test]
fn references_are_found_in_code_only() {
    let text = r####"
// use crate::commands::a;
/* use crate::fleet::b; /* nested */ crate::cli */
use crate::{format::{self, key::KeyFile}, id::Id as I};
const S: &str = "crate::commands::x";
const R: &str = r#"crate::commands::"y"#;
const C: char = '"';
fn f<'a>(x: &'a str) -> crate::error::Result<()> { super::super::units::KIB; Ok(()) }
#[cfg(test)]
mod tests { use crate::commands::z; }
#[cfg(test)]
use crate::fleet::w;
"####;
    let module = vec!["index".to_string(), "shared".to_string()];
    let (refs, test_mods) = references(text, &module, false);
    let named: Vec<String> = refs.iter().map(|(_, p)| p.join("::")).collect();
    assert_eq!(
        named,
        [
            "format",
            "format::key::KeyFile",
            "id::Id",
            "error::Result",
            "units::KIB"
        ]
    );
    assert_eq!(refs[3].0, 8, "line of crate::error::Result");
    assert!(test_mods.is_empty());
    let (_, test_mods) = references(
        "#[cfg(test)]\n#[path = \"x\"]\npub(crate) mod t;\n",
        &[],
        false,
    );
    assert_eq!(test_mods, ["t"]);
}

/// Layer index of each module name in [`LAYERS`] (0 is the top).
fn layer_of() -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for (i, (_, mods)) in LAYERS.iter().enumerate() {
        for m in *mods {
            assert!(out.insert(*m, i).is_none(), "`{m}` is in two layers");
        }
    }
    out
}

/// Every top-level module is in the table, and the table names no module that is gone.
fn check_table(tops: &BTreeSet<String>, layer: &BTreeMap<&str, usize>) {
    for t in tops {
        assert!(
            layer.contains_key(t.as_str()),
            "module `{t}` is in no layer of LAYERS"
        );
    }
    for m in layer.keys() {
        assert!(
            tops.contains(*m),
            "LAYERS names `{m}`, which is no module of src/"
        );
    }
}

/// The top-level modules declared in `src/lib.rs`, plus `cli` (the binary) and `lib`.
fn top_modules(src: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let toks = tokens(&strip(&text));
    let mut out: BTreeSet<String> = ["cli", "lib"].map(String::from).into();
    for w in toks.windows(3) {
        if w[0].text == "mod" && is_ident(&w[1].text) && w[2].text == ";" {
            out.insert(w[1].text.clone());
        }
    }
    out
}

/// The top-level module a path names: a module, an alias of [`ALIASES`], or `lib`.
fn top_of<'a>(path: &'a [String], tops: &BTreeSet<String>) -> &'a str {
    let first = path[0].as_str();
    if let Some((_, m)) = ALIASES.iter().find(|(a, _)| *a == first) {
        return m;
    }
    if tops.contains(first) {
        first
    } else {
        "lib"
    }
}

/// The direct submodules of top-level module `top`: files and folders under `src/<top>/`.
fn submodules(src: &Path, top: &str) -> BTreeSet<String> {
    let dir = if top == "cli" {
        src.join("cli")
    } else {
        src.join(top)
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let name = name.strip_suffix(".rs").unwrap_or(&name).to_string();
            (name != "mod").then_some(name)
        })
        .collect()
}

/// Every module reference of every non-test source file under `src`.
fn collect(src: &Path) -> Vec<Ref> {
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    let mut test_only: Vec<PathBuf> = Vec::new();
    let mut parsed = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(src).expect("under src");
        let Some((module, binary)) = module_path(rel) else {
            continue; // src/lib.rs: declarations and re-exports only
        };
        let text = std::fs::read_to_string(path).expect("readable source");
        let (refs, test_mods) = references(&text, &module, binary);
        // A `#[cfg(test)] mod x;` names a test-only file (x.rs or x/mod.rs) and folder.
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().expect("dir").to_path_buf(),
            _ => path.with_extension(""),
        };
        for m in test_mods {
            test_only.push(dir.join(format!("{m}.rs")));
            test_only.push(dir.join(m));
        }
        parsed.push((path, format!("src/{}", rel.display()), module, refs));
    }
    let mut out = Vec::new();
    for (path, file, module, refs) in parsed {
        if test_only.iter().any(|t| path.starts_with(t)) {
            continue;
        }
        for (line, to) in refs {
            out.push(Ref {
                file: file.clone(),
                line,
                from: module.clone(),
                to,
            });
        }
    }
    out
}

/// All `.rs` files under `dir`, in folder order (a parent before its children's folder).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file relative to `src/`, and whether it belongs to the binary:
/// `index/shared.rs` → `["index", "shared"]`; `main.rs` and `cli/…` are module `cli` of the
/// binary. `None` for `lib.rs`.
fn module_path(rel: &Path) -> Option<(Vec<String>, bool)> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    match parts.first().map(String::as_str) {
        Some("lib") if parts.len() == 1 => None,
        Some("main") if parts.len() == 1 => Some((vec!["cli".to_string()], true)),
        Some("cli") => Some((parts, true)),
        _ => Some((parts, false)),
    }
}

/// One token of stripped source: an identifier, `::`, or a single character; with its line.
#[derive(Debug, Clone)]
struct Tok {
    text: String,
    line: usize,
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// The references of one file, as `(line, absolute module path)`, and the names of the
/// test-only modules it declares (`#[cfg(test)] mod x;`). `module` is the file's module path;
/// in the binary, `dumpvault::` names the library and `crate::` the binary itself (`cli`).
fn references(
    text: &str,
    module: &[String],
    binary: bool,
) -> (Vec<(usize, Vec<String>)>, Vec<String>) {
    let toks = tokens(&strip(text));
    let (live, test_mods) = without_test_items(&toks);
    let mut out = Vec::new();
    let mut i = 0;
    while i < live.len() {
        let t = &live[i].text;
        let starts = matches!(t.as_str(), "crate" | "super" | "self" | "dumpvault")
            && live.get(i + 1).is_some_and(|n| n.text == "::")
            && (i == 0 || live[i - 1].text != "::");
        if !starts || (t == "dumpvault" && !binary) {
            i += 1;
            continue;
        }
        let line = live[i].line;
        let mut paths = Vec::new();
        tree(&live, &mut i, Vec::new(), &mut paths);
        for p in paths {
            if let Some(abs) = resolve(&p, module, binary) {
                out.push((line, abs));
            }
        }
    }
    (out, test_mods)
}

/// The absolute library path a path names, from a file with module path `module`; `None`
/// when it names nothing of the library's module tree (or only the crate root itself).
fn resolve(path: &[String], module: &[String], binary: bool) -> Option<Vec<String>> {
    let (head, rest) = path.split_first()?;
    let abs: Vec<String> = match head.as_str() {
        "crate" if binary => {
            // The binary's own root (main.rs) or its `dumpvault_cli` module (src/cli/).
            let mut p = vec!["cli".to_string()];
            if rest.first().is_some_and(|r| r == "dumpvault_cli") {
                p.extend(rest[1..].iter().cloned());
            }
            p
        }
        "crate" | "dumpvault" => rest.to_vec(),
        "self" => module.iter().chain(rest).cloned().collect(),
        _ => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let base = module.len().checked_sub(ups)?;
            module[..base].iter().chain(&path[ups..]).cloned().collect()
        }
    };
    (!abs.is_empty()).then_some(abs)
}

/// Parses a path or use tree at `toks[*i]`, appending each full path to `out`; leaves `*i`
/// after it.
fn tree(toks: &[Tok], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        match toks.get(*i).map(|t| t.text.as_str()) {
            Some("{") => {
                *i += 1;
                while let Some(t) = toks.get(*i) {
                    match t.text.as_str() {
                        "}" => {
                            *i += 1;
                            break;
                        }
                        "," => *i += 1,
                        _ if is_ident(&t.text) || t.text == "{" => {
                            tree(toks, i, prefix.clone(), out);
                            // `as name` and anything else up to the next element.
                            while toks.get(*i).is_some_and(|t| t.text != "," && t.text != "}") {
                                *i += 1;
                            }
                        }
                        _ => *i += 1,
                    }
                }
                return;
            }
            Some(s) if is_ident(s) => {
                if s != "self" || prefix.is_empty() {
                    prefix.push(s.to_string());
                }
                *i += 1;
                if toks.get(*i).is_some_and(|t| t.text == "::") {
                    *i += 1;
                    continue;
                }
                out.push(prefix);
                return;
            }
            _ => {
                out.push(prefix);
                return;
            }
        }
    }
}

/// The tokens outside `#[cfg(test)]` items, and the names of `#[cfg(test)] mod x;` items.
fn without_test_items(toks: &[Tok]) -> (Vec<Tok>, Vec<String>) {
    let is = |i: usize, s: &str| toks.get(i).is_some_and(|t| t.text == s);
    let cfg_test = ["#", "[", "cfg", "(", "test", ")", "]"];
    let mut live = Vec::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !cfg_test.iter().enumerate().all(|(k, s)| is(i + k, s)) {
            live.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += cfg_test.len();
        // Further attributes, then the item: up to `;` or a balanced `{…}`.
        let start = i;
        let mut depth = 0usize;
        while i < toks.len() {
            match toks[i].text.as_str() {
                "[" | "(" => depth += 1,
                "]" | ")" => depth = depth.saturating_sub(1),
                ";" if depth == 0 => break,
                "{" if depth == 0 => {
                    i = matching_brace(toks, i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item: Vec<&str> = toks[start..i.min(toks.len())]
            .iter()
            .map(|t| t.text.as_str())
            .collect();
        if is(i, ";") {
            if let Some(p) = item.iter().rposition(|t| *t == "mod") {
                if let Some(name) = item.get(p + 1) {
                    test_mods.push(name.to_string());
                }
            }
        }
        i += 1;
    }
    (live, test_mods)
}

/// Index of the `}` that closes the `{` at `open` (or the end).
fn matching_brace(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Identifiers, `::`, and single non-space characters, with their lines.
fn tokens(code: &str) -> Vec<Tok> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let s = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok {
                text: chars[s..i].iter().collect(),
                line,
            });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push(Tok {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Tok {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The source with comments, string literals and character literals blanked (newlines
/// kept, so lines still count).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, s: &[char]| {
        out.extend(s.iter().map(|&ch| if ch == '\n' { '\n' } else { ' ' }));
    };
    let ident = |k: usize| k > 0 && (c[k - 1].is_alphanumeric() || c[k - 1] == '_');
    let mut i = 0;
    while i < c.len() {
        let end = if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            c[i..]
                .iter()
                .position(|&ch| ch == '\n')
                .map_or(c.len(), |p| i + p)
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            block_comment_end(&c, i)
        } else if c[i] == '"' {
            string_end(&c, i)
        } else if (c[i] == 'r' && !ident(i))
            || (c[i] == 'b' && c.get(i + 1) == Some(&'r') && !ident(i))
        {
            raw_string_end(&c, i).unwrap_or(i)
        } else if c[i] == '\'' {
            char_end(&c, i).unwrap_or(i)
        } else {
            i
        };
        if end > i {
            blank(&mut out, &c[i..end]);
            i = end;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// End (exclusive) of the block comment at `i`; block comments nest.
fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < c.len() {
        if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            depth += 1;
            i += 2;
        } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    c.len()
}

/// End (exclusive) of the string literal opening at `i`.
fn string_end(c: &[char], mut i: usize) -> usize {
    i += 1;
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    c.len()
}

/// End (exclusive) of the raw string `r#"…"#` or `br"…"` at `i`, if one starts there.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut k = i + if c[i] == 'b' { 2 } else { 1 };
    let hashes = c[k..].iter().take_while(|&&ch| ch == '#').count();
    k += hashes;
    if c.get(k) != Some(&'"') {
        return None;
    }
    k += 1;
    while k < c.len() {
        if c[k] == '"'
            && c[k + 1..]
                .iter()
                .take(hashes)
                .filter(|&&ch| ch == '#')
                .count()
                == hashes
        {
            return Some(k + 1 + hashes);
        }
        k += 1;
    }
    Some(c.len())
}

/// End (exclusive) of the character literal at `i`; `None` for a lifetime.
fn char_end(c: &[char], i: usize) -> Option<usize> {
    if c.get(i + 1) == Some(&'\\') {
        let close = c[i + 2..].iter().position(|&ch| ch == '\'')?;
        return Some(i + 2 + close + 1);
    }
    (c.get(i + 2) == Some(&'\'')).then_some(i + 3)
}

/// One cycle of `edges` (`from → to → where`), as lines `a → b (file:line)`, if any.
fn find_cycle(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Option<Vec<String>> {
    // Colours: absent = unvisited, false = on the current path, true = done.
    fn dfs(
        n: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        colour: &mut BTreeMap<String, bool>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(n.to_string(), false);
        path.push(n.to_string());
        for to in edges.get(n).into_iter().flat_map(|m| m.keys()) {
            match colour.get(to) {
                Some(false) => {
                    let start = path.iter().position(|p| p == to).expect("on the path");
                    let mut ring: Vec<&String> = path[start..].iter().collect();
                    ring.push(to);
                    return Some(
                        ring.windows(2)
                            .map(|w| format!("{} → {} ({})", w[0], w[1], edges[w[0]][w[1]]))
                            .collect(),
                    );
                }
                Some(true) => {}
                None => {
                    if let Some(c) = dfs(to, edges, colour, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        colour.insert(n.to_string(), true);
        None
    }
    let mut colour = BTreeMap::new();
    for n in edges.keys() {
        if !colour.contains_key(n) {
            if let Some(c) = dfs(n, edges, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// A cycle is reported with the place of each of its edges; a DAG has none.
#[test]
fn a_cycle_is_found_and_named() {
    type Edges = BTreeMap<String, BTreeMap<String, String>>;
    fn edge(edges: &mut Edges, a: &str, b: &str, at: &str) {
        edges
            .entry(a.into())
            .or_default()
            .insert(b.into(), at.into());
    }
    let mut edges = Edges::new();
    edge(&mut edges, "config", "notify", "src/fleet/config.rs:3");
    edge(&mut edges, "notify", "metrics", "src/fleet/notify.rs:4");
    assert_eq!(find_cycle(&edges), None);
    edge(&mut edges, "metrics", "config", "src/fleet/metrics.rs:5");
    let ring = find_cycle(&edges).expect("a cycle");
    assert_eq!(
        ring,
        [
            "config → notify (src/fleet/config.rs:3)",
            "notify → metrics (src/fleet/notify.rs:4)",
            "metrics → config (src/fleet/metrics.rs:5)",
        ]
    );
}
