//! `tapir_channel`: producer/consumer channels (System.Threading.Channels).

use std::ffi::c_void;
use std::mem::offset_of;

use super::boundary::{ffi_boundary, require, try_core};
use super::error::retain_error;
use super::handle::from_ptr;
use super::status::from_result;
use super::waits::{handle_of, out, wait_args};
use super::{tapir_cancel_token, tapir_destroy_fn, tapir_error, tapir_task};
use crate::core::callback::UserData;
use crate::core::primitives::channel::{self, FullMode, Read};
use crate::core::status::{Result, Status};

/// A FIFO channel of items between any number of producers and consumers, bounded or
/// not. An item is a `void *` with an optional destroy: whoever owns an item last
/// destroys it, and tapir runs the destroy of every item whose journey ends inside it
/// exactly once (items dropped by a full mode, left in the channel when its last
/// reference goes, or carried by a write that did not happen). Functions:
/// tapir_channel_new, _try_write, _write_async, _try_read, _read_async,
/// _wait_to_read_async, _complete, _count, _is_completed, _retain, _release.
///
/// Completion: after tapir_channel_complete, writes are refused; readers drain the
/// items left, then every read fails with the completion's error (an error of code
/// TAPIR_STATUS_QUEUE_COMPLETED when completed without one) and wait_to_read answers
/// 0 (or fails with that error). Reads pending when the channel completes empty fail
/// that way at once; writes pending then fail with an error of code
/// TAPIR_STATUS_QUEUE_COMPLETED and their items are destroyed.
pub struct tapir_channel {
    _opaque: [u8; 0],
}

/// Full mode: a write to a full channel waits (tapir_channel_try_write fails).
pub const TAPIR_CHANNEL_FULL_WAIT: u32 = 0;
/// Full mode: the oldest item is dropped (destroyed) to make room.
pub const TAPIR_CHANNEL_FULL_DROP_OLDEST: u32 = 1;
/// Full mode: the newest item in the channel is dropped (destroyed) to make room.
pub const TAPIR_CHANNEL_FULL_DROP_NEWEST: u32 = 2;
/// Full mode: the item being written is dropped (destroyed); the write reports success.
pub const TAPIR_CHANNEL_FULL_DROP_WRITE: u32 = 3;

/// Options for tapir_channel_new; NULL means unbounded. Set `struct_size =
/// sizeof(tapir_channel_options)`; fields past `struct_size` are treated as zero.
#[repr(C)]
pub struct tapir_channel_options {
    /// `sizeof(tapir_channel_options)` as the caller compiled it.
    pub struct_size: u32,
    /// A TAPIR_CHANNEL_FULL_* mode (only meaningful with a capacity).
    pub full_mode: u32,
    /// The most items the channel holds; 0 = unbounded.
    pub capacity: usize,
}

/// # Safety
/// `p` must be NULL or point to at least `struct_size` readable bytes.
unsafe fn read_options(p: *const tapir_channel_options) -> Result<(Option<usize>, FullMode)> {
    if p.is_null() {
        return Ok((None, FullMode::Wait));
    }
    // SAFETY: the caller guarantees the first field is readable.
    let size = unsafe { (*p).struct_size } as usize;
    if size < offset_of!(tapir_channel_options, full_mode) + 4 {
        return Err(Status::InvalidArgument);
    }
    // SAFETY: each field is read only when `struct_size` covers it.
    let (mode, capacity) = unsafe {
        let mode = (*p).full_mode;
        let cap = if size >= offset_of!(tapir_channel_options, capacity) + 8 {
            (*p).capacity
        } else {
            0
        };
        (mode, cap)
    };
    let mode = match mode {
        TAPIR_CHANNEL_FULL_WAIT => FullMode::Wait,
        TAPIR_CHANNEL_FULL_DROP_OLDEST => FullMode::DropOldest,
        TAPIR_CHANNEL_FULL_DROP_NEWEST => FullMode::DropNewest,
        TAPIR_CHANNEL_FULL_DROP_WRITE => FullMode::DropWrite,
        _ => return Err(Status::InvalidArgument),
    };
    Ok(((capacity != 0).then_some(capacity), mode))
}

