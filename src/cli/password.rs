//! Where the repository password comes from: `--password-file`, `DUMPVAULT_PASSWORD`,
//! `--password-command`, or an interactive prompt without echo.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The password options given.
pub struct PasswordSource {
    /// `--password-file`.
    pub file: Option<PathBuf>,
    /// `--password-command`.
    pub command: Option<String>,
}

impl PasswordSource {
    /// Reads the password; `confirm` asks twice at an interactive prompt (for `init`).
    pub fn get(&self, confirm: bool) -> Result<Zeroizing<String>> {
        if let Some(f) = &self.file {
            let s = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read password file {}", f.display()))?;
            return Ok(Zeroizing::new(s.lines().next().unwrap_or("").to_string()));
        }
        if let Ok(p) = std::env::var("DUMPVAULT_PASSWORD") {
            return Ok(Zeroizing::new(p));
        }
        if let Some(c) = &self.command {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(c)
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("cannot run password command `{c}`"))?;
            if !out.status.success() {
                bail!("password command `{c}` failed ({})", out.status);
            }
            let s = String::from_utf8_lossy(&out.stdout);
            return Ok(Zeroizing::new(s.lines().next().unwrap_or("").to_string()));
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdin())
            && std::fs::File::open("/dev/tty").is_err()
        {
            bail!(
                "no password given: use --password-file, --password-command or DUMPVAULT_PASSWORD"
            );
        }
        let p = Zeroizing::new(rpassword::prompt_password("repository password: ")?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("repeat password: ")?);
            if *again != *p {
                bail!("the passwords do not match");
            }
        }
        Ok(p)
    }
}
