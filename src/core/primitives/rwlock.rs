//! An asynchronous reader-writer lock: many readers or one writer.
//!
//! Writer preference: once a writer waits, new readers queue behind it, so a stream of
//! readers cannot starve writers. The queue is served in arrival order: a writer at its
//! head is granted when the lock is free; readers at its head are granted together, up
//! to the next waiting writer. Upgrading a read lock to a write lock is not supported
//! (a reader that asks for the write lock waits for itself).

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

const KINDS: &[Kind] = &[Kind::RwLock];

pub(crate) struct RwLock {
    inner: Mutex<Inner>,
}

struct Inner {
    readers: u32,
    writer: bool,
    ids: Ids,
    /// Waiters; true for a writer.
    queue: Queue<bool>,
}

prim_pool!(RwLock, RWLOCKS);

impl Prim for RwLock {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &RWLOCKS
    }
}

impl Inner {
    fn can_read(&self) -> bool {
        !self.writer && self.queue.is_empty()
    }
    fn can_write(&self) -> bool {
        !self.writer && self.readers == 0 && self.queue.is_empty()
    }
    /// Grants the queue's head (a writer, or the readers up to the next writer).
    fn serve(&mut self, me: &PrimRef<RwLock>, wake: &mut Wake) {
        while let Some(head) = self.queue.front() {
            if self.writer {
                break;
            }
            if head.data {
                if self.readers > 0 {
                    break;
                }
                self.writer = true;
                let e = self.queue.pop_front().expect("a head");
                wake.push(e.wait, guard::granted(Held::Write(me.clone())));
                break;
            }
            self.readers += 1;
            let e = self.queue.pop_front().expect("a head");
            wake.push(e.wait, guard::granted(Held::Read(me.clone())));
        }
    }
}

impl Withdraw for RwLock {
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
    fn withdraw(me: &PrimRef<Self>, id: u64, wake: &mut Wake) -> Option<Wait> {
        let mut g = me.get().get().inner.lock();
        let was_head = g.queue.front_id() == Some(id);
        let e = g.queue.remove(id)?;
        if was_head {
            g.serve(me, wake);
        }
        Some(e.wait)
    }
}

impl RwLock {
    /// A guard's last reference went (a reader's or the writer's).
    pub(crate) fn unlock(r: PrimRef<RwLock>, writer: bool) {
        let mut wake = Wake::default();
        {
            let mut g = r.get().get().inner.lock();
            if writer {
                g.writer = false;
            } else {
                g.readers -= 1;
            }
            g.serve(&r, &mut wake);
        }
        drop(r);
        wake.finish(true);
    }
}

/// A new, free reader-writer lock (+1 handle).
pub fn new() -> Handle {
    cell::create(
        Kind::RwLock,
        RwLock {
            inner: Mutex::new(Inner {
                readers: 0,
                writer: false,
                ids: Ids::default(),
                queue: Queue::default(),
            }),
        },
    )
}

/// Takes the read (or write) lock now if it can be granted without waiting: a guard
/// (+1), or None.
pub fn try_lock(h: Handle, write: bool) -> Result<Option<Handle>> {
    let p = cell::pin::<RwLock>(h, KINDS)?;
    {
        let mut g = p.get().get().inner.lock();
        if write {
            if !g.can_write() {
                return Ok(None);
            }
            g.writer = true;
        } else {
            if !g.can_read() {
                return Ok(None);
            }
            g.readers += 1;
        }
    }
    Ok(Some(guard::new(if write {
        Held::Write(p)
    } else {
        Held::Read(p)
    })))
}

/// ReaderLockAsync / WriterLockAsync: a task whose value is a guard once granted,
/// NULL when `timeout` passes first, canceled when `token` fires first.
pub fn lock_async(
    h: Handle,
    write: bool,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    let p = cell::pin::<RwLock>(h, KINDS)?;
    let (out, id) = {
        let mut g = p.get().get().inner.lock();
        if write && g.can_write() {
            g.writer = true;
            drop(g);
            return Ok(complete::new_completed(guard::granted(Held::Write(p))));
        }
        if !write && g.can_read() {
            g.readers += 1;
            drop(g);
            return Ok(complete::new_completed(guard::granted(Held::Read(p))));
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
        g.queue.push(id, source, write);
        (out, id)
    };
    waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_false);
    Ok(out)
}

/// Readers holding the lock now, and whether a writer holds it (a snapshot).
pub fn state(h: Handle) -> Result<(u32, bool)> {
    let p = cell::pin::<RwLock>(h, KINDS)?;
    let g = p.get().get().inner.lock();
    Ok((g.readers, g.writer))
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<RwLock>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<RwLock>(h, KINDS)
}
