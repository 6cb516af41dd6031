//! The engine: safe Rust with no knowledge of the C ABI beyond the callback triple
//! (see [`callback`]).
//!
//! # Objects and references
//! Every object lives in a type-stable [`pool`] slot whose [`refword`] packs a
//! generation and a reference count. Handles name a slot, a kind and a generation;
//! a handle whose generation no longer matches is stale and refused.
//!
//! Who holds references on a task slot:
//! - each task handle and each source handle given to a caller (one each);
//! - a dispatched or deferred continuation holds its antecedent until it has run;
//! - a continuation node holds its continuation task's source (`Action::Continue`,
//!   `Action::Forward`) until it has run or been dropped;
//! - a registration node that the caller may remove holds its antecedent;
//! - a task whose value is forwarded from another holds that other task.
//!
//! # State and field access
//! See [`state`] (the state word and its protocol) and [`task`] (which thread may
//! touch which field when).
//!
//! # Safety scenarios
//! - completion racing registration: both take the list lock; a registration either
//!   lands before the detach (and the completer runs it) or sees COMPLETED (and runs
//!   itself) — modelled in `tests/loom_state.rs`;
//! - removal racing completion: removal unlinks under the lock only while pending;
//!   afterwards the completer owns the node and removal reports "already ran";
//! - last release racing a callback: a callback runs while the completer (or the work
//!   item) holds a reference, so the antecedent outlives every callback that sees it.

pub(crate) mod sync;

#[cfg(not(loom))]
pub mod callback;
#[cfg(not(loom))]
pub mod cancel;
#[cfg(not(loom))]
pub mod combinators;
#[cfg(not(loom))]
pub(crate) mod continuation;
#[cfg(not(loom))]
pub mod error;
#[cfg(not(loom))]
pub mod hooks;
#[cfg(not(loom))]
pub mod pool;
#[cfg(not(loom))]
pub(crate) mod pools;
#[cfg(not(loom))]
pub mod progress;
pub(crate) mod refword;
#[cfg(not(loom))]
pub mod scheduler;
pub(crate) mod state;
#[cfg(not(loom))]
pub mod status;
#[cfg(not(loom))]
pub mod task;
#[cfg(not(loom))]
pub(crate) mod timer;
#[cfg(not(loom))]
pub(crate) mod trampoline;
#[cfg(not(loom))]
pub mod wait;

#[cfg(all(test, loom))]
mod tests;
