//! Cancellation sources, tokens and registrations (CancellationTokenSource,
//! CancellationToken, CancellationTokenRegistration).
//!
//! A source and its token share one pooled slot (like a task and its source); the
//! token is a read-only view. Callbacks are kept in registration order under a small
//! mutex; `cancel` pops them newest first and runs each on the canceling thread with
//! the mutex released, recording which one is running so `unregister_wait` can wait
//! for it (except from inside that very callback, which would deadlock).
//!
//! Linked sources register a callback on each parent. Those callbacks, and timers
//! (cancel_after), name the child by handle and re-validate it when they fire, so
//! they never keep it alive: the child's last release unregisters it from its parents.

use std::cell::UnsafeCell;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::callback::UserData;
use super::error::ErrorRef;
use super::pool::{Entry, Handle, Kind};
use super::pools::CANCELS;
use super::refword::Released;
use super::status::{Result, Status};

/// A foreign cancellation callback: returns NULL, or an error reference it gives to
/// tapir (the failure is reported by `cancel`, and the other callbacks still run).
pub type CancelFn = unsafe extern "C" fn(user_data: *mut c_void) -> *const c_void;

/// What a registration runs.
pub(crate) enum CancelAction {
    /// A C callback.
    Foreign { f: CancelFn, data: UserData },
    /// Library code.
    Rust(Box<dyn FnOnce() + Send>),
    /// Cancels a linked child (named weakly); its callbacks' errors are reported by
    /// the parent's cancel.
    Linked(Handle),
}

impl CancelAction {
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
                // The callback handed us its reference: adopt it if it is an error.
                (h.kind() == Some(Kind::Error))
                    .then(|| adopt_error(h))
                    .flatten()
                    .into_iter()
                    .collect()
            }
            CancelAction::Rust(f) => {
                f();
                Vec::new()
            }
            CancelAction::Linked(child) => {
                let mut errors = Vec::new();
                with_weak(child, |h| errors = cancel_entry(entry_of(h), false));
                errors
            }
        }
    }
}

fn adopt_error(h: Handle) -> Option<ErrorRef> {
    // Take our own reference, then drop the one the callback gave us.
    let e = ErrorRef::retain(h).ok()?;
    let _ = super::error::release(h);
    Some(e)
}

#[derive(Default)]
struct Inner {
    cancelable: bool,
    next_id: u64,
    /// Pending callbacks by registration id. Ids only grow, so the last entry is the
    /// newest (cancel pops from the end); register, unregister and pop are O(log n),
    /// which keeps a million registrations (one per pending delay) cheap to cancel.
    callbacks: BTreeMap<u64, CancelAction>,
    running: Option<(ThreadId, u64)>,
    timer: Option<super::timer::TimerId>,
    parents: Vec<(TokenRef, u64)>,
}

/// The pooled slot of a cancellation source and its token.
#[derive(Default)]
pub(crate) struct CancelCell {
    canceled: AtomicBool,
    inner: Mutex<Inner>,
    done: Condvar,
    /// Registrations made through the C API point here: (token, id).
    reg: UnsafeCell<Option<(TokenRef, u64)>>,
}

// SAFETY: `canceled` is atomic, `inner` is behind a Mutex, and `reg` (used only by
// slots that are registrations) is written before the handle is published and taken
// by the thread that released the last reference.
unsafe impl Sync for CancelCell {}

fn live(h: Handle, kinds: &[Kind]) -> Result<&'static Entry<CancelCell>> {
    if !h.kind().is_some_and(|k| kinds.contains(&k)) {
        return Err(Status::InvalidHandle);
    }
    let e = CANCELS.entry(h.index()).ok_or(Status::InvalidHandle)?;
    if !e.word.is_live(h.generation()) {
        return Err(Status::InvalidHandle);
    }
    Ok(e)
}

fn entry_of(h: Handle) -> &'static Entry<CancelCell> {
    CANCELS
        .entry(h.index())
        .expect("owned cancel handle has a slot")
}

fn alloc(kind: Kind, cancelable: bool, canceled: bool) -> Handle {
    let (h, e) = CANCELS.alloc(kind, 1, 0);
    // Relaxed: unpublished slot; RefWord::activate's Release publishes it.
    e.value.canceled.store(canceled, Ordering::Relaxed);
    *e.value.inner.lock() = Inner {
        cancelable,
        ..Inner::default()
    };
    h
}

