//! Every path that creates, completes, runs or tears down a task.
//!
//! # Completion
//! The completer takes LOCKED from the pending state (the compare-exchange that also
//! validates its source handle), writes the outcome, detaches the continuations (the
//! inline entry and the list) and publishes COMPLETED with one Release store, setting
//! LENT when it has continuations to run: from then on the task cannot die and its
//! handle stays valid for the callbacks whatever other threads release, until the
//! completer clears LENT. The detached continuations run in three waves — blocked
//! waiters are woken, then dispatched continuations are posted (in registration order),
//! then synchronous ones run inline in registration order through the trampoline, which
//! bounds stack depth. One case needs no LENT: a lone waker (a future awaiting the
//! task) uses neither the task nor its handle, so the completer publishes COMPLETED
//! without it, wakes the waker it detached, and has nothing to clear afterwards.
//!
//! # Teardown
//! The thread whose release left nothing referencing the task sets DYING and alone
//! owns the slot: it moves out the outcome (or, for a task that never completed, its
//! continuations, which are discarded: destroy runs, fn never does), frees the extra
//! record, retires the word and frees the slot, and only then drops what it moved out,
//! which may run user destroy callbacks and the unobserved-error hook.

use crate::core::callback::{DestroyFn, NotifyFn, run_destroy};
use crate::core::hooks;
use crate::core::status::{Result, Status};
use crate::core::sync::Ordering;

use super::cell::{Stored, TASKS, TaskCell};
use super::continuation::{self, Action, Continuation, ContinueAction, EXECUTE_SYNCHRONOUSLY};
use super::list::{self, FirstEntry};
use super::outcome::{Antecedent, Outcome};
use super::refs::{TaskRef, refusal_status};
use super::slot;
use super::trampoline;
use super::word::{ASYNC, DYING, FIRST, Final, HELD, LENT, LIST, RUN, Refusal, Release, Snapshot};
use super::work::Job;
use super::{diag, trace};

/// Takes a slot for a new task and resets it; the caller writes what else it needs and
/// then [`publish`]es it.
#[inline]
pub(crate) fn alloc_pending(user_state: usize) -> (u32, &'static TaskCell) {
    let (index, cell) = TASKS.alloc();
    // Relaxed: the slot is unpublished; `publish` is a Release store.
    cell.meta.store(0, Ordering::Relaxed);
    cell.extra.store(0, Ordering::Relaxed);
    cell.user_state.store(user_state, Ordering::Relaxed);
    if trace::active() {
        created(index, cell);
    }
    (index, cell)
}

/// The id a task in `cell` at `index` has once published (its generation is the slot's
/// current one).
fn task_id(index: u32, generation: u32) -> u64 {
    crate::core::memory::Handle::new(crate::core::memory::Kind::Task, index, generation).bits()
}

#[cold]
fn created(index: u32, cell: &'static TaskCell) {
    let id = task_id(index, cell.word.load_relaxed().generation());
    if diag::task_created(id) {
        // A task with an entry in the diagnostics table gets an extra record, so its
        // teardown takes the slow path, which removes the entry (named tasks have one
        // from the pin that named them). The slot is not published yet: no lock needed.
        cell.extra_or_new();
    }
    trace::task_created(id);
}

#[cold]
fn completed(index: u32, generation: u32, status: Final) {
    trace::task_completed(task_id(index, generation), status as i32);
}

/// Publishes a slot from [`alloc_pending`] with its first references; returns its
/// generation.
#[inline]
pub(crate) fn publish(cell: &'static TaskCell, user: u64, sources: u64, bits: u64) -> u32 {
    let generation = cell.word.load_relaxed().generation();
    cell.word
        .publish(Snapshot::initial(generation, user, sources, bits));
    generation
}

