//! Tests of the retention policy: buckets, time zones and DST, grouping, `keep` tags, parsing.

use super::*;
use std::collections::BTreeSet;
use Reason::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}
/// Whitespace-separated RFC 3339 timestamps.
fn set(times: &str) -> BTreeSet<Timestamp> {
    times.split_whitespace().map(ts).collect()
}
fn snap(time: Timestamp, host: &str, db: Option<&str>, tags: &[&str]) -> SnapshotMeta {
    let (host, database) = (host.to_string(), db.map(String::from));
    let tags = tags.iter().map(|t| t.to_string()).collect();
    let id = format!("{host}@{time}");
    SnapshotMeta {
        id,
        time,
        host,
        database,
        tags,
    }
}
fn at(times: impl IntoIterator<Item = Timestamp>) -> Vec<SnapshotMeta> {
    Vec::from_iter(times.into_iter().map(|t| snap(t, "h", Some("db"), &[])))
}
fn pol(set_rules: impl FnOnce(&mut Policy)) -> Policy {
    let mut p = Policy::default();
    set_rules(&mut p);
    p
}
fn kept(policy: &Policy, snaps: &[SnapshotMeta], tz: &TimeZone) -> BTreeSet<Timestamp> {
    let decisions = apply(policy, snaps, tz);
    assert_eq!(decisions.len(), snaps.len());
    assert!(decisions.iter().all(|d| d.keep != d.reasons.is_empty()));
    kept_idx(&decisions)
        .into_iter()
        .map(|i| snaps[i].time)
        .collect()
}
fn kept_idx(decisions: &[Decision]) -> Vec<usize> {
    Vec::from_iter(decisions.iter().filter(|d| d.keep).map(|d| d.index))
}
fn ny() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}
fn dur(s: &str) -> CalendarDuration {
    parse_duration(s).unwrap()
}
fn hours(h: i64) -> Span {
    Span::new().hours(h)
}

#[test]
fn hourly_for_400_days_with_full_policy() {
    // Newest is Friday 2024-03-15 23:30 UTC (ISO week 11); 9600 hourly snapshots back.
    let newest = ts("2024-03-15T23:30:00Z");
    let snaps = at((0..9600).map(|h| newest - hours(h)));
    let policy = pol(|p| {
        (p.keep_hourly, p.keep_daily, p.keep_weekly) = (Some(24), Some(7), Some(4));
        (p.keep_monthly, p.keep_yearly) = (Some(12), Some(2));
    });
    policy.validate().unwrap();
    let mut expected: BTreeSet<Timestamp> = (0..24)
        .map(|h| ts(&format!("2024-03-15T{h:02}:30:00Z")))
        .collect();
    expected.extend(set(
        // daily: last snapshot of 03-14 .. 03-09 (03-15 is already in)
        "2024-03-14T23:30Z 2024-03-13T23:30Z 2024-03-12T23:30Z 2024-03-11T23:30Z
         2024-03-10T23:30Z 2024-03-09T23:30Z
         2024-03-03T23:30Z 2024-02-25T23:30Z
         2024-02-29T23:30Z 2024-01-31T23:30Z 2023-12-31T23:30Z 2023-11-30T23:30Z
         2023-10-31T23:30Z 2023-09-30T23:30Z 2023-08-31T23:30Z 2023-07-31T23:30Z
         2023-06-30T23:30Z 2023-05-31T23:30Z 2023-04-30T23:30Z",
        // weekly: 03-15 (current week), Sundays 03-10, 03-03, 02-25
        // monthly: 03-15, then the last day of each month back to 2023-04
        // yearly: 03-15 and 2023-12-31
    ));
    assert_eq!(expected.len(), 43);
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC), expected);
    let decisions = apply(&policy, &snaps, &TimeZone::UTC);
    assert_eq!(snaps[decisions[0].index].time, newest);
    let all_five = [
        Hourly("2024-03-15 23:00+00:00".into()),
        Daily("2024-03-15".into()),
        Weekly("2024-W11".into()),
        Monthly("2024-03".into()),
        Yearly("2024".into()),
    ];
    assert_eq!(decisions[0].reasons, all_five);
    assert_eq!(
        decisions[0].reasons[0].to_string(),
        "hourly 2024-03-15 23:00+00:00"
    );
    let dec31 = decisions.iter().find(|d| d.index == 24 * (31 + 29 + 15));
    let want = [Monthly("2023-12".into()), Yearly("2023".into())];
    assert_eq!(dec31.unwrap().reasons, want);
    assert_eq!(want[0].to_string(), "monthly 2023-12");
}

