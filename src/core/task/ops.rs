//! The task operations the faces (the C ABI, the Rust API) call: sources, pre-completed
//! tasks, queries and continuations. Each validates its handles in the step that acts,
//! and a call that fails has done nothing.
//!
//! An operation on a handle has one body, `*_in`, on the cell the handle names; the
//! handle-only function (the C ABI's) looks the cell up and calls it. The Rust API's
//! `Task` and `CompletionSource` keep the cell beside the handle (a pool slot never
//! moves and is never freed while the library runs) and call the body directly. Either
//! way the body validates the handle's generation and count against the word in the
//! step that acts: a stale or over-released handle is an error.

use std::sync::OnceLock;

use crate::core::callback::{ContinueFn, NotifyFn, UserData};
use crate::core::cancel::TokenRef;
use crate::core::error::ErrorRef;
use crate::core::memory::handle::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::sync::{Ordering, fence};

use super::cell::TaskCell;
use super::complete::{self, Completer};
use super::continuation::{
    Action, Continuation, ContinueAction, Guard, LAZY_CANCELLATION,
    RUN_CONTINUATIONS_ASYNCHRONOUSLY,
};
use super::list::{self, Placement, Target, Want};
use super::outcome::{self, Outcome};
use super::refs::{SourceRef, TaskRef, refusal_status, source_cell, task_cell, task_view};
use super::schedule::SchedRef;
use super::word::{ASYNC, Final, RUN, Release, Snapshot};

/// Source flag: the task's continuations never run inline on the completing thread.
pub(crate) const SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1;

// ---------------------------------------------------------------------------
// Sources.

/// A new pending source and its task; returns the source handle (+1). `user_state` is
/// the task's state (Task.AsyncState), not owned.
#[inline]
pub fn source_new(flags: u32, user_state: usize) -> Handle {
    source_new_in(flags, user_state).0
}

/// As [`source_new`], with the cell.
#[inline]
pub(crate) fn source_new_in(flags: u32, user_state: usize) -> (Handle, &'static TaskCell) {
    let (index, cell) = complete::alloc_pending(user_state);
    let generation = complete::publish(cell, 0, 1, state_bits(flags));
    (Handle::new(Kind::Source, index, generation), cell)
}

/// The task's state bits for a source's `flags`.
#[inline(always)]
fn state_bits(flags: u32) -> u64 {
    if flags & SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0 {
        ASYNC
    } else {
        0
    }
}

/// Creates a completion source and its pending task together: one slot published with
/// one source reference and one user reference, so the pair costs one state-word write
/// instead of a source creation followed by a task mint (`source_new` + `source_task`).
/// Returns (source handle, task handle).
pub fn source_new_with_task(flags: u32, user_state: usize) -> (Handle, Handle) {
    let (source, task, _) = source_new_with_task_in(flags, user_state);
    (source, task)
}

/// As [`source_new_with_task`], with the cell: (source handle, task handle, cell).
#[inline]
pub(crate) fn source_new_with_task_in(
    flags: u32,
    user_state: usize,
) -> (Handle, Handle, &'static TaskCell) {
    let (index, cell) = complete::alloc_pending(user_state);
    let generation = complete::publish(cell, 1, 1, state_bits(flags));
    (
        Handle::new(Kind::Source, index, generation),
        Handle::new(Kind::Task, index, generation),
        cell,
    )
}

/// Adds a source handle reference.
pub fn source_retain(h: Handle) -> Result<()> {
    source_retain_in(source_cell(h)?, h)
}

/// As [`source_retain`] for the source handle `h` of `cell`.
#[inline]
pub(crate) fn source_retain_in(cell: &'static TaskCell, h: Handle) -> Result<()> {
    cell.word
        .retain_source(h.generation())
        .map_err(refusal_status)
}

/// Releases a source handle; the last one on a pending task with no other producer
/// fails it with BROKEN_PROMISE.
#[inline]
pub fn source_release(h: Handle) -> Result<()> {
    source_release_in(source_cell(h)?, h)
}

