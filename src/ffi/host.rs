//! Fitting tapir into a host: configuration before first use (threads, names, stacks,
//! thread hooks, who drives time), host-driven time, clocks the host ticks (frames,
//! scaled time), the deterministic test scheduler and a manual scheduler's wake
//! descriptor.

use std::ffi::{CStr, c_char, c_void};
use std::mem::offset_of;

use super::boundary::{ffi_boundary, require, try_core};
use super::combinators::{out_task, token};
use super::handle::{from_ptr, to_ptr, write};
use super::status::from_result;
use super::{tapir_cancel_source, tapir_cancel_token, tapir_scheduler, tapir_task};
use crate::core::memory::Handle;
use crate::core::sched;
use crate::core::status::{Result, Status};
use crate::core::task::config::{self, Config, MAX_THREADS, ThreadHookFn, TimerDriver};
use crate::core::time::{self, After, clock};

/// `kind` of a thread hook call: a worker of the default pool (`index` 0 to threads-1).
pub const TAPIR_THREAD_POOL: i32 = 0;
/// `kind` of a thread hook call: the timer thread (`index` 0).
pub const TAPIR_THREAD_TIMER: i32 = 1;

/// `timer_driver`: tapir's own timer thread measures real (monotonic) time. The default.
pub const TAPIR_TIMER_DRIVER_THREAD: i32 = 0;
/// `timer_driver`: no timer thread; time is what the host last set with
/// tapir_time_advance, and the host runs due timers with tapir_timers_run_due.
pub const TAPIR_TIMER_DRIVER_HOST: i32 = 1;

/// Runs on each thread tapir starts: `on_thread_start` first, before it runs any work,
/// and `on_thread_stop` last, when it ends (at tapir_shutdown). `kind` is
/// TAPIR_THREAD_POOL or TAPIR_THREAD_TIMER. This is where a managed runtime (Mono, the
/// JVM) or an engine attaches and detaches a thread. Must not unwind, and must not call
/// tapir_shutdown.
pub type tapir_thread_hook_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, kind: i32, index: u32)>;

/// How tapir runs in its host; fill with tapir_config_init, change what you need, pass
/// to tapir_configure before first use. Fields past `struct_size` are treated as their
/// defaults, so a program built against an older header keeps working.
#[repr(C)]
pub struct tapir_config {
    /// `sizeof(tapir_config)` as the caller compiled it (tapir_config_init sets it).
    pub struct_size: u32,
    /// Threads of the default pool: -1 (the default) takes the environment variable
    /// TAPIR_THREADS (1 to 1024) if set, else one per core; 1 to 1024 exactly that; 0 no
    /// pool at all — work for the default pool then goes to `pool_scheduler`.
    pub threads: i32,
    /// Prefix of tapir's thread names (NULL: "tapir"): "<prefix>-pool-<i>" and
    /// "<prefix>-timer", cut to the 15 bytes Linux keeps. Copied by tapir_configure.
    pub thread_name_prefix: *const c_char,
    /// Stack size in bytes of pool and timer threads (0: the system's default; at least
    /// the system's minimum).
    pub stack_size: usize,
    /// Runs first on each tapir thread (may be NULL). See tapir_thread_hook_fn.
    pub on_thread_start: tapir_thread_hook_fn,
    /// Runs last on each tapir thread (may be NULL). See tapir_thread_hook_fn.
    pub on_thread_stop: tapir_thread_hook_fn,
    /// Passed to both hooks; not owned, must stay valid while tapir threads run.
    pub hook_ctx: *mut c_void,
    /// TAPIR_TIMER_DRIVER_THREAD (default) or TAPIR_TIMER_DRIVER_HOST.
    pub timer_driver: i32,
    /// Where timer expiries run — the completion of delays, timeouts and cancel-afters,
    /// and so the continuations that run inline with them (NULL: the default pool). A
    /// manual scheduler here keeps them on the host's thread. Borrowed: tapir keeps a
    /// reference of its own until tapir_shutdown.
    pub timer_scheduler: *const tapir_scheduler,
    /// With `threads` 0 only, and required then: the scheduler that receives every work
    /// item for the default pool (normally a manual scheduler the host pumps). Borrowed:
    /// tapir keeps a reference of its own until tapir_shutdown.
    pub pool_scheduler: *const tapir_scheduler,
}

