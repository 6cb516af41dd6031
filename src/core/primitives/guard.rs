//! Lock guards: the handle a granted lock (or reader-writer lock) hands its holder.
//!
//! A guard is a pooled, reference-counted object like any handle; the lock is held
//! until its last reference is gone. A granted `lock_async` task owns one reference as
//! its value (released with the task: a holder that keeps the task keeps the lock, a
//! holder that wants the lock past the task retains the guard). Releasing the last
//! reference hands the lock to the next waiter.
//!
//! Hand-overs never recurse: a waiter nobody holds any more (its task was released
//! before it was granted) is granted a guard that goes at once with its task, which
//! hands the lock on again; such nested releases on one thread are queued and run by
//! the outermost one in a loop, so a million abandoned waiters unwind in constant stack.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_void;

use crate::core::memory::{Handle, Kind};
use crate::core::status::Result;
use crate::core::task::outcome::Outcome;

use super::lock::Lock;
use super::rwlock::RwLock;
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::LockGuard];

/// What a guard holds.
pub(crate) enum Held {
    Lock(PrimRef<Lock>),
    Read(PrimRef<RwLock>),
    Write(PrimRef<RwLock>),
}

/// A guard's contents; dropping it (the guard's last reference went) unlocks.
pub(crate) struct Guard(Option<Held>);

prim_pool!(Guard, GUARDS);

impl Prim for Guard {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &GUARDS
    }
}

thread_local! {
    static UNLOCKING: Cell<bool> = const { Cell::new(false) };
    // Unlocks deferred while this thread is already unlocking. A raw pointer to a queue
    // made on demand and freed once drained, not a `RefCell<VecDeque>`: a thread-local
    // that needs dropping registers a destructor on the host's thread, and that keeps
    // the library from being unloaded.
    static PENDING: Cell<*mut VecDeque<Held>> = const { Cell::new(std::ptr::null_mut()) };
}

fn defer(held: Held) {
    let mut queue = PENDING.get();
    if queue.is_null() {
        queue = Box::into_raw(Box::default());
        PENDING.set(queue);
    }
    // SAFETY: the queue is this thread's own, made above or earlier by this function
    // and freed only by `next_deferred`; no reference to it outlives this statement.
    unsafe { (*queue).push_back(held) };
}

fn next_deferred() -> Option<Held> {
    let queue = PENDING.get();
    if queue.is_null() {
        return None;
    }
    // SAFETY: as in `defer`.
    let next = unsafe { (*queue).pop_front() };
    if next.is_none() {
        PENDING.set(std::ptr::null_mut());
        // SAFETY: made by `defer` with Box::into_raw; unlinked just above, so freed once.
        drop(unsafe { Box::from_raw(queue) });
    }
    next
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(held) = self.0.take() else { return };
        if UNLOCKING.get() {
            defer(held);
            return;
        }
        UNLOCKING.set(true);
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                UNLOCKING.set(false);
            }
        }
        let _reset = Reset;
        let mut next = Some(held);
        while let Some(h) = next {
            match h {
                Held::Lock(l) => Lock::unlock(l),
                Held::Read(l) => RwLock::unlock(l, false),
                Held::Write(l) => RwLock::unlock(l, true),
            }
            next = next_deferred();
        }
    }
}

/// A new guard holding `held` (+1 handle).
pub(crate) fn new(held: Held) -> Handle {
    cell::create(Kind::LockGuard, Guard(Some(held)))
}

/// The destroy a granted task's value carries: releases the task's guard reference.
unsafe extern "C" fn value_destroy(value: *mut c_void) {
    if let Some(h) = Handle::from_bits(value as usize as u64) {
        let _ = release(h);
    }
}

/// The outcome of a granted wait: the guard, owned by the task.
pub(crate) fn granted(held: Held) -> Outcome {
    let h = new(held);
    Outcome::Value {
        value: h.bits() as usize,
        destroy: Some(value_destroy),
    }
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Guard>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Guard>(h, KINDS)
}
