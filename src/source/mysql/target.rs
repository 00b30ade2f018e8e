//! MySQL / MariaDB as a restore target: [`prepare_restore`] (create, refuse or empty the
//! database; refuse dumps that switch databases), then the client loading a whole dump
//! ([`restore_into`]) or one part of it ([`load_part`]).
//!
//! Owns getting dump bytes into a database. It must not drop anything without `drop_existing`,
//! must not read dumps from a repository, and a failed client must surface as an error naming
//! the database.

use super::client::{client_errors, Session};
use super::{ident, io_err, spawn_err, MyUrl};
use crate::source::command::describe_status;
use crate::source::SourceError;
use std::io::Read;
use std::process::Stdio;

/// How much of a dump [`restore_into`] checks for database switches before changing anything.
const HEAD_CHECK: usize = 64 * 1024;

/// The first line of `head` that leaves the target database (`USE`, `CREATE DATABASE`, ...), as
/// `mysqldump --databases` writes before its first table: restoring such a dump would write to
/// (and drop tables of) the databases it names.
pub(super) fn database_switch(head: &[u8]) -> Option<String> {
    let words = "use |use`|create database|create schema|drop database|drop schema";
    String::from_utf8_lossy(head)
        .lines()
        .enumerate()
        .find_map(|(i, line)| {
            let start: String = line.trim_start().chars().take(40).collect();
            let start = start.to_ascii_lowercase();
            let start = match start.strip_prefix("/*!").or(start.strip_prefix("/*m!")) {
                Some(rest) => rest
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .trim_start(),
                None => &start,
            };
            let found = words.split('|').any(|w| start.starts_with(w));
            found.then(|| format!("line {} `{}`", i + 1, line.trim()))
        })
}

/// Restores a `mariadb-dump`/`mysqldump` dump of one database into `url`'s database through the
/// `mariadb`/`mysql` client (binary mode, utf8mb4, stops at the first error).
///
/// With `create` the database is created and must not exist, unless `drop_existing` (then it is
/// dropped first). Without `create` it must exist and be empty (no tables, views, routines or
/// events) unless `drop_existing` (then those are dropped). Nothing is ever dropped without
/// `drop_existing`. A failed restore leaves the partly restored database in place.
///
/// Errors: [`SourceError::Invalid`] for refused targets and dumps that switch databases,
/// [`SourceError::Failed`] (naming the database, with the client's message) when the client fails.
/// `made` is called once this call's own `CREATE DATABASE` made a database where none was
/// (see [`prepare_restore`]).
pub fn restore_into(
    url: &MyUrl,
    dump: &mut dyn Read,
    create: bool,
    drop_existing: bool,
    made: &dyn Fn(),
) -> Result<(), SourceError> {
    let db = url.require_database("restore")?;
    let what = format!("restore of database \"{db}\"");
    let (mut head, reading) = (Vec::new(), format!("reading the dump for the {what}"));
    let mut first = (&mut *dump).take(HEAD_CHECK as u64);
    first.read_to_end(&mut head).map_err(io_err(reading))?;
    prepare_restore(url, &head, create, drop_existing, made)?;
    feed_client(url, &mut (&head[..]).chain(dump), what)
}

