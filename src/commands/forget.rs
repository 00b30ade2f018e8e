//! `forget`: decide with a retention policy (or a list of snapshot ids) which snapshots to
//! remove, then record their tombstones in the catalogue (config version 2) and delete their
//! manifests. The plan is a pure function of the snapshot list, so
//! `--dry-run` shows exactly what a real run does; the data goes with `prune`.
//!
//! Policy semantics, calendar buckets, time zones and DST are those of [`crate::retention`]:
//! buckets are taken in the time zone given in [`ForgetOptions::tz`] (the command line uses the
//! system zone, `TZ`, unless `--time-zone` names one).

use crate::commands::snapshots::{Filter, SnapshotEntry};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repository::{FileKind, Repository};
use crate::retention::{self, GroupBy, GroupKey, Policy, SnapshotMeta};
use jiff::tz::TimeZone;
use serde::Serialize;

/// What to forget.
#[derive(Debug, Clone)]
pub struct ForgetOptions {
    /// The retention policy; validated by [`plan`].
    pub policy: Policy,
    /// Fields that split snapshots into groups the policy applies to separately.
    pub group_by: GroupBy,
    /// Which snapshots are considered; the others are never removed.
    pub filter: Filter,
    /// Time zone of the calendar buckets.
    pub tz: TimeZone,
    /// With an empty policy: remove every selected snapshot instead of refusing.
    pub allow_remove_all: bool,
}

/// One snapshot's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Snapshot id (hex).
    pub id: String,
    /// First 8 hex digits.
    pub short_id: String,
    /// The recorded time (RFC 3339 with the recording host's offset).
    pub time: String,
    /// Host.
    pub host: String,
    /// Database name, when the snapshot is of one (for a piped stream without a recorded
    /// one, its stream name without extension).
    pub database: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Kept (true) or removed.
    pub keep: bool,
    /// The rules that keep it, e.g. `last 1`, `daily 2026-12-05`, `tag keep` (empty when
    /// removed).
    pub reasons: Vec<String>,
}

/// The verdicts of one group, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct GroupPlan {
    /// The group, e.g. `host db1, database shop`.
    pub group: String,
    /// The group's key fields.
    pub key: GroupKey,
    /// Verdicts, newest first.
    pub snapshots: Vec<Verdict>,
}

/// What a forget does.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetPlan {
    /// Per group.
    pub groups: Vec<GroupPlan>,
    /// Snapshots kept.
    pub keep: usize,
    /// Snapshots removed.
    pub remove: usize,
}

impl ForgetPlan {
    /// Ids of the snapshots to remove.
    pub fn removed(&self) -> Vec<Id> {
        (self.groups.iter().flat_map(|g| &g.snapshots))
            .filter(|v| !v.keep)
            .filter_map(|v| Id::from_hex(&v.id).ok())
            .collect()
    }
}

/// What retention knows of snapshot `e`.
fn meta_of(e: &SnapshotEntry) -> SnapshotMeta {
    SnapshotMeta {
        id: e.id.to_hex(),
        time: e.time(),
        host: e.manifest.host.clone(),
        // Databases of one name on different servers or engines are different groups;
        // piped streams are told apart by their database (from the stream name).
        database: e.manifest.identity(),
        tags: e.manifest.tags.clone(),
    }
}

/// The verdict on snapshot `e`, taking the id, host and tags of `meta` (its [`meta_of`],
/// left empty: each snapshot has one verdict).
fn verdict(
    e: &SnapshotEntry,
    meta: &mut SnapshotMeta,
    keep: bool,
    reasons: Vec<String>,
) -> Verdict {
    let id = std::mem::take(&mut meta.id);
    Verdict {
        short_id: e.id.short(),
        id,
        time: e.manifest.time.clone(),
        host: std::mem::take(&mut meta.host),
        database: e.manifest.database(),
        tags: std::mem::take(&mut meta.tags),
        keep,
        reasons,
    }
}

