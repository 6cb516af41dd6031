//! Blocking waits: a waiter is a library continuation that unparks a thread.
//!
//! Waiters are woken in the first wave of completion, before any continuation runs, so
//! a blocked thread never waits for continuations to finish. Every handle is validated
//! before anything is registered, and the registrations are removed before returning.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::core::cancel::{TokenRef, TokenRegistration};
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::sync::{Condvar, Mutex};
use crate::core::task::Final;
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal, WAKE};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::Antecedent;
use crate::core::task::refs::task_view;

const NOT_WOKEN: usize = usize::MAX;
const CANCELED: usize = usize::MAX - 1;

/// One blocked thread and which input woke it first. The thread sleeps on a lock and
/// condition variable of its own rather than `std::thread::park`, which would give a
/// host's thread per-thread state with a destructor (see `core::thread`).
struct Waiter {
    winner: AtomicUsize,
    woken: Mutex<bool>,
    wake: Condvar,
}

impl Waiter {
    /// Records `index` if it is the first to complete, and unparks the thread.
    fn wake(&self, index: usize) {
        // AcqRel: the waiting thread's Acquire load of `winner` then sees the
        // completion that triggered this wake.
        let _ = self
            .winner
            .compare_exchange(NOT_WOKEN, index, Ordering::AcqRel, Ordering::Acquire);
        *self.woken.lock() = true;
        self.wake.notify_one();
    }

    fn winner(&self) -> Option<usize> {
        // Acquire: pairs with `wake`.
        let w = self.winner.load(Ordering::Acquire);
        (w != NOT_WOKEN).then_some(w)
    }

    /// Parks until woken or the deadline passes; true when woken.
    fn park_until(&self, deadline: Option<Instant>) -> bool {
        let mut woken = self.woken.lock();
        loop {
            if *woken {
                return true;
            }
            match deadline {
                None => self.wake.wait(&mut woken),
                Some(d) => {
                    if Instant::now() >= d {
                        return self.winner().is_some();
                    }
                    self.wake.wait_until(&mut woken, d);
                }
            }
        }
    }
}

impl Combinator for Waiter {
    fn input_completed(self: Arc<Self>, index: usize, _antecedent: &Antecedent) {
        self.wake(index);
    }
}

fn status_result(status: Final) -> Result<()> {
    match status {
        Final::Succeeded => Ok(()),
        Final::Faulted => Err(Status::Faulted),
        Final::Canceled => Err(Status::Canceled),
    }
}

/// Blocks until `task` completes or `timeout` passes: Ok for success, Faulted (the
/// errors count as observed) or Canceled for the other outcomes, Timeout.
pub fn wait(task: Handle, timeout: Option<Duration>) -> Result<()> {
    match wait_any(&[task], timeout, None)? {
        Some(_) => finished(task),
        None => Err(Status::Timeout),
    }
}

fn finished(task: Handle) -> Result<()> {
    let status = ops::status(task)?.expect("a woken task has completed");
    if status == Final::Faulted {
        ops::errors(task)?;
    }
    status_result(status)
}

