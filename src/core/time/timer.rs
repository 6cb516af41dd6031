//! Timer service: one lazily started `tapir-timer` thread that runs short actions once
//! their millisecond deadlines have passed.
//!
//! This is the clock behind `delay(ms, token)`, task timeouts (`wait_async`) and
//! `CancellationSource::cancel_after`. Callers hand [`schedule`] a small closure that
//! only *posts* the real work to a scheduler (completes a source, cancels a token); the
//! timer thread never runs user work for long.
//!
//! # Guarantees
//!
//! - **Never early.** A timer scheduled with `delay` at instant `t` runs at or after
//!   `t + delay` (measured with [`Instant`]). Deadlines are kept in whole milliseconds
//!   since the service's origin, and the deadline is rounded **up**, while "now" is
//!   rounded **down** when deciding what is due.
//! - **Order.** Timers run in order of `(deadline_ms, schedule sequence)`: an earlier
//!   deadline runs first, and timers with the same millisecond deadline run in the order
//!   they were scheduled. All actions of one service run on its single timer thread, one
//!   after the other (except that across a `shutdown` and restart, the old thread may
//!   still be finishing its last batch while the new one starts).
//! - **Cancel frees at once.** A successful [`cancel`] removes the entry from the heap
//!   immediately (O(log n)) and drops the closure on the calling thread, after the lock is
//!   released, so its `Drop` may call back into this module.
//! - **Actions run outside the lock** and inside `catch_unwind`: an action may schedule
//!   or cancel timers (even call [`shutdown`]), and a panicking action is reported by the
//!   panic hook and otherwise ignored; the thread keeps going.
//!
//! # Data structure
//!
//! A binary min-heap with index tracking, split in two arrays (all under one
//! `sync::Mutex`, which does not poison, so no lock can be left unusable by a
//! panicking caller):
//!
//! - `heap: Vec<HeapItem>`: `{ deadline: u64, seq: u64, slot: u32 }`, ordered by
//!   `(deadline, seq)`. Comparisons touch only this array.
//! - `slab: Vec<Slot>`: `{ action: Option<TimerAction>, link: u32 }`. For an occupied
//!   slot, `link` is the back-pointer to its position in `heap`; for a vacant slot it is
//!   the next entry of the free list (`NIL` ends it).
//!
//! A [`TimerId`] is `(slot, seq)`. `seq` is a per-service counter that is never reused,
//! so a stale id (for a timer that fired or was canceled, whose slot now holds a newer
//! timer) never matches: `cancel` checks `heap[slab[slot].link].seq == id.seq`.
//!
//! Costs: `schedule` and `cancel` are O(log n); firing pops O(log n) per timer.
//!
//! # Memory per pending timer
//!
//! **48 bytes** on 64-bit targets: 24 for the `Slot` (16-byte `Box<dyn FnOnce>` fat
//! pointer + 4-byte link, padded) and 24 for the `HeapItem` (checked by a `const`
//! assertion below), plus the closure's own heap allocation (none for a closure that
//! captures nothing), plus up to 2x slack from `Vec` growth. Vacant slots are recycled
//! through the free list; when the service becomes idle (no pending timer) and the arrays
//! have grown past [`RELEASE_THRESHOLD`] slots, both arrays are freed outright (this is
//! safe because ids are validated by their never-reused `seq`, not by slot generation).
//!
//! # Threading and lifecycle
//!
//! - The thread is spawned by the first [`schedule`] (under the lock, so exactly one
//!   thread is started) and is recorded as `State::worker` together with an `epoch`.
//! - It loops: under the lock, pop every due entry into a local batch; if nothing is due,
//!   `wait_until` the earliest deadline (at most [`MAX_SLEEP_MS`] at a time), or `wait`
//!   when the heap is empty. Then it runs
//!   the batch outside the lock. The wait sits inside the loop that re-checks the heap, so
//!   spurious and stale wake-ups are harmless.
//! - `schedule` notifies the condvar only when the new entry became the heap's root,
//!   i.e. earlier than whatever the thread may be sleeping for. The entry is inserted
//!   under the same lock the thread holds while choosing its sleep, so the thread either
//!   sees the new root before it waits or is already queued on the condvar when notified:
//!   no lost wake-up.
//! - [`shutdown`] takes the worker out of the state (which tells the thread to exit: it
//!   exits when `State::worker` no longer carries its epoch), wakes the thread and joins
//!   it (unless called from the timer thread itself). Pending timers stay in the heap,
//!   neither run nor dropped: a later `schedule` starts a new thread with a new epoch,
//!   which fires them when due. An old thread that is still finishing its last batch
//!   never touches the heap again. Dropping a service drops its pending timers.
//! - A concurrent second `shutdown` returns without waiting for the first one's join.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use crate::core::status::{Result, Status};
use crate::core::sync::{Condvar, Mutex};
use crate::core::task::config::{self, Config, ThreadKind, TimerDriver};
use crate::core::task::work::Job;
use crate::core::task::workers;
use crate::core::thread::{self, OsThread};

/// The closure a timer runs once its deadline has passed.
///
/// It runs on the `tapir-timer` thread and must be short: post the real work to a
/// scheduler instead of doing it here. A panic is caught and ignored (after the panic
/// hook has reported it).
pub(crate) type TimerAction = Box<dyn FnOnce() + Send + 'static>;

/// Identifies one scheduled timer, for [`cancel`].
///
/// Made of the slab slot and the timer's schedule sequence number, which a service never
/// reuses; an id for a timer that already fired or was canceled therefore never cancels a
/// newer timer that reuses the slot. An id is only meaningful to the service that
/// issued it (the global one, for [`schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerId {
    /// Index into `State::slab`.
    slot: u32,
    /// `State::next_seq` at the time the timer was scheduled.
    seq: u64,
}

/// End of the free list; also the one slot index that is never handed out.
const NIL: u32 = u32::MAX;

