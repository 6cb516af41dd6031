//! A cache's lock-free hits: a small direct-mapped table of recently used entries, kept
//! in the cache's pooled slot beside (not inside) the value, so a hit reads it without
//! pinning the cache or taking its mutex.
//!
//! ```text
//! line: seq, tag = VALID << 40 | len << 32 | generation, hash, key (4 words), task
//! ```
//!
//! Each line is a sequence lock: only the cache's mutex holder writes lines (a hit or
//! an insertion under the mutex publishes its entry, a removal forgets it, `clear`
//! forgets all), bumping `seq` to odd before and to even after; a reader takes a line
//! only if `seq` was even and unchanged across its loads, so what it read is one
//! entry, never a mix of two. Every field is an atomic word, so a torn read is only
//! ever discarded, never undefined. Keys of up to [`KEY_MAX`] bytes are kept whole and
//! compared whole; the tag's generation is the cache's, so a stale cache handle (even
//! one whose slot was reused) finds nothing.
//!
//! What a hit returns is a task handle's bits: the caller mints a user reference only
//! if that task is still this generation and still held (by the entry, or anyone else),
//! in one compare-exchange on the task's word; a line that outlived its entry by a few
//! instructions can so only hand out a task that was the key's when the line was read.
//!
//! Orderings: the writer's odd store, Release fence, Relaxed data stores, Release even
//! store; the reader's Acquire load of `seq`, Relaxed data loads, Acquire fence, Relaxed
//! load of `seq` (the classic sequence-lock pairing).

use crate::core::sync::{AtomicU64, Ordering, fence};

/// Lines per cache.
pub(crate) const LINES: usize = 16;
/// The longest key a line keeps.
pub(crate) const KEY_MAX: usize = 32;
const KEY_WORDS: usize = KEY_MAX / 8;
const VALID: u64 = 1 << 40;

#[derive(Default)]
#[repr(align(64))]
struct Line {
    seq: AtomicU64,
    tag: AtomicU64,
    hash: AtomicU64,
    key: [AtomicU64; KEY_WORDS],
    task: AtomicU64,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Hot {
    lines: [Line; LINES],
}

fn pack(key: &[u8]) -> [u64; KEY_WORDS] {
    let mut words = [0u64; KEY_WORDS];
    for (i, chunk) in key.chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        words[i] = u64::from_le_bytes(b);
    }
    words
}

fn tag(generation: u32, len: usize) -> u64 {
    VALID | (len as u64) << 32 | generation as u64
}

impl Hot {
    fn line(&self, hash: u64) -> &Line {
        &self.lines[(hash as usize) % LINES]
    }

    /// The task bits of the entry for `key` (hashed to `hash`) of the cache of
    /// `generation`, if a line holds it.
    #[inline]
    pub(crate) fn lookup(&self, generation: u32, hash: u64, key: &[u8]) -> Option<u64> {
        if key.len() > KEY_MAX {
            return None;
        }
        let l = self.line(hash);
        // Acquire: pairs with the writer's Release store of the even `seq`.
        let s1 = l.seq.load(Ordering::Acquire);
        if s1 & 1 != 0 {
            return None;
        }
        // Relaxed: validated by `seq` below.
        let t = l.tag.load(Ordering::Relaxed);
        let h = l.hash.load(Ordering::Relaxed);
        let mut k = [0u64; KEY_WORDS];
        for (w, a) in k.iter_mut().zip(&l.key) {
            *w = a.load(Ordering::Relaxed);
        }
        let task = l.task.load(Ordering::Relaxed);
        // Acquire: the loads above happen before the second read of `seq`, so a writer
        // that changed any of them has changed `seq` too (pairs with its Release fence).
        fence(Ordering::Acquire);
        if l.seq.load(Ordering::Relaxed) != s1 {
            return None;
        }
        (t == tag(generation, key.len()) && h == hash && k == pack(key)).then_some(task)
    }

    /// Publishes the entry of `key` (the mutex holder only). Keys longer than
    /// [`KEY_MAX`] are not kept.
    pub(crate) fn publish(&self, generation: u32, hash: u64, key: &[u8], task: u64) {
        if key.len() > KEY_MAX {
            return;
        }
        let l = self.line(hash);
        let t = tag(generation, key.len());
        if l.tag.load(Ordering::Relaxed) == t
            && l.hash.load(Ordering::Relaxed) == hash
            && l.task.load(Ordering::Relaxed) == task
        {
            return; // already there (the same task is the same key's entry)
        }
        let k = pack(key);
        Self::write(l, |l| {
            l.tag.store(t, Ordering::Relaxed);
            l.hash.store(hash, Ordering::Relaxed);
            for (a, w) in l.key.iter().zip(k) {
                a.store(w, Ordering::Relaxed);
            }
            l.task.store(task, Ordering::Relaxed);
        });
    }

    /// Forgets the entry whose task is `task` (the mutex holder only), if its line
    /// holds it.
    pub(crate) fn forget(&self, hash: u64, task: u64) {
        let l = self.line(hash);
        if l.task.load(Ordering::Relaxed) == task && l.tag.load(Ordering::Relaxed) & VALID != 0 {
            Self::write(l, |l| l.tag.store(0, Ordering::Relaxed));
        }
    }

    /// Forgets every entry (the mutex holder, or the last reference's holder).
    pub(crate) fn clear(&self) {
        for l in &self.lines {
            if l.tag.load(Ordering::Relaxed) & VALID != 0 {
                Self::write(l, |l| l.tag.store(0, Ordering::Relaxed));
            }
        }
    }

    /// One write of a line, bracketed by its sequence (a single writer at a time).
    fn write(l: &Line, f: impl FnOnce(&Line)) {
        let s = l.seq.load(Ordering::Relaxed);
        l.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // Release: the odd `seq` is visible before any data store (pairs with the
        // reader's Acquire fence).
        fence(Ordering::Release);
        f(l);
        // Release: the data stores happen before the even `seq`.
        l.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn publish_lookup_forget() {
        let hot = Hot::default();
        assert_eq!(hot.lookup(1, 7, b"user:42"), None);
        hot.publish(1, 7, b"user:42", 99);
        assert_eq!(hot.lookup(1, 7, b"user:42"), Some(99));
        assert_eq!(hot.lookup(2, 7, b"user:42"), None, "another generation");
        assert_eq!(hot.lookup(1, 7, b"user:43"), None, "another key");
        assert_eq!(hot.lookup(1, 7, b"user:4"), None, "a prefix");
        assert_eq!(
            hot.lookup(1, 7 + LINES as u64, b"user:42"),
            None,
            "another hash"
        );
        hot.forget(7, 98);
        assert_eq!(hot.lookup(1, 7, b"user:42"), Some(99), "another task");
        hot.forget(7, 99);
        assert_eq!(hot.lookup(1, 7, b"user:42"), None);
        let long = [b'x'; KEY_MAX + 1];
        hot.publish(1, 3, &long, 5);
        assert_eq!(hot.lookup(1, 3, &long), None);
        let full = [b'y'; KEY_MAX];
        hot.publish(1, 3, &full, 5);
        assert_eq!(hot.lookup(1, 3, &full), Some(5));
        hot.clear();
        assert_eq!(hot.lookup(1, 3, &full), None);
    }
}