/// A task that is completed from birth, with one user handle.
pub(crate) fn new_completed(outcome: Outcome) -> crate::core::memory::Handle {
    let (index, cell) = alloc_pending(0);
    let status = outcome.final_status();
    outcome.store(cell);
    let generation = cell.word.load_relaxed().generation();
    cell.word
        .publish(Snapshot::initial(generation, 1, 0, 0).with_status(status));
    if trace::active() {
        completed(index, generation, status);
    }
    crate::core::memory::Handle::new(crate::core::memory::Kind::Task, index, generation)
}

/// A task that never completes by itself and has no producer (an infinite delay
/// without a token): pending, and freed with its last handle (+1).
pub(crate) fn new_never() -> crate::core::memory::Handle {
    let (index, cell) = alloc_pending(0);
    let generation = publish(cell, 1, 0, 0);
    crate::core::memory::Handle::new(crate::core::memory::Kind::Task, index, generation)
}

/// A task that succeeded from birth with a value it owns (`destroy`, if any, runs when
/// it goes), with one user handle: Task.FromResult without building an outcome.
/// Returns the handle and its cell.
#[inline]
pub(crate) fn new_succeeded(
    value: usize,
    destroy: Option<DestroyFn>,
) -> (crate::core::memory::Handle, &'static TaskCell) {
    let (index, cell) = alloc_pending(0);
    cell.write_outcome(Stored::Value, value, destroy.map_or(0, |d| d as usize));
    let generation = cell.word.load_relaxed().generation();
    cell.word
        .publish(Snapshot::initial(generation, 1, 0, 0).with_status(Final::Succeeded));
    if trace::active() {
        completed(index, generation, Final::Succeeded);
    }
    (
        crate::core::memory::Handle::new(crate::core::memory::Kind::Task, index, generation),
        cell,
    )
}

/// Completes a task with a value through a user source handle (SetResult), without
/// building an outcome: the hot path. On error the value stays the caller's.
/// `WAKER_FIRST` says which lone continuation the completion tests for first (see
/// [`publish_and_run`]): true for the Rust API, whose tasks are usually awaited.
#[inline]
pub(crate) fn succeed_by_source<const WAKER_FIRST: bool>(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    value: usize,
    destroy: Option<DestroyFn>,
) -> Result<()> {
    succeed_by_source_with::<false, WAKER_FIRST>(cell, index, generation, value, destroy)
}

/// [`succeed_by_source`] by a source handle it consumes: the handle's reference goes in
/// the store that publishes COMPLETED (what `succeed_by_source` then
/// [`release_source_cell`] do, with one compare-exchange fewer). On INVALID_HANDLE
/// nothing happened; on ALREADY_COMPLETED the handle was still released. On any error
/// the value stays the caller's (its destroy does not run). Only the Rust API consumes
/// a source this way, so it tests for a waker first.
#[inline]
pub(crate) fn succeed_by_source_and_release(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    value: usize,
    destroy: Option<DestroyFn>,
) -> Result<()> {
    succeed_by_source_with::<true, true>(cell, index, generation, value, destroy)
}

/// The body of [`succeed_by_source`] and [`succeed_by_source_and_release`]: with
/// `RELEASE_SOURCE`, the source handle's reference is released too (a constant, so
/// each is its own code, and the C path's SetResult has no test for it).
#[inline(always)]
fn succeed_by_source_with<const RELEASE_SOURCE: bool, const WAKER_FIRST: bool>(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    value: usize,
    destroy: Option<DestroyFn>,
) -> Result<()> {
    let locked = cell
        .word
        .lock_pending_if(|w| w.source_handle_valid(generation));
    let w = match locked {
        Ok(w) => w,
        Err(Refusal::Completed) if RELEASE_SOURCE => {
            let _ = release_source_cell(cell, index, generation);
            return Err(Status::AlreadyCompleted);
        }
        Err(r) => return Err(refusal_status(r)),
    };
    cell.write_outcome(Stored::Value, value, destroy.map_or(0, |d| d as usize));
    publish_and_run::<RELEASE_SOURCE, WAKER_FIRST>(
        cell,
        index,
        generation,
        w,
        Final::Succeeded,
        true,
    );
    Ok(())
}

