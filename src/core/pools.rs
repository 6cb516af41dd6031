//! The process-wide pools, one per object type, and their ids in the per-thread caches.

use super::cancel::CancelCell;
use super::continuation::NodeCell;
use super::error::ErrorCell;
use super::pool::Pool;
use super::progress::ProgressCell;
use super::scheduler::SchedulerCell;
use super::task::TaskCell;

/// Tasks and their sources (one slot serves both).
pub(crate) static TASKS: Pool<TaskCell> = Pool::new(0);
/// Error values.
pub(crate) static ERRORS: Pool<ErrorCell> = Pool::new(1);
/// Continuation nodes; their handles are registrations.
pub(crate) static NODES: Pool<NodeCell> = Pool::new(2);
/// Schedulers.
pub(crate) static SCHEDULERS: Pool<SchedulerCell> = Pool::new(3);
/// Cancellation sources, their tokens and their registrations.
pub(crate) static CANCELS: Pool<CancelCell> = Pool::new(4);

/// Progress reporters.
pub(crate) static PROGRESS: Pool<ProgressCell> = Pool::new(5);

/// Returns a dead thread's cached free indices to pool `id`.
pub(crate) fn give_back(id: usize, indices: Vec<u32>) {
    match id {
        0 => TASKS.give_back(indices),
        1 => ERRORS.give_back(indices),
        2 => NODES.give_back(indices),
        3 => SCHEDULERS.give_back(indices),
        4 => CANCELS.give_back(indices),
        _ => PROGRESS.give_back(indices),
    }
}

/// Live objects per pool (diagnostics; O(slots ever allocated)).
pub(crate) fn live(id: usize) -> usize {
    match id {
        0 => TASKS.live(),
        1 => ERRORS.live(),
        2 => NODES.live(),
        3 => SCHEDULERS.live(),
        4 => CANCELS.live(),
        _ => PROGRESS.live(),
    }
}
