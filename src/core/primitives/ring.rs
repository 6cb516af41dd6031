//! The channel's lock-free fast path: a bounded MPMC ring (the array queue of
//! crossbeam, after Dmitry Vyukov) whose head and tail words each carry a mark bit
//! that sends the operations of that end to the channel's mutex.
//!
//! ```text
//! head, tail: MARK << 63 | lap | index       slot: stamp, value
//! ```
//!
//! A position is `lap | index` with `index < cap` and laps counted in units of
//! `one_lap`, the smallest power of two above `cap`; arithmetic on positions wraps
//! at 2^63, below the mark. A slot's stamp says whose turn it is: `pos` (a push at
//! `pos` may write it) or `pos + 1` (a pop at `pos` may take it). Pushes move the tail
//! with a compare-exchange, pops the head, then each hands the slot on with a Release
//! store of the stamp, so a value is written before it is read and read before its
//! slot is reused.
//!
//! # The marks
//! A set mark refuses the fast path of its end (`push` sees a marked tail, `pop` a
//! marked head): the caller takes the channel's mutex. Marks are set and cleared only
//! by a holder of that mutex, so its holder sees them stable; the `*_locked`
//! operations, used only under the mutex, ignore them.
//!
//! The marks close the lost-wakeup race without a second word: a consumer that is
//! about to park marks the tail *only if the ring is empty*, in one compare-exchange
//! on the tail ([`Ring::mark_tail_if_empty`]). A fast push moves the same word, so
//! either the push lands first (the compare-exchange fails and the consumer takes the
//! item) or the mark does (the push sees it, refuses, and the pusher hands its item
//! over under the mutex). [`Ring::mark_head_if_full`] is the same for a producer that
//! parks on a full ring, against fast pops. A push that moved the tail before a mark
//! was set may still be writing its slot: a pop under the mutex waits the few
//! instructions until it is written (positions, not stamps, say what the ring holds).
//!
//! Orderings: stamps are Acquire/Release (they publish the values); the position
//! words are moved by SeqCst compare-exchanges, and the cross-end loads that decide
//! "empty" and "full" are SeqCst, as in crossbeam (a stale answer there is one a
//! concurrent operation could have given; the mark decisions rest on the
//! compare-exchange of their own word, see above).

use std::mem::MaybeUninit;

use crossbeam_utils::{Backoff, CachePadded};

use crate::core::sync::{self, AtomicU64, Ordering, UnsafeCell};

/// The mark bit of a head or tail word.
const MARK: u64 = 1 << 63;
/// The position bits.
const POS: u64 = !MARK;

struct Slot<T> {
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// See the module docs.
pub(crate) struct Ring<T> {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    buffer: Box<[Slot<T>]>,
    cap: u64,
    one_lap: u64,
}

// SAFETY: a value is moved in by the one push that won its slot's position and moved
// out by the one pop that won it afterwards (the stamp orders the two), so values
// only travel between threads: `T: Send` is all that is needed.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its values.
unsafe impl<T: Send> Send for Ring<T> {}

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The tail is marked: go to the mutex.
    Marked,
    /// Every slot holds a value.
    Full,
}

/// What a pop found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pop<T> {
    Item(T),
    /// Nothing to take; `tail_marked`: the tail was marked when the ring was found
    /// empty (the channel may have more to say under its mutex).
    Empty {
        tail_marked: bool,
    },
    /// The head is marked: go to the mutex.
    Marked,
}

