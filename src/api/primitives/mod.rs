//! The coordination primitives of the Rust API: [`Semaphore`], [`AutoResetEvent`],
//! [`ManualResetEvent`], [`AsyncLock`], [`AsyncRwLock`], [`Countdown`], [`Barrier`],
//! [`Channel<T>`](Channel), [`Cache<K, V>`](Cache) and [`Progress<T>`](Progress).
//!
//! Each is a handle to the very object C sees as a `tapir_semaphore`, `tapir_channel`,
//! ...: `Clone` adds a reference to the same object, dropping releases one, and when
//! the last one goes the object is disposed (waits still pending fail with an error of
//! code [`Status::Disposed`](crate::Status::Disposed), items left in a channel are
//! dropped). All are `Send` and `Sync`; their methods never block.
//!
//! # Waits
//! Every asynchronous wait takes a timeout (`None`: no limit; `Some(Duration::ZERO)`:
//! only what is available now) and a token (`None`: none), and returns a [`Task`]:
//! - waits that report a timeout as a value (`SemaphoreSlim.WaitAsync` style) end with
//!   `false`; reads, which have a value to deliver, fail with an error of code
//!   [`Status::Timeout`](crate::Status::Timeout) instead;
//! - a canceled token ends the task canceled ([`Error::is_canceled`]);
//! - a waiter that times out or is canceled leaves the queue first: it never consumes a
//!   permit, a set or an item meant for the next one;
//! - waiters are served in arrival order, and their continuations never run while
//!   tapir holds a lock.
//!
//! Dropping a wait's task does **not** withdraw the wait, as in the TPL: a permit
//! granted to a semaphore wait nobody awaits any more is still taken (give it back
//! with [`Semaphore::release`]); a lock granted to a dropped wait is released at once.
//! Withdraw a wait with its timeout or its token.
//!
//! A call the primitive refuses (a count of 0, a barrier without participants) returns
//! a task already faulted with the refusal's error, so awaiting it reports it.

mod cache;
mod channel;
mod countdown;
mod event;
mod lock;
mod progress;
mod semaphore;

pub use cache::{Cache, CacheOptions};
pub use channel::{Channel, FullMode, ReadAsync, TryWriteError};
pub use countdown::{Barrier, Countdown};
pub use event::{AutoResetEvent, ManualResetEvent};
pub use lock::{AsyncLock, AsyncRwLock, LockGuard, ReadGuard, WriteGuard};
pub use progress::Progress;
pub use semaphore::Semaphore;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Status;

use super::cancel::CancellationToken;
use super::error::Error;
use super::task::Task;

/// The library reference a wait keeps to its token.
fn token_ref(token: Option<&CancellationToken>) -> Option<TokenRef> {
    token.map(CancellationToken::token_ref)
}

/// A task for a wait: the primitive's task, or one already faulted with why the call
/// was refused.
fn task_of<T: 'static>(made: crate::core::status::Result<Handle>) -> Task<T> {
    match made {
        Ok(h) => Task::from_handle(h),
        Err(s) => refused(s),
    }
}

/// A task already faulted with the error of a refused call.
fn refused<T: 'static>(s: Status) -> Task<T> {
    Task::from_error(Error::from_status(s))
}

/// The result of a call on a handle this value owns: only argument and state errors
/// can come back, as an [`Error`].
fn check<T>(r: crate::core::status::Result<T>) -> Result<T, Error> {
    r.map_err(Error::from_status)
}

/// Adds a reference to a handle this value owns (`Clone`); only a full reference count
/// can refuse, which no program reaches.
fn retained(r: crate::core::status::Result<()>) {
    r.expect("tapir: a primitive has too many handles");
}

/// The handle plumbing of a primitive that is one `handle: Handle` field: `Clone` (a new
/// reference), `Drop` (releases it), identity equality, and the crossing to C
/// (`as_raw`, `into_raw`, `from_raw`). `$new` is an expression making one, for the
/// examples.
macro_rules! shared_handle {
    ($ty:ident, $raw:ident, $module:ident, $retain:expr, $release:expr, $new:literal) => {
        impl Clone for $ty {
            /// Another reference to the same object.
            fn clone(&self) -> $ty {
                super::retained(($retain)(self.handle));
                $ty {
                    handle: self.handle,
                }
            }
        }

        impl Drop for $ty {
            fn drop(&mut self) {
                let _ = ($release)(self.handle);
            }
        }

        impl PartialEq for $ty {
            /// The same object.
            fn eq(&self, other: &$ty) -> bool {
                self.handle == other.handle
            }
        }

        impl Eq for $ty {}

        impl $ty {
            #[doc = concat!("The `", stringify!($raw), "` handle, borrowed: valid while this value lives.")]
            ///
            /// ```
            #[doc = concat!("let x = ", $new, ";")]
            /// assert!(!x.as_raw().is_null());
            /// assert_eq!(x.as_raw(), x.clone().as_raw(), "clones are the same object");
            /// ```
            pub fn as_raw(&self) -> *const crate::ffi::$module::$raw {
                self.handle.bits() as usize as *const crate::ffi::$module::$raw
            }

            #[doc = concat!("Gives the object to C: this reference (+1), to be released with `", stringify!($raw), "_release`.")]
            ///
            /// ```
            #[doc = concat!("let p = ", $new, ".into_raw();")]
            /// // SAFETY: `p` is the +1 reference just made, given back.
            #[doc = concat!("let back = unsafe { tapir::", stringify!($ty), "::from_raw(p) };")]
            /// assert!(back.is_some());
            /// ```
            pub fn into_raw(self) -> *const crate::ffi::$module::$raw {
                let me = std::mem::ManuallyDrop::new(self);
                me.as_raw()
            }

            #[doc = concat!("Takes over a `", stringify!($raw), "` reference (+1) from C; None for NULL or a handle that is not a live object of this kind (the reference is then left alone).")]
            ///
            /// # Safety
            /// The caller owns the reference `p` holds and gives it up.
            pub unsafe fn from_raw(p: *const crate::ffi::$module::$raw) -> Option<$ty> {
                let h = crate::core::memory::Handle::from_bits(p as usize as u64)?;
                // A retain validates the handle's kind and generation; the extra
                // reference goes again at once.
                ($retain)(h).ok()?;
                let _ = ($release)(h);
                Some($ty { handle: h })
            }
        }
    };
}
use shared_handle;
