//! Pack-level inspection shared by `check`, `repair` and `verify`: the index as the union of the
//! readable index files (a damaged index file is reported, not fatal), a pack's header read
//! with two small range reads, and a pack read in full with every indexed blob opened.
//! Must not decode blobs itself: opening and decompressing is [`crate::blob::codec`]'s.

use crate::backend::ErrorClass;
use crate::blob::codec;
use crate::error::{Error, Result};
use crate::format::index::IndexFile;
use crate::format::pack::BlobKind;
use crate::format::pack::{decode_header, PackBlob, TRAILER_LEN};
use crate::id::Id;
use crate::index::{superseded, Index, Location};
use crate::pack::reader::{open_entry, prefetch_bases, read_base};
use crate::repository::{FileKind, Repository};

/// The index built from every readable index file.
pub struct LoadedIndex {
    /// The union of the readable, non-superseded index files.
    pub index: Index,
    /// The readable, non-superseded index files.
    pub files: Vec<(Id, IndexFile)>,
    /// Index files that could not be read or decoded, with the error (naming the file).
    pub damaged: Vec<(Id, Error)>,
}

/// Loads the index like [`Index::load`], but skips index files that are damaged (they are
/// returned in [`LoadedIndex::damaged`]) and ones that vanished while listing (a concurrent
/// prune replaced them).
///
/// For readers only (check, restore, verify): every blob they use is verified anyway, so a
/// missing index file at worst makes some blobs unfindable. Writers that delete data must
/// not use it: a skipped file's packs would look unreferenced.
///
/// Errors: storage errors other than "not found".
pub fn load_index_lenient(repo: &Repository) -> Result<LoadedIndex> {
    let mut files = Vec::new();
    let mut damaged = Vec::new();
    for (id, _) in repo.list(FileKind::Index)? {
        match repo.load_index_file(&id) {
            Ok(f) => files.push((id, f)),
            Err(Error::Backend(e)) if e.class == ErrorClass::NotFound => {}
            Err(e @ (Error::Corrupt { .. } | Error::UnsupportedVersion { .. })) => {
                damaged.push((id, e))
            }
            Err(e) => return Err(e),
        }
    }
    let gone = superseded(&files);
    files.retain(|(id, _)| !gone.contains(id));
    let index = Index::from_files(repo, &files)?;
    Ok(LoadedIndex {
        index,
        files,
        damaged,
    })
}

/// `pack data/ab/ab12…`: how packs are named in messages.
pub fn pack_object(pack: &Id) -> String {
    format!("pack {}", FileKind::Pack.path(pack))
}

/// Opens and decodes a sealed pack header and checks every entry lies inside the blob area
/// (`blob_area` bytes). `what` names the pack in errors.
fn open_header(
    repo: &Repository,
    what: &str,
    blob_area: u64,
    sealed: &[u8],
) -> Result<Vec<PackBlob>> {
    let plain = repo
        .key()
        .open(sealed)
        .map_err(|e| Error::corrupt(what, format!("header: {e}")))?;
    let blobs = decode_header(&plain).map_err(|e| Error::corrupt(what, format!("header {e}")))?;
    for b in &blobs {
        if b.offset as u64 + b.length as u64 > blob_area {
            return Err(Error::corrupt(
                what,
                format!(
                    "header entry for blob {} points past the blob area",
                    Id(b.id).short()
                ),
            ));
        }
    }
    Ok(blobs)
}

/// Reads the header of pack `pack`, `size` bytes long, with two range reads (trailer, then
/// header). Does not verify the pack's name.
///
/// Errors: [`Error::Corrupt`] naming the pack when the trailer or header is damaged; storage
/// errors.
pub fn read_header(repo: &Repository, pack: &Id, size: u64) -> Result<Vec<PackBlob>> {
    let path = FileKind::Pack.path(pack);
    let what = pack_object(pack);
    if size < TRAILER_LEN as u64 {
        return Err(Error::corrupt(what, "shorter than its trailer"));
    }
    let trailer =
        repo.backend()
            .read_range(&path, size - TRAILER_LEN as u64, TRAILER_LEN as u64)?;
    let hlen = u32::from_le_bytes(trailer[..].try_into().expect("4 bytes")) as u64;
    let area_end = size - TRAILER_LEN as u64;
    if hlen > area_end {
        return Err(Error::corrupt(
            what,
            format!("trailer: header length {hlen} exceeds the pack"),
        ));
    }
    let sealed = repo.backend().read_range(&path, area_end - hlen, hlen)?;
    open_header(repo, &what, area_end - hlen, &sealed)
}

