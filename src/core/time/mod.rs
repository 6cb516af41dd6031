//! Time: the process-wide timer service (its own thread, or driven by the host),
//! clocks the host ticks (frames, scaled time), delays, task-level timeouts and
//! deadlines (CancelAfter). Timer expiries never run user code where the timer runs:
//! they post it to where expiries go (the configured timer scheduler, else the pool).

pub(crate) mod clock;
pub(crate) mod deadline;
pub(crate) mod delay;
mod race;
pub(crate) mod timeout;
pub(crate) mod timer;

pub use deadline::cancel_after;
pub use delay::delay;
pub use race::After;
pub use timeout::wait_async;
