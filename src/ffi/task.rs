//! `tapir_task`: queries, waits, continuations and pre-completed tasks.

use std::ffi::c_void;
use std::mem::offset_of;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::error::retain_error;
use super::handle::{array, from_ptr, to_ptr, write};
use super::status::from_result;
use super::{
    tapir_callback_fn, tapir_cancel_token, tapir_continuation_fn, tapir_destroy_fn, tapir_error,
    tapir_registration, tapir_scheduler, tapir_task,
};
use crate::core::callback::{ContinueFn, NotifyFn, UserData};
use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status, timeout_from_ms};
use crate::core::task::Final;
use crate::core::task::continuation::validate_flags;
use crate::core::task::list;
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;
use crate::core::task::schedule::SchedRef;
use crate::core::{combinators, sched, wait};

/// Run the continuation inline on the completing thread when its scheduler allows
/// (ExecuteSynchronously).
pub const TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY: u32 = 1;
/// Run only if the antecedent succeeded.
pub const TAPIR_CONTINUATION_ONLY_ON_SUCCESS: u32 = 1 << 1;
/// Run only if the antecedent faulted.
pub const TAPIR_CONTINUATION_ONLY_ON_FAULTED: u32 = 1 << 2;
/// Run only if the antecedent was canceled.
pub const TAPIR_CONTINUATION_ONLY_ON_CANCELED: u32 = 1 << 3;
/// Do not run if the antecedent succeeded.
pub const TAPIR_CONTINUATION_NOT_ON_SUCCESS: u32 = 1 << 4;
/// Do not run if the antecedent faulted.
pub const TAPIR_CONTINUATION_NOT_ON_FAULTED: u32 = 1 << 5;
/// Do not run if the antecedent was canceled.
pub const TAPIR_CONTINUATION_NOT_ON_CANCELED: u32 = 1 << 6;
/// With a token: the continuation task stays pending until the antecedent completes,
/// then ends canceled (instead of ending canceled as soon as the token fires).
pub const TAPIR_CONTINUATION_LAZY_CANCELLATION: u32 = 1 << 7;
/// A hint that the callback blocks for long; invalid with EXECUTE_SYNCHRONOUSLY.
pub const TAPIR_CONTINUATION_LONG_RUNNING: u32 = 1 << 8;
/// The continuation task's own continuations never run inline.
pub const TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1 << 9;
/// tapir_task_on_complete only: a callback that runs takes `user_data` over (frees it
/// itself), so `destroy` is not called after it. `destroy` still runs exactly once when
/// the callback never runs (removed, filtered out, canceled by the token, discarded by
/// its scheduler, or the task freed while pending). For a binding where each call into
/// it has a fixed cost: it saves the destroy call of every callback that runs.
/// tapir_task_continue_with refuses it (TAPIR_STATUS_INVALID_ARGUMENT).
pub const TAPIR_CONTINUATION_CALLBACK_FREES: u32 = 1 << 10;

/// The state of a task.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tapir_task_status {
    /// Returned by tapir_task_get_status for a NULL, released or wrong-kind handle.
    InvalidHandle = -1,
    /// Not completed yet.
    Pending = 0,
    /// Completed with a value.
    Succeeded = 1,
    /// Completed with one or more errors.
    Faulted = 2,
    /// Completed by cancellation.
    Canceled = 3,
}

/// Options for tapir_task_on_complete and tapir_task_continue_with. NULL means all
/// defaults. Set `struct_size = sizeof(tapir_continuation_options)`; fields past
/// `struct_size` are treated as zero, so the struct can grow.
#[repr(C)]
pub struct tapir_continuation_options {
    /// `sizeof(tapir_continuation_options)` as the caller compiled it.
    pub struct_size: u32,
    /// TAPIR_CONTINUATION_* flags.
    pub flags: u32,
    /// Where the callback runs; NULL = the default pool (never the "current" one).
    pub scheduler: *const tapir_scheduler,
    /// Cancels the continuation (its task ends canceled, the callback never runs);
    /// NULL = none.
    pub token: *const tapir_cancel_token,
}

struct Options {
    flags: u32,
    scheduler: Option<Handle>,
    token: Option<Handle>,
}

