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

/// Tries every key file with `password`.
///
/// A key file whose content does not match its name (the BLAKE3 of its JSON) is damaged and
/// skipped.
///
/// Errors: [`Error::WrongPassword`] when none opens (unreadable key files are named in the
/// message), [`Error::Corrupt`] naming them when every key file is damaged,
/// [`Error::NotARepository`] when there are no key files.
pub fn find_key(backend: &Backend, password: &[u8]) -> Result<(Id, MasterKey)> {
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
        let bytes = backend.read(&path)?;
        if Id::hash(&bytes) != id {
            damaged.push(format!(
                "{path} (content does not match its name: damaged file)"
            ));
            continue;
        }
        let file: KeyFile = match decode_json(&bytes) {
            Ok(f) => f,
            Err(e) => {
                damaged.push(format!("{path} ({e})"));
                continue;
            }
        };
        if file.version > FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                object: format!("key {path}"),
                found: file.version,
                supported: FORMAT_VERSION,
            });
        }
        let Ok(kek) = file.kdf_params.derive(password) else {
            damaged.push(format!("{path} (bad KDF parameters)"));
            continue;
        };
        if let Ok(plain) = open_with(&kek, &file.data) {
            let key = MasterKey::from_bytes(&plain)
                .map_err(|e| Error::corrupt(format!("key {path}"), e))?;
            return Ok((id, key));
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