impl tapir_config {
    fn defaults() -> tapir_config {
        tapir_config {
            struct_size: size_of::<tapir_config>() as u32,
            threads: -1,
            thread_name_prefix: std::ptr::null(),
            stack_size: 0,
            on_thread_start: None,
            on_thread_stop: None,
            hook_ctx: std::ptr::null_mut(),
            timer_driver: TAPIR_TIMER_DRIVER_THREAD,
            timer_scheduler: std::ptr::null(),
            pool_scheduler: std::ptr::null(),
        }
    }
}

/// Fills `*config` with the defaults (`struct_size` set, `threads` -1, the thread timer
/// driver, every pointer NULL, sizes 0).
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `config` must be writable for `sizeof(tapir_config)` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_config_init(config: *mut tapir_config) -> Status {
    ffi_boundary! {
        require!(config);
        // SAFETY: non-NULL and writable, as the caller guarantees.
        unsafe { write(config, tapir_config::defaults()) };
        Status::Ok
    }
}

/// Reads the fields `config` covers by its `struct_size`, defaulting the rest.
///
/// # Safety
/// `config` must be readable for `struct_size` bytes.
unsafe fn read_config(config: *const tapir_config) -> Result<tapir_config> {
    // SAFETY: the first field is always readable (the caller passes a config).
    let size = unsafe { (*config).struct_size } as usize;
    if size < offset_of!(tapir_config, threads) + size_of::<i32>() {
        return Err(Status::InvalidArgument);
    }
    let mut out = tapir_config::defaults();
    macro_rules! field {
        ($name:ident, $ty:ty) => {
            if size >= offset_of!(tapir_config, $name) + size_of::<$ty>() {
                // SAFETY: covered by `struct_size`, which the caller guarantees readable.
                out.$name = unsafe { (*config).$name };
            }
        };
    }
    field!(threads, i32);
    field!(thread_name_prefix, *const c_char);
    field!(stack_size, usize);
    field!(on_thread_start, tapir_thread_hook_fn);
    field!(on_thread_stop, tapir_thread_hook_fn);
    field!(hook_ctx, *mut c_void);
    field!(timer_driver, i32);
    field!(timer_scheduler, *const tapir_scheduler);
    field!(pool_scheduler, *const tapir_scheduler);
    Ok(out)
}

fn hook(f: tapir_thread_hook_fn) -> Option<ThreadHookFn> {
    f.map(|f| f as ThreadHookFn)
}

fn scheduler_ref(
    p: *const tapir_scheduler,
) -> Result<Option<crate::core::task::schedule::SchedRef>> {
    from_ptr(p).map(sched::retain_ref).transpose()
}

