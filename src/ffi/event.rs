//! `tapir_auto_reset_event` and `tapir_manual_reset_event` (AsyncAutoResetEvent,
//! AsyncManualResetEvent).

use super::boundary::{ffi_boundary, require, try_core};
use super::status::from_result;
use super::waits::{flag, handle_of, out, wait_args};
use super::{tapir_cancel_token, tapir_task};
use crate::core::primitives::event;
use crate::core::status::Status;

/// An auto-reset event: each set completes one waiter (the oldest); a set with nobody
/// waiting is remembered, once, for the next wait. Functions:
/// tapir_auto_reset_event_new, _set, _try_wait, _wait_async, _retain, _release.
pub struct tapir_auto_reset_event {
    _opaque: [u8; 0],
}

/// A manual-reset event: a set completes every waiter and the event stays set (waits
/// complete at once) until reset; a reset starts a new generation whose waiters wait
/// for the next set. Functions: tapir_manual_reset_event_new, _set, _reset, _is_set,
/// _wait_async, _retain, _release.
pub struct tapir_manual_reset_event {
    _opaque: [u8; 0],
}

/// Creates an auto-reset event, set if `initially_set` is 1.
///
/// Ownership: `*event_out` receives a new reference; when the last one is released,
/// pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`initially_set`
/// not 0 or 1).
///
/// # Safety
/// `event_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_auto_reset_event_new(
    initially_set: u32,
    event_out: *mut *const tapir_auto_reset_event,
) -> Status {
    ffi_boundary! {
        require!(event_out);
        let set = try_core!(flag(initially_set));
        out(event_out, event::new(false, set))
    }
}

/// Sets the event: completes the oldest waiter (value 1), or, if nobody waits, leaves
/// the event set for the next wait (a second set before that wait changes nothing).
/// The waiter's continuations run after tapir released its lock (synchronous ones
/// possibly on this thread, bounded in depth).
///
/// Ownership: borrows `event`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_auto_reset_event_set(event: *const tapir_auto_reset_event) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        from_result(event::set(false, h))
    }
}

/// Takes the event's set if it is there now (WaitOne(0)): true when taken (the event
/// is reset); false when not set (tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait
/// of 0 ms), or on error (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_auto_reset_event_try_wait(event: *const tapir_auto_reset_event) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        let taken = try_core!(event::try_wait(h));
        if !taken {
            super::boundary::set_last(Status::Timeout);
        }
        taken
    }
}

/// Waits for the event: `*task_out` succeeds with value 1 when a set is taken for this
/// wait (at once if the event is set, which resets it), with value 0 when `timeout_ms`
/// passes first (-1: never), or ends canceled when `token` (NULL: none) is canceled
/// first. Waiters are served in arrival order; one that times out or is canceled
/// leaves the queue and never consumes a set.
///
/// Ownership: borrows `event` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_auto_reset_event_wait_async(
    event: *const tapir_auto_reset_event,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(event, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(event));
        out(task_out, try_core!(event::wait_async(false, h, d, t)))
    }
}

/// Adds a reference; returns `event`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_auto_reset_event_retain(
    event: *const tapir_auto_reset_event,
) -> *const tapir_auto_reset_event {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        try_core!(event::retain(false, h));
        event
    }
}

/// Releases a reference. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_auto_reset_event_release(event: *const tapir_auto_reset_event) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(event) {
            None => Status::Ok,
            Some(h) => from_result(event::release(false, h)),
        }
    }
}

/// Creates a manual-reset event, set if `initially_set` is 1.
///
/// Ownership: `*event_out` receives a new reference; when the last one is released,
/// pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`initially_set`
/// not 0 or 1).
///
/// # Safety
/// `event_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_manual_reset_event_new(
    initially_set: u32,
    event_out: *mut *const tapir_manual_reset_event,
) -> Status {
    ffi_boundary! {
        require!(event_out);
        let set = try_core!(flag(initially_set));
        out(event_out, event::new(true, set))
    }
}

/// Sets the event: every waiter completes with value 1 (their continuations run after
/// tapir released its lock), and later waits complete at once until a reset.
///
/// Ownership: borrows `event`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_manual_reset_event_set(event: *const tapir_manual_reset_event) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        from_result(event::set(true, h))
    }
}

/// Resets the event: waits from now on wait for the next set.
///
/// Ownership: borrows `event`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_manual_reset_event_reset(event: *const tapir_manual_reset_event) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        from_result(event::reset(h))
    }
}

/// True while the event is set; false when not, or on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_manual_reset_event_is_set(event: *const tapir_manual_reset_event) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        try_core!(event::is_set(h))
    }
}

/// Waits for the event: `*task_out` succeeds with value 1 when it is set (at once if
/// it is), with value 0 when `timeout_ms` passes first (-1: never), or ends canceled
/// when `token` (NULL: none) is canceled first.
///
/// Ownership: borrows `event` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_manual_reset_event_wait_async(
    event: *const tapir_manual_reset_event,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(event, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(event));
        out(task_out, try_core!(event::wait_async(true, h, d, t)))
    }
}

/// Adds a reference; returns `event`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_manual_reset_event_retain(
    event: *const tapir_manual_reset_event,
) -> *const tapir_manual_reset_event {
    ffi_boundary! {
        let h = try_core!(handle_of(event));
        try_core!(event::retain(true, h));
        event
    }
}

/// Releases a reference. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_manual_reset_event_release(
    event: *const tapir_manual_reset_event,
) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(event) {
            None => Status::Ok,
            Some(h) => from_result(event::release(true, h)),
        }
    }
}
