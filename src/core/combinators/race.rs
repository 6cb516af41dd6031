//! The word that decides a when_any: which input won, and which thread finishes the
//! combinator (removes the losers' registrations, cancels, completes the result).
//!
//! While the registering thread is still placing registrations the word is ARMING: an
//! input that completes then (or that had completed, and runs at registration) only
//! records itself as the winner, and the registering thread, which alone holds the
//! list of placements, finishes once it stops registering. After `arm` the winner
//! finishes itself. Either way exactly one thread finishes, after every registration
//! that will ever be made is made. A registration run that must have no effect at all
//! (the combinator failed validation and is abandoned) finds the word still ARMING
//! forever and does nothing.

use crate::core::sync::{AtomicUsize, Ordering};

const ARMING: usize = 1;
const WON: usize = 2;
const INDEX_SHIFT: u32 = 2;

/// What [`Race::try_win`] decided for an input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Win {
    /// Another input won first.
    Lost,
    /// This input won while the registering thread was still registering: it finishes.
    Recorded,
    /// This input won after arming: the caller finishes.
    Finish,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Race(AtomicUsize);

impl Race {
    /// A race still being armed, with no winner.
    pub(crate) fn new() -> Race {
        Race(AtomicUsize::new(ARMING))
    }

    /// Input `index` completed: the first call wins.
    pub(crate) fn try_win(&self, index: usize) -> Win {
        debug_assert!(index <= usize::MAX >> INDEX_SHIFT);
        // AcqRel: the winner's finish happens after the registering thread's `arm`
        // (which published the placements), and later callers see the win.
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w & WON == 0).then_some((w & ARMING) | WON | (index << INDEX_SHIFT))
            });
        match prev {
            Err(_) => Win::Lost,
            Ok(w) if w & ARMING != 0 => Win::Recorded,
            Ok(_) => Win::Finish,
        }
    }

    /// True once some input won (the registering thread stops registering then).
    pub(crate) fn has_winner(&self) -> bool {
        // Relaxed: a hint; `arm` decides with a read-modify-write.
        self.0.load(Ordering::Relaxed) & WON != 0
    }

    /// The registering thread is done: from now on the winner finishes. Returns the
    /// index of an input that won while arming (the caller finishes then).
    pub(crate) fn arm(&self) -> Option<usize> {
        // AcqRel: Release publishes what the registering thread stored for the winner;
        // Acquire pairs with a win recorded while arming.
        let prev = self.0.fetch_and(!ARMING, Ordering::AcqRel);
        debug_assert!(prev & ARMING != 0, "armed twice");
        (prev & WON != 0).then_some(prev >> INDEX_SHIFT)
    }
}
