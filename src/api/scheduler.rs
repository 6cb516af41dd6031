//! [`Scheduler`]: where callbacks, continuations and task bodies run (TaskScheduler /
//! SynchronizationContext), and [`CustomScheduler`] for a host's own.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::memory::{Handle, Kind};
use crate::core::sched;
use crate::core::task::schedule::SchedRef;
use crate::core::task::work::Job;
use crate::ffi::tapir_scheduler;

use super::error::Error;
use super::task::drop_box;

/// Where work runs: inline, the default pool, a manual queue a host drains, or a host's
/// own job system ([`CustomScheduler`]). Cloning adds a reference.
///
/// ```
/// use tapir::Scheduler;
/// let ui = Scheduler::manual();          // e.g. a game's main thread
/// let t = tapir::run_on(&ui, None, || 7);
/// assert!(!t.is_completed());            // nothing runs until the host pumps
/// assert_eq!(ui.run_pending(0, None).unwrap(), 1);
/// assert_eq!(t.wait(), Ok(7));
/// ```
pub struct Scheduler {
    handle: Handle,
}

impl Scheduler {
    /// The default pool: work stealing, one thread per core, started on first use.
    pub fn pool() -> Scheduler {
        Scheduler::from_handle(sched::default_scheduler().expect("tapir: too many handles"))
    }

    /// The inline scheduler: work runs on the posting thread before the post returns
    /// (nested inline work is bounded in depth and queued past the bound).
    ///
    /// ```
    /// let t = tapir::run_on(&tapir::Scheduler::inline(), None, || 1);
    /// assert!(t.is_completed());
    /// ```
    pub fn inline() -> Scheduler {
        Scheduler::from_handle(sched::inline_scheduler().expect("tapir: too many handles"))
    }

    /// A manual scheduler: work posted to it waits until the host calls
    /// [`run_pending`](Scheduler::run_pending), from any thread. Dropping its last
    /// reference closes it: queued and later work is discarded (the tasks it would have
    /// completed fail with [`Status::SchedulerError`](crate::Status::SchedulerError)).
    pub fn manual() -> Scheduler {
        Scheduler::from_handle(sched::new_manual())
    }

    /// A scheduler that hands each work item to `host` (a game engine's job system, a
    /// UI thread). `host` is dropped after the scheduler's last reference goes.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use tapir::{CustomScheduler, Scheduler, Work};
    /// struct Queue(std::sync::Mutex<mpsc::Sender<Work>>);
    /// impl CustomScheduler for Queue {
    ///     fn post(&self, work: Work) { self.0.lock().unwrap().send(work).unwrap(); }
    /// }
    /// let (tx, rx) = mpsc::channel();
    /// let s = Scheduler::custom(Queue(std::sync::Mutex::new(tx)));
    /// let t = tapir::run_on(&s, None, || "on the host");
    /// rx.recv().unwrap().run();          // the host runs the item on its own thread
    /// assert_eq!(t.wait(), Ok("on the host"));
    /// ```
    pub fn custom(host: impl CustomScheduler) -> Scheduler {
        let boxed: Box<Box<dyn CustomScheduler>> = Box::new(Box::new(host));
        let ctx = Box::into_raw(boxed).cast::<c_void>();
        Scheduler::from_handle(sched::new_foreign(
            post_tramp,
            ctx,
            Some(drop_box::<Box<dyn CustomScheduler>> as DestroyFn),
        ))
    }

    /// The scheduler running the current callback or task body (TaskScheduler.Current),
    /// if this thread runs tapir work.
    ///
    /// ```
    /// assert!(tapir::Scheduler::current().is_none());
    /// let t = tapir::run(|| tapir::Scheduler::current() == Some(tapir::Scheduler::pool()));
    /// assert_eq!(t.wait(), Ok(true));
    /// ```
    pub fn current() -> Option<Scheduler> {
        sched::current().map(Scheduler::from_handle)
    }

    pub(crate) fn from_handle(handle: Handle) -> Scheduler {
        debug_assert!(handle.kind() == Some(Kind::Scheduler));
        Scheduler { handle }
    }

    pub(crate) fn sched_ref(&self) -> SchedRef {
        sched::retain_ref(self.handle).expect("a scheduler holds a valid handle")
    }

