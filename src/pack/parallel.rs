//! Parallel pack uploads (for `copy`), with index checkpoints: the packer's parallel sink.
//!
//! Sealed blobs are appended to an open pack ([`OpenPack`], which alone assembles a pack); a
//! full pack goes to one of `connections` upload threads. An index file is written only for
//! packs whose upload has completed, every [`CHECKPOINT_PACKS`] packs and at each
//! [`ParallelPacker::checkpoint`]; so a killed copy leaves at worst unindexed packs, and the
//! next run uploads only the blobs no index lists. Must not assemble packs or touch blob
//! payloads itself.

use crate::error::{Error, Result};
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::BlobKind;
use crate::id::Id;
use crate::pack::packer::{ClosedPack, OpenPack};
use crate::repository::{FileKind, Repository};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Completed packs between two index files written during a long copy.
pub const CHECKPOINT_PACKS: usize = 4;

/// What the uploader wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Blobs written.
    pub blobs: u64,
    /// Packs written.
    pub packs: u64,
    /// Bytes written: packs and index files.
    pub bytes: u64,
    /// Index files written.
    pub index_files: u64,
}

#[derive(Default)]
struct State {
    open: OpenPack,
    /// Packs handed to upload threads and not yet reported back.
    in_flight: u64,
    /// Uploaded packs not yet listed in an index file.
    uploaded: Vec<IndexPack>,
    stats: UploadStats,
    /// The first upload error; every later call returns an error.
    failed: Option<String>,
}

/// Writes packs into a repository on several connections. `add` may be called from several
/// threads.
pub struct ParallelPacker {
    repo: Repository,
    state: Mutex<State>,
    jobs: Option<Sender<ClosedPack>>,
    done: Receiver<Result<IndexPack>>,
    threads: Vec<JoinHandle<()>>,
}

impl ParallelPacker {
    /// Starts `connections` (at least 1) upload threads writing into `repo`.
    pub fn new(repo: &Repository, connections: usize) -> Self {
        let connections = connections.max(1);
        let (jobs, job_rx) = bounded::<ClosedPack>(connections);
        let (done_tx, done) = unbounded();
        let threads = (0..connections)
            .map(|_| {
                let rx = job_rx.clone();
                let tx = done_tx.clone();
                let repo = repo.clone();
                std::thread::spawn(move || {
                    for job in rx {
                        let r = repo
                            .backend()
                            .write(&FileKind::Pack.path(&job.id), job.bytes)
                            .map(|()| job.entry)
                            .map_err(Error::from);
                        if tx.send(r).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        ParallelPacker {
            repo: repo.clone(),
            state: Mutex::new(State::default()),
            jobs: Some(jobs),
            done,
            threads,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one sealed blob (`raw_length` = plaintext bytes; `base`: a delta's base, which
    /// the target already holds); sends the pack to an upload thread once it reaches the
    /// target's pack size. Not durable until [`Self::checkpoint`].
    ///
    /// Errors: an earlier upload's failure.
    pub fn add(
        &self,
        kind: BlobKind,
        id: Id,
        raw_length: u32,
        base: Option<Id>,
        sealed: &[u8],
    ) -> Result<()> {
        let job = {
            let mut st = self.lock();
            self.collect(&mut st, false)?;
            st.open.push(kind, id, raw_length, base, sealed);
            st.stats.blobs += 1;
            if st.open.len() < self.repo.config().pack_size {
                return Ok(());
            }
            self.close_pack(&mut st)
        };
        self.send(job)
    }

    /// Closes the open pack ([`OpenPack::close`]); the returned pack is sent outside the lock.
    fn close_pack(&self, st: &mut State) -> Option<ClosedPack> {
        let pack = st.open.close(self.repo.key())?;
        st.in_flight += 1;
        Some(pack)
    }

    fn send(&self, job: Option<ClosedPack>) -> Result<()> {
        let Some(job) = job else { return Ok(()) };
        let jobs = self.jobs.as_ref().expect("sender lives until drop");
        if jobs.send(job).is_err() {
            return Err(Error::Invalid("pack upload threads stopped".into()));
        }
        Ok(())
    }

    /// Takes finished uploads (waiting for all of them when `wait`), and writes an index file
    /// when enough packs are uploaded (or, when waiting, for every uploaded pack).
    fn collect(&self, st: &mut State, wait: bool) -> Result<()> {
        while st.in_flight > 0 {
            let r = if wait {
                match self.done.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            } else {
                match self.done.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            st.in_flight -= 1;
            match r {
                Ok(entry) => {
                    st.stats.packs += 1;
                    st.stats.bytes += entry.size;
                    st.uploaded.push(entry);
                }
                Err(e) => {
                    if st.failed.is_none() {
                        st.failed = Some(e.to_string());
                    }
                    if !wait {
                        return Err(e);
                    }
                }
            }
        }
        if let Some(f) = &st.failed {
            return Err(Error::Invalid(format!("uploading a pack failed: {f}")));
        }
        if st.uploaded.len() >= CHECKPOINT_PACKS || (wait && !st.uploaded.is_empty()) {
            let file = IndexFile {
                packs: std::mem::take(&mut st.uploaded),
                ..Default::default()
            };
            let plain = crate::format::index::encode_index_file(&file);
            self.repo.save_index_file(&file)?;
            st.stats.index_files += 1;
            st.stats.bytes += (plain.len() + crate::crypto::SEAL_OVERHEAD) as u64;
        }
        Ok(())
    }

    /// Writes the open pack, waits for every upload, and writes an index file listing them:
    /// when it returns, every blob added so far is durable and indexed.
    ///
    /// Errors: the first failed upload or index write.
    pub fn checkpoint(&self) -> Result<()> {
        let job = {
            let mut st = self.lock();
            self.close_pack(&mut st)
        };
        self.send(job)?;
        let mut st = self.lock();
        self.collect(&mut st, true)
    }

    /// What was written so far (uploads still in flight are not counted).
    pub fn stats(&self) -> UploadStats {
        self.lock().stats
    }

    /// [`Self::checkpoint`], then stops the upload threads.
    pub fn finish(mut self) -> Result<UploadStats> {
        let r = self.checkpoint();
        self.stop();
        r.map(|()| self.stats())
    }

    fn stop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ParallelPacker {
    fn drop(&mut self) {
        self.stop();
    }
}
