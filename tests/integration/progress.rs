//! Progress and logs (issue 18): `--json` status lines on stderr, the terminal bar (through a
//! pseudo-terminal: util-linux `script`), `-v`/`-vv` logs and `DUMPVAULT_LOG`.

use crate::common::{stderr, synthetic_dump, TestRepo};
use crate::db::{pg_server, PgDb};
use serde_json::Value;
use std::process::{Command, Stdio};

/// The binary with the repository and password of `t`, no log or interval variables inherited.
fn dv(t: &TestRepo, args: &[&str]) -> assert_cmd::Command {
    let mut c = t.dv(args);
    c.env_remove("DUMPVAULT_LOG")
        .env_remove("DUMPVAULT_PROGRESS_INTERVAL_MS")
        .env_remove("JOURNAL_STREAM");
    c
}

/// The `status` lines of a `--json` command's stderr, each parsed (any other line fails).
fn status_lines(err: &str) -> Vec<Value> {
    err.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .inspect(|v| assert_eq!(v["message_type"], "status", "{v}"))
        .collect()
}

/// `bytes_done` of each line, checked non-decreasing.
fn bytes_done(lines: &[Value]) -> Vec<u64> {
    let done: Vec<u64> = lines
        .iter()
        .map(|v| v["bytes_done"].as_u64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    done
}

#[test]
fn json_status_lines_on_stderr_and_one_summary_on_stdout() {
    let t = TestRepo::new();
    // A pg_dump-like dump (recognised, complete): its table is named in the status lines.
    let mut dump = b"--\n-- PostgreSQL database dump\n--\n\n".to_vec();
    dump.extend(synthetic_dump(3 << 20, 18));
    dump.extend_from_slice(b"\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    let snap = |extra: &[&str]| {
        let args = [
            &["snapshot", "--json", "--stdin", "--stdin-name", "shop.sql"],
            extra,
        ]
        .concat();
        let a = dv(&t, &args)
            // A line on every update (documented; default 500 ms), so a 3 MiB dump gives
            // one per chunk without waiting for time to pass.
            .env("DUMPVAULT_PROGRESS_INTERVAL_MS", "0")
            .write_stdin(dump.clone())
            .assert()
            .success();
        let out = a.get_output();
        // Standard output is exactly one summary document.
        let summary: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(summary["bytes_read"], dump.len() as u64, "{summary}");
        (summary, stderr(&a))
    };
    let (_, err) = snap(&[]);
    let first = status_lines(&err);
    assert!(first.len() >= 2, "{err}");
    let done = bytes_done(&first);
    assert!(*done.last().unwrap() <= dump.len() as u64, "{done:?}");
    // A first snapshot: no total, no percentage; the table being read is named.
    assert!(first.iter().all(|v| v["total_bytes"].is_null()), "{err}");
    assert!(first.iter().all(|v| v["percent_done"].is_null()), "{err}");
    assert!(
        first.iter().any(|v| v["item"] == "shop: public.items"),
        "{err}"
    );
    assert!(first.iter().all(|v| v["phase"] == "dumping"), "{err}");

    // The next snapshot of the same database expects the previous one's size: a percentage
    // (and an ETA) from it.
    let (_, err) = snap(&[]);
    let second = status_lines(&err);
    assert!(second.len() >= 2, "{err}");
    bytes_done(&second);
    let with_total: Vec<&Value> = second
        .iter()
        .filter(|v| v["total_bytes"] == dump.len() as u64)
        .collect();
    assert!(!with_total.is_empty(), "{err}");
    for v in &with_total {
        let p = v["percent_done"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{v}");
    }

    // --quiet: no status lines; without --json (not a terminal): no output on stderr at all.
    let (_, err) = snap(&["--quiet"]);
    assert!(err.is_empty(), "{err}");
    let a = dv(&t, &["snapshot", "--stdin", "--stdin-name", "shop.sql"])
        .env("DUMPVAULT_PROGRESS_INTERVAL_MS", "0")
        .write_stdin(dump.clone())
        .assert()
        .success();
    assert!(stderr(&a).is_empty(), "{}", stderr(&a));
}

/// The test server's URL of `db` with `password` in it (trust authentication ignores it).
fn url_with_password(db: &PgDb, password: &str) -> String {
    let url = db.url();
    let start = url.find("://").unwrap() + 3;
    let at = start
        + url[start..]
            .find('@')
            .expect("the test server URL names a user");
    format!("{}:{password}{}", &url[..at], &url[at..])
}

#[test]
fn verbose_logs_steps_and_the_dump_command_without_its_password() {
    let t = TestRepo::new();
    let db = PgDb::create("verbose");
    db.sql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);\n\
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g;",
    );
    let secret = "Sekr1t-pw-18";
    let url = url_with_password(&db, secret);

    // -v: each step and the dump command, the password shown as ***.
    let a = dv(&t, &["snapshot", &url, "-v"]).assert().success();
    let err = stderr(&a);
    for step in [
        "shared lock taken",
        "index loaded",
        "dump started",
        "dump command",
        "packs written",
        "dump ended",
        "packs relied on confirmed",
        "manifest written",
        " INFO ",
        "ms=",
    ] {
        assert!(err.contains(step), "no {step:?} in:\n{err}");
    }
    let command = err
        .lines()
        .find(|l| l.contains("dump command"))
        .unwrap()
        .to_string();
    assert!(
        command.contains("pg_dump") && command.contains("PGPASSWORD=***"),
        "{command}"
    );
    assert!(!err.contains(secret), "the password leaked:\n{err}");
    assert!(!err.contains("backend request"), "{err}");

    // -vv: every storage request too, with op, path, bytes and duration.
    let a = dv(&t, &["snapshot", &url, "-vv"]).assert().success();
    let err = stderr(&a);
    let request = err
        .lines()
        .find(|l| l.contains("backend request") && l.contains("op=\"write\""))
        .unwrap_or_else(|| panic!("no write request in:\n{err}"));
    for field in ["path=\"", "bytes=", "ms=", "DEBUG"] {
        assert!(request.contains(field), "{request}");
    }
    assert!(!err.contains(secret), "the password leaked:\n{err}");

    // Default: none of it.
    let a = dv(&t, &["snapshot", &url]).assert().success();
    let err = stderr(&a);
    for line in [
        "INFO",
        "DEBUG",
        "backend request",
        "dump command",
        "PGPASSWORD",
    ] {
        assert!(!err.contains(line), "{line:?} in:\n{err}");
    }

    // --json -v: the logs on stderr, stdout one JSON document.
    let a = dv(&t, &["snapshot", &url, "--json", "-v"])
        .assert()
        .success();
    let summary: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert!(summary["id"].is_string(), "{summary}");
    assert!(stderr(&a).contains("manifest written"), "{}", stderr(&a));

    // DUMPVAULT_LOG replaces the flags' level: here only the storage requests.
    let a = dv(&t, &["snapshots"])
        .env("DUMPVAULT_LOG", "dumpvault::backend=debug")
        .assert()
        .success();
    let err = stderr(&a);
    assert!(err.contains("backend request"), "{err}");
    assert!(!err.contains("INFO"), "{err}");
}

