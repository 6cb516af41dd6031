//! Time: the timer service, delays, task-level timeouts (WaitAsync) and deadlines
//! (CancelAfter). Timer expiries never run on the timer thread: it posts them to the
//! default pool.

pub(crate) mod deadline;
pub(crate) mod delay;
mod race;
pub(crate) mod timeout;
pub(crate) mod timer;

pub use deadline::cancel_after;
pub use delay::delay;
pub use timeout::wait_async;
