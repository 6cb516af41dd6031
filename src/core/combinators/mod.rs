//! Composition: Run and Yield, WhenAll and its variants, WhenAny and Interleaved, the
//! factory combinators (RetryOnFault, NeedOnlyOne, the throttled for-each), Unwrap and
//! completing a source from a task. Each completes a library-owned source; inputs are
//! observed through library continuations, and no combinator keeps a pending input.

pub(crate) mod factories;
mod pins;
mod race;
pub(crate) mod run;
pub(crate) mod unwrap;
pub(crate) mod when_all;
pub(crate) mod when_any;

pub use factories::{
    CancelableFactoryFn, FactoryFn, for_each_throttled, need_only_one, retry_on_fault,
};
pub use run::{run, yield_now};
pub use unwrap::{set_from_task, unwrap};
pub use when_all::{AllMode, when_all};
pub use when_any::{interleaved, when_any};
