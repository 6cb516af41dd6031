//! The only code that turns C handle pointers into core handles and back.
//!
//! A handle pointer is never dereferenced: its bits are a core `Handle`
//! (generation, kind, index), validated by the core on every use.

use crate::core::memory::Handle;

/// The handle a C pointer carries; None for NULL.
pub(crate) fn from_ptr<T>(p: *const T) -> Option<Handle> {
    Handle::from_bits(p as usize as u64)
}

/// The C pointer for a handle.
pub(crate) fn to_ptr<T>(h: Handle) -> *const T {
    h.bits() as usize as *const T
}

/// Reads an array of handles; None if any element is NULL.
///
/// # Safety
/// `ptr` must point to `len` readable pointers (or `len` must be 0).
pub(crate) unsafe fn array<T>(ptr: *const *const T, len: usize) -> Option<Vec<Handle>> {
    if len == 0 {
        return Some(Vec::new());
    }
    // SAFETY: the caller guarantees `len` readable elements at `ptr` (non-NULL, checked
    // by the caller before calling us).
    let items = unsafe { std::slice::from_raw_parts(ptr, len) };
    items.iter().map(|&p| from_ptr(p)).collect()
}

/// Writes an out-parameter.
///
/// # Safety
/// `out` must be non-NULL and writable.
pub(crate) unsafe fn write<T>(out: *mut T, value: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { out.write(value) };
}
