//! `tapir_countdown` (CountdownEvent) and `tapir_barrier` (Barrier).

use std::ffi::c_void;

use super::boundary::{ffi_boundary, require, try_core};
use super::status::from_result;
use super::waits::{handle_of, out, wait_args};
use super::{tapir_cancel_token, tapir_destroy_fn, tapir_error, tapir_task};
use crate::core::callback::UserData;
use crate::core::primitives::barrier::{self, PhaseFn};
use crate::core::primitives::countdown;
use crate::core::status::Status;

/// A countdown event: set once its count reaches zero. Functions: tapir_countdown_new,
/// _signal, _add_count, _try_add_count, _reset, _current_count, _initial_count,
/// _wait_async, _retain, _release.
pub struct tapir_countdown {
    _opaque: [u8; 0],
}

/// A barrier: participants signal and wait in phases, and a post-phase action runs
/// after each. Functions: tapir_barrier_new, _signal_and_wait_async,
/// _add_participants, _remove_participants, _current_phase, _participant_count,
/// _participants_remaining, _retain, _release.
pub struct tapir_barrier {
    _opaque: [u8; 0],
}

/// A barrier's post-phase action: runs once per phase, with the number of the phase
/// that just completed, on the thread of the participant whose arrival completed it,
/// before any participant of the phase is released and while tapir holds no lock.
/// Return NULL, or a new `tapir_error` reference (tapir takes it): every participant
/// of the phase then fails with that error. Must not unwind.
pub type tapir_barrier_phase_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, phase: u64) -> *const tapir_error>;

/// Creates a countdown event whose count starts at `initial` (0: set from the start).
///
/// Ownership: `*countdown_out` receives a new reference; when the last one is
/// released, pending waits fail with an error of code TAPIR_STATUS_DISPOSED.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `countdown_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_countdown_new(
    initial: u32,
    countdown_out: *mut *const tapir_countdown,
) -> Status {
    ffi_boundary! {
        require!(countdown_out);
        out(countdown_out, countdown::new(initial))
    }
}

/// Counts down by `count` (Signal(count)). When that reaches zero every waiter
/// completes with value 1 (continuations after tapir released its lock, synchronous
/// ones possibly on this thread, bounded in depth). `*reached_zero_out` (if non-NULL)
/// receives whether this call set the event.
///
/// Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_INVALID_STATE (`count` is
/// more than the count left, including an event already set: nothing changed).
///
/// # Safety
/// `reached_zero_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_countdown_signal(
    countdown: *const tapir_countdown,
    count: u32,
    reached_zero_out: *mut bool,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        let zero = try_core!(countdown::signal(h, count));
        if !reached_zero_out.is_null() {
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { reached_zero_out.write(zero) };
        }
        Status::Ok
    }
}

/// Adds `count` to the count (AddCount).
///
/// Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`count` 0), TAPIR_STATUS_INVALID_STATE (the event is
/// already set), TAPIR_STATUS_FULL (the count would overflow); nothing changed then.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_add_count(
    countdown: *const tapir_countdown,
    count: u32,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        match countdown::add_count(h, count) {
            Ok(true) => Status::Ok,
            Ok(false) => Status::InvalidState,
            Err(s) => s,
        }
    }
}

/// Adds `count` unless the event is already set (TryAddCount): true when added; false
/// when set (tapir_last_status: TAPIR_STATUS_INVALID_STATE), or on error (see tapir_last_status: also TAPIR_STATUS_FULL on overflow).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_try_add_count(
    countdown: *const tapir_countdown,
    count: u32,
) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        let added = try_core!(countdown::add_count(h, count));
        if !added {
            super::boundary::set_last(Status::InvalidState);
        }
        added
    }
}

/// Resets the count (Reset): to `count`, which also becomes the initial count, or to
/// the initial count when `count` is -1. A count of 0 sets the event (waiters complete);
/// otherwise later waits wait again.
///
/// Ownership: borrows `countdown`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`count` below -1 or above UINT32_MAX).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_reset(countdown: *const tapir_countdown, count: i64) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        let c = match count {
            -1 => None,
            0..=0xFFFF_FFFF => Some(count as u32),
            _ => return Status::InvalidArgument,
        };
        from_result(countdown::reset(h, c))
    }
}

/// The count left (CurrentCount); 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_current_count(countdown: *const tapir_countdown) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        try_core!(countdown::counts(h)).0
    }
}

/// The initial count (InitialCount); 0 on error (see tapir_last_status).
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_initial_count(countdown: *const tapir_countdown) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        try_core!(countdown::counts(h)).1
    }
}