/// Runs the binary with `args` on a pseudo-terminal of 50 rows of 200 columns (`script`; with
/// no rows set, the bar falls back to 80 columns); returns
/// everything the terminal received. The command must succeed.
fn on_tty(t: &TestRepo, args: &[&str]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let bin = assert_cmd::cargo::cargo_bin("dumpvault");
    let line: Vec<String> = std::iter::once(bin.to_str().unwrap())
        .chain(args.iter().copied())
        .map(quote)
        .collect();
    let shell = format!("stty rows 50 cols 200; exec {}", line.join(" "));
    let out = Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .env("DUMPVAULT_REPOSITORY", &t.repo)
        .env("DUMPVAULT_PASSWORD", crate::common::PASSWORD)
        .env("TERM", "xterm")
        .env_remove("DUMPVAULT_PASSWORD_FILE")
        .env_remove("DUMPVAULT_PASSWORD_COMMAND")
        .env_remove("DUMPVAULT_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{:?}: {text}", out.status);
    text
}

#[test]
fn terminal_bar_shows_table_eta_and_a_restore_until_its_summary() {
    let t = TestRepo::new();
    let db = PgDb::create("tty");
    // `zz_big` comes last in the dump and spans many chunks: its COPY header is the last
    // data header of the chunk it starts in.
    db.sql(
        "CREATE TABLE a_small (id int PRIMARY KEY, v text);\n\
         INSERT INTO a_small SELECT g, md5(g::text) FROM generate_series(1, 10) g;\n\
         CREATE TABLE zz_big (id int PRIMARY KEY, v text);\n\
         INSERT INTO zz_big SELECT g, md5(g::text) FROM generate_series(1, 60000) g;",
    );
    let url = db.url();
    let first = on_tty(&t, &["snapshot", &url]);
    assert!(first.contains("public.zz_big"), "{first}");
    assert!(first.contains("dumping"), "{first}");
    // A first snapshot has nothing to estimate from: a spinner, no ETA.
    assert!(!first.contains("eta "), "{first}");
    assert!(first.contains("saved"), "{first}");

    let second = on_tty(&t, &["snapshot", &url]);
    assert!(second.contains("eta "), "{second}");
    assert!(second.contains("public.zz_big"), "{second}");

    // A restore into a database: the bar stays (finishing, checking row counts) until the
    // summary is printed.
    let target = PgDb::create("ttyto");
    let to = format!("{}/{}", pg_server(), target.name);
    let restore = ["restore", "latest", "--to", &to, "--drop-existing"];
    let shown = on_tty(&t, &[&restore[..], &["--database", &db.name]].concat());
    let checking = shown
        .find("checking row counts")
        .unwrap_or_else(|| panic!("{shown}"));
    let summary = shown
        .find("restored snapshot")
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(checking < summary, "{shown}");
    assert_eq!(target.sql("SELECT count(*) FROM zz_big;").trim(), "60000");
}