/// When the service goes idle and its slab has room for more than this many slots, the
/// slab and heap are freed instead of being kept for reuse.
const RELEASE_THRESHOLD: usize = 4096;

/// The timer thread's batch buffer is freed after a batch larger than this.
const BATCH_KEEP: usize = 1024;

/// Longest single sleep of the timer thread while a timer is pending (one hour).
const MAX_SLEEP_MS: u64 = 60 * 60 * 1000;

/// One slab entry.
struct Slot {
    /// `Some` while the timer is pending; taken when it fires or is canceled.
    action: Option<TimerAction>,
    /// Occupied: position of this slot's item in `State::heap`.
    /// Vacant: next vacant slot, or `NIL`.
    link: u32,
}

/// One heap entry; the heap is a min-heap on [`HeapItem::key`].
struct HeapItem {
    /// Deadline in whole milliseconds since `Shared::origin`, rounded up.
    deadline: u64,
    /// Schedule sequence number: tie-break for equal deadlines, and id validation.
    seq: u64,
    /// The slab slot that holds this timer's action.
    slot: u32,
}

impl HeapItem {
    /// Ordering key: earliest deadline first, then first scheduled first.
    fn key(&self) -> (u64, u64) {
        (self.deadline, self.seq)
    }
}

// The per-entry size documented in the module docs.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<Slot>() == 24 && size_of::<HeapItem>() == 24);

/// Storage taken out of [`State`] to be dropped after the lock is released. Dropping it
/// drops any closures that are still in the slab.
type Released = (Vec<Slot>, Vec<HeapItem>);

/// The live timer thread of a service.
struct Worker {
    /// The thread keeps running only while `State::worker` holds its epoch.
    epoch: u64,
    /// Joined by `shutdown`.
    handle: OsThread,
}

/// Everything behind the service's lock.
///
/// Invariants (checked in debug builds by `check_invariants` in the tests):
/// - `heap` is a min-heap on `HeapItem::key`;
/// - for every `i`, `slab[heap[i].slot].action.is_some()` and `slab[heap[i].slot].link == i`;
/// - every other slot is vacant and on the free list starting at `free_head`;
/// - `heap` is non-empty without a `worker` only after a `shutdown` (the next `schedule`
///   starts one).
struct State {
    slab: Vec<Slot>,
    free_head: u32,
    heap: Vec<HeapItem>,
    next_seq: u64,
    worker: Option<Worker>,
    next_epoch: u64,
    source: Source,
}

impl State {
    fn new(source: Source) -> Self {
        Self {
            slab: Vec::new(),
            free_head: NIL,
            heap: Vec::new(),
            next_seq: 0,
            worker: None,
            next_epoch: 0,
            source,
        }
    }

    /// Whether one more timer fits: slot indices must stay below `NIL`.
    fn has_room(&self) -> bool {
        self.free_head != NIL || self.slab.len() < NIL as usize
    }

    /// Adds a timer. Returns its id and whether it became the earliest timer.
    /// The caller must have checked [`State::has_room`].
    fn insert(&mut self, deadline: u64, action: TimerAction) -> (TimerId, bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = if self.free_head == NIL {
            debug_assert!(self.has_room());
            // Cannot truncate: `schedule` checked `has_room()`.
            let slot = self.slab.len() as u32;
            self.slab.push(Slot {
                action: None,
                link: NIL,
            });
            slot
        } else {
            let slot = self.free_head;
            self.free_head = self.slab[slot as usize].link;
            slot
        };
        let pos = self.heap.len();
        self.heap.push(HeapItem {
            deadline,
            seq,
            slot,
        });
        let entry = &mut self.slab[slot as usize];
        debug_assert!(
            entry.action.is_none(),
            "free list handed out an occupied slot"
        );
        entry.action = Some(action);
        // `sift_up` sets `link` for every item it places, including this one.
        let pos = self.sift_up(pos);
        (TimerId { slot, seq }, pos == 0)
    }

    /// Removes the pending timer `id` and returns its action, or `None` if `id` is not
    /// pending (fired, firing, canceled, or from another service).
    fn remove(&mut self, id: TimerId) -> Option<TimerAction> {
        let entry = self.slab.get(id.slot as usize)?;
        entry.action.as_ref()?;
        let pos = entry.link as usize;
        let item = self.heap.get(pos)?;
        if item.seq != id.seq {
            return None;
        }
        debug_assert_eq!(item.slot, id.slot, "heap back-pointer mismatch");
        self.remove_at(pos)
    }

    /// Removes the heap item at `pos`, frees its slot and returns its action.
    fn remove_at(&mut self, pos: usize) -> Option<TimerAction> {
        let item = self.heap.swap_remove(pos);
        if pos < self.heap.len() {
            // The former last item now sits at `pos`; it may belong above or below.
            if self.sift_up(pos) == pos {
                self.sift_down(pos);
            }
        }
        let entry = &mut self.slab[item.slot as usize];
        let action = entry.action.take();
        debug_assert!(action.is_some(), "heap item pointed at a vacant slot");
        entry.link = self.free_head;
        self.free_head = item.slot;
        action
    }

    /// Moves every timer whose deadline is `<= now_ms` into `batch`, in firing order.
    fn pop_due(&mut self, now_ms: u64, batch: &mut Vec<TimerAction>) {
        while self.heap.first().is_some_and(|top| top.deadline <= now_ms) {
            batch.extend(self.remove_at(0));
        }
    }

    /// Earliest pending deadline.
    fn next_deadline(&self) -> Option<u64> {
        self.heap.first().map(|top| top.deadline)
    }

