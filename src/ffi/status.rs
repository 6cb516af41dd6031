//! `tapir_status` (the core's one table of codes, exported under its C name) and
//! `tapir_status_str`.

use std::ffi::c_char;

use crate::core::status::Status;

/// `Ok(())` as TAPIR_STATUS_OK, an error as its status.
pub(crate) fn from_result(r: crate::core::status::Result<()>) -> Status {
    match r {
        Ok(()) => Status::Ok,
        Err(s) => s,
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
    Status::message_of(status).as_ptr().cast()
}
