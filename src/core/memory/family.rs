//! The one lifecycle of pooled objects with a [`RefWord`]: errors, schedulers,
//! cancellation objects, continuation nodes, progress reporters and the primitives.
//!
//! - [`create`] takes a slot, initializes it and publishes it with its first references;
//! - [`pin`] validates a user handle and takes an internal reference for the call in one
//!   compare-exchange (a failed call then has done nothing);
//! - [`retain_user`] / [`release_user`] are `tapir_x_retain` / `tapir_x_release`;
//! - [`Ref`] is a library reference (Clone adds one, Drop releases it); [`Weak`] is a
//!   name the library keeps without a reference, upgraded only if the object still
//!   exists (generation-checked);
//! - the thread whose release takes both counts to zero tears the object down: it moves
//!   the contents out, retires the word (every old handle turns stale), frees the slot
//!   and only then drops the contents, which may run user destroy callbacks.
//!
//! Tasks use the same shape with a word of their own (`task::word`) because their
//! state and their references are changed by one compare-exchange on the hot path.

use std::marker::PhantomData;

use super::handle::{Handle, Kind};
use super::pool::{Pool, Slot};
use super::refword::{RefWord, Refused, Released};
use crate::core::status::{Result, Status};

/// A pooled object with a reference word.
pub(crate) trait Object: Slot {
    /// What teardown moves out of the slot; dropped after the slot is free again.
    type Remains;
    /// The pool of this type.
    fn pool() -> &'static Pool<Self>;
    /// The object's reference word.
    fn word(&self) -> &RefWord;
    /// Moves the contents out of a slot whose last reference is gone. Runs on the
    /// thread that released it, with exclusive access to the slot.
    fn take_contents(&'static self) -> Self::Remains;
    /// The last user handle is gone while library references remain: dispose of what
    /// only users could reach (a manual scheduler's queue, a cancellation source's
    /// callbacks). Default: nothing.
    fn last_user_gone(&'static self) {}
}

/// The slot a handle of one of `kinds` names, if its index was ever allocated. Nothing
/// about liveness is checked yet.
#[inline]
pub(crate) fn slot_of<O: Object>(h: Handle, kinds: &[Kind]) -> Result<&'static O> {
    if !kinds.iter().any(|&k| h.is(k)) {
        return Err(Status::InvalidHandle);
    }
    O::pool().get(h.index()).ok_or(Status::InvalidHandle)
}

/// Creates an object with `user` handle references and `internal` library references;
/// `init` fills the fresh slot before it is published. Returns the handle of `kind`.
pub(crate) fn create<O: Object>(
    kind: Kind,
    user: u32,
    internal: u32,
    init: impl FnOnce(&'static O),
) -> Handle {
    let (index, slot) = O::pool().alloc();
    init(slot);
    let generation = slot.word().activate(user, internal);
    Handle::new(kind, index, generation)
}

/// Creates an object owned by the library: one internal reference, no user handle.
pub(crate) fn create_ref<O: Object>(init: impl FnOnce(&'static O)) -> Ref<O> {
    let (index, slot) = O::pool().alloc();
    init(slot);
    let generation = slot.word().activate(0, 1);
    Ref {
        slot,
        index,
        generation,
    }
}

/// Validates a user handle of one of `kinds` and takes a library reference to its
/// object, in one step.
pub(crate) fn pin<O: Object>(h: Handle, kinds: &[Kind]) -> Result<Ref<O>> {
    let slot = slot_of::<O>(h, kinds)?;
    if slot.word().pin(h.generation()) {
        Ok(Ref {
            slot,
            index: h.index(),
            generation: h.generation(),
        })
    } else {
        Err(Status::InvalidHandle)
    }
}

/// Adds a user reference (`tapir_x_retain`).
pub(crate) fn retain_user<O: Object>(h: Handle, kinds: &[Kind]) -> Result<()> {
    match slot_of::<O>(h, kinds)?.word().retain_user(h.generation()) {
        Ok(()) => Ok(()),
        Err(Refused::Stale) => Err(Status::InvalidHandle),
        Err(Refused::Full) => Err(Status::Full),
    }
}

/// Releases a user reference (`tapir_x_release`); the last reference tears down.
pub(crate) fn release_user<O: Object>(h: Handle, kinds: &[Kind]) -> Result<()> {
    let slot = slot_of::<O>(h, kinds)?;
    match slot.word().release_user(h.generation()) {
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Alive => Ok(()),
        Released::LastUser => {
            // A pin keeps the object while it disposes; a concurrent pin (a misused
            // stale handle) cannot be taken any more, since no user handle is left.
            if slot.word().upgrade(h.generation()) {
                let keep = Ref::<O> {
                    slot,
                    index: h.index(),
                    generation: h.generation(),
                };
                slot.last_user_gone();
                drop(keep);
            }
            Ok(())
        }
        Released::Last => {
            teardown(h.index(), slot);
            Ok(())
        }
    }
}

/// Drops an internal reference the caller owns on the object at `index` (for holders
/// that keep the object as a plain pointer, such as a `&dyn` trait object).
pub(crate) fn release_internal<O: Object>(index: u32, slot: &'static O) {
    if slot.word().release_internal() == Released::Last {
        teardown(index, slot);
    }
}

fn teardown<O: Object>(index: u32, slot: &'static O) {
    let remains = slot.take_contents();
    slot.word().retire();
    O::pool().free(index, slot);
    drop(remains);
}

/// A library reference to an object; see the module docs.
pub(crate) struct Ref<O: Object> {
    slot: &'static O,
    index: u32,
    generation: u32,
}

impl<O: Object> Ref<O> {
    /// Takes over an internal reference the caller owns (counted, but held by a
    /// structure that only stores the index, like a list link).
    ///
    /// # Safety
    /// The caller owns one internal reference on the live object at `index`, which it
    /// gives up.
    pub(crate) unsafe fn adopt(index: u32) -> Ref<O> {
        // SAFETY: a referenced object's index was allocated.
        let slot = unsafe { O::pool().slot_unchecked(index) };
        Ref {
            slot,
            index,
            generation: slot.word().generation(),
        }
    }

    /// Gives up the reference, keeping it counted (see `adopt`); returns the index.
    pub(crate) fn into_index(self) -> u32 {
        let me = std::mem::ManuallyDrop::new(self);
        me.index
    }

    /// The object.
    #[inline(always)]
    pub(crate) fn get(&self) -> &'static O {
        self.slot
    }

    /// A user handle of `kind` for this object (+1 user reference), for the caller.
    pub(crate) fn mint_user(&self, kind: Kind) -> Result<Handle> {
        if self.slot.word().mint_user() {
            Ok(self.handle(kind))
        } else {
            Err(Status::Full)
        }
    }

    /// The handle of `kind` that names this object (no reference is given).
    pub(crate) fn handle(&self, kind: Kind) -> Handle {
        Handle::new(kind, self.index, self.generation)
    }

    /// A name for this object that holds no reference.
    pub(crate) fn weak(&self) -> Weak<O> {
        Weak {
            index: self.index,
            generation: self.generation,
            _of: PhantomData,
        }
    }
}

impl<O: Object> Clone for Ref<O> {
    fn clone(&self) -> Self {
        self.slot.word().retain_internal();
        Ref {
            slot: self.slot,
            index: self.index,
            generation: self.generation,
        }
    }
}

impl<O: Object> Drop for Ref<O> {
    fn drop(&mut self) {
        if self.slot.word().release_internal() == Released::Last {
            teardown(self.index, self.slot);
        }
    }
}

impl<O: Object> std::fmt::Debug for Ref<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ref(#{}@{})", self.index, self.generation)
    }
}

/// A name the library keeps without a reference (a timer naming the source it will
/// cancel, a linked child named by its parents): using it upgrades it to a [`Ref`] only
/// if the object it was taken from still exists.
pub(crate) struct Weak<O: Object> {
    index: u32,
    generation: u32,
    _of: PhantomData<fn() -> O>,
}

impl<O: Object> Clone for Weak<O> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<O: Object> Copy for Weak<O> {}

impl<O: Object> Weak<O> {
    /// A library reference, if the object still exists.
    pub(crate) fn upgrade(self) -> Option<Ref<O>> {
        let slot = O::pool().get(self.index)?;
        // `then`, not `then_some`: the Ref may exist only if the upgrade counted it.
        slot.word().upgrade(self.generation).then(|| Ref {
            slot,
            index: self.index,
            generation: self.generation,
        })
    }
}
