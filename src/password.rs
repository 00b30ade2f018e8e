//! Where a password comes from: a value already known (a configuration file's), an
//! environment variable, a file, a shell command's output, or a prompt on the terminal.
//!
//! The one reader of passwords for every caller: the command line's repository password
//! (`--password-file`, `DUMPVAULT_PASSWORD`, `--password-command`, prompt), the source
//! repository's of `copy` and `init --copy-…-from`, the new password of `key add|passwd`, and
//! each repository's password in fleet mode. It owns the reading rules (stated on
//! [`PasswordSource`]) and the words of their errors ([`PasswordError`]).
//!
//! It must not know command-line flags or configuration keys (callers name their own options
//! when no password was given: [`PasswordError::NotGiven`]), nor open repositories; it names
//! no other module of the crate. Exit codes: every [`PasswordError`] is a usage error (exit 2,
//! nothing was done); the CLI maps it to `Error::usage`, fleet to `FleetError::exit_code`.

use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use zeroize::Zeroizing;

/// A question asked on the terminal, without echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The text shown, e.g. `"repository password: "`.
    pub text: String,
    /// When set, the password is asked a second time with this text (for a new password), and
    /// the two answers must match ([`PasswordError::Mismatch`]).
    pub repeat: Option<String>,
}

impl Prompt {
    /// A prompt asked once.
    pub fn once(text: &str) -> Self {
        Prompt {
            text: text.to_string(),
            repeat: None,
        }
    }

    /// A prompt asked twice: `text`, then `repeat`.
    pub fn twice(text: &str, repeat: &str) -> Self {
        Prompt {
            text: text.to_string(),
            repeat: Some(repeat.to_string()),
        }
    }
}

/// Where one password comes from. [`PasswordSource::read`] reads it.
///
/// Reading rules, the same for every caller:
/// - a file is read whole as UTF-8 (other bytes are [`PasswordError::File`], kind
///   `InvalidData`), and the password is its first line without the line ending (`\n` or
///   `\r\n`); nothing else is trimmed, an empty file is the empty password;
/// - a command runs as `sh -c COMMAND`, its standard error passing through to ours; the
///   password is the first line of its standard output, read as UTF-8 with invalid bytes
///   replaced by U+FFFD, without the line ending;
/// - an environment variable is taken whole (no line splitting);
/// - a prompt reads one line from the terminal without echo.
#[derive(Clone)]
pub enum PasswordSource {
    /// Already known, e.g. written in fleet's configuration file.
    Inline(Zeroizing<String>),
    /// The environment variable of this name; unset, or not UTF-8, is
    /// [`PasswordError::EnvUnset`].
    Env(String),
    /// The first line of this file.
    File(PathBuf),
    /// The first line of this shell command's standard output.
    Command(String),
    /// Asked on the terminal; with no terminal, [`PasswordError::NotGiven`].
    Prompt(Prompt),
}

impl std::fmt::Debug for PasswordSource {
    /// Names the source, never the secret: `Inline(***)`, `File("/etc/x.pass")`, ….
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordSource::Inline(_) => f.write_str("Inline(***)"),
            PasswordSource::Env(v) => f.debug_tuple("Env").field(v).finish(),
            PasswordSource::File(p) => f.debug_tuple("File").field(p).finish(),
            PasswordSource::Command(c) => f.debug_tuple("Command").field(c).finish(),
            PasswordSource::Prompt(p) => f.debug_tuple("Prompt").field(p).finish(),
        }
    }
}

