//! Library operations behind the commands. Each takes an open repository and options and
//! returns an outcome; the command line only parses and prints.

pub mod cat;
pub mod check;
pub mod restore;
pub mod snapshot;
pub mod snapshots;
