//! `tapir_error`: immutable, reference-counted error values.

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, try_core};
use super::handle::{array, from_ptr, to_ptr, write};
use super::{tapir_destroy_fn, tapir_error};
use crate::core::callback::UserData;
use crate::core::error::{self, ErrorData, ErrorRef};
use crate::core::status::Status;

/// A library reference to the error a handle names (NULL: NULL_ARGUMENT).
pub(crate) fn retain_error(e: *const tapir_error) -> crate::core::status::Result<ErrorRef> {
    match from_ptr(e) {
        None => Err(Status::NullArgument),
        Some(h) => ErrorRef::retain(h),
    }
}

/// # Safety
/// `message` must point to `len` readable bytes when `len > 0`.
unsafe fn message_bytes(message: *const u8, len: usize) -> crate::core::status::Result<Box<[u8]>> {
    if len == 0 {
        return Ok(Box::default());
    }
    if message.is_null() {
        return Err(Status::NullArgument);
    }
    // SAFETY: guaranteed by the caller for len > 0, non-NULL checked above.
    let bytes = unsafe { std::slice::from_raw_parts(message, len) };
    if std::str::from_utf8(bytes).is_err() {
        return Err(Status::InvalidArgument);
    }
    Ok(bytes.into())
}

/// Creates an error with a code, a UTF-8 message and an optional payload.
///
/// `code` is any int32_t. For errors of your own, use codes from
/// TAPIR_ERROR_CODE_USER_MIN (1,000,000) up: tapir never creates an error with such a
/// code, so it cannot be mistaken for a tapir status (tapir's own errors carry
/// `tapir_status` values, all below it). Wrappers that turn an exception into an error
/// without a code of its own use TAPIR_STATUS_FAULTED.
/// Ownership: copies `message`. On TAPIR_STATUS_OK the error owns `payload` and calls
/// `payload_destroy(payload)` (if non-NULL) once when the last reference goes;
/// `*error_out` receives a new reference. On failure nothing is called.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`error_out` NULL, or `message` NULL with a
/// non-zero length), TAPIR_STATUS_INVALID_ARGUMENT (message not UTF-8).
///
/// # Safety
/// `message` must point to `message_len` readable bytes; `error_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_error_new(
    code: i32,
    message: *const u8,
    message_len: usize,
    payload: *mut c_void,
    payload_destroy: tapir_destroy_fn,
    error_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(error_out);
        // SAFETY: the caller guarantees message_len readable bytes.
        let message = try_core!(unsafe { message_bytes(message, message_len) });
        let payload = (!payload.is_null() || payload_destroy.is_some())
            .then(|| UserData::new(payload, payload_destroy));
        let e = ErrorRef::new(ErrorData { code, message, payload, inner: Vec::new() });
        let h = try_core!(e.to_user());
        // SAFETY: non-NULL checked above; the caller guarantees it is writable.
        unsafe { write(error_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Creates an aggregate error whose inner errors are `inner[0..inner_count]`, in order.
///
/// Ownership: borrows `inner` (the aggregate takes its own references); `*error_out`
/// receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`error_out` NULL, `inner` NULL with a non-zero
/// count, or `message` NULL with a non-zero length), TAPIR_STATUS_INVALID_ARGUMENT (a
/// NULL element, as for every list argument; or a message that is not UTF-8),
/// TAPIR_STATUS_INVALID_HANDLE (a stale element).
///
/// # Safety
/// `message` must point to `message_len` bytes, `inner` to `inner_count` pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_error_new_aggregate(
    code: i32,
    message: *const u8,
    message_len: usize,
    inner: *const *const tapir_error,
    inner_count: usize,
    error_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(error_out);
        if inner_count > 0 {
            require!(inner);
        }
        // SAFETY: the caller guarantees message_len readable bytes.
        let message = try_core!(unsafe { message_bytes(message, message_len) });
        // SAFETY: the caller guarantees inner_count readable pointers.
        let handles = try_core!(unsafe { array(inner, inner_count) }.ok_or(Status::InvalidArgument));
        let inner: Vec<ErrorRef> = try_core!(handles.into_iter().map(ErrorRef::retain).collect());
        let e = ErrorRef::new(ErrorData { code, message, payload: None, inner });
        let h = try_core!(e.to_user());
        // SAFETY: non-NULL checked above.
        unsafe { write(error_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Adds a reference; returns `error`, or NULL if it is NULL or invalid.
///
/// Threading: any thread. Blocking: never.
/// Errors (via tapir_last_status): TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_error_retain(error: *const tapir_error) -> *const tapir_error {
    ffi_boundary! {
        require!(error);
        try_core!(error::retain_user(from_ptr(error).expect("non-NULL")));
        error
    }
}

/// Releases a reference; the last one calls the payload's destroy and releases the
/// inner errors. NULL is a no-op.
///
/// Threading: any thread. Blocking: never (may run the payload destroy).
/// Errors: TAPIR_STATUS_INVALID_HANDLE (already released, or not an error).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_error_release(error: *const tapir_error) -> Status {
    ffi_boundary! {
        match from_ptr(error) {
            None => Status::Ok,
            Some(h) => super::status::from_result(error::release_user(h)),
        }
    }
}

/// The error's code; 0 if `error` is NULL or invalid (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_error_code(error: *const tapir_error) -> i32 {
    ffi_boundary! {
        require!(error);
        let e = try_core!(retain_error(error));
        e.data().code
    }
}

/// The error's UTF-8 message (not NUL-terminated); its length goes to `*len_out`.
///
/// Ownership: the bytes are borrowed; they stay valid while the caller holds a
/// reference to `error`. Returns NULL (and writes nothing) if `error` or `len_out` is
/// NULL or `error` is invalid; an empty message returns a non-NULL pointer with length 0.
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `len_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_error_message(
    error: *const tapir_error,
    len_out: *mut usize,
) -> *const u8 {
    ffi_boundary! {
        require!(error, len_out);
        let e = try_core!(retain_error(error));
        let d = e.data();
        let (ptr, len): (*const u8, usize) =
            if d.message.is_empty() { (b"".as_ptr(), 0) } else { (d.message.as_ptr(), d.message.len()) };
        // SAFETY: non-NULL checked above; the caller guarantees it is writable.
        unsafe { write(len_out, len) };
        ptr
    }
}

/// The payload given at creation (NULL if none, or if `error` is NULL or invalid).
///
/// Ownership: borrowed; the error keeps owning it.
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_error_payload(error: *const tapir_error) -> *mut c_void {
    ffi_boundary! {
        require!(error);
        let e = try_core!(retain_error(error));
        e.data().payload.as_ref().map_or(std::ptr::null_mut(), |p| p.ptr())
    }
}

/// The number of inner errors (0 for a plain error, or if `error` is NULL or invalid).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_error_inner_count(error: *const tapir_error) -> usize {
    ffi_boundary! {
        require!(error);
        let e = try_core!(retain_error(error));
        e.data().inner.len()
    }
}

/// Writes a new reference to inner error `index` to `*inner_out`.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`index` out of range).
///
/// # Safety
/// `inner_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_error_inner(
    error: *const tapir_error,
    index: usize,
    inner_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(error, inner_out);
        let e = try_core!(retain_error(error));
        let inner = try_core!(e.data().inner.get(index).ok_or(Status::InvalidArgument));
        let h = try_core!(inner.to_user());
        // SAFETY: non-NULL checked above.
        unsafe { write(inner_out, to_ptr(h)) };
        Status::Ok
    }
}

/// Flattens nested aggregates (AggregateException.Flatten): `*flat_out` receives a new
/// aggregate with the same code and message whose inner errors are the leaves of
/// `error`'s inner tree, depth-first in order. A plain error flattens to an aggregate
/// with no inner errors.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `flat_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_error_flatten(
    error: *const tapir_error,
    flat_out: *mut *const tapir_error,
) -> Status {
    ffi_boundary! {
        require!(error, flat_out);
        let e = try_core!(retain_error(error));
        let data = e.data();
        let mut leaves = Vec::new();
        error::flatten_into(&data.inner, &mut leaves);
        let flat = ErrorRef::new(ErrorData {
            code: data.code,
            message: data.message.clone(),
            payload: None,
            inner: leaves,
        });
        let h = try_core!(flat.to_user());
        // SAFETY: non-NULL checked above.
        unsafe { write(flat_out, to_ptr(h)) };
        Status::Ok
    }
}
