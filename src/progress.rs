//! Progress reporting: the library reports bytes done, the phase of the work and the item (the
//! table) being worked on; the command line draws bars or prints JSON status lines.

/// Receives progress from long operations. Implementations must be cheap: `inc` is called per
/// chunk, `set_item` at most once per chunk, and the same value may come again.
pub trait Progress: Sync {
    /// Sets the total in bytes, when known.
    fn set_total(&self, _bytes: u64) {}
    /// Adds `bytes` to the expected total: an estimate of one more part of the work (e.g. the
    /// logical size of the previous snapshot of the same database, for an ETA).
    fn add_total(&self, _bytes: u64) {}
    /// Adds `bytes` done.
    fn inc(&self, _bytes: u64) {}
    /// What is being done now, a few words: `dumping`, `checking row counts`.
    fn set_phase(&self, _phase: &str) {}
    /// The item being worked on now, e.g. the table being dumped (`shop: public.orders`).
    fn set_item(&self, _item: &str) {}
    /// Work on `item` started beside other items (e.g. the parts of a parallel restore loading
    /// at once): it is shown with them, as the item, until [`Progress::end_item`].
    fn start_item(&self, _item: &str) {}
    /// Work on `item` (as given to [`Progress::start_item`]) ended.
    fn end_item(&self, _item: &str) {}
    /// The operation's byte work ended (a caller may still show a last phase until it prints).
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Hands out one [`Progress`] per piece of work that runs beside others (a database of a
/// multi-database snapshot or of a fleet run), so that each is shown on its own (its own bar
/// line, or status lines naming it) and no figure of one is shown under another's name.
pub trait Progresses: Sync {
    /// Progress for the work on `label` (e.g. `nightly: shop`); shown until it is dropped.
    fn start(&self, label: &str) -> Box<dyn Progress + '_>;
}

/// Hands out [`NoProgress`].
pub struct NoProgresses;

impl Progresses for NoProgresses {
    fn start(&self, _label: &str) -> Box<dyn Progress + '_> {
        Box::new(NoProgress)
    }
}
