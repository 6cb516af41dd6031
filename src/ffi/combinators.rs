//! Time and combinators: tapir_delay, tapir_task_wait_async, tapir_run, tapir_yield,
//! tapir_when_all (+ _settled, _or_first_error), tapir_when_any, tapir_interleaved,
//! tapir_retry_on_fault, tapir_need_only_one, tapir_for_each_throttled.

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::handle::{array, from_ptr, to_ptr, write};
use super::{
    tapir_cancel_source, tapir_cancel_token, tapir_destroy_fn, tapir_scheduler, tapir_source,
    tapir_task,
};
use crate::core::callback::{RunFn, UserData};
use crate::core::cancel::TokenRef;
use crate::core::combinators::{self, AllMode, CancelableFactoryFn, FactoryFn};
use crate::core::memory::Handle;
use crate::core::sched;
use crate::core::status::{Result, Status, timeout_from_ms};
use crate::core::time;

/// Work run by tapir_run: complete `source` (now, or later after tapir_source_retain).
/// `source` is borrowed for the call; left pending and unretained, the task fails with
/// TAPIR_STATUS_BROKEN_PROMISE. Must not unwind.
pub type tapir_run_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, source: *const tapir_source)>;

/// Returns a new task reference for item `index` (tapir takes it), or NULL (the item
/// then fails with TAPIR_STATUS_INVALID_STATE). Must not unwind.
pub type tapir_task_factory_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, index: u32) -> *const tapir_task>;

/// As tapir_task_factory_fn, with a token (borrowed) the operation should observe.
pub type tapir_cancelable_factory_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        index: u32,
        token: *const tapir_cancel_token,
    ) -> *const tapir_task,
>;

/// A library reference to an optional token argument (NULL: none).
pub(super) fn token(t: *const tapir_cancel_token) -> Result<Option<TokenRef>> {
    from_ptr(t).map(TokenRef::retain).transpose()
}

/// Writes a task out-parameter.
pub(super) fn out_task(out: *mut *const tapir_task, h: Handle) -> Status {
    // SAFETY: callers checked `out`; the C caller guarantees it is writable.
    unsafe { write(out, to_ptr(h)) };
    Status::Ok
}

/// # Safety
/// `tasks` must point to `count` readable pointers (or `count` be 0).
unsafe fn inputs(tasks: *const *const tapir_task, count: usize) -> Result<Vec<Handle>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if tasks.is_null() {
        return Err(Status::NullArgument);
    }
    // SAFETY: forwarded caller guarantee.
    unsafe { array(tasks, count) }.ok_or(Status::InvalidArgument)
}

/// A task that succeeds (value NULL) after `delay_ms` (Task.Delay): 0 completes at
/// once, -1 never (it ends only by `token`), never early. If `token` (NULL: none) is
/// canceled first — or already — the task ends canceled with that token.
///
/// Ownership: borrows `token`; `*task_out` receives a new reference. Releasing the task
/// does not stop the timer early; canceling the token does, and frees its entry at once.
/// Threading: any thread. Continuations of a delay never run on the timer thread: the
/// timer posts the completion to the default pool.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (delay < -1 or > 4294967294).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_delay(
    delay_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task_out);
        let d = try_core!(timeout_from_ms(delay_ms));
        let t = try_core!(self::token(token));
        out_task(task_out, time::delay(time::After::time(d), t))
    }
}

/// A task that completes as `task` does, or fails with an error of code
/// TAPIR_STATUS_TIMEOUT after `timeout_ms` (-1: never), or ends canceled when `token`
/// (NULL: none) is canceled (Task.WaitAsync). `task` itself is never affected. If
/// `task` has already completed, `*task_out` is `task` itself (a new reference).
///
/// Ownership: borrows `task` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_wait_async(
    task: *const tapir_task,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task, task_out);
        let d = try_core!(timeout_from_ms(timeout_ms));
        let t = try_core!(self::token(token));
        out_task(task_out, try_core!(time::wait_async(from_ptr(task).expect("non-NULL"), time::After::time(d), t)))
    }
}

/// Runs `work(user_data, source)` on `scheduler` (NULL: the default pool) and returns
/// the task `source` completes (Task.Run, including Run with an async lambda: the work
/// may retain `source` and complete it later). If `token` (NULL: none) is canceled
/// before the work starts, the task ends canceled with it at once, and the work never
/// runs. A token whose cancel source is released first can no longer be canceled: the
/// work runs.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (destroy runs once, after the
/// work returns or when it is dropped unrun); `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never (the inline scheduler runs the work now).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`work`, `task_out`), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_run(
    scheduler: *const tapir_scheduler,
    work: tapir_run_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(work);
        require!(task_out);
        let s = try_core!(from_ptr(scheduler).map(sched::retain_ref).transpose());
        let t = try_core!(self::token(token));
        // SAFETY: same ABI: two thin pointers; only the pointee type differs.
        let f: RunFn = unsafe { std::mem::transmute::<unsafe extern "C" fn(*mut c_void, *const tapir_source), RunFn>(f) };
        out_task(task_out, combinators::run(s, f, UserData::new(user_data, destroy), t))
    }
}

