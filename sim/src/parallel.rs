//! A small order-preserving parallel map over std threads. Every simulator run is a
//! pure function of its scenario and seed, so runs may go on any thread in any order;
//! only the collected results must come back in input order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The machine's parallelism (1 when it cannot be read).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Maps `f` over `items` on up to `threads` threads, calling `on_done` once per result
/// as it completes (for progress), and returns the results in the order of `items`.
///
/// Workers take the next index from a shared counter rather than fixed chunks, so one
/// slow item does not leave the other threads idle.
pub fn map<T, R, F, D>(items: &[T], threads: usize, f: F, on_done: D) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    D: Fn(&R) + Sync,
{
    let threads = threads.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    on_done(&r);
                    slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every index was taken by a worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order_on_many_threads() {
        let items: Vec<u64> = (0..100).collect();
        let done = AtomicUsize::new(0);
        let out = map(
            &items,
            4,
            |&x| x * x,
            |_| {
                done.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(done.load(Ordering::Relaxed), 100);
    }
}
