//! Config version 2, where the catalogue decides which snapshots exist (repo-format.md
//! section 17): no listing of `snapshots/`, tombstones written before manifests are deleted
//! (forget, tag), a writer whose catalogue file fails, and prune completing what was
//! interrupted.

use super::{catalogue_files, ids, listed, process, snapshot_files};
use crate::common::{json, synthetic_dump, TestRepo, PASSWORD};
use dumpvault::backend::Backend;
use dumpvault::repository::Repository;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};

/// The config version of the repository at `repo`.
fn config_version(repo: &Path) -> u32 {
    let backend = Backend::open(repo.to_str().unwrap()).unwrap();
    Repository::open(backend, PASSWORD.as_bytes())
        .unwrap()
        .config()
        .version
}

/// Runs `args` with `--json --stats-backend` (feeding `stdin`), which must succeed; returns
/// the list requests of the `snapshots/` folder.
pub(super) fn snapshot_folder_lists(repo: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> u64 {
    let mut all = args.to_vec();
    all.extend(["--json", "--stats-backend"]);
    let mut c = process(repo, PASSWORD, &all);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        w.write_all(&data).unwrap();
    }
    drop(w);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{args:?}: {err}");
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    let folder = &stats["backend_requests"]["by_folder"]["snapshots"];
    folder["list"]["requests"].as_u64().unwrap_or(0)
}

/// A named pipe for the test hooks' pause points.
fn fifo(t: &TestRepo) -> std::path::PathBuf {
    let fifo = t.path("pause.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    fifo
}

/// Starts `c` paused at `point` (test hook) and waits until it got there; returns the child
/// and its standard error.
fn paused(c: Command, fifo: &Path, point: &str) -> (Child, BufReader<ChildStderr>) {
    paused_with_stdin(c, fifo, point, Vec::new())
}

/// A snapshot of `data` from stdin, started paused at `point`; returns the child and its
/// standard error.
fn paused_snapshot(
    t: &TestRepo,
    fifo: &Path,
    point: &str,
    data: &[u8],
) -> (Child, BufReader<ChildStderr>) {
    let c = process(
        &t.repo,
        PASSWORD,
        &["snapshot", "--json", "--stdin", "--stdin-name", "late.sql"],
    );
    paused_with_stdin(c, fifo, point, data.to_vec())
}

/// As [`paused`], feeding `data` on standard input.
fn paused_with_stdin(
    mut c: Command,
    fifo: &Path,
    point: &str,
    data: Vec<u8>,
) -> (Child, BufReader<ChildStderr>) {
    let mut child = c
        .stdin(Stdio::piped())
        .env("DUMPVAULT_TEST_PAUSE", point)
        .env("DUMPVAULT_TEST_PAUSE_FIFO", fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(&format!("paused at {point}")) {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "ended before pausing at {point}"
        );
    }
    feeder.join().unwrap();
    (child, err)
}

/// Lets a process paused at a test hook go on.
fn resume(fifo: &Path) {
    let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
    writeln!(f, "go").unwrap();
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn listing_restore_latest_and_the_parent_choice_list_no_snapshots_folder() {
    let t = TestRepo::new();
    let a = t.snapshot_bytes(&synthetic_dump(60_000, 1), &[]);
    t.snapshot_bytes(&synthetic_dump(60_000, 2), &[]);
    assert_eq!(snapshot_folder_lists(&t.repo, &["snapshots"], None), 0);
    assert_eq!(config_version(&t.repo), 4, "init writes config version 4");
    let target = t.path("latest.out");
    let restore = ["restore", "latest", "--target", target.to_str().unwrap()];
    assert_eq!(snapshot_folder_lists(&t.repo, &restore, None), 0);
    assert!(std::fs::read(&target).unwrap() == synthetic_dump(60_000, 2));
    // A snapshot chooses its parent (the previous stream of the database) from the catalogue.
    let snap = ["snapshot", "--stdin", "--stdin-name", "dump.sql"];
    let data = Some(synthetic_dump(60_000, 3));
    assert_eq!(snapshot_folder_lists(&t.repo, &snap, data), 0);
    // A snapshot named by id prefix is found in the catalogue too.
    let prefix = &id_of(&a)[..8];
    let restore = ["restore", prefix, "--target", target.to_str().unwrap()];
    std::fs::remove_file(&target).unwrap();
    assert_eq!(snapshot_folder_lists(&t.repo, &restore, None), 0);
    assert!(std::fs::read(&target).unwrap() == synthetic_dump(60_000, 1));
}

#[test]
fn forget_killed_after_its_tombstones_hides_the_snapshots_and_prune_finishes_it() {
    let t = TestRepo::new();
    let dumps: Vec<Vec<u8>> = (0..3).map(|i| synthetic_dump(80_000, 20 + i)).collect();
    let s: Vec<String> = dumps
        .iter()
        .map(|d| id_of(&t.snapshot_bytes(d, &[])))
        .collect();
    let fifo = fifo(&t);
    let forget = process(&t.repo, PASSWORD, &["forget", &s[0]]);
    let (mut child, _err) = paused(forget, &fifo, "forget-before-delete");
    child.kill().unwrap();
    child.wait().unwrap();
    // The tombstone is durable, the manifest still there: the snapshot is gone for readers.
    assert!(snapshot_files(&t.repo).contains(&s[0]));
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), BTreeSet::from([s[1].clone(), s[2].clone()]));
    let out = t.dv(&["check"]).assert().success();
    let stderr = crate::common::stderr(&out);
    assert!(
        stderr.contains("of forgotten snapshots are still stored"),
        "{stderr}"
    );
    // Prune deletes its manifest (before its walk: its data is not kept), then frees the data.
    let p = json(&mut t.dv(&["prune", "--json", "--grace", "0s"]));
    assert_eq!(p["forgotten_manifests_removed"], 1, "{p}");
    assert_eq!(p["snapshots"], 2, "{p}");
    assert!(!snapshot_files(&t.repo).contains(&s[0]));
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    for i in 1..3 {
        assert!(t.restore_bytes(&s[i]) == dumps[i], "snapshot {i}");
    }
    t.dv(&["check", "--read-data"]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), snapshot_files(&t.repo));
}

