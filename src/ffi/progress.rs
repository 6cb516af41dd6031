//! `tapir_progress`: progress reporting (Progress<T>).

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::handle::{from_ptr, to_ptr, write};
use super::status::from_result;
use super::{tapir_destroy_fn, tapir_scheduler};
use crate::core::callback::UserData;
use crate::core::primitives::progress::{self, ReportFn};
use crate::core::sched;
use crate::core::status::Status;

/// A progress reporter: each report runs a handler on a chosen scheduler (Progress<T>).
pub struct tapir_progress {
    _opaque: [u8; 0],
}

/// Handles one reported value; `value` is borrowed for the call (its destroy, if any,
/// runs after the handler returns). Must not unwind.
pub type tapir_progress_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, value: *mut c_void)>;

/// Creates a progress reporter whose reports run `handler(user_data, value)` on
/// `scheduler` (NULL: the default pool; pass a manual scheduler to receive them on a
/// UI or game main thread). On a multi-threaded scheduler, reports may run concurrently
/// and out of order, as with .NET's Progress<T> on the thread pool.
///
/// Ownership: borrows `scheduler`; on TAPIR_STATUS_OK tapir owns `user_data` (destroyed
/// after the reporter is released and its last queued report ran); `*progress_out`
/// receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`handler`, `progress_out`), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `progress_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_progress_new(
    scheduler: *const tapir_scheduler,
    handler: tapir_progress_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    progress_out: *mut *const tapir_progress,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(handler);
        require!(progress_out);
        let s = try_core!(from_ptr(scheduler).map(sched::retain_ref).transpose());
        let f: ReportFn = f;
        let h = progress::new(s, f, UserData::new(user_data, destroy));
        // SAFETY: non-NULL checked; the caller guarantees it is writable.
        unsafe { write(progress_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Reports `value`: posts the handler to the reporter's scheduler and returns at once.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `value` and calls `value_destroy(value)`
/// (if non-NULL) once after the handler ran (or if the report is discarded unrun).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_progress_report(
    progress: *const tapir_progress,
    value: *mut c_void,
    value_destroy: tapir_destroy_fn,
) -> Status {
    ffi_boundary! {
        require!(progress);
        let h = from_ptr(progress).expect("non-NULL");
        // A refused report destroys nothing: the value goes back to the caller.
        from_result(progress::report(h, UserData::new(value, value_destroy)))
    }
}

/// Adds a reference; returns `progress`, or NULL if NULL or invalid.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_progress_retain(progress: *const tapir_progress) -> *const tapir_progress {
    ffi_boundary! {
        require!(progress);
        try_core!(progress::retain(from_ptr(progress).expect("non-NULL")));
        progress
    }
}

/// Releases a reference; reports already posted still run. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_progress_release(progress: *const tapir_progress) -> Status {
    ffi_boundary! {
        match from_ptr(progress) {
            None => Status::Ok,
            Some(h) => from_result(progress::release(h)),
        }
    }
}
