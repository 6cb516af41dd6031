//! The library's references to tasks: [`TaskRef`] keeps a task (an internal reference,
//! counted in its extra record), [`SourceRef`] keeps the right to complete it.
//!
//! Both carry the generation they were taken at; the slot cannot be reused while they
//! exist, so every use of them is on the object they were taken for.

use crate::core::memory::handle::{Handle, Kind};
use crate::core::status::{Result, Status};

use super::cell::{TASKS, TaskCell};
use super::complete;
use super::outcome::{Antecedent, Outcome};
use super::word::{ASYNC, Final, HELD, Refusal, Release, Snapshot};

fn cell_of(h: Handle, kind: Kind) -> Result<&'static TaskCell> {
    if !h.is(kind) {
        return Err(Status::InvalidHandle);
    }
    TASKS.get(h.index()).ok_or(Status::InvalidHandle)
}

/// The cell a task handle names, and its word if the handle is valid now (a snapshot:
/// acting on it needs a compare-exchange that checks the generation again).
#[inline]
pub(crate) fn task_view(h: Handle) -> Result<(&'static TaskCell, Snapshot)> {
    let cell = cell_of(h, Kind::Task)?;
    let w = cell.word.load();
    if w.task_handle_valid(h.generation()) {
        Ok((cell, w))
    } else {
        Err(Status::InvalidHandle)
    }
}

/// The cell a task handle names (nothing is validated beyond kind and bounds).
#[inline]
pub(crate) fn task_cell(h: Handle) -> Result<&'static TaskCell> {
    cell_of(h, Kind::Task)
}

/// The cell a source handle names (nothing is validated beyond kind and bounds).
#[inline]
pub(crate) fn source_cell(h: Handle) -> Result<&'static TaskCell> {
    cell_of(h, Kind::Source)
}

/// Adds a library reference under the lock; false when the generation is gone.
fn add_internal(cell: &'static TaskCell, accept: impl Fn(Snapshot) -> bool) -> bool {
    match cell.word.lock(|w| {
        if accept(w) {
            Ok(())
        } else {
            Err(Refusal::Stale)
        }
    }) {
        Ok(w) => {
            let x = cell.extra_or_new();
            x.internal.set(x.internal.get_copy() + 1);
            cell.word.store_held(w.set(HELD));
            true
        }
        Err(_) => false,
    }
}

/// Drops a library reference; the last reference of any kind tears the task down.
fn remove_internal(cell: &'static TaskCell, index: u32) {
    let w = cell
        .word
        .lock(|_| Ok(()))
        .expect("a referenced task is not dying");
    let x = cell.extra().expect("a counted reference has its record");
    x.internal.set(x.internal.get_copy() - 1);
    let next = cell.with_held(w);
    if cell.word.unlock_or_die(next) == Release::Dying {
        complete::teardown(cell, index);
    } else {
        super::abandon::observer_removed(cell, w.generation(), next);
    }
}

/// A library reference that keeps a task (see the module docs).
pub(crate) struct TaskRef {
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
}

impl TaskRef {
    /// Validates a task handle and takes a reference for the library, in one step.
    pub(crate) fn pin(h: Handle) -> Result<TaskRef> {
        let cell = cell_of(h, Kind::Task)?;
        let g = h.generation();
        if add_internal(cell, |w| w.task_handle_valid(g)) {
            Ok(TaskRef {
                cell,
                index: h.index(),
                generation: g,
            })
        } else {
            Err(Status::InvalidHandle)
        }
    }

    /// A reference to the task a continuation sees (the runner keeps it alive).
    pub(crate) fn from_alive(a: &Antecedent) -> TaskRef {
        let g = a.generation;
        let ok = add_internal(a.cell, |w| w.is_generation(g));
        debug_assert!(ok, "the antecedent is kept alive by its runner");
        TaskRef {
            cell: a.cell,
            index: a.index,
            generation: g,
        }
    }

    /// The reference whose bits `into_bits` gave (ownership comes back).
    pub(crate) fn from_bits(bits: u64) -> TaskRef {
        let h = Handle::from_bits(bits).expect("stored task reference");
        TaskRef {
            // SAFETY: the bits name a slot this reference kept alive, so it is allocated.
            cell: unsafe { TASKS.slot_unchecked(h.index()) },
            index: h.index(),
            generation: h.generation(),
        }
    }

