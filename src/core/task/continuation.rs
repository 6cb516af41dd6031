//! What runs when a task completes: continuation flags, actions, and where they run.

use std::ffi::c_void;
use std::sync::Arc;

use crate::core::callback::{ContinueFn, DestroyFn, NotifyFn, UserData};
use crate::core::cancel::TokenRef;

use super::outcome::Antecedent;
use super::refs::SourceRef;
use super::schedule::SchedRef;
use super::word::Final;

/// Run on the completing thread when the scheduler allows it.
pub(crate) const EXECUTE_SYNCHRONOUSLY: u32 = 1;
/// Run only if the antecedent succeeded.
pub(crate) const ONLY_ON_SUCCESS: u32 = 1 << 1;
/// Run only if the antecedent faulted.
pub(crate) const ONLY_ON_FAULTED: u32 = 1 << 2;
/// Run only if the antecedent was canceled.
pub(crate) const ONLY_ON_CANCELED: u32 = 1 << 3;
/// Do not run if the antecedent succeeded.
pub(crate) const NOT_ON_SUCCESS: u32 = 1 << 4;
/// Do not run if the antecedent faulted.
pub(crate) const NOT_ON_FAULTED: u32 = 1 << 5;
/// Do not run if the antecedent was canceled.
pub(crate) const NOT_ON_CANCELED: u32 = 1 << 6;
/// With a token: stay pending until the antecedent completes, then end canceled.
pub(crate) const LAZY_CANCELLATION: u32 = 1 << 7;
/// A hint that the callback blocks for long (the pool may add a thread).
pub(crate) const LONG_RUNNING: u32 = 1 << 8;
/// The continuation task's own continuations never run inline.
pub(crate) const RUN_CONTINUATIONS_ASYNCHRONOUSLY: u32 = 1 << 9;
/// On_complete only: a callback that runs takes `user_data` over (frees it itself), so
/// destroy runs only when the callback never does.
pub(crate) const CALLBACK_FREES: u32 = 1 << 10;
/// Every defined continuation flag.
pub(crate) const ALL_FLAGS: u32 = (1 << 11) - 1;
/// Library-only mark: the continuation wakes a blocked thread (run before any other).
pub(crate) const WAKE: u32 = 1 << 11;

const NOT_ALL: u32 = NOT_ON_SUCCESS | NOT_ON_FAULTED | NOT_ON_CANCELED;

/// The outcomes a continuation refuses, as NOT_ON_* bits.
const fn excluded_of(flags: u32) -> u32 {
    let mut not = flags & NOT_ALL;
    if flags & ONLY_ON_SUCCESS != 0 {
        not |= NOT_ON_FAULTED | NOT_ON_CANCELED;
    }
    if flags & ONLY_ON_FAULTED != 0 {
        not |= NOT_ON_SUCCESS | NOT_ON_CANCELED;
    }
    if flags & ONLY_ON_CANCELED != 0 {
        not |= NOT_ON_SUCCESS | NOT_ON_FAULTED;
    }
    not
}

/// `excluded_of` for every combination of the six filter bits (bits 1..=6): one load on
/// the paths that run a continuation.
const EXCLUDED: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = excluded_of((i as u32) << 1) as u8;
        i += 1;
    }
    t
};

#[inline(always)]
fn excluded(flags: u32) -> u32 {
    EXCLUDED[((flags >> 1) & 63) as usize] as u32
}

/// Checks continuation flags: no unknown bits, not every outcome excluded, and
/// LONG_RUNNING never with EXECUTE_SYNCHRONOUSLY (the TPL's rules).
#[inline]
pub fn validate_flags(flags: u32) -> bool {
    flags & !ALL_FLAGS == 0
        && excluded(flags) != NOT_ALL
        && flags & (LONG_RUNNING | EXECUTE_SYNCHRONOUSLY) != (LONG_RUNNING | EXECUTE_SYNCHRONOUSLY)
}

