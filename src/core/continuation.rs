//! Continuation nodes: what runs when a task completes, and the rules for where.
//!
//! A node lives in the `NODES` pool; its handle is the registration the caller may
//! keep to remove it. While registered it sits in its antecedent's doubly linked
//! list (links guarded by the antecedent's LOCKED bit). References on a node: one
//! held by the list (or, once detached, by whoever runs it) and one per
//! registration handle given out.

use std::cell::UnsafeCell;
use std::sync::Arc;

use super::callback::{ContinueFn, NotifyFn, UserData, handle_ptr};
use super::cancel::{CancelAction, TokenRef};
use super::pool::Handle;
use super::scheduler::SchedRef;
use super::state::Final;
use super::task::{self, Outcome, SourceRef, TaskRef};
use super::wait::Waiter;

/// Run on the completing thread when the scheduler allows it.
pub(crate) const EXECUTE_SYNCHRONOUSLY: u32 = 1;
/// Run only if the antecedent succeeded.
pub(crate) const ONLY_ON_SUCCESS: u32 = 1 << 1;
/// Run only if the antecedent faulted.
pub(crate) const ONLY_ON_FAULTED: u32 = 1 << 2;
/// Run only if the antecedent was canceled.
pub(crate) const ONLY_ON_CANCELED: u32 = 1 << 3;
/// Do not run if the antecedent succeeded.
pub(crate) const NOT_ON_SUCCESS: u32 = 1 << 4;
/// Do not run if the antecedent faulted.
pub(crate) const NOT_ON_FAULTED: u32 = 1 << 5;
/// Do not run if the antecedent was canceled.
pub(crate) const NOT_ON_CANCELED: u32 = 1 << 6;
/// With a token: stay pending until the antecedent completes, then end canceled.
pub(crate) const LAZY_CANCELLATION: u32 = 1 << 7;
/// A hint that the callback blocks for long (the pool may add a thread).
pub(crate) const LONG_RUNNING: u32 = 1 << 8;
/// The continuation task's own continuations never run inline.
pub(crate) const RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1 << 9;
/// Every defined continuation flag.
pub(crate) const ALL_FLAGS: u32 = (1 << 10) - 1;

const NOT_ALL: u32 = NOT_ON_SUCCESS | NOT_ON_FAULTED | NOT_ON_CANCELED;

/// The set of outcomes a continuation refuses, as NOT_ON_* bits.
fn excluded(flags: u32) -> u32 {
    let mut not = flags & NOT_ALL;
    if flags & ONLY_ON_SUCCESS != 0 {
        not |= NOT_ON_FAULTED | NOT_ON_CANCELED;
    }
    if flags & ONLY_ON_FAULTED != 0 {
        not |= NOT_ON_SUCCESS | NOT_ON_CANCELED;
    }
    if flags & ONLY_ON_CANCELED != 0 {
        not |= NOT_ON_SUCCESS | NOT_ON_FAULTED;
    }
    not
}

/// Checks continuation flags: no unknown bits, not every outcome excluded, and
/// LONG_RUNNING never with EXECUTE_SYNCHRONOUSLY (as the TPL rules).
pub fn validate_flags(flags: u32) -> bool {
    flags & !ALL_FLAGS == 0
        && excluded(flags) != NOT_ALL
        && flags & (LONG_RUNNING | EXECUTE_SYNCHRONOUSLY) != (LONG_RUNNING | EXECUTE_SYNCHRONOUSLY)
}

/// True when a continuation with `flags` runs for an antecedent that ended `status`.
pub(crate) fn admits(flags: u32, status: Final) -> bool {
    let bit = match status {
        Final::Succeeded => NOT_ON_SUCCESS,
        Final::Faulted => NOT_ON_FAULTED,
        Final::Canceled => NOT_ON_CANCELED,
    };
    excluded(flags) & bit == 0
}

/// What a node does when its antecedent completes.
pub(crate) enum Action {
    /// `tapir_task_on_complete`: call `f(user_data, antecedent)`.
    Notify { f: NotifyFn, data: UserData },
    /// `tapir_task_continue_with`: call `f(user_data, antecedent, next)`; the
    /// continuation task is completed through `next` (now or later, after a retain).
    Continue {
        f: ContinueFn,
        data: UserData,
        next: SourceRef,
    },
    /// Complete `target` the way the antecedent completed (unwrap, set_from_task).
    Forward { target: SourceRef },
    /// Wake a blocked waiter, telling it which input completed.
    Wake { waiter: Arc<Waiter>, index: usize },
    /// Library-internal continuation (combinators, the Rust API).
    Rust(Box<dyn FnOnce(Handle) + Send>),
    /// A continuation with a cancellation token (see [`guard`]).
    Guarded(Box<Guard>),
    /// Input `index` of a combinator completed: no heap allocation per input.
    Combinator {
        state: Arc<dyn Combinator>,
        index: usize,
    },
}

