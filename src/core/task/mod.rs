//! The engine: tasks, their sources, continuations, completion, the trampoline, jobs,
//! `trait Schedule` and the default pool.
//!
//! # The slot
//! A task and its source share one 64-byte pooled cell ([`cell`]): the task word, the
//! inline continuation, the outcome, the state, and the index of an extra record for
//! what most tasks never need (library references, lists of continuations).
//!
//! # The word ([`word`])
//! One `AtomicU64`: generation, user task handles, user source handles, and the state
//! bits LOCKED, COMPLETED + status, FIRST, LIST, LENT, DYING, HELD, ASYNC, RUN, QUIET,
//! WATCHED (a producer wants to hear when the pending task is unobserved, [`abandon`]). Because
//! the handle counts and the state share the word, validating a handle and acting on
//! the task are one compare-exchange: a call racing the release of its handle either
//! acts on the object it was made for or sees the handle stale, and has done nothing.
//!
//! # Reference kinds
//! - **Task handles** (`user`): `tapir_task` values callers hold. Valid while
//!   `user > 0`, or while LENT (see below).
//! - **Source handles** (`sources`): `tapir_source` values callers hold, and the
//!   library's own producers of tasks only it can complete (a continuation's `next`, a
//!   combinator's result, a run's task). Counted apart from task handles, so a double
//!   release of either kind is caught while the other kind lives.
//! - **Internal references** (extra record `internal`, flagged by HELD): pins taken by
//!   calls that read more than the word, queued continuations' antecedents, values
//!   shared by other tasks.
//! - **Extra producers** (extra record `producers`, flagged by HELD): the right to
//!   complete a task that also has user source handles (`tapir_source_set_from_task`),
//!   kept apart so the user's handles stay exact.
//! - **LENT**: while the completer runs the continuations it detached, the task cannot
//!   die and its handle is valid for the callbacks, whatever other threads release;
//!   the completer clears it after the last one.
//!
//! What does **not** hold a reference: a continuation does not keep its antecedent, a
//! registration handle does not keep its task, queued work does not keep its
//! scheduler's queue. So a task that can never complete (no producer left) dies with
//! its last handle, and its continuations are discarded: destroy runs, fn never does.
//! A library producer that goes away without completing (its antecedent died pending)
//! gives up its right silently: the task it would have completed waits for ever, as a
//! continuation of a task that never completes does. Only a user source handle, or a
//! producer released after user code had its chance (a continuation's `next` after its
//! callback, a run's source after its body), breaks the promise.
//!
//! # Field access
//! - the word: by compare-exchange (generation checked), or by plain store by the
//!   holder of LOCKED (every other writer waits while it is set) or of DYING (nobody
//!   else writes a dying word);
//! - the inline continuation, the list, the extra record: under LOCKED while pending;
//!   after completion by the completer that detached them; by the dying thread;
//! - the outcome: written once under LOCKED before the Release store of COMPLETED;
//!   read-only afterwards (by holders of a reference, or optimistically with the word
//!   checked again, see `ops::read_checked`); moved out by the dying thread;
//! - the state: written before publication, read-only afterwards.
//!
//! # Safety scenarios
//! - completion racing registration: both take LOCKED from the pending state; a
//!   registration either lands before the detach (and the completer runs it) or sees
//!   COMPLETED and runs itself — modelled in `core/tests/loom_task.rs`;
//! - removal racing completion: removal unlinks under LOCKED only while pending;
//!   afterwards the completer owns the entry and removal reports "already ran";
//! - the last release racing a callback: the completer holds LENT, a queued
//!   continuation holds an internal reference and lends the callback a task handle of
//!   its own, a registration on a completed task runs on its caller's own handle;
//! - a call racing the release of its own handle: the compare-exchange that acts
//!   checks the generation and the count; optimistic readers check the word again
//!   after reading.

#[cfg(not(loom))]
pub(crate) mod abandon;
pub(crate) mod cell;
#[cfg(not(loom))]
pub(crate) mod complete;
#[cfg(not(loom))]
pub(crate) mod config;
#[cfg(not(loom))]
pub(crate) mod continuation;
#[cfg(not(loom))]
pub(crate) mod diag;
#[cfg(not(loom))]
pub(crate) mod list;
#[cfg(not(loom))]
pub(crate) mod ops;
#[cfg(not(loom))]
pub(crate) mod outcome;
#[cfg(not(loom))]
pub(crate) mod refs;
#[cfg(not(loom))]
pub(crate) mod schedule;
pub(crate) mod slot;
#[cfg(not(loom))]
pub mod trace;
#[cfg(not(loom))]
pub(crate) mod trampoline;
pub(crate) mod word;
#[cfg(not(loom))]
pub(crate) mod work;
#[cfg(not(loom))]
pub(crate) mod workers;

#[cfg(not(loom))]
pub use word::Final;
