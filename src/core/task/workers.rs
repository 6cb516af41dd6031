//! The default pool: one worker per core (or as configured), work stealing, started by
//! the first post, idle workers asleep on a condition variable. Configured with no
//! threads, it has none: its work goes to the host's scheduler instead (the phase
//! ROUTED), so a host can run tapir without a single thread of tapir's own.
//!
//! A worker's own posts go to its local queue (a bounded lock-free FIFO ring, st3;
//! a post that finds it full goes to the injector), which it serves first in, first
//! out, so chains that repost themselves take turns instead of one starving the others;
//! every 61st job it takes from the shared injector (crossbeam's unbounded queue) first,
//! so work posted from outside is never starved by local work. Other threads post to the
//! injector. A worker sleeps only after announcing itself idle and re-checking the
//! injector, so a post never goes unnoticed.
//!
//! The local queues are not crossbeam-deque's: its deques reclaim memory through
//! crossbeam-epoch, whose process-wide collector is allocated once per load of the
//! library and never freed, so a host that loads and unloads tapir would grow by it
//! every time. The injector needs no epoch, and what the pool allocates is freed when
//! the library is unloaded (`release_memory`).
//!
//! # Shutdown
//! `shutdown` refuses new posts (they are discarded: their task fails with
//! SCHEDULER_ERROR), waits for posts already under way, lets the workers run what is
//! queued — a job that reposts itself is refused the second time, so this ends — and
//! joins them. Afterwards the pool is stopped; the next post starts it again.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering, fence};
use std::time::Duration;

use crossbeam_deque::{Injector, Steal};
use crossbeam_utils::CachePadded;
use st3::fifo::{Stealer, Worker};

use crate::core::sync::{Condvar, Mutex};
use crate::core::thread::{self, OsThread};

use super::config::{self, Config, ThreadKind};
use super::schedule::{Running, Schedule};
use super::work::Job;

const STOPPED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
/// Configured without threads: posts go to the configured pool scheduler.
const ROUTED: u8 = 3;

/// How often a worker looks at the injector before its own queue.
const INJECTOR_EVERY: u32 = 61;
/// Slots of a worker's local queue.
const LOCAL_CAPACITY: usize = 256;
/// At most this many jobs move from the injector to a local queue at once.
const INJECTOR_BATCH: usize = 32;

struct Shared {
    injector: Injector<Job>,
    idle: CachePadded<AtomicUsize>,
    /// A wake-up is under way (set by the notifier, cleared by a worker leaving its
    /// idle section): further posts skip the syscall until then.
    waking: CachePadded<AtomicBool>,
    /// Posts from outside the pool between their phase check and their push.
    posting: CachePadded<AtomicUsize>,
    sleep: Mutex<()>,
    wake: Condvar,
}

/// The pool's shared state, made on first use and freed by `release_memory`.
static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

#[inline(always)]
fn shared() -> &'static Shared {
    // Acquire: pairs with the Release in `make_shared`, so the state is initialized.
    let p = SHARED.load(Ordering::Acquire);
    if p.is_null() {
        return make_shared();
    }
    // SAFETY: set once by `make_shared` from a leaked box, freed only by
    // `release_memory`, after which no tapir code runs.
    unsafe { &*p }
}

#[cold]
fn make_shared() -> &'static Shared {
    static MAKING: Mutex<()> = Mutex::new(());
    let _making = MAKING.lock();
    let mut p = SHARED.load(Ordering::Acquire);
    if p.is_null() {
        p = Box::into_raw(Box::new(Shared {
            injector: Injector::new(),
            idle: CachePadded::new(AtomicUsize::new(0)),
            waking: CachePadded::new(AtomicBool::new(false)),
            posting: CachePadded::new(AtomicUsize::new(0)),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
        }));
        SHARED.store(p, Ordering::Release);
    }
    // SAFETY: as in `shared`.
    unsafe { &*p }
}

static PHASE: AtomicU8 = AtomicU8::new(STOPPED);
static THREADS: Mutex<Vec<OsThread>> = Mutex::new(Vec::new());

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
pub(crate) fn post(mut job: Job) {
    job.posting(0);
    if IS_WORKER.get() {
        // A worker exits only once its deque is empty, so a local push is never lost;
        // during shutdown it is refused like any other.
        if PHASE.load(Ordering::Acquire) != RUNNING {
            drop(job);
            return;
        }
        let overflow =
            LOCAL.with_borrow(|local| local.as_ref().expect("worker queue").push(job).err());
        if let Some(job) = overflow {
            shared().injector.push(job);
        }
        notify();
        return;
    }
    let shared = shared();
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
        if phase == ROUTED {
            route(job);
        } else {
            drop(job);
        }
        return;
    }
    shared.injector.push(job);
    shared.posting.fetch_sub(1, Ordering::SeqCst);
    notify();
}

fn notify() {
    let shared = shared();
    // SeqCst fence: orders the push before the `idle` load, against the worker's SeqCst
    // `idle` increment before its re-check (a Dekker pair): either the worker sees the
    // work or we see the worker idle and wake it.
    fence(Ordering::SeqCst);
    // One wake-up at a time: while one is under way, the worker it wakes will find this
    // job too (it runs until it finds nothing) and wakes a sibling if more is waiting,
    // so skipping the syscall loses nothing.
    if shared.idle.load(Ordering::SeqCst) > 0 && !shared.waking.swap(true, Ordering::AcqRel) {
        // Taking and dropping the lock orders this post against a worker between its
        // re-check and its wait (it holds the lock there): the worker either sees the
        // job, or is already waiting and this notify wakes it. Notifying after the
        // unlock spares the woken worker from blocking on a lock still held here.
        drop(shared.sleep.lock());
        shared.wake.notify_one();
    }
}