/// Unregisters `id` from the token `weak` names, if that token still exists (the
/// caller holds no reference to it).
pub(crate) fn unregister_weak(weak: Handle, id: u64) {
    with_weak(weak, |h| {
        let e = entry_of(h);
        let removed = {
            let mut inner = e.value.inner.lock();
            inner.callbacks.remove(&id)
        };
        drop(removed);
    });
}

/// A new cancellation source (+1).
pub fn source_new() -> Handle {
    alloc(Kind::CancelSource, true, false)
}

/// A token that is canceled from birth (+1).
pub fn token_new_canceled() -> Handle {
    alloc(Kind::CancelToken, true, true)
}

/// The none token: never canceled, `can_be_canceled` false (+1, immortal).
pub fn token_none() -> Handle {
    static H: std::sync::OnceLock<Handle> = std::sync::OnceLock::new();
    let h = *H.get_or_init(|| {
        let h = alloc(Kind::CancelToken, false, false);
        entry_of(h).word.make_immortal();
        // The creation reference becomes the first caller's.
        h
    });
    static FIRST: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    FIRST.call_once(|| first = true);
    if !first {
        entry_of(h).word.mint(h.generation());
    }
    h
}

/// The token of a source (+1).
pub fn token_of(source: Handle) -> Result<Handle> {
    let e = live(source, &[Kind::CancelSource])?;
    let t = source.with_kind(Kind::CancelToken);
    e.word
        .mint(t.generation())
        .then_some(t)
        .ok_or(Status::InvalidHandle)
}

/// Adds a reference to a source or token handle.
pub fn retain(h: Handle) -> Result<()> {
    live(h, &[Kind::CancelSource, Kind::CancelToken])?
        .word
        .retain(h.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

/// Releases a source or token (user) reference; the last reference of any kind
/// drops pending callbacks (their user data is destroyed), the timer and the links
/// to parents.
pub fn release(h: Handle) -> Result<()> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    match e.word.release(h.generation()) {
        Released::Alive => {
            if e.word.has_no_user() {
                dispose(e);
            }
            Ok(())
        }
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            teardown(e, h);
            Ok(())
        }
    }
}

/// Dispose: the last user handle to the source and its tokens is gone, so nobody can
/// cancel it any more. Pending callbacks are dropped (their destroy runs), the timer
/// stops and the links to parents are removed, even while the library (or a held
/// registration) still keeps the object readable.
fn dispose(e: &'static Entry<CancelCell>) {
    let (callbacks, timer, parents) = {
        let mut inner = e.value.inner.lock();
        (
            std::mem::take(&mut inner.callbacks),
            inner.timer.take(),
            std::mem::take(&mut inner.parents),
        )
    };
    if let Some(t) = timer {
        super::timer::cancel(t);
    }
    for (parent, id) in &parents {
        parent.unregister(*id);
    }
    drop(callbacks);
    drop(parents);
}

fn release_internal(h: Handle) {
    let e = entry_of(h);
    if e.word.release_owned() == Released::Last {
        teardown(e, h);
    }
}

fn teardown(e: &'static Entry<CancelCell>, h: Handle) {
    let inner = std::mem::take(&mut *e.value.inner.lock());
    e.word.retire();
    CANCELS.free(h.index());
    if let Some(t) = inner.timer {
        super::timer::cancel(t);
    }
    for (parent, id) in &inner.parents {
        parent.unregister(*id);
    }
    drop(inner);
}

/// Runs `f` with a library reference to the object `weak` names, if it still exists.
fn with_weak(weak: Handle, f: impl FnOnce(Handle)) {
    let Some(e) = CANCELS.entry(weak.index()) else {
        return;
    };
    if e.word.upgrade(weak.generation()) {
        f(weak);
        release_internal(weak);
    }
}

/// True once cancellation was requested.
pub fn is_canceled(h: Handle) -> Result<bool> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    // Acquire: pairs with the swap in `cancel`.
    Ok(e.value.canceled.load(Ordering::Acquire))
}

/// False only for the none token.
pub fn can_be_canceled(h: Handle) -> Result<bool> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    Ok(e.value.inner.lock().cancelable)
}

/// Requests cancellation: runs the callbacks newest first on this thread. With
/// `stop_at_first`, the first failing callback ends the run (the rest stay registered
/// and never run, as .NET's throwOnFirstException). Returns the callbacks' errors in
/// the order they ran. A second cancel does nothing.
pub fn cancel(h: Handle, stop_at_first: bool) -> Result<Vec<ErrorRef>> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    Ok(cancel_entry(e, stop_at_first))
}

