//! Schedulers: where callbacks run.
//!
//! - inline: runs work on the posting thread, at once (through the trampoline);
//! - the default pool: work-stealing threads, one per core, started lazily;
//! - manual: a queue the host drains with `run_pending` (a game's main thread);
//! - foreign: the host's `post` callback receives each work item for its own job system.
//!
//! Scheduler objects are pooled like every handle. The inline and default schedulers
//! are immortal singletons (their count starts far above anything a caller could release).

mod threadpool;
mod work;

pub(crate) use work::Work;

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::callback::DestroyFn;
use super::pool::{Entry, Handle, Kind};
use super::pools::SCHEDULERS;
use super::refword::Released;
use super::status::{Result, Status};

/// The host's post function: receives an opaque work item it must later run or discard.
pub type PostFn = unsafe extern "C" fn(ctx: *mut c_void, work: *mut c_void);

/// A host-provided scheduler.
pub(crate) struct Foreign {
    post: PostFn,
    destroy: Option<DestroyFn>,
    ctx: usize,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy {
            // SAFETY: the host gave `destroy` for `ctx`, to be called once when the
            // scheduler goes; Foreign is dropped exactly once, at teardown.
            unsafe { destroy(self.ctx as *mut c_void) };
        }
    }
}

/// What a scheduler slot holds.
pub(crate) enum SchedulerImpl {
    Inline,
    Pool,
    Manual(Mutex<VecDeque<Work>>),
    Foreign(Foreign),
}

/// The pooled slot of a scheduler.
#[derive(Default)]
pub(crate) struct SchedulerCell {
    imp: UnsafeCell<Option<SchedulerImpl>>,
}

// SAFETY: `imp` is written before the handle is published and taken only by the
// thread that released the last reference; in between it is shared read-only (the
// manual queue synchronizes itself with its Mutex).
unsafe impl Sync for SchedulerCell {}

fn create(imp: SchedulerImpl, user: u32) -> Handle {
    let (h, e) = SCHEDULERS.alloc(Kind::Scheduler, user, 0);
    // SAFETY: freshly allocated and unpublished slot.
    unsafe { *e.value.imp.get() = Some(imp) };
    h
}

fn live(h: Handle) -> Result<&'static Entry<SchedulerCell>> {
    if h.kind() != Some(Kind::Scheduler) {
        return Err(Status::InvalidHandle);
    }
    let e = SCHEDULERS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    if !e.word.is_live(h.generation()) {
        return Err(Status::InvalidHandle);
    }
    Ok(e)
}