/// True when a continuation with `flags` runs for an antecedent that ended `status`.
#[inline(always)]
pub(crate) fn admits(flags: u32, status: Final) -> bool {
    // NOT_ON_SUCCESS, NOT_ON_FAULTED, NOT_ON_CANCELED are bits 4, 5, 6: status 1, 2, 3.
    excluded(flags) & (1 << (3 + status as u32)) == 0
}

/// A library continuation: a code pointer table and its data. Runs no user code of its
/// own beyond completing other tasks, so it may always run inline.
pub(crate) struct Internal {
    vtable: &'static InternalVTable,
    data: *const (),
    index: usize,
}

// SAFETY: the data of every internal action is Send + Sync by construction (`from_arc`
// and `from_fn` require it; a `Waker`, which `from_waker` carries, is Send + Sync).
unsafe impl Send for Internal {}

pub(crate) struct InternalVTable {
    run: unsafe fn(data: *const (), index: usize, antecedent: &Antecedent),
    drop: unsafe fn(data: *const (), index: usize),
}

/// A multi-input library object notified as each input completes (when_all, when_any,
/// interleaved, need-only-one): one `Arc` shared by every input, no allocation per input.
pub(crate) trait Combinator: Send + Sync + 'static {
    /// Input `index` completed; `antecedent` is valid for the call.
    fn input_completed(self: Arc<Self>, index: usize, antecedent: &Antecedent);
    /// Input `index` will never complete (its task died pending). Default: nothing.
    fn input_abandoned(self: Arc<Self>, _index: usize) {}
}

struct ArcTable<T>(std::marker::PhantomData<T>);

impl<T: Combinator> ArcTable<T> {
    const VTABLE: InternalVTable = InternalVTable {
        run: Self::run,
        drop: Self::drop,
    };
    /// # Safety
    /// `data` comes from `Arc::into_raw` in `Internal::from_arc` and is consumed once.
    unsafe fn run(data: *const (), index: usize, antecedent: &Antecedent) {
        // SAFETY: see above.
        let arc = unsafe { Arc::from_raw(data.cast::<T>()) };
        arc.input_completed(index, antecedent);
    }
    /// # Safety
    /// As for `run`.
    unsafe fn drop(data: *const (), index: usize) {
        // SAFETY: see above.
        let arc = unsafe { Arc::from_raw(data.cast::<T>()) };
        arc.input_abandoned(index);
    }
}

type BoxedFn = Box<dyn FnOnce(&Antecedent) + Send>;

unsafe fn run_boxed(data: *const (), _index: usize, antecedent: &Antecedent) {
    // SAFETY: `data` comes from `Box::into_raw` in `from_fn` and is consumed once.
    let f = unsafe { Box::from_raw(data as *mut BoxedFn) };
    f(antecedent);
}

unsafe fn drop_boxed(data: *const (), _index: usize) {
    // SAFETY: as in `run_boxed`.
    drop(unsafe { Box::from_raw(data as *mut BoxedFn) });
}

static BOXED: InternalVTable = InternalVTable {
    run: run_boxed,
    drop: drop_boxed,
};

/// A `Waker` carried in an internal continuation's two data words (its data pointer
/// and its vtable): waking an awaiting future needs no allocation. Running it wakes
/// the waker; dropping it drops the waker.
///
/// # Safety
/// `data` and `index` are the raw parts of a `Waker` that this continuation owns
/// (`Internal::from_waker`), consumed once.
unsafe fn run_waker(data: *const (), index: usize, _antecedent: &Antecedent) {
    // SAFETY: see above: the parts come from `from_waker`'s ManuallyDrop'd waker.
    unsafe { waker_from_parts(data, index) }.wake();
}

/// # Safety
/// As for `run_waker`.
unsafe fn drop_waker(data: *const (), index: usize) {
    // SAFETY: as in `run_waker`.
    drop(unsafe { waker_from_parts(data, index) });
}

/// # Safety
/// `data` and `vtable` are the parts of a live `Waker` whose ownership passes here.
unsafe fn waker_from_parts(data: *const (), vtable: usize) -> std::task::Waker {
    // SAFETY: forwarded: the pair was read from a waker that was never dropped.
    unsafe {
        std::task::Waker::from_raw(std::task::RawWaker::new(
            data,
            &*(vtable as *const std::task::RawWakerVTable),
        ))
    }
}