/// # Safety
/// `p` must be NULL or point to at least `struct_size` readable bytes.
unsafe fn read_options(p: *const tapir_continuation_options) -> Result<Options> {
    let mut o = Options {
        flags: 0,
        scheduler: None,
        token: None,
    };
    if p.is_null() {
        return Ok(o);
    }
    // SAFETY: the caller guarantees the first field is readable.
    let size = unsafe { (*p).struct_size } as usize;
    let covers = |off: usize, len: usize| size >= off + len;
    if !covers(offset_of!(tapir_continuation_options, flags), 4) {
        return Err(Status::InvalidArgument);
    }
    // SAFETY: each field is read only when `struct_size` says the caller's struct has it.
    unsafe {
        o.flags = (*p).flags;
        if covers(offset_of!(tapir_continuation_options, scheduler), 8) {
            o.scheduler = from_ptr((*p).scheduler);
        }
        if covers(offset_of!(tapir_continuation_options, token), 8) {
            o.token = from_ptr((*p).token);
        }
    }
    if !validate_flags(o.flags) {
        return Err(Status::InvalidArgument);
    }
    Ok(o)
}

fn task_handle(t: *const tapir_task) -> Result<Handle> {
    from_ptr(t).ok_or(Status::NullArgument)
}

/// The options' scheduler and token as library references, each validated in one step
/// (before any user data is adopted, so a refusal destroys nothing).
fn option_refs(o: &Options) -> Result<(Option<SchedRef>, Option<TokenRef>)> {
    let scheduler = o.scheduler.map(sched::retain_ref).transpose()?;
    let token = o.token.map(TokenRef::retain).transpose()?;
    Ok((scheduler, token))
}

// ---------------------------------------------------------------------------
// Pre-completed tasks.

/// Creates a task that has already succeeded with `value` (Task.FromResult).
///
/// Ownership: on TAPIR_STATUS_OK the task owns `value` (destroyed with
/// `value_destroy`, if non-NULL, when its last reference goes); `*task_out` receives a
/// new reference. On error nothing is called.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_from_result(
    value: *mut c_void,
    value_destroy: tapir_destroy_fn,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task_out);
        let h = ops::from_value(value as usize, value_destroy);
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Creates a task that has already faulted with `error` (Task.FromException).
///
/// Ownership: borrows `error` (the task takes a reference); `*task_out` gets a new one.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`error` or `task_out`), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_from_error(
    error: *const tapir_error,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(error, task_out);
        let e = try_core!(retain_error(error));
        let h = ops::from_outcome(Outcome::Faulted(vec![e]));
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Creates a task that has already been canceled (Task.FromCanceled). `token` (NULL:
/// none) is recorded as the cause and must already be canceled.
///
/// Ownership: borrows `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`), TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`token` is not canceled).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_from_canceled(
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task_out);
        let token = match from_ptr(token) {
            None => None,
            Some(t) => {
                let t = try_core!(TokenRef::retain(t));
                if !t.is_canceled() {
                    return Status::InvalidArgument;
                }
                Some(t)
            }
        };
        let h = ops::from_outcome(Outcome::Canceled(token));
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Writes the shared, already-succeeded task (Task.CompletedTask; result NULL).
///
/// Ownership: `*task_out` receives a reference to release as usual; getting it again
/// creates no new object.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_completed(task_out: *mut *const tapir_task) -> Status {
    ffi_boundary! {
        require!(task_out);
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(ops::completed_task())) };
        Status::Ok
    }
}

// ---------------------------------------------------------------------------
// References and queries.

/// Adds a reference; returns `task`, or NULL if NULL or invalid (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_retain(task: *const tapir_task) -> *const tapir_task {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::task_retain(h));
        task
    }
}

/// Releases a reference. The last one destroys the value, releases the errors, and,
/// for a faulted task whose error was never read, calls the unobserved-error hook.
/// NULL is a no-op.
///
/// Threading: any thread. Blocking: never (may run destroy callbacks and the hook).
/// Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a task).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_release(task: *const tapir_task) -> Status {
    ffi_boundary! {
        match from_ptr(task) {
            None => Status::Ok,
            Some(h) => from_result(ops::task_release(h)),
        }
    }
}

