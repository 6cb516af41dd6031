//! tapir: the .NET Task Parallel Library model for native code, with a safe Rust API
//! whose tasks are the very objects C, C++ and C# see.
//!
//! The crate builds `libtapir.so` (and a static library) whose C ABI is described by
//! the generated `include/tapir.h` ([`ffi`]), and is a Rust library: [`Task<T>`] is a
//! `std::future::Future`, [`CompletionSource<T>`] completes it, and every combinator of
//! the C API has a Rust form. Both faces work on one engine, so a task made in Rust can
//! be handed to C ([`Task::into_raw`]) and a C task awaited in Rust ([`Task::from_raw`]),
//! with the C++ and C# bindings on the same objects.
//!
//! ```
//! use tapir::{CompletionSource, block_on, run, when_all};
//!
//! let source = CompletionSource::<u64>::new();
//! let task = source.task();
//! std::thread::spawn(move || source.set_result(40).unwrap());
//! let sum = block_on(async {
//!     let [a, b] = [task.await.unwrap(), run(|| 2u64).await.unwrap()];
//!     a + b
//! });
//! assert_eq!(sum, 42);
//! # let _ = when_all::<u8>(&[]);
//! ```
//!
//! A task is an ordinary future: `.await` it in any executor (tokio, async-std, a game
//! loop's own), with [`block_on`] for code that has none, or block on it with
//! [`Task::wait`]. An await registers one continuation on the task and wakes its waker
//! from the completing thread; awaiting a completed task reads it without allocating.
//!
//! # The TPL in Rust
//!
//! | .NET | tapir (Rust) |
//! |---|---|
//! | `Task`, `Task<T>` | [`Task<()>`](Task), [`Task<T>`] (`Clone` adds a reference) |
//! | `await t`, `t.Result`, `t.Wait()` | `t.await`, [`Task::wait`], [`Task::wait_completed`] |
//! | `t.Status`, `IsCompleted`, `Exception` | [`Task::status`] ([`TaskStatus`]), [`Task::is_completed`], [`Task::error`], [`Task::errors`] |
//! | `TaskCompletionSource<T>` | [`CompletionSource<T>`]; dropping the last one breaks the promise |
//! | `SetResult` / `TrySetResult` | [`CompletionSource::set_result`] / [`CompletionSource::try_set_result`] |
//! | `SetException`, `SetCanceled` | [`CompletionSource::set_error`], [`CompletionSource::set_errors`], [`CompletionSource::set_canceled`] |
//! | `TaskCreationOptions.RunContinuationsAsynchronously` | [`CompletionSource::with_async_continuations`] |
//! | `Task.FromResult`, `FromException`, `FromCanceled`, `CompletedTask` | [`Task::from_result`], [`Task::from_error`], [`Task::canceled`] / [`Task::canceled_by`], [`Task::completed`] |
//! | `ContinueWith(f, options, scheduler, token)` | [`Task::continue_with`], [`Task::try_continue_with_options`] with [`ContinuationOptions`] |
//! | `Unwrap` | [`Task::unwrap`] (on a `Task<Task<U>>`), [`CompletionSource::set_from_task`] |
//! | `Task.Run`, `TaskFactory.StartNew` | [`run`], [`run_on`], [`try_run_on`] |
//! | an `async` method | [`Task::from_future`], [`Task::from_try_future`] |
//! | `Task.Delay` | [`delay`], [`delay_with`] |
//! | `WaitAsync(timeout)`, `WaitAsync(token)` | [`timeout`] / [`Task::with_timeout`], [`Task::with_cancellation`] |
//! | `Task.WhenAll`, `WhenAny` | [`when_all`] (`Task<Vec<T>>`), [`when_all_settled`], [`when_any`] / [`when_any_with`] (the winner's index) |
//! | `Task.WhenEach` / Interleaved | [`interleaved`] |
//! | `Task.Yield` | [`yield_now`] |
//! | RetryOnFault, NeedOnlyOne, a throttled for-each | [`retry_on_fault`], [`need_only_one`], [`for_each_throttled`] |
//! | `Exception`, `AggregateException`, `Flatten`, `InnerExceptions` | [`Error`] (code, message, payload, [`Error::inner`], [`Error::flatten`]) |
//! | `OperationCanceledException` | an [`Error`] with [`Error::is_canceled`] |
//! | `CancellationTokenSource`, `Cancel`, `CancelAfter`, `CreateLinkedTokenSource` | [`CancellationSource`], [`CancellationSource::cancel`], [`CancellationSource::cancel_after`], [`CancellationSource::linked`] |
//! | `CancellationToken`, `None`, `Register` | [`CancellationToken`], [`CancellationToken::none`], [`CancellationToken::register`] |
//! | `CancellationTokenRegistration.Dispose` | dropping the [`CancellationRegistration`] |
//! | `TaskScheduler.Default`, an inline scheduler, a `SynchronizationContext` | [`Scheduler::pool`], [`Scheduler::inline`], [`Scheduler::manual`] + [`Scheduler::run_pending`] |
//! | a custom `TaskScheduler` | [`Scheduler::custom`] with a [`CustomScheduler`] |
//! | `TaskScheduler.Current` | [`Scheduler::current`] |
//!
//! # Where tapir differs
//!
//! - **A dropped source breaks its promise**: the task fails with an error of code
//!   [`Status::BrokenPromise`] instead of staying pending for ever.
//! - **Errors keep their identity across languages**: an [`Error`] is a reference to
//!   one error object; the error C set on a task is the one Rust reads, with its code,
//!   message and payload, and [`Error::into_raw`] gives C the same handle.
//! - **Canceling with a canceled error**: [`CompletionSource::set_error`] with an error
//!   for which [`Error::is_canceled`] is true cancels the task, so `?` on an awaited
//!   canceled task inside [`Task::from_try_future`] cancels the outer task, as an
//!   `OperationCanceledException` ends an async method canceled.
//! - **Values** travel in the C `void *` result: integers, floats, `bool`, `char`, `()`
//!   and `*mut c_void` in the bits, everything else boxed and dropped with the task's
//!   last reference ([`api::value`] says exactly what C sees).
//!
//! # Crossing to C
//!
//! [`Task::into_raw`] / [`Task::from_raw`] (and the same pair on [`CompletionSource`],
//! [`Error`], [`CancellationSource`], [`CancellationToken`] and [`Scheduler`]) move one
//! reference between a Rust value and a C handle; `as_raw` lends the handle. A
//! `Task<*mut c_void>` or `Task<usize>` reads what C code stores. [`ffi`] is the C API
//! itself, callable from Rust.

// A loom build compiles only the lock-free parts its models check.
#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("tapir handles are 64-bit values carried in pointers: 64-bit targets only");

#[cfg(not(loom))]
pub mod api;
pub(crate) mod core;
#[cfg(not(loom))]
pub mod ffi;

#[cfg(not(loom))]
pub use api::*;
#[cfg(not(loom))]
pub use core::status::Status;
