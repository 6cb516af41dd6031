//! The task word: one `AtomicU64` that holds a task's generation, its user handle
//! counts and its state, so that validating a handle and acting on the task are one
//! compare-exchange (see `task/mod.rs` for the whole protocol).
//!
//! ```text
//!  63        40 39      23 22     13 12  11    10    9     8    7    6    5     4    3..2     1        0
//! [ generation ][  user   ][ sources ][ WATCHED QUIET RUN ASYNC HELD DYING LENT LIST FIRST STATUS COMPLETED LOCKED ]
//! ```
//!
//! Every change is a compare-exchange that checks the generation, except the stores
//! made by the holder of `LOCKED` (nobody else changes the word while it is set: every
//! other writer spins until it is clear) and by the thread that set `DYING` (nobody
//! changes a dying word at all).

use crate::core::sync::{AtomicU64, Ordering, spin};

/// A thread holds the word: it edits the continuations, the outcome or the library
/// references. Held for a few instructions, never while a callback runs.
pub(crate) const LOCKED: u64 = 1;
/// The outcome is written and immutable; the continuations were detached by the
/// completer. Never cleared.
pub(crate) const COMPLETED: u64 = 1 << 1;
const STATUS_SHIFT: u32 = 2;
const STATUS_MASK: u64 = 0b11 << STATUS_SHIFT;
/// The inline continuation slot holds a registration (the first one).
pub(crate) const FIRST: u64 = 1 << 4;
/// The extra record holds a list of further registrations.
pub(crate) const LIST: u64 = 1 << 5;
/// The completer is running continuations with the task's handle: the handle is valid
/// for user calls even with no user reference left, and the task cannot die.
pub(crate) const LENT: u64 = 1 << 6;
/// The last reference is gone; the thread that set this bit tears the task down.
pub(crate) const DYING: u64 = 1 << 7;
/// The extra record counts library references (internal or producers).
pub(crate) const HELD: u64 = 1 << 8;
/// Created with run-continuations-asynchronously.
pub(crate) const ASYNC: u64 = 1 << 9;
/// The task of a `tapir_run` body: only the token given to tapir_run (stored in the
/// cell's user state) can acknowledge its cancellation.
pub(crate) const RUN: u64 = 1 << 10;
/// With `LENT`: the completer runs library continuations only (a forward, a
/// combinator's), so it keeps the task alive but lends its handle to no callback — a
/// handle its user released stays invalid meanwhile.
pub(crate) const QUIET: u64 = 1 << 11;
/// The task's library producer wants to hear when the pending task has no observer
/// left (`task::abandon`); cleared when it is told.
pub(crate) const WATCHED: u64 = 1 << 12;

const SOURCES_SHIFT: u32 = 13;
const SOURCES_BITS: u32 = 10;
const SOURCE_ONE: u64 = 1 << SOURCES_SHIFT;
const SOURCES_MASK: u64 = ((1 << SOURCES_BITS) - 1) << SOURCES_SHIFT;
const USER_SHIFT: u32 = 23;
const USER_BITS: u32 = 17;
const USER_ONE: u64 = 1 << USER_SHIFT;
const USER_MASK: u64 = ((1 << USER_BITS) - 1) << USER_SHIFT;
const GEN_SHIFT: u32 = 40;
/// The user count a permanent task (the shared completed task) starts from: no
/// sequence of releases can reach zero, and the live-object count leaves it out.
pub(crate) const PERMANENT_USERS: u64 = 1 << 16;
/// Handles a task may have outstanding, per kind.
pub(crate) const MAX_USER: u64 = (1 << USER_BITS) - 1;
pub(crate) const MAX_SOURCES: u64 = (1 << SOURCES_BITS) - 1;

/// A generation in its place in the word (for [`Snapshot::has_generation_bits`]).
#[inline(always)]
pub(crate) fn generation_bits(generation: u32) -> u64 {
    (generation as u64) << GEN_SHIFT
}