#[test]
fn daemon_logs_one_journald_line_per_job_run() {
    use std::io::BufRead;
    use std::os::unix::fs::PermissionsExt;
    let t = TestRepo::new();
    let db = t.path("shop.db");
    crate::common::sqlite_two_tables(&db, 100);
    let pass = t.path("pass");
    std::fs::write(&pass, format!("{}\n", crate::common::PASSWORD)).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = t.path("dumpvault.toml");
    let q = |s: &std::path::Path| format!("{:?}", s.to_str().unwrap());
    std::fs::write(
        &cfg,
        format!(
            "[repository.main]\nurl = {}\npassword_file = {}\n\n[job.tick]\n\
             repository = \"main\"\nsources = [{:?}]\nschedule = \"* * * * * *\"\n",
            q(&t.repo),
            q(&pass),
            format!("sqlite://{}", db.display()),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("dumpvault"));
    for v in [
        "DUMPVAULT_REPOSITORY",
        "DUMPVAULT_PASSWORD",
        "DUMPVAULT_PASSWORD_FILE",
        "DUMPVAULT_PASSWORD_COMMAND",
        "DUMPVAULT_CONFIG",
        "DUMPVAULT_JOBS",
        "DUMPVAULT_METRICS_FILE",
        "DUMPVAULT_STATUS_FILE",
        "DUMPVAULT_NOTIFY_TIMEOUT",
        "DUMPVAULT_LOG",
        "NO_COLOR",
    ] {
        cmd.env_remove(v);
    }
    // As under systemd: journald stamps each line itself.
    let mut child = cmd
        .args(["run", "--daemon", "--config", cfg.to_str().unwrap()])
        .env("JOURNAL_STREAM", "8:12345")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blocks on the pipe until the daemon logs its first job run.
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let line = loop {
        let l = lines
            .next()
            .unwrap_or_else(|| panic!("the daemon ended: {seen:?}"))
            .unwrap();
        if l.contains("job run") {
            break l;
        }
        seen.push(l);
    };
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    // No colours, no timestamp: the level first, then `key=value` fields.
    assert!(!line.contains('\x1b'), "{line:?}");
    assert!(line.trim_start().starts_with("INFO"), "{line:?}");
    for field in [
        "job=\"tick\"",
        "status=\"ok\"",
        "databases=1",
        "failed=0",
        "bytes_read=",
        "duration_ms=",
        "exit_code=0",
    ] {
        assert!(line.contains(field), "no {field} in {line:?}");
    }
    // One line per run: every later run logged one more, nothing else at info.
    assert!(
        rest.iter()
            .filter(|l| l.contains(" INFO ") || l.starts_with("INFO"))
            .all(|l| l.contains("job run")),
        "{rest:?}"
    );
}

/// The lines a terminal capture drew: escape sequences (cursor moves, clears) and carriage
/// returns end a line as newlines do; blank lines left out.
fn drawn_lines(capture: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut chars = capture.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' | '\r' | '\n' => {
                if c == '\x1b' && chars.clone().next() == Some('[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
                if !line.trim().is_empty() {
                    out.push(std::mem::take(&mut line));
                }
                line.clear();
            }
            c => line.push(c),
        }
    }
    if !line.trim().is_empty() {
        out.push(line);
    }
    out
}

