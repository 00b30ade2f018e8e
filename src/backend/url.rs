//! Repository locations to OpenDAL operators. Adding a service is one match arm here.

use opendal::{services, Operator};

/// A repository location that names no usable storage: an unknown scheme, a missing bucket or
/// host, an unknown query parameter, or a service configuration (or local path) the storage
/// library refuses. The library maps it to `Error::Location`, a usage error (exit 2).
///
/// The message is `repository location "LOCATION": REASON`; when the reason is another error
/// (an I/O or OpenDAL error), the reason is that error's text and the error is kept as the
/// [`source`](std::error::Error::source), so the message already says it.
#[derive(Debug, thiserror::Error)]
#[error("repository location {location:?}: {reason}")]
pub struct LocationError {
    /// The location as given.
    pub location: String,
    /// What is wrong with it, naming the fix where there is one.
    pub reason: String,
    /// The typed cause, when there is one; its text is already in `reason`.
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Shorthand for results with [`LocationError`].
type Result<T> = std::result::Result<T, LocationError>;

/// A [`LocationError`] for `location` saying `why`, without a typed cause.
fn invalid(location: &str, why: impl std::fmt::Display) -> LocationError {
    LocationError {
        location: location.to_string(),
        reason: why.to_string(),
        source: None,
    }
}

/// A [`LocationError`] for `location` caused by `cause`: the reason is `cause`'s text (so the
/// message is [`invalid`]'s), and `cause` is kept as the source.
fn invalid_from(
    location: &str,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> LocationError {
    LocationError {
        location: location.to_string(),
        reason: cause.to_string(),
        source: Some(Box::new(cause)),
    }
}

/// Splits `a=b&c=d` query strings (no percent-decoding beyond `%2F`/`%3A`).
fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                s.replace("%2F", "/")
                    .replace("%3A", ":")
                    .replace("%2f", "/")
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Maps a location to an operator:
/// - `/path`, `./path`, `path` or `fs:///path`: a local directory (atomic writes via a
///   `.tmp` folder inside it);
/// - `memory://`: process memory, for tests;
/// - `s3://bucket/prefix?endpoint=URL&region=R`: S3 or an S3-compatible server. Credentials from
///   `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or the AWS profile files, `?profile=NAME`),
///   endpoint from `?endpoint=` or `AWS_ENDPOINT_URL`, region from `?region=` or `AWS_REGION`
///   (default `us-east-1`); path-style addressing unless `?virtual_host=true`;
/// - `gcs://bucket/prefix?endpoint=URL&credential_path=FILE`: Google Cloud Storage; credentials
///   from `?credential_path=` or `GOOGLE_APPLICATION_CREDENTIALS`, else the VM's metadata server;
///   `?skip_signature=true` sends unsigned requests (an emulator, a public bucket);
/// - `azblob://container/prefix?account=NAME&endpoint=URL`: Azure Blob Storage; account from
///   `?account=` or `AZURE_STORAGE_ACCOUNT_NAME`, key from `AZURE_STORAGE_ACCOUNT_KEY` (or
///   `AZURE_STORAGE_SAS_TOKEN`); endpoint defaults to `https://NAME.blob.core.windows.net`;
/// - `sftp://[user@]host[:port]/path?key=FILE&known_hosts=Strict|Accept|Add`: a directory over
///   SSH (uses the system `ssh` client, its agent and `~/.ssh/config`);
/// - `webdav://host[:port]/path` (HTTPS) or `webdav+http://host[:port]/path`: a WebDAV
///   server; user and password from `DUMPVAULT_WEBDAV_USER`/`DUMPVAULT_WEBDAV_PASSWORD`, or a
///   bearer token from `DUMPVAULT_WEBDAV_TOKEN`.
///
/// Errors: [`LocationError`] naming the location.
pub fn parse_location(location: &str) -> Result<Operator> {
    opendal::install_default();
    let (scheme, rest) = match location.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("fs", location),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params = query_pairs(query);
    check_params(location, scheme, &params)?;
    let p = Parts {
        location,
        rest,
        params,
    };
    match scheme {
        "fs" | "file" => {
            if rest.is_empty() {
                return Err(invalid(location, "no path given"));
            }
            let path = std::path::absolute(rest).map_err(|e| invalid_from(location, e))?;
            fs_operator(&path).map_err(|e| invalid_from(location, e))
        }
        "memory" => p.build(services::Memory::default().root(rest)),
        "s3" => s3(&p),
        "gcs" => gcs(&p),
        "azblob" => azblob(&p),
        "sftp" => sftp(&p),
        "webdav" | "webdav+http" | "webdav+https" => webdav(&p, scheme == "webdav+http"),
        other => Err(invalid(
            location,
            format!(
                "unknown scheme {other:?} (use a path, fs://, memory://, s3://, gcs://, \
                 azblob://, sftp://, webdav:// or webdav+http://)"
            ),
        )),
    }
}

/// A remote location taken apart: the whole (for errors), what follows `scheme://` up to the
/// `?`, and the query parameters.
struct Parts<'a> {
    location: &'a str,
    rest: &'a str,
    params: Vec<(String, String)>,
}

impl Parts<'_> {
    /// The value of query parameter `k`, if given.
    fn param(&self, k: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
    }

