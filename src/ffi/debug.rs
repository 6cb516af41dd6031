//! Version, last status, diagnostics and hooks.

use std::ffi::{c_char, c_void};

use super::boundary::{ffi_boundary, require, try_core};
use super::handle::from_ptr;
use super::{tapir_error, tapir_source, tapir_task};
use crate::core::hooks::{self, UnobservedFn};
use crate::core::status::Status;
use crate::core::task::{ops, outcome::Outcome};

/// Called when the last reference to a faulted task whose errors nobody read is
/// released: `errors[0..count]` are its errors (borrowed for the call), `task_id` what
/// tapir_task_id reported. Runs on the releasing thread; must not unwind.
pub type tapir_unobserved_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        task_id: u64,
        errors: *const *const tapir_error,
        count: usize,
    ),
>;

/// The library version, e.g. "0.1.0" (static, NUL-terminated; never free it).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Why the last call on this thread that returns a bool, an integer or a pointer
/// failed (NULL, stale or wrong-kind handle, ...). Only meaningful right after such a
/// call reported failure; successful calls do not reset it.
///
/// Threading: per thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_last_status() -> Status {
    super::boundary::last()
}

/// Counts live objects of `kind` (a `tapir_object_kind` value): the tool tests use to
/// prove nothing leaks. Returns 0 for an unknown kind. Cost is proportional to the
/// number of objects ever allocated: diagnostics only, not for hot paths.
///
/// Threading: any thread (the count is a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_live_objects(kind: i32) -> usize {
    ffi_boundary! { crate::core::registry::live(kind) }
}

/// The number of pending timers (delays, timeouts, cancel_after): lets tests prove a
/// canceled timer frees its entry at once. Diagnostics only.
///
/// Threading: any thread. Blocking: briefly takes the timer lock.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_pending_timers() -> usize {
    ffi_boundary! { crate::core::time::timer::pending_count() }
}

/// The number of continuations registered on `task` that have not run yet (0 once it
/// completed, or for a NULL or invalid handle: see tapir_last_status). Lets tests see
/// that a registration landed, or that removing it freed it. Diagnostics only.
///
/// Threading: any thread (a snapshot). Blocking: never (briefly holds the task's word).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_task_continuations(task: *const tapir_task) -> usize {
    ffi_boundary! {
        require!(task);
        try_core!(crate::core::task::list::pending_count(from_ptr(task).expect("non-NULL")))
    }
}

/// Installs the process-wide unobserved-error hook (TaskScheduler.UnobservedTaskException);
/// a NULL `hook` removes it. tapir calls it deterministically: when the last reference
/// to a faulted task whose errors were never read (tapir_task_error*, a FAULTED result
/// from tapir_task_result or a wait, or consumption by a combinator) is released.
///
/// Ownership: `user_data` is not owned. Threading: any thread; the hook runs on the
/// releasing thread. Blocking: waits for a hook call in progress on another thread.
/// Errors: none (TAPIR_STATUS_OK).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_set_unobserved_error_hook(
    hook: tapir_unobserved_fn,
    user_data: *mut c_void,
) -> Status {
    ffi_boundary! {
        let hook = hook.map(|f| {
            // SAFETY: same ABI; only the pointee type of the errors array differs.
            let f: UnobservedFn = unsafe {
                std::mem::transmute::<
                    unsafe extern "C" fn(*mut c_void, u64, *const *const tapir_error, usize),
                    UnobservedFn,
                >(f)
            };
            (f, user_data)
        });
        hooks::set_unobserved_hook(hook);
        Status::Ok
    }
}

/// Test hook: panics inside tapir on purpose, with `source`'s task as "the task
/// involved". The boundary catches the panic, the task fails with an error of code
/// TAPIR_STATUS_PANIC, and the call returns TAPIR_STATUS_PANIC.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_PANIC.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_panic(source: *const tapir_source) -> Status {
    ffi_boundary! {
        require!(source);
        let h = from_ptr(source).expect("non-NULL");
        if ops::source_task(h).map(ops::task_release).is_err() {
            return Status::InvalidHandle;
        }
        let caught = std::panic::catch_unwind(|| panic!("tapir_debug_panic: deliberate test panic"));
        if caught.is_err() {
            let _ = ops::source_complete(h, Outcome::library_error(
                Status::Panic,
                "a panic inside tapir failed this task",
            ));
        }
        Status::Panic
    }
}
