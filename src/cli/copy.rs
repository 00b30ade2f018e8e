//! `copy --from A`, and the source-repository options of `init --copy-chunker-params-from A` /
//! `init --copy-keys-from A`. Errors name the side they are about: "source repository …
//! (--from)" or "target repository … (--repo)".

use super::output::{human_bytes, Bar};
use super::password::message;
use super::{Ctx, FilterArgs};
use anyhow::{Context, Result};
use dumpvault::backend::{Backend, ErrorClass};
use dumpvault::commands::copy::{self, CopyOptions, KeySharing};
use dumpvault::password::{PasswordSource, Prompt};
use dumpvault::repository::{InitOptions, Repository};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The message when no source repository password was given and none can be asked for.
const NO_SOURCE_PASSWORD: &str = "no source repository password given: use --from-password-file, \
     --from-password-command or DUMPVAULT_FROM_PASSWORD";

/// How to get the source repository's password: `--from-password-file`,
/// `DUMPVAULT_FROM_PASSWORD`, `--from-password-command`, or a prompt, in that order (read by
/// [`dumpvault::password`], as the target's).
#[derive(clap::Args)]
pub struct FromPasswordArgs {
    /// Read the source repository's password from this file (first line).
    #[arg(long, env = "DUMPVAULT_FROM_PASSWORD_FILE")]
    pub(super) from_password_file: Option<PathBuf>,
    /// Run this shell command and use the first line of its output as the source
    /// repository's password.
    #[arg(long, env = "DUMPVAULT_FROM_PASSWORD_COMMAND")]
    pub(super) from_password_command: Option<String>,
}

impl FromPasswordArgs {
    /// Reads the source repository's password.
    ///
    /// Errors: a usage error ([`dumpvault::Error::Invalid`], exit 2) with the
    /// [`dumpvault::password::PasswordError`]'s message, which names the "source password"
    /// ([`NO_SOURCE_PASSWORD`] when none is given).
    pub(super) fn get(&self) -> Result<Zeroizing<String>, dumpvault::Error> {
        let source = PasswordSource::first_given(
            self.from_password_file.clone(),
            "DUMPVAULT_FROM_PASSWORD",
            self.from_password_command.clone(),
            Prompt::once("source repository password: "),
        );
        (source.read("source password"))
            .map_err(|e| dumpvault::Error::usage(message(&e, NO_SOURCE_PASSWORD)))
    }

    /// Opens the source repository at `location`.
    fn open(&self, location: &str) -> Result<Repository> {
        let side = || format!("source repository {location} (--from)");
        let backend = Backend::open(location).with_context(side)?;
        // No source password, or none readable, is a usage error (exit 2) like the target's.
        let pw = self
            .get()
            .map_err(|e| dumpvault::Error::usage(format!("{}: {e}", side())))?;
        Repository::open(backend, pw.as_bytes()).with_context(side)
    }
}

/// `dumpvault copy`.
#[derive(clap::Args)]
pub struct CopyArgs {
    /// The source repository (A): a path, s3://bucket/prefix, … (the target is --repo).
    #[arg(long, env = "DUMPVAULT_FROM_REPOSITORY")]
    from: String,
    #[command(flatten)]
    password: FromPasswordArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Source snapshots to copy (id prefixes or `latest`); default: every snapshot passing
    /// the filters.
    snapshots: Vec<String>,
    /// Parallel uploads to the target.
    #[arg(long, default_value_t = copy::DEFAULT_CONNECTIONS)]
    connections: usize,
}

