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

impl TokenRegistration {
    /// Removes the registration; true when its callback will never run (removed before
    /// it ran, or the token is gone and can no longer be canceled), false when it has
    /// run or is running on another thread. This is the one atomic decision between the
    /// callback and whoever removes it (a run's body starting, say).
    pub(crate) fn remove(self) -> bool {
        std::mem::ManuallyDrop::new(self).unregister()
    }

    fn unregister(&self) -> bool {
        match self.token.upgrade() {
            Some(cell) => TokenRef::from_ref(cell).unregister(self.id),
            None => true,
        }
    }
}

impl Drop for TokenRegistration {
    fn drop(&mut self) {
        self.unregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cancel::source;
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;

    fn token_of_new_source() -> (Handle, TokenRef) {
        let s = source::source_new();
        let t = source::token_of(s).unwrap();
        let r = TokenRef::retain(t).unwrap();
        source::token_release(t).unwrap();
        (s, r)
    }

    #[test]
    fn remove_before_the_cancel_means_the_callback_never_runs() {
        let (s, t) = token_of_new_source();
        // A flag, not a panic: the cancel contains a callback's panic as an error.
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let reg = TokenRegistration::new(&t, move || flag.store(true, Ordering::SeqCst)).unwrap();
        assert!(reg.remove());
        source::cancel(s, false).unwrap();
        assert!(!ran.load(Ordering::SeqCst), "a removed registration ran");
        source::source_release(s).unwrap();
    }

    /// What a run's start relies on: a callback that is running on another thread when
    /// the registration is removed counts as run, so the remover knows the callback
    /// decided (a run's body then never starts).
    #[test]
    fn remove_while_the_callback_runs_elsewhere_says_it_ran() {
        let (s, t) = token_of_new_source();
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let reg = TokenRegistration::new(&t, move || {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
        let canceler = std::thread::spawn(move || source::cancel(s, false).map(|_| ()));
        entered.recv().unwrap();
        assert!(
            !reg.remove(),
            "the callback is running: it was not removed in time"
        );
        release.send(()).unwrap();
        canceler.join().unwrap().unwrap();
        source::source_release(s).unwrap();
    }
}
