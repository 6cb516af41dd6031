//! Task.Run and Task.Yield.

use crate::core::callback::{RunFn, UserData};
use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Status;
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;
use crate::core::task::schedule::{self, SchedRef};
use crate::core::task::work::{Body, EarlyCancel, Job};
use crate::core::task::workers;

/// Task.Run: posts `f(user_data, source)` to `scheduler` (None: the default pool); the
/// body completes its task through `source` (now, or later after a retain; left pending
/// and unretained, the task fails with BROKEN_PROMISE). A token canceled before the body
/// starts cancels the task at once and the body never runs (its user data is
/// destroyed); the body's own cancellation is acknowledged only with that token.
pub fn run(
    scheduler: Option<SchedRef>,
    f: RunFn,
    data: UserData,
    token: Option<TokenRef>,
) -> Handle {
    if let Some(t) = &token {
        if t.is_canceled() {
            drop(data);
            return complete::new_completed(Outcome::Canceled(token));
        }
    }
    let (source, out) = SourceRef::new_run_task(token.as_ref().map_or(0, TokenRef::bits));
    let early_cancel = token
        .as_ref()
        .and_then(|t| EarlyCancel::new(t, source.clone()));
    // The body travels inline in its job: no allocation per run.
    let job = Job::body(Body {
        f,
        data,
        source,
        early_cancel,
    });
    match scheduler {
        Some(s) => s.post(job),
        None => workers::post(job),
    }
    out
}

/// Task.Yield: a task that completes asynchronously, on the scheduler running the
/// caller (the default pool when there is none).
pub fn yield_now() -> Handle {
    let (source, out) = SourceRef::new_task(false, 0);
    let job = Job::library(move |run| {
        let outcome = if run {
            Outcome::value(0)
        } else {
            Outcome::library_error(Status::SchedulerError, "the scheduler refused the yield")
        };
        source.try_complete(outcome, true);
    });
    match schedule::current() {
        Some(s) => s.post(job),
        None => workers::post(job),
    }
    out
}
