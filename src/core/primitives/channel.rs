//! Channels (System.Threading.Channels, the TPL's AsyncProducerConsumerCollection):
//! a FIFO of items between any number of producers and consumers, bounded or not.
//!
//! An item is a `void *` with an optional destroy, owned by exactly one place at a
//! time: the writer until a write succeeds, then the channel, then the reader (a
//! `read_async` task owns the item it delivers, `try_read` hands it to its caller).
//! Every item whose journey ends inside tapir — dropped by a full mode, left in the
//! channel when its last handle goes, carried by a writer that timed out, was canceled
//! or saw the channel complete — has its destroy run exactly once, outside every lock.
//!
//! Waiting readers exist only while the channel is empty, waiting writers only while a
//! bounded channel in WAIT mode is full: a write hands its item straight to the oldest
//! waiting reader, a read refills the channel from the oldest waiting writer.
//!
//! `complete(error)`: writes are refused from then on; readers drain what is left, and
//! then every read fails with the completion's error (TAPIR_STATUS_QUEUE_COMPLETED when
//! completed without one), and `wait_to_read` answers 0 (or fails with that error).
//!
//! # The fast path
//! The items live in a lock-free ring ([`Ring`], up to [`RING_MAX`] slots) and, past
//! it, in a spill queue under the mutex (an unbounded channel, or one bounded above
//! the ring; a DROP_NEWEST channel keeps every item there, since a ring cannot give
//! up its newest item). While nobody waits, nothing is spilled and the channel is
//! open, a write is one push on the ring and a read one pop, with no lock and no pin:
//! the ring's position words live in the channel's pooled slot and carry the handle's
//! generation, so a fast call validates the handle and claims its position in one
//! compare-exchange (see [`ring`](super::ring)); the mutex is taken only where one of
//! the rules above needs it. The ring's marks say when:
//! - the tail is marked while readers or watchers wait (the ring is empty), writers
//!   wait, items are spilled, or the channel is completed or disposed: every write
//!   goes to the mutex, so a waiting reader gets the next item, and no item overtakes
//!   a waiting writer's or a spilled one;
//! - the head is marked while writers wait (the ring is full) or the channel is
//!   disposed: every read goes to the mutex, so it refills the channel from the
//!   oldest waiting writer.
//!
//! A reader or watcher parks only after marking the tail in the same step that finds
//! the ring empty, and a writer only after marking the head in the same step that
//! finds it full, so a fast operation racing a waiter's arrival either lands first
//! (and the waiter finds it) or sees the mark (and serves the waiter under the mutex):
//! no wakeup is lost. Marks change only under the mutex, and every locked section ends
//! by recomputing them from the state it leaves ([`Channel::settle`]).
//!
//! Readers are served in the order they arrive, a fast reader arriving when it finds
//! the head unmarked: one in flight then may take an item before a reader that parked
//! after it started (and the same for writers); no item is lost or taken twice.

use std::collections::VecDeque;
use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::callback::UserData;
use crate::core::cancel::TokenRef;
use crate::core::error::ErrorRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::ring::{Ends, Refused, Ring, Unclaimed};
use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Channel];

/// The most slots a channel's ring has (a bounded channel's ring has its capacity up
/// to this many): 24 KiB of slots, allocated with the channel.
pub(crate) const RING_MAX: usize = 1024;
/// The ring of an unbounded channel (more items spill under the mutex).
const RING_UNBOUNDED: usize = 256;

/// What a bounded channel does with a write when it is full.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FullMode {
    /// The writer waits (`try_write` fails with FULL).
    Wait,
    /// The oldest item is dropped to make room.
    DropOldest,
    /// The newest item in the channel is dropped to make room.
    DropNewest,
    /// The item being written is dropped (the write still reports success).
    DropWrite,
}

pub(crate) struct Channel {
    capacity: Option<usize>,
    mode: FullMode,
    /// The lock-free part of the items (None: every item is in `Inner::spill`), claimed
    /// through the words in the channel's slot.
    ring: Option<Ring<UserData, &'static Ends>>,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Items after the ring's (newer than all of them), in order. Non-empty only while
    /// the ring's tail is marked.
    spill: VecDeque<UserData>,
    /// None while open; Some(errors) once completed (empty: without an error).
    completed: Option<Vec<ErrorRef>>,
    ids: Ids,
    readers: Queue<()>,
    watchers: Queue<()>,
    writers: Queue<UserData>,
    disposed: bool,
}

