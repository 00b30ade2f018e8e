//! Read-ahead of the previous stream's chunks for the delta base finder (issue 16: later
//! snapshots). The finder ([`super::parent::BaseFinder::propose`]) loads previous chunks one at
//! a time, in stream order, on the dedup thread, the pipeline's bottleneck: each load is a
//! range read, a decryption, a decompression (for a delta, of its base too) and a keyed hash,
//! about half that thread's time on a later snapshot of a dump with scattered churn.
//!
//! A writer stores a stream's new blobs in stream order, so the chunks that follow a previous
//! chunk in the previous stream mostly follow it in its pack too. On each load, [`ReadAhead`]
//! reads the pack's header (once per pack) and hands the next [`AHEAD`] data and delta blobs
//! after the loaded one to worker threads, which read them through
//! [`crate::pack::reader::read_base`] into the repository's base cache, where the finder's next
//! loads (and the encoders) find them. It only moves work between threads: the plaintext a load
//! returns is what [`crate::pack::reader::read_base`] returns, so the chosen bases and the
//! stored bytes are as without it. Must not decide which chunks are loaded (the finder does).

use crate::error::{Error, Result};
use crate::format::pack::{decode_header, BlobKind, TRAILER_LEN};
use crate::id::Id;
use crate::index::Index;
use crate::pack::reader::read_base;
use crate::repository::{FileKind, Repository};
use crossbeam_channel::{bounded, Sender};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

/// Blobs read ahead after each loaded one (about 512 KiB of 64 KiB chunks, a few percent of
/// the base cache).
pub const AHEAD: usize = 8;
/// Blobs handed to a worker at once (at least; fewer at a pack's end): a worker is woken once
/// per batch, not once per blob (each wake-up is a system call and a context switch).
pub const BATCH: usize = AHEAD / 2;
/// Worker threads reading ahead.
pub const WORKERS: usize = 2;
/// Pack orders kept, the most recently used: loads follow the previous stream, which its
/// writer stored in stream order, so they move on from pack to pack. A pack left behind and
/// loaded from again has its header read again. Bounds the read-ahead's memory by the size
/// of a few packs' headers, not of the previous stream (issue 16: 9 MB at a 4 GiB dump).
pub const ORDERS_KEPT: usize = 8;

/// The data and delta blobs of one pack in pack order, each one's place in that order, and
/// which of them were handed to the workers (not again).
struct PackOrder {
    ids: Vec<Id>,
    at: HashMap<Id, usize>,
    issued: Vec<bool>,
}

/// Blobs handed to the workers and not yet read: queued, or being read.
#[derive(Default)]
struct Pending {
    queued: HashSet<Id>,
    reading: HashSet<Id>,
    /// Whether the loader waits for a blob being read (workers then signal each one done).
    waiting: bool,
}

/// State shared with the workers.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled whenever a worker finishes a blob.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The finder's loader with read-ahead: see the module notes. Dropping it stops its workers
/// (after the blob each is reading).
pub struct ReadAhead<'a> {
    repo: &'a Repository,
    index: &'a Index,
    shared: Arc<Shared>,
    tx: Option<Sender<Vec<Id>>>,
    /// Pack sizes in bytes (made on the first header read).
    sizes: Option<HashMap<Id, u64>>,
    /// Per pack loaded from last (at most [`ORDERS_KEPT`], the latest at the back): its blob
    /// order, or `None` when its header cannot be read (no read-ahead).
    orders: VecDeque<(Id, Option<PackOrder>)>,
    /// Whether dropping lets the workers read what is queued ([`ReadAhead::finish`]).
    drain: bool,
}

