//! Cancellation sources and their tokens (CancellationTokenSource, CancellationToken).
//!
//! A source and its token share one pooled slot, as a task and its source do: the
//! slot's reference word counts the source handles (`user`) and the library's
//! references (`internal`); token handles are counted apart, under the slot's mutex,
//! each also holding one internal reference. So a token handle released once too often
//! is refused even while its source handle lives, and the other way round.
//!
//! When the last user handle of either kind is gone, nobody can cancel the source any
//! more: it is disposed — pending callbacks are dropped (their destroy runs), the
//! deadline stops, the links to parents go — even while the library still reads it.
//! Disposal neither cancels nor faults anything that waits on its tokens: they just
//! can never be canceled now.
//!
//! Callbacks are kept in registration order; `cancel` pops them newest first and runs
//! each on the canceling thread with the mutex released, recording which one runs so
//! `unregister` with `wait` can wait for it (except from inside that very callback).

use crate::core::thread::{self, ThreadId};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::core::sync::{Condvar, Mutex};

use crate::core::callback::UserData;
use crate::core::error::ErrorRef;
use crate::core::memory::family::{self, Object, Ref, Weak};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::{IMMORTAL, RefWord};
use crate::core::status::{Result, Status};

/// A foreign cancellation callback: returns NULL, or an error handle it gives to tapir
/// (the failure is reported by `cancel`, and the other callbacks still run).
pub type CancelFn = unsafe extern "C" fn(user_data: *mut c_void) -> *const c_void;

/// What a registration runs.
pub(crate) enum CancelAction {
    /// A C callback.
    Foreign { f: CancelFn, data: UserData },
    /// Library code.
    Rust(Box<dyn FnOnce() + Send>),
    /// Cancels a linked child (named weakly); its callbacks' errors are reported by
    /// the parent's cancel.
    Linked(Weak<CancelCell>),
}

impl CancelAction {
    /// The registration failed: a foreign callback's user data goes back to its owner
    /// (its destroy does not run).
    pub(crate) fn refuse(self) {
        if let CancelAction::Foreign { data, .. } = self {
            data.give_back();
        }
    }

    fn run(self) -> Vec<ErrorRef> {
        match self {
            CancelAction::Foreign { f, data } => {
                // SAFETY: the registrant's callback, called once with its user_data from
                // the canceling thread, as the C contract allows.
                let err = unsafe { f(data.ptr()) };
                drop(data);
                let Some(h) = Handle::from_bits(err as usize as u64) else {
                    return Vec::new();
                };
                // The callback handed us a reference: adopt it if it is an error.
                match ErrorRef::retain(h) {
                    Ok(e) => {
                        let _ = crate::core::error::release_user(h);
                        vec![e]
                    }
                    Err(_) => Vec::new(),
                }
            }
            CancelAction::Rust(f) => {
                f();
                Vec::new()
            }
            CancelAction::Linked(child) => match child.upgrade() {
                Some(child) => cancel_cell(&child, false),
                None => Vec::new(),
            },
        }
    }
}

struct Inner {
    /// The generation this state belongs to (token handles are checked against it).
    generation: u32,
    /// Token handles outstanding (each also holds one internal reference).
    token_users: u32,
    /// False only for the none token.
    cancelable: bool,
    /// No user handle is left: nothing can register or cancel through users again.
    disposed: bool,
    next_id: u64,
    /// Pending callbacks by registration id. Ids only grow, so the last entry is the
    /// newest (cancel pops from the end); register, unregister and pop are O(log n),
    /// which keeps a million registrations (one per pending delay) cheap to cancel.
    callbacks: BTreeMap<u64, CancelAction>,
    running: Option<(ThreadId, u64)>,
    /// A pending deadline (cancel_after); dropping it stops the timer.
    deadline: Option<Box<dyn Send>>,
    parents: Vec<(TokenRef, u64)>,
}

