//! The repository: init and open with a password, and every load and save of a sealed file.
//!
//! Write order makes a crash harmless: packs, then the index files that list them, then the
//! snapshot manifest that references their blobs. A file is named by the BLAKE3 of its stored
//! bytes; loading checks the name before decrypting.

pub mod bases;
pub mod catalogue;
#[cfg(test)]
pub(crate) mod fixture;
pub mod keys;
pub mod lock;

use crate::backend::{Backend, ErrorClass};
use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::format::config::{ChunkerParams, Config};
use crate::format::index::IndexFile;
use crate::format::snapshot::Manifest;
use crate::format::{decode_json, decode_versioned, encode_json, encode_versioned, FormatError};
use crate::format::{CONFIG_VERSION, FORMAT_VERSION};
use crate::id::Id;

/// Kinds of repository files (moved to [`crate::format::layout`]; the old path stays).
pub use crate::format::layout::FileKind;

/// Path of the config file.
pub const CONFIG_PATH: &str = "config";

/// Settings chosen at `init`.
#[derive(Clone)]
pub struct InitOptions {
    /// Argon2id costs for the first key.
    pub kdf: crate::crypto::kdf::KdfParams,
    /// Chunker parameters.
    pub chunker: ChunkerParams,
    /// Default zstd level.
    pub compression_level: i32,
    /// Target pack size, bytes.
    pub pack_size: u64,
    /// Reuse this key material's blob-id key and chunker seed (for `--copy-chunker-params-from`).
    pub master: Option<MasterKey>,
    /// With `master` set, reuse its encryption key too: the whole master key (for
    /// `--copy-keys-from`; whoever opens one repository can read the other). Ignored without
    /// `master`.
    pub share_encryption_key: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: crate::crypto::kdf::KdfParams::new_default(),
            chunker: ChunkerParams::default(),
            compression_level: 3,
            pack_size: 16 * 1024 * 1024,
            master: None,
            share_encryption_key: false,
        }
    }
}

/// An open repository. Cheap to clone (the backend is shared).
#[derive(Clone)]
pub struct Repository {
    backend: Backend,
    key: MasterKey,
    config: Config,
    key_id: Id,
    /// Plaintexts of recently read delta bases, shared by every reader of this repository.
    bases: std::sync::Arc<bases::BaseCache>,
    /// Catalogue files and manifest summaries this process has read, shared by every clone.
    catalogue: std::sync::Arc<catalogue::Memo>,
}

impl Repository {
    /// A repository value from its parts, with empty per-process caches.
    fn assemble(backend: Backend, key: MasterKey, config: Config, key_id: Id) -> Self {
        Repository {
            backend,
            key,
            config,
            key_id,
            bases: Default::default(),
            catalogue: Default::default(),
        }
    }

    /// Creates a repository at `backend`.
    ///
    /// Errors: [`Error::AlreadyExists`] when a config is there; [`Error::ConfigMissing`] when
    /// there is no config but other repository objects (keys, packs, index files, snapshots)
    /// are: a new master key would make them unreadable.
    pub fn init(backend: Backend, password: &[u8], opts: InitOptions) -> Result<Self> {
        if backend.size(CONFIG_PATH)?.is_some() {
            return Err(Error::AlreadyExists {
                location: backend.location().into(),
            });
        }
        refuse_objects_without_config(&backend)?;
        let key = match &opts.master {
            Some(m) if opts.share_encryption_key => m.clone(),
            Some(m) => m.with_new_encryption_key(),
            None => {
                MasterKey::generate_with(|seed| crate::chunker::seed_is_sound(seed, &opts.chunker))
            }
        };
        let config = Config {
            version: CONFIG_VERSION,
            id: Id::random().to_hex(),
            chunker: opts.chunker,
            compression_level: opts.compression_level,
            pack_size: opts.pack_size,
        };
        let key_id = keys::write_key(&backend, &key, password, opts.kdf.clone())?;
        backend.write(CONFIG_PATH, key.seal(&encode_json(&config)))?;
        let backend = backend.with_cache(&config.id);
        Ok(Self::assemble(backend, key, config, key_id))
    }