#[test]
fn irregular_gaps_count_buckets_with_snapshots() {
    let times = "2024-01-10T08:00Z 2023-12-20T12:00Z 2024-01-10T20:00Z 2024-01-07T09:00Z
                 2024-01-01T00:00Z 2023-11-02T00:00Z";
    let snaps = at(times.split_whitespace().map(ts));
    let daily = pol(|p| p.keep_daily = Some(3));
    let want = set("2024-01-10T20:00Z 2024-01-07T09:00Z 2024-01-01T00:00Z");
    assert_eq!(kept(&daily, &snaps, &TimeZone::UTC), want);
    let monthly = pol(|p| (p.keep_monthly, p.keep_last) = (Some(2), Some(2)));
    let want = set("2024-01-10T20:00Z 2024-01-10T08:00Z 2023-12-20T12:00Z");
    assert_eq!(kept(&monthly, &snaps, &TimeZone::UTC), want);
    // Decisions come newest first and reference input indices.
    let d = apply(&monthly, &snaps, &TimeZone::UTC);
    let order = Vec::from_iter(d.iter().map(|d| d.index));
    assert_eq!(order, [2, 0, 3, 4, 1, 5]);
    assert_eq!(d[0].reasons, [Last(1), Monthly("2024-01".into())]);
    assert_eq!(d[1].reasons, [Last(2)]);
    assert_eq!(d[1].reasons[0].to_string(), "last 2");
    assert!(!d[5].keep && d[5].reasons.is_empty());
    assert!(apply(&monthly, &[], &TimeZone::UTC).is_empty());
}

#[test]
fn grouping_by_host_database_and_tags() {
    let t = |h| ts("2024-05-01T00:00Z") + hours(h);
    let snaps = vec![
        snap(t(0), "a", Some("db1"), &["x"]),
        snap(t(1), "a", Some("db2"), &[]),
        snap(t(2), "b", Some("db1"), &[]),
        snap(t(3), "a", Some("db1"), &["y", "x"]),
        snap(t(4), "a", None, &[]),
        snap(t(5), "a", Some("db1"), &["x", "y", "x"]),
    ];
    let groups = group(&snaps, GroupBy::default());
    let got = Vec::from_iter(groups.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let want = [
        ("host a, no database", vec![4]),
        ("host a, database db1", vec![0, 3, 5]),
        ("host a, database db2", vec![1]),
        ("host b, database db1", vec![2]),
    ];
    assert_eq!(got, want.map(|(k, v)| (k.to_string(), v)));
    let last = pol(|p| p.keep_last = Some(1));
    let kept: Vec<usize> = (groups.iter())
        .flat_map(|(_, idx)| kept_idx(&apply_to_group(&last, &snaps, idx, &TimeZone::UTC)))
        .collect();
    assert_eq!(kept, [4, 5, 1, 2]);

    let by_tags = group(&snaps, GroupBy::parse(" tags , host").unwrap());
    let got: Vec<Vec<usize>> = by_tags.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got, [vec![1, 4], vec![0], vec![3, 5], vec![2]]);
    assert_eq!(by_tags[2].0.to_string(), "host a, tags [x, y]");
    let all = group(&snaps, GroupBy::parse("").unwrap());
    assert_eq!(
        (all.len(), all[0].0.to_string()),
        (1, "all snapshots".into())
    );
    let by = GroupBy::parse("database,host,tags").unwrap();
    assert!(by.host && by.database && by.tags);
    let err = GroupBy::parse("host,paths").unwrap_err().to_string();
    assert!(err.contains("field \"paths\" in \"host,paths\""), "{err}");
}