    /// The operator of builder `b`; an error names the location.
    fn build(&self, b: impl opendal::Builder) -> Result<Operator> {
        Operator::new(b).map_err(|e| invalid_from(self.location, e))
    }
}

/// `s3://bucket/prefix?endpoint=URL&region=R&virtual_host=true&profile=NAME`.
fn s3(p: &Parts) -> Result<Operator> {
    let (bucket, prefix) = p.rest.split_once('/').unwrap_or((p.rest, ""));
    if bucket.is_empty() {
        return Err(invalid(p.location, "no bucket given (s3://bucket/prefix)"));
    }
    let mut b = services::S3::default()
        .bucket(bucket)
        .root(&format!("/{prefix}"));
    if let Some(ep) = p
        .param("endpoint")
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
    {
        b = b.endpoint(&ep);
    }
    let region = p
        .param("region")
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    b = b.region(&region);
    if p.param("virtual_host").as_deref() == Some("true") {
        b = b.enable_virtual_host_style();
    }
    if let Some(profile) = p.param("profile") {
        b = b.profile(&profile);
    }
    p.build(b)
}

/// `gcs://bucket/prefix?endpoint=URL&credential_path=FILE&skip_signature=true`.
fn gcs(p: &Parts) -> Result<Operator> {
    let (bucket, prefix) = bucket_and_prefix(p.location, p.rest, "gcs://bucket/prefix")?;
    let mut b = services::Gcs::default()
        .bucket(bucket)
        .root(&format!("/{prefix}"));
    if let Some(ep) = p.param("endpoint") {
        b = b.endpoint(&ep);
    }
    if let Some(path) = p
        .param("credential_path")
        .or_else(|| std::env::var("GOOGLE_APPLICATION_CREDENTIALS").ok())
    {
        b = b.credential_path(&path);
    }
    if p.param("skip_signature").as_deref() == Some("true") {
        // Unsigned requests: an emulator, or a public bucket.
        b = b.skip_signature().disable_vm_metadata();
    }
    p.build(b)
}

/// `azblob://container/prefix?account=NAME&endpoint=URL`.
fn azblob(p: &Parts) -> Result<Operator> {
    let (container, prefix) =
        bucket_and_prefix(p.location, p.rest, "azblob://container/prefix?account=NAME")?;
    let account = p
        .param("account")
        .or_else(|| std::env::var("AZURE_STORAGE_ACCOUNT_NAME").ok())
        .ok_or_else(|| {
            invalid(
                p.location,
                "no storage account: add ?account=NAME or set AZURE_STORAGE_ACCOUNT_NAME",
            )
        })?;
    let endpoint = p
        .param("endpoint")
        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
    let mut b = services::Azblob::default()
        .container(container)
        .root(&format!("/{prefix}"))
        .endpoint(&endpoint)
        .account_name(&account);
    if let Ok(key) = std::env::var("AZURE_STORAGE_ACCOUNT_KEY") {
        b = b.account_key(&key);
    }
    p.build(b)
}

