//! `dumpvault completions bash|zsh|fish|…`: the shell completion script, generated from the
//! command-line definitions by clap_complete; and the hidden `dumpvault man --dir DIR` that
//! writes the man pages (roff, by clap_mangen) that `cargo xtask man` installs.

use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

/// Which shell.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    shell: clap_complete::Shell,
}

/// Prints the completion script to stdout, e.g.
/// `dumpvault completions bash > /etc/bash_completion.d/dumpvault`.
pub fn run(a: CompletionsArgs) -> Result<i32> {
    let mut cmd = super::Cli::command();
    // Into a buffer first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "dumpvault", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(0)
}

/// Where to write the man pages.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Directory for `dumpvault.1` and one `dumpvault-COMMAND.1` per command (created).
    #[arg(long, value_name = "DIR")]
    dir: std::path::PathBuf,
}

/// Writes the man pages; prints how many.
pub fn man(a: ManArgs) -> Result<i32> {
    use anyhow::Context;
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    let cmd = super::Cli::command();
    clap_mangen::generate_to(cmd, &a.dir)
        .with_context(|| format!("cannot write man pages into {}", a.dir.display()))?;
    let n = std::fs::read_dir(&a.dir)?.count();
    eprintln!("{n} man page(s) in {}", a.dir.display());
    Ok(0)
}
