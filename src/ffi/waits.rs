//! Argument helpers shared by the primitives' functions: the `(timeout_ms, token)` pair
//! every wait takes, and writing handles to out-parameters.

use super::handle::{from_ptr, to_ptr, write};
use super::tapir_cancel_token;
use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status, timeout_from_ms};

/// The timeout and token of a wait, validated (the token referenced) before anything
/// is done.
pub(crate) fn wait_args(
    timeout_ms: i64,
    token: *const tapir_cancel_token,
) -> Result<(Option<std::time::Duration>, Option<TokenRef>)> {
    let d = timeout_from_ms(timeout_ms)?;
    let t = from_ptr(token).map(TokenRef::retain).transpose()?;
    Ok((d, t))
}

/// Writes a handle to a checked, non-NULL out-parameter.
pub(crate) fn out<T>(out: *mut *const T, h: Handle) -> Status {
    // SAFETY: callers checked `out` for NULL; the C caller guarantees it is writable.
    unsafe { write(out, to_ptr(h)) };
    Status::Ok
}

/// The handle of a required argument.
pub(crate) fn handle_of<T>(p: *const T) -> Result<Handle> {
    from_ptr(p).ok_or(Status::NullArgument)
}

/// A C flag that must be 0 or 1.
pub(crate) fn flag(v: u32) -> Result<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Status::InvalidArgument),
    }
}