/// As [`source_release`] for the source handle `h` of `cell`. A task seen completed
/// cannot be orphaned (COMPLETED is never cleared while its generation lasts; a stale
/// handle fails the compare-exchange), so its release is one compare-exchange without
/// the orphan check, in line; a pending one takes the general path.
#[inline]
pub(crate) fn source_release_in(cell: &'static TaskCell, h: Handle) -> Result<()> {
    if !cell.word.load_relaxed().is_completed() {
        return complete::release_source_cell(cell, h.index(), h.generation());
    }
    match cell.word.release_source(h.generation(), false) {
        Release::Alive => Ok(()),
        Release::Dying => {
            complete::teardown(cell, h.index());
            Ok(())
        }
        Release::Invalid => Err(Status::InvalidHandle),
        Release::Orphaned(_) => unreachable!("a release without orphan is never orphaned"),
        Release::Unobserved => unreachable!("a source release changes no observer"),
    }
}

/// The task of a source (+1 task handle; the same task every time).
#[inline]
pub fn source_task(h: Handle) -> Result<Handle> {
    source_task_in(source_cell(h)?, h)
}

/// As [`source_task`] for the source handle `h` of `cell`.
#[inline]
pub(crate) fn source_task_in(cell: &'static TaskCell, h: Handle) -> Result<Handle> {
    let g = h.generation();
    cell.word
        .mint_user(g, |w| w.sources() > 0)
        .map_err(refusal_status)?;
    Ok(Handle::new(Kind::Task, h.index(), g))
}

/// Completes the task of a source handle with a value (SetResult). On any error the
/// value stays with the caller (its destroy does not run).
#[inline]
pub fn source_set_value(
    h: Handle,
    value: usize,
    destroy: Option<crate::core::callback::DestroyFn>,
) -> Result<()> {
    complete::succeed_by_source::<false>(source_cell(h)?, h.index(), h.generation(), value, destroy)
}

/// As [`source_set_value`] for the source handle `h` of `cell`, from the Rust API: its
/// tasks are usually awaited, so the completion tests for a waker first.
#[inline]
pub(crate) fn source_set_value_in(
    cell: &'static TaskCell,
    h: Handle,
    value: usize,
    destroy: Option<crate::core::callback::DestroyFn>,
) -> Result<()> {
    complete::succeed_by_source::<true>(cell, h.index(), h.generation(), value, destroy)
}

/// SetResult by the source handle `h` of `cell`, which it consumes
/// ([`complete::succeed_by_source_and_release`]): the task completes with `value` and
/// the handle's reference goes in the store that publishes COMPLETED. On
/// INVALID_HANDLE nothing happened; on ALREADY_COMPLETED the handle was still released.
/// On any error the value stays with the caller (its destroy does not run).
#[inline]
pub(crate) fn source_set_value_release_in(
    cell: &'static TaskCell,
    h: Handle,
    value: usize,
    destroy: Option<crate::core::callback::DestroyFn>,
) -> Result<()> {
    complete::succeed_by_source_and_release(cell, h.index(), h.generation(), value, destroy)
}

/// Completes the task of a source handle. On any error the outcome is refused: a value
/// stays with the caller (its destroy does not run).
#[inline]
pub fn source_complete(h: Handle, outcome: Outcome) -> Result<()> {
    let cell = match source_cell(h) {
        Ok(c) => c,
        Err(s) => {
            outcome.refuse();
            return Err(s);
        }
    };
    complete::complete(
        cell,
        h.index(),
        h.generation(),
        outcome,
        Completer::UserSource,
        true,
    )
}

// ---------------------------------------------------------------------------
// Pre-completed tasks.

/// A task that succeeded from birth with `value` (+1); `destroy` runs when it goes.
#[inline]
pub fn from_value(value: usize, destroy: Option<crate::core::callback::DestroyFn>) -> Handle {
    from_value_in(value, destroy).0
}

