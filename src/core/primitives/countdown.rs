//! CountdownEvent: set once its count reaches zero; waiters wait for that.

use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Countdown];

pub(crate) struct Countdown {
    inner: Mutex<Inner>,
}

struct Inner {
    count: u32,
    initial: u32,
    ids: Ids,
    queue: Queue<()>,
    disposed: bool,
}

prim_pool!(Countdown, COUNTDOWNS);

impl Prim for Countdown {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &COUNTDOWNS
    }
    fn last_user_gone(&self, _fast: &()) {
        self.dispose();
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        self.dispose();
    }
}

impl Countdown {
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

impl Inner {
    fn wake_all(&mut self, wake: &mut Wake) {
        for e in self.queue.drain() {
            wake.push(e.wait, Outcome::value(1));
        }
    }
}

impl Withdraw for Countdown {
    fn withdraw(me: &PrimRef<Self>, id: u64, _wake: &mut Wake) -> Option<Wait> {
        me.get().get().inner.lock().queue.remove(id).map(|e| e.wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
}

/// A countdown of `initial` (0: set from the start) (+1 handle).
pub fn new(initial: u32) -> Handle {
    cell::create(
        Kind::Countdown,
        Countdown {
            inner: Mutex::new(Inner {
                count: initial,
                initial,
                ids: Ids::default(),
                queue: Queue::default(),
                disposed: false,
            }),
        },
    )
}

/// Signal(n): counts down by `n`; true when that reached zero (the waiters complete).
/// INVALID_STATE (nothing changes) when `n` is more than what is left.
pub fn signal(h: Handle, n: u32) -> Result<bool> {
    let p = cell::pin::<Countdown>(h, KINDS)?;
    if n == 0 {
        return Err(Status::InvalidArgument);
    }
    let mut wake = Wake::default();
    let zero = {
        let mut g = p.get().get().inner.lock();
        if n > g.count {
            return Err(Status::InvalidState);
        }
        g.count -= n;
        if g.count == 0 {
            g.wake_all(&mut wake);
        }
        g.count == 0
    };
    drop(p);
    wake.finish(true);
    Ok(zero)
}

/// AddCount(n) / TryAddCount(n): false when the event is already set (count zero);
/// FULL when the count would overflow.
pub fn add_count(h: Handle, n: u32) -> Result<bool> {
    let p = cell::pin::<Countdown>(h, KINDS)?;
    if n == 0 {
        return Err(Status::InvalidArgument);
    }
    let mut g = p.get().get().inner.lock();
    if g.count == 0 {
        return Ok(false);
    }
    g.count = g.count.checked_add(n).ok_or(Status::Full)?;
    Ok(true)
}

/// Reset(count): the count becomes `count` (None: the initial count); zero sets it.
pub fn reset(h: Handle, count: Option<u32>) -> Result<()> {
    let p = cell::pin::<Countdown>(h, KINDS)?;
    let mut wake = Wake::default();
    {
        let mut g = p.get().get().inner.lock();
        let c = count.unwrap_or(g.initial);
        if let Some(c) = count {
            g.initial = c;
        }
        g.count = c;
        if c == 0 {
            g.wake_all(&mut wake);
        }
    }
    drop(p);
    wake.finish(true);
    Ok(())
}

/// The count left, and the initial count.
pub fn counts(h: Handle) -> Result<(u32, u32)> {
    let p = cell::pin::<Countdown>(h, KINDS)?;
    let g = p.get().get().inner.lock();
    Ok((g.count, g.initial))
}

/// A task that succeeds with 1 once the count is zero (at once if it is), with 0 when
/// `timeout` passes first, or ends canceled when `token` fires first (+1 task).
pub fn wait_async(h: Handle, timeout: Option<Duration>, token: Option<TokenRef>) -> Result<Handle> {
    let p = cell::pin::<Countdown>(h, KINDS)?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        if g.count == 0 {
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
        g.queue.push(id, source, ());
        (out, id)
    };
    waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_false);
    Ok(out)
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Countdown>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Countdown>(h, KINDS)
}
