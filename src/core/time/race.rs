//! A pending task completed by the first of: a timer, a token, an original task. Every
//! path that wins stops the others at once, so their memory (timer entry, token
//! registration, continuation) returns immediately.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::{TokenRef, TokenRegistration};
use crate::core::task::list::Placement;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;
use crate::core::task::work::Job;
use crate::core::task::workers;

use super::timer::{self, TimerId};

pub(super) struct Race {
    source: SourceRef,
    done: AtomicBool,
    timer: Mutex<Option<TimerId>>,
    token: Mutex<Option<TokenRegistration>>,
    /// The registration on the original task (WaitAsync) and its removal key.
    original: Mutex<Option<(Placement, (usize, usize))>>,
}

impl Race {
    pub(super) fn new(source: SourceRef) -> Arc<Race> {
        Arc::new(Race {
            source,
            done: AtomicBool::new(false),
            timer: Mutex::new(None),
            token: Mutex::new(None),
            original: Mutex::new(None),
        })
    }

    fn is_done(&self) -> bool {
        // Acquire: pairs with the swap in `finish`.
        self.done.load(Ordering::Acquire)
    }

    /// The first caller completes the task; `inline_ok` false keeps its continuations
    /// off this thread.
    pub(super) fn finish(&self, outcome: impl FnOnce() -> Outcome, inline_ok: bool) {
        // AcqRel: exactly one path wins, and it sees what the arming paths stored.
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop_others();
        self.source.try_complete(outcome(), inline_ok);
    }

    fn stop_others(&self) {
        if let Some(id) = self.timer.lock().take() {
            timer::cancel(id);
        }
        drop(self.token.lock().take());
        if let Some((placement, key)) = self.original.lock().take() {
            placement.remove(key);
        }
    }

    /// Arms the timer: `outcome` completes the task when it fires, on the default pool.
    pub(super) fn arm_timer(self: &Arc<Self>, delay: Duration, outcome: fn() -> Outcome) {
        let race = self.clone();
        let id = timer::schedule(
            delay,
            Box::new(move || {
                workers::post(Job::library(move |run| {
                    if run {
                        race.finish(outcome, true);
                    }
                }));
            }),
        );
        *self.timer.lock() = Some(id);
        if self.is_done() {
            self.stop_others();
        }
    }

    /// Arms the token: cancellation completes the task canceled with it, and the task's
    /// continuations run elsewhere, never inside the canceling call.
    pub(super) fn arm_token(self: &Arc<Self>, token: &TokenRef) {
        let race = self.clone();
        let weak = token.weak();
        let reg = TokenRegistration::new(token, move || {
            let token = weak.upgrade().map(TokenRef::from_ref);
            race.finish(|| Outcome::Canceled(token), false);
        });
        *self.token.lock() = reg;
        if self.is_done() {
            self.stop_others();
        }
    }

    /// Records the registration on the original task (to remove it when another path
    /// wins first).
    pub(super) fn set_original(&self, placement: Placement, key: (usize, usize)) {
        *self.original.lock() = Some((placement, key));
        if self.is_done() {
            self.stop_others();
        }
    }
}
