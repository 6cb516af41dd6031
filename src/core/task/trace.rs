//! Tracing hooks: callbacks a host sets to see tasks made and completed, continuations
//! run, and work posted and run (to draw a timeline, count, or log).
//!
//! Every event site costs one relaxed load of [`ACTIVE`] and a not-taken branch while
//! no hook is set. A set of hooks is never freed while the library is loaded: a thread
//! that loaded the old pointer may still be calling through it, so replaced sets are
//! kept (a few dozen bytes each) and freed at unload.
//!
//! Events never fire under a tapir lock, and a hook may call tapir (it must not block:
//! it runs inside completions and on pool threads). Events for one task are ordered
//! (created before completed); across threads there is no order.

use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};

use crate::core::sync::Mutex;

/// `on_task_created(user_data, task_id)`.
pub type TaskFn = unsafe extern "C" fn(*mut c_void, u64);
/// `on_task_completed(user_data, task_id, status)` (a `tapir_task_status`).
pub type CompletedFn = unsafe extern "C" fn(*mut c_void, u64, i32);
/// `on_work_*(user_data, work_id, scheduler_id)`.
pub type WorkFn = unsafe extern "C" fn(*mut c_void, u64, u64);

/// The callbacks (each optional) and their user data.
#[derive(Clone, Copy)]
pub struct Hooks {
    pub user_data: *mut c_void,
    pub task_created: Option<TaskFn>,
    pub task_completed: Option<CompletedFn>,
    pub continuation_started: Option<TaskFn>,
    pub continuation_finished: Option<TaskFn>,
    pub work_posted: Option<WorkFn>,
    pub work_started: Option<WorkFn>,
    pub work_finished: Option<WorkFn>,
}

// SAFETY: `user_data` is the host's, promised callable from any thread with these hooks.
unsafe impl Send for Hooks {}
// SAFETY: as above; the struct is read-only once published.
unsafe impl Sync for Hooks {}

/// Bit of [`ACTIVE`]: hooks are set.
pub(crate) const TRACING: u8 = 1;
/// Bit of [`ACTIVE`]: per-task diagnostics (names, creation order) are kept.
pub(crate) const DIAGNOSTICS: u8 = 2;

/// What the event sites test: 0 on the fast path.
pub(crate) static ACTIVE: AtomicU8 = AtomicU8::new(0);
static HOOKS: AtomicPtr<Hooks> = AtomicPtr::new(std::ptr::null_mut());
/// Every set ever published, freed at unload.
static RETIRED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_WORK_ID: AtomicU64 = AtomicU64::new(1);

/// Sets (`Some`) or clears (`None`) the hooks. Events already under way on other
/// threads may still reach the previous set.
pub fn set(hooks: Option<Hooks>) {
    let mut retired = RETIRED.lock();
    let new = hooks.map_or(std::ptr::null_mut(), |h| Box::into_raw(Box::new(h)));
    let old = HOOKS.swap(new, Ordering::AcqRel);
    if !old.is_null() {
        retired.push(old as usize);
    }
    // The flag follows the pointer under the lock, so concurrent sets agree.
    if new.is_null() {
        ACTIVE.fetch_and(!TRACING, Ordering::Release);
    } else {
        ACTIVE.fetch_or(TRACING, Ordering::Release);
    }
}

/// Frees every set (the library is unloading; nothing calls into tapir any more).
pub(crate) fn release_memory() {
    let mut retired = RETIRED.lock();
    let current = HOOKS.swap(std::ptr::null_mut(), Ordering::AcqRel);
    ACTIVE.fetch_and(!TRACING, Ordering::Release);
    if !current.is_null() {
        retired.push(current as usize);
    }
    for p in retired.drain(..) {
        // SAFETY: each pointer came from Box::into_raw in `set` and is listed once.
        drop(unsafe { Box::from_raw(p as *mut Hooks) });
    }
}

/// True when any event or diagnostic is on: the one test on the fast path.
#[inline(always)]
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) != 0
}

#[inline]
fn hooks() -> Option<&'static Hooks> {
    // Acquire: pairs with the AcqRel swap in `set`, so the set's fields are visible.
    let p = HOOKS.load(Ordering::Acquire);
    // SAFETY: published sets are freed only at unload.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// A new work id when tracing (0 otherwise: untraced work).
#[inline]
pub(crate) fn work_id() -> u64 {
    if ACTIVE.load(Ordering::Relaxed) & TRACING == 0 {
        return 0;
    }
    NEXT_WORK_ID.fetch_add(1, Ordering::Relaxed)
}

macro_rules! emit {
    ($field:ident, $($arg:expr),*) => {
        if let Some(h) = hooks() {
            if let Some(f) = h.$field {
                // SAFETY: the host's hook, callable from any thread with its user data
                // (the contract of tapir_set_trace_hooks); it must not unwind.
                unsafe { f(h.user_data, $($arg),*) };
            }
        }
    };
}

/// A task was made (pending, or completed from birth).
#[cold]
pub(crate) fn task_created(task_id: u64) {
    emit!(task_created, task_id);
}

/// A task completed with `status` (a `tapir_task_status`).
#[cold]
pub(crate) fn task_completed(task_id: u64, status: i32) {
    emit!(task_completed, task_id, status);
}

/// A user continuation of `antecedent_id` starts.
#[cold]
pub(crate) fn continuation_started(antecedent_id: u64) {
    emit!(continuation_started, antecedent_id);
}

/// A user continuation of `antecedent_id` returned.
#[cold]
pub(crate) fn continuation_finished(antecedent_id: u64) {
    emit!(continuation_finished, antecedent_id);
}

/// Work `work_id` was posted to scheduler `scheduler_id` (0: the default pool).
#[cold]
pub(crate) fn work_posted(work_id: u64, scheduler_id: u64) {
    emit!(work_posted, work_id, scheduler_id);
}

/// Work `work_id` starts on this thread for scheduler `scheduler_id`.
#[cold]
pub(crate) fn work_started(work_id: u64, scheduler_id: u64) {
    emit!(work_started, work_id, scheduler_id);
}

/// Work `work_id` returned.
#[cold]
pub(crate) fn work_finished(work_id: u64, scheduler_id: u64) {
    emit!(work_finished, work_id, scheduler_id);
}
