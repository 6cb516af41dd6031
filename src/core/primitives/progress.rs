//! Progress reporting (Progress<T>): each report is posted to a chosen scheduler, where
//! the handler runs with the reported value.

use std::ffi::c_void;
use std::sync::Arc;

use crate::core::callback::UserData;
use crate::core::memory::family::{self, Object};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::Result;
use crate::core::sync::{AtomicU32, UnsafeCell};
use crate::core::task::schedule::SchedRef;
use crate::core::task::work::Job;
use crate::core::task::workers;

/// `tapir_progress_fn`: called with the handler's user data and one reported value.
pub type ReportFn = unsafe extern "C" fn(user_data: *mut c_void, value: *mut c_void);

pub(crate) struct Reporter {
    scheduler: Option<SchedRef>,
    handler: ReportFn,
    /// Shared with queued reports: the handler's user data lives until the last ran.
    data: Arc<UserData>,
}

/// The pooled slot of a progress reporter.
#[derive(Default)]
pub(crate) struct ProgressCell {
    word: RefWord,
    link: AtomicU32,
    reporter: UnsafeCell<Option<Reporter>>,
}

// SAFETY: `reporter` is written before the handle is published and taken by the thread
// that released the last reference; in between it is read-only.
unsafe impl Sync for ProgressCell {}

impl Slot for ProgressCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for ProgressCell {
    type Remains = Option<Reporter>;
    fn pool() -> &'static Pool<Self> {
        &PROGRESS
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<Reporter> {
        // SAFETY: the last reference is gone: this thread alone accesses the slot.
        self.reporter.with_mut(|p| unsafe { (*p).take() })
    }
}

static PROGRESS: Pool<ProgressCell> = Pool::new();

/// Live progress reporters (diagnostics).
pub(crate) fn live() -> usize {
    PROGRESS.live()
}

/// A reporter whose reports run `handler` on `scheduler` (None: the default pool) (+1).
pub fn new(scheduler: Option<SchedRef>, handler: ReportFn, data: UserData) -> Handle {
    family::create::<ProgressCell>(Kind::Progress, 1, 0, |c| {
        let r = Reporter {
            scheduler,
            handler,
            data: Arc::new(data),
        };
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        c.reporter.with_mut(|p| unsafe { *p = Some(r) });
    })
}

/// Posts one report; `value`'s destroy runs after the handler, or if the report is
/// discarded. On error nothing was posted and the value is the caller's again.
pub fn report(h: Handle, value: UserData) -> Result<()> {
    let pin = match family::pin::<ProgressCell>(h, &[Kind::Progress]) {
        Ok(p) => p,
        Err(s) => {
            value.give_back();
            return Err(s);
        }
    };
    // SAFETY: the pin keeps the slot; the reporter is immutable after publication.
    let r = pin
        .get()
        .reporter
        .with(|p| unsafe { (*p).as_ref() })
        .expect("a live reporter");
    let (handler, data) = (r.handler, r.data.clone());
    let job = Job::library(move |run| {
        if run {
            // SAFETY: the installer's handler, called with its user data and the
            // reported value on a scheduler's thread, as the C contract allows.
            unsafe { handler(data.ptr(), value.ptr()) };
        }
        drop(value);
    });
    match &r.scheduler {
        Some(s) => s.post(job),
        None => workers::post(job),
    }
    Ok(())
}

/// Adds a reference.
pub fn retain(h: Handle) -> Result<()> {
    family::retain_user::<ProgressCell>(h, &[Kind::Progress])
}

/// Releases a reference; reports already posted still run.
pub fn release(h: Handle) -> Result<()> {
    family::release_user::<ProgressCell>(h, &[Kind::Progress])
}
