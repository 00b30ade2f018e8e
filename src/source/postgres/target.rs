//! PostgreSQL as a restore target: [`prepare_restore_for`] (create, refuse or replace the database),
//! then `psql` loading a whole dump ([`restore_into`]) or one part of it ([`load_part`]).
//!
//! Owns getting dump bytes into a database. It must not drop a database without
//! `drop_existing`, must not read dumps from a repository, and a failed `psql` must surface as
//! an error naming the database.

use super::catalog::USER_TABLES_SQL;
use super::conn::{connect, connect_maintenance};
use super::tool::{newest_tool, tool_cmd};
use super::{db_err, io_err, quote, PgUrl};
use crate::source::command::{describe_status, STDERR_LIMIT};
use crate::source::SourceError;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::Stdio;

/// Restores a plain-format dump into the URL's database with `psql -X -q -v ON_ERROR_STOP=1
/// --single-transaction`: all or nothing.
///
/// With `create` the database is created (from `template0`, in the dump's encoding: see
/// [`prepare_restore_for`]); if it exists that is an error unless `drop_existing`, which drops
/// it first. Without `create` the database must exist and hold no relations in user schemas,
/// unless `drop_existing`, which then drops and recreates it (likewise, owned by the connecting
/// user). Nothing is dropped without `drop_existing`; dropping fails while others are connected
/// to the database.
///
/// `made` is called once this call's own `CREATE DATABASE` made a database where none was
/// (see [`prepare_restore_for`]).
///
/// Errors: [`SourceError::Invalid`] for a refused or missing target, [`SourceError::Failed`]
/// naming the database when psql fails (its stderr attached), [`SourceError::Io`] when reading
/// `dump` fails (psql is then killed, so nothing is committed).
pub fn restore_into(
    url: &PgUrl,
    dump: &mut dyn Read,
    create: bool,
    drop_existing: bool,
    made: &dyn Fn(),
) -> Result<(), SourceError> {
    let db = url.database_name();
    let mut head = Vec::new();
    let reading = format!("reading the dump for the restore of database \"{db}\"");
    let mut first = (&mut *dump).take(HEAD_BYTES as u64);
    first
        .read_to_end(&mut head)
        .map_err(|e| io_err(reading, e))?;
    prepare_restore_for(url, &head, create, drop_existing, made)?;
    run_psql(
        &url.with_database(&db),
        &mut (&head[..]).chain(dump),
        &db,
        true,
    )
    .map(drop)
}

/// How much of the start of a dump [`prepare_restore_for`] needs (pg_dump writes its
/// `SET client_encoding` within the first lines).
pub const HEAD_BYTES: usize = 64 << 10;

