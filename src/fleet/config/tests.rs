//! Tests of the configuration: layering, locations of bad values, schedules, masking.

use super::*;
use crate::error::EXIT_USAGE;
use crate::password::PasswordError;
use std::path::Path;

const BASE: &str = r#"
jobs = 3
metrics_file = "/tmp/m.prom"

[repository.main]
url = "/tmp/repo"
password_file = "/tmp/pw"

[job.shop]
repository = "main"
sources = ["postgres://postgres@127.0.0.1:5432/shop"]
schedule = "0 * * * *"
keep = { last = 2 }
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_str(text: &str) -> Result<Config, FleetError> {
    parse(Path::new("t.toml"), text, &Overrides::default(), &no_env)
}

#[test]
fn layers_defaults_file_env_flags() {
    let c = parse_str(BASE).unwrap();
    assert_eq!(c.jobs.value, 3);
    assert_eq!(c.jobs.origin, Origin::File(2));
    assert_eq!(c.notify.timeout.origin, Origin::Default);
    assert_eq!(c.status_file.value, None);
    let env = |k: &str| (k == "DUMPVAULT_JOBS").then(|| "5".to_string());
    let c = parse(Path::new("t"), BASE, &Overrides::default(), &env).unwrap();
    assert_eq!(
        (c.jobs.value, c.jobs.origin),
        (5, Origin::Env("DUMPVAULT_JOBS".into()))
    );
    let flags = Overrides {
        jobs: Some(7),
        ..Default::default()
    };
    let c = parse(Path::new("t"), BASE, &flags, &env).unwrap();
    assert_eq!(
        (c.jobs.value, c.jobs.origin),
        (7, Origin::Flag("--jobs".into()))
    );
}

#[test]
fn unknown_key_names_line_and_column() {
    let text = BASE.replace("schedule =", "schedul =");
    let e = parse_str(&text).unwrap_err().to_string();
    assert!(e.contains("unknown field `schedul`"), "{e}");
    assert!(e.contains("line 12"), "{e}");
}

