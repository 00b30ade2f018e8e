//! `dumpvault config show`: the effective fleet configuration, secrets masked, with where
//! each layered setting came from.

use super::run::FleetFlags;
use super::Ctx;
use anyhow::Result;

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
    for key in [
        "config_file",
        "jobs",
        "metrics_file",
        "status_file",
        "notify_timeout",
    ] {
        let s = &v[key];
        let value = match &s["value"] {
            serde_json::Value::String(t) => t.clone(),
            serde_json::Value::Null => "(none)".into(),
            other => other.to_string(),
        };
        println!(
            "{key:<15} {value:<40} ({})",
            s["origin"].as_str().unwrap_or("")
        );
    }
    println!("notify          {}", v["notify"]);
    for (name, r) in v["repositories"].as_object().into_iter().flatten() {
        println!("repository {name}: {r}");
    }
    for (name, j) in v["job"].as_object().into_iter().flatten() {
        println!("job {name}: {j}");
    }
    Ok(0)
}
