//! Fault injection: each kind of damage, applied to a fresh repository holding three
//! snapshots in several packs, must be detected and named by `check` (with `--read-data` for
//! content damage) together with the snapshots it affects; restoring an affected snapshot fails
//! cleanly, unaffected ones still restore byte for byte, and `repair` recovers what can be
//! recovered.

use crate::common::*;
use dumpvault::backend::Backend;
use dumpvault::format::pack::{BlobKind, PackBlob};
use dumpvault::id::Id;
use dumpvault::repository::Repository;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bytes of each snapshot's dump: with 1 MiB packs, each snapshot fills two or more packs.
pub const DUMP_BYTES: usize = 4 * 1024 * 1024;

pub struct Snap {
    pub id: String,
    pub short: String,
    pub dump: Vec<u8>,
    /// Pack files this snapshot wrote.
    pub packs: Vec<PathBuf>,
    /// Index files this snapshot wrote.
    pub index: Vec<PathBuf>,
}

/// A repository with three snapshots of different content.
pub struct Base {
    pub t: TestRepo,
    pub snaps: Vec<Snap>,
}

impl Base {
    pub fn build() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let t = TestRepo { dir, repo };
        t.dv(&[
            "init",
            "--kdf-memory-kib",
            "64",
            "--kdf-iterations",
            "1",
            "--pack-size-mib",
            "1",
        ])
        .assert()
        .success();
        let mut snaps = Vec::new();
        for seed in [101, 202, 303] {
            let packs_before: BTreeSet<PathBuf> = t.packs().into_iter().collect();
            let index_before: BTreeSet<PathBuf> =
                files_under(&t.repo.join("index")).into_iter().collect();
            let dump = synthetic_dump(DUMP_BYTES, seed);
            let v = t.snapshot_bytes(
                &dump,
                &["--time", &format!("2026-01-0{}T00:00:00Z", seed / 100)],
            );
            let packs: Vec<PathBuf> = t
                .packs()
                .into_iter()
                .filter(|p| !packs_before.contains(p))
                .collect();
            let index: Vec<PathBuf> = files_under(&t.repo.join("index"))
                .into_iter()
                .filter(|p| !index_before.contains(p))
                .collect();
            assert!(
                packs.len() >= 2,
                "want several packs per snapshot: {packs:?}"
            );
            assert_eq!(index.len(), 1);
            snaps.push(Snap {
                id: v["id"].as_str().unwrap().to_string(),
                short: v["short_id"].as_str().unwrap().to_string(),
                dump,
                packs,
                index,
            });
        }
        Base { t, snaps }
    }

    pub fn repo(&self) -> Repository {
        let backend = Backend::open(self.t.repo.to_str().unwrap()).unwrap();
        Repository::open(backend, PASSWORD.as_bytes()).unwrap()
    }

    /// Runs the binary; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.t.dv(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }

    /// Asserts `check` with `args` fails with exit code 3 and names every one of `names`
    /// (file names, short ids) and none of `not`; returns its stderr.
    pub fn check_fails(&self, args: &[&str], names: &[&str], not: &[&str]) -> String {
        let mut a = vec!["check"];
        a.extend_from_slice(args);
        let (code, out, err) = self.run(&a);
        assert_eq!(code, 3, "check {args:?} should fail:\n{out}\n{err}");
        for n in names {
            assert!(err.contains(n), "check {args:?} should name {n}:\n{err}");
        }
        for n in not {
            assert!(
                !err.contains(n),
                "check {args:?} should not name {n}:\n{err}"
            );
        }
        err
    }

    pub fn check_passes(&self, args: &[&str]) {
        let mut a = vec!["check"];
        a.extend_from_slice(args);
        let (code, out, err) = self.run(&a);
        assert_eq!(code, 0, "check {args:?} should pass:\n{out}\n{err}");
    }

    /// Asserts snapshot `i` restores byte for byte.
    pub fn restores(&self, i: usize) {
        let s = &self.snaps[i];
        assert!(
            self.t.restore_bytes(&s.id) == s.dump,
            "snapshot {} restored different bytes",
            s.short
        );
    }

    /// Asserts restoring snapshot `i` fails cleanly: non-zero, no target or partial file;
    /// returns stderr.
    pub fn restore_fails(&self, i: usize) -> String {
        let target = self.t.path("failed.sql");
        let (code, _, err) = self.run(&[
            "restore",
            &self.snaps[i].id,
            "--target",
            target.to_str().unwrap(),
        ]);
        assert_ne!(code, 0, "restore of {} should fail", self.snaps[i].short);
        assert!(!err.is_empty());
        assert!(!target.exists(), "no target file may be left");
        assert!(
            !self.t.path("failed.dumpvault-partial").exists(),
            "no partial file"
        );
        err
    }

    pub fn snapshot_file(&self, i: usize) -> PathBuf {
        self.t.repo.join("snapshots").join(&self.snaps[i].id)
    }

    pub fn key_file(&self) -> PathBuf {
        files_under(&self.t.repo.join("keys")).remove(0)
    }

    /// Runs `repair index` and asserts the repository is whole again.
    pub fn repair_index_recovers(&self) {
        let (code, out, err) = self.run(&["repair", "index"]);
        assert_eq!(code, 0, "repair index:\n{out}\n{err}");
        self.check_passes(&["--read-data"]);
        for i in 0..self.snaps.len() {
            self.restores(i);
        }
    }
}

