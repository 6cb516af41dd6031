//! Task.WhenAll and its variants.
//!
//! One shared state per call and one library continuation per input (the input's inline
//! slot when it is free: no node, no allocation). The state never keeps a pending input:
//! when an input completes, its value is copied (or, when the input owns it with a
//! destroy, the input is kept so the value stays valid), so an input that can never
//! complete dies with its last handle and takes its continuation with it.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::core::callback::DestroyFn;
use crate::core::cancel::TokenRef;
use crate::core::error::ErrorRef;
use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::Final;
use crate::core::task::complete;
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::{SourceRef, TaskRef};

use super::pins::Pins;

/// Which WhenAll.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AllMode {
    /// Succeeds when all succeed; else faults with every error (input order), else
    /// cancels with the first canceled input's token.
    All,
    /// Always succeeds once all are done; the value is the array of input tasks.
    Settled,
    /// Faults as soon as one input faults (with its errors); otherwise as `All`.
    FirstException,
}

/// The value of a successful WhenAll: a block of `len` slots (values, or input task
/// handles for `Settled`) valid while the task lives. One allocation: a length word,
/// the slots, then the references that keep the slots valid (task reference bits, 0
/// for a slot that needs none). The length word's top bit marks settled blocks, whose
/// kept references are user handles (the slots are handles the caller may use).
const SETTLED: usize = 1 << (usize::BITS - 1);

fn results_outcome(slots: Vec<usize>, keep: Vec<u64>, settled: bool) -> Outcome {
    let len = slots.len();
    let mut block: Vec<usize> = Vec::with_capacity(1 + 2 * len);
    block.push(len | if settled { SETTLED } else { 0 });
    block.extend(slots);
    block.extend(keep.into_iter().map(|k| k as usize));
    let base = Box::into_raw(block.into_boxed_slice()) as *mut usize;
    // SAFETY: the block has 1 + 2*len elements; element 0 is the length word.
    let first = unsafe { base.add(1) } as usize;
    Outcome::Value {
        value: first,
        destroy: Some(free_results as DestroyFn),
    }
}

/// `tapir_destroy_fn` of a results block.
unsafe extern "C" fn free_results(slots: *mut c_void) {
    // SAFETY: `slots` came from `results_outcome`: one usize before it is the length
    // word, and the block holds 1 + 2*len elements.
    let block = unsafe {
        let base = (slots as *mut usize).sub(1);
        let len = *base & !SETTLED;
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, 1 + 2 * len))
    };
    let len = block[0] & !SETTLED;
    let settled = block[0] & SETTLED != 0;
    for &bits in &block[1 + len..] {
        if bits == 0 {
            continue;
        }
        if settled {
            let _ = crate::core::task::ops::task_release(
                Handle::from_bits(bits as u64).expect("kept handle"),
            );
        } else {
            drop(TaskRef::from_bits(bits as u64));
        }
    }
}

struct AllState {
    mode: AllMode,
    /// Per input: its value, once it succeeded (or its handle, for `Settled`).
    values: Box<[AtomicU64]>,
    /// Per input: the bits of a reference that keeps it, when needed (a value with a
    /// destroy, an error or a token to read at the end, a settled slot), else 0.
    kept: Box<[AtomicU64]>,
    remaining: AtomicUsize,
    finished: AtomicBool,
    source: SourceRef,
}

impl Combinator for AllState {
    fn input_completed(self: Arc<Self>, index: usize, ant: &Antecedent) {
        // Relaxed: each slot is written by its own input once, and read by the thread
        // that takes `remaining` to zero (AcqRel below orders them).
        match (self.mode, ant.status) {
            (AllMode::Settled, _) => {
                let keep = TaskRef::from_alive(ant);
                let user = keep.mint_user().map_or(0, |h| h.bits());
                self.values[index].store(user, Ordering::Relaxed);
                self.kept[index].store(user, Ordering::Relaxed);
                drop(keep);
            }
            (_, Final::Succeeded) => {
                let value = ant.value();
                self.values[index].store(value as u64, Ordering::Relaxed);
                if let Some(owner) = ant.value_owner() {
                    self.kept[index].store(owner.into_bits(), Ordering::Relaxed);
                }
            }
            (mode, status) => {
                if status == Final::Faulted {
                    ant.mark_observed();
                    if mode == AllMode::FirstException
                        && !self.finished.swap(true, Ordering::AcqRel)
                    {
                        self.source
                            .try_complete(Outcome::Faulted(ant.errors()), ant.inline_ok);
                    }
                }
                self.kept[index].store(TaskRef::from_alive(ant).into_bits(), Ordering::Relaxed);
            }
        }
        // AcqRel: the last input sees every other input's slot.
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.complete_all(ant.inline_ok);
        }
    }
}

