//! The MariaDB section of `bench-restore`: sysbench-style `sbtest` tables (sysbench's schema:
//! `id` key, `k` int with an index, `c` char(120), `pad` char(60), digits as sysbench writes
//! them, made by SQL from fixed seeds) on the local server, restored by every method and by
//! `mariadb < mariadb-dump file`.

use super::{Bench, Opts};
use anyhow::{bail, Context, Result};
use std::process::Command;

const SERVER: &str = "mysql://root@127.0.0.1:3306";

/// Runs `sql` with the `mariadb` client (in database `db` when given); its output, trimmed.
fn mariadb(db: Option<&str>, sql: &str) -> Result<String> {
    let mut cmd = Command::new("mariadb");
    cmd.args(["-h127.0.0.1", "-uroot", "-N", "-B", "-e", sql]);
    cmd.args(db);
    let out = cmd.output().context("cannot run mariadb")?;
    if !out.status.success() {
        bail!(
            "mariadb {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// sysbench's `c` or `pad` value: `groups` groups of 11 digits joined by `-`, from seeds
/// `seed..seed + groups`.
fn digits(groups: u32, seed: u32) -> String {
    let g: Vec<String> = (0..groups)
        .map(|i| format!("LPAD(FLOOR(RAND({}) * 99999999999), 11, '0')", seed + i))
        .collect();
    format!("CONCAT_WS('-', {})", g.join(", "))
}

/// Creates and fills `tables` sbtest tables of `rows` rows in `db`.
fn prepare(db: &str, tables: usize, rows: u64) -> Result<()> {
    for t in 1..=tables {
        mariadb(
            Some(db),
            &format!(
                "CREATE TABLE sbtest{t} (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0,
                 c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '',
                 PRIMARY KEY (id), KEY k_{t} (k)) ENGINE=InnoDB"
            ),
        )?;
        let mut from = 1;
        while from <= rows {
            let to = (from + 249_999).min(rows);
            let seed = t as u32 * 100;
            eprintln!("sbtest{t}: rows {from} to {to}");
            mariadb(
                Some(db),
                &format!(
                    "INSERT INTO sbtest{t} (k, c, pad) SELECT FLOOR(RAND({seed}) * {rows}) + 1, \
                     {}, {} FROM seq_{from}_to_{to}",
                    digits(10, seed + 1),
                    digits(5, seed + 20)
                ),
            )?;
            from = to + 1;
        }
    }
    Ok(())
}

/// Measures the MariaDB restores; the section's Markdown.
pub fn section(b: &Bench, o: &Opts, machine: &str) -> Result<String> {
    let pid = std::process::id();
    let (src, target) = (
        format!("bench_rmy_src_{pid}"),
        format!("bench_rmy_to_{pid}"),
    );
    let drop_db = |d: &str| mariadb(None, &format!("DROP DATABASE IF EXISTS {d}")).map(drop);
    drop_db(&src)?;
    mariadb(None, &format!("CREATE DATABASE {src}"))?;
    let result = (|| -> Result<String> {
        prepare(&src, o.my_tables, o.my_rows)?;
        let dv = &b.dv;
        let to = format!("{SERVER}/{target}");
        b.timed(
            &format!("{dv} init --kdf-memory-kib 64 --kdf-iterations 1"),
            "my",
        )?;
        b.timed(&format!("{dv} snapshot {SERVER}/{src}"), "my")?;
        b.timed(
            &format!("{dv} restore latest --target {}", b.q("my.sql")),
            "my",
        )?;
        let dump_bytes = std::fs::metadata(b.work.join("my.sql"))?.len();
        let peer = b.q("peer.sql");
        let dump = format!("mariadb-dump -h127.0.0.1 -uroot --single-transaction {src} > {peer}");
        b.timed(&dump, "my")?;
        let client = format!("mariadb -h127.0.0.1 -uroot {target}");
        let create = format!("mariadb -h127.0.0.1 -uroot -e 'CREATE DATABASE {target}' && ");
        let methods: Vec<(String, String)> = vec![
            (
                "dumpvault restore --to --jobs 2".into(),
                format!("{dv} restore latest --to {to} --create --jobs 2"),
            ),
            (
                "dumpvault restore --to --jobs 1".into(),
                format!("{dv} restore latest --to {to} --create --jobs 1"),
            ),
            (
                "dumpvault restore --to --single-transaction (one session)".into(),
                format!("{dv} restore latest --to {to} --create --single-transaction"),
            ),
            (
                "dumpvault restore --stdout \\| mariadb".into(),
                format!("{create}{dv} restore latest --stdout | {client}"),
            ),
            (
                "mariadb < mariadb-dump file".into(),
                format!("{create}{client} < {peer}"),
            ),
        ];
        let reset = || drop_db(&target);
        let check = |name: &str| {
            for t in 1..=o.my_tables {
                let n = mariadb(Some(&target), &format!("SELECT count(*) FROM sbtest{t}"))?;
                anyhow::ensure!(n == o.my_rows.to_string(), "{name}: sbtest{t} has {n} rows");
            }
            Ok(())
        };
        let rows = b.measure(&methods, "my", o.runs, &reset, &check)?;
        let version = mariadb(None, "SELECT VERSION()")?;
        let pool = mariadb(None, "SELECT @@innodb_buffer_pool_size DIV 1048576")?;
        let mut md = format!(
            "MariaDB: restore of {} sysbench-style table(s) of {} rows ({:.0} MiB plain dump) into \
             MariaDB {version} on 127.0.0.1 (innodb_buffer_pool_size {pool} MiB), {machine}; \
             wall-clock seconds over {} runs (methods taking turns), each into a new database.\n\n\
             | method | best s | median s | runs in order s |\n|---|---:|---:|---:|\n",
            o.my_tables,
            o.my_rows,
            dump_bytes as f64 / 1048576.0,
            o.runs
        );
        md += &rows.join("\n");
        md += "\n";
        Ok(md)
    })();
    let _ = drop_db(&target);
    let _ = drop_db(&src);
    result
}
