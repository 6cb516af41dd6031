//! [`AsyncLock`] and [`AsyncRwLock`], and the guards that hold them.
//!
//! The core's acquire task carries its guard handle as its value (the task owns one
//! reference). The Rust tasks here carry a typed guard instead: a task derived from
//! the core's that, once the core grants the lock, takes its own reference to the
//! guard and boxes it as its value. So the lock is released when the last typed guard
//! (and every task holding one) is gone, and a grant to a wait nobody holds any more
//! is released at once by the core's task and the derived one.

use std::time::Duration;

use crate::core::memory::Handle;
use crate::core::primitives::{guard as core_guard, lock as core_lock, rwlock as core_rwlock};
use crate::core::status::{Result as CoreResult, Status};
use crate::core::task::Final;
use crate::core::task::outcome::{Antecedent, Outcome};

use super::super::cancel::CancellationToken;
use super::super::combinators::derive;
use super::super::task::Task;
use super::super::value;
use super::{refused, shared_handle, token_ref};

/// One reference to a core guard: the lock is held while any exists.
struct Held(Handle);

impl Clone for Held {
    fn clone(&self) -> Held {
        super::retained(core_guard::retain(self.0));
        Held(self.0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The last reference hands the lock to the next waiter (its continuations run
        // after the core released its own lock, bounded in depth).
        let _ = core_guard::release(self.0);
    }
}

/// The guard of a granted acquire task (its value: a guard handle the task owns, 0
/// when the wait timed out), as a new reference of ours.
fn granted(ant: &Antecedent) -> Option<Held> {
    let h = Handle::from_bits(ant.value() as u64)?;
    // The antecedent's value keeps the guard alive during this call.
    core_guard::retain(h).ok()?;
    Some(Held(h))
}

/// The outcome of a typed acquire task: the guard `wrap` makes, or why there is none.
/// `timed` tasks carry an `Option` (None: timed out).
fn typed_outcome<G: Send + 'static>(ant: &Antecedent, wrap: fn(Held) -> G, timed: bool) -> Outcome {
    if ant.status != Final::Succeeded {
        return ant.shared_outcome();
    }
    let g = granted(ant).map(wrap);
    if timed {
        value_outcome(g)
    } else {
        match g {
            Some(g) => value_outcome(g),
            // A wait without a timeout is never answered with "no guard".
            None => Outcome::library_error(Status::Timeout, "the lock was not granted"),
        }
    }
}

fn value_outcome<U: 'static>(v: U) -> Outcome {
    let (value, destroy) = value::encode(v);
    Outcome::Value { value, destroy }
}

/// A typed acquire task from the core's `made` one.
fn acquire_task<G: Send + 'static>(made: CoreResult<Handle>, wrap: fn(Held) -> G) -> Task<G> {
    match made {
        Ok(h) => derive(h, move |ant| typed_outcome(ant, wrap, false)),
        Err(s) => refused(s),
    }
}

/// As [`acquire_task`], for a wait with a timeout (`None` when it passes first).
fn acquire_task_timed<G: Send + 'static>(
    made: CoreResult<Handle>,
    wrap: fn(Held) -> G,
) -> Task<Option<G>> {
    match made {
        Ok(h) => derive(h, move |ant| typed_outcome(ant, wrap, true)),
        Err(s) => refused(s),
    }
}

/// An asynchronous mutual-exclusion lock (the AsyncLock of the TPL literature; tokio's
/// `Mutex<()>`): one holder at a time, waiters granted in arrival order. Not
/// reentrant: a holder that asks again waits for itself.
///
/// The lock is held while its [`LockGuard`] lives; dropping the guard hands the lock
/// to the next waiter. A guard keeps its lock alive, so dropping every `AsyncLock`
/// handle does not fail the waiters: they are granted as the holders let go.
/// `Clone` adds a reference to the same lock.
///
/// ```
/// use tapir::{AsyncLock, block_on};
///
/// let lock = AsyncLock::new();
/// let first = block_on(lock.lock_async()).unwrap();
/// let second = lock.lock_async();
/// assert!(!second.is_completed(), "held");
/// drop(first);
/// let _g = block_on(second).unwrap();
/// assert!(lock.is_held());
/// ```
pub struct AsyncLock {
    handle: Handle,
}