#[test]
fn dst_fall_back_keeps_both_one_oclock_hours() {
    // 2024-11-03 in New York: 01:00-01:59 EDT (05:xxZ), then 01:00-01:59 EST (06:xxZ).
    let snaps = at((0..12).map(|i| ts("2024-11-03T03:00Z") + Span::new().minutes(30 * i)));
    let hourly = |n| pol(|p| p.keep_hourly = Some(n));
    let all_hours = set("2024-11-03T03:30Z 2024-11-03T04:30Z 2024-11-03T05:30Z
         2024-11-03T06:30Z 2024-11-03T07:30Z 2024-11-03T08:30Z");
    assert_eq!(kept(&hourly(100), &snaps, &ny()), all_hours);
    let four = set("2024-11-03T05:30Z 2024-11-03T06:30Z 2024-11-03T07:30Z 2024-11-03T08:30Z");
    assert_eq!(kept(&hourly(4), &snaps, &ny()), four);
    // Day buckets use the civil date: 03:30Z is 23:30 EDT on Nov 2.
    let daily = pol(|p| p.keep_daily = Some(5));
    let want = set("2024-11-03T03:30Z 2024-11-03T08:30Z");
    assert_eq!(kept(&daily, &snaps, &ny()), want);
}

#[test]
fn dst_spring_forward_has_no_two_oclock_bucket() {
    // 2024-03-10 in New York: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let snaps = at((0..8).map(|i| ts("2024-03-10T05:00Z") + Span::new().minutes(30 * i)));
    let policy = pol(|p| p.keep_hourly = Some(10));
    // Civil hours 00, 01 (EST), 03, 04 (EDT): four buckets.
    let want = set("2024-03-10T05:30Z 2024-03-10T06:30Z 2024-03-10T07:30Z 2024-03-10T08:30Z");
    assert_eq!(kept(&policy, &snaps, &ny()), want);
}

#[test]
fn day_buckets_depend_on_time_zone() {
    let snaps = at(set("2024-06-01T02:00Z 2024-06-01T05:00Z"));
    let policy = pol(|p| p.keep_daily = Some(10));
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC).len(), 1);
    assert_eq!(kept(&policy, &snaps, &ny()).len(), 2);
}

#[test]
fn keep_within_is_relative_to_newest_snapshot() {
    let newest = ts("2001-02-03T12:00Z");
    let back = |d: i64, h: i64| newest - hours(24 * d + h);
    let snaps = at([back(3, 0), back(0, 1), newest, back(2, 12), back(2, 11)]);
    let policy = pol(|p| p.keep_within = Some(dur("2d12h")));
    let want: BTreeSet<_> = [newest, back(0, 1), back(2, 11)].into();
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC), want);
    let d = apply(&policy, &snaps, &TimeZone::UTC);
    assert_eq!(d[0].reasons[0].to_string(), "within 2d12h");

    // Months are calendar months: one month before 03-31 is 02-29 (leap year).
    let snaps = at(set("2024-03-31T00:00Z 2024-02-29T12:00Z 2024-02-28T23:00Z"));
    let policy = pol(|p| p.keep_within = Some(dur("1m")));
    let want = set("2024-03-31T00:00Z 2024-02-29T12:00Z");
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC), want);
    // Absurdly long durations keep everything instead of failing.
    let policy = pol(|p| p.keep_within = Some(dur("4000000000y")));
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC).len(), 3);
}

#[test]
fn keep_within_daily_keeps_newest_per_day_in_window() {
    let days = (1..=10).flat_map(|d| [0, 6, 12, 18].map(|h| (d, h)));
    let snaps = at(days.map(|(d, h)| ts(&format!("2024-05-{d:02}T{h:02}:00Z"))));
    let policy = pol(|p| p.keep_within_daily = Some(dur("3d")));
    // Window: strictly after 2024-05-07T18:00Z.
    let mut want = set("2024-05-10T18:00Z 2024-05-09T18:00Z 2024-05-08T18:00Z");
    assert_eq!(kept(&policy, &snaps, &TimeZone::UTC), want);
    let d = apply(&policy, &snaps, &TimeZone::UTC);
    assert_eq!(d[0].reasons[0].to_string(), "daily 2024-05-10 within 3d");
    // Window after 05-03T18:00Z adds the newest of ISO week 18 (Sunday 05-05).
    let both = pol(|p| {
        (p.keep_within_daily, p.keep_within_weekly) = (policy.keep_within_daily, Some(dur("1w")))
    });
    want.insert(ts("2024-05-05T18:00Z"));
    assert_eq!(kept(&both, &snaps, &TimeZone::UTC), want);
}

#[test]
fn keep_tag_matches_any_entry_and_all_tags_within_entry() {
    let t = ts("2024-01-01T00:00Z");
    let snaps = vec![
        snap(t, "h", None, &["daily"]),
        snap(t - hours(1), "h", None, &["manual", "pre-upgrade"]),
        snap(t - hours(2), "h", None, &["manual"]),
        snap(t - hours(3), "h", None, &["pre-upgrade"]),
    ];
    let policy = pol(|p| p.keep_tags = vec!["manual,pre-upgrade".into()]);
    let d = apply(&policy, &snaps, &TimeZone::UTC);
    assert_eq!(kept_idx(&d), [1]);
    assert_eq!(d[1].reasons[0].to_string(), "tag manual,pre-upgrade");
    let policy = pol(|p| p.keep_tags = vec!["manual".into(), "daily".into()]);
    assert_eq!(kept_idx(&apply(&policy, &snaps, &TimeZone::UTC)), [0, 1, 2]);
}

