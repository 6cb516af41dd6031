//! A job: the unit of work a scheduler runs. A job dropped without running is
//! discarded: its user data is destroyed, and the task it would have completed fails
//! with SCHEDULER_ERROR (its continuations still run). So a scheduler that refuses
//! work, a manual queue released with work in it, or a shutdown never loses anything
//! silently.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::core::callback::{RunFn, UserData, WorkFn};
use crate::core::cancel::{TokenRef, TokenRegistration};
use crate::core::status::Status;

use super::complete::run_continuation;
use super::continuation::Continuation;
use super::outcome::Outcome;
use super::refs::{SourceRef, TaskRef};

/// See the module docs.
pub(crate) struct Job {
    kind: Option<Kind>,
    /// The work id the tracing hooks know it by (0: untraced).
    trace: u64,
}

enum Kind {
    /// A continuation whose antecedent completed; the reference keeps the antecedent.
    Continuation {
        cont: Continuation,
        antecedent: TaskRef,
    },
    /// `tapir_scheduler_post`.
    Call { f: WorkFn, data: UserData },
    /// A task body (`tapir_run`): `f(user_data, source)` completes the task.
    Body(Body),
    /// Library code; the flag is false when the job is discarded instead of run.
    Library(Box<dyn FnOnce(bool) + Send>),
}

/// A task body and the task it completes.
pub(crate) struct Body {
    pub(crate) f: RunFn,
    pub(crate) data: UserData,
    pub(crate) source: SourceRef,
    /// Cancels the task early if its token fires before the body starts.
    pub(crate) early_cancel: Option<EarlyCancel>,
}

/// A body's early cancel: a registration on the run's token that cancels the task, and
/// the claim that decides, once, between that cancel and the body's start. Whichever
/// claims first acts; the other does nothing. The claim is the decision, not whether
/// the registration could still be removed: a token drops a callback unrun when its
/// source is released (and a cancel that stopped at its first error skips some), and a
/// callback dropped unrun never claims, so the body starts.
pub(crate) struct EarlyCancel {
    claim: Arc<AtomicBool>,
    /// Unregistered when dropped (the body started, or the job was discarded).
    _registration: TokenRegistration,
}

impl EarlyCancel {
    /// Registers on `token` the early cancel of the task `source` completes. None when
    /// the token can never cancel it: it can never be canceled, or it already was (the
    /// cancel then ran here, and the task has completed canceled).
    pub(crate) fn new(token: &TokenRef, source: SourceRef) -> Option<EarlyCancel> {
        let claim = Arc::new(AtomicBool::new(false));
        let theirs = claim.clone();
        let weak = token.weak();
        let registration = TokenRegistration::new(token, move || {
            // AcqRel, as the body's claim: exactly one of the two sees false.
            if !theirs.swap(true, Ordering::AcqRel) {
                let token = weak.upgrade().map(TokenRef::from_ref);
                source.try_complete(Outcome::Canceled(token), true);
            }
        })?;
        Some(EarlyCancel {
            claim,
            _registration: registration,
        })
    }

    /// The body claims its start: true when the cancel had not claimed first (it never
    /// will now; its registration goes).
    fn claim_start(self) -> bool {
        !self.claim.swap(true, Ordering::AcqRel)
    }
}

fn refused() -> Outcome {
    Outcome::library_error(
        Status::SchedulerError,
        "the scheduler refused the work that would have completed this task",
    )
}

fn panicked() -> Outcome {
    Outcome::library_error(Status::Panic, "a panic inside tapir failed this task")
}

/// Faults the task with PANIC if the body's frame unwinds.
struct FaultOnPanic<'a>(&'a SourceRef);
impl Drop for FaultOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.try_complete(panicked(), true);
        }
    }
}

impl Job {
    fn of(kind: Kind) -> Job {
        Job {
            kind: Some(kind),
            trace: 0,
        }
    }

    /// The job is being posted to the scheduler `scheduler_id` (0: the default pool):
    /// reports it to the tracing hooks, if set, under a new work id.
    #[inline]
    pub(crate) fn posting(&mut self, scheduler_id: u64) {
        if super::trace::active() {
            self.trace_posting(scheduler_id);
        }
    }

    #[cold]
    fn trace_posting(&mut self, scheduler_id: u64) {
        let id = super::trace::work_id();
        if id != 0 {
            self.trace = id;
            super::trace::work_posted(id, scheduler_id);
        }
    }

    pub(crate) fn continuation(cont: Continuation, antecedent: TaskRef) -> Job {
        Job::of(Kind::Continuation { cont, antecedent })
    }
    pub(crate) fn call(f: WorkFn, data: UserData) -> Job {
        Job::of(Kind::Call { f, data })
    }
    pub(crate) fn body(body: Body) -> Job {
        Job::of(Kind::Body(body))
    }
    pub(crate) fn library(f: impl FnOnce(bool) + Send + 'static) -> Job {
        Job::of(Kind::Library(Box::new(f)))
    }

