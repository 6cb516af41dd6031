//! Tasks and completion sources: one pooled slot serves a task and its source.
//!
//! # References
//! The slot's [`RefWord`](super::refword::RefWord) counts every reference: task
//! handles, source handles, and the library's own (a posted continuation holds its
//! antecedent, a continuation node holds its continuation task's source, a
//! forwarded value holds the task that owns it). `source_refs` counts the source
//! handles among them: when it drops to zero on a pending task, the task fails with
//! BROKEN_PROMISE, so nothing waits forever on a producer that vanished.
//!
//! # Field access
//! - `list`: guarded by the LOCKED bit of `state` while pending; after completion the
//!   completer owns the detached nodes and the field is empty.
//! - `outcome`: written once by the completer while it holds LOCKED, before the
//!   Release store of COMPLETED; read-only afterwards; taken at teardown.
//! - `meta`: written before the handle is published; read-only afterwards.
//!
//! # Completion
//! See [`super::state`]. The completer runs detached nodes in three waves: blocked
//! waiters are woken, then dispatched continuations are posted (in registration
//! order), then synchronous ones run inline in registration order through the
//! [`trampoline`](super::trampoline), which bounds stack depth.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::callback::DestroyFn;
use super::cancel::TokenRef;
use super::continuation::{self, Action, NodeCell, NodeSpec};
use super::error::ErrorRef;
use super::hooks;
use super::pool::{Entry, Handle, Kind};
use super::pools::{NODES, TASKS};
use super::refword::Released;
use super::scheduler::{self, Work};
use super::state::{Final, Lock, Snapshot, TaskState};
use super::status::{Result, Status};

/// Source flag: continuations of this task never run inline on the completing thread.
pub(crate) const RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1;

/// How a task ended, as stored in its slot.
#[derive(Default)]
pub(crate) enum Outcome {
    /// Not completed yet (or already torn down).
    #[default]
    Pending,
    /// Succeeded with a value owned by the task.
    Value {
        value: usize,
        destroy: Option<DestroyFn>,
    },
    /// Succeeded with the value owned by another (completed, succeeded) task.
    Forwarded(TaskRef),
    /// Faulted with one or more errors, in order.
    Faulted(Vec<ErrorRef>),
    /// Canceled, with the token that caused it (None = no token).
    Canceled(Option<TokenRef>),
}

impl Outcome {
    fn final_status(&self) -> Final {
        match self {
            Outcome::Value { .. } | Outcome::Forwarded(_) => Final::Succeeded,
            Outcome::Faulted(_) => Final::Faulted,
            Outcome::Canceled(_) => Final::Canceled,
            Outcome::Pending => unreachable!("completing with a pending outcome"),
        }
    }

    /// Makes a refused value stay with its owner: its destroy will not run.
    pub(crate) fn disarm(&mut self) {
        if let Outcome::Value { destroy, .. } = self {
            *destroy = None;
        }
    }

    /// A failure outcome with one library error.
    pub(crate) fn library_error(status: Status, message: &str) -> Outcome {
        Outcome::Faulted(vec![ErrorRef::library(status.code(), message)])
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if let Outcome::Value {
            value,
            destroy: Some(destroy),
        } = *self
        {
            // SAFETY: the value's owner handed `destroy` with it to be called exactly
            // once when the task goes; Outcome::Value is dropped exactly once.
            unsafe { destroy(value as *mut std::ffi::c_void) };
        }
    }
}

#[derive(Default, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

#[derive(Default, Clone, Copy)]
struct Meta {
    options: u32,
    user_state: usize,
}

/// The pooled slot of a task (and its source).
#[derive(Default)]
pub(crate) struct TaskCell {
    state: TaskStateCell,
    source_refs: AtomicU32,
    list: UnsafeCell<List>,
    outcome: UnsafeCell<Outcome>,
    meta: UnsafeCell<Meta>,
}

struct TaskStateCell(TaskState);
impl Default for TaskStateCell {
    fn default() -> Self {
        TaskStateCell(TaskState::new())
    }
}

// SAFETY: the UnsafeCell fields follow the access rules in the module docs: `list`
// under the LOCKED bit, `outcome` written once under LOCKED before the Release of
// COMPLETED, `meta` before publication.
unsafe impl Sync for TaskCell {}

type TaskEntry = Entry<TaskCell>;