impl Inner {
    const fn empty() -> Inner {
        Inner {
            generation: 0,
            token_users: 0,
            cancelable: true,
            disposed: false,
            next_id: 0,
            callbacks: BTreeMap::new(),
            running: None,
            deadline: None,
            parents: Vec::new(),
        }
    }

    /// Moves out what disposal drops (outside the lock).
    fn dispose(&mut self) -> Disposed {
        self.disposed = true;
        Disposed {
            _callbacks: std::mem::take(&mut self.callbacks),
            deadline: self.deadline.take(),
            parents: std::mem::take(&mut self.parents),
        }
    }
}

/// What a disposal drops, outside the lock: callbacks' destroys, the deadline, the
/// registrations on parents.
pub(crate) struct Disposed {
    /// Dropped with the rest: each action's destroy runs.
    _callbacks: BTreeMap<u64, CancelAction>,
    deadline: Option<Box<dyn Send>>,
    parents: Vec<(TokenRef, u64)>,
}

impl Drop for Disposed {
    fn drop(&mut self) {
        drop(self.deadline.take());
        for (parent, id) in self.parents.drain(..) {
            parent.unregister(id);
        }
    }
}

/// The pooled slot of a cancellation source and its token.
pub(crate) struct CancelCell {
    word: RefWord,
    link: AtomicU32,
    canceled: AtomicBool,
    inner: Mutex<Inner>,
    done: Condvar,
}

impl Default for CancelCell {
    fn default() -> Self {
        CancelCell {
            word: RefWord::default(),
            link: AtomicU32::new(0),
            canceled: AtomicBool::new(false),
            inner: Mutex::new(Inner::empty()),
            done: Condvar::new(),
        }
    }
}

impl Slot for CancelCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for CancelCell {
    type Remains = Disposed;
    fn pool() -> &'static Pool<Self> {
        &CANCELS
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Disposed {
        self.inner.lock().dispose()
    }
    fn last_user_gone(&'static self) {
        let disposed = {
            let mut inner = self.inner.lock();
            (inner.token_users == 0 && !inner.disposed).then(|| inner.dispose())
        };
        drop(disposed);
    }
}

static CANCELS: Pool<CancelCell> = Pool::new();

/// Live cancellation objects (diagnostics).
pub(crate) fn live() -> usize {
    CANCELS.live() + super::registration::live()
}

fn create(
    cancelable: bool,
    canceled: bool,
    source_users: u32,
    token_users: u32,
) -> Ref<CancelCell> {
    let r = family::create_ref::<CancelCell>(|c| {
        c.canceled.store(canceled, Ordering::Relaxed);
        let mut inner = c.inner.lock();
        *inner = Inner::empty();
        // The slot's next generation: it is published with it.
        inner.generation = c.word.generation();
        inner.cancelable = cancelable;
        inner.token_users = token_users;
    });
    for _ in 0..source_users {
        r.mint_user(Kind::CancelSource)
            .expect("a fresh source has room");
    }
    for _ in 0..token_users {
        r.get().word.retain_internal();
    }
    r
}

/// A new cancellation source (+1 source handle).
pub fn source_new() -> Handle {
    create(true, false, 1, 0).handle(Kind::CancelSource)
}

/// A token that is canceled from birth (+1 token handle).
pub fn token_new_canceled() -> Handle {
    create(true, true, 0, 1).handle(Kind::CancelToken)
}

/// The none token: never canceled, `can_be_canceled` false. Permanent; every call
/// writes the same handle.
pub fn token_none() -> Handle {
    static H: std::sync::OnceLock<Handle> = std::sync::OnceLock::new();
    *H.get_or_init(|| {
        let r = create(false, false, 0, 0);
        // Permanent: an immortal count of internal references, and token handles that
        // can never all be released.
        r.get().word.make_immortal();
        r.get().inner.lock().token_users = IMMORTAL;
        r.handle(Kind::CancelToken)
    })
}

