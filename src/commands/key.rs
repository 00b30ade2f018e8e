//! `key`: manage the key files that open a repository. Every key file seals the same master
//! key under its own password, so adding or removing one never touches any other object.
//!
//! Safety rules: a new key file is read back and opened with its password before anything is
//! removed; the last sound key file is never removed; the key file in use (the one whose
//! password opened the repository) is removed only when asked with `force`; `passwd` adds the
//! new key before it removes the old one, so a crash between the two leaves both, never none.

use crate::crypto::kdf::KdfParams;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::keys::{self, KeyListing};
use crate::repository::Repository;
use serde::Serialize;

/// One key file, for `key list`.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry {
    /// Key file id (64 hex digits).
    pub id: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// Whether this key file opened the repository (its password is the one given).
    pub in_use: bool,
    /// Host that created it (empty when damaged).
    pub host: String,
    /// Creation time, RFC 3339 (empty when damaged).
    pub created: String,
    /// Argon2id memory cost, KiB (0 when damaged).
    pub kdf_memory_kib: u32,
    /// Argon2id passes (0 when damaged).
    pub kdf_iterations: u32,
    /// What is wrong with the file when it is damaged; `None` for a sound one.
    pub problem: Option<String>,
}

impl KeyEntry {
    fn new(k: &KeyListing, in_use: &Id) -> Self {
        let f = k.file.as_ref();
        KeyEntry {
            id: k.id.to_hex(),
            short_id: k.id.short(),
            in_use: k.id == *in_use,
            host: f.map(|f| f.host.clone()).unwrap_or_default(),
            created: f.map(|f| f.created.clone()).unwrap_or_default(),
            kdf_memory_kib: f.map(|f| f.kdf_params.memory_kib).unwrap_or(0),
            kdf_iterations: f.map(|f| f.kdf_params.iterations).unwrap_or(0),
            problem: k.problem.clone(),
        }
    }
}

/// Every key file of `repo`, sorted by id, marking the one in use.
///
/// Errors: storage errors.
pub fn list(repo: &Repository) -> Result<Vec<KeyEntry>> {
    let in_use = repo.key_id();
    Ok(keys::list_keys(repo.backend())?
        .iter()
        .map(|k| KeyEntry::new(k, &in_use))
        .collect())
}

fn check_password(password: &[u8]) -> Result<()> {
    if password.is_empty() {
        return Err(Error::Invalid(
            "the new password is empty; give a non-empty one (--new-password-file, \
             DUMPVAULT_NEW_PASSWORD or the prompt)"
                .into(),
        ));
    }
    Ok(())
}

/// Writes a new key file sealing `repo`'s master key under `new_password` with Argon2id costs
/// `kdf` (a fresh salt is in it), then reads it back and opens it with `new_password` to prove
/// it works. Returns the new key file's entry.
///
/// Errors: [`Error::Invalid`] for an empty password or KDF costs outside Argon2's limits;
/// [`Error::Corrupt`] when the file written does not open again (it is deleted); storage
/// errors.
pub fn add(repo: &Repository, new_password: &[u8], kdf: KdfParams) -> Result<KeyEntry> {
    check_password(new_password)?;
    let backend = repo.backend();
    let id = keys::write_key(backend, repo.key(), new_password, kdf)?;
    let sound = matches!(
        keys::open_key(backend, &id, new_password),
        Ok(k) if *k.to_bytes() == *repo.key().to_bytes()
    );
    if !sound {
        let _ = keys::delete_key(backend, &id);
        return Err(Error::corrupt(
            format!("key keys/{}", id.to_hex()),
            "the new key file does not open with its password after writing it (storage \
             returned other bytes); it was deleted, nothing else changed: check the storage \
             and retry",
        ));
    }
    let listing = keys::list_keys(backend)?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "key keys/{} vanished right after it was written to {}; retry",
                id.to_hex(),
                backend.location()
            ))
        })?;
    Ok(KeyEntry::new(&listing, &repo.key_id()))
}

/// Resolves a key id prefix among `all`.
fn resolve<'a>(repo: &Repository, all: &'a [KeyListing], spec: &str) -> Result<&'a KeyListing> {
    let spec_l = spec.to_ascii_lowercase();
    let found: Vec<&KeyListing> = all
        .iter()
        .filter(|k| k.id.to_hex().starts_with(&spec_l))
        .collect();
    match found.as_slice() {
        [k] if !spec_l.is_empty() => Ok(k),
        [] => Err(Error::NotFound(format!(
            "no key {spec:?} in {}; list them with `dumpvault key list`",
            repo.backend().location()
        ))),
        _ => Err(Error::Invalid(format!(
            "key id prefix {spec:?} is ambiguous; give more digits (see `dumpvault key list`)"
        ))),
    }
}

/// Removes key file `spec` (an id or unique id prefix); returns its entry.
///
/// Refuses, changing nothing ([`Error::Invalid`]): when it is the last sound key file (no
/// password could open the repository afterwards), and, unless `force`, when it is the key in
/// use (the password given would stop working). A damaged key file may always be removed.
///
/// Errors: [`Error::NotFound`] / [`Error::Invalid`] for an unknown or ambiguous id; storage
/// errors.
pub fn remove(repo: &Repository, spec: &str, force: bool) -> Result<KeyEntry> {
    let all = keys::list_keys(repo.backend())?;
    let target = resolve(repo, &all, spec)?;
    let entry = KeyEntry::new(target, &repo.key_id());
    if target.problem.is_none() {
        let others = all
            .iter()
            .filter(|k| k.id != target.id && k.problem.is_none())
            .count();
        if others == 0 {
            return Err(Error::Invalid(format!(
                "key {} is the last key file of {}: without it no password opens the \
                 repository; add another with `dumpvault key add` first",
                target.id.short(),
                repo.backend().location()
            )));
        }
    }
    if entry.in_use && !force {
        return Err(Error::Invalid(format!(
            "key {} is the key in use (the given password opened the repository with it); \
             after removing it that password no longer works: use `dumpvault key passwd` to \
             change the password, or add --force if another password is known",
            target.id.short()
        )));
    }
    keys::delete_key(repo.backend(), &target.id)?;
    Ok(entry)
}

/// What `passwd` did.
#[derive(Debug, Clone, Serialize)]
pub struct PasswdOutcome {
    /// The new key file.
    pub added: KeyEntry,
    /// The key file that was in use, now removed.
    pub removed: KeyEntry,
}

/// Changes the password: [`add`] a key file for `new_password`, then remove the key file in
/// use. Other key files (other passwords) are kept. A crash in between leaves both key files.
///
/// Errors: as [`add`] (nothing changed) and [`remove`] (the new key file then exists and the
/// old one too: both passwords work; remove the old one with `key remove --force`).
pub fn passwd(repo: &Repository, new_password: &[u8], kdf: KdfParams) -> Result<PasswdOutcome> {
    let added = add(repo, new_password, kdf)?;
    let removed = remove(repo, &repo.key_id().to_hex(), true)?;
    Ok(PasswdOutcome { added, removed })
}
