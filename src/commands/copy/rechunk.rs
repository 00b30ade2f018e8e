//! Copy by re-chunking, for repositories with unrelated keys or chunker parameters: each stream
//! is restored from the source (verified against its BLAKE3) and cut, named, compressed and
//! sealed with the target's chunker and keys, as a snapshot into the target would be.
//! Must not compress or seal itself ([`crate::blob::codec`] does) nor assemble packs.

use super::upload::Uploader;
use super::Counts;
use crate::blob::codec;
use crate::chunker::chunks;
use crate::commands::restore;
use crate::commands::snapshots::SnapshotEntry;
use crate::error::{Error, Result};
use crate::format::list::ListEntry;
use crate::format::pack::BlobKind;
use crate::format::snapshot::{Manifest, StreamRef};
use crate::id::Id;
use crate::index::Index;
use crate::progress::{NoProgress, Progress};
use crate::repository::Repository;
use crate::stream::ListWriter;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::sync::Mutex;

/// Pieces of restored stream in flight between the restore thread and the chunker.
const PIPE_DEPTH: usize = 64;
/// New blobs in flight to the compression workers.
const WORK_QUEUE: usize = 64;

/// The restore side of the in-process pipe.
struct PipeWriter(Sender<Vec<u8>>);

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The chunker side of the in-process pipe: end of file when the restore side is done.
struct PipeReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Re-chunks every stream of source snapshot `entry` into the target; returns the manifest to
/// write (the caller checkpoints the uploader first) and the blobs transferred.
///
/// Errors: the restore's error (damaged source data, by name) or a stream whose restored bytes
/// do not match its recorded BLAKE3; storage errors. No manifest is written then.
#[allow(clippy::too_many_arguments)]
pub(super) fn copy_snapshot(
    from: &Repository,
    from_index: &Index,
    entry: &SnapshotEntry,
    to: &Repository,
    to_index: &Index,
    queued: &mut HashSet<Id>,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<(Manifest, Counts)> {
    let mut manifest = entry.manifest.clone();
    let mut counts = Counts::default();
    let mut chunks_total = 0;
    for stream in &mut manifest.streams {
        let (root, chunks, c) = copy_stream(
            from, from_index, &entry.id, stream, to, to_index, queued, uploader, progress,
        )?;
        stream.root = root.0;
        stream.chunks = chunks;
        chunks_total += chunks;
        counts.blobs += c.blobs;
        counts.data_chunks += c.data_chunks;
    }
    manifest.summary.chunks = chunks_total;
    Ok((manifest, counts))
}

struct Work {
    kind: BlobKind,
    id: Id,
    plain: Vec<u8>,
}

/// Returns (root list blob, data chunks, blobs transferred).
#[allow(clippy::too_many_arguments)]
fn copy_stream(
    from: &Repository,
    from_index: &Index,
    snapshot: &Id,
    stream: &StreamRef,
    to: &Repository,
    to_index: &Index,
    queued: &mut HashSet<Id>,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<(Id, u64, Counts)> {
    let (pipe_tx, pipe_rx) = bounded::<Vec<u8>>(PIPE_DEPTH);
    let (work_tx, work_rx) = bounded::<Work>(WORK_QUEUE);
    let level = to.config().compression_level;
    let upload_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        let restore = s.spawn(move || {
            let mut w = PipeWriter(pipe_tx);
            restore::run(
                from,
                from_index,
                snapshot,
                stream,
                None,
                &mut w,
                &NoProgress,
            )
        });
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..workers {
            let rx = work_rx.clone();
            let upload_error = &upload_error;
            s.spawn(move || {
                for w in rx {
                    let sealed = codec::encode_whole(to.key(), &w.plain, level);
                    if let Err(e) = uploader.add(w.kind, w.id, w.plain.len() as u32, None, &sealed)
                    {
                        upload_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        let chunked = chunk_stream(
            to,
            to_index,
            queued,
            pipe_rx,
            &work_tx,
            progress,
            &upload_error,
        );
        drop(work_tx);
        let restored = restore.join().expect("restore thread panicked");
        // The source's error first: it explains why the chunker saw a short stream.
        restored?;
        if let Some(e) = upload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        let (root, chunks, counts, size, hash) = chunked?;
        if size != stream.size || hash != stream.blake3 {
            return Err(Error::corrupt(
                format!(
                    "source snapshot {} stream {}",
                    snapshot.short(),
                    stream.name
                ),
                "re-chunked data does not match the recorded BLAKE3 hash",
            ));
        }
        Ok((root, chunks, counts))
    })
}

type Chunked = (Id, u64, Counts, u64, [u8; 32]);

/// Chunks the restored stream with the target's parameters; new blobs go to the workers.
fn chunk_stream(
    to: &Repository,
    to_index: &Index,
    queued: &mut HashSet<Id>,
    rx: Receiver<Vec<u8>>,
    work: &Sender<Work>,
    progress: &dyn Progress,
    upload_error: &Mutex<Option<Error>>,
) -> Result<Chunked> {
    let reader = PipeReader {
        rx,
        buf: Vec::new(),
        pos: 0,
    };
    let key = to.key();
    let mut hasher = blake3::Hasher::new();
    let mut list = ListWriter::new();
    let (mut chunks_n, mut size) = (0u64, 0u64);
    let mut counts = Counts::default();
    let stopped = || {
        upload_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Error::Invalid("copy pipeline stopped".into()))
    };
    let mut store = |kind: BlobKind, id: Id, plain: Vec<u8>| -> Result<()> {
        if to_index.contains(&id) {
            counts.relied.extend(to_index.chain_packs(&id));
        } else if queued.insert(id) {
            counts.blobs += 1;
            if kind == BlobKind::Data {
                counts.data_chunks += 1;
            }
            work.send(Work { kind, id, plain }).map_err(|_| stopped())?;
        }
        Ok(())
    };
    for chunk in chunks(reader, &to.config().chunker, key.chunker_seed()) {
        let chunk = chunk.map_err(|e| Error::io("re-chunking the restored stream", e))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        chunks_n += 1;
        progress.inc(chunk.len() as u64);
        let id = key.blob_id(&chunk);
        let entry = ListEntry {
            id: id.0,
            size: chunk.len() as u64,
        };
        store(BlobKind::Data, id, chunk)?;
        list.push(entry, &mut |plain| {
            let lid = key.blob_id(&plain);
            store(BlobKind::List, lid, plain)?;
            Ok(lid)
        })?;
    }
    let root = list.finish(&mut |plain| {
        let lid = key.blob_id(&plain);
        store(BlobKind::List, lid, plain)?;
        Ok(lid)
    })?;
    Ok((root, chunks_n, counts, size, *hasher.finalize().as_bytes()))
}
