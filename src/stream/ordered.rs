//! An ordered worker pool: a producer makes numbered jobs, a pool of threads runs them, and the
//! caller's thread receives their results in the order the jobs were made. Restore uses it to
//! decode a stream's chunks on all cores while writing and hashing them in stream order.
//!
//! Owns: the job window (memory bound), the reordering of results, and stopping the producer
//! and the workers when the consumer fails. Must not know what jobs are.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

/// Puts items numbered 0, 1, 2, … that arrive in any order back in order.
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    held: BTreeMap<u64, T>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            next: 0,
            held: BTreeMap::new(),
        }
    }
}

impl<T> Reorder<T> {
    /// An empty reorderer expecting item 0 first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds item number `seq` (each number once; a number already handed out is ignored).
    pub fn push(&mut self, seq: u64, item: T) {
        if seq >= self.next {
            self.held.insert(seq, item);
        }
    }

    /// The next item in order, if it has arrived.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.held.remove(&self.next)?;
        self.next += 1;
        Some(item)
    }

    /// Items arrived but not yet handed out (waiting for an earlier one).
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

/// Runs jobs on `workers` threads (at least 1) and hands their results to `sink` in the order
/// `produce` made them, on the calling thread.
///
/// `produce` runs on its own thread and makes jobs by calling `emit`, which blocks while
/// `window` jobs (at least 1) are made and their results not yet taken by `sink` (so at most
/// `window` jobs and results are held at once), and returns `false` once the consumer has
/// stopped: `produce` should then return. Its return value is returned when every result was
/// taken.
///
/// Errors: the first error `sink` returns; results after it are dropped unseen and the
/// producer and workers stop (a producer in `emit` is released). A panic in `produce` or
/// `work` is propagated.
pub fn run_ordered<J, R, P, E>(
    workers: usize,
    window: usize,
    produce: impl FnOnce(&mut dyn FnMut(J) -> bool) -> P + Send,
    work: impl Fn(J) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<P, E>
where
    J: Send,
    R: Send,
    P: Send,
{
    let window = window.max(1);
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(window);
    for _ in 0..window {
        token_tx.send(()).expect("the receiver is alive");
    }
    let (job_tx, job_rx) = mpsc::channel::<(u64, J)>();
    let (result_tx, result_rx) = mpsc::channel::<(u64, std::thread::Result<R>)>();
    let job_rx = Mutex::new(job_rx);
    let stop = AtomicBool::new(false);
    let (work, job_rx, stop) = (&work, &job_rx, &stop);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut seq = 0u64;
            let mut emit = |job: J| {
                if stop.load(Ordering::Relaxed) || token_rx.recv().is_err() {
                    return false;
                }
                let sent = job_tx.send((seq, job)).is_ok();
                seq += 1;
                sent && !stop.load(Ordering::Relaxed)
            };
            produce(&mut emit)
        });
        for _ in 0..workers.max(1) {
            let result_tx = result_tx.clone();
            s.spawn(move || loop {
                let next = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((seq, job)) = next else { break };
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = std::panic::catch_unwind(AssertUnwindSafe(|| work(job)));
                if result_tx.send((seq, r)).is_err() {
                    break;
                }
            });
        }
        drop(result_tx);
        let consumed = consume(result_rx, token_tx, &mut sink);
        if consumed.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let produced = match producer.join() {
            Ok(p) => p,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        consumed.map(|()| produced)
    })
}

/// Takes results in order until every worker is done or `sink` fails; dropping the channel
/// ends on return (or on a worker's panic, propagated here) releases a producer waiting for a
/// token and workers sending a result.
fn consume<R, E>(
    results: mpsc::Receiver<(u64, std::thread::Result<R>)>,
    tokens: mpsc::SyncSender<()>,
    sink: &mut impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let mut order = Reorder::new();
    for (seq, r) in results.iter() {
        order.push(seq, r);
        while let Some(r) = order.pop() {
            sink(r.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))?;
            let _ = tokens.try_send(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn reorder_hands_out_items_in_order_whatever_order_they_arrive_in() {
        let mut r = Reorder::new();
        let mut out = Vec::new();
        // 1000 items arriving in a scrambled order.
        let mut arrival: Vec<u64> = (0..1000).collect();
        let mut x = 12345u64;
        for i in (1..arrival.len()).rev() {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            arrival.swap(i, (x >> 33) as usize % (i + 1));
        }
        for seq in arrival {
            r.push(seq, seq * 10);
            while let Some(v) = r.pop() {
                out.push(v);
            }
        }
        assert_eq!(out, (0..1000).map(|s| s * 10).collect::<Vec<_>>());
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn many_small_jobs_come_out_in_order_and_the_window_bounds_what_is_held() {
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let mut out = Vec::new();
        let made = run_ordered(
            4,
            8,
            |emit| {
                let mut n = 0u32;
                while n < 5000 && {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    emit(n)
                } {
                    n += 1;
                }
                n
            },
            |j: u32| {
                // Later jobs finish sooner, so results arrive out of order.
                let spin = (5000 - j) % 97;
                (0..spin).fold(j, |a, _| std::hint::black_box(a))
            },
            |r: u32| {
                in_flight.fetch_sub(1, Ordering::SeqCst);
                out.push(r);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(made, 5000);
        assert_eq!(out, (0..5000).collect::<Vec<_>>());
        // The producer counts a job before `emit` waits for its token: one more than the window.
        assert!(most.load(Ordering::SeqCst) <= 9, "{most:?} jobs in flight");
    }

    #[test]
    fn a_failing_sink_stops_the_producer_and_returns_the_first_error_in_order() {
        let mut seen = Vec::new();
        let r = run_ordered(
            2,
            4,
            |emit| {
                let mut n = 0u32;
                while emit(n) {
                    n += 1; // endless unless stopped
                }
                n
            },
            |j: u32| if j == 7 || j == 9 { Err(j) } else { Ok(j) },
            |r: Result<u32, u32>| -> Result<(), u32> {
                let v = r?;
                seen.push(v);
                Ok(())
            },
        );
        assert_eq!(r, Err(7u32));
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }
}
