//! Why a core call did not do what was asked. The ffi layer maps these 1:1 onto
//! `tapir_status`; the numbers live there.

/// A failed call's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A required pointer was NULL.
    NullArgument,
    /// A value was out of range (flags, timeouts, indices, empty lists).
    InvalidArgument,
    /// The object is in the wrong state for this call.
    InvalidState,
    /// The source already completed its task.
    AlreadyCompleted,
    /// The task ended canceled.
    Canceled,
    /// The task ended faulted.
    Faulted,
    /// The wait ran out of time.
    Timeout,
    /// A panic was caught inside the library.
    Panic,
    /// Stale, wrong-kind or forged handle.
    InvalidHandle,
    /// Non-blocking query on a pending task.
    NotCompleted,
    /// The source was released without completing its task.
    BrokenPromise,
    /// The object was disposed.
    Disposed,
    /// A scheduler refused work.
    SchedulerError,
}

impl Status {
    /// The number this status has in `tapir_status` (ABI: never renumber). Errors the
    /// library creates itself (broken promise, timeout, panic) carry these codes.
    pub fn code(self) -> i32 {
        match self {
            Status::NullArgument => 1,
            Status::InvalidArgument => 2,
            Status::InvalidState => 3,
            Status::AlreadyCompleted => 4,
            Status::Canceled => 5,
            Status::Faulted => 6,
            Status::Timeout => 7,
            Status::Panic => 8,
            Status::InvalidHandle => 9,
            Status::NotCompleted => 10,
            Status::BrokenPromise => 11,
            Status::Disposed => 13,
            Status::SchedulerError => 15,
        }
    }
}

/// The core's result type.
pub type Result<T> = std::result::Result<T, Status>;

/// Milliseconds as the C API takes them: -1 infinite, 0..=2^32-2 finite.
pub(crate) fn timeout_from_ms(ms: i64) -> Result<Option<std::time::Duration>> {
    const MAX: i64 = 4_294_967_294;
    match ms {
        -1 => Ok(None),
        0..=MAX => Ok(Some(std::time::Duration::from_millis(ms as u64))),
        _ => Err(Status::InvalidArgument),
    }
}
