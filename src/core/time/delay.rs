//! Task.Delay, on the process-wide time or a clock.

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Status;
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;

use super::race::{After, Race};

fn clock_gone() -> Outcome {
    Outcome::library_error(
        Status::Disposed,
        "the clock of this delay was released before the delay elapsed",
    )
}

/// A task that succeeds (value NULL) once `after` has passed (never: never), or ends
/// canceled when `token` fires first; its continuations then run elsewhere, never
/// inside the canceling call. Zero completes at once; an already canceled token wins
/// over zero. A delay on a clock released before it elapses ends faulted (DISPOSED).
pub fn delay(after: After, token: Option<TokenRef>) -> Handle {
    if let Some(t) = &token {
        if t.is_canceled() {
            return complete::new_completed(Outcome::Canceled(token));
        }
    }
    let cancelable = token.as_ref().is_some_and(TokenRef::may_cancel);
    if after.is_zero() {
        return complete::new_completed(Outcome::value(0));
    }
    if after.is_never() && !cancelable {
        return complete::new_never();
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let race = Race::new(source);
    race.arm_timer(&after, || Outcome::value(0), Some(clock_gone));
    if let (Some(t), true) = (&token, cancelable) {
        race.arm_token(t);
    }
    out
}
