//! Loom models of the lock-free words, compiled only under `--cfg loom`.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom_`.
//! Each model is small (two or three threads, one race) and names the interleaving it
//! targets in its doc comment.

mod loom_refword;
mod loom_state;
