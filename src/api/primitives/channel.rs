//! [`Channel<T>`](Channel) (System.Threading.Channels).
//!
//! An item crosses the core as a `void *` with a destroy: a boxed `Option<T>`, dropped
//! by `drop_box` exactly once wherever its journey ends — in the reader's hands (which
//! took the `T` out first, leaving `None`), or inside tapir (dropped by a full mode,
//! left in the channel when its last handle goes, carried by a writer that timed out,
//! was canceled or saw the channel complete, delivered to a read nobody awaits).

use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::memory::Handle;
use crate::core::primitives::channel::{self as core_channel, FullMode as CoreMode, Read};
use crate::core::status::Status;

use super::super::cancel::CancellationToken;
use super::super::error::Error;
use super::super::task::{Task, drop_box};
use super::{check, retained, task_of, token_ref};

/// What a bounded channel does with a write when it is full
/// (BoundedChannelFullMode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FullMode {
    /// The writer waits for room ([`Channel::try_write`] is refused with
    /// [`Status::Full`](crate::Status::Full)).
    #[default]
    Wait,
    /// The oldest item in the channel is dropped to make room.
    DropOldest,
    /// The newest item in the channel is dropped to make room.
    DropNewest,
    /// The item being written is dropped (the write still reports success).
    DropWrite,
}

/// The box an item travels in.
type Slot<T> = Option<T>;

/// Boxes `item` for the core: the pointer and its owning `UserData`.
fn boxed<T: Send + 'static>(item: T) -> (*mut Slot<T>, UserData) {
    let p = Box::into_raw(Box::new(Some(item)));
    let ud = UserData::new(p.cast(), Some(drop_box::<Slot<T>> as DestroyFn));
    (p, ud)
}

/// Takes back an item the core refused (it gave the `UserData` back: destroy will not
/// run).
///
/// # Safety
/// `p` must come from [`boxed`] and the core must have given its item back.
unsafe fn reclaim<T>(p: *mut Slot<T>) -> T {
    // SAFETY: forwarded: the box is ours alone again.
    let b = unsafe { Box::from_raw(p) };
    b.expect("an unread item")
}

/// Takes the item out of a box the caller owns the right to read (the `T` is moved
/// out once; the box itself goes with its owner's destroy).
///
/// # Safety
/// `p` must be a live box made by [`boxed`] that nobody else accesses meanwhile.
unsafe fn take<T>(p: *mut c_void) -> T {
    // SAFETY: forwarded.
    let slot = unsafe { &mut *p.cast::<Slot<T>>() };
    slot.take().expect("an item is read once")
}

/// An asynchronous FIFO channel between any number of writers and readers
/// (`System.Threading.Channels.Channel<T>`; tokio's `mpsc`), bounded or not.
///
/// Items are moved in and out: the channel owns each item from a successful write
/// until a read hands it over, and every item whose journey ends inside the channel —
/// dropped by a full mode, left in it when the last handle goes, carried by a writer
/// that timed out, was canceled or saw the channel complete — is dropped exactly once.
///
/// [`complete`](Channel::complete) ends the writing: writes are refused from then on;
/// readers drain what is left, then every read fails with the completion's error (an
/// error of code [`Status::QueueCompleted`](crate::Status::QueueCompleted) when
/// completed without one).
///
/// `Clone` adds a reference to the same channel (a writer and a reader are both just
/// handles). When the last one is dropped, the items left are dropped and pending reads
/// and writes fail with an error of code [`Status::Disposed`](crate::Status::Disposed).
///
/// ```
/// use tapir::{Channel, block_on, run};
///
/// let ch = Channel::<String>::unbounded();
/// let writer = ch.clone();
/// run(move || {
///     for i in 0..3 {
///         writer.try_write(format!("item {i}")).unwrap();
///     }
///     writer.complete(None).unwrap();
/// });
/// let got = block_on(async {
///     let mut got = Vec::new();
///     while ch.wait_to_read_async(None, None).await.unwrap() {
///         while let Ok(Some(s)) = ch.try_read() {
///             got.push(s);
///         }
///     }
///     got
/// });
/// assert_eq!(got, ["item 0", "item 1", "item 2"]);
/// ```
pub struct Channel<T: Send + 'static> {
    handle: Handle,
    /// The channel moves `T`s between threads and never shares one: `Send` and `Sync`
    /// whenever `T: Send`, as a channel sender is.
    _items: PhantomData<fn(T) -> T>,
}

