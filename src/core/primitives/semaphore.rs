//! SemaphoreSlim: a count of permits with a maximum; asynchronous waits served strictly
//! in arrival order.
//!
//! A wait for `n` permits succeeds at once when no earlier waiter is queued and `n` are
//! available; otherwise it queues. A release adds permits and hands them to the queue's
//! head while it can be served, oldest first: a head that needs more than there are
//! blocks everyone behind it (no barging, so no waiter starves). A waiter that times
//! out or is canceled leaves the queue first, so its departure may let the next ones
//! through, and a release is never spent on it.

use std::time::Duration;

use parking_lot::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::cell::{self, Prim, PrimCell, PrimRef, prim_pool};
use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};

const KINDS: &[Kind] = &[Kind::Semaphore];

pub(crate) struct Semaphore {
    inner: Mutex<Inner>,
}

struct Inner {
    count: u32,
    max: u32,
    ids: Ids,
    /// Waiters and the permits each needs.
    queue: Queue<u32>,
    disposed: bool,
}

prim_pool!(Semaphore, SEMAPHORES);

impl Prim for Semaphore {
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &SEMAPHORES
    }
    fn last_user_gone(&self) {
        self.dispose();
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        self.dispose();
    }
}

impl Inner {
    /// Serves the queue's head while it can be, oldest first.
    fn serve(&mut self, wake: &mut Wake) {
        while let Some(head) = self.queue.front() {
            if head.data > self.count {
                break;
            }
            self.count -= head.data;
            let e = self.queue.pop_front().expect("a head");
            wake.push(e.wait, Outcome::value(1));
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
        let mut g = me.get().get().inner.lock();
        let was_head = g.queue.front_id() == Some(id);
        let me = g.queue.remove(id)?;
        if was_head {
            g.serve(wake);
        }
        Some(me.wait)
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
    Ok(cell::create(
        Kind::Semaphore,
        Semaphore {
            inner: Mutex::new(Inner {
                count: initial,
                max,
                ids: Ids::default(),
                queue: Queue::default(),
                disposed: false,
            }),
        },
    ))
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
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let mut g = p.get().get().inner.lock();
    check_n(n, g.max)?;
    if g.queue.is_empty() && g.count >= n {
        g.count -= n;
        Ok(true)
    } else {
        Ok(false)
    }
}

/// WaitAsync: a task that succeeds with 1 once `n` permits are taken, with 0 when
/// `timeout` passes first, or ends canceled when `token` fires first (+1 task).
pub fn wait_async(
    h: Handle,
    n: u32,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        check_n(n, g.max)?;
        if g.queue.is_empty() && g.count >= n {
            g.count -= n;
            return Ok(complete::new_completed(Outcome::value(1)));
        }
        if let Some(t) = &token {
            if t.is_canceled() {
                return Ok(complete::new_completed(Outcome::Canceled(token)));
            }
        }
        if g.disposed {
            return Ok(complete::new_completed(waiters::disposed()));
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(complete::new_completed(waiters::timed_out_false()));
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
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let mut wake = Wake::default();
    let before = {
        let mut g = p.get().get().inner.lock();
        if n == 0 {
            return Err(Status::InvalidArgument);
        }
        if g.max - g.count < n {
            return Err(Status::Full);
        }
        let before = g.count;
        g.count += n;
        g.serve(&mut wake);
        before
    };
    drop(p);
    wake.finish(true);
    Ok(before)
}

/// The permits available now.
pub fn current_count(h: Handle) -> Result<u32> {
    let p = cell::pin::<Semaphore>(h, KINDS)?;
    let c = p.get().get().inner.lock().count;
    Ok(c)
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Semaphore>(h, KINDS)
}

pub fn release_handle(h: Handle) -> Result<()> {
    cell::release::<Semaphore>(h, KINDS)
}
