//! Scheduler handles: inline, the default pool, manual queues (and their seeded test
//! variant) and foreign (host) schedulers, as one pooled handle family. Each slot is a `task::schedule::Schedule`;
//! the engine sees them only through that trait.
//!
//! The inline and default schedulers are permanent. A manual scheduler whose last user
//! handle is released is closed: its queue and every later post are discarded (each
//! job's task fails with SCHEDULER_ERROR, its user data is destroyed), since nobody can
//! run it any more. A foreign scheduler keeps running what its host runs until its last
//! reference goes, then its context is destroyed.

mod foreign;
mod manual;

use std::any::Any;
use std::ffi::c_void;
use std::sync::OnceLock;
use std::time::Duration;

use crate::core::callback::DestroyFn;
use crate::core::memory::family::{self, Object, Ref};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::{Result, Status};
use crate::core::sync::{AtomicU32, Ordering, UnsafeCell};
use crate::core::task::schedule::{self, Running, SchedRef, Schedule};
use crate::core::task::trampoline;
use crate::core::task::work::Job;
use crate::core::task::workers;
use crate::core::time;

pub use foreign::{PostFn, discard_work, run_work};

/// What a scheduler slot is.
pub(crate) enum Imp {
    Inline,
    Default,
    Manual(manual::Queue),
    Foreign(foreign::Host),
}

/// The pooled slot of a scheduler.
#[derive(Default)]
pub(crate) struct SchedCell {
    word: RefWord,
    link: AtomicU32,
    /// The slot's own index (written before publication), to release references that
    /// reach it as `&dyn Schedule`.
    index: AtomicU32,
    imp: UnsafeCell<Option<Imp>>,
}

// SAFETY: `imp` is written before the handle is published and taken only by the thread
// that released the last reference; in between it is shared read-only (the manual
// queue synchronizes itself).
unsafe impl Sync for SchedCell {}

impl Slot for SchedCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for SchedCell {
    type Remains = Option<Imp>;
    fn pool() -> &'static Pool<Self> {
        &SCHEDULERS
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<Imp> {
        // SAFETY: the last reference is gone: this thread alone accesses the slot.
        self.imp.with_mut(|p| unsafe { (*p).take() })
    }
    fn last_user_gone(&'static self) {
        if let Imp::Manual(q) = self.imp() {
            q.close();
        }
    }
}

static SCHEDULERS: Pool<SchedCell> = Pool::new();

/// Live schedulers (diagnostics).
pub(crate) fn live() -> usize {
    SCHEDULERS.live()
}

impl SchedCell {
    fn imp(&self) -> &Imp {
        // SAFETY: callers hold a reference, so the slot is live and `imp` immutable.
        self.imp
            .with(|p| unsafe { (*p).as_ref() })
            .expect("a live scheduler has an implementation")
    }
    fn handle(&'static self) -> Handle {
        Handle::new(
            Kind::Scheduler,
            self.index.load(Ordering::Relaxed),
            self.word.generation(),
        )
    }
}

impl Schedule for SchedCell {
    fn post(&'static self, mut job: Job) {
        let imp = self.imp();
        // The default pool reports its posts itself (also those that do not come
        // through its handle), as scheduler 0.
        if !matches!(imp, Imp::Default) {
            job.posting(self.trace_id());
        }
        match imp {
            Imp::Inline => trampoline::run_or_defer_value(job, Job::run, |job| job),
            Imp::Default => workers::post(job),
            Imp::Manual(q) => q.push(job),
            Imp::Foreign(host) => host.post(self, job),
        }
    }
    fn trace_id(&'static self) -> u64 {
        match self.imp() {
            Imp::Default => 0,
            _ => self.handle().bits(),
        }
    }
    fn inline_allowed(&'static self) -> bool {
        match self.imp() {
            Imp::Inline | Imp::Default => true,
            Imp::Manual(_) | Imp::Foreign(_) => schedule::is_current(self),
        }
    }
    fn acquire(&'static self) {
        self.word.retain_internal();
    }
    fn release(&'static self) {
        family::release_internal(self.index.load(Ordering::Relaxed), self);
    }
    fn as_any(&'static self) -> &'static dyn Any {
        self
    }
}

fn create(imp: Imp, user: u32) -> Ref<SchedCell> {
    let r = family::create_ref::<SchedCell>(|c| {
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        c.imp.with_mut(|p| unsafe { *p = Some(imp) });
    });
    let index = r.handle(Kind::Scheduler).index();
    r.get().index.store(index, Ordering::Relaxed);
    for _ in 0..user {
        r.mint_user(Kind::Scheduler)
            .expect("a fresh scheduler has room");
    }
    r
}

fn permanent(imp: Imp) -> &'static SchedCell {
    let r = create(imp, 0);
    r.get().word.make_immortal();
    r.get()
}

