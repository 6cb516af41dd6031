//! Bounded inline depth for synchronous continuations.
//!
//! A synchronous continuation that completes another task runs that task's
//! synchronous continuations inline too, so a chain of N links would recurse N
//! frames deep. Past `MAX_INLINE_DEPTH` frames, the next continuation is queued on
//! this thread instead, and the outermost inline frame drains the queue before it
//! returns: a chain of a million links runs in constant stack, and everything still
//! completes before the outermost completing call returns.
//!
//! The depth and the queue share one thread-local, looked up once per inline run (in
//! a shared library every thread-local access is a call to `__tls_get_addr`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::scheduler::Work;

/// Inline frames allowed before deferring. Each frame is a few hundred bytes of
/// stack (complete -> run continuation -> user callback -> complete), so 16 keeps
/// the worst case far below a 256 KiB thread stack.
pub(crate) const MAX_INLINE_DEPTH: u32 = 16;

struct InlineState {
    depth: Cell<u32>,
    deferred: RefCell<VecDeque<Work>>,
}

thread_local! {
    static INLINE: InlineState = const {
        InlineState { depth: Cell::new(0), deferred: RefCell::new(VecDeque::new()) }
    };
}

/// Restores the depth on the way out, also when a callback panics.
struct DepthGuard<'a>(&'a Cell<u32>, u32);
impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// Runs `run(spec)` now, or, when the depth bound is reached, turns it into a work
/// item with `defer(spec)` and queues it for the outermost frame of this thread.
pub(crate) fn run_or_defer<S>(spec: S, run: impl FnOnce(S), defer: impl FnOnce(S) -> Work) {
    INLINE.with(|state| {
        let depth = state.depth.get();
        if depth >= MAX_INLINE_DEPTH {
            let work = defer(spec);
            state.deferred.borrow_mut().push_back(work);
            return;
        }
        {
            let _guard = DepthGuard(&state.depth, depth);
            state.depth.set(depth + 1);
            run(spec);
        }
        if depth == 0 && !state.deferred.borrow().is_empty() {
            drain(state);
        }
    });
}

/// Runs queued continuations until none are left (outermost frame only).
fn drain(state: &InlineState) {
    loop {
        let Some(work) = state.deferred.borrow_mut().pop_front() else {
            break;
        };
        let _guard = DepthGuard(&state.depth, 0);
        state.depth.set(1);
        work.run();
    }
}
