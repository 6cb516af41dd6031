//! The C ABI of tapir. Everything here becomes `include/tapir.h`.
//!
//! # Conventions (the header preamble)
//! - **Handles** (`tapir_task`, `tapir_source`, `tapir_error`, `tapir_scheduler`,
//!   `tapir_registration`, `tapir_cancel_source`, `tapir_cancel_token`,
//!   `tapir_cancel_registration`) are opaque, reference-counted 64-bit values carried
//!   in pointer types; never dereference them. A function that returns a handle (or
//!   writes one to an out-parameter) gives the caller a new reference (+1), released
//!   exactly once with `tapir_<kind>_release`. `tapir_<kind>_retain` adds one and
//!   returns the same handle. Handles passed as arguments are borrowed.
//! - **Misuse is an error, not undefined behaviour.** NULL where a handle is required
//!   gives TAPIR_STATUS_NULL_ARGUMENT; a released, wrong-kind or forged handle gives
//!   TAPIR_STATUS_INVALID_HANDLE, even after its memory was reused for a new object
//!   (handles carry a generation checked on every call). `_release(NULL)` is a no-op.
//! - **Status.** Fallible functions return `tapir_status` and write out-parameters
//!   (named `*_out`, always last) only on TAPIR_STATUS_OK. Functions returning
//!   `bool`, integers or pointers return false / 0 / NULL on failure and record why,
//!   readable with `tapir_last_status()` on the same thread.
//! - **Callbacks** take `void *user_data` first. Every registration takes the triple
//!   `(fn, user_data, destroy)`: after a successful registration `fn` runs at most once
//!   and `destroy` (may be NULL) exactly once, after `fn` returned or when the
//!   registration was removed or discarded. A failed registration calls neither. Both
//!   may run on any thread and must not unwind (no C++ exception, no longjmp).
//! - **Values.** A result is a `void *` plus an optional destroy function, called
//!   exactly once when the last reference to the task is gone. Integers travel in the
//!   pointer bits.
//! - **Timeouts** are `int64_t` milliseconds: -1 (TAPIR_INFINITE) waits forever, 0
//!   polls, the largest finite value is 4294967294; anything else is
//!   TAPIR_STATUS_INVALID_ARGUMENT.
//! - **Threads.** Every function is thread-safe unless its documentation says
//!   otherwise. No callback runs while tapir holds a lock. Releasing a handle may run
//!   destroy callbacks on the releasing thread (for .NET: the finalizer thread), so
//!   destroy functions must be short and must not block.
//! - **Panics** never cross the boundary: a panic inside tapir returns
//!   TAPIR_STATUS_PANIC (or the failure value) and fails the task involved, if any.
//! - 64-bit targets only.

#![allow(non_camel_case_types)]

use std::ffi::c_void;

pub(crate) mod boundary;
pub(crate) mod handle;

pub mod cache;
pub mod cancel;
pub mod channel;
pub mod combinators;
pub mod countdown;
pub mod debug;
pub mod error;
pub mod event;
pub mod lock;
pub mod progress;
pub mod scheduler;
pub mod semaphore;
pub mod source;
pub mod status;
pub mod task;
pub(crate) mod waits;

pub use crate::core::status::Status;
/// The C name of [`Status`], for Rust code that calls the C functions.
pub use crate::core::status::Status as tapir_status;

/// A task: the consumer side of one asynchronous operation (`Task`).
/// Functions: tapir_task_retain, tapir_task_release, tapir_task_status,
/// tapir_task_result, tapir_task_error, tapir_task_wait, tapir_task_on_complete,
/// tapir_task_continue_with, tapir_task_unwrap, tapir_task_from_result, ...
pub struct tapir_task {
    _opaque: [u8; 0],
}

/// A completion source: the producer side that completes one task exactly once
/// (`TaskCompletionSource`). Functions: tapir_source_new, tapir_source_task,
/// tapir_source_set_result, tapir_source_set_error, tapir_source_set_canceled, ...
pub struct tapir_source {
    _opaque: [u8; 0],
}

/// An immutable error value: code, UTF-8 message, optional payload, inner errors.
pub struct tapir_error {
    _opaque: [u8; 0],
}

/// Where callbacks run: inline, the default pool, a manual queue, or a host's own.
pub struct tapir_scheduler {
    _opaque: [u8; 0],
}

/// A continuation registered with `tapir_task_on_complete` that can be removed.
pub struct tapir_registration {
    _opaque: [u8; 0],
}

/// A work item handed to a foreign scheduler's `post`; uniquely owned, consumed by
/// `tapir_work_run` or `tapir_work_discard`.
pub struct tapir_work {
    _opaque: [u8; 0],
}

/// A cancellation source (`CancellationTokenSource`).
pub struct tapir_cancel_source {
    _opaque: [u8; 0],
}

/// A cancellation token (`CancellationToken`).
pub struct tapir_cancel_token {
    _opaque: [u8; 0],
}

/// Frees `user_data` (or a value or payload). Called exactly once; must not unwind.
pub type tapir_destroy_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Notified when a task completes; `completed` is borrowed for the call.
pub type tapir_callback_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, completed: *const tapir_task)>;

/// A continuation: `antecedent` and `next` are borrowed for the call. Complete `next`
/// to complete the continuation task; to complete it later (an asynchronous
/// continuation, or one that returns another task), `tapir_source_retain(next)` first.
/// If `next` is left pending and unretained when the callback returns, the
/// continuation task fails with TAPIR_STATUS_BROKEN_PROMISE.
pub type tapir_continuation_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        antecedent: *const tapir_task,
        next: *const tapir_source,
    ),
>;

/// A posted work item.
pub type tapir_work_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;