/// Adds a source handle reference.
pub fn source_retain(h: Handle) -> Result<()> {
    family::retain_user::<CancelCell>(h, &[Kind::CancelSource])
}

/// Releases a source handle reference (it does not cancel).
pub fn source_release(h: Handle) -> Result<()> {
    family::release_user::<CancelCell>(h, &[Kind::CancelSource])
}

/// Runs `f` on the state of the object a token handle names, if the handle is valid.
fn with_token<R>(
    h: Handle,
    f: impl FnOnce(&'static CancelCell, &mut Inner) -> Result<R>,
) -> Result<R> {
    let cell = family::slot_of::<CancelCell>(h, &[Kind::CancelToken])?;
    let mut inner = cell.inner.lock();
    if inner.generation != h.generation() || inner.token_users == 0 {
        return Err(Status::InvalidHandle);
    }
    f(cell, &mut inner)
}

/// Adds a token handle reference.
pub fn token_retain(h: Handle) -> Result<()> {
    with_token(h, |cell, inner| {
        if inner.token_users >= u32::MAX / 2 {
            return Err(Status::Full);
        }
        inner.token_users += 1;
        cell.word.retain_internal();
        Ok(())
    })
}

/// Releases a token handle reference.
pub fn token_release(h: Handle) -> Result<()> {
    let cell = family::slot_of::<CancelCell>(h, &[Kind::CancelToken])?;
    let disposed = {
        let mut inner = cell.inner.lock();
        if inner.generation != h.generation() || inner.token_users == 0 {
            return Err(Status::InvalidHandle);
        }
        inner.token_users -= 1;
        (inner.token_users == 0 && cell.word.has_no_user() && !inner.disposed)
            .then(|| inner.dispose())
    };
    drop(disposed);
    // SAFETY: the token handle held one internal reference, given up here.
    drop(unsafe { Ref::<CancelCell>::adopt(h.index()) });
    Ok(())
}

/// The token of a source (+1 token handle).
pub fn token_of(source: Handle) -> Result<Handle> {
    let r = family::pin::<CancelCell>(source, &[Kind::CancelSource])?;
    TokenRef(r).to_user()
}

/// An owned reference to a cancellation object (seen as a token).
pub(crate) struct TokenRef(Ref<CancelCell>);

impl Clone for TokenRef {
    fn clone(&self) -> Self {
        TokenRef(self.0.clone())
    }
}

impl TokenRef {
    /// A library reference from a valid token handle.
    pub(crate) fn retain(h: Handle) -> Result<TokenRef> {
        with_token(h, |cell, _| {
            // A valid token handle holds an internal reference, so the object lives.
            cell.word.retain_internal();
            Ok(())
        })?;
        // SAFETY: the reference was counted just above, under the lock that validated
        // the handle.
        Ok(TokenRef(unsafe { Ref::adopt(h.index()) }))
    }

    /// A library reference from a valid cancellation source handle.
    pub(crate) fn retain_source(h: Handle) -> Result<TokenRef> {
        family::pin::<CancelCell>(h, &[Kind::CancelSource]).map(TokenRef)
    }

    /// A new cancellation source owned by the library (no user handle).
    pub(crate) fn new_source() -> TokenRef {
        TokenRef(create(true, false, 0, 0))
    }

    /// Wraps a library reference to a cancellation object.
    pub(crate) fn from_ref(r: Ref<CancelCell>) -> TokenRef {
        TokenRef(r)
    }

    pub(crate) fn cell(&self) -> &'static CancelCell {
        self.0.get()
    }

    /// A token handle (+1) for the caller, even after disposal (the token can then
    /// never be canceled, but stays readable).
    pub(crate) fn to_user(&self) -> Result<Handle> {
        let cell = self.cell();
        let mut inner = cell.inner.lock();
        if inner.token_users >= u32::MAX / 2 {
            return Err(Status::Full);
        }
        inner.token_users += 1;
        cell.word.retain_internal();
        Ok(self.0.handle(Kind::CancelToken))
    }

    /// Gives up the reference as handle bits (`from_bits` takes it back).
    pub(crate) fn into_bits(self) -> u64 {
        let h = self.0.handle(Kind::CancelToken);
        let _ = self.0.into_index();
        h.bits()
    }

    /// The reference `into_bits` gave.
    pub(crate) fn from_bits(bits: u64) -> TokenRef {
        let h = Handle::from_bits(bits).expect("stored token reference");
        // SAFETY: the bits carry an internal reference given up by `into_bits`.
        TokenRef(unsafe { Ref::adopt(h.index()) })
    }

    /// A new reference to the object whose owned reference is stored as `bits`.
    pub(crate) fn clone_from_bits(bits: u64) -> TokenRef {
        let stored = std::mem::ManuallyDrop::new(TokenRef::from_bits(bits));
        (*stored).clone()
    }

    /// The handle bits of the token (a name).
    pub(crate) fn bits(&self) -> u64 {
        self.0.handle(Kind::CancelToken).bits()
    }

    /// A name without a reference.
    pub(crate) fn weak(&self) -> Weak<CancelCell> {
        self.0.weak()
    }

    pub(crate) fn is_canceled(&self) -> bool {
        // Acquire: pairs with the swap in `cancel_cell`.
        self.cell().canceled.load(Ordering::Acquire)
    }

    /// CanBeCanceled: false only for the none token. A token whose source was disposed
    /// keeps answering true, as in .NET (see [`TokenRef::may_cancel`] for whether it
    /// still can be).
    pub(crate) fn can_be_canceled(&self) -> bool {
        self.cell().inner.lock().cancelable
    }

    /// Whether anything waiting on the token may still see it canceled: false for the
    /// none token, and for a disposed one that is not canceled (nobody can cancel it
    /// any more), so waits need not register on it.
    pub(crate) fn may_cancel(&self) -> bool {
        let inner = self.cell().inner.lock();
        inner.cancelable && (!inner.disposed || self.is_canceled())
    }

    /// Registers `action`; see [`register`].
    pub(crate) fn register(&self, action: CancelAction, run_if_canceled: bool) -> Option<u64> {
        register(self.cell(), action, run_if_canceled)
    }

    /// Removes registration `id` if it has not run (its action is dropped).
    pub(crate) fn unregister(&self, id: u64) -> bool {
        unregister(self.cell(), id, false)
    }

    /// As `unregister`, also waiting while the callback runs on another thread.
    pub(crate) fn unregister_wait(&self, id: u64) -> bool {
        unregister(self.cell(), id, true)
    }

    /// Requests cancellation (see [`cancel`]).
    pub(crate) fn cancel(&self, stop_at_first: bool) -> Vec<ErrorRef> {
        cancel_cell(&self.0, stop_at_first)
    }

    /// Number of callbacks not yet run (diagnostics).
    pub(crate) fn registration_count(&self) -> usize {
        self.cell().inner.lock().callbacks.len()
    }

    /// Stores the guard of a pending deadline (dropping the previous one); a canceled or
    /// disposed source drops it at once.
    pub(crate) fn set_deadline(&self, guard: Option<Box<dyn Send>>) {
        let old = {
            let mut inner = self.cell().inner.lock();
            if inner.disposed || self.is_canceled() {
                guard
            } else {
                std::mem::replace(&mut inner.deadline, guard)
            }
        };
        drop(old);
    }
}

