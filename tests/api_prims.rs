//! The Rust API's coordination primitives: behaviour, errors (a timeout answered with
//! false or TIMEOUT, a canceled token, over-release, DISPOSED when the last handle goes
//! with waiters), and a threaded stress test per primitive (nothing lost, nothing
//! duplicated). Every case ends with the live-object count back at its start.

mod api_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use api_support::{Counted, case, wait_until};
use tapir::{
    AsyncLock, AsyncRwLock, AutoResetEvent, Barrier, Cache, CacheOptions, CancellationSource,
    Channel, CompletionSource, Countdown, Error, FullMode, ManualResetEvent, Progress, ReadAsync,
    Scheduler, Semaphore, Status, Task, TaskStatus, block_on, run, when_all,
};

const MS: Duration = Duration::from_millis(1);

fn status_of<T: Clone + 'static>(t: &Task<T>) -> Option<Status> {
    t.wait().err().and_then(|e| e.status())
}

fn threads() -> usize {
    4
}

#[test]
fn every_primitive_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Semaphore>();
    check::<AutoResetEvent>();
    check::<ManualResetEvent>();
    check::<AsyncLock>();
    check::<AsyncRwLock>();
    check::<tapir::LockGuard>();
    check::<tapir::ReadGuard>();
    check::<tapir::WriteGuard>();
    check::<Countdown>();
    check::<Barrier>();
    // Channels of items that are Send but not Sync are still shared handles.
    check::<Channel<std::cell::Cell<u8>>>();
    check::<ReadAsync<std::cell::Cell<u8>>>();
    check::<Cache<str, u64>>();
    check::<Progress<std::cell::Cell<u8>>>();
}

// ---------------------------------------------------------------------------
// Semaphore

#[test]
fn semaphore_serves_waiters_in_arrival_order_without_barging() {
    let c = case();
    {
        let sem = Semaphore::new(0);
        let big = sem.wait_async(3, None, None);
        let small = sem.wait_async(1, None, None);
        assert_eq!(sem.release(2), Ok(0));
        assert!(
            !big.is_completed() && !small.is_completed(),
            "the head needs 3: nobody passes it"
        );
        assert!(!sem.try_wait(1), "try_wait does not barge past waiters");
        assert_eq!(sem.release(2), Ok(2));
        assert_eq!(big.wait(), Ok(true));
        assert_eq!(small.wait(), Ok(true));
        assert_eq!(sem.current_count(), 0);
        assert_eq!(sem.release(1), Ok(0));
        assert!(sem.try_wait(1));
    }
    c.end();
}

