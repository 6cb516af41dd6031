//! The reference word every pooled object starts with:
//! `generation(24) << 40 | user(20) << 20 | internal(20)`.
//!
//! # Why one word, and why two counts
//! Handles carry the generation of the object they were made for. Keeping it in the
//! same atomic as the counts lets every check-and-change be one compare-exchange, so
//! a stale handle is refused even after the slot was reused.
//!
//! `user` counts the handles callers hold; `internal` counts the library's own
//! references (a queued continuation's antecedent, an error held by a task, ...).
//! A user handle is valid only while `user > 0`, so releasing a handle once too often
//! is caught as soon as the caller's count reaches zero, even while the library still
//! holds the object; and the library's references never make a stale user handle
//! look valid. The object dies when both counts are zero.
//!
//! Immortal singletons (the default scheduler, the completed task, the none token)
//! start with `IMMORTAL` internal references and are never freed.

use super::sync::{AtomicU64, Ordering};

const COUNT_BITS: u32 = 20;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const USER_SHIFT: u32 = COUNT_BITS;
const USER_ONE: u64 = 1 << USER_SHIFT;
const GEN_SHIFT: u32 = 2 * COUNT_BITS;
/// Generations wrap after 2^24 reuses of one slot.
pub(crate) const GEN_MASK: u32 = (1 << 24) - 1;
/// Internal references of an object that is never freed.
pub(crate) const IMMORTAL: u32 = 1 << (COUNT_BITS - 1);