impl AsyncLock {
    /// A new, free lock.
    ///
    /// ```
    /// assert!(!tapir::AsyncLock::new().is_held());
    /// ```
    pub fn new() -> AsyncLock {
        AsyncLock {
            handle: core_lock::new(),
        }
    }

    /// Acquires the lock (LockAsync): the task's value is the guard once the lock is
    /// granted (at once if it is free and nobody waits).
    ///
    /// The task shares the guard among its holders, as a task shares any value: the
    /// lock is released once the guard taken from it and the task itself are gone
    /// (`lock.lock_async().await` drops the task at once). Dropping the task before the
    /// grant does not withdraw the wait; the grant is then released at once.
    ///
    /// ```
    /// let lock = tapir::AsyncLock::new();
    /// let g = lock.lock_async().wait().unwrap();
    /// assert!(lock.is_held());
    /// drop(g);
    /// assert!(!lock.is_held());
    /// ```
    pub fn lock_async(&self) -> Task<LockGuard> {
        if let Some(g) = self.try_lock() {
            return Task::from_result(g);
        }
        acquire_task(core_lock::lock_async(self.handle, None, None), LockGuard)
    }

    /// As [`lock_async`](AsyncLock::lock_async), with a timeout and a token: the value
    /// is `None` when `timeout` passes first (`None`: no limit); the task ends canceled
    /// when `token` is canceled first. A wait that leaves early is never granted.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = tapir::AsyncLock::new();
    /// let _held = lock.try_lock().unwrap();
    /// let late = lock.lock_async_with(Some(Duration::from_millis(1)), None);
    /// assert!(late.wait().unwrap().is_none(), "timed out");
    /// ```
    pub fn lock_async_with(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<Option<LockGuard>> {
        if let Some(g) = self.try_lock() {
            return Task::from_result(Some(g));
        }
        acquire_task_timed(
            core_lock::lock_async(self.handle, timeout, token_ref(token)),
            LockGuard,
        )
    }

    /// Takes the lock now if it is free and nobody waits.
    ///
    /// ```
    /// let lock = tapir::AsyncLock::new();
    /// let g = lock.try_lock();
    /// assert!(g.is_some() && lock.try_lock().is_none());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard> {
        let h = core_lock::try_lock(self.handle).ok()??;
        Some(LockGuard(Held(h)))
    }

    /// True while the lock is held (a snapshot).
    ///
    /// ```
    /// assert!(!tapir::AsyncLock::new().is_held());
    /// ```
    pub fn is_held(&self) -> bool {
        core_lock::is_held(self.handle).unwrap_or(false)
    }
}

impl Default for AsyncLock {
    fn default() -> Self {
        AsyncLock::new()
    }
}

shared_handle!(
    AsyncLock,
    tapir_lock,
    lock,
    core_lock::retain,
    core_lock::release,
    "tapir::AsyncLock::new()"
);

impl std::fmt::Debug for AsyncLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncLock")
            .field("is_held", &self.is_held())
            .finish()
    }
}

/// A held [`AsyncLock`]: the lock is released when the last clone of this guard (and
/// every task whose value it is) is dropped.
///
/// `Clone` adds a reference to the same hold (a task's value must be cloneable to be
/// read): it does not lock again.
///
/// ```
/// let lock = tapir::AsyncLock::new();
/// let g = lock.try_lock().unwrap();
/// let g2 = g.clone();
/// drop(g);
/// assert!(lock.is_held(), "a clone still holds it");
/// g2.unlock();
/// assert!(!lock.is_held());
/// ```
#[derive(Clone)]
pub struct LockGuard(Held);

