//! The channel's lock-free fast path: a bounded MPMC ring (after Dmitry Vyukov's array
//! queue, as in crossbeam) whose two position words live in the channel's pooled slot,
//! beside the value, and carry the handle's generation and a mark bit.
//!
//! ```text
//! head, tail ([`Ends`], in the slot):  generation(24) << 40 | MARK << 39 | pos(39)
//! slots ([`Ring`], in the value):      stamp, value
//! ```
//!
//! # Claim first, then touch the value
//! An operation claims a position by moving its word with one compare-exchange, which
//! also checks the generation and the mark: a stale handle (even one whose slot was
//! reused), a marked end, a full or an empty ring are refused before anything outside
//! the slot is read. Only a claimed operation reads the value (its slots), and
//! [`Ring::quiesce`], run before the value is moved out, waits for every claimed
//! operation to finish. So the words are the fast path's only protection: no gate,
//! no pin, and one read-modify-write per call.
//!
//! Positions count up modulo 2^39 (a multiple of every buffer length); `pos` uses slot
//! `pos & mask` of a buffer of `mask + 1` slots (the capacity rounded up to a power of
//! two). The ring holds `tail - head` values, at most `cap`: a push claims the tail only
//! while `tail - head < cap`, a pop claims the head only while `head != tail`. A slot's
//! stamp says whether the value of a claimed position is in it: `free(pos)` (a push
//! claimed at `pos` may write it) or `written(pos)` (a pop claimed at `pos` may take
//! it). A claim may come before its slot is ready (the push of the previous lap's pop,
//! or the pop of a push, is a few instructions behind): the claimant waits for the
//! stamp. Positions, not stamps, say what the ring holds.
//!
//! # The marks
//! A set mark refuses the fast path of its end (a push sees a marked tail, a pop a
//! marked head): the caller takes the channel's mutex. Marks are set and cleared only
//! by a holder of that mutex, so its holder sees them stable; the `*_locked`
//! operations, used only under the mutex, ignore them (and the generation).
//!
//! The marks close the lost-wakeup race without a second word: a consumer that is
//! about to park marks the tail *only if the ring is empty*, in one compare-exchange
//! on the tail ([`Ring::mark_tail_if_empty`]). A fast push moves the same word, so
//! either the push lands first (the compare-exchange fails and the consumer takes the
//! item) or the mark does (the push sees it, refuses, and the pusher hands its item
//! over under the mutex). [`Ring::mark_head_if_full`] is the same for a producer that
//! parks on a full ring, against fast pops.
//!
//! Orderings: stamps are Acquire/Release (they publish the values, and tell
//! `quiesce` that a claimed operation is done with the value); the position words are
//! moved by SeqCst compare-exchanges and read by SeqCst loads, as in crossbeam, and
//! [`Ends::open`]'s Release store publishes the shape (a stale answer from a cross-end
//! load is one a concurrent operation could have given; the mark decisions rest on the
//! compare-exchange of their own word, see above).

use std::mem::MaybeUninit;
use std::ops::Deref;

use crossbeam_utils::{Backoff, CachePadded};

use crate::core::sync::{self, AtomicU64, Ordering, UnsafeCell};

const GEN_SHIFT: u32 = 40;
/// The mark bit of a head or tail word.
const MARK: u64 = 1 << 39;
/// The position bits.
const POS: u64 = MARK - 1;
/// The shape word: the capacity (low 32 bits) and whether a full ring is a full channel.
const CAP_MASK: u64 = 0xFFFF_FFFF;
const FULL_FINAL: u64 = 1 << 32;

fn generation_of(w: u64) -> u32 {
    (w >> GEN_SHIFT) as u32
}

/// How many positions `tail` is past `head` (modulo 2^39).
fn dist(tail: u64, head: u64) -> u64 {
    tail.wrapping_sub(head) & POS
}

/// `w` with its position moved on by one (generation and mark kept).
fn bump(w: u64) -> u64 {
    (w & !POS) | (w.wrapping_add(1) & POS)
}

/// The stamp of a slot free for a push at `pos`.
fn free(pos: u64) -> u64 {
    (pos & POS) << 1
}

