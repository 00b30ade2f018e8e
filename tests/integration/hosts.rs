//! Many hosts, one bucket (issue 19): processes given distinct host names
//! (`DUMPVAULT_TEST_HOSTNAME`, test builds only), each with its own cache folder as on its own
//! machine, write one S3 repository (moto) while another host prunes; nothing that exited 0 is
//! lost. A host that died holding the exclusive lock blocks prune on another host until the
//! lock expires by time (`DUMPVAULT_TEST_LOCK_EXPIRY_SECS`; its clock runs an hour behind,
//! `DUMPVAULT_TEST_CLOCK_SKEW_SECS`, so nothing waits for the wall clock), whether its pid names a live or a
//! dead process here (`DUMPVAULT_TEST_LOCK_PID`); `unlock` removes the expired lock and never
//! a fresh one of another host.

use crate::common::synthetic_dump;
use crate::concurrency::{assert_all_restore, id_of, seed, spawn_writers, Paused, Table};
use crate::s3server::{Repo, S3Server};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The writers' host names.
const WRITERS: [&str; 3] = ["host-a", "host-b", "host-c"];
/// The pruning host's name.
const PRUNER: &str = "host-d";

/// `repo` as seen from host `host`: its processes report that host name, keep their cache in
/// `caches/<host>`, and get `extra` environment.
fn on_host(repo: &Repo, host: &str, caches: &Path, extra: &[(&str, String)]) -> Repo {
    let mut env = repo.env.clone();
    env.push(("DUMPVAULT_TEST_HOSTNAME".into(), host.into()));
    let cache = caches.join(host).to_string_lossy().into_owned();
    env.push(("DUMPVAULT_CACHE_DIR".into(), cache));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Repo {
        location: repo.location.clone(),
        password: repo.password.clone(),
        env,
    }
}

/// One round: a snapshot on each writer host starts, and once a seeded number of bytes has
/// been fed to one of them the pruning host runs `forget --keep-last 2 --prune`. Returns the
/// snapshots that exited 0 (id, dump).
fn round(
    writers: &[Repo],
    pruner: &Repo,
    tables: &mut [Table],
    grace: &str,
    rng: &mut StdRng,
) -> Vec<(String, Vec<u8>)> {
    let dumps: Vec<Vec<u8>> = (tables.iter_mut())
        .map(|t| {
            t.churn(10);
            t.dump()
        })
        .collect();
    let args = ["snapshot", "--json", "--stdin", "--stdin-name", "shop.sql"];
    let commands = writers.iter().map(|host| host.process(&args));
    let children = spawn_writers(commands.collect(), &dumps, rng);
    let args = ["forget", "--keep-last", "2", "--prune", "--grace", grace];
    let prune = (pruner.process(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut made = Vec::new();
    for ((child, feeder), dump) in children.into_iter().zip(dumps) {
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            made.push((id_of(&String::from_utf8_lossy(&out.stdout)), dump));
        } else {
            // Only the documented refusal may fail a snapshot; it writes no manifest.
            assert!(err.contains("deleted by a concurrent prune"), "{err}");
        }
    }
    let out = prune.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "forget --prune on {PRUNER}: {err}");
    made
}

