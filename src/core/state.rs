//! The task state word: a lock bit for the continuation list, the completion bit,
//! the final status, and the observed bit.
//!
//! # Bits
//! - `LOCKED`: a thread is mutating the continuation list or completing the task.
//!   Held only for a few pointer writes; no callback ever runs while it is set.
//! - `COMPLETED`: the outcome is written and immutable; the list is detached and
//!   owned by the completer. Never cleared.
//! - `STATUS` (2 bits): the final status, valid once `COMPLETED` is set.
//! - `OBSERVED`: somebody read the error of a faulted task (set after completion only).
//!
//! # Protocol
//! Registration and removal take the lock only while `COMPLETED` is clear. Completion
//! takes the lock from the pending state, writes the outcome, detaches the list and
//! publishes `COMPLETED | status` with one Release store that also unlocks. So exactly
//! one completer wins, a registration either lands in the list before the detach (and
//! is run by the completer) or sees `COMPLETED` (and runs itself): never lost, never twice.

use super::sync::{AtomicU32, Ordering};

/// Set while a thread holds the continuation list.
pub(crate) const LOCKED: u32 = 1;
/// Set once the outcome is published; never cleared.
pub(crate) const COMPLETED: u32 = 1 << 1;
const STATUS_SHIFT: u32 = 2;
const STATUS_MASK: u32 = 0b11 << STATUS_SHIFT;
/// Set when the error of a faulted task has been read.
pub(crate) const OBSERVED: u32 = 1 << 4;

/// The final status of a task, as stored in the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Completed with a value.
    Succeeded = 1,
    /// Completed with one or more errors.
    Faulted = 2,
    /// Completed by cancellation.
    Canceled = 3,
}

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) u32);

impl Snapshot {
    pub(crate) fn is_completed(self) -> bool {
        self.0 & COMPLETED != 0
    }
    pub(crate) fn is_locked(self) -> bool {
        self.0 & LOCKED != 0
    }
    pub(crate) fn is_observed(self) -> bool {
        self.0 & OBSERVED != 0
    }
    /// The final status; `None` while pending.
    pub(crate) fn final_status(self) -> Option<Final> {
        if !self.is_completed() {
            return None;
        }
        Some(match (self.0 & STATUS_MASK) >> STATUS_SHIFT {
            1 => Final::Succeeded,
            2 => Final::Faulted,
            _ => Final::Canceled,
        })
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("locked", &self.is_locked())
            .field("final", &self.final_status())
            .field("observed", &self.is_observed())
            .finish()
    }
}

/// The result of trying to take the list lock.
#[must_use]
pub(crate) enum Lock {
    /// The lock is held; the task is pending. Release with `unlock` or `complete`.
    Held,
    /// The task already completed; nothing is held.
    Completed,
}

/// The state word of one task; see the module docs.
pub(crate) struct TaskState(AtomicU32);

impl TaskState {
    /// A pending, unlocked task.
    pub(crate) fn new() -> TaskState {
        TaskState(AtomicU32::new(0))
    }

    /// Resets a recycled slot to pending (the slot is not yet published).
    pub(crate) fn reset(&self) {
        // Relaxed: the handle is published later with a Release (RefWord::activate).
        self.0.store(0, Ordering::Relaxed);
    }

    /// Creates the state of a task that is completed from birth.
    pub(crate) fn reset_completed(&self, status: Final) {
        self.0.store(
            COMPLETED | ((status as u32) << STATUS_SHIFT),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn load(&self) -> Snapshot {
        // Acquire: pairs with the Release store in `complete`, so a reader that sees
        // COMPLETED also sees the outcome written before it.
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// Takes the list lock unless the task has completed; spins while another thread
    /// holds it (the holder only moves a few pointers).
    pub(crate) fn lock_if_pending(&self) -> Lock {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            let cur = self.load();
            if cur.is_completed() {
                return Lock::Completed;
            }
            if cur.is_locked() {
                super::sync::spin(&backoff);
                continue;
            }
            // Acquire: pairs with the Release in `unlock`, so list edits made by the
            // previous holder are visible.
            if self
                .0
                .compare_exchange_weak(cur.0, cur.0 | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Lock::Held;
            }
        }
    }

    /// Releases the lock of a still-pending task.
    pub(crate) fn unlock(&self) {
        // Release: publishes the list edits to the next holder. While LOCKED is held
        // and the task is pending nobody else writes the word, so a store is exact.
        debug_assert!(self.load().is_locked());
        self.0.store(0, Ordering::Release);
    }

    /// Publishes the final status and releases the lock in one store.
    pub(crate) fn complete(&self, status: Final) {
        debug_assert!(self.load().is_locked());
        // Release: the outcome and the list detach happen-before any Acquire load that
        // sees COMPLETED.
        self.0.store(
            COMPLETED | ((status as u32) << STATUS_SHIFT),
            Ordering::Release,
        );
    }

    /// Sets OBSERVED on a completed task; returns the previous snapshot.
    pub(crate) fn mark_observed(&self) -> Snapshot {
        // Relaxed: OBSERVED orders nothing; it is read at teardown by the thread that
        // took the last reference, after the AcqRel release of that reference.
        Snapshot(self.0.fetch_or(OBSERVED, Ordering::Relaxed))
    }
}
