//! Loom models of the channel's fast path (`primitives::ring`) with the real ring: a
//! reader parking on an empty ring racing a fast push (the lost-wakeup race), a writer
//! parking on a full ring racing a fast pop, pushes and pops racing for exactly-once
//! FIFO delivery, disposal racing a push, and the retirement of a channel racing fast
//! calls (a claim keeps the value in place until the call is done with it, and a stale
//! handle claims nothing in the slot's next channel).
//!
//! The channel's mutex and its waiter queues need the engine; here a loom mutex over
//! a stand-in waiter plays them, doing what the channel's locked paths do with the
//! ring (`read_locked` / `write_locked` / `settle`).

use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::core::primitives::ring::{Ends, Pop, Refused, Ring, Unclaimed};
use crate::core::sync::UnsafeCell;

/// The generation the models' channels are opened with.
const GEN: u32 = 4;

/// A ring of `cap` values with its own open ends.
fn ring(cap: usize) -> Ring<u32, Box<Ends>> {
    let ends = Box::new(Ends::default());
    ends.open(GEN, cap, true);
    Ring::new(ends, cap)
}

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
    ring: Ring<u32, Box<Ends>>,
    lock: Mutex<Locked>,
}

impl Model {
    fn new(cap: usize) -> Arc<Model> {
        Arc::new(Model {
            ring: ring(cap),
            lock: Mutex::new(Locked::default()),
        })
    }

