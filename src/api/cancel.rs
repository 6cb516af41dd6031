//! Cancellation: [`CancellationSource`], [`CancellationToken`] and
//! [`CancellationRegistration`] (CancellationTokenSource, CancellationToken,
//! CancellationTokenRegistration).

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::cancel::{self, CancelAction, TokenRef};
use crate::core::error::{ErrorData, ErrorRef};
use crate::core::memory::{Handle, Kind};
use crate::core::status::Status;
use crate::core::time;
use crate::ffi::{tapir_cancel_source, tapir_cancel_token};

use super::error::{Error, panicked};
use super::task::drop_box;

/// Requests cancellation of the operations that observe its [`token`](Self::token)
/// (CancellationTokenSource).
///
/// Dropping the last reference to a source (and its tokens) disposes it: pending
/// callbacks are dropped and its deadline stops; nothing is canceled by that.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
/// let cts = tapir::CancellationSource::new();
/// let token = cts.token();
/// let seen = Arc::new(AtomicBool::new(false));
/// let s = seen.clone();
/// let _reg = token.register(move || s.store(true, Ordering::SeqCst));
/// cts.cancel().unwrap();
/// assert!(token.is_canceled() && seen.load(Ordering::SeqCst));
/// ```
pub struct CancellationSource {
    handle: Handle,
}

impl CancellationSource {
    /// A new source, not canceled.
    pub fn new() -> CancellationSource {
        CancellationSource {
            handle: cancel::source::source_new(),
        }
    }

    /// A source canceled as soon as any of `tokens` is (CreateLinkedTokenSource);
    /// canceling it does not touch them.
    ///
    /// ```
    /// let parent = tapir::CancellationSource::new();
    /// let child = tapir::CancellationSource::linked(&[&parent.token()]);
    /// parent.cancel().unwrap();
    /// assert!(child.is_canceled());
    /// ```
    pub fn linked(tokens: &[&CancellationToken]) -> CancellationSource {
        let handles: Vec<Handle> = tokens.iter().map(|t| t.handle).collect();
        CancellationSource {
            handle: cancel::source::linked(&handles).expect("tokens hold valid handles"),
        }
    }

    /// A library reference to the source's object.
    pub(crate) fn token_ref(&self) -> TokenRef {
        TokenRef::retain_source(self.handle).expect("a source holds a valid handle")
    }

    /// The token this source cancels.
    pub fn token(&self) -> CancellationToken {
        CancellationToken::from_handle(
            cancel::source::token_of(self.handle).expect("a source holds a valid handle"),
        )
    }

    /// Requests cancellation (Cancel): the token's callbacks run on this thread, newest
    /// first, before this returns; tasks, delays and continuations that observe the
    /// token end canceled. A second call does nothing. `Err` carries the errors the
    /// callbacks reported (a callback that panicked reports one of code
    /// [`Status::Panic`]), as an aggregate, after every callback ran.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let _r = cts.token().register(|| panic!("callback failed"));
    /// let err = cts.cancel().unwrap_err();
    /// assert_eq!(err.inner()[0].status(), Some(tapir::Status::Panic));
    /// ```
    pub fn cancel(&self) -> Result<(), Error> {
        let errors = cancel::source::cancel(self.handle, false).expect("a valid handle");
        if errors.is_empty() {
            return Ok(());
        }
        Err(Error::from_ref(ErrorRef::new(ErrorData {
            code: Status::Faulted.code(),
            message: b"one or more cancellation callbacks failed"[..].into(),
            payload: None,
            inner: errors,
        })))
    }

    /// Cancels after `delay` (CancelAfter), replacing an earlier deadline; the callbacks
    /// then run on the default pool.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// cts.cancel_after(std::time::Duration::from_millis(1));
    /// tapir::delay_with(std::time::Duration::from_secs(3600), &cts.token()).wait_completed();
    /// assert!(cts.is_canceled());
    /// ```
    pub fn cancel_after(&self, delay: Duration) {
        time::cancel_after(self.handle, time::After::Time(delay)).expect("a valid handle");
    }