/// Prepares the URL's database for a restore as [`restore_into`] describes (`create`,
/// `drop_existing`), without loading anything: the first step of a parallel restore. `head` is
/// the start of the dump (up to 64 KiB), refused when it switches databases.
///
/// `made` is called right after this call's own `CREATE DATABASE` succeeded where no database
/// of that name was (not after a drop and re-create that `drop_existing` allowed): only then
/// is the database the restore's own to drop when it fails. A database another client
/// creates between the look and the `CREATE` makes the `CREATE` fail, and `made` is not
/// called.
///
/// Errors: [`SourceError::Invalid`] for refused targets (naming the flag that allows it) and
/// dumps that switch databases, [`SourceError::Database`] when the server refuses.
pub fn prepare_restore(
    url: &MyUrl,
    head: &[u8],
    create: bool,
    drop_existing: bool,
    made: &dyn Fn(),
) -> Result<(), SourceError> {
    let db = url.require_database("restore")?;
    let refuse = |why: &str| {
        SourceError::Invalid(format!("refusing to restore into database \"{db}\": {why}"))
    };
    let what = format!("restore of database \"{db}\"");
    if let Some(line) = database_switch(head) {
        let why = format!("the dump switches databases at {line} (a --databases dump?)");
        return Err(refuse(&why));
    }
    let session = Session::open(url)?;
    let objects = session.objects(db)?;
    let fresh = objects.is_none() && create;
    crate::testhook::pause("restore-before-create");
    let prepare = match (objects, create) {
        (Some(_), true) if !drop_existing => {
            return Err(refuse(
                "it already exists; add --drop-existing to drop it and restore into a new one",
            ))
        }
        (Some(_), true) => format!("DROP DATABASE {0};\nCREATE DATABASE {0};\n", ident(db)),
        (None, true) => format!("CREATE DATABASE {};\n", ident(db)),
        (None, false) => return Err(refuse("it does not exist; add --create to create it")),
        (Some(objects), false) if !objects.is_empty() && !drop_existing => {
            let names: Vec<&str> = objects.iter().take(5).map(|(_, n)| n.as_str()).collect();
            let (n, names) = (objects.len(), names.join(", "));
            let why = format!(
                "it is not empty ({n} objects: {names}, ...); add --drop-existing to drop them"
            );
            return Err(refuse(&why));
        }
        (Some(objects), false) => {
            let mut sql = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
            for (kind, name) in &objects {
                // Anything else is a table (base, sequence, system-versioned) or a package body,
                // which goes with its package.
                let kind = match kind.as_str() {
                    "VIEW" | "PROCEDURE" | "FUNCTION" | "EVENT" | "PACKAGE" => kind.as_str(),
                    _ => "TABLE",
                };
                sql += &format!("DROP {kind} IF EXISTS {}.{};\n", ident(db), ident(name));
            }
            sql
        }
    };
    session.query(None, &prepare, &format!("preparing for the {what}"))?;
    if fresh {
        made();
    }
    Ok(())
}

/// Loads one part of a dump (`dump`: the dump's session settings, then statements) into the
/// URL's database with its own client session, as a parallel restore does for each table.
/// `what` names the part in errors (e.g. `data of table orders`).
///
/// Errors: [`SourceError::Failed`] naming the part and the database when the client fails,
/// [`SourceError::Io`] when reading `dump` fails (the client is then killed).
pub fn load_part(url: &MyUrl, dump: &mut dyn Read, what: &str) -> Result<(), SourceError> {
    let db = url.require_database("restore")?;
    feed_client(url, dump, format!("loading {what} into database \"{db}\""))
}

/// Feeds `dump` to the client on the URL's database; `what` names the work in errors.
fn feed_client(url: &MyUrl, dump: &mut dyn Read, what: String) -> Result<(), SourceError> {
    let db = url.require_database("restore")?;
    let session = Session::open(url)?;
    let (mut cmd, fd) = session.client(Some(db))?;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err(session.client))?;
    drop(fd);
    let mut stdin = child.stdin.take().expect("stdin is piped");
    crate::source::pipe::widen(&stdin);
    let mut err = child.stderr.take().expect("stderr is piped");
    let stderr = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let _ = err.read_to_end(&mut kept);
        client_errors(&kept)
    });
    let copied = std::io::copy(dump, &mut stdin);
    drop(stdin);
    // A broken pipe means the client quit at an SQL error: its status and stderr tell why.
    let quit = matches!(&copied, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
    if copied.is_err() && !quit {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(io_err(format!("waiting for the {what}")))?;
    let stderr = stderr.join().unwrap_or_default();
    match copied {
        Err(source) if !quit => Err(SourceError::Io {
            what: format!("feeding the {what}"),
            source,
        }),
        _ if status.success() && !quit => Ok(()),
        _ => Err(SourceError::Failed {
            what,
            status: describe_status(status),
            stderr,
        }),
    }
}