/// Configures tapir before first use: the default pool's threads, the names, stacks and
/// start/stop hooks of tapir's threads, who drives time, and where timer expiries (and,
/// with no pool, the pool's work) run. "First use" is the start of the pool (the first
/// work for the default scheduler), the first timer (a delay, a timeout, a
/// cancel-after, a primitive's wait_async with a timeout), or — with the host timer
/// driver — the first tapir_time_advance or tapir_timers_run_due; creating tasks,
/// sources and other objects is not use. Until then, calls
/// may replace each other; the last one applies.
///
/// Single-threaded mode: `threads` 0 with a manual `pool_scheduler` and the host timer
/// driver — tapir then never creates a thread; everything runs in the host's calls
/// (tapir_scheduler_run_pending, tapir_timers_run_due).
///
/// tapir_shutdown returns tapir to the defaults (releasing the schedulers named here)
/// unless timers are still pending (tapir_debug_pending_timers() > 0 after it), so it
/// can be configured again afterwards.
///
/// Ownership: copies `*config` and the prefix; takes references of its own on the
/// schedulers (released at tapir_shutdown, or when a later tapir_configure replaces
/// them). `hook_ctx` is not owned.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT; TAPIR_STATUS_INVALID_ARGUMENT (`struct_size` too
/// small, `threads` below -1 or above 1024, `threads` 0 without a `pool_scheduler` or a
/// `pool_scheduler` with `threads` not 0, an unknown `timer_driver`, a prefix that is not
/// UTF-8); TAPIR_STATUS_INVALID_HANDLE (a scheduler); TAPIR_STATUS_INVALID_STATE (tapir
/// is in use: the pool or the timer started since the last tapir_shutdown). On error
/// nothing changed.
///
/// # Safety
/// `config` must be readable for its `struct_size` bytes; a non-NULL
/// `thread_name_prefix` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_configure(config: *const tapir_config) -> Status {
    ffi_boundary! {
        require!(config);
        // SAFETY: forwarded caller guarantee.
        let c = try_core!(unsafe { read_config(config) });
        let threads = match c.threads {
            -1 => None,
            n if n >= 0 && (n as usize) <= MAX_THREADS => Some(n as usize),
            _ => return Status::InvalidArgument,
        };
        let timer_driver = match c.timer_driver {
            TAPIR_TIMER_DRIVER_THREAD => TimerDriver::Thread,
            TAPIR_TIMER_DRIVER_HOST => TimerDriver::Host,
            _ => return Status::InvalidArgument,
        };
        let name_prefix = if c.thread_name_prefix.is_null() {
            None
        } else {
            // SAFETY: a NUL-terminated string, as the caller guarantees.
            match unsafe { CStr::from_ptr(c.thread_name_prefix) }.to_str() {
                Ok(s) => Some(s.to_owned()),
                Err(_) => return Status::InvalidArgument,
            }
        };
        let timer_scheduler = try_core!(scheduler_ref(c.timer_scheduler));
        let pool_scheduler = try_core!(scheduler_ref(c.pool_scheduler));
        from_result(config::configure(Config {
            threads,
            name_prefix: name_prefix.unwrap_or_default(),
            stack_size: c.stack_size,
            on_start: hook(c.on_thread_start),
            on_stop: hook(c.on_thread_stop),
            hook_ctx: c.hook_ctx,
            timer_driver,
            timer_scheduler,
            pool_scheduler,
        }))
    }
}

/// Host timer driver: sets the time, in milliseconds of the host's own monotonic clock
/// (it starts at 0). Runs nothing: call tapir_timers_run_due next. Every delay,
/// timeout (tapir_task_wait_async, a primitive's wait_async), and cancel-after is
/// measured in this time; blocking waits (tapir_task_wait and the like) keep real time,
/// since they block a thread.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_STATE (the host driver is not configured);
/// TAPIR_STATUS_INVALID_ARGUMENT (`now_ms` is before the current host time).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_time_advance(now_ms: u64) -> Status {
    ffi_boundary! { from_result(time::timer::host_advance(now_ms)) }
}

/// Host timer driver: runs every timer due at the host time, on the calling thread, and
/// writes how many ran to `*ran_out` (if not NULL). A timer's expiry only posts its work
/// to where timer expiries run (`timer_scheduler`), so no user callback runs here
/// unless that scheduler is inline.
///
/// Threading: any thread (normally the host's tick). Blocking: never.
/// Errors: TAPIR_STATUS_INVALID_STATE (the host driver is not configured).
///
/// # Safety
/// `ran_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_timers_run_due(ran_out: *mut usize) -> Status {
    ffi_boundary! {
        let ran = try_core!(time::timer::host_run_due());
        if !ran_out.is_null() {
            // SAFETY: non-NULL and writable, as the caller guarantees.
            unsafe { write(ran_out, ran) };
        }
        Status::Ok
    }
}

/// Host timer driver: true, with the earliest pending deadline (host milliseconds) in
/// `*due_ms_out`, if a timer is pending; false if none is, or the host driver is not in
/// use. A host loop sleeps until then (or until its next frame).
///
/// Threading: any thread. Blocking: never.
///
/// # Safety
/// `due_ms_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_timers_next_due(due_ms_out: *mut u64) -> bool {
    ffi_boundary! {
        require!(due_ms_out);
        match time::timer::host_next_due() {
            Some(due) => {
                // SAFETY: non-NULL and writable, as the caller guarantees.
                unsafe { write(due_ms_out, due) };
                true
            }
            None => false,
        }
    }
}