fn node_entry(index: u32) -> &'static Entry<NodeCell> {
    NODES.entry(index).expect("linked node index has a slot")
}

/// Finds the slot of a live handle of `kind` (Task or Source).
fn live(h: Handle, kind: Kind) -> Result<&'static TaskEntry> {
    if h.kind() != Some(kind) {
        return Err(Status::InvalidHandle);
    }
    let e = TASKS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    let valid = match kind {
        // Source handles are counted in `source_refs`, which together hold one
        // internal reference on the slot.
        // Relaxed: a stale-handle check; exact for sequential misuse.
        Kind::Source => {
            e.word.exists(h.generation()) && e.value.source_refs.load(Ordering::Relaxed) > 0
        }
        _ => e.word.is_live(h.generation()),
    };
    if valid {
        Ok(e)
    } else {
        Err(Status::InvalidHandle)
    }
}

fn entry_of(h: Handle) -> &'static TaskEntry {
    TASKS
        .entry(h.index())
        .expect("owned task handle has a slot")
}

// ---------------------------------------------------------------------------
// Owned references used inside the library.

/// An owned task reference; Drop releases it.
pub(crate) struct TaskRef(Handle);

impl TaskRef {
    /// Takes a library reference to the task named by a live user handle.
    pub(crate) fn retain(h: Handle) -> Result<TaskRef> {
        let e = live(h, Kind::Task)?;
        if e.word.retain_internal(h.generation()) {
            Ok(TaskRef(h))
        } else {
            Err(Status::InvalidHandle)
        }
    }
    pub(crate) fn handle(&self) -> Handle {
        self.0
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        entry_of(self.0).word.retain_owned();
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        release_internal(self.0);
    }
}

/// An owned source reference; dropping the last one breaks the promise.
pub(crate) struct SourceRef(Handle);

impl SourceRef {
    pub(crate) fn handle(&self) -> Handle {
        self.0
    }
    pub(crate) fn task_handle(&self) -> Handle {
        self.0.with_kind(Kind::Task)
    }
    /// Completes the task; `Ok(false)` when it had already completed (the outcome is
    /// then dropped: its error/token references are released, a value is not destroyed).
    pub(crate) fn try_complete(&self, outcome: Outcome) -> bool {
        complete_entry(entry_of(self.0), self.0, outcome).is_ok()
    }
}

impl Drop for SourceRef {
    fn drop(&mut self) {
        let _ = release_source(self.0);
    }
}

// ---------------------------------------------------------------------------
// Creation.

/// Creates a pending source (and its task); returns the source handle (+1). The
/// source references together hold one internal reference on the slot.
pub fn source_new(options: u32, user_state: usize) -> Handle {
    let (h, e) = TASKS.alloc(Kind::Source, 0, 1);
    init_pending(e, options, user_state);
    h
}

fn init_pending(e: &TaskEntry, options: u32, user_state: usize) {
    e.value.state.0.reset();
    // Relaxed: the slot is not yet published (RefWord Release orders it).
    e.value.source_refs.store(1, Ordering::Relaxed);
    // SAFETY: the slot was just allocated by this thread and is unpublished.
    unsafe {
        *e.value.list.get() = List::default();
        *e.value.meta.get() = Meta {
            options,
            user_state,
        };
    }
}

/// Creates a pending source for library use (continuation tasks, combinators).
pub(crate) fn new_source(options: u32, user_state: usize) -> SourceRef {
    SourceRef(source_new(options, user_state))
}

/// Creates a task that is completed from birth; returns the task handle (+1).
pub(crate) fn completed(outcome: Outcome, options: u32, user_state: usize) -> Handle {
    let status = outcome.final_status();
    let (h, e) = TASKS.alloc(Kind::Task, 1, 0);
    e.value.state.0.reset_completed(status);
    // Relaxed: unpublished slot.
    e.value.source_refs.store(0, Ordering::Relaxed);
    // SAFETY: the slot was just allocated by this thread and is unpublished.
    unsafe {
        *e.value.list.get() = List::default();
        *e.value.meta.get() = Meta {
            options,
            user_state,
        };
        let old = std::mem::replace(&mut *e.value.outcome.get(), outcome);
        std::mem::forget(old); // a recycled slot holds Pending: nothing to drop
    }
    h
}

// ---------------------------------------------------------------------------
// References.

