//! The reference word of every pooled object except tasks (which pack their state into
//! theirs, see `task::word`): `generation(24) << 40 | user(20) << 20 | internal(20)`.
//!
//! # Why one word, and why two counts
//! Handles carry the generation of the object they were made for. Keeping it in the
//! same atomic as the counts makes every check-and-change one compare-exchange, so a
//! stale handle is refused even after the slot was reused, and validating a handle and
//! taking the reference it needs are a single step: never check, then act.
//!
//! `user` counts the handles callers hold; `internal` counts the library's own
//! references (a queued continuation's scheduler, an error held by a task, a pin held
//! for the duration of a call...). A user handle is valid only while `user > 0`, so a
//! handle released once too often is caught as soon as the caller's count reaches
//! zero, even while the library still holds the object; and the library's references
//! never make a stale user handle look valid. The object dies when both counts are zero:
//! the thread whose release took the word to zero tears it down, and no other operation
//! can succeed on a word with both counts zero, so it does so alone.
//!
//! Immortal singletons (the default and inline schedulers, the none token) start with
//! `IMMORTAL` internal references and are never freed.

use super::handle::GEN_MASK;
use crate::core::sync::{AtomicU64, Ordering};

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const USER_SHIFT: u32 = COUNT_BITS;
const USER_ONE: u64 = 1 << USER_SHIFT;
const GEN_SHIFT: u32 = 2 * COUNT_BITS;
/// The largest count; a retain past it is refused (`Full`), never wrapped.
const COUNT_MAX: u64 = COUNT_MASK - 1;
/// Internal references of an object that is never freed.
pub(crate) const IMMORTAL: u32 = 1 << (COUNT_BITS - 1);

/// What a release did.
#[must_use]
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Released {
    /// References of both kinds remain.
    Alive,
    /// That was the last user reference; library references remain (the object may
    /// want to dispose of what only users could reach).
    LastUser,
    /// That was the last reference: the caller tears the object down, then `retire`s.
    Last,
    /// The handle was stale, or its count was already zero: nothing changed.
    Invalid,
}

/// Why a retain was refused.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Refused {
    /// Stale generation, or no user reference left.
    Stale,
    /// The count is at its maximum.
    Full,
}

#[derive(Clone, Copy)]
struct Word(u64);

impl Word {
    fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }
    fn user(self) -> u64 {
        (self.0 >> USER_SHIFT) & COUNT_MASK
    }
    fn internal(self) -> u64 {
        self.0 & COUNT_MASK
    }
}

/// See the module docs.
pub(crate) struct RefWord(AtomicU64);

impl Default for RefWord {
    fn default() -> Self {
        RefWord(AtomicU64::new(0))
    }
}

impl RefWord {
    fn load(&self, order: Ordering) -> Word {
        Word(self.0.load(order))
    }

    /// Applies `f` with a compare-exchange loop; `f` returns `Err` to refuse.
    fn update<E>(&self, success: Ordering, f: impl Fn(Word) -> Result<u64, E>) -> Result<Word, E> {
        let mut cur = self.load(Ordering::Relaxed);
        loop {
            let next = f(cur)?;
            match self
                .0
                .compare_exchange_weak(cur.0, next, success, Ordering::Relaxed)
            {
                Ok(_) => return Ok(cur),
                Err(actual) => cur = Word(actual),
            }
        }
    }

    /// Makes a free slot live with the given counts; returns its generation.
    pub(crate) fn activate(&self, user: u32, internal: u32) -> u32 {
        // Relaxed: the free-list hand-off (a mutex, or this thread's own list) ordered
        // the previous owner's `retire` before us.
        let cur = self.load(Ordering::Relaxed);
        debug_assert_eq!(cur.0 & ((1 << GEN_SHIFT) - 1), 0, "activating a live slot");
        let generation = cur.generation();
        // Release: the handle reaches other threads only after this, and they must see
        // the fields initialized before it (pairs with the Acquire of `pin`, `is_live`).
        self.0.store(
            ((generation as u64) << GEN_SHIFT) | ((user as u64) << USER_SHIFT) | internal as u64,
            Ordering::Release,
        );
        generation
    }

    /// Validates a user handle of `generation` and takes an internal reference for the
    /// duration of a call, in one step. False when stale.
    pub(crate) fn pin(&self, generation: u32) -> bool {
        // Acquire: pairs with the Release in `activate`, so the fields are initialized.
        self.update(Ordering::Acquire, |w| {
            if w.generation() == generation && w.user() > 0 && w.internal() < COUNT_MAX {
                Ok(w.0 + 1)
            } else {
                Err(())
            }
        })
        .is_ok()
    }

    /// Takes an internal reference from a weak name (a handle the library keeps without
    /// a reference) if that object still exists. False when it is gone.
    pub(crate) fn upgrade(&self, generation: u32) -> bool {
        // Acquire: as in `pin`.
        self.update(Ordering::Acquire, |w| {
            if w.generation() == generation
                && (w.user() | w.internal()) != 0
                && w.internal() < COUNT_MAX
            {
                Ok(w.0 + 1)
            } else {
                Err(())
            }
        })
        .is_ok()
    }

