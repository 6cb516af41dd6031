//! Models of the reference word ([`RefWord`]): a generation and two counts in one
//! atomic. The object's "body" is a loom `UnsafeCell` that the thread seeing
//! `Released::Last` tears down (writes) before `retire`; loom reports any access by a
//! holder that is not ordered before that teardown. Teardowns are counted so "exactly
//! once" is checked directly.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::core::refword::{RefWord, Released};

const ALIVE: u32 = 1;
const DEAD: u32 = 2;

/// A pooled slot reduced to its reference word and a body.
struct Slot {
    word: RefWord,
    body: UnsafeCell<u32>,
    teardowns: AtomicUsize,
}

// SAFETY: the body is read by reference holders and written only by the thread that
// released the last reference (loom checks this); the rest is atomic.
unsafe impl Sync for Slot {}

impl Slot {
    /// A live slot with `user` and `internal` references; returns it and its generation.
    fn new(user: u32, internal: u32) -> (Arc<Slot>, u32) {
        let slot = Arc::new(Slot {
            word: RefWord::default(),
            body: UnsafeCell::new(ALIVE),
            teardowns: AtomicUsize::new(0),
        });
        let generation = slot.word.activate(user, internal);
        (slot, generation)
    }

    /// A holder uses the object: it must still be alive.
    fn touch(&self) {
        // SAFETY: the caller holds a reference, so no teardown can run concurrently
        // (the property under test: loom reports a race otherwise).
        let v = self.body.with(|b| unsafe { *b });
        assert_eq!(v, ALIVE, "a reference holder saw a torn-down object");
    }

    /// Handles a release result: `Last` tears down and retires.
    fn on_release(&self, r: Released) -> Released {
        if r == Released::Last {
            // SAFETY: this thread released the last reference: it alone owns the body
            // (the property under test: loom reports a race otherwise).
            self.body.with_mut(|b| unsafe {
                assert_eq!(*b, ALIVE, "torn down twice");
                *b = DEAD;
            });
            self.teardowns.fetch_add(1, Ordering::Relaxed);
            self.word.retire();
        }
        r
    }

    fn release(&self, generation: u32) -> Released {
        self.on_release(self.word.release(generation))
    }

    fn release_owned(&self) -> Released {
        self.on_release(self.word.release_owned())
    }

    fn teardowns(&self) -> usize {
        self.teardowns.load(Ordering::Relaxed)
    }
}

/// The last release racing a retain through another copy of the handle (one user
/// reference, so the retain is by a caller who does not own one): the retain either
/// lands before the release (then the object lives until the later of the two
/// releases, which alone is `Last`) or finds the count at zero / the generation
/// bumped and fails. A successful retain never resurrects an object whose count
/// reached zero.
#[test]
fn loom_refword_last_release_vs_retain() {
    loom::model(|| {
        let (slot, g) = Slot::new(1, 0);
        let releaser = {
            let slot = slot.clone();
            thread::spawn(move || slot.release(g))
        };
        let retainer = {
            let slot = slot.clone();
            thread::spawn(move || {
                if slot.word.retain(g) {
                    slot.touch();
                    Some(slot.release(g))
                } else {
                    None
                }
            })
        };
        let first = releaser.join().unwrap();
        let second = retainer.join().unwrap();
        match second {
            // Retained in time: of the two releases, whichever comes second is last.
            Some(r) => assert!(
                (first == Released::Last) ^ (r == Released::Last),
                "exactly one Last: first={first:?} retainer={r:?}"
            ),
            None => assert_eq!(first, Released::Last),
        }
        assert_eq!(slot.teardowns(), 1);
        assert!(!slot.word.retain(g), "a retired object cannot be retained");
        assert!(!slot.word.exists(g));
    });
}

/// A user over-release racing the library's internal release: one user reference is
/// released twice (the second is misuse) on two threads while a third drops the
/// internal reference. Exactly one user release succeeds, the other is refused as
/// Invalid, and exactly one of all the releases sees `Last`: one teardown.
#[test]
fn loom_refword_user_over_release_vs_internal_release() {
    loom::model(|| {
        let (slot, g) = Slot::new(1, 1);
        let user_a = {
            let slot = slot.clone();
            thread::spawn(move || slot.release(g))
        };
        let user_b = {
            let slot = slot.clone();
            thread::spawn(move || slot.release(g))
        };
        slot.touch();
        let internal = slot.release_owned();
        let (a, b) = (user_a.join().unwrap(), user_b.join().unwrap());
        let results = [a, b, internal];
        let lasts = results.iter().filter(|&&r| r == Released::Last).count();
        let invalid = results.iter().filter(|&&r| r == Released::Invalid).count();
        assert_eq!(lasts, 1, "exactly one Last: {results:?}");
        assert_eq!(invalid, 1, "the over-release is refused: {results:?}");
        assert!(
            a == Released::Invalid || b == Released::Invalid,
            "{results:?}"
        );
        assert_eq!(slot.teardowns(), 1);
    });
}

/// `internal_to_user` (the library handing its internal reference to a caller as a new user
/// handle) racing the caller's release of the original user handle: the object stays
/// alive through the hand-over (the new handle is live), and exactly one of the two
/// user releases is the last.
#[test]
fn loom_refword_internal_to_user_vs_release() {
    loom::model(|| {
        let (slot, g) = Slot::new(1, 1);
        let library = {
            let slot = slot.clone();
            thread::spawn(move || {
                slot.word.internal_to_user();
                assert!(slot.word.is_live(g), "the handed-over handle is live");
                slot.touch();
                slot.release(g)
            })
        };
        let caller = slot.release(g);
        let library = library.join().unwrap();
        assert_ne!(caller, Released::Invalid);
        assert_ne!(library, Released::Invalid);
        assert!(
            (caller == Released::Last) ^ (library == Released::Last),
            "exactly one Last: caller={caller:?} library={library:?}"
        );
        assert_eq!(slot.teardowns(), 1);
    });
}

/// Upgrading a weak name (a handle kept without a reference) racing the last release:
/// the upgrade lands first (the holder may use the object, and the later of the two
/// releases is the last) or fails (count zero, or generation bumped by `retire`). Never an
/// upgrade of a dead object, never two teardowns.
#[test]
fn loom_refword_upgrade_vs_last_release() {
    loom::model(|| {
        let (slot, g) = Slot::new(1, 0);
        let weak = {
            let slot = slot.clone();
            thread::spawn(move || {
                if slot.word.upgrade(g) {
                    slot.touch();
                    Some(slot.release_owned())
                } else {
                    None
                }
            })
        };
        let user = slot.release(g);
        match weak.join().unwrap() {
            Some(r) => assert!(
                (user == Released::Last) ^ (r == Released::Last),
                "exactly one Last: user={user:?} upgraded={r:?}"
            ),
            None => assert_eq!(user, Released::Last),
        }
        assert_eq!(slot.teardowns(), 1);
        assert!(!slot.word.upgrade(g), "a retired object cannot be upgraded");
    });
}
