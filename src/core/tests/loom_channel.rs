//! Loom models of the channel's fast path (`primitives::ring`, `primitives::gate`) with
//! the real ring and gate: a reader parking on an empty ring racing a fast push (the
//! lost-wakeup race), a writer parking on a full ring racing a fast pop, pushes and
//! pops racing for exactly-once FIFO delivery, disposal racing a push, and the gate
//! keeping the value in place while a call is inside.
//!
//! The channel's mutex and its waiter queues need the engine; here a loom mutex over
//! a stand-in waiter plays them, doing what the channel's locked paths do with the
//! ring (`read_locked` / `write_locked` / `settle`).

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::core::primitives::gate::Gate;
use crate::core::primitives::ring::{Pop, Refused, Ring};
use crate::core::sync::UnsafeCell;

/// The mutex-guarded part of a model channel: one parked waiter at most.
#[derive(Default)]
struct Locked {
    /// A reader parked (waiting for an item) or a writer parked (with its item).
    parked_reader: bool,
    parked_writer: Option<u32>,
    /// What the parked reader was handed.
    handed: Option<u32>,
}

struct Model {
    ring: Ring<u32>,
    lock: Mutex<Locked>,
}

impl Model {
    fn new(cap: usize) -> Arc<Model> {
        Arc::new(Model {
            ring: Ring::new(cap),
            lock: Mutex::new(Locked::default()),
        })
    }

    /// A write as `try_write`/`write_async` do it: the fast push, else under the lock
    /// to a parked reader or into the ring.
    fn write(&self, v: u32) {
        match self.ring.push(v) {
            Ok(()) => {}
            Err((Refused::Marked, v)) => {
                let mut g = self.lock.lock().unwrap();
                if g.parked_reader {
                    g.parked_reader = false;
                    g.handed = Some(v);
                } else {
                    assert!(self.ring.push_locked(v).is_ok(), "room: nobody else pushes");
                }
                // settle: no waiter left
                if !g.parked_reader {
                    self.ring.set_marks(false, false);
                }
            }
            Err((Refused::Full, _)) => panic!("the model never fills the ring here"),
        }
    }
}

/// The lost-wakeup race: a reader finds the ring empty and parks (marking the tail in
/// the step that finds it empty) while a writer pushes. Either the push lands first
/// and the reader takes the item, or the writer sees the mark and hands the item to
/// the parked reader. Never an item in the ring with a reader parked.
#[test]
fn loom_reader_parking_racing_fast_push() {
    loom::model(|| {
        let m = Model::new(2);
        let w = m.clone();
        let writer = thread::spawn(move || w.write(7));
        // The reader: `read_async` on an empty ring goes to the mutex and parks.
        let got_at_once = {
            let mut g = m.lock.lock().unwrap();
            loop {
                if let Some(v) = m.ring.pop_locked() {
                    break Some(v);
                }
                if m.ring.mark_tail_if_empty() {
                    g.parked_reader = true;
                    break None;
                }
            }
        };
        writer.join().unwrap();
        let g = m.lock.lock().unwrap();
        match got_at_once {
            Some(v) => {
                assert_eq!(v, 7);
                assert!(g.handed.is_none());
            }
            None => assert_eq!(g.handed, Some(7), "the parked reader was not served"),
        }
        assert!(!g.parked_reader);
        assert_eq!(m.ring.len(), 0);
    });
}

