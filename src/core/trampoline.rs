//! Bounded inline depth for synchronous continuations.
//!
//! A synchronous continuation that completes another task runs that task's
//! synchronous continuations inline too, so a chain of N links would recurse N
//! frames deep. Past `MAX_INLINE_DEPTH` frames, the next continuation is queued on
//! this thread instead, and the outermost inline frame drains the queue before it
//! returns: a chain of a million links runs in constant stack, and everything still
//! completes before the outermost completing call returns.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::scheduler::Work;

/// Inline frames allowed before deferring. Each frame is a few hundred bytes of
/// stack (complete -> run continuation -> user callback -> complete), so 16 keeps
/// the worst case far below a 256 KiB thread stack.
pub(crate) const MAX_INLINE_DEPTH: u32 = 16;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static DEFERRED: RefCell<VecDeque<Work>> = const { RefCell::new(VecDeque::new()) };
}

/// Restores the depth on the way out, also when a callback panics.
struct DepthGuard(u32);
impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.set(self.0);
    }
}

/// Runs `run(spec)` now, or, when the depth bound is reached, turns it into a work
/// item with `defer(spec)` and queues it for the outermost frame of this thread.
pub(crate) fn run_or_defer<S>(spec: S, run: impl FnOnce(S), defer: impl FnOnce(S) -> Work) {
    let depth = DEPTH.get();
    if depth >= MAX_INLINE_DEPTH {
        let work = defer(spec);
        DEFERRED.with_borrow_mut(|q| q.push_back(work));
        return;
    }
    {
        let _guard = DepthGuard(depth);
        DEPTH.set(depth + 1);
        run(spec);
    }
    if depth == 0 {
        drain();
    }
}

/// Runs queued continuations until none are left (outermost frame only).
fn drain() {
    while let Some(work) = DEFERRED.with_borrow_mut(|q| q.pop_front()) {
        let _guard = DepthGuard(0);
        DEPTH.set(1);
        work.run();
    }
}
