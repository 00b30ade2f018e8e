//! Copy by re-chunking, for repositories with unrelated keys or chunker parameters: each stream
//! is restored from the source (verified against its BLAKE3) into the one snapshot pipeline,
//! [`crate::archive::Archiver`], which cuts, names, compresses and seals it with the target's
//! chunker and keys, as a snapshot into the target would (without delta bases or a table scan:
//! the manifest keeps the source's sections). Must not compress or seal itself, nor assemble
//! packs.

use super::blobs::Ends;
use super::upload::Uploader;
use super::Counts;
use crate::archive::{Archived, Archiver, IndexSource, PackSink, Scan};
use crate::commands::restore;
use crate::commands::snapshots::SnapshotEntry;
use crate::error::{Error, Result};
use crate::format::snapshot::{Manifest, StreamRef};
use crate::id::Id;
use crate::progress::{NoProgress, Progress};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::HashSet;
use std::io::{Read, Write};

/// Pieces of restored stream in flight between the restore thread and the chunker.
const PIPE_DEPTH: usize = 64;

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
/// write (the caller checkpoints the uploader first) and the blobs transferred, with the target
/// packs the manifest relies on (rule W4).
///
/// Errors: the restore's error (damaged source data, by name) or a stream whose restored bytes
/// do not match its recorded BLAKE3; storage errors. No manifest is written then.
pub(super) fn copy_snapshot(
    ends: &Ends<'_>,
    entry: &SnapshotEntry,
    queued: &mut HashSet<Id>,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<(Manifest, Counts)> {
    let mut manifest = entry.manifest.clone();
    let mut counts = Counts::default();
    let mut chunks_total = 0;
    for stream in &mut manifest.streams {
        let stored = copy_stream(ends, &entry.id, stream, queued, uploader, progress)?;
        stream.root = stored.stream.root;
        stream.chunks = stored.stream.chunks;
        chunks_total += stored.stream.chunks;
        counts.blobs += stored.new_blobs;
        counts.data_chunks += stored.new_data_chunks;
        counts.relied.extend(stored.relied);
    }
    manifest.summary.chunks = chunks_total;
    Ok((manifest, counts))
}

/// Restores `stream` of source snapshot `snapshot` into the archiver, chunked with the
/// target's parameters; new blobs go to `uploader`.
fn copy_stream(
    ends: &Ends<'_>,
    snapshot: &Id,
    stream: &StreamRef,
    queued: &mut HashSet<Id>,
    uploader: &Uploader,
    progress: &dyn Progress,
) -> Result<Archived> {
    let (pipe_tx, pipe_rx) = bounded::<Vec<u8>>(PIPE_DEPTH);
    let archiver = Archiver {
        repo: ends.to,
        index: IndexSource::Loaded(ends.to_index),
        parent: None,
        scan: Scan::Off,
        sink: PackSink::Shared(uploader),
        progress,
        reading: "re-chunking the restored stream".into(),
    };
    let (from, from_index) = (ends.from, ends.from_index);
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
        let reader = PipeReader {
            rx: pipe_rx,
            buf: Vec::new(),
            pos: 0,
        };
        let stored = archiver.archive(stream.name.clone(), reader, queued);
        let restored = restore.join().expect("restore thread panicked");
        // The source's error first: it explains why the chunker saw a short stream.
        restored?;
        let stored = stored?;
        if stored.stream.size != stream.size || stored.stream.blake3 != stream.blake3 {
            return Err(Error::corrupt(
                format!(
                    "source snapshot {} stream {}",
                    snapshot.short(),
                    stream.name
                ),
                "re-chunked data does not match the recorded BLAKE3 hash",
            ));
        }
        Ok(stored)
    })
}
