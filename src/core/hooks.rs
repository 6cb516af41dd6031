//! The process-wide unobserved-error hook (TaskScheduler.UnobservedTaskException).
//!
//! tapir reports deterministically: when the last reference to a faulted task whose
//! errors nobody read is released, on the releasing thread.

use std::ffi::c_void;

use crate::core::sync::RwLock;

use super::error::{self, ErrorRef};

/// `(user_data, task_id, errors, count)`: the errors are lent for the call.
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
pub(crate) fn report_unobserved(task_id: u64, errors: &[ErrorRef]) {
    let hook = HOOK.read();
    let Some(hook) = hook.as_ref() else { return };
    // Each error is lent a user reference of its own for the call, so the hook may use
    // the handles like any other, whatever other threads do meanwhile.
    let lent: Vec<_> = errors.iter().filter_map(|e| e.to_user().ok()).collect();
    let ptrs: Vec<*const c_void> = lent.iter().map(|h| h.as_ptr()).collect();
    // SAFETY: the installer promised `f` may be called from any thread with its
    // user_data; the error handles stay valid for the call (lent above).
    unsafe {
        (hook.f)(
            hook.user_data as *mut c_void,
            task_id,
            ptrs.as_ptr(),
            ptrs.len(),
        )
    };
    for h in lent {
        let _ = error::release_user(h);
    }
}
