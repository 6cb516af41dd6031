//! Asynchronous events: auto-reset (AsyncAutoResetEvent: one waiter per set, a set with
//! nobody waiting is remembered once) and manual-reset (AsyncManualResetEvent: a set
//! completes every waiter and stays set until reset; a reset starts a new generation,
//! whose waiters wait for the next set).

use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::Result;
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

pub(crate) struct Event {
    manual: bool,
    inner: Mutex<Inner>,
}

struct Inner {
    set: bool,
    ids: Ids,
    queue: Queue<()>,
    disposed: bool,
}

prim_pool!(Event, EVENTS);

impl Prim for Event {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &EVENTS
    }
    fn last_user_gone(&self, _fast: &()) {
        self.dispose();
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        self.dispose();
    }
}

impl Event {
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

impl Withdraw for Event {
    fn withdraw(me: &PrimRef<Self>, id: u64, _wake: &mut Wake) -> Option<Wait> {
        me.get().get().inner.lock().queue.remove(id).map(|e| e.wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
}

fn kinds(manual: bool) -> &'static [Kind] {
    if manual {
        &[Kind::ManualResetEvent]
    } else {
        &[Kind::AutoResetEvent]
    }
}

/// A new event (+1 handle), set or not.
pub fn new(manual: bool, initially_set: bool) -> Handle {
    let kind = if manual {
        Kind::ManualResetEvent
    } else {
        Kind::AutoResetEvent
    };
    cell::create(
        kind,
        Event {
            manual,
            inner: Mutex::new(Inner {
                set: initially_set,
                ids: Ids::default(),
                queue: Queue::default(),
                disposed: false,
            }),
        },
    )
}

/// Sets the event: an auto-reset event completes its oldest waiter (or stays set for
/// the next wait if nobody waits); a manual-reset event completes every waiter and
/// stays set.
pub fn set(manual: bool, h: Handle) -> Result<()> {
    let p = cell::pin::<Event>(h, kinds(manual))?;
    let mut wake = Wake::default();
    {
        let mut g = p.get().get().inner.lock();
        if p.get().get().manual {
            g.set = true;
            for e in g.queue.drain() {
                wake.push(e.wait, Outcome::value(1));
            }
        } else if let Some(e) = g.queue.pop_front() {
            wake.push(e.wait, Outcome::value(1));
        } else {
            g.set = true;
        }
    }
    drop(p);
    wake.finish(true);
    Ok(())
}

/// Resets a manual-reset event (later waits wait for the next set).
pub fn reset(h: Handle) -> Result<()> {
    let p = cell::pin::<Event>(h, kinds(true))?;
    p.get().get().inner.lock().set = false;
    Ok(())
}

/// True while a manual-reset event is set.
pub fn is_set(h: Handle) -> Result<bool> {
    let p = cell::pin::<Event>(h, kinds(true))?;
    let s = p.get().get().inner.lock().set;
    Ok(s)
}

/// An auto-reset event's set, taken now if it is there.
pub fn try_wait(h: Handle) -> Result<bool> {
    let p = cell::pin::<Event>(h, kinds(false))?;
    let mut g = p.get().get().inner.lock();
    Ok(std::mem::take(&mut g.set))
}

/// A task that succeeds with 1 when the event is set (at once if it is; an auto-reset
/// event's set is consumed), with 0 when `timeout` passes first, or ends canceled when
/// `token` fires first (+1 task).
pub fn wait_async(
    manual: bool,
    h: Handle,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    let p = cell::pin::<Event>(h, kinds(manual))?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        if g.set {
            if !manual {
                g.set = false;
            }
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

pub fn retain(manual: bool, h: Handle) -> Result<()> {
    cell::retain::<Event>(h, kinds(manual))
}

pub fn release(manual: bool, h: Handle) -> Result<()> {
    cell::release::<Event>(h, kinds(manual))
}
