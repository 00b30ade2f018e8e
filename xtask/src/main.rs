//! Project tasks: `cargo xtask demo` (the main job end to end on a sample SQLite database),
//! `cargo xtask test` (format, lints, the whole test suite; what CI runs), `cargo xtask bench`
//! (the performance figures, docs/bench.md), `cargo xtask man` (man pages) and `cargo xtask
//! dist` (the Debian package).

mod bench;
mod dist;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-restore") => bench::restore::run(&args[1..]),
        Some("bench-index") => bench::index_mem::run(&args[1..]),
        Some("man") => man(),
        Some("dist") => dist::main(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|bench|man|dist>");
            eprintln!("  demo  sample SQLite database: snapshot, change rows, snapshot, restore one table and all, compare");
            eprintln!("  test  cargo fmt --check, clippy -D warnings, and every test (needs PostgreSQL and MariaDB)");
            eprintln!("  bench dumpvault vs restic, borg, rustic on dump series (--quick: 100 MiB); see docs/bench.md");
            eprintln!("  bench-restore  restore into PostgreSQL and MariaDB: --jobs 1/2 vs one session, pg_restore -j 2, mariadb, restic");
            eprintln!("  bench-index  index memory (bytes per blob, peak RSS) and load time with --blobs N (1M)");
            eprintln!("  man   man pages from the command-line definitions into target/man");
            eprintln!("  dist  Debian package in target/debian: binary, man pages, completions, systemd units (--profile dev, --no-build)");
            std::process::exit(2)
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (relative to the workspace root when
/// relative), else `target/` in the workspace root.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root().join(d),
        _ => root().join("target"),
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Checks that a database server answers; outside CI an unreachable one only warns.
fn probe(name: &str, cmd: &mut Command) -> Result<bool> {
    let ok = cmd.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            bail!("{name} is not reachable and CI=true: database tests must not skip ({cmd:?})");
        }
        eprintln!(
            "!!! {name} is not reachable ({cmd:?}): its database tests will FAIL; start it first"
        );
    }
    Ok(ok)
}

fn test(extra: &[String]) -> Result<()> {
    let pg = std::env::var("DUMPVAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let my = std::env::var("DUMPVAULT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    probe(
        "PostgreSQL",
        Command::new("psql").args(["-X", "-q", "-c", "select 1", &pg]),
    )?;
    probe(
        "MariaDB",
        Command::new("mariadb").args([
            "-h",
            "127.0.0.1",
            "-P",
            "3306",
            "-u",
            "root",
            "-e",
            "select 1",
        ]),
    )?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))
        .context("formatting differs: run `cargo fmt --all`")?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
    .context("clippy found problems: fix them (see above)")?;
    let mut test = cargo();
    test.args(["test", "--workspace"])
        .args(extra)
        .env("DUMPVAULT_TEST_POSTGRES_URL", &pg)
        .env("DUMPVAULT_TEST_MYSQL_URL", &my);
    // Most integration tests wait on a child process or a server (PostgreSQL, MariaDB, moto,
    // sshd) more than they compute, so two test threads per core keep the cores busy: on 2
    // cores the integration suite took 218 s with 4 threads against 281 s with 2 (nextest,
    // 2026-12-07). A user's RUST_TEST_THREADS (or `-- --test-threads N`) wins.
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        test.env("RUST_TEST_THREADS", threads.to_string());
    }
    run(&mut test)?;
    dist::test()
}

/// Creates the demo's sample SQLite database at `path`: a small shop with `customers`
/// (5 000 rows), `products` (500 rows) and `orders` (200 000 rows), filled deterministically.
fn create_sample_db(path: &Path) -> Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
         CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers,
                              product_id INTEGER REFERENCES products, quantity INTEGER,
                              note TEXT);
         CREATE INDEX orders_customer ON orders(customer_id);
         CREATE VIEW big_orders AS SELECT * FROM orders WHERE quantity > 8;",
    )?;
    let tx = c.transaction()?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 1..=5000 {
        tx.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3)",
            rusqlite::params![
                i,
                format!("customer {}", next() % 100_000),
                format!("c{i}@example.com")
            ],
        )?;
    }
    for i in 1..=500 {
        let price = (next() % 100_000) as f64 / 100.0;
        tx.execute(
            "INSERT INTO products VALUES (?1, ?2, ?3)",
            rusqlite::params![i, format!("product {i}"), price],
        )?;
    }
    for i in 1..=200_000 {
        let (c, p, q) = (next() % 5000 + 1, next() % 500 + 1, next() % 10 + 1);
        tx.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, 'ok')",
            rusqlite::params![i, c as i64, p as i64, q as i64],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// The rows of `table` (or view) in `path`, ordered by the first column, one text per row.
