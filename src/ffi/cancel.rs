//! `tapir_cancel_source`, `tapir_cancel_token`, `tapir_cancel_registration`
//! (CancellationTokenSource, CancellationToken, CancellationTokenRegistration).

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::handle::{array, from_ptr, to_ptr, write};
use super::status::from_result;
use super::{tapir_cancel_source, tapir_cancel_token, tapir_destroy_fn, tapir_error};
use crate::core::callback::UserData;
use crate::core::cancel::{self, CancelAction, CancelFn};
use crate::core::error::{ErrorData, ErrorRef};
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Status, timeout_from_ms};
use crate::core::time;

/// A registration on a cancellation token.
pub struct tapir_cancel_registration {
    _opaque: [u8; 0],
}

/// A cancellation callback. Return NULL, or a new `tapir_error` reference (tapir takes
/// it) to report a failure: the canceling call collects it, and the other callbacks
/// still run (unless TAPIR_CANCEL_STOP_AT_FIRST_ERROR). Must not unwind.
pub type tapir_cancel_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void) -> *const tapir_error>;

/// tapir_cancel_source_cancel flag: stop at the first callback that reports an error,
/// as Cancel(throwOnFirstException: true). The rest never run: they stay registered
/// (a later cancel does nothing) until unregistered, or until the source's and its
/// tokens' last handles are released; either way their destroy runs then. So a
/// callback that owns the source's last handle, once skipped, keeps it until it is
/// unregistered.
pub const TAPIR_CANCEL_STOP_AT_FIRST_ERROR: u32 = 1;
/// tapir_cancel_token_register flag: if the token is already canceled, do not run the
/// callback; return TAPIR_STATUS_CANCELED instead (nothing registered, nothing called).
pub const TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED: u32 = 1;

fn write_ptr<T>(out: *mut *const T, h: Handle) -> Status {
    // SAFETY: callers checked `out` for NULL; the C caller guarantees it is writable.
    unsafe { write(out, to_ptr(h)) };
    Status::Ok
}

/// Creates a cancellation source.
///
/// Ownership: `*source_out` receives a new reference. Releasing the last reference to
/// a source and its tokens drops its pending callbacks (their destroy runs) and its timer.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `source_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_source_new(
    source_out: *mut *const tapir_cancel_source,
) -> Status {
    ffi_boundary! {
        require!(source_out);
        write_ptr(source_out, cancel::source::source_new())
    }
}

/// Creates a source canceled when any of `tokens[0..count]` is (CreateLinkedTokenSource).
/// An input already canceled makes it canceled at creation. Canceling the linked source
/// does not touch the inputs; releasing an input does not cancel it.
///
/// Ownership: borrows the tokens; `*source_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`tokens` NULL with `count` > 0, `source_out`),
/// TAPIR_STATUS_INVALID_ARGUMENT (a NULL element), TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `tokens` must point to `count` readable pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_source_new_linked(
    tokens: *const *const tapir_cancel_token,
    count: usize,
    source_out: *mut *const tapir_cancel_source,
) -> Status {
    ffi_boundary! {
        require!(source_out);
        if count > 0 {
            require!(tokens);
        }
        // SAFETY: forwarded caller guarantee.
        let list = try_core!(unsafe { array(tokens, count) }.ok_or(Status::InvalidArgument));
        write_ptr(source_out, try_core!(cancel::source::linked(&list)))
    }
}

/// Adds a reference; returns `source`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_source_retain(
    source: *const tapir_cancel_source,
) -> *const tapir_cancel_source {
    ffi_boundary! {
        require!(source);
        try_core!(cancel::source::source_retain(from_ptr(source).expect("non-NULL")));
        source
    }
}

/// Releases a reference (Dispose); it does not cancel. NULL is a no-op.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_HANDLE (released already, or not a cancel source).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_source_release(source: *const tapir_cancel_source) -> Status {
    ffi_boundary! {
        match from_ptr(source) {
            None => Status::Ok,
            Some(h) => from_result(cancel::source::source_release(h)),
        }
    }
}

/// Writes the source's token.
///
/// Ownership: `*token_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `token_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_source_token(
    source: *const tapir_cancel_source,
    token_out: *mut *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        require!(source, token_out);
        write_ptr(token_out, try_core!(cancel::source::token_of(from_ptr(source).expect("non-NULL"))))
    }
}

