//! Signals, leftovers, permissions and closed pipes (issue 14, section 5): an interrupted
//! snapshot ends its dump tool and leaves no lock or temporary file, a killed one leaves no
//! password file, the next writer removes stale temporary files, repository files are private
//! whatever the umask, and `… | head` ends quietly with exit code 141. No test waits by
//! sleeping: FIFOs and the `dump-spawned` pause point order every step.

use crate::common::{dv_process as dv, files_under, mkfifo, within, Reap, TestRepo, PASSWORD};
use crate::db::{mariadb_at, psql_at, unique_name, MyDb, PgDb};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn send_signal(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Whether `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Interrupts `snapshot --command` with `sig` once the command runs and dumpvault holds its
/// lock, then checks the exit code, the message, that the command and its child are gone,
/// and that no lock or temporary file is left.
fn interrupt_command_snapshot(sig: &str, code: i32) {
    let t = TestRepo::new();
    let (marker, alive) = (t.path("marker"), t.path("alive"));
    mkfifo(&marker);
    mkfifo(&alive);
    // fd 9 (a FIFO the test reads) stays open in the shell and in `sleep` until both are gone.
    // 2 MB pass the pipe only once dumpvault reads the dump, i.e. after it took its lock.
    let command = format!(
        "exec 9>'{}'; head -c 2000000 /dev/urandom; sleep 600 & echo $$ $! > '{}'; wait",
        alive.display(),
        marker.display()
    );
    let mut child = dv(&t, &["snapshot", "--command", &command])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reap = Reap(vec![child.id()]);
    let (alive_reader, pids) = within("the dump command starting", move || {
        let alive = std::fs::File::open(alive).unwrap();
        let pids = std::fs::read_to_string(marker).unwrap();
        let pids: Vec<u32> = pids
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        (alive, pids)
    });
    assert_eq!(pids.len(), 2, "shell and sleep pids");
    reap.0.extend(&pids);
    let locks = files_under(&t.repo.join("locks"));
    assert_eq!(locks.len(), 1, "the snapshot holds its lock: {locks:?}");

    send_signal(sig, child.id());
    let (status, stderr) = within("dumpvault exiting", move || {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap(), stderr)
    });
    assert_eq!(status.code(), Some(code), "{status:?}; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!("interrupted by SIG{sig}; no snapshot was written")),
        "{stderr}"
    );
    // End of file on the FIFO: every process holding fd 9 (the shell, `sleep`) has exited.
    within("the dump command's processes ending", move || {
        let mut rest = Vec::new();
        let mut r = alive_reader;
        r.read_to_end(&mut rest).unwrap();
    });
    for pid in &pids {
        assert!(ended(*pid), "process {pid} of the dump command still runs");
    }
    assert_eq!(files_under(&t.repo.join("locks")), Vec::<PathBuf>::new());
    assert_eq!(files_under(&t.repo.join(".tmp")), Vec::<PathBuf>::new());
    assert_eq!(
        files_under(&t.repo.join("snapshots")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn sigterm_during_command_snapshot_ends_the_command_and_leaves_no_lock() {
    interrupt_command_snapshot("TERM", 143);
}

#[test]
fn sigint_during_command_snapshot_ends_the_command_and_leaves_no_lock() {
    interrupt_command_snapshot("INT", 130);
}

/// Drops a MariaDB user when the test ends.
struct MyUser(String);

impl Drop for MyUser {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            mariadb_at(None, &format!("DROP USER IF EXISTS '{}'@'%';", self.0))
        });
    }
}

/// Files under `dir` (recursively) whose content contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

#[test]
fn kill_9_during_a_mysql_snapshot_leaves_no_password_file() {
    let t = TestRepo::new();
    let (db, copy) = (MyDb::create("sigpw"), MyDb::create("sigpw"));
    let user = MyUser(unique_name("u"));
    let password = format!("pw-{}-Qz7", std::process::id());
    mariadb_at(
        None,
        &format!(
            "CREATE USER '{0}'@'%' IDENTIFIED BY '{password}';
             GRANT ALL ON `{1}`.* TO '{0}'@'%'; GRANT ALL ON `{2}`.* TO '{0}'@'%';",
            user.0, db.name, copy.name
        ),
    );
    db.sql("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one');");
    let url_of = |name: &str| format!("mysql://{}:{password}@127.0.0.1:3306/{name}", user.0);
    let tmpdir = t.path("tmp");
    std::fs::create_dir(&tmpdir).unwrap();

    // Both clients read the password from the inherited option file: a dump and a restore as
    // the user work.
    let out = dv(&t, &["snapshot", &url_of(&db.name)])
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = dv(&t, &["restore", "latest", "--to", &url_of(&copy.name)])
        .env("TMPDIR", &tmpdir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(copy.sql("SELECT v FROM t;").trim(), "one");

    // Killed while mariadb-dump runs: nothing holding the password stays behind.
    let fifo = t.path("pause");
    mkfifo(&fifo);
    let mut child = dv(&t, &["snapshot", &url_of(&db.name)])
        .env("TMPDIR", &tmpdir)
        .env("DUMPVAULT_TEST_PAUSE", "dump-spawned")
        .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = Reap(vec![child.id()]);
    let stderr = child.stderr.take().unwrap();
    let paused = within("the dump starting", move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("paused at dump-spawned"))
    });
    assert!(paused, "dumpvault ended without starting the dump");
    send_signal("KILL", child.id());
    let status = within("dumpvault dying", move || child.wait().unwrap());
    assert_eq!(status.code(), None, "killed: {status:?}");
    assert_eq!(files_containing(&tmpdir, &password), Vec::<PathBuf>::new());
    let default_tmp: Vec<PathBuf> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("dumpvault-my-"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains(password.as_str())))
        .collect();
    assert_eq!(default_tmp, Vec::<PathBuf>::new());
}

#[test]
fn stale_temp_files_are_removed_by_the_next_snapshot() {
    let t = TestRepo::new();
    let tmp = t.repo.join(".tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let (stale, live) = (tmp.join("abcd.999999.0"), tmp.join("efgh.999999.1"));
    std::fs::write(&stale, vec![7u8; 1 << 20]).unwrap();
    std::fs::write(&live, b"being written").unwrap();
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    t.snapshot_bytes(b"CREATE TABLE t (a int);\n", &[]);
    assert!(!stale.exists(), "the stale partial file is still there");
    assert!(live.exists(), "a file written just now was removed");
}

#[test]
fn repository_files_and_folders_are_private_under_umask_022() {
    let t = TestRepo::new();
    let repo = t.path("private");
    let bin = assert_cmd::cargo::cargo_bin("dumpvault");
    let script = "umask 022; \"$0\" init --kdf-memory-kib 64 --kdf-iterations 1 && \
                  printf 'CREATE TABLE t (a int);\\n' | \"$0\" snapshot --stdin && \
                  \"$0\" key add --new-password-file \"$1\" --kdf-memory-kib 64 \
                  --kdf-iterations 1 && \"$0\" snapshots";
    std::fs::write(t.path("pw2"), "second password\n").unwrap();
    let out = Command::new("sh")
        .args(["-c", script])
        .arg(&bin)
        .arg(t.path("pw2"))
        .env("DUMPVAULT_REPOSITORY", &repo)
        .env("DUMPVAULT_PASSWORD", PASSWORD)
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let files = files_under(&repo);
    for dir in ["config", "keys", "data", "index", "snapshots"] {
        assert!(
            files
                .iter()
                .any(|f| f.strip_prefix(&repo).unwrap().starts_with(dir)),
            "no {dir} in {files:?}"
        );
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let mut dirs = vec![repo.clone()];
    while let Some(d) = dirs.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            }
        }
    }
    assert!(repo.join("locks").is_dir() && repo.join(".tmp").is_dir());
}

/// Runs the binary with its stdout a pipe whose reading end is already closed, so every write
/// fails; returns the exit code and stderr.
fn with_closed_stdout(t: &TestRepo, args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = dv(t, args).stdout(writer).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn closed_stdout_ends_quietly_with_141() {
    let t = TestRepo::new();
    t.snapshot_bytes(&crate::common::synthetic_dump(300_000, 5), &[]);
    let pack = t.packs()[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for args in [
        vec!["restore", "latest", "--stdout"],
        vec!["cat", "pack", &pack],
        vec!["snapshots"],
        vec!["cat", "snapshot", "latest"],
        vec!["snapshots", "--json"],
    ] {
        let (code, stderr) = with_closed_stdout(&t, &args);
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

/// Interrupts `restore latest --to URL --create` with `sig` while the data loads (the schema
/// is in, pause point `restore-data`), then checks the exit code, that the message names the
/// database, and that the database the restore created is gone (probe finding 8: a
/// half-loaded database stayed, and a later `--create` failed on it).
fn interrupted_restore_drops_the_database(
    t: &TestRepo,
    source: &str,
    target: &str,
    sig: &str,
    exists: &dyn Fn() -> bool,
) {
    let fifo = t.path(&format!("pause-{sig}"));
    mkfifo(&fifo);
    let args = [
        "restore",
        "latest",
        "--database",
        source,
        "--to",
        target,
        "--create",
    ];
    let mut child = dv(t, &args)
        .env("DUMPVAULT_TEST_PAUSE", "restore-data")
        .env("DUMPVAULT_TEST_PAUSE_FIFO", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _reap = Reap(vec![child.id()]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = within("the restore reaching its data", move || {
        let mut seen = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains("paused at restore-data") {
                return (true, stderr, seen);
            }
            line.clear();
        }
        (false, stderr, seen)
    });
    let (ok, mut stderr, seen) = paused;
    assert!(ok, "the restore ended before its data: {seen}");
    assert!(exists(), "the restore created the database");
    send_signal(sig, child.id());
    let status = within("the restore stopping", move || child.wait().unwrap());
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    let code = if sig == "INT" { 130 } else { 143 };
    assert_eq!(status.code(), Some(code), "{rest}");
    assert!(
        rest.contains("dropped database") && rest.contains("interrupted restore"),
        "{rest}"
    );
    assert!(!exists(), "the half-loaded database is still there: {rest}");
}

#[test]
fn an_interrupted_restore_drops_the_database_it_created() {
    let t = TestRepo::new();
    let db = PgDb::create("intr");
    db.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;",
    );
    let out = dv(&t, &["snapshot", &db.url()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let name = unique_name("intr_r");
    let target = format!("{}/{name}", crate::db::pg_server());
    let exists = || {
        let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}';");
        psql_at("postgres", &sql).trim() == "1"
    };
    interrupted_restore_drops_the_database(&t, &db.name, &target, "TERM", &exists);
    // A second --create is not blocked by a leftover.
    let out = dv(
        &t,
        &[
            "restore",
            "latest",
            "--to",
            &target,
            "--create",
            "--database",
            &db.name,
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    psql_at(
        "postgres",
        &format!("DROP DATABASE \"{name}\" WITH (FORCE);"),
    );

    let my = MyDb::create("intr");
    my.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t VALUES (1, 'one'), (2, 'two');",
    );
    let t = TestRepo::new();
    let out = dv(&t, &["snapshot", &my.url()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let name = unique_name("intr_r");
    let target = format!("{}/{name}", crate::db::my_server());
    let exists = || {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}';"
        );
        mariadb_at(None, &sql).trim().ends_with('1')
    };
    interrupted_restore_drops_the_database(&t, &my.name, &target, "INT", &exists);
}