/// Who completes a task, and so what the completing compare-exchange validates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completer {
    /// A caller's source handle of this generation.
    UserSource,
    /// A library producer reference (which keeps the task).
    Library,
}

/// Completes the task; refuses the outcome (a value stays with its owner) with
/// INVALID_HANDLE or ALREADY_COMPLETED.
#[inline]
pub(crate) fn complete(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    outcome: Outcome,
    who: Completer,
    inline_ok: bool,
) -> Result<()> {
    let locked = cell.word.lock(|w| {
        let valid = match who {
            Completer::UserSource => w.source_handle_valid(generation),
            Completer::Library => w.is_generation(generation),
        };
        if !valid {
            Err(Refusal::Stale)
        } else if w.is_completed() {
            Err(Refusal::Completed)
        } else {
            Ok(())
        }
    });
    match locked {
        Ok(w) => {
            let outcome = if who == Completer::UserSource && w.has(RUN) {
                acknowledged(cell, outcome)
            } else {
                outcome
            };
            complete_held(cell, index, generation, w, outcome, inline_ok);
            Ok(())
        }
        Err(r) => {
            outcome.refuse();
            Err(refusal_status(r))
        }
    }
}

/// A task body that cancels its task with a token other than the one its run was
/// given (or none) leaves it faulted: only its own token acknowledges cancellation, as
/// the TPL rules for Task.Run.
fn acknowledged(cell: &TaskCell, outcome: Outcome) -> Outcome {
    let Outcome::Canceled(token) = &outcome else {
        return outcome;
    };
    // Relaxed: written before the task was published.
    let own = cell.user_state.load(Ordering::Relaxed) as u64;
    let ok = token
        .as_ref()
        .is_some_and(|t| t.bits() == own && t.is_canceled());
    if ok {
        outcome
    } else {
        Outcome::library_error(
            Status::Canceled,
            "the task's body ended canceled, but not by the token its run was given",
        )
    }
}

/// Completes a pending task whose LOCKED the caller holds (`w`: the word, with or
/// without the LOCKED bit).
fn complete_held(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    w: Snapshot,
    outcome: Outcome,
    inline_ok: bool,
) {
    debug_assert_eq!(
        w.has(HELD),
        cell.held() > 0,
        "the completed word must carry HELD as the extra record has it"
    );
    let status = outcome.final_status();
    outcome.store(cell);
    publish_and_run::<false, true>(cell, index, generation, w, status, inline_ok);
}

