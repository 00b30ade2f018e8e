//! An index that loads in the background while a dump is already being read (a dump tool must
//! never wait for the index: restic issue #3916), shared by every snapshot of one process.
//!
//! It holds the process's shared lock: the lock file is written before the index is read, and
//! removed when the last clone is dropped, after every snapshot that used the index has written
//! its manifest. A prune therefore sees the lock of every writer whose index could predate its
//! obsolete marks (rule W1 of `repo-format.md` section 14).

use super::Index;
use crate::error::Result;
use crate::repository::lock::LockGuard;
use crate::repository::Repository;
use std::sync::{Arc, OnceLock};

/// A lazily loaded, shared [`Index`], with the shared lock that covers every write relying on
/// it.
#[derive(Clone)]
pub struct SharedIndex {
    repo: Repository,
    cell: Arc<OnceLock<Option<Arc<Index>>>>,
    _lock: Arc<LockGuard>,
}

impl SharedIndex {
    /// Takes a shared lock on `repo` (command name `command`), then starts loading its index on
    /// a background thread.
    ///
    /// Errors: storage errors writing the lock file (nothing is loaded then).
    pub fn start(repo: &Repository, command: &str) -> Result<Self> {
        let lock = LockGuard::shared(repo, command)?;
        let s = SharedIndex {
            repo: repo.clone(),
            cell: Arc::new(OnceLock::new()),
            _lock: Arc::new(lock),
        };
        let bg = s.clone();
        std::thread::spawn(move || {
            let _ = bg.get();
        });
        Ok(s)
    }

    /// Waits for the index. Errors: the loading error (loading is retried once to report it).
    pub fn get(&self) -> Result<Arc<Index>> {
        let loaded = self
            .cell
            .get_or_init(|| Index::load(&self.repo).ok().map(Arc::new));
        match loaded {
            Some(i) => Ok(i.clone()),
            None => Index::load(&self.repo).map(Arc::new),
        }
    }
}
