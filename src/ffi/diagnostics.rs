//! Tracing hooks, task names and the pending-task report.

use std::ffi::{CStr, c_char, c_void};
use std::mem::offset_of;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::boundary::{ffi_boundary, require, try_core};
use super::handle::from_ptr;
use super::tapir_task;
use crate::core::status::Status;
use crate::core::task::{diag, trace};

/// An event about task `task_id` (the value tapir_task_id reports for it): made, or
/// one of its continuation callbacks starting or returning.
pub type tapir_trace_task_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, task_id: u64)>;
/// A task completed with `status` (a tapir_task_status value).
pub type tapir_trace_completed_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, task_id: u64, status: i32)>;
/// Work `work_id` (a number unique among traced work) was posted to, or starts or
/// ends on, scheduler `scheduler_id`: 0 for the default pool, otherwise the value of
/// that scheduler's handle (`(uint64_t)(uintptr_t)scheduler`).
pub type tapir_trace_work_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, work_id: u64, scheduler_id: u64)>;

/// The tracing hooks (every callback optional). Set `struct_size =
/// sizeof(tapir_trace_hooks)`; fields past `struct_size` are treated as NULL, so the
/// struct can grow.
///
/// Events: a task made (pending, or completed from birth) and completed; a
/// continuation callback (on_complete, continue_with) starting and returning, with
/// the id of the task it continues; work (a continuation or body run by a scheduler,
/// a tapir_scheduler_post item) posted, started and finished, with the same work id
/// in all three. Hooks run on the thread where the event happens (a pool thread,
/// inside a completion, ...) and never under a tapir lock; they may call tapir
/// functions but must not block or unwind.
#[repr(C)]
pub struct tapir_trace_hooks {
    /// `sizeof(tapir_trace_hooks)` as the caller compiled it.
    pub struct_size: u32,
    /// Passed to every hook.
    pub user_data: *mut c_void,
    /// A task was made.
    pub task_created: tapir_trace_task_fn,
    /// A task completed.
    pub task_completed: tapir_trace_completed_fn,
    /// A continuation callback of task `task_id` starts.
    pub continuation_started: tapir_trace_task_fn,
    /// That callback returned.
    pub continuation_finished: tapir_trace_task_fn,
    /// Work was posted to a scheduler.
    pub work_posted: tapir_trace_work_fn,
    /// Work starts running on this thread.
    pub work_started: tapir_trace_work_fn,
    /// Work returned.
    pub work_finished: tapir_trace_work_fn,
}

/// Sets the tracing hooks (copied), or clears them with NULL. While none are set,
/// each event costs one relaxed load. Events under way on other threads when this
/// is called may still reach the previous hooks, so keep their user data valid for as
/// long as the library is loaded.
///
/// Threading: any thread. Blocking: briefly takes a lock.
/// Errors: TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` smaller than the two first
/// fields).
///
/// # Safety
/// `hooks` must be NULL or point to `struct_size` readable bytes; each non-NULL hook
/// must be callable with `user_data` from any thread until the library is unloaded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_set_trace_hooks(hooks: *const tapir_trace_hooks) -> Status {
    ffi_boundary! {
        if hooks.is_null() {
            trace::set(None);
            return Status::Ok;
        }
        // SAFETY: the caller guarantees the first field is readable.
        let size = unsafe { (*hooks).struct_size } as usize;
        let covers = |off: usize| size >= off + std::mem::size_of::<usize>();
        if !covers(offset_of!(tapir_trace_hooks, user_data)) {
            return Status::InvalidArgument;
        }
        // SAFETY: each field is read only when `struct_size` says the caller's struct
        // has it.
        let read = unsafe {
            let h = &*hooks;
            trace::Hooks {
                user_data: h.user_data,
                task_created: covers(offset_of!(tapir_trace_hooks, task_created)).then_some(h.task_created).flatten(),
                task_completed: covers(offset_of!(tapir_trace_hooks, task_completed)).then_some(h.task_completed).flatten(),
                continuation_started: covers(offset_of!(tapir_trace_hooks, continuation_started))
                    .then_some(h.continuation_started)
                    .flatten(),
                continuation_finished: covers(offset_of!(tapir_trace_hooks, continuation_finished))
                    .then_some(h.continuation_finished)
                    .flatten(),
                work_posted: covers(offset_of!(tapir_trace_hooks, work_posted)).then_some(h.work_posted).flatten(),
                work_started: covers(offset_of!(tapir_trace_hooks, work_started)).then_some(h.work_started).flatten(),
                work_finished: covers(offset_of!(tapir_trace_hooks, work_finished)).then_some(h.work_finished).flatten(),
            }
        };
        trace::set(Some(read));
        Status::Ok
    }
}