/// After the outcome is written (LOCKED held, `w` the pending word): publishes
/// COMPLETED and runs what was registered. With `RELEASE_SOURCE`, the store that
/// publishes COMPLETED also drops one source reference, the completing handle's (the
/// task cannot be orphaned: that very store completes it). With `WAKER_FIRST`, a lone
/// continuation is first tested for being a waker (`wake_alone`), which the Rust API's
/// completions most often find; C's completions, which most often find a callback, go
/// straight to it (a waker they find still runs, only by the general path). Each
/// instance is its own code (and its own trampoline closures), which LLVM inlines into
/// its SetResult.
#[inline]
fn publish_and_run<const RELEASE_SOURCE: bool, const WAKER_FIRST: bool>(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    w: Snapshot,
    status: Final,
    inline_ok: bool,
) {
    let w = if RELEASE_SOURCE {
        Snapshot(w.0 - Snapshot::initial(0, 0, 1, 0).0)
    } else {
        w
    };
    if w.0 & (FIRST | LIST) == FIRST {
        // One continuation (the TPL's single-continuation case).
        let raw = slot::read(cell);
        if WAKER_FIRST && list::is_waker(&raw) {
            // SAFETY: the entry was read under LOCKED and is this completer's; taking
            // its waker is the entry's only use.
            let waker = unsafe { list::take_waker(raw) };
            return wake_alone(cell, index, generation, w, status, waker);
        }
        slot::publish_detached(cell, w, Some(&raw), status, false, |f| {
            f.is_some_and(list::is_library)
        });
        if trace::active() {
            completed(index, generation, status);
        }
        let ant = Antecedent {
            cell,
            index,
            generation,
            status,
            inline_ok: inline_ok && !w.has(ASYNC),
        };
        match list::RawNotify::decode(&raw) {
            Some(notify) if ant.inline_ok => trampoline::run_or_defer_value(
                notify,
                |n| n.run(&ant),
                |n| Job::continuation(n.into_continuation(), TaskRef::from_alive(&ant)),
            ),
            _ => run_first(&ant, FirstEntry::from_raw(raw)),
        }
        if cell.word.clear_lent() == Release::Dying {
            teardown(cell, index);
        }
        return;
    }
    if !w.has(FIRST) && !w.has(LIST) {
        let done = w.with_status(status);
        let released = cell.word.unlock_or_die(done);
        if trace::active() {
            completed(index, generation, status);
        }
        if released == Release::Dying {
            teardown(cell, index);
        }
        return;
    }
    let rest = if w.has(LIST) {
        list::take_list(cell)
    } else {
        0
    };
    let (first, _) = slot::detach(cell, w, status, rest != 0, |f| {
        f.is_none_or(list::is_library) && list::all_library(rest)
    });
    if trace::active() {
        completed(index, generation, status);
    }
    let first = first.map(FirstEntry::from_raw);
    let ant = Antecedent {
        cell,
        index,
        generation,
        status,
        inline_ok: inline_ok && !w.has(ASYNC),
    };
    match (first, rest) {
        (Some(entry), 0) => run_first(&ant, entry),
        (first, rest) => list::run_detached(&ant, first, rest),
    }
    if cell.word.clear_lent() == Release::Dying {
        teardown(cell, index);
    }
}

/// The completion of a task whose one continuation is the waker of a future awaiting
/// it: the waker needs neither the task nor its handle, so the task is published
/// without LENT (no second compare-exchange to clear it) and the waker is woken through
/// the trampoline, as any inline continuation.
#[inline(always)]
fn wake_alone(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    w: Snapshot,
    status: Final,
    waker: std::task::Waker,
) {
    let released = slot::detach_alone(cell, w, status);
    if trace::active() {
        completed(index, generation, status);
    }
    // Rare: the awaiting future's task handle keeps the task, so this store is the
    // last reference only when that handle was released behind its back.
    if released == Release::Dying {
        teardown_out_of_line(cell, index);
    }
    trampoline::wake(waker);
}

/// The single-continuation case (the TPL's one-continuation object): run it inline now
/// if it may, through the trampoline, or dispatch it.
#[inline]
fn run_first(ant: &Antecedent, entry: FirstEntry) {
    if entry.runs_inline(ant.inline_ok) {
        trampoline::run_or_defer_value(
            entry,
            |entry| entry.run(ant),
            |entry| Job::continuation(entry.into_continuation(), TaskRef::from_alive(ant)),
        );
    } else {
        dispatch(ant, entry.into_continuation());
    }
}

/// Runs an inline continuation now, or defers it past the depth bound.
pub(crate) fn run_inline(ant: &Antecedent, cont: Continuation) {
    trampoline::run_or_defer_value(
        cont,
        |cont| run_continuation(ant, cont),
        |cont| Job::continuation(cont, TaskRef::from_alive(ant)),
    );
}

/// Posts a continuation to its scheduler; the job keeps the antecedent.
pub(crate) fn dispatch(ant: &Antecedent, cont: Continuation) {
    let keep = TaskRef::from_alive(ant);
    let scheduler = cont.scheduler.clone();
    let job = Job::continuation(cont, keep);
    match scheduler {
        Some(s) => s.post(job),
        None => super::workers::post(job),
    }
}