/// Opens both repositories, copies, prints the outcome.
pub fn run(ctx: &Ctx, a: CopyArgs) -> Result<i32> {
    let target = ctx.location()?.to_string();
    if a.from == target {
        return Err(dumpvault::Error::Invalid(format!(
            "--from and --repo are the same location ({target}); nothing to copy"
        ))
        .into());
    }
    if a.connections == 0 {
        return Err(dumpvault::Error::Invalid("--connections must be at least 1".into()).into());
    }
    let from = a.password.open(&a.from)?;
    let to = ctx
        .open()
        .with_context(|| format!("target repository {target} (--repo)"))?;
    let mode = copy::CopyMode::detect(&from, &to);
    eprintln!("copying from {} to {target}: {}", a.from, mode.describe());
    let opts = CopyOptions {
        filter: a.filter.filter(),
        snapshots: a.snapshots,
        connections: a.connections,
    };
    let bar = Bar::new(ctx.progress, None);
    let out = copy::run(&from, &to, &opts, &bar).map_err(|e| source_gone(e, &from))?;
    if ctx.json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(0);
    }
    for c in &out.copied {
        println!(
            "copied snapshot {} -> {}: {} chunks ({} blobs), {} uploaded",
            &c.source[..8],
            &c.target[..8],
            c.data_chunks,
            c.blobs,
            human_bytes(c.bytes_uploaded)
        );
    }
    println!(
        "{} snapshot(s) copied, {} already in the target; {} chunks transferred, {} uploaded in {} pack(s), {:.1} s",
        out.copied.len(),
        out.skipped.len(),
        out.data_chunks_copied,
        human_bytes(out.bytes_uploaded),
        out.packs_uploaded,
        out.duration_ms as f64 / 1000.0
    );
    Ok(0)
}

/// A copy error worded for the user: an object of the source that is gone while copying (a
/// prune on the source removed it) says so and what to do; any other error is unchanged.
fn source_gone(e: dumpvault::Error, from: &Repository) -> anyhow::Error {
    let gone = matches!(&e, dumpvault::Error::Backend(b)
        if b.class == ErrorClass::NotFound && b.location == from.backend().location());
    if !gone {
        return e.into();
    }
    anyhow::Error::new(e).context(format!(
        "source repository {} (--from): a file it lists is gone (removed by a prune on the \
         source while copying, or lost); the snapshots copied so far are complete: run the copy \
         again, and if it fails the same way, `dumpvault check` the source",
        from.backend().location()
    ))
}

/// `init` options linking the new repository to an existing one.
#[derive(clap::Args)]
pub struct LinkArgs {
    /// Use this repository's chunker parameters, chunker seed and chunk-id key (with a new
    /// encryption key and this repository's own password), so that `copy` from it moves chunks
    /// by id and snapshots copied from it deduplicate against snapshots taken directly.
    #[arg(long, value_name = "REPO", conflicts_with = "copy_keys_from")]
    copy_chunker_params_from: Option<String>,
    /// Use this repository's keys, all of them: `copy` from it moves sealed chunks without
    /// decrypting. Trade-off: whoever opens one of the two repositories can read the other.
    #[arg(long, value_name = "REPO")]
    copy_keys_from: Option<String>,
    #[command(flatten)]
    password: FromPasswordArgs,
}

/// Creates the repository, linked to another one when `link` asks for it.
pub fn init_repository(
    backend: Backend,
    password: &[u8],
    opts: InitOptions,
    link: &LinkArgs,
) -> Result<Repository> {
    let (location, sharing) = match (&link.copy_chunker_params_from, &link.copy_keys_from) {
        (Some(l), _) => (l, KeySharing::ChunkerParams),
        (None, Some(l)) => (l, KeySharing::AllKeys),
        (None, None) => return Ok(Repository::init(backend, password, opts)?),
    };
    if location == backend.location() {
        return Err(dumpvault::Error::usage(format!(
            "the new repository cannot take its keys from itself ({location}): give another \
             repository to --copy-keys-from / --copy-chunker-params-from"
        ))
        .into());
    }
    let from = link.password.open(location)?;
    let repo = copy::init_linked(backend, password, opts, &from, sharing)?;
    match sharing {
        KeySharing::ChunkerParams => eprintln!(
            "sharing chunker parameters and chunk ids with {location}: `copy` between them moves chunks by id"
        ),
        KeySharing::AllKeys => eprintln!(
            "sharing all keys with {location}: `copy` moves sealed chunks without decrypting; \
             a password that opens one repository opens the other"
        ),
    }
    Ok(repo)
}