/// The task's state; TAPIR_TASK_STATUS_INVALID_HANDLE for a NULL or invalid handle.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_get_status(task: *const tapir_task) -> tapir_task_status {
    ffi_boundary! {
        match task_handle(task).and_then(ops::status) {
            Err(s) => {
                super::boundary::set_last(s);
                tapir_task_status::InvalidHandle
            }
            Ok(s) => match s {
                None => tapir_task_status::Pending,
                Some(Final::Succeeded) => tapir_task_status::Succeeded,
                Some(Final::Faulted) => tapir_task_status::Faulted,
                Some(Final::Canceled) => tapir_task_status::Canceled,
            },
        }
    }
}

/// True once the task has completed (any outcome); false while pending or for an
/// invalid handle (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_is_completed(task: *const tapir_task) -> bool {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::status(h)).is_some()
    }
}

/// A number unique to this task among live tasks (never 0); 0 for an invalid handle.
/// The task's source reports the same id.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_id(task: *const tapir_task) -> u64 {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::status(h));
        h.bits()
    }
}

/// The `state` given when the task was created (Task.AsyncState); for continuation
/// tasks, the continuation's `user_data`. NULL when none, or for an invalid handle.
///
/// Ownership: not owned by tapir. Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_state(task: *const tapir_task) -> *mut c_void {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::state(h)) as *mut c_void
    }
}

/// The creation flags (TAPIR_SOURCE_*); 0 for an invalid handle.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_options(task: *const tapir_task) -> u32 {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::options(h))
    }
}

/// Reads the result without blocking.
///
/// Returns TAPIR_STATUS_OK and writes the value (borrowed: the task keeps owning it)
/// if the task succeeded; TAPIR_STATUS_NOT_COMPLETED if pending; TAPIR_STATUS_FAULTED
/// (the error counts as observed) or TAPIR_STATUS_CANCELED otherwise.
/// Threading: any thread. Blocking: never.
/// Errors: also TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `value_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_result(
    task: *const tapir_task,
    value_out: *mut *mut c_void,
) -> Status {
    ffi_boundary! {
        require!(task, value_out);
        let v = try_core!(ops::result(from_ptr(task).expect("non-NULL")));
        // SAFETY: non-NULL checked above.
        unsafe { write(value_out, v as *mut c_void) };
        Status::Ok
    }
}

/// Writes the first error of a faulted task (what `await` rethrows) and marks the
/// task's errors observed.
///
/// Ownership: `*error_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_NOT_COMPLETED (pending), TAPIR_STATUS_INVALID_STATE (succeeded or
/// canceled: no error).
///
/// # Safety
/// `error_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_error(
    task: *const tapir_task,
    error_out: *mut *const tapir_error,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { tapir_task_error_at(task, 0, error_out) } }
}

/// The number of errors of a faulted task (its aggregate); 0 otherwise or for an
/// invalid handle. Marks the errors observed.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_error_count(task: *const tapir_task) -> usize {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        try_core!(ops::errors(h)).len()
    }
}

/// Writes error `index` of a faulted task's aggregate (input order for when_all, list
/// order for tapir_source_set_error_list) and marks the errors observed.
///
/// Ownership: `*error_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_NOT_COMPLETED, TAPIR_STATUS_INVALID_STATE (not faulted),
/// TAPIR_STATUS_INVALID_ARGUMENT (`index` out of range).
///
/// # Safety
/// `error_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_error_at(
    task: *const tapir_task,
    index: usize,
    error_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(task, error_out);
        let h = from_ptr(task).expect("non-NULL");
        match try_core!(ops::status(h)) {
            None => return Status::NotCompleted,
            Some(Final::Faulted) => {}
            Some(_) => return Status::InvalidState,
        }
        let errors = try_core!(ops::errors(h));
        let Some(e) = errors.get(index) else {
            return Status::InvalidArgument;
        };
        let user = try_core!(e.to_user());
        // SAFETY: non-NULL checked above.
        unsafe { write(error_out, to_ptr(user)) };
        Status::Ok
    }
}

/// Writes the token that canceled the task, or NULL if it was canceled without one.
///
/// Ownership: `*token_out` receives a new reference (or NULL).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_NOT_COMPLETED, TAPIR_STATUS_INVALID_STATE (not canceled).
///
/// # Safety
/// `token_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_cancel_token(
    task: *const tapir_task,
    token_out: *mut *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        require!(task, token_out);
        let t = try_core!(ops::cancel_token(from_ptr(task).expect("non-NULL")));
        let p = match t {
            None => std::ptr::null(),
            Some(t) => to_ptr(try_core!(t.to_user())),
        };
        // SAFETY: non-NULL checked above.
        unsafe { write(token_out, p) };
        Status::Ok
    }
}