/// `sftp://[user@]host[:port]/path?key=FILE&known_hosts=Strict|Accept|Add`.
fn sftp(p: &Parts) -> Result<Operator> {
    let (host, path) = p.rest.split_once('/').unwrap_or((p.rest, ""));
    if host.is_empty() {
        return Err(invalid(p.location, "no host given (sftp://user@host/path)"));
    }
    let mut b = services::Sftp::default()
        .endpoint(&format!("ssh://{host}"))
        .root(&format!("/{path}"));
    if let Some(k) = p.param("key") {
        b = b.key(&k);
    }
    if let Some(k) = p.param("known_hosts") {
        b = b.known_hosts_strategy(&k);
    }
    p.build(b)
}

/// `webdav://host[:port]/path` (HTTPS), or plain HTTP when `http`; credentials from the
/// environment.
fn webdav(p: &Parts, http: bool) -> Result<Operator> {
    let (host, path) = p.rest.split_once('/').unwrap_or((p.rest, ""));
    if host.is_empty() {
        return Err(invalid(p.location, "no host given (webdav://host/path)"));
    }
    let proto = if http { "http" } else { "https" };
    let mut b = services::Webdav::default()
        .endpoint(&format!("{proto}://{host}"))
        .root(&format!("/{path}"));
    if let Ok(u) = std::env::var("DUMPVAULT_WEBDAV_USER") {
        b = b.username(&u);
    }
    if let Ok(pw) = std::env::var("DUMPVAULT_WEBDAV_PASSWORD") {
        b = b.password(&pw);
    }
    if let Ok(t) = std::env::var("DUMPVAULT_WEBDAV_TOKEN") {
        b = b.token(&t);
    }
    p.build(b)
}

/// The URL parameters each scheme understands (see [`parse_location`]).
fn known_params(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "s3" => &["endpoint", "region", "virtual_host", "profile"],
        "gcs" => &["endpoint", "credential_path", "skip_signature"],
        "azblob" => &["account", "endpoint"],
        "sftp" => &["key", "known_hosts"],
        _ => &[],
    }
}

/// An unknown parameter of a remote location is an error (a typo such as `?regoin=` must not
/// silently send requests elsewhere). Local paths are not checked: `?` may be part of a
/// file name.
fn check_params(location: &str, scheme: &str, params: &[(String, String)]) -> Result<()> {
    if matches!(scheme, "fs" | "file" | "memory") {
        return Ok(());
    }
    let known = known_params(scheme);
    for (k, _) in params {
        if !known.contains(&k.as_str()) {
            let accepted = if known.is_empty() {
                format!("{scheme}:// takes no parameters")
            } else {
                format!("{scheme}:// takes {}", known.join(", "))
            };
            return Err(invalid(
                location,
                format!("unknown parameter {k:?} ({accepted}); remove or correct it"),
            ));
        }
    }
    Ok(())
}

/// An OpenDAL file-system operator rooted at `path`, without leaving any folder behind.
///
/// OpenDAL creates a missing root (and its `.tmp/`) when the operator is built, but a
/// read-only command on a path that does not exist must not create it: the repository folder
/// appears on the first write (the local backend creates it then, mode 0700). So the folders
/// the build created are removed again, deepest first; reads and listings of a missing root
/// then answer "not found", as for any missing file.
fn fs_operator(path: &std::path::Path) -> opendal::Result<Operator> {
    let tmp = path.join(".tmp");
    let missing: Vec<std::path::PathBuf> = tmp
        .ancestors()
        .take_while(|p| std::fs::symlink_metadata(p).is_err())
        .map(std::path::Path::to_path_buf)
        .collect();
    let op = Operator::new(
        services::Fs::default()
            .root(&path.to_string_lossy())
            .atomic_write_dir(&tmp.to_string_lossy()),
    );
    for dir in &missing {
        // Only an empty folder goes: one another process filled meanwhile stays.
        let _ = std::fs::remove_dir(dir);
    }
    op
}

