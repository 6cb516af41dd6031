//! [`CompletionSource<T>`]: the producer side of a task (TaskCompletionSource).

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::core::combinators;
use crate::core::memory::{Handle, Kind};
use crate::core::status::Status;
use crate::core::task::cell::TaskCell;
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::source_cell;
use crate::ffi::tapir_source;

use super::cancel::CancellationToken;
use super::error::Error;
use super::task::{CellRef, Task};
use super::value;

/// Completes its [`Task`] exactly once with a value, an error or cancellation
/// (TaskCompletionSource&lt;T&gt;).
///
/// Cloning adds a reference. When the last reference is dropped while the task is still
/// pending, the task fails with an error of code [`Status::BrokenPromise`] (a broken
/// promise): nothing waits for ever because its producer went away.
///
/// ```
/// use tapir::{CompletionSource, Status};
///
/// let s = CompletionSource::<String>::new();
/// let t = s.task();
/// s.set_result("ready".into()).unwrap();
/// assert_eq!(t.wait().unwrap(), "ready");
/// assert_eq!(s.set_result("again".into()).unwrap_err().status(), Some(Status::AlreadyCompleted));
///
/// let dropped = CompletionSource::<u8>::new();
/// let orphan = dropped.task();
/// drop(dropped);
/// assert_eq!(orphan.wait().unwrap_err().status(), Some(Status::BrokenPromise));
/// ```
pub struct CompletionSource<T: 'static> {
    handle: Handle,
    /// The cell `handle` names (see `Task`'s field of the same name).
    cell: CellRef,
    _value: PhantomData<Arc<T>>,
}