// ---------------------------------------------------------------------------
// Waiting.

/// Blocks until the task completes or `timeout_ms` passes (0 polls, -1 forever).
///
/// Returns TAPIR_STATUS_OK (succeeded), TAPIR_STATUS_FAULTED (the error counts as
/// observed), TAPIR_STATUS_CANCELED, or TAPIR_STATUS_TIMEOUT (the task is unaffected).
/// The waiter is woken before the task's continuations run and never waits for them.
/// Threading: any thread. Blocking: yes — never call it from a callback running on a
/// single-threaded scheduler that the awaited task needs.
/// Errors: also TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (timeout < -1 or > 4294967294).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_task_wait(task: *const tapir_task, timeout_ms: i64) -> Status {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        let timeout = try_core!(timeout_from_ms(timeout_ms));
        from_result(wait::wait(h, timeout))
    }
}

/// # Safety
/// `tasks` must point to `count` readable pointers when non-NULL.
unsafe fn task_list(tasks: *const *const tapir_task, count: usize) -> Result<Vec<Handle>> {
    if tasks.is_null() {
        return if count == 0 {
            Ok(Vec::new())
        } else {
            Err(Status::NullArgument)
        };
    }
    // SAFETY: guaranteed by the caller.
    unsafe { array(tasks, count) }.ok_or(Status::InvalidArgument)
}

fn check_token(token: *const tapir_cancel_token) -> Result<Option<TokenRef>> {
    from_ptr(token).map(TokenRef::retain).transpose()
}

/// Blocks until every task completes, `timeout_ms` passes, or `token` (NULL: none) is
/// canceled (Task.WaitAll).
///
/// Returns TAPIR_STATUS_OK if all succeeded, TAPIR_STATUS_FAULTED if any faulted (their
/// errors count as observed; inspect each task), else TAPIR_STATUS_CANCELED if any was
/// canceled; TAPIR_STATUS_TIMEOUT; TAPIR_STATUS_CANCELED also when `token` is canceled,
/// checked first (even if every task had completed).
/// Threading: any thread. Blocking: yes.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`tasks` NULL with `count` > 0),
/// TAPIR_STATUS_INVALID_ARGUMENT (a NULL element, bad timeout),
/// TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tasks` must point to `count` readable pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_wait_all(
    tasks: *const *const tapir_task,
    count: usize,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        // SAFETY: forwarded caller guarantee.
        let list = try_core!(unsafe { task_list(tasks, count) });
        let timeout = try_core!(timeout_from_ms(timeout_ms));
        let token = try_core!(check_token(token));
        from_result(wait::wait_all(&list, timeout, token.as_ref()))
    }
}