/// Adds a reference to a task or source handle.
pub fn retain(h: Handle) -> Result<()> {
    match h.kind() {
        Some(Kind::Task) => {
            let e = live(h, Kind::Task)?;
            e.word
                .retain(h.generation())
                .then_some(())
                .ok_or(Status::InvalidHandle)
        }
        Some(Kind::Source) => {
            let e = live(h, Kind::Source)?;
            // Relaxed: a count; see `release_source` for the ordering of the last drop.
            e.value.source_refs.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(Status::InvalidHandle),
    }
}

/// Releases a task handle (user) reference.
pub fn release(h: Handle) -> Result<()> {
    if h.kind() != Some(Kind::Task) {
        return Err(Status::InvalidHandle);
    }
    let e = TASKS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    match e.word.release(h.generation()) {
        Released::Alive => Ok(()),
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            teardown(e, h);
            Ok(())
        }
    }
}

/// Drops one of the library's references on a task slot.
fn release_internal(h: Handle) {
    let e = entry_of(h);
    if e.word.release_owned() == Released::Last {
        teardown(e, h);
    }
}

/// Releases a source handle reference; the last one on a pending task breaks the promise.
pub fn release_source(h: Handle) -> Result<()> {
    let e = live(h, Kind::Source)?;
    let mut cur = e.value.source_refs.load(Ordering::Relaxed);
    loop {
        if cur == 0 {
            return Err(Status::InvalidHandle);
        }
        // AcqRel: the last source release must see every other holder's completion
        // attempt (they would have completed the task, making this a no-op).
        match e.value.source_refs.compare_exchange_weak(
            cur,
            cur - 1,
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(actual) => cur = actual,
        }
    }
    if cur == 1 {
        if !e.value.state.0.load().is_completed() {
            let _ = complete_entry(
                e,
                h,
                Outcome::library_error(
                    Status::BrokenPromise,
                    "broken promise: the source was released without completing its task",
                ),
            );
        }
        release_internal(h);
    }
    Ok(())
}

/// Frees a task whose last reference is gone.
fn teardown(e: &'static TaskEntry, h: Handle) {
    let state = e.value.state.0.load();
    // SAFETY: this thread took the last reference, so it alone accesses the slot until
    // `retire`; the AcqRel release made every earlier write visible.
    let (outcome, list) = unsafe {
        (
            std::mem::take(&mut *e.value.outcome.get()),
            std::mem::take(&mut *e.value.list.get()),
        )
    };
    if let (Some(Final::Faulted), Outcome::Faulted(errors)) = (state.final_status(), &outcome) {
        if !state.is_observed() {
            hooks::report_unobserved(h.with_kind(Kind::Task), errors);
        }
    }
    e.word.retire();
    TASKS.free(h.index());
    // Pending nodes can only remain if the task was never completed and nobody could
    // complete it any more; their actions are dropped (destroy runs, sources break).
    let mut next = list.head;
    while next != 0 {
        let index = next - 1;
        let node = node_entry(index);
        // SAFETY: the list was detached from a dead task; this thread owns its nodes.
        let (links, spec) = unsafe { (*node.value.links.get(), (*node.value.spec.get()).take()) };
        drop(spec);
        next = links.next;
        release_node(index);
    }
    drop(outcome);
}

// ---------------------------------------------------------------------------
// Completion.

/// Completes the task of source `h`. `Err(AlreadyCompleted)` if it had completed.
/// On any error the outcome is refused: a value stays with the caller (its destroy
/// does not run); error and token references taken for it are released.
pub(crate) fn complete(h: Handle, mut outcome: Outcome) -> Result<()> {
    match live(h, Kind::Source) {
        Ok(e) => complete_entry(e, h, outcome),
        Err(s) => {
            outcome.disarm();
            Err(s)
        }
    }
}

fn complete_entry(e: &'static TaskEntry, h: Handle, mut outcome: Outcome) -> Result<()> {
    let status = outcome.final_status();
    if let Lock::Completed = e.value.state.0.lock_if_pending() {
        outcome.disarm();
        return Err(Status::AlreadyCompleted);
    }
    // SAFETY: LOCKED is held and the task is pending: this thread alone writes the
    // outcome and the list (module docs, Field access). The slot holds Pending, whose
    // drop does nothing.
    let list = unsafe {
        *e.value.outcome.get() = outcome;
        std::mem::take(&mut *e.value.list.get())
    };
    e.value.state.0.complete(status);
    if list.head != 0 {
        // SAFETY: meta is immutable after publication.
        let options = unsafe { (*e.value.meta.get()).options };
        run_detached(h.with_kind(Kind::Task), list, options);
    }
    Ok(())
}

