//! Snapshots racing prune (repo-format.md section 14, rules W1–W4 and P1–P5): deterministic
//! orderings through the test builds' pause points, and a seeded stress test on a local
//! directory and on S3 (moto). After every round, `check --read-data` passes and every listed
//! snapshot restores byte for byte.

use crate::s3server::{Repo, S3Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Stdio};
use std::time::{Duration, Instant};

/// A pg_dump-like dump of `rows` rows that changes like a real table: scattered updates,
/// inserts and deletes, and a completion footer.
pub(crate) struct Table {
    rows: Vec<(u64, String)>,
    next_id: u64,
    rng: StdRng,
}

impl Table {
    pub(crate) fn new(seed: u64, rows: usize) -> Self {
        let mut t = Table {
            rows: Vec::new(),
            next_id: 1,
            rng: StdRng::seed_from_u64(seed),
        };
        for _ in 0..rows {
            let r = t.row();
            t.rows.push(r);
        }
        t
    }

    fn row(&mut self) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "golf", "hotel",
        ];
        let w = words[self.rng.gen_range(0..words.len())];
        let line = format!(
            "{id}\t{w}-{}\t{}\t{}.{:02}\tnote {:x}\n",
            self.rng.gen_range(0..977),
            self.rng.gen_range(0..50),
            self.rng.gen_range(0..10_000),
            self.rng.gen_range(0..100),
            self.rng.gen::<u32>()
        );
        (id, line)
    }

    /// Uniformly scattered churn: `per_mille` of the rows updated, a few inserted and deleted.
    pub(crate) fn churn(&mut self, per_mille: usize) {
        let n = (self.rows.len() * per_mille / 1000).max(1);
        for _ in 0..n {
            let i = self.rng.gen_range(0..self.rows.len());
            let id = self.rows[i].0;
            let (_, mut line) = self.row();
            line = format!("{id}{}", &line[line.find('\t').unwrap()..]);
            self.rows[i] = (id, line);
        }
        for _ in 0..n / 3 + 1 {
            let r = self.row();
            self.rows.push(r);
            let i = self.rng.gen_range(0..self.rows.len() - 1);
            self.rows.remove(i);
        }
    }

    pub(crate) fn dump(&self) -> Vec<u8> {
        let mut out = b"--\n-- PostgreSQL database dump\n--\n\nCOPY public.items (id, name, qty, price, note) FROM stdin;\n".to_vec();
        for (_, l) in &self.rows {
            out.extend_from_slice(l.as_bytes());
        }
        out.extend_from_slice(b"\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
        out
    }
}

/// A dumpvault process stopped at pause points (`DUMPVAULT_TEST_PAUSE`), released through its
/// own named pipe.
pub(crate) struct Paused {
    child: Child,
    stderr: BufReader<ChildStderr>,
    fifo: PathBuf,
    feeder: Option<std::thread::JoinHandle<()>>,
    seen: String,
}

impl Paused {
    /// Starts `repo`'s binary with `args`, pausing at `points`; `stdin` is fed to it when given.
    pub(crate) fn start(
        repo: &Repo,
        dir: &Path,
        name: &str,
        args: &[&str],
        points: &str,
        stdin: Option<Vec<u8>>,
    ) -> Self {
        let fifo = dir.join(format!("{name}.fifo"));
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success(), "mkfifo failed");
        let mut c = repo.process(args);
        c.env("DUMPVAULT_TEST_PAUSE", points)
            .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let feeder = stdin.map(|data| {
            let mut w = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = w.write_all(&data);
            })
        });
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Paused {
            child,
            stderr,
            fifo,
            feeder,
            seen: String::new(),
        }
    }

    /// Waits until the process reports that it paused at `point`.
    pub(crate) fn wait_at(&mut self, point: &str) {
        let want = format!("paused at {point}");
        loop {
            let mut line = String::new();
            let n = self.stderr.read_line(&mut line).unwrap();
            assert!(n > 0, "ended before {point}: {}", self.seen);
            self.seen.push_str(&line);
            if line.contains(&want) {
                return;
            }
        }
    }

    /// The process id (to signal or reap it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the paused process go on.
    pub(crate) fn release(&mut self) {
        std::fs::write(&self.fifo, "go\n").unwrap();
    }

    /// Waits for the end; returns (success, stdout, stderr).
    /// Kills the process with SIGKILL (as a host that dies) and reaps it; returns its pid.
    pub(crate) fn kill(mut self) -> u32 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child.id()
    }

    pub(crate) fn finish(mut self) -> (bool, String, String) {
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        self.seen.push_str(&rest);
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = self.child.wait().unwrap();
        if let Some(f) = self.feeder.take() {
            f.join().unwrap();
        }
        (status.success(), out, self.seen)
    }
}

