//! Task.WaitAsync: a task-level timeout and cancellation that never affect the original.

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::task::complete;
use crate::core::task::continuation::{Action, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::{SourceRef, task_view};

use super::race::{After, Race};

fn timed_out() -> Outcome {
    Outcome::library_error(Status::Timeout, "the operation timed out")
}

/// A task that completes as `original` does, or fails with a TIMEOUT error after
/// `timeout` (on the process-wide time or a clock; never: no timeout), or ends canceled
/// when `token` fires; `original` is never affected. An already completed original is
/// returned itself (+1).
pub fn wait_async(original: Handle, timeout: After, token: Option<TokenRef>) -> Result<Handle> {
    let (_, w) = task_view(original)?;
    if w.is_completed() {
        ops::task_retain(original)?;
        return Ok(original);
    }
    if let Some(t) = &token {
        if t.is_canceled() {
            return Ok(complete::new_completed(Outcome::Canceled(token)));
        }
    }
    if timeout.is_zero() {
        return Ok(complete::new_completed(timed_out()));
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let race = Race::new(source);
    let on_original = race.clone();
    let internal =
        Internal::from_fn(move |ant| on_original.finish(|| ant.shared_outcome(), ant.inline_ok));
    let key = internal.key();
    let cont = Continuation::internal(Action::Internal(internal));
    match list::register(Target::User(original), cont, Want::Removable) {
        Ok(placement) => race.set_original(placement, key),
        Err((s, cont)) => {
            cont.refuse();
            drop(race);
            let _ = ops::task_release(out);
            return Err(s);
        }
    }
    race.arm_timer(&timeout, timed_out, None);
    if let Some(t) = &token {
        race.arm_token(t);
    }
    Ok(out)
}
