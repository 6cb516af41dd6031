//! Task.WhenAny, and Interleaved (Task.WhenEach): outputs in completion order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal};
use crate::core::task::list::{self, Placement, Target, Want};
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::SourceRef;

use super::pins::Pins;

struct AnyState {
    won: AtomicBool,
    source: SourceRef,
    /// Where each registration landed, to remove the losers' at once.
    placements: Mutex<Vec<(Placement, (usize, usize))>>,
    /// Canceled when the first input completes, so the losers can stop.
    cancel_on_complete: Option<TokenRef>,
}

impl Combinator for AnyState {
    fn input_completed(self: Arc<Self>, index: usize, ant: &Antecedent) {
        // AcqRel: exactly one input wins.
        if self.won.swap(true, Ordering::AcqRel) {
            return;
        }
        remove_all(std::mem::take(&mut *self.placements.lock()));
        // The losers are told to stop before anything waiting on the result runs.
        if let Some(t) = &self.cancel_on_complete {
            drop(t.cancel(false));
        }
        self.source
            .try_complete(Outcome::value(index), ant.inline_ok);
    }
}

fn remove_all(placements: Vec<(Placement, (usize, usize))>) {
    for (p, key) in placements {
        p.remove(key);
    }
}

/// WhenAny: succeeds with the index of the first input to complete, whatever its
/// outcome (among inputs already completed, the first in input order). Its
/// registrations on the other inputs are removed as soon as it completes; with
/// `cancel_on_complete`, that source is canceled then too. Every input is validated
/// before anything is registered.
pub fn when_any(inputs: &[Handle], cancel_on_complete: Option<TokenRef>) -> Result<Handle> {
    if inputs.is_empty() {
        return Err(Status::InvalidArgument);
    }
    let pins = Pins::take(inputs)?;
    let (source, out) = SourceRef::new_task(false, 0);
    let state = Arc::new(AnyState {
        won: AtomicBool::new(false),
        source,
        placements: Mutex::new(Vec::with_capacity(inputs.len())),
        cancel_on_complete,
    });
    for (index, &h) in inputs.iter().enumerate() {
        // Acquire: pairs with the swap in `input_completed`.
        if state.won.load(Ordering::Acquire) {
            break;
        }
        let internal = Internal::from_arc(state.clone(), index);
        let key = internal.key();
        let cont = Continuation::internal(Action::Internal(internal));
        let Ok(placement) = list::register(Target::User(h), cont, Want::Removable) else {
            debug_assert!(false, "a pinned input accepts registrations");
            continue;
        };
        let mut placements = state.placements.lock();
        if state.won.load(Ordering::Acquire) {
            drop(placements);
            placement.remove(key);
        } else {
            placements.push((placement, key));
        }
    }
    drop(state);
    drop(pins);
    Ok(out)
}

struct InterleaveState {
    outputs: Vec<SourceRef>,
    next: AtomicUsize,
}

impl Combinator for InterleaveState {
    fn input_completed(self: Arc<Self>, _index: usize, ant: &Antecedent) {
        // Relaxed: each completion only needs a distinct output.
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        self.outputs[k].try_complete(ant.shared_outcome(), ant.inline_ok);
    }
}

/// Interleaved: `inputs.len()` output tasks; output k completes like the k-th input to
/// complete. O(N) in total. Returns the output task handles (+1 each).
pub fn interleaved(inputs: &[Handle]) -> Result<Vec<Handle>> {
    let pins = Pins::take(inputs)?;
    let mut outputs = Vec::with_capacity(inputs.len());
    let mut handles = Vec::with_capacity(inputs.len());
    for _ in inputs {
        let (source, out) = SourceRef::new_task(false, 0);
        outputs.push(source);
        handles.push(out);
    }
    let state = Arc::new(InterleaveState {
        outputs,
        next: AtomicUsize::new(0),
    });
    for (index, &h) in inputs.iter().enumerate() {
        let cont =
            Continuation::internal(Action::Internal(Internal::from_arc(state.clone(), index)));
        let placed = list::register(Target::User(h), cont, Want::Nothing);
        debug_assert!(placed.is_ok(), "a pinned input accepts registrations");
    }
    drop(pins);
    Ok(handles)
}