/// As [`from_value`], with the cell.
#[inline]
pub(crate) fn from_value_in(
    value: usize,
    destroy: Option<crate::core::callback::DestroyFn>,
) -> (Handle, &'static TaskCell) {
    complete::new_succeeded(value, destroy)
}

/// A task completed from birth with `outcome` (+1).
pub fn from_outcome(outcome: Outcome) -> Handle {
    complete::new_completed(outcome)
}

/// The shared, already-succeeded task (result NULL), as a new reference; getting it
/// again creates no new object.
pub fn completed_task() -> Handle {
    static SHARED: OnceLock<Handle> = OnceLock::new();
    let h = *SHARED.get_or_init(|| {
        let h = complete::new_completed(Outcome::value(0));
        task_cell(h).expect("just made").word.make_permanent();
        h
    });
    match task_cell(h).and_then(|c| c.word.retain_user(h.generation()).map_err(refusal_status)) {
        Ok(()) => h,
        // Every permanent reference is in use: hand out a fresh one instead.
        Err(_) => complete::new_completed(Outcome::value(0)),
    }
}

// ---------------------------------------------------------------------------
// Task references and queries.

/// Adds a task handle reference.
pub fn task_retain(h: Handle) -> Result<()> {
    task_retain_in(task_cell(h)?, h)
}

/// As [`task_retain`] for the task handle `h` of `cell`.
#[inline]
pub(crate) fn task_retain_in(cell: &'static TaskCell, h: Handle) -> Result<()> {
    cell.word
        .retain_user(h.generation())
        .map_err(refusal_status)
}

/// Adds a task handle reference to the task `h` names for a holder that keeps it by a
/// library reference it may be dropping concurrently (a cache's lock-free hit): refused
/// unless the task is still this generation and still held by a library reference.
#[inline]
pub(crate) fn task_mint_held(h: Handle) -> Result<()> {
    task_cell(h)?
        .word
        .mint_user(h.generation(), |w| w.has(super::word::HELD))
        .map_err(refusal_status)
}

/// Releases a task handle reference; the last reference of any kind tears it down.
#[inline(always)]
pub fn task_release(h: Handle) -> Result<()> {
    task_release_in(task_cell(h)?, h)
}

/// As [`task_release`] for the task handle `h` of `cell`.
#[inline]
pub(crate) fn task_release_in(cell: &'static TaskCell, h: Handle) -> Result<()> {
    complete::release_task_cell(cell, h.index(), h.generation())
}

