//! Loom models of the task word (`task::word`): the transitions that must pick exactly
//! one thread for teardown, and the lock's exclusion.

use loom::sync::Arc;
use loom::thread;

use crate::core::sync::UnsafeCell;
use crate::core::task::word::{COMPLETED, Final, LENT, Release, Snapshot, TaskWord};

const GEN: u32 = 5;

fn word(user: u64, sources: u64, bits: u64) -> Arc<TaskWord> {
    let w = TaskWord::default();
    w.publish(Snapshot::initial(GEN, user, sources, bits));
    Arc::new(w)
}

fn completed(user: u64, sources: u64, bits: u64) -> Arc<TaskWord> {
    let w = TaskWord::default();
    w.publish(Snapshot::initial(GEN, user, sources, bits).with_status(Final::Succeeded));
    Arc::new(w)
}

/// The last task handle and the last source handle released at once: exactly one of
/// them sets DYING.
#[test]
fn loom_last_task_and_source_release_pick_one_teardown() {
    loom::model(|| {
        let w = completed(1, 1, 0);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.release_user(GEN));
        let a = w.release_source(GEN, true);
        let b = t.join().unwrap();
        let dying = [a, b].iter().filter(|r| **r == Release::Dying).count();
        assert_eq!(dying, 1, "{a:?} {b:?}");
    });
}

/// The completer clearing LENT races the last handle's release: exactly one tears down.
#[test]
fn loom_lent_clear_and_last_release_pick_one_teardown() {
    loom::model(|| {
        let w = completed(1, 0, LENT);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.clear_lent());
        let a = w.release_user(GEN);
        let b = t.join().unwrap();
        let dying = [a, b].iter().filter(|r| **r == Release::Dying).count();
        assert_eq!(dying, 1, "{a:?} {b:?}");
    });
}

/// A handle released twice at once: one release counts, the other is refused.
#[test]
fn loom_concurrent_double_release_is_refused_once() {
    loom::model(|| {
        let w = word(1, 1, 0);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.release_user(GEN));
        let a = w.release_user(GEN);
        let b = t.join().unwrap();
        let rs = [a, b];
        assert!(rs.contains(&Release::Invalid), "{rs:?}");
        assert!(rs.contains(&Release::Alive), "{rs:?}");
    });
}

/// A retain racing the release of the last reference either lands first (the task
/// lives on) or is refused (the task dies): never both.
#[test]
fn loom_retain_racing_last_release() {
    loom::model(|| {
        let w = completed(1, 0, 0);
        let w2 = w.clone();
        let t = thread::spawn(move || w2.retain_user(GEN).is_ok());
        let released = w.release_user(GEN);
        let retained = t.join().unwrap();
        match released {
            Release::Dying => assert!(!retained),
            Release::Alive => {
                assert!(retained);
                assert_eq!(w.load().user(), 1);
            }
            other => panic!("{other:?}"),
        }
    });
}

/// LOCKED excludes: two threads editing a field under it never overlap (loom's cell
/// checks the accesses), and the word ends as the last holder stored it.
#[test]
fn loom_lock_excludes_and_orders() {
    loom::model(|| {
        let w = word(1, 1, 0);
        let data = Arc::new(UnsafeCell::new(0u32));
        let spawn = |w: Arc<TaskWord>, data: Arc<UnsafeCell<u32>>| {
            thread::spawn(move || {
                let held = w.lock(|_| Ok(())).unwrap();
                // SAFETY: LOCKED is held.
                data.with_mut(|p| unsafe { *p += 1 });
                w.store_held(held);
            })
        };
        let a = spawn(w.clone(), data.clone());
        let b = spawn(w.clone(), data.clone());
        a.join().unwrap();
        b.join().unwrap();
        // SAFETY: both writers joined.
        assert_eq!(data.with(|p| unsafe { *p }), 2);
        assert!(!w.load().has(crate::core::task::word::LOCKED));
        assert!(!w.load().has(COMPLETED));
    });
}
