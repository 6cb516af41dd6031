//! [`Task<T>`]: the consumer side of an operation, and a `Future`.

use std::ffi::c_void;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::memory::family::Ref;
use crate::core::memory::{Handle, Kind};
use crate::core::status::Status;
use crate::core::task::Final;
use crate::core::task::cell::TaskCell;
use crate::core::task::continuation;
use crate::core::task::list::{self, NodeCell, Placement, WakerPlaced};
use crate::core::task::ops::{self, AwaitRead};
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::task_cell;
use crate::core::task::word::Snapshot;
use crate::core::{time, wait};
use crate::ffi::tapir_task;

use super::cancel::CancellationToken;
use super::error::{Error, panicked};
use super::scheduler::Scheduler;
use super::value;

/// Where a task is in its life (TaskStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Not completed yet.
    Pending,
    /// Completed with a value (RanToCompletion).
    Succeeded,
    /// Completed with one or more errors.
    Faulted,
    /// Completed by cancellation.
    Canceled,
}

/// An asynchronous operation that ends with a `T`, an [`Error`] or cancellation
/// (`Task<T>`); `.await` it, or block on it with [`wait`](Task::wait).
///
/// A `Task<T>` is one reference to a tapir task, the very object C, C++ and C# see:
/// [`into_raw`](Task::into_raw) gives C the handle, [`from_raw`](Task::from_raw)
/// takes one from C. Cloning adds a reference, dropping releases it. How the value
/// travels (in the pointer bits, or boxed) is described in [`value`](crate::api::value).
///
/// As a `Future`, a task registers one library continuation with the waker of the
/// first poll that finds it pending, and none on later polls with the same waker (a
/// poll with another waker replaces the registration). Polling a completed task reads
/// its outcome without allocating; polling again is harmless and reads it again.
/// Dropping a pending task removes its registration.
///
/// ```
/// use tapir::{CompletionSource, block_on};
///
/// let source = CompletionSource::<u64>::new();
/// let task = source.task();
/// std::thread::spawn(move || source.set_result(42).unwrap());
/// assert_eq!(block_on(task), Ok(42));
/// ```
pub struct Task<T: 'static> {
    handle: Handle,
    /// The cell `handle` names (a pool slot never moves): the hot paths skip the
    /// handle -> cell lookup; the word still validates the handle's generation.
    cell: CellRef,
    /// The waker registration of a pending poll (see [`Registration`]).
    reg: Registration,
    /// A task shares its value among its holders, as an `Arc<T>` would.
    _value: PhantomData<Arc<T>>,
}

/// The registration a pending poll made: where the continuation landed and the waker's
/// identity (its data pointer and vtable, the registration's removal key).
#[derive(Clone, Copy, Default)]
struct Registration {
    /// 0: none; 1: the task's inline slot; n + 2: list node n (its reference is ours).
    at: u64,
    key: (usize, usize),
}

