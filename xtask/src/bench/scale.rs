//! `cargo xtask bench --scale [--max N] [--shape fleet|deep|both] [--no-s3] [--seed N]
//! [--keep]`: how the everyday commands cost as a repository's history grows (issue 19).
//!
//! One repository per shape and backend (a local directory, and a bucket on moto, the S3
//! server the tests use) grows 100 → 1 000 → 10 000 → 50 000 snapshots (up to `--max`), in
//! one of two shapes ([`Shape`]):
//! - `fleet`, the story: `level / 100` SQLite databases (10 per host), each with the
//!   ~100 snapshots the fleet's keep policy leaves (48 hourly, 30 daily, 12 weekly,
//!   10 monthly), so 500 databases at 50 000; the measured database keeps its ~100 at every
//!   level, and a command about one database should cost the same at every level;
//! - `deep`: 20 databases (4 hosts × 5) whose histories grow with the level, one snapshot an
//!   hour, database after database (2 500 each at 50 000): a long hourly history, or a prune
//!   that never ran, where one database's own history is what grows.
//!
//! The default runs both, fleet first: each alone hides a cost the other shows (the number of
//! databases, the depth of one database's history), the targets hold for both, and at
//! `--max 1000` both take a few minutes; `--shape fleet` is the quicker run of the issue's
//! story.
//!
//! Each database's first snapshot is real, taken through the library exactly as `snapshot`
//! takes it (the measured database is 1 MB, the others 100 KB; tags `fleet` and `job=HOST`).
//! The rest of the history is written through the library as the manifests an unchanged
//! snapshot writes (a copy of that database's real manifest with its own time, nothing added),
//! then the catalogue is compacted as `prune` leaves it. Argon2id has the small test cost.
//!
//! At each size, through the release binary with `--stats-backend`, it measures wall time, CPU
//! time and backend requests of: one more hourly snapshot of the 1 MB database (a few rows
//! changed), with an empty cache and then with the cache the first one filled (twice; the least
//! counts); `snapshots` and `forget --dry-run` with the fleet policy, of the whole repository
//! (output proportional to the history, marked †) and of the measured database
//! (`--database`, what a DBA types); `restore latest` of the 1 MB database. Read-only commands
//! run five times on local disk (the least wall time and the least CPU time count: the machine
//! may be loaded), twice on moto (whose own listing dominates; the first run warms the cache,
//! the second's requests count). Prints Markdown, writes
//! target/bench/scale.md and scale.json, and reports every target of every command and shape
//! (≤ 1.5× the figure at 100 on local disk, ≤ 1.5× the requests at 100 on S3 with a warm
//! cache), met or missed by how much. The repository is made by `init` (the catalogue decides
//! which snapshots exist, so the grown manifests become visible only through the compaction,
//! as prune's).

use anyhow::{bail, Context, Result};
use dumpvault::backend::Backend;
use dumpvault::crypto::kdf::KdfParams;
use dumpvault::repository::{catalogue, FileKind, InitOptions, Repository};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod grow;
mod level;
mod moto;
mod report;
mod shape;
pub(super) use moto::Moto;

use super::tools::PASSWORD;
use grow::Grower;
use level::{Level, Row, Runner};
use shape::Shape;

/// Repository sizes, in snapshots.
const LEVELS: [usize; 4] = [100, 1_000, 10_000, 50_000];
/// The fleet's keep policy.
const POLICY: &str = "--keep-hourly 48 --keep-daily 30 --keep-weekly 12 --keep-monthly 12";
/// Time of the first snapshot (Unix seconds: 2019-01-01T00:00:00Z); each next one is an hour
/// later.
const START: i64 = 1_546_300_800;
const ACCESS_KEY: &str = "dumpvault-bench-key";
const SECRET_KEY: &str = "dumpvault-bench-secret";

const USAGE: &str =
    "usage: cargo xtask bench --scale [--max N] [--shape S] [--no-s3] [--seed N] [--keep] [--bin P]
  --max N    largest repository, in snapshots (default 50000; 10000 for a quicker run)
  --shape S  fleet (level/100 databases of ~100 snapshots each), deep (20 databases whose
             histories grow) or both (default, fleet first)
  --no-s3    local disk only (no moto)
  --seed N   seed of the generated databases (default 1)
  --keep     keep target/bench/scale-work, with a copy of each local repository as measured
             at each level (repo-SHAPE-LEVEL)
  --bin P    measure this dumpvault binary instead of building target/release/dumpvault";

