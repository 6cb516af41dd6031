//! The one C-shaped thing the core knows: a foreign callback triple
//! `(fn, user_data, destroy)`.
//!
//! Wrapping each C callback in a boxed Rust closure would cost a heap allocation per
//! continuation, which the lifecycle budget does not allow, so the core stores the raw
//! function pointers and calls them itself. Handles cross as thin pointers whose bits
//! are a handle; the ffi layer casts its typed `tapir_*` function pointers to these
//! (identical ABI: thin pointers only).

use std::ffi::c_void;

/// Frees `user_data` (or a value or payload); called exactly once.
pub type DestroyFn = unsafe extern "C" fn(user_data: *mut c_void);
/// `tapir_callback_fn`: notified with the completed task.
pub type NotifyFn = unsafe extern "C" fn(user_data: *mut c_void, task: *const c_void);
/// `tapir_continuation_fn`: the antecedent and the continuation's source.
pub type ContinueFn =
    unsafe extern "C" fn(user_data: *mut c_void, antecedent: *const c_void, next: *const c_void);
/// `tapir_work_fn`: a posted work item.
pub type WorkFn = unsafe extern "C" fn(user_data: *mut c_void);
/// `tapir_run_fn`: receives the source of its task and completes it (now, or later
/// after a retain).
pub type RunFn = unsafe extern "C" fn(user_data: *mut c_void, source: *const c_void);

/// `user_data` plus its optional destroy; destroy runs exactly once, on drop, unless
/// ownership goes back to the caller with [`UserData::give_back`].
pub struct UserData {
    data: *mut c_void,
    destroy: Option<DestroyFn>,
}

// SAFETY: the C contract (header preamble) requires user_data and destroy to be usable
// from any thread; the library only moves the pointer between threads.
unsafe impl Send for UserData {}

// SAFETY: shared access only reads the pointer (`ptr`); the C contract makes user data
// usable from any thread. Destroy runs once, on drop, by the last owner.
unsafe impl Sync for UserData {}

impl UserData {
    /// Takes ownership of `data`, to be freed with `destroy` (if any).
    pub fn new(data: *mut c_void, destroy: Option<DestroyFn>) -> UserData {
        UserData { data, destroy }
    }
    /// The raw pointer, still owned by `self`.
    pub fn ptr(&self) -> *mut c_void {
        self.data
    }
    /// The destroy function given with the data (a face recognizes its own payloads
    /// by it).
    pub fn destroy_fn(&self) -> Option<DestroyFn> {
        self.destroy
    }
    /// Hands `data` back to its owner: destroy will not run (a refused call).
    pub fn give_back(mut self) {
        self.destroy = None;
    }
    /// Splits into the raw parts; the caller now owns the destroy obligation.
    pub(crate) fn into_raw(mut self) -> (*mut c_void, Option<DestroyFn>) {
        let parts = (self.data, self.destroy.take());
        std::mem::forget(self);
        parts
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(destroy) = self.destroy.take() {
            // SAFETY: the registrant promised `destroy(data)` is valid to call once from
            // any thread, and must not unwind; `take` makes this the only call.
            unsafe { destroy(self.data) };
        }
    }
}

/// Calls a raw destroy obligation, if any (the unpacked form of [`UserData`]).
///
/// # Safety
/// `destroy` must be the function its owner registered for `data`, not yet called.
pub(crate) unsafe fn run_destroy(data: *mut c_void, destroy: Option<DestroyFn>) {
    if let Some(destroy) = destroy {
        // SAFETY: forwarded caller guarantee.
        unsafe { destroy(data) };
    }
}
