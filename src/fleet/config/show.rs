//! The `config show` view of the effective configuration, the output files' path problems,
//! and the masking of secrets (URL passwords, webhook tokens) wherever a location is printed.

use super::{Config, Origin};

/// Masks the password of a URL (`postgres://u:secret@h/db` → `postgres://u:***@h/db`).
pub fn mask_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..auth_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// A webhook URL for messages and `config show`: scheme and host (a password masked), and
/// the path and query, which often hold a token (Slack, Teams), as `/***`.
pub fn mask_webhook(url: &str) -> String {
    let masked = mask_url(url);
    let Some(start) = masked.find("://").map(|i| i + 3) else {
        return masked;
    };
    match masked[start..].find(['/', '?']) {
        Some(i) if masked.len() > start + i + 1 => format!("{}/***", &masked[..start + i]),
        _ => masked,
    }
}

/// Whether a URL holds a password: `scheme://user:password@…` or a `password=` query
/// parameter (libpq's `postgres://h/db?password=…`).
pub fn url_has_password(url: &str) -> bool {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return false;
    };
    let rest = &url[start..];
    let auth = &rest[..rest.find('/').unwrap_or(rest.len())];
    let in_userinfo = auth.rfind('@').is_some_and(|at| auth[..at].contains(':'));
    let in_query = rest.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv.to_ascii_lowercase().starts_with("password="))
    });
    in_userinfo || in_query
}

impl Config {
    /// What is wrong with the output files' locations: `metrics_file` or `status_file` in a
    /// directory that does not exist (or is not a directory), each message naming the key,
    /// the path, where the value came from and what to do. `run` refuses to start on any
    /// (exit 2: no state would be saved, so every job would run again next time);
    /// `config show` lists them.
    pub fn path_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, s) in [
            ("metrics_file", &self.metrics_file),
            ("status_file", &self.status_file),
        ] {
            let Some(p) = &s.value else { continue };
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                out.push(format!(
                    "{key} {} ({}): its directory {} does not exist; create it, or set \
                     {key} to a file in an existing directory",
                    p.display(),
                    s.origin,
                    dir.display()
                ));
            }
        }
        out
    }

    /// The effective configuration as JSON, secrets masked, each layered setting with its
    /// origin (for `dumpvault config show`).
    pub fn show(&self) -> serde_json::Value {
        use serde_json::json;
        let setting =
            |v: serde_json::Value, o: &Origin| json!({"value": v, "origin": o.to_string()});
        let repos: serde_json::Map<String, serde_json::Value> = self
            .repositories
            .values()
            .map(|r| {
                (
                    r.name.clone(),
                    json!({"url": mask_url(&r.url), "password": r.password.describe(),
                        "prune_schedule": r.prune_schedule.as_ref().map(|s| &s.expr),
                        "min_free_space": r.min_free_space}),
                )
            })
            .collect();
        let jobs: serde_json::Map<String, serde_json::Value> = self
            .jobs_by_name
            .values()
            .map(|j| {
                (
                    j.name.clone(),
                    json!({"repository": j.repository,
                        "sources": j.sources.iter().map(|s| mask_url(s)).collect::<Vec<_>>(),
                        "all_databases": j.all_databases, "include": j.include,
                        "exclude": j.exclude, "tags": j.tags, "globals": j.globals,
                        "schedule": j.schedule.as_ref().map(|s| &s.expr),
                        "copy_to": j.copy_to, "keep": j.keep}),
                )
            })
            .collect();
        json!({
            "config_file": setting(json!(self.path.value), &self.path.origin),
            "jobs": setting(json!(self.jobs.value), &self.jobs.origin),
            "metrics_file": setting(json!(self.metrics_file.value), &self.metrics_file.origin),
            "status_file": setting(json!(self.status_file.value), &self.status_file.origin),
            "notify_timeout": setting(
                json!(format!("{}s", self.notify.timeout.value.as_secs_f64())),
                &self.notify.timeout.origin),
            "notify": {"command": self.notify.command, "on_success": self.notify.on_success,
                "webhook": self.notify.webhook.as_deref().map(mask_webhook)},
            "repositories": repos,
            "job": jobs,
            "problems": self.path_problems(),
        })
    }
}