fn cancel_entry(e: &'static Entry<CancelCell>, stop_at_first: bool) -> Vec<ErrorRef> {
    if !e.value.inner.lock().cancelable {
        return Vec::new();
    }
    // AcqRel: the first canceler wins; readers of `canceled` Acquire-pair with it.
    if e.value.canceled.swap(true, Ordering::AcqRel) {
        return Vec::new();
    }
    if let Some(t) = e.value.inner.lock().timer.take() {
        super::timer::cancel(t);
    }
    let me = std::thread::current().id();
    let mut errors = Vec::new();
    loop {
        let next = {
            let mut inner = e.value.inner.lock();
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
    e.value.inner.lock().running = None;
    e.value.done.notify_all();
    errors
}

/// Registers `action`. Returns `Some(id)` when queued; `None` when the token can never
/// be canceled (the action is dropped) or was already canceled — then the action ran
/// now on this thread, unless `run_if_canceled` is false (then it was dropped).
pub(crate) fn register(
    h: Handle,
    action: CancelAction,
    run_if_canceled: bool,
) -> Result<Option<u64>> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    let mut inner = e.value.inner.lock();
    if !inner.cancelable {
        return Ok(None);
    }
    // Acquire: see `is_canceled`. Checked under the lock: `cancel` sets the flag before
    // it pops, so a registration either is popped by it or sees the flag.
    if e.value.canceled.load(Ordering::Acquire) {
        drop(inner);
        if run_if_canceled {
            drop(action.run());
        }
        return Ok(None);
    }
    inner.next_id += 1;
    let id = inner.next_id;
    inner.callbacks.insert(id, action);
    Ok(Some(id))
}

/// Removes registration `id` if it has not run (its action is dropped: user data
/// destroyed). With `wait`, also waits while it is running on another thread.
pub(crate) fn unregister(h: Handle, id: u64, wait: bool) -> Result<bool> {
    let e = live(h, &[Kind::CancelSource, Kind::CancelToken])?;
    let mut inner = e.value.inner.lock();
    if let Some(reg) = inner.callbacks.remove(&id) {
        drop(inner);
        drop(reg);
        return Ok(true);
    }
    if wait {
        let me = std::thread::current().id();
        while let Some((thread, running)) = inner.running {
            if running != id || thread == me {
                break;
            }
            e.value.done.wait_for(&mut inner, Duration::from_millis(10));
        }
    }
    Ok(false)
}

/// A source canceled when any of `parents` is (CreateLinkedTokenSource) (+1).
pub fn linked(parents: &[Handle]) -> Result<Handle> {
    let parents: Vec<TokenRef> = parents
        .iter()
        .map(|&p| TokenRef::retain_any(p))
        .collect::<Result<_>>()?;
    let child = source_new();
    let mut links = Vec::new();
    for parent in parents {
        if let Some(id) = register(parent.0, CancelAction::Linked(child), true)? {
            links.push((parent, id));
        }
    }
    entry_of(child).value.inner.lock().parents = links;
    Ok(child)
}

/// Cancels the source after `delay` (None: never; replaces an earlier deadline).
/// The timer posts the cancel to the default pool: callbacks never run on the timer thread.
pub fn cancel_after(h: Handle, delay: Option<Duration>) -> Result<()> {
    let e = live(h, &[Kind::CancelSource])?;
    if e.value.canceled.load(Ordering::Acquire) {
        return Ok(());
    }
    let old = e.value.inner.lock().timer.take();
    if let Some(t) = old {
        super::timer::cancel(t);
    }
    let Some(delay) = delay else { return Ok(()) };
    if delay.is_zero() {
        cancel(h, false)?;
        return Ok(());
    }
    let weak = h;
    let id = super::timer::schedule(
        delay,
        Box::new(move || {
            super::scheduler::post_default(super::scheduler::Work::Boxed(Box::new(move || {
                with_weak(weak, |h| {
                    cancel_entry(entry_of(h), false);
                })
            })));
        }),
    );
    e.value.inner.lock().timer = Some(id);
    Ok(())
}

/// Number of registered callbacks not yet run (diagnostics).
pub fn registration_count(h: Handle) -> Result<usize> {
    Ok(live(h, &[Kind::CancelSource, Kind::CancelToken])?
        .value
        .inner
        .lock()
        .callbacks
        .len())
}

// ---------------------------------------------------------------------------
// Registrations as handles (the C API).

/// Registers a foreign callback; returns a registration handle (+1), or None when the
/// callback ran at once (already canceled) or can never run (none token).
pub fn register_foreign(
    token: Handle,
    action: CancelAction,
    run_if_canceled: bool,
) -> Result<(Option<Handle>, bool)> {
    let t = TokenRef::retain_any(token)?;
    let canceled_before = is_canceled(token)?;
    match register(token, action, run_if_canceled)? {
        None => Ok((None, canceled_before)),
        Some(id) => {
            let (h, e) = CANCELS.alloc(Kind::CancelRegistration, 1, 0);
            // SAFETY: freshly allocated, unpublished slot.
            unsafe { *e.value.reg.get() = Some((t, id)) };
            Ok((Some(h), false))
        }
    }
}

fn reg_of(h: Handle) -> Result<&'static Entry<CancelCell>> {
    live(h, &[Kind::CancelRegistration])
}