fn local_repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::fs(&dir.path().join("repo"));
    repo.init(&[]);
    (dir, repo)
}

fn snapshot_args(db: &'static str) -> [&'static str; 5] {
    ["snapshot", "--json", "--stdin", "--stdin-name", db]
}

fn run_ok(repo: &Repo, args: &[&str]) -> String {
    let out = repo.dv(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn id_of(json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Every listed snapshot restores to the bytes it was taken from, and `check --read-data`
/// passes.
pub(crate) fn assert_all_restore(repo: &Repo, dumps: &std::collections::HashMap<String, Vec<u8>>) {
    let out = repo.dv(&["check", "--read-data"]).output().unwrap();
    assert!(
        out.status.success(),
        "check --read-data: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for s in repo.snapshots() {
        let id = s["id"].as_str().unwrap();
        let want = dumps
            .get(id)
            .unwrap_or_else(|| panic!("unknown snapshot {id}"));
        assert!(repo.restore(id) == *want, "snapshot {id} differs");
    }
}

/// W1 + W2: a snapshot that loaded its index before a prune marked the packs it deduplicates
/// against, then a second snapshot that sees the marks while a delta written by the first
/// still has its base only in a marked pack, and a prune while that second snapshot runs.
/// On 6967ef0 the second snapshot deduplicated against the delta, the prune deleted its base,
/// and the snapshot exited 0 but could not be restored.
#[test]
fn w2_snapshot_started_before_phase_one_and_delta_chains() {
    let (dir, repo) = local_repo();
    let mut table = Table::new(7, 40_000);
    let dump0 = table.dump();
    table.churn(5);
    let dump1 = table.dump();
    let mut dumps = std::collections::HashMap::new();
    let args = snapshot_args("shop.sql");

    let old = id_of(&run_ok_stdin(&repo, &args, &dump0));
    // S1 loads the index (the old snapshot's pack is live) and waits.
    let mut s1 = Paused::start(
        &repo,
        dir.path(),
        "s1",
        &args,
        "snapshot-indexed",
        Some(dump1.clone()),
    );
    s1.wait_at("snapshot-indexed");
    run_ok(&repo, &["forget", &old]);
    run_ok(&repo, &["prune", "--grace", "0s"]); // marks the old pack
    s1.release();
    let (ok, out, err) = s1.finish();
    assert!(ok, "{err}");
    let s1_id = id_of(&out);
    dumps.insert(s1_id.clone(), dump1.clone());
    assert_all_restore(&repo, &dumps);

    // S2 sees the marks; S1's deltas are live but their bases are only in the marked pack.
    let mut s2 = Paused::start(
        &repo,
        dir.path(),
        "s2",
        &args,
        "snapshot-indexed",
        Some(dump1.clone()),
    );
    s2.wait_at("snapshot-indexed");
    run_ok(&repo, &["forget", &s1_id]);
    let pruned = run_ok(&repo, &["prune", "--grace", "0s", "--json"]);
    s2.release();
    let (ok, out, err) = s2.finish();
    assert!(ok, "{err}");
    dumps.insert(id_of(&out), dump1.clone());
    println!("prune while S2 ran: {pruned}");
    assert_all_restore(&repo, &dumps);
    // Once S2's lock is gone, later prunes free what nobody needs and S2 still restores
    // (without rule P2 the second prune dropped S2's whole copies: found by looping this).
    run_ok(&repo, &["prune", "--grace", "0s"]);
    assert_all_restore(&repo, &dumps);
    run_ok(&repo, &["prune", "--grace", "0s"]);
    assert_all_restore(&repo, &dumps);
}

/// A writer the prune cannot see: its lock is removed (by `unlock --remove-all`, as a stale S3
/// listing or an operator would) after it loaded an index in which the pack of an older
/// snapshot was live; that snapshot is then forgotten and its pack marked obsolete. The writer
/// is left paused at `snapshot-indexed`; returns it with the dump it is given.
fn unseen_writer(repo: &Repo, dir: &Path, seed: u64, points: &str) -> (Paused, Vec<u8>) {
    let mut table = Table::new(seed, 40_000);
    let dump0 = table.dump();
    table.churn(5);
    let dump1 = table.dump();
    let args = snapshot_args("crm.sql");
    let old = id_of(&run_ok_stdin(repo, &args, &dump0));
    let mut s = Paused::start(repo, dir, "s", &args, points, Some(dump1.clone()));
    s.wait_at("snapshot-indexed");
    run_ok(repo, &["forget", &old]);
    run_ok(repo, &["prune", "--grace", "0s"]); // marks the old pack
    run_ok(repo, &["unlock", "--remove-all"]); // the writer's lock is gone
    (s, dump1)
}

/// P4: the unseen writer finishes between prune's planning and its deletions. Prune's second
/// phase re-reads the snapshots and keeps the packs it needs.
#[test]
fn p4_snapshot_finishing_between_the_phases_is_rescued() {
    let (dir, repo) = local_repo();
    let (mut s, dump) = unseen_writer(&repo, dir.path(), 8, "snapshot-indexed");
    let prune = ["prune", "--grace", "0s", "--json"];
    let mut p = Paused::start(&repo, dir.path(), "p", &prune, "prune-step-2", None);
    p.wait_at("prune-step-2"); // planned: the old pack is due for deletion
    s.release();
    let (ok, out, err) = s.finish();
    assert!(ok, "{err}");
    p.release();
    let (ok, pout, perr) = p.finish();
    assert!(ok, "{perr}");
    let report: serde_json::Value = serde_json::from_str(&pout).unwrap();
    assert!(report["rescued_packs"].as_u64().unwrap() >= 1, "{report}");
    let mut dumps = std::collections::HashMap::new();
    dumps.insert(id_of(&out), dump);
    assert_all_restore(&repo, &dumps);
}

/// W4: the unseen writer is still running when prune deletes the pack it deduplicated
/// against. It must fail without writing a manifest (on 6967ef0 it exited 0 with a snapshot
/// that could not be restored); a snapshot started during phase two, and a rerun, succeed.
#[test]
fn w4_snapshot_running_through_phase_two_fails_cleanly() {
    let (dir, repo) = local_repo();
    let points = "snapshot-indexed,snapshot-before-manifest";
    let (mut s, dump) = unseen_writer(&repo, dir.path(), 9, points);
    s.release();
    s.wait_at("snapshot-before-manifest"); // all its packs are written
    let prune = ["prune", "--grace", "0s"];
    let mut p = Paused::start(&repo, dir.path(), "p", &prune, "prune-step-5", None);
    p.wait_at("prune-step-5"); // the old pack is deleted
                               // A snapshot that starts now sees the deletion's marks and stores what it needs.
    let args = snapshot_args("crm.sql");
    let mut dumps = std::collections::HashMap::new();
    let during = id_of(&run_ok_stdin(&repo, &args, &dump));
    dumps.insert(during, dump.clone());
    s.release();
    let (ok, _, err) = s.finish();
    assert!(!ok, "a snapshot relying on a deleted pack exited 0");
    assert!(err.contains("deleted by a concurrent prune"), "{err}");
    p.release();
    let (ok, _, perr) = p.finish();
    assert!(ok, "{perr}");
    assert_eq!(repo.snapshots().len(), 1);
    assert_all_restore(&repo, &dumps);
    let again = id_of(&run_ok_stdin(&repo, &args, &dump));
    dumps.insert(again, dump);
    assert_all_restore(&repo, &dumps);
}

fn run_ok_stdin(repo: &Repo, args: &[&str], data: &[u8]) -> String {
    let out = repo.dv(args).write_stdin(data.to_vec()).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts one snapshot writer per command, each fed its dump on stdin by a thread of its own,
/// and returns once a seeded number of bytes has been fed to a seeded one of them (the moment
/// a stress round starts its prune): the children, with stdout and stderr piped, and their
/// feeders.
pub(crate) fn spawn_writers(
    commands: Vec<std::process::Command>,
    dumps: &[Vec<u8>],
    rng: &mut StdRng,
) -> Vec<(Child, std::thread::JoinHandle<()>)> {
    let trigger = rng.gen_range(0..commands.len());
    let at = rng.gen_range(0..dumps[trigger].len());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut children = Vec::new();
    for (i, (mut c, d)) in commands.into_iter().zip(dumps).enumerate() {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut w = child.stdin.take().unwrap();
        let data = d.clone();
        let signal = (i == trigger).then(|| tx.clone());
        let feeder = std::thread::spawn(move || {
            let (head, tail) = data.split_at(if signal.is_some() { at } else { 0 });
            let _ = w.write_all(head);
            if let Some(s) = signal {
                let _ = s.send(());
            }
            let _ = w.write_all(tail);
        });
        children.push((child, feeder));
    }
    drop(tx);
    let _ = rx.recv();
    children
}

/// One stress round: `writers` snapshots of different databases start together, and a
/// `forget --keep-last 2 --prune` starts once a seeded number of bytes has been fed to one of
/// them. Returns the new snapshots (id, dump).
fn round(
    repo: &Repo,
    tables: &mut [Table],
    writers: usize,
    grace: &str,
    rng: &mut StdRng,
) -> Vec<(String, Vec<u8>)> {
    let dumps: Vec<Vec<u8>> = tables[..writers]
        .iter_mut()
        .map(|t| {
            t.churn(10);
            t.dump()
        })
        .collect();
    let commands = (0..writers).map(|i| {
        let name = format!("db{i}.sql");
        repo.process(&["snapshot", "--json", "--stdin", "--stdin-name", &name])
    });
    let children = spawn_writers(commands.collect(), &dumps, rng);
    let mut prune = repo.process(&["forget", "--keep-last", "2", "--prune", "--grace", grace]);
    let prune = prune
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut made = Vec::new();
    for ((child, feeder), d) in children.into_iter().zip(dumps) {
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        if out.status.success() {
            made.push((id_of(&String::from_utf8(out.stdout).unwrap()), d));
        } else {
            // Only the documented refusal may fail a snapshot; it writes no manifest.
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("deleted by a concurrent prune"), "{err}");
        }
    }
    let out = prune.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "forget --prune: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    made
}

/// Rounds until `budget` is spent or `max_rounds` ran; every round is verified.
fn stress(repo: &Repo, seed: u64, budget: Duration, max_rounds: usize) {
    println!("stress seed {seed} (rerun with DUMPVAULT_STRESS_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tables: Vec<Table> = (0..6)
        .map(|i| Table::new(seed.wrapping_add(i), rng.gen_range(20_000..60_000)))
        .collect();
    let mut dumps = std::collections::HashMap::new();
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < max_rounds && started.elapsed() < budget {
        let writers = rng.gen_range(4..=6);
        let grace = if rounds % 2 == 0 { "0s" } else { "12h" };
        for (id, d) in round(repo, &mut tables, writers, grace, &mut rng) {
            dumps.insert(id, d);
        }
        assert_all_restore(repo, &dumps);
        rounds += 1;
    }
    assert!(repo.snapshots().len() >= 4);
    println!(
        "stress seed {seed}: {rounds} rounds in {:.1} s, {} snapshots listed",
        started.elapsed().as_secs_f64(),
        repo.snapshots().len()
    );
}

pub(crate) fn seed() -> u64 {
    std::env::var("DUMPVAULT_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        })
}

#[test]
fn stress_snapshots_and_prune_local() {
    let (_dir, repo) = local_repo();
    stress(&repo, seed(), Duration::from_secs(30), 12);
}

#[test]
fn stress_snapshots_and_prune_s3() {
    let server = S3Server::start();
    server.create_bucket("stress");
    let repo = Repo::s3(&server, "stress", "repo");
    repo.init(&[]);
    stress(&repo, seed(), Duration::from_secs(60), 2);
}
