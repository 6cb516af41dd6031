//! The pooled slot of a task and its source: 64 bytes, one cache line, so a fan-in of
//! a million inputs costs a million lines and not two. What does not fit (library
//! references, lists of two or more continuations, tapir_run's token) lives in an
//! [`Extra`] record that most tasks never allocate.
//!
//! # Field access (see `task/mod.rs` for the protocol)
//! - `word`: atomically, as `task::word` describes.
//! - `first`: the inline continuation; written and taken only by the holder of LOCKED
//!   while the task is pending, then by the completer (which detached it) or by the
//!   thread that set DYING.
//! - `value`, `aux`, `meta` (outcome part): written once by the completer under LOCKED
//!   before the Release that publishes COMPLETED; read-only afterwards; taken by the
//!   dying thread. Readers that hold no reference read them optimistically (atomic
//!   loads, then the word is checked again), so they are atomics.
//! - `user_state`: written before the slot is published, read-only afterwards.
//! - `extra`: the index of the extra record; changed only under LOCKED (or by the dying
//!   thread). While the slot is free it is the free-list link.

#[cfg(not(loom))]
use crate::core::memory::pool::{Pool, Slot};
use crate::core::sync::{AtomicU32, AtomicUsize, Ordering, UnsafeCell};

#[cfg(not(loom))]
use super::word::Snapshot;
use super::word::TaskWord;

/// `meta` bits 0..16: the inline continuation's flags (`continuation::*` flags and its
/// encoding tag); bits 16..24: how the outcome is stored.
pub(crate) const META_FIRST_MASK: u32 = 0xFFFF;
const META_OUTCOME_SHIFT: u32 = 16;

/// How `value` and `aux` hold the outcome of a completed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stored {
    /// Succeeded: `value` is the value, `aux` its destroy function (0 for none).
    Value = 0,
    /// Succeeded with a value owned by another task: `value` is a copy of the value,
    /// `aux` the handle bits of an internal reference to the owner.
    Shared = 1,
    /// Faulted: `value` points to a boxed `Faults`.
    Faulted = 2,
    /// Canceled: `value` is the handle bits of a token reference, or 0 for none.
    Canceled = 3,
}

/// The slot; see the module docs.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct TaskCell {
    pub(crate) word: TaskWord,
    pub(crate) first: UnsafeCell<[usize; 3]>,
    pub(crate) value: AtomicUsize,
    pub(crate) aux: AtomicUsize,
    pub(crate) user_state: AtomicUsize,
    pub(crate) meta: AtomicU32,
    pub(crate) extra: AtomicU32,
}

#[cfg(not(loom))]
const _: () = assert!(std::mem::size_of::<TaskCell>() == 64);

// SAFETY: `first` is the only non-atomic field; it follows the access rule in the module
// docs (one thread at a time, handed over through the word's Acquire/Release).
unsafe impl Sync for TaskCell {}

impl TaskCell {
    /// The stored form of the outcome (meaningful once COMPLETED is seen).
    pub(crate) fn stored(&self) -> Stored {
        match (self.meta.load(Ordering::Relaxed) >> META_OUTCOME_SHIFT) as u8 {
            0 => Stored::Value,
            1 => Stored::Shared,
            2 => Stored::Faulted,
            _ => Stored::Canceled,
        }
    }

    /// Writes the outcome fields (the completer, under LOCKED).
    pub(crate) fn write_outcome(&self, stored: Stored, value: usize, aux: usize) {
        // Relaxed: published by the Release store of COMPLETED that follows.
        self.value.store(value, Ordering::Relaxed);
        self.aux.store(aux, Ordering::Relaxed);
        let meta = self.meta.load(Ordering::Relaxed) & META_FIRST_MASK;
        self.meta.store(
            meta | ((stored as u32) << META_OUTCOME_SHIFT),
            Ordering::Relaxed,
        );
    }

    /// The inline continuation's flags word.
    pub(crate) fn first_meta(&self) -> u32 {
        self.meta.load(Ordering::Relaxed) & META_FIRST_MASK
    }

    pub(crate) fn set_first_meta(&self, bits: u32) {
        debug_assert!(bits <= META_FIRST_MASK);
        let meta = self.meta.load(Ordering::Relaxed) & !META_FIRST_MASK;
        self.meta.store(meta | bits, Ordering::Relaxed);
    }

