//! A pin for one end of a primitive's lock-free fast path, kept in the pooled slot
//! beside the value: it validates the handle and counts the calls inside, so the
//! value stays in place while one runs, without touching the slot's reference word.
//!
//! ```text
//! generation(24) << 40 | CLOSED << 39 | inside(39)
//! ```
//!
//! The reference word is the one line every call of every thread would otherwise
//! write twice (pin and unpin); a channel has one gate per end, on lines of their
//! own, so one producer and one consumer never write the same line to get in.
//!
//! - [`Gate::enter`] checks the handle's generation and counts the call in one
//!   compare-exchange (a stale handle, even one whose slot was reused, is refused and
//!   has changed nothing); [`Gate::leave`] uncounts it.
//! - [`Gate::close`] (the last user handle is gone) refuses every later entry;
//!   [`Gate::drain`] (the last reference is gone, before the value is moved out)
//!   closes and then waits the few instructions until no call is inside.
//! - [`Gate::open`] starts a new object's generation (before its handle is published).
//!
//! Orderings: an entry Acquires (pairs with `open`'s Release: the value is
//! initialized), a leave Releases and `drain` Acquires it (every access of a call
//! happens-before the value is moved out).

use crate::core::sync::{self, AtomicU64, Ordering};

const INSIDE_MASK: u64 = (1 << 39) - 1;
const CLOSED: u64 = 1 << 39;
const GEN_SHIFT: u32 = 40;

/// See the module docs.
pub(crate) struct Gate(AtomicU64);

impl Default for Gate {
    fn default() -> Self {
        Gate(AtomicU64::new(CLOSED))
    }
}

impl Gate {
    /// Opens the gate for a new object of `generation` (nobody inside).
    pub(crate) fn open(&self, generation: u32) {
        // Release: pairs with the Acquire of `enter`.
        self.0
            .store((generation as u64) << GEN_SHIFT, Ordering::Release);
    }

    /// Counts a call in if the gate is open for `generation`; false: take the slow
    /// path (which validates the handle by pinning it).
    #[inline]
    pub(crate) fn enter(&self, generation: u32) -> bool {
        let want = (generation as u64) << GEN_SHIFT;
        let mut w = self.0.load(Ordering::Relaxed);
        loop {
            if w & !INSIDE_MASK != want || w & INSIDE_MASK == INSIDE_MASK {
                return false;
            }
            // Acquire: see the module docs.
            match self
                .0
                .compare_exchange_weak(w, w + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => w = actual,
            }
        }
    }

    /// Counts a call out (one that entered).
    #[inline]
    pub(crate) fn leave(&self) {
        // Release: pairs with the Acquire of `drain`.
        self.0.fetch_sub(1, Ordering::Release);
    }

    /// Refuses every later entry.
    pub(crate) fn close(&self) {
        self.0.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Closes, then waits until no call is inside.
    pub(crate) fn drain(&self) {
        self.close();
        let backoff = crossbeam_utils::Backoff::new();
        // Acquire: pairs with `leave`.
        while self.0.load(Ordering::Acquire) & INSIDE_MASK != 0 {
            sync::spin(&backoff);
        }
    }
}

/// A call inside a gate; leaves on drop.
pub(crate) struct Inside<'a>(&'a Gate);

impl<'a> Inside<'a> {
    /// Enters `gate` for `generation`, if it is open for it.
    #[inline]
    pub(crate) fn enter(gate: &'a Gate, generation: u32) -> Option<Inside<'a>> {
        gate.enter(generation).then_some(Inside(gate))
    }
}

impl Drop for Inside<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.leave();
    }
}
