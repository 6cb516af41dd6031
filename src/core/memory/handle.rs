//! Handles: the opaque 64-bit names of pooled objects, and the one table of their kinds.
//!
//! A handle is `generation << 40 | kind << 32 | index`. The kind catches a handle passed
//! to the wrong family of functions without touching memory; the index finds the slot;
//! the generation, compared with the one in the slot's reference word, catches a handle
//! used after its last release even when the slot has been reused since. Handles are
//! never dereferenced. A handle's kind is checked before anything else is done with it,
//! and no code changes a handle's kind: a task and its source, or a cancellation source
//! and its token, are two kinds that name the same slot, and going from one to the other
//! is a family operation on a validated reference, never a rewrite of bits.

use std::ffi::c_void;

/// The family of a handle; bits 32..40 of every handle. Values are not ABI (handles are
/// opaque), but they never repeat, so a handle of one kind is never valid as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// The consumer side of an operation.
    Task = 1,
    /// The producer side; shares its slot with the task it completes.
    Source = 2,
    /// An immutable error value.
    Error = 3,
    /// A removable continuation.
    Registration = 4,
    /// Where callbacks run.
    Scheduler = 5,
    /// A cancellation source.
    CancelSource = 6,
    /// A cancellation token; shares its slot with its source.
    CancelToken = 7,
    /// A callback registered on a cancellation token.
    CancelRegistration = 8,
    /// A progress reporter.
    Progress = 9,
    /// A semaphore (SemaphoreSlim).
    Semaphore = 10,
    /// An auto-reset event.
    AutoResetEvent = 11,
    /// A manual-reset event.
    ManualResetEvent = 12,
    /// A countdown event (CountdownEvent).
    Countdown = 13,
    /// A barrier of phases.
    Barrier = 14,
    /// An asynchronous lock.
    Lock = 15,
    /// The right to release a held lock or reader-writer lock.
    LockGuard = 16,
    /// An asynchronous reader-writer lock.
    RwLock = 17,
    /// A producer/consumer channel.
    Channel = 18,
    /// A single-flight asynchronous cache.
    Cache = 19,
    /// A clock the host ticks (frames, or scaled and pausable time).
    Clock = 20,
}

impl Kind {
    fn from_bits(bits: u64) -> Option<Kind> {
        Some(match bits {
            1 => Kind::Task,
            2 => Kind::Source,
            3 => Kind::Error,
            4 => Kind::Registration,
            5 => Kind::Scheduler,
            6 => Kind::CancelSource,
            7 => Kind::CancelToken,
            8 => Kind::CancelRegistration,
            9 => Kind::Progress,
            10 => Kind::Semaphore,
            11 => Kind::AutoResetEvent,
            12 => Kind::ManualResetEvent,
            13 => Kind::Countdown,
            14 => Kind::Barrier,
            15 => Kind::Lock,
            16 => Kind::LockGuard,
            17 => Kind::RwLock,
            18 => Kind::Channel,
            19 => Kind::Cache,
            20 => Kind::Clock,
            _ => return None,
        })
    }
}

const INDEX_MASK: u64 = 0xFFFF_FFFF;
const KIND_SHIFT: u32 = 32;
const KIND_MASK: u64 = 0xFF;
const GEN_SHIFT: u32 = 40;
/// Generations are 24 bits: they wrap after 2^24 reuses of one slot.
pub(crate) const GEN_MASK: u32 = (1 << 24) - 1;

/// An opaque, copyable name for a pooled object. Never zero (kinds start at 1), so 0
/// is free to mean NULL at the C boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Handle({:?}#{}@{})",
            self.kind(),
            self.index(),
            self.generation()
        )
    }
}

impl Handle {
    pub(crate) const fn new(kind: Kind, index: u32, generation: u32) -> Handle {
        Handle(
            ((generation as u64 & GEN_MASK as u64) << GEN_SHIFT)
                | ((kind as u64) << KIND_SHIFT)
                | index as u64,
        )
    }
    /// Rebuilds a handle from its bits; `None` for zero.
    pub fn from_bits(bits: u64) -> Option<Handle> {
        (bits != 0).then_some(Handle(bits))
    }
    /// The raw bits, as they cross the C boundary.
    pub fn bits(self) -> u64 {
        self.0
    }
    /// The handle as the pointer value C sees.
    pub(crate) fn as_ptr(self) -> *const c_void {
        self.0 as usize as *const c_void
    }
    /// The kind encoded in the handle, if it is a known one.
    pub fn kind(self) -> Option<Kind> {
        Kind::from_bits((self.0 >> KIND_SHIFT) & KIND_MASK)
    }
    /// True when the handle claims to be of `kind` (nothing else is checked yet).
    #[inline(always)]
    pub(crate) fn is(self, kind: Kind) -> bool {
        (self.0 >> KIND_SHIFT) & KIND_MASK == kind as u64
    }
    #[inline(always)]
    pub(crate) fn index(self) -> u32 {
        (self.0 & INDEX_MASK) as u32
    }
    #[inline(always)]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_round_trips_its_fields() {
        let h = Handle::new(Kind::Registration, 0xFABC_DEF1, 0x00FF_FFFE);
        assert_eq!(h.kind(), Some(Kind::Registration));
        assert!(h.is(Kind::Registration));
        assert!(!h.is(Kind::Task));
        assert_eq!(h.index(), 0xFABC_DEF1);
        assert_eq!(h.generation(), 0x00FF_FFFE);
        assert_eq!(Handle::from_bits(h.bits()), Some(h));
        assert_eq!(Handle::from_bits(0), None);
        assert_eq!(Handle(0xFF << KIND_SHIFT).kind(), None);
    }

    #[test]
    fn generations_wrap_inside_their_field() {
        let h = Handle::new(Kind::Task, 7, GEN_MASK + 1);
        assert_eq!(h.generation(), 0);
        assert_eq!(h.kind(), Some(Kind::Task));
    }
}