#[test]
fn a_writer_whose_catalogue_file_fails_exits_non_zero_and_prune_makes_it_visible() {
    let t = TestRepo::new();
    let first = id_of(&t.snapshot_bytes(&synthetic_dump(40_000, 3), &[]));
    let fifo = fifo(&t);
    let data = synthetic_dump(40_000, 4);
    let (mut child, mut err) = paused_snapshot(&t, &fifo, "catalogue-before-write", &data);
    // The catalogue folder cannot take a file now (even for root): a file is in its place.
    let folder = t.repo.join("catalogue");
    let aside = t.repo.join("catalogue.aside");
    std::fs::rename(&folder, &aside).unwrap();
    std::fs::write(&folder, b"not a folder").unwrap();
    resume(&fifo);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    std::fs::remove_file(&folder).unwrap();
    std::fs::rename(&aside, &folder).unwrap();
    assert_eq!(status.code(), Some(1), "the snapshot must fail: {rest}");
    assert!(
        rest.contains("is stored but not yet visible")
            && rest.contains("the next `dumpvault prune` catalogues it"),
        "{rest}"
    );
    let all = snapshot_files(&t.repo);
    assert_eq!(all.len(), 2, "its manifest is stored");
    let stored = all.iter().find(|i| **i != first).unwrap().clone();
    // Not visible until prune catalogues it; check says so without failing.
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), BTreeSet::from([first.clone()]));
    let out = t.dv(&["check"]).assert().success();
    let stderr = crate::common::stderr(&out);
    assert!(
        stderr.contains("are not visible") && stderr.contains(&stored[..8]),
        "{stderr}"
    );
    t.dv(&["prune"]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), all);
    assert!(t.restore_bytes(&stored) == data);
}

#[test]
fn tag_leaves_no_duplicate_and_no_ghost_even_when_killed_before_deleting() {
    let t = TestRepo::new();
    let data = synthetic_dump(50_000, 7);
    let s = id_of(&t.snapshot_bytes(&data, &[]));
    let other = id_of(&t.snapshot_bytes(&synthetic_dump(50_000, 8), &[]));
    t.dv(&["tag", &s, "--add", "a"]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(list.len(), 2);
    assert!(!ids(&list).contains(&s));
    let tagged = (list.iter())
        .find(|e| e["tags"] == serde_json::json!(["a"]))
        .map(id_of)
        .unwrap();
    // Killed after its catalogue file (new entry + old tombstone), before deleting.
    let fifo = fifo(&t);
    let tag = process(&t.repo, PASSWORD, &["tag", &tagged, "--add", "b"]);
    let (mut child, _err) = paused(tag, &fifo, "tag-before-delete");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        snapshot_files(&t.repo).contains(&tagged),
        "old manifest left"
    );
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(list.len(), 2, "no duplicate: {list:?}");
    assert!(!ids(&list).contains(&tagged), "no ghost");
    let retagged = (list.iter())
        .find(|e| e["tags"] == serde_json::json!(["a", "b"]))
        .map(id_of)
        .unwrap();
    assert_eq!(
        ids(&list),
        BTreeSet::from([retagged.clone(), other.clone()])
    );
    // Prune deletes the old manifest; nothing changes for readers.
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    assert_eq!(snapshot_files(&t.repo), ids(&list));
    let (after, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&after), ids(&list));
    assert!(t.restore_bytes(&retagged) == data);
    let files = catalogue_files(&t.repo, PASSWORD);
    assert_eq!(files.len(), 1, "{files:?}");
}

