//! Restore checks before it writes and cleans up after itself: `latest` and `--to` pick a
//! snapshot of the target's engine, another engine is refused before anything is created, a
//! database `--create` made is dropped when the restore fails (unless `--keep-failed`), and
//! every refusal names the flag that would allow it.

use crate::common::TestRepo;
use crate::db::{pg_server, psql_at, unique_name, MyDb, PgDb, PgName};
use serde_json::Value;

const SQLITE_DUMP: &[u8] =
    b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\nINSERT INTO t VALUES(1);\nCOMMIT;\n";

/// A pg_dump-style dump whose second statement fails.
const FAILING_PG_DUMP: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE public.a (i integer);\nINSERT INTO public.a VALUES (1);\nSELECT 1/0;\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

fn snapshot_stdin(t: &TestRepo, data: &[u8], name: &str) -> String {
    let args = ["snapshot", "--json", "--stdin", "--stdin-name", name];
    let out = t.dv(&args).write_stdin(data.to_vec()).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn pg_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql_at("postgres", &sql).trim() == "1"
}

fn stderr_of(a: assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn latest_into_a_database_picks_a_snapshot_of_its_engine() {
    let src = PgDb::create("rcsrc");
    src.sql("CREATE TABLE public.k (i int PRIMARY KEY); INSERT INTO public.k VALUES (1), (2);");
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    // The newest snapshot is SQLite; `latest --to postgres://` must not pick it.
    snapshot_stdin(&t, SQLITE_DUMP, "lite.sql");
    let name = unique_name("rclatest");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    t.dv(&["restore", "latest", "--to", &to, "--create"])
        .assert()
        .success();
    assert_eq!(psql_at(&name, "SELECT count(*) FROM public.k").trim(), "2");
}

#[test]
fn another_engine_is_refused_before_anything_is_created() {
    let t = TestRepo::new();
    let lite = snapshot_stdin(&t, SQLITE_DUMP, "lite.sql");
    let name = unique_name("rcengine");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let err = stderr_of(
        t.dv(&["restore", &lite, "--to", &to, "--create"])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("SQLite") && err.contains("PostgreSQL"),
        "{err}"
    );
    assert!(!pg_exists(&name), "nothing may be created: {err}");
    // `latest` with no snapshot of the target's engine names both engines too.
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &to, "--create"])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("no PostgreSQL snapshot") && err.contains("SQLite"),
        "{err}"
    );
    assert!(!pg_exists(&name), "nothing may be created: {err}");
    let my = MyDb::create("rcengine");
    let err = stderr_of(
        t.dv(&["restore", &lite, "--to", &my.url()])
            .assert()
            .code(1),
    );
    assert!(
        err.contains("SQLite") && err.contains("MySQL/MariaDB"),
        "{err}"
    );
}

#[test]
fn a_database_created_by_a_failed_restore_is_dropped_unless_keep_failed() {
    let t = TestRepo::new();
    let id = snapshot_stdin(&t, FAILING_PG_DUMP, "bad.sql");
    let name = unique_name("rcfail");
    let _guard = PgName(name.clone());
    let to = format!("{}/{name}", pg_server());
    let err = stderr_of(
        t.dv(&["restore", &id, "--to", &to, "--create"])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("division by zero") && err.contains("--keep-failed"),
        "{err}"
    );
    assert!(
        !pg_exists(&name),
        "the half-restored database must be dropped: {err}"
    );
    let args = ["restore", &id, "--to", &to, "--create", "--keep-failed"];
    t.dv(&args).assert().failure();
    assert!(pg_exists(&name), "--keep-failed keeps it");
    // A database that existed before is never dropped.
    let existing = PgDb::create("rcfailx");
    t.dv(&["restore", &id, "--to", &existing.url()])
        .assert()
        .failure();
    assert!(pg_exists(&existing.name));
}

#[test]
fn every_refusal_names_the_flag_that_allows_it() {
    let src = PgDb::create("rcflag");
    src.sql("CREATE TABLE public.k (i int PRIMARY KEY);");
    let t = TestRepo::new();
    t.dv(&["snapshot", &src.url()]).assert().success();
    // Not empty, and already existing: --drop-existing.
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &src.url()])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("not empty") && err.contains("--drop-existing"),
        "{err}"
    );
    let args = ["restore", "latest", "--to", &src.url(), "--create"];
    let err = stderr_of(t.dv(&args).assert().failure());
    assert!(
        err.contains("already exists") && err.contains("--drop-existing"),
        "{err}"
    );
    // Missing: --create.
    let missing = format!("{}/{}", pg_server(), unique_name("rcmissing"));
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &missing])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("does not exist") && err.contains("--create"),
        "{err}"
    );
    // The same for MariaDB.
    let my = MyDb::create("rcflag");
    my.sql("CREATE TABLE k (i int PRIMARY KEY);");
    t.dv(&["snapshot", &my.url()]).assert().success();
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &my.url()])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("not empty") && err.contains("--drop-existing"),
        "{err}"
    );
    let gone = format!("{}_missing", my.url());
    let err = stderr_of(
        t.dv(&["restore", "latest", "--to", &gone])
            .assert()
            .failure(),
    );
    assert!(
        err.contains("does not exist") && err.contains("--create"),
        "{err}"
    );
}

