//! `tapir_cache`: a single-flight asynchronous cache (AsyncCache).

use std::ffi::c_void;
use std::mem::offset_of;

use super::boundary::{ffi_boundary, require, require_fn, try_core};
use super::handle::from_ptr;
use super::status::from_result;
use super::waits::{handle_of, out};
use super::{tapir_destroy_fn, tapir_task};
use crate::core::callback::UserData;
use crate::core::primitives::cache::{self, Config, EqualFn, FactoryFn, HashFn};
use crate::core::status::{Result, Status};

/// A single-flight cache of tasks by key: the first get of a key runs the factory, and
/// every get of that key receives the same task until the entry is evicted. Functions:
/// tapir_cache_new, tapir_cache_get_async, tapir_cache_remove, tapir_cache_clear,
/// tapir_cache_count, tapir_cache_retain, tapir_cache_release.
pub struct tapir_cache {
    _opaque: [u8; 0],
}

/// Makes the task for `key[0..len]` (borrowed for the call): returns a new task
/// reference (tapir takes it), or NULL (the entry then fails with an error of code
/// TAPIR_STATUS_INVALID_STATE). Runs on the thread of the get that missed, outside
/// every tapir lock; it may call into the cache. Must not unwind.
pub type tapir_cache_factory_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, len: usize) -> *const tapir_task,
>;
/// Hashes a key (keys that are equal must hash equally). Never called under a tapir
/// lock. Must not unwind.
pub type tapir_cache_hash_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, len: usize) -> u64>;
/// Compares two keys. Never called under a tapir lock. Must not unwind.
pub type tapir_cache_equal_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        a: *const u8,
        a_len: usize,
        b: *const u8,
        b_len: usize,
    ) -> bool,
>;

/// tapir_cache_options flag: keep faulted and canceled entries (by default they are
/// evicted when they complete, so the next get retries).
pub const TAPIR_CACHE_KEEP_FAILURES: u32 = 1;

/// Options for tapir_cache_new; NULL means the defaults (byte keys hashed and compared
/// by tapir, failures evicted, unbounded). Set `struct_size =
/// sizeof(tapir_cache_options)`; fields past `struct_size` are treated as zero.
#[repr(C)]
pub struct tapir_cache_options {
    /// `sizeof(tapir_cache_options)` as the caller compiled it.
    pub struct_size: u32,
    /// TAPIR_CACHE_* flags.
    pub flags: u32,
    /// The most entries kept (the least recently used is evicted); 0 = unbounded.
    pub capacity: usize,
    /// The key hash (NULL: tapir's); called with the factory's user_data.
    pub hash: tapir_cache_hash_fn,
    /// Key equality (NULL: bytewise); called with the factory's user_data.
    pub equal: tapir_cache_equal_fn,
}

struct Options {
    flags: u32,
    capacity: usize,
    hash: Option<HashFn>,
    equal: Option<EqualFn>,
}

/// # Safety
/// `p` must be NULL or point to at least `struct_size` readable bytes.
unsafe fn read_options(p: *const tapir_cache_options) -> Result<Options> {
    let mut o = Options {
        flags: 0,
        capacity: 0,
        hash: None,
        equal: None,
    };
    if p.is_null() {
        return Ok(o);
    }
    // SAFETY: the caller guarantees the first field is readable.
    let size = unsafe { (*p).struct_size } as usize;
    let covers = |off: usize, len: usize| size >= off + len;
    if !covers(offset_of!(tapir_cache_options, flags), 4) {
        return Err(Status::InvalidArgument);
    }
    // SAFETY: each field is read only when `struct_size` covers it; the callback
    // types differ from the core's only in the pointee type of a returned handle.
    unsafe {
        o.flags = (*p).flags;
        if covers(offset_of!(tapir_cache_options, capacity), 8) {
            o.capacity = (*p).capacity;
        }
        if covers(offset_of!(tapir_cache_options, hash), 8) {
            o.hash = (*p).hash;
        }
        if covers(offset_of!(tapir_cache_options, equal), 8) {
            o.equal = (*p).equal;
        }
    }
    if o.flags & !TAPIR_CACHE_KEEP_FAILURES != 0 {
        return Err(Status::InvalidArgument);
    }
    Ok(o)
}

