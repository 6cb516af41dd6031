//! Any `Future` as a tapir task ([`Task::from_future`]), and [`block_on`], a minimal
//! executor for programs (and examples) that have none.

use std::cell::UnsafeCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use crate::core::status::Status;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;
use crate::core::task::schedule::SchedRef;
use crate::core::task::work::Job;

use super::error::{Error, panicked};
use super::scheduler::Scheduler;
use super::task::Task;
use super::value;

/// Not queued, not running: the next wake posts a poll.
const IDLE: u8 = 0;
/// A poll is queued on the scheduler.
const SCHEDULED: u8 = 1;
/// A poll runs now.
const RUNNING: u8 = 2;
/// Woken while a poll ran: poll again once it returns.
const NOTIFIED: u8 = 3;
/// Finished: the task has its outcome and the future is gone.
const DONE: u8 = 4;

/// A future driven by a tapir scheduler: each wake posts one poll to it.
struct Spawned<F: Future> {
    state: AtomicU8,
    /// Accessed only by the thread that moved `state` to RUNNING, or that discards the
    /// queued poll (SCHEDULED): one at a time.
    future: UnsafeCell<Option<F>>,
    /// The right to complete the task (a library producer: if the future goes away
    /// without finishing, the task just never completes).
    source: SourceRef,
    scheduler: SchedRef,
}

// SAFETY: `future` is touched by one thread at a time (see the field), and F: Send; the
// other fields are thread-safe.
unsafe impl<F: Future + Send> Sync for Spawned<F> {}
// SAFETY: as above.
unsafe impl<F: Future + Send> Send for Spawned<F> {}

type Body<T> = Result<T, Error>;

impl<T: 'static, F: Future<Output = Body<T>> + Send + 'static> Spawned<F> {
    fn post(self: &Arc<Self>) {
        let me = self.clone();
        self.scheduler.post(Job::library(move |run| {
            if run {
                me.poll_now();
            } else {
                me.discarded();
            }
        }));
    }

    fn poll_now(self: &Arc<Self>) {
        self.state.store(RUNNING, Ordering::Release);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        // SAFETY: this thread set RUNNING, so it alone touches the future; it lives in
        // the Arc and is never moved until it is dropped in place below.
        let slot = unsafe { &mut *self.future.get() };
        let Some(fut) = slot.as_mut() else { return };
        // SAFETY: see above: pinned in place inside the Arc.
        let fut = unsafe { Pin::new_unchecked(fut) };
        let outcome = match catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))) {
            Ok(Poll::Pending) => None,
            Ok(Poll::Ready(Ok(v))) => {
                let (value, destroy) = value::encode(v);
                Some(Outcome::Value { value, destroy })
            }
            Ok(Poll::Ready(Err(e))) => Some(e.into_outcome()),
            Err(p) => Some(Outcome::Faulted(vec![panicked(p)])),
        };
        match outcome {
            None => {
                // AcqRel: a wake that came during the poll (NOTIFIED) posts a new one.
                if self
                    .state
                    .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    self.state.store(SCHEDULED, Ordering::Release);
                    self.post();
                }
            }
            Some(outcome) => {
                *slot = None; // the future is dropped before the task completes
                self.state.store(DONE, Ordering::Release);
                self.source.try_complete(outcome, true);
            }
        }
    }

    /// The scheduler discarded the queued poll: the task fails with SCHEDULER_ERROR.
    fn discarded(&self) {
        self.state.store(DONE, Ordering::Release);
        // SAFETY: the discarded poll was the only one queued (SCHEDULED): nothing else
        // touches the future.
        drop(unsafe { (*self.future.get()).take() });
        self.source.try_complete(
            Outcome::library_error(
                Status::SchedulerError,
                "the scheduler refused the work that would have polled this future",
            ),
            true,
        );
    }
}

impl<T: 'static, F: Future<Output = Body<T>> + Send + 'static> Wake for Spawned<F> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let next = match cur {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return, // already queued or notified, or done
            };
            match self
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => return self.post(),
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

fn spawn<T: 'static, F: Future<Output = Body<T>> + Send + 'static>(
    f: F,
    scheduler: &Scheduler,
) -> Task<T> {
    let (source, out) = SourceRef::new_task(false, 0);
    let spawned = Arc::new(Spawned {
        state: AtomicU8::new(SCHEDULED),
        future: UnsafeCell::new(Some(f)),
        source,
        scheduler: scheduler.sched_ref(),
    });
    spawned.post();
    Task::from_handle(out)
}

impl<T: Send + 'static> Task<T> {
    /// Runs any `Future` as a tapir task: it is polled on `scheduler` (first right away,
    /// then once per wake), and the task completes with its output. A panic while
    /// polling fails the task with an error of code [`Status::Panic`]; a scheduler that
    /// discards a poll fails it with [`Status::SchedulerError`]. Dropping the task does
    /// not stop the future.
    ///
    /// ```
    /// use tapir::{Scheduler, Task, delay};
    /// use std::time::Duration;
    /// let t = Task::from_future(async {
    ///     delay(Duration::from_millis(1)).await.unwrap();
    ///     "slept"
    /// }, &Scheduler::pool());
    /// assert_eq!(t.wait(), Ok("slept"));
    /// ```
    pub fn from_future<F>(f: F, scheduler: &Scheduler) -> Task<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        spawn(async move { Ok(f.await) }, scheduler)
    }

    /// As [`from_future`](Task::from_future), for a future that can fail: `Err` faults
    /// the task (or cancels it, for a canceled error: an `await` of a canceled task
    /// that is passed on with `?` cancels this one too).
    ///
    /// ```
    /// use tapir::{Scheduler, Task};
    /// let canceled = Task::<u8>::canceled();
    /// let t = Task::from_try_future(async move { Ok(canceled.await? + 1) }, &Scheduler::pool());
    /// assert!(t.wait().unwrap_err().is_canceled());
    /// ```
    pub fn from_try_future<F>(f: F, scheduler: &Scheduler) -> Task<T>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        spawn(f, scheduler)
    }
}

/// Wakes a thread blocked in [`block_on`].
struct ThreadWaker {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Release: pairs with the Acquire swap in `block_on`.
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs `future` to completion on this thread, parking while it is pending: the
/// smallest executor, for programs and examples that have none (an async runtime's own
/// `block_on` works as well: a tapir task is an ordinary `Future`).
///
/// ```
/// let v = tapir::block_on(async { tapir::run(|| 2).await.unwrap() + 1 });
/// assert_eq!(v, 3);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let me = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(me.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // Acquire: sees what the waking thread did before it woke us.
        while !me.woken.swap(false, Ordering::Acquire) {
            std::thread::park();
        }
    }
}