/// Unregisters through a registration handle (Dispose / Unregister).
pub fn unregister_handle(reg: Handle, wait: bool) -> Result<bool> {
    let e = reg_of(reg)?;
    // SAFETY: written before publication; the caller holds a reference.
    let Some((token, id)) = (unsafe { (*e.value.reg.get()).as_ref() }) else {
        return Ok(false);
    };
    match unregister(token.0, *id, wait) {
        Err(Status::InvalidHandle) => Ok(false),
        other => other,
    }
}

/// The token a registration was made on (+1).
pub fn registration_token(reg: Handle) -> Result<Handle> {
    let e = reg_of(reg)?;
    // SAFETY: as in unregister_handle.
    let (token, _) = unsafe { (*e.value.reg.get()).as_ref() }.ok_or(Status::InvalidHandle)?;
    let t = token.0.with_kind(Kind::CancelToken);
    entry_of(t).word.mint(t.generation());
    Ok(t)
}

/// Releases a registration handle (does not unregister).
pub fn release_registration(reg: Handle) -> Result<()> {
    let e = reg_of(reg)?;
    match e.word.release(reg.generation()) {
        Released::Alive => Ok(()),
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            // SAFETY: last reference: this thread alone owns the slot.
            let r = unsafe { (*e.value.reg.get()).take() };
            e.word.retire();
            CANCELS.free(reg.index());
            drop(r);
            Ok(())
        }
    }
}

/// Adds a reference to a registration handle.
pub fn retain_registration(reg: Handle) -> Result<()> {
    reg_of(reg)?
        .word
        .retain(reg.generation())
        .then_some(())
        .ok_or(Status::InvalidHandle)
}

// ---------------------------------------------------------------------------
// Owned references.

/// An owned reference to a token (or a source seen as one).
pub(crate) struct TokenRef(Handle);

impl TokenRef {
    /// Takes a library reference to the token named by a live user handle.
    pub(crate) fn retain(h: Handle) -> Result<TokenRef> {
        if h.kind() != Some(Kind::CancelToken) {
            return Err(Status::InvalidHandle);
        }
        Self::retain_any(h)
    }

    /// Takes a library reference from a live token or source handle, or from a weak
    /// name of an object that still exists.
    pub(crate) fn retain_any(h: Handle) -> Result<TokenRef> {
        let e = live(h, &[Kind::CancelSource, Kind::CancelToken])
            .or_else(|_| CANCELS.entry(h.index()).ok_or(Status::InvalidHandle))?;
        if e.word.retain_internal(h.generation()) || e.word.upgrade(h.generation()) {
            Ok(TokenRef(h))
        } else {
            Err(Status::InvalidHandle)
        }
    }

    pub(crate) fn handle(&self) -> Handle {
        self.0
    }

    pub(crate) fn is_canceled(&self) -> bool {
        // Acquire: see `is_canceled`.
        entry_of(self.0).value.canceled.load(Ordering::Acquire)
    }

    /// Gives the reference to the caller as a token (user) handle.
    pub(crate) fn into_handle(self) -> Handle {
        let h = self.0.with_kind(Kind::CancelToken);
        entry_of(h).word.internal_to_user();
        std::mem::forget(self);
        h
    }

    pub(crate) fn register(&self, action: CancelAction) -> Option<u64> {
        register(self.0, action, true).ok().flatten()
    }

    pub(crate) fn unregister(&self, id: u64) {
        let _ = unregister(self.0, id, false);
    }
}

impl Clone for TokenRef {
    fn clone(&self) -> Self {
        entry_of(self.0).word.retain_owned();
        TokenRef(self.0)
    }
}

impl Drop for TokenRef {
    fn drop(&mut self) {
        release_internal(self.0);
    }
}
