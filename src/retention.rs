//! Retention policy logic for `dumpvault forget`: grouping snapshots and deciding which to keep.
//!
//! Semantics follow restic (and borg, where they agree):
//!
//! * Rules are independent; a snapshot is kept if **any** rule keeps it.
//! * `keep-last N` keeps the N newest snapshots of a group.
//! * `keep-{hourly,daily,weekly,monthly,yearly} N` walks the group newest to oldest and keeps
//!   the newest snapshot of each distinct calendar bucket until N buckets have a kept snapshot.
//!   Buckets without snapshots do not count.
//! * `keep-within D` keeps every snapshot *strictly* newer than `newest - D`, where `newest` is
//!   the newest snapshot of the group (not "now"). `D` is calendar-aware: years, months, weeks
//!   and days are subtracted in civil time in the given time zone, then hours as exact time.
//! * `keep-within-{hourly,...} D` is a bucket rule with unlimited count restricted to the
//!   snapshots that `keep-within D` would consider.
//! * `keep-tag T` keeps snapshots carrying tag `T`; as in restic an entry `a,b` requires both.
//! * An empty policy keeps everything (reason "policy is empty"), like restic.
//! * A snapshot tagged [`KEEP_TAG`] (`keep`) is never forgotten by a policy, and takes no place
//!   in any rule: the rules apply to the other snapshots of its group as if it were absent.
//! * Every reason names its rule and, for bucket rules, the bucket (`last 1`,
//!   `daily 2026-12-05`, `tag keep`), so `forget --dry-run` shows why each snapshot stays.
//!
//! Time zones and DST: buckets are computed from each snapshot's civil time in the caller's
//! time zone. Day, ISO week, month and year buckets use the civil date. The hour bucket is keyed
//! by civil date, civil hour **and the UTC offset in force**, so during an autumn fall-back the
//! two real hours both labelled 01:00 are two different buckets (keying by the instant truncated
//! to a UTC hour would be wrong in zones with fractional-hour offsets). During a spring-forward
//! the skipped civil hour simply has no bucket.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors from parsing or validating retention settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// A duration string (for `--keep-within*`) could not be parsed.
    #[error(
        "invalid duration {input:?}: {reason}; expected numbers with units y (years), \
         m (months), w (weeks), d (days) or h (hours), e.g. \"2d12h\" or \"1y6m\""
    )]
    InvalidDuration {
        /// The string as given by the user.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A count rule (named like the CLI option, e.g. `keep-daily`) was set to 0.
    #[error("--{0} 0 would keep no snapshots; use a positive number")]
    ZeroCount(&'static str),
    /// A within rule (named like the CLI option, e.g. `keep-within`) was set to a zero duration.
    #[error("--{0} 0h would keep no snapshots; use a positive duration such as \"7d\"")]
    ZeroDuration(&'static str),
    /// A `--keep-tag` entry was empty (it would match every snapshot).
    #[error("--keep-tag needs a non-empty tag (an empty tag would match every snapshot)")]
    EmptyTag,
    /// An unknown field name was given to `--group-by`.
    #[error(
        "unknown --group-by field {word:?} in {input:?}; valid fields are host, database and \
         tags, comma-separated (e.g. \"host,database\"), or \"\" for no grouping"
    )]
    InvalidGroupBy {
        /// The full `--group-by` value.
        input: String,
        /// The offending field name.
        word: String,
    },
}

/// Serde helpers storing a [`Timestamp`] as RFC 3339 text (so jiff's `serde` feature is not needed).
mod timestamp_serde {
    use super::*;

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What the retention logic needs to know about one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Snapshot id (opaque here; only carried through).
    pub id: String,
    /// When the snapshot was taken (an instant; serialized as RFC 3339).
    #[serde(with = "timestamp_serde")]
    pub time: Timestamp,
    /// Host name the dump came from.
    pub host: String,
    /// Database name, if the dump is of a single database.
    #[serde(default)]
    pub database: Option<String>,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A restic-style calendar duration such as `2d12h` or `1y6m`.
///
/// Each field is a count of its unit. Years, months, weeks and days are calendar units (applied
/// in civil time, so `1m` back from March 31 is February 29 or 28); hours are exact hours.
/// Equality is field-wise: `1w` and `7d` are not equal, though they behave the same.
/// Serialized as its string form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CalendarDuration {
    /// Calendar years (`y`).
    pub years: u32,
    /// Calendar months (`m`; note: months, not minutes).
    pub months: u32,
    /// Weeks of 7 calendar days (`w`).
    pub weeks: u32,
    /// Calendar days (`d`).
    pub days: u32,
    /// Exact hours (`h`).
    pub hours: u32,
}