/// Blocks until one of `tasks` completes; the index of the first to complete (among
/// tasks already completed, the first in input order), or None on timeout. Canceled
/// when `token` fires first (checked before anything else). Every handle is checked
/// before waiting.
pub(crate) fn wait_any(
    tasks: &[Handle],
    timeout: Option<Duration>,
    token: Option<&TokenRef>,
) -> Result<Option<usize>> {
    let mut done = None;
    for (i, &t) in tasks.iter().enumerate() {
        let (_, w) = task_view(t)?;
        if done.is_none() && w.is_completed() {
            done = Some(i);
        }
    }
    if token.is_some_and(TokenRef::is_canceled) {
        return Err(Status::Canceled);
    }
    if done.is_some() {
        return Ok(done);
    }
    if tasks.is_empty() || timeout == Some(Duration::ZERO) {
        return Ok(None);
    }
    if let Some(i) = spin_for_completion(tasks) {
        return Ok(Some(i));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let waiter = Arc::new(Waiter {
        winner: AtomicUsize::new(NOT_WOKEN),
        woken: Mutex::new(false),
        wake: Condvar::new(),
    });
    let mut placed = Vec::with_capacity(tasks.len());
    for (index, &t) in tasks.iter().enumerate() {
        let internal = Internal::from_arc(waiter.clone(), index);
        let key = internal.key();
        let mut cont = Continuation::internal(Action::Internal(internal));
        cont.flags |= WAKE;
        match list::register(Target::User(t), cont, Want::Removable) {
            Ok(p) => placed.push((p, key)),
            Err((s, cont)) => {
                drop(cont);
                for (p, key) in placed {
                    p.remove(key);
                }
                return Err(s);
            }
        }
    }
    let on_cancel = token.and_then(|t| {
        let w = waiter.clone();
        TokenRegistration::new(t, move || w.wake(CANCELED))
    });
    let woken = waiter.park_until(deadline);
    for (p, key) in placed {
        p.remove(key);
    }
    drop(on_cancel);
    match waiter.winner() {
        Some(CANCELED) => Err(Status::Canceled),
        w if woken => Ok(w),
        _ => Ok(None),
    }
}

/// Spins briefly before parking, as .NET's SpinWait does: when the other side answers
/// within microseconds (a ping-pong, a short critical section), a futex round trip
/// (tens of microseconds on a VM) costs far more than the spin. Bounded: about 20 rounds
/// of exponential pause, then a few yields; only for small task lists.
fn spin_for_completion(tasks: &[Handle]) -> Option<usize> {
    const SPIN_ROUNDS: u32 = 10;
    const YIELD_ROUNDS: u32 = 10;
    // Cached: available_parallelism reads cgroup files on every call (tens of µs).
    static MULTI_CORE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let multi_core =
        *MULTI_CORE.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1));
    if tasks.len() > 4 || !multi_core {
        return None;
    }
    let completed = || {
        tasks
            .iter()
            .position(|&t| task_view(t).is_ok_and(|(_, w)| w.is_completed()))
    };
    for round in 0..SPIN_ROUNDS + YIELD_ROUNDS {
        if let Some(i) = completed() {
            return Some(i);
        }
        if round < SPIN_ROUNDS {
            for _ in 0..(1u32 << round.min(8)) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }
    completed()
}

/// Blocks until every task completes or the timeout passes. Ok when all succeeded;
/// otherwise Faulted if any faulted (their errors count as observed), else Canceled;
/// Timeout. A canceled token is checked first. Every handle is checked before waiting.
pub(crate) fn wait_all(
    tasks: &[Handle],
    timeout: Option<Duration>,
    token: Option<&TokenRef>,
) -> Result<()> {
    for &t in tasks {
        task_view(t)?;
    }
    if token.is_some_and(TokenRef::is_canceled) {
        return Err(Status::Canceled);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    for &t in tasks {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if wait_any(&[t], remaining, token)?.is_none() {
            return Err(Status::Timeout);
        }
    }
    // Every task has completed. The outcomes are read first: a handle released by
    // another thread meanwhile (a call racing a release) makes the call
    // INVALID_HANDLE before any error counts as observed. Ignoring that failure would
    // turn a faulted task into a success.
    let mut outcomes = Vec::with_capacity(tasks.len());
    for &t in tasks {
        outcomes.push(ops::status(t)?.expect("a woken task has completed"));
    }
    let mut result = Ok(());
    for (&t, &status) in tasks.iter().zip(&outcomes) {
        match status {
            Final::Faulted => {
                // A release since the read above comes after this call: its outcome
                // stands, and there are no errors left to mark observed.
                let _ = ops::errors(t);
                result = Err(Status::Faulted);
            }
            Final::Canceled if result.is_ok() => result = Err(Status::Canceled),
            _ => {}
        }
    }
    result
}