/// True when a user continuation with `flags` on `scheduler` runs inline here.
pub(crate) fn user_runs_inline(cont: &Continuation, inline_ok: bool) -> bool {
    if cont.action.is_internal() {
        return true;
    }
    inline_ok
        && cont.flags & EXECUTE_SYNCHRONOUSLY != 0
        && cont.scheduler.as_ref().is_none_or(|s| s.inline_allowed())
}

/// Runs a continuation for a completed antecedent kept alive by the caller.
pub(crate) fn run_continuation(ant: &Antecedent, cont: Continuation) {
    let Continuation {
        action,
        flags,
        scheduler: _,
        guard,
    } = cont;
    if let Some(mut g) = guard {
        if let Some(id) = g.eager.take() {
            g.token.unregister(id);
        }
        if g.token.is_canceled() {
            action.cancel(Some(g.token.clone()));
            return;
        }
    }
    run_action(ant, action, flags);
}

fn run_action(ant: &Antecedent, action: Action, flags: u32) {
    match action {
        Action::Notify { f, data } => {
            let (ptr, destroy) = data.into_raw();
            run_notify(ant, f, ptr as usize, destroy, flags);
        }
        Action::Continue(c) => run_continue(ant, c, flags),
        Action::Forward { target } => {
            target.try_complete(ant.shared_outcome(), ant.inline_ok);
        }
        Action::Internal(i) => i.run(ant),
    }
}

#[inline(always)]
pub(crate) fn run_notify(
    ant: &Antecedent,
    f: NotifyFn,
    data: usize,
    destroy: Option<DestroyFn>,
    flags: u32,
) {
    let runs = continuation::admits(flags, ant.status);
    // A callback that runs with CALLBACK_FREES takes user_data over: no destroy after it
    // (one call saved for a binding where each call into it has a fixed cost). Decided
    // before the call, so only the destroy itself is kept across it.
    let destroy = if runs & (flags & continuation::CALLBACK_FREES != 0) {
        None
    } else {
        destroy
    };
    if runs {
        if trace::active() {
            traced_notify(ant, f, data);
        } else {
            // SAFETY: `f` is the registrant's callback; the C contract makes it callable
            // once from any thread with its user_data and a task handle borrowed for
            // the call, which the runner keeps valid (LENT, its own handle, or a lent
            // reference).
            unsafe { f(data as *mut std::ffi::c_void, ant.handle().as_ptr()) };
        }
    }
    // SAFETY: the registrant's destroy for `data`, called once after `f` (or instead of
    // it, when the flags refuse the outcome).
    unsafe { run_destroy(data as *mut std::ffi::c_void, destroy) };
}

/// `run_notify`'s call between the tracing hooks' start and end events.
#[cold]
#[inline(never)]
fn traced_notify(ant: &Antecedent, f: NotifyFn, data: usize) {
    // SAFETY: as in `run_notify`.
    traced(ant, || unsafe {
        f(data as *mut std::ffi::c_void, ant.handle().as_ptr())
    });
}

/// Runs a continuation callback between the tracing hooks' start and end events.
#[cold]
fn traced(ant: &Antecedent, call: impl FnOnce()) {
    let id = ant.handle().bits();
    trace::continuation_started(id);
    call();
    trace::continuation_finished(id);
}

pub(crate) fn run_continue(ant: &Antecedent, c: ContinueAction, flags: u32) {
    if continuation::admits(flags, ant.status) {
        let data = c.next.user_state();
        let call = || {
            // SAFETY: the registrant's continuation, called once with its user_data,
            // the antecedent (kept valid by the runner) and `next`, a source handle
            // kept valid by the source reference `c` owns for the call.
            unsafe {
                (c.f)(
                    data as *mut std::ffi::c_void,
                    ant.handle().as_ptr(),
                    c.next.source_handle().as_ptr(),
                )
            }
        };
        if trace::active() {
            traced(ant, call);
        } else {
            call();
        }
    } else {
        c.next.try_complete(Outcome::Canceled(None), ant.inline_ok);
    }
    let next = c.finish_callback();
    next.finish(ant.inline_ok);
}