impl CalendarDuration {
    /// True if every field is zero.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// The negated duration as a jiff [`Span`], or `None` if it exceeds jiff's range.
    fn negated_span(self) -> Option<Span> {
        Span::new()
            .try_years(-i64::from(self.years))
            .and_then(|s| s.try_months(-i64::from(self.months)))
            .and_then(|s| s.try_weeks(-i64::from(self.weeks)))
            .and_then(|s| s.try_days(-i64::from(self.days)))
            .and_then(|s| s.try_hours(-i64::from(self.hours)))
            .ok()
    }
}

impl fmt::Display for CalendarDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0h");
        }
        let (y, m, w, d, h) = (self.years, self.months, self.weeks, self.days, self.hours);
        for (n, unit) in [(y, 'y'), (m, 'm'), (w, 'w'), (d, 'd'), (h, 'h')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for CalendarDuration {
    type Err = RetentionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s)
    }
}

impl Serialize for CalendarDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_duration(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Parses a restic-style duration: one or more `<number><unit>` pairs, units `y` (years),
/// `m` (months, not minutes), `w` (weeks), `d` (days), `h` (hours), each unit at most once,
/// e.g. `2d12h`, `1y6m`, `36h`, `1w`. Surrounding whitespace is ignored; empty input, signs,
/// a number without unit and unknown units are errors naming the input.
pub fn parse_duration(input: &str) -> Result<CalendarDuration, RetentionError> {
    let err = |reason: String| RetentionError::InvalidDuration {
        input: input.to_string(),
        reason,
    };
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(err("it is empty".into()));
    }
    let mut d = CalendarDuration::default();
    let mut seen = String::new();
    while let Some(first) = rest.chars().next() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(err(match first {
                '-' => "negative durations are not allowed".into(),
                _ => format!("expected a number before {first:?}"),
            }));
        }
        let (num, tail) = rest.split_at(digits);
        let value: u32 = num
            .parse()
            .map_err(|_| err(format!("number {num} is too large")))?;
        let mut chars = tail.chars();
        let unit = chars
            .next()
            .ok_or_else(|| err(format!("number {num} has no unit")))?;
        let slot = match unit {
            'y' => &mut d.years,
            'm' => &mut d.months,
            'w' => &mut d.weeks,
            'd' => &mut d.days,
            'h' => &mut d.hours,
            'M' | 's' => {
                return Err(err(format!(
                    "unknown unit {unit:?} (minutes and seconds are not supported; 'm' is months)"
                )))
            }
            _ => return Err(err(format!("unknown unit {unit:?}"))),
        };
        if seen.contains(unit) {
            return Err(err(format!("unit {unit:?} appears more than once")));
        }
        seen.push(unit);
        *slot = value;
        rest = chars.as_str();
    }
    Ok(d)
}

/// A retention policy, as given to `dumpvault forget`. `None` / empty means "rule not set".
///
/// Counts are numbers of snapshots (`keep_last`) or of calendar buckets (the others) and must
/// be positive. Durations are measured back from the newest snapshot of each group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Keep the N newest snapshots.
    pub keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours that have snapshots.
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest civil days that have snapshots.
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest ISO weeks that have snapshots.
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months that have snapshots.
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years that have snapshots.
    pub keep_yearly: Option<u32>,
    /// Keep all snapshots newer than (newest snapshot − D).
    pub keep_within: Option<CalendarDuration>,
    /// Keep the newest snapshot of every hour, among snapshots newer than (newest − D).
    pub keep_within_hourly: Option<CalendarDuration>,
    /// Keep the newest snapshot of every day, among snapshots newer than (newest − D).
    pub keep_within_daily: Option<CalendarDuration>,
    /// Keep the newest snapshot of every ISO week, among snapshots newer than (newest − D).
    pub keep_within_weekly: Option<CalendarDuration>,
    /// Keep the newest snapshot of every month, among snapshots newer than (newest − D).
    pub keep_within_monthly: Option<CalendarDuration>,
    /// Keep the newest snapshot of every year, among snapshots newer than (newest − D).
    pub keep_within_yearly: Option<CalendarDuration>,
    /// Keep snapshots having a tag listed here; an entry `a,b` requires all of `a` and `b`.
    pub keep_tags: Vec<String>,
}

