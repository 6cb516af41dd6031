//! Loom models of the inline continuation slot (`task::slot`) with the real word:
//! registration racing completion, two registrations racing a completion, removal
//! racing completion, and teardown of a task whose entry never ran.
//!
//! A registration that finds the slot taken goes to the node list in the library; here
//! it takes LOCKED the same way and appends to a stand-in list (the list's own code
//! needs the node pool), so the word's FIRST/LIST/COMPLETED protocol is what is checked.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::core::sync::UnsafeCell;
use crate::core::task::cell::TaskCell;
use crate::core::task::slot::{self, Placed, Raw};
use crate::core::task::word::{DYING, FIRST, Final, LIST, Refusal, Release, Snapshot};

const GEN: u32 = 3;

struct Model {
    cell: TaskCell,
    /// The stand-in list: entries (by id) registered after the first. Under LOCKED.
    list: UnsafeCell<Vec<usize>>,
    /// How many times each entry id ran or was discarded.
    ran: [AtomicUsize; 3],
}

impl Model {
    fn new(user: u64, sources: u64) -> Arc<Model> {
        let m = Model {
            cell: TaskCell::default(),
            list: UnsafeCell::new(Vec::new()),
            ran: [
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ],
        };
        m.cell
            .word
            .publish(Snapshot::initial(GEN, user, sources, 0));
        Arc::new(m)
    }

    fn run(&self, id: usize) {
        self.ran[id].fetch_add(1, Ordering::Relaxed);
    }

    /// The registration path: the slot, else the list, else (completed) run now.
    fn register(&self, id: usize) {
        let raw: Raw = ([id, 0, 0], 0);
        match slot::place(&self.cell, |w| w.task_handle_valid(GEN), raw) {
            Placed::Inline => {}
            Placed::Completed(_) => self.run(id),
            Placed::Refused => panic!("the handle is valid"),
            Placed::Occupied => {
                match self.cell.word.lock(|w| {
                    if w.is_completed() {
                        Err(Refusal::Completed)
                    } else {
                        Ok(())
                    }
                }) {
                    Ok(w) => {
                        // SAFETY: LOCKED is held.
                        self.list.with_mut(|p| unsafe { (*p).push(id) });
                        self.cell.word.store_held(w.set(LIST));
                    }
                    Err(_) => self.run(id),
                }
            }
        }
    }

    /// The await's registration: the word read first (as a poll reads it), then the
    /// lock taken from that very word when it has not moved.
    fn register_seen(&self, id: usize) {
        let raw: Raw = ([id, 0, 0], 0);
        let seen = self.cell.word.load();
        if seen.is_completed() {
            return self.run(id);
        }
        match slot::place_seen(&self.cell, seen, |w| w.is_generation(GEN), raw) {
            Placed::Inline => {}
            Placed::Completed(_) => self.run(id),
            Placed::Refused => panic!("the generation is the task's"),
            Placed::Occupied => panic!("one registrant: the slot is free"),
        }
    }

    /// The completer: lock from pending, detach, publish, run what it detached.
    fn complete(&self) {
        let w = self
            .cell
            .word
            .lock(|w| {
                if w.is_completed() {
                    Err(Refusal::Completed)
                } else {
                    Ok(())
                }
            })
            .expect("one completer");
        let list: Vec<usize> = if w.has(LIST) {
            // SAFETY: LOCKED is held.
            self.list.with_mut(|p| unsafe { std::mem::take(&mut *p) })
        } else {
            Vec::new()
        };
        let (first, done) =
            slot::detach(&self.cell, w, Final::Succeeded, !list.is_empty(), |_| false);
        assert!(done.is_completed());
        if let Some(raw) = first {
            self.run(raw.0[0]);
        }
        for id in list {
            self.run(id);
        }
        if first.is_some() || done.has(LIST) {
            let _ = self.cell.word.clear_lent();
        }
    }

    fn runs(&self, id: usize) -> usize {
        self.ran[id].load(Ordering::Relaxed)
    }
}

/// Registration racing completion: the entry runs exactly once, by the completer or by
/// the registrant that saw COMPLETED.
#[test]
fn loom_register_racing_complete_runs_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        let m2 = m.clone();
        let t = thread::spawn(move || m2.register(0));
        m.complete();
        t.join().unwrap();
        assert_eq!(m.runs(0), 1);
    });
}

