//! The manual scheduler: a queue any thread posts to and the host drains with a budget
//! (a game's main thread, once per frame). Its test variant runs queued work in an
//! order chosen by a seed, so a test of races is reproducible. Either may expose a
//! wake descriptor, readable exactly while work is queued.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::core::sync::Mutex;
use crate::core::task::work::Job;
use crate::core::wake::WakeFd;

/// Which queued job runs next.
enum Order {
    /// First posted, first run.
    Fifo,
    /// A job picked by a generator seeded by the host (splitmix64: a seed's order is
    /// tapir's own contract, stable across versions, so it is not left to a crate).
    Seeded(u64),
}

impl Order {
    fn pick(&mut self, len: usize) -> usize {
        match self {
            Order::Fifo => 0,
            Order::Seeded(state) => {
                *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                // `len` is at most the queue length, so the result fits.
                (z % len as u64) as usize
            }
        }
    }
}

struct Inner {
    jobs: VecDeque<Job>,
    order: Order,
    /// Readable while `jobs` is non-empty: set by the post that fills an empty queue,
    /// cleared by the take that empties it, both under this lock.
    wake: Option<WakeFd>,
}

pub(crate) struct Queue {
    inner: Mutex<Inner>,
    /// No user handle is left: nobody can run the queue, so work is discarded.
    closed: AtomicBool,
}

impl Queue {
    fn with_order(order: Order) -> Queue {
        Queue {
            inner: Mutex::new(Inner {
                jobs: VecDeque::new(),
                order,
                wake: None,
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// A first-in, first-out queue.
    pub(super) fn fifo() -> Queue {
        Queue::with_order(Order::Fifo)
    }

    /// A queue that runs its jobs in the order `seed` chooses.
    pub(super) fn seeded(seed: u64) -> Queue {
        Queue::with_order(Order::Seeded(seed))
    }

    pub(super) fn push(&self, job: Job) {
        let mut inner = self.inner.lock();
        // Checked under the lock that `close` takes: a job is either drained by it or
        // refused here.
        if self.closed.load(Ordering::Relaxed) {
            drop(inner);
            drop(job); // discarded: its task fails with SCHEDULER_ERROR
            return;
        }
        inner.jobs.push_back(job);
        if inner.jobs.len() == 1 {
            if let Some(w) = &inner.wake {
                w.signal();
            }
        }
    }

    /// The next job to run, if any.
    fn take(&self) -> Option<Job> {
        let mut inner = self.inner.lock();
        let len = inner.jobs.len();
        if len == 0 {
            return None;
        }
        let at = inner.order.pick(len);
        let job = inner.jobs.swap_remove_front(at);
        if inner.jobs.is_empty() {
            if let Some(w) = &inner.wake {
                w.clear();
            }
        }
        job
    }

    /// Discards what is queued and everything posted later.
    pub(super) fn close(&self) {
        let jobs = {
            let mut inner = self.inner.lock();
            self.closed.store(true, Ordering::Relaxed);
            if let Some(w) = &inner.wake {
                w.clear();
            }
            std::mem::take(&mut inner.jobs)
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
            let Some(job) = self.take() else {
                break;
            };
            job.run();
            ran += 1;
        }
        ran
    }

    /// The queue's wake descriptor, made on first request.
    pub(super) fn wake_fd(&self) -> std::io::Result<i32> {
        let mut inner = self.inner.lock();
        if inner.wake.is_none() {
            let w = WakeFd::new()?;
            if !inner.jobs.is_empty() {
                w.signal();
            }
            inner.wake = Some(w);
        }
        Ok(inner.wake.as_ref().map_or(-1, WakeFd::fd))
    }
}

#[cfg(test)]
mod tests {
    use super::Order;

    /// A seed's order is part of the contract: tests written against one version must
    /// see the same interleaving in the next. These picks are pinned.
    #[test]
    fn a_seed_picks_the_same_sequence_in_every_version() {
        let mut order = Order::Seeded(42);
        let picks: Vec<usize> = (0..8).map(|_| order.pick(10)).collect();
        assert_eq!(picks, PINNED);
        let mut fifo = Order::Fifo;
        assert!((0..8).all(|_| fifo.pick(10) == 0));
    }

    const PINNED: [usize; 8] = [3, 1, 8, 4, 0, 2, 5, 8];
}