impl Policy {
    /// True if no rule is set (applying it keeps everything).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Rejects counts of 0, zero durations and empty tags. An empty policy is valid.
    pub fn validate(&self) -> Result<(), RetentionError> {
        let counts = [
            ("keep-last", self.keep_last),
            ("keep-hourly", self.keep_hourly),
            ("keep-daily", self.keep_daily),
            ("keep-weekly", self.keep_weekly),
            ("keep-monthly", self.keep_monthly),
            ("keep-yearly", self.keep_yearly),
        ];
        if let Some((rule, _)) = counts.into_iter().find(|(_, n)| *n == Some(0)) {
            return Err(RetentionError::ZeroCount(rule));
        }
        let durations = [
            ("keep-within", self.keep_within),
            ("keep-within-hourly", self.keep_within_hourly),
            ("keep-within-daily", self.keep_within_daily),
            ("keep-within-weekly", self.keep_within_weekly),
            ("keep-within-monthly", self.keep_within_monthly),
            ("keep-within-yearly", self.keep_within_yearly),
        ];
        let zero = |d: &Option<CalendarDuration>| d.is_some_and(|d| d.is_zero());
        if let Some((rule, _)) = durations.into_iter().find(|(_, d)| zero(d)) {
            return Err(RetentionError::ZeroDuration(rule));
        }
        if (self.keep_tags.iter()).any(|t| t.split(',').all(|t| t.trim().is_empty())) {
            return Err(RetentionError::EmptyTag);
        }
        Ok(())
    }
}

/// The tag that protects a snapshot from every retention policy (borgmatic-style): a snapshot
/// carrying it (also inside a comma-joined tag such as `keep,ticket=DBA-42`) is always kept,
/// and does not take a place in any rule (`keep-last`, buckets) of its group.
pub const KEEP_TAG: &str = "keep";

/// True when `tags` hold [`KEEP_TAG`], as a tag or as one part of a comma-joined tag.
pub fn is_protected(tags: &[String]) -> bool {
    (tags.iter()).any(|t| t.split(',').any(|part| part.trim() == KEEP_TAG))
}

/// Why a snapshot is kept. Bucket rules carry the bucket's label (`2026-12-05`, `2026-W49`,
/// `2026-12`, `2026`, or `2026-12-05 14:00+01:00` for hours, with the UTC offset in force).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The policy is empty, so everything is kept.
    EmptyPolicy,
    /// Among the `keep-last` newest: its place, 1 being the newest.
    Last(u32),
    /// Newest of its hour bucket, within the `keep-hourly` count.
    Hourly(String),
    /// Newest of its day bucket, within the `keep-daily` count.
    Daily(String),
    /// Newest of its ISO week bucket, within the `keep-weekly` count.
    Weekly(String),
    /// Newest of its month bucket, within the `keep-monthly` count.
    Monthly(String),
    /// Newest of its year bucket, within the `keep-yearly` count.
    Yearly(String),
    /// Within the given duration of the newest snapshot.
    Within(CalendarDuration),
    /// Newest of its hour, within the given duration of the newest snapshot.
    WithinHourly(CalendarDuration, String),
    /// Newest of its day, within the given duration of the newest snapshot.
    WithinDaily(CalendarDuration, String),
    /// Newest of its ISO week, within the given duration of the newest snapshot.
    WithinWeekly(CalendarDuration, String),
    /// Newest of its month, within the given duration of the newest snapshot.
    WithinMonthly(CalendarDuration, String),
    /// Newest of its year, within the given duration of the newest snapshot.
    WithinYearly(CalendarDuration, String),
    /// Carries the tag(s) of this `keep-tag` entry (as given, possibly `a,b`).
    Tag(String),
    /// Carries the [`KEEP_TAG`]: no policy forgets it.
    Protected,
}