/// Applies the policy of `opts` to `snapshots` (all of the repository's; the filter selects).
/// Snapshots tagged `keep` are kept whatever the policy ([`retention::KEEP_TAG`]).
///
/// Errors: [`Error::Invalid`] for an invalid policy (a zero count or duration, an empty tag)
/// and for an empty policy without [`ForgetOptions::allow_remove_all`].
pub fn plan(snapshots: &[SnapshotEntry], opts: &ForgetOptions) -> Result<ForgetPlan> {
    opts.policy
        .validate()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let remove_all = opts.policy.is_empty();
    if remove_all && !opts.allow_remove_all {
        return Err(Error::Invalid(
            "no retention policy given: forget would remove every selected snapshot; give \
             --keep-last/--keep-hourly/--keep-daily/... (or --unsafe-allow-remove-all to \
             really remove them all)"
                .into(),
        ));
    }
    let selected: Vec<&SnapshotEntry> = (snapshots.iter())
        .filter(|e| opts.filter.matches(&e.manifest))
        .collect();
    let mut metas: Vec<SnapshotMeta> = selected.iter().map(|e| meta_of(e)).collect();
    let mut out = ForgetPlan::default();
    for (key, members) in retention::group(&metas, opts.group_by) {
        let decisions: Vec<(usize, bool, Vec<String>)> = if remove_all {
            // Even "remove all" never removes a snapshot tagged `keep`.
            let mut m = members.clone();
            m.sort_by(|a, b| metas[*b].time.cmp(&metas[*a].time).then(a.cmp(b)));
            let protected = retention::Reason::Protected.to_string();
            (m.into_iter())
                .map(|i| match retention::is_protected(&metas[i].tags) {
                    true => (i, true, vec![protected.clone()]),
                    false => (i, false, vec![]),
                })
                .collect()
        } else {
            retention::apply_to_group(&opts.policy, &metas, &members, &opts.tz)
                .into_iter()
                .map(|d| {
                    (
                        d.index,
                        d.keep,
                        d.reasons.iter().map(|r| r.to_string()).collect(),
                    )
                })
                .collect()
        };
        // Each snapshot is in one group: its meta's strings move to its verdict.
        let snapshots: Vec<Verdict> = (decisions.into_iter())
            .map(|(i, keep, reasons)| verdict(selected[i], &mut metas[i], keep, reasons))
            .collect();
        out.keep += snapshots.iter().filter(|v| v.keep).count();
        out.remove += snapshots.iter().filter(|v| !v.keep).count();
        out.groups.push(GroupPlan {
            group: key.to_string(),
            key,
            snapshots,
        });
    }
    Ok(out)
}

/// A plan removing exactly the snapshots `ids` (already resolved, see [`resolve`]).
pub fn plan_ids(snapshots: &[SnapshotEntry], ids: &[Id]) -> ForgetPlan {
    let mut list: Vec<Verdict> = (snapshots.iter().rev())
        .filter(|e| ids.contains(&e.id))
        .map(|e| verdict(e, &mut meta_of(e), false, vec![]))
        .collect();
    list.dedup_by(|a, b| a.id == b.id);
    ForgetPlan {
        remove: list.len(),
        keep: 0,
        groups: vec![GroupPlan {
            group: "snapshots given by id".into(),
            key: GroupKey {
                host: None,
                database: None,
                tags: None,
            },
            snapshots: list,
        }],
    }
}

/// Resolves snapshot ids, unique id prefixes or `latest`. Here `latest` is the newest
/// snapshot `dumpvault snapshots` lists, also when it is tagged `incomplete` or its manifest
/// is missing (unlike [`crate::commands::snapshots::find`], which skips those to name one to
/// read): `forget latest` must never remove an older complete snapshot instead of the cut
/// one. A snapshot given by id need not have its manifest (forgetting a lost one is how its
/// entry is dropped).
///
/// Errors: [`Error::NotFound`] for one that matches nothing, [`Error::Invalid`] for an
/// ambiguous prefix (before anything is removed).
pub fn resolve(repo: &Repository, specs: &[String]) -> Result<Vec<Id>> {
    let newest = || -> Result<Id> {
        let all = crate::commands::snapshots::list(repo, &Filter::default())?;
        (all.last().map(|e| e.id)).ok_or_else(|| {
            Error::NotFound(format!(
                "no snapshot in {}; list them with `dumpvault snapshots`",
                repo.backend().location()
            ))
        })
    };
    (specs.iter())
        .map(|s| match s.as_str() {
            "latest" => newest(),
            _ => crate::commands::snapshots::find_id(repo, s),
        })
        .collect()
}

