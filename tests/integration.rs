//! Integration tests: one binary, a module per area, driving the real `dumpvault` binary.

#[path = "integration/backends.rs"]
mod backends;
#[path = "integration/breakdown.rs"]
mod breakdown;
#[path = "integration/cache.rs"]
mod cache;
#[path = "integration/catalogue.rs"]
mod catalogue;
#[path = "integration/common.rs"]
mod common;
#[path = "integration/completions.rs"]
mod completions;
#[path = "integration/concurrency.rs"]
mod concurrency;
#[path = "integration/copy.rs"]
mod copy;
#[path = "integration/core.rs"]
mod core;
#[path = "integration/create_race.rs"]
mod create_race;
#[path = "integration/damaged_snapshot.rs"]
mod damaged_snapshot;
#[path = "integration/databases.rs"]
mod databases;
#[path = "integration/db.rs"]
#[allow(dead_code)] // each test file uses a part
mod db;
#[path = "integration/delta.rs"]
mod delta;
#[path = "integration/diff.rs"]
mod diff;
#[path = "integration/diff_rows.rs"]
mod diff_rows;
#[path = "integration/dotted_names.rs"]
mod dotted_names;
#[path = "integration/faults.rs"]
mod faults;
#[path = "integration/faults_index.rs"]
mod faults_index;
#[path = "integration/hosts.rs"]
mod hosts;
#[path = "integration/incomplete.rs"]
mod incomplete;
#[path = "integration/keys.rs"]
mod keys;
#[path = "integration/latest_choice.rs"]
mod latest_choice;
#[path = "integration/parallel_dump.rs"]
mod parallel_dump;
#[path = "integration/parallel_restore.rs"]
mod parallel_restore;
#[path = "integration/pg_ddl_race.rs"]
mod pg_ddl_race;
#[path = "integration/progress.rs"]
mod progress;
#[path = "integration/prune.rs"]
mod prune;
#[path = "integration/prune_copies.rs"]
mod prune_copies;
#[path = "integration/prune_safety.rs"]
mod prune_safety;
#[path = "integration/repair.rs"]
mod repair;
#[path = "integration/report.rs"]
mod report;
#[path = "integration/restore_checks.rs"]
mod restore_checks;
#[path = "integration/restore_order.rs"]
mod restore_order;
#[path = "integration/retention.rs"]
mod retention;
#[path = "integration/run.rs"]
mod run;
#[path = "integration/s3.rs"]
mod s3;
#[path = "integration/s3server.rs"]
mod s3server;
#[path = "integration/servers.rs"]
mod servers;
#[path = "integration/signals.rs"]
mod signals;
#[path = "integration/stats.rs"]
mod stats;
#[path = "integration/surface.rs"]
mod surface;
#[path = "integration/surface2.rs"]
mod surface2;
#[path = "integration/table_deps.rs"]
mod table_deps;
#[path = "integration/tags.rs"]
mod tags;
#[path = "integration/verify.rs"]
mod verify;
#[path = "integration/zoo.rs"]
mod zoo;