impl fmt::Display for Reason {
    /// E.g. `last 1`, `daily 2026-12-05`, `daily 2026-12-05 within 3d`, `tag keep`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::EmptyPolicy => f.write_str("policy is empty"),
            Reason::Last(n) => write!(f, "last {n}"),
            Reason::Hourly(b) => write!(f, "hourly {b}"),
            Reason::Daily(b) => write!(f, "daily {b}"),
            Reason::Weekly(b) => write!(f, "weekly {b}"),
            Reason::Monthly(b) => write!(f, "monthly {b}"),
            Reason::Yearly(b) => write!(f, "yearly {b}"),
            Reason::Within(d) => write!(f, "within {d}"),
            Reason::WithinHourly(d, b) => write!(f, "hourly {b} within {d}"),
            Reason::WithinDaily(d, b) => write!(f, "daily {b} within {d}"),
            Reason::WithinWeekly(d, b) => write!(f, "weekly {b} within {d}"),
            Reason::WithinMonthly(d, b) => write!(f, "monthly {b} within {d}"),
            Reason::WithinYearly(d, b) => write!(f, "yearly {b} within {d}"),
            Reason::Tag(t) => write!(f, "tag {t}"),
            Reason::Protected => write!(f, "tag {KEEP_TAG}"),
        }
    }
}

/// The verdict for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Index of the snapshot in the slice given to [`apply`] (or the full slice for
    /// [`apply_to_group`]).
    pub index: usize,
    /// True to keep, false to forget. Always equal to `!reasons.is_empty()`.
    pub keep: bool,
    /// Every rule that keeps this snapshot (empty if it is to be forgotten).
    pub reasons: Vec<Reason>,
}

/// Which snapshot fields split snapshots into independent retention groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBy {
    /// Group by host name.
    pub host: bool,
    /// Group by database (its identity: engine, server or file, and name, see
    /// [`crate::format::snapshot::Manifest::identity`]; snapshots without one form their own
    /// group).
    pub database: bool,
    /// Group by the (sorted, deduplicated) set of tags.
    pub tags: bool,
}

impl Default for GroupBy {
    /// Host and database.
    fn default() -> Self {
        GroupBy {
            host: true,
            database: true,
            tags: false,
        }
    }
}

impl GroupBy {
    /// Parses a comma-separated subset of `host`, `database`, `tags` (order and repeats are
    /// irrelevant, whitespace around words ignored). `""` means no grouping: one group.
    pub fn parse(input: &str) -> Result<GroupBy, RetentionError> {
        let (mut host, mut database, mut tags) = (false, false, false);
        for word in input.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "host" => host = true,
                "database" => database = true,
                "tags" => tags = true,
                _ => {
                    return Err(RetentionError::InvalidGroupBy {
                        input: input.to_string(),
                        word: word.to_string(),
                    })
                }
            }
        }
        Ok(GroupBy {
            host,
            database,
            tags,
        })
    }
}

/// Identifies a retention group. Fields not grouped by are `None`; when grouping by database,
/// `database` is `Some(None)` for snapshots without a database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    /// Host name, if grouping by host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Database name (itself optional), if grouping by database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<Option<String>>,
    /// Sorted, deduplicated tags, if grouping by tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

impl GroupKey {
    fn of(s: &SnapshotMeta, by: GroupBy) -> GroupKey {
        GroupKey {
            host: by.host.then(|| s.host.clone()),
            database: by.database.then(|| s.database.clone()),
            tags: by.tags.then(|| {
                let mut t = s.tags.clone();
                t.sort();
                t.dedup();
                t
            }),
        }
    }
}