    #[cfg(not(loom))]
    /// The extra record, if one was allocated (read under LOCKED, or by a holder of a
    /// reference that the record itself counts).
    pub(crate) fn extra(&self) -> Option<&'static Extra> {
        match self.extra.load(Ordering::Relaxed) {
            0 => None,
            // SAFETY: a non-zero index was stored by `extra_or_new` from an allocated
            // record, which stays allocated until the dying thread frees it.
            n => Some(unsafe { EXTRAS.slot_unchecked(n - 1) }),
        }
    }

    #[cfg(not(loom))]
    /// The extra record, allocated on first use. Only under LOCKED.
    pub(crate) fn extra_or_new(&self) -> &'static Extra {
        if let Some(x) = self.extra() {
            return x;
        }
        let (index, x) = EXTRAS.alloc();
        x.reset();
        self.extra.store(index + 1, Ordering::Relaxed);
        x
    }

    #[cfg(not(loom))]
    /// Frees the extra record (the dying thread, after reading what it needs).
    pub(crate) fn free_extra(&self) {
        // A load and a store, not a swap: the dying thread owns the slot.
        let n = self.extra.load(Ordering::Relaxed);
        if n != 0 {
            self.extra.store(0, Ordering::Relaxed);
            // SAFETY: as in `extra`.
            let x = unsafe { EXTRAS.slot_unchecked(n - 1) };
            if let Some(hook) = x.abandon.get_copy() {
                x.abandon.set(None);
                hook.discard();
            }
            x.in_use.store(0, Ordering::Relaxed);
            EXTRAS.free(n - 1, x);
        }
    }

    #[cfg(not(loom))]
    /// Library references counted in the extra record (internal + producers); 0 without
    /// one. Under LOCKED.
    pub(crate) fn held(&self) -> u32 {
        self.extra()
            .map_or(0, |x| x.internal.get_copy() + x.producers.get_copy())
    }

    #[cfg(not(loom))]
    /// The word with HELD set or cleared to match the extra record. Under LOCKED.
    pub(crate) fn with_held(&self, w: Snapshot) -> Snapshot {
        if self.held() > 0 {
            w.set(super::word::HELD)
        } else {
            w.clear(super::word::HELD)
        }
    }
}

#[cfg(not(loom))]
impl Slot for TaskCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.extra
    }
    fn counts_as_live(&self) -> bool {
        let w = self.word.load_relaxed();
        w.0 & ((1 << 40) - 1) != 0 && w.user() < super::word::PERMANENT_USERS
    }
}

/// Index and word of every live task (the permanent ones excluded; a task being torn
/// down is no longer live). A snapshot: diagnostics only.
#[cfg(not(loom))]
pub(crate) fn live_tasks() -> Vec<(u32, super::word::Snapshot)> {
    let mut found = Vec::new();
    TASKS.scan(|index, cell| {
        let w = cell.word.load();
        if cell.counts_as_live() && !w.has(super::word::DYING) {
            found.push((index, w));
        }
    });
    found
}

/// What a task keeps outside its line; every field is accessed under the task's LOCKED
/// (or by its dying thread).
#[derive(Default)]
pub(crate) struct Extra {
    link: AtomicU32,
    in_use: AtomicU32,
    /// Library references that keep the task (pins, queued continuations, shared values).
    pub(crate) internal: Plain<u32>,
    /// Library producers on a task that also has (or had) user source handles
    /// (`tapir_source_set_from_task`): they can still complete it.
    pub(crate) producers: Plain<u32>,
    /// The list of registrations after the first: node index + 1, 0 for none.
    pub(crate) head: Plain<u32>,
    pub(crate) tail: Plain<u32>,
    /// For a task of `tapir_run`: the bits of the token that may acknowledge its
    /// cancellation (0: none may).
    pub(crate) run_token: Plain<u64>,
    /// For a watched task (`task::abandon`): whom to tell when nothing observes it.
    #[cfg(not(loom))]
    pub(crate) abandon: Plain<Option<super::abandon::Hook>>,
}

impl Extra {
    fn reset(&self) {
        self.in_use.store(1, Ordering::Relaxed);
        self.internal.set(0);
        self.producers.set(0);
        self.head.set(0);
        self.tail.set(0);
        self.run_token.set(0);
        #[cfg(not(loom))]
        self.abandon.set(None);
    }
}

#[cfg(not(loom))]
impl Slot for Extra {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    // Extra records belong to their task and are counted with it.
    fn counts_as_live(&self) -> bool {
        false
    }
}

/// A value accessed only under its owner's lock: the lock's Acquire/Release order it.
#[derive(Default)]
pub(crate) struct Plain<T: Copy>(UnsafeCell<T>);

impl<T: Copy> Plain<T> {
    pub(crate) fn get_copy(&self) -> T {
        // SAFETY: accessed only under the owning task's LOCKED (module docs), which makes
        // this thread the only accessor.
        self.0.with(|p| unsafe { *p })
    }
    pub(crate) fn set(&self, v: T) {
        // SAFETY: as in `get_copy`.
        self.0.with_mut(|p| unsafe { *p = v })
    }
}

// SAFETY: `Plain` fields follow the access rule above.
unsafe impl Sync for Extra {}

/// The tasks' pool (a source and its task share one slot).
#[cfg(not(loom))]
pub(crate) static TASKS: Pool<TaskCell> = Pool::new();
/// The extra records' pool.
#[cfg(not(loom))]
pub(crate) static EXTRAS: Pool<Extra> = Pool::new();