impl<T: 'static> CompletionSource<T> {
    /// A source and its pending task.
    pub fn new() -> CompletionSource<T> {
        let (h, cell) = ops::source_new_in(0, 0);
        CompletionSource::from_parts(h, cell)
    }

    /// A source and its task, made together (`oneshot::channel()`'s shape): what
    /// [`new`](CompletionSource::new) then [`task`](CompletionSource::task) give, with
    /// one atomic operation fewer.
    ///
    /// ```
    /// let (s, t) = tapir::CompletionSource::<u32>::with_task();
    /// s.resolve(7).unwrap();
    /// assert_eq!(t.wait(), Ok(7));
    /// ```
    pub fn with_task() -> (CompletionSource<T>, Task<T>) {
        let (s, t, cell) = ops::source_new_with_task_in(0, 0);
        (
            CompletionSource::from_parts(s, cell),
            Task::from_parts(t, cell),
        )
    }

    /// A source whose task never runs continuations inline on the thread that completes
    /// it (TaskCreationOptions.RunContinuationsAsynchronously): `set_result` returns
    /// before any awaiting code runs.
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::with_async_continuations();
    /// let t = s.task().continue_with(|t| t.wait().unwrap() * 2);
    /// s.set_result(21).unwrap(); // the continuation runs on the pool, not here
    /// assert_eq!(t.wait(), Ok(42));
    /// ```
    pub fn with_async_continuations() -> CompletionSource<T> {
        let (h, cell) = ops::source_new_in(ops::SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, 0);
        CompletionSource::from_parts(h, cell)
    }

    pub(crate) fn from_handle(handle: Handle) -> CompletionSource<T> {
        let cell = source_cell(handle).expect("a source handle the library made");
        CompletionSource::from_parts(handle, cell)
    }

    #[inline(always)]
    fn from_parts(handle: Handle, cell: &'static TaskCell) -> CompletionSource<T> {
        debug_assert!(handle.kind() == Some(Kind::Source));
        CompletionSource {
            handle,
            cell: CellRef(cell),
            _value: PhantomData,
        }
    }

    /// The task this source completes (the same task every time).
    pub fn task(&self) -> Task<T> {
        let h = ops::source_task_in(self.cell.0, self.handle)
            .expect("tapir: a task has too many handles");
        Task::from_parts(h, self.cell.0)
    }

    /// True once the task has completed (by this source or another clone of it).
    pub fn is_completed(&self) -> bool {
        self.cell.0.word.load().is_completed()
    }

    fn complete(&self, outcome: Outcome) -> Result<(), Error> {
        ops::source_complete(self.handle, outcome).map_err(Error::from_status)
    }

    /// Fails the task with `error` (SetException); an error for which
    /// [`Error::is_canceled`] is true cancels it instead (with that error's token), as an
    /// `OperationCanceledException` ending an async method does. Refused with
    /// [`Status::AlreadyCompleted`] when the task has completed.
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::new();
    /// let e = tapir::Error::new(9, "bad input");
    /// s.set_error(e.clone()).unwrap();
    /// assert_eq!(s.task().wait().unwrap_err(), e); // the same error object
    /// ```
    pub fn set_error(&self, error: Error) -> Result<(), Error> {
        self.complete(error.into_outcome())
    }

    /// As [`set_error`](CompletionSource::set_error), returning whether this call
    /// completed the task (TrySetException).
    pub fn try_set_error(&self, error: Error) -> bool {
        self.set_error(error).is_ok()
    }

    /// Fails the task with several errors, kept in order (SetException(IEnumerable)).
    /// Refused with [`Status::InvalidArgument`] for an empty list.
    ///
    /// ```
    /// use tapir::Error;
    /// let s = tapir::CompletionSource::<u8>::new();
    /// s.set_errors([Error::new(1, "a"), Error::new(2, "b")]).unwrap();
    /// assert_eq!(s.task().errors().len(), 2);
    /// ```
    pub fn set_errors(&self, errors: impl IntoIterator<Item = Error>) -> Result<(), Error> {
        let list: Vec<_> = errors.into_iter().map(|e| e.to_object()).collect();
        if list.is_empty() {
            return Err(Error::from_status(Status::InvalidArgument));
        }
        self.complete(Outcome::Faulted(list))
    }

    /// Cancels the task (SetCanceled).
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::new();
    /// s.set_canceled().unwrap();
    /// assert!(s.task().wait().unwrap_err().is_canceled());
    /// ```
    pub fn set_canceled(&self) -> Result<(), Error> {
        self.complete(Outcome::Canceled(None))
    }

    /// Cancels the task, recording `token` as the cause (SetCanceled(token)).
    pub fn set_canceled_by(&self, token: &CancellationToken) -> Result<(), Error> {
        self.complete(Outcome::Canceled(Some(token.token_ref())))
    }

    /// As [`set_canceled`](CompletionSource::set_canceled), returning whether this call
    /// completed the task (TrySetCanceled).
    pub fn try_set_canceled(&self) -> bool {
        self.set_canceled().is_ok()
    }

    /// Completes the task the way `task` completes, now or later: its value (shared,
    /// not copied), its errors or its cancellation. This is how a producer hands over
    /// to another task (an unwrap). Refused with [`Status::AlreadyCompleted`] when this
    /// source's task has completed.
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::new();
    /// let inner = tapir::CompletionSource::<u8>::new();
    /// s.set_from_task(&inner.task()).unwrap();
    /// inner.set_result(5).unwrap();
    /// assert_eq!(s.task().wait(), Ok(5));
    /// ```
    pub fn set_from_task(&self, task: &Task<T>) -> Result<(), Error> {
        combinators::set_from_task(self.handle, task.handle()).map_err(Error::from_status)
    }

    /// Completes the task with a value stored by the caller, as C code stores one.
    ///
    /// # Safety
    /// `value` must be stored the way `T` travels ([`value`](crate::api::value)), and
    /// `destroy`, if any, must be sound to call once with `value` from any thread. On
    /// `Err` the value is still the caller's (destroy was not called).
    pub unsafe fn set_raw_result(
        &self,
        value: *mut c_void,
        destroy: crate::ffi::tapir_destroy_fn,
    ) -> Result<(), Error> {
        ops::source_set_value(self.handle, value as usize, destroy).map_err(Error::from_status)
    }

    /// Gives the source to C: the `tapir_source` handle with this reference (+1), to be
    /// released with `tapir_source_release`. C may complete the task with
    /// `tapir_source_set_result` only with values stored the way `T` travels.
    pub fn into_raw(self) -> *const tapir_source {
        let me = std::mem::ManuallyDrop::new(self);
        me.handle.bits() as usize as *const tapir_source
    }

    /// The `tapir_source` handle, borrowed: valid while this source lives.
    pub fn as_raw(&self) -> *const tapir_source {
        self.handle.bits() as usize as *const tapir_source
    }

    /// Takes over a `tapir_source` reference (+1) made by C. None for NULL or a handle
    /// that is not a live source (the reference is then left alone).
    ///
    /// # Safety
    /// The caller owns the reference and gives it up; whoever reads the task must read
    /// its value as a `T` (see [`Task::from_raw`]).
    pub unsafe fn from_raw(p: *const tapir_source) -> Option<CompletionSource<T>> {
        let h = Handle::from_bits(p as usize as u64)?;
        let cell = source_cell(h).ok()?;
        cell.word
            .load()
            .source_handle_valid(h.generation())
            .then(|| CompletionSource::from_handle(h))
    }

    /// A new reference to the source a borrowed handle names (None for NULL or a handle
    /// that is not a live source).
    ///
    /// # Safety
    /// As for [`from_raw`](CompletionSource::from_raw), except that the caller keeps its
    /// reference.
    pub unsafe fn from_raw_borrowed(p: *const tapir_source) -> Option<CompletionSource<T>> {
        let h = Handle::from_bits(p as usize as u64)?;
        ops::source_retain(h).ok()?;
        Some(CompletionSource::from_handle(h))
    }
}

