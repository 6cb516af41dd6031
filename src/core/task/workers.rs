//! The default pool: one worker per core, work stealing (crossbeam-deque), started by
//! the first post, idle workers asleep on a condition variable.
//!
//! A worker's own posts go to its local deque, which it serves first in, first out, so
//! chains that repost themselves take turns instead of one starving the others; every
//! 61st job it takes from the shared injector first, so work posted from outside is
//! never starved by local work. Other threads post to the injector. A worker sleeps
//! only after announcing itself idle and re-checking the injector, so a post never goes
//! unnoticed.
//!
//! # Shutdown
//! `shutdown` refuses new posts (they are discarded: their task fails with
//! SCHEDULER_ERROR), waits for posts already under way, lets the workers run what is
//! queued — a job that reposts itself is refused the second time, so this ends — and
//! joins them. Afterwards the pool is stopped; the next post starts it again.

use std::cell::RefCell;
use std::iter;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering, fence};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_deque::{Injector, Stealer, Worker};
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

use super::schedule::{Running, Schedule};
use super::work::Job;

const STOPPED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;

/// How often a worker looks at the injector before its own deque.
const INJECTOR_EVERY: u32 = 61;

struct Shared {
    injector: Injector<Job>,
    idle: CachePadded<AtomicUsize>,
    /// Posts from outside the pool between their phase check and their push.
    posting: CachePadded<AtomicUsize>,
    sleep: Mutex<()>,
    wake: Condvar,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| Shared {
    injector: Injector::new(),
    idle: CachePadded::new(AtomicUsize::new(0)),
    posting: CachePadded::new(AtomicUsize::new(0)),
    sleep: Mutex::new(()),
    wake: Condvar::new(),
});

static PHASE: AtomicU8 = AtomicU8::new(STOPPED);
static THREADS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Option<Worker<Job>>> = const { RefCell::new(None) };
    static IS_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The default pool as the engine's scheduler (immortal: no reference counting).
pub(crate) struct Workers;

/// The one pool.
pub(crate) static WORKERS: Workers = Workers;

