//! Coordination primitives built on the engine: progress reporting, and the
//! asynchronous semaphore, events, countdown, barrier, lock, reader-writer lock,
//! channel and single-flight cache.
//!
//! Each primitive is a pooled object of its own handle kind (`memory::cell`); its waiters are
//! pending tasks it alone can complete ([`waiters`] states the rules they all keep:
//! decided under the primitive's mutex, completed after it is released, bounded depth,
//! cancellation and timers that never run user code where they must not).

#[cfg(not(loom))]
pub(crate) mod barrier;
#[cfg(not(loom))]
pub(crate) mod cache;
#[cfg(not(loom))]
pub(crate) mod channel;
#[cfg(not(loom))]
pub(crate) mod countdown;
#[cfg(not(loom))]
pub(crate) mod event;
#[cfg(not(loom))]
pub(crate) mod guard;
pub(crate) mod hot;
#[cfg(not(loom))]
pub(crate) mod lock;
pub(crate) mod permits;
#[cfg(not(loom))]
pub mod progress;
pub(crate) mod ring;
#[cfg(not(loom))]
pub(crate) mod rwlock;
#[cfg(not(loom))]
pub(crate) mod semaphore;
#[cfg(not(loom))]
pub(crate) mod waiters;
