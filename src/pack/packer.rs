//! The one packer: collects sealed blobs into packs of about the configured size, writes each
//! pack, and writes index files for the written packs, so that a pack's layout (blobs, sealed
//! header, trailer) is assembled in exactly one place, [`OpenPack::close`].
//!
//! Two sinks: [`Packer`] writes each pack on the calling thread and an index file every few
//! minutes (a checkpoint, so an interrupted snapshot need not upload again what it stored) and
//! at the end; [`crate::pack::parallel::ParallelPacker`] writes packs on several upload threads, for
//! `copy`. Must not compress, seal or open blob payloads (that is [`crate::blob::codec`]).

use crate::crypto::MasterKey;
use crate::error::Result;
use crate::format::index::{IndexFile, IndexPack};
use crate::format::pack::{encode_header, BlobKind, PackBlob};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use std::time::{Duration, Instant};

/// A pack being assembled: sealed blobs back to back, and their header entries.
#[derive(Debug, Default)]
pub struct OpenPack {
    buf: Vec<u8>,
    blobs: Vec<PackBlob>,
}

/// A pack ready to write: its id (the hash of `bytes`), its bytes, and its index entry.
pub struct ClosedPack {
    /// The pack's id: the hash of its bytes.
    pub id: Id,
    /// The whole pack: blobs, sealed header, trailer.
    pub bytes: Vec<u8>,
    /// The pack's index entry (size in bytes, blobs).
    pub entry: IndexPack,
}

impl OpenPack {
    /// Appends one sealed blob (`raw_length`: plaintext bytes; `base`: the base of a
    /// [`BlobKind::Delta`], else `None`).
    pub fn push(
        &mut self,
        kind: BlobKind,
        id: Id,
        raw_length: u32,
        base: Option<Id>,
        sealed: &[u8],
    ) {
        self.blobs.push(PackBlob {
            kind,
            id: id.0,
            offset: self.buf.len() as u32,
            length: sealed.len() as u32,
            raw_length,
            base: base.map(|b| b.0),
        });
        self.buf.extend_from_slice(sealed);
    }

    /// Bytes of blobs appended so far.
    pub fn len(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Whether no blob was appended since the last close.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Closes the pack: appends the header sealed with `key` and the trailer (the sealed
    /// header's length, u32 little endian; repo-format.md section 7) and leaves this pack empty.
    /// `None` when it holds no blob.
    pub fn close(&mut self, key: &MasterKey) -> Option<ClosedPack> {
        if self.blobs.is_empty() {
            return None;
        }
        let header = key.seal(&encode_header(&self.blobs));
        let mut bytes = std::mem::take(&mut self.buf);
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        let id = Id::hash(&bytes);
        let entry = IndexPack {
            id: id.0,
            size: bytes.len() as u64,
            blobs: std::mem::take(&mut self.blobs),
        };
        Some(ClosedPack { id, bytes, entry })
    }
}

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
    open: OpenPack,
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
            open: OpenPack::default(),
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
        self.open.push(kind, id, raw_length, base, sealed);
        if self.open.len() >= self.repo.config().pack_size {
            self.flush_pack()?;
        }
        Ok(())
    }

    /// Writes the open pack, if it holds any blob.
    pub fn flush_pack(&mut self) -> Result<()> {
        let Some(pack) = self.open.close(self.repo.key()) else {
            return Ok(());
        };
        let size = pack.entry.size;
        (self.repo.backend()).cache_blobs_of_pack(&pack.entry.blobs, &pack.bytes);
        self.repo
            .backend()
            .write(&FileKind::Pack.path(&pack.id), pack.bytes)?;
        self.stats.packs += 1;
        self.stats.bytes += size;
        self.done.push(pack.entry);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::{decode_header, split_trailer};

    #[test]
    fn a_closed_pack_reads_back_through_its_trailer_and_header() {
        let key = MasterKey::generate();
        let mut open = OpenPack::default();
        assert!(open.close(&key).is_none());
        let (a, b) = (key.seal(b"first blob"), key.seal(b"second"));
        open.push(BlobKind::Data, Id([1; 32]), 10, None, &a);
        open.push(BlobKind::Delta, Id([2; 32]), 6, Some(Id([1; 32])), &b);
        assert_eq!(open.len(), (a.len() + b.len()) as u64);
        let pack = open.close(&key).expect("two blobs");
        assert!(open.is_empty());
        assert_eq!(open.len(), 0);
        assert_eq!(pack.id, Id::hash(&pack.bytes));
        assert_eq!(pack.entry.size, pack.bytes.len() as u64);
        let (area, sealed) = split_trailer(&pack.bytes).unwrap();
        assert_eq!(area, a.len() + b.len());
        let blobs = decode_header(&key.open(sealed).unwrap()).unwrap();
        assert_eq!(blobs, pack.entry.blobs);
        assert_eq!(
            (blobs[1].offset, blobs[1].length),
            (a.len() as u32, b.len() as u32)
        );
        assert_eq!(blobs[1].base, Some([1; 32]));
        let at = blobs[0].offset as usize;
        assert_eq!(&pack.bytes[at..at + a.len()], &a[..]);
    }
}
