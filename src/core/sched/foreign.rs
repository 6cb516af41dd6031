//! A foreign scheduler: the host's `post` receives each job as an opaque work item that
//! it runs (or discards) exactly once, on its own job system or thread.

use std::ffi::c_void;

use crate::core::callback::DestroyFn;
use crate::core::task::schedule::{Running, SchedRef, Schedule};
use crate::core::task::work::Job;

/// The host's post function.
pub type PostFn = unsafe extern "C" fn(ctx: *mut c_void, work: *mut c_void);

pub(crate) struct Host {
    post: PostFn,
    ctx: usize,
    destroy: Option<DestroyFn>,
}

impl Host {
    pub(super) fn new(post: PostFn, ctx: *mut c_void, destroy: Option<DestroyFn>) -> Host {
        Host {
            post,
            ctx: ctx as usize,
            destroy,
        }
    }

    /// Hands `job` to the host; the work item keeps the scheduler until it is consumed.
    pub(super) fn post(&self, scheduler: &'static dyn Schedule, job: Job) {
        scheduler.acquire();
        let item = Box::new(Work {
            job,
            scheduler: SchedRef::adopt(scheduler),
        });
        // SAFETY: the host's post callback, called with its ctx and a work item it now
        // owns (it must run or discard it exactly once).
        unsafe { (self.post)(self.ctx as *mut c_void, Box::into_raw(item).cast()) };
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy {
            // SAFETY: the host gave `destroy` for `ctx`, to be called once when the
            // scheduler goes; a Host is dropped exactly once, at teardown.
            unsafe { destroy(self.ctx as *mut c_void) };
        }
    }
}

/// A work item as the host holds it.
struct Work {
    job: Job,
    scheduler: SchedRef,
}

/// Runs a work item (consumes it), marking this thread as running its scheduler.
///
/// # Safety
/// `item` must come from a foreign scheduler's post and not have been run or discarded.
pub unsafe fn run_work(item: *mut c_void) {
    // SAFETY: the caller passes back the pointer made by Box::into_raw, once.
    let item = unsafe { Box::from_raw(item.cast::<Work>()) };
    let Work { job, scheduler } = *item;
    let _running = Running::enter(scheduler.get());
    job.run();
}

/// Discards a work item without running it (consumes it): its task fails with
/// SCHEDULER_ERROR, its user data is destroyed.
///
/// # Safety
/// As for [`run_work`].
pub unsafe fn discard_work(item: *mut c_void) {
    // SAFETY: as in run_work.
    drop(unsafe { Box::from_raw(item.cast::<Work>()) });
}
