//! The process-wide unobserved-error hook (TaskScheduler.UnobservedTaskException).
//!
//! tapir reports deterministically: when the last reference to a faulted task whose
//! error nobody read is released, on the releasing thread.

use std::ffi::c_void;

use parking_lot::RwLock;

use super::callback::handle_ptr;
use super::error::ErrorRef;
use super::pool::Handle;

/// `(user_data, task_id, errors, count)`: the errors are borrowed for the call.
pub type UnobservedFn = unsafe extern "C" fn(
    user_data: *mut c_void,
    task_id: u64,
    errors: *const *const c_void,
    count: usize,
);

struct Hook {
    f: UnobservedFn,
    user_data: usize,
}

static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Installs (or with None removes) the hook.
pub fn set_unobserved_hook(hook: Option<(UnobservedFn, *mut c_void)>) {
    *HOOK.write() = hook.map(|(f, ud)| Hook {
        f,
        user_data: ud as usize,
    });
}

/// Calls the hook, if any, for a dying faulted task.
pub(crate) fn report_unobserved(task: Handle, errors: &[ErrorRef]) {
    let hook = HOOK.read();
    if let Some(hook) = hook.as_ref() {
        // Lend user references so the hook may query the errors like any handle.
        let ptrs: Vec<*const c_void> = errors.iter().map(|e| handle_ptr(e.lend())).collect();
        // SAFETY: the installer promised `f` may be called from any thread with its
        // user_data; the error handles stay alive (owned by `errors`) for the call.
        unsafe {
            (hook.f)(
                hook.user_data as *mut c_void,
                task.bits(),
                ptrs.as_ptr(),
                ptrs.len(),
            )
        };
        for e in errors {
            let _ = super::error::release(e.handle());
        }
    }
}
