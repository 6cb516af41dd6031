//! Game time: clocks the host ticks from its frame loop — one that counts frames, one
//! in milliseconds of scaled, pausable time (Unity's `Time.time` under `timeScale`) —
//! on which delays, timeouts and cancel-afters can be measured.
//!
//! A clock is a host-driven timer heap: its time moves only in
//! [`Clock::advance`], which then runs, on the calling thread, every timer now due. A
//! timer's expiry only posts its work (to where timer expiries run), so an advance
//! never runs user code itself. Ticks are frames, or microseconds of game time.
//!
//! When the last user handle goes, nobody can advance the clock: its pending timers
//! are dropped at once (a delay on it ends faulted, a timeout on it never fires), so
//! no task waits forever on a clock that no longer exists.

use crate::core::memory::cell::{self, Prim, PrimCell, PrimRef, prim_pool};
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::sync::Mutex;

use super::timer::{Armed, TimerAction, TimerService};

const KINDS: &[Kind] = &[Kind::Clock];

/// Microseconds per game millisecond: a scaled clock's tick.
const US_PER_MS: f64 = 1000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Frames,
    ScaledMs,
}

pub(crate) struct Clock {
    unit: Unit,
    timers: TimerService,
    state: Mutex<State>,
}

struct State {
    scale: f64,
    paused: bool,
    /// Frames, or microseconds of game time (kept fractional so small scaled steps add up).
    ticks: f64,
}

prim_pool!(Clock, CLOCKS);

impl Prim for Clock {
    type Fast = ();
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &CLOCKS
    }
    fn last_user_gone(&self, _fast: &()) {
        self.timers.clear();
    }
}

fn valid_scale(scale: f64) -> Result<f64> {
    if scale.is_finite() && scale >= 0.0 {
        Ok(scale)
    } else {
        Err(Status::InvalidArgument)
    }
}

fn create(unit: Unit, scale: f64) -> Handle {
    let clock = Clock {
        unit,
        timers: TimerService::new_host(),
        state: Mutex::new(State {
            scale,
            paused: false,
            ticks: 0.0,
        }),
    };
    cell::create(Kind::Clock, clock)
}

/// A clock counting frames, at 0 (+1).
pub fn new_frames() -> Handle {
    create(Unit::Frames, 1.0)
}

/// A clock in game milliseconds that moves `scale` times as fast as the real time the
/// host reports, at 0 (+1).
pub fn new_scaled(scale: f64) -> Result<Handle> {
    Ok(create(Unit::ScaledMs, valid_scale(scale)?))
}

/// A library reference for the length of a call.
pub(crate) fn pin(h: Handle) -> Result<PrimRef<Clock>> {
    cell::pin::<Clock>(h, KINDS)
}

/// Adds a reference.
pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Clock>(h, KINDS)
}

/// Releases a reference; the last user handle drops the clock's pending timers.
pub fn release(h: Handle) -> Result<()> {
    cell::release::<Clock>(h, KINDS)
}

/// Moves the clock by `delta` (frames: a whole number; scaled: real milliseconds, times
/// the scale) unless paused, then runs its due timers here. Returns how many ran.
pub fn advance(h: Handle, delta: f64) -> Result<usize> {
    let r = pin(h)?;
    let clock = r.get().get();
    let whole = delta.fract() == 0.0 || clock.unit == Unit::ScaledMs;
    if !(delta.is_finite() && delta >= 0.0 && whole) {
        return Err(Status::InvalidArgument);
    }
    let now = {
        let mut s = clock.state.lock();
        if !s.paused {
            s.ticks += match clock.unit {
                Unit::Frames => delta,
                Unit::ScaledMs => delta * s.scale * US_PER_MS,
            };
        }
        s.ticks
    };
    // Saturating: a clock driven past u64::MAX ticks stays there.
    clock.timers.advance(now as u64);
    Ok(clock.timers.run_due())
}

/// The clock's time: frames, or game milliseconds.
pub fn now(h: Handle) -> Result<f64> {
    let r = pin(h)?;
    let clock = r.get().get();
    let ticks = clock.state.lock().ticks;
    Ok(match clock.unit {
        Unit::Frames => ticks,
        Unit::ScaledMs => ticks / US_PER_MS,
    })
}

/// Sets a scaled clock's rate (a frame clock has none: InvalidArgument).
pub fn set_scale(h: Handle, scale: f64) -> Result<()> {
    let r = pin(h)?;
    let clock = r.get().get();
    if clock.unit != Unit::ScaledMs {
        return Err(Status::InvalidArgument);
    }
    clock.state.lock().scale = valid_scale(scale)?;
    Ok(())
}

/// Pauses or resumes the clock: a paused clock ignores advances.
pub fn set_paused(h: Handle, paused: bool) -> Result<()> {
    let r = pin(h)?;
    r.get().get().state.lock().paused = paused;
    Ok(())
}

impl Clock {
    /// The ticks of `amount` in the clock's unit (frames or game milliseconds), rounded
    /// up so a timer is never early; -1: never (None). Other negative amounts and
    /// non-numbers are refused.
    pub(crate) fn ticks_of(&self, amount: f64) -> Result<Option<u64>> {
        if amount == -1.0 {
            return Ok(None);
        }
        if !(amount.is_finite() && amount >= 0.0) {
            return Err(Status::InvalidArgument);
        }
        let ticks = match self.unit {
            Unit::Frames => amount.ceil(),
            Unit::ScaledMs => (amount * US_PER_MS).ceil(),
        };
        Ok(Some(ticks as u64))
    }

    /// Arms `action` to run (in an advance) once `ticks` ticks have passed.
    pub(crate) fn arm(&self, ticks: u64, action: TimerAction) -> Armed {
        self.timers.arm_ticks(ticks, action)
    }
}
