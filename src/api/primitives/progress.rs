//! [`Progress<T>`](Progress) (.NET's `Progress<T>`).

use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::core::callback::{DestroyFn, UserData};
use crate::core::memory::Handle;
use crate::core::primitives::progress as core_progress;

use super::super::scheduler::Scheduler;
use super::super::task::drop_box;
use super::retained;

/// A progress reporter (.NET's `Progress<T>` / `IProgress<T>.Report`): each
/// [`report`](Progress::report) posts the handler, with the value, to the reporter's
/// scheduler and returns at once.
///
/// The handler runs once per report, on the scheduler chosen at creation (the default
/// pool, or e.g. a [`Scheduler::manual`] the host drains on its UI thread, as .NET's
/// captured `SynchronizationContext`). On a pool, reports may run concurrently and out
/// of order; a single-threaded scheduler runs them in report order. A panic in the
/// handler is caught and discarded. A report its scheduler discards unrun (a closed
/// scheduler) drops its value without calling the handler.
///
/// `Clone` adds a reference to the same reporter. Reports already posted still run
/// after the last reference is dropped; the handler is dropped after the last ran.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tapir::{Progress, Scheduler};
///
/// let ui = Scheduler::manual();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let progress = Progress::on(&ui, move |pct: u8| s.lock().unwrap().push(pct));
/// progress.report(50);
/// progress.report(100);
/// assert!(seen.lock().unwrap().is_empty(), "posted, not run");
/// ui.run_pending(0, None).unwrap();
/// assert_eq!(*seen.lock().unwrap(), [50, 100]);
/// ```
pub struct Progress<T: Send + 'static> {
    handle: Handle,
    /// Values are moved to the handler's thread, never shared.
    _values: PhantomData<fn(T)>,
}

/// The handler's trampoline: moves the reported value out of its box and runs the
/// handler with it (the box goes with the report's destroy, after this).
unsafe extern "C" fn report_tramp<T, H: Fn(T) + Send + Sync>(
    data: *mut c_void,
    value: *mut c_void,
) {
    // SAFETY: `data` is the reporter's `Box<H>`, alive until its last report ran; `H:
    // Sync`, so reports running at once on two threads may share it.
    let handler = unsafe { &*data.cast::<H>() };
    // SAFETY: `value` is this report's own `Box<Option<T>>`, which only this call
    // reads, before the report's destroy frees it.
    let slot = unsafe { &mut *value.cast::<Option<T>>() };
    if let Some(v) = slot.take() {
        let _ = catch_unwind(AssertUnwindSafe(|| handler(v)));
    }
}

impl<T: Send + 'static> Progress<T> {
    /// A reporter whose handler runs on the default pool.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let p = tapir::Progress::new(move |n: u32| tx.lock().unwrap().send(n).unwrap());
    /// p.report(3);
    /// assert_eq!(rx.recv().unwrap(), 3);
    /// ```
    pub fn new<H: Fn(T) + Send + Sync + 'static>(handler: H) -> Progress<T> {
        Progress::make(None, handler)
    }

    /// A reporter whose handler runs on `scheduler`.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// let total = Arc::new(AtomicU32::new(0));
    /// let t = total.clone();
    /// let p = tapir::Progress::on(&tapir::Scheduler::inline(), move |n: u32| { t.fetch_add(n, Ordering::SeqCst); });
    /// p.report(2);
    /// assert_eq!(total.load(Ordering::SeqCst), 2, "the inline scheduler ran it in report");
    /// ```
    pub fn on<H: Fn(T) + Send + Sync + 'static>(scheduler: &Scheduler, handler: H) -> Progress<T> {
        Progress::make(Some(scheduler), handler)
    }

    fn make<H: Fn(T) + Send + Sync + 'static>(
        scheduler: Option<&Scheduler>,
        handler: H,
    ) -> Progress<T> {
        let data = Box::into_raw(Box::new(handler));
        let ud = UserData::new(data.cast(), Some(drop_box::<H> as DestroyFn));
        Progress {
            handle: core_progress::new(
                scheduler.map(Scheduler::sched_ref),
                report_tramp::<T, H>,
                ud,
            ),
            _values: PhantomData,
        }
    }

    /// Reports `value` (IProgress.Report): posts the handler with it to the reporter's
    /// scheduler and returns (an inline scheduler runs it now, on this thread).
    ///
    /// ```
    /// let p = tapir::Progress::on(&tapir::Scheduler::inline(), |s: String| assert_eq!(s, "half"));
    /// p.report("half".to_string());
    /// ```
    pub fn report(&self, value: T) {
        let p = Box::into_raw(Box::new(Some(value)));
        let ud = UserData::new(p.cast(), Some(drop_box::<Option<T>> as DestroyFn));
        // Refused only for a stale handle, which this value never holds; a refused
        // value comes back undestroyed and is reclaimed here.
        if core_progress::report(self.handle, ud).is_err() {
            // SAFETY: made by Box::into_raw above; the refusal gave it back.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl<T: Send + 'static> Clone for Progress<T> {
    /// Another reference to the same reporter.
    fn clone(&self) -> Progress<T> {
        retained(core_progress::retain(self.handle));
        Progress {
            handle: self.handle,
            _values: PhantomData,
        }
    }
}

impl<T: Send + 'static> Drop for Progress<T> {
    fn drop(&mut self) {
        let _ = core_progress::release(self.handle);
    }
}

impl<T: Send + 'static> std::fmt::Debug for Progress<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("handle", &self.handle.bits())
            .finish()
    }
}
