//! Type-stable pooled memory and the handles that name it.
//!
//! Every object tapir hands out (task, error, registration, scheduler, cancellation
//! source) lives in a slot of a [`Pool`] of its type. Slots are allocated in segments
//! that are never freed, so a slot that once held a task only ever holds tasks. A
//! [`Handle`] is `generation << 32 | kind << 28 | index`: the kind catches a handle
//! passed to the wrong family of functions without touching memory, the index finds
//! the slot, and the generation (checked against the slot's [`RefWord`]) catches a
//! handle used after its last release, even when the slot has been reused since.
//!
//! Allocation and free go through a small per-thread cache of free indices, so the
//! steady state of a create/release loop touches no lock and no heap.

use std::cell::RefCell;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use parking_lot::Mutex;

use super::refword::RefWord;

/// The family of a handle; encoded in bits 28..32 of every handle.
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
    /// A registration on a cancellation token.
    CancelRegistration = 8,
    /// A progress reporter.
    Progress = 9,
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
            _ => return None,
        })
    }
}

const INDEX_BITS: u32 = 28;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const KIND_SHIFT: u32 = INDEX_BITS;
const KIND_MASK: u64 = 0xF;
const GEN_SHIFT: u32 = 32;

/// An opaque, copyable name for a pooled object: `generation << 32 | kind << 28 | index`.
/// Never zero (kinds start at 1), so 0 is free to mean NULL at the C boundary.
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
    pub(crate) fn new(kind: Kind, index: u32, generation: u32) -> Handle {
        Handle(((generation as u64) << GEN_SHIFT) | ((kind as u64) << KIND_SHIFT) | index as u64)
    }
    /// Rebuilds a handle from its bits; `None` for zero.
    pub fn from_bits(bits: u64) -> Option<Handle> {
        (bits != 0).then_some(Handle(bits))
    }
    /// The raw bits, as they cross the C boundary.
    pub fn bits(self) -> u64 {
        self.0
    }
    /// The kind encoded in the handle, if it is a known one.
    pub fn kind(self) -> Option<Kind> {
        Kind::from_bits((self.0 >> KIND_SHIFT) & KIND_MASK)
    }
    pub(crate) fn index(self) -> u32 {
        (self.0 & INDEX_MASK) as u32
    }
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GEN_SHIFT) as u32
    }
    /// The same object seen as another kind (a source's task, a token's source).
    pub(crate) fn with_kind(self, kind: Kind) -> Handle {
        Handle::new(kind, self.index(), self.generation())
    }
}

/// One slot: the reference word, then the object's fields.
pub(crate) struct Entry<T> {
    pub(crate) word: RefWord,
    pub(crate) value: T,
}

const SEGMENTS: usize = 22;
const BASE_SHIFT: u32 = 6; // segment s holds 64 << s entries
const CACHE_BATCH: usize = 64;

struct Shared {
    free: Vec<u32>,
    next_fresh: u32,
}

/// A type-stable pool of `T` slots; see the module docs.
pub(crate) struct Pool<T: 'static> {
    id: usize,
    segments: [AtomicPtr<Entry<T>>; SEGMENTS],
    /// Indices below this are backed by a segment (Acquire pairs with the Release in `grow`).
    allocated: AtomicU32,
    shared: Mutex<Shared>,
}

fn locate(index: u32) -> (usize, usize) {
    let j = index as u64 + (1 << BASE_SHIFT);
    let seg = (63 - j.leading_zeros()) - BASE_SHIFT;
    (seg as usize, (j - ((1u64 << BASE_SHIFT) << seg)) as usize)
}

fn segment_len(seg: usize) -> usize {
    (1usize << BASE_SHIFT) << seg
}

/// Number of pools (one per object type); indexes the per-thread caches.
pub(crate) const POOL_COUNT: usize = 6;

/// Returns a thread's cached free indices to their pool when the thread exits.
struct LocalCache {
    lists: [Vec<u32>; POOL_COUNT],
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        for (id, list) in self.lists.iter_mut().enumerate() {
            if !list.is_empty() {
                super::pools::give_back(id, std::mem::take(list));
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<LocalCache> = const {
        RefCell::new(LocalCache { lists: [const { Vec::new() }; POOL_COUNT] })
    };
}

impl<T: Default + 'static> Pool<T> {
    /// An empty pool; `id` is its index in the per-thread caches.
    pub(crate) const fn new(id: usize) -> Pool<T> {
        Pool {
            id,
            segments: [const { AtomicPtr::new(std::ptr::null_mut()) }; SEGMENTS],
            allocated: AtomicU32::new(0),
            shared: Mutex::new(Shared {
                free: Vec::new(),
                next_fresh: 0,
            }),
        }
    }

    /// The slot at `index`, if that index has ever been allocated.
    pub(crate) fn entry(&self, index: u32) -> Option<&'static Entry<T>> {
        // Acquire: pairs with the Release in `grow`, so the segment pointer is set.
        if index >= self.allocated.load(Ordering::Acquire) {
            return None;
        }
        let (seg, off) = locate(index);
        let base = self.segments[seg].load(Ordering::Acquire);
        debug_assert!(!base.is_null());
        // SAFETY: `index < allocated`, so segment `seg` was installed by `grow` before
        // `allocated` was raised past it, holds `segment_len(seg) > off` entries, and
        // is never freed (leaked Box), so the reference is valid for 'static.
        Some(unsafe { &*base.add(off) })
    }

