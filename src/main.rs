//! The `dumpvault` command: parse, run, print the error chain, exit with a documented code
//! (0 ok, 1 the work failed, 2 usage/config/password, 3 repository damaged or locked, 130/143
//! interrupted by SIGINT/SIGTERM, 141 standard output closed early; see `dumpvault::error`).

use dumpvault::error::{exit_code_of, report, EXIT_BROKEN_PIPE, EXIT_SIGINT, EXIT_SIGTERM};
use std::any::Any;
use std::io::Write;

fn main() {
    limit_malloc_arenas();
    // `println!` panics when stdout is a closed pipe (`dumpvault snapshots | head -1`): that
    // panic is caught below and ends the process quietly, like any broken pipe.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_stdout_closed(info.payload()) {
            default_hook(info);
        }
    }));
    let code = match std::panic::catch_unwind(dumpvault_cli::run) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) if is_broken_pipe(&e) => EXIT_BROKEN_PIPE,
        Ok(Err(e)) => {
            let code = exit_code_of(e.as_ref());
            // The chain of causes, each said once (see `dumpvault::error::report`).
            let text = report(e.as_ref());
            let line = if json_requested() {
                serde_json::json!({ "error": text, "exit_code": code }).to_string()
            } else {
                format!("dumpvault: error: {text}")
            };
            let _ = writeln!(std::io::stderr(), "{line}");
            code
        }
        Err(payload) if is_stdout_closed(payload.as_ref()) => EXIT_BROKEN_PIPE,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    std::process::exit(code);
}

/// glibc's malloc gives each thread that allocates an arena of its own (up to 8 per core), and
/// memory freed into one thread's arena is not reused by another. A snapshot or restore is a
/// pipeline of threads passing buffers along, so its peak RSS grew with the dump's size (second
/// snapshot of a 4 GiB dump: 130–151 MiB, restore 129–137 MiB) while the live heap stayed near
/// 100 MB. With `MALLOC_ARENA_MAX=2` the same runs peak at 126 and 94 MiB (docs/bench.md, "Peak
/// memory"). glibc reads that variable only when the process starts, and setting it from inside
/// (`mallopt`) needs `unsafe`, so when it is unset dumpvault runs itself again, once, with it
/// set (the same program, arguments, standard streams and process id). A user's own value is
/// kept; if the new image cannot be run, this process goes on as it is.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut again = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            again.arg0(arg0);
        }
        // `exec` returns only when it failed.
        let _failed = again.args(args).env("MALLOC_ARENA_MAX", "2").exec();
    }
}

/// Whether `--json` was given (before any `--`): errors are then one JSON object on stderr,
/// `{"error": "…", "exit_code": N}`.
pub fn json_requested() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Whether the error is a write into a closed pipe (the reader of our output went away).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = (c.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
            .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind());
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether a panic is `print!`'s "failed printing to stdout: Broken pipe".
fn is_stdout_closed(payload: &(dyn Any + Send)) -> bool {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe")
}

/// Handles SIGINT and SIGTERM for every command but `run` (which stops gracefully by itself):
/// kills the process groups of the running dump tools, deletes this process's temporary files
/// and lock files, drops a database an unfinished restore created (ending its loaders'
/// sessions), prints one line and exits with 130 (SIGINT) or 143 (SIGTERM). A second
/// signal during that cleanup exits at once.
///
/// Errors: the handler cannot be registered.
pub fn handle_interrupts() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let code = |sig: i32| {
        if sig == SIGINT {
            EXIT_SIGINT
        } else {
            EXIT_SIGTERM
        }
    };
    std::thread::spawn(move || {
        let mut first = true;
        for sig in signals.forever() {
            if !first {
                std::process::exit(code(sig));
            }
            first = false;
            std::thread::spawn(move || {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                let dumps = dumpvault::source::command::kill_running_dumps();
                let temps = dumpvault::backend::remove_own_temp_files();
                let locks = dumpvault::repository::lock::remove_held_locks();
                let restores = dumpvault::source::database::drop_unfinished();
                let written = match dumpvault::backend::snapshots_written() {
                    _ if !restores.is_empty() => (restores.iter())
                        .map(|(db, r)| match r {
                            Ok(()) => format!(
                                "dropped database {db}, which the interrupted restore had \
                                 created"
                            ),
                            Err(e) => format!(
                                "database {db}, which the interrupted restore had created, is \
                                 left half-loaded ({e}): drop it"
                            ),
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    0 => "no snapshot was written".to_string(),
                    n => format!("{n} snapshot(s) were written before it"),
                };
                let msg = format!(
                    "interrupted by {name}; {written} (killed {dumps} dump process group(s), \
                     removed {locks} lock(s) and {temps} temporary file(s))"
                );
                let line = if json_requested() {
                    serde_json::json!({ "error": msg, "exit_code": code(sig) }).to_string()
                } else {
                    format!("dumpvault: {msg}")
                };
                let _ = writeln!(std::io::stderr(), "{line}");
                std::process::exit(code(sig));
            });
        }
    });
    Ok(())
}

#[path = "cli/mod.rs"]
mod dumpvault_cli;