/// Why a password could not be read. `what` names the password in the message: `"password"`,
/// `"source password"`, `"new password"`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The password file cannot be read (missing, unreadable, not UTF-8).
    #[error("cannot read {what} file {}: {source}", path.display())]
    File {
        /// Which password.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The password command cannot be started.
    #[error("cannot run {what} command `{command}`: {source}")]
    Command {
        /// Which password.
        what: &'static str,
        /// The command.
        command: String,
        /// The error starting `sh -c COMMAND`.
        source: std::io::Error,
    },
    /// The password command exited unsuccessfully.
    #[error("{what} command `{command}` failed ({status})")]
    CommandFailed {
        /// Which password.
        what: &'static str,
        /// The command.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// The environment variable is not set (or is not UTF-8).
    #[error("{var} is not set")]
    EnvUnset {
        /// The variable's name.
        var: String,
    },
    /// A prompt was the only source left, but there is no terminal to ask on. Callers replace
    /// this message with one naming their options.
    #[error("no {what} given")]
    NotGiven {
        /// Which password.
        what: &'static str,
    },
    /// The terminal could not be read.
    #[error("{0}")]
    Prompt(#[source] std::io::Error),
    /// The two answers to a prompt asked twice differ.
    #[error("the {what}s do not match")]
    Mismatch {
        /// Which password.
        what: &'static str,
    },
}

impl PasswordSource {
    /// The first source given, in the command line's order of precedence: the file; else the
    /// environment variable `env` when it is set (and UTF-8); else the command; else `prompt`.
    /// The variable is looked at now, so build the source when the password is needed.
    pub fn first_given(
        file: Option<PathBuf>,
        env: &str,
        command: Option<String>,
        prompt: Prompt,
    ) -> Self {
        if let Some(f) = file {
            PasswordSource::File(f)
        } else if std::env::var(env).is_ok() {
            PasswordSource::Env(env.to_string())
        } else if let Some(c) = command {
            PasswordSource::Command(c)
        } else {
            PasswordSource::Prompt(prompt)
        }
    }

    /// Reads the password (rules on [`PasswordSource`]); `what` names it in errors.
    ///
    /// Errors: [`PasswordError::File`], [`PasswordError::Command`],
    /// [`PasswordError::CommandFailed`], [`PasswordError::EnvUnset`],
    /// [`PasswordError::NotGiven`], [`PasswordError::Prompt`], [`PasswordError::Mismatch`].
    pub fn read(&self, what: &'static str) -> Result<Zeroizing<String>, PasswordError> {
        match self {
            PasswordSource::Inline(p) => Ok(p.clone()),
            PasswordSource::Env(var) => std::env::var(var)
                .map(Zeroizing::new)
                .map_err(|_| PasswordError::EnvUnset { var: var.clone() }),
            PasswordSource::File(path) => match std::fs::read_to_string(path) {
                Ok(s) => Ok(first_line(&s)),
                Err(source) => Err(PasswordError::File {
                    what,
                    path: path.clone(),
                    source,
                }),
            },
            PasswordSource::Command(c) => run_command(c, what),
            PasswordSource::Prompt(p) => ask(p, what, has_terminal(), prompt_terminal),
        }
    }
}

/// The first line of `s` without its line ending; `""` for an empty `s`.
fn first_line(s: &str) -> Zeroizing<String> {
    Zeroizing::new(s.lines().next().unwrap_or("").to_string())
}

/// Runs `sh -c command` and takes the first line of its standard output.
fn run_command(command: &str, what: &'static str) -> Result<Zeroizing<String>, PasswordError> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| PasswordError::Command {
            what,
            command: command.to_string(),
            source,
        })?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(PasswordError::CommandFailed {
            what,
            command: command.to_string(),
            status: out.status,
        });
    }
    Ok(first_line(&String::from_utf8_lossy(&stdout)))
}

/// Whether a prompt can be asked: standard input is a terminal, or `/dev/tty` opens.
fn has_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin()) || std::fs::File::open("/dev/tty").is_ok()
}

/// Asks on the terminal without echo.
fn prompt_terminal(text: &str) -> std::io::Result<String> {
    rpassword::prompt_password(text)
}

