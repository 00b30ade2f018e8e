//! The configuration file itself: its TOML shapes (unknown keys refused), and finding,
//! reading and checking it (a file that holds a password must be private). What its values
//! mean is [`super::resolve`]'s.

use super::resolve::parse;
use super::show::url_has_password;
use super::{Config, Origin, Overrides, PasswordSource, Setting, DEFAULT_PATH};
use crate::fleet::FleetError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The whole file: top-level settings and the `[repository.*]`, `[job.*]` and `[notify]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) jobs: Option<Spanned<usize>>,
    pub(super) metrics_file: Option<Spanned<PathBuf>>,
    pub(super) status_file: Option<Spanned<PathBuf>>,
    pub(super) min_free_space: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) repository: BTreeMap<String, RepoFile>,
    #[serde(default)]
    pub(super) job: BTreeMap<String, JobFile>,
    pub(super) notify: Option<NotifyFile>,
}

/// A `[repository.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RepoFile {
    pub(super) url: String,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_command: Option<String>,
    pub(super) prune_schedule: Option<Spanned<String>>,
    pub(super) min_free_space: Option<Spanned<String>>,
}

/// A `[job.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JobFile {
    pub(super) repository: Spanned<String>,
    #[serde(default)]
    pub(super) sources: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) all_databases: bool,
    #[serde(default)]
    pub(super) include: Vec<String>,
    #[serde(default)]
    pub(super) exclude: Vec<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    #[serde(default)]
    pub(super) globals: bool,
    pub(super) schedule: Option<Spanned<String>>,
    pub(super) copy_to: Option<Spanned<String>>,
    pub(super) keep: Option<Spanned<KeepFile>>,
}

/// A job's `keep = { … }` retention policy, as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct KeepFile {
    pub(super) last: Option<u32>,
    pub(super) hourly: Option<u32>,
    pub(super) daily: Option<u32>,
    pub(super) weekly: Option<u32>,
    pub(super) monthly: Option<u32>,
    pub(super) yearly: Option<u32>,
    pub(super) within: Option<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
}

/// The `[notify]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotifyFile {
    pub(super) command: Option<String>,
    #[serde(default)]
    pub(super) on_success: bool,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) webhook: Option<Spanned<String>>,
}

/// Reads `text` (from `path`) into the file's shapes.
///
/// Errors: [`FleetError::Parse`] for bad TOML, unknown keys and wrong types, with the line
/// and column.
pub(super) fn read(path: &Path, text: &str) -> Result<FileConfig, FleetError> {
    toml::from_str(text).map_err(|e| FleetError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

/// Finds the configuration file: `--config`, then `DUMPVAULT_CONFIG`, then [`DEFAULT_PATH`].
pub fn locate(
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Setting<PathBuf>, FleetError> {
    if let Some(p) = &flags.config {
        return Ok(Setting {
            value: p.clone(),
            origin: Origin::Flag("--config".into()),
        });
    }
    if let Some(p) = env("DUMPVAULT_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(Setting {
            value: p.into(),
            origin: Origin::Env("DUMPVAULT_CONFIG".into()),
        });
    }
    let p = PathBuf::from(DEFAULT_PATH);
    if !p.exists() {
        return Err(FleetError::NoConfig(p));
    }
    Ok(Setting {
        value: p,
        origin: Origin::Default,
    })
}

/// Loads the configuration: finds and reads the file, refuses it when it holds a password
/// and is readable by group or others, parses and validates it, and layers environment
/// variables (from `env`) and `flags` over it.
///
/// Errors: [`FleetError`] naming the file and the line and column of the bad value.
pub fn load(flags: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, FleetError> {
    let path = locate(flags, env)?;
    let text = std::fs::read_to_string(&path.value).map_err(|source| FleetError::Read {
        path: path.value.clone(),
        source,
    })?;
    let cfg = parse(&path.value, &text, flags, env)?;
    // A password in a repository or database URL is a password the file holds, too.
    let url_password = cfg.repositories.values().any(|r| url_has_password(&r.url))
        || (cfg.jobs_by_name.values()).any(|j| j.sources.iter().any(|s| url_has_password(s)))
        || cfg.notify.webhook.as_deref().is_some_and(url_has_password);
    if url_password
        || cfg
            .repositories
            .values()
            .any(|r| matches!(r.password, PasswordSource::Inline(_)))
    {
        check_private(&path.value)?;
    }
    Ok(Config { path, ..cfg })
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), FleetError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| FleetError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(FleetError::Insecure {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), FleetError> {
    Ok(())
}
