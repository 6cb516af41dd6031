//! `tapir_lock` (an asynchronous mutex), `tapir_rwlock` (an asynchronous reader-writer
//! lock) and `tapir_lock_guard` (the right to release either).

use super::boundary::{ffi_boundary, require, try_core};
use super::status::from_result;
use super::waits::{handle_of, out, wait_args};
use super::{tapir_cancel_token, tapir_task};
use crate::core::memory::Handle;
use crate::core::primitives::{guard, lock, rwlock};
use crate::core::status::Status;

/// An asynchronous lock: one holder at a time, waiters granted in arrival order, never
/// reentrant (a holder that asks again waits for itself). Functions: tapir_lock_new,
/// tapir_lock_acquire_async, tapir_lock_try_acquire, tapir_lock_is_held,
/// tapir_lock_retain, tapir_lock_release.
pub struct tapir_lock {
    _opaque: [u8; 0],
}

/// An asynchronous reader-writer lock: many readers or one writer. Writer preference:
/// once a writer waits, new readers queue behind it. Upgrades are not supported (a
/// reader asking for the write lock waits for itself). Functions: tapir_rwlock_new,
/// tapir_rwlock_read_async, tapir_rwlock_write_async, tapir_rwlock_try_read,
/// tapir_rwlock_try_write, tapir_rwlock_reader_count, tapir_rwlock_is_write_held,
/// tapir_rwlock_retain, tapir_rwlock_release.
pub struct tapir_rwlock {
    _opaque: [u8; 0],
}

/// A held lock (of a `tapir_lock` or a `tapir_rwlock`): the lock is released when the
/// last reference to its guard is. A granted acquire task's value is a guard that the
/// task owns (released with the task): keep the task while holding the lock, or take
/// your own reference with tapir_lock_guard_retain and release the task. Functions:
/// tapir_lock_guard_retain, tapir_lock_guard_release.
pub struct tapir_lock_guard {
    _opaque: [u8; 0],
}

/// Creates a free lock.
///
/// Ownership: `*lock_out` receives a new reference. Guards keep their lock alive.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `lock_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_lock_new(lock_out: *mut *const tapir_lock) -> Status {
    ffi_boundary! {
        require!(lock_out);
        out(lock_out, lock::new())
    }
}

/// Acquires the lock (LockAsync): `*task_out` succeeds with a `tapir_lock_guard` as its
/// value once the lock is granted (at once if it is free and nobody waits), with value
/// NULL when `timeout_ms` passes first (-1: never), or ends canceled when `token`
/// (NULL: none) is canceled first. Waiters are granted in arrival order; one that times
/// out or is canceled leaves the queue and is never granted. A release hands the lock
/// over after tapir released its own lock; the new holder's continuations may run on
/// the releasing thread (bounded in depth), never under a tapir lock.
///
/// Ownership: borrows `lock` and `token`; `*task_out` receives a new reference. The
/// task owns the guard in its value: releasing the task (and every guard reference
/// taken from it) releases the lock, also when it is granted after the task was
/// released.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_lock_acquire_async(
    lock: *const tapir_lock,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(lock, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(lock));
        out(task_out, try_core!(lock::lock_async(h, d, t)))
    }
}

fn write_guard(guard_out: *mut *const tapir_lock_guard, g: Option<Handle>) -> bool {
    match g {
        Some(g) => {
            let _ = out(guard_out, g);
            true
        }
        None => {
            super::boundary::set_last(Status::Timeout);
            false
        }
    }
}

/// Takes the lock if it is free and nobody waits: true, and `*guard_out` receives a
/// new guard reference (release it to unlock); false when it is not free (nothing
/// written; tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), or on error
/// (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `guard_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_lock_try_acquire(
    lock: *const tapir_lock,
    guard_out: *mut *const tapir_lock_guard,
) -> bool {
    ffi_boundary! {
        require!(guard_out);
        let h = try_core!(handle_of(lock));
        write_guard(guard_out, try_core!(lock::try_lock(h)))
    }
}

/// True while the lock is held; false when free, or on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_lock_is_held(lock: *const tapir_lock) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(lock));
        try_core!(lock::is_held(h))
    }
}

/// Adds a reference; returns `lock`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_lock_retain(lock: *const tapir_lock) -> *const tapir_lock {
    ffi_boundary! {
        let h = try_core!(handle_of(lock));
        try_core!(lock::retain(h));
        lock
    }
}

