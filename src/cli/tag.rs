//! `dumpvault tag <snapshot…> --add T / --remove T / --set T`: change snapshots' tags.

use super::Ctx;
use anyhow::Result;
use dumpvault::commands::tag::{self, TagChange};

/// Which snapshots, and how their tags change.
#[derive(clap::Args)]
pub struct TagArgs {
    /// Snapshots: id prefixes or `latest`.
    #[arg(required = true)]
    snapshots: Vec<String>,
    /// Add this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    add: Vec<String>,
    /// Remove this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    remove: Vec<String>,
    /// Replace all tags by these (repeatable; `--set ''` removes every tag).
    #[arg(long, value_name = "TAG", conflicts_with_all = ["add", "remove"])]
    set: Vec<String>,
}

/// Runs `tag`.
pub fn run(ctx: &Ctx, a: TagArgs) -> Result<i32> {
    let repo = ctx.open()?;
    let change = TagChange {
        add: a.add,
        remove: a.remove,
        set: (!a.set.is_empty()).then_some(a.set),
    };
    let out = tag::run(&repo, &a.snapshots, &change)?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    for r in &out {
        let tags = if r.tags.is_empty() {
            "(no tags)".to_string()
        } else {
            r.tags.join(", ")
        };
        if r.changed {
            println!("{} -> {}  tags: {tags}", &r.old[..8], &r.new[..8]);
        } else {
            println!("{} unchanged  tags: {tags}", &r.old[..8]);
        }
    }
    Ok(0)
}
