//! Wait queues: how a primitive parks an asynchronous waiter, wakes it, and lets it
//! leave when its timeout or its token fires first.
//!
//! A waiter is a pending task whose only producer is the primitive ([`SourceRef`]), its
//! timer and its token registration ([`Armed`]), and what the primitive needs to know
//! about it (how many permits, which lock mode, the item it writes). Waiters live in a
//! [`Queue`] ordered by arrival (ids only grow), behind the primitive's own mutex.
//!
//! # The rules every primitive keeps
//! - **Decided under the mutex, completed outside it.** Whoever removes a waiter from
//!   its queue (a release, a set, a write, the timer, the token) is the one that
//!   completes it, and it does so after unlocking: the [`Wake`] list collects the
//!   removed waiters with their outcomes, and [`Wake::finish`] completes them once the
//!   guard is dropped. So no user code ever runs under a primitive's mutex, and a
//!   waiter that timed out or was canceled was removed first: it can never consume a
//!   release meant for the next one.
//! - **Bounded depth.** A release completes the next waiter with inline continuations
//!   allowed; a synchronous continuation that releases again completes the next one
//!   through the engine's trampoline, which defers past a fixed depth. Primitives never
//!   recurse on their own.
//! - **Cancellation never runs continuations inside the canceling call**: a waiter the
//!   token removes (and any waiter its departure unblocks) is completed with inline
//!   continuations refused, so they are dispatched to the default pool.
//! - **Timers never run user code on the timer thread**: an expiry posts a library job
//!   to the default pool, which withdraws the waiter there.
//! - **No cycles.** The timer and the registration name the primitive weakly; a waiter
//!   holds no reference to the primitive, and the primitive none to the waiter's task
//!   beyond its right to complete it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::core::cancel::{TokenRef, TokenRegistration};
use crate::core::memory::Handle;
use crate::core::memory::family::Weak;
use crate::core::status::Status;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;
use crate::core::task::work::Job;
use crate::core::time::timer;

use crate::core::memory::cell::{Prim, PrimCell, PrimRef};

/// A waiter's timer and token registration; disarming stops both.
#[derive(Default)]
pub(crate) struct Armed {
    timer: Option<timer::Armed>,
    reg: Option<TokenRegistration>,
}

impl Armed {
    fn is_empty(&self) -> bool {
        self.timer.is_none() && self.reg.is_none()
    }
    /// Stops the timer (its entry is freed at once) and removes the registration.
    /// Never under a primitive's mutex: the registration's drop takes the token's lock.
    pub(crate) fn disarm(self) {
        if let Some(t) = self.timer {
            t.cancel();
        }
        drop(self.reg);
    }
}

/// A parked waiter: the right to complete its task, and what stops its timer and token.
pub(crate) struct Wait {
    source: SourceRef,
    armed: Armed,
}

/// One entry of a queue: the waiter and what the primitive keeps about it.
pub(crate) struct Entry<W> {
    pub(crate) wait: Wait,
    pub(crate) data: W,
}

/// Waiters in arrival order.
pub(crate) struct Queue<W> {
    map: BTreeMap<u64, Entry<W>>,
}

impl<W> Default for Queue<W> {
    fn default() -> Self {
        Queue {
            map: BTreeMap::new(),
        }
    }
}

impl<W> Queue<W> {
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Parks a waiter under `id` (from [`Ids::next`]: ids only grow, so the map's order
    /// is arrival order).
    pub(crate) fn push(&mut self, id: u64, source: SourceRef, data: W) {
        let wait = Wait {
            source,
            armed: Armed::default(),
        };
        self.map.insert(id, Entry { wait, data });
    }
    /// The oldest waiter.
    pub(crate) fn front(&self) -> Option<&Entry<W>> {
        self.map.first_key_value().map(|(_, e)| e)
    }
    pub(crate) fn pop_front(&mut self) -> Option<Entry<W>> {
        self.map.pop_first().map(|(_, e)| e)
    }
    pub(crate) fn remove(&mut self, id: u64) -> Option<Entry<W>> {
        self.map.remove(&id)
    }
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.map.contains_key(&id)
    }
    /// Every waiter, oldest first (the queue is left empty).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Entry<W>> {
        std::mem::take(&mut self.map).into_values()
    }
    /// Gives waiter `id` its timer and registration; hands them back when it has left.
    pub(crate) fn attach(&mut self, id: u64, armed: Armed) -> Option<Armed> {
        match self.map.get_mut(&id) {
            Some(e) => {
                e.wait.armed = armed;
                None
            }
            None => Some(armed),
        }
    }
    /// The oldest entry's id.
    pub(crate) fn front_id(&self) -> Option<u64> {
        self.map.first_key_value().map(|(&id, _)| id)
    }
}