    /// Queues `f` (TaskScheduler.QueueTask / SynchronizationContext.Post). A panic in
    /// `f` is caught and discarded. If the scheduler discards the work instead (a closed
    /// manual scheduler, shutdown), `f` is dropped unrun.
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// tapir::Scheduler::pool().post(move || tx.send(1).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    pub fn post<F: FnOnce() + Send + 'static>(&self, f: F) {
        let data = Box::into_raw(Box::new(Some(f)));
        let ud = UserData::new(data.cast(), Some(drop_box::<Option<F>> as DestroyFn));
        self.sched_ref().post(Job::call(work_tramp::<F>, ud));
    }

    /// Runs work queued on a manual scheduler on this thread until the queue is empty,
    /// `max_items` ran (0: no limit) or `max_time` passed (None: no limit; checked
    /// between items); returns how many ran. While it runs, [`current`](Scheduler::current)
    /// is this scheduler. Refused with [`Status::InvalidArgument`](crate::Status::InvalidArgument)
    /// for a scheduler that is not manual.
    pub fn run_pending(
        &self,
        max_items: usize,
        max_time: Option<Duration>,
    ) -> Result<usize, Error> {
        sched::run_pending(self.handle, max_items, max_time).map_err(Error::from_status)
    }

    /// The `tapir_scheduler` handle, borrowed.
    pub fn as_raw(&self) -> *const tapir_scheduler {
        self.handle.bits() as usize as *const tapir_scheduler
    }

    /// Gives the scheduler to C (+1 reference).
    pub fn into_raw(self) -> *const tapir_scheduler {
        let me = std::mem::ManuallyDrop::new(self);
        me.handle.bits() as usize as *const tapir_scheduler
    }

    /// Takes over a `tapir_scheduler` reference (+1) from C; None for NULL or a handle
    /// that is not a live scheduler.
    ///
    /// # Safety
    /// The caller owns the reference and gives it up.
    pub unsafe fn from_raw(p: *const tapir_scheduler) -> Option<Scheduler> {
        let h = Handle::from_bits(p as usize as u64)?;
        sched::retain_ref(h).ok()?;
        Some(Scheduler { handle: h })
    }
}

impl Default for Scheduler {
    /// The default pool.
    fn default() -> Self {
        Scheduler::pool()
    }
}

impl Clone for Scheduler {
    fn clone(&self) -> Self {
        sched::retain(self.handle).expect("tapir: too many handles");
        Scheduler {
            handle: self.handle,
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = sched::release(self.handle);
    }
}

impl PartialEq for Scheduler {
    /// The same scheduler.
    fn eq(&self, other: &Self) -> bool {
        self.handle == other.handle
    }
}

impl Eq for Scheduler {}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scheduler({:#x})", self.handle.bits())
    }
}

/// A host's scheduler: receives every work item posted to it and runs each exactly
/// once, on a thread of its choosing ([`Work::run`]), or discards it ([`Work::discard`]
/// or dropping it: the task it would have completed fails with
/// [`Status::SchedulerError`](crate::Status::SchedulerError)). `post` may be called
/// from any thread and must not block for long.
pub trait CustomScheduler: Send + Sync + 'static {
    /// Takes one work item.
    fn post(&self, work: Work);
}

/// One work item handed to a [`CustomScheduler`]: run it or discard it, once.
pub struct Work {
    item: *mut c_void,
}

// SAFETY: a work item may be run or discarded on any thread (the C contract of
// tapir_work_run and tapir_work_discard); it is uniquely owned.
unsafe impl Send for Work {}

impl Work {
    /// Runs the item on this thread (its scheduler is [`Scheduler::current`] meanwhile).
    pub fn run(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the item came from the foreign scheduler's post and is consumed once.
        unsafe { sched::run_work(me.item) };
    }

    /// Discards the item without running it: its user data is dropped and the task it
    /// would have completed fails with [`Status::SchedulerError`](crate::Status::SchedulerError).
    ///
    /// ```
    /// use tapir::{CustomScheduler, Scheduler, Status, Work};
    /// struct Refuse;
    /// impl CustomScheduler for Refuse { fn post(&self, work: Work) { work.discard() } }
    /// let t = tapir::run_on(&Scheduler::custom(Refuse), None, || 1);
    /// assert_eq!(t.wait().unwrap_err().status(), Some(Status::SchedulerError));
    /// ```
    pub fn discard(self) {
        drop(self);
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        // SAFETY: as in `run`: consumed once (run takes the item without dropping).
        unsafe { sched::discard_work(self.item) };
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work").finish_non_exhaustive()
    }
}

unsafe extern "C" fn post_tramp(ctx: *mut c_void, work: *mut c_void) {
    // SAFETY: `ctx` is the Box<Box<dyn CustomScheduler>> made in `custom`, alive until
    // the scheduler's destroy; `work` is a fresh item this call hands over.
    let host = unsafe { &*ctx.cast::<Box<dyn CustomScheduler>>() };
    let work = Work { item: work };
    // A panicking host loses the item: it is discarded by the unwinding drop.
    let _ = catch_unwind(AssertUnwindSafe(|| host.post(work)));
}

unsafe extern "C" fn work_tramp<F: FnOnce() + Send>(data: *mut c_void) {
    // SAFETY: `data` is the Box<Option<F>> posted with this trampoline; the work runs at
    // most once and its destroy frees the box afterwards.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    if let Some(f) = slot.take() {
        let _ = catch_unwind(AssertUnwindSafe(f));
    }
}
