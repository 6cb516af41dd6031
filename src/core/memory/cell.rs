//! The pooled slot a plain object lives in — every primitive, and clocks — and the
//! handle operations they share.
//!
//! Such an object (a "prim" here) is a plain Rust value (`T`: its state behind its own mutex) kept in a
//! [`PrimCell`] of a pool of its own, with the usual reference word: user handles and
//! library references (pins for a call, a lock's guards) counted apart. The value is
//! written before the handle is published, read through shared references while any
//! reference lives, and moved out by the thread that released the last one.

use crate::core::memory::family::{self, Object, Ref};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::Result;
use crate::core::sync::{AtomicU32, UnsafeCell};

/// A primitive's state type.
pub(crate) trait Prim: Send + Sync + Sized + 'static {
    /// State kept in the slot itself, beside the value: type-stable, so a fast path can
    /// use it without pinning the object (it must check the handle's generation itself,
    /// see `permits`). `()` for most primitives.
    type Fast: Default + Sync + 'static;
    /// The pool of this type's cells.
    fn pool() -> &'static Pool<PrimCell<Self>>;
    /// The last user handle is gone while library references remain (a pin of a call
    /// in progress, a lock's guards): nobody can signal the primitive through a handle
    /// any more. Default: nothing.
    fn last_user_gone(&self, _fast: &Self::Fast) {}
    /// The last reference is gone, before the value is moved out and the slot freed:
    /// stop the fast paths, and wait for those still using the value. Runs no user code.
    fn retire_fast(&self, _fast: &Self::Fast) {}
}

/// The pooled slot of a primitive.
pub(crate) struct PrimCell<T: Prim> {
    word: RefWord,
    link: AtomicU32,
    fast: T::Fast,
    state: UnsafeCell<Option<T>>,
}

impl<T: Prim> Default for PrimCell<T> {
    fn default() -> Self {
        PrimCell {
            word: RefWord::default(),
            link: AtomicU32::new(0),
            fast: T::Fast::default(),
            state: UnsafeCell::default(),
        }
    }
}

// SAFETY: `state` is written before the handle is published and taken only by the
// thread that released the last reference; in between it is only read (shared), and
// `T: Sync` makes shared reads from many threads sound.
unsafe impl<T: Prim> Sync for PrimCell<T> {}

impl<T: Prim> Slot for PrimCell<T> {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl<T: Prim> Object for PrimCell<T> {
    type Remains = Option<T>;
    fn pool() -> &'static Pool<Self> {
        T::pool()
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<T> {
        self.get().retire_fast(&self.fast);
        // SAFETY: the last reference is gone: this thread alone accesses the slot.
        self.state.with_mut(|p| unsafe { (*p).take() })
    }
    fn last_user_gone(&'static self) {
        self.get().last_user_gone(&self.fast);
    }
}

impl<T: Prim> PrimCell<T> {
    /// The slot's fast state (valid to read with or without a reference).
    pub(crate) fn fast(&self) -> &T::Fast {
        &self.fast
    }

    /// The generation the slot's next (or current) object is published with.
    pub(crate) fn generation(&self) -> u32 {
        self.word.generation()
    }

    /// The primitive (the caller holds a reference, so it is live).
    pub(crate) fn get(&self) -> &T {
        // SAFETY: written before publication and read-only while a reference lives.
        self.state
            .with(|p| unsafe { (*p).as_ref() })
            .expect("a referenced primitive is live")
    }
}

/// A library reference to a primitive.
pub(crate) type PrimRef<T> = Ref<PrimCell<T>>;

/// Creates a primitive with one user handle of `kind` (+1).
pub(crate) fn create<T: Prim>(kind: Kind, value: T) -> Handle {
    create_with(kind, value, |_, _| {})
}

/// As [`create`], also preparing the slot's fast state for the object's generation.
pub(crate) fn create_with<T: Prim>(
    kind: Kind,
    value: T,
    fast: impl FnOnce(&T::Fast, u32),
) -> Handle {
    family::create::<PrimCell<T>>(kind, 1, 0, |c| {
        fast(&c.fast, c.generation());
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        c.state.with_mut(|p| unsafe { *p = Some(value) });
    })
}

/// Creates a primitive with one user handle of `kind` (+1), made by `make` from the
/// slot's fast state and the object's generation: the value may keep a reference to
/// the fast state (the slot is type-stable), and `make` opens it before the handle is
/// published.
pub(crate) fn create_in<T: Prim>(
    kind: Kind,
    make: impl FnOnce(&'static T::Fast, u32) -> T,
) -> Handle {
    family::create::<PrimCell<T>>(kind, 1, 0, |c| {
        let value = make(&c.fast, c.generation());
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        c.state.with_mut(|p| unsafe { *p = Some(value) });
    })
}

/// Validates a handle of one of `kinds` and pins its primitive for the call, in one step.
pub(crate) fn pin<T: Prim>(h: Handle, kinds: &[Kind]) -> Result<PrimRef<T>> {
    family::pin::<PrimCell<T>>(h, kinds)
}

/// The slot a handle of one of `kinds` names (nothing about liveness is checked: a
/// fast path checks the generation in its own word).
pub(crate) fn slot<T: Prim>(h: Handle, kinds: &[Kind]) -> Option<&'static PrimCell<T>> {
    family::slot_of::<PrimCell<T>>(h, kinds).ok()
}

/// `tapir_x_retain`.
pub(crate) fn retain<T: Prim>(h: Handle, kinds: &[Kind]) -> Result<()> {
    family::retain_user::<PrimCell<T>>(h, kinds)
}

/// `tapir_x_release`: the last reference tears the primitive down.
pub(crate) fn release<T: Prim>(h: Handle, kinds: &[Kind]) -> Result<()> {
    family::release_user::<PrimCell<T>>(h, kinds)
}

/// Declares the static pool of a primitive type and its live count.
macro_rules! prim_pool {
    ($t:ty, $pool:ident) => {
        static $pool: $crate::core::memory::pool::Pool<$crate::core::memory::cell::PrimCell<$t>> =
            $crate::core::memory::pool::Pool::new();

        /// Live objects of this type (diagnostics).
        pub(crate) fn live() -> usize {
            $pool.live()
        }
    };
}
pub(crate) use prim_pool;