/// Runs the nodes of a detached list; see the module docs for the three waves.
/// The caller keeps `task` alive for the duration (it holds a source reference).
fn run_detached(task: Handle, list: List, options: u32) {
    let force_async = options & RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0;
    // Waves 1 and 2: wake waiters and post dispatched continuations, in order.
    let mut any_inline = false;
    let mut next = list.head;
    while next != 0 {
        let node = node_entry(next - 1);
        // SAFETY: the completer owns the detached list and its nodes' specs.
        let (links, spec) = unsafe { (*node.value.links.get(), &mut *node.value.spec.get()) };
        match spec.as_ref().map(|s| runs_inline(s, force_async)) {
            Some(true)
                if spec
                    .as_ref()
                    .is_some_and(|s| matches!(s.action, Action::Wake { .. })) =>
            {
                let s = spec.take().expect("checked above");
                s.action.run(task, s.flags);
            }
            Some(true) => any_inline = true,
            Some(false) => dispatch(task, spec.take().expect("checked above")),
            None => {}
        }
        next = links.next;
    }
    // Wave 3: synchronous continuations in registration order; then free the nodes.
    let mut next = list.head;
    while next != 0 {
        let index = next - 1;
        let node = node_entry(index);
        // SAFETY: as above.
        let (links, spec) = unsafe { (*node.value.links.get(), (*node.value.spec.get()).take()) };
        if let Some(spec) = spec {
            debug_assert!(any_inline);
            run_inline(task, spec);
        }
        next = links.next;
        release_node(index);
    }
}

fn runs_inline(spec: &NodeSpec, force_async: bool) -> bool {
    if spec.action.is_internal() {
        return true;
    }
    if force_async || spec.flags & continuation::EXECUTE_SYNCHRONOUSLY == 0 {
        return false;
    }
    spec.scheduler.as_ref().is_none_or(|s| s.allows_inline())
}

/// Posts a continuation to its scheduler; the work item holds the antecedent.
fn dispatch(task: Handle, spec: NodeSpec) {
    entry_of(task).word.retain_owned();
    let antecedent = TaskRef(task);
    let NodeSpec {
        action,
        flags,
        scheduler,
    } = spec;
    let work = Work::continuation(action, flags, antecedent);
    match scheduler {
        Some(s) => s.post(work),
        None => scheduler::post_default(work),
    }
}

/// Runs a continuation on this thread now, or defers it to the outermost frame when
/// the inline depth is exhausted (then it holds its own reference to the antecedent).
fn run_inline(task: Handle, spec: NodeSpec) {
    super::trampoline::run_or_defer(
        spec,
        |s| s.action.run(task, s.flags),
        |s| {
            entry_of(task).word.retain_owned();
            Work::continuation(s.action, s.flags, TaskRef(task))
        },
    );
}

/// Drops the list's (or runner's) internal reference on node `index`.
fn release_node(index: u32) {
    let node = node_entry(index);
    if node.word.release_owned() == Released::Last {
        free_node(index);
    }
}

fn free_node(index: u32) {
    let node = node_entry(index);
    // SAFETY: last reference: this thread alone owns the node's fields.
    let (spec, antecedent) = unsafe {
        (
            (*node.value.spec.get()).take(),
            (*node.value.antecedent.get()).take(),
        )
    };
    node.word.retire();
    NODES.free(index);
    drop(spec);
    drop(antecedent);
}

/// A user reference lent for the duration of a callback, so the handle the callback
/// receives is valid for every user call even when the caller already released its
/// own handles (only the library holds the task). Free when a user handle exists.
pub(crate) struct Lend(Option<Handle>);

impl Lend {
    /// Lends `task` (which the caller keeps alive) if it has no user handle.
    pub(crate) fn task(task: Handle) -> Lend {
        let e = entry_of(task);
        if e.word.has_no_user() && e.word.mint(task.generation()) {
            Lend(Some(task))
        } else {
            Lend(None)
        }
    }
}

impl Drop for Lend {
    fn drop(&mut self) {
        if let Some(h) = self.0 {
            let _ = release(h);
        }
    }
}

