//! Shared by the Rust API's integration tests: cases serialized on one lock, each
//! checking that `tapir_debug_live_objects(0)` comes back to its start value.

#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use tapir::ffi::debug::tapir_debug_live_objects;

static LOCK: Mutex<()> = Mutex::new(());

/// One test case: holds the lock for its whole run (the live count is process-wide)
/// and remembers the live count at the start.
pub struct Case {
    _guard: MutexGuard<'static, ()>,
    start: usize,
}

pub fn live() -> usize {
    tapir_debug_live_objects(0)
}

/// Starts a case. The permanent singletons are created once first, so no case is
/// charged for them.
pub fn case() -> Case {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static WARM: Once = Once::new();
    WARM.call_once(|| {
        drop(tapir::Scheduler::pool());
        drop(tapir::Scheduler::inline());
        drop(tapir::Task::completed());
        drop(tapir::CancellationToken::none());
    });
    Case {
        _guard: guard,
        start: live(),
    }
}

impl Case {
    /// Ends a case: the live count must come back to its start value. Pool threads drop
    /// their references just after the waiters wake, so it is polled; the bound is
    /// generous (only a leak exceeds it).
    #[track_caller]
    pub fn end(self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = live();
            if now == self.start {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "leak: {} live objects at the start, {} at the end (by kind: {:?})",
                self.start,
                now,
                (1..=6)
                    .map(|k| tapir_debug_live_objects(k))
                    .collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Polls `cond` until it holds; a generous bound only a hang exceeds.
#[track_caller]
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Counts drops of a value (to prove a boxed value is destroyed exactly once).
#[derive(Clone, Debug)]
pub struct Counted {
    pub id: u32,
    pub drops: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Counted {
    pub fn new(id: u32) -> (Counted, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (
            Counted {
                id,
                drops: drops.clone(),
            },
            drops,
        )
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// A waker that counts its wakes.
pub struct CountingWaker(pub std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub fn counting_waker() -> (std::task::Waker, std::sync::Arc<CountingWaker>) {
    let c = std::sync::Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    (std::task::Waker::from(c.clone()), c)
}

/// Continuations waiting on a task (the diagnostic the C API has).
pub fn continuations<T>(t: &tapir::Task<T>) -> usize {
    tapir::ffi::debug::tapir_debug_task_continuations(t.as_raw())
}
