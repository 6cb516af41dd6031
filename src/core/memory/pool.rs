//! Type-stable pooled memory.
//!
//! Every object tapir hands out lives in a slot of a [`Pool`] of its type. Slots are
//! allocated in segments that are freed only when the library is unloaded, so a slot
//! that once held a task only ever holds tasks: a stale handle may read a slot's words,
//! never memory of another type, and its generation check then refuses it.
//!
//! Allocation and free go through an intrusive per-thread free list (the next free
//! index is stored in the free slot itself), so the steady state of a create/release
//! loop touches no lock, no heap and one thread-local. Batches move between a thread's
//! list and the pool's shared list under a mutex. When a thread exits, its lists go back
//! to the pools they came from: each pool registers itself the first time a thread uses
//! it, so this module never names the pools (and `unload` can free them all).

use std::cell::UnsafeCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::core::sync::Mutex;

/// What a pooled type provides to the pool.
pub(crate) trait Slot: Default + Sync + 'static {
    /// The field that links free slots (next index + 1, 0 ends the list). Read and
    /// written only by the thread whose free list holds the slot, or under the pool's
    /// mutex; it may share storage with a field that is meaningless while the slot is
    /// free, as long as that field is read atomically.
    fn free_link(&self) -> &AtomicU32;
    /// True for a live object that is not an immortal singleton (diagnostics).
    fn counts_as_live(&self) -> bool;
}

/// Pools per process. Each pool takes the next id the first time it is used.
pub(crate) const MAX_POOLS: usize = 32;
const NO_ID: usize = usize::MAX;
const SEGMENTS: usize = 26;
const BASE_SHIFT: u32 = 6; // segment s holds 64 << s slots
const BATCH: u32 = 64;

#[derive(Clone, Copy)]
struct FreeList {
    head: u32,
    len: u32,
}

struct Local {
    lists: [FreeList; MAX_POOLS],
    /// The thread is exiting: frees go straight to the shared lists.
    exiting: bool,
}

thread_local! {
    // Const-initialized and without Drop: no lazy-init check on the fast path, and no
    // thread-local destructor (which would keep the library mapped; see below).
    static LOCAL: UnsafeCell<Local> = const {
        UnsafeCell::new(Local {
            lists: [FreeList { head: 0, len: 0 }; MAX_POOLS],
            exiting: false,
        })
    };
}

/// The part of a pool the exit hand-back needs, without its type.
trait Sink: Sync {
    fn take_back(&self, head: u32, len: u32);
    /// Frees every segment; afterwards the pool is as new (no index is allocated).
    fn release_memory(&self);
}