fn default_cell() -> &'static SchedCell {
    static CELL: OnceLock<&'static SchedCell> = OnceLock::new();
    CELL.get_or_init(|| permanent(Imp::Default))
}

fn inline_cell() -> &'static SchedCell {
    static CELL: OnceLock<&'static SchedCell> = OnceLock::new();
    CELL.get_or_init(|| permanent(Imp::Inline))
}

/// A handle (+1) to a permanent scheduler.
fn permanent_handle(cell: &'static SchedCell) -> Result<Handle> {
    if cell.word.mint_user() {
        Ok(cell.handle())
    } else {
        Err(Status::Full)
    }
}

/// The default pool (+1).
pub fn default_scheduler() -> Result<Handle> {
    permanent_handle(default_cell())
}

/// The inline scheduler (+1).
pub fn inline_scheduler() -> Result<Handle> {
    permanent_handle(inline_cell())
}

/// A new manual scheduler (+1).
pub fn new_manual() -> Handle {
    create(Imp::Manual(manual::Queue::fifo()), 1).handle(Kind::Scheduler)
}

/// A new test scheduler: a manual scheduler whose queued work runs in the order `seed`
/// chooses (+1).
pub fn new_test(seed: u64) -> Handle {
    create(Imp::Manual(manual::Queue::seeded(seed)), 1).handle(Kind::Scheduler)
}

/// A new foreign scheduler (+1); `destroy(ctx)` runs when the last reference goes.
pub fn new_foreign(post: PostFn, ctx: *mut c_void, destroy: Option<DestroyFn>) -> Handle {
    create(Imp::Foreign(foreign::Host::new(post, ctx, destroy)), 1).handle(Kind::Scheduler)
}

/// A library reference from a valid scheduler handle.
pub(crate) fn retain_ref(h: Handle) -> Result<SchedRef> {
    let r = family::pin::<SchedCell>(h, &[Kind::Scheduler])?;
    let cell = r.get();
    let _ = r.into_index(); // the pin's reference now belongs to the SchedRef
    Ok(SchedRef::adopt(cell))
}

/// Adds a reference.
pub fn retain(h: Handle) -> Result<()> {
    family::retain_user::<SchedCell>(h, &[Kind::Scheduler])
}

/// Releases a reference.
pub fn release(h: Handle) -> Result<()> {
    family::release_user::<SchedCell>(h, &[Kind::Scheduler])
}

/// The scheduler running the current callback (+1), if any.
pub fn current() -> Option<Handle> {
    let s = schedule::current()?;
    let cell: &'static SchedCell = if s.is(workers::schedule()) {
        default_cell()
    } else {
        s.get().as_any().downcast_ref::<SchedCell>()?
    };
    cell.word.mint_user().then(|| cell.handle())
}

/// The queue of a manual (or test) scheduler, pinned for the call.
fn manual(h: Handle) -> Result<(Ref<SchedCell>, &'static manual::Queue)> {
    let r = family::pin::<SchedCell>(h, &[Kind::Scheduler])?;
    match r.get().imp() {
        Imp::Manual(queue) => {
            // The slot is type-stable, and the queue in it stays this object's while
            // the pin lives: callers keep the pin beside it.
            Ok((r, queue))
        }
        _ => Err(Status::InvalidArgument),
    }
}

/// Runs queued work of a manual scheduler on this thread until it is empty, `max_items`
/// ran (0: no limit) or `budget` elapsed (None: no limit). Returns how many ran.
pub fn run_pending(h: Handle, max_items: usize, budget: Option<Duration>) -> Result<usize> {
    let (r, queue) = manual(h)?;
    let _running = Running::enter(r.get());
    Ok(queue.run(max_items, budget))
}

/// Runs a manual scheduler's work until nothing is left to do: when its queue is empty
/// and the host-driven timer has a pending timer, host time jumps to it and what is due
/// runs. Stops early once `max_items` jobs ran (0: no limit). Returns how many ran.
pub fn run_until_idle(h: Handle, max_items: usize) -> Result<usize> {
    let (r, queue) = manual(h)?;
    let _running = Running::enter(r.get());
    let mut ran = 0;
    loop {
        let left = if max_items == 0 {
            0
        } else if ran < max_items {
            max_items - ran
        } else {
            break;
        };
        let n = queue.run(left, None);
        ran += n;
        if n > 0 {
            continue;
        }
        let Some(due) = time::timer::host_next_due() else {
            break;
        };
        // Timers already due (the host moved time without running them) need no jump.
        let _ = time::timer::host_advance(due);
        let _ = time::timer::host_run_due();
    }
    Ok(ran)
}

/// A manual scheduler's wake descriptor: readable exactly while work is queued.
pub fn wake_fd(h: Handle) -> Result<i32> {
    let (_r, queue) = manual(h)?;
    queue.wake_fd().map_err(|_| Status::InvalidState)
}
