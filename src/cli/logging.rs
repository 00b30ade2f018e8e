//! Logs: the `tracing` events of the library and of the command line, on standard error, never
//! on standard output (so `--json` output stays one document).
//!
//! Levels: none by default, `-v` info (each step and its timing, the dump command), `-vv`
//! debug (each backend request: op, path, bytes, ms), `-vvv` trace. `DUMPVAULT_LOG`, in
//! `RUST_LOG` syntax (`dumpvault=debug`, `info,dumpvault::backend=debug`), replaces the level
//! the flags chose. The daemon's one line per job run (target `dumpvault::daemon`) is on by
//! default. Journald-friendly: no colours unless standard error is a terminal (and `NO_COLOR`
//! is unset), no timestamps when `JOURNAL_STREAM` is set (journald stamps each line itself);
//! fields are `key=value`.

use std::io::{IsTerminal, Write};
use tracing_subscriber::EnvFilter;

/// The filter directives for `-v` repeated `verbose` times.
pub fn directives(verbose: u8) -> &'static str {
    match verbose {
        0 => "off,dumpvault::daemon=info",
        1 => "warn,dumpvault=info",
        2 => "warn,dumpvault=debug",
        _ => "info,dumpvault=trace",
    }
}

/// Standard error, with any progress bar hidden while a line is written.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        super::output::suspend_bars(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the process's subscriber for `-v` given `verbose` times (see the module notes).
/// A `DUMPVAULT_LOG` that does not parse is reported on stderr and the flags' level is used.
pub fn init(verbose: u8) {
    let from_flags = || EnvFilter::new(directives(verbose));
    let filter = match std::env::var("DUMPVAULT_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            eprintln!("dumpvault: warning: DUMPVAULT_LOG={v:?} is not a log filter ({e}); ignored");
            from_flags()
        }),
        _ => from_flags(),
    };
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi =
        !journal && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_ansi(ansi);
    // A second init (none happens) would fail; logging is never worth failing a command for.
    let _ = if journal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}