static SINKS: [OnceLock<&'static dyn Sink>; MAX_POOLS] = [const { OnceLock::new() }; MAX_POOLS];

// ---- the thread-exit hand-back ----
//
// A thread's cached free slots go back to their pools when it exits. The hook is a
// pthread key with a destructor, not a Rust thread-local with Drop: glibc keeps a library
// mapped while any thread has a thread-local destructor of it registered, and a host's
// main thread never exits before the host unloads tapir. A pthread key pins nothing; it
// is deleted when the library is unloaded (`unload`), before its code goes away.

/// The key + 1 (0: not created yet). Read without the lock once set.
static EXIT_KEY: AtomicUsize = AtomicUsize::new(0);
static EXIT_KEY_LOCK: Mutex<()> = Mutex::new(());

/// Makes sure this thread's lists are handed back when it exits. Cold: called when a
/// thread refills a list.
fn hand_back_at_exit() {
    // Acquire: pairs with the Release store below, so the key is fully created.
    let mut key = EXIT_KEY.load(Ordering::Acquire);
    if key == 0 {
        let _g = EXIT_KEY_LOCK.lock();
        key = EXIT_KEY.load(Ordering::Acquire);
        if key == 0 {
            let mut k: libc::pthread_key_t = 0;
            // SAFETY: `k` is writable; the destructor is a plain function of this library
            // that stays mapped until `unload` deletes the key.
            if unsafe { libc::pthread_key_create(&mut k, Some(on_thread_exit)) } != 0 {
                return; // out of keys: this thread's cached slots stay cached (a leak, not an error)
            }
            key = k as usize + 1;
            EXIT_KEY.store(key, Ordering::Release);
        }
    }
    let key = (key - 1) as libc::pthread_key_t;
    // SAFETY: `key` is a live key (deleted only by `unload`, after which no tapir code runs).
    unsafe {
        if libc::pthread_getspecific(key).is_null() {
            // Any non-null value makes the destructor run at exit.
            libc::pthread_setspecific(key, std::ptr::NonNull::<u8>::dangling().as_ptr().cast());
        }
    }
}

/// The key's destructor: the exiting thread's lists go back to their pools, and its
/// later frees (another library's thread-exit code releasing a tapir object) go
/// straight to the shared lists.
extern "C" fn on_thread_exit(_: *mut libc::c_void) {
    let _ = LOCAL.try_with(|l| {
        // SAFETY: this thread's own block; no other reference to it is live (the
        // pool functions do not hold one across calls).
        let local = unsafe { &mut *l.get() };
        local.exiting = true;
        for (id, list) in local.lists.iter_mut().enumerate() {
            if list.len != 0 {
                if let Some(sink) = SINKS[id].get() {
                    sink.take_back(list.head, list.len);
                }
                *list = FreeList { head: 0, len: 0 };
            }
        }
    });
}

/// The library is being unloaded (or the process is exiting): deletes the exit key,
/// whose destructor is about to disappear, and — when `quiescent` (tapir is shut down
/// and no object is live) — frees every pool's segments, so that loading and unloading
/// tapir again and again does not grow the process. Nothing may call into tapir after
/// this.
pub(crate) fn unload(quiescent: bool) {
    let key = EXIT_KEY.swap(0, Ordering::AcqRel);
    if key != 0 {
        // SAFETY: the key was created by `hand_back_at_exit` and is deleted once (the swap).
        unsafe { libc::pthread_key_delete((key - 1) as libc::pthread_key_t) };
    }
    if !quiescent {
        return;
    }
    // This thread's cached indices would name freed memory: forget them.
    with_local(|local| local.lists = [FreeList { head: 0, len: 0 }; MAX_POOLS]);
    for sink in SINKS.iter().filter_map(|s| s.get()) {
        sink.release_memory();
    }
}

/// Runs `f` on this thread's free list of pool `id`.
#[inline(always)]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> R {
    LOCAL.with(|l| {
        // SAFETY: the block belongs to this thread, and no caller keeps the reference
        // past `f` or re-enters `with_local` from inside it.
        f(unsafe { &mut *l.get() })
    })
}

/// A type-stable pool of `T` slots; see the module docs.
pub(crate) struct Pool<T: Slot> {
    /// This pool's free list in every thread's block (NO_ID until first used).
    id: std::sync::atomic::AtomicUsize,
    /// Segment `s`'s first slot minus `64 << s` slots (null until installed): with
    /// `j = index + 64`, the slot of `index` is `segments[log2(j) - 6] + j`, so a lookup
    /// is a bit scan, one load and one add (no offset inside the segment to compute).
    /// The pointer is made with `wrapping_sub` from the segment's own, so it keeps the
    /// segment's provenance; it is only ever dereferenced back inside the segment.
    segments: [AtomicPtr<T>; SEGMENTS],
    /// Segment `s`'s own pointer (its first slot), which frees it. It is also what keeps
    /// the segment reachable for a leak checker: a biased pointer points outside it.
    starts: [AtomicPtr<T>; SEGMENTS],
    /// Indices below this are backed by a segment (Acquire pairs with the Release in
    /// `grow`).
    allocated: AtomicU32,
    shared: Mutex<Shared>,
}

struct Shared {
    free: Vec<u32>,
    next_fresh: u32,
}

fn locate(index: u32) -> (usize, usize) {
    let (seg, j) = biased(index);
    (seg, j - bias(seg))
}

/// The segment of `index` and its offset from the segment's biased base (`index + 64`).
#[inline(always)]
fn biased(index: u32) -> (usize, usize) {
    let j = index as u64 + (1 << BASE_SHIFT);
    let seg = (63 - j.leading_zeros()) - BASE_SHIFT;
    (seg as usize, j as usize)
}

