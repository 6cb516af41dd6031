//! Registrations on tokens: the handles callers keep (CancellationTokenRegistration) and
//! the library's own registrations, removed when dropped.

use crate::core::memory::family::{self, Object, Weak};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::Result;
use crate::core::sync::{AtomicU32, UnsafeCell};

use super::source::{CancelAction, CancelCell, TokenRef};

/// The pooled slot of a registration handle: the token and the registration's id.
#[derive(Default)]
pub(crate) struct RegCell {
    word: RefWord,
    link: AtomicU32,
    reg: UnsafeCell<Option<(TokenRef, u64)>>,
}

// SAFETY: `reg` is written before the handle is published and taken only by the thread
// that released the last reference; in between it is read-only.
unsafe impl Sync for RegCell {}

impl Slot for RegCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for RegCell {
    type Remains = Option<(TokenRef, u64)>;
    fn pool() -> &'static Pool<Self> {
        &REGISTRATIONS
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<(TokenRef, u64)> {
        // SAFETY: the last reference is gone: this thread alone accesses the slot.
        self.reg.with_mut(|p| unsafe { (*p).take() })
    }
}

static REGISTRATIONS: Pool<RegCell> = Pool::new();

pub(crate) fn live() -> usize {
    REGISTRATIONS.live()
}

/// Registers a foreign callback on a token handle. Returns a registration handle (+1)
/// when it was queued, None when it ran at once (the token is canceled) or can never
/// run (the none token, or a disposed one: the callback is dropped, destroy runs).
pub fn register(
    token: Handle,
    action: CancelAction,
    run_if_canceled: bool,
) -> Result<Option<Handle>> {
    let t = match TokenRef::retain(token) {
        Ok(t) => t,
        Err(s) => {
            action.refuse();
            return Err(s);
        }
    };
    let Some(id) = t.register(action, run_if_canceled) else {
        return Ok(None);
    };
    let h = family::create::<RegCell>(Kind::CancelRegistration, 1, 0, |c| {
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        c.reg.with_mut(|p| unsafe { *p = Some((t, id)) });
    });
    Ok(Some(h))
}

fn with_reg<R>(reg: Handle, f: impl FnOnce(&TokenRef, u64) -> R) -> Result<Option<R>> {
    let r = family::pin::<RegCell>(reg, &[Kind::CancelRegistration])?;
    // SAFETY: written before publication; the pin keeps the slot and its contents.
    let entry = r.get().reg.with(|p| unsafe { (*p).as_ref() });
    Ok(entry.map(|(t, id)| f(t, *id)))
}

/// Unregisters through a handle (Unregister / Dispose); with `wait`, also waits while
/// the callback runs on another thread. True when removed before it ran.
pub fn unregister(reg: Handle, wait: bool) -> Result<bool> {
    Ok(with_reg(reg, |t, id| {
        if wait {
            t.unregister_wait(id)
        } else {
            t.unregister(id)
        }
    })?
    .unwrap_or(false))
}

/// The token a registration was made on (+1 token handle).
pub fn token(reg: Handle) -> Result<Handle> {
    with_reg(reg, |t, _| t.to_user())?.unwrap_or(Err(crate::core::status::Status::InvalidHandle))
}

/// Adds a reference to a registration handle.
pub fn retain(reg: Handle) -> Result<()> {
    family::retain_user::<RegCell>(reg, &[Kind::CancelRegistration])
}

/// Releases a registration handle (does not unregister).
pub fn release(reg: Handle) -> Result<()> {
    family::release_user::<RegCell>(reg, &[Kind::CancelRegistration])
}

/// A library registration on a token, named weakly (it does not keep the token), and
/// removed when dropped if it has not run.
pub(crate) struct TokenRegistration {
    token: Weak<CancelCell>,
    id: u64,
}

impl TokenRegistration {
    /// Registers `f` on `token`: None when it ran at once (canceled) or can never run.
    pub(crate) fn new(
        token: &TokenRef,
        f: impl FnOnce() + Send + 'static,
    ) -> Option<TokenRegistration> {
        token
            .register(CancelAction::Rust(Box::new(f)), true)
            .map(|id| TokenRegistration {
                token: token.weak(),
                id,
            })
    }
}

impl Drop for TokenRegistration {
    /// Removes the callback if it has not run (it is dropped unrun). Whether it ran is
    /// not reported: a callback can also be dropped unrun by its token (the source was
    /// released), so a caller that must decide between the callback and itself keeps
    /// a claim of its own that the callback takes when it runs.
    fn drop(&mut self) {
        if let Some(cell) = self.token.upgrade() {
            TokenRef::from_ref(cell).unregister(self.id);
        }
    }
}
