//! tapir.h — the C API of tapir: the .NET Task Parallel Library model (tasks,
//! completion sources, continuations, cancellation, schedulers, combinators) for C and
//! every language that can call C. Every function below documents its Ownership,
//! Threading, Blocking and Errors in the terms defined here.
//!
//! # Handles
//! A handle (`tapir_task`, `tapir_source`, `tapir_error`, `tapir_scheduler`,
//! `tapir_registration`, `tapir_cancel_source`, `tapir_cancel_token`,
//! `tapir_cancel_registration`, `tapir_progress`, `tapir_clock`, and each coordination
//! primitive's) names one tapir object. It is an
//! opaque 64-bit value carried in a pointer type: never dereference it, compare it only
//! for equality. Handles are reference counted:
//! - **new reference**: every handle a function returns, or writes to an out-parameter,
//!   is yours; release it exactly once with `tapir_<kind>_release` (which accepts NULL).
//!   `tapir_<kind>_retain` adds a reference and returns the same handle value.
//! - **borrowed**: every handle passed as an argument stays the caller's; tapir takes
//!   references of its own when it needs the object later. A function that takes over a
//!   reference instead says so ("consumes"); only `tapir_work_run`, `tapir_work_discard`
//!   and the `_release` functions do.
//! - **lent**: a handle a callback receives as an argument (the completed task, a
//!   continuation's `antecedent` and `next`) is valid for the whole call, whatever other
//!   threads release meanwhile, and no longer; retain it to keep it.
//! - **stale**: a handle whose last reference was released. Using it, releasing it once
//!   more, or passing a handle of the wrong kind is an error (TAPIR_STATUS_INVALID_HANDLE),
//!   not undefined behaviour — even after tapir reused the memory for a new object, since
//!   every handle carries a generation checked on each call. The references tapir takes
//!   for the length of a call count as well (the one behind a handle lent to a callback,
//!   a combinator's on its inputs while it registers): while such a call runs, a handle
//!   whose own references were all released is not stale yet, and releasing it once more
//!   takes tapir's reference instead of failing.
//! - A source and its task are two handles of one object, counted apart; so are a
//!   cancellation source and its tokens.
//! - A `tapir_work` item, which a foreign scheduler receives, is not counted: it is
//!   uniquely owned, and consumed by exactly one `tapir_work_run` or `tapir_work_discard`.
//!
//! # The callback contract
//! Every function that registers a callback takes the triple `(fn, user_data,
//! destroy)`, `user_data` first in every callback's parameters:
//! - after the call returns TAPIR_STATUS_OK, tapir owns `user_data`: `fn` runs at most
//!   once, and `destroy(user_data)` (if `destroy` is not NULL) exactly once — after `fn`
//!   returned, or when the callback is removed or discarded without running;
//! - if the call fails, neither runs and `user_data` is still the caller's;
//! - both may run on any thread (see Threads) and must not unwind: no C++ exception,
//!   no longjmp out of them;
//! - **discarded**: a callback that can never run has its destroy run instead. Work
//!   dropped by a scheduler (a closed manual scheduler, `tapir_work_discard`, a post
//!   during `tapir_shutdown`) also fails the task it would have completed, with an
//!   error of code TAPIR_STATUS_SCHEDULER_ERROR, so nobody waits for it for ever. A
//!   continuation of a task that died pending (every handle released, no producer
//!   left) is discarded too; its own continuation task, if any, stays pending, as it
//!   would in .NET.
//!
//! # Values and ownership of user memory
//! A task's value is a `void *` plus an optional destroy function, which tapir calls
//! exactly once, when the last reference to the task is gone; integers travel in the
//! pointer bits. Error payloads follow the same rule. Readers of a value or payload
//! borrow it while they hold a reference to its task or error. Memory tapir returns is
//! freed only by tapir functions; memory you give tapir is freed only by your destroy
//! functions. Releasing a handle may run destroy callbacks on the releasing thread —
//! for .NET that includes the finalizer thread — so destroy functions must be short and
//! must not block.
//!
//! # Tasks
//! A task is **pending** until it **completes** exactly once: **succeeded** (with a
//! value), **faulted** (with one or more `tapir_error`s) or **canceled** (optionally
//! with the token that caused it). Its **source** is the producer side that completes
//! it; when a source's last handle is released while its task is pending, the task
//! fails with an error of code TAPIR_STATUS_BROKEN_PROMISE. A **continuation** is a
//! callback registered on a task (its **antecedent**) to run when it completes;
//! **inline** means on the thread that completes the antecedent, before that call
//! returns, **dispatched** means posted to a scheduler. A faulted task's errors are
//! **observed** once someone reads them (`tapir_task_error*`, a FAULTED result of
//! `tapir_task_result` or a wait, a combinator that consumes them); a task freed with
//! unobserved errors reaches the unobserved-error hook.
//!
//! # Status codes and errors
//! Fallible functions return `tapir_status` (TAPIR_STATUS_OK is 0) and write their
//! out-parameters (named `*_out`, always last) only on TAPIR_STATUS_OK. A call that
//! fails has done nothing: no object allocated, no callback registered, no destroy run.
//! Functions that return a `bool`, an integer or a pointer return false / 0 / NULL on
//! failure and record why, readable with `tapir_last_status()` on the same thread.
//! Error codes 0 to 999,999 are tapir's (its errors carry `tapir_status` values);
//! codes from TAPIR_ERROR_CODE_USER_MIN (1,000,000) up are reserved for your own
//! errors, which tapir never creates, so they cannot be mistaken for a tapir status.
//!
//! # Timeouts
//! Timeouts and delays are `int64_t` milliseconds: -1 (TAPIR_INFINITE) waits without
//! limit, 0 polls, the largest finite value is TAPIR_MAX_TIMEOUT_MS (4294967294);
//! anything else is TAPIR_STATUS_INVALID_ARGUMENT.
//!
//! # Threads
//! Every function may be called from any thread unless its documentation says
//! otherwise. No callback runs while tapir holds a lock, so a callback may call any
//! tapir function. A **scheduler** decides where callbacks run: the default pool
//! (worker threads started on first use), inline, a manual queue the host drains
//! (`tapir_scheduler_run_pending`, e.g. once per frame), or the host's own job system
//! (a foreign scheduler). Blocking waits (`tapir_task_wait*`) must not be called from a
//! callback that runs on a single-threaded scheduler the awaited task needs. Inline
//! continuations (and work on the inline scheduler) are **bounded in depth**: they
//! nest at most 16 calls deep, and fewer when the nested calls have used 48 KiB of
//! stack; deeper ones are queued and run by the outermost one before it returns, so
//! chains of any length run in constant stack.
//! Call `tapir_shutdown` before unloading the library: it joins every thread tapir started.
//!
//! # Panics
//! A Rust panic never crosses into C: a panic inside tapir returns TAPIR_STATUS_PANIC
//! (or the failure value) and fails the task involved, if any, with an error of that code.
//!
//! # Diagnostics
//! `tapir_debug_*` functions (live objects, pending timers, registrations) are for tests
//! proving that nothing leaks; they are not for hot paths. tapir supports 64-bit
//! targets only.

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
pub mod diagnostics;
pub mod error;
pub mod event;
pub mod host;
pub mod lock;
pub mod progress;
pub mod scheduler;
pub mod semaphore;
pub mod source;
pub mod status;
pub mod task;
#[cfg(target_os = "linux")]
mod unload;
pub(crate) mod waits;

pub use crate::core::status::Status;
/// The C name of [`Status`], for Rust code that calls the C functions.
pub use crate::core::status::Status as tapir_status;

/// A task: the consumer side of one asynchronous operation (`Task`).
/// Functions: tapir_task_retain, tapir_task_release, tapir_task_get_status,
/// tapir_task_result, tapir_task_error, tapir_task_wait, tapir_task_on_complete,
/// tapir_task_continue_with, tapir_task_unwrap, tapir_task_from_result, ...
pub struct tapir_task {
    _opaque: [u8; 0],
}

/// A completion source: the producer side that completes one task exactly once
/// (`TaskCompletionSource`). Functions: tapir_source_new, tapir_source_new_with_task,
/// tapir_source_task, tapir_source_set_result, tapir_source_set_error,
/// tapir_source_set_canceled, ...
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
