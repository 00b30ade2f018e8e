//! Repository locks `locks/<id>`: shared locks announce a running snapshot, an exclusive lock
//! keeps two prunes apart. Snapshots never look at other locks, so they are never refused or
//! delayed by a prune; prune reads the shared locks to learn which snapshots may still be
//! writing (see "Prune" in `repo-format.md`).
//!
//! A lock is refreshed by a background thread every [`REFRESH_INTERVAL`] while it is held
//! (a new file with the new time is written, then the old one deleted, so the holder is never
//! without a lock file) and removed when its [`LockGuard`] is dropped. A lock is stale when it
//! was not refreshed for [`STALE_AFTER_SECS`], or when it names this host and a process that is
//! no longer running (Linux only: checked through `/proc`).

use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::format::lock::Lock;
use crate::format::{decode_json, encode_json};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a held lock is refreshed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A lock not refreshed for this long is stale (its holder is presumed dead), seconds.
pub const STALE_AFTER_SECS: i64 = 30 * 60;

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Whether process `pid` on this host still runs. Without `/proc` (not Linux) every process is
/// presumed to run, so only the time decides staleness.
fn process_alive(pid: u32) -> bool {
    let proc_dir = std::path::Path::new("/proc");
    !proc_dir.join("self").exists() || proc_dir.join(pid.to_string()).exists()
}

/// Whether `lock` is stale at `now` (seconds since the epoch): not refreshed for
/// [`STALE_AFTER_SECS`], or held by a process of this host that no longer runs.
pub fn is_stale(lock: &Lock, now: i64) -> bool {
    if now - lock.time > STALE_AFTER_SECS {
        return true;
    }
    lock.host == crate::hostname() && lock.pid != std::process::id() && !process_alive(lock.pid)
}

/// Every lock file with its content. Lock files removed while listing are skipped.
///
/// Errors: [`Error::Corrupt`] for a lock file that does not open or decode (remove it with
/// `dumpvault unlock --remove-all`), storage errors.
pub fn list(repo: &Repository) -> Result<Vec<(Id, Lock)>> {
    let mut out = Vec::new();
    for (id, _) in repo.list(FileKind::Lock)? {
        let plain = match repo.load_file(FileKind::Lock, &id) {
            Ok(p) => p,
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => continue,
            Err(e) => return Err(e),
        };
        let lock: Lock = decode_json(&plain).map_err(|e| {
            Error::corrupt(
                format!("lock {}", FileKind::Lock.path(&id)),
                format!("{e}; remove it with `dumpvault unlock --remove-all`"),
            )
        })?;
        out.push((id, lock));
    }
    Ok(out)
}

/// Removes stale locks, or every lock with `all`. Returns the removed locks.
///
/// Errors: storage errors. A lock file that does not decode counts as stale.
pub fn remove(repo: &Repository, all: bool) -> Result<Vec<(Id, Option<Lock>)>> {
    let now = now_secs();
    let mut removed = Vec::new();
    for (id, _) in repo.list(FileKind::Lock)? {
        let lock = repo
            .load_file(FileKind::Lock, &id)
            .ok()
            .and_then(|p| decode_json::<Lock>(&p).ok());
        if all || lock.as_ref().is_none_or(|l| is_stale(l, now)) {
            repo.backend().delete(&FileKind::Lock.path(&id))?;
            removed.push((id, lock));
        }
    }
    Ok(removed)
}

struct Held {
    repo: Repository,
    id: Id,
    lock: Lock,
}

impl Held {
    /// Writes a refreshed lock, then deletes the previous file.
    fn refresh(&mut self) -> Result<()> {
        let mut lock = self.lock.clone();
        lock.time = now_secs();
        let id = self.repo.save_file(FileKind::Lock, &encode_json(&lock))?;
        self.repo.backend().delete(&FileKind::Lock.path(&self.id))?;
        self.id = id;
        self.lock = lock;
        Ok(())
    }
}

/// A lock held by this process; refreshed in the background, removed on drop.
pub struct LockGuard {
    held: Arc<Mutex<Held>>,
    stop: Option<Sender<()>>,
    refresher: Option<JoinHandle<()>>,
}

