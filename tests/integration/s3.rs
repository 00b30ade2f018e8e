//! Repositories on a real S3 API (moto on loopback): init, snapshot, restore byte for byte,
//! check; and the bad input a remote repository brings (missing bucket, bad credentials, a
//! location that holds no repository).

use crate::common::synthetic_dump;
use crate::s3server::{s3_env, Repo, S3Server};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_snapshot_restore_check_on_s3() {
    let server = S3Server::start();
    server.create_bucket("backups");
    let repo = Repo::s3(&server, "backups", "db1/repo");
    repo.init(&[]);

    let first = synthetic_dump(3 * 1024 * 1024, 11);
    let mut second = first.clone();
    second.splice(
        1_000_000..1_000_000,
        b"INSERT changed row\n".iter().copied(),
    );
    let a = repo.snapshot(&first, &["--tag", "hour=1"]);
    let b = repo.snapshot(&second, &["--tag", "hour=2"]);
    println!(
        "S3: first snapshot added {} bytes, the changed one {} bytes",
        a["bytes_added"], b["bytes_added"]
    );
    assert!(b["bytes_added"].as_u64().unwrap() < 256 * 1024, "{b}");
    assert!(repo.restore(a["id"].as_str().unwrap()) == first);
    assert!(repo.restore(b["id"].as_str().unwrap()) == second);
    assert_eq!(repo.snapshots().len(), 2);
    repo.dv(&["check", "--read-data"]).assert().success();
}

#[test]
fn missing_bucket_and_non_repository_are_clear_errors() {
    let server = S3Server::start();
    server.create_bucket("present");

    let missing = Repo::s3(&server, "absent", "repo");
    let out = missing.dv(&["init"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bucket") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("s3://absent/repo"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let empty = Repo::s3(&server, "present", "nothing-here");
    let out = empty.dv(&["snapshots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a dumpvault repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_credentials_are_refused_and_nothing_is_lost() {
    let server = S3Server::start();
    server.create_bucket("backups");
    let repo = Repo::s3(&server, "backups", "repo");
    repo.init(&[]);
    let dump = synthetic_dump(500_000, 3);
    let snap = repo.snapshot(&dump, &[]);

    let (key, _secret) = server.require_credentials();
    for (k, s) in [
        (key.as_str(), "not-the-secret"),
        ("AKIAUNKNOWNKEY000000", "whatever"),
    ] {
        let bad = Repo {
            env: s3_env(k, s),
            ..Repo::s3(&server, "backups", "repo")
        };
        let out = bad
            .dv(&["snapshot", "--stdin"])
            .write_stdin(dump.clone())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("credentials were rejected"), "{err}");
        assert!(err.contains("s3://backups/repo"), "{err}");
    }
    server.accept_any_credentials();
    assert_eq!(repo.snapshots().len(), 1);
    assert!(repo.restore(snap["id"].as_str().unwrap()) == dump);
    repo.dv(&["check", "--read-data"]).assert().success();
}
