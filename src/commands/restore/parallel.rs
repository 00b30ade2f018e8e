//! Parallel restore into a database (`restore --to URL --jobs N`). The snapshot's table index
//! splits the dump into parts that load over their own connections:
//!
//! 1. pre-data (everything before the last table's data but triggers) in one transaction;
//! 2. each table's data in its own transaction, N at a time, biggest first, each decoded ahead of
//!    its client on its own thread;
//! 3. other data (sequence values, large objects, materialized view refreshes), in dump order;
//! 4. indexes and index-backed constraints N at a time (biggest tables first), then foreign keys
//!    N at a time, never two at once on the same table (no lock cycles);
//! 5. the rest of the post-data (triggers, comments, grants, views of MySQL...) in dump order.
//!
//! Every part starts with the dump's session settings (the preamble and every settings block
//! before the part), so it runs as it would have in one session. A part that fails stops the
//! others and fails the restore; the caller then drops what `--create` made.

use super::{run as restore_ranges, RestoreOutcome};
use crate::error::{Error, Result};
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::Index;
use crate::progress::{NoProgress, Progress};
use crate::repository::Repository;
use crate::source::database::DatabaseUrl;
use crate::source::{mysql, postgres, SourceError};
use crate::tables::{Section, SectionKind};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// One part of the dump loaded over its own connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// What the part is, for messages (`data of table public.orders`).
    pub what: String,
    /// The table it belongs to, when any.
    pub table: Option<String>,
    /// Stream byte ranges, sorted, not overlapping.
    pub ranges: Vec<Range<u64>>,
    /// Tables no other running part may touch at the same time (foreign keys).
    pub locks: Vec<String>,
}

impl Unit {
    /// Bytes of the part.
    pub fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }
    fn start(&self) -> u64 {
        self.ranges.first().map_or(0, |r| r.start)
    }
}

/// How a dump splits into parts (see the module documentation). Pure: made from the table index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The preamble and settings blocks, in stream order (each part starts with those before it).
    pub settings: Vec<Range<u64>>,
    /// Pre-data, in stream order.
    pub pre: Vec<Range<u64>>,
    /// Table data, biggest first.
    pub data: Vec<Unit>,
    /// Other data, in stream order.
    pub other_data: Vec<Range<u64>>,
    /// Indexes and index-backed constraints, those of the biggest tables first.
    pub indexes: Vec<Unit>,
    /// Foreign keys, those of the biggest tables first.
    pub foreign_keys: Vec<Unit>,
    /// The rest of the post-data (and triggers), in stream order.
    pub rest: Vec<Range<u64>>,
}

/// Pushes `r` onto sorted `v`, merging it with the last range when adjacent.
fn push(v: &mut Vec<Range<u64>>, r: Range<u64>) {
    match v.last_mut() {
        Some(last) if last.end == r.start => last.end = r.end,
        _ => v.push(r),
    }
}

/// The parts of `s` inside `ranges` (all of it without ranges).
fn clip(s: &Section, ranges: Option<&[Range<u64>]>) -> Vec<Range<u64>> {
    match ranges {
        None => std::iter::once(s.start..s.end).collect(),
        Some(rs) => rs
            .iter()
            .map(|r| r.start.max(s.start)..r.end.min(s.end))
            .filter(|r| r.start < r.end)
            .collect(),
    }
}

