//! Pause points for the integration tests, compiled only with the `test-hooks` feature (which
//! `cargo test` enables; release builds have none of this).
//!
//! With `DUMPVAULT_TEST_PAUSE=point[,point…]` and `DUMPVAULT_TEST_PAUSE_FIFO=PATH` (a named
//! pipe the test made), reaching a listed point prints `dumpvault: paused at POINT` on stderr,
//! then blocks until the test writes a line into the pipe. Without the variables (and in
//! release builds) [`pause`] does nothing. Tests thereby order a snapshot and a prune exactly,
//! with no timing involved.

/// Pauses at `point` when the test asked for it (see the module documentation).
#[cfg(feature = "test-hooks")]
pub fn pause(point: &str) {
    use std::io::BufRead;
    let listed = std::env::var("DUMPVAULT_TEST_PAUSE")
        .is_ok_and(|v| v.split(',').any(|p| p.trim() == point));
    let Ok(fifo) = std::env::var("DUMPVAULT_TEST_PAUSE_FIFO") else {
        return;
    };
    if !listed {
        return;
    }
    eprintln!("dumpvault: paused at {point}");
    // Opening a FIFO for reading blocks until the test opens it for writing.
    if let Ok(f) = std::fs::File::open(&fifo) {
        let mut line = String::new();
        let _ = std::io::BufReader::new(f).read_line(&mut line);
    }
}

/// Pauses at `point` when the test asked for it (a no-op: this build has no test hooks).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn pause(_point: &str) {}
