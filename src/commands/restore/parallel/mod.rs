//! Parallel restore into a database (`restore --to URL --jobs N`). The snapshot's table index
//! splits the dump into parts that load over their own connections:
//!
//! 1. pre-data (everything before the last table's data but triggers) in one transaction;
//! 2. each table's data in its own transaction, N at a time, biggest first, each decoded ahead of
//!    its client on its own thread; a table bigger than its fair share of the data (and than
//!    16 MiB) is cut into up to N pieces at row or statement boundaries, each loaded over its
//!    own connection in its own transaction (see [`split`]);
//! 3. other data (sequence values, large objects, materialized view refreshes), in dump order;
//! 4. indexes and index-backed constraints N at a time (biggest tables first), then the index
//!    attachments of partitions (`ALTER INDEX … ATTACH PARTITION`) in dump order in one session,
//!    then foreign keys N at a time, never two at once on the same table (no lock cycles): as in
//!    pg_dump's order, a foreign key comes after every index it may need, including a
//!    partitioned table's, which is valid only once all its partitions' indexes are attached;
//! 5. the rest of the post-data (triggers, comments, grants, views of MySQL...) in dump order.
//!
//! Every part starts with the dump's session settings (the preamble and every settings block
//! before the part), so it runs as it would have in one session; of a MySQL preamble only the
//! session lines (see [`crate::tables::mysql_session_lines`]): DDL an older snapshot recorded
//! there runs once, with the schema. Into PostgreSQL, data parts
//! also commit with `synchronous_commit = off` and index parts build with
//! [`Target::maintenance_work_mem`] (see `Loader::session`); one synchronous commit at the end
//! makes every commit durable before the restore succeeds. The rows each table's `COPY` stored,
//! as the server's command tags say, come back in [`RestoreOutcome::copied`] for the row-count
//! check. A part that fails stops the
//! others and fails the restore; the caller then drops what `--create` made.
//!
//! Every chunk read is checked against its keyed id, as in every restore. A restore of the whole
//! stream also checks the whole stream's BLAKE3 hash (as the one-session restore does), from
//! the bytes every part read, before any index is built (see [`hash`]).

mod channel;
pub mod hash;
mod layout;
pub mod split;

pub use channel::{client_stopped, ChannelReader, ChannelWriter};
pub use layout::{layout, referenced_table, Layout, Unit};

use super::{run as restore_ranges, RestoreOutcome};
use crate::error::{Error, Result};
use crate::format::snapshot::StreamRef;
use crate::id::Id;
use crate::index::Index;
use crate::progress::{NoProgress, Progress};
use crate::repository::Repository;
use crate::source::database::normalize_table;
use crate::source::database::{Creation, DatabaseUrl};
use crate::source::{mysql, postgres, SourceError};
use crate::stream::{Node, Walk};
use hash::{Fed, StreamHash};
use split::{PieceWriter, Rows};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// Where a parallel restore goes.
pub struct Target<'a> {
    /// The database.
    pub url: &'a DatabaseUrl,
    /// Create the database.
    pub create: bool,
    /// Drop and recreate an existing database.
    pub drop_existing: bool,
    /// Records whether this restore's own `CREATE DATABASE` made the database.
    pub creation: &'a Creation,
    /// Parts loaded at once (at least 1).
    pub jobs: usize,
    /// PostgreSQL: `maintenance_work_mem` of the sessions that build indexes and constraints
    /// (a server size such as `256MB`; `None`: the server's own).
    pub maintenance_work_mem: Option<String>,
}

/// `maintenance_work_mem` of the index-building sessions unless told otherwise (`restore
/// --maintenance-work-mem`'s default; `verify --into` uses it too).
pub const DEFAULT_MAINTENANCE_WORK_MEM: &str = "256MB";

/// Parts loaded at once unless told otherwise (`--jobs`): the number of cores (2 when it cannot
/// be told). `restore --to` and `verify --into` both use it, so a verification loads the dump
/// the way the restore it vouches for would.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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

/// Bytes of a split table's head and tail read with the small parts, at most, bytes.
const WINDOW: u64 = 64 << 10;

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

/// One piece of a split table: head + rows of `nominal` (see [`split`]) + tail.
struct Piece {
    rows: Rows,
    nominal: Range<u64>,
    head: Vec<u8>,
    tail: Vec<u8>,
}

struct Loader<'a> {
    src: &'a Source<'a>,
    target: &'a Target<'a>,
    small: Small,
    settings: Vec<Range<u64>>,
    progress: Forward<'a>,
    hash: Option<StreamHash>,
    abort: AtomicBool,
}