impl Schedule for Workers {
    fn post(&'static self, job: Job) {
        post(job);
    }
    fn inline_allowed(&'static self) -> bool {
        true
    }
    fn acquire(&'static self) {}
    fn release(&'static self) {}
    fn as_any(&'static self) -> &'static dyn std::any::Any {
        self
    }
}

/// The pool as a `&'static dyn Schedule`.
pub(crate) fn schedule() -> &'static dyn Schedule {
    &WORKERS
}

/// Queues a job on the pool, starting it if needed; during shutdown the job is
/// discarded.
pub(crate) fn post(job: Job) {
    if IS_WORKER.get() {
        // A worker exits only once its deque is empty, so a local push is never lost;
        // during shutdown it is refused like any other.
        if PHASE.load(Ordering::Acquire) != RUNNING {
            drop(job);
            return;
        }
        LOCAL.with_borrow(|local| local.as_ref().expect("worker deque").push(job));
        notify();
        return;
    }
    let shared = &*SHARED;
    shared.posting.fetch_add(1, Ordering::SeqCst);
    let mut phase = PHASE.load(Ordering::SeqCst);
    if phase == STOPPED {
        shared.posting.fetch_sub(1, Ordering::SeqCst);
        start();
        shared.posting.fetch_add(1, Ordering::SeqCst);
        phase = PHASE.load(Ordering::SeqCst);
    }
    if phase != RUNNING {
        shared.posting.fetch_sub(1, Ordering::SeqCst);
        drop(job);
        return;
    }
    shared.injector.push(job);
    shared.posting.fetch_sub(1, Ordering::SeqCst);
    notify();
}

fn notify() {
    let shared = &*SHARED;
    // SeqCst fence: orders the push before the `idle` load, against the worker's SeqCst
    // `idle` increment before its re-check (a Dekker pair): either the worker sees the
    // work or we see the worker idle and wake it.
    fence(Ordering::SeqCst);
    if shared.idle.load(Ordering::SeqCst) > 0 {
        let _g = shared.sleep.lock();
        shared.wake.notify_one();
    }
}

fn threads_wanted() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn start() {
    let mut threads = THREADS.lock();
    if PHASE.load(Ordering::SeqCst) != STOPPED {
        return;
    }
    let n = threads_wanted();
    let workers: Vec<Worker<Job>> = (0..n).map(|_| Worker::new_fifo()).collect();
    let stealers: std::sync::Arc<Vec<Stealer<Job>>> =
        std::sync::Arc::new(workers.iter().map(Worker::stealer).collect());
    for (i, worker) in workers.into_iter().enumerate() {
        let stealers = stealers.clone();
        let handle = std::thread::Builder::new()
            .name(format!("tapir-pool-{i}"))
            .spawn(move || worker_main(i, worker, stealers))
            .expect("tapir: cannot spawn a pool thread");
        threads.push(handle);
    }
    PHASE.store(RUNNING, Ordering::SeqCst);
}

fn find_work(me: usize, tick: u32, local: &Worker<Job>, stealers: &[Stealer<Job>]) -> Option<Job> {
    let injector = &SHARED.injector;
    if tick % INJECTOR_EVERY == 0 {
        if let Some(job) = iter::repeat_with(|| injector.steal())
            .find(|s| !s.is_retry())
            .and_then(|s| s.success())
        {
            return Some(job);
        }
    }
    local.pop().or_else(|| {
        iter::repeat_with(|| {
            injector.steal_batch_and_pop(local).or_else(|| {
                stealers
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != me)
                    .map(|(_, s)| s.steal())
                    .collect()
            })
        })
        .find(|s| !s.is_retry())
        .and_then(|s| s.success())
    })
}

fn worker_main(me: usize, worker: Worker<Job>, stealers: std::sync::Arc<Vec<Stealer<Job>>>) {
    let _running = Running::enter(schedule());
    IS_WORKER.set(true);
    LOCAL.with_borrow_mut(|l| *l = Some(worker));
    let shared = &*SHARED;
    let mut tick: u32 = 0;
    loop {
        tick = tick.wrapping_add(1);
        let next = LOCAL
            .with_borrow(|l| find_work(me, tick, l.as_ref().expect("worker deque"), &stealers));
        if let Some(job) = next {
            job.run();
            continue;
        }
        if PHASE.load(Ordering::SeqCst) == STOPPING {
            // Everything this worker can see is done; siblings finish their own.
            if shared.injector.is_empty() && shared.posting.load(Ordering::SeqCst) == 0 {
                break;
            }
            std::thread::yield_now();
            continue;
        }
        let mut guard = shared.sleep.lock();
        shared.idle.fetch_add(1, Ordering::SeqCst);
        if shared.injector.is_empty() && PHASE.load(Ordering::SeqCst) == RUNNING {
            // The timeout is a backstop against a sibling's local work nobody announced;
            // posts always notify.
            shared.wake.wait_for(&mut guard, Duration::from_millis(50));
        }
        shared.idle.fetch_sub(1, Ordering::SeqCst);
    }
    // Nothing is left in the local deque (find_work found nothing): drop it.
    LOCAL.with_borrow_mut(|l| *l = None);
    IS_WORKER.set(false);
}

/// True when the calling thread is one of the pool's workers.
pub(crate) fn on_worker() -> bool {
    IS_WORKER.get()
}

/// Stops the pool (see the module docs). Must not be called from a worker.
pub(crate) fn shutdown() {
    debug_assert!(!on_worker());
    let mut threads = THREADS.lock();
    if PHASE.load(Ordering::SeqCst) != RUNNING {
        return;
    }
    PHASE.store(STOPPING, Ordering::SeqCst);
    let shared = &*SHARED;
    while shared.posting.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    {
        let _g = shared.sleep.lock();
        shared.wake.notify_all();
    }
    for h in threads.drain(..) {
        let _ = h.join();
    }
    // Posts that raced the phase change were refused; anything left is discarded.
    while let crossbeam_deque::Steal::Success(job) = shared.injector.steal() {
        drop(job);
    }
    PHASE.store(STOPPED, Ordering::SeqCst);
}