/// Waits for the count to reach zero: `*task_out` succeeds with value 1 then (at once
/// if it is zero), with value 0 when `timeout_ms` passes first (-1: never), or ends
/// canceled when `token` (NULL: none) is canceled first.
///
/// Ownership: borrows `countdown` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_countdown_wait_async(
    countdown: *const tapir_countdown,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(countdown, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(countdown));
        out(task_out, try_core!(countdown::wait_async(h, d, t)))
    }
}

/// Adds a reference; returns `countdown`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_retain(
    countdown: *const tapir_countdown,
) -> *const tapir_countdown {
    ffi_boundary! {
        let h = try_core!(handle_of(countdown));
        try_core!(countdown::retain(h));
        countdown
    }
}

/// Releases a reference. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_countdown_release(countdown: *const tapir_countdown) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(countdown) {
            None => Status::Ok,
            Some(h) => from_result(countdown::release(h)),
        }
    }
}

/// Creates a barrier of `participants` (0 is allowed: add them later) with an optional
/// post-phase action `post_phase` (NULL: none).
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `user_data` (`destroy`, if non-NULL, runs
/// once when the barrier goes); on error nothing is called. `*barrier_out` receives a
/// new reference; when the last one is released, pending waits fail with an error of
/// code TAPIR_STATUS_DISPOSED.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`barrier_out`).
///
/// # Safety
/// `barrier_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_barrier_new(
    participants: u32,
    post_phase: tapir_barrier_phase_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    barrier_out: *mut *const tapir_barrier,
) -> Status {
    ffi_boundary! {
        require!(barrier_out);
        let action = post_phase.map(|f| {
            // SAFETY: same ABI; only the pointee type of the returned handle differs.
            unsafe {
                std::mem::transmute::<unsafe extern "C" fn(*mut c_void, u64) -> *const tapir_error, PhaseFn>(f)
            }
        });
        let data = UserData::new(user_data, destroy);
        out(barrier_out, barrier::new(participants, action, data))
    }
}

/// Signals this participant's arrival and waits for the others (SignalAndWait):
/// `*task_out` succeeds with value 1 when the phase completes — at once, after the
/// post-phase action ran, for the last participant — fails with the action's error if
/// it returned one, succeeds with value 0 when `timeout_ms` passes first, or ends
/// canceled when `token` (NULL: none) is canceled first; in those two cases the arrival
/// is taken back.
///
/// Ownership: borrows `barrier` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: runs the post-phase action on this thread when
/// this arrival completes the phase.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout), TAPIR_STATUS_INVALID_STATE (no
/// participants).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_barrier_signal_and_wait_async(
    barrier: *const tapir_barrier,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(barrier, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(barrier));
        out(task_out, try_core!(barrier::signal_and_wait(h, d, t)))
    }
}

/// Adds `count` participants to the current phase (AddParticipants); `*phase_out` (if
/// non-NULL) receives the current phase number.
///
/// Ownership: borrows `barrier`. Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_FULL
/// (the count would overflow: nothing changed).
///
/// # Safety
/// `phase_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_barrier_add_participants(
    barrier: *const tapir_barrier,
    count: u32,
    phase_out: *mut u64,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        let phase = try_core!(barrier::add_participants(h, count));
        if !phase_out.is_null() {
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { phase_out.write(phase) };
        }
        Status::Ok
    }
}

/// Removes `count` participants (RemoveParticipants). If every participant left has
/// arrived, the phase completes: the post-phase action runs on this thread and the
/// participants are released.
///
/// Ownership: borrows `barrier`. Threading: any thread. Blocking: may run the action.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (more than the participants),
/// TAPIR_STATUS_INVALID_STATE (more than those that have not arrived); nothing changed.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_remove_participants(
    barrier: *const tapir_barrier,
    count: u32,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        from_result(barrier::remove_participants(h, count))
    }
}

/// The current phase number (CurrentPhaseNumber; the first phase is 0); 0 on error
/// (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_current_phase(barrier: *const tapir_barrier) -> u64 {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        try_core!(barrier::counts(h)).0
    }
}

/// The number of participants (ParticipantCount); 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_participant_count(barrier: *const tapir_barrier) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        try_core!(barrier::counts(h)).1
    }
}

/// Participants that have not arrived in the current phase (ParticipantsRemaining);
/// 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_participants_remaining(barrier: *const tapir_barrier) -> u32 {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        try_core!(barrier::counts(h)).2
    }
}

/// Adds a reference; returns `barrier`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_retain(barrier: *const tapir_barrier) -> *const tapir_barrier {
    ffi_boundary! {
        let h = try_core!(handle_of(barrier));
        try_core!(barrier::retain(h));
        barrier
    }
}

/// Releases a reference. NULL is a no-op.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_barrier_release(barrier: *const tapir_barrier) -> Status {
    ffi_boundary! {
        match super::handle::from_ptr(barrier) {
            None => Status::Ok,
            Some(h) => from_result(barrier::release(h)),
        }
    }
}