/// Which step a part belongs to: decides its session settings (see [`Loader::session`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Schema (pre-data, post-data): the server's settings.
    Schema,
    /// Table and other data: PostgreSQL commits without waiting for its WAL flush.
    Data,
    /// Indexes and constraints: PostgreSQL with [`Target::maintenance_work_mem`].
    Index,
}

/// What a part loads: bytes read already, stream ranges decoded as it goes, or a piece.
enum Body<'a> {
    Bytes(Vec<u8>),
    Stream(&'a [Range<u64>]),
    Piece(&'a Piece),
}

/// Sorts and merges ranges (overlapping or adjacent ones become one).
fn merge(mut v: Vec<Range<u64>>) -> Vec<Range<u64>> {
    v.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in v.into_iter().filter(|r| r.start < r.end) {
        match out.last_mut() {
            Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The parts of `0..size` outside the sorted, merged `ranges`.
fn gaps(ranges: &[Range<u64>], size: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in ranges {
        if r.start > at {
            out.push(at..r.start);
        }
        at = at.max(r.end);
    }
    if at < size {
        out.push(at..size);
    }
    out
}

/// Every range of the layout, merged.
fn all_ranges(l: &Layout) -> Vec<Range<u64>> {
    let units = [&l.data, &l.indexes, &l.foreign_keys];
    let unit_ranges = units.into_iter().flatten().flat_map(|u| u.ranges.iter());
    let lists = [&l.settings, &l.pre, &l.other_data, &l.attach, &l.rest];
    merge(
        lists
            .into_iter()
            .flatten()
            .chain(unit_ranges)
            .cloned()
            .collect(),
    )
}

/// The table data parts of `l`: whole tables, and pieces of the big ones (whose head and tail
/// `windows` were read into `small`), biggest first.
fn data_parts(
    l: &Layout,
    big: &[(usize, usize)],
    small: &Small,
    mysql: bool,
) -> Vec<(Unit, Option<Piece>)> {
    let mut parts: Vec<(Unit, Option<Piece>)> = Vec::new();
    for (i, u) in l.data.iter().enumerate() {
        let split = big.iter().find(|b| b.0 == i).and_then(|&(_, k)| {
            let s = u.ranges.first()?.clone();
            let head = small.get(&(s.start..s.end.min(s.start + WINDOW)));
            let tail = small.get(&(s.end.saturating_sub(WINDOW).max(s.start)..s.end));
            let rows = split::rows(mysql, &s, head, tail)?;
            let head = split::without_locks(mysql, small.get(&(s.start..rows.rows.start)));
            let tail = split::without_locks(mysql, small.get(&(rows.rows.end..s.end)));
            Some((rows, head, tail, k))
        });
        let Some((rows, head, tail, k)) = split else {
            parts.push((u.clone(), None));
            continue;
        };
        let cuts = split::cuts(&rows.rows, k);
        for (n, c) in cuts.windows(2).enumerate() {
            let unit = Unit {
                what: format!("{} (piece {} of {k})", u.what, n + 1),
                table: u.table.clone(),
                ranges: std::iter::once(c[0]..c[1]).collect(),
                locks: Vec::new(),
            };
            let piece = Piece {
                rows: rows.clone(),
                nominal: c[0]..c[1],
                head: head.clone(),
                tail: tail.clone(),
            };
            parts.push((unit, Some(piece)));
        }
    }
    parts.sort_by_key(|(u, _)| std::cmp::Reverse(u.bytes()));
    parts
}

/// Restores `layout` into `target`: prepares the database (see [`DatabaseUrl::restore`] for
/// `create` and `drop_existing`), then loads the parts as the module documentation says.
/// Nothing is created when the snapshot's small parts cannot be read.
///
/// The outcome counts the stream bytes restored, and the distinct chunks they lie in with their
/// stored size (a chunk at the edge of two parts is read by both, and counted once).
///
/// Errors: the first part that failed, naming it (a table's data, an index...) and the
/// database; [`Error::Corrupt`] for damaged data or a stream whose BLAKE3 hash differs from the
/// snapshot's; [`Error::Invalid`] for an SQLite target.
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
    let mysql = matches!(target.url, DatabaseUrl::MySql(_));
    let restored = all_ranges(layout);
    let all_data: u64 = layout.data.iter().map(Unit::bytes).sum();
    let min = split::min_piece();
    let big: Vec<(usize, usize)> = (layout.data.iter().enumerate())
        .map(|(i, u)| (i, split::pieces(u.bytes(), all_data, target.jobs, min)))
        .filter(|(i, k)| *k > 1 && layout.data[*i].ranges.len() == 1)
        .collect();
    let windows = big.iter().flat_map(|&(i, _)| {
        let s = &layout.data[i].ranges[0];
        [
            s.start..s.end.min(s.start + WINDOW),
            s.end.saturating_sub(WINDOW).max(s.start)..s.end,
        ]
    });
    let units = [&layout.indexes, &layout.foreign_keys];
    let mut small_ranges: Vec<Range<u64>> = (layout.settings.iter())
        .chain(&layout.pre)
        .chain(&layout.attach)
        .chain(&layout.rest)
        .chain(units.iter().flat_map(|u| u.iter().flat_map(|u| &u.ranges)))
        .cloned()
        .chain(windows)
        .collect();
    if layout.whole {
        // Bytes no part loads (none in a dump the table index covers): read for the hash.
        small_ranges.extend(gaps(&restored, src.stream.size));
    }
    let hash = layout.whole.then(|| StreamHash::new(src.stream.size));
    let small = read_small(src, merge(small_ranges), hash.as_ref())?;
    progress.inc(small.bytes.len() as u64);
    let loader = Loader {
        src,
        target,
        small,
        settings: layout.settings.clone(),
        progress: Forward(progress),
        hash,
        abort: AtomicBool::new(false),
    };
    let pre = loader.small.concat(&layout.pre);
    let head = &pre[..pre.len().min(64 << 10)];
    match target.url {
        DatabaseUrl::Postgres(u) => {
            let made = &|| target.creation.record();
            postgres::prepare_restore_for(u, head, target.create, target.drop_existing, made)?
        }
        DatabaseUrl::MySql(u) => {
            let made = &|| target.creation.record();
            mysql::prepare_restore(u, head, target.create, target.drop_existing, made)?
        }
        DatabaseUrl::Sqlite(_) => {}
    }
    progress.set_phase("restoring pre-data");
    tracing::info!(step = "pre-data", "parallel restore step");
    loader.load("the schema (pre-data)", Body::Bytes(pre), Step::Schema)?;
    progress.set_phase("restoring data");
    tracing::info!(step = "data", "parallel restore step");
    crate::testhook::pause("restore-data");
    let copied = loader.load_data(data_parts(layout, &big, &loader.small, mysql))?;
    if !layout.other_data.is_empty() {
        let start = layout.other_data[0].start;
        let body = Body::Stream(&layout.other_data);
        loader.load_at("sequence values and other data", start, body, Step::Data)?;
    }
    tracing::info!(step = "stream hash check", "parallel restore step");
    loader.check_hash()?;
    let mut foreign_keys = layout.foreign_keys.clone();
    for u in &mut foreign_keys {
        let text = String::from_utf8_lossy(&loader.small.concat(&u.ranges)).into_owned();
        u.locks.extend(referenced_table(&text));
    }
    progress.set_phase("restoring indexes and constraints");
    tracing::info!(step = "indexes and constraints", "parallel restore step");
    let index_pool = |units: &[Unit]| {
        loader.pool(units, |_, u| {
            let body = Body::Bytes(loader.small.concat(&u.ranges));
            loader
                .load_at(&u.what, u.start(), body, Step::Index)
                .map(drop)
        })
    };
    index_pool(&layout.indexes)?;
    if !layout.attach.is_empty() {
        tracing::info!(step = "index attachments", "parallel restore step");
        let body = Body::Bytes(loader.small.concat(&layout.attach));
        let what = "the index attachments of partitions (ALTER INDEX … ATTACH PARTITION)";
        loader.load_at(what, layout.attach[0].start, body, Step::Index)?;
    }
    index_pool(&foreign_keys)?;
    if !layout.rest.is_empty() {
        progress.set_phase("restoring post-data");
        tracing::info!(step = "post-data", "parallel restore step");
        let body = Body::Bytes(loader.small.concat(&layout.rest));
        loader.load_at(
            "the rest of the schema (post-data)",
            layout.rest[0].start,
            body,
            Step::Schema,
        )?;
    }
    if let DatabaseUrl::Postgres(u) = target.url {
        // The data sessions committed without waiting for their WAL flush: flush it all now.
        postgres::flush_commits(u)?;
    }
    progress.finish();
    let mut o = outcome(src, &restored)?;
    o.copied = (!mysql).then_some(copied);
    Ok(o)
}

/// Reads the small parts `merged` (sorted, merged ranges) at once, feeding `hash`.
fn read_small(src: &Source, merged: Vec<Range<u64>>, hash: Option<&StreamHash>) -> Result<Small> {
    let mut bytes = Vec::new();
    let s = src;
    restore_ranges(
        s.repo,
        s.index,
        s.snapshot,
        s.stream,
        Some(&merged),
        &mut bytes,
        &NoProgress,
    )?;
    let mut at = Vec::new();
    let mut off = 0;
    for r in merged {
        let len = (r.end - r.start) as usize;
        if let Some(h) = hash {
            let mut seg = h.segment(r.start);
            seg.update(&bytes[off..off + len]);
            seg.finish();
        }
        at.push((r, off));
        off += len;
    }
    Ok(Small { at, bytes })
}

/// The figures of a restore of `ranges`: their bytes, and the distinct chunks they lie in with
/// their stored size (delta bases not counted).
fn outcome(src: &Source, ranges: &[Range<u64>]) -> Result<RestoreOutcome> {
    let mut o = RestoreOutcome {
        bytes_written: ranges.iter().map(|r| r.end - r.start).sum(),
        ..RestoreOutcome::default()
    };
    for n in Walk::of(src.repo, src.index, Id(src.stream.root)).ranges(ranges) {
        if let Node::Chunk(c) = n? {
            o.chunks_read += 1;
            o.bytes_read += src.index.get(&c.id).map_or(0, |(_, l)| l.length as u64);
        }
    }
    Ok(o)
}

impl Loader<'_> {
    /// Compares the whole stream's BLAKE3 hash, from the bytes all parts read, with the
    /// snapshot's (nothing to compare for a restore of some tables).
    fn check_hash(&self) -> Result<()> {
        let Some(h) = &self.hash else { return Ok(()) };
        let what = || {
            format!(
                "snapshot {} stream {}",
                self.src.snapshot.short(),
                self.src.stream.name
            )
        };
        match h.finalize() {
            Some(got) if got == self.src.stream.blake3 => Ok(()),
            Some(_) => Err(Error::corrupt(
                what(),
                "restored data does not match the recorded BLAKE3 hash",
            )),
            None => Err(Error::Invalid(format!(
                "{}: the parallel restore did not read every byte of the stream",
                what()
            ))),
        }
    }

    /// Loads the table data parts `data` (see [`data_parts`]), `jobs` at a time; the rows their
    /// `COPY` commands stored per table (see [`RestoreOutcome::copied`]).
    fn load_data(&self, data: Vec<(Unit, Option<Piece>)>) -> Result<BTreeMap<String, u64>> {
        let units: Vec<Unit> = data.iter().map(|(u, _)| u.clone()).collect();
        let copied = Mutex::new(BTreeMap::new());
        self.pool(&units, |i, u| {
            let n = match &data[i].1 {
                Some(p) => self.load_at(&u.what, u.start(), Body::Piece(p), Step::Data),
                None => self.load(&u.what, Body::Stream(&u.ranges), Step::Data),
            }?;
            if let (Some(t), Ok(mut c)) = (&u.table, copied.lock()) {
                *c.entry(normalize_table(t)).or_insert(0) += n;
            }
            Ok(())
        })?;
        Ok(copied.into_inner().unwrap_or_default())
    }

    /// SQL that starts a part's session, before the dump's own settings (PostgreSQL only):
    /// `synchronous_commit = off` for data (a crash may lose a commit, not corrupt anything;
    /// [`postgres::flush_commits`] makes them durable before the restore succeeds), and
    /// `maintenance_work_mem` for index builds (fewer sort runs spilled to disk, and room for
    /// parallel workers, which the server gives at least 32 MB each).
    fn session(&self, step: Step) -> String {
        if !matches!(self.target.url, DatabaseUrl::Postgres(_)) {
            return String::new();
        }
        match (step, &self.target.maintenance_work_mem) {
            (Step::Data, _) => "SET synchronous_commit = off;\n".into(),
            (Step::Index, Some(m)) => format!("SET maintenance_work_mem = '{m}';\n"),
            _ => String::new(),
        }
    }

    /// Loads a part that starts the dump (no settings before it).
    fn load(&self, what: &str, body: Body, step: Step) -> Result<u64> {
        let start = match &body {
            Body::Stream(r) => r.first().map_or(0, |r| r.start),
            Body::Bytes(_) => 0,
            Body::Piece(p) => p.nominal.start,
        };
        self.load_at(what, start, body, step)
    }

    /// Writes a part's body to `w` (its client); the outcome of its stream reads.
    fn produce(&self, body: &Body, w: &mut dyn Write, what: &str) -> Result<()> {
        let sending = |e| Error::io(format!("sending {what} to the database client"), e);
        let read = |ranges: &[Range<u64>], w: &mut dyn Write, p: &dyn Progress| {
            let s = self.src;
            restore_ranges(s.repo, s.index, s.snapshot, s.stream, Some(ranges), w, p)
        };
        match body {
            Body::Bytes(b) => {
                w.write_all(b).map_err(sending)?;
                self.progress.inc(b.len() as u64);
            }
            Body::Stream(ranges) => {
                let mut fed = Fed::new(&mut *w, self.hash.as_ref(), ranges);
                read(ranges, &mut fed, &self.progress)?;
                fed.finish();
            }
            Body::Piece(p) => {
                w.write_all(&p.head).map_err(sending)?;
                let range = split::read_range(&p.rows, &p.nominal);
                let mut pw =
                    PieceWriter::new(&mut *w, &p.rows, p.nominal.clone(), self.hash.as_ref());
                let r = read(std::slice::from_ref(&range), &mut pw, &NoProgress);
                self.progress.inc(pw.written);
                pw.finish();
                match r {
                    Err(Error::Io { source, .. }) if split::is_done(&source) => {}
                    r => r.map(drop)?,
                }
                w.write_all(&p.tail).map_err(sending)?;
            }
        }
        w.flush().map_err(sending)
    }

    /// Loads a part that starts at stream offset `start`, after the settings before it.
    /// Returns the rows its `COPY` commands stored (PostgreSQL; 0 for MySQL).
    fn load_at(&self, what: &str, start: u64, body: Body, step: Step) -> Result<u64> {
        let before: Vec<Range<u64>> = (self.settings.iter())
            .filter(|r| r.start < start)
            .map(|r| r.start..r.end.min(start))
            .collect();
        let mut prefix = self.session(step).into_bytes();
        let settings = self.small.concat(&before);
        prefix.extend(match self.target.url {
            // An older snapshot's preamble may hold a sequence's DDL: never in every session.
            DatabaseUrl::MySql(_) => crate::tables::mysql_session_lines(&settings),
            _ => settings,
        });
        let began = std::time::Instant::now();
        // Shown with the other parts loading at once (a table's data: the table).
        let item = what.strip_prefix("data of table ").unwrap_or(what);
        self.progress.0.start_item(item);
        let (tx, rx) = crossbeam_channel::bounded(32);
        let mut reader = ChannelReader::new(rx, Some(&self.abort));
        let r = std::thread::scope(|s| {
            let producer = s.spawn(move || {
                let w = ChannelWriter::new(tx.clone(), Some(&self.abort));
                let mut w = std::io::BufWriter::with_capacity(256 * 1024, w);
                let sending = |e| Error::io(format!("sending {what} to the database client"), e);
                let r = w
                    .write_all(&prefix)
                    .map_err(sending)
                    .and_then(|()| self.produce(&body, &mut w, what));
                drop(w);
                let _ = match &r {
                    Ok(_) => tx.send(Ok(Vec::new())),
                    Err(e) => tx.send(Err(std::io::Error::other(e.to_string()))),
                };
                r
            });
            let consumed = match self.target.url {
                DatabaseUrl::Postgres(u) => postgres::load_part(u, &mut reader, true, what),
                // MySQL's client prints no row counts: none recorded.
                DatabaseUrl::MySql(u) => mysql::load_part(u, &mut reader, what).map(|()| 0),
                DatabaseUrl::Sqlite(_) => Err(SourceError::Invalid("no SQLite here".into())),
            };
            drop(reader);
            let produced = producer.join().unwrap_or_else(|_| {
                Err(Error::Invalid(format!("restoring {what}: thread failed")))
            });
            match (produced, consumed) {
                (Ok(()), Ok(n)) => Ok(n),
                (Err(p), Err(c)) if client_stopped(&p) => Err(c.into()),
                (Err(p), _) => Err(p),
                (Ok(()), Err(c)) => Err(c.into()),
            }
        });
        self.progress.0.end_item(item);
        let secs = began.elapsed().as_secs_f64();
        tracing::info!(part = %what, secs = format!("{secs:.2}"), ok = r.is_ok(), "loaded");
        r
    }

    /// Runs `f` on every unit (with its index), `jobs` at a time, in order, never two units
    /// sharing a lock at once. The first error stops the others (their clients are killed) and
    /// is returned.
    fn pool(&self, units: &[Unit], f: impl Fn(usize, &Unit) -> Result<()> + Sync) -> Result<()> {
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
            let r = f(i, &units[i]);
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
