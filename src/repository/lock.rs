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
//!
//! The lock files this process holds are also listed in a process-wide registry, so that the
//! SIGINT/SIGTERM path ([`remove_held_locks`]) deletes them before the process exits.

use crate::backend::{Backend, ErrorClass, TempCleanup};
use crate::error::{Error, Result};
use crate::format::lock::Lock;
use crate::format::{decode_json, encode_json};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::collections::BTreeMap;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a held lock is refreshed.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A lock not refreshed for this long is stale (its holder is presumed dead), seconds.
pub const STALE_AFTER_SECS: i64 = 30 * 60;

/// [`STALE_AFTER_SECS`]; test builds (feature `test-hooks`) may set it with
/// `DUMPVAULT_TEST_LOCK_EXPIRY_SECS`, so that a test sees another host's lock expire within
/// seconds.
pub fn stale_after_secs() -> i64 {
    #[cfg(feature = "test-hooks")]
    if let Some(s) = std::env::var("DUMPVAULT_TEST_LOCK_EXPIRY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return s;
    }
    STALE_AFTER_SECS
}

/// The process id recorded in this process's locks: its own; test builds (feature
/// `test-hooks`) may record `DUMPVAULT_TEST_LOCK_PID` instead, to show that another host's
/// pid is never looked up here.
fn lock_pid() -> u32 {
    #[cfg(feature = "test-hooks")]
    if let Some(p) = std::env::var("DUMPVAULT_TEST_LOCK_PID")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return p;
    }
    std::process::id()
}

/// Seconds since the Unix epoch, now. Test builds add `DUMPVAULT_TEST_CLOCK_SKEW_SECS` (may be
/// negative), so that a test plays a host whose locks are already old instead of waiting.
pub fn now_secs() -> i64 {
    let now = jiff::Timestamp::now().as_second();
    #[cfg(feature = "test-hooks")]
    if let Some(skew) = std::env::var("DUMPVAULT_TEST_CLOCK_SKEW_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        return now + skew;
    }
    now
}

/// A partial file in `.tmp/` is removed only if it was last modified this long before the
/// oldest live lock was taken (and before now): writers that take no lock (`init`, `key add`)
/// write small files within this margin. Seconds.
pub const TEMP_MARGIN_SECS: i64 = 60;

/// The lock files this process holds, by guard, and whether it is stopping on a signal.
struct Registry {
    stopping: bool,
    next: u64,
    held: BTreeMap<u64, (Backend, String)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    stopping: false,
    next: 0,
    held: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Deletes every lock file this process holds and refuses new locks and refreshes from then
/// on: the process is stopping on a signal. Returns how many lock files were deleted (one that
/// cannot be deleted goes stale by itself, as its process is gone). Idempotent.
pub fn remove_held_locks() -> usize {
    let mut reg = registry();
    reg.stopping = true;
    let held = std::mem::take(&mut reg.held);
    held.values()
        .filter(|(backend, path)| backend.delete(path).is_ok())
        .count()
}

/// Removes the partial files that killed writers left in `.tmp/` of a local repository: those
/// last modified more than [`TEMP_MARGIN_SECS`] before the oldest non-stale lock was taken
/// (and before now). A live writer holds its lock from before its first write, so none of its
/// files can be that old. Snapshots call this when they take their lock; prune should call it
/// before it writes anything. Does nothing on remote backends.
///
/// Errors: [`Error::Corrupt`] for a lock file that does not decode (nothing is removed then),
/// storage errors.
pub fn remove_stale_temp_files(repo: &Repository) -> Result<TempCleanup> {
    if !repo.backend().is_local() {
        return Ok(TempCleanup::default());
    }
    let now = now_secs();
    let oldest = list(repo)?
        .into_iter()
        .filter(|(_, l)| !is_stale(l, now))
        .map(|(_, l)| l.created)
        .fold(now, i64::min);
    let cutoff = std::time::UNIX_EPOCH
        + Duration::from_secs(oldest.saturating_sub(TEMP_MARGIN_SECS).max(0) as u64);
    Ok(repo.backend().remove_temp_files_before(cutoff)?)
}

/// Whether process `pid` on this host still runs. Without `/proc` (not Linux) every process is
/// presumed to run, so only the time decides staleness.
fn process_alive(pid: u32) -> bool {
    let proc_dir = std::path::Path::new("/proc");
    !proc_dir.join("self").exists() || proc_dir.join(pid.to_string()).exists()
}

/// Whether `lock` is stale at `now` (seconds since the epoch): not refreshed for
/// [`stale_after_secs`], or held by a process of this host that no longer runs. Another
/// host's lock goes stale by time only: its pid says nothing about this host's processes.
pub fn is_stale(lock: &Lock, now: i64) -> bool {
    if now - lock.time > stale_after_secs() {
        return true;
    }
    lock.host == crate::hostname() && lock.pid != std::process::id() && !process_alive(lock.pid)
}

/// Every lock file with its content.
///
/// A holder refreshes its lock by writing a new file and then deleting the old one, so a
/// listing can name a file that is gone when read while missing its successor: when a listed
/// lock vanished, the listing starts over (up to [`LIST_ATTEMPTS`] times), so that every lock
/// held throughout the call is returned (prune relies on it, rule P3 of `repo-format.md`
/// section 14).
///
/// Errors: [`Error::Corrupt`] for a lock file that does not open or decode (remove it with
/// `dumpvault unlock --remove-all`); [`Error::Locked`] when locks keep vanishing through every
/// attempt; storage errors.
pub fn list(repo: &Repository) -> Result<Vec<(Id, Lock)>> {
    'again: for _ in 0..LIST_ATTEMPTS {
        let mut out = Vec::new();
        for (id, _) in repo.list(FileKind::Lock)? {
            // A lock file that does not read holds no data: `unlock` removes it as stale.
            let remove = "remove it with `dumpvault unlock` (it holds no data)";
            let plain = match repo.load_file(FileKind::Lock, &id) {
                Ok(p) => p,
                Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => continue 'again,
                Err(Error::Corrupt {
                    object,
                    detail,
                    source,
                }) => {
                    return Err(Error::Corrupt {
                        object,
                        detail: format!("{detail}; {remove}"),
                        source,
                    })
                }
                Err(e) => return Err(e),
            };
            let lock: Lock = decode_json(&plain).map_err(|e| {
                Error::corrupt(
                    format!("lock {}", FileKind::Lock.path(&id)),
                    format!("{e}; {remove}"),
                )
            })?;
            out.push((id, lock));
        }
        return Ok(out);
    }
    Err(Error::Locked(format!(
        "the locks of {} kept changing while being read ({LIST_ATTEMPTS} attempts); try again",
        repo.backend().location()
    )))
}