prim_pool!(Channel, CHANNELS);

impl Prim for Channel {
    /// The ring's position words: the fast paths claim through them without pinning
    /// (see `ring`), so a fast call costs one read-modify-write.
    type Fast = Ends;
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &CHANNELS
    }
    fn last_user_gone(&self, _fast: &Ends) {
        self.dispose(true);
    }
    fn retire_fast(&self, _fast: &Ends) {
        self.retire();
    }
}

/// The slot behind `h`, for a fast call (nothing is validated: the claim checks the
/// handle's generation in the ring's words, and a refused call takes the slow path,
/// which pins and so validates).
#[inline]
fn slot_of(h: Handle) -> Option<&'static PrimCell<Channel>> {
    cell::slot::<Channel>(h, KINDS)
}

/// The ring of a channel a fast call has claimed a position in.
fn claimed_ring(cell: &'static PrimCell<Channel>) -> &'static Ring<UserData, &'static Ends> {
    // The claim was made with the handle's generation on an unmarked word: the value
    // was written before that generation's words were opened, and `retire` quiesces
    // the ring (waits for this call's last stamp) before the value is moved out.
    cell.get()
        .ring
        .as_ref()
        .expect("a channel whose ends open has a ring")
}

impl Drop for Channel {
    fn drop(&mut self) {
        // The ring was emptied and its ends left marked by `retire`; the ends may belong
        // to the slot's next channel by now.
        self.dispose(false);
    }
}

fn item_outcome(item: UserData) -> Outcome {
    let (ptr, destroy) = item.into_raw();
    Outcome::Value {
        value: ptr as usize,
        destroy,
    }
}

fn completion_outcome(errors: &[ErrorRef]) -> Outcome {
    if errors.is_empty() {
        Outcome::library_error(Status::QueueCompleted, "the channel was completed")
    } else {
        Outcome::Faulted(errors.to_vec())
    }
}

fn completed_writer() -> Outcome {
    Outcome::library_error(
        Status::QueueCompleted,
        "the channel was completed before the item could be written",
    )
}

impl Channel {
    /// Every waiter fails with DISPOSED and every item is destroyed. `ring`: the ring
    /// too (its ends are still this channel's).
    fn dispose(&self, ring: bool) {
        let ring = self.ring.as_ref().filter(|_| ring);
        let mut wake = Wake::default();
        {
            let mut g = self.inner.lock();
            g.disposed = true;
            if let Some(r) = ring {
                // Marked first: no fast push can claim after the ring is drained below.
                r.set_marks(true, true);
            }
            for e in g.readers.drain() {
                wake.push(e.wait, waiters::disposed());
            }
            for e in g.watchers.drain() {
                wake.push(e.wait, waiters::disposed());
            }
            for e in g.writers.drain() {
                wake.push(e.wait, waiters::disposed());
                wake.drop_later(Box::new(e.data));
            }
            if let Some(r) = ring {
                while let Some(item) = r.pop_locked() {
                    wake.drop_later(Box::new(item));
                }
            }
            let items = std::mem::take(&mut g.spill);
            wake.drop_later(Box::new(items));
        }
        wake.finish(true);
    }

    /// The last reference is gone: the ends are marked for good, the ring's items move
    /// to the spill (destroyed with the value, after the slot is freed), and claimed
    /// fast calls finish with the ring, so the value can be moved out.
    fn retire(&self) {
        let Some(r) = &self.ring else { return };
        let mut g = self.inner.lock();
        r.set_marks(true, true);
        let mut items = Vec::new();
        while let Some(item) = r.pop_locked() {
            items.push(item);
        }
        // The ring's items are older than the spilled ones.
        for item in items.into_iter().rev() {
            g.spill.push_front(item);
        }
        r.quiesce();
    }

    /// Items in the channel (pushes in flight count).
    fn total(&self, g: &Inner) -> usize {
        self.ring.as_ref().map_or(0, |r| r.len()) + g.spill.len()
    }

    fn full(&self, g: &Inner) -> bool {
        self.capacity.is_some_and(|c| self.total(g) >= c)
    }

