//! The PostgreSQL connection URL ([`PgUrl`]): parsing, the settings in effect (URL, else libpq's
//! environment), and display without the password.
//!
//! Owns the URL's shape only. It must not connect, run tools or decode escapes itself (it asks
//! [`crate::source::url`]), and nothing it displays or returns as an error may hold the password.

use super::env_var;
use crate::source::url::{percent_decode, percent_encode, DecodeError};
use crate::source::SourceError;
use std::fmt;

/// A PostgreSQL connection URL, `postgres://user:password@host:port/database?sslmode=prefer`.
/// Every part is optional; a missing one falls back to libpq's environment variables.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PgUrl {
    /// Host name, IP address, or Unix socket directory (starting with `/`).
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// User name.
    pub user: Option<String>,
    /// Password; never displayed and never put on a command line.
    pub password: Option<String>,
    /// Database name.
    pub database: Option<String>,
    /// libpq `sslmode` (`disable`, `allow`, `prefer`, `require`, ...).
    pub sslmode: Option<String>,
}

fn bad_url(why: &str) -> SourceError {
    SourceError::Invalid(format!("invalid PostgreSQL URL: {why}"))
}

/// Percent-decodes a URL part (without echoing it: it may be a password); empty is `None`.
fn decode(s: &str) -> Result<Option<String>, SourceError> {
    let s = percent_decode(s).map_err(|e| match e {
        DecodeError::BadEscape => bad_url("bad percent escape"),
        DecodeError::NotUtf8 => bad_url("a part is not UTF-8"),
    })?;
    Ok(Some(s).filter(|s| !s.is_empty()))
}

impl PgUrl {
    /// Whether `s` is meant as a PostgreSQL URL (starts with `postgres://` or `postgresql://`).
    pub fn is_url(s: &str) -> bool {
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    }

    /// Parses `postgres://` or `postgresql://` URLs: percent-escapes decoded, `[::1]` hosts, and
    /// the query parameters `sslmode`, `host` (e.g. a socket directory) and `port`.
    ///
    /// Errors: [`SourceError::Invalid`] for another scheme, a bad port or escape, an unknown
    /// parameter, or several hosts.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let rest = (s
            .strip_prefix("postgresql://")
            .or_else(|| s.strip_prefix("postgres://")))
        .ok_or_else(|| bad_url("it must start with postgres:// or postgresql://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => v6.split_once(']').ok_or_else(|| bad_url("unclosed ["))?,
            None => hostport.rsplit_once(':').unwrap_or((hostport, "")),
        };
        let port_num = |p: &str| {
            p.trim_start_matches(':')
                .parse()
                .map_err(|_| bad_url("bad port"))
        };
        let mut url = PgUrl {
            host: decode(host)?,
            port: if port.is_empty() {
                None
            } else {
                Some(port_num(port)?)
            },
            user: decode(user)?,
            password: decode(password)?,
            database: decode(path)?,
            sslmode: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("sslmode", v) => url.sslmode = decode(v)?,
                ("host", v) => url.host = decode(v)?,
                ("port", v) => url.port = Some(port_num(v)?),
                (key, _) => return Err(bad_url(&format!("unsupported parameter {key:?}"))),
            }
        }
        if url.host.as_deref().is_some_and(|h| h.contains(',')) {
            return Err(bad_url("several hosts are not supported"));
        }
        Ok(url)
    }

    /// The same server and credentials with another database.
    pub fn with_database(&self, database: &str) -> PgUrl {
        let database = Some(database.to_string());
        PgUrl {
            database,
            ..self.clone()
        }
    }

    /// The user name in effect: the URL's, else `PGUSER`, else the login name (as libpq does).
    pub fn effective_user(&self) -> String {
        let login = || env_var("USER").or_else(|| env_var("LOGNAME"));
        let user = self
            .user
            .clone()
            .or_else(|| env_var("PGUSER"))
            .or_else(login);
        user.unwrap_or_else(|| "postgres".into())
    }

    /// The database name in effect: the URL's, else `PGDATABASE`, else the user name.
    pub fn database_name(&self) -> String {
        let db = self.database.clone().or_else(|| env_var("PGDATABASE"));
        db.unwrap_or_else(|| self.effective_user())
    }

    /// The URL's parts as libpq environment variables, without the password.
    pub(super) fn env_pairs(&self) -> Vec<(&'static str, String)> {
        let port = self.port.map(|p| p.to_string());
        let vars = [
            ("PGHOST", &self.host),
            ("PGPORT", &port),
            ("PGUSER", &self.user),
        ];
        let more = [("PGDATABASE", &self.database), ("PGSSLMODE", &self.sslmode)];
        let all = vars.into_iter().chain(more);
        all.filter_map(|(k, v)| Some((k, v.clone()?))).collect()
    }
}

impl PgUrl {
    /// `server=HOST:PORT` for [`SourceInfo::options`] (libpq's defaults shown as `local` and
    /// 5432): names the server in [`SourceInfo::identity`].
    pub fn server_option(&self) -> String {
        let host = self.host.as_deref().unwrap_or("local");
        format!(
            "{}{host}:{}",
            crate::source::SERVER_OPTION,
            self.port.unwrap_or(5432)
        )
    }
}

impl fmt::Display for PgUrl {
    /// Formats the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://")?;
        if let Some(user) = &self.user {
            write!(f, "{}@", percent_encode(user))?;
        }
        match &self.host {
            Some(h) if h.contains(':') && !h.starts_with('/') => write!(f, "[{h}]")?,
            Some(h) => f.write_str(&percent_encode(h))?,
            None => {}
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(db) = &self.database {
            write!(f, "/{}", percent_encode(db))?;
        }
        if let Some(mode) = &self.sslmode {
            write!(f, "?sslmode={}", percent_encode(mode))?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}