/// A multi-input combinator notified as each input completes.
pub(crate) trait Combinator: Send + Sync {
    /// Input `index` (the handle `task`, alive for the call) completed.
    fn input_completed(&self, index: usize, task: Handle);
}

/// A continuation that a token can cancel.
pub(crate) struct Guard {
    inner: Action,
    token: TokenRef,
    /// The eager-cancel registration on `token`, removed when the continuation runs.
    eager: Option<u64>,
}

/// Puts `action` under `token`: if the token is canceled before the antecedent
/// completes, the callback never runs. For a continuation task (`Continue`), the task
/// ends canceled as soon as the token fires (eager, the TPL default) or, with
/// LAZY_CANCELLATION, only once the antecedent completes.
pub(crate) fn guard(action: Action, token: TokenRef, flags: u32) -> Action {
    let mut eager = None;
    if let Action::Continue { next, .. } = &action {
        if flags & LAZY_CANCELLATION == 0 {
            let next = task::retain_source(next.handle()).expect("continuation source is live");
            // Weak: the closure lives on the token, so it must not own the token.
            let token_handle = token.handle();
            eager = token.register(CancelAction::Rust(Box::new(move || {
                let token = TokenRef::retain_any(token_handle).ok();
                next.try_complete(Outcome::Canceled(token));
            })));
        }
    }
    Action::Guarded(Box::new(Guard {
        inner: action,
        token,
        eager,
    }))
}

impl Action {
    /// Internal actions run inline whatever the flags: they run no user code of their
    /// own beyond completing another task (which applies its own rules).
    pub(crate) fn is_internal(&self) -> bool {
        matches!(
            self,
            Action::Forward { .. } | Action::Wake { .. } | Action::Combinator { .. }
        )
    }

    /// Runs the action for `antecedent` (completed, kept alive by the caller).
    pub(crate) fn run(self, antecedent: Handle, flags: u32) {
        let status = task::final_status(antecedent).expect("antecedent is completed");
        match self {
            Action::Notify { f, data } => {
                if admits(flags, status) {
                    let _lend = task::Lend::task(antecedent);
                    // SAFETY: `f` is the registrant's callback; the C contract makes it
                    // callable once from any thread with its user_data and a borrowed
                    // task handle, which the caller keeps alive for the call.
                    unsafe { f(data.ptr(), handle_ptr(antecedent)) };
                }
                drop(data);
            }
            Action::Continue { f, data, next } => {
                if admits(flags, status) {
                    let _lend = task::Lend::task(antecedent);
                    // SAFETY: as for Notify; `next` is kept alive by `next` (a source
                    // reference) until after the call.
                    unsafe {
                        f(
                            data.ptr(),
                            handle_ptr(antecedent),
                            handle_ptr(next.handle()),
                        )
                    };
                } else {
                    let _ = next.try_complete(Outcome::Canceled(None));
                }
                drop(data);
                drop(next);
            }
            Action::Forward { target } => {
                let outcome = task::forwarded_outcome(antecedent);
                let _ = target.try_complete(outcome);
            }
            Action::Wake { waiter, index } => waiter.wake(index),
            Action::Rust(f) => f(antecedent),
            Action::Combinator { state, index } => state.input_completed(index, antecedent),
            Action::Guarded(g) => {
                let Guard {
                    inner,
                    token,
                    eager,
                } = *g;
                if let Some(id) = eager {
                    token.unregister(id);
                }
                if !token.is_canceled() {
                    return inner.run(antecedent, flags);
                }
                if let Action::Continue { next, data, .. } = inner {
                    next.try_complete(Outcome::Canceled(Some(token)));
                    drop(data);
                    drop(next);
                }
            }
        }
    }
}

/// What a registration asks for.
pub(crate) struct NodeSpec {
    pub(crate) action: Action,
    pub(crate) flags: u32,
    pub(crate) scheduler: Option<SchedRef>,
}

/// Links of a node in its antecedent's list: node index + 1, 0 for none.
#[derive(Default, Clone, Copy)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) linked: bool,
}

/// The pooled slot of a continuation node.
#[derive(Default)]
pub(crate) struct NodeCell {
    /// Guarded by the antecedent's LOCKED bit while it is pending; owned by the
    /// completer after it detached the list.
    pub(crate) links: UnsafeCell<Links>,
    /// The antecedent task; set before the node is linked, then immutable.
    pub(crate) antecedent: UnsafeCell<Option<TaskRef>>,
    /// Taken exactly once: by the completer (to run it) or by a successful removal.
    pub(crate) spec: UnsafeCell<Option<NodeSpec>>,
}

// SAFETY: every field is accessed under the protocol in the module docs: links and
// spec only by the holder of the antecedent's lock while pending, or by the single
// completer after the detach; `antecedent` is written before publication.
unsafe impl Sync for NodeCell {}
