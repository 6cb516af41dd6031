//! The default pool: one worker per core, work stealing (crossbeam-deque), started
//! on the first post, idle workers asleep on a condition variable.
//!
//! Workers push work they post themselves onto their own deque (LIFO, cache-warm);
//! other threads post to the global injector. A worker looks in its own deque, then
//! the injector, then steals from siblings, and sleeps only after announcing itself
//! idle and re-checking the injector, so a post never goes unnoticed.

use std::cell::RefCell;
use std::iter;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_deque::{Injector, Stealer, Worker};
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};

use super::{CurrentGuard, Work};

struct Shared {
    injector: Injector<Work>,
    idle: CachePadded<AtomicUsize>,
    sleep: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
}

struct Threads {
    handles: Vec<JoinHandle<()>>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| Shared {
    injector: Injector::new(),
    idle: CachePadded::new(AtomicUsize::new(0)),
    sleep: Mutex::new(()),
    wake: Condvar::new(),
    stop: AtomicBool::new(false),
});
static STARTED: AtomicBool = AtomicBool::new(false);
static THREADS: Mutex<Threads> = Mutex::new(Threads {
    handles: Vec::new(),
});

thread_local! {
    static LOCAL: RefCell<Option<Worker<Work>>> = const { RefCell::new(None) };
}

/// Queues work on the pool, starting it if needed.
pub(super) fn post(work: Work) {
    // Acquire: pairs with the Release in `start`.
    if !STARTED.load(Ordering::Acquire) {
        start();
    }
    let leftover = LOCAL.with_borrow(|local| match local {
        Some(w) => {
            w.push(work);
            None
        }
        None => Some(work),
    });
    if let Some(work) = leftover {
        SHARED.injector.push(work);
    }
    // SeqCst fence: orders the push before the `idle` load, against the worker's
    // SeqCst `idle` increment before its re-check (a Dekker pair): either the worker
    // sees the work or we see the worker idle and wake it.
    fence(Ordering::SeqCst);
    if SHARED.idle.load(Ordering::SeqCst) > 0 {
        let _g = SHARED.sleep.lock();
        SHARED.wake.notify_one();
    }
}

fn start() {
    let mut threads = THREADS.lock();
    if STARTED.load(Ordering::Acquire) {
        return;
    }
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers: Vec<Worker<Work>> = (0..n).map(|_| Worker::new_lifo()).collect();
    let stealers: Arc<Vec<Stealer<Work>>> = Arc::new(workers.iter().map(Worker::stealer).collect());
    SHARED.stop.store(false, Ordering::SeqCst);
    for (i, worker) in workers.into_iter().enumerate() {
        let stealers = stealers.clone();
        let handle = std::thread::Builder::new()
            .name(format!("tapir-pool-{i}"))
            .spawn(move || worker_main(i, worker, stealers))
            .expect("tapir: cannot spawn a pool thread");
        threads.handles.push(handle);
    }
    // Release: publishes the started threads to `post`.
    STARTED.store(true, Ordering::Release);
}

fn find_work(me: usize, local: &Worker<Work>, stealers: &[Stealer<Work>]) -> Option<Work> {
    local.pop().or_else(|| {
        iter::repeat_with(|| {
            SHARED.injector.steal_batch_and_pop(local).or_else(|| {
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

fn worker_main(me: usize, worker: Worker<Work>, stealers: Arc<Vec<Stealer<Work>>>) {
    let _current = CurrentGuard::enter(super::default_handle());
    LOCAL.with_borrow_mut(|l| *l = Some(worker));
    loop {
        let next =
            LOCAL.with_borrow(|l| find_work(me, l.as_ref().expect("worker deque"), &stealers));
        if let Some(work) = next {
            work.run();
            continue;
        }
        if SHARED.stop.load(Ordering::SeqCst) {
            break;
        }
        let mut guard = SHARED.sleep.lock();
        SHARED.idle.fetch_add(1, Ordering::SeqCst);
        if SHARED.injector.is_empty() && !SHARED.stop.load(Ordering::SeqCst) {
            // The timeout is a backstop against a sibling's local work that nobody
            // announced; posts always notify.
            SHARED.wake.wait_for(&mut guard, Duration::from_millis(50));
        }
        SHARED.idle.fetch_sub(1, Ordering::SeqCst);
    }
    // Hand unfinished local work to the injector so a restarted pool runs it.
    if let Some(local) = LOCAL.with_borrow_mut(|l| l.take()) {
        while let Some(work) = local.pop() {
            SHARED.injector.push(work);
        }
    }
}

/// Stops and joins the workers. Queued work stays queued for the next start.
pub(super) fn shutdown() {
    let mut threads = THREADS.lock();
    if !STARTED.load(Ordering::Acquire) {
        return;
    }
    SHARED.stop.store(true, Ordering::SeqCst);
    {
        let _g = SHARED.sleep.lock();
        SHARED.wake.notify_all();
    }
    let current = std::thread::current().id();
    for h in threads.handles.drain(..) {
        if h.thread().id() != current {
            let _ = h.join();
        }
    }
    STARTED.store(false, Ordering::Release);
}
