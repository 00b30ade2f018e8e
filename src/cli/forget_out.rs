//! `forget`'s output, written as it is formatted to a buffered stdout: the plan per group as
//! text, or with `--json` one document serialized verdict by verdict (serde's streaming
//! serializer; no `serde_json::Value` of the plan, which lists every snapshot).
//!
//! The JSON is the document the `Value` gave, byte for byte: pretty-printed, every object's
//! keys in sorted order (a `Value` object is a sorted map). The [`Serialize`] impls below list
//! the keys in that order and destructure the plan's types whole, so a field added to one
//! fails to compile here instead of going missing from the output.

use dumpvault::commands::forget::{ForgetPlan, GroupPlan, Verdict};
use dumpvault::commands::prune::PruneOutcome;
use dumpvault::id::Id;
use serde::ser::{Error as _, SerializeMap, Serializer};
use serde::Serialize;
use std::io::Write;

/// Writes the plan as text; `pruning`: a prune follows in this run (`--prune`), so the last
/// line does not send the user to `dumpvault prune`.
///
/// Errors: writing to `out` failed.
pub fn write_text(
    out: &mut impl Write,
    plan: &ForgetPlan,
    dry_run: bool,
    pruning: bool,
) -> std::io::Result<()> {
    for g in &plan.groups {
        let keep = g.snapshots.iter().filter(|v| v.keep).count();
        writeln!(
            out,
            "{}: keep {keep}, remove {}",
            g.group,
            g.snapshots.len() - keep
        )?;
        for v in &g.snapshots {
            writeln!(
                out,
                "  {:<6}  {}  {:<25}  {}",
                if v.keep { "keep" } else { "remove" },
                v.short_id,
                v.time.split('[').next().unwrap_or(""),
                Joined(&v.reasons)
            )?;
        }
    }
    let (keep, remove) = (plan.keep, plan.remove);
    if dry_run {
        writeln!(
            out,
            "dry run: would keep {keep} and remove {remove} snapshot(s); nothing was removed"
        )
    } else if pruning {
        writeln!(
            out,
            "kept {keep}, removed {remove} snapshot(s); pruning their data:"
        )
    } else {
        writeln!(
            out,
            "kept {keep}, removed {remove} snapshot(s); `dumpvault prune` frees their space"
        )
    }
}

/// Strings joined by `, `, written without building the joined string.
struct Joined<'a>(&'a [String]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// What `forget --json` prints: whether it was a dry run, the plan, the ids removed, and
/// prune's outcome with `--prune`.
pub struct ForgetJson<'a> {
    /// `--dry-run`.
    pub dry_run: bool,
    /// The plan.
    pub plan: &'a ForgetPlan,
    /// Snapshots removed (none in a dry run).
    pub removed: &'a [Id],
    /// Prune's outcome, with `--prune`.
    pub prune: Option<&'a PruneOutcome>,
}

impl ForgetJson<'_> {
    /// Writes the document, pretty-printed, and a line break.
    ///
    /// Errors: writing to `out` failed.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    }
}

impl Serialize for ForgetJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A `Value` of prune's (small) outcome, as before: its keys sorted, flattened fields
        // included.
        let prune = serde_json::to_value(self.prune).map_err(S::Error::custom)?;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("dry_run", &self.dry_run)?;
        map.serialize_entry("plan", &Plan(self.plan))?;
        map.serialize_entry("prune", &prune)?;
        map.serialize_entry("removed", &Each(self.removed, Id::to_hex))?;
        map.end()
    }
}

/// Items serialized one by one, each through `F`.
struct Each<'a, T, F>(&'a [T], F);

impl<'a, T, F, J> Serialize for Each<'a, T, F>
where
    F: Fn(&'a T) -> J,
    J: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(&self.1))
    }
}

struct Plan<'a>(&'a ForgetPlan);

impl Serialize for Plan<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ForgetPlan {
            groups,
            keep,
            remove,
        } = self.0;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("groups", &Each(groups, Group))?;
        map.serialize_entry("keep", keep)?;
        map.serialize_entry("remove", remove)?;
        map.end()
    }
}

struct Group<'a>(&'a GroupPlan);

impl Serialize for Group<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let GroupPlan {
            group,
            key,
            snapshots,
        } = self.0;
        // The group key's fields are optional (skipped when not grouped by): a `Value` of it,
        // one per group, as before.
        let key = serde_json::to_value(key).map_err(S::Error::custom)?;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("group", group)?;
        map.serialize_entry("key", &key)?;
        map.serialize_entry("snapshots", &Each(snapshots, VerdictJson))?;
        map.end()
    }
}

