//! The safe Rust API: a second face over the same engine as the C ABI.
//!
//! A [`Task<T>`] here is the very object C sees as a `tapir_task`, C++ as a
//! `tapir::task<T>` and C# as a `TapirTask<T>`; [`Task::into_raw`] and
//! [`Task::from_raw`] move one across. Everything is re-exported at the crate root
//! (`tapir::Task`, `tapir::when_all`, ...); the crate's front page maps the TPL onto
//! these names.

mod cancel;
mod combinators;
mod error;
mod future;
mod primitives;
mod scheduler;
mod source;
mod task;
pub mod value;

pub use cancel::{CancellationRegistration, CancellationSource, CancellationToken};
pub use combinators::{
    delay, delay_with, for_each_throttled, interleaved, need_only_one, retry_on_fault, run, run_on,
    timeout, try_run_on, when_all, when_all_settled, when_any, when_any_with, yield_now,
};
pub use error::Error;
pub use future::block_on;
pub use primitives::{
    AsyncLock, AsyncRwLock, AutoResetEvent, Barrier, Cache, CacheOptions, Channel, Countdown,
    FullMode, LockGuard, ManualResetEvent, Progress, ReadAsync, ReadGuard, Semaphore,
    TryWriteError, WriteGuard,
};
pub use scheduler::{CustomScheduler, Scheduler, Work};
pub use source::CompletionSource;
pub use task::{ContinuationOptions, Task, TaskStatus};