#[derive(Debug)]
struct Opts {
    max: usize,
    shapes: Vec<Shape>,
    s3: bool,
    seed: u64,
    keep: bool,
    /// A dumpvault binary to measure instead of building target/release/dumpvault.
    bin: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        max: 50_000,
        shapes: Shape::ALL.to_vec(),
        s3: true,
        seed: 1,
        keep: false,
        bin: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--scale" => {}
            "--max" => o.max = val()?.parse()?,
            "--shape" => o.shapes = Shape::parse_list(&val()?)?,
            "--no-s3" => o.s3 = false,
            "--seed" => o.seed = val()?.parse()?,
            "--keep" => o.keep = true,
            "--bin" => o.bin = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => bail!("unknown argument {a:?}\n{USAGE}"),
        }
    }
    anyhow::ensure!(o.max >= LEVELS[0], "--max must be at least {}", LEVELS[0]);
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let started = Instant::now();
    let root = crate::root();
    let bin = match &opts.bin {
        Some(b) => b.clone(),
        None => {
            crate::run(crate::cargo().args(["build", "--release", "--bin", "dumpvault"]))?;
            root.join("target/release/dumpvault")
        }
    };
    let out_dir = root.join("target/bench");
    let work = out_dir.join("scale-work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let pwfile = work.join("password");
    std::fs::write(&pwfile, format!("{PASSWORD}\n"))?;
    let levels: Vec<usize> = LEVELS.into_iter().filter(|l| *l <= opts.max).collect();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let local = Runner {
        bin,
        pwfile,
        work: work.clone(),
        s3_env: Vec::new(),
        round_base: 0,
    };
    let moto = (opts.s3)
        .then(|| Moto::start(&root.join("target/tmp")))
        .transpose()?;
    for (i, &shape) in opts.shapes.iter().enumerate() {
        let b = Bench {
            shape,
            work: &work,
            seed: opts.seed,
            levels: &levels,
            keep: opts.keep,
        };
        let repo = work.join(format!("repo-{}", shape.name()));
        let runner = Runner {
            round_base: (i as u64) << 40,
            ..local.clone()
        };
        rows.extend(b.backend(&runner, "local", &repo.to_string_lossy(), &mut notes)?);
        if let Some(moto) = &moto {
            let bucket = format!("scale-{}", shape.name());
            moto.create_bucket(&bucket)?;
            let env = vec![
                ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
                ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ];
            for (k, v) in &env {
                std::env::set_var(k, v);
            }
            let runner = Runner {
                s3_env: env,
                round_base: runner.round_base + (1 << 32),
                ..local.clone()
            };
            let url = format!("s3://{bucket}/repo?endpoint=http://127.0.0.1:{}", moto.port);
            rows.extend(b.backend(&runner, "S3 (moto)", &url, &mut notes)?);
        }
    }
    if opts.s3 {
        notes.push(format!(
            "S3: `--stats-backend` counts a listing once however many pages it takes; a \
             listing takes ⌈objects / 1000⌉ ListObjectsV2 pages ({} for {} snapshots' \
             manifests), and moto spends about 1 s per page at 50 000 objects, hence its wall times",
            levels.last().map_or(0, |l| l.div_ceil(1000)),
            levels.last().copied().unwrap_or(0)
        ));
    }
    let checks = report::targets(&rows, &levels);
    let md = report::markdown(&rows, &levels, &checks, &notes, &opts, started.elapsed());
    println!("{md}");
    std::fs::write(out_dir.join("scale.md"), &md)?;
    let js = report::json(
        &rows,
        &levels,
        &checks,
        &notes,
        opts.seed,
        started.elapsed(),
    );
    std::fs::write(
        out_dir.join("scale.json"),
        serde_json::to_string_pretty(&js)?,
    )?;
    eprintln!(
        "bench --scale: wrote {} ({:.0} s)",
        out_dir.join("scale.md").display(),
        started.elapsed().as_secs_f64()
    );
    if !opts.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

/// The time of the snapshot at `hour`, as a `Zoned` in UTC.
fn time(hour: u64) -> Result<jiff::Zoned> {
    let ts = jiff::Timestamp::from_second(START + hour as i64 * 3600)?;
    Ok(ts.to_zoned(jiff::tz::TimeZone::UTC))
}

/// A SQLite database of about `bytes` at `path`: one table of rows with ~100 bytes of
/// pseudo-random text.
pub(super) fn make_db(path: &Path, bytes: usize, seed: u64) -> Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT);",
    )?;
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare("INSERT INTO items VALUES (?1, ?2, ?3)")?;
        for i in 0..(bytes / 120).max(1) {
            let payload: String = (0..100)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (b'a' + (x % 26) as u8) as char
                })
                .collect();
            st.execute(rusqlite::params![i as i64, format!("item {i}"), payload])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// One hour's change of the database at `path`, as the main bench's synthetic series models
