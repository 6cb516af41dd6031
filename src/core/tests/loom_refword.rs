//! Loom models of the reference word (`memory::refword`): pins, upgrades and releases
//! racing the last reference.

use loom::sync::Arc;
use loom::thread;

use crate::core::memory::refword::{RefWord, Released};

/// A call pinning a handle races the release of its last user reference: either the
/// pin fails and the release was the last, or the pin holds the object and its own
/// release is the last. Exactly one Last.
#[test]
fn loom_pin_racing_last_user_release() {
    loom::model(|| {
        let w = Arc::new(RefWord::default());
        let g = w.activate(1, 0);
        let w2 = w.clone();
        let t = thread::spawn(move || {
            if w2.pin(g) {
                Some(w2.release_internal())
            } else {
                None
            }
        });
        let a = w.release_user(g);
        let b = t.join().unwrap();
        let lasts = [Some(a), b]
            .iter()
            .filter(|r| **r == Some(Released::Last))
            .count();
        assert_eq!(lasts, 1, "{a:?} {b:?}");
    });
}

/// A weak name upgraded while the last internal reference goes: never revives a dead
/// object.
#[test]
fn loom_upgrade_racing_last_release() {
    loom::model(|| {
        let w = Arc::new(RefWord::default());
        let g = w.activate(0, 1);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.upgrade(g));
        let released = w.release_internal();
        let upgraded = t.join().unwrap();
        match released {
            Released::Last => assert!(!upgraded),
            Released::Alive => {
                assert!(upgraded);
                assert_eq!(w.release_internal(), Released::Last);
            }
            other => panic!("{other:?}"),
        }
    });
}

/// A user handle's second release, racing, is refused while a library reference
/// keeps the object.
#[test]
fn loom_user_over_release_with_library_reference() {
    loom::model(|| {
        let w = Arc::new(RefWord::default());
        let g = w.activate(1, 1);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.release_user(g));
        let a = w.release_user(g);
        let b = t.join().unwrap();
        let rs = [a, b];
        assert!(
            rs.contains(&Released::Invalid) && rs.contains(&Released::LastUser),
            "{rs:?}"
        );
        assert_eq!(w.release_internal(), Released::Last);
    });
}
