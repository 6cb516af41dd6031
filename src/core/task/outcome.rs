//! How a task ends: the owned [`Outcome`] a completer hands over, how the cell stores it,
//! and the [`Antecedent`] view continuations read it through.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::core::callback::DestroyFn;
use crate::core::cancel::TokenRef;
use crate::core::error::ErrorRef;
use crate::core::memory::handle::{Handle, Kind};
use crate::core::status::Status;

use super::cell::{Stored, TaskCell};
use super::refs::TaskRef;
use super::word::Final;

/// An outcome on its way into a task.
pub(crate) enum Outcome {
    /// Succeeded with a value the task will own (destroyed with it).
    Value {
        value: usize,
        destroy: Option<DestroyFn>,
    },
    /// Succeeded with a value owned by another (succeeded) task, kept alive by `owner`.
    Shared { value: usize, owner: TaskRef },
    /// Faulted with one or more errors, in order.
    Faulted(Vec<ErrorRef>),
    /// Canceled, with the token that caused it (None: no token).
    Canceled(Option<TokenRef>),
}

impl Outcome {
    /// A success whose value has no destroy.
    pub(crate) fn value(value: usize) -> Outcome {
        Outcome::Value {
            value,
            destroy: None,
        }
    }

    pub(crate) fn final_status(&self) -> Final {
        match self {
            Outcome::Value { .. } | Outcome::Shared { .. } => Final::Succeeded,
            Outcome::Faulted(_) => Final::Faulted,
            Outcome::Canceled(_) => Final::Canceled,
        }
    }

    /// A failure with one library error.
    pub(crate) fn library_error(status: Status, message: &str) -> Outcome {
        Outcome::Faulted(vec![ErrorRef::library(status.code(), message)])
    }

    /// The outcome was not taken (the task had completed, or the handle was invalid): a
    /// value stays with its owner, whose destroy must not run; references are released.
    pub(crate) fn refuse(mut self) {
        if let Outcome::Value { destroy, .. } = &mut self {
            *destroy = None;
        }
    }

    /// Writes the outcome into the cell (the completer, under LOCKED).
    pub(crate) fn store(self, cell: &TaskCell) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: each arm moves its fields out of `me` exactly once and `me` is never
        // dropped, so ownership passes to the cell.
        unsafe {
            match &*me {
                Outcome::Value { value, destroy } => {
                    cell.write_outcome(Stored::Value, *value, destroy.map_or(0, |d| d as usize))
                }
                Outcome::Shared { value, owner } => {
                    let owner = std::ptr::read(owner);
                    cell.write_outcome(Stored::Shared, *value, owner.into_bits() as usize)
                }
                Outcome::Faulted(errors) => {
                    let errors = std::ptr::read(errors);
                    let faults = Box::new(Faults {
                        errors,
                        observed: AtomicBool::new(false),
                    });
                    cell.write_outcome(Stored::Faulted, Box::into_raw(faults) as usize, 0)
                }
                Outcome::Canceled(token) => {
                    let token = std::ptr::read(token);
                    let bits = token.map_or(0, |t| t.into_bits() as usize);
                    cell.write_outcome(Stored::Canceled, bits, 0)
                }
            }
        }
    }

    /// Moves the outcome out of a completed cell (the dying thread). The flag is true
    /// for faults nobody observed.
    pub(crate) fn take(cell: &TaskCell) -> (Outcome, bool) {
        // Relaxed, and plain load-then-store rather than a swap: the dying thread owns
        // the slot, and its AcqRel release made the completer's writes visible.
        let value = cell.value.load(Ordering::Relaxed);
        let aux = cell.aux.load(Ordering::Relaxed);
        cell.value.store(0, Ordering::Relaxed);
        cell.aux.store(0, Ordering::Relaxed);
        match cell.stored() {
            Stored::Value => (
                Outcome::Value {
                    value,
                    // SAFETY: `aux` holds a destroy function pointer stored by `store`.
                    destroy: (aux != 0)
                        .then(|| unsafe { std::mem::transmute::<usize, DestroyFn>(aux) }),
                },
                false,
            ),
            Stored::Shared => (
                Outcome::Shared {
                    value,
                    owner: TaskRef::from_bits(aux as u64),
                },
                false,
            ),
            Stored::Faulted => {
                // SAFETY: `value` holds the box made by `store`, taken once (here).
                let faults = unsafe { Box::from_raw(value as *mut Faults) };
                let Faults { errors, observed } = *faults;
                (Outcome::Faulted(errors), !observed.into_inner())
            }
            Stored::Canceled => (
                Outcome::Canceled((value != 0).then(|| TokenRef::from_bits(value as u64))),
                false,
            ),
        }
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if let Outcome::Value {
            value,
            destroy: Some(destroy),
        } = *self
        {
            // SAFETY: the value's owner handed `destroy` with it to be called exactly once
            // when the task goes; an Outcome::Value is dropped at most once, and refused
            // outcomes have had their destroy removed.
            unsafe { destroy(value as *mut c_void) };
        }
    }
}