/// Flips a byte in the middle of the middle non-list blob that the packs `packs` hold (per
/// `cat index`); returns that blob's id.
fn damage_middle_blob(t: &TestRepo, packs: &[std::path::PathBuf]) -> String {
    let names: Vec<String> = packs
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    let mut blobs = Vec::new();
    for f in crate::common::files_under(&t.repo.join("index")) {
        let id = f.file_name().unwrap().to_str().unwrap().to_string();
        let out = t.dv(&["cat", "index", &id]).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        for p in v["packs"].as_array().unwrap() {
            let pack = p["id"].as_str().unwrap().to_string();
            let Some(at) = names.iter().position(|n| *n == pack) else {
                continue;
            };
            for b in p["blobs"].as_array().unwrap() {
                if b["kind"] != "List" {
                    let mid = b["offset"].as_u64().unwrap() + b["length"].as_u64().unwrap() / 2;
                    blobs.push((at, mid, b["id"].as_str().unwrap().to_string()));
                }
            }
        }
    }
    blobs.sort();
    let (at, mid, id) = blobs[blobs.len() / 2].clone();
    let mut bytes = std::fs::read(&packs[at]).unwrap();
    bytes[mid as usize] ^= 0x40;
    std::fs::write(&packs[at], bytes).unwrap();
    id
}

/// Restore decodes batches of chunks on several threads and writes them in stream order: a
/// damaged blob in the middle of the stream fails the restore naming the blob, after only the
/// intact bytes before it (a prefix of the dump) were written to stdout, and `--target`
/// leaves no file.
#[test]
fn a_damaged_blob_in_the_middle_of_a_parallel_restore_fails_it_naming_the_blob() {
    let t = TestRepo::new();
    // The first 8 MiB stored alone, so the second snapshot's own blobs lie after them.
    let mut dump = crate::common::synthetic_dump(8 << 20, 71);
    t.snapshot_bytes(&dump, &[]);
    let before: std::collections::HashSet<_> = t.packs().into_iter().collect();
    dump.extend_from_slice(&crate::common::synthetic_dump(12 << 20, 72));
    let s = t.snapshot_bytes(&dump, &[]);
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(t.restore_bytes(&id), dump, "the intact restore");
    let new: Vec<_> = t
        .packs()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let blob = damage_middle_blob(&t, &new);

    let a = t.dv(&["restore", &id, "--stdout"]).assert().failure();
    let out = &a.get_output().stdout;
    let err = String::from_utf8_lossy(&a.get_output().stderr);
    assert!(err.contains(&blob[..8]), "the damaged blob is named: {err}");
    assert!(
        out.len() >= 4 << 20 && out.len() < dump.len(),
        "{} of {} bytes written",
        out.len(),
        dump.len()
    );
    assert!(dump.starts_with(out), "only intact bytes, in stream order");

    let dir = t.path("out");
    std::fs::create_dir(&dir).unwrap();
    let target = dir.join("dump.sql");
    let mut a = t.dv(&["restore", &id, "--target", target.to_str().unwrap()]);
    let err = stderr_of(a.assert().failure());
    assert!(err.contains(&blob[..8]), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "a failed restore leaves nothing: {left:?}");
}

/// Logs every backend request on standard error.
const REQUEST_LOG: &str = "dumpvault::backend::stats=debug";

fn data_reads(log: &str) -> usize {
    (log.lines())
        .filter(|l| l.contains("op=\"read\"") && l.contains("path=\"data/"))
        .count()
}

/// Restore reads and decodes ahead of the writer: held at its first write (test hook
/// `restore-first-write`), it still makes every pack read the whole restore makes (the old
/// restore read the next batch only after writing the last one, so one core waited).
#[test]
fn restore_reads_and_decodes_ahead_while_the_writer_is_held() {
    use assert_cmd::cargo::CommandCargoExt;
    use std::io::{BufRead, Read, Write};
    use std::process::Stdio;
    let t = TestRepo::new();
    let dump = crate::common::synthetic_dump(20 << 20, 73);
    let id = t.snapshot_bytes(&dump, &[])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut a = t.dv(&["restore", &id, "--stdout", "-q"]);
    let a = a.env("DUMPVAULT_LOG", REQUEST_LOG).assert().success();
    let all = data_reads(&String::from_utf8_lossy(&a.get_output().stderr));
    assert!(all >= 4, "{all} pack reads: too few batches");

    let fifo = t.path("pause.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = std::process::Command::cargo_bin("dumpvault")
        .unwrap()
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", crate::common::PASSWORD)
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND")
        .env("DUMPVAULT_LOG", REQUEST_LOG)
        .env("DUMPVAULT_TEST_PAUSE", "restore-first-write")
        .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
        .args(["restore", &id, "--stdout", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in err.lines() {
            if l.map(|l| tx.send(l)).is_err() {
                break;
            }
        }
    });
    // A timeout only turns a hang (nothing read ahead) into a failure.
    let (mut paused, mut reads) = (false, 0);
    while !(paused && reads == all) {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("{reads} of {all} pack reads made while the writer is held (paused: {paused})");
        };
        paused |= line.contains("paused at restore-first-write");
        reads += data_reads(&line);
    }
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writeln!(f, "go").unwrap();
    drop(f);
    assert!(child.wait().unwrap().success());
    assert!(drain.join().unwrap() == dump, "the restored dump differs");
}