/// What a release did; the caller that sees `Last` must tear the object down.
#[must_use]
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Released {
    /// References remain.
    Alive,
    /// This was the last reference: tear down, then `retire`.
    Last,
    /// The handle was stale, or that count was already zero.
    Invalid,
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

    /// Applies `f` with a compare-exchange loop; `f` returns None to refuse.
    fn update(&self, success: Ordering, f: impl Fn(Word) -> Option<u64>) -> Option<Word> {
        let mut cur = self.load(Ordering::Relaxed);
        loop {
            let next = f(cur)?;
            match self
                .0
                .compare_exchange_weak(cur.0, next, success, Ordering::Relaxed)
            {
                Ok(_) => return Some(cur),
                Err(actual) => cur = Word(actual),
            }
        }
    }

    /// Makes a free slot live with the given counts; returns its generation.
    pub(crate) fn activate(&self, user: u32, internal: u32) -> u32 {
        // Relaxed load: the free-list hand-off (a mutex, or this thread's own cache)
        // ordered the previous owner's `retire` before us.
        let cur = self.load(Ordering::Relaxed);
        debug_assert_eq!(cur.0 & ((1 << GEN_SHIFT) - 1), 0, "activating a live slot");
        let generation = cur.generation();
        // Release: the handle reaches other threads only after this, and they must see
        // the fields initialized before it.
        self.0.store(
            ((generation as u64) << GEN_SHIFT) | ((user as u64) << USER_SHIFT) | internal as u64,
            Ordering::Release,
        );
        generation
    }

    /// True while a user handle of `generation` is valid (`user > 0`).
    pub(crate) fn is_live(&self, generation: u32) -> bool {
        // Acquire: pairs with the Release in `activate`.
        let w = self.load(Ordering::Acquire);
        w.generation() == generation && w.user() > 0
    }

    /// True while the object of `generation` exists (either count non-zero).
    pub(crate) fn exists(&self, generation: u32) -> bool {
        // Acquire: as in `is_live`.
        let w = self.load(Ordering::Acquire);
        w.generation() == generation && (w.user() | w.internal()) != 0
    }

    fn check(c: u64) -> u64 {
        if c == COUNT_MASK {
            // A wrapped count would alias a free slot: abort like Arc does.
            std::process::abort();
        }
        c
    }

    /// A user handle adds a user reference (tapir_x_retain); false when stale.
    pub(crate) fn retain(&self, generation: u32) -> bool {
        // Relaxed: a new reference orders nothing (the caller holds one already).
        self.update(Ordering::Relaxed, |w| {
            (w.generation() == generation && w.user() > 0)
                .then(|| Self::check(w.user()))
                .map(|_| w.0 + USER_ONE)
        })
        .is_some()
    }

    /// Mints a user handle for an object the caller knows exists by other means
    /// (a source giving out its task, a token of a source, a singleton).
    pub(crate) fn mint(&self, generation: u32) -> bool {
        // Relaxed: as in `retain`.
        self.update(Ordering::Relaxed, |w| {
            (w.generation() == generation && (w.user() | w.internal()) != 0)
                .then(|| Self::check(w.user()))
                .map(|_| w.0 + USER_ONE)
        })
        .is_some()
    }

    /// A user handle lends the library a reference (internal + 1); false when stale.
    pub(crate) fn retain_internal(&self, generation: u32) -> bool {
        // Relaxed: as in `retain`.
        self.update(Ordering::Relaxed, |w| {
            (w.generation() == generation && w.user() > 0)
                .then(|| Self::check(w.internal()))
                .map(|_| w.0 + 1)
        })
        .is_some()
    }

    /// Upgrades a weak name (a handle the library keeps without a reference) to an
    /// internal reference if the object still exists.
    pub(crate) fn upgrade(&self, generation: u32) -> bool {
        // Relaxed: as in `retain`.
        self.update(Ordering::Relaxed, |w| {
            (w.generation() == generation && (w.user() | w.internal()) != 0)
                .then(|| Self::check(w.internal()))
                .map(|_| w.0 + 1)
        })
        .is_some()
    }

    /// Makes a just-created object a singleton that is never freed.
    pub(crate) fn make_immortal(&self) {
        // Relaxed: done once, before the handle is shared (under a OnceLock).
        self.0.fetch_add(IMMORTAL as u64, Ordering::Relaxed);
    }

    /// Adds an internal reference for a holder that already owns one.
    pub(crate) fn retain_owned(&self) {
        // Relaxed: as in `retain`.
        let old = self.0.fetch_add(1, Ordering::Relaxed);
        Self::check(Word(old).internal());
    }

    /// Turns one internal reference into a user reference (handing it to a caller).
    pub(crate) fn internal_to_user(&self) {
        // Relaxed: the caller owns the internal reference; ownership moves, nothing else.
        let old = self.0.fetch_add(USER_ONE - 1, Ordering::Relaxed);
        debug_assert!(Word(old).internal() > 0);
        Self::check(Word(old).user());
    }

    fn release_with(&self, generation: Option<u32>, unit: u64, count: fn(Word) -> u64) -> Released {
        // AcqRel: Release publishes this holder's writes to whoever tears down; Acquire
        // makes the tearing-down thread see every other holder's writes.
        match self.update(Ordering::AcqRel, |w| {
            (generation.is_none_or(|g| g == w.generation()) && count(w) > 0).then(|| w.0 - unit)
        }) {
            None => Released::Invalid,
            Some(w) if w.user() + w.internal() == 1 => Released::Last,
            Some(_) => Released::Alive,
        }
    }

    /// Drops a user reference of a handle of `generation`.
    pub(crate) fn release(&self, generation: u32) -> Released {
        self.release_with(Some(generation), USER_ONE, Word::user)
    }

    /// Drops an internal reference.
    pub(crate) fn release_owned(&self) -> Released {
        self.release_with(None, 1, Word::internal)
    }

    /// After teardown: bumps the generation (every old handle turns stale).
    pub(crate) fn retire(&self) {
        // Relaxed: both counts are zero, so no handle can act on the slot; the free-list
        // hand-off orders this store before the next `activate`.
        let w = self.load(Ordering::Relaxed);
        debug_assert_eq!(w.user() + w.internal(), 0);
        let next = w.generation().wrapping_add(1) & GEN_MASK;
        self.0.store((next as u64) << GEN_SHIFT, Ordering::Relaxed);
    }

    /// True when no user handle is outstanding (the lend fast-path check).
    pub(crate) fn has_no_user(&self) -> bool {
        // Relaxed: a hint; `mint` re-checks the generation atomically.
        self.load(Ordering::Relaxed).user() == 0
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
        assert_eq!(w.release(g), Released::Alive);
        assert_eq!(w.release(g), Released::Invalid);
        assert!(!w.is_live(g));
        assert!(w.exists(g));
        assert_eq!(w.release_owned(), Released::Last);
        w.retire();
        assert!(!w.exists(g));
        assert!(!w.upgrade(g));
    }

    #[test]
    fn stale_generation_is_refused_after_reuse() {
        let w = RefWord::default();
        let g = w.activate(1, 0);
        assert_eq!(w.release(g), Released::Last);
        w.retire();
        let g2 = w.activate(1, 0);
        assert_ne!(g, g2);
        assert!(!w.retain(g));
        assert_eq!(w.release(g), Released::Invalid);
        assert!(w.retain(g2));
    }

    #[test]
    fn into_user_moves_a_reference() {
        let w = RefWord::default();
        let g = w.activate(0, 1);
        assert!(!w.is_live(g));
        w.internal_to_user();
        assert!(w.is_live(g));
        assert_eq!(w.release_owned(), Released::Invalid);
        assert_eq!(w.release(g), Released::Last);
    }
}
