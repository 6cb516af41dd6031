//! [`Semaphore`] (SemaphoreSlim).

use std::time::Duration;

use crate::core::memory::Handle;
use crate::core::primitives::semaphore as core_sem;

use super::super::cancel::CancellationToken;
use super::super::error::Error;
use super::super::task::Task;
use super::{check, shared_handle, task_of, token_ref};

/// An asynchronous counting semaphore (SemaphoreSlim; tokio's `Semaphore`): a count of
/// permits up to a maximum, waits served strictly in arrival order.
///
/// A wait for `n` permits succeeds at once when nobody waits before it and `n` are
/// there; otherwise it queues. A [`release`](Semaphore::release) hands permits to the
/// queue's head while it can be served: a head that needs more than there are blocks
/// everyone behind it (no barging, so no waiter starves). With nobody waiting,
/// [`try_wait`](Semaphore::try_wait), [`release`](Semaphore::release) and
/// [`current_count`](Semaphore::current_count) are one atomic operation each.
///
/// `Clone` adds a reference to the same semaphore. When the last one is dropped, waits
/// still pending fail with an error of code [`Status::Disposed`](crate::Status::Disposed).
///
/// ```
/// use std::time::Duration;
/// use tapir::{Semaphore, block_on};
///
/// let sem = Semaphore::new(1);
/// assert!(sem.try_wait(1));
/// let next = sem.wait_async(1, None, None); // queued: the permit is taken
/// assert!(!next.is_completed());
/// sem.release(1).unwrap(); // handed to the waiter
/// assert_eq!(block_on(next), Ok(true));
/// // A wait that times out ends with false and takes nothing.
/// assert_eq!(sem.wait_async(1, Some(Duration::from_millis(1)), None).wait(), Ok(false));
/// ```
pub struct Semaphore {
    handle: Handle,
}

impl Semaphore {
    /// A semaphore with `initial` permits and no practical maximum (`u32::MAX`)
    /// (`new SemaphoreSlim(initial)`).
    ///
    /// ```
    /// assert_eq!(tapir::Semaphore::new(3).current_count(), 3);
    /// ```
    pub fn new(initial: u32) -> Semaphore {
        Semaphore::with_max(initial, u32::MAX).expect("initial <= u32::MAX")
    }

    /// A semaphore with `initial` permits of at most `max` (`new SemaphoreSlim(initial,
    /// max)`). Refused with [`Status::InvalidArgument`](crate::Status::InvalidArgument)
    /// when `max` is 0 or `initial` is above it.
    ///
    /// ```
    /// use tapir::{Semaphore, Status};
    /// let sem = Semaphore::with_max(0, 2).unwrap();
    /// assert_eq!(sem.release(2), Ok(0));
    /// assert_eq!(sem.release(1).unwrap_err().status(), Some(Status::Full));
    /// assert!(Semaphore::with_max(3, 2).is_err());
    /// ```
    pub fn with_max(initial: u32, max: u32) -> Result<Semaphore, Error> {
        Ok(Semaphore {
            handle: check(core_sem::new(initial, max))?,
        })
    }

    /// Waits for `n` permits (WaitAsync(timeout, token)): the task ends with `true` once
    /// they are taken, with `false` when `timeout` passes first (`None`: no limit;
    /// `Some(Duration::ZERO)`: only what is there now), or canceled when `token` is
    /// canceled first (or already is). A wait that times out or is canceled leaves the
    /// queue and never takes a permit. A task already faulted with
    /// [`Status::InvalidArgument`](crate::Status::InvalidArgument) when `n` is 0 or above
    /// the maximum.
    ///
    /// Dropping the task does not withdraw the wait: permits granted to it later are
    /// taken all the same (give them back with [`release`](Semaphore::release)).
    ///
    /// ```
    /// use tapir::{CancellationSource, Semaphore, block_on};
    /// let sem = Semaphore::new(0);
    /// let cts = CancellationSource::new();
    /// let wait = sem.wait_async(1, None, Some(&cts.token()));
    /// cts.cancel().unwrap();
    /// assert!(block_on(wait).unwrap_err().is_canceled());
    /// sem.release(1).unwrap();
    /// assert_eq!(sem.current_count(), 1, "the canceled wait took nothing");
    /// ```
    pub fn wait_async(
        &self,
        n: u32,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_sem::wait_async(
            self.handle,
            n,
            timeout,
            token_ref(token),
        ))
    }

    /// Takes `n` permits if they are there now and nobody waits before (Wait(0)); false
    /// (nothing taken) otherwise, also for an `n` of 0 or above the maximum.
    ///
    /// ```
    /// let sem = tapir::Semaphore::new(2);
    /// assert!(sem.try_wait(2));
    /// assert!(!sem.try_wait(1));
    /// ```
    pub fn try_wait(&self, n: u32) -> bool {
        core_sem::try_wait(self.handle, n).unwrap_or(false)
    }

    /// Gives back `n` permits (Release(n)) and grants them to the waiters, oldest first;
    /// returns the count before. Refused (nothing changes) with
    /// [`Status::Full`](crate::Status::Full) when the count would pass the maximum
    /// (SemaphoreFullException), and with
    /// [`Status::InvalidArgument`](crate::Status::InvalidArgument) for an `n` of 0.
    /// Granted waiters' synchronous continuations may run on this thread, after tapir
    /// released its lock, bounded in depth.
    ///
    /// ```
    /// let sem = tapir::Semaphore::with_max(1, 1).unwrap();
    /// assert!(sem.release(1).is_err(), "over the maximum");
    /// assert!(sem.try_wait(1));
    /// assert_eq!(sem.release(1), Ok(0));
    /// ```
    pub fn release(&self, n: u32) -> Result<u32, Error> {
        check(core_sem::release(self.handle, n))
    }

    /// The permits available now (CurrentCount; a snapshot).
    ///
    /// ```
    /// let sem = tapir::Semaphore::new(4);
    /// sem.try_wait(3);
    /// assert_eq!(sem.current_count(), 1);
    /// ```
    pub fn current_count(&self) -> u32 {
        core_sem::current_count(self.handle).unwrap_or(0)
    }
}

shared_handle!(
    Semaphore,
    tapir_semaphore,
    semaphore,
    core_sem::retain,
    core_sem::release_handle,
    "tapir::Semaphore::new(1)"
);

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("current_count", &self.current_count())
            .finish()
    }
}
