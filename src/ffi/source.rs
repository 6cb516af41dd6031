//! `tapir_source`: completion sources (TaskCompletionSource).

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, try_core};
use super::error::retain_error;
use super::handle::{array, from_ptr, to_ptr, write};
use super::status::from_result;
use super::{tapir_cancel_token, tapir_destroy_fn, tapir_error, tapir_source, tapir_task};
use crate::core::cancel::TokenRef;
use crate::core::combinators;
use crate::core::error::ErrorRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;

/// Source flag: the task's continuations never run inline on the thread that completes
/// it (TaskCreationOptions.RunContinuationsAsynchronously).
pub const TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1;

fn source(s: *const tapir_source) -> Result<Handle> {
    from_ptr(s).ok_or(Status::NullArgument)
}

/// Creates a completion source and its pending task.
///
/// `flags`: 0 or TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY. `state` is an opaque
/// user value the task reports back (`tapir_task_state`, Task.AsyncState); it is not
/// owned or freed by tapir.
/// Ownership: `*source_out` receives a new reference. Releasing the last source
/// reference of a pending task fails the task with TAPIR_STATUS_BROKEN_PROMISE.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`source_out`), TAPIR_STATUS_INVALID_ARGUMENT
/// (unknown flag bits).
///
/// # Safety
/// `source_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_source_new(
    flags: u32,
    state: *mut c_void,
    source_out: *mut *const tapir_source,
) -> Status {
    ffi_boundary! {
        require!(source_out);
        if flags & !TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0 {
            return Status::InvalidArgument;
        }
        let h = ops::source_new(flags, state as usize);
        // SAFETY: non-NULL checked above; the caller guarantees it is writable.
        unsafe { write(source_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Creates a completion source and its pending task in one call: what
/// tapir_source_new followed by tapir_source_task gives, for a binding that wants both
/// (each call across a managed boundary has a fixed cost).
///
/// `flags` and `state`: as tapir_source_new.
/// Ownership: `*source_out` and `*task_out` each receive a new reference, released
/// with tapir_source_release and tapir_task_release. Releasing the last source
/// reference of a pending task fails the task with TAPIR_STATUS_BROKEN_PROMISE.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`source_out` or `task_out`),
/// TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits). On an error nothing is created
/// and neither out-parameter is written.
///
/// # Safety
/// `source_out` and `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_source_new_with_task(
    flags: u32,
    state: *mut c_void,
    source_out: *mut *const tapir_source,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(source_out, task_out);
        if flags & !TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0 {
            return Status::InvalidArgument;
        }
        let (s, t) = ops::source_new_with_task(flags, state as usize);
        // SAFETY: both non-NULL checked above; the caller guarantees they are writable.
        unsafe {
            write(source_out, to_ptr(s));
            write(task_out, to_ptr(t));
        }
        Status::Ok
    }
}

/// Adds a reference to a source; returns `source`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_retain(source: *const tapir_source) -> *const tapir_source {
    ffi_boundary! {
        let h = try_core!(self::source(source));
        try_core!(ops::source_retain(h));
        source
    }
}

/// Releases a source reference. The last one, if the task is still pending, fails it
/// with an error of code TAPIR_STATUS_BROKEN_PROMISE (its continuations run). NULL is
/// a no-op.
///
/// Threading: any thread. Blocking: never (may run continuations and destroy callbacks).
/// Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a source).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_release(source: *const tapir_source) -> Status {
    ffi_boundary! {
        match from_ptr(source) {
            None => Status::Ok,
            Some(h) => from_result(ops::source_release(h)),
        }
    }
}

/// Releases a source reference and a task reference in one call: what
/// tapir_source_release(source) followed by tapir_task_release(task) does, for a binding
/// that holds both (each call across a managed boundary has a fixed cost). Either may be
/// NULL (a no-op for that one); they need not be a source and its own task.
///
/// Ownership: consumes one reference of each non-NULL argument.
/// Threading: any thread. Blocking: never (may run continuations and destroy callbacks,
/// as the two releases do: the source's first).
/// Errors: TAPIR_STATUS_INVALID_HANDLE when either is released already or of the wrong
/// kind; the other one is still released.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_release_with_task(
    source: *const tapir_source,
    task: *const tapir_task,
) -> Status {
    ffi_boundary! {
        let s = match from_ptr(source) {
            None => Status::Ok,
            Some(h) => from_result(ops::source_release(h)),
        };
        let t = match from_ptr(task) {
            None => Status::Ok,
            Some(h) => from_result(ops::task_release(h)),
        };
        if s != Status::Ok { s } else { t }
    }
}

/// Writes the source's task to `*task_out` (the same task every time).
///
/// Ownership: `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_source_task(
    source: *const tapir_source,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(source, task_out);
        let t = try_core!(ops::source_task(from_ptr(source).expect("non-NULL")));
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(t)) };
        Status::Ok
    }
}

fn set(source: *const tapir_source, outcome: Result<Outcome>) -> Status {
    let outcome = try_core!(outcome);
    match self::source(source) {
        Ok(h) => from_result(ops::source_complete(h, outcome)),
        Err(s) => {
            outcome.refuse();
            s
        }
    }
}

fn try_set(source: *const tapir_source, outcome: Result<Outcome>) -> bool {
    match set(source, outcome) {
        Status::Ok => true,
        other => {
            super::boundary::set_last(other);
            false
        }
    }
}