/// A task's cell as a `Task` or `CompletionSource` keeps it. Unwind safety is the
/// handle's, which names the same cell: every access goes through the engine's protocol
/// on the word, which a panic elsewhere cannot leave half done.
#[derive(Clone, Copy)]
pub(crate) struct CellRef(pub(crate) &'static TaskCell);

impl std::panic::UnwindSafe for CellRef {}
impl std::panic::RefUnwindSafe for CellRef {}

const NONE: u64 = 0;
const INLINE: u64 = 1;

/// Releases the reference to list node `at - 2` that a node registration holds.
#[cold]
#[inline(never)]
fn release_node(at: u64) {
    // SAFETY: a node registration (`at` >= 2) holds one reference of ours to node
    // `at - 2`, released here once: the caller has reset the registration.
    drop(unsafe { Ref::<NodeCell>::adopt((at - 2) as u32) });
}

fn waker_key(w: &std::task::Waker) -> (usize, usize) {
    (
        w.data() as usize,
        w.vtable() as *const std::task::RawWakerVTable as usize,
    )
}

impl<T: 'static> Task<T> {
    /// Adopts a task handle reference (+1).
    pub(crate) fn from_handle(handle: Handle) -> Task<T> {
        let cell = task_cell(handle).expect("a task handle the library made");
        Task::from_parts(handle, cell)
    }

    /// Adopts a task handle reference (+1) whose cell the caller has at hand.
    #[inline(always)]
    pub(crate) fn from_parts(handle: Handle, cell: &'static TaskCell) -> Task<T> {
        debug_assert!(handle.kind() == Some(Kind::Task));
        Task {
            handle,
            cell: CellRef(cell),
            reg: Registration::default(),
            _value: PhantomData,
        }
    }

    pub(crate) fn handle(&self) -> Handle {
        self.handle
    }

    /// A view of a handle lent for a call (no reference of its own): never dropped.
    pub(crate) fn lent(handle: Handle) -> std::mem::ManuallyDrop<Task<T>> {
        std::mem::ManuallyDrop::new(Task::from_handle(handle))
    }

    /// A task that has already been canceled (Task.FromCanceled), without a token.
    ///
    /// ```
    /// let t = tapir::Task::<String>::canceled();
    /// assert_eq!(t.status(), tapir::TaskStatus::Canceled);
    /// ```
    pub fn canceled() -> Task<T> {
        Task::from_handle(ops::from_outcome(Outcome::Canceled(None)))
    }

    /// A task canceled by `token` (Task.FromCanceled(token)); the token need not be
    /// canceled yet for the task to be.
    pub fn canceled_by(token: &CancellationToken) -> Task<T> {
        Task::from_handle(ops::from_outcome(Outcome::Canceled(Some(
            token.token_ref(),
        ))))
    }

    /// A task that has already faulted with `error` (Task.FromException).
    ///
    /// ```
    /// let t = tapir::Task::<u8>::from_error(tapir::Error::new(3, "no"));
    /// assert_eq!(t.wait().unwrap_err().code(), 3);
    /// ```
    pub fn from_error(error: Error) -> Task<T> {
        Task::from_handle(ops::from_outcome(Outcome::Faulted(vec![error.to_object()])))
    }

    /// The task's state now.
    ///
    /// ```
    /// use tapir::{CompletionSource, TaskStatus};
    /// let s = CompletionSource::<u32>::new();
    /// let t = s.task();
    /// assert_eq!(t.status(), TaskStatus::Pending);
    /// s.set_result(1).unwrap();
    /// assert_eq!(t.status(), TaskStatus::Succeeded);
    /// ```
    pub fn status(&self) -> TaskStatus {
        match ops::status_in(self.cell.0, self.handle).expect("a Task holds a valid handle") {
            None => TaskStatus::Pending,
            Some(Final::Succeeded) => TaskStatus::Succeeded,
            Some(Final::Faulted) => TaskStatus::Faulted,
            Some(Final::Canceled) => TaskStatus::Canceled,
        }
    }

    /// True once the task has completed, whatever the outcome (IsCompleted).
    pub fn is_completed(&self) -> bool {
        self.status() != TaskStatus::Pending
    }

    /// A number unique to this task among live tasks (`tapir_task_id`: what C, C++ and
    /// C# report for the same task, and what the unobserved-error hook receives).
    ///
    /// ```
    /// let t = tapir::Task::from_result(1u8);
    /// assert_eq!(t.id(), t.clone().id());
    /// assert_eq!(t.id(), tapir::ffi::task::tapir_task_id(t.as_raw()));
    /// ```
    pub fn id(&self) -> u64 {
        self.handle.bits()
    }

    /// The errors of a faulted task, in order (its aggregate: input order for
    /// [`when_all`](crate::when_all)); empty otherwise. They count as observed.
    ///
    /// ```
    /// use tapir::{Error, Task, when_all};
    /// let all = when_all(&[Task::<u8>::from_error(Error::new(1, "a")), Task::from_error(Error::new(2, "b"))]);
    /// let codes: Vec<i32> = all.errors().iter().map(Error::code).collect();
    /// assert_eq!(codes, [1, 2]);
    /// ```
    pub fn errors(&self) -> Vec<Error> {
        ops::errors(self.handle)
            .unwrap_or_default()
            .into_iter()
            .map(Error::from_ref)
            .collect()
    }

    /// Blocks until the task completes (Wait); never call it where the task's
    /// completion needs this very thread.
    ///
    /// ```
    /// let t = tapir::run(|| 6 * 7);
    /// t.wait_completed();
    /// assert!(t.is_completed());
    /// ```
    pub fn wait_completed(&self) {
        let _ = wait::wait(self.handle, None);
    }

    /// Blocks until the task completes or `timeout` passes; true when it completed.
    ///
    /// ```
    /// let s = tapir::CompletionSource::<()>::new();
    /// assert!(!s.task().wait_completed_timeout(std::time::Duration::from_millis(1)));
    /// ```
    pub fn wait_completed_timeout(&self, timeout: Duration) -> bool {
        !matches!(wait::wait(self.handle, Some(timeout)), Err(Status::Timeout))
    }

    /// The same task, read as a task with no value: free (the same handle), since any
    /// task can be read as `Task<()>` (a `Task<T>` is a `Task`).
    ///
    /// ```
    /// let t: tapir::Task<()> = tapir::Task::from_result(String::from("x")).into_unit();
    /// assert_eq!(t.wait(), Ok(()));
    /// ```
    pub fn into_unit(self) -> Task<()> {
        let h = self.into_raw_handle();
        Task::from_handle(h)
    }

    /// A task that completes as this one does, or fails with an error of code
    /// [`Status::Timeout`] once `timeout` passes first (Task.WaitAsync(timeout)); this
    /// task is not affected.
    ///
    /// ```
    /// use std::time::Duration;
    /// let never = tapir::CompletionSource::<u8>::new();
    /// let t = never.task().with_timeout(Duration::from_millis(5));
    /// assert_eq!(t.wait().unwrap_err().status(), Some(tapir::Status::Timeout));
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Task<T> {
        let h = time::wait_async(self.handle, time::After::Time(timeout), None)
            .expect("a valid handle");
        Task::from_handle(h)
    }

    /// A task that completes as this one does, or ends canceled when `token` is
    /// canceled first (Task.WaitAsync(token)); this task is not affected.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let never = tapir::CompletionSource::<u8>::new();
    /// let t = never.task().with_cancellation(&cts.token());
    /// cts.cancel().unwrap();
    /// assert!(t.wait().unwrap_err().is_canceled());
    /// ```
    pub fn with_cancellation(&self, token: &CancellationToken) -> Task<T> {
        let h = time::wait_async(self.handle, time::After::Never, Some(token.token_ref()))
            .expect("a valid handle");
        Task::from_handle(h)
    }

    /// Runs `f` once the task completes (any outcome), on the default pool, with the
    /// completed task; the cheapest continuation (no task is made). A panic in `f` is
    /// caught and discarded. See [`on_complete_with`](Task::on_complete_with).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (tx, rx) = mpsc::channel();
    /// let t = tapir::Task::from_result(5u32);
    /// t.on_complete(move |t| tx.send(t.wait().unwrap()).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 5);
    /// ```
    pub fn on_complete(&self, f: impl FnOnce(&Task<T>) + Send + 'static) {
        self.on_complete_with(&ContinuationOptions::new(), f)
            .expect("default options are valid");
    }

    /// As [`on_complete`](Task::on_complete), with options (where it runs, a token,
    /// outcome filters). Refused (nothing registered) when the options are invalid.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// use tapir::{ContinuationOptions, Task};
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let r = ran.clone();
    /// let inline = ContinuationOptions::new().execute_synchronously();
    /// Task::from_result(()).on_complete_with(&inline, move |_| r.store(true, Ordering::SeqCst)).unwrap();
    /// assert!(ran.load(Ordering::SeqCst)); // ran inline: the task had completed
    /// ```
    pub fn on_complete_with<F: FnOnce(&Task<T>) + Send + 'static>(
        &self,
        options: &ContinuationOptions,
        f: F,
    ) -> Result<(), Error> {
        let (flags, scheduler, token) = options.parts()?;
        let data = Box::into_raw(Box::new(Some(f)));
        let ud = UserData::new(data.cast(), Some(drop_box::<Option<F>> as DestroyFn));
        match ops::on_complete(
            self.handle,
            notify_tramp::<T, F>,
            ud,
            flags,
            scheduler,
            token,
            false,
        ) {
            Ok(_) => Ok(()),
            Err(s) => {
                // Refused: the user data is ours again.
                // SAFETY: made by Box::into_raw above and not adopted by the library.
                drop(unsafe { Box::from_raw(data) });
                Err(Error::from_status(s))
            }
        }
    }

    /// A continuation task (ContinueWith): `f` runs once this task completes, on the
    /// default pool, and its return value is the new task's value. A panic in `f` fails
    /// the new task with an error of code [`Status::Panic`].
    ///
    /// ```
    /// let t = tapir::Task::from_result(20u32).continue_with(|t| t.wait().unwrap() + 1);
    /// assert_eq!(t.wait(), Ok(21));
    /// ```
    pub fn continue_with<U: Send + 'static>(
        &self,
        f: impl FnOnce(&Task<T>) -> U + Send + 'static,
    ) -> Task<U> {
        self.try_continue_with_options(&ContinuationOptions::new(), move |t| Ok(f(t)))
            .expect("default options are valid")
    }

    /// As [`continue_with`](Task::continue_with), for a body that can fail: `Err`
    /// faults the new task with that error.
    ///
    /// ```
    /// let t = tapir::Task::from_result(0u32)
    ///     .try_continue_with(|t| if t.wait()? == 0 { Err(tapir::Error::new(1, "zero")) } else { Ok(1) });
    /// assert_eq!(t.wait().unwrap_err().message(), "zero");
    /// ```
    pub fn try_continue_with<U: Send + 'static>(
        &self,
        f: impl FnOnce(&Task<T>) -> Result<U, Error> + Send + 'static,
    ) -> Task<U> {
        self.try_continue_with_options(&ContinuationOptions::new(), f)
            .expect("default options are valid")
    }

    /// The general continuation: options, and a body that can fail. When an outcome
    /// filter refuses this task's outcome, or the options' token is canceled first, `f`
    /// never runs and the new task ends canceled. Refused when the options are invalid.
    ///
    /// ```
    /// use tapir::{ContinuationOptions, Task, TaskStatus};
    /// let only_ok = ContinuationOptions::new().only_on_success();
    /// let t = Task::<u8>::canceled().try_continue_with_options(&only_ok, |_| Ok(1u8)).unwrap();
    /// t.wait_completed();
    /// assert_eq!(t.status(), TaskStatus::Canceled);
    /// ```
    pub fn try_continue_with_options<U, F>(
        &self,
        options: &ContinuationOptions,
        f: F,
    ) -> Result<Task<U>, Error>
    where
        U: Send + 'static,
        F: FnOnce(&Task<T>) -> Result<U, Error> + Send + 'static,
    {
        let (flags, scheduler, token) = options.parts()?;
        let data = Box::into_raw(Box::new(Some(f)));
        let ud = UserData::new(data.cast(), Some(drop_box::<Option<F>> as DestroyFn));
        match ops::continue_with(
            self.handle,
            continue_tramp::<T, U, F>,
            ud,
            flags,
            scheduler,
            token,
        ) {
            Ok(h) => Ok(Task::from_handle(h)),
            Err(s) => {
                // SAFETY: refused: the box is ours again.
                drop(unsafe { Box::from_raw(data) });
                Err(Error::from_status(s))
            }
        }
    }

    /// Gives the task to C: the `tapir_task` handle, with this reference (+1), to be
    /// released with `tapir_task_release`. What C reads as its value (`tapir_task_result`)
    /// is described in [`value`](crate::api::value): a `Task<u64>`'s value is the number
    /// itself, a boxed value's is a pointer to the `T`, owned by the task.
    ///
    /// ```
    /// use tapir::ffi::{task::tapir_task_result, tapir_status};
    /// let p = tapir::Task::from_result(99u64).into_raw();
    /// let mut v = std::ptr::null_mut();
    /// // SAFETY: `p` is a live task handle and `v` a valid out-pointer.
    /// assert_eq!(unsafe { tapir_task_result(p, &mut v) }, tapir_status::Ok);
    /// assert_eq!(v as u64, 99);
    /// assert_eq!(tapir::ffi::task::tapir_task_release(p), tapir_status::Ok);
    /// ```
    pub fn into_raw(self) -> *const tapir_task {
        self.into_raw_handle().bits() as usize as *const tapir_task
    }

    fn into_raw_handle(mut self) -> Handle {
        self.unregister();
        let me = std::mem::ManuallyDrop::new(self);
        me.handle
    }

    /// The `tapir_task` handle, borrowed: valid while this `Task` lives.
    pub fn as_raw(&self) -> *const tapir_task {
        self.handle.bits() as usize as *const tapir_task
    }

    /// Takes over a `tapir_task` reference (+1) made by C (or by
    /// [`into_raw`](Task::into_raw)). None for NULL, or a handle that is not a live task
    /// (the reference is then left alone).
    ///
    /// # Safety
    /// - The caller owns the reference `p` holds and gives it up.
    /// - Once the task succeeds, its value must be stored the way `T` travels
    ///   ([`value`](crate::api::value)): for a task made by C, `T` is one of the types
    ///   that travel in the bits (`*mut c_void`, `usize`, `u64`, `i32`, `()`, …); a boxed
    ///   `T` can only come from Rust code that stored that very `T`.
    ///
    /// ```
    /// use tapir::ffi::{task::tapir_task_from_result, tapir_status};
    /// let mut p = std::ptr::null();
    /// // SAFETY: `p` is a valid out-pointer; the value has no destroy.
    /// assert_eq!(unsafe { tapir_task_from_result(7 as *mut _, None, &mut p) }, tapir_status::Ok);
    /// // SAFETY: we own the reference; C stored an integer, read as usize.
    /// let t = unsafe { tapir::Task::<usize>::from_raw(p) }.unwrap();
    /// assert_eq!(tapir::block_on(t), Ok(7));
    /// ```
    pub unsafe fn from_raw(p: *const tapir_task) -> Option<Task<T>> {
        let h = Handle::from_bits(p as usize as u64)?;
        ops::status(h).ok()?;
        Some(Task::from_handle(h))
    }

    /// A new reference to the task a borrowed handle names (a handle lent to a C
    /// callback, say); None for NULL or a handle that is not a live task.
    ///
    /// # Safety
    /// As for [`from_raw`](Task::from_raw), except that the caller keeps its reference.
    pub unsafe fn from_raw_borrowed(p: *const tapir_task) -> Option<Task<T>> {
        let h = Handle::from_bits(p as usize as u64)?;
        ops::task_retain(h).ok()?;
        Some(Task::from_handle(h))
    }

    /// Removes a pending poll's registration (dropped, or handed to C). Out of line: a
    /// task that was awaited to the end has none left to remove when dropped.
    #[inline(never)]
    fn unregister(&mut self) {
        let reg = std::mem::take(&mut self.reg);
        match reg.at {
            NONE => {}
            INLINE => {
                Placement::First(self.handle).remove(reg.key);
            }
            n => {
                // SAFETY: a node registration holds one reference of ours to node n - 2.
                let node = unsafe { Ref::<NodeCell>::adopt((n - 2) as u32) };
                Placement::Node(Some(node), None).remove(reg.key);
            }
        }
    }

    /// Forgets a registration whose continuation ran or runs now (the task completed).
    /// The key means nothing once `at` is NONE, so only `at` is reset.
    #[inline(always)]
    fn forget_registration(&mut self) {
        let at = std::mem::replace(&mut self.reg.at, NONE);
        if at >= 2 {
            release_node(at);
        }
    }
}

