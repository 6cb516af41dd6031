//! tapir: the .NET Task Parallel Library model for native code.
//!
//! The crate builds `libtapir.so` (and a static library) whose C ABI is described by
//! the generated `include/tapir.h`. [`core`] is the engine, safe Rust that knows
//! nothing of C beyond the callback triple; [`ffi`] is the only place with
//! `extern "C"` functions: it validates arguments, catches panics and translates.

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