/// A write the channel refused: the item, given back, and why
/// ([`Status::Full`](crate::Status::Full) for a full channel in [`FullMode::Wait`],
/// [`Status::QueueCompleted`](crate::Status::QueueCompleted) once it is completed).
///
/// ```
/// let ch = tapir::Channel::bounded(1, tapir::FullMode::Wait);
/// ch.try_write(1).unwrap();
/// let refused = ch.try_write(2).unwrap_err();
/// assert!(refused.is_full());
/// assert_eq!(refused.into_inner(), 2);
/// ```
pub struct TryWriteError<T> {
    item: T,
    status: Status,
}

impl<T> TryWriteError<T> {
    /// The item, back to the caller.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.complete(None).unwrap();
    /// assert_eq!(ch.try_write("x").unwrap_err().into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.item
    }

    /// The item, borrowed.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.complete(None).unwrap();
    /// assert_eq!(*ch.try_write(5).unwrap_err().item(), 5);
    /// ```
    pub fn item(&self) -> &T {
        &self.item
    }

    /// Why: [`Status::Full`](crate::Status::Full) or
    /// [`Status::QueueCompleted`](crate::Status::QueueCompleted).
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.complete(None).unwrap();
    /// assert_eq!(ch.try_write(()).unwrap_err().status(), tapir::Status::QueueCompleted);
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// True when the channel was full.
    ///
    /// ```
    /// let ch = tapir::Channel::bounded(1, tapir::FullMode::Wait);
    /// ch.try_write(0).unwrap();
    /// assert!(ch.try_write(1).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.status == Status::Full
    }

    /// True when the channel was completed.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.complete(None).unwrap();
    /// assert!(ch.try_write(1).unwrap_err().is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        self.status == Status::QueueCompleted
    }
}

impl<T> std::fmt::Debug for TryWriteError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryWriteError")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Display for TryWriteError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Status::Full => f.write_str("the channel is full"),
            _ => f.write_str("the channel was completed"),
        }
    }
}

impl<T> std::error::Error for TryWriteError<T> {}

impl<T> From<TryWriteError<T>> for Error {
    /// The refusal as a tapir error of its status (the item is dropped).
    fn from(e: TryWriteError<T>) -> Error {
        Error::from_status(e.status)
    }
}

