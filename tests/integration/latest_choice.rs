//! Which snapshot `latest` names (probe findings 6, 10 and 11): with `restore --to`, only a
//! snapshot of the database the target names (or the one `--database` names), never another
//! database's; never a snapshot tagged `incomplete` (a cut-short dump), which retention also
//! does not let take a complete snapshot's place; never a catalogue entry whose manifest is
//! lost, which `repair snapshots --forget-broken` removes.

use crate::common::{stderr, TestRepo};
use crate::db::{pg_server, psql_at, unique_name, PgDb, PgName};
use serde_json::Value;

/// The `snapshots --json` list, oldest first.
fn listed(t: &TestRepo) -> Vec<Value> {
    let out = t.dv(&["snapshots", "--json"]).assert().success();
    serde_json::from_slice::<Value>(&out.get_output().stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The short id of the snapshot `v` of a `--json` listing.
fn short(v: &Value) -> String {
    v["id"].as_str().unwrap()[..8].to_string()
}

/// The tables of the public schema of PostgreSQL database `db`, sorted, comma-joined.
fn tables_of(db: &str) -> String {
    psql_at(
        db,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
         WHERE schemaname = 'public'",
    )
    .trim()
    .to_string()
}

/// Whether PostgreSQL database `name` exists.
fn pg_exists(name: &str) -> bool {
    let q = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    psql_at("postgres", &q).trim() == "1"
}

/// Two PostgreSQL databases, `shop` then `crm` snapshotted into `t` (so crm's is the newest),
/// each with a table named after it holding one row.
fn shop_and_crm(t: &TestRepo) -> (PgDb, PgDb) {
    let (shop, crm) = (PgDb::create("lc_shop"), PgDb::create("lc_crm"));
    for db in [&shop, &crm] {
        db.sql("CREATE TABLE only_here (id int PRIMARY KEY); INSERT INTO only_here VALUES (1);");
        db.sql(&format!("CREATE TABLE t_{} (id int)", db.name));
        t.dv(&["snapshot", "--quiet", &db.url()]).assert().success();
    }
    (shop, crm)
}

/// Finding 6: `restore latest --to …/shop --drop-existing` restored crm's newer snapshot over
/// shop (exit 0). It must restore shop's own newest snapshot.
#[test]
fn latest_into_a_database_restores_that_databases_own_snapshot() {
    let t = TestRepo::new();
    let (shop, _crm) = shop_and_crm(&t);
    let shop_snapshot = short(&listed(&t)[0]);
    // A DBA rolls shop back: the row added after its snapshot must go.
    shop.sql("INSERT INTO only_here VALUES (2)");
    let out = t
        .dv(&["restore", "latest", "--to", &shop.url(), "--drop-existing"])
        .assert()
        .success();
    let err = stderr(&out);
    assert!(err.contains(&shop_snapshot), "{err}");
    assert_eq!(tables_of(&shop.name), format!("only_here,t_{}", shop.name));
    assert_eq!(shop.sql("SELECT count(*) FROM only_here").trim(), "1");
}

/// Finding 6: into a database whose name no snapshot has, `latest` is refused (exit 2, a usage
/// error) naming the databases held and `--database`; nothing is created or dropped. With
/// `--database` the choice is explicit and goes ahead.
#[test]
fn latest_into_a_database_no_snapshot_is_of_is_refused_until_database_names_one() {
    let t = TestRepo::new();
    let (shop, crm) = shop_and_crm(&t);
    // A new database (--create): refused, not created.
    let copy = unique_name("lc_copy");
    let _guard = PgName(copy.clone());
    let to = format!("{}/{copy}", pg_server());
    let out = t
        .dv(&["restore", "latest", "--to", &to, "--create"])
        .assert()
        .code(2);
    let err = stderr(&out);
    for want in [&shop.name, &crm.name, "--database", copy.as_str()] {
        assert!(err.contains(want), "{want:?} in {err}");
    }
    assert!(!pg_exists(&copy), "nothing may be created");
    // An existing database (--drop-existing): refused, left as it was.
    let other = PgDb::create("lc_other");
    other.sql("CREATE TABLE precious (id int); INSERT INTO precious VALUES (7);");
    let args = ["restore", "latest", "--to", &other.url(), "--drop-existing"];
    let err = stderr(&t.dv(&args).assert().code(2));
    assert!(err.contains("--database"), "{err}");
    assert_eq!(other.sql("SELECT id FROM precious").trim(), "7");
    // Named explicitly, another database's snapshot is restored into it.
    let mut args = args.to_vec();
    args.extend(["--database", crm.name.as_str()]);
    t.dv(&args).assert().success();
    assert_eq!(tables_of(&other.name), format!("only_here,t_{}", crm.name));
}

/// With snapshots of one database only, `latest --to` a differently named database is that
/// database's copy (unambiguous, nothing dropped); with `--drop-existing` it is refused
/// unless `--database` names the source, so no database is replaced by another's snapshot.
#[test]
fn latest_of_the_only_database_restores_into_a_copy_but_never_replaces_another() {
    let t = TestRepo::new();
    let shop = PgDb::create("lc_only");
    shop.sql("CREATE TABLE only_here (id int PRIMARY KEY); INSERT INTO only_here VALUES (1);");
    t.dv(&["snapshot", "--quiet", &shop.url()])
        .assert()
        .success();
    let copy = unique_name("lc_only_copy");
    let _guard = PgName(copy.clone());
    let to = format!("{}/{copy}", pg_server());
    t.dv(&["restore", "latest", "--to", &to, "--create"])
        .assert()
        .success();
    assert_eq!(tables_of(&copy), "only_here");
    let other = PgDb::create("lc_only_other");
    other.sql("CREATE TABLE precious (id int); INSERT INTO precious VALUES (7);");
    let args = ["restore", "latest", "--to", &other.url(), "--drop-existing"];
    let err = stderr(&t.dv(&args).assert().code(2));
    assert!(
        err.contains("--database") && err.contains(&shop.name),
        "{err}"
    );
    assert_eq!(other.sql("SELECT id FROM precious").trim(), "7");
}

/// A complete SQLite `.dump` of a table holding `rows` rows.
fn sqlite_dump(rows: u32) -> Vec<u8> {
    let mut s = String::from("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t(a);\n");
    for i in 0..rows {
        s.push_str(&format!("INSERT INTO t VALUES({i});\n"));
    }
    s.push_str("COMMIT;\n");
    s.into_bytes()
}

/// `full` snapshotted as `app.sql`, then `full` cut short stored with `--allow-incomplete`;
/// returns the full dump, the cut one, and the two short ids (complete, incomplete).
fn complete_then_cut(t: &TestRepo) -> (Vec<u8>, Vec<u8>, String, String) {
    let full = sqlite_dump(50);
    let cut = full[..full.len() / 2].to_vec();
    let args = ["snapshot", "--quiet", "--stdin", "--stdin-name", "app.sql"];
    t.dv(&args).write_stdin(full.clone()).assert().success();
    let mut cut_args = args.to_vec();
    cut_args.push("--allow-incomplete");
    t.dv(&cut_args).write_stdin(cut.clone()).assert().success();
    let l = listed(t);
    assert_eq!(l.len(), 2);
    assert!(l[1]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "incomplete"));
    (full, cut, short(&l[0]), short(&l[1]))
}

/// Finding 10: `restore latest` gave the cut-short dump, exit 0, no warning. It must give the
/// newest complete one and say on stderr that the incomplete one was skipped; given by id,
/// the incomplete one is restored with a warning that it is cut short.
#[test]
fn latest_skips_a_newer_incomplete_snapshot_and_says_so() {
    let t = TestRepo::new();
    let (full, cut, complete, incomplete) = complete_then_cut(&t);
    let out = t
        .dv(&["restore", "latest", "--database", "app", "--stdout"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, full, "latest is the complete dump");
    let err = stderr(&out);
    assert!(
        err.contains(&incomplete) && err.contains(&complete) && err.contains("incomplete"),
        "{err}"
    );
    let out = t
        .dv(&["restore", &incomplete, "--stdout"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, cut);
    let err = stderr(&out);
    assert!(
        err.contains("incomplete") && err.contains("cut short"),
        "{err}"
    );
    // `forget latest` still means the newest listed: the cut one, not the complete one.
    t.dv(&["forget", "latest"]).assert().success();
    let l = listed(&t);
    assert_eq!((l.len(), short(&l[0])), (1, complete));
}

/// Finding 10: `forget --keep-last 1` kept the cut-short dump and forgot the only complete
/// snapshot. An incomplete snapshot takes no place in the rules.
#[test]
fn keep_last_never_forgets_the_complete_snapshot_for_an_incomplete_one() {
    let t = TestRepo::new();
    let (_, _, complete, incomplete) = complete_then_cut(&t);
    let out = t
        .dv(&["forget", "--keep-last", "1", "--json"])
        .assert()
        .success();
    let plan: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(plan["plan"]["remove"], 0, "{plan}");
    let ids: Vec<String> = listed(&t).iter().map(short).collect();
    assert_eq!(ids, [complete.clone(), incomplete]);
    // A complete snapshot after it: the cut one goes, the two complete ones stay with 2.
    let args = ["snapshot", "--quiet", "--stdin", "--stdin-name", "app.sql"];
    t.dv(&args).write_stdin(sqlite_dump(60)).assert().success();
    let newest = short(&listed(&t)[2]);
    t.dv(&["forget", "--keep-last", "2"]).assert().success();
    let ids: Vec<String> = listed(&t).iter().map(short).collect();
    assert_eq!(ids, [complete, newest]);
}

/// Finding 11: with the newest manifest lost, `restore latest` failed with a bare "No such
/// file", `check` said "every snapshot still restores" and `repair snapshots --forget-broken`
/// removed nothing.
#[test]
fn a_lost_manifest_is_skipped_by_latest_and_removed_by_repair_snapshots() {
    let t = TestRepo::new();
    for v in ["v1\n", "v2\n"] {
        let args = ["snapshot", "--quiet", "--stdin", "--stdin-name", "app.txt"];
        t.dv(&args).write_stdin(v).assert().success();
    }
    let l = listed(&t);
    let (older, lost) = (short(&l[0]), l[1]["id"].as_str().unwrap().to_string());
    std::fs::remove_file(t.repo.join("snapshots").join(&lost)).unwrap();
    let lost_short = &lost[..8];
    // `latest` skips it with a warning naming it and the command that drops it.
    let out = t
        .dv(&["restore", "latest", "--database", "app", "--stdout"])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, b"v1\n");
    let err = stderr(&out);
    assert!(
        err.contains(lost_short) && err.contains("missing") && err.contains("--forget-broken"),
        "{err}"
    );
    // By id: the error says the manifest is missing and what to do (exit 3: damage).
    let err = stderr(&t.dv(&["restore", lost_short, "--stdout"]).assert().code(3));
    assert!(
        err.contains("manifest") && err.contains("missing") && err.contains("--forget-broken"),
        "{err}"
    );
    // check does not claim every snapshot restores.
    let out = t.dv(&["check"]).assert().code(3);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(!text.contains("every snapshot still restores"), "{text}");
    assert!(text.contains(lost_short), "{text}");
    // repair snapshots counts it as broken, and --forget-broken removes it.
    let out = t.dv(&["repair", "snapshots"]).assert().code(3);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains(lost_short), "{text}");
    t.dv(&["repair", "snapshots", "--forget-broken"])
        .assert()
        .success();
    let ids: Vec<String> = listed(&t).iter().map(short).collect();
    assert_eq!(ids, [older]);
    t.dv(&["check"]).assert().success();
}
