//! Library operations behind the commands. Each takes an open repository and options and
//! returns an outcome; the command line only parses and prints.

pub mod cat;
pub mod check;
pub mod copy;
pub mod diff;
pub mod forget;
pub mod key;
pub mod migrate;
pub mod prune;
pub mod repair;
pub mod report;
pub mod restore;
pub mod snapshot;
pub mod snapshots;
pub mod stats;
pub mod tag;
pub mod verify;