impl LockGuard {
    fn create(repo: &Repository, exclusive: bool, command: &str) -> Result<Self> {
        let now = now_secs();
        let lock = Lock {
            exclusive,
            host: crate::hostname(),
            pid: std::process::id(),
            time: now,
            created: now,
            command: command.to_string(),
        };
        let id = repo.save_file(FileKind::Lock, &encode_json(&lock))?;
        let held = Arc::new(Mutex::new(Held {
            repo: repo.clone(),
            id,
            lock,
        }));
        let (tx, rx) = channel::<()>();
        let bg = held.clone();
        // Refreshes until the guard drops its sender. A failed refresh is retried at the next
        // interval; the lock only goes stale after several failures in a row.
        let refresher = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(REFRESH_INTERVAL) {
                let _ = bg.lock().map(|mut h| h.refresh());
            }
        });
        Ok(LockGuard {
            held,
            stop: Some(tx),
            refresher: Some(refresher),
        })
    }

    /// Takes a shared lock (for a snapshot). Never waits and never looks at other locks.
    ///
    /// Errors: storage errors writing the lock file.
    pub fn shared(repo: &Repository, command: &str) -> Result<Self> {
        Self::create(repo, false, command)
    }

    /// Takes the exclusive lock (for prune).
    ///
    /// Errors: [`Error::Locked`] naming the holder's host and pid when another non-stale
    /// exclusive lock exists (checked before and after writing ours, so two prunes starting at
    /// once cannot both proceed); storage errors.
    pub fn exclusive(repo: &Repository, command: &str) -> Result<Self> {
        refuse_if_exclusive(repo, None)?;
        let guard = Self::create(repo, true, command)?;
        refuse_if_exclusive(repo, Some(guard.id()))?;
        Ok(guard)
    }

    /// The current lock file's id (it changes at each refresh).
    pub fn id(&self) -> Id {
        self.held.lock().map(|h| h.id).unwrap_or_default()
    }

    /// When the lock was first taken, seconds since the epoch.
    pub fn created(&self) -> i64 {
        self.held.lock().map(|h| h.lock.created).unwrap_or_default()
    }

    /// Stops refreshing and deletes the lock file.
    ///
    /// Errors: storage errors deleting it (the lock then goes stale by itself).
    pub fn release(mut self) -> Result<()> {
        self.stop_and_remove()
    }

    fn stop_and_remove(&mut self) -> Result<()> {
        drop(self.stop.take());
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        let h = self
            .held
            .lock()
            .map_err(|_| Error::Invalid("lock refresher panicked".into()))?;
        h.repo.backend().delete(&FileKind::Lock.path(&h.id))?;
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.refresher.is_some() {
            let _ = self.stop_and_remove();
        }
    }
}

fn refuse_if_exclusive(repo: &Repository, ours: Option<Id>) -> Result<()> {
    let now = now_secs();
    let other = list(repo)?
        .into_iter()
        .find(|(id, l)| l.exclusive && Some(*id) != ours && !is_stale(l, now));
    match other {
        None => Ok(()),
        Some((_, l)) => Err(Error::Locked(format!(
            "repository {} is locked exclusively by `{}` on host {} (pid {}) since {}; \
             if that process no longer runs, remove the stale lock with `dumpvault unlock`",
            repo.backend().location(),
            l.command,
            l.host,
            l.pid,
            jiff::Timestamp::from_second(l.created).unwrap_or_default(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::crypto::kdf::KdfParams;
    use crate::repository::InitOptions;

    fn repo(name: &str) -> Repository {
        let backend = Backend::open(&format!("memory://lock-{name}")).unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            ..Default::default()
        };
        Repository::init(backend, b"pw", opts).unwrap()
    }

    fn lock(host: &str, pid: u32, time: i64) -> Lock {
        Lock {
            exclusive: true,
            host: host.into(),
            pid,
            time,
            created: time,
            command: "prune".into(),
        }
    }

    #[test]
    fn staleness_by_time_and_by_dead_process() {
        let now = now_secs();
        let me = std::process::id();
        let host = crate::hostname();
        assert!(!is_stale(&lock(&host, me, now), now));
        assert!(is_stale(&lock(&host, me, now - STALE_AFTER_SECS - 1), now));
        assert!(!is_stale(&lock("elsewhere", 1, now - 60), now));
        if std::path::Path::new("/proc/self").exists() {
            // Pids are below 2^22 on Linux.
            assert!(is_stale(&lock(&host, u32::MAX - 1, now), now));
        }
    }

    #[test]
    fn second_exclusive_is_refused_and_shared_never_is() {
        let r = repo("excl");
        let first = LockGuard::exclusive(&r, "prune").unwrap();
        let _shared = LockGuard::shared(&r, "snapshot").unwrap();
        let err = LockGuard::exclusive(&r, "prune").err().unwrap();
        assert!(matches!(err, Error::Locked(_)));
        let msg = err.to_string();
        assert!(msg.contains("dumpvault unlock"), "{msg}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert_eq!(list(&r).unwrap().len(), 2, "the refused lock was removed");
        first.release().unwrap();
        drop(LockGuard::exclusive(&r, "prune").unwrap());
        assert_eq!(list(&r).unwrap().len(), 1, "only the shared lock is left");
    }

    #[test]
    fn remove_takes_only_stale_locks_unless_all() {
        let r = repo("remove");
        let live = LockGuard::shared(&r, "snapshot").unwrap();
        let old = lock("elsewhere", 1, now_secs() - STALE_AFTER_SECS - 10);
        r.save_file(FileKind::Lock, &encode_json(&old)).unwrap();
        assert_eq!(remove(&r, false).unwrap().len(), 1);
        assert_eq!(list(&r).unwrap().len(), 1);
        assert_eq!(remove(&r, true).unwrap().len(), 1);
        assert!(list(&r).unwrap().is_empty());
        drop(live);
    }

    #[test]
    fn refresh_keeps_creation_time_and_replaces_the_file() {
        let r = repo("refresh");
        let g = LockGuard::shared(&r, "snapshot").unwrap();
        let before = g.id();
        {
            let mut h = g.held.lock().unwrap();
            h.lock.time -= 100;
            h.refresh().unwrap();
        }
        let locks = list(&r).unwrap();
        assert_eq!(locks.len(), 1);
        assert_ne!(locks[0].0, before);
        assert_eq!(locks[0].1.created, g.created());
        g.release().unwrap();
        assert!(list(&r).unwrap().is_empty());
    }
}
