//! Models of the task state word ([`TaskState`]) driving a continuation list the way
//! `task.rs` does: the list is a loom `UnsafeCell` guarded by the LOCKED bit, the
//! outcome a loom `UnsafeCell` written under LOCKED before the Release store of
//! COMPLETED. loom's cells report any access that is not ordered by that protocol.
//!
//! - register: `lock_if_pending` → push → `unlock`; on COMPLETED run the item itself.
//! - complete: `lock_if_pending` → write the outcome → take the list →
//!   `complete(status)` → run the taken items in order.
//! - remove: `lock_if_pending` → remove the item if present → `unlock`.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::core::state::{Final, Lock, TaskState};

/// The outcome cell before any completer wrote it (completers write non-zero values).
const NO_OUTCOME: u32 = 0;

/// A task reduced to what the protocol touches.
struct Model {
    state: TaskState,
    /// The continuation list: item ids, in registration order.
    list: UnsafeCell<Vec<u32>>,
    /// Written once by the winning completer under LOCKED.
    outcome: UnsafeCell<u32>,
    /// Every item run, in run order, with the outcome it saw.
    ran: Mutex<Vec<(u32, u32)>>,
    /// Ticket dispenser for registrations, bumped under LOCKED (registration order).
    tickets: UnsafeCell<u32>,
}

// SAFETY: the cells follow the protocol of the module docs (list and tickets under
// LOCKED, the outcome written under LOCKED before COMPLETED); loom checks every access.
unsafe impl Sync for Model {}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registered {
    /// Queued while pending, with its ticket (its position in registration order).
    Queued(u32),
    /// The task had completed: the registrant ran the item itself.
    RanNow,
}

impl Model {
    fn new() -> Arc<Model> {
        Arc::new(Model {
            state: TaskState::new(),
            list: UnsafeCell::new(Vec::new()),
            outcome: UnsafeCell::new(NO_OUTCOME),
            ran: Mutex::new(Vec::new()),
            tickets: UnsafeCell::new(0),
        })
    }

    /// Runs item `id` for a completed task: reads the outcome (a data race unless the
    /// caller saw COMPLETED through the Acquire load or wrote it itself).
    fn run(&self, id: u32) {
        let seen = self.outcome();
        assert_ne!(
            seen, NO_OUTCOME,
            "item {id} ran before the outcome was written"
        );
        self.ran.lock().unwrap().push((id, seen));
    }

    fn register(&self, id: u32) -> Registered {
        match self.state.lock_if_pending() {
            Lock::Held => {
                // SAFETY: LOCKED is held on a pending task: the list and the ticket
                // counter are this thread's alone until `unlock`.
                let ticket = self.tickets.with_mut(|t| unsafe {
                    *t += 1;
                    *t
                });
                // SAFETY: as above.
                self.list.with_mut(|l| unsafe { (*l).push(id) });
                self.state.unlock();
                Registered::Queued(ticket)
            }
            Lock::Completed => {
                assert!(self.state.load().is_completed());
                self.run(id);
                Registered::RanNow
            }
        }
    }

    /// Completes with `value`; false when another completer won.
    fn complete(&self, value: u32, status: Final) -> bool {
        match self.state.lock_if_pending() {
            Lock::Completed => {
                assert!(self.state.load().final_status().is_some());
                false
            }
            Lock::Held => {
                // SAFETY: LOCKED is held on a pending task: the outcome and the list are
                // this thread's alone until `complete` publishes them.
                self.outcome.with_mut(|o| unsafe { *o = value });
                // SAFETY: as above.
                let list = self.list.with_mut(|l| unsafe { std::mem::take(&mut *l) });
                self.state.complete(status);
                for id in list {
                    self.run(id);
                }
                true
            }
        }
    }

    /// Removes item `id`; true when it was still queued (it will never run).
    fn remove(&self, id: u32) -> bool {
        match self.state.lock_if_pending() {
            Lock::Completed => false,
            Lock::Held => {
                // SAFETY: LOCKED is held on a pending task: the list is ours until `unlock`.
                let removed = self.list.with_mut(|l| unsafe {
                    let l = &mut *l;
                    match l.iter().position(|&x| x == id) {
                        Some(i) => {
                            l.remove(i);
                            true
                        }
                        None => false,
                    }
                });
                self.state.unlock();
                removed
            }
        }
    }

    /// Reads the outcome; only valid once COMPLETED was seen (or written by this
    /// thread): loom reports the read as a data race otherwise.
    fn outcome(&self) -> u32 {
        // SAFETY: callers saw COMPLETED through an Acquire load, or completed the task
        // themselves; the outcome is immutable from then on.
        self.outcome.with(|o| unsafe { *o })
    }

    fn ran(&self) -> Vec<(u32, u32)> {
        self.ran.lock().unwrap().clone()
    }
}

