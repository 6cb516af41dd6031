//! A pending task completed by the first of: a timer, a token, an original task. Every
//! path that wins stops the others at once, so their memory (timer entry, token
//! registration, continuation) returns immediately.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::cancel::{TokenRef, TokenRegistration};
use crate::core::memory::cell::PrimRef;
use crate::core::task::list::Placement;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;
use crate::core::task::work::Job;

use super::clock::Clock;
use super::timer::{self, Armed, TimerAction};

/// When a timer fires: never, after a duration of the process-wide time (real, or the
/// host's with the host driver), or after ticks of a clock.
pub enum After {
    Never,
    Time(Duration),
    Ticks(PrimRef<Clock>, u64),
}

impl After {
    /// A duration of the process-wide time (None: never).
    pub(crate) fn time(d: Option<Duration>) -> After {
        d.map_or(After::Never, After::Time)
    }

    /// `amount` in a clock's units (-1: never).
    pub(crate) fn on_clock(
        clock: PrimRef<Clock>,
        amount: f64,
    ) -> crate::core::status::Result<After> {
        Ok(match clock.get().get().ticks_of(amount)? {
            None => After::Never,
            Some(ticks) => After::Ticks(clock, ticks),
        })
    }

    pub(crate) fn is_never(&self) -> bool {
        matches!(self, After::Never)
    }

    pub(crate) fn is_zero(&self) -> bool {
        match self {
            After::Never => false,
            After::Time(d) => d.is_zero(),
            After::Ticks(_, t) => *t == 0,
        }
    }

    /// Arms `action` on the process-wide timer or the clock (None: never fires).
    pub(crate) fn arm(&self, action: TimerAction) -> Option<Armed> {
        match self {
            After::Never => None,
            After::Time(d) => Some(timer::schedule(*d, action)),
            After::Ticks(clock, ticks) => Some(clock.get().get().arm(*ticks, action)),
        }
    }
}

/// A race's timer action. Run, it posts the race's finish to where expiries run;
/// dropped unrun (its clock was released), it finishes the race with `if_dropped`.
struct Expiry {
    race: Option<Arc<Race>>,
    outcome: fn() -> Outcome,
    if_dropped: Option<fn() -> Outcome>,
}

impl Expiry {
    fn fire(mut self) {
        let (race, outcome) = (self.race.take().expect("fires once"), self.outcome);
        // A job discarded unrun (a pool shutting down) still ends the race as the timer
        // said, with continuations dispatched: a delay never breaks its promise for it.
        timer::post_expiry(Job::library(move |run| race.finish(outcome, run)));
    }
}

impl Drop for Expiry {
    fn drop(&mut self) {
        if let (Some(race), Some(f)) = (self.race.take(), self.if_dropped) {
            race.finish(f, false);
        }
    }
}

pub(super) struct Race {
    source: SourceRef,
    done: AtomicBool,
    timer: Mutex<Option<Armed>>,
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
        // Taken out before the cancel: dropping the action re-enters `finish`.
        let armed = self.timer.lock().take();
        if let Some(t) = armed {
            t.cancel();
        }
        drop(self.token.lock().take());
        if let Some((placement, key)) = self.original.lock().take() {
            placement.remove(key);
        }
    }

    /// Arms the timer: `outcome` completes the task when it fires (in a job where timer
    /// expiries run); `if_dropped`, if given, when the timer is dropped unrun.
    pub(super) fn arm_timer(
        self: &Arc<Self>,
        after: &After,
        outcome: fn() -> Outcome,
        if_dropped: Option<fn() -> Outcome>,
    ) {
        if after.is_never() {
            return;
        }
        let expiry = Expiry {
            race: Some(self.clone()),
            outcome,
            if_dropped,
        };
        let Some(armed) = after.arm(Box::new(move || expiry.fire())) else {
            return;
        };
        *self.timer.lock() = Some(armed);
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