/// How a task ended, as the word stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    /// Completed with a value.
    Succeeded = 1,
    /// Completed with one or more errors.
    Faulted = 2,
    /// Completed by cancellation.
    Canceled = 3,
}

/// A copy of the word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) u64);

impl Snapshot {
    #[inline(always)]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }
    #[inline(always)]
    pub(crate) fn has(self, bit: u64) -> bool {
        self.0 & bit != 0
    }
    #[inline(always)]
    pub(crate) fn user(self) -> u64 {
        (self.0 & USER_MASK) >> USER_SHIFT
    }
    #[inline(always)]
    pub(crate) fn sources(self) -> u64 {
        (self.0 & SOURCES_MASK) >> SOURCES_SHIFT
    }
    #[inline(always)]
    pub(crate) fn is_completed(self) -> bool {
        self.has(COMPLETED)
    }
    /// The final status; `None` while pending.
    #[inline(always)]
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
    /// Completed with a value.
    #[inline(always)]
    pub(crate) fn succeeded(self) -> bool {
        self.0 & (COMPLETED | STATUS_MASK)
            == COMPLETED | ((Final::Succeeded as u64) << STATUS_SHIFT)
    }
    /// Names this generation and is not being torn down.
    #[inline(always)]
    pub(crate) fn is_generation(self, generation: u32) -> bool {
        self.generation() == generation && !self.has(DYING)
    }
    /// [`is_generation`](Snapshot::is_generation) as one masked test, for a caller that
    /// checks the same generation more than once: `generation_bits` is the generation
    /// in its place in the word ([`generation_bits`]).
    #[inline(always)]
    pub(crate) fn has_generation_bits(self, generation_bits: u64) -> bool {
        (self.0 ^ generation_bits) & (u64::MAX << GEN_SHIFT | DYING) == 0
    }
    /// A task handle of this generation may be used (a user reference exists, or the
    /// completer lends the handle to the callback running now).
    #[inline(always)]
    pub(crate) fn task_handle_valid(self, generation: u32) -> bool {
        self.is_generation(generation) && (self.user() > 0 || self.0 & (LENT | QUIET) == LENT)
    }
    /// A source handle of this generation may be used.
    #[inline(always)]
    pub(crate) fn source_handle_valid(self, generation: u32) -> bool {
        self.is_generation(generation) && self.sources() > 0
    }
    /// Nothing holds the task any more.
    #[inline(always)]
    fn unreferenced(self) -> bool {
        self.0 & (USER_MASK | SOURCES_MASK | HELD | LENT | LOCKED) == 0
    }
    /// A watched task that is pending and that nothing observes: no task handle, no
    /// continuation, no library reference (see `task::abandon`).
    #[inline(always)]
    pub(crate) fn unobserved(self) -> bool {
        const SEEN: u64 = USER_MASK | FIRST | LIST | HELD | LENT | LOCKED | DYING | COMPLETED;
        self.0 & (SEEN | WATCHED) == WATCHED
    }
    pub(crate) fn with_status(self, status: Final) -> Snapshot {
        Snapshot((self.0 & !STATUS_MASK) | COMPLETED | ((status as u64) << STATUS_SHIFT))
    }
    pub(crate) fn set(self, bits: u64) -> Snapshot {
        Snapshot(self.0 | bits)
    }
    pub(crate) fn clear(self, bits: u64) -> Snapshot {
        Snapshot(self.0 & !bits)
    }
    /// The word a slot of this generation starts with.
    pub(crate) fn initial(generation: u32, user: u64, sources: u64, bits: u64) -> Snapshot {
        debug_assert!(user <= MAX_USER && sources <= MAX_SOURCES);
        Snapshot(
            ((generation as u64) << GEN_SHIFT)
                | (user << USER_SHIFT)
                | (sources << SOURCES_SHIFT)
                | bits,
        )
    }
    /// The word of a retired slot: the next generation, nothing else.
    pub(crate) fn retired(self) -> Snapshot {
        let next = (self.generation().wrapping_add(1)) & crate::core::memory::handle::GEN_MASK;
        Snapshot((next as u64) << GEN_SHIFT)
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (LOCKED, "LOCKED"),
            (FIRST, "FIRST"),
            (LIST, "LIST"),
            (LENT, "LENT"),
            (DYING, "DYING"),
            (HELD, "HELD"),
            (ASYNC, "ASYNC"),
            (RUN, "RUN"),
            (QUIET, "QUIET"),
            (WATCHED, "WATCHED"),
        ];
        let bits: Vec<&str> = names
            .iter()
            .filter(|(b, _)| self.has(*b))
            .map(|(_, n)| *n)
            .collect();
        f.debug_struct("Snapshot")
            .field("gen", &self.generation())
            .field("user", &self.user())
            .field("sources", &self.sources())
            .field("final", &self.final_status())
            .field("bits", &bits)
            .finish()
    }
}

