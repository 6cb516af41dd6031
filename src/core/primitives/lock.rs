//! An asynchronous mutual-exclusion lock (the AsyncLock of the TPL literature): one
//! holder at a time, waiters granted in arrival order. Not reentrant: a holder that
//! asks again waits for itself.

use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::Result;
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::guard::{self, Held};
use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Lock];

pub(crate) struct Lock {
    inner: Mutex<Inner>,
}

struct Inner {
    held: bool,
    ids: Ids,
    queue: Queue<()>,
}

prim_pool!(Lock, LOCKS);

impl Prim for Lock {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &LOCKS
    }
}

impl Withdraw for Lock {
    fn withdraw(me: &PrimRef<Self>, id: u64, _wake: &mut Wake) -> Option<Wait> {
        me.get().get().inner.lock().queue.remove(id).map(|e| e.wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
}

impl Lock {
    /// The last reference to a guard went: the next waiter gets the lock (and the
    /// guard's reference to it), or it is free. Never called under the mutex.
    pub(crate) fn unlock(r: PrimRef<Lock>) {
        let next = {
            let mut g = r.get().get().inner.lock();
            match g.queue.pop_front() {
                Some(e) => Some(e.wait),
                None => {
                    g.held = false;
                    None
                }
            }
        };
        if let Some(wait) = next {
            let mut wake = Wake::default();
            wake.push(wait, guard::granted(Held::Lock(r)));
            wake.finish(true);
        }
    }
}

/// A new, free lock (+1 handle).
pub fn new() -> Handle {
    cell::create(
        Kind::Lock,
        Lock {
            inner: Mutex::new(Inner {
                held: false,
                ids: Ids::default(),
                queue: Queue::default(),
            }),
        },
    )
}

/// Takes the lock now if it is free and nobody waits: a guard (+1), or None.
pub fn try_lock(h: Handle) -> Result<Option<Handle>> {
    let p = cell::pin::<Lock>(h, KINDS)?;
    {
        let mut g = p.get().get().inner.lock();
        if g.held || !g.queue.is_empty() {
            return Ok(None);
        }
        g.held = true;
    }
    Ok(Some(guard::new(Held::Lock(p))))
}

/// LockAsync: a task whose value is a guard once the lock is granted (the task owns
/// it), NULL when `timeout` passes first, or canceled when `token` fires first.
pub fn lock_async(h: Handle, timeout: Option<Duration>, token: Option<TokenRef>) -> Result<Handle> {
    let p = cell::pin::<Lock>(h, KINDS)?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        if !g.held && g.queue.is_empty() {
            g.held = true;
            drop(g);
            return Ok(complete::new_completed(guard::granted(Held::Lock(p))));
        }
        if let Some(t) = &token {
            if t.is_canceled() {
                return Ok(complete::new_completed(Outcome::Canceled(token)));
            }
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

/// True while the lock is held (a snapshot).
pub fn is_held(h: Handle) -> Result<bool> {
    let p = cell::pin::<Lock>(h, KINDS)?;
    let held = p.get().get().inner.lock().held;
    Ok(held)
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Lock>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Lock>(h, KINDS)
}