struct VerdictJson<'a>(&'a Verdict);

impl Serialize for VerdictJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Verdict {
            id,
            short_id,
            time,
            host,
            database,
            tags,
            keep,
            reasons,
        } = self.0;
        let mut map = s.serialize_map(Some(8))?;
        map.serialize_entry("database", database)?;
        map.serialize_entry("host", host)?;
        map.serialize_entry("id", id)?;
        map.serialize_entry("keep", keep)?;
        map.serialize_entry("reasons", reasons)?;
        map.serialize_entry("short_id", short_id)?;
        map.serialize_entry("tags", tags)?;
        map.serialize_entry("time", time)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dumpvault::retention::GroupKey;

    fn verdict(n: u8, keep: bool) -> Verdict {
        let id = Id([n; 32]);
        Verdict {
            id: id.to_hex(),
            short_id: id.short(),
            time: format!("2026-12-0{n}T08:00:00+01:00[Europe/Berlin]"),
            host: "db1".into(),
            database: n.is_multiple_of(2).then(|| "shop".to_string()),
            tags: vec!["fleet".into(), format!("job={n}")],
            keep,
            reasons: if keep {
                vec!["last 1".into(), "daily 2026-12-05".into()]
            } else {
                vec![]
            },
        }
    }

    fn plan() -> ForgetPlan {
        let groups = vec![
            GroupPlan {
                group: "host db1, database shop".into(),
                key: GroupKey {
                    host: Some("db1".into()),
                    database: Some(Some("shop".into())),
                    tags: None,
                },
                snapshots: vec![verdict(2, true), verdict(4, false)],
            },
            GroupPlan {
                group: "host db1, database (none)".into(),
                key: GroupKey {
                    host: Some("db1".into()),
                    database: Some(None),
                    tags: Some(vec!["a".into()]),
                },
                snapshots: vec![verdict(3, true)],
            },
            GroupPlan {
                group: "everything".into(),
                key: GroupKey {
                    host: None,
                    database: None,
                    tags: None,
                },
                snapshots: vec![],
            },
        ];
        ForgetPlan {
            groups,
            keep: 2,
            remove: 1,
        }
    }

    /// The document as it was printed before (a `Value` tree, pretty-printed).
    fn old(
        dry_run: bool,
        plan: &ForgetPlan,
        removed: &[Id],
        prune: Option<&PruneOutcome>,
    ) -> String {
        let v = serde_json::json!({"dry_run": dry_run, "plan": plan,
            "removed": removed.iter().map(|id| id.to_hex()).collect::<Vec<_>>(),
            "prune": prune});
        format!("{}\n", serde_json::to_string_pretty(&v).unwrap())
    }

    #[test]
    fn the_text_plan_is_the_one_written_before() {
        // The reference: the reasons joined into a string first, as before.
        fn old(plan: &ForgetPlan) -> String {
            let mut out = String::new();
            for g in &plan.groups {
                let keep = g.snapshots.iter().filter(|v| v.keep).count();
                let remove = g.snapshots.len() - keep;
                out += &format!("{}: keep {keep}, remove {remove}\n", g.group);
                for v in &g.snapshots {
                    out += &format!(
                        "  {:<6}  {}  {:<25}  {}\n",
                        if v.keep { "keep" } else { "remove" },
                        v.short_id,
                        v.time.split('[').next().unwrap_or(""),
                        v.reasons.join(", ")
                    );
                }
            }
            out
        }
        let mut p = plan();
        p.groups[0].snapshots[0].reasons.push("tag keep".into());
        let mut out = Vec::new();
        write_text(&mut out, &p, true, false).unwrap();
        let want =
            old(&p) + "dry run: would keep 2 and remove 1 snapshot(s); nothing was removed\n";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn the_json_plan_is_the_document_the_value_tree_gave() {
        let outcome = PruneOutcome {
            snapshots: 3,
            index_file: Some("ab".into()),
            ..Default::default()
        };
        let removed = [Id([4; 32])];
        let empty = ForgetPlan::default();
        for (dry_run, plan, removed, prune) in [
            (true, &plan(), &[][..], None),
            (false, &plan(), &removed[..], Some(&outcome)),
            (true, &empty, &[][..], None),
        ] {
            let mut out = Vec::new();
            let doc = ForgetJson {
                dry_run,
                plan,
                removed,
                prune,
            };
            doc.write(&mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                old(dry_run, plan, removed, prune)
            );
        }
    }
}