/// Names a task for the pending-task report (replacing an earlier name); NULL `name`
/// removes it. The name is copied (UTF-8 expected; invalid bytes are replaced) and goes
/// with the task.
///
/// Threading: any thread. Blocking: briefly takes a lock.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_set_name(
    task: *const tapir_task,
    name: *const c_char,
) -> Status {
    ffi_boundary! {
        require!(task);
        let h = try_core!(from_ptr(task).ok_or(Status::NullArgument));
        let name = (!name.is_null()).then(|| {
            // SAFETY: the caller guarantees a NUL-terminated string.
            unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()
        });
        try_core!(diag::set_name(h, name.as_deref()));
        Status::Ok
    }
}

/// Copies the task's name into `buffer` (at most `size` bytes, NUL-terminated when
/// `size` > 0, cut if it does not fit) and returns its full length in bytes, or 0 when
/// the task has no name or on error (see tapir_last_status).
///
/// Threading: any thread. Blocking: briefly takes a lock.
///
/// # Safety
/// `buffer` must be NULL (with `size` 0) or point to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_get_name(
    task: *const tapir_task,
    buffer: *mut c_char,
    size: usize,
) -> usize {
    ffi_boundary! {
        require!(task);
        let h = try_core!(from_ptr(task).ok_or(Status::NullArgument));
        let Some(name) = try_core!(diag::name(h)) else { return 0 };
        if !buffer.is_null() && size > 0 {
            let n = name.len().min(size - 1);
            // SAFETY: `buffer` has `size` writable bytes; `n + 1 <= size`.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr(), buffer.cast::<u8>(), n);
                *buffer.add(n) = 0;
            }
        }
        name.len()
    }
}

/// Turns on (true) or off the recording of each new task's creation order and time,
/// which the pending-task report shows (tasks made while it is off are listed without
/// them). It costs a lock and a table entry per task while on: diagnostics only.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_track_tasks(on: bool) {
    diag::set_tracking(on);
}

/// Writes the report of the tasks still pending to `out` (NULL: writes nothing) and
/// returns how many there are: one line each with its id, its creation number and age
/// when tracked (tapir_debug_track_tasks), and its name (tapir_task_set_name), oldest
/// first. Cost is proportional to the number of tasks ever allocated: diagnostics
/// only. Tasks completing while it runs may or may not be listed.
///
/// Threading: any thread. Blocking: writes to `out`.
///
/// # Safety
/// `out` must be NULL or an open, writable `FILE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_debug_report_pending(out: *mut libc::FILE) -> usize {
    ffi_boundary! {
        let (count, text) = diag::report_pending();
        // SAFETY: forwarded caller guarantee.
        unsafe { write_to(out, &text) };
        count
    }
}

/// Writes the report of every live task to `out` (NULL: writes nothing) and returns
/// how many there are: one line each with its id, its status (pending, succeeded,
/// faulted, canceled), how many task handles are outstanding, how many sources (source
/// handles, and the library's own producers: the continuation that will complete a
/// continuation's task counts as one), whether its continuations are running (then
/// its handle stays valid for them, unless all of them are the library's own), whether
/// the library otherwise holds it and how (internal references: a registration, a combinator or a call that has not
/// finished with it; extra producers: forwards from tapir_source_set_from_task still
/// waiting on the task they forward from), and its creation number, age and name as
/// in tapir_debug_report_pending. After a program has released everything, a task
/// still listed is a leak, and the handle counts say whose. Same cost and caveat as
/// tapir_debug_report_pending.
///
/// Threading: any thread. Blocking: writes to `out`.
///
/// # Safety
/// `out` must be NULL or an open, writable `FILE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_debug_report_live(out: *mut libc::FILE) -> usize {
    ffi_boundary! {
        let (count, text) = diag::report_live();
        // SAFETY: forwarded caller guarantee.
        unsafe { write_to(out, &text) };
        count
    }
}

/// Makes tapir_shutdown write the pending-task report (as tapir_debug_report_pending)
/// to `out` when tasks are still pending after its threads have stopped; NULL turns
/// it off.
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `out` must be NULL or an open, writable `FILE` that stays open until it is replaced
/// or the library is unloaded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_debug_report_at_shutdown(out: *mut libc::FILE) {
    SHUTDOWN_REPORT.store(out.cast(), Ordering::Release);
}

static SHUTDOWN_REPORT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// tapir_shutdown's report, when asked for.
pub(crate) fn shutdown_report() {
    let out = SHUTDOWN_REPORT.load(Ordering::Acquire).cast::<libc::FILE>();
    if out.is_null() {
        return;
    }
    let (count, text) = diag::report_pending();
    if count > 0 {
        // SAFETY: tapir_debug_report_at_shutdown's caller keeps the FILE open.
        unsafe { write_to(out, &text) };
    }
}

/// # Safety
/// `out` must be NULL or an open, writable `FILE`.
unsafe fn write_to(out: *mut libc::FILE, text: &str) {
    if out.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller; the buffer holds `text.len()` bytes.
    unsafe {
        libc::fwrite(text.as_ptr().cast(), 1, text.len(), out);
        libc::fflush(out);
    }
}
