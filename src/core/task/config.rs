//! What the host chose before first use: the pool's size, its threads' names, stack
//! and start/stop hooks, who drives time, and where timer expiries and (with no pool)
//! the pool's work go.
//!
//! # Freezing
//! A configuration governs threads and timers that exist for a whole run, so it can
//! only change while neither exists. The first pool start or armed timer *freezes* it
//! ([`freeze`]); `tapir_configure` is refused from then on, and `tapir_shutdown`, once
//! it has joined every thread, *thaws* it back to the defaults ([`thaw`]): the
//! scheduler references it held are dropped, so a shut-down tapir holds no object and
//! can be unloaded, or configured again.
//!
//! The frozen configuration is read through [`frozen`], a snapshot taken under the
//! lock on cold paths only (a pool start, a timer's first arming, a routed post).

use std::ffi::c_void;

use crate::core::status::{Result, Status};
use crate::core::sync::Mutex;

use super::schedule::SchedRef;

/// A pool thread or the timer thread, as the hooks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(crate) enum ThreadKind {
    Pool = 0,
    Timer = 1,
}

/// `tapir_thread_hook_fn`: runs on the thread it names, first or last.
pub(crate) type ThreadHookFn = unsafe extern "C" fn(ctx: *mut c_void, kind: i32, index: u32);

/// Who moves time forward for the process-wide timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerDriver {
    /// tapir's timer thread, on the monotonic clock.
    Thread,
    /// No thread: time is what the host last said (`tapir_time_advance`), and the host
    /// runs what is due (`tapir_timers_run_due`).
    Host,
}

/// The largest pool a configuration may ask for.
pub(crate) const MAX_THREADS: usize = 1024;

/// One configuration, as given (validated) or defaulted.
#[derive(Clone)]
pub(crate) struct Config {
    /// None: the environment's `TAPIR_THREADS`, else one per core. Some(0): no pool.
    pub(crate) threads: Option<usize>,
    /// Empty: "tapir".
    pub(crate) name_prefix: String,
    /// 0: the system's default.
    pub(crate) stack_size: usize,
    pub(crate) on_start: Option<ThreadHookFn>,
    pub(crate) on_stop: Option<ThreadHookFn>,
    pub(crate) hook_ctx: *mut c_void,
    pub(crate) timer_driver: TimerDriver,
    /// Where timer expiries run; None: the default pool.
    pub(crate) timer_scheduler: Option<SchedRef>,
    /// With no pool, where the pool's work goes (required then, refused otherwise).
    pub(crate) pool_scheduler: Option<SchedRef>,
}

// SAFETY: `hook_ctx` is the host's pointer, passed back to its hooks on tapir's
// threads; the header requires it (and the hooks) to be usable from any thread. The
// scheduler references are Send + Sync.
unsafe impl Send for Config {}
// SAFETY: as above; a shared `Config` is only read.
unsafe impl Sync for Config {}

impl Config {
    const fn defaults() -> Config {
        Config {
            threads: None,
            name_prefix: String::new(),
            stack_size: 0,
            on_start: None,
            on_stop: None,
            hook_ctx: std::ptr::null_mut(),
            timer_driver: TimerDriver::Thread,
            timer_scheduler: None,
            pool_scheduler: None,
        }
    }

    /// The pool's thread count: the configured one, else `TAPIR_THREADS` (1 to
    /// [`MAX_THREADS`]; anything else is ignored), else one per core.
    pub(crate) fn pool_threads(&self) -> usize {
        if let Some(n) = self.threads {
            return n;
        }
        let from_env = std::env::var("TAPIR_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| (1..=MAX_THREADS).contains(n));
        from_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// The name of a tapir thread: `<prefix>-<role>` (the system keeps 15 bytes).
    pub(crate) fn thread_name(&self, role: &str) -> String {
        let prefix = if self.name_prefix.is_empty() {
            "tapir"
        } else {
            &self.name_prefix
        };
        format!("{prefix}-{role}")
    }

    /// Runs the start hook, if any, on the calling (new) thread.
    pub(crate) fn thread_started(&self, kind: ThreadKind, index: u32) {
        if let Some(hook) = self.on_start {
            // SAFETY: the host's hook with the host's context, on a tapir thread, as
            // the header documents.
            unsafe { hook(self.hook_ctx, kind as i32, index) };
        }
    }

    /// Runs the stop hook, if any, on the calling (ending) thread.
    pub(crate) fn thread_stopping(&self, kind: ThreadKind, index: u32) {
        if let Some(hook) = self.on_stop {
            // SAFETY: as in `thread_started`.
            unsafe { hook(self.hook_ctx, kind as i32, index) };
        }
    }
}

struct State {
    config: Config,
    frozen: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    config: Config::defaults(),
    frozen: false,
});

/// Installs `config` unless tapir is already in use. On error nothing changed (the
/// configuration's references are dropped).
pub(crate) fn configure(config: Config) -> Result<()> {
    if config.threads.is_some_and(|n| n > MAX_THREADS)
        || (config.threads == Some(0)) != config.pool_scheduler.is_some()
    {
        return Err(Status::InvalidArgument);
    }
    let replaced = {
        let mut state = STATE.lock();
        if state.frozen {
            return Err(Status::InvalidState);
        }
        std::mem::replace(&mut state.config, config)
    };
    // Outside the lock: releasing a scheduler may run user code.
    drop(replaced);
    Ok(())
}

/// Freezes the configuration (first use) and returns a snapshot of it.
pub(crate) fn freeze() -> Config {
    let mut state = STATE.lock();
    state.frozen = true;
    state.config.clone()
}

/// Where timer expiries run (None: the default pool). Read per expiry.
pub(crate) fn timer_scheduler() -> Option<SchedRef> {
    STATE.lock().config.timer_scheduler.clone()
}

/// With no pool: where the pool's work goes (None: nowhere; the work is discarded).
pub(crate) fn pool_scheduler() -> Option<SchedRef> {
    STATE.lock().config.pool_scheduler.clone()
}

/// The configuration as it stands, without freezing it.
#[cfg(test)]
pub(crate) fn current() -> Config {
    STATE.lock().config.clone()
}

/// Who drives time, as configured now (without freezing the configuration).
pub(crate) fn timer_driver() -> TimerDriver {
    STATE.lock().config.timer_driver
}

/// Back to the defaults, once shutdown has joined every thread: tapir may be
/// configured again, and holds no scheduler.
pub(crate) fn thaw() {
    let old = {
        let mut state = STATE.lock();
        state.frozen = false;
        std::mem::replace(&mut state.config, Config::defaults())
    };
    drop(old);
}
