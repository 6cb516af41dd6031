//! Progress reporting (Progress<T>): each report is posted to a chosen scheduler,
//! where the handler runs with the reported value.

use std::cell::UnsafeCell;
use std::ffi::c_void;
use std::sync::Arc;

use super::callback::UserData;
use super::pool::{Entry, Handle, Kind};
use super::pools::PROGRESS;
use super::refword::Released;
use super::scheduler::{self, SchedRef, Work};
use super::status::{Result, Status};

/// `tapir_progress_fn`: called with the handler's user data and one reported value.
pub type ReportFn = unsafe extern "C" fn(user_data: *mut c_void, value: *mut c_void);

struct Reporter {
    scheduler: Option<SchedRef>,
    handler: ReportFn,
    data: Arc<UserData>,
}

/// The pooled slot of a progress object.
#[derive(Default)]
pub(crate) struct ProgressCell {
    inner: UnsafeCell<Option<Reporter>>,
}

// SAFETY: `inner` is written before the handle is published and taken by the thread
// that released the last reference; in between it is read-only (UserData is shared
// through an Arc and only its pointer is read).
unsafe impl Sync for ProgressCell {}

fn live(h: Handle) -> Result<&'static Entry<ProgressCell>> {
    if h.kind() != Some(Kind::Progress) {
        return Err(Status::InvalidHandle);
    }
    let e = PROGRESS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    if e.word.is_live(h.generation()) {
        Ok(e)
    } else {
        Err(Status::InvalidHandle)
    }
}

/// Ok when `h` names a live progress reporter.
pub(crate) fn check(h: Handle) -> Result<()> {
    live(h).map(|_| ())
}

/// A progress object whose reports run `handler` on `scheduler` (None: the default pool) (+1).
pub(crate) fn new(scheduler: Option<SchedRef>, handler: ReportFn, data: UserData) -> Handle {
    let (h, e) = PROGRESS.alloc(Kind::Progress, 1, 0);
    // SAFETY: freshly allocated, unpublished slot.
    unsafe {
        *e.value.inner.get() = Some(Reporter {
            scheduler,
            handler,
            data: Arc::new(data),
        })
    };
    h
}

/// Posts one report. `value_destroy` (if any) runs after the handler, or if the work
/// is discarded unrun. The handler's user data lives until the last queued report ran.
pub(crate) fn report(h: Handle, value: UserData) -> Result<()> {
    let e = live(h)?;
    // SAFETY: the caller holds a reference, so the reporter is set and immutable.
    let r = unsafe { (*e.value.inner.get()).as_ref() }.ok_or(Status::InvalidHandle)?;
    let (handler, data) = (r.handler, r.data.clone());
    let work = Work::Boxed(Box::new(move || {
        // SAFETY: the installer's handler, called with its user data and the reported
        // value from a scheduler thread, as the C contract allows.
        unsafe { handler(data.ptr(), value.ptr()) };
        drop(value);
    }));
    match &r.scheduler {
        Some(s) => s.post(work),
        None => scheduler::post_default(work),
    }
    Ok(())
}

/// Adds a reference.
pub(crate) fn retain(h: Handle) -> Result<()> {
    live(h)?
        .word
        .retain(h.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

/// Releases a reference; reports already posted still run.
pub(crate) fn release(h: Handle) -> Result<()> {
    let e = live(h)?;
    match e.word.release(h.generation()) {
        Released::Alive => Ok(()),
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            // SAFETY: last reference: this thread alone owns the slot.
            let r = unsafe { (*e.value.inner.get()).take() };
            e.word.retire();
            PROGRESS.free(h.index());
            drop(r);
            Ok(())
        }
    }
}