static WAKER: InternalVTable = InternalVTable {
    run: run_waker,
    drop: drop_waker,
};

impl Internal {
    /// Input `index` of a combinator.
    pub(crate) fn from_arc<T: Combinator>(state: Arc<T>, index: usize) -> Internal {
        Internal {
            vtable: &ArcTable::<T>::VTABLE,
            data: Arc::into_raw(state).cast(),
            index,
        }
    }

    /// Library code to run once (two small allocations: slow paths only).
    pub(crate) fn from_fn(f: impl FnOnce(&Antecedent) + Send + 'static) -> Internal {
        let boxed: BoxedFn = Box::new(f);
        Internal {
            vtable: &BOXED,
            data: Box::into_raw(Box::new(boxed)) as *const (),
            index: 0,
        }
    }

    /// Wakes `waker` when the task completes (an awaiting future); no allocation. Its
    /// [`key`](Internal::key) is the waker's data pointer and vtable address, which is
    /// what `Waker::will_wake` compares.
    pub(crate) fn from_waker(waker: std::task::Waker) -> Internal {
        let w = std::mem::ManuallyDrop::new(waker);
        Internal {
            vtable: &WAKER,
            data: w.data(),
            index: w.vtable() as *const std::task::RawWakerVTable as usize,
        }
    }

    /// Whether the raw parts of an internal action (`into_raw`'s) are a waker's
    /// (`from_waker`'s).
    #[inline(always)]
    pub(crate) fn raw_is_waker(raw: &[usize; 3]) -> bool {
        raw[0] == &WAKER as *const InternalVTable as usize
    }

    /// The waker whose raw parts these are.
    ///
    /// # Safety
    /// `raw` comes from `into_raw` of a `from_waker` action (`raw_is_waker`), and its
    /// ownership passes here: it is neither run nor dropped otherwise.
    #[inline(always)]
    pub(crate) unsafe fn waker_from_raw(raw: [usize; 3]) -> std::task::Waker {
        // SAFETY: see above: the parts are `from_waker`'s ManuallyDrop'd waker.
        unsafe { waker_from_parts(raw[1] as *const (), raw[2]) }
    }

    pub(crate) fn run(self, antecedent: &Antecedent) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the vtable was built for this data, and `me` is not dropped, so the
        // data is consumed exactly once.
        unsafe { (me.vtable.run)(me.data, me.index, antecedent) }
    }

    /// What identifies this continuation among a task's (for removal).
    pub(crate) fn key(&self) -> (usize, usize) {
        (self.data as usize, self.index)
    }

    /// The raw parts, for the inline slot.
    pub(crate) fn into_raw(self) -> [usize; 3] {
        let me = std::mem::ManuallyDrop::new(self);
        [me.vtable as *const _ as usize, me.data as usize, me.index]
    }

    /// # Safety
    /// `raw` comes from `into_raw` and is consumed once.
    pub(crate) unsafe fn from_raw(raw: [usize; 3]) -> Internal {
        Internal {
            // SAFETY: the first word is a `&'static InternalVTable` (see `into_raw`).
            vtable: unsafe { &*(raw[0] as *const InternalVTable) },
            data: raw[1] as *const (),
            index: raw[2],
        }
    }
}

impl Drop for Internal {
    fn drop(&mut self) {
        // SAFETY: as in `run`: consumed exactly once, here.
        unsafe { (self.vtable.drop)(self.data, self.index) }
    }
}

/// What a registration does.
pub(crate) enum Action {
    /// `tapir_task_on_complete`: `f(user_data, antecedent)`.
    Notify { f: NotifyFn, data: UserData },
    /// `tapir_task_continue_with`: `f(user_data, antecedent, next)`; the continuation
    /// task completes through `next`.
    Continue(ContinueAction),
    /// Complete `target` the way the antecedent completed (unwrap, set_from_task).
    Forward { target: SourceRef },
    /// Library code.
    Internal(Internal),
}

