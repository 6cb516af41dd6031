//! Cancellation: sources, tokens and registrations. Values that hold no tasks and no
//! timers: a deadline is a guard the time layer stores in the source.

pub(crate) mod registration;
pub(crate) mod source;

pub(crate) use registration::TokenRegistration;
pub use source::CancelFn;
pub(crate) use source::{CancelAction, TokenRef};