/// The stamp of a slot holding the value pushed at `pos`.
fn written(pos: u64) -> u64 {
    (pos & POS) << 1 | 1
}

/// The position words of a ring, kept in the pooled slot of its channel (type-stable:
/// valid to read whether or not the slot holds a channel, and whichever).
pub(crate) struct Ends {
    head: CachePadded<End>,
    tail: CachePadded<End>,
    /// Written before `open` publishes the words; read-only afterwards.
    shape: AtomicU64,
}

/// One end's word, and on its line the other end's word as an operation of this end
/// last saw it: a hint that spares a push reading the head line (and a pop the tail
/// line), which the other side writes with every operation. The other word only grows
/// within a generation, so "room" (or "an item") by the hint is room by the word; a
/// hint of another generation, or one that does not say yes, sends the operation to
/// the word itself.
struct End {
    word: AtomicU64,
    seen: AtomicU64,
}

impl Deref for End {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.word
    }
}

impl Default for Ends {
    fn default() -> Self {
        // Marked: nothing is claimed in a slot that holds no channel yet.
        let end = || {
            CachePadded::new(End {
                word: AtomicU64::new(MARK),
                seen: AtomicU64::new(MARK),
            })
        };
        Ends {
            head: end(),
            tail: end(),
            shape: AtomicU64::new(0),
        }
    }
}

/// A claimed position: the operation that holds it must write (a push) or take (a pop)
/// its slot, and the value stays in place until it has (see the module docs).
#[must_use]
pub(crate) struct Claimed(u64);

/// Why a push was not claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The tail is marked, or the handle is not this generation's: go to the mutex.
    Marked,
    /// The ring holds `cap` values.
    Full,
}

/// Why a pop was not claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unclaimed {
    /// Nothing to take; `tail_marked`: the tail was marked when the ring was found
    /// empty (the channel may have more to say under its mutex).
    Empty { tail_marked: bool },
    /// The head is marked, or the handle is not this generation's: go to the mutex.
    Marked,
}

impl Ends {
    /// Starts the words of a new object of `generation` with a ring of `cap` values
    /// (0: no ring, every end marked for good) at position 0, before its handle is
    /// published. `full_final`: a full ring is a full channel (see
    /// [`Ends::full_is_final`]).
    pub(crate) fn open(&self, generation: u32, cap: usize, full_final: bool) {
        let cap = (cap as u64).min(CAP_MASK);
        let shape = cap | if full_final { FULL_FINAL } else { 0 };
        // Relaxed: published by the Release stores below.
        self.shape.store(shape, Ordering::Relaxed);
        let w = (generation as u64) << GEN_SHIFT | if cap == 0 { MARK } else { 0 };
        // Relaxed: hints (see `End`), published with the words.
        self.head.seen.store(w, Ordering::Relaxed);
        self.tail.seen.store(w, Ordering::Relaxed);
        // Release: pairs with the loads of the claims (the shape, and the value the
        // creator wrote before publishing the handle).
        self.head.store(w, Ordering::Release);
        self.tail.store(w, Ordering::Release);
    }

    fn cap(&self) -> u64 {
        // Relaxed: read after a load of a word `open` published it with.
        self.shape.load(Ordering::Relaxed) & CAP_MASK
    }

    /// Whether a refused full push means the channel is full (its ring is all of it).
    pub(crate) fn full_is_final(&self) -> bool {
        self.shape.load(Ordering::Relaxed) & FULL_FINAL != 0
    }

    /// Claims the tail for a push of `generation`'s handle.
    #[inline]
    pub(crate) fn claim_push(&self, generation: u32) -> Result<Claimed, Refused> {
        self.claim_push_impl(Some(generation))
    }

    /// Claims the tail for a push by the mutex holder (mark and generation ignored);
    /// None: full.
    fn claim_push_locked(&self) -> Option<Claimed> {
        self.claim_push_impl(None).ok()
    }