impl<T: Send + 'static> CompletionSource<T> {
    /// Completes the task with `value` (SetResult). Refused with
    /// [`Status::AlreadyCompleted`] when the task has completed (`value` is dropped).
    /// Synchronous continuations run before this returns, unless the source was made
    /// with [`with_async_continuations`](CompletionSource::with_async_continuations).
    pub fn set_result(&self, value: T) -> Result<(), Error> {
        let (bits, destroy) = value::encode(value);
        ops::source_set_value_in(self.cell.0, self.handle, bits, destroy).map_err(|s| {
            value::reclaim::<T>(bits, destroy);
            Error::from_status(s)
        })
    }

    /// Completes the task with `value` and gives up this source (a `set_result` followed
    /// by the drop, as a oneshot sender's `send` consumes it), with one atomic operation
    /// fewer: the completion's own store releases the source's reference. Refused with
    /// [`Status::AlreadyCompleted`] when the task has completed (`value` is dropped; the
    /// source is released all the same). Continuations run as for `set_result`.
    ///
    /// ```
    /// let s = tapir::CompletionSource::<String>::new();
    /// let t = s.task();
    /// s.resolve("done".into()).unwrap();
    /// assert_eq!(t.wait(), Ok("done".to_string()));
    ///
    /// let (s, t) = tapir::CompletionSource::<u8>::with_task();
    /// s.clone().resolve(1).unwrap();
    /// assert_eq!(s.resolve(2).unwrap_err().status(), Some(tapir::Status::AlreadyCompleted));
    /// assert_eq!(t.wait(), Ok(1));
    /// ```
    pub fn resolve(self, value: T) -> Result<(), Error> {
        let me = std::mem::ManuallyDrop::new(self);
        let (bits, destroy) = value::encode(value);
        ops::source_set_value_release_in(me.cell.0, me.handle, bits, destroy).map_err(|s| {
            value::reclaim::<T>(bits, destroy);
            Error::from_status(s)
        })
    }

    /// As [`set_result`](CompletionSource::set_result), returning whether this call
    /// completed the task (TrySetResult).
    ///
    /// ```
    /// let s = tapir::CompletionSource::<u8>::new();
    /// assert!(s.try_set_result(1));
    /// assert!(!s.try_set_result(2));
    /// assert_eq!(s.task().wait(), Ok(1));
    /// ```
    pub fn try_set_result(&self, value: T) -> bool {
        self.set_result(value).is_ok()
    }
}

impl CompletionSource<*mut c_void> {
    /// Completes the task with a C pointer that the task does not own (no destroy).
    ///
    /// ```
    /// use std::ffi::c_void;
    /// let s = tapir::CompletionSource::<*mut c_void>::new();
    /// s.set_ptr(0x10 as *mut c_void).unwrap();
    /// assert_eq!(s.task().wait(), Ok(0x10 as *mut c_void));
    /// ```
    pub fn set_ptr(&self, value: *mut c_void) -> Result<(), Error> {
        ops::source_set_value(self.handle, value as usize, None).map_err(Error::from_status)
    }
}

impl<T: 'static> Default for CompletionSource<T> {
    fn default() -> Self {
        CompletionSource::new()
    }
}

