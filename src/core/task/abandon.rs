//! Abandonment: a library producer may ask to be told when the pending task it alone
//! can complete has nobody left to tell — no task handle, no continuation, no library
//! reference. Such a task is not garbage by itself (its producer still holds it), but
//! its producer may now stop the work that would complete it: need_only_one cancels
//! the token it lent its factories, which is what frees a race whose every task waits
//! only on that token.
//!
//! A task asks with the WATCHED bit of its word and a [`Hook`] in its extra record,
//! both set before the task is published. Whoever takes the last observer away (the
//! last task handle's release, a removed continuation, a dropped library reference)
//! sees the word become [`Snapshot::unobserved`] in the same step and calls
//! [`notify`]; `notify` takes the hook under the lock only if the task is still
//! pending and still unobserved, so the hook runs at most once, and never after the
//! task completed. The hook holds its producer weakly: a task does not keep its own
//! producer alive, and a hook whose producer is gone does nothing.

use std::sync::{Arc, Weak};

use super::cell::TaskCell;
use super::word::{Snapshot, WATCHED};

/// A producer that wants to hear that its task became unobserved while pending.
pub(crate) trait Abandoned: Send + Sync + 'static {
    /// Runs at most once, outside every tapir lock, on the thread that took the last
    /// observer away.
    fn abandoned(self: Arc<Self>);
}

/// A weak reference to an [`Abandoned`] producer, in raw parts so that the extra
/// record can hold it in a plain field. Owned by exactly one place at a time: the
/// extra record, then whoever took it out (which calls `fire` or `discard` once).
#[derive(Clone, Copy)]
pub(crate) struct Hook {
    weak: *const (),
    /// Consumes `weak`: upgrades and notifies when `fire`, else only drops it.
    consume: unsafe fn(weak: *const (), fire: bool),
}

impl Hook {
    /// A hook that tells `producer`, if it still lives.
    pub(crate) fn new<T: Abandoned>(producer: Weak<T>) -> Hook {
        /// # Safety
        /// `weak` comes from `Weak::into_raw` in `Hook::new` and is consumed once.
        unsafe fn consume<T: Abandoned>(weak: *const (), fire: bool) {
            // SAFETY: see above.
            let weak = unsafe { Weak::from_raw(weak.cast::<T>()) };
            if fire && let Some(producer) = weak.upgrade() {
                producer.abandoned();
            }
        }
        Hook {
            weak: Weak::into_raw(producer).cast(),
            consume: consume::<T>,
        }
    }

    /// Tells the producer (if it lives) and gives up the hook.
    pub(crate) fn fire(self) {
        // SAFETY: `self` was taken out of its single owner, so `weak` is consumed once.
        unsafe { (self.consume)(self.weak, true) }
    }

    /// Gives up the hook without telling anyone (the task completed or died).
    pub(crate) fn discard(self) {
        // SAFETY: as in `fire`.
        unsafe { (self.consume)(self.weak, false) }
    }
}

/// Installs `hook` on a task nobody else can see yet (allocated, not published), and
/// returns the word bit the task must be published with.
pub(crate) fn install_unpublished(cell: &'static TaskCell, hook: Hook) -> u64 {
    cell.extra_or_new().abandon.set(Some(hook));
    WATCHED
}

/// After a call took an observer away (a continuation, a library reference) and left
/// `left` in the word: tells the producer if that was the last one.
#[inline(always)]
pub(crate) fn observer_removed(cell: &TaskCell, generation: u32, left: Snapshot) {
    if left.unobserved() {
        notify(cell, generation);
    }
}

/// The task of `generation` in `cell` was seen unobserved (see the module docs): if it
/// still is, and still pending, its hook is taken and fired.
#[cold]
#[inline(never)]
pub(crate) fn notify(cell: &TaskCell, generation: u32) {
    let Some(w) = cell.word.lock_pending(generation) else {
        return; // completed or gone meanwhile: the hook is the teardown's to discard
    };
    if !w.unobserved() {
        cell.word.store_held(w); // observed again meanwhile (a source minted a handle)
        return;
    }
    let hook = cell.extra().and_then(|x| {
        let h = x.abandon.get_copy();
        x.abandon.set(None);
        h
    });
    // The producer still counts among the sources (a task with none would have died
    // with its last observer), so clearing WATCHED cannot leave it unreferenced.
    debug_assert!(w.sources() > 0);
    cell.word.store_held(w.clear(WATCHED));
    if let Some(h) = hook {
        h.fire();
    }
}