fn table_rows(path: &Path, table: &str) -> Result<Vec<String>> {
    let c = rusqlite::Connection::open(path)?;
    let mut st = c.prepare(&format!("SELECT * FROM {table} ORDER BY 1"))?;
    let n = st.column_count();
    let rows = st.query_map([], |r| {
        let mut s = String::new();
        for i in 0..n {
            let v: rusqlite::types::Value = r.get(i)?;
            s.push_str(&format!("{v:?}|"));
        }
        Ok(s)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fails unless `table` holds the same rows in both databases.
fn same_table(original: &Path, restored: &Path, table: &str) -> Result<usize> {
    let (a, b) = (table_rows(original, table)?, table_rows(restored, table)?);
    if a != b {
        bail!(
            "table {table} of {} differs from the original ({} vs {} rows)",
            restored.display(),
            b.len(),
            a.len()
        );
    }
    Ok(a.len())
}

fn demo() -> Result<()> {
    println!("--- building dumpvault (the first time takes several minutes)");
    run(cargo().args(["build", "--bin", "dumpvault"]))?;
    let bin = target_dir().join("debug/dumpvault");
    let dir = target_dir().join("demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let repo = dir.join("repo");
    let dv = |args: &[&str]| -> Command {
        let mut c = Command::new(&bin);
        c.args(args)
            .env("DUMPVAULT_REPOSITORY", &repo)
            .env("DUMPVAULT_PASSWORD", "demo password");
        c
    };
    let db = dir.join("shop.db");
    create_sample_db(&db)?;
    let url = format!("sqlite://{}", db.display());
    println!(
        "--- sample database {} ({} bytes)",
        db.display(),
        std::fs::metadata(&db)?.len()
    );
    run(dv(&["init", "--kdf-memory-kib", "8192", "--kdf-iterations", "1"]).arg("--quiet"))?;
    println!("--- first snapshot");
    run(&mut dv(&["snapshot", "--tag", "demo", &url]))?;
    println!("--- changing 1% of the orders (2 000 scattered rows) and adding 100");
    let c = rusqlite::Connection::open(&db)?;
    c.execute_batch(
        "UPDATE orders SET quantity = quantity + 1, note = 'changed' WHERE id % 100 = 7;
         INSERT INTO orders (customer_id, product_id, quantity, note)
           SELECT customer_id, product_id, 1, 'new' FROM orders WHERE id <= 100;",
    )?;
    drop(c);
    println!("--- second snapshot (the `added` column is what it cost)");
    run(&mut dv(&["snapshot", "--tag", "demo", &url]))?;
    run(&mut dv(&["snapshots"]))?;
    run(&mut dv(&["ls", "latest"]))?;
    println!("--- restore of one table, then of the whole database");
    let one = dir.join("orders-only.db");
    run(&mut dv(&[
        "restore",
        "latest",
        "--table",
        "orders",
        "--to",
        &format!("sqlite://{}", one.display()),
    ]))?;
    let n = same_table(&db, &one, "orders")?;
    println!("orders restored alone: {n} rows, identical to the original");
    let full = dir.join("restored.db");
    run(&mut dv(&[
        "restore",
        "latest",
        "--to",
        &format!("sqlite://{}", full.display()),
    ]))?;
    for t in ["customers", "products", "orders", "big_orders"] {
        let n = same_table(&db, &full, t)?;
        println!("{t}: {n} rows, identical to the original");
    }
    run(&mut dv(&["check", "--read-data"]))?;
    println!("demo ok: one table and the whole database restored identical to the original");
    Ok(())
}

/// Writes the man pages (generated from the clap definitions by `dumpvault man`) into
/// target/man, ready for `man -l target/man/dumpvault.1` or installing under
/// /usr/share/man/man1.
fn man() -> Result<()> {
    println!("--- building dumpvault (the first time takes several minutes)");
    run(cargo().args(["build", "--bin", "dumpvault"]))?;
    let dir = target_dir().join("man");
    write_man_pages(&target_dir().join("debug/dumpvault"), &dir)?;
    println!("man pages in {}", dir.display());
    Ok(())
}

/// Replaces `dir` with the man pages the binary `bin` writes (`dumpvault man --dir DIR`):
/// `dumpvault.1` and one `dumpvault-COMMAND.1` per command, uncompressed.
fn write_man_pages(bin: &Path, dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    run(Command::new(bin).args(["man", "--dir"]).arg(dir))
}