/// The errors of a faulted task.
pub(crate) struct Faults {
    pub(crate) errors: Vec<ErrorRef>,
    /// Somebody read the errors (or a combinator consumed them).
    pub(crate) observed: AtomicBool,
}

/// A completed task seen by a continuation; the runner keeps the task alive for as long
/// as the view exists.
pub(crate) struct Antecedent {
    pub(crate) cell: &'static TaskCell,
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) status: Final,
    /// User continuations of tasks completed from here may run inline (false once a
    /// run-continuations-asynchronously task is involved).
    pub(crate) inline_ok: bool,
}

impl Antecedent {
    /// The task handle the callbacks receive (borrowed: valid for the call).
    #[inline(always)]
    pub(crate) fn handle(&self) -> Handle {
        Handle::new(Kind::Task, self.index, self.generation)
    }

    /// For a succeeded task whose value is owned (it has a destroy): a reference to the
    /// task that owns it, which keeps the value valid. None when the value is plain bits.
    pub(crate) fn value_owner(&self) -> Option<TaskRef> {
        match self.cell.stored() {
            Stored::Value if self.cell.aux.load(Ordering::Relaxed) == 0 => None,
            Stored::Value => Some(TaskRef::from_alive(self)),
            Stored::Shared => Some(TaskRef::from_bits_ref(
                self.cell.aux.load(Ordering::Relaxed),
            )),
            _ => None,
        }
    }

    /// The value of a succeeded task.
    pub(crate) fn value(&self) -> usize {
        value_of(self.cell)
    }

    /// The errors of a faulted task (clones; does not mark them observed).
    pub(crate) fn errors(&self) -> Vec<ErrorRef> {
        errors_of(self.cell)
    }

    /// Marks the errors of a faulted task observed (a combinator consumed them).
    pub(crate) fn mark_observed(&self) {
        mark_observed(self.cell);
    }

    /// The token of a canceled task.
    pub(crate) fn token(&self) -> Option<TokenRef> {
        token_of(self.cell)
    }

    /// The outcome a forwarding continuation copies: values shared by reference to the
    /// task that owns them when they have a destroy (so a chain of forwards stays one
    /// level deep), copied otherwise; errors and tokens by new references. Forwarding
    /// observes errors.
    pub(crate) fn shared_outcome(&self) -> Outcome {
        match self.status {
            Final::Succeeded => match self.value_owner() {
                None => Outcome::value(self.value()),
                Some(owner) => Outcome::Shared {
                    value: self.value(),
                    owner,
                },
            },
            Final::Faulted => {
                self.mark_observed();
                Outcome::Faulted(self.errors())
            }
            Final::Canceled => Outcome::Canceled(self.token()),
        }
    }
}

/// The value of a succeeded task the caller keeps alive.
pub(crate) fn value_of(cell: &TaskCell) -> usize {
    cell.value.load(Ordering::Relaxed)
}

fn faults(cell: &TaskCell) -> Option<&Faults> {
    (cell.stored() == Stored::Faulted).then(|| {
        // SAFETY: a faulted cell's `value` is the box made by `store`; the caller keeps
        // the task alive, so the box is not freed meanwhile.
        unsafe { &*(cell.value.load(Ordering::Relaxed) as *const Faults) }
    })
}

/// The errors of a faulted task the caller keeps alive (clones).
pub(crate) fn errors_of(cell: &TaskCell) -> Vec<ErrorRef> {
    faults(cell).map_or_else(Vec::new, |f| f.errors.clone())
}

/// Marks the errors of a faulted task the caller keeps alive observed.
pub(crate) fn mark_observed(cell: &TaskCell) {
    if let Some(f) = faults(cell) {
        // Relaxed: read by the dying thread after the AcqRel release of the last
        // reference, which orders it.
        f.observed.store(true, Ordering::Relaxed);
    }
}

/// The cancellation token of a canceled task the caller keeps alive.
pub(crate) fn token_of(cell: &TaskCell) -> Option<TokenRef> {
    if cell.stored() != Stored::Canceled {
        return None;
    }
    match cell.value.load(Ordering::Relaxed) {
        0 => None,
        bits => Some(TokenRef::clone_from_bits(bits as u64)),
    }
}