/// A clock the host ticks: a frame counter, or game time that runs at a scale and can
/// be paused. Delays, timeouts and cancel-afters can be measured on it (tapir_delay_on,
/// tapir_task_wait_async_on, tapir_cancel_source_cancel_after_on); its time moves only
/// in tapir_clock_advance, which runs what is due. Functions: tapir_clock_new_frames,
/// tapir_clock_new_scaled, tapir_clock_advance, tapir_clock_now, tapir_clock_set_scale,
/// tapir_clock_set_paused, tapir_clock_retain, tapir_clock_release.
pub struct tapir_clock {
    _opaque: [u8; 0],
}

fn write_clock(out: *mut *const tapir_clock, h: Handle) -> Status {
    // SAFETY: callers check `out` for NULL; the C caller guarantees it is writable.
    unsafe { write(out, to_ptr(h)) };
    Status::Ok
}

fn clock_handle(c: *const tapir_clock) -> Handle {
    from_ptr(c).expect("non-NULL")
}

/// Creates a clock that counts frames, at frame 0: each tapir_clock_advance(clock, 1)
/// is one frame. A delay of n frames made at frame f completes in the advance that
/// reaches frame f + n.
///
/// Ownership: `*clock_out` receives a new reference. When the last one is released,
/// nobody can advance the clock: its pending timers are dropped at once — a delay on it
/// fails with an error of code TAPIR_STATUS_DISPOSED, a timeout or cancel-after on it
/// never fires.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT.
///
/// # Safety
/// `clock_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_clock_new_frames(clock_out: *mut *const tapir_clock) -> Status {
    ffi_boundary! {
        require!(clock_out);
        write_clock(clock_out, clock::new_frames())
    }
}

/// Creates a clock of game time in milliseconds, at 0, that moves `scale` times as fast
/// as the real time the host passes to tapir_clock_advance (1.0: real time; 0.5: slow
/// motion; 0: stopped), like Unity's scaled `Time.time`.
///
/// Ownership: as tapir_clock_new_frames.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_ARGUMENT (`scale` negative
/// or not finite).
///
/// # Safety
/// `clock_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_clock_new_scaled(
    scale: f64,
    clock_out: *mut *const tapir_clock,
) -> Status {
    ffi_boundary! {
        require!(clock_out);
        write_clock(clock_out, try_core!(clock::new_scaled(scale)))
    }
}

/// Adds a reference; returns `clock`, or NULL if NULL or invalid.
///
/// Threading: any thread. Blocking: never.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_clock_retain(clock: *const tapir_clock) -> *const tapir_clock {
    ffi_boundary! {
        require!(clock);
        try_core!(clock::retain(clock_handle(clock)));
        clock
    }
}

/// Releases a reference (see tapir_clock_new_frames for what the last one does). NULL
/// is a no-op.
///
/// Threading: any thread. Blocking: never (dropping pending timers may complete their
/// tasks; their continuations are dispatched, not run here).
/// Errors: TAPIR_STATUS_INVALID_HANDLE.
#[unsafe(no_mangle)]
pub extern "C" fn tapir_clock_release(clock: *const tapir_clock) -> Status {
    ffi_boundary! {
        match from_ptr(clock) {
            None => Status::Ok,
            Some(h) => from_result(clock::release(h)),
        }
    }
}

/// Moves the clock forward — a frame clock by `delta` frames (a whole number), a scaled
/// clock by `delta` real milliseconds times its scale — unless it is paused, then runs,
/// on the calling thread, every timer of the clock now due; writes how many ran to
/// `*ran_out` (if not NULL). An expiry only posts its work to where timer expiries run
/// (see tapir_config), so no user callback runs here unless that scheduler is inline.
///
/// Threading: any thread (normally the host's frame loop). Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`delta` negative, not finite, or not whole for a frame
/// clock).
///
/// # Safety
/// `ran_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_clock_advance(
    clock: *const tapir_clock,
    delta: f64,
    ran_out: *mut usize,
) -> Status {
    ffi_boundary! {
        require!(clock);
        let ran = try_core!(clock::advance(clock_handle(clock), delta));
        if !ran_out.is_null() {
            // SAFETY: non-NULL and writable, as the caller guarantees.
            unsafe { write(ran_out, ran) };
        }
        Status::Ok
    }
}