/// Creates a channel (Channel.CreateBounded / CreateUnbounded).
///
/// Ownership: borrows `options`; `*channel_out` receives a new reference. When the
/// last reference is released, the items left are destroyed and pending reads and
/// writes fail with an error of code TAPIR_STATUS_DISPOSED (pending writes' items are
/// destroyed).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`channel_out`), TAPIR_STATUS_INVALID_ARGUMENT
/// (unknown full mode, `struct_size` too small).
///
/// # Safety
/// `options` must be NULL or point to `struct_size` readable bytes; `channel_out` must
/// be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_channel_new(
    options: *const tapir_channel_options,
    channel_out: *mut *const tapir_channel,
) -> Status {
    ffi_boundary! {
        require!(channel_out);
        // SAFETY: forwarded caller guarantee.
        let (cap, mode) = try_core!(unsafe { read_options(options) });
        out(channel_out, channel::new(cap, mode))
    }
}

/// Writes `item` now if it can be (TryWrite): to the oldest waiting reader, into the
/// channel, or as a full mode says (dropping an item, or this one: still true). True
/// when written (tapir owns `item`); false when a WAIT-mode channel is full
/// (tapir_last_status: TAPIR_STATUS_FULL), the channel was completed
/// (TAPIR_STATUS_QUEUE_COMPLETED), or on a bad argument — then `item` is still the
/// caller's and its destroy does not run.
///
/// Threading: any thread. Blocking: never (a woken reader's continuations may run on
/// this thread, bounded in depth, never under a tapir lock).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_try_write(
    channel: *const tapir_channel,
    item: *mut c_void,
    item_destroy: tapir_destroy_fn,
) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(channel));
        try_core!(channel::try_write(h, UserData::new(item, item_destroy)));
        true
    }
}

/// Writes `item`, waiting for room in a full WAIT-mode channel (WriteAsync):
/// `*task_out` succeeds with value 1 once the item is in the channel (at once when
/// there is room, a waiting reader, or a drop mode), with value 0 when `timeout_ms`
/// passes first (-1: never), ends canceled when `token` (NULL: none) is canceled first,
/// or fails with an error of code TAPIR_STATUS_QUEUE_COMPLETED when the channel is
/// completed first. In those last three cases tapir destroys `item`.
///
/// Ownership: on TAPIR_STATUS_OK tapir owns `item`; on any error it is still the
/// caller's and nothing happened. Borrows `channel` and `token`; `*task_out` receives
/// a new reference.
/// Threading: any thread. Blocking: never parks. On a full WAIT-mode channel whose
/// reader is taking items, it spins for a moment (at most a few hundred pause
/// instructions) until about a quarter of the channel is free, so that a fast writer
/// refills in batches; when no item is taken within a few dozen pauses it returns at
/// once with a pending task.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout), TAPIR_STATUS_QUEUE_COMPLETED (the
/// channel was already completed).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_channel_write_async(
    channel: *const tapir_channel,
    item: *mut c_void,
    item_destroy: tapir_destroy_fn,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(channel, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(channel));
        let item = UserData::new(item, item_destroy);
        out(task_out, try_core!(channel::write_async(h, item, d, t)))
    }
}

