//! Coordination primitives built on the engine.

pub mod progress;
