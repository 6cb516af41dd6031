//! CancellationTokenSource.CancelAfter: the source keeps a guard whose drop stops the
//! timer, so the cancellation layer never names the timer.

use std::time::Duration;

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::work::Job;
use crate::core::task::workers;

use super::timer::{self, TimerId};

struct Deadline(TimerId);

impl Drop for Deadline {
    fn drop(&mut self) {
        timer::cancel(self.0);
    }
}

/// Cancels the source after `delay` (None: never; clears a pending deadline; zero: now).
/// Replaces an earlier deadline. The cancel runs on the default pool, so its callbacks
/// never run on the timer thread.
pub fn cancel_after(source: Handle, delay: Option<Duration>) -> Result<()> {
    let r = TokenRef::retain_source(source)?;
    if r.is_canceled() {
        return Ok(());
    }
    let Some(delay) = delay else {
        r.set_deadline(None);
        return Ok(());
    };
    if delay.is_zero() {
        r.set_deadline(None);
        drop(r.cancel(false));
        return Ok(());
    }
    let weak = r.weak();
    let id = timer::schedule(
        delay,
        Box::new(move || {
            workers::post(Job::library(move |run| {
                if let (true, Some(cell)) = (run, weak.upgrade()) {
                    drop(TokenRef::from_ref(cell).cancel(false));
                }
            }));
        }),
    );
    r.set_deadline(Some(Box::new(Deadline(id))));
    Ok(())
}
