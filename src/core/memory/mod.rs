//! Memory: handles, reference words, type-stable pooled slots and the one lifecycle
//! every handle family follows. Nothing here knows what the objects are.

#[cfg(not(loom))]
pub(crate) mod cell;
#[cfg(not(loom))]
pub(crate) mod family;
pub mod handle;
#[cfg(not(loom))]
pub(crate) mod pool;
pub(crate) mod refword;

#[cfg(not(loom))]
pub use handle::{Handle, Kind};