impl<T: Clone + 'static> Task<T> {
    /// The outcome, if the task has completed (no blocking, no allocation for a value).
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::new();
    /// assert_eq!(s.task().try_result(), None);
    /// s.set_result(4).unwrap();
    /// assert_eq!(s.task().try_result(), Some(Ok(4)));
    /// ```
    #[inline]
    pub fn try_result(&self) -> Option<Result<T, Error>> {
        let (status, bits) = ops::completed_value_in(self.cell.0, self.handle)
            .expect("a Task holds a valid handle")?;
        Some(self.outcome(status, bits))
    }

    #[cold]
    fn canceled_now(&self) -> Error {
        Error::canceled(ops::cancel_token(self.handle).ok().flatten())
    }

    #[cold]
    fn error_now(&self) -> Error {
        Error::from_faults(ops::errors(self.handle).unwrap_or_default())
    }

    /// Blocks until the task completes and returns its outcome (Result / Wait): the
    /// value, or the error (the one error, or an aggregate of several), or a canceled
    /// error.
    ///
    /// ```
    /// assert_eq!(tapir::run(|| "done".to_string()).wait(), Ok("done".to_string()));
    /// ```
    pub fn wait(&self) -> Result<T, Error> {
        self.wait_completed();
        self.try_result().expect("completed")
    }

    /// As [`wait`](Task::wait), giving up after `timeout` (None then).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<T, Error>> {
        if self.wait_completed_timeout(timeout) {
            self.try_result()
        } else {
            None
        }
    }

    /// The error of a faulted task (the one error, or an aggregate of several) or of a
    /// canceled one; None while pending or after success.
    pub fn error(&self) -> Option<Error> {
        self.try_result().and_then(Result::err)
    }
}