#[test]
fn semaphore_timeout_cancel_and_invalid_counts() {
    let c = case();
    {
        let sem = Semaphore::with_max(0, 2).unwrap();
        // A wait that times out answers false and never takes a permit later.
        let late = sem.wait_async(1, Some(MS), None);
        assert_eq!(late.wait(), Ok(false));
        assert_eq!(
            sem.wait_async(1, Some(Duration::ZERO), None).wait(),
            Ok(false)
        );
        // A canceled wait (before and after it queues) ends canceled.
        let cts = CancellationSource::new();
        let w = sem.wait_async(1, None, Some(&cts.token()));
        let behind = sem.wait_async(1, None, None);
        cts.cancel().unwrap();
        let err = w.wait().unwrap_err();
        assert!(err.is_canceled());
        assert_eq!(err.cancellation_token(), Some(cts.token()));
        assert!(
            sem.wait_async(1, None, Some(&cts.token()))
                .wait()
                .unwrap_err()
                .is_canceled()
        );
        // The release goes to the waiter behind, not the ones that left.
        sem.release(1).unwrap();
        assert_eq!(behind.wait(), Ok(true));
        assert_eq!(sem.current_count(), 0);
        // Over-release, and counts of 0 or above the maximum.
        assert_eq!(sem.release(2), Ok(0));
        let full = sem.release(1).unwrap_err();
        assert_eq!(full.status(), Some(Status::Full));
        assert_eq!(sem.current_count(), 2, "a refused release changes nothing");
        assert_eq!(
            sem.release(0).unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
        assert_eq!(
            status_of(&sem.wait_async(0, None, None)),
            Some(Status::InvalidArgument)
        );
        assert_eq!(
            status_of(&sem.wait_async(3, None, None)),
            Some(Status::InvalidArgument)
        );
        assert!(!sem.try_wait(3) && !sem.try_wait(0));
        assert_eq!(
            Semaphore::with_max(1, 0).unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
    }
    c.end();
}

#[test]
fn semaphore_dropped_with_waiters_fails_them_disposed() {
    let c = case();
    {
        let sem = Semaphore::new(0);
        let clone = sem.clone();
        let w = sem.wait_async(1, None, None);
        drop(sem);
        assert!(!w.is_completed(), "a clone still holds it");
        drop(clone);
        assert_eq!(status_of(&w), Some(Status::Disposed));
    }
    c.end();
}

#[test]
fn semaphore_crosses_to_c_and_back() {
    let c = case();
    {
        let sem = Semaphore::new(2);
        assert_eq!(
            tapir::ffi::semaphore::tapir_semaphore_current_count(sem.as_raw()),
            2
        );
        let p = sem.clone().into_raw();
        // SAFETY: `p` is the +1 reference into_raw gave.
        let back = unsafe { Semaphore::from_raw(p) }.unwrap();
        assert_eq!(back, sem);
        // SAFETY: NULL and a handle of another kind are refused.
        assert!(unsafe { Semaphore::from_raw(std::ptr::null()) }.is_none());
        let lock = AsyncLock::new();
        // SAFETY: a wrong-kind handle is refused without taking the reference.
        assert!(unsafe { Semaphore::from_raw(lock.as_raw().cast()) }.is_none());
    }
    c.end();
}

#[test]
fn semaphore_stress_never_exceeds_its_permits_and_loses_none() {
    let c = case();
    {
        const PERMITS: u32 = 3;
        const ROUNDS: usize = 2000;
        let sem = Semaphore::new(PERMITS);
        let inside = Arc::new(AtomicU32::new(0));
        let most = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads())
            .map(|i| {
                let (sem, inside, most, done) =
                    (sem.clone(), inside.clone(), most.clone(), done.clone());
                thread::spawn(move || {
                    for r in 0..ROUNDS {
                        let n = if (i + r) % 5 == 0 { 2 } else { 1 };
                        let got = if r % 3 == 0 {
                            sem.try_wait(n) || sem.wait_async(n, None, None).wait().unwrap()
                        } else {
                            block_on(sem.wait_async(n, None, None)).unwrap()
                        };
                        assert!(got);
                        let now = inside.fetch_add(n, SeqCst) + n;
                        most.fetch_max(now, SeqCst);
                        assert!(now <= PERMITS, "{now} permits in use");
                        inside.fetch_sub(n, SeqCst);
                        sem.release(n).unwrap();
                        done.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(done.load(SeqCst), threads() * ROUNDS);
        assert_eq!(sem.current_count(), PERMITS, "every permit came back");
        assert!(most.load(SeqCst) >= 1);
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Events

#[test]
fn auto_reset_event_releases_one_waiter_per_set_and_remembers_one() {
    let c = case();
    {
        let ev = AutoResetEvent::new(false);
        let (a, b) = (ev.wait_async(None, None), ev.wait_async(None, None));
        ev.set();
        assert_eq!(a.wait(), Ok(true));
        assert_eq!(b.status(), TaskStatus::Pending);
        ev.set();
        assert_eq!(b.wait(), Ok(true));
        ev.set();
        ev.set();
        assert!(ev.try_wait(), "a set with nobody waiting is remembered");
        assert!(!ev.try_wait(), "once");
        // A waiter that timed out or was canceled leaves: the set goes to the next.
        let timed = ev.wait_async(Some(MS), None);
        assert_eq!(timed.wait(), Ok(false));
        let cts = CancellationSource::new();
        let canceled = ev.wait_async(None, Some(&cts.token()));
        let next = ev.wait_async(None, None);
        cts.cancel().unwrap();
        assert!(canceled.wait().unwrap_err().is_canceled());
        ev.set();
        assert_eq!(next.wait(), Ok(true));
        assert!(!ev.try_wait());
        // Dropped with a waiter: DISPOSED.
        let w = ev.wait_async(None, None);
        drop(ev);
        assert_eq!(status_of(&w), Some(Status::Disposed));
    }
    c.end();
}

#[test]
fn manual_reset_event_releases_everyone_until_reset() {
    let c = case();
    {
        let ev = ManualResetEvent::new(false);
        let waits: Vec<_> = (0..5).map(|_| ev.wait_async(None, None)).collect();
        ev.set();
        assert_eq!(when_all(&waits).wait(), Ok(vec![true; 5]));
        assert!(ev.is_set());
        assert_eq!(ev.wait_async(Some(Duration::ZERO), None).wait(), Ok(true));
        ev.reset();
        assert!(!ev.is_set());
        assert_eq!(ev.wait_async(Some(MS), None).wait(), Ok(false));
        let cts = CancellationSource::new();
        cts.cancel().unwrap();
        assert!(
            ev.wait_async(None, Some(&cts.token()))
                .wait()
                .unwrap_err()
                .is_canceled()
        );
        let pending = ev.wait_async(None, None);
        let clone = ev.clone();
        drop(ev);
        assert_eq!(pending.status(), TaskStatus::Pending);
        drop(clone);
        assert_eq!(status_of(&pending), Some(Status::Disposed));
    }
    c.end();
}

#[test]
fn auto_reset_event_stress_passes_one_baton_without_loss() {
    let c = case();
    {
        // The event starts set and each holder sets it again when done: a baton. At
        // most one thread holds it at a time, and no set is lost (every round ends).
        const ROUNDS: usize = 1500;
        let ev = AutoResetEvent::new(true);
        let holders = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..threads())
            .map(|i| {
                let (ev, holders) = (ev.clone(), holders.clone());
                thread::spawn(move || {
                    for r in 0..ROUNDS {
                        if (i + r) % 4 == 0 && ev.try_wait() {
                        } else {
                            assert_eq!(ev.wait_async(None, None).wait(), Ok(true));
                        }
                        assert_eq!(holders.fetch_add(1, SeqCst), 0, "two baton holders");
                        holders.fetch_sub(1, SeqCst);
                        ev.set();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(ev.try_wait(), "the baton is back");
    }
    c.end();
}

#[test]
fn manual_reset_event_stress_every_waiter_of_a_set_wakes() {
    let c = case();
    {
        const ROUNDS: usize = 300;
        let woken = Arc::new(AtomicUsize::new(0));
        for _ in 0..ROUNDS {
            let ev = ManualResetEvent::new(false);
            let ready = Arc::new(Countdown::new(threads() as u32));
            let handles: Vec<_> = (0..threads())
                .map(|_| {
                    let (ev, woken, ready) = (ev.clone(), woken.clone(), ready.clone());
                    thread::spawn(move || {
                        let w = ev.wait_async(None, None);
                        ready.signal(1).unwrap();
                        assert_eq!(block_on(w), Ok(true));
                        woken.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            ready.wait_async(None, None).wait().unwrap();
            ev.set();
            for h in handles {
                h.join().unwrap();
            }
        }
        assert_eq!(woken.load(SeqCst), ROUNDS * threads());
    }
    c.end();
}

// ---------------------------------------------------------------------------
// AsyncLock, AsyncRwLock

#[test]
fn async_lock_grants_in_arrival_order_and_guard_drop_releases() {
    let c = case();
    {
        let lock = AsyncLock::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = lock.try_lock().unwrap();
        assert!(lock.try_lock().is_none() && lock.is_held());
        let waits: Vec<_> = (0..4)
            .map(|i| {
                let order = order.clone();
                lock.lock_async().continue_with(move |t| {
                    let g = t.wait().unwrap();
                    order.lock().unwrap().push(i);
                    g
                })
            })
            .collect();
        drop(first);
        for w in waits {
            // Each continuation hands back its guard: dropping it lets the next in.
            drop(w.wait().unwrap());
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
        wait_until("the lock is free", || !lock.is_held());
    }
    c.end();
}

#[test]
fn async_lock_timeout_cancel_and_abandoned_waits() {
    let c = case();
    {
        let lock = AsyncLock::new();
        let held = block_on(lock.lock_async()).unwrap();
        assert!(
            lock.lock_async_with(Some(MS), None)
                .wait()
                .unwrap()
                .is_none()
        );
        assert!(
            lock.lock_async_with(Some(Duration::ZERO), None)
                .wait()
                .unwrap()
                .is_none()
        );
        let cts = CancellationSource::new();
        let canceled = lock.lock_async_with(None, Some(&cts.token()));
        // A wait whose task is dropped before the grant: granted, then released at once.
        drop(lock.lock_async());
        let last = lock.lock_async_with(Some(Duration::from_secs(60)), None);
        cts.cancel().unwrap();
        assert!(canceled.wait().unwrap_err().is_canceled());
        drop(held);
        let g = last
            .wait()
            .unwrap()
            .expect("granted after the abandoned wait");
        // The task still owns the guard in its value: the hold lasts until both go.
        drop(last);
        assert!(lock.is_held());
        // The guard outlives the lock's handles: the lock lives while it is held.
        let waiter = lock.lock_async();
        drop(lock);
        assert_eq!(waiter.status(), TaskStatus::Pending);
        drop(g);
        drop(waiter.wait().unwrap());
    }
    c.end();
}

#[test]
fn async_lock_guard_clones_share_one_hold() {
    let c = case();
    {
        let lock = AsyncLock::new();
        let t = lock.lock_async();
        let g = t.wait().unwrap();
        drop(t);
        let g2 = g.clone();
        drop(g);
        assert!(lock.is_held());
        let next = lock.lock_async();
        assert!(!next.is_completed());
        drop(g2);
        assert!(next.wait().is_ok());
        assert!(lock.is_held(), "the task holds the guard");
        drop(next);
        wait_until("the task's guard released", || !lock.is_held());
    }
    c.end();
}

#[test]
fn async_lock_stress_excludes_and_counts_every_entry() {
    let c = case();
    {
        const ROUNDS: usize = 2000;
        let lock = AsyncLock::new();
        // A non-atomic read-modify-write: lost updates would show a race.
        let counter = Arc::new(AtomicU64::new(0));
        let inside = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..threads())
            .map(|i| {
                let (lock, counter, inside) = (lock.clone(), counter.clone(), inside.clone());
                thread::spawn(move || {
                    for r in 0..ROUNDS {
                        let g = match (i + r) % 3 {
                            0 => lock
                                .try_lock()
                                .unwrap_or_else(|| lock.lock_async().wait().unwrap()),
                            1 => block_on(lock.lock_async()).unwrap(),
                            _ => lock
                                .lock_async_with(Some(Duration::from_secs(60)), None)
                                .wait()
                                .unwrap()
                                .unwrap(),
                        };
                        assert!(!inside.swap(true, SeqCst), "two holders");
                        let v = counter.load(SeqCst);
                        std::hint::spin_loop();
                        counter.store(v + 1, SeqCst);
                        inside.store(false, SeqCst);
                        drop(g);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counter.load(SeqCst), (threads() * ROUNDS) as u64);
        wait_until("the lock is free", || !lock.is_held());
    }
    c.end();
}

#[test]
fn rwlock_readers_share_writers_exclude_and_writers_are_preferred() {
    let c = case();
    {
        let lock = AsyncRwLock::new();
        let r1 = lock.read_async().wait().unwrap();
        let r2 = lock.try_read().unwrap();
        assert_eq!(lock.reader_count(), 2);
        let w = lock.write_async();
        let r3 = lock.read_async();
        assert!(
            lock.try_read().is_none(),
            "readers queue behind a waiting writer"
        );
        assert!(!w.is_completed() && !r3.is_completed());
        drop((r1, r2));
        let wg = w.wait().unwrap();
        drop(w);
        assert!(lock.is_write_held() && !r3.is_completed());
        // Timeouts and cancellation while the writer holds it.
        assert!(
            lock.read_async_with(Some(MS), None)
                .wait()
                .unwrap()
                .is_none()
        );
        assert!(
            lock.write_async_with(Some(Duration::ZERO), None)
                .wait()
                .unwrap()
                .is_none()
        );
        let cts = CancellationSource::new();
        let cw = lock.write_async_with(None, Some(&cts.token()));
        cts.cancel().unwrap();
        assert!(cw.wait().unwrap_err().is_canceled());
        drop(wg);
        let rg = r3.wait().unwrap();
        drop(r3);
        assert_eq!(lock.reader_count(), 1);
        drop(rg);
        wait_until("the lock is free", || {
            lock.reader_count() == 0 && !lock.is_write_held()
        });
    }
    c.end();
}

#[test]
fn rwlock_stress_readers_never_see_a_writer() {
    let c = case();
    {
        const ROUNDS: usize = 1500;
        let lock = AsyncRwLock::new();
        // state: writers * 1000 + readers, checked inside each hold.
        let state = Arc::new(AtomicU32::new(0));
        let writes = Arc::new(AtomicU32::new(0));
        let handles: Vec<_> = (0..threads())
            .map(|i| {
                let (lock, state, writes) = (lock.clone(), state.clone(), writes.clone());
                thread::spawn(move || {
                    for r in 0..ROUNDS {
                        if (i + r) % 4 == 0 {
                            let g = block_on(lock.write_async()).unwrap();
                            assert_eq!(state.fetch_add(1000, SeqCst), 0, "a writer shares");
                            writes.fetch_add(1, SeqCst);
                            state.fetch_sub(1000, SeqCst);
                            drop(g);
                        } else {
                            let g = lock.read_async().wait().unwrap();
                            assert!(state.fetch_add(1, SeqCst) < 1000, "a reader met a writer");
                            state.fetch_sub(1, SeqCst);
                            drop(g);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(writes.load(SeqCst) as usize, threads() * ROUNDS / 4);
        wait_until("the lock is free", || {
            lock.reader_count() == 0 && !lock.is_write_held()
        });
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Countdown, Barrier

#[test]
fn countdown_signals_adds_resets_and_refuses() {
    let c = case();
    {
        let cd = Countdown::new(2);
        let w = cd.wait_async(None, None);
        assert_eq!(cd.signal(1), Ok(false));
        cd.add_count(2).unwrap();
        assert_eq!(cd.current_count(), 3);
        assert_eq!(
            cd.signal(4).unwrap_err().status(),
            Some(Status::InvalidState),
            "more than is left"
        );
        assert_eq!(cd.current_count(), 3, "a refused signal changes nothing");
        assert_eq!(
            cd.signal(0).unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
        assert_eq!(cd.signal(3), Ok(true));
        assert_eq!(w.wait(), Ok(true));
        assert!(cd.is_set());
        assert_eq!(
            cd.add_count(1).unwrap_err().status(),
            Some(Status::InvalidState)
        );
        assert_eq!(cd.try_add_count(1), Ok(false));
        assert_eq!(cd.wait_async(Some(Duration::ZERO), None).wait(), Ok(true));
        cd.reset();
        assert_eq!((cd.current_count(), cd.initial_count()), (2, 2));
        assert_eq!(cd.wait_async(Some(MS), None).wait(), Ok(false));
        let cts = CancellationSource::new();
        let canceled = cd.wait_async(None, Some(&cts.token()));
        cts.cancel().unwrap();
        assert!(canceled.wait().unwrap_err().is_canceled());
        let pending = cd.wait_async(None, None);
        cd.reset_to(0);
        assert_eq!(pending.wait(), Ok(true), "a reset to 0 sets it");
        cd.reset_to(1);
        assert_eq!(
            cd.try_add_count(u32::MAX).unwrap_err().status(),
            Some(Status::Full)
        );
        let orphan = cd.wait_async(None, None);
        drop(cd);
        assert_eq!(status_of(&orphan), Some(Status::Disposed));
    }
    c.end();
}

#[test]
fn countdown_stress_exactly_one_signal_reaches_zero() {
    let c = case();
    {
        const ROUNDS: usize = 200;
        const PER_THREAD: u32 = 25;
        for _ in 0..ROUNDS {
            let cd = Countdown::new(threads() as u32 * PER_THREAD);
            let zeros = Arc::new(AtomicUsize::new(0));
            let all = cd.wait_async(None, None);
            let handles: Vec<_> = (0..threads())
                .map(|_| {
                    let (cd, zeros) = (cd.clone(), zeros.clone());
                    thread::spawn(move || {
                        for _ in 0..PER_THREAD {
                            if cd.signal(1).unwrap() {
                                zeros.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(all.wait(), Ok(true));
            assert_eq!(zeros.load(SeqCst), 1);
            assert!(cd.signal(1).is_err());
        }
    }
    c.end();
}

#[test]
fn barrier_phases_run_the_action_then_release_everyone() {
    let c = case();
    {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let b = Barrier::with_action(3, move |phase| {
            l.lock().unwrap().push(phase);
            Ok(())
        });
        for phase in 0..3u64 {
            let a = b.signal_and_wait_async(None, None);
            let bb = b.signal_and_wait_async(None, None);
            assert_eq!(b.participants_remaining(), 1);
            assert!(!a.is_completed());
            let last = b.signal_and_wait_async(None, None);
            assert_eq!(
                last.status(),
                TaskStatus::Succeeded,
                "the last one completes it"
            );
            assert_eq!(when_all(&[a, bb, last]).wait(), Ok(vec![true; 3]));
            assert_eq!(b.current_phase(), phase + 1);
        }
        assert_eq!(*log.lock().unwrap(), [0, 1, 2]);
        // Participants come and go.
        assert_eq!(b.add_participants(1), Ok(3));
        assert_eq!(b.participant_count(), 4);
        let waits: Vec<_> = (0..3)
            .map(|_| b.signal_and_wait_async(None, None))
            .collect();
        assert_eq!(
            b.remove_participants(2).unwrap_err().status(),
            Some(Status::InvalidState),
            "only one has not arrived"
        );
        assert_eq!(
            b.remove_participants(9).unwrap_err().status(),
            Some(Status::InvalidArgument)
        );
        b.remove_participants(1).unwrap();
        assert_eq!(when_all(&waits).wait(), Ok(vec![true; 3]));
        assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3]);
    }
    c.end();
}

#[test]
fn barrier_errors_timeouts_cancellation_and_disposal() {
    let c = case();
    {
        // An action's error (and a panic) fails every participant of its phase.
        let failing = Barrier::with_action(2, |phase| {
            if phase == 0 {
                Err(Error::new(77, "phase 0 failed"))
            } else {
                panic!("phase {phase} panicked")
            }
        });
        let a = failing.signal_and_wait_async(None, None);
        let b = failing.signal_and_wait_async(None, None);
        assert_eq!(a.wait().unwrap_err().code(), 77);
        assert_eq!(b.wait().unwrap_err().code(), 77);
        let a = failing.signal_and_wait_async(None, None);
        let b = failing.signal_and_wait_async(None, None);
        assert_eq!(status_of(&a), Some(Status::Panic));
        assert_eq!(status_of(&b), Some(Status::Panic));
        assert_eq!(failing.current_phase(), 2, "the phases went on");

        // A timed-out or canceled arrival is taken back.
        let b = Barrier::new(2);
        assert_eq!(b.signal_and_wait_async(Some(MS), None).wait(), Ok(false));
        assert_eq!(b.participants_remaining(), 2);
        let cts = CancellationSource::new();
        let w = b.signal_and_wait_async(None, Some(&cts.token()));
        cts.cancel().unwrap();
        assert!(w.wait().unwrap_err().is_canceled());
        assert_eq!(b.participants_remaining(), 2);
        assert_eq!(b.current_phase(), 0);

        // No participants: refused.
        let empty = Barrier::new(0);
        assert_eq!(
            status_of(&empty.signal_and_wait_async(None, None)),
            Some(Status::InvalidState)
        );

        // Dropped with a waiter: DISPOSED, and the action is dropped once.
        let (tag, drops) = Counted::new(1);
        let with = Barrier::with_action(2, move |_| {
            let _ = &tag;
            Ok(())
        });
        let w = with.signal_and_wait_async(None, None);
        drop(with);
        assert_eq!(status_of(&w), Some(Status::Disposed));
        assert_eq!(drops.load(SeqCst), 1);
    }
    c.end();
}

#[test]
fn barrier_stress_every_phase_sees_every_participant() {
    let c = case();
    {
        const ROUNDS: u64 = 400;
        let arrived = Arc::new(AtomicUsize::new(0));
        let bad = Arc::new(AtomicUsize::new(0));
        let phases = Arc::new(AtomicU64::new(0));
        let (a, bd, ph) = (arrived.clone(), bad.clone(), phases.clone());
        let n = threads();
        let b = Barrier::with_action(n as u32, move |phase| {
            // Every participant of this phase has counted itself before signaling.
            if a.swap(0, SeqCst) != n {
                bd.fetch_add(1, SeqCst);
            }
            if ph.fetch_add(1, SeqCst) != phase {
                bd.fetch_add(1, SeqCst);
            }
            Ok(())
        });
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (b, arrived) = (b.clone(), arrived.clone());
                thread::spawn(move || {
                    for r in 0..ROUNDS {
                        arrived.fetch_add(1, SeqCst);
                        let w = b.signal_and_wait_async(None, None);
                        let ok = if (i as u64 + r) % 2 == 0 {
                            w.wait()
                        } else {
                            block_on(w)
                        };
                        assert_eq!(ok, Ok(true));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(phases.load(SeqCst), ROUNDS);
        assert_eq!(b.current_phase(), ROUNDS);
        assert_eq!(bad.load(SeqCst), 0);
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Channel<T>

#[test]
fn channel_is_fifo_and_hands_items_to_waiting_readers() {
    let c = case();
    {
        let ch = Channel::<String>::unbounded();
        let r1 = ch.read_async(None, None);
        let r2 = ch.read_async(None, None);
        ch.try_write("a".into()).unwrap();
        ch.try_write("b".into()).unwrap();
        ch.try_write("c".into()).unwrap();
        assert_eq!(
            block_on(r2),
            Ok("b".to_string()),
            "readers in arrival order"
        );
        assert_eq!(r1.wait(), Ok("a".to_string()));
        assert_eq!(ch.len(), 1);
        assert_eq!(ch.wait_to_read_async(None, None).wait(), Ok(true));
        assert_eq!(ch.try_read(), Ok(Some("c".to_string())));
        assert_eq!(ch.try_read(), Ok(None));
        assert!(ch.is_empty());
        // A future polled again after its item: refused, nothing read twice.
        let mut r = ch.read_async(None, None);
        ch.try_write("d".into()).unwrap();
        block_on(async {
            assert_eq!((&mut r).await, Ok("d".to_string()));
            assert_eq!(
                (&mut r).await.unwrap_err().status(),
                Some(Status::InvalidState)
            );
        });
    }
    c.end();
}

#[test]
fn channel_bounded_modes() {
    let c = case();
    {
        let wait = Channel::bounded(2, FullMode::Wait);
        wait.try_write(1).unwrap();
        wait.try_write(2).unwrap();
        let refused = wait.try_write(3).unwrap_err();
        assert!(refused.is_full());
        assert_eq!(refused.into_inner(), 3);
        let w = wait.write_async(3, None, None).unwrap();
        assert!(!w.is_completed());
        assert_eq!(wait.try_read(), Ok(Some(1)));
        assert_eq!(w.wait(), Ok(true));
        assert_eq!(wait.try_read(), Ok(Some(2)));
        assert_eq!(wait.try_read(), Ok(Some(3)));

        let oldest = Channel::bounded(2, FullMode::DropOldest);
        let newest = Channel::bounded(2, FullMode::DropNewest);
        let write = Channel::bounded(2, FullMode::DropWrite);
        for i in 1..=4 {
            oldest.try_write(i).unwrap();
            newest.try_write(i).unwrap();
            write.try_write(i).unwrap();
        }
        let drain = |ch: &Channel<i32>| {
            let mut v = Vec::new();
            while let Ok(Some(x)) = ch.try_read() {
                v.push(x);
            }
            v
        };
        assert_eq!(drain(&oldest), [3, 4]);
        assert_eq!(drain(&newest), [1, 4]);
        assert_eq!(drain(&write), [1, 2]);
        assert!(
            Channel::<u8>::bounded(0, FullMode::Wait)
                .try_write(1)
                .is_ok(),
            "a capacity of 0 is taken as 1"
        );
    }
    c.end();
}

#[test]
fn channel_completion_timeouts_and_cancellation() {
    let c = case();
    {
        let ch = Channel::<u32>::unbounded();
        assert_eq!(
            ch.read_async(Some(MS), None).wait().unwrap_err().status(),
            Some(Status::Timeout)
        );
        assert_eq!(
            status_of(&ch.wait_to_read_async(Some(Duration::ZERO), None)),
            Some(Status::Timeout)
        );
        let cts = CancellationSource::new();
        let r = ch.read_async(None, Some(&cts.token()));
        cts.cancel().unwrap();
        assert!(r.wait().unwrap_err().is_canceled());
        ch.try_write(5).unwrap();
        assert_eq!(ch.try_read(), Ok(Some(5)), "the canceled read took nothing");

        // Completion without an error: QUEUE_COMPLETED once drained; wait_to_read false.
        let pending = ch.read_async(None, None);
        let watching = ch.wait_to_read_async(None, None);
        ch.complete(None).unwrap();
        assert_eq!(
            pending.wait().unwrap_err().status(),
            Some(Status::QueueCompleted)
        );
        assert_eq!(watching.wait(), Ok(false));
        assert_eq!(
            ch.complete(None).unwrap_err().status(),
            Some(Status::AlreadyCompleted)
        );
        assert!(ch.try_write(1).unwrap_err().is_completed());
        let back = ch.write_async(2, None, None).unwrap_err();
        assert_eq!(
            (back.status(), back.into_inner()),
            (Status::QueueCompleted, 2)
        );
        assert!(ch.is_completed());

        // Completion with an error: readers fail with that very error after draining.
        let failed = Channel::<u32>::unbounded();
        failed.try_write(1).unwrap();
        let e = Error::new(1234, "source failed");
        failed.complete(Some(e.clone())).unwrap();
        assert_eq!(failed.read_async(None, None).wait(), Ok(1));
        assert_eq!(failed.read_async(None, None).wait().unwrap_err(), e);
        assert_eq!(failed.try_read().unwrap_err(), e);
        assert_eq!(failed.wait_to_read_async(None, None).wait().unwrap_err(), e);

        // A waiting writer sees the completion: QUEUE_COMPLETED.
        let full = Channel::bounded(1, FullMode::Wait);
        full.try_write(0u8).unwrap();
        let w = full.write_async(1, None, None).unwrap();
        let wt = full.write_async(2, Some(MS), None).unwrap();
        assert_eq!(wt.wait(), Ok(false), "a writer that timed out");
        let cts = CancellationSource::new();
        let wc = full.write_async(3, None, Some(&cts.token())).unwrap();
        cts.cancel().unwrap();
        assert!(wc.wait().unwrap_err().is_canceled());
        full.complete(None).unwrap();
        assert_eq!(status_of(&w), Some(Status::QueueCompleted));
        assert_eq!(full.try_read(), Ok(Some(0)));
        assert_eq!(
            full.try_read().unwrap_err().status(),
            Some(Status::QueueCompleted)
        );
    }
    c.end();
}

#[test]
fn channel_drops_every_item_exactly_once_wherever_it_ends() {
    let c = case();
    {
        let drops: Vec<_> = (0..9).map(Counted::new).collect();
        let mut items: Vec<Option<Counted>> = drops.iter().map(|(c, _)| Some(c.clone())).collect();
        // The clones made above count one drop each when `drops` goes; only the items
        // are counted below.
        let counts: Vec<_> = drops.iter().map(|(_, n)| n.clone()).collect();
        drop(drops);
        let base: Vec<usize> = counts.iter().map(|n| n.load(SeqCst)).collect();
        let dropped = |i: usize| counts[i].load(SeqCst) - base[i];
        let mut take = |i: usize| items[i].take().unwrap();
        {
            let ch = Channel::bounded(2, FullMode::Wait);
            ch.try_write(take(0)).unwrap(); // read by the caller
            ch.try_write(take(1)).unwrap(); // left in the channel
            let t = ch.write_async(take(2), Some(MS), None).unwrap(); // times out
            assert_eq!(t.wait(), Ok(false));
            wait_until("the timed-out writer's item dropped", || dropped(2) == 1);
            let cts = CancellationSource::new();
            let w = ch.write_async(take(3), None, Some(&cts.token())).unwrap();
            cts.cancel().unwrap();
            assert!(w.wait().unwrap_err().is_canceled());
            wait_until("the canceled writer's item dropped", || dropped(3) == 1);
            let got = ch.try_read().unwrap().unwrap();
            assert_eq!((got.id, dropped(0)), (0, 0));
            drop(got);
            assert_eq!(dropped(0), 1);
            ch.try_write(take(4)).unwrap(); // left in the channel
            let pending = ch.write_async(take(5), None, None).unwrap(); // disposed
            drop(ch);
            assert_eq!(status_of(&pending), Some(Status::Disposed));
            assert_eq!((dropped(1), dropped(4), dropped(5)), (1, 1, 1));
        }
        {
            // Dropped by a full mode, and delivered to a read whose future was dropped.
            let ch = Channel::bounded(1, FullMode::DropOldest);
            ch.try_write(take(6)).unwrap();
            ch.try_write(take(7)).unwrap();
            assert_eq!(dropped(6), 1);
            assert_eq!(ch.try_read().unwrap().unwrap().id, 7);
            drop(ch.read_async(None, None));
            ch.try_write(take(8)).unwrap();
            assert_eq!(dropped(8), 1, "the abandoned read took it, and dropped it");
            assert!(ch.is_empty());
        }
        for i in 0..9 {
            assert_eq!(dropped(i), 1, "item {i}");
        }
    }
    c.end();
}

#[test]
fn channel_dropped_with_readers_fails_them_disposed() {
    let c = case();
    {
        let ch = Channel::<Vec<u8>>::unbounded();
        let r = ch.read_async(None, None);
        let w = ch.wait_to_read_async(None, None);
        drop(ch);
        assert_eq!(r.wait().unwrap_err().status(), Some(Status::Disposed));
        assert_eq!(status_of(&w), Some(Status::Disposed));
    }
    c.end();
}

/// A read the polling way: try_read, and wait_to_read while there is nothing.
async fn read_by_polling(ch: &Channel<(usize, usize)>) -> Result<(usize, usize), Error> {
    loop {
        if let Some(x) = ch.try_read()? {
            return Ok(x);
        }
        if !ch.wait_to_read_async(None, None).await? {
            return Err(Error::from_status(Status::QueueCompleted));
        }
    }
}

#[test]
fn channel_stress_every_item_arrives_exactly_once() {
    let c = case();
    {
        const PER_WRITER: usize = 3000;
        let writers = threads() / 2;
        let readers = threads() - writers;
        let ch = Channel::<(usize, usize)>::bounded(16, FullMode::Wait);
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let wh: Vec<_> = (0..writers)
            .map(|w| {
                let ch = ch.clone();
                thread::spawn(move || {
                    for i in 0..PER_WRITER {
                        let item = (w, i);
                        if i % 3 == 0 {
                            if let Err(e) = ch.try_write(item) {
                                assert!(e.is_full());
                                assert!(
                                    ch.write_async(e.into_inner(), None, None)
                                        .unwrap()
                                        .wait()
                                        .unwrap()
                                );
                            }
                        } else {
                            let t = ch.write_async(item, None, None).unwrap();
                            assert_eq!(block_on(t), Ok(true));
                        }
                    }
                })
            })
            .collect();
        let rh: Vec<_> = (0..readers)
            .map(|r| {
                let (ch, seen) = (ch.clone(), seen.clone());
                thread::spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let got = if r % 2 == 0 {
                            ch.read_async(None, None).wait()
                        } else {
                            block_on(read_by_polling(&ch))
                        };
                        match got {
                            Ok(item) => mine.push(item),
                            Err(e) => {
                                assert_eq!(e.status(), Some(Status::QueueCompleted));
                                break;
                            }
                        }
                    }
                    let mut s = seen.lock().unwrap();
                    for item in mine {
                        assert!(s.insert(item), "{item:?} delivered twice");
                    }
                })
            })
            .collect();
        for h in wh {
            h.join().unwrap();
        }
        ch.complete(None).unwrap();
        for h in rh {
            h.join().unwrap();
        }
        assert_eq!(
            seen.lock().unwrap().len(),
            writers * PER_WRITER,
            "items lost"
        );
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Cache<K, V>

#[test]
fn cache_single_flight_and_eviction_of_failures() {
    let c = case();
    {
        let cache: Cache<str, String> = Cache::new();
        let calls = AtomicU32::new(0);
        let source = CompletionSource::<String>::new();
        let a = cache.get_async("k", |k| {
            assert_eq!(k, "k");
            calls.fetch_add(1, SeqCst);
            source.task()
        });
        let b = cache.get_async("k", |_| unreachable!("the entry exists"));
        assert_eq!(a, b);
        assert_eq!(cache.len(), 1);
        source.set_result("v".into()).unwrap();
        assert_eq!(block_on(a), Ok("v".to_string()));
        assert_eq!(calls.load(SeqCst), 1);

        // Failures are evicted when they complete, so the next get retries.
        let f = cache.get_async("bad", |_| Task::from_error(Error::new(3, "down")));
        assert_eq!(f.wait().unwrap_err().code(), 3);
        assert_eq!(
            cache
                .get_async("bad", |_| Task::from_result("ok".into()))
                .wait(),
            Ok("ok".into())
        );
        let canceled = cache.get_async("c", |_| Task::canceled());
        assert!(canceled.wait().unwrap_err().is_canceled());
        assert_eq!(cache.len(), 2, "k and bad");

        // A panicking factory fails its entry.
        let p = cache.get_async("panic", |_| panic!("factory"));
        assert_eq!(status_of(&p), Some(Status::Panic));
        assert!(!cache.remove("panic"), "evicted");

        // remove, clear: the tasks already handed out are not affected.
        let held = cache.get_async("k", |_| unreachable!());
        assert!(cache.remove("k"));
        assert_eq!(held.wait(), Ok("v".to_string()));
        let again = cache.get_async("k", |_| Task::from_result("w".into()));
        assert_eq!(again.wait(), Ok("w".to_string()));
        cache.clear();
        assert!(cache.is_empty());
    }
    c.end();
}

#[test]
fn cache_keep_failures_capacity_byte_keys_and_nested_gets() {
    let c = case();
    {
        let keep: Cache<[u8], u8> = Cache::with_options(&CacheOptions::new().keep_failures(true));
        let f = keep.get_async(b"x", |_| Task::from_error(Error::new(1, "no")));
        assert!(f.wait().is_err());
        let again = keep.get_async(b"x", |_| unreachable!("failures are kept"));
        assert_eq!(again, f);

        let small: Cache<str, u32> = Cache::with_options(&CacheOptions::new().capacity(2));
        let _a = small.get_async("a", |_| Task::from_result(1));
        let _b = small.get_async("b", |_| Task::from_result(2));
        let _a2 = small.get_async("a", |_| unreachable!()); // a is now the most recent
        let _c = small.get_async("c", |_| Task::from_result(3)); // evicts b
        assert_eq!(small.len(), 2);
        assert!(small.remove("a") && !small.remove("b") && small.remove("c"));

        // Keys are their bytes: a String key and a str key with the same bytes meet.
        let by_bytes: Cache<[u8], u32> = Cache::new();
        let one = by_bytes.get_async("same".as_bytes(), |_| Task::from_result(1));
        let two = by_bytes.get_async(b"same", |_| unreachable!());
        assert_eq!(one, two);

        // A factory may use the cache (another key) while the outer get runs.
        let nested: Cache<str, u32> = Cache::new();
        let n2 = nested.clone();
        let outer = nested.get_async("outer", move |_| {
            let inner = n2.get_async("inner", |_| Task::from_result(40));
            inner.continue_with(|t| t.wait().unwrap() + 2)
        });
        assert_eq!(outer.wait(), Ok(42));
        assert_eq!(nested.get_async("inner", |_| unreachable!()).wait(), Ok(40));

        // Boxed values are dropped once, with the last task and entry.
        let (v, drops) = Counted::new(9);
        let boxed: Cache<str, Counted> = Cache::new();
        let t = boxed.get_async("v", move |_| Task::from_result(v));
        assert_eq!(t.wait().unwrap().id, 9);
        let before = drops.load(SeqCst);
        drop(t);
        drop(boxed);
        assert_eq!(drops.load(SeqCst), before + 1);
    }
    c.end();
}

#[test]
fn cache_stress_one_factory_call_per_key() {
    let c = case();
    {
        const KEYS: usize = 64;
        const GETS: usize = 3000;
        let cache: Cache<str, u64> = Cache::new();
        let calls: Arc<Vec<AtomicU32>> = Arc::new((0..KEYS).map(|_| AtomicU32::new(0)).collect());
        let handles: Vec<_> = (0..threads())
            .map(|t| {
                let (cache, calls) = (cache.clone(), calls.clone());
                thread::spawn(move || {
                    for i in 0..GETS {
                        let k = (i * 7 + t * 13) % KEYS;
                        let key = format!("key-{k}");
                        let calls = calls.clone();
                        let task = cache.get_async(&key, move |_| {
                            calls[k].fetch_add(1, SeqCst);
                            // Half complete later on the pool, half at once.
                            if k % 2 == 0 {
                                run(move || k as u64 * 10)
                            } else {
                                Task::from_result(k as u64 * 10)
                            }
                        });
                        assert_eq!(task.wait(), Ok(k as u64 * 10));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for (k, n) in calls.iter().enumerate() {
            assert_eq!(n.load(SeqCst), 1, "key {k}: factory calls");
        }
        assert_eq!(cache.len(), KEYS);
    }
    c.end();
}

#[test]
fn cache_hits_racing_removal_clear_and_release() {
    let c = case();
    {
        // More keys than the lock-free hits' table has lines, so lines are replaced
        // while other threads read them; every hit must be its own key's task.
        const KEYS: usize = 40;
        const GETS: usize = 4000;
        let cache: Cache<str, u64> = Cache::new();
        let handles: Vec<_> = (0..threads().max(2))
            .map(|t| {
                let cache = cache.clone();
                thread::spawn(move || {
                    for i in 0..GETS {
                        let k = (i * 11 + t * 5) % KEYS;
                        let key = format!("key-{k}");
                        let task = cache.get_async(&key, move |_| Task::from_result(k as u64));
                        match i % 97 {
                            0 => {
                                let _ = cache.remove(&key);
                            }
                            1 if t == 0 => cache.clear(),
                            _ => {}
                        }
                        assert_eq!(task.wait(), Ok(k as u64), "key {k}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // After a removal, the next get starts the factory again.
        let first = cache.get_async("key-1", |_| Task::from_result(1));
        assert!(cache.remove("key-1"));
        let second = cache.get_async("key-1", |_| Task::from_result(2));
        assert_ne!(first, second);
        assert_eq!(second.wait(), Ok(2));
        // A released cache's hits are gone with it; its tasks stay the holders'.
        drop(cache);
        assert_eq!(first.wait(), Ok(1));
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Progress<T>

#[test]
fn progress_reports_in_order_on_a_manual_scheduler_and_drops_values_once() {
    let c = case();
    {
        let ui = Scheduler::manual();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let progress = Progress::on(&ui, move |v: Counted| s.lock().unwrap().push(v.id));
        let (first, first_drops) = Counted::new(1);
        progress.report(first);
        for i in 2..=4 {
            progress.report(Counted::new(i).0);
        }
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(ui.run_pending(0, None), Ok(4));
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4]);
        assert_eq!(first_drops.load(SeqCst), 1, "the handled value, once");

        // A panicking handler is contained; reports discarded unrun drop their value.
        let p2 = Progress::on(&ui, |_: Counted| panic!("handler"));
        let (v, drops) = Counted::new(5);
        p2.report(v);
        assert_eq!(ui.run_pending(0, None), Ok(1));
        assert_eq!(drops.load(SeqCst), 1);
        let (v, drops) = Counted::new(6);
        p2.report(v);
        drop((p2, progress));
        drop(ui); // closes it: the queued report is discarded
        assert_eq!(drops.load(SeqCst), 1, "a discarded report drops its value");
    }
    c.end();
}

#[test]
fn progress_stress_every_report_is_handled_once() {
    let c = case();
    {
        const PER_THREAD: u64 = 5000;
        let sum = Arc::new(AtomicU64::new(0));
        let count = Arc::new(AtomicU64::new(0));
        let (s, n) = (sum.clone(), count.clone());
        let progress = Progress::new(move |v: Box<u64>| {
            s.fetch_add(*v, SeqCst);
            n.fetch_add(1, SeqCst);
        });
        let handles: Vec<_> = (0..threads() as u64)
            .map(|t| {
                let p = progress.clone();
                thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        p.report(Box::new(t * PER_THREAD + i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        drop(progress);
        let total = threads() as u64 * PER_THREAD;
        wait_until("every report ran", || count.load(SeqCst) == total);
        assert_eq!(sum.load(SeqCst), total * (total - 1) / 2);
    }
    c.end();
}
