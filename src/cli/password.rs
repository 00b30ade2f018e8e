//! Where the repository password comes from: `--password-file`, `DUMPVAULT_PASSWORD`,
//! `--password-command`, or an interactive prompt without echo, in that order. The reading
//! itself is [`dumpvault::password`]'s; this module names the options in the messages.

use dumpvault::password::{PasswordError, PasswordSource, Prompt};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The message when no repository password was given and none can be asked for.
const NO_PASSWORD: &str =
    "no password given: use --password-file, --password-command or DUMPVAULT_PASSWORD";

/// The repository password options given.
pub struct PasswordOptions {
    /// `--password-file`.
    pub file: Option<PathBuf>,
    /// `--password-command`.
    pub command: Option<String>,
}

impl PasswordOptions {
    /// The source the options name; `confirm` asks twice at an interactive prompt (for
    /// `init`).
    pub fn source(&self, confirm: bool) -> PasswordSource {
        let prompt = if confirm {
            Prompt::twice("repository password: ", "repeat password: ")
        } else {
            Prompt::once("repository password: ")
        };
        PasswordSource::first_given(
            self.file.clone(),
            "DUMPVAULT_PASSWORD",
            self.command.clone(),
            prompt,
        )
    }

    /// Reads the password; `confirm` asks twice at an interactive prompt (for `init`).
    ///
    /// Errors: a usage error (exit 2): the [`PasswordError`] itself
    /// ([`dumpvault::Error::Password`]), or [`dumpvault::Error::Invalid`] with [`NO_PASSWORD`]
    /// when none is given.
    pub fn get(&self, confirm: bool) -> Result<Zeroizing<String>, dumpvault::Error> {
        (self.source(confirm).read("password")).map_err(|e| match e {
            PasswordError::NotGiven { .. } => dumpvault::Error::usage(NO_PASSWORD),
            e => e.into(),
        })
    }
}

/// The message of `e`, with `none_given` in place of [`PasswordError::NotGiven`]'s (which
/// cannot name the options).
pub fn message(e: &PasswordError, none_given: &str) -> String {
    match e {
        PasswordError::NotGiven { .. } => none_given.to_string(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::copy::FromPasswordArgs;
    use super::*;
    use dumpvault::fleet::config::PasswordSource as FleetPassword;

    /// One password file or command, read by the three callers: the command line's
    /// repository password, `copy`'s source repository password and fleet's configuration.
    /// They agree on the password and on the error, which differ only in naming the source
    /// repository's password "source password" and in the message when none is given.
    #[test]
    fn the_three_callers_read_alike() {
        // The variables come before a command; a file comes before them.
        std::env::remove_var("DUMPVAULT_PASSWORD");
        std::env::remove_var("DUMPVAULT_FROM_PASSWORD");
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.pass");
        std::fs::write(&good, "secret\r\nsecond\n").unwrap();
        let missing = dir.path().join("missing.pass");
        let file = |p: &std::path::Path| (Some(p.to_path_buf()), None);
        let cmd = |c: &str| (None, Some(c.to_string()));
        let cases: Vec<(Option<PathBuf>, Option<String>)> = vec![
            file(&good),
            file(&missing),
            cmd("printf 'pw\\nnext'"),
            cmd("exit 3"),
            cmd("printf 'p\\344'"),
        ];
        for (file, command) in cases {
            let cli = PasswordOptions {
                file: file.clone(),
                command: command.clone(),
            }
            .get(false)
            .map_err(|e| e.to_string());
            let copy = FromPasswordArgs {
                from_password_file: file.clone(),
                from_password_command: command.clone(),
            }
            .get()
            .map(|p| p.to_string())
            .map_err(|e| e.to_string().replace("source password", "password"));
            let fleet = match (file, command) {
                (Some(f), None) => FleetPassword::File(f),
                (None, Some(c)) => FleetPassword::Command(c),
                _ => unreachable!(),
            }
            .get()
            .map_err(|e| e.to_string());
            let cli = cli.map(|p| p.to_string());
            let fleet = fleet.map(|p| p.to_string());
            assert_eq!(cli, copy);
            assert_eq!(cli, fleet);
        }
    }

    /// A password that cannot be read reaches the caller typed, with the message and exit
    /// code it had as text (exit 2).
    #[test]
    fn a_password_error_stays_typed() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pass");
        let e = PasswordOptions {
            file: Some(missing.clone()),
            command: None,
        }
        .get(false)
        .unwrap_err();
        assert!(
            matches!(&e, dumpvault::Error::Password(PasswordError::File { path, .. }) if *path == missing),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), dumpvault::error::EXIT_USAGE);
        let prefix = format!("cannot read password file {}: ", missing.display());
        let text = dumpvault::error::report(&e);
        assert!(text.starts_with(&prefix), "{text}");
        assert_eq!(text, e.to_string());
    }

    /// With nothing given and no terminal, the message names the caller's options; other
    /// errors keep their own. (The integration tests `surface` and `surface2` run the binary
    /// with no password for `--repo` and for `--from`.)
    #[test]
    fn none_given_names_the_callers_options() {
        let e = PasswordError::NotGiven { what: "password" };
        assert_eq!(message(&e, NO_PASSWORD), NO_PASSWORD);
        let e = PasswordError::Mismatch { what: "password" };
        assert_eq!(message(&e, NO_PASSWORD), "the passwords do not match");
    }
}