/// A post to a pool configured without threads: to the host's scheduler. After a
/// shutdown has dropped the configuration, nowhere: the job is discarded.
#[cold]
fn route(job: Job) {
    match config::pool_scheduler() {
        Some(s) => s.post(job),
        None => drop(job),
    }
}

fn start() {
    let mut threads = THREADS.lock();
    if PHASE.load(Ordering::SeqCst) != STOPPED {
        return;
    }
    let config = std::sync::Arc::new(config::freeze());
    let n = config.pool_threads();
    if n == 0 {
        PHASE.store(ROUTED, Ordering::SeqCst);
        return;
    }
    let workers: Vec<Worker<Job>> = (0..n).map(|_| Worker::new(LOCAL_CAPACITY)).collect();
    let stealers: std::sync::Arc<Vec<Stealer<Job>>> =
        std::sync::Arc::new(workers.iter().map(Worker::stealer).collect());
    for (i, worker) in workers.into_iter().enumerate() {
        let stealers = stealers.clone();
        let config = config.clone();
        let name = config.thread_name(&format!("pool-{i}"));
        let handle = thread::spawn(&name, config.stack_size, move || {
            worker_main(i, worker, stealers, &config)
        })
        .expect("tapir: cannot spawn a pool thread");
        threads.push(handle);
    }
    PHASE.store(RUNNING, Ordering::SeqCst);
}

fn find_work(me: usize, tick: u32, local: &Worker<Job>, stealers: &[Stealer<Job>]) -> Option<Job> {
    let injector = &shared().injector;
    if tick % INJECTOR_EVERY == 0 {
        if let Some(job) = take(injector) {
            return Some(job);
        }
    }
    if let Some(job) = local.pop() {
        return Some(job);
    }
    if let Some(job) = take(injector) {
        // Take a share of what else is waiting, so siblings can steal it from here, and
        // wake one if they are asleep.
        let room = local.spare_capacity().min(INJECTOR_BATCH);
        local.extend(std::iter::from_fn(|| take(injector)).take(room));
        if !local.is_empty() {
            notify();
        }
        return Some(job);
    }
    stealers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .find_map(|(_, s)| s.steal_and_pop(local, |n| n.div_ceil(2)).ok())
        .map(|(job, _)| job)
}

/// One job from the injector, if it has any.
fn take(injector: &Injector<Job>) -> Option<Job> {
    loop {
        match injector.steal() {
            Steal::Success(job) => return Some(job),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

fn worker_main(
    me: usize,
    worker: Worker<Job>,
    stealers: std::sync::Arc<Vec<Stealer<Job>>>,
    config: &Config,
) {
    // The hooks run outside the worker's identity: a runtime that attaches the thread
    // there sees a plain thread, and no work runs before the hook returns.
    let index = u32::try_from(me).unwrap_or(u32::MAX);
    config.thread_started(ThreadKind::Pool, index);
    run_worker(me, worker, &stealers);
    config.thread_stopping(ThreadKind::Pool, index);
}

fn run_worker(me: usize, worker: Worker<Job>, stealers: &[Stealer<Job>]) {
    let _running = Running::enter(schedule());
    IS_WORKER.set(true);
    LOCAL.with_borrow_mut(|l| *l = Some(worker));
    let shared = shared();
    let mut tick: u32 = 0;
    loop {
        tick = tick.wrapping_add(1);
        let next =
            LOCAL.with_borrow(|l| find_work(me, tick, l.as_ref().expect("worker queue"), stealers));
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
        drop(guard);
        shared.waking.store(false, Ordering::Release);
    }
    // Nothing is left in the local queue (find_work found nothing): drop it.
    LOCAL.with_borrow_mut(|l| *l = None);
    IS_WORKER.set(false);
}

/// True when the pool has no threads (never started, shut down, or configured without).
pub(crate) fn stopped() -> bool {
    matches!(PHASE.load(Ordering::SeqCst), STOPPED | ROUTED)
}

/// True when the calling thread is one of the pool's workers.
pub(crate) fn on_worker() -> bool {
    IS_WORKER.get()
}

/// Stops the pool (see the module docs). Must not be called from a worker.
pub(crate) fn shutdown() {
    debug_assert!(!on_worker());
    let mut threads = THREADS.lock();
    if PHASE.load(Ordering::SeqCst) == ROUTED {
        // No threads to join; work already routed belongs to the host's scheduler.
        PHASE.store(STOPPED, Ordering::SeqCst);
        return;
    }
    if PHASE.load(Ordering::SeqCst) != RUNNING {
        return;
    }
    PHASE.store(STOPPING, Ordering::SeqCst);
    let shared = shared();
    while shared.posting.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    {
        let _g = shared.sleep.lock();
        shared.wake.notify_all();
    }
    for h in threads.drain(..) {
        h.join();
    }
    *threads = Vec::new();
    // Posts that raced the phase change were refused; anything left is discarded.
    while let Some(job) = take(&shared.injector) {
        drop(job);
    }
    PHASE.store(STOPPED, Ordering::SeqCst);
}

/// Frees the pool's shared state. Only for the library's unload, with the pool stopped:
/// nothing calls into tapir afterwards.
pub(crate) fn release_memory() {
    debug_assert!(stopped());
    let p = SHARED.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: made by `make_shared` from a box; the swap hands it to this call alone,
        // and with the pool stopped and the library unloading nobody else refers to it.
        drop(unsafe { Box::from_raw(p) });
    }
}