impl<T: Send + 'static> Channel<T> {
    fn make(capacity: Option<usize>, mode: FullMode) -> Channel<T> {
        let mode = match mode {
            FullMode::Wait => CoreMode::Wait,
            FullMode::DropOldest => CoreMode::DropOldest,
            FullMode::DropNewest => CoreMode::DropNewest,
            FullMode::DropWrite => CoreMode::DropWrite,
        };
        Channel {
            handle: core_channel::new(capacity, mode),
            _items: PhantomData,
        }
    }

    /// A channel without a bound (Channel.CreateUnbounded): writes never wait.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// for i in 0..100 { ch.try_write(i).unwrap(); }
    /// assert_eq!(ch.len(), 100);
    /// ```
    pub fn unbounded() -> Channel<T> {
        Channel::make(None, FullMode::Wait)
    }

    /// A channel of at most `capacity` items (Channel.CreateBounded(capacity, mode));
    /// `mode` says what a write to a full channel does. A capacity of 0 is taken as 1.
    ///
    /// ```
    /// use tapir::{Channel, FullMode};
    /// let ch = Channel::bounded(2, FullMode::DropOldest);
    /// for i in 0..5 { ch.try_write(i).unwrap(); }
    /// assert_eq!(ch.try_read(), Ok(Some(3)));
    /// assert_eq!(ch.try_read(), Ok(Some(4)));
    /// ```
    pub fn bounded(capacity: usize, mode: FullMode) -> Channel<T> {
        Channel::make(Some(capacity.max(1)), mode)
    }

    /// Writes `item` now if it can be (TryWrite): to the oldest waiting reader, into the
    /// channel, or as the full mode says (a dropping mode still succeeds). Refused, with
    /// the item given back, when a [`FullMode::Wait`] channel is full or the channel
    /// was completed. A woken reader's synchronous continuations may run on this thread,
    /// after tapir released its lock.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.try_write(vec![1, 2]).unwrap();
    /// assert_eq!(ch.try_read(), Ok(Some(vec![1, 2])));
    /// ```
    pub fn try_write(&self, item: T) -> Result<(), TryWriteError<T>> {
        let (p, ud) = boxed(item);
        core_channel::try_write(self.handle, ud).map_err(|status| TryWriteError {
            // SAFETY: a refused write gives the item back (its destroy does not run).
            item: unsafe { reclaim(p) },
            status,
        })
    }

    /// Writes `item` (WriteAsync(timeout, token)): the task ends with `true` once the
    /// item is in the channel (at once unless a [`FullMode::Wait`] channel is full),
    /// with `false` when `timeout` passes first (`None`: no limit), canceled when
    /// `token` is canceled first, or faulted with
    /// [`Status::QueueCompleted`](crate::Status::QueueCompleted) when the channel
    /// completes first; in those three cases the item is dropped. Refused, with the
    /// item given back, when the channel is already completed.
    ///
    /// ```
    /// use tapir::{Channel, FullMode, block_on};
    /// let ch = Channel::bounded(1, FullMode::Wait);
    /// ch.try_write('a').unwrap();
    /// let w = ch.write_async('b', None, None).unwrap();
    /// assert!(!w.is_completed(), "full: the writer waits");
    /// assert_eq!(ch.try_read(), Ok(Some('a'))); // makes room
    /// assert_eq!(block_on(w), Ok(true));
    /// assert_eq!(ch.try_read(), Ok(Some('b')));
    /// ```
    pub fn write_async(
        &self,
        item: T,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Result<Task<bool>, TryWriteError<T>> {
        let (p, ud) = boxed(item);
        match core_channel::write_async(self.handle, ud, timeout, token_ref(token)) {
            Ok(h) => Ok(Task::from_handle(h)),
            Err(status) => Err(TryWriteError {
                // SAFETY: a refused call gives the item back (its destroy does not run).
                item: unsafe { reclaim(p) },
                status,
            }),
        }
    }

    /// Reads the oldest item now if there is one (TryRead): `Ok(Some(item))`,
    /// `Ok(None)` while the channel is empty, or the completion's error once it is
    /// completed and drained. A waiting writer's item takes the read one's place (its
    /// continuations may run on this thread, after tapir released its lock).
    ///
    /// ```
    /// let ch = tapir::Channel::<u8>::unbounded();
    /// assert_eq!(ch.try_read(), Ok(None));
    /// ch.complete(Some(tapir::Error::new(4, "producer failed"))).unwrap();
    /// assert_eq!(ch.try_read().unwrap_err().code(), 4);
    /// ```
    pub fn try_read(&self) -> Result<Option<T>, Error> {
        match check(core_channel::try_read(self.handle))? {
            Read::Item(item) => {
                let (p, destroy) = item.into_raw();
                // SAFETY: `p` is an item box (every item of this channel is one) now
                // ours alone; the box goes with the destroy it came with.
                let v = unsafe { take::<T>(p) };
                // SAFETY: the item's own destroy obligation, run once.
                unsafe { crate::core::callback::run_destroy(p, destroy) };
                Ok(Some(v))
            }
            Read::Empty => Ok(None),
            // Completed and drained: a read that cannot wait reports why the way a
            // pending read would.
            Read::Completed => match self
                .read_async(Some(Duration::ZERO), None)
                .task
                .try_result()
            {
                Some(Err(e)) => Err(e),
                _ => Err(Error::from_status(Status::QueueCompleted)),
            },
        }
    }

    /// Reads the oldest item (ReadAsync(timeout, token)): the future ends with the item,
    /// with the completion's error once the channel is completed and drained, with an
    /// error of code [`Status::Timeout`](crate::Status::Timeout) when `timeout` passes
    /// first (`None`: no limit), or canceled when `token` is canceled first. Pending
    /// reads are served in arrival order; one that times out or is canceled never takes
    /// an item.
    ///
    /// The read is registered at this call, not at the first poll. Dropping the future
    /// does not withdraw the read: an item delivered to it afterwards is dropped.
    ///
    /// ```
    /// use tapir::{Channel, block_on};
    /// let ch = Channel::<String>::unbounded();
    /// let read = ch.read_async(None, None);
    /// ch.try_write("hello".into()).unwrap(); // straight to the waiting reader
    /// assert_eq!(block_on(read), Ok("hello".to_string()));
    /// ```
    pub fn read_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> ReadAsync<T> {
        ReadAsync::new(task_of(core_channel::read_async(
            self.handle,
            timeout,
            token_ref(token),
        )))
    }

    /// Waits until an item can be read (WaitToReadAsync(timeout, token)): `true` when
    /// the channel holds an item, `false` once it is completed without an error and
    /// drained; faulted with the completion's error, or with an error of code
    /// [`Status::Timeout`](crate::Status::Timeout) when `timeout` passes first; canceled
    /// when `token` is canceled first. Takes nothing: another reader may read the item
    /// first.
    ///
    /// ```
    /// let ch = tapir::Channel::<u8>::unbounded();
    /// let w = ch.wait_to_read_async(None, None);
    /// ch.complete(None).unwrap();
    /// assert_eq!(w.wait(), Ok(false));
    /// ```
    pub fn wait_to_read_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_channel::wait_to_read_async(
            self.handle,
            timeout,
            token_ref(token),
        ))
    }

    /// Completes the channel (Writer.Complete / TryComplete(error)): writes are refused
    /// from then on, waiting writers fail with
    /// [`Status::QueueCompleted`](crate::Status::QueueCompleted) (their items dropped),
    /// and once the items left are read, reads fail with `error` (or with
    /// [`Status::QueueCompleted`](crate::Status::QueueCompleted) for `None`). Refused with
    /// [`Status::AlreadyCompleted`](crate::Status::AlreadyCompleted) the second time.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.try_write(1).unwrap();
    /// ch.complete(None).unwrap();
    /// assert!(ch.complete(None).is_err());
    /// assert_eq!(ch.try_read(), Ok(Some(1)), "the items left are still read");
    /// assert_eq!(ch.try_read().unwrap_err().status(), Some(tapir::Status::QueueCompleted));
    /// ```
    pub fn complete(&self, error: Option<Error>) -> Result<(), Error> {
        check(core_channel::complete(
            self.handle,
            error.map(|e| e.to_object()),
        ))
    }

    /// Items in the channel now (Reader.Count; a snapshot).
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.try_write(()).unwrap();
    /// assert_eq!(ch.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        core_channel::state(self.handle).map_or(0, |(n, _)| n)
    }

    /// True when the channel holds no item now.
    ///
    /// ```
    /// assert!(tapir::Channel::<u8>::unbounded().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the channel was completed (Reader.Completion has begun; items may be
    /// left to read).
    ///
    /// ```
    /// let ch = tapir::Channel::<u8>::unbounded();
    /// ch.complete(None).unwrap();
    /// assert!(ch.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        core_channel::state(self.handle).is_ok_and(|(_, c)| c)
    }
}

