//! Bounded inline depth for synchronous continuations.
//!
//! A synchronous continuation that completes another task runs that task's synchronous
//! continuations inline too, so a chain of N links would recurse N frames deep. Past
//! `MAX_INLINE_DEPTH` frames, or once the inline frames of this thread have used
//! `MAX_INLINE_STACK` bytes of stack below the first nested frame, the next
//! continuation is queued on this thread instead, and the outermost inline frame drains
//! the queue before it returns: a chain of a million links runs in constant stack, and
//! everything still completes before the outermost completing call returns.
//!
//! Both bounds are needed: the count keeps the common build's chains short, and the
//! byte bound holds when frames are much larger than usual (a sanitizer build, a user
//! callback with a big frame, a chain through a combinator such as a retry whose every
//! level is several calls deep).
//!
//! The thread-local is const-initialized and has no destructor, so reaching it costs no
//! lazy-initialization check; the queue is allocated only when something is deferred,
//! and freed once the outermost frame has drained it.

use std::cell::Cell;
use std::collections::VecDeque;

use super::work::Job;

/// Inline frames allowed before deferring. Each frame is a few hundred bytes of stack
/// in an optimized build (complete -> run continuation -> user callback -> complete).
pub(crate) const MAX_INLINE_DEPTH: u32 = 16;

/// Stack the inline frames of one outermost completing call may use before the next
/// continuation is deferred: a small share of the smallest thread stack a host is
/// likely to give (256 KiB), whatever the frames cost.
pub(crate) const MAX_INLINE_STACK: usize = 48 * 1024;

struct Inline {
    depth: Cell<u32>,
    /// The stack address of the first nested inline frame (meaningful while depth > 1).
    base: Cell<usize>,
    deferred: Cell<*mut VecDeque<Job>>,
}

thread_local! {
    static INLINE: Inline = const {
        Inline {
            depth: Cell::new(0),
            base: Cell::new(0),
            deferred: Cell::new(std::ptr::null_mut()),
        }
    };
}

/// An address in the current frame: the stack grows down from it as calls nest.
#[inline(always)]
fn stack_here() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
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
        // The outermost frame (the common case) reads no stack address: the budget is
        // counted from the first nested frame, one level's frame below it.
        if depth > 0 {
            let here = stack_here();
            if depth == 1 {
                state.base.set(here);
            } else if depth >= MAX_INLINE_DEPTH
                || state.base.get().saturating_sub(here) > MAX_INLINE_STACK
            {
                push_deferred(state, defer(value));
                return;
            }
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

/// Wakes `waker` as an inline continuation, the way [`run_or_defer_value`] runs one:
/// the outermost frame's part is small enough to inline into a completion, and a nested
/// frame takes the general path out of line.
#[inline(always)]
pub(crate) fn wake(waker: std::task::Waker) {
    INLINE.with(|state| {
        if state.depth.get() > 0 {
            return wake_nested(waker);
        }
        {
            let _restore = Depth(&state.depth, 0);
            state.depth.set(1);
            waker.wake();
        }
        if !state.deferred.get().is_null() {
            drain(state);
        }
    });
}

#[inline(never)]
fn wake_nested(waker: std::task::Waker) {
    // A deferred wake that is discarded still wakes: the future then finds the task
    // completed instead of waiting for ever.
    run_or_defer_value(waker, std::task::Waker::wake, |waker| {
        Job::library(move |_| waker.wake())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// How deep the inline frames of one chain went, and how many links ran.
    #[derive(Default)]
    struct Chain {
        nesting: AtomicU32,
        deepest: AtomicU32,
        ran: AtomicU32,
    }

    /// One link: a frame of `FRAME` bytes, then the next link through the trampoline.
    fn link<const FRAME: usize>(chain: Arc<Chain>, left: u32) {
        let mut frame = [0u8; FRAME];
        std::hint::black_box(&mut frame);
        let now = chain.nesting.fetch_add(1, Ordering::Relaxed) + 1;
        chain.deepest.fetch_max(now, Ordering::Relaxed);
        chain.ran.fetch_add(1, Ordering::Relaxed);
        if left > 0 {
            let later = chain.clone();
            run_or_defer(
                || link::<FRAME>(chain.clone(), left - 1),
                move || Job::library(move |_| link::<FRAME>(later, left - 1)),
            );
        }
        chain.nesting.fetch_sub(1, Ordering::Relaxed);
        std::hint::black_box(&frame);
    }

    fn run_chain<const FRAME: usize>(links: u32) -> Arc<Chain> {
        let chain = Arc::new(Chain::default());
        let c = chain.clone();
        run_or_defer(
            || link::<FRAME>(c, links - 1),
            || unreachable!("depth 0 runs"),
        );
        chain
    }

    #[test]
    fn small_frames_nest_up_to_the_depth_bound() {
        let chain = run_chain::<64>(200);
        assert_eq!(chain.ran.load(Ordering::Relaxed), 200, "every link ran");
        assert_eq!(chain.deepest.load(Ordering::Relaxed), MAX_INLINE_DEPTH);
    }

    #[test]
    fn large_frames_nest_only_as_far_as_the_stack_budget() {
        const FRAME: usize = 16 * 1024;
        let chain = run_chain::<FRAME>(200);
        assert_eq!(chain.ran.load(Ordering::Relaxed), 200, "every link ran");
        let deepest = chain.deepest.load(Ordering::Relaxed) as usize;
        assert!(
            (2..=MAX_INLINE_STACK / FRAME + 2).contains(&deepest),
            "{deepest} frames of {FRAME} bytes nested inline"
        );
    }
}