/// True once cancellation was requested (source or token handle).
pub fn is_canceled(h: Handle) -> Result<bool> {
    reference(h).map(|t| t.is_canceled())
}

/// CanBeCanceled: false only for the none token.
pub fn can_be_canceled(h: Handle) -> Result<bool> {
    reference(h).map(|t| t.can_be_canceled())
}

/// A library reference from a valid source or token handle.
pub(crate) fn reference(h: Handle) -> Result<TokenRef> {
    if h.is(Kind::CancelSource) {
        TokenRef::retain_source(h)
    } else {
        TokenRef::retain(h)
    }
}

/// Requests cancellation through a source handle: runs the callbacks newest first on
/// this thread. With `stop_at_first`, the first failing callback ends the run (the rest
/// stay registered and never run, as .NET's throwOnFirstException). Returns the
/// callbacks' errors in the order they ran. A second cancel does nothing.
pub fn cancel(source: Handle, stop_at_first: bool) -> Result<Vec<ErrorRef>> {
    let r = TokenRef::retain_source(source)?;
    Ok(r.cancel(stop_at_first))
}

fn cancel_cell(r: &Ref<CancelCell>, stop_at_first: bool) -> Vec<ErrorRef> {
    let cell = r.get();
    let deadline = {
        let mut inner = cell.inner.lock();
        if !inner.cancelable {
            return Vec::new();
        }
        // AcqRel: the first canceler wins; readers of `canceled` Acquire-pair with it.
        // Set under the lock: a registration either sees the flag or is popped below.
        if cell.canceled.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        inner.deadline.take()
    };
    drop(deadline);
    let me = thread::current();
    let mut errors = Vec::new();
    loop {
        let next = {
            let mut inner = cell.inner.lock();
            let next = inner.callbacks.pop_last();
            inner.running = next.as_ref().map(|(id, _)| (me, *id));
            next
        };
        let Some((_, action)) = next else { break };
        let reported = action.run();
        if !reported.is_empty() {
            errors.extend(reported);
            if stop_at_first {
                break;
            }
        }
    }
    cell.inner.lock().running = None;
    cell.done.notify_all();
    errors
}