    /// Moves the item at `pos` towards the root; records every position it writes.
    /// Returns the item's final position.
    fn sift_up(&mut self, mut pos: usize) -> usize {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].key() <= self.heap[pos].key() {
                break;
            }
            self.heap.swap(parent, pos);
            self.set_link(pos);
            pos = parent;
        }
        self.set_link(pos);
        pos
    }

    /// Moves the item at `pos` towards the leaves; records every position it writes.
    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].key() < self.heap[left].key() {
                right
            } else {
                left
            };
            if self.heap[pos].key() <= self.heap[child].key() {
                break;
            }
            self.heap.swap(pos, child);
            self.set_link(pos);
            pos = child;
        }
        self.set_link(pos);
    }

    /// Points the slot of `heap[pos]` back at `pos`.
    fn set_link(&mut self, pos: usize) {
        let slot = self.heap[pos].slot as usize;
        // `pos < heap.len() <= slab.len() < NIL`, so it fits in a `u32`.
        self.slab[slot].link = pos as u32;
    }

    /// Takes the whole storage out, pending closures included.
    fn take_all(&mut self) -> Released {
        self.free_head = NIL;
        (
            std::mem::take(&mut self.slab),
            std::mem::take(&mut self.heap),
        )
    }

    /// When nothing is pending and the storage has grown large, takes it out so that it
    /// can be freed outside the lock. Every slot is vacant then, so no user code runs.
    fn release_if_idle(&mut self) -> Option<Released> {
        (self.heap.is_empty() && self.slab.capacity() > RELEASE_THRESHOLD).then(|| self.take_all())
    }

    /// Whether the thread started as `epoch` should keep running.
    fn is_current(&self, epoch: u64) -> bool {
        self.worker.as_ref().is_some_and(|w| w.epoch == epoch)
    }
}

/// Where a service's time comes from, and so who runs its due timers.
enum Source {
    /// Not chosen yet: the process-wide service before its first timer, and again
    /// after a shutdown that left it idle (so a new configuration applies).
    Unset,
    /// Milliseconds on the monotonic clock since `origin`; a thread of the service's
    /// own (named, sized and hooked as `config` says) runs due timers.
    Real { origin: Instant, config: Config },
    /// Ticks the host sets (milliseconds for the host-driven timer; frames or
    /// microseconds for a clock); the host runs due timers itself.
    Host { now: u64 },
}

/// State shared between a [`TimerService`], the timers armed on it and its thread.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the timer thread: on a new earliest timer, and on shutdown.
    wake: Condvar,
}

/// Deadline in whole milliseconds since `origin` for a timer scheduled at `now`:
/// rounded up, so it is never before `now + delay`. Saturates at `u64::MAX` (which
/// never fires).
fn deadline_ms(origin: Instant, now: Instant, delay: Duration) -> u64 {
    let at = now.saturating_duration_since(origin).saturating_add(delay);
    u64::try_from(at.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Whole milliseconds elapsed since `origin` at `now`, rounded down.
fn elapsed_ms(origin: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(origin).as_millis()).unwrap_or(u64::MAX)
}

/// A delay in whole milliseconds, rounded up (never early).
fn ceil_ms(delay: Duration) -> u64 {
    u64::try_from(delay.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// How a timer's deadline is given.
enum When {
    /// After a duration (milliseconds on a real or host-driven service).
    After(Duration),
    /// After this many ticks of a host-driven service.
    Ticks(u64),
}

impl State {
    /// The current time of a chosen source, in its ticks.
    fn now(&self) -> u64 {
        match &self.source {
            Source::Unset => 0,
            Source::Real { origin, .. } => elapsed_ms(*origin, Instant::now()),
            Source::Host { now } => *now,
        }
    }

    fn deadline(&self, when: When) -> u64 {
        match (&self.source, when) {
            (Source::Real { origin, .. }, When::After(d)) => {
                deadline_ms(*origin, Instant::now(), d)
            }
            (Source::Real { origin, .. }, When::Ticks(t)) => {
                elapsed_ms(*origin, Instant::now()).saturating_add(t)
            }
            (Source::Host { now }, When::After(d)) => now.saturating_add(ceil_ms(d)),
            (Source::Host { now }, When::Ticks(t)) => now.saturating_add(t),
            (Source::Unset, _) => unreachable!("a source is chosen before the first timer"),
        }
    }
}

impl Shared {
    fn new(source: Source) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State::new(source)),
            wake: Condvar::new(),
        })
    }

    fn schedule(self: &Arc<Self>, when: When, action: TimerAction) -> TimerId {
        let mut state = self.state.lock();
        if matches!(state.source, Source::Unset) {
            state.source = chosen_source();
        }
        if !state.has_room() {
            drop(state);
            drop(action);
            panic!("tapir: more than {} pending timers", NIL - 1);
        }
        let deadline = state.deadline(when);
        let (id, earliest) = state.insert(deadline, action);
        let threaded = matches!(state.source, Source::Real { .. });
        if threaded && state.worker.is_none() {
            if let Err(err) = self.start_worker(&mut state) {
                let action = state.remove(id);
                drop(state);
                drop(action);
                panic!("tapir: failed to spawn the timer thread: {err}");
            }
        } else if threaded && earliest {
            drop(state);
            // The thread may be sleeping until a later deadline.
            self.wake.notify_all();
        }
        id
    }

    /// Spawns the timer thread and records it in `state`. Called with the lock held, so
    /// only one thread is ever started per epoch; the new thread blocks on the lock until
    /// the caller releases it, and then finds itself recorded.
    fn start_worker(self: &Arc<Self>, state: &mut State) -> std::io::Result<()> {
        let Source::Real { config, .. } = &state.source else {
            unreachable!("only a real-time service has a thread");
        };
        let config = config.clone();
        let epoch = state.next_epoch;
        state.next_epoch += 1;
        let shared = Arc::clone(self);
        let handle = thread::spawn(&config.thread_name("timer"), config.stack_size, move || {
            config.thread_started(ThreadKind::Timer, 0);
            run_worker(&shared, epoch);
            config.thread_stopping(ThreadKind::Timer, 0);
        })?;
        state.worker = Some(Worker { epoch, handle });
        Ok(())
    }

    fn cancel(&self, id: TimerId) -> bool {
        let (action, released) = {
            let mut state = self.state.lock();
            let action = state.remove(id);
            (action, state.release_if_idle())
        };
        drop(released);
        let was_pending = action.is_some();
        drop(action);
        was_pending
    }

    /// Runs, on the calling thread, every timer due now (host-driven services).
    /// Returns how many ran.
    fn run_due(&self) -> usize {
        let mut batch = Vec::new();
        let released = {
            let mut state = self.state.lock();
            let now = state.now();
            state.pop_due(now, &mut batch);
            state.release_if_idle()
        };
        drop(released);
        let ran = batch.len();
        for action in batch {
            run_action(action);
        }
        ran
    }
}

