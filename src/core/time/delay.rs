//! Task.Delay.

use std::time::Duration;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::SourceRef;

use super::race::Race;

/// A task that succeeds (value NULL) after `delay` (None: never), or ends canceled when
/// `token` fires first; its continuations then run elsewhere, never inside the
/// canceling call. Zero completes at once; an already canceled token wins over zero.
pub fn delay(delay: Option<Duration>, token: Option<TokenRef>) -> Handle {
    if let Some(t) = &token {
        if t.is_canceled() {
            return complete::new_completed(Outcome::Canceled(token));
        }
    }
    let cancelable = token.as_ref().is_some_and(TokenRef::can_be_canceled);
    match delay {
        Some(d) if d.is_zero() => complete::new_completed(Outcome::value(0)),
        None if !cancelable => complete::new_never(),
        _ => {
            let (source, out) = SourceRef::new_task(false, 0);
            let race = Race::new(source);
            if let Some(d) = delay {
                race.arm_timer(d, || Outcome::value(0));
            }
            if let (Some(t), true) = (&token, cancelable) {
                race.arm_token(t);
            }
            out
        }
    }
}