    fn mark_tail(&self) {
        if let Some(r) = &self.ring {
            let head = r.marked(false);
            r.set_marks(head, true);
        }
    }

    /// Moves spilled items into the ring while it has room (under the mutex).
    fn shift(&self, g: &mut Inner) {
        let Some(r) = &self.ring else { return };
        while let Some(item) = g.spill.pop_front() {
            if let Err(item) = r.push_locked(item) {
                g.spill.push_front(item);
                break;
            }
        }
    }

    /// Appends an item the channel has room for (under the mutex, spill shifted).
    fn put_locked(&self, g: &mut Inner, item: UserData) {
        let item = match &self.ring {
            Some(r) if g.spill.is_empty() => match r.push_locked(item) {
                Ok(()) => return,
                Err(item) => item,
            },
            _ => item,
        };
        // Spilled items are newer than the ring's: fast pushes wait behind them.
        self.mark_tail();
        g.spill.push_back(item);
    }

    /// Ends every locked section that may have changed the items or the waiters: the
    /// oldest waiting writers fill the room there is, watchers hear of items, and the
    /// ring's marks are set from what is left (see the module docs).
    fn settle(&self, g: &mut Inner, wake: &mut Wake) {
        self.shift(g);
        while !g.writers.is_empty() && !self.full(g) {
            let e = g.writers.pop_front().expect("a waiting writer");
            self.put_locked(g, e.data);
            wake.push(e.wait, Outcome::value(1));
        }
        if !g.watchers.is_empty() && self.total(g) > 0 {
            for e in g.watchers.drain() {
                wake.push(e.wait, Outcome::value(1));
            }
        }
        if let Some(r) = &self.ring {
            let head = g.disposed || !g.writers.is_empty();
            let tail = head
                || g.completed.is_some()
                || !g.readers.is_empty()
                || !g.watchers.is_empty()
                || !g.spill.is_empty();
            r.set_marks(head, tail);
        }
    }
}

impl Withdraw for Channel {
    fn withdraw(me: &PrimRef<Self>, id: u64, wake: &mut Wake) -> Option<Wait> {
        let c = me.get().get();
        let mut g = c.inner.lock();
        let wait = if let Some(e) = g.readers.remove(id).or_else(|| g.watchers.remove(id)) {
            e.wait
        } else {
            let e = g.writers.remove(id)?;
            wake.drop_later(Box::new(e.data));
            e.wait
        };
        c.settle(&mut g, wake);
        Some(wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        let mut g = self.inner.lock();
        if g.readers.contains(id) {
            g.readers.attach(id, armed)
        } else if g.watchers.contains(id) {
            g.watchers.attach(id, armed)
        } else {
            g.writers.attach(id, armed)
        }
    }
}

/// A channel of `capacity` items (None: unbounded) (+1 handle).
pub fn new(capacity: Option<usize>, mode: FullMode) -> Handle {
    let slots = match (capacity, mode) {
        (Some(_), FullMode::DropNewest) => None,
        (Some(c), _) => Some(c.min(RING_MAX)),
        (None, _) => Some(RING_UNBOUNDED),
    };
    // The ring holds the whole capacity: a full ring is a full channel.
    let whole = capacity.is_some() && capacity == slots;
    cell::create_in(Kind::Channel, |ends: &'static Ends, generation| {
        ends.open(
            generation,
            slots.unwrap_or(0),
            whole && mode == FullMode::Wait,
        );
        Channel {
            capacity,
            mode,
            ring: slots.map(|n| Ring::new(ends, n)),
            inner: Mutex::new(Inner {
                spill: VecDeque::new(),
                completed: None,
                ids: Ids::default(),
                readers: Queue::default(),
                watchers: Queue::default(),
                writers: Queue::default(),
                disposed: false,
            }),
        }
    })
}

/// What a write did with its item.
enum Wrote {
    Done,
    /// Full in WAIT mode: the item comes back (the ring's head is marked; the caller
    /// parks the writer or settles).
    Full(UserData),
}

/// What a lock-free write did.
enum FastWrite {
    Done,
    /// Full in WAIT mode, and the ring is the whole channel.
    Full(UserData),
    /// To the mutex.
    Slow(UserData),
}