/// it: about 1% of the rows updated, all among the newest 5%, and 0.3% new rows at the end.
pub(super) fn touch(path: &Path, round: u64) -> Result<()> {
    let c = rusqlite::Connection::open(path)?;
    let n: i64 = c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
    c.execute(
        "UPDATE items SET name = ?1 WHERE id >= ?2 AND id % 5 = ?3",
        rusqlite::params![
            format!("changed in round {round}"),
            n - n / 20,
            (round % 5) as i64
        ],
    )?;
    c.execute(
        "INSERT INTO items (name, payload) SELECT 'new in round ' || ?1, payload FROM items \
         WHERE id < ?2",
        rusqlite::params![round as i64, (n * 3 / 1000).max(1)],
    )?;
    Ok(())
}

/// One shape's series of repositories.
struct Bench<'a> {
    shape: Shape,
    work: &'a Path,
    seed: u64,
    levels: &'a [usize],
    /// `--keep`: a copy of the local repository at each level, `<repo>-<level>`.
    keep: bool,
}

impl Bench<'_> {
    /// Grows a repository at `loc` through the levels and measures at each with `runner`.
    fn backend(
        &self,
        runner: &Runner,
        name: &'static str,
        loc: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Row>> {
        let opts = InitOptions {
            kdf: KdfParams::with_cost(8192, 1, 1),
            ..Default::default()
        };
        let repo = Repository::init(Backend::open(loc)?, PASSWORD.as_bytes(), opts)?;
        anyhow::ensure!(
            repo.config().catalogue_authoritative(),
            "init wrote a config of version {}: the bench measures version 2 and later",
            repo.config().version
        );
        let dbs = self.work.join(format!("dbs-{}", self.shape.name()));
        let mut grower = Grower::new(&repo, self.shape, &dbs, self.seed);
        let db = grower.database(0)?;
        let mut rows = Vec::new();
        for &level in self.levels {
            let t = Instant::now();
            let written = grower.grow_to(level)?;
            let c = catalogue::compact(&repo, &written)?;
            let merged = merge_index(&repo)?;
            let msg = format!(
                "{}, {name}: grew to {level} snapshots of {} databases in {:.1} s ({} manifests written, catalogue compacted, {} files removed, {merged} index files merged into one)",
                self.shape.name(),
                self.shape.databases(level),
                t.elapsed().as_secs_f64(),
                written.len(),
                c.removed
            );
            eprintln!("bench --scale: {msg}");
            notes.push(msg);
            let at = Level {
                shape: self.shape,
                backend: name,
                loc,
                level,
                db: &db,
            };
            rows.extend(runner.measure_level(&at, &mut grower.hour)?);
            if self.keep && !loc.contains("://") {
                // `--keep`: each level's repository as measured, to measure again by hand.
                let copy = format!("{loc}-{level}");
                crate::run(Command::new("cp").args(["-a", loc, &copy]))?;
            }
        }
        Ok(rows)
    }
}

/// Merges the index files of `repo` into ONE superseding them all, then deletes them, as
/// prune's step 7 and 8 leave a repository (the real snapshots of a fleet write one index
/// file each, which a daily prune merges). Returns how many files were merged.
fn merge_index(repo: &Repository) -> Result<usize> {
    use dumpvault::format::index::IndexFile;
    let files = repo.list(FileKind::Index)?;
    if files.len() < 2 {
        return Ok(0);
    }
    let mut merged = IndexFile {
        packs: Vec::new(),
        supersedes: Vec::new(),
        obsolete: Vec::new(),
    };
    for (id, _) in &files {
        let f = repo.load_index_file(id)?;
        merged.packs.extend(f.packs);
        merged.obsolete.extend(f.obsolete);
        merged.supersedes.push(id.0);
    }
    repo.save_index_file(&merged)?;
    for (id, _) in &files {
        repo.backend().delete(&FileKind::Index.path(id))?;
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn shape_defaults_to_both_fleet_first_and_takes_one() {
        let o = parse(&args("--scale --max 1000 --no-s3")).unwrap();
        assert_eq!(o.shapes, vec![Shape::Fleet, Shape::Deep]);
        assert_eq!((o.max, o.s3), (1000, false));
        let o = parse(&args("--scale --shape deep")).unwrap();
        assert_eq!(o.shapes, vec![Shape::Deep]);
        let o = parse(&args("--shape fleet --max 100")).unwrap();
        assert_eq!(o.shapes, vec![Shape::Fleet]);
        assert_eq!(
            parse(&args("--shape both")).unwrap().shapes,
            Shape::ALL.to_vec()
        );
        assert!(parse(&args("--shape wide")).is_err());
        assert!(parse(&args("--shape")).is_err());
    }
}