/// The source the process-wide service takes at its first timer: what the
/// configuration says (freezing it).
fn chosen_source() -> Source {
    let config = config::freeze();
    match config.timer_driver {
        TimerDriver::Thread => Source::Real {
            origin: Instant::now(),
            config,
        },
        TimerDriver::Host => Source::Host { now: 0 },
    }
}

/// A timer armed on some service: cancel it through this.
pub(crate) struct Armed {
    service: Arc<Shared>,
    id: TimerId,
}

impl Armed {
    /// Cancels the timer: `true` if it was pending (its closure is dropped on this
    /// thread before this returns); `false` if it fired, is firing or was dropped.
    pub(crate) fn cancel(&self) -> bool {
        self.service.cancel(self.id)
    }
}

/// A timer heap: with its own lazily started thread on the monotonic clock, or driven
/// by the host ([`TimerService::new_host`]). The crate uses one process-wide instance
/// through [`schedule`], [`cancel`], [`pending_count`] and [`shutdown`]; clocks and
/// tests build their own.
///
/// Dropping a service shuts it down and drops its pending timers.
pub(crate) struct TimerService {
    shared: Arc<Shared>,
}

impl TimerService {
    /// Creates a real-time service with the current configuration's thread settings.
    /// No thread is started until the first [`TimerService::schedule`].
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self {
            shared: Shared::new(Source::Real {
                origin: Instant::now(),
                config: config::current(),
            }),
        }
    }

    /// Creates a service whose time the host moves ([`TimerService::advance`]) and
    /// whose due timers the host runs ([`TimerService::run_due`]); no thread, ever.
    pub(crate) fn new_host() -> Self {
        Self {
            shared: Shared::new(Source::Host { now: 0 }),
        }
    }

    /// Runs `action` once `delay` has passed (never earlier, with millisecond
    /// resolution; `Duration::ZERO` runs it as soon as the timer gets to it). Starts the
    /// timer thread of a real-time service if it is not running.
    ///
    /// # Panics
    ///
    /// If the timer thread cannot be spawned, or if `u32::MAX - 1` timers are already
    /// pending. `action` is dropped first (outside the lock) and nothing stays scheduled.
    pub(crate) fn schedule(&self, delay: Duration, action: TimerAction) -> TimerId {
        self.shared.schedule(When::After(delay), action)
    }

    /// Arms `action` to run once `ticks` ticks have passed on a host-driven service.
    pub(crate) fn arm_ticks(&self, ticks: u64, action: TimerAction) -> Armed {
        Armed {
            id: self.shared.schedule(When::Ticks(ticks), action),
            service: Arc::clone(&self.shared),
        }
    }

    /// Cancels a pending timer. Returns `true` if it was pending: it is removed at once
    /// and its closure is dropped on this thread, outside the lock, before this returns.
    /// Returns `false` if it already fired, is firing, was canceled, or was dropped by
    /// [`TimerService::clear`].
    #[cfg(test)]
    pub(crate) fn cancel(&self, id: TimerId) -> bool {
        self.shared.cancel(id)
    }

    /// Number of pending timers (diagnostics).
    pub(crate) fn pending_count(&self) -> usize {
        self.shared.state.lock().heap.len()
    }

    /// Moves a host-driven service's time to `now` ticks; `false` (nothing changed) if
    /// that is earlier than its time, or the service is not host-driven.
    pub(crate) fn advance(&self, now: u64) -> bool {
        let mut state = self.shared.state.lock();
        match &mut state.source {
            Source::Host { now: at } if *at <= now => {
                *at = now;
                true
            }
            _ => false,
        }
    }

    /// Runs every timer due now, on the calling thread (host-driven services; a
    /// real-time one's thread does this itself). Returns how many ran.
    pub(crate) fn run_due(&self) -> usize {
        self.shared.run_due()
    }

    /// Stops the timer thread and waits for it to exit (unless called from an action on
    /// that very thread, which then exits once the action returns). Pending timers stay
    /// pending: they are neither run nor dropped, and fire once a later
    /// [`TimerService::schedule`] has started a new thread.
    ///
    /// Timers that were already due and handed to the thread's current batch are no longer
    /// pending (`cancel` returns `false` for them): they still run, and the join waits for
    /// them. If one of them schedules a new timer, that timer starts a new thread.
    pub(crate) fn shutdown(&self) {
        let worker = self.shared.state.lock().worker.take();
        // The thread re-checks `worker` after every wake-up and exits.
        self.shared.wake.notify_all();
        // Called from an action on the timer thread itself: joining would deadlock, so the
        // handle is dropped (detached) and the thread exits once the action returns.
        if let Some(worker) = worker {
            if worker.handle.id() != thread::current() {
                worker.handle.join();
            }
        }
    }

    /// Stops the thread and drops every pending timer without running it.
    pub(crate) fn clear(&self) {
        self.shutdown();
        let released = self.shared.state.lock().take_all();
        drop(released);
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Body of the timer thread started as `epoch`.
fn run_worker(shared: &Shared, epoch: u64) {
    let mut batch: Vec<TimerAction> = Vec::new();
    loop {
        let released = {
            let mut state = shared.state.lock();
            loop {
                if !state.is_current(epoch) {
                    return;
                }
                let Source::Real { origin, .. } = &state.source else {
                    return;
                };
                let origin = *origin;
                let now_ms = elapsed_ms(origin, Instant::now());
                state.pop_due(now_ms, &mut batch);
                if !batch.is_empty() {
                    break;
                }
                // Sleeps are capped so that no platform ever sees an absurd timeout (a
                // `Duration::MAX` timer has a deadline half a billion years away).
                let wake_ms = state
                    .next_deadline()
                    .map(|deadline| deadline.min(now_ms.saturating_add(MAX_SLEEP_MS)));
                match wake_ms.and_then(|ms| origin.checked_add(Duration::from_millis(ms))) {
                    // Timed out, notified or spurious: the loop re-checks everything.
                    Some(at) => {
                        shared.wake.wait_until(&mut state, at);
                    }
                    None => shared.wake.wait(&mut state),
                }
            }
            state.release_if_idle()
        };
        drop(released);
        for action in batch.drain(..) {
            run_action(action);
        }
        if batch.capacity() > BATCH_KEEP {
            batch = Vec::new();
        }
    }
}

/// Runs one action, containing any panic so that the timer thread survives.
fn run_action(action: TimerAction) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(action)) {
        // The panic hook has already reported it. Dropping the payload runs arbitrary
        // `Drop` code, which may panic in turn; contain that too, and leak what is left.
        if let Err(nested) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            std::mem::forget(nested);
        }
    }
}

