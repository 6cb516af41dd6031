//! Loom models of the lock-free core, on the real code (built with `--cfg loom`).

mod loom_channel;
mod loom_hot;
mod loom_permits;
mod loom_race;
mod loom_refword;
mod loom_slot;
mod loom_word;