/// A database with one table `table` of 60000 rows (many chunks: it is named as it is read).
fn db_with_table(prefix: &str, table: &str) -> PgDb {
    let db = PgDb::create(prefix);
    db.sql(&format!(
        "CREATE TABLE {table} (id int PRIMARY KEY, v text);\n\
         INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, 60000) g;"
    ));
    db
}

/// Where each bar line starts in `text`: its label, a blank and a spinner character
/// (indicatif's braille dots), as `(offset, label)` sorted by offset.
fn bar_starts<'a>(text: &str, labels: &[&'a str]) -> Vec<(usize, &'a str)> {
    let mut starts: Vec<(usize, &str)> = Vec::new();
    for label in labels {
        for (i, _) in text.match_indices(&format!("{label} ")) {
            let next = text[i + label.len() + 1..].chars().next();
            if next.is_some_and(|c| ('\u{2800}'..='\u{28ff}').contains(&c)) {
                starts.push((i, *label));
            }
        }
    }
    starts.sort();
    starts
}

/// Each database has a bar line of its own, labelled, and no figure of one is shown under
/// another's name: every place the terminal shows table `tables[k]` lies in a bar line
/// labelled `labels[k]` (the lines may wrap into one another; escapes end a line).
fn lines_labelled(capture: &str, labels: &[&str], tables: &[&str]) {
    let lines = drawn_lines(capture);
    // No bar line without its label (a bar drawn before it joined the others left a stray
    // spinner line above them).
    let spinner = |c: char| ('\u{2800}'..='\u{28ff}').contains(&c);
    let stray: Vec<&String> = (lines.iter())
        .filter(|l| l.trim_start().starts_with(spinner))
        .collect();
    assert!(
        stray.is_empty(),
        "unlabelled bar lines {stray:?}: {lines:?}"
    );
    let text = lines.join("\n");
    let starts = bar_starts(&text, labels);
    for (label, table) in labels.iter().zip(tables) {
        assert!(
            starts.iter().any(|(_, l)| l == label),
            "no bar line labelled {label:?}: {text}"
        );
        let shown: Vec<usize> = text.match_indices(table).map(|(i, _)| i).collect();
        assert!(!shown.is_empty(), "{table} not shown: {text}");
        for i in shown {
            let line = starts.iter().rev().find(|(s, _)| *s < i);
            assert_eq!(line.map(|l| l.1), Some(*label), "{table} at {i}: {text}");
        }
    }
}

/// Several databases in one `snapshot`: a bar line each on a terminal, labelled with its
/// database; with `--json`, status lines naming their database, each with its own bytes.
#[test]
fn multi_database_snapshot_shows_a_bar_per_database() {
    let t = TestRepo::new();
    let a = db_with_table("multia", "t_alpha");
    let b = db_with_table("multib", "t_beta");
    let shown = on_tty(&t, &["snapshot", &a.url(), &b.url(), "--jobs", "2"]);
    let labels = [a.name.as_str(), b.name.as_str()];
    lines_labelled(&shown, &labels, &["public.t_alpha", "public.t_beta"]);
    assert!(shown.contains("0 of 2 databases failed"), "{shown}");

    let out = dv(
        &t,
        &["snapshot", &a.url(), &b.url(), "--jobs", "2", "--json"],
    )
    .env("DUMPVAULT_PROGRESS_INTERVAL_MS", "0")
    .assert()
    .success();
    let lines = status_lines(&stderr(&out));
    for db in [&a.name, &b.name] {
        let mine: Vec<Value> = (lines.iter())
            .filter(|v| v["database"] == db.as_str())
            .cloned()
            .collect();
        assert!(mine.len() >= 2, "{db}: {lines:?}");
        bytes_done(&mine);
        for v in &mine {
            if let Some(item) = v["item"].as_str() {
                assert!(item.starts_with(&format!("{db}: ")), "{v}");
            }
        }
    }
    assert!(lines.iter().all(|v| v["database"].is_string()), "{lines:?}");
}

