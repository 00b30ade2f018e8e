//! Objects that decrypt with no key of this repository: intact files (their content matches
//! their name) sealed under another master key, as left when `init` ran over an existing
//! repository or files were copied in from another one. `repair` never deletes or replaces
//! them: it names them and stops.

use crate::backend::ErrorClass;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::{FileKind, Repository};

/// Whether file `id` of `kind` is intact but does not open with this repository's key (for a
/// pack: its header does not).
///
/// Errors: storage errors other than "not found".
pub fn is_foreign(repo: &Repository, kind: FileKind, id: &Id) -> Result<bool> {
    let bytes = match repo.backend().read(&kind.path(id)) {
        Ok(b) => b,
        Err(e) if e.class == ErrorClass::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if Id::hash(&bytes) != *id {
        return Ok(false); // damaged, not foreign
    }
    Ok(match kind {
        FileKind::Pack => match crate::format::pack::split_trailer(&bytes) {
            Ok((_, sealed)) => repo.key().open(sealed).is_err(),
            Err(_) => false,
        },
        _ => repo.key().open(&bytes).is_err(),
    })
}

/// `Ok` unless file `id` of `kind` is foreign (see [`is_foreign`]); then the error names it
/// and says that nothing was deleted.
///
/// Errors: [`Error::Corrupt`] for a foreign file; storage errors.
pub fn refuse(repo: &Repository, kind: FileKind, id: &Id) -> Result<()> {
    if !is_foreign(repo, kind, id)? {
        return Ok(());
    }
    Err(Error::corrupt(
        format!("{} {}", kind.noun(), kind.path(id)),
        format!(
            "intact (its content matches its name) but decrypts with no key of this repository: \
             it was written under another master key (was `dumpvault init` run over an existing \
             repository, or files copied in from another one?). repair stopped and deleted \
             nothing; open {} with the key that wrote it (restore its config and key files), or \
             move the file out of the repository if it does not belong there, then run this again",
            repo.backend().location()
        ),
    ))
}