/// Decodes the header of a pack read in full (`bytes`). Does not verify the pack's name.
///
/// Errors: [`Error::Corrupt`] naming the pack when the trailer or header is damaged.
pub fn header_from_bytes(repo: &Repository, pack: &Id, bytes: &[u8]) -> Result<Vec<PackBlob>> {
    let what = pack_object(pack);
    let (area, sealed) = crate::format::pack::split_trailer(bytes)
        .map_err(|e| Error::corrupt(what.clone(), format!("trailer: {e}")))?;
    open_header(repo, &what, area as u64, sealed)
}

/// What reading one pack in full found.
#[derive(Debug, Default)]
pub struct PackRead {
    /// Bytes read.
    pub bytes: u64,
    /// Whether the content's BLAKE3 matches the pack's name.
    pub name_matches: bool,
    /// The header, or what is wrong with it.
    pub header: Option<Result<Vec<PackBlob>, String>>,
    /// Indexed blobs that do not open, decompress or match their id, with what is wrong.
    pub bad_blobs: Vec<(Id, String)>,
}

/// Reads pack `pack` in full: checks its name, decodes its header, and opens every blob of
/// `indexed` (the index's locations for blobs in this pack), checking each blob's keyed id.
///
/// Errors: storage errors only (damage is reported in the result).
pub fn read_pack(
    repo: &Repository,
    index: &Index,
    pack: &Id,
    indexed: &[(Id, Location)],
) -> Result<PackRead> {
    let bytes = repo.backend().read(&FileKind::Pack.path(pack))?;
    // The copies the index reads: a delta's base is the one the index keeps for it.
    let entries: Vec<PackBlob> = (indexed.iter())
        .map(|(id, loc)| index.pack_blob(id, loc))
        .collect();
    Ok(PackRead {
        bytes: bytes.len() as u64,
        name_matches: Id::hash(&bytes) == *pack,
        header: Some(header_from_bytes(repo, pack, &bytes).map_err(|e| detail_of(&e))),
        bad_blobs: verify_blobs(repo, Some(index), pack, &bytes, &entries),
    })
}

/// Opens every blob of `entries` (pack header or index entries of pack `pack`, read in full
/// as `bytes`) at its entry's location; returns those that do not open, decompress or match
/// their id, with what is wrong.
///
/// A delta blob is decoded against the base its own entry names, which need not be the base
/// of the copy the index reads (the same blob stored as a delta on another base, or whole,
/// elsewhere). It is checked in full when `index` is given and that base can be read;
/// otherwise (no index, as in `repair index`, or a damaged base, which is reported as the
/// base's own problem) only its sealing and compression tag are checked.
pub fn verify_blobs(
    repo: &Repository,
    index: Option<&Index>,
    pack: &Id,
    bytes: &[u8],
    entries: &[PackBlob],
) -> Vec<(Id, String)> {
    let mut bad = Vec::new();
    if let Some(index) = index {
        // The chains under this pack's deltas, in range reads (their links are composed from
        // these sealed bytes, not read one small read each).
        let deltas: Vec<Id> = (entries.iter())
            .filter(|b| b.base.is_some())
            .map(|b| Id(b.id))
            .collect();
        prefetch_bases(repo, index, &deltas);
    }
    for b in entries {
        let id = Id(b.id);
        let loc = Location::of_entry(b);
        let end = loc.offset as usize + loc.length as usize;
        let r = if end > bytes.len() {
            Err("its location lies past the end of the pack".to_string())
        } else {
            let sealed = &bytes[loc.offset as usize..end];
            let base_ok = |index: &Index| {
                (b.base.map(Id)).is_some_and(|base| read_base(repo, index, &base).is_ok())
            };
            match index {
                Some(index) if loc.kind != BlobKind::Delta || base_ok(index) => {
                    open_entry(repo, index, pack, b, sealed)
                        .map(|_| ())
                        .map_err(|e| detail_of(&e))
                }
                _ => open_sealing(repo, &loc, sealed),
            }
        };
        if let Err(d) = r {
            bad.push((id, d));
        }
    }
    bad
}

/// Checks only that a sealed blob opens with the key and, for a whole blob, decompresses to
/// a plaintext with its id's length; a delta's payload needs its base and is not decoded.
fn open_sealing(repo: &Repository, loc: &Location, sealed: &[u8]) -> Result<(), String> {
    let delta = loc.kind == BlobKind::Delta;
    codec::check_sealing(repo.key(), sealed, loc.raw_length as usize, delta)
        .map_err(|e| e.to_string())
}

/// The part of an error that says what is wrong (for [`Error::Corrupt`], without the object).
pub fn detail_of(e: &Error) -> String {
    match e {
        Error::Corrupt { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}
