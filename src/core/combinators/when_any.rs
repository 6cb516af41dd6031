//! Task.WhenAny, and Interleaved (Task.WhenEach): outputs in completion order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::core::sync::Mutex;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal};
use crate::core::task::list::{self, Placement, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::SourceRef;

use super::pins::Pins;
use super::race::{Race, Win};

/// The state every registration of one when_any shares.
///
/// # Counting
/// The registrations do not hold a strong count each (two atomic operations per input
/// on one line, a large part of a big when_any's cost): together they hold one, and
/// `entries` counts those that may still run or be dropped by their input. The
/// `Arc<AnyState>` that the task layer rebuilds from a registration for
/// `input_completed` or `input_abandoned` is that shared count, borrowed: it is
/// released with [`AnyState::release_entries`], never dropped. The registering thread
/// counts every input before the first registration and gives back in one step the
/// counts of inputs it did not register; whoever removes registrations takes them back
/// (`Placement::take_internal`) and settles them in one step too.
struct AnyState {
    race: Race,
    /// Registrations that may still run or be dropped (see Counting).
    entries: AtomicUsize,
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
    /// Records where input `index`'s registration landed.
    fn set(&mut self, index: usize, placement: Placement) {
        self.inline[index] = match placement {
            Placement::First(h) => h.bits(),
            Placement::Ran => 0,
            p @ Placement::Node(..) => {
                self.nodes.push((index, p));
                0
            }
        };
    }

    /// Removes every registration that has not run (the state is `state`); they never
    /// run. Returns how many were removed: their counts are the caller's to release.
    fn remove_all(self, state: &Arc<AnyState>) -> usize {
        let data = state.key_data();
        let mut removed = 0;
        let mut take = |p: Placement, index| {
            if let Some(internal) = p.take_internal((data, index)) {
                // Its count is settled by the caller with the others': not dropped.
                std::mem::forget(internal);
                removed += 1;
            }
        };
        for (index, &bits) in self.inline.iter().enumerate() {
            if let Some(&ahead) = self.inline.get(index + PREFETCH_AHEAD) {
                prefetch_cell(Handle::from_bits(ahead));
            }
            if let Some(h) = Handle::from_bits(bits) {
                take(Placement::First(h), index);
            }
        }
        for (index, p) in self.nodes {
            take(p, index);
        }
        removed
    }
}

impl AnyState {
    /// The address that keys this state's registrations (`Internal::key`).
    fn key_data(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// The registrations' shared strong count, borrowed (see Counting): for the
    /// registrations themselves, and for `release_entries`.
    fn shared(self: &Arc<Self>) -> Arc<Self> {
        // SAFETY: the shared count is held while `entries` is not zero, which the
        // caller's registrations (counted, not yet released) guarantee; the Arc made
        // here is never dropped unless it is the last one (`release_entries`).
        unsafe { Arc::from_raw(Arc::as_ptr(self)) }
    }

    /// Releases `k` (at least one) registrations' counts through `shared`, the borrowed
    /// shared count; the last one releases the shared count itself.
    fn release_entries(shared: Arc<Self>, k: usize) {
        debug_assert!(k > 0);
        // AcqRel: every use of the state by a registration happens before the drop.
        if shared.entries.fetch_sub(k, Ordering::AcqRel) == k {
            drop(shared);
        } else {
            std::mem::forget(shared);
        }
    }

    /// Input `index` won: the losers' registrations are removed, `cancel_on_complete`
    /// is canceled, then the result is published. Called once (see `race`).
    fn finish(self: &Arc<Self>, index: usize, inline_ok: bool) {
        let placements = self.placements.lock().take();
        let removed = placements.map_or(0, |p| p.remove_all(self));
        if removed > 0 {
            Self::release_entries(self.shared(), removed);
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
        // `self` is the shared count, borrowed; this registration's count is released
        // after its last use of the state.
        if self.race.try_win(index) == Win::Finish {
            self.finish(index, ant.inline_ok);
        }
        Self::release_entries(self, 1);
    }

    fn input_abandoned(self: Arc<Self>, _index: usize) {
        Self::release_entries(self, 1);
    }
}

/// How many inputs ahead the loops over them prefetch the input's cell. Each
/// registration and removal is a compare-exchange on the input's cell, which waits for
/// the line and keeps later loads from starting before it: without a prefetch, a large
/// when_any pays one full cache miss per input, one after the other.
const PREFETCH_AHEAD: usize = 8;

/// Asks for the cache line of the task cell `h` names, for writing (a hint: nothing is
/// read, and no handle or an invalid one prefetches nothing).
#[inline(always)]
fn prefetch_cell(h: Option<Handle>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(h) = h
        && let Ok(cell) = crate::core::task::refs::task_cell(h)
    {
        // SAFETY: a prefetch is a hint that never faults and reads nothing; the pointer
        // is a live cell's address anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(
                std::ptr::from_ref(cell).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = h;
}

/// The handle bits name a valid task handle now (the inputs after a winner are only
/// validated, not registered on).
fn check_task(bits: u64) -> Result<()> {
    let h = Handle::from_bits(bits).ok_or(Status::InvalidHandle)?;
    crate::core::task::refs::task_view(h).map(|_| ())
}

/// WhenAny: succeeds with the index of the first input to complete, whatever its
/// outcome (among inputs already completed, the first in input order). Its
/// registrations on the other inputs are removed as soon as it completes; with
/// `cancel_on_complete`, that source is canceled then too, before the result is
/// published. If an input is invalid, the registrations already made are removed and
/// nothing else has happened (no result, no cancellation).
pub fn when_any(inputs: Vec<Handle>, cancel_on_complete: Option<TokenRef>) -> Result<Handle> {
    let n = inputs.len();
    if n == 0 {
        return Err(Status::InvalidArgument);
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let state = Arc::new(AnyState {
        race: Race::new(),
        // Every input counted before the first registration (see Counting).
        entries: AtomicUsize::new(n),
        source,
        placements: Mutex::new(None),
        cancel_on_complete,
    });
    // The registrations' shared count.
    std::mem::forget(state.clone());
    // The inputs' own buffer becomes the placements (each word overwritten once its
    // input is registered), so a large when_any allocates nothing per input here.
    let mut placements = Placements {
        inline: inputs.into_iter().map(Handle::bits).collect(),
        nodes: Vec::new(),
    };
    // Registrations attempted (each consumed its count: held, run, or dropped) and
    // made (a prefix of the inputs).
    let (mut tried, mut placed) = (0, 0);
    let mut failed = None;
    while tried < n {
        let index = tried;
        if let Some(ahead) = placements.inline.get(index + PREFETCH_AHEAD) {
            prefetch_cell(Handle::from_bits(*ahead));
        }
        // An input completed already (or meanwhile): the rest need no registration,
        // only to be valid.
        if state.race.has_winner() {
            failed = placements.inline[index..]
                .iter()
                .find_map(|&bits| check_task(bits).err());
            break;
        }
        tried += 1;
        let h = Handle::from_bits(placements.inline[index]).expect("a handle is never 0");
        // A failed registration drops its continuation, which releases its count.
        match list::register_internal(h, Internal::from_arc(state.shared(), index)) {
            Ok(p) => {
                placements.set(index, p);
                placed += 1;
            }
            Err(s) => {
                failed = Some(s);
                break;
            }
        }
    }
    placements.inline.truncate(placed);
    let mut unused = n - tried;
    if let Some(s) = failed {
        // The race is never armed: a registration that runs anyway (its input
        // completing meanwhile) records itself and does nothing else.
        unused += placements.remove_all(&state);
        if unused > 0 {
            AnyState::release_entries(state.shared(), unused);
        }
        drop(state);
        let _ = ops::task_release(out);
        return Err(s);
    }
    if unused > 0 {
        AnyState::release_entries(state.shared(), unused);
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