/// Removes the snapshots `plan` removes; returns their ids. With config version 2, first
/// writes ONE catalogue file with their tombstones ([`crate::repository::catalogue::forget`]):
/// from then on they are gone, even if the deletion of their manifests that follows is
/// interrupted (the next prune deletes those). A manifest that is already gone counts as
/// removed.
///
/// Errors: storage errors (the tombstone file not written: nothing is removed; after it, the
/// snapshots are removed and the next prune deletes the manifests left).
pub fn execute(repo: &Repository, plan: &ForgetPlan) -> Result<Vec<Id>> {
    let ids = plan.removed();
    crate::repository::catalogue::forget(repo, &ids)?;
    crate::testhook::pause("forget-before-delete");
    for id in &ids {
        repo.backend().delete(&FileKind::Snapshot.path(id))?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::snapshot::Manifest;

    fn entry(n: u8, time: &str, host: &str, db: &str) -> SnapshotEntry {
        let manifest = Manifest {
            time: time.into(),
            host: host.into(),
            tags: vec![],
            source: crate::source::SourceInfo {
                database: Some(db.into()),
                ..Default::default()
            },
            streams: vec![],
            summary: Default::default(),
            original: None,
        };
        SnapshotEntry {
            id: Id([n; 32]),
            manifest,
        }
    }

    fn opts(policy: Policy) -> ForgetOptions {
        ForgetOptions {
            policy,
            group_by: GroupBy::default(),
            filter: Filter::default(),
            tz: TimeZone::UTC,
            allow_remove_all: false,
        }
    }

    fn day(d: u8, h: u8) -> String {
        format!("2026-03-{d:02}T{h:02}:30:00+00:00")
    }

    #[test]
    fn groups_are_planned_separately_and_filters_protect_the_rest() {
        let mut snaps = Vec::new();
        for (i, d) in (1..=3).enumerate() {
            snaps.push(entry(i as u8, &day(d, 10), "db1", "shop"));
            snaps.push(entry(10 + i as u8, &day(d, 10), "db1", "crm"));
        }
        let policy = Policy {
            keep_last: Some(1),
            ..Default::default()
        };
        let p = plan(&snaps, &opts(policy.clone())).unwrap();
        assert_eq!((p.groups.len(), p.keep, p.remove), (2, 2, 4));
        assert_eq!(p.groups[0].snapshots[0].reasons, vec!["last 1"]);
        let mut o = opts(policy);
        o.filter.databases = vec!["shop".into()];
        let p = plan(&snaps, &o).unwrap();
        assert_eq!((p.keep, p.remove), (1, 2));
        assert!(p.removed().iter().all(|id| id.0[0] < 10), "crm untouched");
    }

    #[test]
    fn verdicts_carry_each_snapshot_as_it_is() {
        let mut snaps = Vec::new();
        for (i, d) in (1..=4).enumerate() {
            let mut e = entry(i as u8, &day(d, 10), "db1", "shop");
            e.manifest.tags = vec![format!("t{i}"), "fleet".into()];
            snaps.push(e);
            snaps.push(entry(10 + i as u8, &day(d, 11), "db2", "crm"));
        }
        let daily = Policy {
            keep_daily: Some(2),
            ..Default::default()
        };
        let p = plan(&snaps, &opts(daily)).unwrap();
        assert_eq!((p.groups.len(), p.keep, p.remove), (2, 4, 4));
        for v in p.groups.iter().flat_map(|g| &g.snapshots) {
            let e = snaps.iter().find(|e| e.id.to_hex() == v.id).unwrap();
            let want = verdict(e, &mut meta_of(e), v.keep, v.reasons.clone());
            assert_eq!(format!("{v:?}"), format!("{want:?}"));
        }
    }

    #[test]
    fn empty_and_invalid_policies_are_refused() {
        let snaps = vec![entry(1, &day(1, 1), "h", "d")];
        let err = plan(&snaps, &opts(Policy::default())).unwrap_err();
        assert!(
            err.to_string().contains("--unsafe-allow-remove-all"),
            "{err}"
        );
        let zero = Policy {
            keep_daily: Some(0),
            ..Default::default()
        };
        assert!(matches!(plan(&snaps, &opts(zero)), Err(Error::Invalid(_))));
        let mut all = opts(Policy::default());
        all.allow_remove_all = true;
        assert_eq!(plan(&snaps, &all).unwrap().remove, 1);
    }

    #[test]
    fn explicit_ids_remove_only_those() {
        let snaps = vec![
            entry(1, &day(1, 1), "h", "d"),
            entry(2, &day(2, 1), "h", "d"),
        ];
        let p = plan_ids(&snaps, &[Id([2; 32]), Id([2; 32])]);
        assert_eq!(p.removed(), vec![Id([2; 32])]);
    }

    /// A piped snapshot as written before the database was recorded: only a stream name.
    fn piped(n: u8, time: &str, kind: &str, stream: &str, tags: &[&str]) -> SnapshotEntry {
        let mut e = entry(n, time, "vm", "");
        e.manifest.source = crate::source::SourceInfo {
            kind: kind.into(),
            ..Default::default()
        };
        e.manifest.tags = tags.iter().map(|t| t.to_string()).collect();
        e.manifest.streams = vec![crate::format::snapshot::StreamRef {
            name: stream.into(),
            size: 1,
            blake3: [0; 32],
            root: [0; 32],
            chunks: 1,
            sections: vec![],
        }];
        e
    }

    #[test]
    fn piped_streams_group_by_database_from_the_stream_name() {
        let snaps = vec![
            piped(1, &day(1, 1), "stdin", "shop.sql", &[]),
            piped(2, &day(1, 2), "stdin", "crm.sql", &[]),
            piped(3, &day(2, 1), "command", "shop.sql", &[]),
            piped(4, &day(2, 2), "stdin", "crm.sql", &[]),
            piped(5, &day(3, 1), "stdin", "shop.sql.gz", &["keep"]),
        ];
        let daily = Policy {
            keep_daily: Some(1),
            ..Default::default()
        };
        let p = plan(&snaps, &opts(daily.clone())).unwrap();
        let groups = Vec::from_iter(p.groups.iter().map(|g| g.group.as_str()));
        assert_eq!(
            groups,
            [
                "host vm, database stream crm",
                "host vm, database stream shop"
            ]
        );
        // Each database keeps its newest; the keep-tagged one takes no place.
        assert_eq!(p.removed(), [Id([2; 32]), Id([1; 32])]);
        let shop = &p.groups[1].snapshots;
        assert_eq!(shop[0].reasons, ["tag keep"]);
        assert_eq!(shop[1].reasons, ["daily 2026-03-02"]);
        assert_eq!(shop[1].database.as_deref(), Some("shop"));

        // --database selects by name, by stream name and by identity.
        for (db, want) in [
            ("shop", (2, 1)),
            ("stream shop", (2, 1)),
            ("shop.sql", (1, 1)),
        ] {
            let mut o = opts(daily.clone());
            o.filter.databases = vec![db.into()];
            let p = plan(&snaps, &o).unwrap();
            assert_eq!((p.keep, p.remove), want, "{db}");
        }
        // Removing all still keeps the keep-tagged snapshot.
        let mut all = opts(Policy::default());
        all.allow_remove_all = true;
        let p = plan(&snaps, &all).unwrap();
        assert_eq!((p.keep, p.remove), (1, 4));
    }
}