/// A worker's part of the read-ahead: reads each blob of `batch` that is still queued (not
/// taken over by the loader meanwhile, which then reads it itself) into the base cache, and
/// wakes a loader waiting for it.
fn read_batch(repo: &Repository, index: &Index, shared: &Shared, batch: Vec<Id>) {
    for id in batch {
        {
            let mut p = shared.lock();
            if !p.queued.remove(&id) {
                continue;
            }
            p.reading.insert(id);
        }
        // An unreadable blob only costs the read-ahead: the load reports nothing either (the
        // finder then matches nothing in it).
        let _ = read_base(repo, index, &id);
        let mut p = shared.lock();
        p.reading.remove(&id);
        if p.waiting {
            shared.done.notify_all();
        }
    }
}

impl<'a> ReadAhead<'a> {
    /// A loader for `repo` with `index`, whose [`WORKERS`] workers run in `scope`.
    pub fn start<'s>(
        scope: &'s std::thread::Scope<'s, '_>,
        repo: &'a Repository,
        index: &'a Index,
    ) -> Self
    where
        'a: 's,
    {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = bounded::<Vec<Id>>(WORKERS * 2);
        for _ in 0..WORKERS {
            let (rx, shared) = (rx.clone(), shared.clone());
            scope.spawn(move || {
                for batch in rx {
                    // The batch's delta chains in range reads, not a link at a time.
                    crate::pack::reader::prefetch_chains(repo, index, &batch);
                    read_batch(repo, index, &shared, batch);
                }
            });
        }
        ReadAhead {
            repo,
            index,
            shared,
            tx: Some(tx),
            sizes: None,
            orders: VecDeque::new(),
            drain: false,
        }
    }

    /// The plaintext of previous chunk `id` (as [`read_base`] gives it; `None` when it cannot
    /// be read), after handing the blobs that follow it in its pack to the workers. Waits for
    /// a worker already reading `id`; takes over one only queued.
    pub fn load(&mut self, id: &Id) -> Option<Arc<Vec<u8>>> {
        self.read_ahead_of(id);
        {
            let mut p = self.shared.lock();
            p.queued.remove(id);
            while p.reading.contains(id) {
                p.waiting = true;
                p = self.shared.done.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            p.waiting = false;
        }
        read_base(self.repo, self.index, id).ok()
    }

    /// Hands the next [`AHEAD`] blobs after `id` in its pack, not cached nor handed out
    /// before, to a worker, once there are [`BATCH`] of them or the pack ends (without
    /// waiting: a full queue skips them).
    fn read_ahead_of(&mut self, id: &Id) {
        let Some((pack, _)) = self.index.get(id) else {
            return;
        };
        match self.orders.iter().position(|(p, _)| *p == pack) {
            Some(i) if i + 1 == self.orders.len() => {}
            Some(i) => {
                let kept = self.orders.remove(i).expect("a position just found");
                self.orders.push_back(kept);
            }
            None => {
                let order = self.pack_order(&pack).ok();
                if self.orders.len() >= ORDERS_KEPT {
                    self.orders.pop_front();
                }
                self.orders.push_back((pack, order));
            }
        }
        let Some((_, Some(order))) = self.orders.back_mut() else {
            return;
        };
        let Some(&at) = order.at.get(id) else {
            return;
        };
        let ends = at + 1 + AHEAD >= order.ids.len();
        let cache = self.repo.base_cache();
        let next: Vec<Id> = (order.ids.iter().zip(&order.issued))
            .skip(at + 1)
            .take(AHEAD)
            .filter(|(b, issued)| !**issued && !cache.contains(b))
            .map(|(b, _)| *b)
            .collect();
        let Some(tx) = &self.tx else { return };
        if next.is_empty() || (next.len() < BATCH && !ends) {
            return;
        }
        self.shared.lock().queued.extend(next.iter().copied());
        match tx.try_send(next) {
            Ok(()) => {}
            Err(e) => {
                let mut p = self.shared.lock();
                for b in e.into_inner() {
                    p.queued.remove(&b);
                }
                return;
            }
        }
        let Some((_, Some(order))) = self.orders.back_mut() else {
            return;
        };
        let end = (at + 1 + AHEAD).min(order.issued.len());
        order.issued[at + 1..end].fill(true);
    }

    /// The data and delta blobs of `pack` in pack order, from its header (two range reads).
    ///
    /// Errors: storage errors; [`Error::Corrupt`] for a damaged trailer or header.
    fn pack_order(&mut self, pack: &Id) -> Result<PackOrder> {
        let sizes =
            (self.sizes).get_or_insert_with(|| self.index.packs().iter().copied().collect());
        let size = *sizes
            .get(pack)
            .ok_or_else(|| Error::Invalid(format!("pack {pack} not in the index")))?;
        let corrupt = |what: &str| Error::corrupt(format!("pack {pack}"), what.to_string());
        let path = FileKind::Pack.path(pack);
        let trailer_at = size
            .checked_sub(TRAILER_LEN as u64)
            .ok_or_else(|| corrupt("shorter than its trailer"))?;
        let backend = self.repo.backend();
        let trailer = backend.read_range(&path, trailer_at, TRAILER_LEN as u64)?;
        let hlen = u32::from_le_bytes(trailer[..].try_into().map_err(|_| corrupt("trailer"))?);
        let header_at = (trailer_at)
            .checked_sub(u64::from(hlen))
            .ok_or_else(|| corrupt("header length exceeds the pack"))?;
        let sealed = backend.read_range(&path, header_at, u64::from(hlen))?;
        let plain = (self.repo.key().open(&sealed)).map_err(|_| corrupt("header does not open"))?;
        let blobs = decode_header(&plain).map_err(|e| corrupt(&e.to_string()))?;
        let ids: Vec<Id> = (blobs.iter())
            .filter(|b| b.kind != BlobKind::List)
            .map(|b| Id(b.id))
            .collect();
        let at = ids.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        let issued = vec![false; ids.len()];
        Ok(PackOrder { ids, at, issued })
    }
}