/// A writer finds the ring full and parks (marking the head in the step that finds it
/// full) while a reader pops. Either the pop lands first and the writer's item goes in,
/// or the reader sees the mark and, under the mutex, refills the ring from the parked
/// writer. Never a writer parked with room in the ring.
#[test]
fn loom_writer_parking_racing_fast_pop() {
    loom::model(|| {
        let m = Model::new(1);
        assert!(m.ring.push(1).is_ok());
        let r = m.clone();
        let reader = thread::spawn(move || match r.ring.pop() {
            Pop::Item(v) => v,
            Pop::Marked => {
                let mut g = r.lock.lock().unwrap();
                let v = r.ring.pop_locked().expect("a full ring");
                if let Some(item) = g.parked_writer.take() {
                    assert!(r.ring.push_locked(item).is_ok(), "the pop made room");
                }
                r.ring.set_marks(false, false);
                v
            }
            Pop::Empty { .. } => panic!("the ring holds an item"),
        });
        {
            // The writer: `write_async` on a full ring goes to the mutex; write_locked
            // marks the tail, then parks only if the head mark finds the ring full.
            let mut g = m.lock.lock().unwrap();
            m.ring.set_marks(false, true);
            loop {
                if m.ring.push_locked(2).is_ok() {
                    m.ring.set_marks(false, false);
                    break;
                }
                if m.ring.mark_head_if_full() {
                    g.parked_writer = Some(2);
                    break;
                }
            }
        }
        assert_eq!(reader.join().unwrap(), 1);
        let g = m.lock.lock().unwrap();
        assert!(g.parked_writer.is_none(), "a writer left parked with room");
        assert_eq!(m.ring.pop(), Pop::Item(2));
    });
}

/// Two producers and a consumer on a ring of two: every item is taken exactly once,
/// each producer's items in the order it pushed them.
#[test]
fn loom_pushes_and_pops_exactly_once_in_order() {
    loom::model(|| {
        let ring = Arc::new(Ring::<u32>::new(2));
        let producers: Vec<_> = [10u32, 20]
            .into_iter()
            .map(|base| {
                let r = ring.clone();
                thread::spawn(move || {
                    let mut pushed = 0;
                    for v in [base, base + 1] {
                        if r.push(v).is_ok() {
                            pushed += 1;
                        }
                    }
                    pushed
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Pop::Item(v) = ring.pop() {
                got.push(v);
            }
        }
        let pushed: u32 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        while let Pop::Item(v) = ring.pop() {
            got.push(v);
        }
        assert_eq!(got.len() as u32, pushed, "{got:?}");
        for base in [10, 20] {
            let mine: Vec<_> = got.iter().filter(|&&v| v / 10 == base / 10).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        }
    });
}

/// Disposal marks both ends and drains the ring while a fast push races it: a push
/// that was accepted is drained (its destroy would run there), one that was not saw
/// the mark; nothing is left behind.
#[test]
fn loom_dispose_racing_fast_push() {
    loom::model(|| {
        let ring = Arc::new(Ring::<u32>::new(2));
        let r = ring.clone();
        let pusher = thread::spawn(move || r.push(5).is_ok());
        ring.set_marks(true, true);
        let mut drained = Vec::new();
        while let Some(v) = ring.pop_locked() {
            drained.push(v);
        }
        let pushed = pusher.join().unwrap();
        assert_eq!(drained, if pushed { vec![5] } else { vec![] });
        assert!(matches!(ring.push(6), Err((Refused::Marked, 6))));
        assert_eq!(ring.len(), 0);
    });
}

/// The gate: a call inside keeps the value in place; `drain` returns only once it
/// has left, and a call after `close` (or of another generation) is refused.
#[test]
fn loom_gate_drain_waits_for_calls_inside() {
    loom::model(|| {
        struct Slot {
            gate: Gate,
            value: UnsafeCell<u32>,
            entered: AtomicUsize,
        }
        // SAFETY (model): `value` is written only by the drainer after `drain`, read
        // only inside the gate; loom checks that claim.
        unsafe impl Sync for Slot {}
        let s = Arc::new(Slot {
            gate: Gate::default(),
            value: UnsafeCell::new(1),
            entered: AtomicUsize::new(0),
        });
        s.gate.open(4);
        let c = s.clone();
        let caller = thread::spawn(move || {
            if c.gate.enter(4) {
                // SAFETY: inside the gate, the value is not moved out.
                let v = c.value.with(|p| unsafe { *p });
                assert_eq!(v, 1);
                c.entered.fetch_add(1, Ordering::Relaxed);
                c.gate.leave();
            }
            assert!(!c.gate.enter(3), "another generation");
        });
        s.gate.drain();
        // SAFETY: drained: no call is inside, and none can enter.
        s.value.with_mut(|p| unsafe { *p = 0 });
        assert!(!s.gate.enter(4));
        caller.join().unwrap();
    });
}
