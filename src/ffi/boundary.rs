//! The panic boundary and argument-check macros every exported function uses.
//!
//! `ffi_boundary!` wraps a body in `catch_unwind`: a panic becomes the return type's
//! `OnPanic` value (TAPIR_STATUS_PANIC, false, NULL, 0) and is recorded as the
//! thread's last status. `try_handle!` and friends return early with the type's
//! failure value for NULL or invalid arguments.

use std::cell::Cell;

use crate::core::status::Status as tapir_status;

thread_local! {
    static LAST: Cell<tapir_status> = const { Cell::new(tapir_status::Ok) };
}

/// Records why a bool/int/pointer-returning call failed (read by `tapir_last_status`).
pub(crate) fn set_last(status: tapir_status) {
    LAST.set(status);
}

/// The last recorded failure of this thread.
pub(crate) fn last() -> tapir_status {
    LAST.get()
}

/// The value a function returns when its body panicked.
pub(crate) trait OnPanic {
    fn on_panic() -> Self;
}

/// The value a function returns for a failed argument check (with `status` recorded).
pub(crate) trait OnFailure {
    fn on_failure(status: tapir_status) -> Self;
}

impl OnPanic for tapir_status {
    fn on_panic() -> Self {
        tapir_status::Panic
    }
}
impl OnFailure for tapir_status {
    fn on_failure(status: tapir_status) -> Self {
        status
    }
}

macro_rules! failure_value {
    ($($t:ty => $v:expr),* $(,)?) => {$(
        impl OnPanic for $t {
            fn on_panic() -> Self {
                set_last(tapir_status::Panic);
                $v
            }
        }
        impl OnFailure for $t {
            fn on_failure(status: tapir_status) -> Self {
                set_last(status);
                $v
            }
        }
    )*};
}

failure_value! {
    bool => false,
    usize => 0,
    u64 => 0,
    u32 => 0,
    i32 => 0,
    *mut std::ffi::c_void => std::ptr::null_mut(),
}

impl OnPanic for super::task::tapir_task_status {
    fn on_panic() -> Self {
        set_last(tapir_status::Panic);
        super::task::tapir_task_status::InvalidHandle
    }
}

impl<T> OnPanic for *const T {
    fn on_panic() -> Self {
        set_last(tapir_status::Panic);
        std::ptr::null()
    }
}
impl<T> OnFailure for *const T {
    fn on_failure(status: tapir_status) -> Self {
        set_last(status);
        std::ptr::null()
    }
}

/// Runs an exported function's body; a panic becomes the return type's failure value.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(v) => v,
            Err(_) => $crate::ffi::boundary::OnPanic::on_panic(),
        }
    };
}

/// Evaluates a `Result<T, core::Status>`; on error returns the failure value.
macro_rules! try_core {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return $crate::ffi::boundary::OnFailure::on_failure(s),
        }
    };
}

/// Returns NULL_ARGUMENT (as the failure value) when a pointer is NULL.
macro_rules! require {
    ($($p:expr),+ $(,)?) => {
        $(if $p.is_null() {
            return $crate::ffi::boundary::OnFailure::on_failure(
                $crate::core::status::Status::NullArgument,
            );
        })+
    };
}

/// Unwraps an optional callback or returns NULL_ARGUMENT.
macro_rules! require_fn {
    ($f:expr) => {
        match $f {
            Some(f) => f,
            None => {
                return $crate::ffi::boundary::OnFailure::on_failure(
                    $crate::core::status::Status::NullArgument,
                )
            }
        }
    };
}

pub(crate) use {ffi_boundary, require, require_fn, try_core};
