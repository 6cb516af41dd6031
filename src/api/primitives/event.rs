//! [`AutoResetEvent`] and [`ManualResetEvent`] (AsyncAutoResetEvent,
//! AsyncManualResetEvent).

use std::time::Duration;

use crate::core::memory::Handle;
use crate::core::primitives::event as core_event;

use super::super::cancel::CancellationToken;
use super::super::task::Task;
use super::{shared_handle, task_of, token_ref};

/// An asynchronous auto-reset event (AsyncAutoResetEvent; tokio's `Notify` with a
/// stored permit): each [`set`](AutoResetEvent::set) releases one waiter, the oldest;
/// a set with nobody waiting is remembered (once) for the next wait.
///
/// `Clone` adds a reference to the same event. When the last one is dropped, waits
/// still pending fail with an error of code [`Status::Disposed`](crate::Status::Disposed).
///
/// ```
/// use tapir::{AutoResetEvent, block_on};
///
/// let ev = AutoResetEvent::new(false);
/// let (a, b) = (ev.wait_async(None, None), ev.wait_async(None, None));
/// ev.set();
/// assert_eq!(block_on(a), Ok(true));
/// assert!(!b.is_completed(), "one set, one waiter");
/// ev.set();
/// assert_eq!(block_on(b), Ok(true));
/// ```
pub struct AutoResetEvent {
    handle: Handle,
}

impl AutoResetEvent {
    /// A new event, set or not.
    ///
    /// ```
    /// let ev = tapir::AutoResetEvent::new(true);
    /// assert!(ev.try_wait() && !ev.try_wait());
    /// ```
    pub fn new(initially_set: bool) -> AutoResetEvent {
        AutoResetEvent {
            handle: core_event::new(false, initially_set),
        }
    }

    /// Sets the event (Set): completes the oldest waiter with `true`, or, with nobody
    /// waiting, stays set until the next wait takes it. Setting a set event does
    /// nothing. The waiter's synchronous continuations may run on this thread, after
    /// tapir released its lock.
    ///
    /// ```
    /// let ev = tapir::AutoResetEvent::new(false);
    /// ev.set();
    /// ev.set(); // still one set
    /// assert!(ev.try_wait() && !ev.try_wait());
    /// ```
    pub fn set(&self) {
        let _ = core_event::set(false, self.handle);
    }

    /// Takes the set now if the event is set (and resets it); false otherwise.
    ///
    /// ```
    /// assert!(!tapir::AutoResetEvent::new(false).try_wait());
    /// ```
    pub fn try_wait(&self) -> bool {
        core_event::try_wait(self.handle).unwrap_or(false)
    }

    /// Waits for a set (WaitAsync(timeout, token)): `true` once this wait takes one (at
    /// once if the event is set), `false` when `timeout` passes first (`None`: no limit),
    /// canceled when `token` is canceled first. A wait that leaves early never takes a
    /// set: the next waiter gets it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = tapir::AutoResetEvent::new(false);
    /// assert_eq!(ev.wait_async(Some(Duration::from_millis(1)), None).wait(), Ok(false));
    /// ```
    pub fn wait_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_event::wait_async(
            false,
            self.handle,
            timeout,
            token_ref(token),
        ))
    }
}

fn retain_auto(h: Handle) -> crate::core::status::Result<()> {
    core_event::retain(false, h)
}

fn release_auto(h: Handle) -> crate::core::status::Result<()> {
    core_event::release(false, h)
}

shared_handle!(
    AutoResetEvent,
    tapir_auto_reset_event,
    event,
    retain_auto,
    release_auto,
    "tapir::AutoResetEvent::new(false)"
);

impl std::fmt::Debug for AutoResetEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoResetEvent")
            .field("handle", &self.handle.bits())
            .finish()
    }
}

/// An asynchronous manual-reset event (AsyncManualResetEvent): a
/// [`set`](ManualResetEvent::set) completes every waiter and the event stays set (later
/// waits complete at once) until [`reset`](ManualResetEvent::reset).
///
/// `Clone` adds a reference to the same event. When the last one is dropped, waits
/// still pending fail with an error of code [`Status::Disposed`](crate::Status::Disposed).
///
/// ```
/// use tapir::{ManualResetEvent, block_on, when_all};
///
/// let ev = ManualResetEvent::new(false);
/// let all = when_all(&[ev.wait_async(None, None), ev.wait_async(None, None)]);
/// ev.set();
/// assert_eq!(block_on(all), Ok(vec![true, true]));
/// assert!(ev.is_set());
/// ```
pub struct ManualResetEvent {
    handle: Handle,
}

impl ManualResetEvent {
    /// A new event, set or not.
    ///
    /// ```
    /// assert!(tapir::ManualResetEvent::new(true).is_set());
    /// ```
    pub fn new(initially_set: bool) -> ManualResetEvent {
        ManualResetEvent {
            handle: core_event::new(true, initially_set),
        }
    }

    /// Sets the event (Set): every waiter completes with `true`, and it stays set.
    /// Their synchronous continuations may run on this thread, after tapir released its
    /// lock.
    ///
    /// ```
    /// let ev = tapir::ManualResetEvent::new(false);
    /// ev.set();
    /// assert_eq!(ev.wait_async(None, None).wait(), Ok(true));
    /// ```
    pub fn set(&self) {
        let _ = core_event::set(true, self.handle);
    }

    /// Resets the event (Reset): later waits wait for the next set. Waits already
    /// completed stay completed.
    ///
    /// ```
    /// let ev = tapir::ManualResetEvent::new(true);
    /// ev.reset();
    /// assert!(!ev.is_set());
    /// assert!(!ev.wait_async(None, None).is_completed());
    /// ```
    pub fn reset(&self) {
        let _ = core_event::reset(self.handle);
    }

    /// True while the event is set (IsSet; a snapshot).
    ///
    /// ```
    /// assert!(!tapir::ManualResetEvent::new(false).is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        core_event::is_set(self.handle).unwrap_or(false)
    }

    /// Waits until the event is set (WaitAsync(timeout, token)): `true` then (at once
    /// if it is set), `false` when `timeout` passes first (`None`: no limit), canceled
    /// when `token` is canceled first.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let ev = tapir::ManualResetEvent::new(false);
    /// let w = ev.wait_async(None, Some(&cts.token()));
    /// cts.cancel().unwrap();
    /// assert!(w.wait().unwrap_err().is_canceled());
    /// ```
    pub fn wait_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_event::wait_async(
            true,
            self.handle,
            timeout,
            token_ref(token),
        ))
    }
}

fn retain_manual(h: Handle) -> crate::core::status::Result<()> {
    core_event::retain(true, h)
}

fn release_manual(h: Handle) -> crate::core::status::Result<()> {
    core_event::release(true, h)
}

shared_handle!(
    ManualResetEvent,
    tapir_manual_reset_event,
    event,
    retain_manual,
    release_manual,
    "tapir::ManualResetEvent::new(false)"
);

impl std::fmt::Debug for ManualResetEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualResetEvent")
            .field("is_set", &self.is_set())
            .finish()
    }
}
