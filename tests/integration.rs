//! Integration tests: one binary, a module per area, driving the real `dumpvault` binary.

#[path = "integration/common.rs"]
mod common;
#[path = "integration/core.rs"]
mod core;