impl<T: Send + 'static> Task<T> {
    /// A task that has already succeeded with `value` (Task.FromResult).
    ///
    /// ```
    /// let t = tapir::Task::from_result(vec![1, 2, 3]);
    /// assert_eq!(t.wait(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn from_result(value: T) -> Task<T> {
        let (bits, destroy) = value::encode(value);
        let (h, cell) = ops::from_value_in(bits, destroy);
        Task::from_parts(h, cell)
    }
}

impl Task<()> {
    /// The shared, already-succeeded task (Task.CompletedTask): no new object.
    ///
    /// ```
    /// assert!(tapir::Task::completed().is_completed());
    /// ```
    pub fn completed() -> Task<()> {
        Task::from_handle(ops::completed_task())
    }
}

impl Task<*mut c_void> {
    /// A succeeded task whose value is a C pointer (no destroy: the pointer is not
    /// owned by the task), for C code that reads `void *` results.
    pub fn from_ptr(p: *mut c_void) -> Task<*mut c_void> {
        Task::from_handle(ops::from_value(p as usize, None))
    }
}

impl<U: Clone + Send + Sync + 'static> Task<Task<U>> {
    /// A proxy for the inner task (Task.Unwrap): completes as the inner task does once
    /// this one succeeds, or as this one does if it does not.
    ///
    /// ```
    /// use tapir::Task;
    /// let nested: Task<Task<u8>> = Task::from_result(1u8).continue_with(|_| Task::from_result(2u8));
    /// assert_eq!(nested.unwrap().wait(), Ok(2));
    /// ```
    pub fn unwrap(&self) -> Task<U> {
        let source = super::source::CompletionSource::<U>::new();
        let out = source.task();
        let sync = ContinuationOptions::new().execute_synchronously();
        self.on_complete_with(&sync, move |outer| match outer.try_result() {
            Some(Ok(inner)) => {
                let _ = source.set_from_task(&inner);
            }
            Some(Err(e)) => {
                let _ = source.try_set_error(e);
            }
            None => unreachable!("completed"),
        })
        .expect("valid options");
        out
    }
}