/// The table a foreign key refers to, unquoted (`public.customers`), from its DDL text.
pub fn referenced_table(ddl: &str) -> Option<String> {
    let at = ddl.find(" REFERENCES ")? + " REFERENCES ".len();
    let mut parts = Vec::new();
    let mut chars = ddl[at..].chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') || chars.peek() == Some(&'`') {
            let q = chars.next()?;
            loop {
                match chars.next()? {
                    c if c == q && chars.peek() == Some(&q) => {
                        chars.next();
                        part.push(q);
                    }
                    c if c == q => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '(' || c.is_whitespace() {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        parts.push(part);
        if chars.peek() == Some(&'.') {
            chars.next();
        } else {
            break;
        }
    }
    Some(parts.join(".")).filter(|p| !p.is_empty())
}

/// Splits a dump into parts; `None` when it holds no table data (a single session then does).
/// `ranges` restricts it to those byte ranges (`restore --table`). A foreign key's locks name
/// its own table here; [`run`] adds the table it refers to, read from its text.
pub fn layout(sections: &[Section], ranges: Option<&[Range<u64>]>) -> Option<Layout> {
    let is_data = |s: &Section| s.kind == SectionKind::Data && s.object_type == "TABLE DATA";
    let last_data = sections
        .iter()
        .rposition(|s| is_data(s) && !clip(s, ranges).is_empty())?;
    let first_data = sections.iter().position(is_data)?;
    let mut l = Layout::default();
    let mut table_bytes: HashMap<String, u64> = HashMap::new();
    for (i, s) in sections.iter().enumerate() {
        let parts = clip(s, ranges);
        if parts.is_empty() {
            continue;
        }
        let settings = s.kind == SectionKind::Preamble || s.object_type == "SETTINGS";
        if settings {
            parts.iter().for_each(|r| push(&mut l.settings, r.clone()));
        }
        let table = s.table.clone();
        let unit = |what: String, locks: Vec<String>| Unit {
            what,
            table: table.clone(),
            ranges: parts.clone(),
            locks,
        };
        let into = if is_data(s) {
            let name = s.table.clone().unwrap_or_else(|| s.name.clone());
            *table_bytes.entry(name.clone()).or_default() += s.end - s.start;
            l.data
                .push(unit(format!("data of table {name}"), Vec::new()));
            continue;
        } else if s.kind == SectionKind::Data {
            &mut l.other_data
        } else if settings && i > first_data && i < last_data {
            continue;
        } else if i < last_data && s.object_type != "TRIGGER" {
            &mut l.pre
        } else if i > last_data && matches!(s.object_type.as_str(), "INDEX" | "CONSTRAINT") {
            let what = format!("{} {}", s.object_type.to_lowercase(), s.name);
            l.indexes.push(unit(what, Vec::new()));
            continue;
        } else if i > last_data && s.object_type == "FK CONSTRAINT" {
            let locks: Vec<String> = s.table.iter().cloned().collect();
            let what = format!("foreign key {}", s.name);
            l.foreign_keys.push(unit(what, locks));
            continue;
        } else {
            &mut l.rest
        };
        parts.into_iter().for_each(|r| push(into, r));
    }
    let size = |u: &Unit| {
        let t = u.table.as_ref();
        std::cmp::Reverse(t.and_then(|t| table_bytes.get(t)).copied().unwrap_or(0))
    };
    l.data.sort_by_key(|u| std::cmp::Reverse(u.bytes()));
    l.indexes.sort_by_key(size);
    l.foreign_keys.sort_by_key(size);
    Some(l)
}

/// Where a parallel restore goes.
pub struct Target<'a> {
    /// The database.
    pub url: &'a DatabaseUrl,
    /// Create the database.
    pub create: bool,
    /// Drop and recreate an existing database.
    pub drop_existing: bool,
    /// Parts loaded at once (at least 1).
    pub jobs: usize,
}

/// The snapshot stream being restored.
pub struct Source<'a> {
    /// The repository.
    pub repo: &'a Repository,
    /// Its index.
    pub index: &'a Index,
    /// The snapshot.
    pub snapshot: &'a Id,
    /// The stream.
    pub stream: &'a StreamRef,
}

/// Bytes of the small parts (settings, pre-data, post-data) read at once, by stream offset.
struct Small {
    at: Vec<(Range<u64>, usize)>,
    bytes: Vec<u8>,
}

impl Small {
    fn get(&self, r: &Range<u64>) -> &[u8] {
        let hit = self
            .at
            .iter()
            .find(|(s, _)| s.start <= r.start && r.end <= s.end);
        match hit {
            Some((s, off)) => {
                let from = off + (r.start - s.start) as usize;
                &self.bytes[from..from + (r.end - r.start) as usize]
            }
            None => &[],
        }
    }
    fn concat(&self, rs: &[Range<u64>]) -> Vec<u8> {
        rs.iter()
            .flat_map(|r| self.get(r).iter().copied())
            .collect()
    }
}

/// Forwards only byte counts (the parts run [`restore_ranges`] many times over one bar).
struct Forward<'a>(&'a dyn Progress);

impl Progress for Forward<'_> {
    fn inc(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

struct Loader<'a> {
    src: &'a Source<'a>,
    target: &'a Target<'a>,
    small: Small,
    settings: Vec<Range<u64>>,
    progress: Forward<'a>,
    outcome: Mutex<RestoreOutcome>,
    abort: AtomicBool,
}

/// What a part loads: bytes read already, or stream ranges decoded as it goes.
enum Body<'a> {
    Bytes(Vec<u8>),
    Stream(&'a [Range<u64>]),
}

/// Restores `layout` into `target`: prepares the database (see [`DatabaseUrl::restore`] for
/// `create` and `drop_existing`), then loads the parts as the module documentation says.
/// Nothing is created when the snapshot's small parts cannot be read.
///
/// Errors: the first part that failed, naming it (a table's data, an index...) and the
/// database; [`Error::Corrupt`] for damaged data; [`Error::Invalid`] for an SQLite target.
pub fn run(
    src: &Source,
    layout: &Layout,
    target: &Target,
    progress: &dyn Progress,
) -> Result<RestoreOutcome> {
    if matches!(target.url, DatabaseUrl::Sqlite(_)) {
        return Err(Error::Invalid(
            "a parallel restore needs a PostgreSQL or MySQL/MariaDB target; use \
             --single-transaction for SQLite"
                .into(),
        ));
    }
    let units = [&layout.indexes, &layout.foreign_keys];
    let mut small_ranges: Vec<Range<u64>> = (layout.settings.iter())
        .chain(&layout.pre)
        .chain(&layout.rest)
        .chain(units.iter().flat_map(|u| u.iter().flat_map(|u| &u.ranges)))
        .cloned()
        .collect();
    small_ranges.sort_by_key(|r| r.start);
    small_ranges.dedup();
    let mut merged: Vec<Range<u64>> = Vec::new();
    for r in small_ranges {
        match merged.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut bytes = Vec::new();
    let first = restore_ranges(
        src.repo,
        src.index,
        src.snapshot,
        src.stream,
        Some(&merged),
        &mut bytes,
        &NoProgress,
    )?;
    progress.inc(bytes.len() as u64);
    let mut at = Vec::new();
    let mut off = 0;
    for r in merged {
        let len = (r.end - r.start) as usize;
        at.push((r, off));
        off += len;
    }
    let loader = Loader {
        src,
        target,
        small: Small { at, bytes },
        settings: layout.settings.clone(),
        progress: Forward(progress),
        outcome: Mutex::new(first),
        abort: AtomicBool::new(false),
    };
    let pre = loader.small.concat(&layout.pre);
    match target.url {
        DatabaseUrl::Postgres(u) => {
            postgres::prepare_restore(u, target.create, target.drop_existing)?
        }
        DatabaseUrl::MySql(u) => {
            let head = &pre[..pre.len().min(64 << 10)];
            mysql::prepare_restore(u, head, target.create, target.drop_existing)?
        }
        DatabaseUrl::Sqlite(_) => {}
    }
    loader.load("the schema (pre-data)", Body::Bytes(pre))?;
    loader.pool(&layout.data, |u| {
        loader.load(&u.what, Body::Stream(&u.ranges))
    })?;
    if !layout.other_data.is_empty() {
        let start = layout.other_data[0].start;
        let body = Body::Stream(&layout.other_data);
        loader.load_at("sequence values and other data", start, body)?;
    }
    let mut foreign_keys = layout.foreign_keys.clone();
    for u in &mut foreign_keys {
        let text = String::from_utf8_lossy(&loader.small.concat(&u.ranges)).into_owned();
        u.locks.extend(referenced_table(&text));
    }
    for units in [&layout.indexes, &foreign_keys] {
        loader.pool(units, |u| {
            let body = Body::Bytes(loader.small.concat(&u.ranges));
            loader.load_at(&u.what, u.start(), body)
        })?;
    }
    if !layout.rest.is_empty() {
        let body = Body::Bytes(loader.small.concat(&layout.rest));
        loader.load_at(
            "the rest of the schema (post-data)",
            layout.rest[0].start,
            body,
        )?;
    }
    progress.finish();
    let outcome = loader.outcome.lock().map(|o| o.clone());
    Ok(outcome.unwrap_or_default())
}

impl Loader<'_> {
    /// Loads a part that starts the dump (no settings before it).
    fn load(&self, what: &str, body: Body) -> Result<()> {
        let start = match &body {
            Body::Stream(r) => r.first().map_or(0, |r| r.start),
            Body::Bytes(_) => 0,
        };
        self.load_at(what, start, body)
    }

    /// Loads a part that starts at stream offset `start`, after the settings before it.
    fn load_at(&self, what: &str, start: u64, body: Body) -> Result<()> {
        let before: Vec<Range<u64>> = (self.settings.iter())
            .filter(|r| r.start < start)
            .map(|r| r.start..r.end.min(start))
            .collect();
        let prefix = self.small.concat(&before);
        let (tx, rx) = crossbeam_channel::bounded(32);
        let mut reader = ChannelReader::new(rx, Some(&self.abort));
        std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let w = ChannelWriter::new(tx.clone(), Some(&self.abort));
                let mut w = std::io::BufWriter::with_capacity(256 * 1024, w);
                let sending = |e| Error::io(format!("sending {what} to the database client"), e);
                let r = w
                    .write_all(&prefix)
                    .map_err(sending)
                    .and_then(|()| match &body {
                        Body::Bytes(b) => {
                            w.write_all(b).map_err(sending)?;
                            self.progress.inc(b.len() as u64);
                            Ok(RestoreOutcome::default())
                        }
                        Body::Stream(ranges) => restore_ranges(
                            self.src.repo,
                            self.src.index,
                            self.src.snapshot,
                            self.src.stream,
                            Some(ranges),
                            &mut w,
                            &self.progress,
                        ),
                    });
                let r = r.and_then(|o| w.flush().map(|()| o).map_err(sending));
                drop(w);
                let _ = match &r {
                    Ok(_) => tx.send(Ok(Vec::new())),
                    Err(e) => tx.send(Err(std::io::Error::other(e.to_string()))),
                };
                r
            });
            let consumed = match self.target.url {
                DatabaseUrl::Postgres(u) => postgres::load_part(u, &mut reader, true, what),
                DatabaseUrl::MySql(u) => mysql::load_part(u, &mut reader, what),
                DatabaseUrl::Sqlite(_) => Err(SourceError::Invalid("no SQLite here".into())),
            };
            drop(reader);
            let produced = producer.join().unwrap_or_else(|_| {
                Err(Error::Invalid(format!("restoring {what}: thread failed")))
            });
            match (produced, consumed) {
                (Ok(o), Ok(())) => {
                    if let Ok(mut all) = self.outcome.lock() {
                        all.bytes_written += o.bytes_written;
                        all.bytes_read += o.bytes_read;
                        all.chunks_read += o.chunks_read;
                    }
                    Ok(())
                }
                (Err(p), Err(c)) if client_stopped(&p) => Err(c.into()),
                (Err(p), _) => Err(p),
                (Ok(_), Err(c)) => Err(c.into()),
            }
        })
    }

    /// Runs `f` on every unit, `jobs` at a time, in order, never two units sharing a lock at
    /// once. The first error stops the others (their clients are killed) and is returned.
    fn pool(&self, units: &[Unit], f: impl Fn(&Unit) -> Result<()> + Sync) -> Result<()> {
        struct State {
            queue: VecDeque<usize>,
            held: HashSet<String>,
            error: Option<Error>,
        }
        let state = Mutex::new(State {
            queue: (0..units.len()).collect(),
            held: HashSet::new(),
            error: None,
        });
        let cv = Condvar::new();
        let worker = || loop {
            let Ok(mut st) = state.lock() else { return };
            let i = loop {
                if st.error.is_some() || st.queue.is_empty() {
                    return;
                }
                let free = |i: &usize| units[*i].locks.iter().all(|l| !st.held.contains(l));
                match st.queue.iter().position(free) {
                    Some(p) => break st.queue.remove(p).unwrap_or(0),
                    None => match cv.wait(st) {
                        Ok(g) => st = g,
                        Err(_) => return,
                    },
                }
            };
            st.held.extend(units[i].locks.iter().cloned());
            drop(st);
            let r = f(&units[i]);
            let Ok(mut st) = state.lock() else { return };
            units[i].locks.iter().for_each(|l| {
                st.held.remove(l);
            });
            if let Err(e) = r {
                if st.error.is_none() {
                    st.error = Some(e);
                    self.abort.store(true, Ordering::SeqCst);
                }
            }
            cv.notify_all();
        };
        std::thread::scope(|s| {
            for _ in 0..self.target.jobs.clamp(1, units.len().max(1)) {
                s.spawn(worker);
            }
        });
        match state.into_inner() {
            Ok(State { error: Some(e), .. }) => Err(e),
            _ => Ok(()),
        }
    }
}

/// Whether a restore error only says the database client stopped reading the stream.
pub fn client_stopped(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Bytes from a restoring thread to a database client; a failed restore surfaces as a read
/// error (never as end of file), so the client is stopped and nothing is committed; so does
/// another part's failure (`abort`). After the end of the stream every read returns 0 again,
/// as files do.
pub struct ChannelReader<'a> {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    abort: Option<&'a AtomicBool>,
    buf: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl<'a> ChannelReader<'a> {
    /// Reads what a [`ChannelWriter`] on the other end sends.
    pub fn new(
        rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
        abort: Option<&'a AtomicBool>,
    ) -> Self {
        ChannelReader {
            rx,
            abort,
            buf: Vec::new(),
            pos: 0,
            ended: false,
        }
    }
}

fn aborted(abort: Option<&AtomicBool>) -> std::io::Result<()> {
    match abort.is_some_and(|a| a.load(Ordering::SeqCst)) {
        true => Err(std::io::Error::other(
            "stopped: another part of the restore failed",
        )),
        false => Ok(()),
    }
}

impl Read for ChannelReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.ended {
                return Ok(0);
            }
            aborted(self.abort)?;
            match self.rx.recv() {
                Ok(Ok(b)) if b.is_empty() => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("restore stopped")),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Sends bytes to a [`ChannelReader`]; fails with a broken pipe once the reader is gone, and
/// with another error once `abort` is set.
pub struct ChannelWriter<'a> {
    tx: crossbeam_channel::Sender<std::io::Result<Vec<u8>>>,
    abort: Option<&'a AtomicBool>,
}

impl<'a> ChannelWriter<'a> {
    /// Sends into `tx`.
    pub fn new(
        tx: crossbeam_channel::Sender<std::io::Result<Vec<u8>>>,
        abort: Option<&'a AtomicBool>,
    ) -> Self {
        ChannelWriter { tx, abort }
    }
}

impl Write for ChannelWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.is_empty() {
            return Ok(0);
        }
        aborted(self.abort)?;
        self.tx.send(Ok(b.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "database client stopped")
        })?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(kind: SectionKind, ty: &str, name: &str, table: Option<&str>, r: Range<u64>) -> Section {
        Section {
            kind,
            object_type: ty.into(),
            name: name.into(),
            table: table.map(String::from),
            start: r.start,
            end: r.end,
            rows: None,
        }
    }

    #[test]
    fn referenced_table_reads_quoted_and_plain_names() {
        let ddl = "ALTER TABLE ONLY public.b\n    ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.a(id);";
        assert_eq!(referenced_table(ddl).as_deref(), Some("public.a"));
        let ddl = "ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES \"Sales\".\"Order \"\"Items\"(id);";
        assert_eq!(
            referenced_table(ddl).as_deref(),
            Some("Sales.Order \"Items")
        );
        assert_eq!(referenced_table("no key here"), None);
    }

    #[test]
    fn layout_splits_pre_data_tables_and_post_data() {
        use SectionKind::*;
        let s = vec![
            sec(Preamble, "", "", None, 0..10),
            sec(Schema, "TABLE", "public.a", Some("public.a"), 10..20),
            sec(Schema, "TABLE", "public.b", Some("public.b"), 20..30),
            sec(Other, "SETTINGS", "", None, 30..35),
            sec(Data, "TABLE DATA", "public.a", Some("public.a"), 35..40),
            sec(Data, "TABLE DATA", "public.b", Some("public.b"), 40..90),
            sec(Data, "SEQUENCE SET", "public.s", None, 90..95),
            sec(Other, "SETTINGS", "", None, 95..100),
            sec(
                Schema,
                "CONSTRAINT",
                "public.a a_pkey",
                Some("public.a"),
                100..110,
            ),
            sec(Schema, "INDEX", "public.b_i", Some("public.b"), 110..120),
            sec(
                Schema,
                "FK CONSTRAINT",
                "public.b f",
                Some("public.b"),
                120..130,
            ),
            sec(Schema, "TRIGGER", "public.b t", Some("public.b"), 130..140),
        ];
        let l = layout(&s, None).unwrap();
        assert_eq!(l.settings, vec![0..10, 30..35, 95..100]);
        assert_eq!(l.pre, vec![0..35]);
        let data: Vec<_> = l.data.iter().map(|u| u.ranges.clone()).collect();
        assert_eq!(data, vec![vec![40..90], vec![35..40]], "biggest first");
        assert_eq!(l.other_data, vec![90..95]);
        let idx: Vec<_> = l.indexes.iter().map(|u| u.ranges.clone()).collect();
        assert_eq!(idx, vec![vec![110..120], vec![100..110]], "big table first");
        assert_eq!(l.foreign_keys[0].locks, vec!["public.b"]);
        assert_eq!(l.rest, vec![95..100, 130..140]);
        // Restricted to some ranges: only what lies inside them.
        let cut = std::iter::once(0..40).collect::<Vec<_>>();
        let l = layout(&s, Some(&cut)).unwrap();
        assert_eq!(l.data.len(), 1);
        assert!(l.indexes.is_empty() && l.rest.is_empty());
        // No table data: no parallel layout.
        assert!(layout(&s[..4], None).is_none());
    }

    #[test]
    fn mysql_layout_defers_triggers_after_all_data() {
        use SectionKind::*;
        let s = vec![
            sec(Preamble, "", "", None, 0..10),
            sec(Schema, "TABLE", "a", Some("a"), 10..20),
            sec(Data, "TABLE DATA", "a", Some("a"), 20..30),
            sec(Schema, "TRIGGER", "a", Some("a"), 30..40),
            sec(Schema, "TABLE", "b", Some("b"), 40..50),
            sec(Data, "TABLE DATA", "b", Some("b"), 50..60),
            sec(Schema, "VIEW", "v", None, 60..70),
        ];
        let l = layout(&s, None).unwrap();
        assert_eq!(l.pre, vec![0..20, 40..50]);
        assert_eq!(l.rest, vec![30..40, 60..70]);
    }
}
