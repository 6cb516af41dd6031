//! Bounded inline depth for synchronous continuations.
//!
//! A synchronous continuation that completes another task runs that task's synchronous
//! continuations inline too, so a chain of N links would recurse N frames deep. Past
//! `MAX_INLINE_DEPTH` frames the next continuation is queued on this thread instead,
//! and the outermost inline frame drains the queue before it returns: a chain of a
//! million links runs in constant stack, and everything still completes before the
//! outermost completing call returns.
//!
//! The thread-local is const-initialized and has no destructor, so reaching it costs no
//! lazy-initialization check; the queue is allocated only when something is deferred,
//! and freed once the outermost frame has drained it.

use std::cell::Cell;
use std::collections::VecDeque;

use super::work::Job;

/// Inline frames allowed before deferring. Each frame is a few hundred bytes of stack
/// (complete -> run continuation -> user callback -> complete), so 16 keeps the worst
/// case far below a 256 KiB thread stack.
pub(crate) const MAX_INLINE_DEPTH: u32 = 16;

struct Inline {
    depth: Cell<u32>,
    deferred: Cell<*mut VecDeque<Job>>,
}

thread_local! {
    static INLINE: Inline = const {
        Inline { depth: Cell::new(0), deferred: Cell::new(std::ptr::null_mut()) }
    };
}

/// Restores the depth on the way out, also when a callback panics.
struct Depth<'a>(&'a Cell<u32>, u32);
impl Drop for Depth<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// Runs `run(value)` now, or, at the depth bound, queues `defer(value)` for the
/// outermost inline frame of this thread.
#[inline(always)]
pub(crate) fn run_or_defer_value<T>(value: T, run: impl FnOnce(T), defer: impl FnOnce(T) -> Job) {
    INLINE.with(|state| {
        let depth = state.depth.get();
        if depth >= MAX_INLINE_DEPTH {
            push_deferred(state, defer(value));
            return;
        }
        {
            let _restore = Depth(&state.depth, depth);
            state.depth.set(depth + 1);
            run(value);
        }
        if depth == 0 && !state.deferred.get().is_null() {
            drain(state);
        }
    });
}

/// As [`run_or_defer_value`] for closures that carry their own state.
#[inline(always)]
pub(crate) fn run_or_defer(run: impl FnOnce(), defer: impl FnOnce() -> Job) {
    run_or_defer_value((), |()| run(), |()| defer());
}

#[cold]
fn push_deferred(state: &Inline, job: Job) {
    let mut q = state.deferred.get();
    if q.is_null() {
        q = Box::into_raw(Box::new(VecDeque::new()));
        state.deferred.set(q);
    }
    // SAFETY: `q` is this thread's queue, made by Box::into_raw above or earlier and
    // freed only by `drain` (on this thread) after it is emptied.
    unsafe { (*q).push_back(job) };
}

/// Runs queued continuations until none are left (outermost frame only), then frees
/// the queue.
#[cold]
fn drain(state: &Inline) {
    loop {
        let q = state.deferred.get();
        // SAFETY: as in `push_deferred`; no reference into the queue is held across
        // `job.run()`, which may push more.
        let next = unsafe { (*q).pop_front() };
        let Some(job) = next else {
            state.deferred.set(std::ptr::null_mut());
            // SAFETY: made by Box::into_raw in `push_deferred`; nothing refers to it now.
            drop(unsafe { Box::from_raw(q) });
            return;
        };
        let _restore = Depth(&state.depth, 0);
        state.depth.set(1);
        job.run();
    }
}
