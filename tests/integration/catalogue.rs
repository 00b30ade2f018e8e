//! The snapshot catalogue (repo-format.md section 17): consistent under concurrent snapshots,
//! forget and prune; a damaged catalogue file is ignored with a warning; a writer killed
//! between its manifest and its catalogue file; an old repository gains a catalogue; forget
//! and tag are reflected, and prune compacts.

use crate::common::{files_under, set_config_version, synthetic_dump, TestRepo, PASSWORD};
use dumpvault::backend::Backend;
use dumpvault::id::Id;
use dumpvault::repository::catalogue::read_file;
use dumpvault::repository::{FileKind, Repository};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Config version 2 (the catalogue decides which snapshots exist): its own tests.
#[path = "catalogue_v2.rs"]
mod v2;

/// Config version 3 (the catalogue in per-database parts): its own tests.
#[path = "catalogue_parts.rs"]
mod parts;

/// The binary for repository `repo` with `password`, as a plain process.
pub(crate) fn process(repo: &Path, password: &str, args: &[&str]) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    c.env("DUMPVAULT_REPOSITORY", repo)
        .env("DUMPVAULT_PASSWORD", password)
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND")
        .env_remove("DUMPVAULT_TEST_PAUSE")
        .args(args);
    c
}

/// Starts a stdin snapshot of `data` named `name`.
pub(crate) fn spawn_snapshot(
    repo: &Path,
    name: &str,
    data: Vec<u8>,
) -> (Child, std::thread::JoinHandle<()>) {
    let mut child = process(
        repo,
        PASSWORD,
        &["snapshot", "--json", "--stdin", "--stdin-name", name],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut w = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    (child, feeder)
}

/// Snapshot ids from the names of the files in `snapshots/`.
pub(crate) fn snapshot_files(repo: &Path) -> BTreeSet<String> {
    files_under(&repo.join("snapshots"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// `snapshots --json` of `t` as (ids, stderr).
pub(crate) fn listed(repo: &Path, password: &str) -> (Vec<serde_json::Value>, String) {
    let o = process(repo, password, &["snapshots", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v.as_array().unwrap().clone(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub(crate) fn ids(list: &[serde_json::Value]) -> BTreeSet<String> {
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every catalogue file of the repository, read with the library: (file id, snapshot ids of
/// its entries, ids it supersedes).
pub(crate) fn catalogue_files(repo: &Path, password: &str) -> Vec<(Id, BTreeSet<String>, usize)> {
    let r = Repository::open(
        Backend::open(repo.to_str().unwrap()).unwrap(),
        password.as_bytes(),
    )
    .unwrap();
    let mut out = Vec::new();
    for (id, _) in r.list(FileKind::Catalogue).unwrap() {
        let f = read_file(&r, &id).unwrap().unwrap();
        let entries = f.entries.iter().map(|e| Id(e.id).to_hex()).collect();
        out.push((id, entries, f.supersedes.len()));
    }
    out
}

/// The union of the entries of every catalogue file.
pub(crate) fn catalogued(repo: &Path, password: &str) -> BTreeSet<String> {
    catalogue_files(repo, password)
        .into_iter()
        .flat_map(|(_, e, _)| e)
        .collect()
}

#[test]
fn catalogue_stays_consistent_under_concurrent_snapshots_forget_and_prune() {
    let t = TestRepo::new();
    let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut forgotten: BTreeSet<String> = BTreeSet::new();
    for round in 0..3u64 {
        let mut writers = Vec::new();
        for db in 0..4u64 {
            let bytes = synthetic_dump(120_000 + 10_000 * db as usize, round * 10 + db + 1);
            let name = format!("db{db}.sql");
            writers.push((bytes.clone(), spawn_snapshot(&t.repo, &name, bytes)));
        }
        // Forget and prune while they run (no grace: packs marked in an earlier round go).
        let pruner = process(
            &t.repo,
            PASSWORD,
            &[
                "forget",
                "--keep-last",
                "2",
                "--prune",
                "--grace",
                "0s",
                "--json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        for (bytes, (child, feeder)) in writers {
            let o = child.wait_with_output().unwrap();
            feeder.join().unwrap();
            assert!(
                o.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            data.insert(v["id"].as_str().unwrap().to_string(), bytes);
        }
        let o = pruner.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "round {round}: forget --prune: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for id in v["removed"].as_array().unwrap() {
            forgotten.insert(id.as_str().unwrap().to_string());
        }
        let (list, stderr) = listed(&t.repo, PASSWORD);
        assert!(!stderr.contains("warning"), "{stderr}");
        // Every snapshot that exited 0 and was not forgotten is listed (config version 2: by
        // the catalogue alone, without listing `snapshots/`).
        let live: BTreeSet<String> = (data.keys())
            .filter(|id| !forgotten.contains(*id))
            .cloned()
            .collect();
        assert_eq!(ids(&list), live, "round {round}");
        assert_eq!(v2::snapshot_folder_lists(&t.repo, &["snapshots"], None), 0);
        // The catalogue lists exactly the snapshot files: none lost, none resurrected.
        assert_eq!(ids(&list), snapshot_files(&t.repo), "round {round}");
        // Every listed snapshot is catalogued once this round's writers are done.
        assert!(ids(&list).is_subset(&catalogued(&t.repo, PASSWORD)));
        for id in ids(&list) {
            assert_eq!(t.restore_bytes(&id), data[&id], "round {round}: {id}");
        }
    }
    // A final prune leaves one catalogue file holding exactly the live snapshots.
    t.dv(&["prune", "--grace", "0s"]).assert().success();
    let files = catalogue_files(&t.repo, PASSWORD);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, snapshot_files(&t.repo));
    t.dv(&["check"]).assert().success();
}

#[test]
fn a_damaged_catalogue_file_is_ignored_with_a_warning_and_prune_replaces_it() {
    let t = TestRepo::new();
    let a = t.snapshot_bytes(&synthetic_dump(50_000, 1), &[]);
    let b = t.snapshot_bytes(&synthetic_dump(50_000, 2), &[]);
    let files = files_under(&t.repo.join("catalogue"));
    assert_eq!(files.len(), 2, "one catalogue file per snapshot: {files:?}");
    // Flip a byte of the file that summarises `a`.
    let damaged = (files.iter())
        .find(|p| {
            let id = Id::from_hex(&p.file_name().unwrap().to_string_lossy()).unwrap();
            catalogue_files(&t.repo, PASSWORD)
                .iter()
                .any(|(f, e, _)| *f == id && e.contains(a["id"].as_str().unwrap()))
        })
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[50] ^= 0x40;
    std::fs::write(&damaged, bytes).unwrap();
    let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    let (list, stderr) = listed(&t.repo, PASSWORD);
    assert_eq!(
        ids(&list),
        BTreeSet::from([
            a["id"].as_str().unwrap().to_string(),
            b["id"].as_str().unwrap().to_string()
        ])
    );
    assert!(
        stderr.contains(&format!("warning: catalogue/{name}"))
            && stderr.contains("ignored and the snapshot manifests are read instead"),
        "{stderr}"
    );
    // The file is named once (probe finding 7 f: `catalogue/…: catalogue catalogue/…:`).
    assert_eq!(stderr.matches(&name[..16]).count(), 1, "{stderr}");
    // Config version 2: the damaged file makes readers list `snapshots/` instead (nothing
    // hidden) until prune replaces it.
    assert!(v2::snapshot_folder_lists(&t.repo, &["snapshots"], None) > 0);
    // Restoring `latest` and statistics are unaffected.
    t.dv(&["stats"]).assert().success();
    assert_eq!(t.restore_bytes("latest"), synthetic_dump(50_000, 2));
    // Prune supersedes the damaged file with a complete one.
    t.dv(&["prune"]).assert().success();
    assert!(!t.repo.join("catalogue").join(&name).exists());
    let (list2, stderr) = listed(&t.repo, PASSWORD);
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(ids(&list2), ids(&list));
    assert_eq!(catalogued(&t.repo, PASSWORD), ids(&list));
    assert_eq!(v2::snapshot_folder_lists(&t.repo, &["snapshots"], None), 0);
}

/// Config version 1 (older repositories): the listing of `snapshots/` decides, so such a
/// snapshot is listed at once. (Version 2: `v2::a_writer_whose_catalogue_file_fails_…`.)
#[test]
fn a_writer_killed_between_manifest_and_catalogue_is_listed_and_catalogued_later() {
    let t = TestRepo::new();
    set_config_version(&t.repo, 1);
    let first = t.snapshot_bytes(&synthetic_dump(40_000, 3), &[]);
    let fifo = t.path("pause.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = process(
        &t.repo,
        PASSWORD,
        &["snapshot", "--json", "--stdin", "--stdin-name", "other.sql"],
    )
    .env("DUMPVAULT_TEST_PAUSE", "catalogue-before-write")
    .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&synthetic_dump(40_000, 4))
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("paused at catalogue-before-write") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "ended before pausing"
        );
    }
    // Killed with its manifest durable and no catalogue file for it.
    child.kill().unwrap();
    child.wait().unwrap();
    let all = snapshot_files(&t.repo);
    assert_eq!(all.len(), 2);
    let orphan = all
        .iter()
        .find(|id| *id != first["id"].as_str().unwrap())
        .unwrap()
        .clone();
    assert!(!catalogued(&t.repo, PASSWORD).contains(&orphan));
    // Listed from its manifest, and restorable.
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), all);
    assert_eq!(t.restore_bytes(&orphan), synthetic_dump(40_000, 4));
    // The next write adds its entry.
    let next = t.snapshot_bytes(&synthetic_dump(40_000, 5), &[]);
    let cat = catalogued(&t.repo, PASSWORD);
    assert!(cat.contains(&orphan) && cat.contains(next["id"].as_str().unwrap()));
}

#[test]
fn an_old_repository_lists_and_gains_a_catalogue_on_the_next_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    copy_dir(&fixture.join("repo-v1"), &repo);
    assert!(!repo.join("catalogue").exists());
    let before = snapshot_files(&repo);
    assert!(!before.is_empty());
    let (list, stderr) = listed(&repo, "fixture");
    assert_eq!(ids(&list), before, "{stderr}");
    let sql = std::fs::read(fixture.join("repo-v1.sql")).unwrap();
    let mut changed = sql.clone();
    changed.extend_from_slice(b"-- one more line\n");
    let mut c = process(
        &repo,
        "fixture",
        &["snapshot", "--json", "--stdin", "--stdin-name", "new.sql"],
    );
    let o = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut o = o;
    o.stdin.take().unwrap().write_all(&changed).unwrap();
    let o = o.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = snapshot_files(&repo);
    assert_eq!(after.len(), before.len() + 1);
    // One catalogue file, with every snapshot: the old ones and the new one.
    let files = catalogue_files(&repo, "fixture");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].1, after);
    let (list, _) = listed(&repo, "fixture");
    assert_eq!(ids(&list), after);
}

#[test]
fn forget_and_tag_are_reflected_and_prune_compacts() {
    let t = TestRepo::new();
    let s: Vec<String> = (0..3)
        .map(|i| {
            t.snapshot_bytes(&synthetic_dump(30_000, 10 + i), &[])["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    t.dv(&["forget", &s[0]]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), BTreeSet::from([s[1].clone(), s[2].clone()]));
    // The catalogue is append-only: the entry stays until prune, but is never listed.
    assert!(catalogued(&t.repo, PASSWORD).contains(&s[0]));
    // Retagging writes a new manifest, and its entry with it.
    t.dv(&["tag", &s[1], "--add", "keep"]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(list.len(), 2);
    let retagged = (list.iter())
        .find(|e| e["tags"].as_array().unwrap().iter().any(|t| t == "keep"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ids(&list).contains(&s[1]));
    assert!(catalogued(&t.repo, PASSWORD).contains(&retagged));
    t.dv(&["prune"]).assert().success();
    let files = catalogue_files(&t.repo, PASSWORD);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].1, BTreeSet::from([retagged, s[2].clone()]));
    assert!(files[0].2 >= 4, "supersedes every file read: {files:?}");
    // A second prune has nothing to compact.
    t.dv(&["prune"]).assert().success();
    assert_eq!(catalogue_files(&t.repo, PASSWORD)[0].0, files[0].0);
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A repository of config version 1 (as made before version 2) behaves as before: readers
/// list `snapshots/`, forget writes no tombstones, and catalogue files stay version 1, which
/// older dumpvault versions sharing the repository read.
#[test]
fn a_version_1_repository_keeps_listing_snapshots_and_writes_version_1_files() {
    let t = TestRepo::new();
    set_config_version(&t.repo, 1);
    let s: Vec<String> = (0..2)
        .map(|i| {
            let v = t.snapshot_bytes(&synthetic_dump(30_000, 40 + i), &[]);
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(v2::snapshot_folder_lists(&t.repo, &["snapshots"], None) > 0);
    let before = catalogue_files(&t.repo, PASSWORD).len();
    t.dv(&["forget", &s[0]]).assert().success();
    assert_eq!(
        catalogue_files(&t.repo, PASSWORD).len(),
        before,
        "no tombstone file"
    );
    assert_eq!(snapshot_files(&t.repo), BTreeSet::from([s[1].clone()]));
    let r = Repository::open(
        Backend::open(t.repo.to_str().unwrap()).unwrap(),
        PASSWORD.as_bytes(),
    )
    .unwrap();
    for (id, _) in r.list(FileKind::Catalogue).unwrap() {
        let plain = r.load_file(FileKind::Catalogue, &id).unwrap();
        assert_eq!(plain[0], 1, "catalogue/{id} is version 1");
    }
    t.dv(&["prune"]).assert().success();
    let (list, _) = listed(&t.repo, PASSWORD);
    assert_eq!(ids(&list), BTreeSet::from([s[1].clone()]));
    assert_eq!(config_version_of(&t.repo), 1);
}

fn config_version_of(repo: &Path) -> u32 {
    let backend = Backend::open(repo.to_str().unwrap()).unwrap();
    (Repository::open(backend, PASSWORD.as_bytes()).unwrap())
        .config()
        .version
}