    /// A new reference to the task whose owned reference is stored as `bits` elsewhere
    /// (that owner keeps it alive meanwhile).
    pub(crate) fn from_bits_ref(bits: usize) -> TaskRef {
        let stored = std::mem::ManuallyDrop::new(TaskRef::from_bits(bits as u64));
        (*stored).clone()
    }

    /// Gives up the reference as handle bits (`from_bits` takes it back).
    pub(crate) fn into_bits(self) -> u64 {
        let me = std::mem::ManuallyDrop::new(self);
        me.handle().bits()
    }

    /// The task's handle (no reference is given).
    pub(crate) fn handle(&self) -> Handle {
        Handle::new(Kind::Task, self.index, self.generation)
    }

    pub(crate) fn cell(&self) -> &'static TaskCell {
        self.cell
    }

    /// The word now.
    pub(crate) fn load(&self) -> Snapshot {
        self.cell.word.load()
    }

    /// The final status; None while pending.
    pub(crate) fn final_status(&self) -> Option<Final> {
        self.load().final_status()
    }

    /// A view of the completed task for as long as this reference lives.
    pub(crate) fn antecedent(&self) -> Option<Antecedent> {
        let w = self.load();
        w.final_status().map(|status| Antecedent {
            cell: self.cell,
            index: self.index,
            generation: self.generation,
            status,
            inline_ok: !w.has(ASYNC),
        })
    }

    /// A user handle to the task for the caller (+1).
    pub(crate) fn mint_user(&self) -> Result<Handle> {
        let g = self.generation;
        self.cell
            .word
            .mint_user(g, |_| true)
            .map(|()| self.handle())
            .map_err(refusal_status)
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        let g = self.generation;
        let ok = add_internal(self.cell, |w| w.is_generation(g));
        debug_assert!(ok, "a referenced task is not dying");
        TaskRef {
            cell: self.cell,
            index: self.index,
            generation: g,
        }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        remove_internal(self.cell, self.index);
    }
}

/// What a refusal means for the caller.
pub(crate) fn refusal_status(r: Refusal) -> Status {
    match r {
        Refusal::Stale => Status::InvalidHandle,
        Refusal::Completed => Status::AlreadyCompleted,
        Refusal::Full => Status::Full,
    }
}

/// How a [`SourceRef`] is counted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// In the word's source count: the library owns the task's only producers (a
    /// continuation's `next`, a combinator's result, tapir_run's task). A callback may
    /// be lent the source handle.
    Sources,
    /// In the extra record's producers: a producer beside the user's source handles
    /// (tapir_source_set_from_task), so the user's handles stay counted on their own.
    Producer,
}

/// The library's right to complete a task. Dropping it gives up that right without
/// completing anything (the task waits for its other producers, or forever, as a task
/// whose antecedent never completes does); [`SourceRef::finish`] is the release after
/// user code had its chance to complete it, which breaks the promise of a task left
/// pending with no producer.
pub(crate) struct SourceRef {
    cell: &'static TaskCell,
    index: u32,
    generation: u32,
    counted: Counted,
}

impl SourceRef {
    /// A new pending task whose only producer is the returned reference, and a user
    /// handle (+1) to the task.
    pub(crate) fn new_task(async_continuations: bool, user_state: usize) -> (SourceRef, Handle) {
        Self::new_with(async_continuations, user_state, 1)
    }

    /// The task of a task body (`tapir_run`): only the token named by `token_bits` (0:
    /// none) acknowledges its cancellation. A user handle (+1) to the task.
    pub(crate) fn new_run_task(token_bits: u64) -> (SourceRef, Handle) {
        Self::new_bits(super::word::RUN, token_bits as usize, 1)
    }

    /// As [`new_task`](Self::new_task), for a producer told through `hook` when the
    /// pending task has no observer left (see `task::abandon`).
    pub(crate) fn new_watched_task(hook: super::abandon::Hook) -> (SourceRef, Handle) {
        Self::new_hooked(0, 0, 1, Some(hook))
    }

    fn new_with(async_continuations: bool, user_state: usize, user: u64) -> (SourceRef, Handle) {
        let bits = if async_continuations { ASYNC } else { 0 };
        Self::new_bits(bits, user_state, user)
    }

    fn new_bits(bits: u64, user_state: usize, user: u64) -> (SourceRef, Handle) {
        Self::new_hooked(bits, user_state, user, None)
    }