/// Releases a library producer reference; with `finish`, a pending task left without
/// any producer fails with BROKEN_PROMISE (after user code had its chance).
pub(crate) fn release_producer(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    in_extra: bool,
    finish: bool,
    inline_ok: bool,
) {
    if !in_extra {
        match cell.word.release_source(generation, finish) {
            Release::Alive => {}
            Release::Dying => teardown(cell, index),
            Release::Orphaned(w) => orphaned(cell, index, generation, w, inline_ok),
            Release::Invalid => debug_assert!(false, "a producer reference was stale"),
            Release::Unobserved => unreachable!("a source release changes no observer"),
        }
        return;
    }
    let w = cell
        .word
        .lock(|_| Ok(()))
        .expect("a producer keeps its task");
    let x = cell.extra().expect("a counted producer has its record");
    x.producers.set(x.producers.get_copy() - 1);
    if finish && !w.is_completed() && w.sources() == 0 && x.producers.get_copy() == 0 {
        // The completed word is built from `w`: its HELD must say what the record says
        // now, without this producer, or the task would outlive its last reference.
        let w = cell.with_held(w);
        complete_held(cell, index, generation, w, broken_promise(), inline_ok);
    } else if cell.word.unlock_or_die(cell.with_held(w)) == Release::Dying {
        teardown(cell, index);
    }
}

/// The last source of a pending task is gone (the caller holds LOCKED): unless a
/// library producer remains, the promise is broken.
fn orphaned(cell: &'static TaskCell, index: u32, generation: u32, w: Snapshot, inline_ok: bool) {
    let producers = cell.extra().map_or(0, |x| x.producers.get_copy());
    if producers > 0 {
        let _ = cell.word.unlock_or_die(w);
        return;
    }
    complete_held(cell, index, generation, w, broken_promise(), inline_ok);
}

fn broken_promise() -> Outcome {
    Outcome::library_error(
        Status::BrokenPromise,
        "broken promise: the task's source was released without completing it",
    )
}

/// Releases a user source handle of `generation` (`tapir_source_release`) on a cell
/// already looked up for slot `index` (the generation check is the compare-exchange's);
/// the last one on a pending task with no other producer fails it with BROKEN_PROMISE.
pub(crate) fn release_source_cell(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
) -> Result<()> {
    match cell.word.release_source(generation, true) {
        Release::Alive => Ok(()),
        Release::Dying => {
            teardown(cell, index);
            Ok(())
        }
        Release::Orphaned(w) => {
            orphaned(cell, index, generation, w, true);
            Ok(())
        }
        Release::Invalid => Err(Status::InvalidHandle),
        Release::Unobserved => unreachable!("a source release changes no observer"),
    }
}

/// Releases a user task handle (`tapir_task_release`).
#[inline]
pub(crate) fn release_task_handle(h: crate::core::memory::Handle) -> Result<()> {
    let cell = super::refs::task_cell(h)?;
    release_task_cell(cell, h.index(), h.generation())
}

/// Releases a task handle reference of `generation` on a cell already looked up for
/// slot `index` (the generation check is still the compare-exchange's). The last
/// release of most tasks is a task handle's, so the teardown's fast path is inlined
/// here.
#[inline(always)]
pub(crate) fn release_task_cell(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
) -> Result<()> {
    release_task_cell_with::<true>(cell, index, generation)
}