/// Completion racing registration: the registrant's `lock_if_pending` either wins the
/// lock before the completer (the item is queued and run by the completer) or sees
/// COMPLETED (the registrant runs it). The item runs exactly once, never lost, and
/// sees the outcome.
#[test]
fn loom_state_complete_vs_register() {
    loom::model(|| {
        let m = Model::new();
        let r = {
            let m = m.clone();
            thread::spawn(move || m.register(1))
        };
        let c = {
            let m = m.clone();
            thread::spawn(move || m.complete(7, Final::Succeeded))
        };
        let how = r.join().unwrap();
        assert!(c.join().unwrap());
        assert_eq!(m.ran(), vec![(1, 7)], "registered as {how:?}");
        assert_eq!(m.state.load().final_status(), Some(Final::Succeeded));
    });
}

/// Two completers race for the lock from the pending state: exactly one writes the
/// outcome and runs the queued item; the other sees COMPLETED (never a torn or
/// overwritten outcome, never a second run).
#[test]
fn loom_state_complete_vs_complete() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(m.register(1), Registered::Queued(1));
        let a = {
            let m = m.clone();
            thread::spawn(move || m.complete(10, Final::Succeeded))
        };
        let b = {
            let m = m.clone();
            thread::spawn(move || m.complete(20, Final::Faulted))
        };
        let (wa, wb) = (a.join().unwrap(), b.join().unwrap());
        assert!(wa ^ wb, "exactly one completer wins: a={wa} b={wb}");
        let (value, status) = if wa {
            (10, Final::Succeeded)
        } else {
            (20, Final::Faulted)
        };
        assert_eq!(m.ran(), vec![(1, value)]);
        assert_eq!(m.state.load().final_status(), Some(status));
        assert_eq!(m.outcome(), value);
    });
}

/// Removal racing completion of a queued item: removal unlinks it under the lock
/// while pending (it never runs), or finds COMPLETED / an empty list (the completer
/// took and ran it, removal reports false). Never both, never neither.
#[test]
fn loom_state_complete_vs_remove() {
    loom::model(|| {
        let m = Model::new();
        assert_eq!(m.register(1), Registered::Queued(1));
        let r = {
            let m = m.clone();
            thread::spawn(move || m.remove(1))
        };
        let c = {
            let m = m.clone();
            thread::spawn(move || m.complete(5, Final::Canceled))
        };
        let removed = r.join().unwrap();
        assert!(c.join().unwrap());
        let ran = m.ran();
        if removed {
            assert!(ran.is_empty(), "removed and run: {ran:?}");
        } else {
            assert_eq!(ran, vec![(1, 5)], "neither removed nor run");
        }
    });
}

/// Two registrations racing a completion: thread A registers item 1 while thread B
/// registers item 2 and then completes. A's registration lands before B's, between
/// B's registration and its completion, or after the completion. Each item runs
/// exactly once (by the completer if it was queued, else by its registrant), and the
/// completer runs the queued ones in the order they took the lock.
///
/// Two threads, not three: with two threads spinning on the lock while a third holds
/// it, loom can alternate the spinners' yields forever (a known limit of modelling
/// spin locks with loom), so registration 2 shares the completer's thread.
#[test]
fn loom_state_register_register_complete() {
    loom::model(|| {
        let m = Model::new();
        let a = {
            let m = m.clone();
            thread::spawn(move || m.register(1))
        };
        let b = {
            let m = m.clone();
            thread::spawn(move || {
                let h = m.register(2);
                assert!(m.complete(3, Final::Succeeded));
                h
            })
        };
        let (h1, h2) = (a.join().unwrap(), b.join().unwrap());
        assert!(
            matches!(h2, Registered::Queued(_)),
            "B registers before it completes"
        );
        let ran = m.ran();
        let mut ids: Vec<u32> = ran.iter().map(|&(id, _)| id).collect();
        assert!(ran.iter().all(|&(_, seen)| seen == 3), "{ran:?}");
        if let (Registered::Queued(t1), Registered::Queued(t2)) = (h1, h2) {
            let expected = if t1 < t2 { vec![1, 2] } else { vec![2, 1] };
            assert_eq!(ids, expected, "queued items run in registration order");
        }
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2], "each item runs exactly once: {ran:?}");
    });
}

/// A reader racing the completer: a reader whose Acquire load sees COMPLETED reads the
/// outcome written before the Release store (loom reports the read as a data race
/// otherwise), and the status it decodes matches.
#[test]
fn loom_state_reader_sees_outcome_after_completed() {
    loom::model(|| {
        let m = Model::new();
        let c = {
            let m = m.clone();
            thread::spawn(move || m.complete(42, Final::Faulted))
        };
        let reads = Arc::new(AtomicUsize::new(0));
        let r = {
            let m = m.clone();
            let reads = reads.clone();
            thread::spawn(move || {
                let s = m.state.load();
                if let Some(status) = s.final_status() {
                    assert_eq!(status, Final::Faulted);
                    assert_eq!(m.outcome(), 42);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        assert!(c.join().unwrap());
        r.join().unwrap();
        assert!(reads.load(Ordering::Relaxed) <= 1);
    });
}