/// Mints a user reference on a task the caller keeps alive; the holder releases it
/// with [`release`]. Used where the library hands out handles it keeps valid.
pub(crate) fn lend_forever(task: Handle) -> Handle {
    entry_of(task).word.mint(task.generation());
    task
}

// ---------------------------------------------------------------------------
// Registration and removal.

/// Registers `spec` on `task`. Returns a registration handle (+1) when asked and the
/// node was queued; `None` when the task had completed and the action was run or
/// dispatched at once.
pub(crate) fn register(
    task: Handle,
    spec: NodeSpec,
    want_registration: bool,
) -> Result<Option<Handle>> {
    let e = live(task, Kind::Task)?;
    register_entry(task, e, spec, want_registration)
}

/// As [`register`], for a task the library holds by reference (its user handles may
/// all be gone).
pub(crate) fn register_ref(task: &TaskRef, spec: NodeSpec) {
    let _ = register_entry(task.0, entry_of(task.0), spec, false);
}

fn register_entry(
    task: Handle,
    e: &'static TaskEntry,
    spec: NodeSpec,
    want_registration: bool,
) -> Result<Option<Handle>> {
    if e.value.state.0.load().is_completed() {
        run_now(task, e, spec);
        return Ok(None);
    }
    let (node_h, node) = NODES.alloc(Kind::Registration, want_registration as u32, 1);
    let index = node_h.index();
    // SAFETY: the node was just allocated by this thread and is not yet linked or
    // published.
    unsafe {
        *node.value.spec.get() = Some(spec);
        *node.value.antecedent.get() = want_registration.then(|| TaskRef::from_alive(task));
    }
    match e.value.state.0.lock_if_pending() {
        Lock::Held => {
            // SAFETY: LOCKED is held on a pending task: list and links are ours.
            unsafe {
                let list = &mut *e.value.list.get();
                *node.value.links.get() = continuation::Links {
                    prev: list.tail,
                    next: 0,
                    linked: true,
                };
                if list.tail != 0 {
                    (*node_entry(list.tail - 1).value.links.get()).next = index + 1;
                } else {
                    list.head = index + 1;
                }
                list.tail = index + 1;
            }
            e.value.state.0.unlock();
            Ok(want_registration.then_some(node_h))
        }
        Lock::Completed => {
            // Completed while we prepared the node: run it ourselves, drop the node.
            // SAFETY: the node was never linked; this thread still owns it alone.
            let spec = unsafe { (*node.value.spec.get()).take() }.expect("spec just stored");
            run_now(task, e, spec);
            if want_registration {
                let _ = release_registration(node_h);
            }
            release_node(index);
            Ok(None)
        }
    }
}

/// Runs or dispatches `spec` for a task that has already completed.
fn run_now(task: Handle, e: &'static TaskEntry, spec: NodeSpec) {
    // SAFETY: meta is immutable after publication.
    let options = unsafe { (*e.value.meta.get()).options };
    if runs_inline(&spec, options & RUN_CONTINUATIONS_ASYNCHRONOUSLY != 0) {
        run_inline(task, spec);
    } else {
        dispatch(task, spec);
    }
}

