//! `tapir_scheduler` and `tapir_work`: inline, default pool, manual and foreign schedulers.

use std::ffi::c_void;
use std::mem::offset_of;
use std::time::Duration;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::handle::{from_ptr, to_ptr, write};
use super::status::from_result;
use super::{tapir_destroy_fn, tapir_scheduler, tapir_work, tapir_work_fn};
use crate::core::callback::UserData;
use crate::core::memory::Handle;
use crate::core::sched::{self, PostFn};
use crate::core::status::{Status, timeout_from_ms};
use crate::core::task::work::Job;

/// A host scheduler (a game engine's job system, a UI thread). Set `struct_size =
/// sizeof(tapir_scheduler_vtable)`; fields past `struct_size` are treated as NULL.
#[repr(C)]
pub struct tapir_scheduler_vtable {
    /// `sizeof(tapir_scheduler_vtable)` as the caller compiled it.
    pub struct_size: u32,
    /// Receives each work item; must eventually pass it to tapir_work_run (or
    /// tapir_work_discard) exactly once, on any thread. Must not block for long and
    /// must not unwind. Required.
    pub post: Option<unsafe extern "C" fn(ctx: *mut c_void, work: *mut tapir_work)>,
    /// Called with `ctx` once when the scheduler's last reference is released; may be NULL.
    pub destroy: tapir_destroy_fn,
}

fn write_handle(out: *mut *const tapir_scheduler, h: Handle) -> Status {
    // SAFETY: callers check `out` for NULL; the C caller guarantees it is writable.
    unsafe { write(out, to_ptr(h)) };
    Status::Ok
}

/// Writes the default scheduler: the work-stealing pool, one thread per core, started
/// on first use.
///
/// Ownership: `*scheduler_out` receives a reference; release it as usual. The scheduler
/// itself is permanent: releasing never frees it, every call writes the same handle,
/// and tapir_debug_live_objects does not count it (so it never shows up as a leak).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_FULL (too many references held).
///
/// # Safety
/// `scheduler_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_default(
    scheduler_out: *mut *const tapir_scheduler,
) -> Status {
    ffi_boundary! {
        require!(scheduler_out);
        write_handle(scheduler_out, try_core!(sched::default_scheduler()))
    }
}

/// Writes the inline scheduler: work runs on the posting thread before the post
/// returns (nested inline work is bounded in depth and queued past the bound).
///
/// Ownership, threading, errors: as tapir_scheduler_default.
///
/// # Safety
/// `scheduler_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_inline(
    scheduler_out: *mut *const tapir_scheduler,
) -> Status {
    ffi_boundary! {
        require!(scheduler_out);
        write_handle(scheduler_out, try_core!(sched::inline_scheduler()))
    }
}

/// Creates a manual scheduler: work posted to it (from any thread) waits in a queue
/// until the host calls tapir_scheduler_run_pending (e.g. once per frame on its main
/// thread).
///
/// Ownership: `*scheduler_out` receives a new reference. Releasing the last one closes
/// the scheduler, since nobody can run it any more: queued work and everything posted
/// to it later (continuations registered for it included) is discarded — user data is
/// destroyed, and the task the work would have completed fails with an error of code
/// TAPIR_STATUS_SCHEDULER_ERROR.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `scheduler_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_new_manual(
    scheduler_out: *mut *const tapir_scheduler,
) -> Status {
    ffi_boundary! {
        require!(scheduler_out);
        write_handle(scheduler_out, sched::new_manual())
    }
}

/// Creates a scheduler that hands work to the host through `vtable->post(ctx, work)`.
///
/// Ownership: copies `*vtable`; on TAPIR_STATUS_OK tapir owns `ctx` (freed with
/// `vtable->destroy`, if any, after the last reference goes) and `*scheduler_out`
/// receives a new reference. On error nothing is called.
/// Threading: any thread; `post` may be called from any thread.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`vtable`, `vtable->post`, `scheduler_out`),
/// TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` too small to hold `post`).
///
/// # Safety
/// `vtable` must be valid for `struct_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_new_foreign(
    vtable: *const tapir_scheduler_vtable,
    ctx: *mut c_void,
    scheduler_out: *mut *const tapir_scheduler,
) -> Status {
    ffi_boundary! {
        require!(vtable, scheduler_out);
        // SAFETY: the caller guarantees `struct_size` readable bytes; fields are read
        // only when covered by it.
        let (size, post, destroy) = unsafe {
            let size = (*vtable).struct_size as usize;
            let post = if size >= offset_of!(tapir_scheduler_vtable, post) + 8 { (*vtable).post } else { None };
            let destroy = if size >= offset_of!(tapir_scheduler_vtable, destroy) + 8 { (*vtable).destroy } else { None };
            (size, post, destroy)
        };
        if size < offset_of!(tapir_scheduler_vtable, post) + 8 {
            return Status::InvalidArgument;
        }
        let post = require_fn!(post);
        // SAFETY: same ABI: two thin pointers; only the pointee type of `work` differs.
        let post: PostFn = unsafe {
            std::mem::transmute::<unsafe extern "C" fn(*mut c_void, *mut tapir_work), PostFn>(post)
        };
        write_handle(scheduler_out, sched::new_foreign(post, ctx, destroy))
    }
}

/// Adds a reference; returns `scheduler`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_scheduler_retain(
    scheduler: *const tapir_scheduler,
) -> *const tapir_scheduler {
    ffi_boundary! {
        require!(scheduler);
        try_core!(sched::retain(from_ptr(scheduler).expect("non-NULL")));
        scheduler
    }
}

