//! Barrier: participants signal and wait in phases; when the last participant of a
//! phase arrives, the post-phase action runs (on that participant's thread, outside
//! every lock), then every participant of the phase is released and the next phase
//! begins.
//!
//! A participant whose wait times out or is canceled before its phase completes takes
//! its arrival back (as .NET's SignalAndWait with a timeout does). If the post-phase
//! action returns an error, every participant of that phase fails with it; the next
//! phase begins all the same.

use std::ffi::c_void;
use std::time::Duration;

use crate::core::sync::Mutex;

use crate::core::callback::UserData;
use crate::core::cancel::TokenRef;
use crate::core::error::ErrorRef;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::task::complete;
use crate::core::task::outcome::Outcome;

use super::waiters::{self, Armed, Entry, Ids, Queue, Wait, Wake, Withdraw};
use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};

const KINDS: &[Kind] = &[Kind::Barrier];

/// `tapir_barrier_phase_fn`: runs after each phase with the number of the phase that
/// completed; returns NULL or an error handle it gives to tapir.
pub type PhaseFn = unsafe extern "C" fn(user_data: *mut c_void, phase: u64) -> *const c_void;

pub(crate) struct Barrier {
    action: Option<PhaseFn>,
    /// The action's user data (destroyed with the barrier).
    data: UserData,
    inner: Mutex<Inner>,
}

struct Inner {
    participants: u32,
    arrived: u32,
    phase: u64,
    ids: Ids,
    queue: Queue<()>,
    disposed: bool,
}

prim_pool!(Barrier, BARRIERS);

impl Prim for Barrier {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &BARRIERS
    }
    fn last_user_gone(&self, _fast: &()) {
        self.dispose();
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        self.dispose();
    }
}

impl Barrier {
    fn dispose(&self) {
        let mut wake = Wake::default();
        {
            let mut g = self.inner.lock();
            g.disposed = true;
            for e in g.queue.drain() {
                wake.push(e.wait, waiters::disposed());
            }
        }
        wake.finish(true);
    }

    /// Runs the post-phase action for `phase` (no lock held); its error, if any.
    fn post_phase(&self, phase: u64) -> Option<ErrorRef> {
        let f = self.action?;
        // SAFETY: the creator's action, called with its user data from a participant's
        // thread, as the C contract of tapir_barrier_new allows.
        let err = unsafe { f(self.data.ptr(), phase) };
        let h = Handle::from_bits(err as usize as u64)?;
        // The action handed us a reference: adopt it if it is an error.
        let e = ErrorRef::retain(h).ok()?;
        let _ = crate::core::error::release_user(h);
        Some(e)
    }

    /// Completes phase `phase` whose waiters were taken out under the lock: runs the
    /// action, then releases them. The caller's own outcome comes back.
    fn finish_phase(&self, phase: u64, taken: Vec<Entry<()>>, inline_ok: bool) -> Outcome {
        let err = self.post_phase(phase);
        let outcome = || match &err {
            None => Outcome::value(1),
            Some(e) => Outcome::Faulted(vec![e.clone()]),
        };
        let mut wake = Wake::default();
        for e in taken {
            wake.push(e.wait, outcome());
        }
        wake.finish(inline_ok);
        outcome()
    }
}

impl Inner {
    /// Every participant has arrived: the phase ends. Returns the phase that ended and
    /// its waiters.
    fn end_phase(&mut self) -> (u64, Vec<Entry<()>>) {
        let phase = self.phase;
        self.phase += 1;
        self.arrived = 0;
        (phase, self.queue.drain().collect())
    }
}

impl Withdraw for Barrier {
    fn withdraw(me: &PrimRef<Self>, id: u64, _wake: &mut Wake) -> Option<Wait> {
        let mut g = me.get().get().inner.lock();
        let e = g.queue.remove(id)?;
        g.arrived -= 1;
        Some(e.wait)
    }
    fn attach(&self, id: u64, armed: Armed) -> Option<Armed> {
        self.inner.lock().queue.attach(id, armed)
    }
}

/// A barrier of `participants`, with an optional post-phase action (+1 handle).
pub fn new(participants: u32, action: Option<PhaseFn>, data: UserData) -> Handle {
    cell::create(
        Kind::Barrier,
        Barrier {
            action,
            data,
            inner: Mutex::new(Inner {
                participants,
                arrived: 0,
                phase: 0,
                ids: Ids::default(),
                queue: Queue::default(),
                disposed: false,
            }),
        },
    )
}

/// SignalAndWait: a task that succeeds with 1 when this phase completes (at once for
/// its last participant, after the post-phase action ran), with 0 when `timeout`
/// passes first (the arrival is taken back), or ends canceled when `token` fires
/// first. INVALID_STATE when the barrier has no participants.
pub fn signal_and_wait(
    h: Handle,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    let p = cell::pin::<Barrier>(h, KINDS)?;
    let b = p.get().get();
    let (out, id) = {
        let mut g = b.inner.lock();
        if g.participants == 0 {
            return Err(Status::InvalidState);
        }
        if let Some(t) = &token {
            if t.is_canceled() {
                return Ok(complete::new_completed(Outcome::Canceled(token)));
            }
        }
        if g.disposed {
            return Ok(complete::new_completed(waiters::disposed()));
        }
        if g.arrived + 1 == g.participants {
            let (phase, taken) = g.end_phase();
            drop(g);
            let mine = b.finish_phase(phase, taken, true);
            return Ok(complete::new_completed(mine));
        }
        if timeout == Some(Duration::ZERO) {
            return Ok(complete::new_completed(waiters::timed_out_false()));
        }
        g.arrived += 1;
        let (source, out) = waiters::new_waiter();
        let id = g.ids.next();
        g.queue.push(id, source, ());
        (out, id)
    };
    waiters::arm(&p, id, timeout, token.as_ref(), waiters::timed_out_false);
    Ok(out)
}

/// AddParticipants(n): returns the current phase. FULL on overflow.
pub fn add_participants(h: Handle, n: u32) -> Result<u64> {
    let p = cell::pin::<Barrier>(h, KINDS)?;
    let mut g = p.get().get().inner.lock();
    g.participants = g.participants.checked_add(n).ok_or(Status::Full)?;
    Ok(g.phase)
}

/// RemoveParticipants(n): INVALID_ARGUMENT when there are fewer than `n` participants,
/// INVALID_STATE when fewer than `n` have not arrived yet. If everyone left has
/// arrived, the phase completes (the action runs on this thread).
pub fn remove_participants(h: Handle, n: u32) -> Result<()> {
    let p = cell::pin::<Barrier>(h, KINDS)?;
    let b = p.get().get();
    let mut g = b.inner.lock();
    if n > g.participants {
        return Err(Status::InvalidArgument);
    }
    if n > g.participants - g.arrived {
        return Err(Status::InvalidState);
    }
    g.participants -= n;
    if g.arrived > 0 && g.arrived == g.participants {
        let (phase, taken) = g.end_phase();
        drop(g);
        drop(b.finish_phase(phase, taken, true));
    }
    Ok(())
}

/// The current phase, the participants, and those that have not arrived yet.
pub fn counts(h: Handle) -> Result<(u64, u32, u32)> {
    let p = cell::pin::<Barrier>(h, KINDS)?;
    let g = p.get().get().inner.lock();
    Ok((g.phase, g.participants, g.participants - g.arrived))
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Barrier>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Barrier>(h, KINDS)
}