/// 3 writer hosts and 1 pruning host on one bucket, rounds bounded in count and time, seeded
/// (`DUMPVAULT_STRESS_SEED` reruns one). After each round every snapshot of the round is
/// listed (the newest of its host and database, so kept), every listed snapshot restores byte
/// for byte, `check --read-data` passes, and each snapshot names the host that wrote it.
#[test]
fn stress_three_hosts_write_one_bucket_while_a_fourth_prunes() {
    let seed = seed();
    println!("hosts stress seed {seed} (rerun with DUMPVAULT_STRESS_SEED={seed})");
    let server = S3Server::start();
    server.create_bucket("hosts");
    let base = Repo::s3(&server, "hosts", "repo");
    base.init(&[]);
    let caches = tempfile::tempdir().unwrap();
    let writers: Vec<Repo> = (WRITERS.iter())
        .map(|h| on_host(&base, h, caches.path(), &[]))
        .collect();
    // Packs are deleted while writers run, not held back by the 10-minute lock window.
    let window = [("DUMPVAULT_TEST_LOCK_WINDOW_SECS", "1".to_string())];
    let pruner = on_host(&base, PRUNER, caches.path(), &window);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tables: Vec<Table> = (0..WRITERS.len() as u64)
        .map(|i| Table::new(seed.wrapping_add(i), rng.gen_range(10_000..30_000)))
        .collect();
    let mut dumps = HashMap::new();
    let (started, budget, max_rounds) = (Instant::now(), Duration::from_secs(60), 8);
    let mut rounds = 0;
    while rounds < max_rounds && (rounds == 0 || started.elapsed() < budget) {
        let grace = if rounds % 2 == 0 { "0s" } else { "12h" };
        let made = round(&writers, &pruner, &mut tables, grace, &mut rng);
        dumps.extend(made.iter().cloned());
        let listed = base.snapshots();
        let ids: HashSet<&str> = listed.iter().map(|s| s["id"].as_str().unwrap()).collect();
        for (id, _) in &made {
            assert!(ids.contains(id.as_str()), "seed {seed}: {id} lost");
        }
        for s in &listed {
            let host = s["host"].as_str().unwrap();
            assert!(WRITERS.contains(&host), "seed {seed}: host {host}: {s}");
        }
        assert_all_restore(&base, &dumps);
        rounds += 1;
    }
    let hosts: HashSet<String> = (base.snapshots().iter())
        .map(|s| s["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts.len(), WRITERS.len(), "seed {seed}: {hosts:?}");
    println!(
        "hosts stress seed {seed}: {rounds} rounds in {:.1} s, {} snapshots listed",
        started.elapsed().as_secs_f64(),
        base.snapshots().len()
    );
}

/// How far in the past host A's clock runs, seconds: its lock is this old the moment it is
/// written, so host B can be given an expiry between the ages of A's lock and a fresh one
/// without waiting for the wall clock.
const A_SKEW: i64 = 3600;

/// `unlock --json` on `host`: the removed locks.
fn unlock(host: &Repo) -> Vec<Value> {
    let out = host.dv(&["unlock", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    v.as_array().unwrap().clone()
}

/// A prune on host A is killed (SIGKILL) at `prune-step-1`, holding the exclusive lock, which
/// records `lock_pid` when given (else A's own pid, dead once A is reaped).
fn dead_host(live_pid: bool) {
    let server = S3Server::start();
    server.create_bucket("dead-host");
    let base = Repo::s3(&server, "dead-host", "repo");
    base.init(&[]);
    let dir = tempfile::tempdir().unwrap();
    let caches = dir.path();
    let first = synthetic_dump(200_000, 11);
    let mut dumps = HashMap::new();
    dumps.insert(id_of(&base.snapshot(&first, &[]).to_string()), first);

    // B's parent, the test, runs on this machine: a live pid here.
    let test_pid = std::process::id();
    let skew = ("DUMPVAULT_TEST_CLOCK_SKEW_SECS", (-A_SKEW).to_string());
    let mut a_env = vec![skew];
    if live_pid {
        a_env.push(("DUMPVAULT_TEST_LOCK_PID", test_pid.to_string()));
    }
    let host_a = on_host(&base, "host-a", caches, &a_env);
    let prune = ["prune", "--grace", "0s"];
    let mut a = Paused::start(&host_a, caches, "a", &prune, "prune-step-1", None);
    a.wait_at("prune-step-1");
    let a_pid = a.kill();
    let held = if live_pid { test_pid } else { a_pid };
    let proc_dir = Path::new("/proc").join(held.to_string());
    assert_eq!(proc_dir.exists(), live_pid, "pid {held} live: {live_pid}");

    // Host B, with an expiry longer than A's lock's age: refused, whatever pid it names.
    let long_expiry = ("DUMPVAULT_TEST_LOCK_EXPIRY_SECS", (2 * A_SKEW).to_string());
    let host_b = on_host(&base, "host-b", caches, &[long_expiry]);
    let out = host_b.dv(&prune).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let want = format!("locked exclusively by `prune` on host host-a (pid {held})");
    assert!(
        err.contains(&want) && err.contains("dumpvault unlock"),
        "{err}"
    );
    assert_eq!(
        unlock(&host_b),
        Vec::<Value>::new(),
        "a fresh lock was removed"
    );

    // Host C takes a fresh shared lock.
    let dump_c = synthetic_dump(150_000, 12);
    let args = ["snapshot", "--json", "--stdin", "--stdin-name", "c.sql"];
    let host_c = on_host(&base, "host-c", caches, &[]);
    let point = "snapshot-indexed";
    let mut c = Paused::start(&host_c, caches, "c", &args, point, Some(dump_c.clone()));
    c.wait_at(point);

    // Host B with an expiry A's lock has outlived but C's has not: prune runs, and unlock
    // removes A's lock only.
    let expiring = || {
        let expiry = (A_SKEW / 2).to_string();
        on_host(
            &base,
            "host-b",
            caches,
            &[("DUMPVAULT_TEST_LOCK_EXPIRY_SECS", expiry)],
        )
    };
    expiring().dv(&prune).assert().success();
    let removed = unlock(&expiring());
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["lock"]["host"], "host-a", "{removed:?}");
    assert_eq!(removed[0]["lock"]["pid"], held, "{removed:?}");
    assert_eq!(removed[0]["lock"]["exclusive"], true, "{removed:?}");

    c.release();
    let (ok, out, err) = c.finish();
    assert!(ok, "{err}");
    dumps.insert(id_of(&out), dump_c);
    assert_all_restore(&base, &dumps);
}

#[test]
fn dead_hosts_lock_with_a_live_pid_here_expires_by_time_only() {
    dead_host(true);
}

#[test]
fn dead_hosts_lock_with_a_dead_pid_here_expires_by_time_only() {
    dead_host(false);
}