/// Creates a cache whose entries `factory(user_data, key, len)` makes.
///
/// Ownership: borrows `options`. On TAPIR_STATUS_OK tapir owns `user_data` (`destroy`,
/// if non-NULL, runs once when the cache goes); on error nothing is called.
/// `*cache_out` receives a new reference. Releasing the last one evicts every entry
/// (tasks already handed out are unaffected).
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`factory`, `cache_out`),
/// TAPIR_STATUS_INVALID_ARGUMENT (unknown flags, `struct_size` too small).
///
/// # Safety
/// `options` must be NULL or point to `struct_size` readable bytes; `cache_out` must be
/// writable. The callbacks must be callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cache_new(
    factory: tapir_cache_factory_fn,
    user_data: *mut c_void,
    destroy: tapir_destroy_fn,
    options: *const tapir_cache_options,
    cache_out: *mut *const tapir_cache,
) -> Status {
    ffi_boundary! {
        let f = require_fn!(factory);
        require!(cache_out);
        // SAFETY: forwarded caller guarantee.
        let o = try_core!(unsafe { read_options(options) });
        // SAFETY: same ABI; only the pointee type of the returned handle differs.
        let factory: FactoryFn = unsafe {
            std::mem::transmute::<
                unsafe extern "C" fn(*mut c_void, *const u8, usize) -> *const tapir_task,
                FactoryFn,
            >(f)
        };
        let config = Config {
            factory,
            hash: o.hash,
            equal: o.equal,
            data: UserData::new(user_data, destroy),
            keep_failures: o.flags & TAPIR_CACHE_KEEP_FAILURES != 0,
            capacity: (o.capacity != 0).then_some(o.capacity),
        };
        out(cache_out, cache::new(config))
    }
}

/// # Safety
/// `key` must point to `len` readable bytes when `len > 0`.
unsafe fn key_bytes<'a>(key: *const u8, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if key.is_null() {
        return Err(Status::NullArgument);
    }
    // SAFETY: forwarded caller guarantee.
    Ok(unsafe { std::slice::from_raw_parts(key, len) })
}

/// The task of `key[0..len]` (GetAsync): the entry's task if the key has one (the very
/// same task every caller receives), otherwise a new entry whose task completes as the
/// factory's does — the factory runs on this thread, outside every tapir lock, once
/// per entry. A faulted or canceled entry is evicted when it completes (unless
/// TAPIR_CACHE_KEEP_FAILURES), so the next get runs the factory again.
///
/// Ownership: borrows `cache` and `key` (tapir copies it); `*task_out` receives a new
/// reference.
/// Threading: any thread. Blocking: runs the factory on a miss.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT (`cache`, `task_out`, or `key` with `len` > 0),
/// TAPIR_STATUS_INVALID_HANDLE, TAPIR_STATUS_FULL (the task has as many handles as it
/// can count).
///
/// # Safety
/// `key` must point to `len` readable bytes; `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cache_get_async(
    cache: *const tapir_cache,
    key: *const u8,
    len: usize,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(cache, task_out);
        // SAFETY: forwarded caller guarantee.
        let k = try_core!(unsafe { key_bytes(key, len) });
        let h = try_core!(handle_of(cache));
        out(task_out, try_core!(cache::get(h, k)))
    }
}

/// Evicts the entry of `key[0..len]`: true if there was one; false if not, or on error
/// (see tapir_last_status). Its task is unaffected.
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `key` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_cache_remove(
    cache: *const tapir_cache,
    key: *const u8,
    len: usize,
) -> bool {
    ffi_boundary! {
        // SAFETY: forwarded caller guarantee.
        let k = try_core!(unsafe { key_bytes(key, len) });
        let h = try_core!(handle_of(cache));
        try_core!(cache::remove(h, k))
    }
}

/// Evicts every entry (their tasks are unaffected).
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cache_clear(cache: *const tapir_cache) -> Status {
    ffi_boundary! {
        let h = try_core!(handle_of(cache));
        from_result(cache::clear(h))
    }
}

/// Entries now; 0 on error (see tapir_last_status).
///
/// Threading: any thread (a snapshot). Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cache_count(cache: *const tapir_cache) -> usize {
    ffi_boundary! {
        let h = try_core!(handle_of(cache));
        try_core!(cache::count(h))
    }
}

/// Adds a reference; returns `cache`, or NULL on error (see tapir_last_status).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cache_retain(cache: *const tapir_cache) -> *const tapir_cache {
    ffi_boundary! {
        let h = try_core!(handle_of(cache));
        try_core!(cache::retain(h));
        cache
    }
}

/// Releases a reference. NULL is a no-op. The last one evicts every entry.
///
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cache_release(cache: *const tapir_cache) -> Status {
    ffi_boundary! {
        match from_ptr(cache) {
            None => Status::Ok,
            Some(h) => from_result(cache::release(h)),
        }
    }
}