impl AllState {
    fn complete_all(&self, inline_ok: bool) {
        let kept: Vec<u64> = self
            .kept
            .iter()
            .map(|k| k.swap(0, Ordering::Relaxed))
            .collect();
        let failure = if self.mode == AllMode::Settled {
            None
        } else {
            failure_of(kept.iter().copied().filter(|&k| k != 0))
        };
        // AcqRel: FirstException may have completed already.
        if self.finished.swap(true, Ordering::AcqRel) {
            release_kept(kept, self.mode);
            return;
        }
        let outcome = match failure {
            Some(f) => {
                release_kept(kept, self.mode);
                f
            }
            None => {
                let slots = self
                    .values
                    .iter()
                    .map(|v| v.load(Ordering::Relaxed) as usize)
                    .collect();
                results_outcome(slots, kept, self.mode == AllMode::Settled)
            }
        };
        self.source.try_complete(outcome, inline_ok);
    }
}

/// A state dropped before its last input completed (an input died pending: its last
/// handle went, its continuation with it) still holds the inputs it kept; nothing else
/// refers to them, so they are released here.
impl Drop for AllState {
    fn drop(&mut self) {
        let kept: Vec<u64> = self
            .kept
            .iter()
            .map(|k| k.swap(0, Ordering::Relaxed))
            .collect();
        release_kept(kept, self.mode);
    }
}

fn release_kept(kept: Vec<u64>, mode: AllMode) {
    for k in kept.into_iter().filter(|&k| k != 0) {
        if mode == AllMode::Settled {
            let _ = crate::core::task::ops::task_release(Handle::from_bits(k).expect("kept"));
        } else {
            drop(TaskRef::from_bits(k));
        }
    }
}

/// The outcome of a group of completed tasks kept by `kept` (reference bits) unless all
/// succeeded: every error in order, else canceled with the first canceled task's token.
/// The WhenAll rule, shared with the throttled loop.
pub(crate) fn failure_of(kept: impl Iterator<Item = u64>) -> Option<Outcome> {
    let mut errors: Vec<ErrorRef> = Vec::new();
    let mut canceled: Option<Option<TokenRef>> = None;
    for bits in kept {
        let t = std::mem::ManuallyDrop::new(TaskRef::from_bits(bits));
        let Some(ant) = t.antecedent() else { continue };
        match ant.status {
            Final::Faulted => {
                ant.mark_observed();
                errors.extend(ant.errors());
            }
            Final::Canceled if canceled.is_none() => canceled = Some(ant.token()),
            _ => {}
        }
    }
    if !errors.is_empty() {
        Some(Outcome::Faulted(errors))
    } else {
        canceled.map(Outcome::Canceled)
    }
}

/// WhenAll (see [`AllMode`]). The success value points to `len` slots (values, or the
/// input task handles for `Settled`), valid while the task lives. Empty input succeeds
/// at once; duplicates are allowed. Every input is validated before anything is
/// registered.
pub fn when_all(inputs: &[Handle], mode: AllMode) -> Result<Handle> {
    let pins = Pins::take(inputs)?;
    if inputs.is_empty() {
        return Ok(complete::new_completed(results_outcome(
            Vec::new(),
            Vec::new(),
            false,
        )));
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let n = inputs.len();
    let state = Arc::new(AllState {
        mode,
        values: (0..n).map(|_| AtomicU64::new(0)).collect(),
        kept: (0..n).map(|_| AtomicU64::new(0)).collect(),
        remaining: AtomicUsize::new(n),
        finished: AtomicBool::new(false),
        source,
    });
    for (index, &h) in inputs.iter().enumerate() {
        let cont =
            Continuation::internal(Action::Internal(Internal::from_arc(state.clone(), index)));
        let placed = list::register(Target::User(h), cont, Want::Nothing);
        debug_assert!(placed.is_ok(), "a pinned input accepts registrations");
    }
    drop(state);
    drop(pins);
    Ok(out)
}