    /// True once cancellation was requested (IsCancellationRequested).
    pub fn is_canceled(&self) -> bool {
        cancel::source::is_canceled(self.handle).unwrap_or(false)
    }

    /// Gives the source to C (+1 `tapir_cancel_source` reference).
    pub fn into_raw(self) -> *const tapir_cancel_source {
        let me = std::mem::ManuallyDrop::new(self);
        me.handle.bits() as usize as *const tapir_cancel_source
    }

    /// The handle, borrowed.
    pub fn as_raw(&self) -> *const tapir_cancel_source {
        self.handle.bits() as usize as *const tapir_cancel_source
    }

    /// Takes over a `tapir_cancel_source` reference (+1) from C; None for NULL or a
    /// handle that is not a live cancellation source.
    ///
    /// # Safety
    /// The caller owns the reference and gives it up.
    pub unsafe fn from_raw(p: *const tapir_cancel_source) -> Option<CancellationSource> {
        let h = Handle::from_bits(p as usize as u64)?;
        (h.kind() == Some(Kind::CancelSource) && cancel::source::is_canceled(h).is_ok())
            .then_some(CancellationSource { handle: h })
    }
}

impl Default for CancellationSource {
    fn default() -> Self {
        CancellationSource::new()
    }
}

impl Clone for CancellationSource {
    fn clone(&self) -> Self {
        cancel::source::source_retain(self.handle).expect("tapir: too many handles");
        CancellationSource {
            handle: self.handle,
        }
    }
}

impl Drop for CancellationSource {
    fn drop(&mut self) {
        let _ = cancel::source::source_release(self.handle);
    }
}

impl std::fmt::Debug for CancellationSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellationSource")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

/// Observes a [`CancellationSource`] (CancellationToken): poll it, register callbacks,
/// or pass it to tapir operations that stop when it is canceled.
///
/// ```
/// let none = tapir::CancellationToken::none();
/// assert!(!none.can_be_canceled() && !none.is_canceled());
/// assert!(tapir::CancellationToken::canceled().is_canceled());
/// ```
pub struct CancellationToken {
    handle: Handle,
}

impl CancellationToken {
    /// The none token (CancellationToken.None): never canceled.
    pub fn none() -> CancellationToken {
        CancellationToken {
            handle: cancel::source::token_none(),
        }
    }

    /// A token canceled from the start (new CancellationToken(true)).
    pub fn canceled() -> CancellationToken {
        CancellationToken {
            handle: cancel::source::token_new_canceled(),
        }
    }

    pub(crate) fn from_handle(handle: Handle) -> CancellationToken {
        CancellationToken { handle }
    }

    /// A library reference to the token's object.
    pub(crate) fn token_ref(&self) -> TokenRef {
        TokenRef::retain(self.handle).expect("a token holds a valid handle")
    }

    /// True once cancellation was requested (IsCancellationRequested).
    pub fn is_canceled(&self) -> bool {
        cancel::source::is_canceled(self.handle).unwrap_or(false)
    }

    /// False for the none token, and for a token whose source was disposed uncanceled
    /// (CanBeCanceled).
    pub fn can_be_canceled(&self) -> bool {
        cancel::source::can_be_canceled(self.handle).unwrap_or(false)
    }