/// The id counter of a primitive's waiters.
#[derive(Default)]
pub(crate) struct Ids(u64);

impl Ids {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Waiters removed under a mutex, to be completed after it is released, and values
/// to be dropped there too (items whose destroy runs user code).
#[derive(Default)]
pub(crate) struct Wake {
    woken: Vec<(Wait, Outcome)>,
    garbage: Vec<Box<dyn Send>>,
}

impl Wake {
    /// Completes `wait` with `outcome` once the mutex is released.
    pub(crate) fn push(&mut self, wait: Wait, outcome: Outcome) {
        self.woken.push((wait, outcome));
    }
    /// Drops `value` once the mutex is released.
    pub(crate) fn drop_later(&mut self, value: Box<dyn Send>) {
        self.garbage.push(value);
    }
    /// Completes the woken waiters in the order they were pushed, then drops the rest.
    /// `inline_ok` false: none of their continuations run on this thread.
    pub(crate) fn finish(self, inline_ok: bool) {
        let Wake { woken, garbage } = self;
        for (wait, outcome) in woken {
            let Wait { source, armed } = wait;
            armed.disarm();
            source.try_complete(outcome, inline_ok);
        }
        drop(garbage);
    }
}

/// An outcome that fails a waiter because its primitive was disposed.
pub(crate) fn disposed() -> Outcome {
    Outcome::library_error(
        Status::Disposed,
        "the primitive's last handle was released while this wait was pending",
    )
}

/// The outcome of a wait that ran out of time and reports it as a value: 0 (false).
pub(crate) fn timed_out_false() -> Outcome {
    Outcome::value(0)
}

/// The outcome of a wait that ran out of time and has no value to say so: a fault of
/// code TIMEOUT.
pub(crate) fn timed_out_error() -> Outcome {
    Outcome::library_error(Status::Timeout, "the wait timed out")
}

/// A primitive whose waiters can leave early.
pub(crate) trait Withdraw: Prim {
    /// Removes waiter `id` if it still waits (its timeout or token fired) and returns
    /// it; waiters its departure unblocks, and values to drop, go to `wake`.
    fn withdraw(me: &PrimRef<Self>, id: u64, wake: &mut Wake) -> Option<Wait>;
    /// Gives waiter `id` its timer and registration; hands them back if it has left.
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed>;
}

/// A new pending task for a waiter, and the user handle (+1) the caller returns.
pub(crate) fn new_waiter() -> (SourceRef, Handle) {
    SourceRef::new_task(false, 0)
}

/// Arms waiter `id` of `prim` (already queued): after `timeout` (None: never) it leaves
/// with `on_timeout()`, and when `token` fires it leaves canceled with that token.
/// Call without holding the primitive's mutex: an already canceled token withdraws the
/// waiter on this thread.
pub(crate) fn arm<T: Withdraw>(
    prim: &PrimRef<T>,
    id: u64,
    timeout: Option<Duration>,
    token: Option<&TokenRef>,
    on_timeout: fn() -> Outcome,
) {
    let weak = prim.weak();
    let mut armed = Armed::default();
    if let Some(d) = timeout {
        armed.timer = Some(timer::schedule(
            d,
            Box::new(move || {
                timer::post_expiry(Job::library(move |run| expire(weak, id, on_timeout, run)));
            }),
        ));
    }
    if let Some(t) = token.filter(|t| t.may_cancel()) {
        let tw = t.weak();
        armed.reg = TokenRegistration::new(t, move || {
            let token = tw.upgrade().map(TokenRef::from_ref);
            leave(weak, id, Outcome::Canceled(token), false);
        });
    }
    if armed.is_empty() {
        return;
    }
    if let Some(back) = prim.get().get().attach(id, armed) {
        back.disarm();
    }
}

/// The timer of waiter `id` fired (where timer expiries run; `run` false: the job was
/// discarded at shutdown, and the waiter still leaves, with its continuations
/// dispatched).
fn expire<T: Withdraw>(weak: Weak<PrimCell<T>>, id: u64, on_timeout: fn() -> Outcome, run: bool) {
    leave(weak, id, on_timeout(), run);
}

fn leave<T: Withdraw>(weak: Weak<PrimCell<T>>, id: u64, outcome: Outcome, inline_ok: bool) {
    let Some(prim) = weak.upgrade() else {
        return; // disposed: its waiters were failed then
    };
    let mut wake = Wake::default();
    if let Some(me) = T::withdraw(&prim, id, &mut wake) {
        wake.woken.insert(0, (me, outcome));
    }
    drop(prim);
    wake.finish(inline_ok);
}
