//! The semaphore's lock-free fast path: its count in one atomic word with the
//! generation of the handle it belongs to.
//!
//! ```text
//! generation(24) << 40 | CLOSED << 33 | QUEUED << 32 | count(32)
//! ```
//!
//! The word lives in the semaphore's pooled slot beside (not inside) the value, so a
//! call can use it without pinning the object: the generation in the word is compared
//! with the handle's in the same compare-exchange that takes or gives permits, so a
//! stale handle (even one whose slot was reused) never changes a count, and a call
//! that fails has done nothing.
//!
//! # Who changes what
//! - While QUEUED is clear (no waiter), `try_take` and `try_give` change the count
//!   with a compare-exchange and nothing else: the uncontended path takes no lock.
//! - QUEUED is set and cleared only under the semaphore's mutex, which also guards
//!   its queue. While it is set, the fast paths refuse (`Slow`): taking would barge
//!   past the waiters, and giving must serve them, both under the mutex. Every change
//!   of the count while QUEUED is set is made by a mutex holder.
//! - A waiter that finds too few permits sets QUEUED with a compare-exchange that also
//!   re-checks the count, so a give racing it either lands first (the waiter then
//!   takes the permits) or sees QUEUED and takes the slow path (it then serves the
//!   waiter): a permit is never lost between them.
//! - CLOSED is set when the semaphore is disposed and stays set until its slot is
//!   opened again for a new semaphore (with a new generation): the fast paths refuse,
//!   and the slow path refuses the stale handle.
//!
//! Orderings: the count orders nothing but itself (the permits are the data), so the
//! compare-exchanges are AcqRel only to give a semaphore the usual acquire/release
//! meaning for the user's own memory: a release (give) happens-before the take that
//! obtains the permit.

use crate::core::sync::{AtomicU64, Ordering};

const COUNT_MASK: u64 = 0xFFFF_FFFF;
const QUEUED: u64 = 1 << 32;
const CLOSED: u64 = 1 << 33;
const GEN_SHIFT: u32 = 40;

fn generation_of(w: u64) -> u32 {
    (w >> GEN_SHIFT) as u32
}

fn count_of(w: u64) -> u32 {
    (w & COUNT_MASK) as u32
}

/// What a fast-path attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    /// Done; for a give, the count before it.
    Done(u32),
    /// Too few permits (a take) or the maximum would be passed (a give); no waiter.
    Refused,
    /// Waiters are queued (or the word is closed, or the handle stale): take the slow
    /// path under the mutex.
    Slow,
}

impl Fast {
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Fast::Done(_))
    }
}

/// See the module docs.
pub(crate) struct Permits(AtomicU64);

impl Default for Permits {
    fn default() -> Self {
        Permits(AtomicU64::new(CLOSED))
    }
}

impl Permits {
    /// Opens the word for a new semaphore of `generation` with `count` permits (before
    /// its handle is published).
    pub(crate) fn open(&self, generation: u32, count: u32) {
        // Release: publishes the count with the handle.
        self.0.store(
            ((generation as u64) << GEN_SHIFT) | count as u64,
            Ordering::Release,
        );
    }

    /// Closes the word (disposal): every fast path refuses from now on.
    pub(crate) fn close(&self) {
        // AcqRel: as the compare-exchanges below.
        self.0.fetch_or(CLOSED, Ordering::AcqRel);
    }

    fn load(&self) -> u64 {
        // Acquire: pairs with the Release of `open` and the AcqRel updates.
        self.0.load(Ordering::Acquire)
    }

    fn cas(&self, cur: u64, next: u64) -> Result<(), u64> {
        // AcqRel: see the module docs (a give happens-before the take it enables).
        self.0
            .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }

    fn open_for(w: u64, generation: u32) -> bool {
        generation_of(w) == generation && w & CLOSED == 0
    }

    /// Takes `n` permits if nobody waits and they are there.
    pub(crate) fn try_take(&self, generation: u32, n: u32) -> Fast {
        let mut w = self.load();
        loop {
            if !Self::open_for(w, generation) || w & QUEUED != 0 {
                return Fast::Slow;
            }
            if count_of(w) < n {
                return Fast::Refused;
            }
            match self.cas(w, w - n as u64) {
                Ok(()) => return Fast::Done(count_of(w)),
                Err(actual) => w = actual,
            }
        }
    }

    /// Gives `n` permits back if nobody waits and the maximum allows.
    pub(crate) fn try_give(&self, generation: u32, n: u32, max: u32) -> Fast {
        let mut w = self.load();
        loop {
            if !Self::open_for(w, generation) || w & QUEUED != 0 {
                return Fast::Slow;
            }
            if max - count_of(w) < n {
                return Fast::Refused;
            }
            match self.cas(w, w + n as u64) {
                Ok(()) => return Fast::Done(count_of(w)),
                Err(actual) => w = actual,
            }
        }
    }

    /// The count now, if the word belongs to `generation`.
    pub(crate) fn count(&self, generation: u32) -> Option<u32> {
        let w = self.load();
        Self::open_for(w, generation).then_some(count_of(w))
    }

    // ---- under the semaphore's mutex ----

    /// A waiter for `n` permits: takes them if nobody waits and they are there (true),
    /// or marks the word QUEUED (false: the caller queues the waiter, still under the
    /// mutex). Only for a waiter that will be the first in the queue when `first`.
    pub(crate) fn take_or_queue(&self, n: u32, first: bool) -> bool {
        let mut w = self.load();
        loop {
            if first && count_of(w) >= n {
                match self.cas(w, w - n as u64) {
                    Ok(()) => return true,
                    Err(actual) => w = actual,
                }
                continue;
            }
            if w & QUEUED != 0 {
                return false;
            }
            match self.cas(w, w | QUEUED) {
                Ok(()) => return false,
                Err(actual) => w = actual,
            }
        }
    }

    /// Adds `n` permits (QUEUED set: only mutex holders change the count); false when
    /// the maximum would be passed.
    pub(crate) fn add_queued(&self, n: u32, max: u32) -> Option<u32> {
        let mut w = self.load();
        loop {
            if max - count_of(w) < n {
                return None;
            }
            match self.cas(w, w + n as u64) {
                Ok(()) => return Some(count_of(w)),
                Err(actual) => w = actual,
            }
        }
    }

    /// Takes `n` permits for the queue's head if they are there (under the mutex).
    pub(crate) fn take_queued(&self, n: u32) -> bool {
        let mut w = self.load();
        loop {
            if count_of(w) < n {
                return false;
            }
            match self.cas(w, w - n as u64) {
                Ok(()) => return true,
                Err(actual) => w = actual,
            }
        }
    }

    /// The queue became empty: the fast paths may run again.
    pub(crate) fn clear_queued(&self) {
        // AcqRel: as the compare-exchanges.
        self.0.fetch_and(!QUEUED, Ordering::AcqRel);
    }

    /// The count now (any generation; for the mutex holder).
    pub(crate) fn count_now(&self) -> u32 {
        count_of(self.load())
    }
}