/// Takes the oldest item now (TryRead): true, with the item in `*item_out` and its
/// destroy in `*destroy_out` (if non-NULL; the caller now owns the item, and if
/// `destroy_out` is NULL tapir does not destroy it either); false when the channel is
/// empty (tapir_last_status: TAPIR_STATUS_TIMEOUT, as a wait of 0 ms), completed and
/// drained (TAPIR_STATUS_QUEUE_COMPLETED), or on a bad argument.
///
/// Threading: any thread. Blocking: never (a woken writer's continuations may run on
/// this thread, bounded in depth).
///
/// # Safety
/// `item_out` must be writable; `destroy_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_channel_try_read(
    channel: *const tapir_channel,
    item_out: *mut *mut c_void,
    destroy_out: *mut tapir_destroy_fn,
) -> bool {
    ffi_boundary! {
        require!(item_out);
        let h = try_core!(handle_of(channel));
        match try_core!(channel::try_read(h)) {
            Read::Item(item) => {
                let (ptr, destroy) = item.into_raw();
                // SAFETY: checked non-NULL (or tested below); the caller guarantees
                // both are writable.
                unsafe {
                    item_out.write(ptr);
                    if !destroy_out.is_null() {
                        destroy_out.write(destroy);
                    }
                }
                true
            }
            Read::Empty => {
                super::boundary::set_last(Status::Timeout);
                false
            }
            Read::Completed => {
                super::boundary::set_last(Status::QueueCompleted);
                false
            }
        }
    }
}

/// Reads the oldest item (ReadAsync): `*task_out` succeeds with the item as its value
/// (the task owns it: its destroy runs when the task goes), fails with the channel's
/// completion error once it is completed and drained, fails with an error of code
/// TAPIR_STATUS_TIMEOUT when `timeout_ms` passes first (-1: never), or ends canceled
/// when `token` (NULL: none) is canceled first. Pending readers are served in arrival
/// order; one that times out or is canceled never takes an item.
///
/// Ownership: borrows `channel` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_channel_read_async(
    channel: *const tapir_channel,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(channel, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(channel));
        out(task_out, try_core!(channel::read_async(h, d, t)))
    }
}

/// Waits until an item can be read (WaitToReadAsync): `*task_out` succeeds with value
/// 1 when the channel holds an item, with value 0 once it is completed (without error)
/// and drained; fails with the completion's error, or with an error of code
/// TAPIR_STATUS_TIMEOUT when `timeout_ms` passes first; ends canceled when `token` is
/// canceled first. An answer of 1 does not reserve the item: another reader may take it.
///
/// Ownership: borrows `channel` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad timeout).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_channel_wait_to_read_async(
    channel: *const tapir_channel,
    timeout_ms: i64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(channel, task_out);
        let (d, t) = try_core!(wait_args(timeout_ms, token));
        let h = try_core!(handle_of(channel));
        out(task_out, try_core!(channel::wait_to_read_async(h, d, t)))
    }
}

/// Completes the channel (Writer.Complete), with `error` (NULL: none) as the reason
/// readers fail once it is drained. See tapir_channel for what pending reads and
/// writes get.
///
/// Ownership: borrows `channel` and `error` (tapir takes its own reference).
/// Threading: any thread. Blocking: never (woken continuations may run on this thread,
/// bounded in depth).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE (`channel` or
/// `error`), TAPIR_STATUS_ALREADY_COMPLETED (completed before: nothing changed).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_complete(
    channel: *const tapir_channel,
    error: *const tapir_error,
) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(channel));
        let e = match from_ptr(error) {
            None => None,
            Some(_) => Some(try_core!(retain_error(error))),
        };
        from_result(channel::complete(h, e))
    }
}

/// Items in the channel now (Reader.Count); 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_count(channel: *const tapir_channel) -> usize {
    ffi_boundary! {
        let h = try_core!(handle_of(channel));
        try_core!(channel::state(h)).0
    }
}

/// True once the channel was completed (drained or not); false otherwise, or on error
/// (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_is_completed(channel: *const tapir_channel) -> bool {
    ffi_boundary! {
        let h = try_core!(handle_of(channel));
        try_core!(channel::state(h)).1
    }
}

/// Adds a reference; returns `channel`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_retain(channel: *const tapir_channel) -> *const tapir_channel {
    ffi_boundary! {
        let h = try_core!(handle_of(channel));
        try_core!(channel::retain(h));
        channel
    }
}

/// Releases a reference. NULL is a no-op. The last one destroys the items left and
/// fails pending reads and writes (see tapir_channel_new).
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_channel_release(channel: *const tapir_channel) -> Status {
    ffi_boundary! {
        match from_ptr(channel) {
            None => Status::Ok,
            Some(h) => from_result(channel::release(h)),
        }
    }
}