/// The slot count that precedes segment `seg`'s first slot in the biased numbering (the
/// segment's own length: segment `s` starts at index `64 · (2^s − 1)`, which is `j = 64 · 2^s`).
#[inline(always)]
fn bias(seg: usize) -> usize {
    segment_len(seg)
}

fn segment_len(seg: usize) -> usize {
    (1usize << BASE_SHIFT) << seg
}

impl<T: Slot> Sink for Pool<T> {
    fn take_back(&self, head: u32, len: u32) {
        let mut batch = Vec::with_capacity(len as usize);
        let mut next = head;
        while next != 0 {
            let index = next - 1;
            batch.push(index);
            // SAFETY: indices on a free list were allocated, so their segment exists.
            next = unsafe { self.slot_unchecked(index) }
                .free_link()
                .load(Ordering::Relaxed);
        }
        self.shared.lock().free.extend(batch);
    }

    fn release_memory(&self) {
        let mut shared = self.shared.lock();
        // Release: `get` stops handing out slots before their memory goes.
        self.allocated.store(0, Ordering::Release);
        for (seg, segment) in self.segments.iter().enumerate() {
            segment.store(std::ptr::null_mut(), Ordering::Release);
            let ptr = self.starts[seg].swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !ptr.is_null() {
                // SAFETY: `grow` made this pointer from a leaked `Box<[T]>` of exactly
                // `segment_len(seg)` slots, and the swap hands it to this call alone. No
                // object is live and no other thread runs tapir code (the caller's
                // contract), so nothing refers to these slots.
                drop(unsafe {
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, segment_len(seg)))
                });
            }
        }
        shared.free = Vec::new();
        shared.next_fresh = 0;
    }
}

impl<T: Slot> Pool<T> {
    /// An empty pool.
    pub(crate) const fn new() -> Pool<T> {
        Pool {
            id: std::sync::atomic::AtomicUsize::new(NO_ID),
            segments: [const { AtomicPtr::new(std::ptr::null_mut()) }; SEGMENTS],
            starts: [const { AtomicPtr::new(std::ptr::null_mut()) }; SEGMENTS],
            allocated: AtomicU32::new(0),
            shared: Mutex::new(Shared {
                free: Vec::new(),
                next_fresh: 0,
            }),
        }
    }

    /// This pool's index in the threads' free-list blocks.
    #[inline(always)]
    fn id(&'static self) -> usize {
        // Relaxed: the id is assigned once (below) and only names a list.
        match self.id.load(Ordering::Relaxed) {
            NO_ID => self.assign_id(),
            id => id,
        }
    }

    /// This pool's free list in a thread's block.
    #[inline(always)]
    fn list<'a>(&'static self, local: &'a mut Local) -> &'a mut FreeList {
        let id = self.id();
        // SAFETY: an id is only ever set by `assign_id`, which asserts that it is below
        // MAX_POOLS, the length of `lists`.
        unsafe { local.lists.get_unchecked_mut(id) }
    }

    #[cold]
    fn assign_id(&'static self) -> usize {
        static NEXT: Mutex<usize> = Mutex::new(0);
        let mut next = NEXT.lock();
        // Written once, under the mutex; every later read sees this value.
        match self.id.load(Ordering::Relaxed) {
            NO_ID => {
                let id = *next;
                assert!(id < MAX_POOLS, "tapir: more pools than MAX_POOLS");
                *next += 1;
                self.id.store(id, Ordering::Relaxed);
                id
            }
            id => id,
        }
    }