fn imp_of(e: &'static Entry<SchedulerCell>) -> &'static SchedulerImpl {
    // SAFETY: callers hold a reference, so the slot is live and `imp` immutable.
    unsafe { (*e.value.imp.get()).as_ref() }.expect("live scheduler has an implementation")
}

/// The default pool's handle (immortal).
pub fn default_handle() -> Handle {
    static H: OnceLock<Handle> = OnceLock::new();
    *H.get_or_init(|| immortal(SchedulerImpl::Pool))
}

fn immortal(imp: SchedulerImpl) -> Handle {
    let h = create(imp, 0);
    SCHEDULERS
        .entry(h.index())
        .expect("new scheduler has a slot")
        .word
        .make_immortal();
    h
}

/// Mints a user reference to a scheduler known to exist (a singleton, the current one).
pub fn mint(h: Handle) -> Result<()> {
    let e = SCHEDULERS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    e.word
        .mint(h.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

/// The inline scheduler's handle (immortal).
pub fn inline_handle() -> Handle {
    static H: OnceLock<Handle> = OnceLock::new();
    *H.get_or_init(|| immortal(SchedulerImpl::Inline))
}

/// A new manual scheduler (+1).
pub fn new_manual() -> Handle {
    create(SchedulerImpl::Manual(Mutex::new(VecDeque::new())), 1)
}

/// A new foreign scheduler (+1); `destroy(ctx)` runs when the last reference goes.
pub fn new_foreign(post: PostFn, ctx: *mut c_void, destroy: Option<DestroyFn>) -> Handle {
    create(
        SchedulerImpl::Foreign(Foreign {
            post,
            destroy,
            ctx: ctx as usize,
        }),
        1,
    )
}

/// An owned scheduler reference.
pub(crate) struct SchedRef(Handle);

impl SchedRef {
    /// Takes a library reference to the scheduler named by a live user handle.
    pub(crate) fn retain(h: Handle) -> Result<SchedRef> {
        let e = live(h)?;
        e.word
            .retain_internal(h.generation())
            .then_some(SchedRef(h))
            .ok_or(Status::InvalidHandle)
    }

    fn imp(&self) -> &'static SchedulerImpl {
        imp_of(
            SCHEDULERS
                .entry(self.0.index())
                .expect("owned scheduler has a slot"),
        )
    }

    /// True when work for this scheduler may run on the current thread now: always for
    /// inline and the pool; for manual and foreign ones only on a thread they are
    /// currently running work on.
    pub(crate) fn allows_inline(&self) -> bool {
        match self.imp() {
            SchedulerImpl::Inline | SchedulerImpl::Pool => true,
            _ => CURRENT.get() == self.0.bits(),
        }
    }

    /// Queues `work` (runs it at once for the inline scheduler).
    pub(crate) fn post(&self, work: Work) {
        post_to(self.0, self.imp(), work);
    }
}

impl Drop for SchedRef {
    fn drop(&mut self) {
        let e = entry_of(self.0);
        if e.word.release_owned() == Released::Last {
            teardown(e, self.0);
        }
    }
}

fn entry_of(h: Handle) -> &'static Entry<SchedulerCell> {
    SCHEDULERS
        .entry(h.index())
        .expect("owned scheduler has a slot")
}

fn post_to(h: Handle, imp: &SchedulerImpl, work: Work) {
    match imp {
        SchedulerImpl::Inline => run_inline_work(work),
        SchedulerImpl::Pool => threadpool::post(work),
        SchedulerImpl::Manual(q) => q.lock().push_back(work),
        SchedulerImpl::Foreign(f) => {
            // The poster holds a reference (user or library), so the scheduler exists.
            entry_of(h).word.retain_owned();
            let item = Box::new(ForeignWork {
                work,
                scheduler: SchedRef(h),
            });
            // SAFETY: the host's post callback, called with its ctx and a work item it
            // now owns (it must run or discard it exactly once).
            unsafe { (f.post)(f.ctx as *mut c_void, Box::into_raw(item).cast()) };
        }
    }
}

fn run_inline_work(work: Work) {
    super::trampoline::run_or_defer(work, Work::run, |w| w);
}

/// Posts to the default pool.
pub(crate) fn post_default(work: Work) {
    threadpool::post(work);
}

/// Ok when `h` names a live scheduler.
pub(crate) fn check(h: Handle) -> Result<()> {
    live(h).map(|_| ())
}

/// Posts `work` to the scheduler named by `h`.
pub(crate) fn post(h: Handle, work: Work) -> Result<()> {
    let e = live(h)?;
    post_to(h, imp_of(e), work);
    Ok(())
}

/// Adds a reference.
pub fn retain(h: Handle) -> Result<()> {
    live(h)?
        .word
        .retain(h.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

/// Releases a reference; the last one discards queued work and destroys the context.
pub fn release(h: Handle) -> Result<()> {
    let e = live(h)?;
    match e.word.release(h.generation()) {
        Released::Alive => Ok(()),
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            teardown(e, h);
            Ok(())
        }
    }
}

fn teardown(e: &'static Entry<SchedulerCell>, h: Handle) {
    // SAFETY: last reference: this thread alone owns the slot's fields.
    let imp = unsafe { (*e.value.imp.get()).take() };
    e.word.retire();
    SCHEDULERS.free(h.index());
    drop(imp);
}

thread_local! {
    /// The handle bits of the scheduler running work on this thread (0 = none).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Marks this thread as running work for `h` until dropped.
pub(crate) struct CurrentGuard(u64);

impl CurrentGuard {
    pub(crate) fn enter(h: Handle) -> CurrentGuard {
        CurrentGuard(CURRENT.replace(h.bits()))
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.set(self.0);
    }
}

/// The scheduler running the current callback (+1), if any.
pub fn current() -> Option<Handle> {
    let h = Handle::from_bits(CURRENT.get())?;
    mint(h).ok().map(|_| h)
}

/// The scheduler running the current callback, as a library reference.
pub(crate) fn current_ref() -> Option<SchedRef> {
    let h = Handle::from_bits(CURRENT.get())?;
    let e = SCHEDULERS.entry(h.index())?;
    e.word.upgrade(h.generation()).then_some(SchedRef(h))
}

/// Runs queued work of a manual scheduler on this thread until it is empty, `max_items`
/// ran (0 = no limit) or `budget` elapsed (None = no limit). Returns how many ran.
pub fn run_pending(h: Handle, max_items: usize, budget: Option<Duration>) -> Result<usize> {
    let e = live(h)?;
    let SchedulerImpl::Manual(queue) = imp_of(e) else {
        return Err(Status::InvalidArgument);
    };
    let _keep = SchedRef::retain(h)?;
    let _current = CurrentGuard::enter(h);
    let deadline = budget.map(|b| Instant::now() + b);
    let mut ran = 0;
    while max_items == 0 || ran < max_items {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let Some(work) = queue.lock().pop_front() else {
            break;
        };
        work.run();
        ran += 1;
    }
    Ok(ran)
}

/// A work item as a foreign scheduler sees it.
pub(crate) struct ForeignWork {
    work: Work,
    scheduler: SchedRef,
}

/// Runs a foreign work item (consumes it).
///
/// # Safety
/// `item` must come from a foreign scheduler's post and not have been run or discarded.
pub unsafe fn run_foreign(item: *mut c_void) {
    // SAFETY: the caller passes back the pointer we made with Box::into_raw, once.
    let item = unsafe { Box::from_raw(item.cast::<ForeignWork>()) };
    let ForeignWork { work, scheduler } = *item;
    let _current = CurrentGuard::enter(scheduler.0);
    work.run();
}

/// Discards a foreign work item without running it (consumes it).
///
/// # Safety
/// As for [`run_foreign`].
pub unsafe fn discard_foreign(item: *mut c_void) {
    // SAFETY: as in run_foreign.
    drop(unsafe { Box::from_raw(item.cast::<ForeignWork>()) });
}

/// Stops and joins the default pool's threads (they restart on the next post).
pub fn shutdown_pool() {
    threadpool::shutdown();
}
