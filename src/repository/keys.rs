//! Key files: write a new one for a password, find the one a password opens.

use crate::backend::Backend;
use crate::crypto::{kdf::KdfParams, open_with, seal_with, MasterKey};
use crate::error::{Error, Result};
use crate::format::key::KeyFile;
use crate::format::{decode_json, encode_json, FORMAT_VERSION};
use crate::id::Id;
use crate::repository::FileKind;

/// Seals `key` under `password` with `kdf` and writes `keys/<id>`; returns the id.
pub fn write_key(
    backend: &Backend,
    key: &MasterKey,
    password: &[u8],
    kdf: KdfParams,
) -> Result<Id> {
    let kek = kdf.derive(password).map_err(Error::Invalid)?;
    let file = KeyFile {
        version: FORMAT_VERSION,
        created: jiff::Zoned::now().to_string(),
        host: crate::hostname(),
        kdf: "argon2id".into(),
        kdf_params: kdf,
        data: seal_with(&kek, &key.to_bytes()),
    };
    let bytes = encode_json(&file);
    let id = Id::hash(&bytes);
    backend.write(&FileKind::Key.path(&id), bytes)?;
    Ok(id)
}

/// What trying one key file's bytes with a password gave.
enum Attempt {
    /// The password opened it: the master key it seals.
    Opened(MasterKey),
    /// The password does not open it.
    Wrong,
    /// The file is damaged: why.
    Damaged(String),
}

/// Tries key file `path` (`bytes`, named `id`) with `password`.
///
/// Errors: [`Error::UnsupportedVersion`] for a key file of a newer format, [`Error::Corrupt`]
/// when it opens but does not hold master key material.
fn try_key(path: &str, id: &Id, bytes: &[u8], password: &[u8]) -> Result<Attempt> {
    if Id::hash(bytes) != *id {
        return Ok(Attempt::Damaged(
            "content does not match its name: damaged file".into(),
        ));
    }
    let file: KeyFile = match decode_json(bytes) {
        Ok(f) => f,
        Err(e) => return Ok(Attempt::Damaged(e.to_string())),
    };
    if file.version > FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            object: format!("key {path}"),
            found: file.version,
            supported: FORMAT_VERSION,
        });
    }
    let Ok(kek) = file.kdf_params.derive(password) else {
        return Ok(Attempt::Damaged("bad KDF parameters".into()));
    };
    match open_with(&kek, &file.data) {
        Ok(plain) => MasterKey::from_bytes(&plain)
            .map(Attempt::Opened)
            .map_err(|e| Error::corrupt(format!("key {path}"), e)),
        Err(_) => Ok(Attempt::Wrong),
    }
}

/// Tries every key file with `password`.
///
/// A key file whose content does not match its name (the BLAKE3 of its JSON) is damaged and
/// skipped.
///
/// Errors: [`Error::WrongPassword`] when none opens (unreadable key files are named in the
/// message), [`Error::Corrupt`] naming them when every key file is damaged,
/// [`Error::NotARepository`] when there are no key files.
pub fn find_key(backend: &Backend, password: &[u8]) -> Result<(Id, MasterKey)> {
    find_key_file(backend, password, None).map(|(id, key, _)| (id, key))
}

/// As [`find_key`], also returning the bytes of the key file that opened; `wrong` names a key
/// file the password is already known not to open (it is not read or derived again).
fn find_key_file(
    backend: &Backend,
    password: &[u8],
    wrong: Option<&Id>,
) -> Result<(Id, MasterKey, Vec<u8>)> {
    let files = backend.list(FileKind::Key.dir())?;
    if files.is_empty() {
        return Err(Error::NotARepository {
            location: backend.location().into(),
            reason: "no key files".into(),
        });
    }
    let mut damaged = Vec::new();
    let mut tried = 0;
    for (path, _) in files {
        let Some(id) = path.rsplit('/').next().and_then(|n| Id::from_hex(n).ok()) else {
            continue;
        };
        tried += 1;
        if wrong == Some(&id) {
            continue;
        }
        let bytes = backend.read(&path)?;
        match try_key(&path, &id, &bytes, password)? {
            Attempt::Opened(key) => return Ok((id, key, bytes)),
            Attempt::Wrong => {}
            Attempt::Damaged(why) => damaged.push(format!("{path} ({why})")),
        }
    }
    if damaged.is_empty() {
        Err(Error::WrongPassword {
            location: backend.location().into(),
        })
    } else if damaged.len() == tried {
        Err(Error::corrupt(
            format!("key {}", damaged.join(", key ")),
            format!(
                "no key file of {} is readable, so no password can open it; restore the keys/ \
                 folder from a copy",
                backend.location()
            ),
        ))
    } else {
        Err(Error::Invalid(format!(
            "wrong password for {}, or its key file is damaged: unreadable key files: {}",
            backend.location(),
            damaged.join(", ")
        )))
    }
}