impl fmt::Display for GroupKey {
    /// E.g. `host db1, database shop, tags [a, b]`, or `all snapshots` without grouping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        parts.extend(self.host.as_ref().map(|h| format!("host {h}")));
        parts.extend(self.database.as_ref().map(|d| match d {
            Some(d) => format!("database {d}"),
            None => "no database".to_string(),
        }));
        parts.extend(
            self.tags
                .as_ref()
                .map(|t| format!("tags [{}]", t.join(", "))),
        );
        if parts.is_empty() {
            return f.write_str("all snapshots");
        }
        f.write_str(&parts.join(", "))
    }
}

/// Splits snapshots into retention groups. Returns each group's key with the indices (into
/// `snapshots`, ascending) of its members; groups are ordered by key. Empty input gives no groups.
pub fn group(snapshots: &[SnapshotMeta], by: GroupBy) -> Vec<(GroupKey, Vec<usize>)> {
    let mut map: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, s) in snapshots.iter().enumerate() {
        map.entry(GroupKey::of(s, by)).or_default().push(i);
    }
    map.into_iter().collect()
}

#[derive(Clone, Copy)]
enum Unit {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// Bucket key: (year, month-or-ISO-week, day, hour, UTC offset seconds), unused parts zero.
fn bucket(unit: Unit, dt: DateTime, offset_secs: i32) -> (i16, i8, i8, i8, i32) {
    match unit {
        Unit::Hour => (dt.year(), dt.month(), dt.day(), dt.hour(), offset_secs),
        Unit::Day => (dt.year(), dt.month(), dt.day(), 0, 0),
        Unit::Week => {
            let w = dt.date().iso_week_date();
            (w.year(), w.week(), 0, 0, 0)
        }
        Unit::Month => (dt.year(), dt.month(), 0, 0, 0),
        Unit::Year => (dt.year(), 0, 0, 0, 0),
    }
}

/// Instant after which snapshots are "within `d` of `newest`"; `None` if `d` reaches past the
/// representable range (then everything is within).
fn cutoff(newest: Timestamp, d: CalendarDuration, tz: &TimeZone) -> Option<Timestamp> {
    let span = d.negated_span()?;
    Some(
        newest
            .to_zoned(tz.clone())
            .checked_add(span)
            .ok()?
            .timestamp(),
    )
}

/// Applies `policy` to ONE group of snapshots (all of `snapshots`), with calendar buckets in
/// time zone `tz`. Returns one [`Decision`] per snapshot, ordered newest first (ties in time
/// keep input order). Does not validate the policy: call [`Policy::validate`] first.
pub fn apply(policy: &Policy, snapshots: &[SnapshotMeta], tz: &TimeZone) -> Vec<Decision> {
    decide(policy, snapshots.iter().enumerate().collect(), tz)
}

/// Like [`apply`] for the group `indices` (as returned by [`group`]) of `all`; decision
/// indices refer to `all`. Panics if an index is out of bounds.
pub fn apply_to_group(
    policy: &Policy,
    all: &[SnapshotMeta],
    indices: &[usize],
    tz: &TimeZone,
) -> Vec<Decision> {
    decide(policy, indices.iter().map(|&i| (i, &all[i])).collect(), tz)
}

/// The label of a bucket, for [`Reason`]: `2026-12-05 14:00+01:00`, `2026-12-05`,
/// `2026-W49`, `2026-12`, `2026`.
fn label(unit: Unit, dt: DateTime, offset_secs: i32) -> String {
    let (y, m, d) = (dt.year(), dt.month(), dt.day());
    match unit {
        Unit::Hour => {
            let (sign, abs) = (if offset_secs < 0 { '-' } else { '+' }, offset_secs.abs());
            let (oh, om) = (abs / 3600, abs % 3600 / 60);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:00{sign}{oh:02}:{om:02}",
                dt.hour()
            )
        }
        Unit::Day => format!("{y:04}-{m:02}-{d:02}"),
        Unit::Week => {
            let w = dt.date().iso_week_date();
            format!("{:04}-W{:02}", w.year(), w.week())
        }
        Unit::Month => format!("{y:04}-{m:02}"),
        Unit::Year => format!("{y:04}"),
    }
}

/// A reason for a bucket label.
type Labelled = fn(String) -> Reason;
/// A reason for a `keep-within-*` duration and a bucket label.
type LabelledWithin = fn(CalendarDuration, String) -> Reason;