/// How many times [`list`] reads the locks before giving up on a listing that keeps changing.
pub const LIST_ATTEMPTS: usize = 20;

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
    /// Key in the process's registry of held locks.
    token: u64,
}

impl Held {
    /// Writes a refreshed lock, then deletes the previous file (under the registry's lock, so
    /// the interrupt path always sees the current file). Does nothing once the process is
    /// stopping.
    fn refresh(&mut self) -> Result<()> {
        let mut reg = registry();
        if reg.stopping {
            return Ok(());
        }
        let mut lock = self.lock.clone();
        lock.time = now_secs();
        let id = self.repo.save_file(FileKind::Lock, &encode_json(&lock))?;
        let path = FileKind::Lock.path(&id);
        reg.held
            .insert(self.token, (self.repo.backend().clone(), path));
        drop(reg);
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
            pid: lock_pid(),
            time: now,
            created: now,
            command: command.to_string(),
        };
        // Registered under the registry's lock, so an interrupt either sees the file or
        // prevents it.
        let mut reg = registry();
        if reg.stopping {
            return Err(Error::Invalid(format!(
                "no lock taken on {}: the process is stopping on a signal",
                repo.backend().location()
            )));
        }
        let id = repo.save_file(FileKind::Lock, &encode_json(&lock))?;
        let token = reg.next;
        reg.next += 1;
        let path = FileKind::Lock.path(&id);
        reg.held.insert(token, (repo.backend().clone(), path));
        drop(reg);
        let held = Arc::new(Mutex::new(Held {
            repo: repo.clone(),
            id,
            lock,
            token,
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

    /// Takes a shared lock (for a snapshot). Never waits and is never refused by other locks.
    /// On a local repository it first removes the partial files that killed writers left in
    /// `.tmp/` ([`remove_stale_temp_files`], which reads the locks; a failure there only skips
    /// the cleanup).
    ///
    /// Errors: storage errors writing the lock file; [`Error::Invalid`] once the process is
    /// stopping on a signal.
    pub fn shared(repo: &Repository, command: &str) -> Result<Self> {
        let _ = remove_stale_temp_files(repo);
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
        let mut reg = registry();
        // Absent when the interrupt path already deleted it.
        if reg.held.remove(&h.token).is_some() {
            h.repo.backend().delete(&FileKind::Lock.path(&h.id))?;
        }
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
    fn another_hosts_lock_goes_stale_by_time_only_never_by_pid() {
        let now = now_secs();
        let other = format!("{}-elsewhere", crate::hostname());
        // Pids of another host say nothing about this host's processes: a pid that does not
        // run here (above Linux's 2^22) and one that does (ours, init's) are treated alike.
        for pid in [u32::MAX - 1, std::process::id(), 1] {
            assert!(!is_stale(&lock(&other, pid, now), now), "fresh, pid {pid}");
            assert!(
                !is_stale(&lock(&other, pid, now - STALE_AFTER_SECS + 60), now),
                "refreshed 29 minutes ago, pid {pid}"
            );
            assert!(
                is_stale(&lock(&other, pid, now - STALE_AFTER_SECS - 1), now),
                "not refreshed for 30 minutes, pid {pid}"
            );
        }
        // The refresh time decides, not the creation time: a long-held lock that is refreshed
        // stays valid.
        let mut long_held = lock(&other, u32::MAX - 1, now - 10);
        long_held.created = now - 10 * STALE_AFTER_SECS;
        assert!(!is_stale(&long_held, now));
        // A refresh interval is well within the expiry, so a live holder never goes stale.
        assert!(REFRESH_INTERVAL.as_secs() as i64 * 3 < STALE_AFTER_SECS);
    }

    #[test]
    fn another_hosts_stale_lock_does_not_block_prune_and_a_fresh_one_does() {
        let r = repo("other-host");
        let other = format!("{}-elsewhere", crate::hostname());
        let dead = lock(&other, u32::MAX - 1, now_secs() - STALE_AFTER_SECS - 5);
        r.save_file(FileKind::Lock, &encode_json(&dead)).unwrap();
        drop(LockGuard::exclusive(&r, "prune").unwrap());
        let fresh = lock(&other, u32::MAX - 1, now_secs());
        r.save_file(FileKind::Lock, &encode_json(&fresh)).unwrap();
        let err = LockGuard::exclusive(&r, "prune").err().unwrap();
        assert!(matches!(err, Error::Locked(_)), "{err}");
        assert!(err.to_string().contains(&other), "{err}");
        let removed = remove(&r, false).unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].1.as_ref(), Some(&dead));
        assert_eq!(list(&r).unwrap().len(), 1, "the fresh lock stays");
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