/// A task that completes asynchronously on the scheduler running the caller (the
/// default pool when there is none), as `await Task.Yield()` does.
///
/// Ownership: `*task_out` receives a new reference.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_yield(task_out: *mut *const tapir_task) -> Status {
    ffi_boundary! {
        require!(task_out);
        out_task(task_out, combinators::yield_now())
    }
}

/// # Safety
/// As tapir_when_all.
unsafe fn when_all_mode(
    tasks: *const *const tapir_task,
    count: usize,
    task_out: *mut *const tapir_task,
    mode: AllMode,
) -> Status {
    require!(task_out);
    // SAFETY: forwarded caller guarantee.
    let list = try_core!(unsafe { inputs(tasks, count) });
    out_task(task_out, try_core!(combinators::when_all(&list, mode)))
}

/// A task that completes when all of `tasks[0..count]` have (Task.WhenAll).
///
/// Succeeds when all succeeded: its value (tapir_task_result) points to `count`
/// `void *` slots holding the inputs' values in input order, valid while the when_all
/// task lives (it keeps the inputs alive). Fails when any failed, with every input
/// error in input order, whatever the completion order (an input with several errors
/// contributes all of them, in order); the inputs' errors count as observed. Otherwise,
/// if any was canceled, ends canceled with the first canceled input's token (input
/// order). Empty input succeeds at once; duplicates are allowed.
/// Ownership: borrows the tasks; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`task_out`, or `tasks` NULL with `count` > 0),
/// TAPIR_STATUS_INVALID_ARGUMENT (a NULL element), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tasks` must point to `count` readable pointers; `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_when_all(
    tasks: *const *const tapir_task,
    count: usize,
    task_out: *mut *const tapir_task,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { when_all_mode(tasks, count, task_out, AllMode::All) } }
}

/// As tapir_when_all, but always succeeds once every input has completed, whatever
/// their outcomes (Promise.allSettled): its value points to `count` slots holding the
/// input task handles (borrowed; kept alive by this task) to inspect one by one.
///
/// # Safety
/// As tapir_when_all.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_when_all_settled(
    tasks: *const *const tapir_task,
    count: usize,
    task_out: *mut *const tapir_task,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { when_all_mode(tasks, count, task_out, AllMode::Settled) } }
}

/// WhenAllOrFirstException (a well-known TPL pattern, not a .NET method): fails as soon
/// as one input fails, with that input's errors (later failures are observed and
/// dropped); otherwise completes as tapir_when_all (succeeds with the values in input order, or ends
/// canceled once all completed and one was canceled). Empty input succeeds at once.
///
/// # Safety
/// As tapir_when_all.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_when_all_or_first_error(
    tasks: *const *const tapir_task,
    count: usize,
    task_out: *mut *const tapir_task,
) -> Status {
    // SAFETY: forwarded caller guarantee.
    ffi_boundary! { unsafe { when_all_mode(tasks, count, task_out, AllMode::FirstException) } }
}

/// A task that succeeds when the first of `tasks[0..count]` completes, whatever that
/// input's outcome (Task.WhenAny); its value is the winner's index (`uintptr_t` in the
/// `void *`). Among inputs already completed, the first in input order wins. When it
/// completes, its registrations on the other inputs are removed at once (their memory
/// returns) and, if `cancel_on_complete` is non-NULL, that source is canceled so the
/// losers can stop.
///
/// Ownership: borrows everything; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_ARGUMENT (`count` 0, a NULL element),
/// TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tasks` must point to `count` readable pointers; `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_when_any(
    tasks: *const *const tapir_task,
    count: usize,
    cancel_on_complete: *const tapir_cancel_source,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task_out);
        if count == 0 {
            return Status::InvalidArgument;
        }
        // SAFETY: forwarded caller guarantee.
        let list = try_core!(unsafe { inputs(tasks, count) });
        let cancel = try_core!(from_ptr(cancel_on_complete).map(TokenRef::retain_source).transpose());
        out_task(task_out, try_core!(combinators::when_any(list, cancel)))
    }
}