    /// A user handle adds a user reference (`tapir_x_retain`).
    pub(crate) fn retain_user(&self, generation: u32) -> Result<(), Refused> {
        // Relaxed: a new reference orders nothing (the caller holds one already).
        self.update(Ordering::Relaxed, |w| {
            if w.generation() != generation || w.user() == 0 {
                Err(Refused::Stale)
            } else if w.user() >= COUNT_MAX {
                Err(Refused::Full)
            } else {
                Ok(w.0 + USER_ONE)
            }
        })
        .map(|_| ())
    }

    /// Adds a user reference for a holder that owns a reference of either kind (a
    /// source handing out its task, a registration its token). False when full.
    pub(crate) fn mint_user(&self) -> bool {
        // Relaxed: the holder's reference keeps the object; nothing else is ordered.
        self.update(Ordering::Relaxed, |w| {
            debug_assert!((w.user() | w.internal()) != 0);
            if w.user() >= COUNT_MAX {
                Err(())
            } else {
                Ok(w.0 + USER_ONE)
            }
        })
        .is_ok()
    }

    /// Adds an internal reference for a holder that owns a reference of either kind.
    pub(crate) fn retain_internal(&self) {
        // Relaxed: as in `mint_user`.
        let old = self.0.fetch_add(1, Ordering::Relaxed);
        if Word(old).internal() >= COUNT_MAX {
            // Tens of thousands of holders is normal; a million means a leak loop, and a
            // wrapped count would free a live object: stop, as Arc does.
            std::process::abort();
        }
    }

    /// Drops a user reference of a handle of `generation`.
    pub(crate) fn release_user(&self, generation: u32) -> Released {
        // AcqRel: Release publishes this holder's writes to whoever tears down; Acquire
        // makes the tearing-down thread see every other holder's writes.
        match self.update(Ordering::AcqRel, |w| {
            if w.generation() == generation && w.user() > 0 {
                Ok(w.0 - USER_ONE)
            } else {
                Err(())
            }
        }) {
            Err(()) => Released::Invalid,
            Ok(w) if w.user() == 1 && w.internal() == 0 => Released::Last,
            Ok(w) if w.user() == 1 => Released::LastUser,
            Ok(_) => Released::Alive,
        }
    }

    /// Drops an internal reference the caller owns.
    pub(crate) fn release_internal(&self) -> Released {
        // AcqRel: as in `release_user`.
        let old = Word(self.0.fetch_sub(1, Ordering::AcqRel));
        debug_assert!(old.internal() > 0, "internal reference underflow");
        if old.internal() == 1 && old.user() == 0 {
            Released::Last
        } else {
            Released::Alive
        }
    }

    /// Makes a just-created object a singleton that is never freed.
    pub(crate) fn make_immortal(&self) {
        // Relaxed: done once, before the handle is shared (under a OnceLock).
        self.0.fetch_add(IMMORTAL as u64, Ordering::Relaxed);
    }

    /// After teardown: bumps the generation (every old handle turns stale).
    pub(crate) fn retire(&self) {
        // Relaxed: both counts are zero, so no operation can succeed on the word; the
        // free-list hand-off orders this store before the next `activate`.
        let w = self.load(Ordering::Relaxed);
        debug_assert_eq!(w.user() + w.internal(), 0);
        let next = w.generation().wrapping_add(1) & GEN_MASK;
        self.0.store((next as u64) << GEN_SHIFT, Ordering::Relaxed);
    }

    /// The generation of a live object (stable while the caller holds a reference).
    pub(crate) fn generation(&self) -> u32 {
        self.load(Ordering::Relaxed).generation()
    }

    /// True when no user handle is outstanding (a snapshot).
    pub(crate) fn has_no_user(&self) -> bool {
        self.load(Ordering::Acquire).user() == 0
    }

    /// True for a live object that is not an immortal singleton (diagnostics).
    pub(crate) fn counts_as_live(&self) -> bool {
        let w = self.load(Ordering::Relaxed);
        (w.user() | w.internal()) != 0 && w.internal() < IMMORTAL as u64 / 2
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn user_over_release_is_caught_while_internal_references_remain() {
        let w = RefWord::default();
        let g = w.activate(1, 1);
        assert_eq!(w.release_user(g), Released::LastUser);
        assert_eq!(w.release_user(g), Released::Invalid);
        assert!(!w.pin(g));
        assert_eq!(w.release_internal(), Released::Last);
        w.retire();
        assert!(!w.upgrade(g));
    }

    #[test]
    fn stale_generation_is_refused_after_reuse() {
        let w = RefWord::default();
        let g = w.activate(1, 0);
        assert_eq!(w.release_user(g), Released::Last);
        w.retire();
        let g2 = w.activate(1, 0);
        assert_ne!(g, g2);
        assert_eq!(w.retain_user(g), Err(Refused::Stale));
        assert_eq!(w.release_user(g), Released::Invalid);
        assert!(!w.pin(g));
        assert!(w.pin(g2));
        assert_eq!(w.retain_user(g2), Ok(()));
    }

    #[test]
    fn pin_and_upgrade_take_internal_references() {
        let w = RefWord::default();
        let g = w.activate(1, 0);
        assert!(w.pin(g));
        assert_eq!(w.release_user(g), Released::LastUser);
        assert!(!w.pin(g), "no user handle left to validate");
        assert!(w.upgrade(g), "the object still exists");
        assert_eq!(w.release_internal(), Released::Alive);
        assert_eq!(w.release_internal(), Released::Last);
    }
}