/// Why an operation on the word was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The handle is stale (wrong generation, dying, or no reference of its kind left).
    Stale,
    /// The task has completed (for operations that need it pending).
    Completed,
    /// A count is at its maximum.
    Full,
}

/// What a release did.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// References remain.
    Alive,
    /// A task handle release left references, but none that observes the watched
    /// pending task: the caller calls `task::abandon::notify`.
    Unobserved,
    /// That was the last reference: `DYING` is set and the caller tears down.
    Dying,
    /// The last source handle of a pending task with no library producer: the caller
    /// now holds `LOCKED` and must decide (with the extra record) whether the promise
    /// is broken.
    Orphaned(Snapshot),
    /// Stale handle: nothing changed.
    Invalid,
}

/// See the module docs.
pub(crate) struct TaskWord(AtomicU64);

impl Default for TaskWord {
    fn default() -> Self {
        TaskWord(AtomicU64::new(0))
    }
}

impl TaskWord {
    #[inline(always)]
    pub(crate) fn load(&self) -> Snapshot {
        // Acquire: pairs with every Release store and CAS that published fields (the
        // outcome before COMPLETED, a slot's contents before its first word).
        Snapshot(self.0.load(Ordering::Acquire))
    }

    #[inline(always)]
    pub(crate) fn load_relaxed(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Relaxed))
    }

    /// Publishes a freshly initialized slot.
    #[inline(always)]
    pub(crate) fn publish(&self, word: Snapshot) {
        // Release: the slot's fields were written before; whoever learns the handle
        // loads the word with Acquire first.
        self.0.store(word.0, Ordering::Release);
    }

    /// Stores the word while holding `LOCKED` (or `DYING`), which excludes every other
    /// writer; `word` usually clears `LOCKED`.
    #[inline(always)]
    pub(crate) fn store_held(&self, word: Snapshot) {
        // Release: the edits made under the lock (list, outcome, extra record) are
        // published to the next thread that loads or locks the word.
        self.0.store(word.0, Ordering::Release);
    }

    /// The compare-exchange loop every transition uses. `f` returns the new word, or a
    /// refusal; a word with `LOCKED` set is waited out (spun on) unless `f` accepts it
    /// by returning `Err(None)` — i.e. `f` is only called with unlocked words.
    #[inline(always)]
    fn transition<R>(
        &self,
        success: Ordering,
        mut f: impl FnMut(Snapshot) -> Result<(Snapshot, R), Refusal>,
    ) -> Result<(Snapshot, R), Refusal> {
        let mut cur = Snapshot(self.0.load(Ordering::Relaxed));
        loop {
            if cur.has(LOCKED) && !cur.has(DYING) {
                cur = self.wait_unlocked();
                continue;
            }
            let (next, r) = f(cur)?;
            match self
                .0
                .compare_exchange_weak(cur.0, next.0, success, Ordering::Relaxed)
            {
                Ok(_) => return Ok((cur, r)),
                Err(actual) => cur = Snapshot(actual),
            }
        }
    }

    /// Spins until the word is not LOCKED (or is DYING); kept out of line so the
    /// transitions' fast path carries no spin state.
    #[cold]
    #[inline(never)]
    fn wait_unlocked(&self) -> Snapshot {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            spin(&backoff);
            let cur = Snapshot(self.0.load(Ordering::Relaxed));
            if !cur.has(LOCKED) || cur.has(DYING) {
                return cur;
            }
        }
    }

    /// Takes `LOCKED` when `accept` agrees with the (unlocked) word. Returns the word as
    /// it was before locking. The caller releases with `store_held`.
    #[inline(always)]
    pub(crate) fn lock(
        &self,
        accept: impl Fn(Snapshot) -> Result<(), Refusal>,
    ) -> Result<Snapshot, Refusal> {
        // Acquire: pairs with the Release of the previous holder's `store_held`.
        self.transition(Ordering::Acquire, |w| {
            if w.has(DYING) {
                return Err(Refusal::Stale);
            }
            accept(w)?;
            Ok((w.set(LOCKED), ()))
        })
        .map(|(w, ())| w)
    }

    /// Takes `LOCKED` when `accept` holds for the (unlocked) word; None (nothing taken)
    /// when it does not. Returns the word as it was before locking.
    pub(crate) fn lock_if(&self, accept: impl Fn(Snapshot) -> bool) -> Option<Snapshot> {
        self.lock(|w| {
            if accept(w) {
                Ok(())
            } else {
                Err(Refusal::Stale)
            }
        })
        .ok()
    }

    /// As [`lock_pending_if`](TaskWord::lock_pending_if), for a caller that has just
    /// read the word as `seen` and found it pending and acceptable: one
    /// compare-exchange from `seen` takes the lock (a word still equal to `seen` needs
    /// no second look); a word that has moved on takes the general path.
    #[inline(always)]
    pub(crate) fn lock_pending_seen(
        &self,
        seen: Snapshot,
        accept: impl Fn(Snapshot) -> bool,
    ) -> Result<Snapshot, Refusal> {
        debug_assert!(accept(seen) && !seen.is_completed());
        // Acquire: as in `lock`.
        if !seen.has(LOCKED)
            && self
                .0
                .compare_exchange(
                    seen.0,
                    seen.set(LOCKED).0,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Ok(seen);
        }
        self.lock_pending_if(accept)
    }

    /// Takes `LOCKED` on the word of a pending task that `accept` agrees with: `Stale`
    /// when it does not, `Completed` when the task has completed (nothing is taken then).
    #[inline(always)]
    pub(crate) fn lock_pending_if(
        &self,
        accept: impl Fn(Snapshot) -> bool,
    ) -> Result<Snapshot, Refusal> {
        self.lock(|w| {
            if !accept(w) {
                Err(Refusal::Stale)
            } else if w.is_completed() {
                Err(Refusal::Completed)
            } else {
                Ok(())
            }
        })
    }

    /// Locks the word of a task of `generation` that has not completed; None when the
    /// slot holds another object or the task has completed.
    pub(crate) fn lock_pending(&self, generation: u32) -> Option<Snapshot> {
        self.lock_if(|w| w.is_generation(generation) && !w.is_completed())
    }

    /// Adds a task handle reference for a caller with a valid task handle.
    pub(crate) fn retain_user(&self, generation: u32) -> Result<(), Refusal> {
        // Relaxed: a new reference orders nothing (the caller's handle keeps the task).
        self.transition(Ordering::Relaxed, |w| {
            if !w.task_handle_valid(generation) {
                Err(Refusal::Stale)
            } else if w.user() >= MAX_USER {
                Err(Refusal::Full)
            } else {
                Ok((Snapshot(w.0 + USER_ONE), ()))
            }
        })
        .map(|_| ())
    }

    /// Adds a task handle reference for a caller that holds a source handle (a source
    /// handing out its task) or any other reference to this generation.
    pub(crate) fn mint_user(
        &self,
        generation: u32,
        holder: impl Fn(Snapshot) -> bool,
    ) -> Result<(), Refusal> {
        // Relaxed: as in `retain_user`.
        self.transition(Ordering::Relaxed, |w| {
            if !w.is_generation(generation) || !holder(w) {
                Err(Refusal::Stale)
            } else if w.user() >= MAX_USER {
                Err(Refusal::Full)
            } else {
                Ok((Snapshot(w.0 + USER_ONE), ()))
            }
        })
        .map(|_| ())
    }

    /// Adds a source handle reference for a caller with a valid source handle.
    pub(crate) fn retain_source(&self, generation: u32) -> Result<(), Refusal> {
        self.transition(Ordering::Relaxed, |w| {
            if !w.source_handle_valid(generation) {
                Err(Refusal::Stale)
            } else if w.sources() >= MAX_SOURCES {
                Err(Refusal::Full)
            } else {
                Ok((Snapshot(w.0 + SOURCE_ONE), ()))
            }
        })
        .map(|_| ())
    }

    /// Adds a source handle for a holder of a library producer reference (a
    /// continuation giving its `next` to a callback that retains it).
    pub(crate) fn mint_source(&self, generation: u32) -> Result<(), Refusal> {
        self.transition(Ordering::Relaxed, |w| {
            if !w.is_generation(generation) {
                Err(Refusal::Stale)
            } else if w.sources() >= MAX_SOURCES {
                Err(Refusal::Full)
            } else {
                Ok((Snapshot(w.0 + SOURCE_ONE), ()))
            }
        })
        .map(|_| ())
    }

    /// Drops a task handle reference.
    pub(crate) fn release_user(&self, generation: u32) -> Release {
        // AcqRel: Release publishes this holder's writes to whoever tears down; Acquire
        // makes the tearing-down thread see every other holder's writes.
        match self.transition(Ordering::AcqRel, |w| {
            if !w.is_generation(generation) || w.user() == 0 {
                return Err(Refusal::Stale);
            }
            let next = Snapshot(w.0 - USER_ONE);
            Ok(if next.unreferenced() {
                (next.set(DYING), Release::Dying)
            } else if next.unobserved() {
                (next, Release::Unobserved)
            } else {
                (next, Release::Alive)
            })
        }) {
            Ok((_, r)) => r,
            Err(_) => Release::Invalid,
        }
    }

    /// Drops a source handle reference. With `orphan`, the last one on a pending task
    /// takes `LOCKED` instead (`Release::Orphaned`) so the caller can decide whether the
    /// promise is broken; without, the task just loses a producer.
    pub(crate) fn release_source(&self, generation: u32, orphan: bool) -> Release {
        // AcqRel: as in `release_user`.
        match self.transition(Ordering::AcqRel, |w| {
            if !w.source_handle_valid(generation) {
                return Err(Refusal::Stale);
            }
            let next = Snapshot(w.0 - SOURCE_ONE);
            Ok(if orphan && !next.is_completed() && next.sources() == 0 {
                let locked = next.set(LOCKED);
                (locked, Release::Orphaned(locked))
            } else if next.unreferenced() {
                (next.set(DYING), Release::Dying)
            } else {
                (next, Release::Alive)
            })
        }) {
            Ok((_, r)) => r,
            Err(_) => Release::Invalid,
        }
    }

    /// The completer is done with the callbacks: clears `LENT` (and `QUIET` with it).
    /// Returns `Release::Dying` if that was the last thing holding the task.
    pub(crate) fn clear_lent(&self) -> Release {
        // AcqRel: as in `release_user`.
        match self.transition(Ordering::AcqRel, |w| {
            debug_assert!(w.has(LENT), "clearing LENT not held: {w:?}");
            let next = w.clear(LENT | QUIET);
            Ok(if next.unreferenced() {
                (next.set(DYING), Release::Dying)
            } else {
                (next, Release::Alive)
            })
        }) {
            Ok((_, r)) => r,
            Err(_) => Release::Invalid,
        }
    }

    /// Unlocks with `next` (a word derived from the locked one); if nothing references
    /// the task any more, sets `DYING` instead and returns `Release::Dying`.
    pub(crate) fn unlock_or_die(&self, next: Snapshot) -> Release {
        let next = next.clear(LOCKED);
        if next.unreferenced() {
            self.store_held(next.set(DYING));
            Release::Dying
        } else {
            self.store_held(next);
            Release::Alive
        }
    }

    /// Makes a task nobody else knows yet permanent (see `PERMANENT_USERS`).
    pub(crate) fn make_permanent(&self) {
        let w = self.load_relaxed();
        debug_assert_eq!(w.user(), 1);
        self.publish(Snapshot(w.0 + (PERMANENT_USERS << USER_SHIFT)));
    }

    /// After teardown: the next generation, every old handle stale.
    pub(crate) fn retire(&self, dying: Snapshot) {
        self.store_held(dying.retired());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn live(user: u64, sources: u64) -> TaskWord {
        let w = TaskWord::default();
        w.publish(Snapshot::initial(5, user, sources, 0));
        w
    }

    #[test]
    fn layout_fits_and_fields_round_trip() {
        let s = Snapshot::initial(0xABCDEF, MAX_USER, MAX_SOURCES, FIRST | ASYNC);
        assert_eq!(s.generation(), 0xABCDEF);
        assert_eq!(s.user(), MAX_USER);
        assert_eq!(s.sources(), MAX_SOURCES);
        assert!(s.has(FIRST) && s.has(ASYNC) && !s.has(LOCKED));
        let done = s.with_status(Final::Canceled);
        assert_eq!(done.final_status(), Some(Final::Canceled));
        assert_eq!(done.user(), MAX_USER);
        assert_eq!(s.retired().generation(), 0xABCDF0);
        assert_eq!(
            Snapshot::initial(0xFFFFFF, 0, 0, 0).retired().generation(),
            0
        );
    }

    #[test]
    fn last_release_sets_dying_and_stale_handles_are_refused() {
        let w = live(1, 1);
        assert_eq!(w.release_user(5), Release::Alive);
        assert_eq!(w.release_user(5), Release::Invalid, "double release");
        assert_eq!(w.retain_user(5), Err(Refusal::Stale));
        // The last source of a pending task with no producer: the caller decides.
        let Release::Orphaned(locked) = w.release_source(5, true) else {
            panic!("expected Orphaned")
        };
        assert!(locked.has(LOCKED));
        assert_eq!(w.unlock_or_die(locked), Release::Dying);
        assert!(w.load().has(DYING));
        assert_eq!(w.release_source(5, true), Release::Invalid);
        assert_eq!(w.lock(|_| Ok(())), Err(Refusal::Stale));
        w.retire(w.load());
        assert_eq!(w.load().generation(), 6);
        assert_eq!(w.release_user(5), Release::Invalid, "after reuse");
    }

    #[test]
    fn lent_handles_are_valid_without_user_references() {
        let w = live(0, 1);
        w.publish(w.load().set(LENT));
        assert!(w.load().task_handle_valid(5));
        assert_eq!(w.retain_user(5), Ok(()));
        assert_eq!(w.release_user(5), Release::Alive);
        assert_eq!(w.release_user(5), Release::Invalid);
        assert_eq!(w.clear_lent(), Release::Alive);
        assert!(!w.load().task_handle_valid(5));
    }

    #[test]
    fn counts_refuse_past_their_maximum() {
        let w = live(MAX_USER, MAX_SOURCES);
        assert_eq!(w.retain_user(5), Err(Refusal::Full));
        assert_eq!(w.retain_source(5), Err(Refusal::Full));
        assert_eq!(w.load().user(), MAX_USER);
    }
}
