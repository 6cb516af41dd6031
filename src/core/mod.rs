//! The engine: safe Rust with no knowledge of the C ABI beyond the callback triple.
//!
//! # Layers
//! Folders are layers; a file imports its own folder and the folders below it, never
//! one above (check: `grep -rn "crate::core::" src/core`).
//!
//! ```text
//! ground        sync (loom shim, locks) · thread (threads without caller state) ·
//!               wake (a descriptor event loops sleep on) · status (one table of
//!               codes) · callback (the C triple)
//! memory/       handle (generation|kind|index, one table of kinds) · refword · pool
//!               (type-stable slots, per-thread free lists) · family (the one lifecycle)
//!               · cell (the slot of a plain object: primitives, clocks)
//! values        error · hooks · cancel/ (sources, tokens, registrations; no task, no timer)
//! task/         the engine: word, cell, outcome, list, continuation, complete, work,
//!               trampoline, schedule (trait Schedule), config (threads, time, hooks),
//!               workers (the default pool), ops
//! above task    sched/ (inline, default, manual + test, foreign) · time/ (timer,
//!               clocks, delay, timeouts, deadlines) · wait · primitives/
//! combinators/  run, when_all, when_any + interleaved, factories, unwrap + set_from_task
//! registry      every pool, for the live-object diagnostics only
//! ```
//!
//! Three seams keep the arrows pointing down: the slot allocator hands a thread's
//! cached slots back to the pool that registered itself with it (it never names the
//! pools); the engine posts jobs through `trait Schedule` (it never names a scheduler,
//! and no scheduler names a combinator); a cancellation source with a deadline holds a
//! guard whose drop stops the timer (cancel/ never names time/).

pub(crate) mod sync;
pub(crate) mod thread;
#[cfg(not(loom))]
pub(crate) mod wake;

#[cfg(not(loom))]
pub mod callback;
pub(crate) mod memory;
#[cfg(not(loom))]
pub mod status;

#[cfg(not(loom))]
pub(crate) mod cancel;
#[cfg(not(loom))]
pub mod error;
#[cfg(not(loom))]
pub mod hooks;

pub(crate) mod task;

#[cfg(not(loom))]
pub(crate) mod combinators;
pub(crate) mod primitives;
#[cfg(not(loom))]
pub(crate) mod registry;
#[cfg(not(loom))]
pub(crate) mod sched;
#[cfg(not(loom))]
pub(crate) mod time;
#[cfg(not(loom))]
pub(crate) mod wait;

#[cfg(all(test, loom))]
mod tests;

/// `tapir_shutdown`: stops and joins the timer thread and the default pool (see the
/// header for what happens to pending and queued work), then, unless timers are still
/// pending, returns the configuration to its defaults (dropping the schedulers it
/// held), so tapir holds no object and may be configured anew. Refused from a pool
/// thread, which cannot join itself.
#[cfg(not(loom))]
pub(crate) fn shutdown() -> status::Result<()> {
    if task::workers::on_worker() {
        return Err(status::Status::InvalidState);
    }
    let timers_idle = time::timer::shutdown();
    task::workers::shutdown();
    if timers_idle {
        task::config::thaw();
    }
    Ok(())
}

/// The library is being unloaded, or the process is exiting: nothing calls into tapir
/// after this. Removes the per-thread exit hook (its code is about to go) and, when
/// tapir is quiescent — shut down, so no tapir thread runs, and no object live — frees
/// the pools, so a host that loads and unloads tapir repeatedly does not grow.
#[cfg(not(loom))]
pub(crate) fn unload() {
    let quiescent = task::workers::stopped()
        && time::timer::stopped()
        && registry::live(registry::ObjectKind::All as i32) == 0;
    if quiescent {
        task::workers::release_memory();
        time::timer::release_memory();
        task::trace::release_memory();
        task::diag::release_memory();
    }
    memory::pool::unload(quiescent);
}