impl<T> Ring<T> {
    /// A ring of `cap` slots (at least 1), both ends unmarked.
    pub(crate) fn new(cap: usize) -> Ring<T> {
        let cap = cap.max(1) as u64;
        let one_lap = (cap + 1).next_power_of_two();
        let buffer = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            buffer,
            cap,
            one_lap,
        }
    }

    /// The position after `pos` (unmarked).
    fn next(&self, pos: u64) -> u64 {
        let index = pos & (self.one_lap - 1);
        let lap = pos & !(self.one_lap - 1) & POS;
        if index + 1 < self.cap {
            pos + 1
        } else {
            lap.wrapping_add(self.one_lap) & POS
        }
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        &self.buffer[(pos & (self.one_lap - 1)) as usize]
    }

    /// A lock-free push; refused when the tail is marked or the ring is full.
    pub(crate) fn push(&self, value: T) -> Result<(), (Refused, T)> {
        self.push_impl(value, false)
    }

    /// A push by the channel's mutex holder: the tail's mark is kept, not obeyed.
    pub(crate) fn push_locked(&self, value: T) -> Result<(), T> {
        self.push_impl(value, true).map_err(|(_, v)| v)
    }

    fn push_impl(&self, value: T, locked: bool) -> Result<(), (Refused, T)> {
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & MARK != 0 && !locked {
                return Err((Refused::Marked, value));
            }
            let mark = tail & MARK;
            let pos = tail & POS;
            let slot = self.slot(pos);
            // Acquire: pairs with the Release of the pop that freed the slot.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == pos {
                let new = self.next(pos) | mark;
                match self.tail.compare_exchange_weak(
                    tail,
                    new,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the tail at `pos` while the stamp said `pos`
                        // makes this push the slot's only writer until it stores the
                        // stamp below; the previous value was moved out by its pop.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        // Release: the value is written before a pop may read it.
                        slot.stamp.store(pos + 1, Ordering::Release);
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) & POS == pos + 1 {
                // The slot still holds the value of the previous lap: full, unless its
                // pop has moved the head and is about to hand the slot back.
                let head = self.head.load(Ordering::SeqCst);
                if (head & POS).wrapping_add(self.one_lap) & POS == pos {
                    return Err((Refused::Full, value));
                }
                sync::spin(&backoff);
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another push won this position and has not moved the tail on yet.
                sync::spin(&backoff);
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// A lock-free pop; refused when the head is marked.
    pub(crate) fn pop(&self) -> Pop<T> {
        self.pop_impl(false)
    }

    /// A pop by the channel's mutex holder: the head's mark is kept, not obeyed, and
    /// a value whose push has moved the tail but not yet written it is waited for.
    pub(crate) fn pop_locked(&self) -> Option<T> {
        match self.pop_impl(true) {
            Pop::Item(v) => Some(v),
            _ => None,
        }
    }

    fn pop_impl(&self, locked: bool) -> Pop<T> {
        let backoff = Backoff::new();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head & MARK != 0 && !locked {
                return Pop::Marked;
            }
            let mark = head & MARK;
            let pos = head & POS;
            let slot = self.slot(pos);
            // Acquire: pairs with the Release of the push that wrote the slot.
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == pos + 1 {
                let new = self.next(pos) | mark;
                match self.head.compare_exchange_weak(
                    head,
                    new,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: winning the head at `pos` while the stamp said `pos + 1`
                        // makes this pop the only reader of the value its push wrote;
                        // the slot is handed back (stamp below) only after the move.
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        // Release: the value is moved out before a push may overwrite it.
                        slot.stamp
                            .store(pos.wrapping_add(self.one_lap) & POS, Ordering::Release);
                        return Pop::Item(value);
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
            } else if stamp == pos {
                // The slot waits for this lap's push: empty, unless that push has moved
                // the tail and is still writing.
                let tail = self.tail.load(Ordering::SeqCst);
                if tail & POS == pos {
                    return Pop::Empty {
                        tail_marked: tail & MARK != 0,
                    };
                }
                sync::spin(&backoff);
                head = self.head.load(Ordering::Relaxed);
            } else {
                // Another pop won this position and has not moved the head on yet.
                sync::spin(&backoff);
                head = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Values in the ring now (pushes in flight count).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst) & POS;
            let head = self.head.load(Ordering::SeqCst) & POS;
            if self.tail.load(Ordering::SeqCst) & POS == tail {
                let hix = head & (self.one_lap - 1);
                let tix = tail & (self.one_lap - 1);
                return if hix < tix {
                    tix - hix
                } else if hix > tix {
                    self.cap - hix + tix
                } else if tail == head {
                    0
                } else {
                    self.cap
                } as usize;
            }
        }
    }

    // ---- under the channel's mutex ----

    /// Marks the tail if the ring is empty (true; also when it was marked already and
    /// is empty); false when it holds values (or a push is writing one).
    pub(crate) fn mark_tail_if_empty(&self) -> bool {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if head & POS != tail & POS {
                return false;
            }
            if tail & MARK != 0 {
                return true;
            }
            // The compare-exchange is what makes "empty" and "marked" one step: a push
            // that moved the tail since the load makes it fail (see the module docs).
            if self
                .tail
                .compare_exchange(tail, tail | MARK, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Marks the head if the ring is full (true; also when it was marked already and
    /// is full); false when a slot is free.
    pub(crate) fn mark_head_if_full(&self) -> bool {
        loop {
            let head = self.head.load(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::SeqCst);
            if (head & POS).wrapping_add(self.one_lap) & POS != tail & POS {
                return false;
            }
            if head & MARK != 0 {
                return true;
            }
            // As in `mark_tail_if_empty`, against pops.
            if self
                .head
                .compare_exchange(head, head | MARK, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Sets or clears the marks (unconditionally; a store only where one changes).
    pub(crate) fn set_marks(&self, head: bool, tail: bool) {
        Self::set_mark(&self.head, head);
        Self::set_mark(&self.tail, tail);
    }

    fn set_mark(word: &AtomicU64, on: bool) {
        let is_on = word.load(Ordering::SeqCst) & MARK != 0;
        if on && !is_on {
            word.fetch_or(MARK, Ordering::SeqCst);
        } else if !on && is_on {
            word.fetch_and(POS, Ordering::SeqCst);
        }
    }

    /// Whether the tail (`false`: the head) is marked now.
    pub(crate) fn marked(&self, tail: bool) -> bool {
        let w = if tail { &self.tail } else { &self.head };
        w.load(Ordering::SeqCst) & MARK != 0
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop_locked().is_some() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_empty() {
        for cap in [1, 2, 3, 5, 8, 1024] {
            let r = Ring::new(cap);
            for round in 0..3 {
                for i in 0..cap {
                    assert!(r.push(round * 10_000 + i).is_ok());
                }
                assert_eq!(r.len(), cap);
                assert!(matches!(r.push(0), Err((Refused::Full, 0))));
                for i in 0..cap {
                    assert_eq!(r.pop(), Pop::Item(round * 10_000 + i));
                }
                assert_eq!(r.pop(), Pop::Empty { tail_marked: false });
                assert_eq!(r.len(), 0);
            }
        }
    }

    #[test]
    fn marks_refuse_the_fast_path_only() {
        let r = Ring::new(2);
        assert!(r.mark_tail_if_empty());
        assert!(matches!(r.push(1), Err((Refused::Marked, 1))));
        assert_eq!(r.pop(), Pop::Empty { tail_marked: true });
        assert!(r.push_locked(1).is_ok());
        assert!(!r.mark_tail_if_empty());
        assert!(r.push_locked(2).is_ok());
        assert!(r.mark_head_if_full());
        assert_eq!(r.pop(), Pop::Marked);
        assert_eq!(r.pop_locked(), Some(1));
        assert!(!r.mark_head_if_full());
        r.set_marks(false, false);
        assert!(!r.marked(true) && !r.marked(false));
        assert_eq!(r.pop(), Pop::Item(2));
        assert!(r.push(3).is_ok());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn drop_drops_what_is_left() {
        let v = std::sync::Arc::new(());
        let r = Ring::new(4);
        for _ in 0..3 {
            assert!(r.push(v.clone()).is_ok());
        }
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