    #[inline]
    fn claim_push_impl(&self, generation: Option<u32>) -> Result<Claimed, Refused> {
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::SeqCst);
        loop {
            if let Some(g) = generation
                && (tail & MARK != 0 || generation_of(tail) != g)
            {
                return Err(Refused::Marked);
            }
            let cap = self.cap();
            // Relaxed: a hint; the claim below rests on the tail's compare-exchange.
            let seen = self.tail.seen.load(Ordering::Relaxed);
            if generation_of(seen) != generation_of(tail) || dist(tail, seen) >= cap {
                let head = self.head.load(Ordering::SeqCst);
                let len = dist(tail, head);
                if len > cap {
                    // Pops went past the tail as loaded: it has moved since.
                    tail = self.tail.load(Ordering::SeqCst);
                    continue;
                }
                if len == cap {
                    // Full at the load of the head (the tail only grows from the load).
                    if generation.is_some_and(|g| generation_of(head) != g) {
                        return Err(Refused::Marked);
                    }
                    return Err(Refused::Full);
                }
                self.tail.seen.store(head, Ordering::Relaxed);
            }
            match self.tail.compare_exchange_weak(
                tail,
                bump(tail),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(Claimed(tail & POS)),
                Err(t) => {
                    tail = t;
                    backoff.spin();
                }
            }
        }
    }

    /// Claims the head for a pop of `generation`'s handle.
    #[inline]
    pub(crate) fn claim_pop(&self, generation: u32) -> Result<Claimed, Unclaimed> {
        self.claim_pop_impl(Some(generation))
    }

    /// Claims the head for a pop by the mutex holder (mark and generation ignored);
    /// None: empty.
    fn claim_pop_locked(&self) -> Option<Claimed> {
        self.claim_pop_impl(None).ok()
    }

    #[inline]
    fn claim_pop_impl(&self, generation: Option<u32>) -> Result<Claimed, Unclaimed> {
        let backoff = Backoff::new();
        let mut head = self.head.load(Ordering::SeqCst);
        loop {
            if let Some(g) = generation
                && (head & MARK != 0 || generation_of(head) != g)
            {
                return Err(Unclaimed::Marked);
            }
            // Relaxed: a hint, as in `claim_push_impl`.
            let seen = self.head.seen.load(Ordering::Relaxed);
            let ahead = dist(seen, head);
            if generation_of(seen) != generation_of(head) || ahead == 0 || ahead > self.cap() {
                let tail = self.tail.load(Ordering::SeqCst);
                if dist(tail, head) == 0 {
                    if generation.is_some_and(|g| generation_of(tail) != g) {
                        return Err(Unclaimed::Marked);
                    }
                    return Err(Unclaimed::Empty {
                        tail_marked: tail & MARK != 0,
                    });
                }
                self.head.seen.store(tail, Ordering::Relaxed);
            }
            match self.head.compare_exchange_weak(
                head,
                bump(head),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok(Claimed(head & POS)),
                Err(h) => {
                    head = h;
                    backoff.spin();
                }
            }
        }
    }

    /// Values in the ring now (claimed pushes count, claimed pops do not).
    pub(crate) fn len(&self) -> usize {
        self.len_of(None).unwrap_or(0)
    }

    /// As [`Ends::len`] for a call with `generation`'s handle; None: not this
    /// generation's (take the slow path, which validates the handle).
    pub(crate) fn len_if(&self, generation: u32) -> Option<usize> {
        self.len_of(Some(generation))
    }

    fn len_of(&self, generation: Option<u32>) -> Option<usize> {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if generation.is_some_and(|g| generation_of(tail) != g || generation_of(head) != g) {
                return None;
            }
            // A tail that did not move across the load of the head: a consistent pair.
            if self.tail.load(Ordering::SeqCst) == tail {
                return Some(dist(tail, head) as usize);
            }
        }
    }

    // ---- under the channel's mutex ----

    /// Marks the tail if the ring is empty (true; also when it was marked already and
    /// is empty); false when it holds values (or a claimed push is writing one).
    pub(crate) fn mark_tail_if_empty(&self) -> bool {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.head.load(Ordering::SeqCst);
            if dist(tail, head) != 0 {
                return false;
            }
            if tail & MARK != 0 {
                return true;
            }
            // The compare-exchange is what makes "empty" and "marked" one step: a push
            // that claimed the tail since the load makes it fail (see the module docs).
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
            if dist(tail, head) != self.cap() {
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

    /// Sets or clears the marks (unconditionally; an RMW only where one changes).
    pub(crate) fn set_marks(&self, head: bool, tail: bool) {
        Self::set_mark(&self.head, head);
        Self::set_mark(&self.tail, tail);
    }

    fn set_mark(word: &AtomicU64, on: bool) {
        let is_on = word.load(Ordering::SeqCst) & MARK != 0;
        if on && !is_on {
            word.fetch_or(MARK, Ordering::SeqCst);
        } else if !on && is_on {
            word.fetch_and(!MARK, Ordering::SeqCst);
        }
    }

    /// Whether the tail (`false`: the head) is marked now.
    pub(crate) fn marked(&self, tail: bool) -> bool {
        let w = if tail { &self.tail } else { &self.head };
        w.load(Ordering::SeqCst) & MARK != 0
    }
}

struct Slot<T> {
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The slots of a ring, with the [`Ends`] they are claimed through (`E`: a reference
/// into the channel's slot; an owner in the tests).
pub(crate) struct Ring<T, E: Deref<Target = Ends>> {
    ends: E,
    buffer: Box<[Slot<T>]>,
    mask: u64,
}

// SAFETY: a value is moved in by the one push that claimed its position and moved out
// by the one pop that claimed it afterwards (the stamp orders the two), so values only
// travel between threads: `T: Send` is all that is needed (and the ends' own).
unsafe impl<T: Send, E: Deref<Target = Ends> + Sync> Sync for Ring<T, E> {}
// SAFETY: as above; the ring owns its values.
unsafe impl<T: Send, E: Deref<Target = Ends> + Send> Send for Ring<T, E> {}

/// What a pop found.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pop<T> {
    Item(T),
    /// See [`Unclaimed::Empty`].
    Empty {
        tail_marked: bool,
    },
    /// The head is marked: go to the mutex.
    Marked,
}

impl<T, E: Deref<Target = Ends>> Ring<T, E> {
    /// The slots of a ring of `cap` values (at least 1) claimed through `ends`, which
    /// its owner opens with the same `cap`.
    pub(crate) fn new(ends: E, cap: usize) -> Ring<T, E> {
        let len = cap.max(1).next_power_of_two() as u64;
        let buffer = (0..len)
            .map(|i| Slot {
                stamp: AtomicU64::new(free(i)),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            ends,
            buffer,
            mask: len - 1,
        }
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        &self.buffer[(pos & self.mask) as usize]
    }

    /// Writes the value of a claimed push.
    #[inline]
    pub(crate) fn write(&self, claim: Claimed, value: T) {
        let pos = claim.0;
        let slot = self.slot(pos);
        let backoff = Backoff::new();
        // Acquire: pairs with the Release of the pop that freed the slot (the previous
        // lap's, which may be a few instructions behind its claim).
        while slot.stamp.load(Ordering::Acquire) != free(pos) {
            sync::spin(&backoff);
        }
        // SAFETY: the claim of `pos` with the stamp at `free(pos)` makes this push the
        // slot's only writer until it stores the stamp below; the previous lap's value
        // was moved out by its pop.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: the value is written before a pop may read it, and this call is
        // done with the ring (see `quiesce`).
        slot.stamp.store(written(pos), Ordering::Release);
    }

    /// Takes the value of a claimed pop.
    #[inline]
    pub(crate) fn take(&self, claim: Claimed) -> T {
        let pos = claim.0;
        let slot = self.slot(pos);
        let backoff = Backoff::new();
        // Acquire: pairs with the Release of the push that wrote the slot (which may be
        // a few instructions behind its claim).
        while slot.stamp.load(Ordering::Acquire) != written(pos) {
            sync::spin(&backoff);
        }
        // SAFETY: the claim of `pos` with the stamp at `written(pos)` makes this pop the
        // only reader of the value its push wrote; the slot is handed on (stamp below)
        // only after the move.
        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
        // Release: the value is moved out before the next lap's push may overwrite it,
        // and this call is done with the ring (see `quiesce`).
        slot.stamp
            .store(free(pos.wrapping_add(self.mask + 1)), Ordering::Release);
        value
    }

    /// Waits a moment, for a push that found the ring full, until a reader has taken
    /// about a quarter of its capacity: true when a claim is worth trying again now,
    /// false when no value was taken in the first few backoff steps (no reader is
    /// taking: park), or the tail is marked.
    ///
    /// Refilling one slot at a time is what makes a full ring slow: the reader frees a
    /// slot, the writer takes it, finds the ring full again and parks or retries, and
    /// every item moves the ends' lines between the two threads. Waiting for a batch
    /// lets the writer push that many values in a row afterwards. The wait only advises:
    /// the claim that follows decides, so a reader that stops early costs the wait's
    /// bound (a few hundred pause instructions) and nothing else.
    ///
    /// It watches the slots' stamps, which the reader stores anyway, and not the head,
    /// which a read would take from the reader. Unlike a claim it reads slots before
    /// holding a position there, so only a caller that keeps the ring alive (one that
    /// pinned its channel) may call it.
    pub(crate) fn wait_for_room(&self) -> bool {
        /// Backoff steps (step k pauses 2^k times, at most 64) for the first slot: a
        /// reader that is taking values frees it within a few item periods.
        const FIRST_STEPS: u32 = 5;
        /// Backoff steps for the whole batch: about 500 pauses.
        const BATCH_STEPS: u32 = 12;
        let tail = self.ends.tail.load(Ordering::SeqCst);
        if tail & MARK != 0 {
            return false;
        }
        // The values of a full ring sit at `tail - cap ..tail`; the k-th oldest is taken
        // once its slot is free for the push one buffer length later (the buffer may be
        // longer than the capacity, so the slot at the tail says nothing).
        let cap = self.ends.cap();
        let oldest = tail.wrapping_sub(cap);
        let taken = |k: u64| {
            let pos = oldest.wrapping_add(k) & POS;
            // Acquire: pairs with the Release of the pop that freed the slot (advice
            // only: the claim that follows rests on the positions).
            self.slot(pos).stamp.load(Ordering::Acquire) == free(pos.wrapping_add(self.mask + 1))
        };
        let backoff = Backoff::new();
        let mut first = 0;
        while !taken(0) {
            if first == FIRST_STEPS {
                return false;
            }
            first += 1;
            sync::spin(&backoff);
        }
        let last = (cap / 4).max(1) - 1;
        for _ in 0..BATCH_STEPS {
            if taken(last) {
                break;
            }
            sync::spin(&backoff);
        }
        true
    }

    /// A lock-free push for `generation`'s handle.
    #[cfg(test)]
    pub(crate) fn push(&self, generation: u32, value: T) -> Result<(), (Refused, T)> {
        match self.ends.claim_push(generation) {
            Ok(c) => {
                self.write(c, value);
                Ok(())
            }
            Err(r) => Err((r, value)),
        }
    }

    /// A lock-free pop for `generation`'s handle.
    #[cfg(test)]
    pub(crate) fn pop(&self, generation: u32) -> Pop<T> {
        match self.ends.claim_pop(generation) {
            Ok(c) => Pop::Item(self.take(c)),
            Err(Unclaimed::Empty { tail_marked }) => Pop::Empty { tail_marked },
            Err(Unclaimed::Marked) => Pop::Marked,
        }
    }

    // ---- under the channel's mutex ----

    /// A push by the channel's mutex holder: the tail's mark is kept, not obeyed.
    pub(crate) fn push_locked(&self, value: T) -> Result<(), T> {
        match self.ends.claim_push_locked() {
            Some(c) => {
                self.write(c, value);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// A pop by the channel's mutex holder: the head's mark is kept, not obeyed, and a
    /// value whose push has claimed the tail but not yet written it is waited for.
    pub(crate) fn pop_locked(&self) -> Option<T> {
        self.ends.claim_pop_locked().map(|c| self.take(c))
    }

    /// Values in the ring now (claimed pushes count).
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// See [`Ends::mark_tail_if_empty`].
    pub(crate) fn mark_tail_if_empty(&self) -> bool {
        self.ends.mark_tail_if_empty()
    }

    /// See [`Ends::mark_head_if_full`].
    pub(crate) fn mark_head_if_full(&self) -> bool {
        self.ends.mark_head_if_full()
    }

    /// See [`Ends::set_marks`].
    pub(crate) fn set_marks(&self, head: bool, tail: bool) {
        self.ends.set_marks(head, tail)
    }

    /// See [`Ends::marked`].
    pub(crate) fn marked(&self, tail: bool) -> bool {
        self.ends.marked(tail)
    }

    /// Waits until every claimed operation is done with the slots: a push claimed in
    /// `head..tail` has written its value, a pop claimed before `head` has taken its
    /// value out. Only the mutex holder calls it, with both ends marked (so no new claim
    /// is made and the positions stand still); afterwards nothing but the mutex holder
    /// touches the value, which may then be moved out.
    pub(crate) fn quiesce(&self) {
        debug_assert!(self.marked(true) && self.marked(false));
        let tail = self.ends.tail.load(Ordering::SeqCst);
        let head = self.ends.head.load(Ordering::SeqCst);
        let held = dist(tail, head);
        let backoff = Backoff::new();
        for k in 0..=self.mask {
            let pos = head.wrapping_add(k) & POS;
            let want = if k < held { written(pos) } else { free(pos) };
            // Acquire: pairs with the Release that ends each claimed call's use of the
            // ring.
            while self.slot(pos).stamp.load(Ordering::Acquire) != want {
                sync::spin(&backoff);
            }
        }
    }
}

impl<T, E: Deref<Target = Ends>> Drop for Ring<T, E> {
    fn drop(&mut self) {
        // Exclusive: no call is inside (the owner quiesced it, or nobody else has it),
        // so a stamp with its written bit set is a value nobody took. The ends are not
        // touched: they may belong to the slot's next object by now.
        for slot in self.buffer.iter() {
            if slot.stamp.load(Ordering::Acquire) & 1 != 0 {
                // SAFETY: a written stamp says the slot holds an initialized value, and
                // `&mut self` says nobody else reads it.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ring<T>(cap: usize) -> Ring<T, Box<Ends>> {
        let ends = Box::new(Ends::default());
        ends.open(3, cap, true);
        Ring::new(ends, cap)
    }

    #[test]
    fn fifo_full_and_empty() {
        for cap in [1, 2, 3, 5, 8, 1000, 1024] {
            let r = ring(cap);
            for round in 0..3 {
                for i in 0..cap {
                    assert!(r.push(3, round * 10_000 + i).is_ok());
                }
                assert_eq!(r.len(), cap);
                assert!(matches!(r.push(3, 0), Err((Refused::Full, 0))));
                for i in 0..cap {
                    assert_eq!(r.pop(3), Pop::Item(round * 10_000 + i));
                }
                assert_eq!(r.pop(3), Pop::Empty { tail_marked: false });
                assert_eq!(r.len(), 0);
            }
        }
    }

    #[test]
    fn positions_wrap() {
        let r = ring(3);
        let start = POS - 4;
        r.ends
            .head
            .store((3 << GEN_SHIFT) | start, Ordering::SeqCst);
        r.ends
            .tail
            .store((3 << GEN_SHIFT) | start, Ordering::SeqCst);
        for (i, s) in r.buffer.iter().enumerate() {
            // The slots of positions start.. (all free for them).
            let pos = (start..start + 4).find(|p| p & r.mask == i as u64).unwrap();
            s.stamp.store(free(pos), Ordering::SeqCst);
        }
        for i in 0..20u32 {
            assert!(r.push(3, i).is_ok());
            assert!(r.push(3, i + 100).is_ok());
            assert_eq!(r.pop(3), Pop::Item(i));
            assert_eq!(r.pop(3), Pop::Item(i + 100));
        }
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn another_generation_is_refused() {
        let r = ring(2);
        assert!(matches!(r.push(4, 1), Err((Refused::Marked, 1))));
        assert_eq!(r.pop(4), Pop::Marked);
        assert_eq!(r.ends.len_if(4), None);
        assert!(r.push(3, 1).is_ok());
        assert_eq!(r.ends.len_if(3), Some(1));
    }

    #[test]
    fn marks_refuse_the_fast_path_only() {
        let r = ring(2);
        assert!(r.mark_tail_if_empty());
        assert!(matches!(r.push(3, 1), Err((Refused::Marked, 1))));
        assert_eq!(r.pop(3), Pop::Empty { tail_marked: true });
        assert!(r.push_locked(1).is_ok());
        assert!(!r.mark_tail_if_empty());
        assert!(r.push_locked(2).is_ok());
        assert!(r.mark_head_if_full());
        assert_eq!(r.pop(3), Pop::Marked);
        assert_eq!(r.pop_locked(), Some(1));
        assert!(!r.mark_head_if_full());
        r.set_marks(false, false);
        assert!(!r.marked(true) && !r.marked(false));
        assert_eq!(r.pop(3), Pop::Item(2));
        assert!(r.push(3, 3).is_ok());
        assert_eq!(r.len(), 1);
        r.set_marks(true, true);
        r.quiesce();
    }

    #[test]
    fn no_ring_is_marked_for_good() {
        let ends = Ends::default();
        ends.open(1, 0, false);
        assert!(matches!(ends.claim_push(1), Err(Refused::Marked)));
        assert!(matches!(ends.claim_pop(1), Err(Unclaimed::Marked)));
    }

    #[test]
    fn wait_for_room_answers_what_the_slots_say() {
        let r = ring::<u32>(8);
        // Room at the tail: at once.
        assert!(r.wait_for_room());
        for i in 0..8 {
            assert!(r.push(3, i).is_ok());
        }
        // Full and nobody reads: give up, and nothing changed.
        assert!(!r.wait_for_room());
        assert_eq!(r.len(), 8);
        // A value taken: worth trying again, though the batch never comes.
        assert_eq!(r.pop(3), Pop::Item(0));
        assert!(r.wait_for_room());
        assert!(r.push(3, 8).is_ok());
        // A marked tail goes to the mutex, also with room.
        assert_eq!(r.pop(3), Pop::Item(1));
        r.set_marks(false, true);
        assert!(!r.wait_for_room());
    }

    #[test]
    fn wait_for_room_watches_the_oldest_value_when_the_buffer_is_longer() {
        // Capacity 3 in a buffer of 4: when full, the slot at the tail is free already.
        let r = ring::<u32>(3);
        for i in 0..3 {
            assert!(r.push(3, i).is_ok());
        }
        assert!(!r.wait_for_room());
        assert_eq!(r.pop(3), Pop::Item(0));
        assert!(r.wait_for_room());
    }

    #[test]
    fn wait_for_room_sees_a_reader_free_a_batch() {
        let r = std::sync::Arc::new(ring::<u32>(64));
        for i in 0..64 {
            assert!(r.push(3, i).is_ok());
        }
        let reader = {
            let r = r.clone();
            std::thread::spawn(move || {
                for i in 0..64 {
                    loop {
                        match r.pop(3) {
                            Pop::Item(v) => {
                                assert_eq!(v, i);
                                break;
                            }
                            _ => std::hint::spin_loop(),
                        }
                    }
                }
            })
        };
        // Whether or not the reader got going within the wait, every push that the
        // answer sends back to the ring is claimed by the positions alone.
        let mut pushed = 0;
        while pushed < 64 {
            if r.wait_for_room() {
                while pushed < 64 && r.push(3, 64 + pushed).is_ok() {
                    pushed += 1;
                }
            }
            std::thread::yield_now();
        }
        reader.join().unwrap();
        assert_eq!(r.len(), 64);
    }

    #[test]
    fn drop_drops_what_is_left() {
        let v = std::sync::Arc::new(());
        let r = ring(4);
        for _ in 0..3 {
            assert!(r.push(3, v.clone()).is_ok());
        }
        assert!(matches!(r.pop(3), Pop::Item(_)));
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
