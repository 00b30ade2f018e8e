//! Tests of the run steps that need no repository: the disk-space preflight, exit codes.

use super::*;
use crate::fleet::config::{PasswordSource, RepoConfig};

#[test]
fn local_paths_only_for_directories() {
    assert_eq!(local_path("/srv/r"), Some("/srv/r".into()));
    assert_eq!(local_path("fs:///srv/r"), Some("/srv/r".into()));
    assert_eq!(local_path("rel/r"), Some("rel/r".into()));
    assert_eq!(local_path("s3://b/p"), None);
    assert_eq!(local_path("memory://x"), None);
}

fn repo_config(url: &str, floor: Option<u64>) -> RepoConfig {
    RepoConfig {
        name: "main".into(),
        url: url.into(),
        password: PasswordSource::Env,
        prune_schedule: None,
        min_free_space: floor,
    }
}

#[test]
fn free_space_floor_refuses_with_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = repo_config(dir.path().to_str().unwrap(), Some(1));
    check_free_space(&r, SpaceFor::Snapshot).unwrap();
    r.min_free_space = Some(1 << 60);
    let e = check_free_space(&r, SpaceFor::Snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("snapshot refused: repository \"main\"")
            && e.contains("1.0 EiB")
            && e.contains("bytes) free"),
        "{e}"
    );
    r.url = "memory://x".into();
    check_free_space(&r, SpaceFor::Snapshot).unwrap();
}

/// The preflight's error is typed (it was a `String`, and the copy step rewrote its first
/// words with `replacen`): the variant carries the figures, the copy's words are its own,
/// and a refusal is a failure (exit 1) in the one exit-code table.
#[test]
fn free_space_refusal_is_typed_and_names_what_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo_config(dir.path().to_str().unwrap(), Some(1 << 60));
    let e = check_free_space(&r, SpaceFor::Copy).unwrap_err();
    let FleetError::NoSpace {
        refused,
        name,
        free,
        floor,
        ..
    } = &e
    else {
        panic!("not NoSpace: {e:?}");
    };
    assert_eq!(
        (*refused, name.as_str(), *floor),
        (SpaceFor::Copy, "main", 1 << 60)
    );
    assert!(*free < *floor);
    let msg = e.to_string();
    assert!(
        msg.starts_with("copy refused: repository \"main\" ("),
        "{msg}"
    );
    assert!(!msg.contains("snapshot refused"), "{msg}");
    assert_eq!(e.exit_code(), crate::error::EXIT_FAILURE);
}

/// Fleet errors map into the one exit-code table of `crate::error` (fleet kept its own
/// mapping, `EXIT_USAGE` for every error, at the command line).
#[test]
fn fleet_errors_use_the_one_exit_code_table() {
    use crate::error::{EXIT_DAMAGED, EXIT_FAILURE, EXIT_USAGE};
    assert_eq!(FleetError::UnknownJob("x".into()).exit_code(), EXIT_USAGE);
    assert_eq!(FleetError::NoPassword.exit_code(), EXIT_USAGE);
    let corrupt = || crate::Error::corrupt("pack data/ab/ab12", "corrupt or tampered data");
    assert_eq!(FleetError::from(corrupt()).exit_code(), EXIT_DAMAGED);
    assert_eq!(
        FleetError::from(crate::Error::NotFound("snapshot 1a2b".into())).exit_code(),
        EXIT_FAILURE
    );
    // A repository that does not open stops its jobs: a usage error, whatever the cause
    // (the run's exit code as before).
    let repo = FleetError::Repository {
        name: "main".into(),
        location: "/srv/r".into(),
        source: Box::new(corrupt().into()),
    };
    assert_eq!(repo.exit_code(), EXIT_USAGE);
    assert_eq!(
        repo.to_string(),
        "repository \"main\" (/srv/r): pack data/ab/ab12: corrupt or tampered data"
    );
    assert!(std::error::Error::source(&repo).is_some());
}