/// Writes the clock's time: frames, or game milliseconds.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE.
///
/// # Safety
/// `now_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_clock_now(clock: *const tapir_clock, now_out: *mut f64) -> Status {
    ffi_boundary! {
        require!(clock, now_out);
        let now = try_core!(clock::now(clock_handle(clock)));
        // SAFETY: non-NULL and writable, as the caller guarantees.
        unsafe { write(now_out, now) };
        Status::Ok
    }
}

/// Sets a scaled clock's rate for the advances that follow (0 stops it, like pausing).
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (a frame clock; `scale` negative or not finite).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_clock_set_scale(clock: *const tapir_clock, scale: f64) -> Status {
    ffi_boundary! {
        require!(clock);
        from_result(clock::set_scale(clock_handle(clock), scale))
    }
}

/// Pauses (`paused` 1) or resumes (0) the clock: a paused clock ignores advances, so
/// nothing measured on it moves (a game's pause menu). Either kind of clock.
///
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`paused` not 0 or 1).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_clock_set_paused(clock: *const tapir_clock, paused: u32) -> Status {
    ffi_boundary! {
        require!(clock);
        let paused = match paused {
            0 => false,
            1 => true,
            _ => return Status::InvalidArgument,
        };
        from_result(clock::set_paused(clock_handle(clock), paused))
    }
}

/// `amount` measured on `clock`, validated.
fn on_clock(c: *const tapir_clock, amount: f64) -> Result<After> {
    After::on_clock(clock::pin(clock_handle(c))?, amount)
}

/// tapir_delay measured on a clock: a task that succeeds (value NULL) once `amount` of
/// the clock's time has passed — frames, or game milliseconds (rounded up) — or ends
/// canceled when `token` (NULL: none) is canceled first. -1 never elapses; 0 completes
/// at once. The delay completes where timer expiries run (see tapir_config).
///
/// Ownership: borrows `clock` and `token`; `*task_out` receives a new reference. If the
/// clock's last reference is released first, the delay fails with an error of code
/// TAPIR_STATUS_DISPOSED.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (`amount` negative other than -1, or not finite).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_delay_on(
    clock: *const tapir_clock,
    amount: f64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(clock, task_out);
        let after = try_core!(on_clock(clock, amount));
        let t = try_core!(self::token(token));
        out_task(task_out, time::delay(after, t))
    }
}

/// tapir_task_wait_async measured on a clock: a task that completes as `task` does, or
/// fails with an error of code TAPIR_STATUS_TIMEOUT once `timeout` of the clock's time
/// (frames, or game milliseconds; -1: never) has passed, or ends canceled when `token`
/// (NULL: none) is canceled. `task` itself is never affected; if it has already
/// completed, `*task_out` is `task` itself (a new reference).
///
/// Ownership: borrows `task`, `clock` and `token`; `*task_out` receives a new reference.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad `timeout`).
///
/// # Safety
/// `task_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_task_wait_async_on(
    task: *const tapir_task,
    clock: *const tapir_clock,
    timeout: f64,
    token: *const tapir_cancel_token,
    task_out: *mut *const tapir_task,
) -> Status {
    ffi_boundary! {
        require!(task, clock, task_out);
        let after = try_core!(on_clock(clock, timeout));
        let t = try_core!(self::token(token));
        let original = from_ptr(task).expect("non-NULL");
        out_task(task_out, try_core!(time::wait_async(original, after, t)))
    }
}

