//! The one table of status codes: what every fallible call returns, and the codes of
//! the errors tapir creates itself (broken promise, timeout, scheduler refusal, panic).
//!
//! The enum is the C type `tapir_status` (cbindgen renames it); its numbers are ABI and
//! never change. Core functions return `Result<T, Status>` and never use `Status::Ok`
//! as an error.

/// The result of every fallible call. Values are ABI: never renumbered.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
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
    /// A counted primitive is at its maximum, or an object has as many references as
    /// it can count.
    Full = 12,
    /// The object was disposed.
    Disposed = 13,
    /// A producer/consumer queue was completed.
    QueueCompleted = 14,
    /// A scheduler refused work (also the code of the error a task fails with when the
    /// work that would have completed it was discarded).
    SchedulerError = 15,
}

impl Status {
    /// The number C sees.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// A static, NUL-terminated English description of `code` ("unknown status" for a
    /// number that is not a status).
    pub fn message_of(code: i32) -> &'static [u8] {
        match code {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_message() {
        for code in 0..=15 {
            assert_ne!(Status::message_of(code), b"unknown status\0", "{code}");
        }
        assert_eq!(Status::message_of(16), b"unknown status\0");
        assert_eq!(Status::message_of(-1), b"unknown status\0");
    }
}
