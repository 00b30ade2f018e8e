//! Growing a repository's history through the library: a real snapshot of each database,
//! then copies of its manifest with their own times (the manifests unchanged hourly snapshots
//! write), and the catalogue compacted as prune leaves it.

use super::shape::{fleet_history, Shape};
use super::{make_db, time};
use anyhow::{bail, Result};
use dumpvault::commands::snapshot::{self, SnapshotOptions};
use dumpvault::format::snapshot::Manifest;
use dumpvault::id::Id;
use dumpvault::index::SharedIndex;
use dumpvault::progress::NoProgress;
use dumpvault::repository::{FileKind, Repository};
use dumpvault::source::database::{DatabaseUrl, DumpOptions};
use std::path::{Path, PathBuf};

/// Threads writing manifests while a repository grows.
const WRITERS: usize = 4;
/// Size of the measured database (number 0), bytes; the others are 100 KB.
const MEASURED_BYTES: usize = 1 << 20;
const OTHER_BYTES: usize = 100 << 10;

/// One repository's history as it grows.
pub(super) struct Grower<'a> {
    repo: &'a Repository,
    shape: Shape,
    /// Folder of this shape's SQLite databases (shared by the backends: a database is made
    /// once).
    dbs: PathBuf,
    seed: u64,
    /// The real manifest of each database snapshotted so far, by database number.
    bases: Vec<Manifest>,
    /// The hour of the newest snapshot so far (see [`time`]).
    pub(super) hour: u64,
}

impl<'a> Grower<'a> {
    /// An empty repository `repo` to grow in `shape`, its databases in `dbs`.
    pub(super) fn new(repo: &'a Repository, shape: Shape, dbs: &Path, seed: u64) -> Self {
        // A fleet database's history reaches this far back before its newest snapshot.
        let start = match shape {
            Shape::Fleet => fleet_history().first().copied().unwrap_or(0),
            Shape::Deep => 0,
        };
        Grower {
            repo,
            shape,
            dbs: dbs.to_path_buf(),
            seed,
            bases: Vec::new(),
            hour: start,
        }
    }

    /// The file of database `g`, made (with its seed) if it is not there yet.
    pub(super) fn database(&self, g: usize) -> Result<PathBuf> {
        let path = self.dbs.join(self.shape.file_name(g));
        if !path.exists() {
            std::fs::create_dir_all(&self.dbs)?;
            let bytes = if g == 0 { MEASURED_BYTES } else { OTHER_BYTES };
            make_db(&path, bytes, self.seed + g as u64)?;
        }
        Ok(path)
    }

    /// Grows the history to about `level` snapshots; returns the manifests written without a
    /// catalogue entry (the copies), for the compaction.
    pub(super) fn grow_to(&mut self, level: usize) -> Result<Vec<(Id, Manifest)>> {
        let index = SharedIndex::start(self.repo, "snapshot")?;
        let todo = match self.shape {
            Shape::Deep => self.deep(level, &index)?,
            Shape::Fleet => self.fleet(level, &index)?,
        };
        write_all(self.repo, todo)
    }

    /// `deep`: a real snapshot of each of the 20 databases once, then one copy an hour,
    /// database after database, up to `level`.
    fn deep(&mut self, level: usize, index: &SharedIndex) -> Result<Vec<Manifest>> {
        let groups = self.shape.databases(level);
        while self.bases.len() < groups {
            let g = self.bases.len();
            let m = self.real_snapshot(g, self.hour, index)?;
            self.bases.push(m);
            self.hour += 1;
        }
        let have = self.repo.list(FileKind::Snapshot)?.len();
        let mut todo = Vec::new();
        for _ in have..level {
            let g = (self.hour % groups as u64) as usize;
            todo.push(self.copy(g, self.hour)?);
            self.hour += 1;
        }
        Ok(todo)
    }

    /// `fleet`: each database not yet there gets its whole history, ending now: its oldest
    /// snapshot real, the others copies.
    fn fleet(&mut self, level: usize, index: &SharedIndex) -> Result<Vec<Manifest>> {
        let back = fleet_history();
        let now = self.hour;
        let mut todo = Vec::new();
        while self.bases.len() < self.shape.databases(level) {
            let g = self.bases.len();
            let m = self.real_snapshot(g, now - back[0], index)?;
            self.bases.push(m);
            for b in &back[1..] {
                todo.push(self.copy(g, now - b)?);
            }
        }
        Ok(todo)
    }

    /// Database `g`'s real manifest with the time of `hour`, as an unchanged snapshot writes
    /// it (nothing added).
    fn copy(&self, g: usize, hour: u64) -> Result<Manifest> {
        let mut m = self.bases[g].clone();
        m.time = time(hour)?.to_string();
        m.summary.bytes_added = 0;
        m.summary.new_blobs = 0;
        Ok(m)
    }

    /// Takes a real snapshot of database `g` at `hour` through the library, exactly as
    /// `snapshot` takes it; returns its manifest.
    fn real_snapshot(&self, g: usize, hour: u64, index: &SharedIndex) -> Result<Manifest> {
        let db = self.database(g)?;
        let url = DatabaseUrl::parse(&format!("sqlite://{}", db.display()))?;
        let sources = url.open(&DumpOptions::default())?;
        let opts = SnapshotOptions {
            host: Some(self.shape.host(g)),
            tags: self.shape.tags(g),
            time: Some(time(hour)?),
            ..Default::default()
        };
        let out = snapshot::run(self.repo, index, sources, &opts, &NoProgress)?;
        Ok(out.manifest)
    }
}

/// Writes the manifests `todo` on [`WRITERS`] threads; returns them with their ids.
fn write_all(repo: &Repository, todo: Vec<Manifest>) -> Result<Vec<(Id, Manifest)>> {
    let chunk = todo.len().div_ceil(WRITERS).max(1);
    let results: Vec<Result<Vec<(Id, Manifest)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<Vec<(Id, Manifest)>> {
                    (part.iter())
                        .map(|m| Ok((repo.save_manifest(m)?, m.clone())))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("writer panicked")))
            .collect()
    });
    let mut out = Vec::with_capacity(todo.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}