/// Requests cancellation (Cancel). Callbacks run on this thread before it returns,
/// newest first; a callback's reported error does not stop the others unless
/// `flags` has TAPIR_CANCEL_STOP_AT_FIRST_ERROR. A second cancel does nothing. Tasks,
/// delays and continuations created with the token end canceled.
///
/// `errors_out` (may be NULL) receives NULL when no callback reported an error, or a
/// new aggregate error (code TAPIR_STATUS_FAULTED) whose inner errors are the reported
/// ones in the order the callbacks ran. Without `errors_out`, reported errors are released.
/// Threading: any thread. Blocking: runs the callbacks.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits).
///
/// # Safety
/// `errors_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_source_cancel(
    source: *const tapir_cancel_source,
    flags: u32,
    errors_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(source);
        if flags & !TAPIR_CANCEL_STOP_AT_FIRST_ERROR != 0 {
            return Status::InvalidArgument;
        }
        let h = from_ptr(source).expect("non-NULL");
        let errors = try_core!(cancel::source::cancel(h, flags & TAPIR_CANCEL_STOP_AT_FIRST_ERROR != 0));
        if !errors_out.is_null() {
            let p = if errors.is_empty() {
                std::ptr::null()
            } else {
                let agg = ErrorRef::new(ErrorData {
                    code: Status::Faulted.code(),
                    message: b"one or more cancellation callbacks failed"[..].into(),
                    payload: None,
                    inner: errors,
                });
                to_ptr(try_core!(agg.to_user()))
            };
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { write(errors_out, p) };
        }
        Status::Ok
    }
}

/// Cancels the source after `delay_ms` (CancelAfter): -1 never (clears a pending
/// deadline), 0 now, otherwise replaces any earlier deadline. The timer thread posts
/// the cancel to the default pool, so callbacks run on a pool thread.
///
/// Threading: any thread. Blocking: never (0 cancels on this thread).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE (also after the last
/// release: tapir has no separate dispose), TAPIR_STATUS_INVALID_ARGUMENT (bad delay).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_source_cancel_after(
    source: *const tapir_cancel_source,
    delay_ms: i64,
) -> Status {
    ffi_boundary! {
        require!(source);
        let delay = try_core!(timeout_from_ms(delay_ms));
        from_result(time::cancel_after(from_ptr(source).expect("non-NULL"), time::After::time(delay)))
    }
}

/// True once cancellation was requested of `source` (IsCancellationRequested); false
/// otherwise, or for a NULL or invalid handle (see tapir_last_status). For a token,
/// call tapir_cancel_token_is_canceled. (A token handle passed here is answered too,
/// for callers that hold one in a source pointer; well-typed code never needs the cast.)
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_source_is_canceled(source: *const tapir_cancel_source) -> bool {
    ffi_boundary! {
        require!(source);
        try_core!(cancel::source::is_canceled(from_ptr(source).expect("non-NULL")))
    }
}

/// Writes the none token: never canceled, `tapir_cancel_token_can_be_canceled` false;
/// every call writes the same handle value (two none tokens compare equal).
///
/// Ownership: a reference to release as usual (the token itself is permanent).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `token_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_token_none(
    token_out: *mut *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        require!(token_out);
        write_ptr(token_out, cancel::source::token_none())
    }
}

/// Creates a token that is canceled from the start (new CancellationToken(true)).
///
/// Ownership: `*token_out` receives a new reference.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `token_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_token_new_canceled(
    token_out: *mut *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        require!(token_out);
        write_ptr(token_out, cancel::source::token_new_canceled())
    }
}

/// Adds a reference; returns `token`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_token_retain(
    token: *const tapir_cancel_token,
) -> *const tapir_cancel_token {
    ffi_boundary! {
        require!(token);
        try_core!(cancel::source::token_retain(from_ptr(token).expect("non-NULL")));
        token
    }
}

/// Releases a token reference. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_token_release(token: *const tapir_cancel_token) -> Status {
    ffi_boundary! {
        match from_ptr(token) {
            None => Status::Ok,
            Some(h) => from_result(cancel::source::token_release(h)),
        }
    }
}

/// True once cancellation was requested (IsCancellationRequested); false otherwise or
/// for an invalid handle (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_token_is_canceled(token: *const tapir_cancel_token) -> bool {
    ffi_boundary! {
        require!(token);
        let h = from_ptr(token).expect("non-NULL");
        if !h.is(Kind::CancelToken) {
            return super::boundary::OnFailure::on_failure(Status::InvalidHandle);
        }
        try_core!(cancel::source::is_canceled(h))
    }
}

/// False only for the none token (CanBeCanceled), and for an invalid handle.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_token_can_be_canceled(token: *const tapir_cancel_token) -> bool {
    ffi_boundary! {
        require!(token);
        let h = from_ptr(token).expect("non-NULL");
        if !h.is(Kind::CancelToken) {
            return super::boundary::OnFailure::on_failure(Status::InvalidHandle);
        }
        try_core!(cancel::source::can_be_canceled(h))
    }
}