/// Asks `p` (twice when it has a `repeat`) with `answer`; without a terminal, `NotGiven`.
fn ask(
    p: &Prompt,
    what: &'static str,
    terminal: bool,
    mut answer: impl FnMut(&str) -> std::io::Result<String>,
) -> Result<Zeroizing<String>, PasswordError> {
    if !terminal {
        return Err(PasswordError::NotGiven { what });
    }
    let first = Zeroizing::new(answer(&p.text).map_err(PasswordError::Prompt)?);
    if let Some(repeat) = &p.repeat {
        let again = Zeroizing::new(answer(repeat).map_err(PasswordError::Prompt)?);
        if *again != *first {
            return Err(PasswordError::Mismatch { what });
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable name no other test (nor the environment) uses.
    fn unique_var(tag: &str) -> String {
        format!("DUMPVAULT_TEST_PASSWORD_{tag}_{}", std::process::id())
    }

    #[test]
    fn a_file_gives_its_first_line_without_the_line_ending() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&[u8], &str)] = &[
            (b"secret\nsecond line\n", "secret"),
            (b"secret", "secret"),
            (b"crlf\r\nnext", "crlf"),
            (b" spaced \n", " spaced "),
            (b"", ""),
            (b"\nafter an empty line", ""),
            ("pässwörd\n".as_bytes(), "pässwörd"),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let f = dir.path().join(format!("{i}.pass"));
            std::fs::write(&f, bytes).unwrap();
            let got = PasswordSource::File(f).read("password").unwrap();
            assert_eq!(got.as_str(), *want, "case {i}");
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_or_is_not_utf8_is_a_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pass");
        let e = PasswordSource::File(missing.clone())
            .read("source password")
            .unwrap_err();
        assert!(
            matches!(&e, PasswordError::File { path, what: "source password", source }
                if *path == missing && source.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
        let prefix = format!("cannot read source password file {}: ", missing.display());
        assert!(e.to_string().starts_with(&prefix), "{e}");
        let latin1 = dir.path().join("latin1.pass");
        std::fs::write(&latin1, b"p\xe4ss\n").unwrap();
        let e = PasswordSource::File(latin1).read("password").unwrap_err();
        assert!(
            matches!(&e, PasswordError::File { source, .. }
                if source.kind() == std::io::ErrorKind::InvalidData),
            "{e:?}"
        );
    }

    #[test]
    fn a_command_gives_the_first_line_of_its_output() {
        let read = |c: &str| PasswordSource::Command(c.into()).read("password");
        assert_eq!(read("printf 'pw\\nx'").unwrap().as_str(), "pw");
        assert_eq!(read("printf 'pw\\r\\n'").unwrap().as_str(), "pw");
        assert_eq!(read("echo stderr >&2; echo out").unwrap().as_str(), "out");
        assert_eq!(read("true").unwrap().as_str(), "");
        // Not UTF-8: replaced, not refused.
        assert_eq!(read("printf 'p\\344s'").unwrap().as_str(), "p\u{fffd}s");
    }

    #[test]
    fn a_failing_command_is_a_typed_error() {
        let e = PasswordSource::Command("echo pw; exit 3".into())
            .read("password")
            .unwrap_err();
        assert!(
            matches!(&e, PasswordError::CommandFailed { status, command, what: "password" }
                if status.code() == Some(3) && command == "echo pw; exit 3"),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("password command `echo pw; exit 3` failed ("),
            "{e}"
        );
    }

    #[test]
    fn an_environment_variable_is_taken_whole_or_is_unset() {
        let var = unique_var("ENV");
        let source = PasswordSource::Env(var.clone());
        let e = source.read("password").unwrap_err();
        assert!(
            matches!(&e, PasswordError::EnvUnset { var: v } if *v == var),
            "{e:?}"
        );
        assert_eq!(e.to_string(), format!("{var} is not set"));
        std::env::set_var(&var, "two\nlines ");
        assert_eq!(source.read("password").unwrap().as_str(), "two\nlines ");
        std::env::remove_var(&var);
    }

    #[test]
    fn an_inline_password_is_itself_and_never_printed() {
        let s = PasswordSource::Inline(Zeroizing::new("hunter2".into()));
        assert_eq!(s.read("password").unwrap().as_str(), "hunter2");
        assert_eq!(format!("{s:?}"), "Inline(***)");
    }

    #[test]
    fn a_prompt_without_a_terminal_is_not_given_and_asks_nothing() {
        let p = Prompt::once("repository password: ");
        let e = ask(&p, "password", false, |_| panic!("asked")).unwrap_err();
        assert!(
            matches!(e, PasswordError::NotGiven { what: "password" }),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "no password given");
    }

    #[test]
    fn a_prompt_asked_twice_must_get_the_same_answer() {
        let p = Prompt::twice("new password: ", "repeat new password: ");
        let mut asked = Vec::new();
        let got = ask(&p, "new password", true, |t| {
            asked.push(t.to_string());
            Ok("same".into())
        })
        .unwrap();
        assert_eq!(got.as_str(), "same");
        assert_eq!(asked, ["new password: ", "repeat new password: "]);
        let mut answers = ["one", "two"].into_iter();
        let e = ask(&p, "new password", true, |_| {
            Ok(answers.next().unwrap().into())
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "the new passwords do not match");
        let once = Prompt::once("repository password: ");
        let got = ask(&once, "password", true, |_| Ok("x".into())).unwrap();
        assert_eq!(got.as_str(), "x");
        let e = ask(&once, "password", true, |_| {
            Err(std::io::Error::other("terminal gone"))
        })
        .unwrap_err();
        assert!(matches!(&e, PasswordError::Prompt(_)), "{e:?}");
        assert_eq!(e.to_string(), "terminal gone");
    }

    #[test]
    fn first_given_follows_the_command_line_order() {
        let var = unique_var("FIRST");
        let prompt = Prompt::once("p: ");
        let file = Some(PathBuf::from("/f"));
        let cmd = Some("c".to_string());
        let pick = |file: &Option<PathBuf>, cmd: &Option<String>| {
            format!(
                "{:?}",
                PasswordSource::first_given(file.clone(), &var, cmd.clone(), prompt.clone())
            )
        };
        assert_eq!(
            pick(&None, &None),
            format!("{:?}", PasswordSource::Prompt(prompt.clone()))
        );
        assert_eq!(pick(&None, &cmd), "Command(\"c\")");
        assert_eq!(pick(&file, &cmd), "File(\"/f\")");
        std::env::set_var(&var, "from env");
        assert_eq!(pick(&None, &cmd), format!("Env({var:?})"));
        assert_eq!(pick(&file, &cmd), "File(\"/f\")");
        std::env::remove_var(&var);
    }
}