/// Posts the work of a timer's expiry to where expiries run: the configured timer
/// scheduler, else the default pool. Never runs it here, so no timer thread (and no
/// host tick) runs user code.
pub(crate) fn post_expiry(job: Job) {
    match config::timer_scheduler() {
        Some(s) => s.post(job),
        None => workers::post(job),
    }
}

/// The process-wide service behind the free functions: made on first use, freed by
/// [`release_memory`] when the library is unloaded.
static GLOBAL: AtomicPtr<TimerService> = AtomicPtr::new(std::ptr::null_mut());

/// The global service, if it was made.
fn global() -> Option<&'static TimerService> {
    // Acquire: pairs with the Release in `global_or_make`.
    let p = GLOBAL.load(Ordering::Acquire);
    // SAFETY: set once from a leaked box, freed only by `release_memory`, after which no
    // tapir code runs.
    (!p.is_null()).then(|| unsafe { &*p })
}

fn global_or_make() -> &'static TimerService {
    if let Some(service) = global() {
        return service;
    }
    static MAKING: Mutex<()> = Mutex::new(());
    let _making = MAKING.lock();
    if let Some(service) = global() {
        return service;
    }
    let service = Box::leak(Box::new(TimerService {
        shared: Shared::new(Source::Unset),
    }));
    GLOBAL.store(service, Ordering::Release);
    service
}

/// Runs `action` once `delay` has passed (never earlier; millisecond resolution): on
/// the `tapir-timer` thread, or in the host's `run_due` with the host driver. Starts
/// the thread on first use, and again after [`shutdown`]. See
/// [`TimerService::schedule`].
pub(crate) fn schedule(delay: Duration, action: TimerAction) -> Armed {
    let service = global_or_make();
    Armed {
        id: service.schedule(delay, action),
        service: Arc::clone(&service.shared),
    }
}

/// Number of pending timers of the global service (diagnostics).
pub(crate) fn pending_count() -> usize {
    global().map_or(0, TimerService::pending_count)
}

/// True when the process-wide timer is driven by the host (configured so, and in use
/// or about to be).
fn host_driven() -> Option<&'static TimerService> {
    let service = global_or_make();
    let mut state = service.shared.state.lock();
    if matches!(state.source, Source::Unset) && config::timer_driver() == TimerDriver::Host {
        state.source = chosen_source();
    }
    matches!(state.source, Source::Host { .. }).then_some(service)
}

/// Host driver: moves the process-wide time to `now_ms`. `InvalidState` without the
/// host driver; `InvalidArgument` for a time before the current one.
pub(crate) fn host_advance(now_ms: u64) -> Result<()> {
    let service = host_driven().ok_or(Status::InvalidState)?;
    if service.advance(now_ms) {
        Ok(())
    } else {
        Err(Status::InvalidArgument)
    }
}

/// Host driver: runs the timers due at the host time, on this thread.
pub(crate) fn host_run_due() -> Result<usize> {
    Ok(host_driven().ok_or(Status::InvalidState)?.run_due())
}

/// Host driver: the earliest pending deadline (host milliseconds), if any.
pub(crate) fn host_next_due() -> Option<u64> {
    let service = global()?;
    let state = service.shared.state.lock();
    match state.source {
        Source::Host { .. } => state.next_deadline(),
        _ => None,
    }
}

/// Stops and joins the global timer thread; pending timers stay pending and fire once a
/// later [`schedule`] has started the thread again. See [`TimerService::shutdown`].
/// Returns true when no timer is pending: the service forgets its source, so the next
/// timer follows a new configuration.
///
/// Unit tests must not call this: every test in the binary shares the global service.
/// Test a private [`TimerService`] instead.
pub(crate) fn shutdown() -> bool {
    let Some(service) = global() else {
        return true;
    };
    service.shutdown();
    let mut state = service.shared.state.lock();
    if !state.heap.is_empty() || state.worker.is_some() {
        return false;
    }
    let old = std::mem::replace(&mut state.source, Source::Unset);
    drop(state);
    drop(old);
    true
}