/// Registers `action`. Returns `Some(id)` when queued; `None` when the token can never
/// be canceled (the action is dropped: destroy runs) or was already canceled — then the
/// action ran now on this thread, unless `run_if_canceled` is false (then it was dropped).
fn register(cell: &'static CancelCell, action: CancelAction, run_if_canceled: bool) -> Option<u64> {
    let mut inner = cell.inner.lock();
    // Acquire: see `is_canceled`. Checked under the lock: `cancel` sets the flag under it
    // before it pops, so a registration either is popped by it or sees the flag.
    if cell.canceled.load(Ordering::Acquire) {
        drop(inner);
        if run_if_canceled {
            drop(action.run());
        }
        return None;
    }
    if !inner.cancelable || inner.disposed {
        drop(inner);
        drop(action);
        return None;
    }
    inner.next_id += 1;
    let id = inner.next_id;
    inner.callbacks.insert(id, action);
    Some(id)
}

/// Removes registration `id` if it has not run (its action is dropped: user data
/// destroyed). With `wait`, also waits while it is running on another thread.
fn unregister(cell: &'static CancelCell, id: u64, wait: bool) -> bool {
    let mut inner = cell.inner.lock();
    if let Some(reg) = inner.callbacks.remove(&id) {
        drop(inner);
        drop(reg);
        return true;
    }
    if wait {
        let me = thread::current();
        while let Some((thread, running)) = inner.running {
            if running != id || thread == me {
                break;
            }
            cell.done.wait_for(&mut inner, Duration::from_millis(10));
        }
    }
    false
}

/// A source canceled when any of `parents` is (CreateLinkedTokenSource) (+1). Every
/// parent is validated before anything is created or registered.
pub fn linked(parents: &[Handle]) -> Result<Handle> {
    let parents: Vec<TokenRef> = parents
        .iter()
        .map(|&p| TokenRef::retain(p))
        .collect::<Result<_>>()?;
    let child = create(true, false, 1, 0);
    let mut links = Vec::with_capacity(parents.len());
    for parent in parents {
        if let Some(id) = parent.register(CancelAction::Linked(child.weak()), true) {
            links.push((parent, id));
        }
    }
    child.get().inner.lock().parents = links;
    Ok(child.handle(Kind::CancelSource))
}