/// Releases a reference (see tapir_scheduler_new_manual and _new_foreign for what the
/// last one does). NULL is a no-op.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_scheduler_release(scheduler: *const tapir_scheduler) -> Status {
    ffi_boundary! {
        match from_ptr(scheduler) {
            None => Status::Ok,
            Some(h) => from_result(sched::release(h)),
        }
    }
}

/// Queues `fn(user_data)` on `scheduler`.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data`: `destroy(user_data)` (if
/// non-NULL) runs once after `fn` returns, or if the work is discarded unrun.
/// Threading: any thread. Blocking: never (the inline scheduler runs `fn` before returning).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`scheduler`, `fn`), TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_scheduler_post(
    scheduler: *const tapir_scheduler,
    r#fn: tapir_work_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
) -> Status {
    ffi_boundary! {
        require!(scheduler);
        let f = require_fn!(r#fn);
        let h = from_ptr(scheduler).expect("non-NULL");
        // Validated before the user data is adopted: a refused post destroys nothing.
        let s = try_core!(sched::retain_ref(h));
        s.post(Job::call(f, UserData::new(user_data, destroy)));
        Status::Ok
    }
}

/// Runs work queued on a manual scheduler, on the calling thread, until the queue is
/// empty, `max_items` items ran (0: no limit) or `max_ms` milliseconds passed (-1: no
/// limit; checked between items). Writes how many ran to `*ran_out`. While it runs,
/// tapir_scheduler_current() returns this scheduler, and continuations registered
/// with EXECUTE_SYNCHRONOUSLY for it may run inline.
///
/// Threading: any thread; normally one "main" thread. Blocking: runs user callbacks.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (not a manual scheduler, or a bad `max_ms`).
///
/// # Safety
/// `ran_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_run_pending(
    scheduler: *const tapir_scheduler,
    max_items: usize,
    max_ms: i64,
    ran_out: *mut usize,
) -> Status {
    ffi_boundary! {
        require!(scheduler, ran_out);
        let budget: Option<Duration> = try_core!(timeout_from_ms(max_ms));
        let ran = try_core!(sched::run_pending(from_ptr(scheduler).expect("non-NULL"), max_items, budget));
        // SAFETY: non-NULL checked above.
        unsafe { write(ran_out, ran) };
        Status::Ok
    }
}

/// The scheduler running the current callback (a pool thread, a manual scheduler's
/// run_pending, a foreign scheduler's tapir_work_run); NULL when called from a thread
/// that is not running tapir work (inline callbacks report the scheduler of the code
/// that triggered them, if any). This is what a wrapper captures to resume an `await`
/// where it started (TaskScheduler.Current).
///
/// Ownership: the result is a new reference, like every handle tapir returns: release
/// it with tapir_scheduler_release when done (NULL needs no release).
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_scheduler_current() -> *const tapir_scheduler {
    ffi_boundary! {
        match sched::current() {
            Some(h) => to_ptr(h),
            None => std::ptr::null(),
        }
    }
}

/// Runs a work item a foreign scheduler received in `post`, and consumes it.
///
/// Threading: any thread (the host's choice). Blocking: runs user callbacks.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `work` must come from a `post` call and not have been run or discarded (it is
/// uniquely owned: using it twice is undefined behaviour, like a double free).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_work_run(work: *mut tapir_work) -> Status {
    ffi_boundary! {
        require!(work);
        // SAFETY: forwarded caller guarantee.
        unsafe { sched::run_work(work.cast()) };
        Status::Ok
    }
}

/// Discards a work item without running it, and consumes it: its user data is
/// destroyed and the task it would have completed fails with an error of code
/// TAPIR_STATUS_SCHEDULER_ERROR (its continuations still run).
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// As tapir_work_run.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_work_discard(work: *mut tapir_work) -> Status {
    ffi_boundary! {
        require!(work);
        // SAFETY: forwarded caller guarantee.
        unsafe { sched::discard_work(work.cast()) };
        Status::Ok
    }
}

/// Stops and joins every thread tapir started (the timer thread, then the pool's
/// workers), so a host can unload the library or end cleanly: when it returns, no tapir
/// thread is alive, and none starts until a later call needs one (tapir stays usable).
/// Work already queued on the pool runs before the workers exit; work posted to the
/// pool after shutdown began is refused — its destroy runs and the task it would have
/// completed fails with TAPIR_STATUS_SCHEDULER_ERROR — so work that keeps reposting
/// itself cannot keep shutdown from returning. Pending delays and timeouts are not
/// faulted: they stay pending and fire once a later call has started the timer again.
/// Manual and foreign schedulers belong to the host and are not affected.
///
/// Unloading: tapir keeps no per-thread state that outlives a call on the host's
/// threads (nothing that would keep the library mapped), so after tapir_shutdown and the
/// release of every object (tapir_debug_live_objects(0) == 0) a host may dlclose the
/// library; it is then unmapped and the memory it allocated is returned. No thread may
/// be inside a tapir call, or call one, from then on.
///
/// Threading: any thread except a tapir pool or timer thread. Blocking: yes, until the
/// threads have exited (queued work runs first).
/// Errors: TAPIR_STATUS_INVALID_STATE (called from a tapir thread: nothing was done).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_shutdown() -> Status {
    ffi_boundary! {
        let stopped = from_result(crate::core::shutdown());
        if stopped == Status::Ok {
            super::diagnostics::shutdown_report();
        }
        stopped
    }
}
