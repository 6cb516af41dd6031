//! The manual scheduler: a queue any thread posts to and the host drains with a budget
//! (a game's main thread, once per frame).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::core::sync::Mutex;

use crate::core::task::work::Job;

#[derive(Default)]
pub(crate) struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    /// No user handle is left: nobody can run the queue, so work is discarded.
    closed: AtomicBool,
}

impl Queue {
    pub(super) fn push(&self, job: Job) {
        let mut jobs = self.jobs.lock();
        // Checked under the lock that `close` takes: a job is either drained by it or
        // refused here.
        if self.closed.load(Ordering::Relaxed) {
            drop(jobs);
            drop(job); // discarded: its task fails with SCHEDULER_ERROR
            return;
        }
        jobs.push_back(job);
    }

    /// Discards what is queued and everything posted later.
    pub(super) fn close(&self) {
        let jobs = {
            let mut jobs = self.jobs.lock();
            self.closed.store(true, Ordering::Relaxed);
            std::mem::take(&mut *jobs)
        };
        drop(jobs); // outside the lock: discarding runs destroys and continuations
    }

    /// Runs queued jobs until the queue is empty, `max_items` ran (0: no limit) or
    /// `budget` elapsed (checked between jobs). Returns how many ran.
    pub(super) fn run(&self, max_items: usize, budget: Option<Duration>) -> usize {
        let deadline = budget.map(|b| Instant::now() + b);
        let mut ran = 0;
        while max_items == 0 || ran < max_items {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let Some(job) = self.jobs.lock().pop_front() else {
                break;
            };
            job.run();
            ran += 1;
        }
        ran
    }
}
