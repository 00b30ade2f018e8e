//! Progress reporting: the library reports bytes done; the command line draws bars.

/// Receives progress from long operations. Implementations must be cheap: `inc` is called per chunk.
pub trait Progress: Sync {
    /// Sets the total in bytes, when known.
    fn set_total(&self, _bytes: u64) {}
    /// Adds `bytes` done.
    fn inc(&self, _bytes: u64) {}
    /// The operation ended.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