/// [`release_task_cell`], with the teardown inlined or not.
#[inline(always)]
fn release_task_cell_with<const INLINE_TEARDOWN: bool>(
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
) -> Result<()> {
    match cell.word.release_user(generation) {
        Release::Alive => Ok(()),
        Release::Dying if INLINE_TEARDOWN => {
            teardown(cell, index);
            Ok(())
        }
        Release::Dying => {
            teardown_out_of_line(cell, index);
            Ok(())
        }
        Release::Unobserved => {
            super::abandon::notify(cell, generation);
            Ok(())
        }
        Release::Invalid | Release::Orphaned(_) => Err(Status::InvalidHandle),
    }
}

/// A task handle reference taken for a callback that runs inside the registering call
/// (the task had completed): the handle lent to the callback stays valid for all of it,
/// even if another thread releases the caller's last reference meanwhile. Released
/// (perhaps the task's last reference) when dropped, on the cell it was taken on: the
/// reference keeps the slot, so no second lookup is needed.
pub(crate) struct LentHandle {
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
}

impl LentHandle {
    /// Takes the reference in one validating step; `Err` when `h` is stale. With the
    /// handle count at its bound no reference is taken (`Ok(None)`): the 131,071 other
    /// references cannot all go within the call.
    #[inline]
    pub(crate) fn take(
        cell: &'static TaskCell,
        h: crate::core::memory::Handle,
    ) -> Result<Option<LentHandle>> {
        match cell.word.retain_user(h.generation()) {
            Ok(()) => Ok(Some(LentHandle {
                cell,
                index: h.index(),
                generation: h.generation(),
            })),
            Err(Refusal::Full) => Ok(None),
            Err(_) => Err(Status::InvalidHandle),
        }
    }
}

impl Drop for LentHandle {
    #[inline(always)]
    fn drop(&mut self) {
        // Rarely the last reference (the caller's handle outlives the call): the
        // teardown stays out of line, and this drop small enough to inline.
        let released = release_task_cell_with::<false>(self.cell, self.index, self.generation);
        debug_assert!(released.is_ok(), "a lent reference is released once");
    }
}

/// [`teardown`] as a call, for paths where the last reference is rare.
#[inline(never)]
fn teardown_out_of_line(cell: &'static TaskCell, index: u32) {
    teardown(cell, index);
}

/// Tears down a task whose word this thread set DYING (see the module docs).
#[inline(always)]
pub(crate) fn teardown(cell: &'static TaskCell, index: u32) {
    let w = cell.word.load_relaxed();
    debug_assert!(w.has(DYING) && !w.has(HELD) && !w.has(LENT));
    // The common case: a plain value without destroy, nothing else to drop.
    // Relaxed: the dying thread owns the slot (see `Outcome::take`).
    if w.is_completed()
        && cell.stored() == Stored::Value
        && cell.aux.load(Ordering::Relaxed) | cell.extra.load(Ordering::Relaxed) as usize == 0
    {
        cell.value.store(0, Ordering::Relaxed);
        cell.word.retire(w);
        TASKS.free(index, cell);
        return;
    }
    teardown_slow(cell, index, w);
}

#[cold]
#[inline(never)]
fn teardown_slow(cell: &'static TaskCell, index: u32, w: Snapshot) {
    let completed = w.is_completed();
    let first = (!completed && w.has(FIRST)).then(|| list::take_first(cell));
    let rest = if !completed && w.has(LIST) {
        list::take_list(cell)
    } else {
        0
    };
    let outcome = completed.then(|| Outcome::take(cell));
    let task_id =
        crate::core::memory::Handle::new(crate::core::memory::Kind::Task, index, w.generation());
    if trace::active() {
        diag::task_gone(task_id.bits());
    }
    cell.free_extra();
    cell.meta.store(0, Ordering::Relaxed);
    cell.word.retire(w);
    TASKS.free(index, cell);
    // The slot is free; what was moved out may run user code now.
    if let Some((outcome, unobserved)) = outcome {
        if let (true, Outcome::Faulted(errors)) = (unobserved, &outcome) {
            hooks::report_unobserved(task_id.bits(), errors);
        }
        drop(outcome);
    }
    drop(first);
    list::discard_list(rest);
}
