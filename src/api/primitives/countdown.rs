//! [`Countdown`] (CountdownEvent) and [`Barrier`].

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::memory::Handle;
use crate::core::primitives::barrier as core_barrier;
use crate::core::primitives::countdown as core_countdown;
use crate::core::status::Status;

use super::super::cancel::CancellationToken;
use super::super::error::{Error, panicked};
use super::super::task::{Task, drop_box};
use super::{check, shared_handle, task_of, token_ref};

/// An asynchronous countdown event (CountdownEvent): set once its count reaches zero;
/// waiters wait for that.
///
/// `Clone` adds a reference to the same countdown. When the last one is dropped, waits
/// still pending fail with an error of code [`Status::Disposed`](crate::Status::Disposed).
///
/// ```
/// use tapir::{Countdown, block_on, run};
///
/// let done = Countdown::new(3);
/// let all = done.wait_async(None, None);
/// for _ in 0..3 {
///     let d = done.clone();
///     run(move || { d.signal(1).unwrap(); });
/// }
/// assert_eq!(block_on(all), Ok(true));
/// assert!(done.is_set());
/// ```
pub struct Countdown {
    handle: Handle,
}

impl Countdown {
    /// A countdown of `initial` (`new CountdownEvent(initial)`; 0: set from the start).
    ///
    /// ```
    /// assert!(tapir::Countdown::new(0).is_set());
    /// ```
    pub fn new(initial: u32) -> Countdown {
        Countdown {
            handle: core_countdown::new(initial),
        }
    }

    /// Counts down by `n` (Signal(n)); `true` when this reached zero (every waiter then
    /// completes with `true`, their synchronous continuations possibly on this thread,
    /// after tapir released its lock). Refused (nothing changes) with
    /// [`Status::InvalidState`](crate::Status::InvalidState) when `n` is more than what is
    /// left (also once set), and [`Status::InvalidArgument`](crate::Status::InvalidArgument)
    /// for an `n` of 0.
    ///
    /// ```
    /// let c = tapir::Countdown::new(2);
    /// assert_eq!(c.signal(1), Ok(false));
    /// assert_eq!(c.signal(1), Ok(true));
    /// assert_eq!(c.signal(1).unwrap_err().status(), Some(tapir::Status::InvalidState));
    /// ```
    pub fn signal(&self, n: u32) -> Result<bool, Error> {
        check(core_countdown::signal(self.handle, n))
    }

    /// Adds `n` to the count (AddCount). Refused (nothing changes) with
    /// [`Status::InvalidState`](crate::Status::InvalidState) once the event is set,
    /// [`Status::Full`](crate::Status::Full) on overflow and
    /// [`Status::InvalidArgument`](crate::Status::InvalidArgument) for an `n` of 0.
    ///
    /// ```
    /// let c = tapir::Countdown::new(1);
    /// c.add_count(2).unwrap();
    /// assert_eq!(c.current_count(), 3);
    /// ```
    pub fn add_count(&self, n: u32) -> Result<(), Error> {
        match self.try_add_count(n)? {
            true => Ok(()),
            false => Err(Error::from_status(Status::InvalidState)),
        }
    }

    /// Adds `n` unless the event is already set (TryAddCount): `true` when added.
    /// Refused as [`add_count`](Countdown::add_count) is, except for a set event.
    ///
    /// ```
    /// let c = tapir::Countdown::new(1);
    /// c.signal(1).unwrap();
    /// assert_eq!(c.try_add_count(1), Ok(false));
    /// ```
    pub fn try_add_count(&self, n: u32) -> Result<bool, Error> {
        check(core_countdown::add_count(self.handle, n))
    }

    /// Resets the count to the initial count (Reset()); later waits wait again (or,
    /// for an initial count of 0, the event is set and waiters complete).
    ///
    /// ```
    /// let c = tapir::Countdown::new(1);
    /// c.signal(1).unwrap();
    /// c.reset();
    /// assert_eq!(c.current_count(), 1);
    /// ```
    pub fn reset(&self) {
        let _ = core_countdown::reset(self.handle, None);
    }

    /// Resets the count to `count`, which becomes the initial count too (Reset(count));
    /// 0 sets the event.
    ///
    /// ```
    /// let c = tapir::Countdown::new(1);
    /// c.reset_to(4);
    /// assert_eq!((c.current_count(), c.initial_count()), (4, 4));
    /// ```
    pub fn reset_to(&self, count: u32) {
        let _ = core_countdown::reset(self.handle, Some(count));
    }

