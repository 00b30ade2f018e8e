//! Which packs `check --read-data-subset` reads: the n-th of m deterministic slices (so m runs
//! with n = 1..m cover every pack), a random percentage of the packs, or random packs up to a
//! byte budget.

use crate::error::{Error, Result};
use crate::id::Id;
use rand::seq::SliceRandom;
use std::fmt;
use std::str::FromStr;

/// A selection of packs to read in full.
#[derive(Debug, Clone, PartialEq)]
pub enum Subset {
    /// Every pack.
    All,
    /// Slice `n` of `m` (1-based): the packs whose id's first four bytes, read as a
    /// little-endian u32, are `n - 1` modulo `m`. Stable while packs are added, so `1/7` to
    /// `7/7` on seven days read every pack once.
    Slice {
        /// Which slice, 1..=m.
        n: u32,
        /// Number of slices, at least 1.
        m: u32,
    },
    /// A random share of the packs, in percent (0 < p <= 100); rounded up to whole packs.
    Percent(f64),
    /// Random packs until their sizes add up to at least this many bytes (at least one pack).
    Bytes(u64),
}

impl Subset {
    /// The packs of `packs` (id, size in bytes) this subset selects, sorted by id.
    pub fn select(&self, packs: &[(Id, u64)]) -> Vec<(Id, u64)> {
        let mut out: Vec<(Id, u64)> = match *self {
            Subset::All => packs.to_vec(),
            Subset::Slice { n, m } => packs
                .iter()
                .filter(|(id, _)| slice_of(id, m) == n - 1)
                .copied()
                .collect(),
            Subset::Percent(p) => {
                let want = ((packs.len() as f64) * p / 100.0).ceil() as usize;
                let mut all = packs.to_vec();
                all.shuffle(&mut rand::thread_rng());
                all.truncate(want.min(packs.len()));
                all
            }
            Subset::Bytes(budget) => {
                let mut all = packs.to_vec();
                all.shuffle(&mut rand::thread_rng());
                let mut total = 0u64;
                let mut taken = Vec::new();
                for p in all {
                    if total >= budget && !taken.is_empty() {
                        break;
                    }
                    total += p.1;
                    taken.push(p);
                }
                taken
            }
        };
        out.sort();
        out
    }
}

/// The 0-based slice of `m` that pack `id` belongs to.
fn slice_of(id: &Id, m: u32) -> u32 {
    u32::from_le_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]) % m
}

impl fmt::Display for Subset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subset::All => f.write_str("all"),
            Subset::Slice { n, m } => write!(f, "{n}/{m}"),
            Subset::Percent(p) => write!(f, "{p}%"),
            Subset::Bytes(b) => write!(f, "{b} bytes"),
        }
    }
}

impl FromStr for Subset {
    type Err = Error;

    /// Parses `n/m`, `P%` or a size such as `2GiB`, `500M`, `1048576` (K, M, G, T are binary
    /// units, with or without `iB`/`B`).
    ///
    /// Errors: [`Error::Invalid`] naming the text and the accepted forms.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "--read-data-subset {s:?}: {why}; give n/m (e.g. 1/7), a percentage (10%) or a size (2GiB)"
            ))
        };
        let t = s.trim();
        if let Some((n, m)) = t.split_once('/') {
            let n: u32 = n.trim().parse().map_err(|_| bad("n is not a number"))?;
            let m: u32 = m.trim().parse().map_err(|_| bad("m is not a number"))?;
            if m == 0 || n == 0 || n > m {
                return Err(bad("need 1 <= n <= m"));
            }
            return Ok(Subset::Slice { n, m });
        }
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad("not a percentage"))?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad("the percentage must be above 0 and at most 100"));
            }
            return Ok(Subset::Percent(p));
        }
        let bytes = crate::units::parse_size(t).map_err(|e| bad(&e))?;
        if bytes == 0 {
            return Err(bad("the size must be above 0"));
        }
        Ok(Subset::Bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: usize) -> Vec<(Id, u64)> {
        (0..n as u32)
            .map(|i| (Id::hash(&i.to_le_bytes()), 1000))
            .collect()
    }

    #[test]
    fn parses_the_three_forms_and_rejects_nonsense() {
        assert_eq!(
            "1/7".parse::<Subset>().unwrap(),
            Subset::Slice { n: 1, m: 7 }
        );
        assert_eq!("10%".parse::<Subset>().unwrap(), Subset::Percent(10.0));
        assert_eq!("2GiB".parse::<Subset>().unwrap(), Subset::Bytes(2 << 30));
        assert_eq!("500M".parse::<Subset>().unwrap(), Subset::Bytes(500 << 20));
        assert_eq!("4096".parse::<Subset>().unwrap(), Subset::Bytes(4096));
        for bad in ["0/7", "8/7", "1/0", "0%", "101%", "x", "5 parsecs", "0", ""] {
            let e = bad.parse::<Subset>().unwrap_err().to_string();
            assert!(e.contains("--read-data-subset"), "{bad}: {e}");
        }
    }

    #[test]
    fn slices_partition_the_packs() {
        let all = packs(200);
        let mut seen = Vec::new();
        for n in 1..=7 {
            let s = Subset::Slice { n, m: 7 }.select(&all);
            assert!(!s.is_empty());
            assert_eq!(s, Subset::Slice { n, m: 7 }.select(&all), "deterministic");
            seen.extend(s);
        }
        seen.sort();
        let mut want = all.clone();
        want.sort();
        assert_eq!(seen, want);
    }

    #[test]
    fn percent_and_bytes_pick_enough() {
        let all = packs(200);
        assert_eq!(Subset::Percent(10.0).select(&all).len(), 20);
        assert_eq!(Subset::Percent(0.1).select(&all).len(), 1);
        assert_eq!(Subset::Bytes(5500).select(&all).len(), 6);
        assert_eq!(Subset::Bytes(1).select(&all).len(), 1);
        assert_eq!(Subset::Bytes(1 << 40).select(&all).len(), 200);
        assert!(Subset::Percent(50.0).select(&[]).is_empty());
    }
}
