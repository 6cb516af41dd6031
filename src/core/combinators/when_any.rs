//! Task.WhenAny, and Interleaved (Task.WhenEach): outputs in completion order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal};
use crate::core::task::list::{self, Placement, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::SourceRef;

use super::pins::Pins;
use super::race::{Race, Win};

struct AnyState {
    race: Race,
    source: SourceRef,
    /// Where the registrations landed: stored by the registering thread before it arms
    /// the race, taken by whichever thread finishes (see `race`).
    placements: Mutex<Option<Placements>>,
    /// Canceled when the first input completes, so the losers can stop.
    cancel_on_complete: Option<TokenRef>,
}

/// Where each registration landed, to remove the losers' at once.
#[derive(Default)]
struct Placements {
    /// Per input registered, in input order: the task handle bits of the input whose
    /// inline slot took the registration, or 0 (it ran at once, or it is in `nodes`).
    /// The common case, so one word per input.
    inline: Vec<u64>,
    /// The registrations that landed in list nodes, with their input index.
    nodes: Vec<(usize, Placement)>,
}

impl Placements {
    fn with_capacity(n: usize) -> Placements {
        Placements {
            inline: Vec::with_capacity(n),
            nodes: Vec::new(),
        }
    }

    fn push(&mut self, index: usize, placement: Placement) {
        debug_assert_eq!(index, self.inline.len());
        match placement {
            Placement::First(h) => self.inline.push(h.bits()),
            Placement::Ran => self.inline.push(0),
            p @ Placement::Node(..) => {
                self.inline.push(0);
                self.nodes.push((index, p));
            }
        }
    }

    /// Removes every registration that has not run; `data` is the state's address (the
    /// first half of each registration's key, the input index the second).
    fn remove_all(self, data: usize) {
        for (index, bits) in self.inline.into_iter().enumerate() {
            if let Some(h) = Handle::from_bits(bits) {
                Placement::First(h).remove((data, index));
            }
        }
        for (index, p) in self.nodes {
            p.remove((data, index));
        }
    }
}

impl AnyState {
    /// The address that keys this state's registrations (`Internal::key`).
    fn key_data(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Input `index` won: the losers' registrations are removed, `cancel_on_complete`
    /// is canceled, then the result is published. Called once (see `race`).
    fn finish(self: &Arc<Self>, index: usize, inline_ok: bool) {
        let placements = self.placements.lock().take();
        if let Some(p) = placements {
            p.remove_all(self.key_data());
        }
        // The losers are told to stop before anything waiting on the result runs.
        if let Some(t) = &self.cancel_on_complete {
            drop(t.cancel(false));
        }
        self.source.try_complete(Outcome::value(index), inline_ok);
    }
}

impl Combinator for AnyState {
    fn input_completed(self: Arc<Self>, index: usize, ant: &Antecedent) {
        if self.race.try_win(index) == Win::Finish {
            self.finish(index, ant.inline_ok);
        }
    }
}

/// WhenAny: succeeds with the index of the first input to complete, whatever its
/// outcome (among inputs already completed, the first in input order). Its
/// registrations on the other inputs are removed as soon as it completes; with
/// `cancel_on_complete`, that source is canceled then too, before the result is
/// published. If an input is invalid, the registrations already made are removed and
/// nothing else has happened (no result, no cancellation).
pub fn when_any(inputs: &[Handle], cancel_on_complete: Option<TokenRef>) -> Result<Handle> {
    if inputs.is_empty() {
        return Err(crate::core::status::Status::InvalidArgument);
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let state = Arc::new(AnyState {
        race: Race::new(),
        source,
        placements: Mutex::new(None),
        cancel_on_complete,
    });
    let mut placements = Placements::with_capacity(inputs.len());
    for (index, &h) in inputs.iter().enumerate() {
        // An input completed already (or meanwhile): the rest need no registration.
        if state.race.has_winner() {
            break;
        }
        let internal = Internal::from_arc(state.clone(), index);
        match list::register_internal(h, internal) {
            Ok(p) => placements.push(index, p),
            Err(s) => {
                // The race is never armed: a registration that runs anyway (its input
                // completing meanwhile) records itself and does nothing else.
                placements.remove_all(state.key_data());
                drop(state);
                let _ = ops::task_release(out);
                return Err(s);
            }
        }
    }
    *state.placements.lock() = Some(placements);
    if let Some(index) = state.race.arm() {
        // The result task has no continuations yet (its handle is not out).
        state.finish(index, true);
    }
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
