//! Repository locations to OpenDAL operators. Adding a service is one match arm here.

use crate::error::{Error, Result};
use opendal::{services, Operator};

fn invalid(location: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("repository location {location:?}: {why}"))
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
///   `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (or the AWS profile files), endpoint from
///   `?endpoint=` or `AWS_ENDPOINT_URL`, region from `?region=` or `AWS_REGION` (default
///   `us-east-1`); path-style addressing unless `?virtual_host=true`.
///
/// Errors: [`Error::Invalid`] naming the location.
pub fn parse_location(location: &str) -> Result<Operator> {
    opendal::install_default();
    let (scheme, rest) = match location.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("fs", location),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params = query_pairs(query);
    let param = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let op = match scheme {
        "fs" | "file" => {
            if rest.is_empty() {
                return Err(invalid(location, "no path given"));
            }
            let path = std::path::absolute(rest).map_err(|e| invalid(location, e))?;
            let root = path.to_string_lossy().to_string();
            let tmp = path.join(".tmp").to_string_lossy().to_string();
            Operator::new(services::Fs::default().root(&root).atomic_write_dir(&tmp))
        }
        "memory" => Operator::new(services::Memory::default().root(rest)),
        "s3" => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid(location, "no bucket given (s3://bucket/prefix)"));
            }
            let mut b = services::S3::default()
                .bucket(bucket)
                .root(&format!("/{prefix}"));
            if let Some(ep) = param("endpoint").or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()) {
                b = b.endpoint(&ep);
            }
            let region = param("region")
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .unwrap_or_else(|| "us-east-1".into());
            b = b.region(&region);
            if param("virtual_host").as_deref() == Some("true") {
                b = b.enable_virtual_host_style();
            }
            Operator::new(b)
        }
        other => {
            return Err(invalid(
                location,
                format!("unknown scheme {other:?} (use a path, fs://, memory:// or s3://)"),
            ))
        }
    };
    op.map_err(|e| invalid(location, e))
}