impl LockGuard {
    /// Drops this reference to the hold (the same as `drop`).
    ///
    /// ```
    /// let lock = tapir::AsyncLock::new();
    /// lock.try_lock().unwrap().unlock();
    /// assert!(!lock.is_held());
    /// ```
    pub fn unlock(self) {}
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("handle", &self.0.0.bits())
            .finish()
    }
}

/// An asynchronous reader-writer lock (AsyncReaderWriterLock; tokio's `RwLock<()>`):
/// many readers or one writer.
///
/// Writer preference: once a writer waits, new readers queue behind it, so a stream of
/// readers cannot starve writers. The queue is served in arrival order: a writer at its
/// head is granted when the lock is free; readers at its head are granted together, up
/// to the next waiting writer. Upgrading a read lock is not supported (a reader that
/// asks for the write lock waits for itself). `Clone` adds a reference to the same
/// lock; guards keep it alive.
///
/// ```
/// use tapir::{AsyncRwLock, block_on};
///
/// let lock = AsyncRwLock::new();
/// let (r1, r2) = (lock.try_read().unwrap(), lock.try_read().unwrap());
/// let w = lock.write_async();
/// assert!(lock.try_read().is_none(), "a writer waits: readers queue behind it");
/// drop((r1, r2));
/// let _w = block_on(w).unwrap();
/// assert!(lock.is_write_held());
/// ```
pub struct AsyncRwLock {
    handle: Handle,
}

impl AsyncRwLock {
    /// A new, free lock.
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// assert_eq!((lock.reader_count(), lock.is_write_held()), (0, false));
    /// ```
    pub fn new() -> AsyncRwLock {
        AsyncRwLock {
            handle: core_rwlock::new(),
        }
    }

    /// Acquires a read lock (ReaderLockAsync): the task's value is a [`ReadGuard`] once
    /// granted. As for [`AsyncLock::lock_async`], the task shares the guard.
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// let r = lock.read_async().wait().unwrap();
    /// assert_eq!(lock.reader_count(), 1);
    /// # drop(r);
    /// ```
    pub fn read_async(&self) -> Task<ReadGuard> {
        if let Some(g) = self.try_read() {
            return Task::from_result(g);
        }
        acquire_task(
            core_rwlock::lock_async(self.handle, false, None, None),
            ReadGuard,
        )
    }

    /// Acquires the write lock (WriterLockAsync): the task's value is a [`WriteGuard`]
    /// once granted.
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// let w = lock.write_async().wait().unwrap();
    /// assert!(lock.is_write_held());
    /// # drop(w);
    /// ```
    pub fn write_async(&self) -> Task<WriteGuard> {
        if let Some(g) = self.try_write() {
            return Task::from_result(g);
        }
        acquire_task(
            core_rwlock::lock_async(self.handle, true, None, None),
            WriteGuard,
        )
    }