impl Action {
    /// Library actions run inline whatever the flags.
    pub(crate) fn is_internal(&self) -> bool {
        matches!(self, Action::Forward { .. } | Action::Internal(_))
    }

    /// The action's token was canceled before it ran: a continuation task ends canceled
    /// with that token, the callback never runs (its destroy does).
    pub(crate) fn cancel(self, token: Option<TokenRef>) {
        if let Action::Continue(c) = self {
            c.next
                .try_complete(super::outcome::Outcome::Canceled(token), true);
        }
    }

    /// The work that would have run the action was discarded (a scheduler refused it):
    /// a continuation task fails with SCHEDULER_ERROR; the callback never runs.
    pub(crate) fn refused(self) {
        if let Action::Continue(c) = self {
            c.next.try_complete(
                super::outcome::Outcome::library_error(
                    crate::core::status::Status::SchedulerError,
                    "the scheduler refused the work that would have run this continuation",
                ),
                true,
            );
        }
    }
}

/// A `tapir_task_continue_with` registration. Its user data is the state of `next`'s
/// task, so it is stored once; `destroy` runs exactly once, after the callback or when
/// the registration is dropped unrun.
pub(crate) struct ContinueAction {
    pub(crate) f: ContinueFn,
    pub(crate) destroy: Option<DestroyFn>,
    pub(crate) next: SourceRef,
}

impl ContinueAction {
    /// After the callback ran: runs destroy, hands back `next`.
    pub(crate) fn finish_callback(self) -> SourceRef {
        let mut me = std::mem::ManuallyDrop::new(self);
        let destroy = me.destroy.take();
        // SAFETY: `me` is never dropped, so `next` is moved out exactly once.
        let next = unsafe { std::ptr::read(&me.next) };
        // SAFETY: the registrant's destroy for the user data, called once.
        unsafe { crate::core::callback::run_destroy(next.user_state() as *mut c_void, destroy) };
        next
    }
}

impl Drop for ContinueAction {
    fn drop(&mut self) {
        // SAFETY: the registrant's destroy for the user data, called once (taken).
        unsafe {
            crate::core::callback::run_destroy(
                self.next.user_state() as *mut c_void,
                self.destroy.take(),
            )
        };
    }
}

/// A continuation as a registration stores it.
pub(crate) struct Continuation {
    pub(crate) action: Action,
    pub(crate) flags: u32,
    /// Where it runs; None: the default pool (or inline with EXECUTE_SYNCHRONOUSLY).
    pub(crate) scheduler: Option<SchedRef>,
    /// The token that cancels it, if any.
    pub(crate) guard: Option<Guard>,
}

impl Continuation {
    /// A library continuation that runs inline on the completing thread.
    pub(crate) fn internal(action: Action) -> Continuation {
        Continuation {
            action,
            flags: EXECUTE_SYNCHRONOUSLY,
            scheduler: None,
            guard: None,
        }
    }
}

impl Continuation {
    /// The registration failed: nothing runs, and the user data goes back to its owner
    /// (its destroy does not run); the library's parts are released.
    ///
    /// A forward's target is released as a producer that had its chance: the source's
    /// last user handle may have been released while this registration was being made,
    /// and that release left the promise to this producer; dropped silently, the task
    /// would wait forever with nobody able to complete it.
    pub(crate) fn refuse(self) {
        match self.action {
            Action::Notify { data, .. } => data.give_back(),
            Action::Continue(mut c) => c.destroy = None,
            Action::Forward { target } => target.finish(true),
            Action::Internal(_) => {}
        }
    }
}

/// A continuation under a cancellation token: once the token is canceled the callback
/// never runs; a continuation task ends canceled then (eagerly, the TPL default) or,
/// with LAZY_CANCELLATION, once the antecedent completes.
pub(crate) struct Guard {
    pub(crate) token: TokenRef,
    /// The eager registration on the token, removed when the continuation runs or is
    /// dropped.
    pub(crate) eager: Option<u64>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(id) = self.eager.take() {
            self.token.unregister(id);
        }
    }
}