#[test]
fn a_fleet_run_lists_the_catalogue_once_for_its_snapshots_and_once_after() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestRepo::new();
    let pass = t.path("pass");
    std::fs::write(&pass, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cfg_text = format!(
        "status_file = {:?}\n\n[repository.main]\nurl = {:?}\npassword_file = {:?}\n",
        t.path("status.json"),
        t.repo,
        pass
    );
    for job in ["a", "b", "c"] {
        let db = t.path(&format!("{job}.db"));
        crate::common::sqlite_two_tables(&db, 20);
        cfg_text.push_str(&format!(
            "\n[job.{job}]\nrepository = \"main\"\nsources = [\"sqlite://{}\"]\n\
             keep = {{ last = 1 }}\n",
            db.display()
        ));
    }
    let cfg = t.path("dumpvault.toml");
    std::fs::write(&cfg, cfg_text).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    // (catalogue list requests, prunes run)
    let run = || -> (u64, usize) {
        let c = cfg.to_str().unwrap();
        let out = assert_cmd::Command::cargo_bin("dumpvault")
            .unwrap()
            .env_remove("DUMPVAULT_REPOSITORY")
            .env_remove("DUMPVAULT_PASSWORD")
            .args(["run", "--json", "--stats-backend", "--config", c])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
        let folder = &stats["backend_requests"]["by_folder"]["catalogue"];
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let prunes = v["prunes"].as_array().map_or(0, |p| p.len());
        (folder["list"]["requests"].as_u64().unwrap_or(0), prunes)
    };
    run();
    // The second run forgets the first run's snapshot of each of the three jobs: one listing
    // shared by the snapshots (delta bases), one shared by the three jobs' retention; the
    // counts of the status file reuse the latter. A prune lists twice (its tombstones before
    // its walk, and its compaction).
    let (lists, prunes) = run();
    assert_eq!(prunes, 1);
    assert_eq!(lists, 2 + 2 * prunes as u64);
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(list.len(), 3, "keep last 1 per job: {list:?}");
}

#[test]
fn migrate_catalogue_makes_a_version_1_repository_authoritative_only_when_alone() {
    let t = TestRepo::new();
    crate::common::set_config_version(&t.repo, 1);
    t.snapshot_bytes(&synthetic_dump(30_000, 50), &[]);
    // A version 1 writer killed between its manifest and its catalogue file.
    let fifo = fifo(&t);
    let orphan_data = synthetic_dump(30_000, 51);
    let (mut killed, _) = paused_snapshot(&t, &fifo, "catalogue-before-write", &orphan_data);
    killed.kill().unwrap();
    killed.wait().unwrap();
    t.dv(&["unlock", "--remove-all"]).assert().success();
    // Refused (exit 3, nothing changed) while another process holds a lock.
    let data = synthetic_dump(30_000, 52);
    let (writer, _err) = paused_snapshot(&t, &fifo, "snapshot-before-manifest", &data);
    let out = t.dv(&["migrate", "catalogue"]).assert().code(3);
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("hold a lock") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(config_version(&t.repo), 1);
    resume(&fifo);
    assert!(writer.wait_with_output().unwrap().status.success());
    let all = snapshot_files(&t.repo);
    assert_eq!(all.len(), 3);
    let out = json(&mut t.dv(&["migrate", "catalogue", "--json"]));
    assert_eq!(
        (out["from_version"].clone(), out["to_version"].clone()),
        (1.into(), 4.into())
    );
    assert_eq!(config_version(&t.repo), 4);
    // Every snapshot is listed, by the catalogue alone, and the orphan restores.
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), all);
    assert_eq!(snapshot_folder_lists(&t.repo, &["snapshots"], None), 0);
    assert!(list
        .iter()
        .map(id_of)
        .any(|id| t.restore_bytes(&id) == orphan_data));
    let again = json(&mut t.dv(&["migrate", "catalogue", "--json"]));
    assert_eq!(again["from_version"], 4);
}

/// Issue 16 (splices): `migrate catalogue` takes a config version 3 repository to version 4,
/// writing only the config (its catalogue is already in parts); what it held restores, and
/// snapshots after it (which may store splices) restore too.
#[test]
fn migrate_from_version_3_only_writes_the_config() {
    let t = TestRepo::new();
    let catalogue = || -> BTreeSet<_> {
        let dirs = ["catalogue", "catalogue-parts"];
        (dirs.iter())
            .flat_map(|d| crate::common::files_under(&t.repo.join(d)))
            .collect()
    };
    let first = synthetic_dump(40_000, 1);
    t.snapshot_bytes(&first, &[]);
    crate::common::set_config_version(&t.repo, 3);
    let before = catalogue();
    let out = json(&mut t.dv(&["migrate", "catalogue", "--json"]));
    assert_eq!(
        (out["from_version"].clone(), out["to_version"].clone()),
        (3.into(), 4.into())
    );
    assert_eq!(config_version(&t.repo), 4);
    assert_eq!(before, catalogue(), "no catalogue file written");
    let second = synthetic_dump(40_000, 2);
    t.snapshot_bytes(&second, &[]);
    let (list, _) = listed(&t.repo, PASSWORD);
    let restored: BTreeSet<Vec<u8>> = list.iter().map(|e| t.restore_bytes(&id_of(e))).collect();
    assert_eq!(restored, BTreeSet::from([first, second]));
    t.dv(&["check", "--read-data"]).assert().success();
}