#[test]
fn validation_and_empty_policy() {
    let empty = Policy::default();
    assert!(empty.is_empty() && empty.validate().is_ok());
    let snaps = at(set("2024-01-01T00:00Z 2023-01-01T00:00Z"));
    let d = apply(&empty, &snaps, &TimeZone::UTC);
    assert!(d.iter().all(|d| d.keep && d.reasons == [EmptyPolicy]));
    assert_eq!(EmptyPolicy.to_string(), "policy is empty");

    let zero = pol(|p| p.keep_daily = Some(0));
    assert!(!zero.is_empty());
    let msg = zero.validate().unwrap_err().to_string();
    let want = "--keep-daily 0 would keep no snapshots; use a positive number";
    assert_eq!(msg, want);
    let zero = pol(|p| p.keep_within_hourly = Some(dur("0d")));
    let err = zero.validate().unwrap_err();
    assert_eq!(err, RetentionError::ZeroDuration("keep-within-hourly"));
    let tag = pol(|p| p.keep_tags = vec!["ok".into(), " , ".into()]);
    assert_eq!(tag.validate(), Err(RetentionError::EmptyTag));
    let ok = pol(|p| (p.keep_last, p.keep_within) = (Some(1), Some(dur("1d"))));
    assert_eq!(ok.validate(), Ok(()));
}

#[test]
fn duration_parsing() {
    let d = |years, months, weeks, days, hours| CalendarDuration {
        years,
        months,
        weeks,
        days,
        hours,
    };
    assert_eq!(dur("2d12h"), d(0, 0, 0, 2, 12));
    assert_eq!(dur("1y6m"), d(1, 6, 0, 0, 0));
    assert_eq!(dur("36h"), d(0, 0, 0, 0, 36));
    assert_eq!(dur("1w"), d(0, 0, 1, 0, 0));
    assert_eq!(dur("90m"), d(0, 90, 0, 0, 0), "m is months, as in restic");
    assert_eq!(dur(" 1y2m3w4d5h "), d(1, 2, 3, 4, 5));
    for s in ["2d12h", "1y6m", "3w", "1y2m3w4d5h"] {
        assert_eq!(dur(s).to_string(), s);
    }
    assert_eq!("7d".parse::<CalendarDuration>(), Ok(d(0, 0, 0, 7, 0)));
    let cases = [
        ("", "it is empty"),
        ("-1d", "negative"),
        ("5x", "unknown unit 'x'"),
        ("30s", "minutes and seconds are not supported"),
        ("12", "number 12 has no unit"),
        ("d", "expected a number before 'd'"),
        ("1d1d", "unit 'd' appears more than once"),
        ("99999999999h", "too large"),
        ("1d 2h", "expected a number before ' '"),
    ];
    for (input, fragment) in cases {
        let msg = parse_duration(input).unwrap_err().to_string();
        assert!(msg.contains(fragment), "{input:?}: {msg}");
        assert!(msg.contains(&format!("{input:?}")), "{msg}");
        assert!(msg.contains("e.g. \"2d12h\""), "{msg}");
    }
}