/// An await's registration, which locks from the word it read, racing completion: the
/// entry runs exactly once, by the completer or by the registrant.
#[test]
fn loom_register_from_a_seen_word_racing_complete_runs_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        let m2 = m.clone();
        let t = thread::spawn(move || m2.register_seen(0));
        m.complete();
        t.join().unwrap();
        assert_eq!(m.runs(0), 1);
    });
}

/// Two registrations racing a completion, the second finding the slot taken (and so
/// taking the list path): each runs exactly once, in registration order when both
/// were registered before the completion.
#[test]
fn loom_register_register_racing_complete_runs_each_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            m2.register(0);
            m2.register(1);
        });
        m.complete();
        t.join().unwrap();
        assert_eq!((m.runs(0), m.runs(1)), (1, 1));
    });
}

/// With the slot taken before the race, a registration racing the completion takes
/// the list path or sees COMPLETED: both entries run exactly once.
#[test]
fn loom_list_registration_racing_complete_runs_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        m.register(0);
        let m2 = m.clone();
        let t = thread::spawn(move || m2.register(1));
        m.complete();
        t.join().unwrap();
        assert_eq!((m.runs(0), m.runs(1)), (1, 1));
    });
}

/// Removing the inline entry races completion: exactly one of them gets it.
#[test]
fn loom_remove_racing_complete_takes_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        m.register(0);
        let m2 = m.clone();
        let t = thread::spawn(move || slot::remove(&m2.cell, GEN, |raw| raw.0[0] == 0).is_some());
        m.complete();
        let removed = t.join().unwrap();
        assert_eq!(m.runs(0) + usize::from(removed), 1);
    });
}

/// A lone waker's completion, which publishes COMPLETED without LENT and gives up its
/// source in the same store (`detach_alone`, as a consuming resolve does), racing a
/// registration and the release of the last task handle: the registration runs once
/// (its entry by the completer, or at once on COMPLETED), and exactly one of the
/// completer and the releaser finds the task unreferenced and tears it down.
#[test]
fn loom_lone_entry_completion_racing_the_last_release_tears_down_once() {
    loom::model(|| {
        let m = Model::new(1, 1);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            m2.register(0);
            m2.cell.word.release_user(GEN) == Release::Dying
        });
        let w = m
            .cell
            .word
            .lock(|_| Ok(()))
            .expect("nothing else completes");
        let w = Snapshot(w.0 - Snapshot::initial(0, 0, 1, 0).0);
        let completer_dies = if w.has(FIRST) && !w.has(LIST) {
            let raw = slot::read(&m.cell);
            let released = slot::detach_alone(&m.cell, w, Final::Succeeded);
            m.run(raw.0[0]);
            released == Release::Dying
        } else {
            m.cell.word.unlock_or_die(w.with_status(Final::Succeeded)) == Release::Dying
        };
        let releaser_dies = t.join().unwrap();
        assert_eq!(m.runs(0), 1);
        assert!(
            completer_dies != releaser_dies,
            "one teardown: completer {completer_dies}, releaser {releaser_dies}"
        );
        let w = m.cell.word.load();
        assert!(w.has(DYING) && w.is_completed() && !w.has(FIRST));
    });
}

/// A registration racing the last release of a task that can never complete: the entry
/// is refused, or it lands and the dying thread discards it; never lost.
#[test]
fn loom_teardown_discards_an_unrun_entry() {
    loom::model(|| {
        let m = Model::new(1, 0);
        let m2 = m.clone();
        let t = thread::spawn(move || {
            let raw: Raw = ([0, 0, 0], 0);
            matches!(
                slot::place(&m2.cell, |w| w.task_handle_valid(GEN), raw),
                Placed::Inline
            )
        });
        let released = m.cell.word.release_user(GEN);
        assert_eq!(released, Release::Dying);
        let placed = t.join().unwrap();
        let w = m.cell.word.load();
        assert!(w.has(DYING));
        let discarded = w.has(crate::core::task::word::FIRST);
        if discarded {
            let raw = slot::read(&m.cell);
            assert_eq!(raw.0[0], 0);
        }
        assert_eq!(
            placed, discarded,
            "an entry placed before the teardown is discarded by it"
        );
    });
}