/// The directory of a local location (`/path`, `path`, `fs:///path`), absolute; `None` for
/// every other scheme or an empty path.
pub(super) fn local_root(location: &str) -> Option<std::path::PathBuf> {
    let rest = match location.split_once("://") {
        Some(("fs" | "file", r)) => r,
        Some(_) => return None,
        None => location,
    };
    let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
    if rest.is_empty() {
        return None;
    }
    std::path::absolute(rest).ok()
}

/// Splits `bucket/prefix`; errors when the bucket is empty (`form` shows the expected shape).
fn bucket_and_prefix<'a>(location: &str, rest: &'a str, form: &str) -> Result<(&'a str, &'a str)> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(location, format!("no bucket given ({form})")));
    }
    Ok((bucket, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_parses() {
        for loc in [
            "/tmp/dv-url-test",
            "fs:///tmp/dv-url-test",
            "memory://x",
            "s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=eu-west-1",
            "gcs://bucket/prefix?endpoint=http://127.0.0.1:4443",
            "gcs://bucket/prefix?endpoint=http://127.0.0.1:4443&skip_signature=true",
            "azblob://container/prefix?account=acct&endpoint=http://127.0.0.1:10000/acct",
            "sftp://backup@127.0.0.1:2222/srv/repo?known_hosts=Accept",
            "webdav://127.0.0.1/dav/repo",
            "webdav+http://127.0.0.1:8080/dav/repo",
        ] {
            parse_location(loc).unwrap_or_else(|e| panic!("{loc}: {e}"));
        }
    }

    #[test]
    fn a_missing_local_root_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("missing").join("repo");
        let op = parse_location(root.to_str().unwrap()).unwrap();
        assert!(
            !dir.path().join("missing").exists(),
            "opening created folders"
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        let e = rt.block_on(op.read("config")).unwrap_err();
        assert_eq!(e.kind(), opendal::ErrorKind::NotFound);
        assert!(
            !dir.path().join("missing").exists(),
            "reading created folders"
        );
    }

    #[test]
    fn bad_forms_name_the_problem() {
        for (loc, want) in [
            ("s3:///prefix", "no bucket"),
            ("gcs://", "no bucket"),
            ("azblob://c/p", "storage account"),
            ("sftp:///path", "no host"),
            ("ftp://x/y", "unknown scheme"),
            (
                "s3://bucket/prefix?regoin=eu-west-1",
                "unknown parameter \"regoin\"",
            ),
            ("gcs://bucket/p?endpont=http://x", "unknown parameter"),
            ("webdav://host/p?user=x", "takes no parameters"),
        ] {
            if loc.starts_with("azblob") && std::env::var("AZURE_STORAGE_ACCOUNT_NAME").is_ok() {
                continue;
            }
            let e = parse_location(loc)
                .err()
                .unwrap_or_else(|| panic!("{loc} parsed"));
            assert!(e.to_string().contains(want), "{loc}: {e}");
            assert_eq!(e.location, loc);
            assert!(std::error::Error::source(&e).is_none(), "{loc}: {e:?}");
        }
    }

    /// A location the storage library refuses (a local path below a regular file) is a
    /// typed error naming the location, whose message says the cause once and whose source is
    /// the cause itself.
    #[test]
    fn a_refused_location_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"not a folder").unwrap();
        let loc = file.join("repo");
        let loc = loc.to_str().unwrap();
        let e = parse_location(loc)
            .err()
            .unwrap_or_else(|| panic!("{loc} parsed"));
        assert_eq!(e.location, loc);
        let cause = std::error::Error::source(&e).expect("the cause is kept");
        let cause = cause
            .downcast_ref::<opendal::Error>()
            .unwrap_or_else(|| panic!("not an OpenDAL error: {cause:?}"));
        assert_eq!(
            e.to_string(),
            format!("repository location {loc:?}: {cause}")
        );
        assert_eq!(e.reason, cause.to_string());
    }
}