impl<T: 'static> Clone for Task<T> {
    fn clone(&self) -> Task<T> {
        ops::task_retain_in(self.cell.0, self.handle).expect("tapir: a task has too many handles");
        Task::from_parts(self.handle, self.cell.0)
    }
}

impl<T: 'static> Drop for Task<T> {
    fn drop(&mut self) {
        if self.reg.at != NONE {
            self.unregister();
        }
        let _ = ops::task_release_in(self.cell.0, self.handle);
    }
}

impl<T: 'static> PartialEq for Task<T> {
    /// Two tasks are equal when they are the same task.
    fn eq(&self, other: &Task<T>) -> bool {
        self.handle == other.handle
    }
}

impl<T: 'static> Eq for Task<T> {}

impl<T: 'static> std::hash::Hash for Task<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.handle.hash(state)
    }
}

impl<T: 'static> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("status", &self.status())
            .finish()
    }
}

impl<T: Clone + 'static> Future for Task<T> {
    type Output = Result<T, Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        let this = self.get_mut();
        // One validated read: a completed task's value; anything else out of line, so
        // that an await of a completed task is a few instructions where it is polled.
        match ops::await_read_in(this.cell.0, this.handle) {
            AwaitRead::Succeeded(bits) => {
                if this.reg.at != NONE {
                    this.forget_registration();
                }
                // SAFETY: as in `outcome`.
                Poll::Ready(Ok(unsafe { value::decode::<T>(bits) }))
            }
            read => this.poll_not_succeeded(read, cx),
        }
    }
}

