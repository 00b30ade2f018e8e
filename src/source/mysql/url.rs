//! The MySQL / MariaDB connection URL ([`MyUrl`]): `mysql://` or `mariadb://user:pass@host:port/db`.
//!
//! Owns the URL's shape only. It must not connect or run tools, decodes escapes through
//! [`crate::source::url`], and nothing it displays or returns as an error may hold the password.

use crate::source::url::percent_decode;
use crate::source::SourceError;
use std::fmt;

/// A parsed `mysql://` or `mariadb://user:pass@host:port/db` URL. User, password and database
/// are percent-decoded. [`Display`](fmt::Display) (not re-encoded) and [`Debug`] never show the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct MyUrl {
    /// `mysql` or `mariadb` (both mean the same).
    pub scheme: String,
    /// User name; the client's default (login name) when absent.
    pub user: Option<String>,
    /// Password; none is sent when absent.
    pub password: Option<String>,
    /// Host; when given the connection uses TCP, otherwise the client default (local socket).
    pub host: Option<String>,
    /// TCP port; the client default (3306) when absent.
    pub port: Option<u16>,
    /// Database name.
    pub database: Option<String>,
}

impl MyUrl {
    /// Whether `s` is meant as a MySQL/MariaDB URL (starts with `mysql://` or `mariadb://`).
    pub fn is_url(s: &str) -> bool {
        let has = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        has("mysql://") || has("mariadb://")
    }

    /// Parses a URL; errors are [`SourceError::Invalid`] and never quote the password.
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let bad = |why: &str| SourceError::Invalid(format!("invalid MySQL URL: {why}"));
        let dec = |s: &str, what| percent_decode(s).map_err(|_| bad(what));
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(bad("expected mysql://user:pass@host:port/db"));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "mysql" && scheme != "mariadb" {
            return Err(bad("the scheme must be mysql:// or mariadb://"));
        }
        let (userinfo, hostpath) = rest.rsplit_once('@').unwrap_or(("", rest));
        let (hostport, path) = hostpath.split_once('/').unwrap_or((hostpath, ""));
        if path.contains(['?', '#']) {
            return Err(bad("query parameters are not supported"));
        }
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(dec(p, "bad %-escape in the password")?)),
            None => (userinfo, None),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in host"))?,
            None => hostport.split_once(':').unwrap_or((hostport, "")),
        };
        let port = port.strip_prefix(':').unwrap_or(port);
        let port = (!port.is_empty()).then(|| port.parse()).transpose();
        let port = port.map_err(|_| bad("the port must be a number below 65536"))?;
        let database = dec(path, "bad %-escape in the database")?;
        if database.contains('/') {
            return Err(bad("the path must be a single database name"));
        }
        let some = |s: String| Some(s).filter(|s| !s.is_empty());
        Ok(Self {
            scheme,
            user: some(dec(user, "bad %-escape in the user")?),
            password,
            host: some(host.to_string()),
            port,
            database: some(database),
        })
    }

    /// The same connection with another database.
    pub fn with_database(&self, database: &str) -> Self {
        let mut url = self.clone();
        url.database = Some(database.to_string());
        url
    }

    pub(super) fn require_database(&self, action: &str) -> Result<&str, SourceError> {
        let why = || format!("cannot {action}: the URL {self} names no database (.../db)");
        self.database
            .as_deref()
            .ok_or_else(|| SourceError::Invalid(why()))
    }
}

impl std::str::FromStr for MyUrl {
    type Err = SourceError;
    fn from_str(s: &str) -> Result<Self, SourceError> {
        Self::parse(s)
    }
}

impl fmt::Display for MyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user.as_ref().map(|u| format!("{u}@"));
        let host = match &self.host {
            Some(h) if h.contains(':') => format!("[{h}]"),
            host => host.clone().unwrap_or_default(),
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let db = self.database.as_ref().map(|d| format!("/{d}"));
        let (scheme, user, db) = (
            &self.scheme,
            user.unwrap_or_default(),
            db.unwrap_or_default(),
        );
        write!(f, "{scheme}://{user}{host}{port}{db}")
    }
}

impl fmt::Debug for MyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = self.password.as_ref().map_or("none", |_| "hidden");
        write!(f, "MyUrl({self}, password: {password})")
    }
}