/// Registers `callback(user_data)` to run once when the token is canceled (Register).
///
/// If the token is already canceled, the callback runs now, on this thread, before this
/// returns, and `*registration_out` receives NULL — unless `flags` has
/// TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED: then nothing runs or is registered, and the
/// call returns TAPIR_STATUS_CANCELED (user_data stays with the caller). On the none
/// token nothing is registered (TAPIR_STATUS_OK, `*registration_out` NULL; destroy runs
/// at once). Otherwise `*registration_out` (if non-NULL) receives a registration.
/// Callbacks run on the canceling thread, newest first.
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (callback contract).
/// Threading: any thread. Blocking: may run the callback.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`token`, `callback`), TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (unknown flag bits), TAPIR_STATUS_CANCELED (see above).
///
/// # Safety
/// `registration_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_token_register(
    token: *const tapir_cancel_token,
    callback: tapir_cancel_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    flags: u32,
    registration_out: *mut *const tapir_cancel_registration,
) -> Status {
    ffi_boundary! {
        require!(token);
        let f = require_fn!(callback);
        if flags & !TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED != 0 {
            return Status::InvalidArgument;
        }
        let h = from_ptr(token).expect("non-NULL");
        if !h.is(Kind::CancelToken) {
            return Status::InvalidHandle;
        }
        let run_if_canceled = flags & TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED == 0;
        // Validated before the user data is adopted: a refused call destroys nothing.
        let already = try_core!(cancel::source::is_canceled(h));
        if !run_if_canceled && already {
            return Status::Canceled;
        }
        // SAFETY: same ABI; only the pointee type of the returned pointer differs.
        let f: CancelFn = unsafe {
            std::mem::transmute::<unsafe extern "C" fn(*mut c_void) -> *const tapir_error, CancelFn>(f)
        };
        let action = CancelAction::Foreign { f, data: UserData::new(user_data, destroy) };
        let reg = try_core!(cancel::registration::register(h, action, run_if_canceled));
        if !registration_out.is_null() {
            let p = reg.map_or(std::ptr::null(), to_ptr);
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { write(registration_out, p) };
        } else if let Some(reg) = reg {
            let _ = cancel::registration::release(reg);
        }
        Status::Ok
    }
}

/// Removes a registration without waiting (CancellationTokenRegistration.Unregister).
/// Returns TAPIR_STATUS_OK if removed before it ran (destroy has run), or
/// TAPIR_STATUS_ALREADY_COMPLETED if it ran, is running, or was removed before.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_registration_unregister(
    registration: *const tapir_cancel_registration,
) -> Status {
    ffi_boundary! {
        require!(registration);
        match try_core!(cancel::registration::unregister(from_ptr(registration).expect("non-NULL"), false)) {
            true => Status::Ok,
            false => Status::AlreadyCompleted,
        }
    }
}

/// As tapir_cancel_registration_unregister, but if the callback is running on another
/// thread, waits until it returns (Dispose). Called from inside that callback itself,
/// it does not wait (it would deadlock).
///
/// Threading: any thread. Blocking: yes, while the callback runs elsewhere.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_registration_unregister_wait(
    registration: *const tapir_cancel_registration,
) -> Status {
    ffi_boundary! {
        require!(registration);
        match try_core!(cancel::registration::unregister(from_ptr(registration).expect("non-NULL"), true)) {
            true => Status::Ok,
            false => Status::AlreadyCompleted,
        }
    }
}

/// Writes the token a registration was made on (readable even after the source was
/// released, as long as the registration is held).
///
/// Ownership: `*token_out` receives a new reference.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `token_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cancel_registration_token(
    registration: *const tapir_cancel_registration,
    token_out: *mut *const tapir_cancel_token,
) -> Status {
    ffi_boundary! {
        require!(registration, token_out);
        let t = try_core!(cancel::registration::token(from_ptr(registration).expect("non-NULL")));
        write_ptr(token_out, t)
    }
}

/// Adds a reference; returns `registration`, or NULL if NULL or invalid.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_registration_retain(
    registration: *const tapir_cancel_registration,
) -> *const tapir_cancel_registration {
    ffi_boundary! {
        require!(registration);
        try_core!(cancel::registration::retain(from_ptr(registration).expect("non-NULL")));
        registration
    }
}

/// Releases a registration handle; it does NOT unregister. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_registration_release(
    registration: *const tapir_cancel_registration,
) -> Status {
    ffi_boundary! {
        match from_ptr(registration) {
            None => Status::Ok,
            Some(h) => from_result(cancel::registration::release(h)),
        }
    }
}

/// The number of callbacks registered on a token (or source) that have not run
/// (diagnostics: proves registrations are removed). 0 for an invalid handle.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_debug_cancel_registrations(token: *const tapir_cancel_token) -> usize {
    ffi_boundary! {
        require!(token);
        let t = try_core!(cancel::source::reference(from_ptr(token).expect("non-NULL")));
        t.registration_count()
    }
}
