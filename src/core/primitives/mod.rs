//! Coordination primitives built on the engine: progress reporting, and the
//! asynchronous semaphore, events, countdown, barrier, lock, reader-writer lock,
//! channel and single-flight cache.
//!
//! Each primitive is a pooled object of its own handle kind ([`cell`]); its waiters are
//! pending tasks it alone can complete ([`waiters`] states the rules they all keep:
//! decided under the primitive's mutex, completed after it is released, bounded depth,
//! cancellation and timers that never run user code where they must not).

pub(crate) mod barrier;
pub(crate) mod cache;
pub(crate) mod cell;
pub(crate) mod channel;
pub(crate) mod countdown;
pub(crate) mod event;
pub(crate) mod guard;
pub(crate) mod lock;
pub mod progress;
pub(crate) mod rwlock;
pub(crate) mod semaphore;
pub(crate) mod waiters;