/// Finds the key that opens the repository whose sealed `config` (its bytes as stored) is
/// given, with `password`: first the key file the local cache remembers for that config
/// (repo-format.md section 18: no listing of `keys/` and no read, only a `stat` of
/// `keys/<id>` confirming the file is still in the repository with the cached size, so that
/// `key remove` and `key passwd` take effect as without a cache), else every key file as
/// [`find_key`] does, remembering the one that opens. A key is accepted only when its master
/// key opens `config`; a cached key that does not (wrong password, damaged or foreign entry,
/// removed from the repository) costs one key derivation, then the listing decides, with
/// [`find_key`]'s errors. Without a cache (`--no-cache`, a local or `memory://` repository)
/// this is [`find_key`].
///
/// Errors: as [`find_key`]; storage errors of the `stat`.
pub fn find_key_for_config(
    backend: &Backend,
    config: &[u8],
    password: &[u8],
) -> Result<(Id, MasterKey)> {
    let mut wrong = None;
    if let Some((id, bytes)) = backend.cached_key(config) {
        let path = FileKind::Key.path(&id);
        match try_key(&path, &id, &bytes, password) {
            Ok(Attempt::Opened(key)) => {
                if key.open(config).is_err() {
                    backend.forget_key(config);
                } else if backend.size(&path)? == Some(bytes.len() as u64) {
                    return Ok((id, key));
                } else {
                    // Removed (or replaced) in the repository: the listing decides.
                    backend.forget_key(config);
                }
            }
            // Another key's password: the listing need not derive this one's key again (the
            // KDF is the cost of an open).
            Ok(Attempt::Wrong) => wrong = Some(id),
            _ => {}
        }
    }
    let (id, key, bytes) = find_key_file(backend, password, wrong.as_ref())?;
    if key.open(config).is_ok() {
        backend.remember_key(config, &id, &bytes);
    }
    Ok((id, key))
}

/// One key file as listed by [`list_keys`].
#[derive(Debug, Clone)]
pub struct KeyListing {
    /// The key file's id (its name, the BLAKE3 of its JSON).
    pub id: Id,
    /// Path in the repository, `keys/<id>`.
    pub path: String,
    /// The decoded key file; `None` when it is damaged (see `problem`).
    pub file: Option<KeyFile>,
    /// What is wrong with the file, when it is damaged; `None` for a sound key file.
    pub problem: Option<String>,
}

/// Every key file under `keys/`, sorted by id, each decoded or marked damaged. Names that are
/// not ids are ignored. Nothing is decrypted, so no password is needed.
///
/// Errors: storage errors listing or reading the folder.
pub fn list_keys(backend: &Backend) -> Result<Vec<KeyListing>> {
    let mut out = Vec::new();
    for (path, _) in backend.list(FileKind::Key.dir())? {
        let Some(id) = path.rsplit('/').next().and_then(|n| Id::from_hex(n).ok()) else {
            continue;
        };
        let bytes = backend.read(&path)?;
        let (file, problem) = if Id::hash(&bytes) != id {
            (
                None,
                Some("content does not match its name: damaged file".to_string()),
            )
        } else {
            match decode_json::<KeyFile>(&bytes) {
                Ok(f) => (Some(f), None),
                Err(e) => (None, Some(e.to_string())),
            }
        };
        out.push(KeyListing {
            id,
            path,
            file,
            problem,
        });
    }
    out.sort_by_key(|k| k.id);
    Ok(out)
}

/// Opens key file `id` with `password`; returns the master key it seals.
///
/// Errors: [`Error::WrongPassword`] when the password does not open it, [`Error::Corrupt`]
/// when the file is damaged, storage errors reading it.
pub fn open_key(backend: &Backend, id: &Id, password: &[u8]) -> Result<MasterKey> {
    let path = FileKind::Key.path(id);
    let bytes = backend.read(&path)?;
    if Id::hash(&bytes) != *id {
        return Err(Error::corrupt(
            format!("key {path}"),
            "content does not match its name (damaged file)",
        ));
    }
    let file: KeyFile =
        decode_json(&bytes).map_err(|e| Error::corrupt(format!("key {path}"), e))?;
    let kek = file
        .kdf_params
        .derive(password)
        .map_err(|e| Error::corrupt(format!("key {path}"), e))?;
    let plain = open_with(&kek, &file.data).map_err(|_| Error::WrongPassword {
        location: backend.location().into(),
    })?;
    MasterKey::from_bytes(&plain).map_err(|e| Error::corrupt(format!("key {path}"), e))
}

/// Deletes key file `id`. The caller decides whether that is safe (see
/// `commands::key::remove`). Errors: storage errors.
pub fn delete_key(backend: &Backend, id: &Id) -> Result<()> {
    backend.delete(&FileKind::Key.path(id))?;
    Ok(())
}