/// What `read` makes of the word of the valid task handle `h` of `cell`, with the word
/// read again after `read` so that what `read` saw belongs to this task (the handle may
/// be racing its own release on another thread).
#[inline(always)]
fn read_checked_in<R>(
    cell: &'static TaskCell,
    h: Handle,
    read: impl FnOnce(&'static TaskCell, Snapshot) -> R,
) -> Result<R> {
    let w = cell.word.load();
    if !w.task_handle_valid(h.generation()) {
        return Err(Status::InvalidHandle);
    }
    let r = read(cell, w);
    // Acquire fence: the loads in `read` happen before the second load of the word; a
    // teardown that changed what they read set DYING (or retired) before its writes.
    fence(Ordering::Acquire);
    if cell.word.load_relaxed().is_generation(h.generation()) {
        Ok(r)
    } else {
        Err(Status::InvalidHandle)
    }
}

/// As [`read_checked_in`] for a task handle alone.
fn read_checked<R>(h: Handle, read: impl FnOnce(&'static TaskCell, Snapshot) -> R) -> Result<R> {
    read_checked_in(task_cell(h)?, h, read)
}

/// The final status of the task `h` of `cell` and, if it succeeded, its value (0
/// otherwise), read in one validated step: the await fast path. None while pending.
#[inline]
pub(crate) fn completed_value_in(
    cell: &'static TaskCell,
    h: Handle,
) -> Result<Option<(Final, usize)>> {
    read_checked_in(cell, h, |cell, w| {
        w.final_status().map(|s| {
            let v = if s == Final::Succeeded {
                outcome::value_of(cell)
            } else {
                0
            };
            (s, v)
        })
    })
}

/// What an await of a task finds (see [`await_read_in`]).
pub(crate) enum AwaitRead {
    /// Not completed yet: the word as read.
    Pending(Snapshot),
    /// Succeeded with this value.
    Succeeded(usize),
    /// Faulted or canceled.
    Ended,
    /// The handle no longer names its task.
    Invalid,
}

/// What an await of the task `h` of `cell` finds, in one validated read: the await
/// fast path of a holder of one of its task handle references (a Rust `Task`), for
/// which the generation alone says that the cell still holds its task — even a
/// reference that C code released behind the holder's back leaves the task alive for
/// as long as the generation is the same, so what is read is this task's.
#[inline(always)]
pub(crate) fn await_read_in(cell: &'static TaskCell, h: Handle) -> AwaitRead {
    let g = super::word::generation_bits(h.generation());
    let w = cell.word.load();
    if !w.has_generation_bits(g) {
        return AwaitRead::Invalid;
    }
    if !w.succeeded() {
        return if w.is_completed() {
            AwaitRead::Ended
        } else {
            AwaitRead::Pending(w)
        };
    }
    let value = outcome::value_of(cell);
    // Acquire fence: as in `read_checked_in`, the value was read before the word again.
    fence(Ordering::Acquire);
    if cell.word.load_relaxed().has_generation_bits(g) {
        AwaitRead::Succeeded(value)
    } else {
        AwaitRead::Invalid
    }
}

/// The final status of a task; None while pending.
#[inline]
pub fn status(h: Handle) -> Result<Option<Final>> {
    status_in(task_cell(h)?, h)
}

/// As [`status`] for the task handle `h` of `cell`.
#[inline]
pub(crate) fn status_in(cell: &'static TaskCell, h: Handle) -> Result<Option<Final>> {
    let w = cell.word.load();
    if w.task_handle_valid(h.generation()) {
        Ok(w.final_status())
    } else {
        Err(Status::InvalidHandle)
    }
}

/// The task's state (Task.AsyncState): for continuation tasks the continuation's
/// user_data; NULL for a tapir_run task.
pub fn state(h: Handle) -> Result<usize> {
    read_checked(h, |cell, w| {
        if w.has(RUN) {
            0
        } else {
            cell.user_state.load(Ordering::Relaxed)
        }
    })
}

/// The creation flags (SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY).
pub fn options(h: Handle) -> Result<u32> {
    task_view(h).map(|(_, w)| {
        if w.has(ASYNC) {
            SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY
        } else {
            0
        }
    })
}

/// The value of a succeeded task; NotCompleted / Faulted (the errors count as observed)
/// / Canceled otherwise.
pub fn result(h: Handle) -> Result<usize> {
    match status(h)? {
        None => Err(Status::NotCompleted),
        Some(Final::Succeeded) => read_checked(h, |cell, _| outcome::value_of(cell)),
        Some(Final::Faulted) => {
            let pin = TaskRef::pin(h)?;
            outcome::mark_observed(pin.cell());
            Err(Status::Faulted)
        }
        Some(Final::Canceled) => Err(Status::Canceled),
    }
}

/// The errors of a faulted task (they count as observed); empty for other states.
pub fn errors(h: Handle) -> Result<Vec<ErrorRef>> {
    let pin = TaskRef::pin(h)?;
    if pin.final_status() != Some(Final::Faulted) {
        return Ok(Vec::new());
    }
    outcome::mark_observed(pin.cell());
    Ok(outcome::errors_of(pin.cell()))
}

/// The token that canceled a task (None: canceled without one).
pub fn cancel_token(h: Handle) -> Result<Option<TokenRef>> {
    let pin = TaskRef::pin(h)?;
    match pin.final_status() {
        None => Err(Status::NotCompleted),
        Some(Final::Canceled) => Ok(outcome::token_of(pin.cell())),
        Some(_) => Err(Status::InvalidState),
    }
}

// ---------------------------------------------------------------------------
// Continuations.

/// `tapir_task_on_complete`: registers `f(data, task)`. Returns a registration handle
/// (+1) when `want_handle` and the continuation was queued. On error the user data is
/// the caller's again (its destroy did not run).
#[inline]
pub fn on_complete(
    h: Handle,
    f: NotifyFn,
    data: UserData,
    flags: u32,
    scheduler: Option<SchedRef>,
    token: Option<TokenRef>,
    want_handle: bool,
) -> Result<Option<Handle>> {
    let data = if scheduler.is_none() && token.is_none() && !want_handle {
        let (ptr, destroy) = data.into_raw();
        match list::notify_fast(h, f, ptr, destroy, flags) {
            Ok(()) => return Ok(None),
            Err(Some(s)) => return Err(s),
            Err(None) => UserData::new(ptr, destroy),
        }
    } else {
        data
    };
    let cont = Continuation {
        action: Action::Notify { f, data },
        flags,
        scheduler,
        guard: token.map(|token| Guard { token, eager: None }),
    };
    let want = if want_handle {
        Want::Handle
    } else {
        Want::Nothing
    };
    match list::register(Target::User(h), cont, want) {
        Ok(Placement::Node(_, handle)) => Ok(handle),
        Ok(_) => Ok(None),
        Err((s, cont)) => {
            cont.refuse();
            Err(s)
        }
    }
}

/// `tapir_task_on_complete` without scheduler, token or registration handle: the hot
/// path. On error `data` is the caller's again (destroy did not run).
#[inline]
pub fn on_complete_plain(
    h: Handle,
    f: NotifyFn,
    data: *mut std::ffi::c_void,
    destroy: Option<crate::core::callback::DestroyFn>,
    flags: u32,
) -> Result<()> {
    match list::notify_fast(h, f, data, destroy, flags) {
        Ok(()) => Ok(()),
        Err(Some(s)) => Err(s),
        Err(None) => {
            on_complete(h, f, UserData::new(data, destroy), flags, None, None, false).map(|_| ())
        }
    }
}

/// `tapir_task_continue_with`: registers `f(data, task, next)` and returns the
/// continuation task (+1), whose state is `data`. On error nothing was created and the
/// user data is the caller's again.
pub fn continue_with(
    h: Handle,
    f: ContinueFn,
    data: UserData,
    flags: u32,
    scheduler: Option<SchedRef>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    if let Err(s) = task_view(h) {
        data.give_back();
        return Err(s);
    }
    let (ptr, destroy) = data.into_raw();
    let (next, out) =
        SourceRef::new_task(flags & RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0, ptr as usize);
    let guard = token.map(|token| {
        let eager = (flags & LAZY_CANCELLATION == 0)
            .then(|| eager_cancel(&token, &next))
            .flatten();
        Guard { token, eager }
    });
    let cont = Continuation {
        action: Action::Continue(ContinueAction { f, destroy, next }),
        flags,
        scheduler,
        guard,
    };
    match list::register(Target::User(h), cont, Want::Nothing) {
        Ok(_) => Ok(out),
        Err((s, cont)) => {
            cont.refuse();
            // Nobody saw the continuation task: its last reference goes with no trace.
            let _ = task_release(out);
            Err(s)
        }
    }
}

/// Cancels `next` as soon as `token` is (the TPL's default for a continuation with a
/// token); the registration is removed when the continuation runs.
fn eager_cancel(token: &TokenRef, next: &SourceRef) -> Option<u64> {
    let next = next.clone();
    let weak = token.weak();
    token.register(
        crate::core::cancel::CancelAction::Rust(Box::new(move || {
            let token = weak.upgrade().map(TokenRef::from_ref);
            next.try_complete(Outcome::Canceled(token), true);
        })),
        true,
    )
}
