//! The encoder and packer stages of the snapshot pipeline: each new blob is encoded by
//! [`crate::blob::codec`] (as a delta against the candidate base giving the smallest patch
//! within the margin, else whole) and handed to the packer. Must not compress or seal itself,
//! nor assemble packs ([`crate::pack::packer`] does).

use super::{parent, IndexSource, PackSink};
use crate::blob::codec;
use crate::error::Result;
use crate::format::pack::BlobKind;
use crate::id::Id;
use crate::index::Index;
use crate::pack::packer::Packer;
use crate::repository::Repository;
use crossbeam_channel::{Receiver, Sender};

/// A new blob for the encoders.
pub(super) struct Work {
    pub kind: BlobKind,
    pub id: Id,
    pub plain: Vec<u8>,
    /// Candidate delta bases in the order to try (data chunks only; see
    /// [`super::parent::BaseFinder::candidates`]).
    pub bases: Vec<Id>,
}

/// An encoded blob for the packer.
pub(super) struct Sealed {
    kind: BlobKind,
    id: Id,
    raw_length: u32,
    base: Option<Id>,
    bytes: Vec<u8>,
}

/// One encoder thread: encodes blobs from `rx` until it closes or `tx`'s packer stopped.
///
/// The candidate bases ([`offer_bases`]) are patched against and the smallest patch within
/// the margin is kept ([`codec::Chooser`]). A base that cannot be read only costs that attempt:
/// without any usable one the chunk is stored whole (check reports the damage).
pub(super) fn encoder(
    repo: &Repository,
    index: IndexSource<'_>,
    rx: Receiver<Work>,
    tx: Sender<Sealed>,
) {
    let level = repo.config().compression_level;
    let splices = repo.config().splices();
    for w in rx {
        let (bytes, base) = match index.get() {
            Ok(index) if !w.bases.is_empty() => {
                let mut c = codec::Chooser::new(&w.plain, level).with_splices(splices);
                offer_bases(repo, &index, &w.bases, &mut c);
                codec::encode_chosen(repo.key(), c)
            }
            _ => codec::encode(repo.key(), &w.plain, level, None),
        };
        let s = Sealed {
            kind: if base.is_some() {
                BlobKind::Delta
            } else {
                w.kind
            },
            id: w.id,
            raw_length: w.plain.len() as u32,
            base,
            bytes,
        };
        if tx.send(s).is_err() {
            break;
        }
    }
}

/// Offers a new chunk's candidate bases to `c` in the order [`parent::offer_order`] gives
/// (`bases`, then the shallower blobs down the first one's chain). Reads stay what they were
/// when the first paying base was kept: a base not in the repository's base cache is read
/// from its pack only while no base offered so far pays, and only if it is one of `bases`;
/// every other base is offered only when cached (the finder's loads and the chains they
/// decoded put most there), so choosing the smallest patch adds no backend request. Once a
/// patch is small ([`codec::Chooser::settled`]) the rest of `bases` is skipped (on the bench's
/// hourly series the smallest of them saved nothing there, and each patch costs CPU); the
/// blobs down the chain are still offered, for their depth, but only when their patch could
/// be chosen ([`codec::Chooser::worth_deeper`], by the stored size of the delta links between
/// the first base and them).
fn offer_bases(repo: &Repository, index: &Index, bases: &[Id], c: &mut codec::Chooser<'_>) {
    let max = repo.config().max_delta_depth();
    for b in parent::offer_order(index, bases, max) {
        let proposed = bases.contains(&b);
        if proposed && c.settled() {
            continue;
        }
        if !proposed && !c.worth_deeper(parent::links_between(index, bases[0], &b, max)) {
            continue;
        }
        let plain = match crate::pack::reader::cached_base(repo, &b) {
            Some(p) => p,
            None if !c.pays() && proposed => {
                match crate::pack::reader::read_base(repo, index, &b) {
                    Ok(p) => p,
                    Err(_) => continue,
                }
            }
            None => continue,
        };
        c.offer(b, plain, index.delta_depth(&b, max));
    }
}

/// What the packer thread stored.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Packed {
    /// Bytes of packs written by the archiver's own packer (0 for a shared one).
    pub bytes: u64,
    /// Blobs stored as deltas (patches against a base blob).
    pub delta_blobs: u64,
    /// Sealed bytes of those delta blobs.
    pub delta_bytes: u64,
}

impl Packed {
    fn count(&mut self, s: &Sealed) {
        if s.base.is_some() {
            self.delta_blobs += 1;
            self.delta_bytes += s.bytes.len() as u64;
        }
    }
}

/// The packer thread: adds the sealed blobs from `rx` to `sink`; with its own packer, writes
/// the last pack and index file. Returns the bytes of packs written (0 for a shared one) and
/// the delta blobs stored.
///
/// Errors: the first storage error (the encoders then stop sending).
pub(super) fn pack(repo: &Repository, sink: PackSink<'_>, rx: Receiver<Sealed>) -> Result<Packed> {
    let mut packed = Packed::default();
    match sink {
        PackSink::Own => {
            let mut p = Packer::new(repo.clone());
            for s in rx {
                packed.count(&s);
                p.add(s.kind, s.id, s.raw_length, s.base, &s.bytes)?;
            }
            let stats = p.finish()?;
            tracing::info!(
                packs = stats.packs,
                bytes = stats.bytes,
                index_files = stats.index_files.len(),
                "packs written"
            );
            packed.bytes = stats.bytes;
            Ok(packed)
        }
        PackSink::Shared(packer) => {
            for s in rx {
                packed.count(&s);
                packer.add(s.kind, s.id, s.raw_length, s.base, &s.bytes)?;
            }
            Ok(packed)
        }
    }
}