/// Blocks until one of the tasks completes (Task.WaitAny) and writes its index: among
/// tasks already completed, the first in input order; otherwise the first to complete.
///
/// Returns TAPIR_STATUS_OK; TAPIR_STATUS_TIMEOUT when the time runs out or `count` is 0
/// (nothing written); TAPIR_STATUS_CANCELED when `token` (NULL: none) is canceled.
/// Threading: any thread. Blocking: yes.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`index_out`, or `tasks` NULL with `count` > 0),
/// TAPIR_STATUS_INVALID_ARGUMENT (a NULL element, bad timeout),
/// TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tasks` must point to `count` readable pointers; `index_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_wait_any(
    tasks: *const *const tapir_task,
    count: usize,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    index_out: *mut usize,
) -> Status {
    ffi_boundary! {
        require!(index_out);
        // SAFETY: forwarded caller guarantee.
        let list = try_core!(unsafe { task_list(tasks, count) });
        let timeout = try_core!(timeout_from_ms(timeout_ms));
        let token = try_core!(check_token(token));
        match try_core!(wait::wait_any(&list, timeout, token.as_ref())) {
            None => Status::Timeout,
            Some(i) => {
                // SAFETY: non-NULL checked above.
                unsafe { write(index_out, i) };
                Status::Ok
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Continuations.

/// Registers `callback(user_data, task)` to run once `task` completes (any outcome;
/// filter with TAPIR_CONTINUATION_ONLY_ON_* / NOT_ON_*). No continuation task is made:
/// the cheapest form, and what an `await` needs.
///
/// If `task` has already completed, the callback runs now (inline with
/// TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, else dispatched) and `*registration_out`
/// receives NULL. Otherwise `*registration_out` (if `registration_out` is non-NULL)
/// receives a registration that tapir_registration_remove can use to remove the callback.
/// Ownership: borrows `task` and the options' scheduler/token. On TAPIR_STATUS_OK tapir
/// owns `user_data` (see the callback contract); the registration is a new reference.
/// Threading: any thread. The callback runs on `options->scheduler` (NULL: the default
/// pool), or inline on the completing thread with EXECUTE_SYNCHRONOUSLY.
/// With TAPIR_CONTINUATION_CALLBACK_FREES, a callback that runs frees `user_data`
/// itself and `destroy` runs only if the callback never does.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`, `callback`), TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad options: unknown or contradictory flags,
/// struct_size too small).
///
/// # Safety
/// `options` must be NULL or valid for `struct_size` bytes; `registration_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_on_complete(
    task: *const tapir_task,
    callback: tapir_callback_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    options: *const tapir_continuation_options,
    registration_out: *mut *const tapir_registration,
) -> Status {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        let f = require_fn!(callback);
        // SAFETY: forwarded caller guarantee.
        let o = try_core!(unsafe { read_options(options) });
        // SAFETY: `tapir_callback_fn` and `NotifyFn` take the same thin pointers in the
        // same order with the C ABI; only the pointee type of `completed` differs.
        let f: NotifyFn = unsafe { std::mem::transmute::<unsafe extern "C" fn(*mut c_void, *const tapir_task), NotifyFn>(f) };
        if o.scheduler.is_none() && o.token.is_none() && registration_out.is_null() {
            // The common case: nothing to validate but the task, no wrapper to build.
            return from_result(ops::on_complete_plain(h, f, user_data, destroy, o.flags));
        }
        let (scheduler, token) = try_core!(option_refs(&o));
        let data = UserData::new(user_data, destroy);
        let reg = try_core!(ops::on_complete(h, f, data, o.flags, scheduler, token, !registration_out.is_null()));
        if !registration_out.is_null() {
            let p = reg.map_or(std::ptr::null(), to_ptr);
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { write(registration_out, p) };
        }
        Status::Ok
    }
}

/// Registers a continuation (ContinueWith): when `task` completes, `callback(user_data,
/// task, next)` runs and the continuation task (`*task_out`) completes through `next`.
///
/// The callback completes `next` before returning (tapir_source_set_result /
/// _set_error / _set_canceled), or retains it and completes it later (an asynchronous
/// continuation), or passes it to tapir_source_set_from_task (returning a task:
/// unwrap). Left pending and unretained, the continuation task fails with
/// TAPIR_STATUS_BROKEN_PROMISE. When a ONLY_ON_* / NOT_ON_* filter refuses the
/// antecedent's outcome, or the options' token is canceled first, the callback never
/// runs and the continuation task ends canceled. The continuation task's state
/// (tapir_task_state) is `user_data`. To pass a fault on, complete `next` from the
/// antecedent: `tapir_source_set_from_task(next, antecedent)` forwards its whole
/// outcome (value, errors or cancellation), and `tapir_source_set_error_list` with its
/// errors (tapir_task_error_count / tapir_task_error_at) forwards the errors alone.
/// Ownership: borrows `task`; on TAPIR_STATUS_OK tapir owns `user_data` (callback
/// contract) and `*task_out` receives a new reference. The antecedent is kept alive for
/// the call: `antecedent` and `next` are lent to the callback, valid until it returns
/// even if every other handle to them was released meanwhile (retain them to keep them
/// longer). Until `task` completes the registration does not keep it alive: if its last
/// handle goes while nothing can complete it any more, the continuation is discarded
/// (destroy runs, the callback never does) and the continuation task stays pending.
/// Threading: any thread; the callback runs as for tapir_task_on_complete.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task`, `callback`, `task_out`),
/// TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_INVALID_ARGUMENT (bad options, or
/// TAPIR_CONTINUATION_CALLBACK_FREES).
///
/// # Safety
/// `options` must be NULL or valid for `struct_size` bytes; `task_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_continue_with(
    task: *const tapir_task,
    callback: tapir_continuation_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    options: *const tapir_continuation_options,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        let h = try_core!(task_handle(task));
        let f = require_fn!(callback);
        require!(task_out);
        // SAFETY: forwarded caller guarantee.
        let o = try_core!(unsafe { read_options(options) });
        if o.flags & TAPIR_CONTINUATION_CALLBACK_FREES != 0 {
            // user_data is also the continuation task's state (tapir_task_state), which
            // lives as long as that task: a callback cannot take it over.
            return Status::InvalidArgument;
        }
        let (scheduler, token) = try_core!(option_refs(&o));
        // SAFETY: as in tapir_task_on_complete: same ABI, thin pointers only.
        let f: ContinueFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, *const tapir_task, *const super::tapir_source),
                ContinueFn,
            >(f)
        };
        let data = UserData::new(user_data, destroy);
        let out = try_core!(ops::continue_with(h, f, data, o.flags, scheduler, token));
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(out)) };
        Status::Ok
    }
}