impl ReadAhead<'_> {
    /// Stops the workers once they have read every queued blob (dropping skips those): when
    /// the scope [`ReadAhead::start`] got has ended, they are in the base cache.
    #[cfg(test)]
    pub fn finish(mut self) {
        self.drain = true;
    }
}

impl Drop for ReadAhead<'_> {
    fn drop(&mut self) {
        // Closing the channel ends the workers; unless draining, what is still queued is not
        // read (the stream has ended: nothing will load it).
        if !self.drain {
            self.shared.lock().queued.clear();
        }
        self.tx.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Backend;
    use crate::commands::snapshot::{self, SnapshotOptions};
    use crate::crypto::kdf::KdfParams;
    use crate::format::config::ChunkerParams;
    use crate::index::SharedIndex;
    use crate::progress::NoProgress;
    use crate::repository::InitOptions;
    use crate::source::stdin::ReaderSource;
    use crate::source::DumpSource;
    use crate::stream::{Node, Walk};

    /// A repository with small chunks holding one snapshot of dump-like text in packs of
    /// about `pack_size` bytes, and its data chunk ids in stream order.
    fn stored(pack_size: u64) -> (Repository, Vec<Id>) {
        let backend = Backend::open(&format!("memory://ahead-{pack_size}")).unwrap();
        let opts = InitOptions {
            kdf: KdfParams::with_cost(64, 1, 1),
            chunker: ChunkerParams {
                min_size: 256,
                avg_size: 1024,
                max_size: 4096,
                normalization: 1,
            },
            pack_size,
            ..Default::default()
        };
        let repo = Repository::init(backend, b"pw", opts).unwrap();
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{i}\tname {}\n", i.wrapping_mul(2_654_435_761)).into_bytes())
            .collect();
        let src: Box<dyn DumpSource> = Box::new(ReaderSource::new(std::io::Cursor::new(text)));
        let shared = SharedIndex::start(&repo, "snapshot").unwrap();
        let o = snapshot::run(
            &repo,
            &shared,
            vec![("d".into(), src)],
            &SnapshotOptions::default(),
            &NoProgress,
        )
        .unwrap();
        drop(shared);
        let index = Index::load(&repo).unwrap();
        let root = Id(o.manifest.streams[0].root);
        let ids = (Walk::of(&repo, &index, root))
            .filter_map(|n| match n.unwrap() {
                Node::Chunk(c) => Some(c.id),
                _ => None,
            })
            .collect();
        (repo, ids)
    }

    /// Issue 16 (later snapshots): loading a previous chunk reads the chunks that follow it in
    /// its pack on the workers, into the base cache; every load returns the chunk's plaintext,
    /// whether a worker read it, is reading it, or only queued it.
    #[test]
    fn a_load_reads_the_following_chunks_ahead_and_every_load_is_the_chunk() {
        let (repo, ids) = stored(InitOptions::default().pack_size);
        assert!(ids.len() > 4 * AHEAD, "{} chunks", ids.len());
        let index = Index::load(&repo).unwrap();
        let want = |id: &Id| crate::pack::reader::read_blob(&repo, &index, id).unwrap();
        // Read ahead only: a load puts the next AHEAD chunks of its pack in the cache (the
        // pack order is about the stream order: two encoders may swap neighbours).
        let fresh = Repository::open(repo.backend().clone(), b"pw").unwrap();
        let order = std::thread::scope(|s| {
            let mut ahead = ReadAhead::start(s, &fresh, &index);
            let pack = index.get(&ids[0]).unwrap().0;
            let order = ahead.pack_order(&pack).unwrap().ids;
            assert_eq!(order.len(), ids.len());
            assert_eq!(*ahead.load(&order[0]).unwrap(), want(&order[0]));
            ahead.finish();
            order
        });
        for id in &order[1..=AHEAD] {
            assert_eq!(*fresh.base_cache().get(id).expect("read ahead").0, want(id));
        }
        assert!(fresh.base_cache().get(&order[AHEAD + 1]).is_none());
        // Loads racing the workers, in stream order and out of it: always the chunk.
        let fresh = Repository::open(repo.backend().clone(), b"pw").unwrap();
        std::thread::scope(|s| {
            let mut ahead = ReadAhead::start(s, &fresh, &index);
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.swap(3, 20);
            for i in order {
                assert_eq!(*ahead.load(&ids[i]).unwrap(), want(&ids[i]), "chunk {i}");
            }
            assert!(ahead.load(&Id([7; 32])).is_none());
        });
    }

    /// Issue 16 (later snapshots): the read-ahead keeps the orders of the last
    /// [`ORDERS_KEPT`] packs it loaded from, not of every pack of the previous stream, and
    /// every load is still the chunk, also from a pack whose order it dropped.
    #[test]
    fn only_the_last_packs_orders_are_kept() {
        let (repo, ids) = stored(4096);
        let index = Index::load(&repo).unwrap();
        let packs: HashSet<Id> = ids.iter().map(|id| index.get(id).unwrap().0).collect();
        assert!(packs.len() > 2 * ORDERS_KEPT, "{} packs", packs.len());
        let want = |id: &Id| crate::pack::reader::read_blob(&repo, &index, id).unwrap();
        let fresh = Repository::open(repo.backend().clone(), b"pw").unwrap();
        std::thread::scope(|s| {
            let mut ahead = ReadAhead::start(s, &fresh, &index);
            // Forward through the stream, then its first chunks again.
            for id in ids.iter().chain(&ids[..AHEAD]) {
                assert_eq!(*ahead.load(id).unwrap(), want(id));
                assert!(ahead.orders.len() <= ORDERS_KEPT);
            }
            let last = index.get(&ids[AHEAD - 1]).unwrap().0;
            assert_eq!(ahead.orders.back().map(|o| o.0), Some(last));
        });
    }
}