impl<T: 'static> Clone for CompletionSource<T> {
    fn clone(&self) -> Self {
        ops::source_retain_in(self.cell.0, self.handle)
            .expect("tapir: a task has too many source handles");
        CompletionSource::from_parts(self.handle, self.cell.0)
    }
}

impl<T: 'static> Drop for CompletionSource<T> {
    fn drop(&mut self) {
        let _ = ops::source_release_in(self.cell.0, self.handle);
    }
}

impl<T: 'static> std::fmt::Debug for CompletionSource<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionSource")
            .field("completed", &self.is_completed())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;
    use crate::api::task::ContinuationOptions;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn resolve_wakes_runs_continuations_and_releases_the_source() {
        // A registered waker (the inline slot), then two callbacks more (a list).
        let (s, mut t) = CompletionSource::<String>::with_task();
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut t).poll(&mut cx).is_pending());
        let ran = Arc::new(AtomicUsize::new(0));
        let sync = ContinuationOptions::new().execute_synchronously();
        for _ in 0..2 {
            let r = ran.clone();
            t.on_complete_with(&sync, move |t| {
                assert_eq!(t.try_result(), Some(Ok("v".to_string())));
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let raw = s.as_raw();
        s.resolve("v".into()).unwrap();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(
            std::pin::Pin::new(&mut t).poll(&mut cx),
            Poll::Ready(Ok("v".to_string()))
        );
        // The source's reference went with the completion: its handle is stale now.
        assert_eq!(
            crate::ffi::source::tapir_source_release(raw),
            crate::ffi::tapir_status::InvalidHandle
        );
    }

    #[test]
    fn a_waker_woken_from_inside_a_continuation_is_woken_once() {
        // B's completion runs inside A's synchronous continuation, a nested inline
        // frame: the waker takes the trampoline's nested path and still wakes at once.
        let (b, mut awaited) = CompletionSource::<u32>::with_task();
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut awaited).poll(&mut cx).is_pending());
        let (a, first) = CompletionSource::<u32>::with_task();
        let sync = ContinuationOptions::new().execute_synchronously();
        let seen = woken.clone();
        // A panic in the callback is caught and discarded, so what it saw is recorded
        // and checked outside: the wakes when B's resolve returned (none: usize::MAX).
        let inside = Arc::new(AtomicUsize::new(usize::MAX));
        let record = inside.clone();
        first
            .on_complete_with(&sync, move |t| {
                if b.resolve(t.try_result().unwrap().unwrap() + 1).is_ok() {
                    record.store(seen.0.load(Ordering::SeqCst), Ordering::SeqCst);
                }
            })
            .unwrap();
        a.resolve(1).unwrap();
        assert_eq!(
            inside.load(Ordering::SeqCst),
            1,
            "woken before A's callback returns"
        );
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            std::pin::Pin::new(&mut awaited).poll(&mut cx),
            Poll::Ready(Ok(2))
        );
        assert_eq!(
            woken.0.load(Ordering::SeqCst),
            1,
            "a ready poll registers nothing"
        );
    }

    #[test]
    fn resolve_without_a_task_tears_down_and_a_refused_value_is_dropped() {
        #[derive(Debug)]
        struct Drops(Arc<AtomicUsize>);
        impl Drop for Drops {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        // No task handle left: the completion's store is the last release.
        let s = CompletionSource::<Arc<Drops>>::new();
        s.resolve(Arc::new(Drops(drops.clone()))).unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the value went with its task"
        );
        // Completed already: refused, the value dropped, the source still released.
        let (s, t) = CompletionSource::<Arc<Drops>>::with_task();
        let other = s.clone();
        other.set_canceled().unwrap();
        let err = s.resolve(Arc::new(Drops(drops.clone()))).unwrap_err();
        assert_eq!(err.status(), Some(Status::AlreadyCompleted));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        let raw = other.into_raw();
        assert_eq!(
            crate::ffi::source::tapir_source_release(raw),
            crate::ffi::tapir_status::Ok,
            "one reference was left: the clone's"
        );
        assert!(t.wait().unwrap_err().is_canceled());
    }

    #[test]
    fn resolve_on_an_async_source_posts_its_continuations() {
        let s = CompletionSource::<u8>::with_async_continuations();
        let t = s.task().continue_with(|t| t.wait().unwrap() + 1);
        s.resolve(1).unwrap();
        assert_eq!(t.wait(), Ok(2));
    }
}