    /// Opens the repository at `backend` with `password`.
    ///
    /// Errors: [`Error::NotARepository`] when there is no config and no other repository
    /// object, [`Error::ConfigMissing`] when the config is gone but keys or data are there,
    /// [`Error::WrongPassword`] when no key file opens, [`Error::Corrupt`] /
    /// [`Error::UnsupportedVersion`] for a bad config.
    pub fn open(backend: Backend, password: &[u8]) -> Result<Self> {
        let sealed = match backend.read(CONFIG_PATH) {
            Ok(b) => b,
            Err(e) if e.class == ErrorClass::NotFound => {
                refuse_objects_without_config(&backend)?;
                return Err(Error::NotARepository {
                    location: backend.location().into(),
                    reason: "no config file".into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let (key_id, key) = keys::find_key_for_config(&backend, &sealed, password)?;
        // A key opened, so the config itself is damaged: say how to write it again.
        let damaged = |e: &dyn std::fmt::Display| {
            Error::corrupt(
                "config",
                format!(
                    "{e}; move it aside (e.g. rename it to config.damaged) and run \
                     `dumpvault repair config`, which writes it again from your key file and \
                     the chunk sizes the snapshots record"
                ),
            )
        };
        let plain = key.open(&sealed).map_err(|e| damaged(&e))?;
        let config: Config = decode_json(&plain).map_err(|e| damaged(&e))?;
        if config.version > CONFIG_VERSION {
            return Err(Error::UnsupportedVersion {
                object: "config".into(),
                found: config.version,
                supported: CONFIG_VERSION,
            });
        }
        // The local cache of a remote repository's immutable files (backend/cache.rs).
        let backend = backend.with_cache(&config.id);
        Ok(Self::assemble(backend, key, config, key_id))
    }

    /// Opens the repository at `backend` whose `config` is lost, with `config` in its place
    /// (for `repair config`, which writes it with [`Repository::write_config`]); the master
    /// key comes from the key file `password` opens.
    ///
    /// Errors: [`Error::NotARepository`] when there are no key files, [`Error::WrongPassword`]
    /// when no key file opens.
    pub fn open_without_config(backend: Backend, password: &[u8], config: Config) -> Result<Self> {
        let (key_id, key) = keys::find_key(&backend, password)?;
        Ok(Self::assemble(backend, key, config, key_id))
    }

    /// This repository with `config` in place of its configuration (for `repair config`,
    /// before [`Repository::write_config`]). Nothing is written.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Seals this repository's configuration and writes it as `config`, replacing any config
    /// file. Only `repair config` calls it, after checking there is none. Durable when it
    /// returns.
    pub fn write_config(&self) -> Result<()> {
        self.backend
            .write(CONFIG_PATH, self.key.seal(&encode_json(&self.config)))?;
        Ok(())
    }

    /// The cache of delta bases' plaintexts (see [`crate::pack::reader`]).
    pub fn base_cache(&self) -> &bases::BaseCache {
        &self.bases
    }

    /// What this process has read of the snapshot catalogue (see [`catalogue`]).
    pub fn catalogue_memo(&self) -> &catalogue::Memo {
        &self.catalogue
    }

    /// The storage.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &MasterKey {
        &self.key
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The id of the key file that opened the repository.
    pub fn key_id(&self) -> Id {
        self.key_id
    }

    /// Seals `plaintext`, names it by the BLAKE3 of the sealed bytes and writes it.
    /// Durable when it returns.
    pub fn save_file(&self, kind: FileKind, plaintext: &[u8]) -> Result<Id> {
        let sealed = self.key.seal(plaintext);
        let id = Id::hash(&sealed);
        self.backend.write(&kind.path(&id), sealed)?;
        Ok(id)
    }

    /// Reads a sealed file, checks its name against its content, and opens it.
    ///
    /// Errors: [`Error::Corrupt`] naming the file when the content does not match its name or
    /// fails authentication; [`Error::Backend`] when it cannot be read.
    pub fn load_file(&self, kind: FileKind, id: &Id) -> Result<Vec<u8>> {
        let path = kind.path(id);
        let sealed = self.backend.read(&path)?;
        let what = format!("{} {}", kind.noun(), path);
        if Id::hash(&sealed) != *id {
            return Err(Error::corrupt(
                what,
                "content does not match its name (damaged file)",
            ));
        }
        self.key.open(&sealed).map_err(|e| Error::corrupt(what, e))
    }

    /// Ids of all files of `kind` (files with names that are not ids are ignored).
    pub fn list(&self, kind: FileKind) -> Result<Vec<(Id, u64)>> {
        let mut out = Vec::new();
        for (path, size) in self.backend.list(kind.dir())? {
            let name = path.rsplit('/').next().unwrap_or("");
            if let Ok(id) = Id::from_hex(name) {
                out.push((id, size));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Loads and decodes a snapshot manifest.
    pub fn load_manifest(&self, id: &Id) -> Result<Manifest> {
        let plain = self.load_file(FileKind::Snapshot, id)?;
        decode_versioned(&plain).map_err(|e| versioned_error(format!("snapshot {id}"), e))
    }

    /// Writes a snapshot manifest; the last step of a snapshot.
    pub fn save_manifest(&self, m: &Manifest) -> Result<Id> {
        self.save_file(FileKind::Snapshot, &encode_versioned(m))
    }

    /// Loads and decodes an index file.
    pub fn load_index_file(&self, id: &Id) -> Result<IndexFile> {
        let plain = self.load_file(FileKind::Index, id)?;
        crate::format::index::decode_index_file(&plain)
            .map_err(|e| versioned_error(format!("index {id}"), e))
    }

    /// Writes an index file. Call only after every pack it lists is durable.
    pub fn save_index_file(&self, f: &IndexFile) -> Result<Id> {
        self.save_file(FileKind::Index, &crate::format::index::encode_index_file(f))
    }
}

/// What repository objects `backend` holds besides `config` (key files, packs, index files,
/// snapshots), e.g. `1 key file, 4 packs`; `None` when it holds none.
///
/// Errors: storage errors listing the folders.
pub fn objects_present(backend: &Backend) -> Result<Option<String>> {
    let mut found = Vec::new();
    for (kind, one, many) in [
        (FileKind::Key, "key file", "key files"),
        (FileKind::Pack, "pack", "packs"),
        (FileKind::Index, "index file", "index files"),
        (FileKind::Snapshot, "snapshot", "snapshots"),
    ] {
        let n = backend.list(kind.dir())?.len();
        if n > 0 {
            found.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    Ok((!found.is_empty()).then(|| found.join(", ")))
}

/// [`Error::ConfigMissing`] when `backend` holds repository objects (a location whose config
/// is gone): `init` must not write a new master key over them, and `open` says what is lost.
///
/// Errors: that error, or storage errors listing the folders.
pub fn refuse_objects_without_config(backend: &Backend) -> Result<()> {
    match objects_present(backend)? {
        Some(found) => Err(Error::ConfigMissing {
            location: backend.location().into(),
            found,
        }),
        None => Ok(()),
    }
}

/// Turns a decoding failure of `object` into the library error.
pub fn versioned_error(object: String, e: FormatError) -> Error {
    match e {
        FormatError::Version(v) => Error::UnsupportedVersion {
            object,
            found: v,
            supported: FORMAT_VERSION,
        },
        FormatError::Decode(d) => Error::corrupt(object, format!("does not decode: {d}")),
    }
}
