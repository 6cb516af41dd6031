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

use super::waiters::{self, Armed, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Channel];

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
    inner: Mutex<Inner>,
}

struct Inner {
    items: VecDeque<UserData>,
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
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &CHANNELS
    }
    fn last_user_gone(&self, _fast: &()) {
        self.dispose();
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.dispose();
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
    fn dispose(&self) {
        let mut wake = Wake::default();
        {
            let mut g = self.inner.lock();
            g.disposed = true;
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
            let items = std::mem::take(&mut g.items);
            wake.drop_later(Box::new(items));
        }
        wake.finish(true);
    }

    fn full(&self, g: &Inner) -> bool {
        self.capacity.is_some_and(|c| g.items.len() >= c)
    }
}

impl Inner {
    /// A read took an item: the oldest waiting writer's item takes its place.
    fn refill(&mut self, wake: &mut Wake) {
        if let Some(e) = self.writers.pop_front() {
            self.items.push_back(e.data);
            wake.push(e.wait, Outcome::value(1));
        }
    }
    /// An item arrived in an empty channel: every watcher hears of it.
    fn notify_watchers(&mut self, wake: &mut Wake) {
        for e in self.watchers.drain() {
            wake.push(e.wait, Outcome::value(1));
        }
    }
}

impl Withdraw for Channel {
    fn withdraw(me: &PrimRef<Self>, id: u64, wake: &mut Wake) -> Option<Wait> {
        let mut g = me.get().get().inner.lock();
        if let Some(e) = g.readers.remove(id).or_else(|| g.watchers.remove(id)) {
            return Some(e.wait);
        }
        let e = g.writers.remove(id)?;
        wake.drop_later(Box::new(e.data));
        Some(e.wait)
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
    cell::create(
        Kind::Channel,
        Channel {
            capacity,
            mode,
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                completed: None,
                ids: Ids::default(),
                readers: Queue::default(),
                watchers: Queue::default(),
                writers: Queue::default(),
                disposed: false,
            }),
        },
    )
}

/// What a write did with its item.
enum Wrote {
    Done,
    /// Full in WAIT mode: the item comes back.
    Full(UserData),
}

/// Writes under the lock (the channel is open): to a waiting reader, into the channel,
/// or by the full mode.
fn write_locked(c: &Channel, g: &mut Inner, item: UserData, wake: &mut Wake) -> Wrote {
    if let Some(e) = g.readers.pop_front() {
        wake.push(e.wait, item_outcome(item));
        return Wrote::Done;
    }
    if c.full(g) {
        match c.mode {
            FullMode::Wait => return Wrote::Full(item),
            FullMode::DropOldest => {
                let old = g.items.pop_front().expect("a full channel has items");
                wake.drop_later(Box::new(old));
            }
            FullMode::DropNewest => {
                let old = g.items.pop_back().expect("a full channel has items");
                wake.drop_later(Box::new(old));
            }
            FullMode::DropWrite => {
                wake.drop_later(Box::new(item));
                return Wrote::Done;
            }
        }
    }
    g.items.push_back(item);
    if g.items.len() == 1 {
        g.notify_watchers(wake);
    }
    Wrote::Done
}

/// TryWrite: on error (FULL, QUEUE_COMPLETED, a bad handle) the item is the caller's
/// again and its destroy does not run.
pub fn try_write(h: Handle, item: UserData) -> Result<()> {
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
        if g.completed.is_some() || g.disposed {
            Err((Status::QueueCompleted, item))
        } else {
            match write_locked(c, &mut g, item, &mut wake) {
                Wrote::Done => Ok(()),
                Wrote::Full(item) => Err((Status::Full, item)),
            }
        }
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
    let p = match cell::pin::<Channel>(h, KINDS) {
        Ok(p) => p,
        Err(s) => {
            item.give_back();
            return Err(s);
        }
    };
    let c = p.get().get();
    let mut wake = Wake::default();
    let queued = {
        let mut g = c.inner.lock();
        if g.completed.is_some() || g.disposed {
            drop(g);
            item.give_back();
            return Err(Status::QueueCompleted);
        }
        match write_locked(c, &mut g, item, &mut wake) {
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
        }
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

fn read_locked(g: &mut Inner, wake: &mut Wake) -> Read {
    if let Some(item) = g.items.pop_front() {
        g.refill(wake);
        return Read::Item(item);
    }
    if g.completed.is_some() || g.disposed {
        Read::Completed
    } else {
        Read::Empty
    }
}

/// TryRead: the oldest item (now the caller's), or why there is none.
pub fn try_read(h: Handle) -> Result<Read> {
    let p = cell::pin::<Channel>(h, KINDS)?;
    let mut wake = Wake::default();
    let r = read_locked(&mut p.get().get().inner.lock(), &mut wake);
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
    let p = cell::pin::<Channel>(h, KINDS)?;
    let mut wake = Wake::default();
    let r = {
        let mut g = p.get().get().inner.lock();
        let now = if read {
            match read_locked(&mut g, &mut wake) {
                Read::Item(item) => Some(item_outcome(item)),
                Read::Completed => Some(closed(&g, true)),
                Read::Empty => None,
            }
        } else if !g.items.is_empty() {
            Some(Outcome::value(1))
        } else if g.completed.is_some() || g.disposed {
            Some(closed(&g, false))
        } else {
            None
        };
        match now {
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
        }
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
    let mut wake = Wake::default();
    {
        let mut g = p.get().get().inner.lock();
        if g.completed.is_some() {
            return Err(Status::AlreadyCompleted);
        }
        let errors: Vec<ErrorRef> = error.into_iter().collect();
        g.completed = Some(errors);
        for e in g.writers.drain() {
            wake.push(e.wait, completed_writer());
            wake.drop_later(Box::new(e.data));
        }
        if g.items.is_empty() {
            let readers: Vec<_> = g.readers.drain().collect();
            let watchers: Vec<_> = g.watchers.drain().collect();
            for e in readers {
                wake.push(e.wait, closed(&g, true));
            }
            for e in watchers {
                wake.push(e.wait, closed(&g, false));
            }
        }
    }
    drop(p);
    wake.finish(true);
    Ok(())
}

/// Items in the channel now, and whether it was completed.
pub fn state(h: Handle) -> Result<(usize, bool)> {
    let p = cell::pin::<Channel>(h, KINDS)?;
    let g = p.get().get().inner.lock();
    Ok((g.items.len(), g.completed.is_some()))
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Channel>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Channel>(h, KINDS)
}