/// Prepares the URL's database for a restore, as [`restore_into`] describes (`create`,
/// `drop_existing`), without loading anything: the first step of a parallel restore. `head`
/// is the start of the dump (up to [`HEAD_BYTES`]): a database this creates has the encoding
/// of the dump's first `SET client_encoding = '…';` ([`dump_encoding`]) when that is not the
/// server's default (`template0`'s), with the `C` locale (which suits every encoding, and
/// which `SQL_ASCII` needs) from the `libc` provider; else, or without such a line, the
/// server's default encoding and locale. So a `SQL_ASCII` database's bytes are restored as
/// they were, instead of loading unchecked into a `UTF8` one, and a `LATIN1` database stays
/// `LATIN1`.
///
/// `made` is called right after this call's own `CREATE DATABASE` succeeded where no database
/// of that name was (not after a drop and re-create that `drop_existing` allowed): only then
/// is the database the restore's own to drop when it fails. A database another client
/// creates between the look and the `CREATE` makes the `CREATE` fail, and `made` is not
/// called.
///
/// Errors: [`SourceError::Invalid`] for a refused or missing target (naming the flag that
/// allows it), [`SourceError::Database`] when the server refuses (an encoding it does not
/// know, for one).
pub fn prepare_restore_for(
    url: &PgUrl,
    head: &[u8],
    create: bool,
    drop_existing: bool,
    made: &dyn Fn(),
) -> Result<(), SourceError> {
    let db = url.database_name();
    let url = url.with_database(&db);
    let refuse = |why: &str| Err(SourceError::Invalid(format!("database \"{db}\" {why}")));
    let mut admin = connect_maintenance(&url)?;
    let preparing = format!("preparing database \"{db}\" for restore");
    let failed = |e: postgres::Error| db_err(&preparing, &e);
    let sql = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1";
    let exists = admin.query_opt(sql, &[&db]).map_err(failed)?.is_some();
    let replace = "add --drop-existing to drop it and restore into a new one";
    let recreate = match (exists, create) {
        (false, false) => return refuse("does not exist; add --create to create it"),
        (true, true) if !drop_existing => return refuse(&format!("already exists; {replace}")),
        (_, true) => true,
        (true, false) => {
            let kinds = "'r', 'p', 'v', 'm', 'S', 'f'";
            let sql = format!(
                "SELECT EXISTS ({})",
                USER_TABLES_SQL.replace("KINDS", kinds)
            );
            let row = connect(&url)?.query_one(&sql, &[]).map_err(failed)?;
            if row.get(0) && !drop_existing {
                return refuse(&format!("is not empty; {replace}"));
            }
            row.get(0)
        }
    };
    crate::testhook::pause("restore-before-create");
    if recreate {
        if exists {
            admin
                .batch_execute(&format!("DROP DATABASE {}", quote(&db)))
                .map_err(failed)?;
        }
        let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", quote(&db));
        if let Some(encoding) = dump_encoding(head) {
            let default = "SELECT pg_catalog.pg_encoding_to_char(encoding),
                    pg_catalog.current_setting('server_version_num')::int
               FROM pg_catalog.pg_database WHERE datname = 'template0'";
            let row = admin.query_one(default, &[]).map_err(failed)?;
            let (default, num): (String, i32) = (row.get(0), row.get(1));
            if !encoding.eq_ignore_ascii_case(&default) {
                sql += &format!(" ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'");
                if num >= 150000 {
                    sql += " LOCALE_PROVIDER libc";
                }
            }
        }
        admin.batch_execute(&sql).map_err(failed)?;
        if !exists {
            made();
        }
    }
    Ok(())
}

/// The encoding a plain-format dump was written in: the value of its first `SET
/// client_encoding = '…';` line within `head` (pg_dump writes one among its first lines), when
/// it is a plain name (letters, digits, `_`, `-`); `None` without one.
pub(super) fn dump_encoding(head: &[u8]) -> Option<String> {
    const SET: &[u8] = b"SET client_encoding = '";
    let line = head
        .split(|b| *b == b'\n')
        .find_map(|l| l.trim_ascii_start().strip_prefix(SET))?;
    let name = &line[..line.iter().position(|b| *b == b'\'')?];
    let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
    let plain = !name.is_empty() && name.len() <= 64 && name.iter().all(plain);
    plain.then(|| String::from_utf8_lossy(name).into_owned())
}

/// Makes every commit of a parallel restore durable: a transaction with an id, committed with
/// `synchronous_commit = on`, waits for the WAL flush up to its commit record, which covers
/// every earlier commit, including those of data sessions that did not wait
/// (`synchronous_commit = off`).
///
/// Errors: [`SourceError::Database`] naming the database when the server refuses.
pub fn flush_commits(url: &PgUrl) -> Result<(), SourceError> {
    let db = url.database_name();
    let what = format!("flushing the restore's commits in database \"{db}\"");
    let sql = "SET synchronous_commit = on; BEGIN; SELECT pg_catalog.txid_current(); COMMIT;";
    connect(&url.with_database(&db))?
        .batch_execute(sql)
        .map_err(|e| db_err(&what, &e))
}

/// Loads one part of a plain-format dump (`dump`: session settings, then SQL and `COPY` data)
/// into the URL's database with its own `psql` session, as a parallel restore does for each
/// table: all or nothing when `one_transaction`, else statement by statement (so that
/// concurrent sessions never hold each other's locks until the end). `what` names the part in
/// errors (e.g. `data of table public.orders`). Returns the rows its `COPY` commands stored
/// (the sum of their command tags, `COPY n`, as the server reports them).
///
/// Errors: [`SourceError::Failed`] naming the part and the database when psql fails (its
/// stderr attached), [`SourceError::Io`] when reading `dump` fails (psql is then killed).
pub fn load_part(
    url: &PgUrl,
    dump: &mut dyn Read,
    one_transaction: bool,
    what: &str,
) -> Result<u64, SourceError> {
    let db = url.database_name();
    let url = url.with_database(&db);
    run_psql(&url, dump, &db, one_transaction).map_err(|e| match e {
        SourceError::Failed { status, stderr, .. } => SourceError::Failed {
            what: format!("psql loading {what} into database \"{db}\""),
            status,
            stderr,
        },
        e => e,
    })
}