    /// The count left (CurrentCount; a snapshot).
    ///
    /// ```
    /// assert_eq!(tapir::Countdown::new(7).current_count(), 7);
    /// ```
    pub fn current_count(&self) -> u32 {
        core_countdown::counts(self.handle).map_or(0, |(c, _)| c)
    }

    /// The count a [`reset`](Countdown::reset) goes back to (InitialCount).
    ///
    /// ```
    /// let c = tapir::Countdown::new(2);
    /// c.signal(1).unwrap();
    /// assert_eq!(c.initial_count(), 2);
    /// ```
    pub fn initial_count(&self) -> u32 {
        core_countdown::counts(self.handle).map_or(0, |(_, i)| i)
    }

    /// True once the count is zero (IsSet).
    ///
    /// ```
    /// assert!(!tapir::Countdown::new(1).is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.current_count() == 0
    }

    /// Waits until the count is zero (WaitAsync(timeout, token)): `true` then (at once
    /// if it is), `false` when `timeout` passes first (`None`: no limit), canceled when
    /// `token` is canceled first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = tapir::Countdown::new(1);
    /// assert_eq!(c.wait_async(Some(Duration::from_millis(1)), None).wait(), Ok(false));
    /// ```
    pub fn wait_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_countdown::wait_async(
            self.handle,
            timeout,
            token_ref(token),
        ))
    }
}

shared_handle!(
    Countdown,
    tapir_countdown,
    countdown,
    core_countdown::retain,
    core_countdown::release,
    "tapir::Countdown::new(1)"
);

impl std::fmt::Debug for Countdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Countdown")
            .field("current_count", &self.current_count())
            .field("initial_count", &self.initial_count())
            .finish()
    }
}

/// An asynchronous barrier (Barrier): participants signal and wait in phases; when the
/// last participant of a phase arrives, the post-phase action (if any) runs on that
/// participant's thread, outside every lock, then every participant of the phase is
/// released and the next phase begins.
///
/// A participant whose wait times out or is canceled before its phase completes takes
/// its arrival back (as .NET's `SignalAndWait(timeout)` does). If the post-phase action
/// returns an error (or panics), every participant of that phase fails with it; the
/// next phase begins all the same.
///
/// `Clone` adds a reference to the same barrier. When the last one is dropped, waits
/// still pending fail with an error of code [`Status::Disposed`](crate::Status::Disposed),
/// and the action is dropped.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use tapir::{Barrier, block_on, when_all};
///
/// let phases = Arc::new(AtomicU64::new(0));
/// let p = phases.clone();
/// let barrier = Barrier::with_action(2, move |phase| {
///     p.store(phase + 1, Ordering::SeqCst);
///     Ok(())
/// });
/// let both = when_all(&[barrier.signal_and_wait_async(None, None), barrier.signal_and_wait_async(None, None)]);
/// assert_eq!(block_on(both), Ok(vec![true, true]));
/// assert_eq!(phases.load(Ordering::SeqCst), 1, "phase 0 ran its action");
/// assert_eq!(barrier.current_phase(), 1);
/// ```
pub struct Barrier {
    handle: Handle,
}

/// The post-phase action's trampoline: runs the closure with the phase that completed
/// and hands tapir its error (a new reference), or NULL.
unsafe extern "C" fn phase_tramp<F: Fn(u64) -> Result<(), Error> + Send + Sync>(
    data: *mut c_void,
    phase: u64,
) -> *const c_void {
    // SAFETY: `data` is the `Box<F>` the barrier owns (freed only with the barrier,
    // after its last action ran); `F: Sync`, so phases ending on two threads at once
    // may share it.
    let f = unsafe { &*data.cast::<F>() };
    match catch_unwind(AssertUnwindSafe(|| f(phase))) {
        Ok(Ok(())) => std::ptr::null(),
        Ok(Err(e)) => e.into_raw().cast(),
        Err(p) => Error::from_ref(panicked(p)).into_raw().cast(),
    }
}

impl Barrier {
    /// A barrier of `participants` with no post-phase action (`new Barrier(n)`).
    ///
    /// ```
    /// let b = tapir::Barrier::new(1);
    /// assert_eq!(b.signal_and_wait_async(None, None).wait(), Ok(true), "the only participant");
    /// ```
    pub fn new(participants: u32) -> Barrier {
        Barrier {
            handle: core_barrier::new(
                participants,
                None,
                UserData::new(std::ptr::null_mut(), None),
            ),
        }
    }

