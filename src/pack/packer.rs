//! Collects sealed blobs into packs of about the configured size, writes each pack, and writes
//! index files for the written packs: every few minutes (a checkpoint, so an interrupted snapshot
//! need not upload again what it stored) and at the end.

use crate::error::Result;
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::{encode_header, BlobKind, PackBlob};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::time::{Duration, Instant};

/// How often the packer writes an index file for the packs written so far.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// What a packer wrote.
#[derive(Debug, Default, Clone)]
pub struct PackerStats {
    /// Packs written.
    pub packs: u64,
    /// Bytes written to packs (blobs and headers), bytes.
    pub bytes: u64,
    /// Index files written.
    pub index_files: Vec<Id>,
}

/// Builds packs. Not thread-safe; one per writing thread.
pub struct Packer {
    repo: Repository,
    buf: Vec<u8>,
    blobs: Vec<PackBlob>,
    done: Vec<IndexPack>,
    last_checkpoint: Instant,
    stats: PackerStats,
    /// Whether this packer writes index files (checkpoints and at `finish`).
    index_files: bool,
}

impl Packer {
    /// A packer writing into `repo`.
    pub fn new(repo: Repository) -> Self {
        Packer {
            repo,
            buf: Vec::new(),
            blobs: Vec::new(),
            done: Vec::new(),
            last_checkpoint: Instant::now(),
            stats: PackerStats::default(),
            index_files: true,
        }
    }

    /// A packer that writes packs only, no index files (prune lists the packs in its own
    /// index file); finish it with [`Packer::finish_packs`].
    pub fn without_index_files(repo: Repository) -> Self {
        Packer {
            index_files: false,
            ..Packer::new(repo)
        }
    }

    /// Appends one sealed blob (`base`: the base of a [`BlobKind::Delta`], else `None`);
    /// writes the pack when it reached the target size.
    pub fn add(
        &mut self,
        kind: BlobKind,
        id: Id,
        raw_length: u32,
        base: Option<Id>,
        sealed: &[u8],
    ) -> Result<()> {
        self.blobs.push(PackBlob {
            kind,
            id: id.0,
            offset: self.buf.len() as u32,
            length: sealed.len() as u32,
            raw_length,
            base: base.map(|b| b.0),
        });
        self.buf.extend_from_slice(sealed);
        if self.buf.len() as u64 >= self.repo.config().pack_size {
            self.flush_pack()?;
        }
        Ok(())
    }

    /// Writes the open pack, if it holds any blob.
    pub fn flush_pack(&mut self) -> Result<()> {
        if self.blobs.is_empty() {
            return Ok(());
        }
        let header = self.repo.key().seal(&encode_header(&self.blobs));
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        let id = Id::hash(&bytes);
        let size = bytes.len() as u64;
        self.repo
            .backend()
            .write(&FileKind::Pack.path(&id), bytes)?;
        self.stats.packs += 1;
        self.stats.bytes += size;
        self.done.push(IndexPack {
            id: id.0,
            size,
            blobs: std::mem::take(&mut self.blobs),
        });
        if self.index_files && self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            self.write_index()?;
        }
        Ok(())
    }

    /// Writes an index file for the packs written since the last one.
    pub fn write_index(&mut self) -> Result<()> {
        self.last_checkpoint = Instant::now();
        if self.done.is_empty() {
            return Ok(());
        }
        let file = IndexFile {
            packs: std::mem::take(&mut self.done),
            ..Default::default()
        };
        let id = self.repo.save_index_file(&file)?;
        self.stats.index_files.push(id);
        Ok(())
    }

    /// Writes the last pack and returns the packs written since the last index file, without
    /// writing one. Every returned pack is durable.
    pub fn finish_packs(mut self) -> Result<(Vec<IndexPack>, PackerStats)> {
        self.flush_pack()?;
        Ok((std::mem::take(&mut self.done), self.stats))
    }

    /// Writes the last pack and the last index file.
    pub fn finish(mut self) -> Result<PackerStats> {
        self.flush_pack()?;
        self.write_index()?;
        Ok(self.stats)
    }
}
