//! `dumpvault key list|add|remove|passwd`: the key files that open the repository.

use super::password::message;
use super::Ctx;
use anyhow::{Context, Result};
use dumpvault::commands::key::{self, KeyEntry};
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::password::{PasswordError, PasswordSource, Prompt};
use dumpvault::Error;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// `key` and its subcommand.
#[derive(clap::Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(clap::Subcommand)]
enum KeyCommand {
    /// List the key files: id, host, creation time, and which one opened the repository.
    List,
    /// Add a key file for another password (same master key: it opens the same backups).
    Add(NewPasswordArgs),
    /// Remove a key file; never the last one, and the one in use only with --force.
    Remove {
        /// Key id or unique id prefix (see `key list`).
        id: String,
        /// Also remove the key in use (the password given stops working).
        #[arg(long)]
        force: bool,
    },
    /// Change the password: add a key for the new password, then remove the key in use.
    Passwd(NewPasswordArgs),
}

/// Where the new password comes from, and the Argon2id costs of the new key file.
#[derive(clap::Args)]
struct NewPasswordArgs {
    /// Read the new password from this file (first line); else DUMPVAULT_NEW_PASSWORD, else a
    /// prompt.
    #[arg(long)]
    new_password_file: Option<PathBuf>,
    /// Argon2id memory cost in KiB (default 65536, as `init`; tests use small values).
    #[arg(long, default_value_t = 65536, hide = true)]
    kdf_memory_kib: u32,
    /// Argon2id passes.
    #[arg(long, default_value_t = 3, hide = true)]
    kdf_iterations: u32,
}

impl NewPasswordArgs {
    fn kdf(&self) -> KdfParams {
        KdfParams::with_cost(self.kdf_memory_kib, self.kdf_iterations, 1)
    }

    /// The new password: `--new-password-file`, `DUMPVAULT_NEW_PASSWORD`, or a prompt asked
    /// twice (read by [`dumpvault::password`]).
    ///
    /// Errors: a usage error ([`Error::Invalid`], exit 2) for a file that cannot be read, no
    /// password given, or two answers that differ; a terminal that cannot be read is an I/O
    /// error (exit 1).
    fn password(&self) -> Result<Zeroizing<String>> {
        let source = PasswordSource::first_given(
            self.new_password_file.clone(),
            "DUMPVAULT_NEW_PASSWORD",
            None,
            Prompt::twice("new password: ", "repeat new password: "),
        );
        source.read("new password").map_err(|e| match e {
            PasswordError::Prompt(io) => io.into(),
            e @ PasswordError::File { .. } => Error::Invalid(format!(
                "{e}; give a readable file with --new-password-file"
            ))
            .into(),
            e => Error::Invalid(message(
                &e,
                "no new password given: use --new-password-file or DUMPVAULT_NEW_PASSWORD",
            ))
            .into(),
        })
    }
}

/// `2026-12-04T18:40:29+00:00` from a stored RFC 3339 time (with fractions and zone name).
fn short_time(t: &str) -> String {
    match t.parse::<jiff::Zoned>() {
        Ok(z) => z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => t.split('[').next().unwrap_or("").to_string(),
    }
}

fn describe(k: &KeyEntry) -> String {
    format!(
        "{} (host {}, created {})",
        k.short_id,
        k.host,
        short_time(&k.created)
    )
}

/// Runs `key …`.
pub fn run(ctx: &Ctx, a: KeyArgs) -> Result<i32> {
    let repo = ctx.open()?;
    match a.command {
        KeyCommand::List => {
            let keys = key::list(&repo)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
                return Ok(0);
            }
            println!(
                "{:<1} {:<8}  {:<16}  {:<25}  {:>10}  problem",
                "", "id", "host", "created", "kdf KiB"
            );
            for k in &keys {
                println!(
                    "{:<1} {:<8}  {:<16}  {:<25}  {:>10}  {}",
                    if k.in_use { "*" } else { "" },
                    k.short_id,
                    k.host,
                    short_time(&k.created),
                    k.kdf_memory_kib,
                    k.problem.as_deref().unwrap_or("")
                );
            }
            println!("{} key files; * = the key in use", keys.len());
        }
        KeyCommand::Add(p) => {
            let pw = p.password()?;
            let k = key::add(&repo, pw.as_bytes(), p.kdf()).context("adding a key")?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&k)?);
            } else {
                println!("added key {}", describe(&k));
            }
        }
        KeyCommand::Remove { id, force } => {
            let k = key::remove(&repo, &id, force)?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&k)?);
            } else {
                println!("removed key {}", describe(&k));
            }
        }
        KeyCommand::Passwd(p) => {
            let pw = p.password()?;
            let o = key::passwd(&repo, pw.as_bytes(), p.kdf()).context("changing the password")?;
            if ctx.json {
                println!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                println!(
                    "password changed: added key {}, removed key {}",
                    describe(&o.added),
                    o.removed.short_id
                );
            }
        }
    }
    Ok(0)
}
