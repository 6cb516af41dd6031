//! `tapir_semaphore` (SemaphoreSlim).

use super::boundary::{ffi_boundary, require, try_core};
use super::status::from_result;
use super::waits::{handle_of, out, wait_args};
use super::{tapir_cancel_token, tapir_task};
use crate::core::primitives::semaphore;
use crate::core::status::Status;

/// An asynchronous counting semaphore (SemaphoreSlim). Waiters are served strictly in
/// arrival order. Functions: tapir_semaphore_new, tapir_semaphore_wait_async,
/// tapir_semaphore_try_wait, tapir_semaphore_signal, tapir_semaphore_current_count,
/// tapir_semaphore_retain, tapir_semaphore_release.
pub struct tapir_semaphore {
    _opaque: [u8; 0],
}

/// Creates a semaphore with `initial` permits and at most `max` (SemaphoreSlim(initial,
/// max)).
///
/// Ownership: `*semaphore_out` receives a new reference. When the last reference is
/// released, waits still pending fail with an error of code TAPIR_STATUS_DISPOSED
/// (nobody could signal them any more).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`semaphore_out`), TAPIR_STATUS_INVALID_ARGUMENT
/// (`max` is 0 or `initial` > `max`).
///
/// # Safety
/// `semaphore_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_semaphore_new(
    initial: u32,
    max: u32,
    semaphore_out: *mut *const tapir_semaphore,
) -> Status {
    ffi_boundary! {
        require!(semaphore_out);
        out(semaphore_out, try_core!(semaphore::new(initial, max)))
    }
}

/// Waits for `count` permits (WaitAsync): `*task_out` succeeds with value 1 once they
/// are taken, with value 0 when `timeout_ms` passes first (-1: never; 0: only what is
/// available now), or ends canceled when `token` (NULL: none) is canceled first — or
/// already is. Waiters are served in arrival order: a wait succeeds at once only when
/// nobody waits before it. A waiter that times out or is canceled leaves the queue and
/// never consumes a permit. Its continuations never run while tapir holds a lock; a
/// canceled waiter's never run inside the canceling call.
///
/// Ownership: borrows `semaphore` and `token`; `*task_out` receives a new reference.
/// Releasing the task does not withdraw the wait (a granted permit is the caller's to
/// give back with tapir_semaphore_signal).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`semaphore`, `task_out`),
/// TAPIR_STATUS_INVALID_HANDLE (`semaphore` or `token`), TAPIR_STATUS_INVALID_ARGUMENT
/// (`count` 0 or above the maximum, bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_semaphore_wait_async(
    semaphore: *const tapir_semaphore,
    count: u32,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(semaphore, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(semaphore));
        out(task_out, try_core!(semaphore::wait_async(h, count, d, t)))
    }
}

/// Takes `count` permits if they are available now and nobody waits (Wait(0)).
/// Returns true when taken; false when not (nothing changed; tapir_last_status:
/// TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), or on error (TAPIR_STATUS_NULL_ARGUMENT,
/// TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_INVALID_ARGUMENT for `count` 0 or above
/// the maximum).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_semaphore_try_wait(semaphore: *const tapir_semaphore, count: u32) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(semaphore));
        let taken = try_core!(semaphore::try_wait(h, count));
        if !taken {
            super::boundary::set_last(Status::Timeout);
        }
        taken
    }
}

/// Gives back `count` permits (SemaphoreSlim.Release(count)) and grants them to the
/// waiters, oldest first. Their continuations run after tapir released its lock:
/// synchronous ones may run on this thread, bounded in depth (past the bound they are
/// deferred to the outermost frame), so a chain of waiters that each signal the next
/// never grows the stack. `*previous_out` (if non-NULL) receives the count before.
///
/// Ownership: borrows `semaphore`.
/// Threading: any thread. Blocking: never (continuations may run inline, see above).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_FULL (the count would pass
/// the maximum: nothing changed).
///
/// # Safety
/// `previous_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_semaphore_signal(
    semaphore: *const tapir_semaphore,
    count: u32,
    previous_out: *mut u32,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(semaphore));
        let before = try_core!(semaphore::release(h, count));
        if !previous_out.is_null() {
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { previous_out.write(before) };
        }
        Status::Ok
    }
}

/// The permits available now (CurrentCount); 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_semaphore_current_count(semaphore: *const tapir_semaphore) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(semaphore));
        try_core!(semaphore::current_count(h))
    }
}

/// Adds a reference; returns `semaphore`, or NULL if NULL, invalid or full (see
/// tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_semaphore_retain(
    semaphore: *const tapir_semaphore,
) -> *const tapir_semaphore {
    ffi_boundary! {
        let h = try_core!(handle_of(semaphore));
        try_core!(semaphore::retain(h));
        semaphore
    }
}

/// Releases a reference. NULL is a no-op. The last one fails pending waits with an
/// error of code TAPIR_STATUS_DISPOSED.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_semaphore_release(semaphore: *const tapir_semaphore) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(semaphore) {
            None => Status::Ok,
            Some(h) => from_result(semaphore::release_handle(h)),
        }
    }
}