/// Interleaved (Task.WhenEach): writes `count` new tasks to `outputs[0..count]`; output
/// k completes the way the k-th input to complete did (value shared, errors, or
/// cancellation). O(count) in total, unlike repeated when_any.
///
/// Ownership: borrows the inputs; each output is a new reference. Nothing is written
/// on error.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (a NULL element),
/// TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tasks` must point to `count` readable pointers and `outputs` to `count` writable ones.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_interleaved(
    tasks: *const *const tapir_task,
    count: usize,
    outputs: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        if count > 0 {
            require!(outputs);
        }
        // SAFETY: forwarded caller guarantee.
        let list = try_core!(unsafe { inputs(tasks, count) });
        let outs = try_core!(combinators::interleaved(&list));
        for (i, h) in outs.into_iter().enumerate() {
            // SAFETY: the caller guarantees `count` writable slots.
            unsafe { write(outputs.add(i), to_ptr(h)) };
        }
        Status::Ok
    }
}

/// RetryOnFault: calls `factory(user_data, attempt)` for attempt 0, 1, ... — each only
/// after the previous attempt's task completed — until one succeeds or `max_tries`
/// attempts were made. The result completes as the last attempt did. With `gate`
/// (may be NULL), `gate(user_data, attempt)` returns a task to wait for between tries
/// (e.g. a tapir_delay); a gate that fails or is canceled ends the retry that way.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (destroy after the last call);
/// `*task_out` receives a new reference.
/// Threading: `factory` and `gate` run on the thread that completed the previous task.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`factory`, `task_out`),
/// TAPIR_STATUS_INVALID_ARGUMENT (`max_tries` 0).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_retry_on_fault(
    factory: tapir_task_factory_fn,
    gate: tapir_task_factory_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    max_tries: u32,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(factory);
        require!(task_out);
        if max_tries == 0 {
            return Status::InvalidArgument;
        }
        type C = unsafe extern "C" fn(*mut c_void, u32) -> *const tapir_task;
        // SAFETY: same ABI; only the pointee type of the returned pointer differs.
        let f: FactoryFn = unsafe { std::mem::transmute::<C, FactoryFn>(f) };
        // SAFETY: as above.
        let gate: Option<FactoryFn> = gate.map(|g| unsafe { std::mem::transmute::<C, FactoryFn>(g) });
        let data = UserData::new(user_data, destroy);
        out_task(task_out, try_core!(combinators::retry_on_fault(f, gate, data, max_tries)))
    }
}

/// NeedOnlyOne: calls `factory(user_data, i, token)` for i in 0..count, all sharing one
/// token. The first task to complete gives the result (its value, errors or
/// cancellation); the token is canceled right after so the others can stop, and their
/// later failures are observed (never reported to the unobserved-error hook).
///
/// Abandoning the result also cancels the token: when the result is pending and its
/// last observer goes — its last task handle is released, with no continuation
/// registered on it and no tapir call or combinator using it — no one needs a winner
/// any more, so the token is canceled then (its callbacks run on the thread that let
/// the observer go) and the result never completes. A race whose every task waits
/// only on the token therefore ends and is freed once its result is released. A
/// continuation on the result keeps it observed: such a race then waits for ever.
///
/// Ownership: `user_data` is destroyed before this returns (all factories have run);
/// `*task_out` receives a new reference.
/// Threading: the factories run on this thread.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`count` 0).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_need_only_one(
    factory: tapir_cancelable_factory_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    count: u32,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(factory);
        require!(task_out);
        if count == 0 {
            return Status::InvalidArgument;
        }
        // SAFETY: same ABI; only pointee types differ.
        let f: CancelableFactoryFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, u32, *const tapir_cancel_token) -> *const tapir_task,
                CancelableFactoryFn,
            >(f)
        };
        let data = UserData::new(user_data, destroy);
        out_task(task_out, try_core!(combinators::need_only_one(f, data, count)))
    }
}

/// A throttled loop (as Parallel.ForEachAsync with MaxDegreeOfParallelism): runs
/// `factory(user_data, i)` for i in 0..count with at most `max_in_flight` of the
/// returned tasks pending at once, starting the next as each completes. The result succeeds (value NULL) when every task succeeded;
/// otherwise fails with all errors in index order, or ends canceled.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data`; `*task_out` receives a new reference.
/// Threading: `factory` runs on this thread and on the threads that complete the tasks.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`max_in_flight` 0).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_for_each_throttled(
    factory: tapir_task_factory_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    count: u32,
    max_in_flight: u32,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(factory);
        require!(task_out);
        if max_in_flight == 0 {
            return Status::InvalidArgument;
        }
        // SAFETY: same ABI; only the pointee type of the returned pointer differs.
        let f: FactoryFn = unsafe {
            std::mem::transmute::<unsafe extern "C" fn(*mut c_void, u32) -> *const tapir_task, FactoryFn>(f)
        };
        let data = UserData::new(user_data, destroy);
        out_task(task_out, try_core!(combinators::for_each_throttled(f, data, count, max_in_flight)))
    }
}
