//! The two shapes of history the scale bench grows: a `fleet` (many databases, each with
//! about the 100 snapshots the fleet's keep policy leaves) and `deep` (20 databases whose
//! histories grow with the repository).

use anyhow::{bail, Result};

/// Snapshots of one database of the fleet: what the keep policy (48 hourly, 30 daily,
/// 12 weekly, 12 monthly) leaves of a year of hourly snapshots, less two months.
pub(super) const FLEET_HISTORY: usize = 100;
/// Databases of the `deep` shape, and of each host.
const DEEP_DATABASES: usize = 20;
const DEEP_PER_HOST: usize = 5;
/// Databases of each host in the `fleet` shape.
const FLEET_PER_HOST: usize = 10;

/// How the history is spread over databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `level / 100` databases with about 100 snapshots each (the fleet: 200 databases
    /// hold 20 000): a command about one database faces the same history at every level.
    Fleet,
    /// 20 databases (4 hosts × 5) whose histories grow with the level (2 500 snapshots each
    /// at 50 000): hourly snapshots kept for years, or a prune that never ran.
    Deep,
}

impl Shape {
    /// Both shapes, in the order a default run measures them.
    pub(super) const ALL: [Shape; 2] = [Shape::Fleet, Shape::Deep];

    /// The option's value: `fleet`, `deep`, or `both` (every shape).
    ///
    /// Errors: any other value.
    pub(super) fn parse_list(s: &str) -> Result<Vec<Shape>> {
        Ok(match s {
            "fleet" => vec![Shape::Fleet],
            "deep" => vec![Shape::Deep],
            "both" => Shape::ALL.to_vec(),
            _ => bail!("--shape {s:?}: expected fleet, deep or both"),
        })
    }

    /// Its name, as `--shape` takes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Shape::Fleet => "fleet",
            Shape::Deep => "deep",
        }
    }

    /// Databases in a repository of `level` snapshots.
    pub(super) fn databases(self, level: usize) -> usize {
        match self {
            Shape::Fleet => (level / FLEET_HISTORY).max(1),
            Shape::Deep => DEEP_DATABASES,
        }
    }

    fn per_host(self) -> usize {
        match self {
            Shape::Fleet => FLEET_PER_HOST,
            Shape::Deep => DEEP_PER_HOST,
        }
    }

    /// Host of database `g`.
    pub(super) fn host(self, g: usize) -> String {
        format!("host{}", g / self.per_host())
    }

    /// File name of database `g` (the name `--database` takes for an SQLite database).
    pub(super) fn file_name(self, g: usize) -> String {
        format!("{}-db{}.db", self.host(g), g % self.per_host())
    }

    /// Tags of database `g`'s snapshots.
    pub(super) fn tags(self, g: usize) -> Vec<String> {
        vec!["fleet".into(), format!("job={}", self.host(g))]
    }
}

/// Hours before the newest snapshot of each snapshot of a fleet database's history, oldest
/// first: the newest of each of the 48 newest hours, then of 30 days, 12 weeks and 10 months
/// before those ([`FLEET_HISTORY`] in all), as the keep policy leaves them.
pub(super) fn fleet_history() -> Vec<u64> {
    let hourly = 0..48u64;
    let daily = (2..32u64).map(|d| d * 24);
    let weekly = (5..17u64).map(|w| w * 168);
    let monthly = (4..14u64).map(|m| m * 730);
    let mut back: Vec<u64> = hourly.chain(daily).chain(weekly).chain(monthly).collect();
    back.sort_unstable_by(|a, b| b.cmp(a));
    back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_database_keeps_100_distinct_snapshots_oldest_first() {
        let h = fleet_history();
        assert_eq!(h.len(), FLEET_HISTORY);
        assert!(h.windows(2).all(|w| w[0] > w[1]), "{h:?}");
        assert_eq!(h.last(), Some(&0));
    }

    #[test]
    fn databases_grow_with_the_level_only_in_the_fleet() {
        assert_eq!(Shape::Fleet.databases(100), 1);
        assert_eq!(Shape::Fleet.databases(50_000), 500);
        assert_eq!(Shape::Deep.databases(50_000), 20);
        assert_eq!(Shape::Fleet.file_name(0), "host0-db0.db");
        assert_eq!(Shape::Fleet.file_name(23), "host2-db3.db");
        assert_eq!(Shape::Deep.file_name(7), "host1-db2.db");
    }
}
