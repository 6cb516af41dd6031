//! SemaphoreSlim: a count of permits with a maximum; asynchronous waits served strictly
//! in arrival order.
//!
//! A wait for `n` permits succeeds at once when no earlier waiter is queued and `n` are
//! available; otherwise it queues. A release adds permits and hands them to the queue's
//! head while it can be served, oldest first: a head that needs more than there are
//! blocks everyone behind it (no barging, so no waiter starves). A waiter that times
//! out or is canceled leaves the queue first, so its departure may let the next ones
//! through, and a release is never spent on it.
//!
//! The count lives in a lock-free word in the slot ([`Permits`]): with nobody waiting,
//! `try_wait`, `signal` and `current_count` are one compare-exchange (or load) each,
//! with no pin and no lock; the mutex guards only the queue.

use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::sync::{AtomicU32, Ordering};
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::permits::{Fast, Permits};
use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Semaphore];

/// The slot's type-stable part: the count word and the maximum.
#[derive(Default)]
pub(crate) struct SemFast {
    permits: Permits,
    /// Written before the handle is published; read-only afterwards.
    max: AtomicU32,
}

pub(crate) struct Semaphore {
    inner: Mutex<Inner>,
}

struct Inner {
    ids: Ids,
    /// Waiters and the permits each needs.
    queue: Queue<u32>,
    disposed: bool,
}

prim_pool!(Semaphore, SEMAPHORES);

impl Prim for Semaphore {
    type Fast = SemFast;
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &SEMAPHORES
    }
    fn last_user_gone(&self, fast: &SemFast) {
        fast.permits.close();
        self.dispose();
    }
    fn retire_fast(&self, fast: &SemFast) {
        fast.permits.close();
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        self.dispose();
    }
}

impl Inner {
    /// Serves the queue's head while it can be, oldest first (under the mutex).
    fn serve(&mut self, permits: &Permits, wake: &mut Wake) {
        while let Some(head) = self.queue.front() {
            if !permits.take_queued(head.data) {
                break;
            }
            let e = self.queue.pop_front().expect("a head");
            wake.push(e.wait, Outcome::value(1));
        }
        if self.queue.is_empty() {
            permits.clear_queued();
        }
    }
}

impl Semaphore {
    /// Nobody can release any more: every waiter fails with DISPOSED.
    fn dispose(&self) {
        let mut wake = Wake::default();
        {
            let mut g = self.inner.lock();
            g.disposed = true;
            for e in g.queue.drain() {
                wake.push(e.wait, waiters::disposed());
            }
        }
        wake.finish(true);
    }
}

impl Withdraw for Semaphore {
    fn withdraw(me: &PrimRef<Self>, id: u64, wake: &mut Wake) -> Option<Wait> {
        let permits = &me.get().fast().permits;
        let mut g = me.get().get().inner.lock();
        let was_head = g.queue.front_id() == Some(id);
        let e = g.queue.remove(id)?;
        if was_head || g.queue.is_empty() {
            g.serve(permits, wake);
        }
        Some(e.wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
}

/// A semaphore with `initial` permits of at most `max` (+1 handle).
pub fn new(initial: u32, max: u32) -> Result<Handle> {
    if max == 0 || initial > max {
        return Err(Status::InvalidArgument);
    }
    let value = Semaphore {
        inner: Mutex::new(Inner {
            ids: Ids::default(),
            queue: Queue::default(),
            disposed: false,
        }),
    };
    Ok(cell::create_with(
        Kind::Semaphore,
        value,
        |f, generation| {
            // Relaxed: published with the handle by the Release in `open` and activation.
            f.max.store(max, Ordering::Relaxed);
            f.permits.open(generation, initial);
        },
    ))
}

/// The slot's fast state, and the maximum, for a handle (not validated: the permits
/// word checks the generation).
fn fast_of(h: Handle) -> Option<(&'static SemFast, u32)> {
    let c = cell::slot::<Semaphore>(h, KINDS)?;
    // Relaxed: read-only after publication; a stale handle's reading is refused by
    // the generation check of the operation that uses it.
    let max = c.fast().max.load(Ordering::Relaxed);
    Some((c.fast(), max))
}

fn check_n(n: u32, max: u32) -> Result<()> {
    if n == 0 || n > max {
        Err(Status::InvalidArgument)
    } else {
        Ok(())
    }
}

/// Takes `n` permits now if no earlier waiter is queued and they are there.
pub fn try_wait(h: Handle, n: u32) -> Result<bool> {
    if let Some((f, max)) = fast_of(h) {
        if check_n(n, max).is_ok() {
            match f.permits.try_take(h.generation(), n) {
                Fast::Done(_) => return Ok(true),
                Fast::Refused => return Ok(false),
                Fast::Slow => {}
            }
        }
    }
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let f = p.get().fast();
    check_n(n, f.max.load(Ordering::Relaxed))?;
    let g = p.get().get().inner.lock();
    Ok(g.queue.is_empty() && !g.disposed && f.permits.take_queued(n))
}

/// WaitAsync: a task that succeeds with 1 once `n` permits are taken, with 0 when
/// `timeout` passes first, or ends canceled when `token` fires first (+1 task).
pub fn wait_async(
    h: Handle,
    n: u32,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    if let Some((f, max)) = fast_of(h) {
        if check_n(n, max).is_ok() && f.permits.try_take(h.generation(), n).is_done() {
            return Ok(complete::new_completed(Outcome::value(1)));
        }
    }
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let f = p.get().fast();
    check_n(n, f.max.load(Ordering::Relaxed))?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        if g.disposed {
            return Ok(complete::new_completed(waiters::disposed()));
        }
        let empty = g.queue.is_empty();
        if empty && f.permits.take_queued(n) {
            return Ok(complete::new_completed(Outcome::value(1)));
        }
        if let Some(t) = &token {
            if t.is_canceled() {
                return Ok(complete::new_completed(Outcome::Canceled(token)));
            }
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(complete::new_completed(waiters::timed_out_false()));
        }
        if f.permits.take_or_queue(n, empty) {
            return Ok(complete::new_completed(Outcome::value(1)));
        }
        let (source, out) = waiters::new_waiter();
        let id = g.ids.next();
        g.queue.push(id, source, n);
        (out, id)
    };
    waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_false);
    Ok(out)
}

/// Release(n): adds `n` permits and serves the queue; returns the count before. FULL
/// (nothing changes) when the count would pass the maximum.
pub fn release(h: Handle, n: u32) -> Result<u32> {
    if n == 0 {
        return Err(Status::InvalidArgument);
    }
    if let Some((f, max)) = fast_of(h) {
        match f.permits.try_give(h.generation(), n, max) {
            Fast::Done(before) => return Ok(before),
            Fast::Refused => return Err(Status::Full),
            Fast::Slow => {}
        }
    }
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let f = p.get().fast();
    let max = f.max.load(Ordering::Relaxed);
    let mut wake = Wake::default();
    let before = {
        let mut g = p.get().get().inner.lock();
        let before = f.permits.add_queued(n, max).ok_or(Status::Full)?;
        g.serve(&f.permits, &mut wake);
        before
    };
    drop(p);
    wake.finish(true);
    Ok(before)
}

/// The permits available now.
pub fn current_count(h: Handle) -> Result<u32> {
    if let Some((f, _)) = fast_of(h) {
        if let Some(c) = f.permits.count(h.generation()) {
            return Ok(c);
        }
    }
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    Ok(p.get().fast().permits.count_now())
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Semaphore>(h, KINDS)
}

pub fn release_handle(h: Handle) -> Result<()> {
    cell::release::<Semaphore>(h, KINDS)
}
