//! `trait Schedule`: the only way the engine sees a scheduler. The engine posts jobs
//! and asks whether a continuation may run inline here; it never names a scheduler
//! type, and no scheduler names anything above the engine.

use std::cell::Cell;

use super::work::Job;

/// A place where jobs run.
pub(crate) trait Schedule: Sync + 'static {
    /// Takes a job to run later, or discards it (dropping a job discards it: its task
    /// fails with SCHEDULER_ERROR, its user data is destroyed).
    fn post(&'static self, job: Job);
    /// True when a job for this scheduler may run inline on the current thread now.
    fn inline_allowed(&'static self) -> bool;
    /// Adds a library reference (the caller owns one).
    fn acquire(&'static self);
    /// Drops a library reference.
    fn release(&'static self);
    /// The scheduler as `Any`, for the faces to find their handle for it.
    fn as_any(&'static self) -> &'static dyn std::any::Any;
    /// The id the tracing hooks report for it: 0 for the default pool, otherwise the
    /// value of its handle.
    fn trace_id(&'static self) -> u64 {
        0
    }
}

/// A library reference to a scheduler.
pub(crate) struct SchedRef(&'static dyn Schedule);

impl SchedRef {
    /// Adopts a reference the caller already counted on `s`.
    pub(crate) fn adopt(s: &'static dyn Schedule) -> SchedRef {
        SchedRef(s)
    }
    pub(crate) fn get(&self) -> &'static dyn Schedule {
        self.0
    }
    pub(crate) fn post(&self, job: Job) {
        self.0.post(job)
    }
    pub(crate) fn inline_allowed(&self) -> bool {
        self.0.inline_allowed()
    }
    /// True when both name the same scheduler.
    pub(crate) fn is(&self, s: &'static dyn Schedule) -> bool {
        std::ptr::addr_eq(self.0, s)
    }
}

impl Clone for SchedRef {
    fn clone(&self) -> Self {
        self.0.acquire();
        SchedRef(self.0)
    }
}

impl Drop for SchedRef {
    fn drop(&mut self) {
        self.0.release();
    }
}

thread_local! {
    /// The scheduler running work on this thread, if any.
    static CURRENT: Cell<Option<&'static dyn Schedule>> = const { Cell::new(None) };
}

/// Marks this thread as running work for a scheduler until dropped.
pub(crate) struct Running(Option<&'static dyn Schedule>);

impl Running {
    pub(crate) fn enter(s: &'static dyn Schedule) -> Running {
        Running(CURRENT.replace(Some(s)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

/// The scheduler running the current callback, as a library reference.
pub(crate) fn current() -> Option<SchedRef> {
    let s = CURRENT.get()?;
    // The runner holds a reference while its job runs, so the scheduler exists.
    s.acquire();
    Some(SchedRef(s))
}

/// The tracing id of the scheduler running work on this thread: 0 for the default
/// pool (or none), otherwise what [`Schedule::trace_id`] says.
pub(crate) fn current_trace_id() -> u64 {
    CURRENT.get().map_or(0, |s| s.trace_id())
}

/// True when `s` is the scheduler running the current callback.
pub(crate) fn is_current(s: &'static dyn Schedule) -> bool {
    CURRENT.get().is_some_and(|c| std::ptr::addr_eq(c, s))
}