#[test]
fn bad_values_name_their_location() {
    let e = parse_str(&BASE.replace("0 * * * *", "61 * * * *"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("t.toml:12:12: job \"shop\": schedule"), "{e}");
    let e = parse_str(&BASE.replace("repository = \"main\"", "repository = \"nope\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.toml:10:14:") && e.contains("\"nope\" is not defined"),
        "{e}"
    );
    let e = parse_str("jobs = [").unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn schedules_tick() {
    let s = Schedule::parse("* * * * * *").unwrap();
    let now = jiff::Zoned::now();
    let next = s.next_after(&now).unwrap();
    assert!(next.timestamp().as_second() - now.timestamp().as_second() <= 1);
    assert!(s.due(None, &now));
    assert!(!Schedule::parse("0 3 * * *")
        .unwrap()
        .due(Some(now.timestamp().as_second()), &now));
    assert!(Schedule::parse("not cron").is_err());
}

#[test]
fn min_free_space_defaults_overrides_and_errors() {
    let text = BASE.replace(
        "metrics_file = \"/tmp/m.prom\"\n",
        "metrics_file = \"/tmp/m.prom\"\nmin_free_space = \"2GiB\"\n",
    ) + "\n[repository.big]\nurl = \"/tmp/big\"\nmin_free_space = \"500M\"\n\n\
           [repository.off]\nurl = \"/tmp/off\"\nmin_free_space = \"0\"\n";
    let c = parse_str(&text).unwrap();
    assert_eq!(c.repositories["main"].min_free_space, Some(2 << 30));
    assert_eq!(c.repositories["big"].min_free_space, Some(500 << 20));
    assert_eq!(c.repositories["off"].min_free_space, None);
    assert_eq!(
        parse_str(BASE).unwrap().repositories["main"].min_free_space,
        None
    );
    let e = parse_str(&text.replace("500M", "lots"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("repository \"big\": min_free_space: \"lots\" is not a size"),
        "{e}"
    );
    assert!(e.starts_with("t.toml:"), "{e}");
    assert_eq!(parse_size("1EiB"), Ok(1 << 60));
    assert!(parse_size("16EiB").is_err());
}

#[test]
fn webhook_must_be_http() {
    let c = parse_str(&format!(
        "{BASE}\n[notify]\nwebhook = \"http://127.0.0.1:9/h\"\n"
    ))
    .unwrap();
    assert_eq!(c.notify.webhook.as_deref(), Some("http://127.0.0.1:9/h"));
    let e = parse_str(&format!("{BASE}\n[notify]\nwebhook = \"ftp://x/h\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.toml:16:") && e.contains("notify.webhook"),
        "{e}"
    );
}

#[test]
fn job_tag_is_the_jobs_own_and_reserved() {
    let c = parse_str(BASE).unwrap();
    assert_eq!(c.jobs_by_name["shop"].tag(), "job=shop");
    let text = BASE.replace("keep = {", "tags = [\"fleet\", \"job=crm\"]\nkeep = {");
    let e = parse_str(&text).unwrap_err().to_string();
    assert!(
        e.contains("job \"shop\": tag \"job=crm\" is reserved"),
        "{e}"
    );
}

#[test]
fn masks_url_passwords() {
    assert_eq!(
        mask_url("postgres://u:pw@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(mask_url("/srv/repo"), "/srv/repo");
}

#[test]
fn finds_url_passwords() {
    assert!(url_has_password("postgres://u:pw@h:5432/db"));
    assert!(url_has_password("mysql://root:***@h/db"));
    assert!(url_has_password(
        "postgres://h/db?sslmode=require&Password=x"
    ));
    assert!(!url_has_password("postgres://u@h:5432/db"));
    assert!(!url_has_password("postgres://h/db?user=a:b@c"));
    assert!(!url_has_password("/srv/repo"));
    assert!(!url_has_password("s3://bucket/prefix"));
}

/// The password's errors are typed (they were `String`s) and keep their words.
#[test]
fn password_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.pass");
    let e = PasswordSource::File(missing.clone()).get().unwrap_err();
    assert!(
        matches!(&e, FleetError::Password(PasswordError::File { path, .. }) if *path == missing),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read password file {}: ",
            missing.display()
        )),
        "{e}"
    );
    let e = PasswordSource::Command("exit 3".into()).get().unwrap_err();
    assert!(
        matches!(&e, FleetError::Password(PasswordError::CommandFailed { status, .. })
            if status.code() == Some(3)),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("password command `exit 3` failed ("),
        "{e}"
    );
    assert_eq!(e.exit_code(), EXIT_USAGE);
    // `DUMPVAULT_PASSWORD` unset keeps fleet's message, which names the configuration keys.
    let e = FleetError::from(PasswordError::EnvUnset {
        var: "DUMPVAULT_PASSWORD".into(),
    });
    assert!(matches!(e, FleetError::NoPassword), "{e:?}");
    assert!(
        e.to_string().starts_with("no password: set password_file"),
        "{e}"
    );
    // The declaration maps onto the engine's source, one for one.
    assert_eq!(
        format!("{:?}", PasswordSource::Env.source()),
        "Env(\"DUMPVAULT_PASSWORD\")"
    );
    let inline = PasswordSource::Inline(Zeroizing::new("s".into()));
    assert_eq!(inline.get().unwrap().as_str(), "s");
    let file = dir.path().join("ok.pass");
    std::fs::write(&file, "secret\nsecond line\n").unwrap();
    assert_eq!(PasswordSource::File(file).get().unwrap().as_str(), "secret");
    assert_eq!(
        PasswordSource::Command("printf 'pw\\nx'".into())
            .get()
            .unwrap()
            .as_str(),
        "pw"
    );
    let e = Schedule::parse("not cron").unwrap_err();
    assert!(
        matches!(&e, FleetError::Schedule { expr, .. } if expr == "not cron"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("\"not cron\" is not a cron expression: "),
        "{e}"
    );
}
