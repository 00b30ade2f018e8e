//! Process-wide bandwidth limits (`--limit-upload`, `--limit-download`): every backend of the
//! process shares one budget per direction, so a copy that reads one repository and writes
//! another obeys both limits at once.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bandwidth limits in KiB/s; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes per second written to storage, in KiB/s.
    pub upload_kib: Option<u64>,
    /// Most bytes per second read from storage, in KiB/s.
    pub download_kib: Option<u64>,
}

/// Paces transfers to a rate: each transfer books the time it takes at the rate after the
/// previous booking, and waits until its booking ends.
struct Pacer {
    bytes_per_sec: f64,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(kib: u64) -> Self {
        Pacer {
            bytes_per_sec: kib.max(1) as f64 * 1024.0,
            next: Mutex::new(Instant::now()),
        }
    }

    fn pace(&self, bytes: u64) {
        let now = Instant::now();
        let end = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let start = (*next).max(now);
            let end = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec);
            *next = end;
            end
        };
        if end > now {
            std::thread::sleep(end - now);
        }
    }
}

static PACERS: OnceLock<(Option<Pacer>, Option<Pacer>)> = OnceLock::new();

/// Sets the process's limits. Call once, before the first transfer; later calls are ignored
/// (returns `false` then).
pub fn set_limits(limits: Limits) -> bool {
    PACERS
        .set((
            limits.upload_kib.map(Pacer::new),
            limits.download_kib.map(Pacer::new),
        ))
        .is_ok()
}

/// Waits, before writing `bytes`, until the upload budget allows it.
pub(super) fn uploading(bytes: u64) {
    if let Some((Some(p), _)) = PACERS.get() {
        p.pace(bytes);
    }
}

/// Waits, after reading `bytes`, until the download budget allows it.
pub(super) fn downloaded(bytes: u64) {
    if let Some((_, Some(p))) = PACERS.get() {
        p.pace(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_holds_the_rate() {
        let p = Pacer::new(1024); // 1 MiB/s
        let t = Instant::now();
        for _ in 0..4 {
            p.pace(64 * 1024);
        }
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(240), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