#[test]
fn serde_uses_strings_for_times_and_durations() {
    let policy = pol(|p| {
        (p.keep_daily, p.keep_within_daily) = (Some(7), Some(dur("2d12h")));
        p.keep_tags = vec!["manual".into()];
    });
    let json = serde_json::to_string(&policy).unwrap();
    assert!(json.contains(r#""keep_within_daily":"2d12h""#), "{json}");
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
    let partial: Policy = serde_json::from_str(r#"{"keep_last":3}"#).unwrap();
    assert_eq!(partial, pol(|p| p.keep_last = Some(3)));
    assert!(serde_json::from_str::<Policy>(r#"{"keep_within":"3x"}"#).is_err());

    let s = snap(ts("2024-01-01T00:00Z"), "h", None, &["manual"]);
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""time":"2024-01-01T00:00:00Z""#), "{json}");
    let back: SnapshotMeta = serde_json::from_str(&json).unwrap();
    assert_eq!((back.time, &back.tags), (s.time, &s.tags));
    let key = group(std::slice::from_ref(&s), GroupBy::default())
        .remove(0)
        .0;
    let json = serde_json::to_string(&key).unwrap();
    assert_eq!(json, r#"{"host":"h","database":null}"#);
    let json = serde_json::to_string(&apply(&policy, &[s], &TimeZone::UTC)).unwrap();
    let want = r#""reasons":[{"Daily":"2024-01-01"},{"WithinDaily":["2d12h","2024-01-01"]},{"Tag":"manual"}]"#;
    assert!(json.contains(want), "{json}");
}

#[test]
fn keep_tag_protects_from_every_rule_and_takes_no_place() {
    let t = ts("2024-01-10T12:00Z");
    let snaps = vec![
        snap(t, "h", Some("db"), &["keep"]),
        snap(t - hours(1), "h", Some("db"), &[]),
        snap(t - hours(2), "h", Some("db"), &["keep,ticket=DBA-42"]),
        snap(t - hours(3), "h", Some("db"), &["manual"]),
        snap(t - hours(30), "h", Some("db"), &["keeper"]),
    ];
    let last = pol(|p| p.keep_last = Some(1));
    let d = apply(&last, &snaps, &TimeZone::UTC);
    // The newest unprotected snapshot is "last 1"; protected ones do not count.
    assert_eq!(kept_idx(&d), [0, 1, 2]);
    assert_eq!(d[0].reasons, [Protected]);
    assert_eq!(d[1].reasons, [Last(1)]);
    assert_eq!(d[2].reasons[0].to_string(), "tag keep");
    // Buckets and keep-within are measured among the unprotected snapshots too.
    let daily = pol(|p| p.keep_daily = Some(1));
    let d = apply(&daily, &snaps, &TimeZone::UTC);
    assert_eq!(kept_idx(&d), [0, 1, 2]);
    assert_eq!(d[1].reasons, [Daily("2024-01-10".into())]);
    let within = pol(|p| p.keep_within = Some(dur("3h")));
    assert_eq!(
        kept_idx(&apply(&within, &snaps, &TimeZone::UTC)),
        [0, 1, 2, 3]
    );
    // Only snapshots: all protected keeps all, with no other reason.
    let all_kept = apply(&last, &snaps[..1], &TimeZone::UTC);
    assert_eq!(all_kept[0].reasons, [Protected]);
    assert!(is_protected(&["a".into(), " keep ".into()]));
    assert!(!is_protected(&["keeper".into(), "keep=1".into()]));
}

#[test]
fn hour_labels_name_the_offset_in_force() {
    // 2024-11-03 in New York: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z).
    let snaps = at(set("2024-11-03T05:30Z 2024-11-03T06:30Z"));
    let d = apply(&pol(|p| p.keep_hourly = Some(2)), &snaps, &ny());
    let labels = Vec::from_iter(d.iter().map(|d| d.reasons[0].to_string()));
    assert_eq!(
        labels,
        [
            "hourly 2024-11-03 01:00-05:00",
            "hourly 2024-11-03 01:00-04:00"
        ]
    );
    let w = apply(
        &pol(|p| p.keep_within_weekly = Some(dur("1w"))),
        &snaps,
        &ny(),
    );
    assert_eq!(w[0].reasons[0].to_string(), "weekly 2024-W44 within 1w");
}

#[test]
fn groups_are_those_of_owned_keys_in_their_order() {
    // The reference: a map of owned keys, as `group` was written before it borrowed them.
    fn owned(snaps: &[SnapshotMeta], by: GroupBy) -> Vec<(GroupKey, Vec<usize>)> {
        let mut map: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
        for (i, s) in snaps.iter().enumerate() {
            let tags = by.tags.then(|| {
                let mut t = s.tags.clone();
                t.sort();
                t.dedup();
                t
            });
            let key = GroupKey {
                host: by.host.then(|| s.host.clone()),
                database: by.database.then(|| s.database.clone()),
                tags,
            };
            map.entry(key).or_default().push(i);
        }
        map.into_iter().collect()
    }
    let t = ts("2024-01-10T12:00Z");
    let mut snaps = Vec::new();
    for (i, host) in ["b", "a", "", "ab", "a"].iter().enumerate() {
        for db in [None, Some("shop"), Some(""), Some("crm")] {
            for tags in [
                &[][..],
                &["x", "a"][..],
                &["a", "x", "a"][..],
                &["a"][..],
                &["", "b"][..],
            ] {
                let when = t + hours(i as i64);
                snaps.push(snap(when, host, db, tags));
            }
        }
    }
    for by in [
        "",
        "host",
        "database",
        "tags",
        "host,database",
        "host,tags",
        "host,database,tags",
    ] {
        let by = GroupBy::parse(by).unwrap();
        assert_eq!(group(&snaps, by), owned(&snaps, by), "{by:?}");
    }
}

/// Probe finding 10: a cut-short dump (tagged `incomplete`) must not take a complete
/// snapshot's place, so `--keep-last 1` keeps the newest complete one.
#[test]
fn an_incomplete_snapshot_takes_no_place_in_keep_last_or_buckets() {
    let t = ts("2026-12-06T10:00:00Z");
    let complete = snap(t, "h", Some("db"), &[]);
    let cut = snap(t + hours(1), "h", Some("db"), &["incomplete"]);
    let snaps = vec![complete, cut];
    let d = apply(&pol(|p| p.keep_last = Some(1)), &snaps, &TimeZone::UTC);
    // Newest first: the cut one stays until a complete one follows it, and the complete
    // one keeps its place.
    assert_eq!(
        (d[0].index, &d[0].reasons[..]),
        (1, &[IncompleteNewest][..])
    );
    assert_eq!((d[1].index, &d[1].reasons[..]), (0, &[Last(1)][..]));
    // Daily: the day's bucket goes to the complete snapshot, not to the newer cut one.
    let d = apply(&pol(|p| p.keep_daily = Some(1)), &snaps, &TimeZone::UTC);
    assert_eq!(d[1].reasons, [Daily("2026-12-06".into())]);
    let within_daily = pol(|p| p.keep_within_daily = Some(dur("2d")));
    let d = apply(&within_daily, &snaps, &TimeZone::UTC);
    assert_eq!(d[1].reasons, [WithinDaily(dur("2d"), "2026-12-06".into())]);
}

#[test]
fn incomplete_snapshots_older_than_a_complete_one_go_unless_within_or_tagged() {
    let t = ts("2026-12-01T00:00:00Z");
    let snaps = vec![
        snap(t, "h", Some("db"), &[]),
        snap(t + hours(24), "h", Some("db"), &["incomplete"]),
        snap(t + hours(48), "h", Some("db"), &["nightly", "incomplete"]),
        snap(t + hours(72), "h", Some("db"), &[]),
        snap(t + hours(96), "h", Some("db"), &["incomplete"]),
    ];
    let utc = TimeZone::UTC;
    // keep-last 2: the two complete ones, and the cut one after them; not the older cut ones.
    let d = apply(&pol(|p| p.keep_last = Some(2)), &snaps, &utc);
    assert_eq!(kept_idx(&d), [4, 3, 0]);
    assert_eq!(d[1].reasons, [Last(1)]);
    assert_eq!(d[4].reasons, [Last(2)]);
    // keep-within is measured from the newest complete snapshot (t+72h), and keeps any
    // snapshot within it, incomplete or not.
    let d = apply(&pol(|p| p.keep_within = Some(dur("2d"))), &snaps, &utc);
    assert_eq!(kept_idx(&d), [4, 3, 2]);
    assert_eq!(d[2].reasons, [Within(dur("2d"))]);
    // keep-tag keeps an incomplete snapshot carrying the tag.
    let d = apply(&pol(|p| p.keep_tags = vec!["nightly".into()]), &snaps, &utc);
    assert_eq!(kept_idx(&d), [4, 2]);
    // A group of cut dumps only: none is older than a complete one, so all stay.
    let cut: Vec<_> = (0..3)
        .map(|h| snap(t + hours(h), "h", Some("db"), &["incomplete"]))
        .collect();
    let d = apply(&pol(|p| p.keep_last = Some(1)), &cut, &utc);
    assert!(d.iter().all(|d| d.reasons == [IncompleteNewest]), "{d:?}");
    // `keep` still wins over `incomplete`.
    let both = vec![snap(t, "h", Some("db"), &["incomplete,keep"])];
    assert_eq!(
        apply(&pol(|p| p.keep_last = Some(1)), &both, &utc)[0].reasons,
        [Protected]
    );
    assert_eq!(
        IncompleteNewest.to_string(),
        "incomplete, newer than every complete one"
    );
}
