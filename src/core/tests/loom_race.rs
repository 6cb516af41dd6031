//! Loom model of the word that decides a when_any (`combinators::race`): inputs
//! completing while the registering thread is still registering, and after it armed.
//! Exactly one thread finishes, it sees what the registering thread stored before
//! arming, and the index it finishes with is the winner's.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::core::sync::UnsafeCell;

#[path = "../combinators/race.rs"]
mod race;
use race::{Race, Win};

struct Model {
    race: Race,
    /// What the registering thread hands to the finisher (the placements): written
    /// before `arm`, read only by the thread that finishes.
    handed: UnsafeCell<usize>,
    finishes: AtomicUsize,
    finished_with: AtomicUsize,
}

impl Model {
    fn finish(&self, index: usize) {
        // SAFETY: only the finishing thread reads it, after the registering thread's
        // write (ordered by the race word).
        let handed = self.handed.with(|p| unsafe { *p });
        assert_eq!(handed, 42, "the finisher did not see the placements");
        self.finishes.fetch_add(1, Ordering::Relaxed);
        self.finished_with.store(index, Ordering::Relaxed);
    }
}

/// Two inputs complete on their own threads while the registering thread stores the
/// placements and arms: whoever the race picks, one finish, with the winner's index.
#[test]
fn loom_race_one_finisher() {
    loom::model(|| {
        let m = Arc::new(Model {
            race: Race::new(),
            handed: UnsafeCell::new(0),
            finishes: AtomicUsize::new(0),
            finished_with: AtomicUsize::new(usize::MAX),
        });
        let inputs: Vec<_> = (1..=2)
            .map(|i| {
                let m = m.clone();
                thread::spawn(move || match m.race.try_win(i) {
                    Win::Finish => {
                        m.finish(i);
                        Some(i)
                    }
                    Win::Recorded => Some(i),
                    Win::Lost => None,
                })
            })
            .collect();
        // SAFETY: no thread reads it before `arm` publishes it.
        m.handed.with_mut(|p| unsafe { *p = 42 });
        if let Some(i) = m.race.arm() {
            m.finish(i);
        }
        let winners: Vec<usize> = inputs
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one input wins");
        assert_eq!(m.finishes.load(Ordering::Relaxed), 1, "exactly one finish");
        assert_eq!(m.finished_with.load(Ordering::Relaxed), winners[0]);
    });
}

/// A race never armed (the when_any failed validation): an input completing does not
/// finish anything.
#[test]
fn loom_race_never_armed_never_finishes() {
    loom::model(|| {
        let r = Arc::new(Race::new());
        let r2 = r.clone();
        let t = thread::spawn(move || r2.try_win(3));
        assert_ne!(t.join().unwrap(), Win::Finish);
        assert!(r.has_winner());
        assert_eq!(r.try_win(4), Win::Lost);
    });
}