impl<T: Clone + 'static> Task<T> {
    /// The outcome of a completed task from its validated read.
    #[inline(always)]
    fn outcome(&self, status: Final, bits: usize) -> Result<T, Error> {
        match status {
            // SAFETY: this Task keeps the task alive; its value is stored as T travels
            // (the constructors, or the caller of `from_raw`, guarantee it).
            Final::Succeeded => Ok(unsafe { value::decode::<T>(bits) }),
            Final::Faulted => Err(self.error_now()),
            Final::Canceled => Err(self.canceled_now()),
        }
    }

    /// A poll that found the task pending, faulted or canceled, or its handle stale.
    #[inline(never)]
    fn poll_not_succeeded(
        &mut self,
        read: AwaitRead,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Error>> {
        match read {
            AwaitRead::Pending(seen) if self.reg.at == NONE => self.register(cx, seen),
            AwaitRead::Pending(_) => self.poll_registered(cx),
            _ => self.poll_ended(),
        }
    }

    /// A pending poll with no registration: registers the waker (the first await).
    /// `seen` is the pending word the poll read.
    #[inline(always)]
    fn register(&mut self, cx: &mut Context<'_>, seen: Snapshot) -> Poll<Result<T, Error>> {
        let key = waker_key(cx.waker());
        match list::register_waker_in(self.cell.0, self.handle, seen, cx.waker().clone()) {
            Ok(WakerPlaced::Inline) => self.reg = Registration { at: INLINE, key },
            Ok(WakerPlaced::Node(node)) => {
                self.reg = Registration {
                    at: node.into_index() as u64 + 2,
                    key,
                }
            }
            // Completed meanwhile: nothing was registered.
            Ok(WakerPlaced::Completed) => return Poll::Ready(self.completed_now()),
            Err(s) => return Poll::Ready(Err(Error::from_status(s))),
        }
        Poll::Pending
    }

    /// A pending poll of a task registered by an earlier poll: nothing to do with the
    /// same waker; another waker replaces the registration.
    #[cold]
    #[inline(never)]
    fn poll_registered(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, Error>> {
        if self.reg.key == waker_key(cx.waker()) {
            return Poll::Pending; // already registered with this waker
        }
        // A removal that fails means the continuation ran or runs now: the task has
        // completed.
        self.unregister();
        match ops::await_read_in(self.cell.0, self.handle) {
            AwaitRead::Pending(seen) => self.register(cx, seen),
            _ => Poll::Ready(self.completed_now()),
        }
    }

    /// A poll that found the task faulted or canceled (or its handle stale, which a
    /// `Task` never is unless C code released its reference).
    #[cold]
    #[inline(never)]
    fn poll_ended(&mut self) -> Poll<Result<T, Error>> {
        if self.reg.at != NONE {
            self.forget_registration();
        }
        Poll::Ready(self.completed_now())
    }

    #[cold]
    #[inline(never)]
    fn completed_now(&self) -> Result<T, Error> {
        self.try_result().expect("completed")
    }
}

/// Where and when a continuation runs (TaskContinuationOptions, a TaskScheduler and a
/// CancellationToken). The default: on the default pool, for any outcome, no token.
///
/// ```
/// use tapir::{ContinuationOptions, Scheduler};
/// let opts = ContinuationOptions::new()
///     .only_on_success()
///     .scheduler(&Scheduler::inline())
///     .execute_synchronously();
/// # let _ = opts;
/// ```
#[derive(Clone, Default, Debug)]
pub struct ContinuationOptions {
    flags: u32,
    scheduler: Option<Scheduler>,
    token: Option<CancellationToken>,
}

impl ContinuationOptions {
    /// The defaults.
    pub fn new() -> ContinuationOptions {
        ContinuationOptions::default()
    }
    /// Run inline on the completing thread when the scheduler allows
    /// (ExecuteSynchronously).
    pub fn execute_synchronously(mut self) -> Self {
        self.flags |= continuation::EXECUTE_SYNCHRONOUSLY;
        self
    }
    /// Run only if the task succeeded (OnlyOnRanToCompletion).
    pub fn only_on_success(mut self) -> Self {
        self.flags |= continuation::ONLY_ON_SUCCESS;
        self
    }
    /// Run only if the task faulted (OnlyOnFaulted).
    pub fn only_on_faulted(mut self) -> Self {
        self.flags |= continuation::ONLY_ON_FAULTED;
        self
    }
    /// Run only if the task was canceled (OnlyOnCanceled).
    pub fn only_on_canceled(mut self) -> Self {
        self.flags |= continuation::ONLY_ON_CANCELED;
        self
    }
    /// Do not run if the task succeeded (NotOnRanToCompletion).
    pub fn not_on_success(mut self) -> Self {
        self.flags |= continuation::NOT_ON_SUCCESS;
        self
    }
    /// Do not run if the task faulted (NotOnFaulted).
    pub fn not_on_faulted(mut self) -> Self {
        self.flags |= continuation::NOT_ON_FAULTED;
        self
    }
    /// Do not run if the task was canceled (NotOnCanceled).
    pub fn not_on_canceled(mut self) -> Self {
        self.flags |= continuation::NOT_ON_CANCELED;
        self
    }
    /// With a token: the continuation task stays pending until this task completes,
    /// then ends canceled (LazyCancellation).
    pub fn lazy_cancellation(mut self) -> Self {
        self.flags |= continuation::LAZY_CANCELLATION;
        self
    }
    /// A hint that the body blocks for long (LongRunning); invalid with
    /// [`execute_synchronously`](ContinuationOptions::execute_synchronously).
    pub fn long_running(mut self) -> Self {
        self.flags |= continuation::LONG_RUNNING;
        self
    }
    /// The continuation task's own continuations never run inline
    /// (RunContinuationsAsynchronously).
    pub fn run_continuations_asynchronously(mut self) -> Self {
        self.flags |= continuation::RUN_CONTINUATIONS_ASYNCHRONOUSLY;
        self
    }
    /// Where the continuation runs (default: the default pool).
    pub fn scheduler(mut self, scheduler: &Scheduler) -> Self {
        self.scheduler = Some(scheduler.clone());
        self
    }
    /// A token that cancels the continuation: once it is canceled the body never runs
    /// and the continuation task ends canceled.
    pub fn token(mut self, token: &CancellationToken) -> Self {
        self.token = Some(token.clone());
        self
    }

    fn parts(
        &self,
    ) -> Result<
        (
            u32,
            Option<crate::core::task::schedule::SchedRef>,
            Option<crate::core::cancel::TokenRef>,
        ),
        Error,
    > {
        if !continuation::validate_flags(self.flags) {
            return Err(Error::from_status(Status::InvalidArgument));
        }
        Ok((
            self.flags,
            self.scheduler.as_ref().map(Scheduler::sched_ref),
            self.token.as_ref().map(CancellationToken::token_ref),
        ))
    }
}

/// Drops a box made by `Box::into_raw` (the destroy of a closure's user data).
pub(crate) unsafe extern "C" fn drop_box<B>(p: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw of a `B`; the library calls destroy once.
        drop(unsafe { Box::from_raw(p.cast::<B>()) });
    }));
}