/// Reads a child's stderr to the end, keeping its last [`STDERR_LIMIT`] bytes.
fn collect_tail(mut r: impl Read) -> String {
    let (mut kept, mut buf) = (Vec::new(), [0u8; 8192]);
    while let Ok(n @ 1..) = r.read(&mut buf) {
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * STDERR_LIMIT {
            kept.drain(..kept.len() - STDERR_LIMIT);
        }
    }
    let start = kept.len().saturating_sub(STDERR_LIMIT);
    String::from_utf8_lossy(&kept[start..]).trim().to_string()
}

/// The rows stored by the `COPY` and `INSERT` commands whose tags (`COPY n`, `INSERT 0 n`
/// lines; a dump made with `pg_dump --inserts` has the latter) psql printed to `out`.
fn copy_tags(out: impl Read) -> u64 {
    let rows = |l: &str| match l.split(' ').collect::<Vec<_>>()[..] {
        ["COPY", n] | ["INSERT", "0", n] => n.parse::<u64>().ok(),
        _ => None,
    };
    io::BufRead::lines(io::BufReader::new(out))
        .map_while(|l| l.ok())
        .filter_map(|l| rows(&l))
        .sum()
}

/// Pipes `dump` into psql on the URL's database; the rows its `COPY` commands stored.
fn run_psql(
    url: &PgUrl,
    dump: &mut dyn Read,
    db: &str,
    one_transaction: bool,
) -> Result<u64, SourceError> {
    let missing = || SourceError::Invalid("no psql found: install postgresql-client".into());
    // Looked up once: a parallel restore runs psql for every table and index.
    static PSQL: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let psql = PSQL.get_or_init(|| newest_tool("psql").map(|t| t.path));
    let psql = psql.as_ref().ok_or_else(missing)?;
    // Not quiet: psql prints each command's tag, `COPY n` among them, on stdout.
    let mut args = vec!["-X", "-v", "ON_ERROR_STOP=1", "--no-password"];
    if one_transaction {
        args.push("--single-transaction");
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let mut cmd = tool_cmd(psql, url, &args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let tool = psql.display().to_string();
    let mut child = cmd
        .spawn()
        .map_err(|source| SourceError::Spawn { tool, source })?;
    let stderr = child
        .stderr
        .take()
        .map(|e| std::thread::spawn(move || collect_tail(e)));
    let stdout = (child.stdout.take()).map(|o| std::thread::spawn(move || copy_tags(o)));
    let (mut stdin, mut buf, mut write_error) = (child.stdin.take(), vec![0u8; 65536], None);
    if let Some(s) = &stdin {
        crate::source::pipe::widen(s);
    }
    while let Some(input) = stdin.as_mut() {
        let n = match dump.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = child.kill().and_then(|_| child.wait());
                return Err(io_err(
                    format!("reading the dump to restore into \"{db}\""),
                    e,
                ));
            }
        };
        if let Err(e) = input.write_all(&buf[..n]) {
            write_error = Some(e);
            break;
        }
    }
    drop(stdin);
    let what = format!("psql restore into database \"{db}\"");
    let status = child
        .wait()
        .map_err(|e| io_err(format!("waiting for {what}"), e))?;
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let copied = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(SourceError::Failed {
            what,
            status: describe_status(status),
            stderr,
        });
    }
    write_error.map_or(Ok(copied), |e| Err(io_err(format!("writing to {what}"), e)))
}

#[cfg(test)]
mod tests {
    use super::copy_tags;

    #[test]
    fn copy_and_insert_tags_count_rows_and_nothing_else_does() {
        let out = "SET\n set_config \n------------\n \n(1 row)\n\nCOPY 10000000\n\
                   INSERT 0 3\nINSERT 0 1\nCOPY 5 rows\nBEGIN\nCOMMIT\n COPY 7\n";
        assert_eq!(copy_tags(out.as_bytes()), 10_000_004);
        assert_eq!(copy_tags(&b""[..]), 0);
    }
}