    /// A write as `try_write`/`write_async` do it: the fast push, else under the lock
    /// to a parked reader or into the ring.
    fn write(&self, v: u32) {
        match self.ring.push(GEN, v) {
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
        assert!(m.ring.push(GEN, 1).is_ok());
        let r = m.clone();
        let reader = thread::spawn(move || match r.ring.pop(GEN) {
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
        assert_eq!(m.ring.pop(GEN), Pop::Item(2));
    });
}

/// Two producers and a consumer on a ring of two: every item is taken exactly once,
/// each producer's items in the order it pushed them.
#[test]
fn loom_pushes_and_pops_exactly_once_in_order() {
    loom::model(|| {
        let ring = Arc::new(ring(2));
        let producers: Vec<_> = [10u32, 20]
            .into_iter()
            .map(|base| {
                let r = ring.clone();
                thread::spawn(move || {
                    let mut pushed = 0;
                    for v in [base, base + 1] {
                        if r.push(GEN, v).is_ok() {
                            pushed += 1;
                        }
                    }
                    pushed
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Pop::Item(v) = ring.pop(GEN) {
                got.push(v);
            }
        }
        let pushed: u32 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        while let Pop::Item(v) = ring.pop(GEN) {
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
        let ring = Arc::new(ring(2));
        let r = ring.clone();
        let pusher = thread::spawn(move || r.push(GEN, 5).is_ok());
        ring.set_marks(true, true);
        let mut drained = Vec::new();
        while let Some(v) = ring.pop_locked() {
            drained.push(v);
        }
        let pushed = pusher.join().unwrap();
        assert_eq!(drained, if pushed { vec![5] } else { vec![] });
        assert!(matches!(ring.push(GEN, 6), Err((Refused::Marked, 6))));
        assert_eq!(ring.len(), 0);
    });
}

/// A channel's slot: the ends stay (type-stable), the value holding the ring's slots
/// is moved out when the channel retires and a new one may follow.
struct ChanSlot {
    ends: Arc<Ends>,
    value: UnsafeCell<Option<Ring<u32, Arc<Ends>>>>,
    lock: Mutex<()>,
}

// SAFETY (model): `value` is written by the retirer only after `quiesce`, and read by
// a fast call only between its claim and its last stamp; loom checks that claim.
unsafe impl Sync for ChanSlot {}
// SAFETY (model): as above.
unsafe impl Send for ChanSlot {}

impl ChanSlot {
    /// A fast write as `try_write` does it: claim through the slot's ends, then (only
    /// when claimed) write through the value.
    fn try_write(&self, generation: u32, v: u32) -> bool {
        match self.ends.claim_push(generation) {
            Ok(claim) => {
                // SAFETY: claimed: the value stays in place until this write's stamp.
                self.value.with(|p| {
                    unsafe { (*p).as_ref() }
                        .expect("a live ring")
                        .write(claim, v)
                });
                true
            }
            Err(_) => false,
        }
    }

    /// A fast read as `try_read` does it.
    fn try_read(&self, generation: u32) -> Option<u32> {
        let claim = self.ends.claim_pop(generation).ok()?;
        // SAFETY: claimed, as in `try_write`.
        Some(
            self.value
                .with(|p| unsafe { (*p).as_ref() }.expect("a live ring").take(claim)),
        )
    }
}

/// The last reference goes while a fast write and a fast read are in flight: `retire`
/// marks the ends, drains the ring and quiesces it, and only then is the value moved
/// out (loom checks that no claimed call still reads it) and a new channel opened in
/// the slot. Every item is delivered or drained exactly once, and a call with the old
/// handle claims nothing in the new channel.
#[test]
fn loom_retire_racing_fast_calls() {
    loom::model(|| {
        let ends = Arc::new(Ends::default());
        ends.open(GEN, 2, true);
        let slot = Arc::new(ChanSlot {
            ends: ends.clone(),
            value: UnsafeCell::new(Some(Ring::new(ends, 2))),
            lock: Mutex::new(()),
        });
        assert!(slot.try_write(GEN, 1));
        let w = slot.clone();
        let writer = thread::spawn(move || w.try_write(GEN, 2));
        let r = slot.clone();
        let reader = thread::spawn(move || r.try_read(GEN));
        // `Channel::retire`, then teardown and the slot's next channel.
        let drained = {
            let _g = slot.lock.lock().unwrap();
            // SAFETY: the retirer reads the value it is about to move out.
            slot.value.with(|p| {
                let ring = unsafe { (*p).as_ref() }.expect("a live ring");
                ring.set_marks(true, true);
                let mut drained = Vec::new();
                while let Some(v) = ring.pop_locked() {
                    drained.push(v);
                }
                ring.quiesce();
                drained
            })
        };
        // SAFETY: quiesced: no claimed call uses the value any more.
        let old = slot.value.with_mut(|p| unsafe { (*p).take() });
        drop(old);
        let next = Ring::new(slot.ends.clone(), 2);
        // SAFETY: the slot's next channel, written before its ends are opened.
        slot.value.with_mut(|p| unsafe { *p = Some(next) });
        slot.ends.open(GEN + 1, 2, true);

        let wrote = writer.join().unwrap();
        let read = reader.join().unwrap();
        let mut all: Vec<u32> = drained.into_iter().chain(read).collect();
        all.sort_unstable();
        assert_eq!(all, if wrote { vec![1, 2] } else { vec![1] });
        assert!(
            !slot.try_write(GEN, 3),
            "a stale handle claimed in the next channel"
        );
        assert!(matches!(slot.ends.claim_pop(GEN), Err(Unclaimed::Marked)));
        assert_eq!(slot.ends.len(), 0);
        assert!(slot.try_write(GEN + 1, 4));
        assert_eq!(slot.try_read(GEN + 1), Some(4));
    });
}

/// A stale call that loaded the old channel's words races the retirement and the next
/// channel's opening: its claim fails, whenever it lands.
#[test]
fn loom_stale_claim_racing_reopen() {
    loom::model(|| {
        let ends = Arc::new(Ends::default());
        ends.open(GEN, 1, true);
        let e = ends.clone();
        let stale = thread::spawn(move || {
            let _ = e.claim_push(GEN);
        });
        ends.set_marks(true, true);
        ends.open(GEN + 1, 1, true);
        stale.join().unwrap();
        // Claimed in the old channel's words (before the marks) or refused; never in
        // the new channel's.
        assert_eq!(ends.len(), 0);
        assert!(ends.claim_push(GEN + 1).is_ok());
    });
}
