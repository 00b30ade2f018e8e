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
//! * A snapshot tagged [`INCOMPLETE_TAG`] (`incomplete`: a cut-short dump stored with
//!   `--allow-incomplete`) takes no place in `keep-last` or any bucket rule (`keep-daily`,
//!   `keep-within-daily`, ...), so it never displaces a complete snapshot; `keep-within`
//!   (measured from the group's newest complete snapshot) and `keep-tag` still keep it, and
//!   so does being newer than every complete snapshot of its group ([`Reason::IncompleteNewest`]:
//!   the newest evidence of a failing dump is not thrown away before a complete one replaces it).
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

/// The tag of a snapshot whose dump was cut short (stored with `--allow-incomplete`; the
/// snapshot command adds it, see `commands::snapshot`).
pub const INCOMPLETE_TAG: &str = "incomplete";

/// True when `tags` hold [`INCOMPLETE_TAG`], as a tag or as one part of a comma-joined tag.
pub fn is_incomplete(tags: &[String]) -> bool {
    (tags.iter()).any(|t| t.split(',').any(|part| part.trim() == INCOMPLETE_TAG))
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
    /// Tagged [`INCOMPLETE_TAG`] and newer than every complete snapshot of its group: kept
    /// until a complete snapshot follows it.
    IncompleteNewest,
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
            Reason::IncompleteNewest => f.write_str("incomplete, newer than every complete one"),
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
    // Keys borrowed from the snapshots (ordered as the owned keys are: the same fields in
    // the same order, `str` ordered as `String`), so only each group's key is copied.
    type Borrowed<'a> = (
        Option<&'a str>,
        Option<Option<&'a str>>,
        Option<Vec<&'a str>>,
    );
    fn key(s: &SnapshotMeta, by: GroupBy) -> Borrowed<'_> {
        (
            by.host.then_some(s.host.as_str()),
            by.database.then_some(s.database.as_deref()),
            by.tags.then(|| {
                let mut t: Vec<&str> = s.tags.iter().map(String::as_str).collect();
                t.sort_unstable();
                t.dedup();
                t
            }),
        )
    }
    let mut map: BTreeMap<Borrowed<'_>, Vec<usize>> = BTreeMap::new();
    for (i, s) in snapshots.iter().enumerate() {
        map.entry(key(s, by)).or_default().push(i);
    }
    (map.into_iter())
        .map(|((host, database, tags), members)| {
            let key = GroupKey {
                host: host.map(str::to_string),
                database: database.map(|d| d.map(str::to_string)),
                tags: tags.map(|t| t.into_iter().map(str::to_string).collect()),
            };
            (key, members)
        })
        .collect()
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
    // Protected snapshots are kept and take no place in any rule; incomplete ones take no
    // place in the count and bucket rules, and durations are measured from the newest
    // complete snapshot (the newest incomplete one when the group has none).
    let unprotected = || (items.iter()).filter(|(_, s)| !is_protected(&s.tags));
    let newest_complete = unprotected()
        .find(|(_, s)| !is_incomplete(&s.tags))
        .map(|(_, s)| s.time);
    let newest = newest_complete.or_else(|| unprotected().next().map(|(_, s)| s.time));
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
        } else if is_incomplete(&snap.tags) {
            if newest_complete.is_none_or(|c| snap.time > c) {
                reasons.push(Reason::IncompleteNewest);
            }
            if let Some((d, after)) = within {
                if after.is_none_or(|c| snap.time > c) {
                    reasons.push(Reason::Within(d));
                }
            }
            reasons.extend(tag_reasons(policy, snap));
        } else {
            pos += 1;
            if policy.keep_last.is_some_and(|n| pos <= n) {
                reasons.push(Reason::Last(pos));
            }
            // One time zone lookup: the offset in force, then the civil time in it.
            let offset = tz.to_offset(snap.time);
            let dt = offset.to_datetime(snap.time);
            let offset = offset.seconds();
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
            reasons.extend(tag_reasons(policy, snap));
        }
        out.push(Decision {
            index,
            keep: !reasons.is_empty(),
            reasons,
        });
    }
    out
}

/// The `keep-tag` reasons keeping `snap`: one per entry of [`Policy::keep_tags`] whose tags
/// it all carries.
fn tag_reasons(policy: &Policy, snap: &SnapshotMeta) -> Vec<Reason> {
    (policy.keep_tags.iter())
        .filter(|entry| {
            let mut wanted = entry.split(',').map(str::trim).filter(|t| !t.is_empty());
            wanted.all(|t| snap.tags.iter().any(|have| have == t))
        })
        .map(|entry| Reason::Tag(entry.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