    /// As [`read_async`](AsyncRwLock::read_async), with a timeout (`None` value when it
    /// passes first) and a token (canceled when it is canceled first).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = tapir::AsyncRwLock::new();
    /// let _w = lock.try_write().unwrap();
    /// assert!(lock.read_async_with(Some(Duration::ZERO), None).wait().unwrap().is_none());
    /// ```
    pub fn read_async_with(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<Option<ReadGuard>> {
        if let Some(g) = self.try_read() {
            return Task::from_result(Some(g));
        }
        acquire_task_timed(
            core_rwlock::lock_async(self.handle, false, timeout, token_ref(token)),
            ReadGuard,
        )
    }

    /// As [`write_async`](AsyncRwLock::write_async), with a timeout (`None` value when
    /// it passes first) and a token (canceled when it is canceled first).
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let lock = tapir::AsyncRwLock::new();
    /// let _r = lock.try_read().unwrap();
    /// let w = lock.write_async_with(None, Some(&cts.token()));
    /// cts.cancel().unwrap();
    /// assert!(w.wait().unwrap_err().is_canceled());
    /// ```
    pub fn write_async_with(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<Option<WriteGuard>> {
        if let Some(g) = self.try_write() {
            return Task::from_result(Some(g));
        }
        acquire_task_timed(
            core_rwlock::lock_async(self.handle, true, timeout, token_ref(token)),
            WriteGuard,
        )
    }

    /// Takes a read lock now if that needs no wait (no writer holds it or waits).
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// assert!(lock.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<ReadGuard> {
        let h = core_rwlock::try_lock(self.handle, false).ok()??;
        Some(ReadGuard(Held(h)))
    }

    /// Takes the write lock now if it is free and nobody waits.
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// let _r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_none());
    /// ```
    pub fn try_write(&self) -> Option<WriteGuard> {
        let h = core_rwlock::try_lock(self.handle, true).ok()??;
        Some(WriteGuard(Held(h)))
    }

    /// Readers holding the lock now (a snapshot).
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// let _a = lock.try_read();
    /// assert_eq!(lock.reader_count(), 1);
    /// ```
    pub fn reader_count(&self) -> u32 {
        core_rwlock::state(self.handle).map_or(0, |(r, _)| r)
    }

    /// True while a writer holds the lock (a snapshot).
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// let w = lock.try_write();
    /// assert!(lock.is_write_held());
    /// drop(w);
    /// assert!(!lock.is_write_held());
    /// ```
    pub fn is_write_held(&self) -> bool {
        core_rwlock::state(self.handle).is_ok_and(|(_, w)| w)
    }
}

impl Default for AsyncRwLock {
    fn default() -> Self {
        AsyncRwLock::new()
    }
}

shared_handle!(
    AsyncRwLock,
    tapir_rwlock,
    lock,
    core_rwlock::retain,
    core_rwlock::release,
    "tapir::AsyncRwLock::new()"
);

impl std::fmt::Debug for AsyncRwLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRwLock")
            .field("reader_count", &self.reader_count())
            .field("is_write_held", &self.is_write_held())
            .finish()
    }
}

/// A read lock of an [`AsyncRwLock`]: held until the last clone of this guard (and
/// every task whose value it is) is dropped. `Clone` adds a reference to the same
/// hold; it is not another reader.
///
/// ```
/// let lock = tapir::AsyncRwLock::new();
/// let r = lock.try_read().unwrap();
/// let _again = r.clone();
/// assert_eq!(lock.reader_count(), 1);
/// ```
#[derive(Clone)]
pub struct ReadGuard(Held);

impl ReadGuard {
    /// Drops this reference to the hold (the same as `drop`).
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// lock.try_read().unwrap().unlock();
    /// assert_eq!(lock.reader_count(), 0);
    /// ```
    pub fn unlock(self) {}
}

impl std::fmt::Debug for ReadGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadGuard")
            .field("handle", &self.0.0.bits())
            .finish()
    }
}

/// The write lock of an [`AsyncRwLock`]: held until the last clone of this guard (and
/// every task whose value it is) is dropped. `Clone` adds a reference to the same
/// hold.
///
/// ```
/// let lock = tapir::AsyncRwLock::new();
/// let w = lock.try_write().unwrap();
/// assert!(lock.try_read().is_none());
/// drop(w);
/// assert!(lock.try_read().is_some());
/// ```
#[derive(Clone)]
pub struct WriteGuard(Held);

impl WriteGuard {
    /// Drops this reference to the hold (the same as `drop`).
    ///
    /// ```
    /// let lock = tapir::AsyncRwLock::new();
    /// lock.try_write().unwrap().unlock();
    /// assert!(!lock.is_write_held());
    /// ```
    pub fn unlock(self) {}
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGuard")
            .field("handle", &self.0.0.bits())
            .finish()
    }
}