fn write_fast(h: Handle, item: UserData) -> FastWrite {
    let Some(cell) = slot_of(h) else {
        return FastWrite::Slow(item);
    };
    let ends = cell.fast();
    match ends.claim_push(h.generation()) {
        Ok(claim) => {
            claimed_ring(cell).write(claim, item);
            FastWrite::Done
        }
        Err(Refused::Full) if ends.full_is_final() => FastWrite::Full(item),
        Err(_) => FastWrite::Slow(item),
    }
}

/// Writes under the lock (the channel is open): to a waiting reader, into the channel,
/// or by the full mode. The caller settles.
fn write_locked(c: &Channel, g: &mut Inner, item: UserData, wake: &mut Wake) -> Wrote {
    if let Some(e) = g.readers.pop_front() {
        // Readers wait only while the channel is empty: this is the next item.
        wake.push(e.wait, item_outcome(item));
        return Wrote::Done;
    }
    // Fast writes wait while this one decides, so a full channel stays full.
    c.mark_tail();
    loop {
        c.shift(g);
        if !c.full(g) {
            c.put_locked(g, item);
            return Wrote::Done;
        }
        // Full: marking the head (in the step that sees the ring full) stops fast
        // reads too, so the items stay as they are; a read in between: look again.
        if let Some(r) = &c.ring
            && c.mode != FullMode::DropWrite
            && !r.mark_head_if_full()
        {
            continue;
        }
        match c.mode {
            FullMode::Wait => return Wrote::Full(item),
            FullMode::DropOldest => {
                let old = c.ring.as_ref().and_then(|r| r.pop_locked());
                let old = old.or_else(|| g.spill.pop_front());
                wake.drop_later(Box::new(old.expect("a full channel has items")));
            }
            FullMode::DropNewest => {
                let old = g.spill.pop_back().expect("a full channel has items");
                wake.drop_later(Box::new(old));
            }
            FullMode::DropWrite => {
                wake.drop_later(Box::new(item));
                return Wrote::Done;
            }
        }
    }
}

/// TryWrite: on error (FULL, QUEUE_COMPLETED, a bad handle) the item is the caller's
/// again and its destroy does not run.
pub fn try_write(h: Handle, item: UserData) -> Result<()> {
    let item = match write_fast(h, item) {
        FastWrite::Done => return Ok(()),
        FastWrite::Full(item) => {
            item.give_back();
            return Err(Status::Full);
        }
        FastWrite::Slow(item) => item,
    };
    let p = match cell::pin::<Channel>(h, KINDS) {
        Ok(p) => p,
        Err(s) => {
            item.give_back();
            return Err(s);
        }
    };
    let c = p.get().get();
    let mut wake = Wake::default();
    let r = {
        let mut g = c.inner.lock();
        let r = if g.completed.is_some() || g.disposed {
            Err((Status::QueueCompleted, item))
        } else {
            match write_locked(c, &mut g, item, &mut wake) {
                Wrote::Done => Ok(()),
                Wrote::Full(item) => Err((Status::Full, item)),
            }
        };
        c.settle(&mut g, &mut wake);
        r
    };
    drop(p);
    wake.finish(true);
    r.map_err(|(s, item)| {
        item.give_back();
        s
    })
}