/// Removes a registration. `Ok(true)`: removed, it will never run (its user data was
/// destroyed). `Ok(false)`: it already ran, is running, or was removed before.
pub(crate) fn remove(reg: Handle) -> Result<bool> {
    if reg.kind() != Some(Kind::Registration) {
        return Err(Status::InvalidHandle);
    }
    let node = NODES.entry(reg.index()).ok_or(Status::InvalidHandle)?;
    if !node.word.is_live(reg.generation()) {
        return Err(Status::InvalidHandle);
    }
    // SAFETY: `antecedent` is written before the registration handle is published.
    let Some(task) = (unsafe { (*node.value.antecedent.get()).as_ref() }) else {
        return Ok(false);
    };
    let e = entry_of(task.handle());
    if let Lock::Completed = e.value.state.0.lock_if_pending() {
        return Ok(false);
    }
    // SAFETY: LOCKED is held on a pending task: the list, the links of linked nodes and
    // their specs belong to this thread.
    let spec = unsafe {
        let links = &mut *node.value.links.get();
        if !links.linked {
            None
        } else {
            let list = &mut *e.value.list.get();
            if links.prev != 0 {
                (*node_entry(links.prev - 1).value.links.get()).next = links.next;
            } else {
                list.head = links.next;
            }
            if links.next != 0 {
                (*node_entry(links.next - 1).value.links.get()).prev = links.prev;
            } else {
                list.tail = links.prev;
            }
            *links = continuation::Links::default();
            (*node.value.spec.get()).take()
        }
    };
    e.value.state.0.unlock();
    match spec {
        Some(spec) => {
            drop(spec); // destroy runs now, outside the lock
            release_node(reg.index()); // the list's reference
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Adds a reference to a registration handle.
pub(crate) fn retain_registration(reg: Handle) -> Result<()> {
    if reg.kind() != Some(Kind::Registration) {
        return Err(Status::InvalidHandle);
    }
    let node = NODES.entry(reg.index()).ok_or(Status::InvalidHandle)?;
    node.word
        .retain(reg.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

/// Releases a registration handle (does not remove the continuation).
pub(crate) fn release_registration(reg: Handle) -> Result<()> {
    if reg.kind() != Some(Kind::Registration) {
        return Err(Status::InvalidHandle);
    }
    let node = NODES.entry(reg.index()).ok_or(Status::InvalidHandle)?;
    match node.word.release(reg.generation()) {
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Alive => Ok(()),
        Released::Last => {
            free_node(reg.index());
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Queries.

/// The task of a source (+1).
pub fn task_of(source: Handle) -> Result<Handle> {
    let e = live(source, Kind::Source)?;
    let task = source.with_kind(Kind::Task);
    e.word
        .mint(task.generation())
        .then_some(task)
        .ok_or(Status::InvalidHandle)
}

/// The state word of a live task.
pub(crate) fn snapshot(task: Handle) -> Result<Snapshot> {
    Ok(live(task, Kind::Task)?.value.state.0.load())
}

/// The final status of a task the caller keeps alive; None while pending.
pub(crate) fn final_status(task: Handle) -> Option<Final> {
    entry_of(task).value.state.0.load().final_status()
}

/// Borrows the outcome of a completed task the caller keeps alive.
fn with_outcome<R>(e: &TaskEntry, f: impl FnOnce(&Outcome) -> R) -> R {
    // SAFETY: callers check COMPLETED (Acquire) first; the outcome is then immutable
    // until teardown, which cannot start while the caller holds its reference.
    f(unsafe { &*e.value.outcome.get() })
}

/// The value of a succeeded task; NotCompleted / Faulted / Canceled otherwise.
/// Reading the result of a faulted task observes its error.
pub fn result(task: Handle) -> Result<usize> {
    let e = live(task, Kind::Task)?;
    match e.value.state.0.load().final_status() {
        None => Err(Status::NotCompleted),
        Some(Final::Faulted) => {
            e.value.state.0.mark_observed();
            Err(Status::Faulted)
        }
        Some(Final::Canceled) => Err(Status::Canceled),
        Some(Final::Succeeded) => Ok(with_outcome(e, value_of)),
    }
}

fn value_of(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Value { value, .. } => *value,
        Outcome::Forwarded(from) => with_outcome(entry_of(from.handle()), value_of),
        _ => 0,
    }
}

/// The errors of a faulted task (marks them observed); empty for other states.
pub fn errors(task: Handle) -> Result<Vec<ErrorRef>> {
    let e = live(task, Kind::Task)?;
    let s = e.value.state.0.load();
    if s.final_status() != Some(Final::Faulted) {
        return Ok(Vec::new());
    }
    e.value.state.0.mark_observed();
    Ok(with_outcome(e, |o| match o {
        Outcome::Faulted(list) => list.clone(),
        _ => Vec::new(),
    }))
}

/// The token that canceled a task (None: canceled without a token).
pub(crate) fn cancel_token(task: Handle) -> Result<Option<TokenRef>> {
    let e = live(task, Kind::Task)?;
    match e.value.state.0.load().final_status() {
        None => Err(Status::NotCompleted),
        Some(Final::Canceled) => Ok(with_outcome(e, |o| match o {
            Outcome::Canceled(t) => t.clone(),
            _ => None,
        })),
        Some(_) => Err(Status::InvalidState),
    }
}

/// Creation options and user state.
pub fn meta(task: Handle) -> Result<(u32, usize)> {
    let e = live(task, Kind::Task)?;
    // SAFETY: meta is immutable after publication.
    let m = unsafe { *e.value.meta.get() };
    Ok((m.options, m.user_state))
}

/// The outcome a forwarding continuation copies from a completed `task`: values are
/// shared by reference to the task that owns them (so a chain of forwards stays one
/// level deep), errors and tokens by new references. Forwarding observes errors.
pub(crate) fn forwarded_outcome(task: Handle) -> Outcome {
    let e = entry_of(task);
    let s = e.value.state.0.load();
    if s.final_status() == Some(Final::Faulted) {
        e.value.state.0.mark_observed();
    }
    with_outcome(e, |o| match o {
        Outcome::Value { .. } => {
            e.word.retain_owned();
            Outcome::Forwarded(TaskRef(task))
        }
        Outcome::Forwarded(from) => Outcome::Forwarded(from.clone()),
        Outcome::Faulted(list) => Outcome::Faulted(list.clone()),
        Outcome::Canceled(t) => Outcome::Canceled(t.clone()),
        Outcome::Pending => unreachable!("forwarding from a pending task"),
    })
}

/// Takes a new source reference for the library (e.g. to complete it later).
pub(crate) fn retain_source(h: Handle) -> Result<SourceRef> {
    retain(h.with_kind(Kind::Source)).map(|_| SourceRef(h.with_kind(Kind::Source)))
}

/// The shared, immortal, already-succeeded task (result NULL), as a new reference.
pub(crate) fn completed_task() -> Handle {
    static H: std::sync::OnceLock<Handle> = std::sync::OnceLock::new();
    let h = *H.get_or_init(|| {
        let h = completed(
            Outcome::Value {
                value: 0,
                destroy: None,
            },
            0,
            0,
        );
        entry_of(h).word.make_immortal();
        h
    });
    entry_of(h).word.mint(h.generation());
    h
}

/// A task that never completes by itself and has no source (an infinite delay
/// without a token): pending, and freed when its last handle goes (+1).
pub(crate) fn never() -> Handle {
    let (h, e) = TASKS.alloc(Kind::Task, 1, 0);
    init_pending(e, 0, 0);
    // Relaxed: unpublished slot. No source can ever complete it.
    e.value.source_refs.store(0, Ordering::Relaxed);
    h
}

/// Marks a faulted task's errors observed (a combinator consumed them).
pub(crate) fn mark_observed(task: Handle) {
    entry_of(task).value.state.0.mark_observed();
}

/// The errors of a completed task the caller keeps alive, without marking them observed.
pub(crate) fn errors_of(task: Handle) -> Vec<ErrorRef> {
    with_outcome(entry_of(task), |o| match o {
        Outcome::Faulted(list) => list.clone(),
        _ => Vec::new(),
    })
}

/// The cancel token of a canceled task the caller keeps alive.
pub(crate) fn token_of_canceled(task: Handle) -> Option<TokenRef> {
    with_outcome(entry_of(task), |o| match o {
        Outcome::Canceled(t) => t.clone(),
        _ => None,
    })
}

/// The value of a succeeded task the caller keeps alive.
pub(crate) fn value_of_completed(task: Handle) -> usize {
    with_outcome(entry_of(task), value_of)
}

impl TaskRef {
    /// A library reference from a handle the caller keeps alive (no validation).
    pub(crate) fn from_alive(h: Handle) -> TaskRef {
        entry_of(h).word.retain_owned();
        TaskRef(h)
    }
}

impl SourceRef {
    /// A second library reference to the same source.
    pub(crate) fn duplicate(&self) -> SourceRef {
        retain_source(self.0).expect("an owned source is live")
    }
}

impl TaskRef {
    /// Turns a library reference into raw bits stored elsewhere (see from_raw_internal).
    pub(crate) fn into_raw_internal(self) -> usize {
        let h = self.0;
        std::mem::forget(self);
        h.bits() as usize
    }
    /// Rebuilds a reference stored with into_raw_internal.
    pub(crate) fn from_raw_internal(bits: usize) -> TaskRef {
        TaskRef(Handle::from_bits(bits as u64).expect("stored handle is non-zero"))
    }
    /// Adopts a user reference just created by the library (e.g. `completed`) as a
    /// library reference.
    pub(crate) fn adopt_new(h: Handle) -> TaskRef {
        let r = TaskRef::from_alive(h);
        let _ = release(h);
        r
    }
}
