//! An index that loads in the background while a dump is already being read (a dump tool must
//! never wait for the index: restic issue #3916), shared by every snapshot of one process.

use super::Index;
use crate::error::Result;
use crate::repository::Repository;
use std::sync::{Arc, OnceLock};

/// A lazily loaded, shared [`Index`].
#[derive(Clone)]
pub struct SharedIndex {
    repo: Repository,
    cell: Arc<OnceLock<Option<Arc<Index>>>>,
}

impl SharedIndex {
    /// Starts loading the index of `repo` on a background thread.
    pub fn start(repo: &Repository) -> Self {
        let s = SharedIndex {
            repo: repo.clone(),
            cell: Arc::new(OnceLock::new()),
        };
        let bg = s.clone();
        std::thread::spawn(move || {
            let _ = bg.get();
        });
        s
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