fn value(value: *mut c_void, destroy: tapir_destroy_fn) -> Result<Outcome> {
    Ok(Outcome::Value {
        value: value as usize,
        destroy,
    })
}

fn one_error(error: *const tapir_error) -> Result<Outcome> {
    Ok(Outcome::Faulted(vec![retain_error(error)?]))
}

/// # Safety
/// `errors` must point to `count` readable pointers when non-NULL.
unsafe fn error_list(errors: *const *const tapir_error, count: usize) -> Result<Outcome> {
    if errors.is_null() {
        return Err(Status::NullArgument);
    }
    if count == 0 {
        return Err(Status::InvalidArgument);
    }
    // SAFETY: guaranteed by the caller; non-NULL checked above.
    let handles = unsafe { array(errors, count) }.ok_or(Status::InvalidArgument)?;
    let list: Vec<ErrorRef> = handles
        .into_iter()
        .map(ErrorRef::retain)
        .collect::<Result<_>>()?;
    Ok(Outcome::Faulted(list))
}

fn canceled(token: *const tapir_cancel_token) -> Result<Outcome> {
    Ok(Outcome::Canceled(match from_ptr(token) {
        None => None,
        Some(t) => Some(TokenRef::retain(t)?),
    }))
}

/// Completes the task successfully with `value` (SetResult).
///
/// Ownership: on TAPIR_STATUS_OK the task owns `value` and calls `value_destroy(value)`
/// (if non-NULL) exactly once when its last reference goes. On any error the value
/// stays with the caller and `value_destroy` is never called.
/// Threading: any thread. Blocking: never; runs synchronous continuations inline
/// before returning (unless the source was created with
/// TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_ALREADY_COMPLETED (nothing changed).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_set_result(
    source: *const tapir_source,
    value: *mut c_void,
    value_destroy: tapir_destroy_fn,
) -> Status {
    ffi_boundary! {
        let h = try_core!(self::source(source));
        from_result(ops::source_set_value(h, value as usize, value_destroy))
    }
}

/// As tapir_source_set_result, returning true if this call completed the task and false
/// otherwise (already completed, or an invalid argument: see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_try_set_result(
    source: *const tapir_source,
    value: *mut c_void,
    value_destroy: tapir_destroy_fn,
) -> bool {
    ffi_boundary! { try_set(source, self::value(value, value_destroy)) }
}

/// Fails the task with one error (SetException).
///
/// Ownership: borrows `error`; the task takes its own reference.
/// Threading, blocking: as tapir_source_set_result.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`source` or `error` NULL),
/// TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_ALREADY_COMPLETED.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_set_error(
    source: *const tapir_source,
    error: *const tapir_error,
) -> Status {
    ffi_boundary! { set(source, one_error(error)) }
}

/// As tapir_source_set_error, returning whether this call completed the task.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_try_set_error(
    source: *const tapir_source,
    error: *const tapir_error,
) -> bool {
    ffi_boundary! { try_set(source, one_error(error)) }
}

/// Fails the task with the errors `errors[0..count]`, kept in that order.
///
/// Ownership: borrows the errors; the task takes its own references.
/// Threading, blocking: as tapir_source_set_result.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`source` or `errors` NULL),
/// TAPIR_STATUS_INVALID_ARGUMENT (`count` 0 or a NULL element),
/// TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_ALREADY_COMPLETED. The task is unchanged
/// on every error.
///
/// # Safety
/// `errors` must point to `count` readable pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_source_set_error_list(
    source: *const tapir_source,
    errors: *const *const tapir_error,
    count: usize,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { set(source, unsafe { error_list(errors, count) }) }
}

/// As tapir_source_set_error_list, returning whether this call completed the task.
///
/// # Safety
/// As tapir_source_set_error_list.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_source_try_set_error_list(
    source: *const tapir_source,
    errors: *const *const tapir_error,
    count: usize,
) -> bool {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { try_set(source, unsafe { error_list(errors, count) }) }
}

/// Cancels the task (SetCanceled), recording `token` (NULL: no token) as the cause.
///
/// Ownership: borrows `token`; the task takes its own reference.
/// Threading, blocking: as tapir_source_set_result.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`source`), TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_ALREADY_COMPLETED.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_set_canceled(
    source: *const tapir_source,
    token: *const tapir_cancel_token,
) -> Status {
    ffi_boundary! { set(source, canceled(token)) }
}

/// As tapir_source_set_canceled, returning whether this call completed the task.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_try_set_canceled(
    source: *const tapir_source,
    token: *const tapir_cancel_token,
) -> bool {
    ffi_boundary! { try_set(source, canceled(token)) }
}

/// Completes `source`'s task the way `task` completes, now or later (unwrap): the value
/// (shared, not copied: it stays owned by `task`), the errors, or the cancellation.
/// This is how a continuation "returns a task": retain `next`, then pass it here.
///
/// Ownership: borrows both; tapir keeps what it needs until `task` completes.
/// Threading: any thread. Blocking: never. Chains of any length complete without
/// growing the stack.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_ALREADY_COMPLETED (`source` had completed; nothing registered).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_source_set_from_task(
    source: *const tapir_source,
    task: *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(source, task);
        let s = from_ptr(source).expect("non-NULL");
        let t = from_ptr(task).expect("non-NULL");
        from_result(combinators::set_from_task(s, t))
    }
}