/// tapir_cancel_source_cancel_after measured on a clock: cancels `source` once `delay`
/// of the clock's time (frames, or game milliseconds) has passed; -1 clears a pending
/// deadline, 0 cancels now. Replaces an earlier deadline, on any clock.
///
/// Threading: any thread. Blocking: never (0 cancels now: callbacks run inline).
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (bad `delay`).
#[unsafe(no_mangle)]
pub extern "C" fn tapir_cancel_source_cancel_after_on(
    source: *const tapir_cancel_source,
    clock: *const tapir_clock,
    delay: f64,
) -> Status {
    ffi_boundary! {
        require!(source, clock);
        let after = try_core!(on_clock(clock, delay));
        from_result(time::cancel_after(from_ptr(source).expect("non-NULL"), after))
    }
}

/// Creates a test scheduler: a manual scheduler whose queued work runs in an order
/// chosen by `seed` — the same seed gives the same order, run after run and version
/// after version — so a test of races is reproducible. With tapir_configure's
/// `threads` 0, this scheduler as `pool_scheduler` and `timer_scheduler`, and the host
/// timer driver, tapir_scheduler_run_until_idle runs a whole test instantly: time jumps
/// to the next timer whenever nothing else is ready.
///
/// Ownership, threading, errors: as tapir_scheduler_new_manual.
///
/// # Safety
/// `scheduler_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_new_test(
    seed: u64,
    scheduler_out: *mut *const tapir_scheduler,
) -> Status {
    ffi_boundary! {
        require!(scheduler_out);
        // SAFETY: non-NULL and writable, as the caller guarantees.
        unsafe { write(scheduler_out, to_ptr(sched::new_test(seed))) };
        Status::Ok
    }
}

/// Runs a manual or test scheduler's work on the calling thread until nothing is left
/// to do: whenever its queue is empty and the host timer driver has a pending timer,
/// the host time jumps to that timer's deadline and what is due runs (so a delay of an
/// hour takes no time). Returns when the queue is empty and no host-driven timer is
/// pending (timers on clocks do not count: the host ticks those), or once `max_items`
/// items ran (0: no limit; work that keeps reposting itself needs one). Writes how many
/// ran to `*ran_out` (if not NULL). As in tapir_scheduler_run_pending, the scheduler
/// is current while its work runs.
///
/// Threading: any thread. Blocking: runs user callbacks.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (not a manual or test scheduler).
///
/// # Safety
/// `ran_out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_run_until_idle(
    scheduler: *const tapir_scheduler,
    max_items: usize,
    ran_out: *mut usize,
) -> Status {
    ffi_boundary! {
        require!(scheduler);
        let ran = try_core!(sched::run_until_idle(from_ptr(scheduler).expect("non-NULL"), max_items));
        if !ran_out.is_null() {
            // SAFETY: non-NULL and writable, as the caller guarantees.
            unsafe { write(ran_out, ran) };
        }
        Status::Ok
    }
}

/// Writes a file descriptor that is readable exactly while work is queued on the
/// manual (or test) scheduler — an eventfd on Linux, a pipe's read end elsewhere — for
/// a host loop that sleeps in epoll, poll, kqueue or libuv until there is work: wait
/// for it, then call tapir_scheduler_run_pending. Every call writes the same
/// descriptor.
///
/// Ownership: the descriptor belongs to the scheduler and is closed when the scheduler
/// is freed; do not read, write or close it.
/// Threading: any thread. Blocking: never.
/// Errors: TAPIR_STATUS_NULL_ARGUMENT, TAPIR_STATUS_INVALID_HANDLE,
/// TAPIR_STATUS_INVALID_ARGUMENT (not a manual or test scheduler),
/// TAPIR_STATUS_INVALID_STATE (the system refused a descriptor).
///
/// # Safety
/// `fd_out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tapir_scheduler_wake_fd(
    scheduler: *const tapir_scheduler,
    fd_out: *mut i32,
) -> Status {
    ffi_boundary! {
        require!(scheduler, fd_out);
        let fd = try_core!(sched::wake_fd(from_ptr(scheduler).expect("non-NULL")));
        // SAFETY: non-NULL and writable, as the caller guarantees.
        unsafe { write(fd_out, fd) };
        Status::Ok
    }
}