/// Frees what the global service holds. Only for the library's unload, with the thread
/// stopped and no timer pending (nothing calls into tapir afterwards).
pub(crate) fn release_memory() {
    let p = GLOBAL.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !p.is_null() {
        // SAFETY: made by `global_or_make` from a box; the swap hands it to this call
        // alone, and nothing calls into tapir any more. Its drop finds the thread stopped.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// True when the global timer thread is not running (never started, or shut down).
pub(crate) fn stopped() -> bool {
    global().is_none_or(|service| service.shared.state.lock().worker.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread;

    /// Upper bound for anything that should happen "soon"; generous for loaded CI.
    const SOON: Duration = Duration::from_secs(5);
    /// A delay that never elapses during a test.
    const LONG: Duration = Duration::from_secs(3600);

    /// Counts its drops and records the dropping thread.
    struct DropGuard {
        drops: Arc<AtomicUsize>,
        dropped_on: Arc<Mutex<Option<thread::ThreadId>>>,
    }

    impl Drop for DropGuard {
        fn drop(&mut self) {
            *self.dropped_on.lock() = Some(thread::current().id());
            // Relaxed: the test reads it on the thread that dropped, or after a join.
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Shared probes for one closure: did it run, how often was it dropped, where.
    #[derive(Default, Clone)]
    struct Probe {
        ran: Arc<AtomicBool>,
        drops: Arc<AtomicUsize>,
        dropped_on: Arc<Mutex<Option<thread::ThreadId>>>,
    }

    impl Probe {
        fn action(&self) -> TimerAction {
            let guard = DropGuard {
                drops: Arc::clone(&self.drops),
                dropped_on: Arc::clone(&self.dropped_on),
            };
            let ran = Arc::clone(&self.ran);
            Box::new(move || {
                let _guard = guard;
                ran.store(true, Ordering::Relaxed);
            })
        }
        fn ran(&self) -> bool {
            self.ran.load(Ordering::Relaxed)
        }
        fn drops(&self) -> usize {
            self.drops.load(Ordering::Relaxed)
        }
    }

    /// An action that sends `value` and the firing instant.
    fn send_at<T: Send + 'static>(tx: &mpsc::Sender<(T, Instant)>, value: T) -> TimerAction {
        let tx = tx.clone();
        Box::new(move || {
            let _ = tx.send((value, Instant::now()));
        })
    }

    /// Checks the `State` invariants.
    fn check_invariants(service: &TimerService) {
        let state = service.shared.state.lock();
        for (pos, item) in state.heap.iter().enumerate() {
            if pos > 0 {
                assert!(state.heap[(pos - 1) / 2].key() <= item.key(), "heap order");
            }
            let slot = &state.slab[item.slot as usize];
            assert!(slot.action.is_some(), "heap item points at vacant slot");
            assert_eq!(slot.link as usize, pos, "back-pointer");
        }
        let mut free = 0;
        let mut next = state.free_head;
        while next != NIL {
            assert!(
                state.slab[next as usize].action.is_none(),
                "occupied slot on free list"
            );
            free += 1;
            assert!(free <= state.slab.len(), "free list cycle");
            next = state.slab[next as usize].link;
        }
        assert_eq!(free + state.heap.len(), state.slab.len(), "slots leaked");
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn entry_is_48_bytes() {
        assert_eq!(size_of::<Slot>() + size_of::<HeapItem>(), 48);
        assert_eq!(size_of::<TimerAction>(), 16);
    }

    #[test]
    fn deadline_rounds_up_and_now_rounds_down() {
        let origin = Instant::now();
        let at = origin + Duration::from_micros(10_400);
        assert_eq!(deadline_ms(origin, at, Duration::ZERO), 11);
        assert_eq!(deadline_ms(origin, at, Duration::from_micros(600)), 11);
        assert_eq!(deadline_ms(origin, at, Duration::from_micros(601)), 12);
        assert_eq!(elapsed_ms(origin, at), 10);
        assert_eq!(deadline_ms(origin, at, Duration::MAX), u64::MAX);
    }

    #[test]
    fn fires_not_early_on_timer_thread() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        for ms in [0u64, 1, 2, 7, 25, 60, 120] {
            let delay = Duration::from_millis(ms);
            let start = Instant::now();
            let tx = tx.clone();
            service.schedule(
                delay,
                Box::new(move || {
                    let name = crate::core::thread::current_name();
                    let _ = tx.send((Instant::now(), name));
                }),
            );
            let (fired, name) = rx
                .recv_timeout(SOON)
                .expect("timer did not fire within 5 s");
            let waited = fired.duration_since(start);
            assert!(waited >= delay, "fired early: {waited:?} < {delay:?}");
            assert_eq!(name.as_deref(), Some("tapir-timer"));
        }
        assert_eq!(service.pending_count(), 0);
    }

    #[test]
    fn fires_in_deadline_order() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        let delays_ms = [120u64, 30, 90, 0, 60, 150, 10, 30, 0, 90];
        // Keep the timer thread busy in a gate action while scheduling, so that no timer
        // fires before its deadline has been read back below.
        let (entered_tx, entered_rx) = mpsc::channel();
        let (open_tx, open_rx) = mpsc::channel::<()>();
        service.schedule(
            Duration::ZERO,
            Box::new(move || {
                let _ = entered_tx.send(());
                let _ = open_rx.recv_timeout(SOON);
            }),
        );
        entered_rx.recv_timeout(SOON).expect("gate did not fire");
        let mut expected = Vec::new();
        let start = Instant::now();
        for (index, &ms) in delays_ms.iter().enumerate() {
            let id = service.schedule(Duration::from_millis(ms), send_at(&tx, index));
            // The order the service must follow is that of the deadlines it computed
            // (the test thread may be descheduled between two `schedule` calls).
            let state = service.shared.state.lock();
            let deadline = state.heap[state.slab[id.slot as usize].link as usize].deadline;
            expected.push(((deadline, id.seq), index));
        }
        check_invariants(&service);
        open_tx.send(()).expect("gate is waiting");
        expected.sort_unstable();
        let mut fired = Vec::new();
        for _ in &delays_ms {
            let (index, at) = rx
                .recv_timeout(SOON)
                .expect("timer did not fire within 5 s");
            assert!(at.duration_since(start) >= Duration::from_millis(delays_ms[index]));
            fired.push(index);
        }
        let expected: Vec<usize> = expected.into_iter().map(|(_, index)| index).collect();
        assert_eq!(fired, expected);
    }

    #[test]
    fn equal_delays_fire_in_schedule_order() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        for index in 0..100 {
            service.schedule(Duration::from_millis(5), send_at(&tx, index));
        }
        let fired: Vec<i32> = (0..100)
            .map(|_| {
                rx.recv_timeout(SOON)
                    .expect("timer did not fire within 5 s")
                    .0
            })
            .collect();
        assert_eq!(fired, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn cancel_before_firing_drops_closure_on_caller_without_running() {
        let service = TimerService::new();
        let probe = Probe::default();
        let id = service.schedule(LONG, probe.action());
        assert_eq!(service.pending_count(), 1);
        assert!(service.cancel(id));
        // Dropped synchronously, on this thread, before `cancel` returned.
        assert_eq!(probe.drops(), 1);
        assert_eq!(*probe.dropped_on.lock(), Some(thread::current().id()));
        assert!(!probe.ran());
        assert_eq!(service.pending_count(), 0);
        assert!(!service.cancel(id), "second cancel");
        check_invariants(&service);

        // Also for a short delay. (On a badly stalled machine the timer may fire before
        // `cancel`; then `cancel` must say so.)
        let probe = Probe::default();
        let id = service.schedule(Duration::from_millis(100), probe.action());
        if service.cancel(id) {
            assert_eq!(probe.drops(), 1);
            thread::sleep(Duration::from_millis(300));
            assert!(!probe.ran());
            assert_eq!(probe.drops(), 1);
        }
    }

    #[test]
    fn cancel_after_firing_returns_false() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        let id = service.schedule(Duration::from_millis(1), send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer did not fire within 5 s");
        assert!(!service.cancel(id));
        assert_eq!(service.pending_count(), 0);
    }

    #[test]
    fn cancel_while_firing_returns_false() {
        let service = TimerService::new();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let id = service.schedule(
            Duration::ZERO,
            Box::new(move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv_timeout(SOON);
            }),
        );
        started_rx
            .recv_timeout(SOON)
            .expect("timer did not fire within 5 s");
        // The action is running (outside the lock): the service stays usable.
        assert!(!service.cancel(id));
        let other = service.schedule(LONG, Box::new(|| {}));
        assert_eq!(service.pending_count(), 1);
        assert!(service.cancel(other));
        release_tx.send(()).expect("action is waiting");
    }

    #[test]
    fn stale_id_does_not_cancel_newer_timer_in_reused_slot() {
        let service = TimerService::new();
        let old = service.schedule(LONG, Box::new(|| {}));
        assert!(service.cancel(old));
        let probe = Probe::default();
        let new = service.schedule(LONG, probe.action());
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert_ne!(new, old);
        assert!(!service.cancel(old), "stale id canceled the new timer");
        assert_eq!(service.pending_count(), 1);
        assert_eq!(probe.drops(), 0);

        // Same after the old timer fired rather than being canceled.
        let (tx, rx) = mpsc::channel();
        let fired = service.schedule(Duration::ZERO, send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer did not fire within 5 s");
        let newer = service.schedule(LONG, Box::new(|| {}));
        assert_eq!(newer.slot, fired.slot, "the slot is reused");
        assert!(!service.cancel(fired));
        assert_eq!(service.pending_count(), 2);

        assert!(service.cancel(new));
        assert!(service.cancel(newer));
        assert_eq!(probe.drops(), 1);
        assert!(!probe.ran());
        check_invariants(&service);
    }

    #[test]
    fn earlier_timer_wakes_sleeping_thread() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        service.schedule(LONG, send_at(&tx, "long"));
        // Let the thread go to sleep until the long deadline.
        thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        service.schedule(Duration::from_millis(20), send_at(&tx, "short"));
        let (which, at) = rx
            .recv_timeout(SOON)
            .expect("sleeping thread was not woken");
        assert_eq!(which, "short");
        assert!(at.duration_since(start) >= Duration::from_millis(20));
        assert_eq!(service.pending_count(), 1);
    }

    #[test]
    fn panicking_action_does_not_kill_the_thread() {
        let service = TimerService::new();
        let (tx, rx) = mpsc::channel();
        service.schedule(
            Duration::ZERO,
            Box::new(|| panic!("deliberate panic in a timer action (test)")),
        );
        service.schedule(Duration::from_millis(10), send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer thread died after a panicking action");
        // Still alive for timers scheduled afterwards.
        service.schedule(Duration::ZERO, send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer thread died after a panicking action");
    }

    #[test]
    fn actions_may_call_back_into_the_service() {
        let service = Arc::new(TimerService::new());
        let (tx, rx) = mpsc::channel();
        let inner = Arc::clone(&service);
        let tx2 = tx.clone();
        service.schedule(
            Duration::ZERO,
            Box::new(move || {
                let pending = inner.pending_count();
                let id = inner.schedule(LONG, Box::new(|| {}));
                let canceled = inner.cancel(id);
                inner.schedule(Duration::from_millis(1), send_at(&tx2, (pending, canceled)));
            }),
        );
        let ((pending, canceled), _) = rx.recv_timeout(SOON).expect("chained timer did not fire");
        assert_eq!(pending, 0);
        assert!(canceled);
    }

    #[test]
    fn million_pending_timers_schedule_then_cancel() {
        const N: usize = 1_000_000;
        let service = TimerService::new();
        // Deadlines in scrambled order (an LCG), all far in the future.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 33
        };
        let start = Instant::now();
        let mut ids = Vec::with_capacity(N);
        for index in 0..N as u32 {
            let delay = LONG + Duration::from_millis(next() % 1_000_000);
            // Captures 4 bytes, like a small real closure would capture a pointer.
            ids.push(service.schedule(
                delay,
                Box::new(move || {
                    std::hint::black_box(index);
                }),
            ));
        }
        let scheduled = start.elapsed();
        assert_eq!(service.pending_count(), N);
        check_invariants(&service);
        // Cancel in a different scrambled order (a stride permutation of the ids).
        let start = Instant::now();
        let stride = 7_919; // prime, coprime with N
        for k in 0..N {
            assert!(service.cancel(ids[(k * stride) % N]));
        }
        let canceled = start.elapsed();
        assert_eq!(service.pending_count(), 0);
        // Idle again: the storage was handed back.
        assert_eq!(service.shared.state.lock().slab.capacity(), 0);
        println!(
            "1,000,000 timers: schedule {scheduled:?} ({:.0} ns each), cancel {canceled:?} \
             ({:.0} ns each)",
            scheduled.as_nanos() as f64 / N as f64,
            canceled.as_nanos() as f64 / N as f64,
        );
        assert!(!service.cancel(ids[0]));
    }

    #[test]
    fn many_timers_fire_and_randomized_cancels_keep_invariants() {
        let service = TimerService::new();
        let fired = Arc::new(AtomicUsize::new(0));
        let mut ids = Vec::new();
        for index in 0..2_000u64 {
            let fired = Arc::clone(&fired);
            let delay = Duration::from_millis((index * 37) % 50);
            ids.push(service.schedule(
                delay,
                Box::new(move || {
                    fired.fetch_add(1, Ordering::Relaxed);
                }),
            ));
        }
        let canceled = ids
            .iter()
            .step_by(3)
            .filter(|&&id| service.cancel(id))
            .count();
        check_invariants(&service);
        let deadline = Instant::now() + SOON;
        while service.pending_count() > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(service.pending_count(), 0);
        // The last popped batch may still be running: wait for it.
        while fired.load(Ordering::Relaxed) + canceled < ids.len() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(fired.load(Ordering::Relaxed) + canceled, ids.len());
        check_invariants(&service);
    }

    #[test]
    fn shutdown_keeps_pending_and_schedule_restarts() {
        let service = TimerService::new();
        service.shutdown(); // never started: nothing to do
        let probe = Probe::default();
        service.schedule(Duration::from_millis(30), probe.action());
        let first_thread = service.shared.state.lock().worker.as_ref().map(|w| w.epoch);
        service.shutdown();
        assert_eq!(probe.drops(), 0, "a pending timer survives shutdown");
        assert!(!probe.ran());
        assert_eq!(service.pending_count(), 1);
        assert!(service.shared.state.lock().worker.is_none());
        service.shutdown(); // twice is fine

        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        service.schedule(Duration::from_millis(10), send_at(&tx, ()));
        let second_thread = service.shared.state.lock().worker.as_ref().map(|w| w.epoch);
        assert!(second_thread.is_some());
        assert_ne!(first_thread, second_thread);
        let ((), at) = rx.recv_timeout(SOON).expect("restarted timer did not fire");
        assert!(at.duration_since(start) >= Duration::from_millis(10));
        let deadline = Instant::now() + SOON;
        while !probe.ran() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert!(
            probe.ran(),
            "the timer kept across shutdown fires after the restart"
        );
    }

    #[test]
    fn shutdown_from_an_action_does_not_deadlock() {
        let service = Arc::new(TimerService::new());
        let probe = Probe::default();
        service.schedule(LONG, probe.action());
        let (tx, rx) = mpsc::channel();
        let inner = Arc::clone(&service);
        service.schedule(
            Duration::ZERO,
            Box::new(move || {
                inner.shutdown();
                let _ = tx.send(inner.pending_count());
            }),
        );
        let pending = rx.recv_timeout(SOON).expect("self-shutdown deadlocked");
        assert_eq!(pending, 1, "the long timer stays pending");
        assert_eq!(probe.drops(), 0);
        // And the service still works.
        let (tx, rx) = mpsc::channel();
        service.schedule(Duration::ZERO, send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer did not fire after self-shutdown");
    }

    #[test]
    fn dropping_the_service_drops_pending_timers() {
        let probe = Probe::default();
        let service = TimerService::new();
        service.schedule(LONG, probe.action());
        drop(service);
        assert_eq!(probe.drops(), 1);
        assert!(!probe.ran());
    }

    #[test]
    fn extreme_delays() {
        let service = TimerService::new();
        let id = service.schedule(Duration::MAX, Box::new(|| {}));
        assert_eq!(service.pending_count(), 1);
        // The thread sleeps (capped at MAX_SLEEP_MS) towards a deadline half a billion
        // years away, and still wakes for an earlier timer.
        let (tx, rx) = mpsc::channel();
        service.schedule(Duration::from_millis(1), send_at(&tx, ()));
        rx.recv_timeout(SOON)
            .expect("timer did not fire within 5 s");
        assert!(service.cancel(id));
    }

    /// The global free functions. Other modules' tests may use the global service
    /// concurrently, so this neither asserts on `pending_count()` nor calls `shutdown()`.
    #[test]
    fn global_service_smoke() {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let fired = schedule(Duration::from_millis(15), send_at(&tx, ()));
        let ((), at) = rx.recv_timeout(SOON).expect("global timer did not fire");
        assert!(at.duration_since(start) >= Duration::from_millis(15));
        assert!(!fired.cancel());

        let probe = Probe::default();
        let id = schedule(LONG, probe.action());
        assert!(pending_count() >= 1);
        assert!(id.cancel());
        assert_eq!(probe.drops(), 1);
        assert!(!probe.ran());
    }
}