/// Creates a proxy for a task whose result is another task (Task.Unwrap): the outer's
/// value must be a `const tapir_task *`. The proxy completes as the inner task does;
/// it fails or is canceled as the outer does if the outer does not succeed; it ends
/// canceled if the outer's value is NULL (or not a live task).
///
/// Ownership: borrows `outer`; `*task_out` receives a new reference. The inner task is
/// referenced by tapir (not consumed) until it completes.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_unwrap(
    outer: *const tapir_task,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(outer, task_out);
        let out = try_core!(combinators::unwrap(from_ptr(outer).expect("non-NULL")));
        // SAFETY: non-NULL checked above.
        unsafe { write(task_out, to_ptr(out)) };
        Status::Ok
    }
}

// ---------------------------------------------------------------------------
// Registrations.

/// Removes a callback registered with tapir_task_on_complete.
///
/// Returns TAPIR_STATUS_OK if it was removed: the callback will never run, and its
/// destroy has run before this returns. Returns TAPIR_STATUS_ALREADY_COMPLETED if the
/// callback already ran, is running or has been dispatched, or was removed before.
/// The registration handle stays valid until released.
/// Threading: any thread. Blocking: never (does not wait for a running callback).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_registration_remove(registration: *const tapir_registration) -> Status {
    ffi_boundary! {
        require!(registration);
        match try_core!(list::remove_by_handle(from_ptr(registration).expect("non-NULL"))) {
            true => Status::Ok,
            false => Status::AlreadyCompleted,
        }
    }
}

/// Adds a reference; returns `registration`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_registration_retain(
    registration: *const tapir_registration,
) -> *const tapir_registration {
    ffi_boundary! {
        require!(registration);
        try_core!(list::retain_handle(from_ptr(registration).expect("non-NULL")));
        registration
    }
}

/// Releases a registration handle. This does NOT remove the callback. NULL is a no-op.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_registration_release(registration: *const tapir_registration) -> Status {
    ffi_boundary! {
        match from_ptr(registration) {
            None => Status::Ok,
            Some(h) => from_result(list::release_handle(h)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_flag_values_match_the_core() {
        use crate::core::task::continuation as c;
        let pairs = [
            (
                TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
                c::EXECUTE_SYNCHRONOUSLY,
            ),
            (TAPIR_CONTINUATION_ONLY_ON_SUCCESS, c::ONLY_ON_SUCCESS),
            (TAPIR_CONTINUATION_ONLY_ON_FAULTED, c::ONLY_ON_FAULTED),
            (TAPIR_CONTINUATION_ONLY_ON_CANCELED, c::ONLY_ON_CANCELED),
            (TAPIR_CONTINUATION_NOT_ON_SUCCESS, c::NOT_ON_SUCCESS),
            (TAPIR_CONTINUATION_NOT_ON_FAULTED, c::NOT_ON_FAULTED),
            (TAPIR_CONTINUATION_NOT_ON_CANCELED, c::NOT_ON_CANCELED),
            (TAPIR_CONTINUATION_LAZY_CANCELLATION, c::LAZY_CANCELLATION),
            (TAPIR_CONTINUATION_LONG_RUNNING, c::LONG_RUNNING),
            (
                TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
                c::RUN_CONTINUATIONS_ASYNCHRONOUSLY,
            ),
            (
                crate::ffi::source::TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
                ops::SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY,
            ),
        ];
        for (c_value, core_value) in pairs {
            assert_eq!(c_value, core_value);
        }
    }
}
