//! `tapir_status` and `tapir_status_str`.

use std::ffi::c_char;

use crate::core::status::Status;

/// The result of every fallible call. Values are ABI: never renumbered.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tapir_status {
    /// Success; out-parameters were written.
    Ok = 0,
    /// A required pointer argument (handle, callback, out-pointer, array) was NULL.
    NullArgument = 1,
    /// An argument was out of range: unknown flag bits, a bad timeout, an empty list
    /// where one is required, an index past the end.
    InvalidArgument = 2,
    /// The object is in the wrong state for the call.
    InvalidState = 3,
    /// The source's task was already completed; nothing changed.
    AlreadyCompleted = 4,
    /// The task ended canceled.
    Canceled = 5,
    /// The task ended faulted.
    Faulted = 6,
    /// A wait ran out of time (also the code of timeout errors).
    Timeout = 7,
    /// A panic inside tapir was caught at the boundary (also the code of the error a
    /// task fails with when that happens while running it).
    Panic = 8,
    /// The handle was released (stale), is of the wrong kind, or was never valid.
    InvalidHandle = 9,
    /// A non-blocking query on a task that has not completed.
    NotCompleted = 10,
    /// The code of the error a task fails with when its last source handle is
    /// released before completing it.
    BrokenPromise = 11,
    /// A counted primitive is at its maximum.
    Full = 12,
    /// The object was disposed.
    Disposed = 13,
    /// A producer/consumer queue was completed.
    QueueCompleted = 14,
    /// A scheduler refused work.
    SchedulerError = 15,
}

impl From<Status> for tapir_status {
    fn from(s: Status) -> Self {
        match s {
            Status::NullArgument => tapir_status::NullArgument,
            Status::InvalidArgument => tapir_status::InvalidArgument,
            Status::InvalidState => tapir_status::InvalidState,
            Status::AlreadyCompleted => tapir_status::AlreadyCompleted,
            Status::Canceled => tapir_status::Canceled,
            Status::Faulted => tapir_status::Faulted,
            Status::Timeout => tapir_status::Timeout,
            Status::Panic => tapir_status::Panic,
            Status::InvalidHandle => tapir_status::InvalidHandle,
            Status::NotCompleted => tapir_status::NotCompleted,
            Status::BrokenPromise => tapir_status::BrokenPromise,
            Status::Disposed => tapir_status::Disposed,
            Status::SchedulerError => tapir_status::SchedulerError,
        }
    }
}

/// `Ok(())` as TAPIR_STATUS_OK, an error as its status.
pub(crate) fn from_result(r: crate::core::status::Result<()>) -> tapir_status {
    match r {
        Ok(()) => tapir_status::Ok,
        Err(s) => s.into(),
    }
}

/// Returns a static, NUL-terminated English description of a status code.
///
/// Ownership: the string is static; never free it.
/// Threading: any thread. Blocking: never.
/// Errors: none; an unknown code yields "unknown status". Takes an `int32_t` (not the
/// enum) so any value from C or C# is safe to pass.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_status_str(status: i32) -> *const c_char {
    let s: &'static [u8] = match status {
        0 => b"ok\0",
        1 => b"a required pointer argument was NULL\0",
        2 => b"invalid argument\0",
        3 => b"invalid state for this call\0",
        4 => b"already completed\0",
        5 => b"canceled\0",
        6 => b"faulted\0",
        7 => b"timed out\0",
        8 => b"internal panic caught at the tapir boundary\0",
        9 => b"invalid handle (released, wrong kind or never valid)\0",
        10 => b"not completed\0",
        11 => b"broken promise: source released without completing its task\0",
        12 => b"full\0",
        13 => b"disposed\0",
        14 => b"queue completed\0",
        15 => b"scheduler error\0",
        _ => b"unknown status\0",
    };
    s.as_ptr().cast()
}