/// `run` on a terminal: a bar line per database being dumped, labelled `job: database`, with
/// the table read; with `--json` no bar (its output is the JSON summary).
#[test]
fn fleet_run_shows_a_bar_per_database_on_a_terminal() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestRepo::new();
    let a = db_with_table("runa", "t_alpha");
    let b = db_with_table("runb", "t_beta");
    let pass = t.path("pass");
    std::fs::write(&pass, format!("{}\n", crate::common::PASSWORD)).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = t.path("dumpvault.toml");
    std::fs::write(
        &cfg,
        format!(
            "jobs = 2\n\n[repository.main]\nurl = {:?}\npassword_file = {:?}\n\n\
             [job.nightly]\nrepository = \"main\"\nsources = [{:?}, {:?}]\n",
            t.repo.to_str().unwrap(),
            pass.to_str().unwrap(),
            a.url(),
            b.url(),
        ),
    )
    .unwrap();
    let config = cfg.to_str().unwrap();
    let shown = on_tty(&t, &["run", "--config", config, "nightly"]);
    let labels = [
        format!("nightly: {}", a.name),
        format!("nightly: {}", b.name),
    ];
    let labels = [labels[0].as_str(), labels[1].as_str()];
    lines_labelled(&shown, &labels, &["public.t_alpha", "public.t_beta"]);
    assert!(shown.contains("0 of 2 databases failed"), "{shown}");

    let shown = on_tty(&t, &["run", "--config", config, "nightly", "--json"]);
    assert!(
        !shown.contains("dumping") && !shown.contains("public.t_"),
        "{shown}"
    );
    let line = (shown.lines())
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary: {shown}"));
    let summary: Value =
        serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {shown}"));
    assert_eq!(summary["exit_code"], 0, "{summary}");
}

/// A parallel restore names the phase (pre-data, data, indexes) and the tables loading at
/// once: in `--json` status lines, and on the terminal.
#[test]
fn parallel_restore_shows_phase_and_tables_loading() {
    let t = TestRepo::new();
    let db = db_with_table("parto", "t_alpha");
    db.sql(
        "CREATE TABLE t_beta (id int PRIMARY KEY, v text);\n\
         INSERT INTO t_beta SELECT g, md5(g::text) FROM generate_series(1, 60000) g;\n\
         CREATE INDEX t_beta_v ON t_beta (v);",
    );
    dv(&t, &["snapshot", &db.url()]).assert().success();
    let target = PgDb::create("partto");
    let to = format!("{}/{}", pg_server(), target.name);
    let restore = [
        "restore",
        "latest",
        "--to",
        &to,
        "--drop-existing",
        "--database",
        &db.name,
        "--jobs",
        "2",
    ];
    let out = dv(&t, &[&restore[..], &["--json"]].concat())
        .env("DUMPVAULT_PROGRESS_INTERVAL_MS", "0")
        .assert()
        .success();
    let lines = status_lines(&stderr(&out));
    let phase = |p: &str| -> Vec<&Value> { lines.iter().filter(|v| v["phase"] == p).collect() };
    assert!(!phase("restoring pre-data").is_empty(), "{lines:?}");
    let data = phase("restoring data");
    for table in ["public.t_alpha", "public.t_beta"] {
        assert!(
            data.iter()
                .any(|v| v["item"].as_str().is_some_and(|i| i.contains(table))),
            "{table}: {data:?}"
        );
    }
    let indexes = phase("restoring indexes and constraints");
    assert!(
        indexes
            .iter()
            .any(|v| v["item"].as_str().is_some_and(|i| i.contains("t_beta_v"))),
        "{lines:?}"
    );
    assert_eq!(target.sql("SELECT count(*) FROM t_beta;").trim(), "60000");

    let shown = on_tty(&t, &restore);
    assert!(shown.contains("restoring data: public.t_"), "{shown}");
    assert!(
        shown.contains("restoring indexes and constraints"),
        "{shown}"
    );
    assert!(shown.contains("restored snapshot"), "{shown}");
}