/// `on_complete`'s callback: runs the closure with the completed task (lent).
unsafe extern "C" fn notify_tramp<T: 'static, F: FnOnce(&Task<T>) + Send>(
    data: *mut c_void,
    task: *const c_void,
) {
    // SAFETY: `data` is the `Box<Option<F>>` registered with this trampoline; the
    // library calls fn at most once and destroy (which frees the box) after it.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    let Some(f) = slot.take() else { return };
    let h = Handle::from_bits(task as usize as u64).expect("a lent task handle");
    let t = Task::<T>::lent(h);
    let _ = catch_unwind(AssertUnwindSafe(|| f(&t)));
}

/// `continue_with`'s callback: runs the body and completes `next` with its result.
unsafe extern "C" fn continue_tramp<
    T: 'static,
    U: Send + 'static,
    F: FnOnce(&Task<T>) -> Result<U, Error> + Send,
>(
    data: *mut c_void,
    antecedent: *const c_void,
    next: *const c_void,
) {
    // SAFETY: as in `notify_tramp`.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    let Some(f) = slot.take() else { return };
    let ant = Task::<T>::lent(Handle::from_bits(antecedent as usize as u64).expect("lent"));
    let next = Handle::from_bits(next as usize as u64).expect("a lent source handle");
    complete_source::<U>(next, catch_unwind(AssertUnwindSafe(|| f(&ant))));
}

/// Completes the source `next` (a valid source handle) with what a Rust body produced.
pub(crate) fn complete_source<U: 'static>(
    next: Handle,
    result: std::thread::Result<Result<U, Error>>,
) {
    match result {
        Ok(Ok(v)) => {
            let (bits, destroy) = value::encode(v);
            if ops::source_set_value(next, bits, destroy).is_err() {
                value::reclaim::<U>(bits, destroy);
            }
        }
        Ok(Err(e)) => {
            let _ = ops::source_complete(next, e.into_outcome());
        }
        Err(p) => {
            let _ = ops::source_complete(next, Outcome::Faulted(vec![panicked(p)]));
        }
    }
}
