//! CancellationTokenSource.CancelAfter: the source keeps a guard whose drop stops the
//! timer, so the cancellation layer never names the timer.

use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::Result;
use crate::core::task::work::Job;

use super::race::After;
use super::timer::{self, Armed};

struct Deadline(Armed);

impl Drop for Deadline {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Cancels the source once `after` has passed (on the process-wide time or a clock;
/// never: clears a pending deadline; zero: now). Replaces an earlier deadline. The
/// cancel runs where timer expiries run, so its callbacks never run on the timer
/// thread (or inside the host's tick).
pub fn cancel_after(source: Handle, after: After) -> Result<()> {
    let r = TokenRef::retain_source(source)?;
    if r.is_canceled() {
        return Ok(());
    }
    if after.is_never() {
        r.set_deadline(None);
        return Ok(());
    }
    if after.is_zero() {
        r.set_deadline(None);
        drop(r.cancel(false));
        return Ok(());
    }
    let weak = r.weak();
    let armed = after.arm(Box::new(move || {
        // Discarded unrun (a pool shutting down), the job still cancels, on the
        // discarding thread: a deadline is never lost.
        timer::post_expiry(Job::library(move |_run| {
            if let Some(cell) = weak.upgrade() {
                drop(TokenRef::from_ref(cell).cancel(false));
            }
        }));
    }));
    r.set_deadline(armed.map(|a| Box::new(Deadline(a)) as _));
    Ok(())
}