impl<T: Send + 'static> Clone for Channel<T> {
    /// Another reference to the same channel.
    fn clone(&self) -> Channel<T> {
        retained(core_channel::retain(self.handle));
        Channel {
            handle: self.handle,
            _items: PhantomData,
        }
    }
}

impl<T: Send + 'static> Drop for Channel<T> {
    fn drop(&mut self) {
        let _ = core_channel::release(self.handle);
    }
}

impl<T: Send + 'static> PartialEq for Channel<T> {
    /// The same channel.
    fn eq(&self, other: &Channel<T>) -> bool {
        self.handle == other.handle
    }
}

impl<T: Send + 'static> Eq for Channel<T> {}

impl<T: Send + 'static> std::fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("len", &self.len())
            .field("is_completed", &self.is_completed())
            .finish()
    }
}

/// A pending [`Channel::read_async`]: a future of the item, which it moves out of the
/// read's task (the item need not be `Clone`).
///
/// ```
/// let ch = tapir::Channel::unbounded();
/// ch.try_write(Box::new(7)).unwrap();
/// let read: tapir::ReadAsync<Box<i32>> = ch.read_async(None, None);
/// assert_eq!(read.wait(), Ok(Box::new(7)));
/// ```
#[must_use = "a read takes an item even when its future is dropped"]
pub struct ReadAsync<T> {
    /// The core's read task; its value is the item box (owned by the task).
    task: Task<usize>,
    /// The item was moved out (a second poll is refused).
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> ReadAsync<T> {
    fn new(task: Task<usize>) -> ReadAsync<T> {
        ReadAsync {
            task,
            done: false,
            _item: PhantomData,
        }
    }

    /// The item of the completed read `r` (moved out of its task's value), or its
    /// error; an error of code [`Status::InvalidState`] once the item was taken.
    fn take_from(&mut self, r: Result<usize, Error>) -> Result<T, Error> {
        if std::mem::replace(&mut self.done, true) {
            return Err(Error::from_status(Status::InvalidState));
        }
        let bits = r?;
        // SAFETY: the value of a succeeded read of a `Channel<T>` is an item box, owned
        // by `self.task`, which is alive; this future is its only reader (the task is
        // lent out only as a `Task<()>`, which cannot read it), and `done` keeps it
        // from being read twice.
        Ok(unsafe { take::<T>(bits as *mut c_void) })
    }

    /// True once the read has completed (its item is there, or its error).
    ///
    /// ```
    /// let ch = tapir::Channel::<u8>::unbounded();
    /// let r = ch.read_async(None, None);
    /// assert!(!r.is_completed());
    /// ch.try_write(1).unwrap();
    /// assert!(r.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        self.task.is_completed()
    }