    /// A barrier of `participants` whose post-phase action `action(phase)` runs when
    /// each phase completes (`new Barrier(n, postPhaseAction)`), on the thread of the
    /// phase's last participant, before the phase's participants are released. An
    /// `Err` (or a panic, as an error of code [`Status::Panic`](crate::Status::Panic))
    /// fails every participant of that phase.
    ///
    /// ```
    /// let b = tapir::Barrier::with_action(1, |_| Err(tapir::Error::new(9, "phase failed")));
    /// assert_eq!(b.signal_and_wait_async(None, None).wait().unwrap_err().code(), 9);
    /// ```
    pub fn with_action<F>(participants: u32, action: F) -> Barrier
    where
        F: Fn(u64) -> Result<(), Error> + Send + Sync + 'static,
    {
        let data = Box::into_raw(Box::new(action));
        let ud = UserData::new(data.cast(), Some(drop_box::<F> as DestroyFn));
        Barrier {
            handle: core_barrier::new(participants, Some(phase_tramp::<F>), ud),
        }
    }

    /// Signals this participant's arrival and waits for the phase to complete
    /// (SignalAndWait(timeout, token)): `true` once it does (at once for its last
    /// participant, after the action ran), `false` when `timeout` passes first, canceled
    /// when `token` is canceled first — in both cases the arrival is taken back. A task
    /// already faulted with [`Status::InvalidState`](crate::Status::InvalidState) when
    /// the barrier has no participants.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = tapir::Barrier::new(2);
    /// assert_eq!(b.signal_and_wait_async(Some(Duration::from_millis(1)), None).wait(), Ok(false));
    /// assert_eq!(b.participants_remaining(), 2, "the arrival was taken back");
    /// ```
    pub fn signal_and_wait_async(
        &self,
        timeout: Option<Duration>,
        token: Option<&CancellationToken>,
    ) -> Task<bool> {
        task_of(core_barrier::signal_and_wait(
            self.handle,
            timeout,
            token_ref(token),
        ))
    }

    /// Adds `n` participants (AddParticipants); returns the current phase. Refused with
    /// [`Status::Full`](crate::Status::Full) on overflow.
    ///
    /// ```
    /// let b = tapir::Barrier::new(0);
    /// assert_eq!(b.add_participants(2), Ok(0));
    /// assert_eq!(b.participant_count(), 2);
    /// ```
    pub fn add_participants(&self, n: u32) -> Result<u64, Error> {
        check(core_barrier::add_participants(self.handle, n))
    }

    /// Removes `n` participants (RemoveParticipants). Refused with
    /// [`Status::InvalidArgument`](crate::Status::InvalidArgument) when there are fewer
    /// than `n`, and [`Status::InvalidState`](crate::Status::InvalidState) when fewer than
    /// `n` have not arrived yet. If everyone left has arrived, the phase completes (the
    /// action runs on this thread).
    ///
    /// ```
    /// let b = tapir::Barrier::new(2);
    /// let w = b.signal_and_wait_async(None, None);
    /// b.remove_participants(1).unwrap(); // the one left has arrived
    /// assert_eq!(w.wait(), Ok(true));
    /// ```
    pub fn remove_participants(&self, n: u32) -> Result<(), Error> {
        check(core_barrier::remove_participants(self.handle, n))
    }

    /// The number of the current phase (CurrentPhaseNumber), from 0.
    ///
    /// ```
    /// assert_eq!(tapir::Barrier::new(3).current_phase(), 0);
    /// ```
    pub fn current_phase(&self) -> u64 {
        core_barrier::counts(self.handle).map_or(0, |(p, _, _)| p)
    }

    /// The participants (ParticipantCount).
    ///
    /// ```
    /// assert_eq!(tapir::Barrier::new(3).participant_count(), 3);
    /// ```
    pub fn participant_count(&self) -> u32 {
        core_barrier::counts(self.handle).map_or(0, |(_, n, _)| n)
    }

    /// The participants that have not arrived in the current phase
    /// (ParticipantsRemaining).
    ///
    /// ```
    /// let b = tapir::Barrier::new(3);
    /// let _w = b.signal_and_wait_async(None, None);
    /// assert_eq!(b.participants_remaining(), 2);
    /// ```
    pub fn participants_remaining(&self) -> u32 {
        core_barrier::counts(self.handle).map_or(0, |(_, _, r)| r)
    }
}

shared_handle!(
    Barrier,
    tapir_barrier,
    countdown,
    core_barrier::retain,
    core_barrier::release,
    "tapir::Barrier::new(1)"
);

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("current_phase", &self.current_phase())
            .field("participant_count", &self.participant_count())
            .field("participants_remaining", &self.participants_remaining())
            .finish()
    }
}