    /// Takes a free slot, makes it live with `user` handle references and `internal`
    /// library references, and returns its handle.
    pub(crate) fn alloc(
        &'static self,
        kind: Kind,
        user: u32,
        internal: u32,
    ) -> (Handle, &'static Entry<T>) {
        let cached = CACHE
            .try_with(|c| c.borrow_mut().lists[self.id].pop())
            .ok()
            .flatten();
        let index = match cached {
            Some(i) => i,
            None => self.refill(),
        };
        let entry = self.entry(index).expect("allocated index has a slot");
        let generation = entry.word.activate(user, internal);
        (Handle::new(kind, index, generation), entry)
    }

    /// Returns a retired slot (refs 0, generation already bumped) to the free lists.
    pub(crate) fn free(&'static self, index: u32) {
        let overflow = CACHE.try_with(|c| {
            let mut c = c.borrow_mut();
            let list = &mut c.lists[self.id];
            list.push(index);
            (list.len() > 2 * CACHE_BATCH).then(|| list.split_off(CACHE_BATCH))
        });
        match overflow {
            Ok(Some(spill)) => self.shared.lock().free.extend(spill),
            Ok(None) => {}
            // The thread is exiting and its cache is gone: hand the slot over directly.
            Err(_) => self.shared.lock().free.push(index),
        }
    }

    pub(crate) fn give_back(&self, indices: Vec<u32>) {
        self.shared.lock().free.extend(indices);
    }

    /// Moves a batch of free indices into this thread's cache and returns one of them.
    fn refill(&'static self) -> u32 {
        let mut shared = self.shared.lock();
        let take = shared.free.len().min(CACHE_BATCH);
        let start = shared.free.len() - take;
        let mut batch: Vec<u32> = shared.free.drain(start..).collect();
        if batch.is_empty() {
            let fresh = self.grow(&mut shared, CACHE_BATCH as u32);
            batch.extend(fresh);
        }
        drop(shared);
        let first = batch.pop().expect("refill yields at least one index");
        let _ = CACHE
            .try_with(|c| c.borrow_mut().lists[self.id].extend(batch.iter().copied()))
            .map_err(|_| self.give_back(batch));
        first
    }

    /// Reserves `count` never-used indices, installing segments as needed.
    fn grow(&self, shared: &mut Shared, count: u32) -> std::ops::Range<u32> {
        let start = shared.next_fresh;
        let end = start
            .checked_add(count)
            .filter(|&e| (e as u64) <= INDEX_MASK)
            .expect("tapir: handle space exhausted (2^28 live objects of one kind)");
        let (last_seg, _) = locate(end - 1);
        for seg in 0..=last_seg {
            if self.segments[seg].load(Ordering::Relaxed).is_null() {
                let slots: Box<[Entry<T>]> = (0..segment_len(seg))
                    .map(|_| Entry {
                        word: RefWord::default(),
                        value: T::default(),
                    })
                    .collect();
                // Leaked on purpose: slots are type-stable for the life of the process.
                let ptr = Box::leak(slots).as_mut_ptr();
                self.segments[seg].store(ptr, Ordering::Release);
            }
        }
        shared.next_fresh = end;
        // Release: publishes the segment pointers stored above to `entry`.
        self.allocated.store(end, Ordering::Release);
        start..end
    }

    /// Counts live objects, immortal singletons excluded. O(slots ever allocated);
    /// diagnostics only.
    pub(crate) fn live(&self) -> usize {
        let n = self.allocated.load(Ordering::Acquire);
        (0..n)
            .filter(|&i| self.entry(i).is_some_and(|e| e.word.counts_as_live()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_indices_without_gaps() {
        let mut expected = (0usize, 0usize);
        for i in 0..100_000u32 {
            assert_eq!(locate(i), expected, "index {i}");
            expected.1 += 1;
            if expected.1 == segment_len(expected.0) {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn handle_round_trips_its_fields() {
        let h = Handle::new(Kind::Registration, 0x0ABC_DEF1, 0xFFFF_FFFE);
        assert_eq!(h.kind(), Some(Kind::Registration));
        assert_eq!(h.index(), 0x0ABC_DEF1);
        assert_eq!(h.generation(), 0xFFFF_FFFE);
        assert_eq!(Handle::from_bits(h.bits()), Some(h));
        assert_eq!(Handle::from_bits(0), None);
        assert_eq!(Handle(0xF << KIND_SHIFT).kind(), None);
    }
}