    /// The read as a task without its value, to combine with others
    /// ([`when_any`](crate::when_any), continuations): it completes when the read does;
    /// the item stays this future's.
    ///
    /// ```
    /// use tapir::{Channel, when_any};
    /// let (a, b) = (Channel::<u8>::unbounded(), Channel::<u8>::unbounded());
    /// let (ra, rb) = (a.read_async(None, None), b.read_async(None, None));
    /// b.try_write(2).unwrap();
    /// assert_eq!(when_any(&[ra.as_task(), rb.as_task()]).wait().unwrap(), 1);
    /// assert_eq!(rb.wait(), Ok(2));
    /// # drop(ra);
    /// ```
    pub fn as_task(&self) -> Task<()> {
        self.task.clone().into_unit()
    }

    /// Blocks until the read completes and returns its item (or its error); never call
    /// it where the item's writer needs this very thread.
    ///
    /// ```
    /// let ch = tapir::Channel::unbounded();
    /// ch.try_write("x").unwrap();
    /// assert_eq!(ch.read_async(None, None).wait(), Ok("x"));
    /// ```
    pub fn wait(mut self) -> Result<T, Error> {
        let r = self.task.wait();
        self.take_from(r)
    }
}

impl<T: Send + 'static> Future for ReadAsync<T> {
    type Output = Result<T, Error>;

    /// Ready with the item once the read completes; a poll after that is answered
    /// with an error of code [`Status::InvalidState`] (the item was moved out).
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(Error::from_status(Status::InvalidState)));
        }
        match Pin::new(&mut this.task).poll(cx) {
            Poll::Ready(r) => Poll::Ready(this.take_from(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> std::fmt::Debug for ReadAsync<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAsync")
            .field("task", &self.task)
            .field("done", &self.done)
            .finish()
    }
}
