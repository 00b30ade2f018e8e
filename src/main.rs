//! The `dumpvault` command: parse, run, print the error chain, exit with a documented code
//! (0 ok, 1 the work failed, 2 usage/config/password, 3 repository damaged or locked).

fn main() {
    let code = match dumpvault_cli::run() {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                0
            } else {
                eprintln!("dumpvault: error: {e:#}");
                e.downcast_ref::<dumpvault::Error>()
                    .map(|e| e.exit_code())
                    .unwrap_or(dumpvault::error::EXIT_FAILURE)
            }
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[path = "cli/mod.rs"]
mod dumpvault_cli;
