//! Truncated and empty dumps are not good backups (issue 14, section 6): a recognised SQL dump
//! without its tool's completion marker, and an empty stream, are refused (exit 1, no snapshot)
//! unless `--allow-incomplete` (tagged `incomplete`) or `--allow-empty` says otherwise; real
//! dumps from the local PostgreSQL and MariaDB, via the URL sources and piped, are accepted.

use crate::common::TestRepo;
use crate::db::{my_client_args, pg_server, MyDb, PgDb};
use serde_json::Value;
use std::process::Command;

/// Standard output of a command that must succeed.
fn output_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `snapshots --json` list.
fn snapshots(t: &TestRepo) -> Vec<Value> {
    let out = t.dv(&["snapshots", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v.as_array().unwrap().clone()
}

fn tags(v: &Value) -> Vec<String> {
    let tags = v["tags"].as_array().unwrap();
    tags.iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// Snapshots `data` from stdin with `extra` flags; returns the exit code and stderr.
fn snapshot_stdin(t: &TestRepo, data: &[u8], extra: &[&str]) -> (i32, String, Value) {
    let mut args = vec!["snapshot", "--json", "--stdin", "--stdin-name", "shop.sql"];
    args.extend_from_slice(extra);
    let out = t.dv(&args).write_stdin(data.to_vec()).output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), err, json)
}

/// `dump` cut at `cut` is refused, stored with `--allow-incomplete` (tagged `incomplete`, and
/// restored byte for byte), and the whole `dump` is accepted untagged.
fn refused_when_cut(dump: &[u8], cut: usize, marker_name: &str) {
    let t = TestRepo::new();
    let cut_short = &dump[..cut];
    let (code, err, _) = snapshot_stdin(&t, cut_short, &[]);
    assert_eq!(code, 1, "a truncated dump must be refused: {err}");
    assert!(
        err.contains("shop.sql") && err.contains(marker_name) && err.contains("--allow-incomplete"),
        "{err}"
    );
    assert!(snapshots(&t).is_empty(), "no snapshot may be written");

    let (code, err, out) = snapshot_stdin(&t, cut_short, &["--allow-incomplete"]);
    assert_eq!(code, 0, "{err}");
    assert!(tags(&out).contains(&"incomplete".to_string()), "{out}");
    assert!(err.contains("incomplete"), "{err}");
    let list = snapshots(&t);
    assert_eq!(list.len(), 1);
    assert_eq!(tags(&list[0]), ["incomplete"]);
    assert_eq!(t.restore_bytes(list[0]["id"].as_str().unwrap()), cut_short);

    let (code, err, out) = snapshot_stdin(&t, dump, &["--tag", "daily"]);
    assert_eq!(code, 0, "the complete dump must be accepted: {err}");
    assert_eq!(tags(&out), ["daily"]);
}

fn pg_sample() -> PgDb {
    let db = PgDb::create("incomplete");
    db.sql(
        "CREATE TABLE orders (id bigint PRIMARY KEY, memo text);
         INSERT INTO orders SELECT g, repeat('x', g % 50) FROM generate_series(1, 20000) g;
         CREATE TABLE customers (id int PRIMARY KEY, name text);
         INSERT INTO customers VALUES (1, 'alice'), (2, 'bob');",
    );
    db
}

fn my_sample() -> MyDb {
    let db = MyDb::create("incomplete");
    db.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, memo text);
         INSERT INTO orders VALUES (1, 'a'), (2, 'b'), (3, 'c');
         CREATE TABLE customers (id int PRIMARY KEY, name text);
         INSERT INTO customers VALUES (1, 'alice');",
    );
    db
}

#[test]
fn truncated_pg_dump_stream_is_refused() {
    let db = pg_sample();
    let dump = output_of(Command::new("pg_dump").args([
        "--format=plain",
        "-d",
        &format!("{}/{}", pg_server(), db.name),
    ]));
    // Cut inside the COPY data of public.orders, as `head -c` in front of a killed pg_dump.
    let cut = dump.windows(6).position(|w| w == b"\n1000\t").unwrap() + 3;
    refused_when_cut(&dump, cut, "PostgreSQL database dump complete");
    // Cut after the last `\.`: every row is there, but the post-data (keys, indexes) is not.
    let last_copy_end = dump.windows(4).rposition(|w| w == b"\n\\.\n").unwrap() + 4;
    refused_when_cut(&dump, last_copy_end, "PostgreSQL database dump complete");
}

