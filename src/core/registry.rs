//! Every pool of the process, for the live-object counts the diagnostics report, per
//! object kind. Only diagnostics look here: no layer below names the pools.

/// What `tapir_debug_live_objects` counts (the C enum `tapir_object_kind`).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// Every kind below, summed.
    All = 0,
    /// Tasks (a source and its task are one object).
    Task = 1,
    /// Error values.
    Error = 2,
    /// Continuation nodes (continuations waiting beside a task's first one, and
    /// registration handles).
    Registration = 3,
    /// Schedulers (the default and inline ones are permanent and not counted).
    Scheduler = 4,
    /// Cancellation sources and tokens, and their registrations (the none token is
    /// permanent and not counted).
    Cancel = 5,
    /// Progress reporters.
    Progress = 6,
    /// Semaphores.
    Semaphore = 7,
    /// Auto-reset and manual-reset events.
    Event = 8,
    /// Countdown events.
    Countdown = 9,
    /// Barriers.
    Barrier = 10,
    /// Locks and reader-writer locks.
    Lock = 11,
    /// Lock guards (held locks).
    LockGuard = 12,
    /// Channels.
    Channel = 13,
    /// Caches.
    Cache = 14,
    /// Clocks.
    Clock = 15,
}

/// Live objects of `kind` (a `tapir_object_kind` value; 0 for an unknown one).
/// O(slots ever allocated): diagnostics only.
pub(crate) fn live(kind: i32) -> usize {
    use super::primitives as prims;
    use super::task::{cell::TASKS, list::NODES};
    let count = |k: ObjectKind| match k {
        ObjectKind::All => 0,
        ObjectKind::Task => TASKS.live(),
        ObjectKind::Error => super::error::live(),
        ObjectKind::Registration => NODES.live(),
        ObjectKind::Scheduler => super::sched::live(),
        ObjectKind::Cancel => super::cancel::source::live(),
        ObjectKind::Progress => super::primitives::progress::live(),
        ObjectKind::Semaphore => prims::semaphore::live(),
        ObjectKind::Event => prims::event::live(),
        ObjectKind::Countdown => prims::countdown::live(),
        ObjectKind::Barrier => prims::barrier::live(),
        ObjectKind::Lock => prims::lock::live() + prims::rwlock::live(),
        ObjectKind::LockGuard => prims::guard::live(),
        ObjectKind::Channel => prims::channel::live(),
        ObjectKind::Cache => prims::cache::live(),
        ObjectKind::Clock => super::time::clock::live(),
    };
    const KINDS: [ObjectKind; 15] = [
        ObjectKind::Task,
        ObjectKind::Error,
        ObjectKind::Registration,
        ObjectKind::Scheduler,
        ObjectKind::Cancel,
        ObjectKind::Progress,
        ObjectKind::Semaphore,
        ObjectKind::Event,
        ObjectKind::Countdown,
        ObjectKind::Barrier,
        ObjectKind::Lock,
        ObjectKind::LockGuard,
        ObjectKind::Channel,
        ObjectKind::Cache,
        ObjectKind::Clock,
    ];
    match kind {
        k if k == ObjectKind::All as i32 => KINDS.iter().map(|&k| count(k)).sum(),
        k => KINDS
            .iter()
            .find(|&&x| x as i32 == k)
            .map_or(0, |&x| count(x)),
    }
}
