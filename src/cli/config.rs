//! `dumpvault config show`: the effective fleet configuration, secrets masked, with where
//! each layered setting came from.

use super::run::FleetFlags;
use super::Ctx;
use anyhow::Result;
use serde_json::Value;

/// Arguments of `config`.
#[derive(clap::Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults < file < DUMPVAULT_* < flags).
    Show(FleetFlags),
}

/// Runs `config`.
pub fn run(ctx: &Ctx, a: ConfigArgs) -> Result<i32> {
    let ConfigCommand::Show(flags) = a.command;
    let cfg = match flags.load() {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let v = cfg.show();
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    print!("{}", as_text(&v));
    Ok(0)
}

/// `config show` as text: TOML-like `key = value` lines, each layered setting followed by
/// its origin (`# default`, `# file`, `# DUMPVAULT_JOBS`, `# --jobs`…), then the `[notify]`,
/// `[repository.NAME]` and `[job.NAME]` tables, whose values all come from the configuration
/// file (said once per table). Unset values are left out, never printed as null.
fn as_text(v: &Value) -> String {
    let mut out = String::new();
    let file = v["config_file"]["value"]
        .as_str()
        .unwrap_or("the configuration file");
    for key in [
        "config_file",
        "jobs",
        "metrics_file",
        "status_file",
        "notify_timeout",
    ] {
        let s = &v[key];
        let origin = s["origin"].as_str().unwrap_or("");
        let line = match &s["value"] {
            Value::Null => format!("# {key} is not set"),
            value => format!("{key} = {}", toml_value(value)),
        };
        out.push_str(&format!("{line:<56} # {origin}\n"));
    }
    for problem in v["problems"].as_array().into_iter().flatten() {
        let text = problem
            .as_str()
            .map_or_else(|| problem.to_string(), str::to_string);
        out.push_str(&format!("# problem: {text}\n"));
    }
    let tables = [
        ("notify", None),
        ("repository", Some("repositories")),
        ("job", Some("job")),
    ];
    for (header, key) in tables {
        let named: Vec<(String, &Value)> = match key {
            None => vec![(header.to_string(), &v[header])],
            Some(k) => (v[k].as_object().into_iter().flatten())
                .map(|(name, t)| (format!("{header}.{name}"), t))
                .collect(),
        };
        for (name, table) in named {
            let lines = table_lines(table);
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("\n[{name}]  # from {file}\n"));
            for l in lines {
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}

/// The `key = value` lines of one table, unset values (null, empty lists) left out. A
/// repository's `password` is shown as the file has it (`password_file = "/etc/pw"`,
/// `password = "***"`), or as a comment when it comes from `DUMPVAULT_PASSWORD`.
fn table_lines(table: &Value) -> Vec<String> {
    (table.as_object().into_iter().flatten())
        .filter(|(_, value)| !is_unset(value))
        .map(|(key, value)| match (key.as_str(), value.as_str()) {
            ("password", Some(how)) => match how.split_once(" = ") {
                Some((k, v)) => format!("{k} = {}", Value::from(v)),
                None => format!("# password from {how}"),
            },
            _ => format!("{key} = {}", toml_value(value)),
        })
        .collect()
}

fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_unset),
        _ => false,
    }
}

/// A JSON value written as TOML: strings quoted, lists and inline tables without unset entries.
fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(toml_value).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let items: Vec<String> = (o.iter())
                .filter(|(_, v)| !is_unset(v))
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_origins_and_no_nulls() {
        let v = serde_json::json!({
            "config_file": {"value": "/etc/dumpvault.toml", "origin": "--config"},
            "jobs": {"value": 2, "origin": "default"},
            "metrics_file": {"value": null, "origin": "default"},
            "status_file": {"value": "/var/lib/s.json", "origin": "file"},
            "notify_timeout": {"value": "10s", "origin": "DUMPVAULT_NOTIFY_TIMEOUT"},
            "notify": {"command": null, "on_success": false, "webhook": null},
            "repositories": {"main": {"url": "/srv/repo", "password": "password_file = /etc/p",
                "prune_schedule": null, "min_free_space": null}},
            "job": {"pg": {"repository": "main", "sources": ["postgres://u:***@h/db"],
                "tags": [], "keep": {"keep_hourly": 48, "keep_daily": null}}},
            "problems": ["metrics_file: /nowhere does not exist"],
        });
        let text = as_text(&v);
        assert!(!text.contains("null"), "{text}");
        assert!(text.contains("keep = { keep_hourly = 48 }"), "{text}");
        assert!(text.contains("# --config"), "{text}");
        assert!(text.contains("jobs = 2"), "{text}");
        assert!(text.contains("# metrics_file is not set"), "{text}");
        assert!(text.contains("# DUMPVAULT_NOTIFY_TIMEOUT"), "{text}");
        assert!(
            text.contains("[repository.main]  # from /etc/dumpvault.toml"),
            "{text}"
        );
        assert!(text.contains("[job.pg]"), "{text}");
        assert!(text.contains("\npassword_file = \"/etc/p\"\n"), "{text}");
        assert!(
            text.contains("sources = [\"postgres://u:***@h/db\"]"),
            "{text}"
        );
        assert!(!text.contains("tags"), "{text}");
        assert!(
            text.contains("# problem: metrics_file: /nowhere does not exist"),
            "{text}"
        );
        assert!(text.contains("on_success = false"), "{text}");
    }
}