pub fn name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

pub fn id_of(p: &Path) -> Id {
    Id::from_hex(&name(p)).unwrap()
}

pub fn flip(p: &Path, pos: usize) {
    let mut b = std::fs::read(p).unwrap();
    b[pos] ^= 0x10;
    std::fs::write(p, b).unwrap();
}

pub fn truncate(p: &Path) {
    let b = std::fs::read(p).unwrap();
    std::fs::write(p, &b[..b.len() / 2]).unwrap();
}

/// The header entries of pack file `p`.
pub fn header(b: &Base, p: &Path) -> Vec<PackBlob> {
    let size = std::fs::metadata(p).unwrap().len();
    dumpvault::commands::check::read_header(&b.repo(), &id_of(p), size).unwrap()
}

#[test]
fn flipped_bit_in_a_data_blob_is_found_by_read_data() {
    let b = Base::build();
    let pack = &b.snaps[1].packs[0];
    let blob = header(&b, pack)
        .into_iter()
        .find(|x| x.kind == BlobKind::Data)
        .unwrap();
    flip(pack, (blob.offset + blob.length / 2) as usize);
    // The structure is intact: a plain check does not read data blobs.
    b.check_passes(&[]);
    let (s0, s1, s2) = (&b.snaps[0].short, &b.snaps[1].short, &b.snaps[2].short);
    b.check_fails(
        &["--read-data"],
        &[&name(pack), s1, "does not match its name"],
        &[s0, s2],
    );
    // Only the slice holding the pack finds it.
    let id = id_of(pack);
    let slice = u32::from_le_bytes(id.0[..4].try_into().unwrap()) % 3 + 1;
    for n in 1..=3 {
        let arg = format!("--read-data-subset={n}/3");
        if n == slice {
            b.check_fails(&[&arg], &[&name(pack)], &[]);
        } else {
            b.check_passes(&[&arg]);
        }
    }
    let err = b.restore_fails(1);
    assert!(err.contains(&name(pack)), "{err}");
    b.restores(0);
    b.restores(2);

    let (code, out, _) = b.run(&["verify", &b.snaps[1].id]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("FAIL") && out.contains(&name(pack)), "{out}");
    let (code, out, _) = b.run(&["verify", &b.snaps[0].id]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS"), "{out}");

    // JSON: the damaged object, the affected snapshot, and the snapshot list.
    let (code, out, _) = b.run(&["check", "--read-data", "--json"]);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["object"].as_str().unwrap().contains(&name(pack)))
        .unwrap();
    assert_eq!(p["affected_snapshots"], serde_json::json!([s1]));
    assert_eq!(v["damaged_snapshots"], serde_json::json!([b.snaps[1].id]));
    assert_eq!(v["read_data"], "all");

    // The broken snapshot can be listed and removed; the others stay whole.
    let (code, out, _) = b.run(&["repair", "snapshots", "--read-data"]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains(s1.as_str()) && !out.contains(s0.as_str()),
        "{out}"
    );
    let (code, out, err) = b.run(&["repair", "snapshots", "--read-data", "--forget-broken"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!b.snapshot_file(1).exists());
    b.restores(0);
    b.restores(2);
}

#[test]
fn damaged_pack_header_and_trailer_are_named_and_restores_still_work() {
    for at_end in [10, 1] {
        let b = Base::build();
        let pack = &b.snaps[2].packs[0];
        let len = std::fs::metadata(pack).unwrap().len() as usize;
        flip(pack, len - at_end);
        let err = b.check_fails(&[], &[&name(pack)], &[&b.snaps[0].short, &b.snaps[1].short]);
        assert!(err.contains("header") || err.contains("trailer"), "{err}");
        // The blobs are intact and the index knows where they are.
        for i in 0..3 {
            b.restores(i);
        }
        b.repair_index_recovers_from_old_entries(pack);
    }
}

impl Base {
    /// `repair index` keeps a pack whose header is damaged through its old index entries.
    pub fn repair_index_recovers_from_old_entries(&self, pack: &Path) {
        let (code, out, err) = self.run(&["repair", "index", "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["from_old_index"], 1, "{out}");
        assert!(pack.exists());
        for i in 0..3 {
            self.restores(i);
        }
    }
}

pub fn flip_middle(p: &Path) {
    let len = std::fs::metadata(p).unwrap().len() as usize;
    flip(p, len / 2);
}

#[test]
fn damaged_snapshot_file_is_named_and_can_be_forgotten() {
    for damage in [flip_middle as fn(&Path), truncate] {
        let b = Base::build();
        let file = b.snapshot_file(1);
        damage(&file);
        b.check_fails(
            &[],
            &[&name(&file), &b.snaps[1].short],
            &[&b.snaps[0].short, &b.snaps[2].short],
        );
        let err = b.restore_fails(1);
        assert!(err.contains(&b.snaps[1].id), "{err}");
        b.restores(0);
        b.restores(2);
        let (code, out, err) = b.run(&["repair", "snapshots", "--forget-broken"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(&b.snaps[1].short), "{out}");
        b.check_passes(&["--read-data"]);
        b.restores(0);
        b.restores(2);
    }
}

#[test]
fn damaged_key_or_config_gives_a_clear_error() {
    for damage in [flip_middle as fn(&Path), truncate] {
        let b = Base::build();
        let key = b.key_file();
        damage(&key);
        let (code, _, err) = b.run(&["check"]);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains(&name(&key)) && err.contains("damaged"),
            "{err}"
        );
        let (code, _, err) = b.run(&["restore", &b.snaps[0].id, "--stdout"]);
        assert_eq!(code, 3, "{err}");

        let b = Base::build();
        damage(&b.t.repo.join("config"));
        let (code, _, err) = b.run(&["check"]);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("config") && err.contains("corrupt or tampered"),
            "{err}"
        );
        // The first message says what to do (probe finding 7 c).
        assert!(err.contains("`dumpvault repair config`"), "{err}");
    }
    let b = Base::build();
    let (code, _, err) = b.run_with_password(&["check"], "not the password");
    assert_eq!(code, 2);
    assert!(err.contains("wrong password"), "{err}");
}

impl Base {
    pub fn run_with_password(&self, args: &[&str], pw: &str) -> (i32, String, String) {
        let out = self
            .t
            .dv(args)
            .env("DUMPVAULT_PASSWORD", pw)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}

#[test]
fn truncated_pack_is_found_by_a_plain_check() {
    let b = Base::build();
    let pack = &b.snaps[1].packs[0];
    truncate(pack);
    b.check_fails(
        &[],
        &[&name(pack), &b.snaps[1].short, "size"],
        &[&b.snaps[0].short, &b.snaps[2].short],
    );
    b.restore_fails(1);
    b.restores(0);
    b.restores(2);
}

#[test]
fn missing_pack_is_named_then_repaired_by_forgetting_what_it_broke() {
    let b = Base::build();
    let pack = &b.snaps[1].packs[0];
    std::fs::remove_file(pack).unwrap();
    b.check_fails(
        &[],
        &[&name(pack), "missing", &b.snaps[1].short],
        &[&b.snaps[0].short, &b.snaps[2].short],
    );
    let err = b.restore_fails(1);
    assert!(err.contains(&name(pack)), "{err}");
    b.restores(0);
    b.restores(2);
    let (code, out, err) = b.run(&["repair", "index"]);
    assert_eq!(code, 0, "{out}{err}");
    b.check_fails(&[], &[&b.snaps[1].short], &[&b.snaps[0].short]);
    let (code, out, err) = b.run(&["repair", "snapshots", "--forget-broken"]);
    assert_eq!(code, 0, "{out}{err}");
    b.check_passes(&["--read-data"]);
    b.restores(0);
    b.restores(2);
}

#[test]
fn pack_renamed_to_another_packs_name_is_named() {
    let b = Base::build();
    let (from, to) = (&b.snaps[1].packs[0], &b.snaps[2].packs[0]);
    std::fs::rename(from, to).unwrap();
    b.check_fails(
        &[],
        &[&name(from), &name(to), &b.snaps[1].short, &b.snaps[2].short],
        &[&b.snaps[0].short],
    );
    b.check_fails(
        &["--read-data"],
        &[&name(to), "does not match its name"],
        &[&b.snaps[0].short],
    );
    b.restore_fails(1);
    b.restore_fails(2);
    b.restores(0);
}

#[test]
fn read_data_subsets_cover_every_pack_and_report_progress_in_json() {
    let b = Base::build();
    let total = b.t.packs().len() as u64;
    let mut read = 0;
    for n in 1..=4 {
        let (code, out, err) = b.run(&["check", "--json", &format!("--read-data-subset={n}/4")]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        read += v["packs_read"].as_u64().unwrap();
    }
    assert_eq!(read, total);
    let (_, out, _) = b.run(&["check", "--json", "--read-data-subset=1%"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["packs_read"], 1);
    let (_, out, _) = b.run(&["check", "--json", "--read-data-subset=1500KiB"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let n = v["packs_read"].as_u64().unwrap();
    assert!(
        v["bytes_read"].as_u64().unwrap() >= 1500 * 1024 && n >= 2 && n < total,
        "{v}"
    );
    let (code, _, err) = b.run(&["check", "--read-data-subset=9/4"]);
    assert_eq!(code, 2);
    assert!(err.contains("n <= m"), "{err}");
    let (code, out, _) = b.run(&["verify", "latest"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("PASS") && out.contains(&b.snaps[2].short),
        "{out}"
    );
}

/// A lock file that does not read (a byte flipped in a crashed writer's lock) stops `prune`
/// with a message that names the file and says `dumpvault unlock` removes it; it does
/// (probe finding 7 d: the message gave no next step).
#[test]
fn a_damaged_lock_file_names_unlock() {
    let b = Base::build();
    let locks = b.t.repo.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let name = "ab".repeat(32);
    std::fs::write(locks.join(&name), b"not a sealed lock").unwrap();
    let (code, _, err) = b.run(&["prune"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&name[..8]), "{err}");
    assert!(err.contains("`dumpvault unlock`"), "{err}");
    let (code, _, err) = b.run(&["unlock"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = b.run(&["prune"]);
    assert_eq!(code, 0, "{err}");
}

/// A chunk no index file lists (its index file lost) fails the restore as damage, exit 3,
/// saying why and that `check` names the repair (probe finding 7 b: "not in the index",
/// exit 1).
#[test]
fn a_chunk_in_no_index_file_is_damage_that_check_explains() {
    let b = Base::build();
    for f in files_under(&b.t.repo.join("index")) {
        std::fs::remove_file(f).unwrap();
    }
    let (code, _, err) = b.run(&["restore", &b.snaps[0].id, "--stdout"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("is in no index file"), "{err}");
    assert!(err.contains("`dumpvault check`"), "{err}");
}

/// A pack cut short (a full disk, an interrupted copy) is damage: restore fails with exit 3,
/// names the pack and says to run `dumpvault check` (it was exit 1, in the storage layer's
/// words: "RangeNotSatisfied: range exceeds content length").
#[test]
fn a_pack_cut_short_is_damage_that_restore_names() {
    let b = Base::build();
    for p in &b.snaps[0].packs {
        let len = std::fs::metadata(p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(len / 2).unwrap();
    }
    let (code, _, err) = b.run(&["restore", &b.snaps[0].id, "--stdout"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("shorter than the repository's index says"),
        "{err}"
    );
    assert!(err.contains("`dumpvault check`"), "{err}");
    let named = |p: &PathBuf| err.contains(p.file_name().unwrap().to_str().unwrap());
    assert!(b.snaps[0].packs.iter().any(named), "{err}");
}