/// Releases a reference to the lock object (not the lock: see tapir_lock_guard).
/// NULL is a no-op. Held guards and pending acquisitions keep working.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_lock_release(lock: *const tapir_lock) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(lock) {
            None => Status::Ok,
            Some(h) => from_result(lock::release(h)),
        }
    }
}

/// Adds a reference to a guard; returns `guard`, or NULL on error (see
/// tapir_last_status). The lock stays held until every reference is released.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_lock_guard_retain(
    guard: *const tapir_lock_guard,
) -> *const tapir_lock_guard {
    ffi_boundary! {
        let h = try_core!(handle_of(guard));
        try_core!(guard::retain(h));
        guard
    }
}

/// Releases a reference to a guard; the last one releases the lock, which goes to the
/// next waiter (its continuations may run on this thread, bounded in depth, never
/// under a tapir lock). NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE (also for a guard released once too often:
/// the lock is never released twice).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_lock_guard_release(guard: *const tapir_lock_guard) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(guard) {
            None => Status::Ok,
            Some(h) => from_result(guard::release(h)),
        }
    }
}

/// Creates a free reader-writer lock.
///
/// Ownership: `*rwlock_out` receives a new reference. Guards keep their lock alive.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `rwlock_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_rwlock_new(rwlock_out: *mut *const tapir_rwlock) -> Status {
    ffi_boundary! {
        require!(rwlock_out);
        out(rwlock_out, rwlock::new())
    }
}

unsafe fn acquire(
    rwlock: *const tapir_rwlock,
    write: bool,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    require!(rwlock, task_out);
    let (d, t) = try_core!(wait_args(timeout_ms, token));
    let h = try_core!(handle_of(rwlock));
    out(task_out, try_core!(rwlock::lock_async(h, write, d, t)))
}

/// Acquires the lock for reading (ReaderLockAsync): `*task_out` succeeds with a guard
/// as its value once granted (at once when no writer holds the lock or waits for it),
/// with value NULL when `timeout_ms` passes first, or ends canceled when `token` (NULL:
/// none) is canceled first. Ownership of the guard as for tapir_lock_acquire_async.
///
/// Ownership: borrows `rwlock` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_rwlock_read_async(
    rwlock: *const tapir_rwlock,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { acquire(rwlock, false, timeout_ms, token, task_out) } }
}

/// Acquires the lock for writing (WriterLockAsync): as tapir_rwlock_read_async, granted
/// when nobody holds the lock and nobody waited before.
///
/// Ownership: borrows `rwlock` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_rwlock_write_async(
    rwlock: *const tapir_rwlock,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { acquire(rwlock, true, timeout_ms, token, task_out) } }
}

/// Takes the read lock if it can be granted now: true, and `*guard_out` receives a new
/// guard reference; false otherwise (nothing written; tapir_last_status:
/// TAPIR_STATUS_TIMEOUT), or on error (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `guard_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_rwlock_try_read(
    rwlock: *const tapir_rwlock,
    guard_out: *mut *const tapir_lock_guard,
) -> bool {
    ffi_boundary! {
        require!(guard_out);
        let h = try_core!(handle_of(rwlock));
        write_guard(guard_out, try_core!(rwlock::try_lock(h, false)))
    }
}

/// Takes the write lock if it can be granted now: as tapir_rwlock_try_read.
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `guard_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_rwlock_try_write(
    rwlock: *const tapir_rwlock,
    guard_out: *mut *const tapir_lock_guard,
) -> bool {
    ffi_boundary! {
        require!(guard_out);
        let h = try_core!(handle_of(rwlock));
        write_guard(guard_out, try_core!(rwlock::try_lock(h, true)))
    }
}

/// Readers holding the lock now; 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_rwlock_reader_count(rwlock: *const tapir_rwlock) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(rwlock));
        try_core!(rwlock::state(h)).0
    }
}

/// True while a writer holds the lock; false otherwise, or on error (see
/// tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_rwlock_is_write_held(rwlock: *const tapir_rwlock) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(rwlock));
        try_core!(rwlock::state(h)).1
    }
}

/// Adds a reference; returns `rwlock`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_rwlock_retain(rwlock: *const tapir_rwlock) -> *const tapir_rwlock {
    ffi_boundary! {
        let h = try_core!(handle_of(rwlock));
        try_core!(rwlock::retain(h));
        rwlock
    }
}

/// Releases a reference to the lock object (not the lock: see tapir_lock_guard). NULL
/// is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_rwlock_release(rwlock: *const tapir_rwlock) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(rwlock) {
            None => Status::Ok,
            Some(h) => from_result(rwlock::release(h)),
        }
    }
}