    fn new_hooked(
        bits: u64,
        user_state: usize,
        user: u64,
        hook: Option<super::abandon::Hook>,
    ) -> (SourceRef, Handle) {
        let (index, cell) = complete::alloc_pending(user_state);
        let bits = bits | hook.map_or(0, |h| super::abandon::install_unpublished(cell, h));
        let generation = complete::publish(cell, user, 1, bits);
        (
            SourceRef {
                cell,
                index,
                generation,
                counted: Counted::Sources,
            },
            Handle::new(Kind::Task, index, generation),
        )
    }

    /// A producer beside the user's, for the source named by a valid source handle of a
    /// pending task. `AlreadyCompleted` when it has completed.
    pub(crate) fn producer_for(source: Handle) -> Result<SourceRef> {
        let cell = source_cell(source)?;
        let g = source.generation();
        let w = cell
            .word
            .lock_pending_if(|w| w.source_handle_valid(g))
            .map_err(refusal_status)?;
        let x = cell.extra_or_new();
        x.producers.set(x.producers.get_copy() + 1);
        cell.word.store_held(w.set(HELD));
        Ok(SourceRef {
            cell,
            index: source.index(),
            generation: g,
            counted: Counted::Producer,
        })
    }

    /// Rebuilds a reference from `into_raw`'s parts (an inline continuation stores its
    /// `next` or its forwarding target that way).
    pub(crate) fn from_raw(bits: u64, producer: bool) -> SourceRef {
        let h = Handle::from_bits(bits).expect("stored source reference");
        SourceRef {
            // SAFETY: the bits name a slot this reference kept alive, so it is allocated.
            cell: unsafe { TASKS.slot_unchecked(h.index()) },
            index: h.index(),
            generation: h.generation(),
            counted: if producer {
                Counted::Producer
            } else {
                Counted::Sources
            },
        }
    }

    /// Gives up the reference as its source handle bits and how it is counted.
    pub(crate) fn into_raw(self) -> (u64, bool) {
        let me = std::mem::ManuallyDrop::new(self);
        (me.source_handle().bits(), me.counted == Counted::Producer)
    }

    /// The source handle (valid for user calls while a `Sources`-counted reference
    /// lives: that is how a callback is lent `next`).
    pub(crate) fn source_handle(&self) -> Handle {
        Handle::new(Kind::Source, self.index, self.generation)
    }

    /// The state given at creation (for a continuation task: its callback's user data).
    pub(crate) fn user_state(&self) -> usize {
        self.cell
            .user_state
            .load(crate::core::sync::Ordering::Relaxed)
    }

    /// True once the task completed.
    pub(crate) fn is_completed(&self) -> bool {
        self.cell.word.load().is_completed()
    }

    /// Completes the task; `AlreadyCompleted` (the outcome refused) if it had completed.
    /// `inline_ok` false: none of its continuations run on this thread.
    pub(crate) fn complete(&self, outcome: Outcome, inline_ok: bool) -> Result<()> {
        complete::complete(
            self.cell,
            self.index,
            self.generation,
            outcome,
            complete::Completer::Library,
            inline_ok,
        )
    }

    /// Completes the task unless it has completed; true when this call did.
    pub(crate) fn try_complete(&self, outcome: Outcome, inline_ok: bool) -> bool {
        self.complete(outcome, inline_ok).is_ok()
    }

    /// Releases the reference after user code could complete the task: if that leaves
    /// it pending with no producer, it fails with BROKEN_PROMISE.
    pub(crate) fn finish(self, inline_ok: bool) {
        let me = std::mem::ManuallyDrop::new(self);
        complete::release_producer(
            me.cell,
            me.index,
            me.generation,
            me.counted == Counted::Producer,
            true,
            inline_ok,
        );
    }
}

impl Clone for SourceRef {
    fn clone(&self) -> Self {
        match self.counted {
            Counted::Sources => {
                let ok = self.cell.word.mint_source(self.generation);
                assert!(ok.is_ok(), "tapir: a task has too many producers");
            }
            Counted::Producer => {
                let w = self
                    .cell
                    .word
                    .lock(|_| Ok(()))
                    .expect("a producer keeps its task");
                let x = self.cell.extra_or_new();
                x.producers.set(x.producers.get_copy() + 1);
                self.cell.word.store_held(w.set(HELD));
            }
        }
        SourceRef { ..*self }
    }
}

impl Drop for SourceRef {
    fn drop(&mut self) {
        complete::release_producer(
            self.cell,
            self.index,
            self.generation,
            self.counted == Counted::Producer,
            false,
            true,
        );
    }
}