    /// Runs `f` once when the token is canceled (Register): on the canceling thread, or
    /// now on this one if it already is. Dropping the registration removes the callback
    /// if it has not run (Dispose, waiting for it if it runs on another thread);
    /// [`detach`](CancellationRegistration::detach) keeps it registered. A panic in `f`
    /// is caught and reported by [`CancellationSource::cancel`].
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let reg = cts.token().register(|| unreachable!("removed before the cancel"));
    /// assert!(reg.unregister());
    /// cts.cancel().unwrap();
    /// ```
    #[must_use = "dropping the registration removes the callback; use detach() to keep it"]
    pub fn register<F: FnOnce() + Send + 'static>(&self, f: F) -> CancellationRegistration {
        let data = Box::into_raw(Box::new(Some(f)));
        let action = CancelAction::Foreign {
            f: cancel_tramp::<F>,
            data: UserData::new(data.cast(), Some(drop_box::<Option<F>> as DestroyFn)),
        };
        let reg = cancel::registration::register(self.handle, action, true)
            .expect("a token holds a valid handle");
        CancellationRegistration { handle: reg }
    }

    /// Gives the token to C (+1 `tapir_cancel_token` reference).
    pub fn into_raw(self) -> *const tapir_cancel_token {
        let me = std::mem::ManuallyDrop::new(self);
        me.handle.bits() as usize as *const tapir_cancel_token
    }

    /// The handle, borrowed.
    pub fn as_raw(&self) -> *const tapir_cancel_token {
        self.handle.bits() as usize as *const tapir_cancel_token
    }

    /// Takes over a `tapir_cancel_token` reference (+1) from C; None for NULL or a handle
    /// that is not a live token.
    ///
    /// # Safety
    /// The caller owns the reference and gives it up.
    pub unsafe fn from_raw(p: *const tapir_cancel_token) -> Option<CancellationToken> {
        let h = Handle::from_bits(p as usize as u64)?;
        TokenRef::retain(h).ok()?;
        Some(CancellationToken { handle: h })
    }

    /// A new reference to the token a borrowed handle names (one lent to a callback).
    pub fn from_raw_borrowed(p: *const tapir_cancel_token) -> Option<CancellationToken> {
        let h = Handle::from_bits(p as usize as u64)?;
        cancel::source::token_retain(h).ok()?;
        Some(CancellationToken { handle: h })
    }
}

impl Default for CancellationToken {
    fn default() -> Self {
        CancellationToken::none()
    }
}

impl Clone for CancellationToken {
    fn clone(&self) -> Self {
        cancel::source::token_retain(self.handle).expect("tapir: too many handles");
        CancellationToken {
            handle: self.handle,
        }
    }
}

impl Drop for CancellationToken {
    fn drop(&mut self) {
        let _ = cancel::source::token_release(self.handle);
    }
}

impl PartialEq for CancellationToken {
    /// Tokens of the same source are equal.
    fn eq(&self, other: &Self) -> bool {
        self.handle == other.handle
    }
}

impl Eq for CancellationToken {}

impl std::fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellationToken")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

/// A callback registered on a token (CancellationTokenRegistration). Dropping it
/// removes the callback if it has not run.
pub struct CancellationRegistration {
    /// None when the callback ran at once or can never run.
    handle: Option<Handle>,
}

impl CancellationRegistration {
    /// Removes the callback without waiting; true if it was removed before it ran
    /// (Unregister).
    pub fn unregister(&self) -> bool {
        self.handle
            .is_some_and(|h| cancel::registration::unregister(h, false).unwrap_or(false))
    }

    /// Keeps the callback registered for as long as the token lives, and lets go of
    /// the registration.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// cts.token().register(move || tx.send(()).unwrap()).detach();
    /// cts.cancel().unwrap();
    /// rx.recv().unwrap();
    /// ```
    pub fn detach(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = cancel::registration::release(h);
        }
    }
}

impl Drop for CancellationRegistration {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = cancel::registration::unregister(h, true);
            let _ = cancel::registration::release(h);
        }
    }
}

impl std::fmt::Debug for CancellationRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellationRegistration")
            .finish_non_exhaustive()
    }
}

/// A Rust cancellation callback; a panic becomes a reported error.
unsafe extern "C" fn cancel_tramp<F: FnOnce() + Send>(data: *mut c_void) -> *const c_void {
    // SAFETY: `data` is the `Box<Option<F>>` registered with this trampoline; the callback
    // runs at most once and its destroy frees the box afterwards.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    let Some(f) = slot.take() else {
        return std::ptr::null();
    };
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => std::ptr::null(),
        Err(p) => match panicked(p).to_user() {
            // The library adopts the returned reference.
            Ok(h) => h.bits() as usize as *const c_void,
            Err(_) => std::ptr::null(),
        },
    }
}
