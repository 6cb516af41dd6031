//! Loom models of the semaphore's permit word (`primitives::permits`): the lock-free
//! take and give racing each other, a waiter queueing, and disposal.

use loom::sync::Arc;
use loom::thread;

use crate::core::primitives::permits::{Fast, Permits};

/// Two fast takes race for one permit while a give adds another: every permit is
/// taken at most once, and the count ends consistent (takes + count == 2).
#[test]
fn loom_takes_and_give_conserve_permits() {
    loom::model(|| {
        let p = Arc::new(Permits::default());
        p.open(7, 1);
        let (a, b) = (p.clone(), p.clone());
        let ta = thread::spawn(move || a.try_take(7, 1).is_done() as u32);
        let tb = thread::spawn(move || b.try_take(7, 1).is_done() as u32);
        let gave = p.try_give(7, 1, 4);
        assert!(matches!(gave, Fast::Done(0 | 1)), "{gave:?}");
        let taken = ta.join().unwrap() + tb.join().unwrap();
        assert_eq!(taken + p.count_now(), 2);
    });
}

/// A waiter queueing (under the semaphore's mutex) races a fast give: either the give
/// lands first and the waiter takes the permit at once, or the give sees QUEUED and
/// must take the slow path (which serves the waiter). Never both, never neither: the
/// permit is not lost.
#[test]
fn loom_queueing_waiter_racing_fast_give() {
    loom::model(|| {
        let p = Arc::new(Permits::default());
        p.open(3, 0);
        let g = p.clone();
        let giver = thread::spawn(move || g.try_give(3, 1, 1));
        let took_at_once = p.take_or_queue(1, true);
        let gave = giver.join().unwrap();
        match (took_at_once, gave) {
            (true, Fast::Done(0)) => assert_eq!(p.count_now(), 0),
            (false, Fast::Slow) => {
                // the slow path, under the mutex: the permit reaches the waiter
                assert_eq!(p.add_queued(1, 1), Some(0));
                assert!(p.take_queued(1));
                p.clear_queued();
                assert_eq!(p.count_now(), 0);
            }
            other => panic!("lost or doubled permit: {other:?}"),
        }
    });
}

/// Disposal racing a take: after `close` no fast path succeeds, and a stale
/// generation never does.
#[test]
fn loom_close_racing_take() {
    loom::model(|| {
        let p = Arc::new(Permits::default());
        p.open(5, 1);
        let c = p.clone();
        let closer = thread::spawn(move || c.close());
        let r = p.try_take(5, 1);
        closer.join().unwrap();
        assert!(matches!(r, Fast::Done(1) | Fast::Slow), "{r:?}");
        assert_eq!(p.try_take(5, 1), Fast::Slow);
        assert_eq!(p.try_give(5, 1, 9), Fast::Slow);
        assert_eq!(p.try_take(4, 1), Fast::Slow);
        assert_eq!(p.count(5), None);
    });
}