/// WriteAsync: a task that succeeds with 1 once the item is in the channel (at once
/// unless a WAIT-mode channel is full), with 0 when `timeout` passes first, canceled
/// when `token` fires first, or faulted with QUEUE_COMPLETED when the channel completes
/// first; in those three cases tapir destroys the item. On a call error (the channel
/// was already completed: QUEUE_COMPLETED, or a bad handle) nothing happened and the
/// item is the caller's again.
pub fn write_async(
    h: Handle,
    item: UserData,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    let (mut item, full) = match write_fast(h, item) {
        FastWrite::Done => return Ok(complete::new_completed(Outcome::value(1))),
        FastWrite::Full(item) => (item, true),
        FastWrite::Slow(item) => (item, false),
    };
    let p = match cell::pin::<Channel>(h, KINDS) {
        Ok(p) => p,
        Err(s) => {
            item.give_back();
            return Err(s);
        }
    };
    let c = p.get().get();
    // Full while a reader takes items: wait a moment for a quarter of the ring to
    // free up rather than park (a mutex on both sides and a wake) for every slot (see
    // `Ring::wait_for_room`; the pin keeps the ring alive for the wait).
    if full && c.ring.as_ref().is_some_and(|r| r.wait_for_room()) {
        item = match write_fast(h, item) {
            FastWrite::Done => return Ok(complete::new_completed(Outcome::value(1))),
            FastWrite::Full(item) | FastWrite::Slow(item) => item,
        };
    }
    let mut wake = Wake::default();
    let queued = {
        let mut g = c.inner.lock();
        if g.completed.is_some() || g.disposed {
            drop(g);
            item.give_back();
            return Err(Status::QueueCompleted);
        }
        let queued = match write_locked(c, &mut g, item, &mut wake) {
            Wrote::Done => None,
            Wrote::Full(item) => {
                if let Some(t) = token.as_ref().filter(|t| t.is_canceled()) {
                    let t = t.clone();
                    wake.drop_later(Box::new(item));
                    Some(Err(complete::new_completed(Outcome::Canceled(Some(t)))))
                } else if timeout == Some(Duration::ZERO) {
                    wake.drop_later(Box::new(item));
                    Some(Err(complete::new_completed(waiters::timed_out_false())))
                } else {
                    let (source, out) = waiters::new_waiter();
                    let id = g.ids.next();
                    g.writers.push(id, source, item);
                    Some(Ok((out, id)))
                }
            }
        };
        c.settle(&mut g, &mut wake);
        queued
    };
    wake.finish(true);
    match queued {
        None => Ok(complete::new_completed(Outcome::value(1))),
        Some(Err(done)) => Ok(done),
        Some(Ok((out, id))) => {
            waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_false);
            Ok(out)
        }
    }
}

/// What a read found.
pub enum Read {
    Item(UserData),
    Empty,
    /// Completed and drained.
    Completed,
}

/// What a lock-free read found: an item, an empty open channel (Some(Empty)), or
/// None: to the mutex.
fn read_fast(h: Handle) -> Option<Read> {
    let cell = slot_of(h)?;
    match cell.fast().claim_pop(h.generation()) {
        Ok(claim) => Some(Read::Item(claimed_ring(cell).take(claim))),
        Err(Unclaimed::Empty { tail_marked: false }) => Some(Read::Empty),
        Err(Unclaimed::Empty { tail_marked: true } | Unclaimed::Marked) => None,
    }
}

/// Reads under the lock: the oldest item, or why there is none. With `park`, an empty
/// answer has marked the ring's tail in the step that found it empty (the caller parks
/// a waiter before unlocking). The caller settles.
fn read_locked(c: &Channel, g: &mut Inner, park: bool) -> Read {
    loop {
        let item = c.ring.as_ref().and_then(|r| r.pop_locked());
        if let Some(item) = item.or_else(|| g.spill.pop_front()) {
            return Read::Item(item);
        }
        if g.completed.is_some() || g.disposed {
            return Read::Completed;
        }
        if park
            && let Some(r) = &c.ring
            && !r.mark_tail_if_empty()
        {
            continue; // a push landed first: take it
        }
        return Read::Empty;
    }
}

/// TryRead: the oldest item (now the caller's), or why there is none.
pub fn try_read(h: Handle) -> Result<Read> {
    if let Some(r) = read_fast(h) {
        return Ok(r);
    }
    let p = cell::pin::<Channel>(h, KINDS)?;
    let c = p.get().get();
    let mut wake = Wake::default();
    let r = {
        let mut g = c.inner.lock();
        let r = read_locked(c, &mut g, false);
        c.settle(&mut g, &mut wake);
        r
    };
    drop(p);
    wake.finish(true);
    Ok(r)
}

/// ReadAsync: a task whose value is the oldest item (the task owns it), faulted with
/// the completion's error once the channel is completed and drained, faulted with
/// TIMEOUT when `timeout` passes first, canceled when `token` fires first.
pub fn read_async(h: Handle, timeout: Option<Duration>, token: Option<TokenRef>) -> Result<Handle> {
    wait_for(h, timeout, token, true)
}

/// WaitToReadAsync: a task that succeeds with 1 when an item is there to read, with 0
/// once the channel is completed (without error) and drained; faulted with the
/// completion's error, or with TIMEOUT when `timeout` passes first; canceled when
/// `token` fires first.
pub fn wait_to_read_async(
    h: Handle,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    wait_for(h, timeout, token, false)
}