/// A bucket rule being walked: unit, buckets still to fill (`None` = unlimited), only
/// snapshots strictly after this instant, the reason for a bucket label, buckets seen.
type BucketRule = (
    Unit,
    Option<u32>,
    Option<Timestamp>,
    Box<dyn Fn(String) -> Reason>,
    HashSet<(i16, i8, i8, i8, i32)>,
);

fn decide(policy: &Policy, mut items: Vec<(usize, &SnapshotMeta)>, tz: &TimeZone) -> Vec<Decision> {
    items.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(&b.0)));
    // Protected snapshots are kept and take no place in any rule.
    let newest = (items.iter())
        .find(|(_, s)| !is_protected(&s.tags))
        .map(|(_, s)| s.time);
    let (p, after) = (policy, |d| newest.and_then(|n| cutoff(n, d, tz)));
    use {Reason as R, Unit as U};
    let counts: [(_, _, Labelled); 5] = [
        (U::Hour, p.keep_hourly, R::Hourly),
        (U::Day, p.keep_daily, R::Daily),
        (U::Week, p.keep_weekly, R::Weekly),
        (U::Month, p.keep_monthly, R::Monthly),
        (U::Year, p.keep_yearly, R::Yearly),
    ];
    let withins: [(_, _, LabelledWithin); 5] = [
        (U::Hour, p.keep_within_hourly, R::WithinHourly),
        (U::Day, p.keep_within_daily, R::WithinDaily),
        (U::Week, p.keep_within_weekly, R::WithinWeekly),
        (U::Month, p.keep_within_monthly, R::WithinMonthly),
        (U::Year, p.keep_within_yearly, R::WithinYearly),
    ];
    let mut rules: Vec<BucketRule> = Vec::new();
    for (unit, n, reason) in counts {
        let make: Box<dyn Fn(String) -> Reason> = Box::new(reason);
        rules.extend(n.map(|n| (unit, Some(n), None, make, HashSet::new())));
    }
    for (unit, d, reason) in withins {
        if let Some(d) = d {
            let make: Box<dyn Fn(String) -> Reason> = Box::new(move |b| reason(d, b));
            rules.push((unit, None, after(d), make, HashSet::new()));
        }
    }
    let within = policy.keep_within.map(|d| (d, after(d)));

    let mut out = Vec::with_capacity(items.len());
    let mut pos = 0u32; // place among the unprotected snapshots, newest first
    for &(index, snap) in &items {
        let mut reasons = Vec::new();
        if is_protected(&snap.tags) {
            reasons.push(Reason::Protected);
        } else if policy.is_empty() {
            reasons.push(Reason::EmptyPolicy);
        } else {
            pos += 1;
            if policy.keep_last.is_some_and(|n| pos <= n) {
                reasons.push(Reason::Last(pos));
            }
            let dt = tz.to_datetime(snap.time);
            let offset = tz.to_offset(snap.time).seconds();
            for (unit, remaining, after, make, seen) in &mut rules {
                if *remaining == Some(0) || after.is_some_and(|c| snap.time <= c) {
                    continue;
                }
                if seen.insert(bucket(*unit, dt, offset)) {
                    *remaining = remaining.map(|r| r - 1);
                    reasons.push(make(label(*unit, dt, offset)));
                }
            }
            if let Some((d, after)) = within {
                if after.is_none_or(|c| snap.time > c) {
                    reasons.push(Reason::Within(d));
                }
            }
            for entry in &policy.keep_tags {
                let mut wanted = entry.split(',').map(str::trim).filter(|t| !t.is_empty());
                if wanted.all(|t| snap.tags.iter().any(|have| have == t)) {
                    reasons.push(Reason::Tag(entry.clone()));
                }
            }
        }
        out.push(Decision {
            index,
            keep: !reasons.is_empty(),
            reasons,
        });
    }
    out
}

#[cfg(test)]
mod tests {
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
            (p.keep_within_daily, p.keep_within_weekly) =
                (policy.keep_within_daily, Some(dur("1w")))
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
        let key = GroupKey::of(&s, GroupBy::default());
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
}