    /// Runs the job on this thread. A panic inside library code is contained here so
    /// it never kills a scheduler's thread.
    pub(crate) fn run(mut self) {
        let Some(kind) = self.kind.take() else { return };
        let id = self.trace;
        // The scheduler running it is the one it was posted to (its runner has entered
        // it on this thread).
        let scheduler = if id != 0 {
            super::schedule::current_trace_id()
        } else {
            0
        };
        if id != 0 {
            super::trace::work_started(id, scheduler);
        }
        let _ = catch_unwind(AssertUnwindSafe(move || match kind {
            Kind::Continuation { cont, antecedent } => run_dispatched(cont, antecedent),
            Kind::Call { f, data } => {
                // SAFETY: the poster's function, called once with its user_data on a
                // scheduler's thread, as the C contract of tapir_scheduler_post allows.
                unsafe { f(data.ptr()) };
                drop(data);
            }
            Kind::Body(body) => run_body(body),
            Kind::Library(f) => f(true),
        }));
        if id != 0 {
            super::trace::work_finished(id, scheduler);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        match self.kind.take() {
            None => {}
            Some(Kind::Continuation { cont, antecedent }) => {
                cont.action.refused();
                drop(antecedent);
            }
            Some(Kind::Call { data, .. }) => drop(data),
            Some(Kind::Body(body)) => {
                drop(body.early_cancel);
                body.source.try_complete(refused(), true);
                drop(body.data);
            }
            Some(Kind::Library(f)) => f(false),
        }
    }
}

/// A dispatched continuation runs on a scheduler's thread while the completer is long
/// gone: it lends a user callback a user reference of its own to the antecedent. A
/// library continuation has no callback to lend one to, and minting one would make
/// the handle value its user released valid again for that moment.
fn run_dispatched(cont: Continuation, antecedent: TaskRef) {
    let Some(ant) = antecedent.antecedent() else {
        debug_assert!(false, "a dispatched continuation's antecedent completed");
        return;
    };
    let lent = if cont.action.is_internal() {
        None
    } else {
        antecedent.mint_user().ok()
    };
    run_continuation(&ant, cont);
    if let Some(h) = lent {
        let _ = super::complete::release_task_handle(h);
    }
    drop(antecedent);
}

fn run_body(body: Body) {
    let Body {
        f,
        data,
        source,
        early_cancel,
    } = body;
    // The body starts only if it claims the start before the early cancel does, so a
    // cancel racing the start either cancels the task (the body never runs, destroy
    // does) or comes too late to touch it.
    let may_start = early_cancel.is_none_or(EarlyCancel::claim_start);
    if !may_start || source.is_completed() {
        return;
    }
    let guard = FaultOnPanic(&source);
    // SAFETY: the caller's body, called once with its user_data and a source handle that
    // `source` keeps valid for the call.
    unsafe { f(data.ptr(), source.source_handle().as_ptr()) };
    drop(guard);
    drop(data);
    source.finish(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cancel::source;
    use crate::core::memory::Handle;

    /// A cancel source and a library reference to its token (no token handle left).
    fn token_of_new_source() -> (Handle, TokenRef) {
        let s = source::source_new();
        let t = source::token_of(s).unwrap();
        let r = TokenRef::retain(t).unwrap();
        source::token_release(t).unwrap();
        (s, r)
    }

    fn run_task() -> (SourceRef, Handle) {
        SourceRef::new_run_task(0)
    }

    #[test]
    fn a_cancel_before_the_start_cancels_and_the_body_may_not_start() {
        let (s, token) = token_of_new_source();
        let (source, task) = run_task();
        let early = EarlyCancel::new(&token, source.clone()).unwrap();
        source::cancel(s, false).unwrap();
        assert!(source.is_completed(), "the cancel completed the task");
        assert!(!early.claim_start());
        source::source_release(s).unwrap();
        drop(source);
        super::super::ops::task_release(task).unwrap();
    }

    #[test]
    fn a_start_before_the_cancel_keeps_the_task_for_the_body() {
        let (s, token) = token_of_new_source();
        let (source, task) = run_task();
        let early = EarlyCancel::new(&token, source.clone()).unwrap();
        assert!(early.claim_start());
        source::cancel(s, false).unwrap();
        assert!(
            !source.is_completed(),
            "a cancel after the start touched the task"
        );
        source.finish(true);
        source::source_release(s).unwrap();
        super::super::ops::task_release(task).unwrap();
    }

    /// The token's source is released before the body starts, while its object lives on
    /// (here through `token`): the callback is dropped unrun, and the body starts.
    #[test]
    fn a_callback_dropped_unrun_lets_the_body_start() {
        let (s, token) = token_of_new_source();
        let (source, task) = run_task();
        let early = EarlyCancel::new(&token, source.clone()).unwrap();
        source::source_release(s).unwrap();
        assert!(early.claim_start());
        assert!(!source.is_completed());
        source.finish(true);
        drop(token);
        super::super::ops::task_release(task).unwrap();
    }
}