fn wait_for(
    h: Handle,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
    read: bool,
) -> Result<Handle> {
    let now = if read {
        match read_fast(h) {
            Some(Read::Item(item)) => Some(item_outcome(item)),
            _ => None,
        }
    } else {
        slot_of(h)
            .and_then(|cell| cell.fast().len_if(h.generation()))
            .is_some_and(|n| n > 0)
            .then(|| Outcome::value(1))
    };
    if let Some(o) = now {
        return Ok(complete::new_completed(o));
    }
    let p = cell::pin::<Channel>(h, KINDS)?;
    let c = p.get().get();
    let mut wake = Wake::default();
    let r = {
        let mut g = c.inner.lock();
        let now = if read {
            match read_locked(c, &mut g, true) {
                Read::Item(item) => Some(item_outcome(item)),
                Read::Completed => Some(closed(&g, true)),
                Read::Empty => None,
            }
        } else {
            loop {
                if c.total(&g) > 0 {
                    break Some(Outcome::value(1));
                } else if g.completed.is_some() || g.disposed {
                    break Some(closed(&g, false));
                } else if c.ring.as_ref().is_none_or(|r| r.mark_tail_if_empty()) {
                    break None;
                }
            }
        };
        let r = match now {
            Some(o) => Err(o),
            None => {
                if let Some(t) = token.as_ref().filter(|t| t.is_canceled()) {
                    Err(Outcome::Canceled(Some(t.clone())))
                } else if timeout == Some(Duration::ZERO) {
                    Err(waiters::timed_out_error())
                } else {
                    let (source, out) = waiters::new_waiter();
                    let id = g.ids.next();
                    if read {
                        g.readers.push(id, source, ());
                    } else {
                        g.watchers.push(id, source, ());
                    }
                    Ok((out, id))
                }
            }
        };
        c.settle(&mut g, &mut wake);
        r
    };
    wake.finish(true);
    match r {
        Err(o) => Ok(complete::new_completed(o)),
        Ok((out, id)) => {
            waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_error);
            Ok(out)
        }
    }
}

/// What a read (or a wait to read) of a completed, drained channel gets.
fn closed(g: &Inner, read: bool) -> Outcome {
    if g.disposed && g.completed.is_none() {
        return waiters::disposed();
    }
    let errors = g.completed.as_deref().unwrap_or(&[]);
    if !read && errors.is_empty() {
        Outcome::value(0)
    } else {
        completion_outcome(errors)
    }
}

/// Complete(error): no more writes; waiting writers fail with QUEUE_COMPLETED (their
/// items destroyed); if the channel is empty, waiting readers see the completion now.
/// ALREADY_COMPLETED (nothing changes) for a second completion.
pub fn complete(h: Handle, error: Option<ErrorRef>) -> Result<()> {
    let p = cell::pin::<Channel>(h, KINDS)?;
    let c = p.get().get();
    let mut wake = Wake::default();
    {
        let mut g = c.inner.lock();
        if g.completed.is_some() {
            return Err(Status::AlreadyCompleted);
        }
        let errors: Vec<ErrorRef> = error.into_iter().collect();
        g.completed = Some(errors);
        // Marked now: a fast write that has not moved the tail yet is refused (one that
        // has is in the channel, before the completion).
        c.mark_tail();
        for e in g.writers.drain() {
            wake.push(e.wait, completed_writer());
            wake.drop_later(Box::new(e.data));
        }
        if c.total(&g) == 0 {
            let readers: Vec<_> = g.readers.drain().collect();
            let watchers: Vec<_> = g.watchers.drain().collect();
            for e in readers {
                wake.push(e.wait, closed(&g, true));
            }
            for e in watchers {
                wake.push(e.wait, closed(&g, false));
            }
        }
        c.settle(&mut g, &mut wake);
    }
    drop(p);
    wake.finish(true);
    Ok(())
}

/// Items in the channel now, and whether it was completed.
pub fn state(h: Handle) -> Result<(usize, bool)> {
    let p = cell::pin::<Channel>(h, KINDS)?;
    let c = p.get().get();
    let g = c.inner.lock();
    Ok((c.total(&g), g.completed.is_some()))
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Channel>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Channel>(h, KINDS)
}