#[test]
fn truncated_mysqldump_stream_is_refused() {
    let db = my_sample();
    let dump = output_of(
        Command::new("mariadb-dump")
            .args(
                my_client_args(None)
                    .iter()
                    .filter(|a| !["-N", "-B"].contains(&a.as_str())),
            )
            .args(["--single-transaction", "--routines", "--triggers"])
            .arg(&db.name),
    );
    let footer = dump
        .windows(17)
        .rposition(|w| w == b"-- Dump completed")
        .unwrap();
    refused_when_cut(&dump, footer, "Dump completed");
    let data = dump
        .windows(13)
        .position(|w| w == b"INSERT INTO `")
        .unwrap();
    refused_when_cut(&dump, data + 20, "Dump completed");
}

#[test]
fn truncated_sqlite_dump_is_refused() {
    let t = TestRepo::new();
    let file = t.path("app.db");
    let sql = "CREATE TABLE t(id integer primary key, v text);\
               INSERT INTO t(v) VALUES ('a'), ('b'), ('c');\
               CREATE INDEX t_v ON t(v);";
    output_of(Command::new("sqlite3").arg(&file).arg(sql));
    let dump = output_of(Command::new("sqlite3").arg(&file).arg(".dump"));
    assert!(dump.ends_with(b"COMMIT;\n"));
    refused_when_cut(&dump, dump.len() - 8, "COMMIT;");
    // The SQLite URL source (SQL and image) is accepted and not tagged.
    let url = format!("sqlite://{}", file.display());
    for extra in [&[][..], &["--format", "image"][..]] {
        let mut args = vec!["snapshot", "--json", &url];
        args.extend_from_slice(extra);
        let out = t.dv(&args).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert!(tags(&v).is_empty(), "{v}");
    }
}

#[test]
fn empty_stream_is_refused_unless_allowed() {
    let t = TestRepo::new();
    let out = t.dv(&["snapshot", "--command", "true"]).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("empty") && err.contains("--allow-empty") && err.contains("`true`"),
        "{err}"
    );
    let (code, err, _) = snapshot_stdin(&t, b"", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(snapshots(&t).is_empty(), "no snapshot may be written");

    t.dv(&["snapshot", "--command", "true", "--allow-empty"])
        .assert()
        .success();
    let list = snapshots(&t);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["size"], 0);
    // Data that is not SQL needs no completion marker.
    let (code, err, _) = snapshot_stdin(&t, b"just some bytes\n", &[]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn real_dumps_are_accepted_from_urls_and_pipes() {
    let t = TestRepo::new();
    let pg = pg_sample();
    let my = my_sample();
    let pg_url = format!("{}/{}", pg_server(), pg.name);
    for extra in [&[][..], &["--heap-order", "--globals"][..]] {
        let mut args = vec!["snapshot", "--json", &pg_url];
        args.extend_from_slice(extra);
        let out = t.dv(&args).assert().success();
        let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert!(tags(&v).is_empty(), "{v}");
    }
    let out = t.dv(&["snapshot", "--json", &my.url()]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(tags(&v).is_empty(), "{v}");

    // Piped from the dump tools, as the README shows (with pipefail).
    let my_args: Vec<String> = my_client_args(None)
        .into_iter()
        .filter(|a| a != "-N" && a != "-B")
        .collect();
    let pipes = [
        format!("pg_dump -d '{pg_url}'"),
        format!(
            "mariadb-dump {} --single-transaction '{}'",
            my_args.join(" "),
            my.name
        ),
    ];
    for pipe in pipes {
        let script = format!(
            "set -o pipefail; {pipe} | '{}' snapshot --json --stdin --stdin-name x.sql",
            assert_cmd::cargo::cargo_bin("dumpvault").display()
        );
        let out = Command::new("bash")
            .args(["-c", &script])
            .env("DUMPVAULT_REPOSITORY", &t.repo)
            .env("DUMPVAULT_PASSWORD", crate::common::PASSWORD)
            .env_remove("DUMPVAULT_PASSWORD_FILE")
            .env_remove("DUMPVAULT_PASSWORD_COMMAND")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{pipe}: {err}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(tags(&v).is_empty(), "{v}");
    }
    let list = snapshots(&t);
    assert_eq!(list.len(), 5);
    assert!(list.iter().all(|s| !tags(s).contains(&"incomplete".into())));
}
