//! Key files through the binary: `key add`, `key list`, `key remove` (the key in use, the last
//! key, `--force`) and `key passwd`.

use crate::common::{json, stderr, synthetic_dump, TestRepo, PASSWORD};
use serde_json::Value;

/// Cheap Argon2id costs for new key files, as `TestRepo::new` uses for `init`.
const CHEAP_KDF: [&str; 4] = ["--kdf-memory-kib", "64", "--kdf-iterations", "1"];

/// `key list --json` opened with `password`.
fn keys(t: &TestRepo, password: &str) -> Vec<Value> {
    let v = json(
        t.dv(&["key", "list", "--json"])
            .env("DUMPVAULT_PASSWORD", password),
    );
    v.as_array().unwrap().clone()
}

fn in_use(keys: &[Value]) -> String {
    let used: Vec<&Value> = keys.iter().filter(|k| k["in_use"] == true).collect();
    assert_eq!(used.len(), 1, "exactly one key in use: {keys:?}");
    used[0]["id"].as_str().unwrap().to_string()
}

#[test]
fn key_add_then_remove_refuses_the_key_in_use_and_the_last_key() {
    let t = TestRepo::new();
    let data = synthetic_dump(200_000, 1);
    t.snapshot_bytes(&data, &[]);
    let first = keys(&t, PASSWORD);
    assert_eq!(first.len(), 1);
    let old_id = in_use(&first);
    assert!(!first[0]["host"].as_str().unwrap().is_empty());
    assert!(!first[0]["created"].as_str().unwrap().is_empty());

    let file = t.path("new-password");
    std::fs::write(&file, "second password\n").unwrap();
    let mut args = vec!["key", "add", "--json", "--new-password-file"];
    args.push(file.to_str().unwrap());
    args.extend_from_slice(&CHEAP_KDF);
    let added = json(&mut t.dv(&args));
    let new_id = added["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, old_id);
    assert!(t.repo.join("keys").join(&new_id).is_file());

    // Both passwords open the repository, each through its own key file.
    assert_eq!(in_use(&keys(&t, PASSWORD)), old_id);
    let with_new = keys(&t, "second password");
    assert_eq!(with_new.len(), 2);
    assert_eq!(in_use(&with_new), new_id);
    let restored = {
        let target = t.path("with-new.out");
        t.dv(&["restore", "latest", "--target", target.to_str().unwrap()])
            .env("DUMPVAULT_PASSWORD", "second password")
            .assert()
            .success();
        std::fs::read(&target).unwrap()
    };
    assert!(restored == data, "restore with the new password differs");

    // The key in use is refused without --force, by a unique prefix too.
    let out = t.dv(&["key", "remove", &old_id[..10]]).assert().code(2);
    let err = stderr(&out);
    assert!(
        err.contains("key in use") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(keys(&t, PASSWORD).len(), 2);
    // An unknown key is named.
    let out = t.dv(&["key", "remove", "ffffffffff"]).assert().code(1);
    assert!(
        stderr(&out).contains("no key \"ffffffffff\""),
        "{}",
        stderr(&out)
    );

    // Removing the other key (not in use for this password) works.
    t.dv(&["key", "remove", &old_id])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .success();
    assert!(!t.repo.join("keys").join(&old_id).exists());
    let out = t.dv(&["snapshots"]).assert().code(2);
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));

    // The last key is refused even with --force.
    let out = t
        .dv(&["key", "remove", &new_id, "--force"])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .code(2);
    let err = stderr(&out);
    assert!(err.contains("last key file"), "{err}");
    assert_eq!(keys(&t, "second password").len(), 1);

    // With two keys, --force removes the key in use.
    let mut args = vec!["key", "add"];
    args.extend_from_slice(&CHEAP_KDF);
    t.dv(&args)
        .env("DUMPVAULT_PASSWORD", "second password")
        .env("DUMPVAULT_NEW_PASSWORD", "third password")
        .assert()
        .success();
    t.dv(&["key", "remove", &new_id, "--force"])
        .env("DUMPVAULT_PASSWORD", "second password")
        .assert()
        .success();
    assert_eq!(keys(&t, "third password").len(), 1);
    t.dv(&["check"])
        .env("DUMPVAULT_PASSWORD", "third password")
        .assert()
        .success();
}

#[test]
fn key_passwd_changes_the_password() {
    let t = TestRepo::new();
    let data = synthetic_dump(100_000, 2);
    t.snapshot_bytes(&data, &[]);
    let old_id = in_use(&keys(&t, PASSWORD));
    let mut args = vec!["key", "passwd", "--json"];
    args.extend_from_slice(&CHEAP_KDF);
    let o = json(t.dv(&args).env("DUMPVAULT_NEW_PASSWORD", "changed"));
    assert_eq!(o["removed"]["id"].as_str().unwrap(), old_id);
    let new_id = o["added"]["id"].as_str().unwrap();

    let out = t.dv(&["snapshots"]).assert().code(2);
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    let now = keys(&t, "changed");
    assert_eq!(now.len(), 1);
    assert_eq!(in_use(&now), new_id);
    let target = t.path("after-passwd.out");
    t.dv(&["restore", "latest", "--target", target.to_str().unwrap()])
        .env("DUMPVAULT_PASSWORD", "changed")
        .assert()
        .success();
    assert!(std::fs::read(&target).unwrap() == data);

    // An empty new password is refused and changes nothing.
    let out = t
        .dv(&["key", "passwd"])
        .env("DUMPVAULT_PASSWORD", "changed")
        .env("DUMPVAULT_NEW_PASSWORD", "")
        .assert()
        .code(2);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert_eq!(in_use(&keys(&t, "changed")), new_id);
}