    /// The slot at `index`, if that index has ever been allocated.
    #[inline(always)]
    pub(crate) fn get(&self, index: u32) -> Option<&'static T> {
        // Acquire: pairs with the Release in `grow`, so the segment pointer is set.
        if index >= self.allocated.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: checked just above.
        Some(unsafe { self.slot_unchecked(index) })
    }

    /// # Safety
    /// `index` must be below `allocated` as observed with Acquire by this thread (or
    /// come from a free list or a handle of this pool, which imply it).
    #[inline(always)]
    pub(crate) unsafe fn slot_unchecked(&self, index: u32) -> &'static T {
        let (seg, j) = biased(index);
        debug_assert!(seg < SEGMENTS);
        // SAFETY: `index` was allocated, and `grow` never allocates past the last
        // segment, so `seg < SEGMENTS`.
        let segment = unsafe { self.segments.get_unchecked(seg) };
        // Acquire: pairs with the Release store of the segment pointer in `grow`.
        let base = segment.load(Ordering::Acquire);
        debug_assert!(!base.is_null());
        // `bias(seg) <= j < bias(seg) + segment_len(seg)`: the sum lands inside the
        // segment, on the slot of `index`.
        debug_assert!(j >= bias(seg) && j - bias(seg) < segment_len(seg));
        // SAFETY: `index < allocated`, so segment `seg` was installed by `grow` before
        // `allocated` was raised past it, and `base + j` is its slot `j - bias(seg)`
        // (above), derived from the segment's own pointer; the segment is freed only by
        // `unload` (after which no tapir code runs), so the reference is valid for as
        // long as any caller can hold it.
        unsafe { &*base.wrapping_add(j) }
    }

    /// Takes a free slot. The caller initializes it and publishes it (with a Release
    /// store of its reference word) before any handle to it escapes.
    #[inline]
    pub(crate) fn alloc(&'static self) -> (u32, &'static T) {
        let popped = with_local(|local| {
            let list = self.list(local);
            if list.head == 0 {
                return None;
            }
            let index = list.head - 1;
            // SAFETY: indices on a free list were allocated.
            let slot = unsafe { self.slot_unchecked(index) };
            list.head = slot.free_link().load(Ordering::Relaxed);
            list.len -= 1;
            Some((index, slot))
        });
        match popped {
            Some(found) => found,
            None => self.refill(),
        }
    }

    /// Returns a retired slot (both counts zero, generation already bumped).
    #[inline(always)]
    pub(crate) fn free(&'static self, index: u32, slot: &'static T) {
        let pushed = with_local(|local| {
            if local.exiting {
                return None;
            }
            let list = self.list(local);
            slot.free_link().store(list.head, Ordering::Relaxed);
            list.head = index + 1;
            list.len += 1;
            Some(list.len)
        });
        match pushed {
            Some(len) if len > 2 * BATCH => self.spill(),
            Some(_) => {}
            None => self.shared.lock().free.push(index),
        }
    }

    /// Hands all but the newest BATCH slots of this thread's list to the shared list.
    #[cold]
    #[inline(never)]
    fn spill(&'static self) {
        let rest = with_local(|local| {
            let list = self.list(local);
            // SAFETY: the list holds more than BATCH allocated indices.
            let mut cut = unsafe { self.slot_unchecked(list.head - 1) };
            for _ in 1..BATCH {
                let next = cut.free_link().load(Ordering::Relaxed);
                // SAFETY: as above.
                cut = unsafe { self.slot_unchecked(next - 1) };
            }
            let rest = cut.free_link().swap(0, Ordering::Relaxed);
            let rest_len = list.len - BATCH;
            list.len = BATCH;
            (rest, rest_len)
        });
        self.take_back(rest.0, rest.1);
    }

    /// Moves a batch of free indices into this thread's list and returns one of them.
    #[cold]
    fn refill(&'static self) -> (u32, &'static T) {
        let _ = SINKS[self.id()].set(self);
        hand_back_at_exit();
        let batch: Vec<u32> = {
            let mut shared = self.shared.lock();
            let take = shared.free.len().min(BATCH as usize);
            let start = shared.free.len() - take;
            let mut batch: Vec<u32> = shared.free.drain(start..).collect();
            if batch.is_empty() {
                batch.extend(self.grow(&mut shared, BATCH));
            }
            batch
        };
        let (&first, rest) = batch.split_first().expect("refill yields an index");
        let handed = with_local(|local| {
            if local.exiting {
                return false;
            }
            let list = self.list(local);
            for &index in rest {
                // SAFETY: fresh or shared-list indices were allocated.
                let slot = unsafe { self.slot_unchecked(index) };
                slot.free_link().store(list.head, Ordering::Relaxed);
                list.head = index + 1;
                list.len += 1;
            }
            true
        });
        if !handed {
            self.shared.lock().free.extend_from_slice(rest);
        }
        // SAFETY: as above.
        (first, unsafe { self.slot_unchecked(first) })
    }

    /// Reserves `count` never-used indices, installing segments as needed.
    fn grow(&self, shared: &mut Shared, count: u32) -> std::ops::Range<u32> {
        let start = shared.next_fresh;
        let end = start
            .checked_add(count)
            .filter(|&e| locate(e - 1).0 < SEGMENTS)
            .expect("tapir: handle space exhausted (2^32 objects of one kind)");
        let (last_seg, _) = locate(end - 1);
        for seg in 0..=last_seg {
            if self.segments[seg].load(Ordering::Relaxed).is_null() {
                let slots: Box<[T]> = (0..segment_len(seg)).map(|_| T::default()).collect();
                // Leaked on purpose: slots are type-stable for as long as the library is
                // loaded (`release_memory` frees them when it is unloaded).
                let ptr = Box::leak(slots).as_mut_ptr();
                self.starts[seg].store(ptr, Ordering::Relaxed);
                self.segments[seg].store(ptr.wrapping_sub(bias(seg)), Ordering::Release);
            }
        }
        shared.next_fresh = end;
        // Release: publishes the segment pointers stored above to `get`.
        self.allocated.store(end, Ordering::Release);
        start..end
    }

    /// Calls `f` with every slot ever allocated (live or free) and its index.
    /// O(slots ever allocated); diagnostics only.
    pub(crate) fn scan(&self, mut f: impl FnMut(u32, &'static T)) {
        let n = self.allocated.load(Ordering::Acquire);
        for i in 0..n {
            if let Some(slot) = self.get(i) {
                f(i, slot);
            }
        }
    }

    /// Counts live objects, immortal singletons excluded. O(slots ever allocated);
    /// diagnostics only.
    pub(crate) fn live(&self) -> usize {
        let n = self.allocated.load(Ordering::Acquire);
        (0..n)
            .filter(|&i| self.get(i).is_some_and(|s| s.counts_as_live()))
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

    #[derive(Default)]
    struct Probe {
        link: AtomicU32,
        live: std::sync::atomic::AtomicBool,
    }
    impl Slot for Probe {
        fn free_link(&self) -> &AtomicU32 {
            &self.link
        }
        fn counts_as_live(&self) -> bool {
            self.live.load(Ordering::Relaxed)
        }
    }

    static PROBES: Pool<Probe> = Pool::new();

    #[test]
    fn slots_are_reused_and_lists_spill_and_refill() {
        let mut taken = Vec::new();
        for _ in 0..1000 {
            let (i, s) = PROBES.alloc();
            s.live.store(true, Ordering::Relaxed);
            taken.push((i, s));
        }
        let mut seen: Vec<u32> = taken.iter().map(|(i, _)| *i).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1000, "no index handed out twice");
        assert_eq!(PROBES.live(), 1000);
        for (i, s) in taken.drain(..) {
            s.live.store(false, Ordering::Relaxed);
            PROBES.free(i, s);
        }
        assert_eq!(PROBES.live(), 0);
        // Everything freed is reused before the pool grows again.
        let before = PROBES.allocated.load(Ordering::Relaxed);
        let again: Vec<_> = (0..1000).map(|_| PROBES.alloc()).collect();
        assert_eq!(PROBES.allocated.load(Ordering::Relaxed), before);
        for (i, s) in again {
            PROBES.free(i, s);
        }
        // A thread's list goes back to the pool when the thread ends.
        let shared_before = PROBES.shared.lock().free.len();
        let index = std::thread::spawn(|| {
            let (i, s) = PROBES.alloc();
            PROBES.free(i, s);
            i
        })
        .join()
        .unwrap();
        let shared = PROBES.shared.lock();
        assert!(
            shared.free.contains(&index),
            "the exiting thread handed its slots back"
        );
        assert!(
            shared.free.len() >= shared_before,
            "nothing was lost on the way"
        );
    }
}
