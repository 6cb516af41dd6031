//! Black-box tests of the C ABI, calling the exported `extern "C"` functions the way a
//! C caller would: raw handle pointers, out-parameters, callbacks with `user_data` and
//! `destroy`. Each test checks that `tapir_debug_live_objects(0)` returns to its start
//! value. The live count is process-global and cargo runs tests on parallel threads,
//! so every test holds `LOCK` for its whole run.

use std::ffi::c_void;
use std::mem::size_of;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, Once};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use tapir::ffi::cancel::*;
use tapir::ffi::debug::*;
use tapir::ffi::error::*;
use tapir::ffi::scheduler::*;
use tapir::ffi::source::*;
use tapir::ffi::task::*;
use tapir::ffi::{
    tapir_cancel_source, tapir_cancel_token, tapir_error, tapir_registration, tapir_scheduler,
    tapir_source, tapir_status as St, tapir_task, tapir_work,
};

// ---------------------------------------------------------------------------
// Harness: serialization, live-object accounting, small safe wrappers.

static LOCK: Mutex<()> = Mutex::new(());

/// One test case: holds `LOCK` and remembers the live count at the start.
struct Case {
    _guard: MutexGuard<'static, ()>,
    start: usize,
}

fn live() -> usize {
    tapir_debug_live_objects(0)
}

/// Starts a case: takes the lock, creates the permanent singletons once (so they are
/// never attributed to a case), and records the live count.
fn case() -> Case {
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static WARM: Once = Once::new();
    WARM.call_once(|| {
        let mut s = null();
        // SAFETY: `s` is a valid out-pointer.
        ok(unsafe { tapir_scheduler_default(&mut s) });
        ok(tapir_scheduler_release(s));
        // SAFETY: as above.
        ok(unsafe { tapir_scheduler_inline(&mut s) });
        ok(tapir_scheduler_release(s));
        let mut t = null();
        // SAFETY: `t` is a valid out-pointer.
        ok(unsafe { tapir_task_completed(&mut t) });
        ok(tapir_task_release(t));
        let mut tok = null();
        // SAFETY: `tok` is a valid out-pointer.
        ok(unsafe { tapir_cancel_token_none(&mut tok) });
        ok(tapir_cancel_token_release(tok));
    });
    Case {
        _guard: guard,
        start: live(),
    }
}

impl Case {
    /// Ends a case: the live count must come back to its start value within 2 s (pool
    /// threads drop their references slightly after the waiters wake).
    fn end(self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let now = live();
            if now == self.start {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "leak: {} live objects at the start, {} at the end (by kind: {:?})",
                self.start,
                now,
                (1..=6)
                    .map(|k| tapir_debug_live_objects(k))
                    .collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }
}

#[track_caller]
fn ok(s: St) {
    assert_eq!(s, St::Ok);
}

/// Polls `cond` for up to 5 s.
#[track_caller]
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn new_source(flags: u32, state: usize) -> *const tapir_source {
    let mut s = null();
    // SAFETY: `s` is a valid out-pointer.
    ok(unsafe { tapir_source_new(flags, state as *mut c_void, &mut s) });
    assert!(!s.is_null());
    s
}

fn task_of(s: *const tapir_source) -> *const tapir_task {
    let mut t = null();
    // SAFETY: `t` is a valid out-pointer.
    ok(unsafe { tapir_source_task(s, &mut t) });
    assert!(!t.is_null());
    t
}

/// A pending source and its task (two references to release).
fn pending() -> (*const tapir_source, *const tapir_task) {
    let s = new_source(0, 0);
    (s, task_of(s))
}

fn release(t: *const tapir_task) {
    ok(tapir_task_release(t));
}

fn release_source(s: *const tapir_source) {
    ok(tapir_source_release(s));
}

fn status(t: *const tapir_task) -> tapir_task_status {
    tapir_task_get_status(t)
}

fn result(t: *const tapir_task) -> Result<usize, St> {
    let mut v = null_mut();
    // SAFETY: `v` is a valid out-pointer.
    match unsafe { tapir_task_result(t, &mut v) } {
        St::Ok => Ok(v as usize),
        s => Err(s),
    }
}

fn new_error(code: i32, message: &str) -> *const tapir_error {
    let mut e = null();
    // SAFETY: `message` is readable for its length; `e` is a valid out-pointer.
    ok(unsafe {
        tapir_error_new(
            code,
            message.as_ptr(),
            message.len(),
            null_mut(),
            None,
            &mut e,
        )
    });
    e
}

fn error_message(e: *const tapir_error) -> String {
    let mut len = 0usize;
    // SAFETY: `len` is a valid out-pointer.
    let p = unsafe { tapir_error_message(e, &mut len) };
    assert!(!p.is_null());
    // SAFETY: tapir returns `len` readable bytes, valid while we hold `e`.
    let bytes = unsafe { std::slice::from_raw_parts(p, len) };
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn from_result(v: usize, destroy: tapir::ffi::tapir_destroy_fn) -> *const tapir_task {
    let mut t = null();
    // SAFETY: `t` is a valid out-pointer.
    ok(unsafe { tapir_task_from_result(v as *mut c_void, destroy, &mut t) });
    t
}

fn from_error(e: *const tapir_error) -> *const tapir_task {
    let mut t = null();
    // SAFETY: `t` is a valid out-pointer.
    ok(unsafe { tapir_task_from_error(e, &mut t) });
    t
}

fn canceled_task() -> *const tapir_task {
    let mut t = null();
    // SAFETY: `t` is a valid out-pointer.
    ok(unsafe { tapir_task_from_canceled(null(), &mut t) });
    t
}

/// A faulted task with a fresh error of `code` (the caller's error reference is released).
fn faulted_task(code: i32) -> *const tapir_task {
    let e = new_error(code, "boom");
    let t = from_error(e);
    ok(tapir_error_release(e));
    t
}

fn error_at(t: *const tapir_task, i: usize) -> Result<*const tapir_error, St> {
    let mut e = null();
    // SAFETY: `e` is a valid out-pointer.
    match unsafe { tapir_task_error_at(t, i, &mut e) } {
        St::Ok => Ok(e),
        s => Err(s),
    }
}

/// The code of a faulted task's first error (observes it).
fn first_error_code(t: *const tapir_task) -> i32 {
    let e = error_at(t, 0).expect("a faulted task has an error");
    let code = tapir_error_code(e);
    ok(tapir_error_release(e));
    code
}

fn opts(flags: u32) -> tapir_continuation_options {
    opts_on(flags, null())
}

fn opts_on(flags: u32, scheduler: *const tapir_scheduler) -> tapir_continuation_options {
    tapir_continuation_options {
        struct_size: size_of::<tapir_continuation_options>() as u32,
        flags,
        scheduler,
        token: null(),
    }
}

fn opt_ptr(o: Option<&tapir_continuation_options>) -> *const tapir_continuation_options {
    o.map_or(null(), |o| o as *const _)
}

/// `tapir_task_on_complete` with a registration out-pointer when `want_reg`.
fn on_complete(
    t: *const tapir_task,
    probe: &Arc<Probe>,
    o: Option<&tapir_continuation_options>,
    want_reg: bool,
) -> (St, *const tapir_registration) {
    let mut reg = null();
    let out = if want_reg {
        &mut reg as *mut _
    } else {
        null_mut()
    };
    let ud = probe.user_data();
    // SAFETY: options are NULL or a live struct of its declared size; `out` is NULL or
    // a valid out-pointer.
    let s = unsafe {
        tapir_task_on_complete(t, Some(notify), ud, Some(probe_destroy), opt_ptr(o), out)
    };
    if s != St::Ok {
        Probe::reclaim(ud);
    }
    (s, reg)
}

/// `tapir_task_continue_with` running `cont` with the probe.
fn continue_with(
    t: *const tapir_task,
    probe: &Arc<Probe>,
    o: Option<&tapir_continuation_options>,
) -> (St, *const tapir_task) {
    let mut next = null();
    let ud = probe.user_data();
    // SAFETY: options are NULL or a live struct; `next` is a valid out-pointer.
    let s = unsafe {
        tapir_task_continue_with(
            t,
            Some(cont),
            ud,
            Some(probe_destroy),
            opt_ptr(o),
            &mut next,
        )
    };
    if s != St::Ok {
        Probe::reclaim(ud);
    }
    (s, next)
}

fn unwrap_task(outer: *const tapir_task) -> *const tapir_task {
    let mut t = null();
    // SAFETY: `t` is a valid out-pointer.
    ok(unsafe { tapir_task_unwrap(outer, &mut t) });
    t
}

/// Handle pointers cross threads as integers (they are plain values to a C caller).
fn addr<T>(p: *const T) -> usize {
    p as usize
}

fn ptr<T>(a: usize) -> *const T {
    a as *const T
}

// ---------------------------------------------------------------------------
// Probes: user data that records how a callback ran.

/// What a continuation callback does with `next`.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Completes `next` with this value.
    Result(usize),
    /// Leaves `next` pending and unretained (broken promise).
    Leave,
    /// Retains `next` and completes it with this value 50 ms later from another thread.
    Later(usize),
    /// Completes `next` from this task (address), as set_from_task.
    FromTask(usize),
}

struct Probe {
    id: u32,
    mode: Mode,
    runs: AtomicUsize,
    destroys: AtomicUsize,
    thread: Mutex<Option<ThreadId>>,
    antecedent: AtomicI32,
    log: Arc<Mutex<Vec<u32>>>,
    /// When set, the callback waits (up to 5 s) for `gate` and records whether it opened.
    gated: bool,
    gate: AtomicBool,
    saw_gate: AtomicBool,
    /// The scheduler pointer tapir_scheduler_current reported inside the callback.
    current: AtomicUsize,
}

impl Probe {
    fn new() -> Arc<Probe> {
        Probe::with(0, Mode::Result(0), Arc::default(), false)
    }

    fn with(id: u32, mode: Mode, log: Arc<Mutex<Vec<u32>>>, gated: bool) -> Arc<Probe> {
        Arc::new(Probe {
            id,
            mode,
            runs: AtomicUsize::new(0),
            destroys: AtomicUsize::new(0),
            thread: Mutex::new(None),
            antecedent: AtomicI32::new(-100),
            log,
            gated,
            gate: AtomicBool::new(false),
            saw_gate: AtomicBool::new(false),
            current: AtomicUsize::new(0),
        })
    }

    fn mode(mode: Mode) -> Arc<Probe> {
        Probe::with(0, mode, Arc::default(), false)
    }

    fn gated() -> Arc<Probe> {
        Probe::with(0, Mode::Result(1), Arc::default(), true)
    }

    /// A +1 reference for tapir to own; `probe_destroy` gives it back.
    fn user_data(self: &Arc<Probe>) -> *mut c_void {
        Arc::into_raw(self.clone()) as *mut c_void
    }

    /// Takes back user data tapir refused (a failed registration calls no destroy).
    fn reclaim(ud: *mut c_void) {
        // SAFETY: `ud` came from `user_data` and tapir did not take it.
        drop(unsafe { Arc::from_raw(ud as *const Probe) });
    }

    fn runs(&self) -> usize {
        self.runs.load(SeqCst)
    }

    fn destroys(&self) -> usize {
        self.destroys.load(SeqCst)
    }

    fn thread(&self) -> Option<ThreadId> {
        *self.thread.lock().unwrap()
    }

    fn open(&self) {
        self.gate.store(true, SeqCst);
    }

    fn record(&self, antecedent: *const tapir_task) {
        *self.thread.lock().unwrap() = Some(thread::current().id());
        self.antecedent.store(status(antecedent) as i32, SeqCst);
        let cur = tapir_scheduler_current();
        self.current.store(addr(cur), SeqCst);
        if !cur.is_null() {
            ok(tapir_scheduler_release(cur));
        }
        if self.gated {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.gate.load(SeqCst) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            self.saw_gate.store(self.gate.load(SeqCst), SeqCst);
        }
        self.log.lock().unwrap().push(self.id);
        self.runs.fetch_add(1, SeqCst);
    }
}

/// `tapir_callback_fn` recording into the probe.
unsafe extern "C" fn notify(ud: *mut c_void, t: *const tapir_task) {
    // SAFETY: `ud` is a Probe reference owned by tapir until `probe_destroy`.
    let p = unsafe { &*(ud as *const Probe) };
    p.record(t);
}

/// `tapir_continuation_fn` recording into the probe, then completing `next` per its mode.
unsafe extern "C" fn cont(ud: *mut c_void, t: *const tapir_task, next: *const tapir_source) {
    // SAFETY: as in `notify`.
    let p = unsafe { &*(ud as *const Probe) };
    match p.mode {
        Mode::Result(v) => {
            p.record(t);
            ok(tapir_source_set_result(next, v as *mut c_void, None));
        }
        Mode::Leave => p.record(t),
        Mode::Later(v) => {
            assert_eq!(tapir_source_retain(next), next);
            let n = addr(next);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                ok(tapir_source_set_result(ptr(n), v as *mut c_void, None));
                ok(tapir_source_release(ptr(n)));
            });
            p.record(t);
        }
        Mode::FromTask(inner) => {
            p.record(t);
            ok(tapir_source_set_from_task(next, ptr(inner)));
        }
    }
}

/// `tapir_destroy_fn` for probes: counts and drops tapir's reference.
unsafe extern "C" fn probe_destroy(ud: *mut c_void) {
    // SAFETY: `ud` came from `Probe::user_data`; tapir calls destroy exactly once.
    let p = unsafe { Arc::from_raw(ud as *const Probe) };
    p.destroys.fetch_add(1, SeqCst);
}

/// Counts destroys of values and payloads (the value is a `&'static AtomicUsize`).
unsafe extern "C" fn count_destroy(v: *mut c_void) {
    // SAFETY: every value given with this destroy is a `&'static AtomicUsize`.
    let c = unsafe { &*(v as *const AtomicUsize) };
    c.fetch_add(1, SeqCst);
}

/// A value destroy that releases a task handle (an outer task owning its inner task).
unsafe extern "C" fn release_task_value(v: *mut c_void) {
    ok(tapir_task_release(v as *const tapir_task));
}

fn counter() -> &'static AtomicUsize {
    Box::leak(Box::new(AtomicUsize::new(0)))
}

// ---------------------------------------------------------------------------
// Completion sources.

#[test]
fn source_new_flags_state_and_same_task() {
    let c = case();
    let s = new_source(0, 0x5151);
    let t1 = task_of(s);
    let t2 = task_of(s);
    assert_eq!(t1, t2, "the same task every time");
    assert_eq!(tapir_task_id(t1), tapir_task_id(t2));
    assert_ne!(tapir_task_id(t1), 0);
    assert_eq!(status(t1), tapir_task_status::Pending);
    assert!(!tapir_task_is_completed(t1));
    assert_eq!(result(t1), Err(St::NotCompleted));
    assert_eq!(tapir_task_error_count(t1), 0);
    assert_eq!(error_at(t1, 0), Err(St::NotCompleted));
    assert_eq!(tapir_task_state(t1) as usize, 0x5151);
    assert_eq!(tapir_task_options(t1), 0);
    release(t1);
    release(t2);
    release_source(s);

    let s = new_source(TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, 0);
    let t = task_of(s);
    assert_eq!(
        tapir_task_options(t),
        TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY
    );
    assert!(tapir_task_state(t).is_null());
    ok(tapir_source_set_result(s, null_mut(), None));
    release(t);
    release_source(s);

    for bad in [2u32, 1 << 31, 0xFFFF_FFFF] {
        let mut out = null();
        // SAFETY: `out` is a valid out-pointer.
        let st = unsafe { tapir_source_new(bad, null_mut(), &mut out) };
        assert_eq!(st, St::InvalidArgument);
        assert!(out.is_null(), "no handle on failure");
    }
    // SAFETY: a NULL out-pointer is what is being tested.
    let st = unsafe { tapir_source_new(0, null_mut(), null_mut()) };
    assert_eq!(st, St::NullArgument);
    c.end();
}

#[test]
fn source_set_result_once_and_value_destroyed_once() {
    let c = case();
    let destroyed = counter();
    let refused = counter();
    let (s, t) = pending();
    let v = destroyed as *const AtomicUsize as *mut c_void;
    ok(tapir_source_set_result(s, v, Some(count_destroy)));
    assert_eq!(status(t), tapir_task_status::Succeeded);
    assert!(tapir_task_is_completed(t));
    assert_eq!(result(t), Ok(v as usize));
    assert_eq!(tapir_task_error_count(t), 0);
    assert_eq!(error_at(t, 0), Err(St::InvalidState));

    // Every later attempt is refused and changes nothing; a refused value is not destroyed.
    let r = refused as *const AtomicUsize as *mut c_void;
    assert_eq!(
        tapir_source_set_result(s, r, Some(count_destroy)),
        St::AlreadyCompleted
    );
    assert!(!tapir_source_try_set_result(s, r, Some(count_destroy)));
    let e = new_error(1, "late");
    assert_eq!(tapir_source_set_error(s, e), St::AlreadyCompleted);
    assert!(!tapir_source_try_set_error(s, e));
    let list = [e];
    // SAFETY: `list` holds one readable pointer.
    let st = unsafe { tapir_source_set_error_list(s, list.as_ptr(), 1) };
    assert_eq!(st, St::AlreadyCompleted);
    // SAFETY: as above.
    assert!(!unsafe { tapir_source_try_set_error_list(s, list.as_ptr(), 1) });
    assert_eq!(tapir_source_set_canceled(s, null()), St::AlreadyCompleted);
    assert!(!tapir_source_try_set_canceled(s, null()));
    ok(tapir_error_release(e));
    assert_eq!(result(t), Ok(v as usize));
    assert_eq!(
        refused.load(SeqCst),
        0,
        "a refused value stays with the caller"
    );

    // The value dies with the last reference (task and source), exactly once.
    release(t);
    assert_eq!(destroyed.load(SeqCst), 0);
    release_source(s);
    assert_eq!(destroyed.load(SeqCst), 1);

    // try_set on a fresh source; a NULL value is a valid result.
    let (s, t) = pending();
    assert!(tapir_source_try_set_result(s, null_mut(), None));
    assert_eq!(result(t), Ok(0));
    release(t);
    release_source(s);
    c.end();
}

#[test]
fn source_set_error_and_error_list_keep_identity_and_order() {
    let c = case();
    let e = new_error(42, "single");
    let (s, t) = pending();
    ok(tapir_source_set_error(s, e));
    assert_eq!(status(t), tapir_task_status::Faulted);
    assert_eq!(result(t), Err(St::Faulted));
    assert_eq!(tapir_task_error_count(t), 1);
    let got = error_at(t, 0).unwrap();
    assert_eq!(got, e, "errors come back by identity");
    assert_eq!(tapir_error_code(got), 42);
    assert_eq!(error_message(got), "single");
    ok(tapir_error_release(got));
    let mut first = null();
    // SAFETY: `first` is a valid out-pointer.
    ok(unsafe { tapir_task_error(t, &mut first) });
    assert_eq!(first, e);
    ok(tapir_error_release(first));
    assert_eq!(error_at(t, 1), Err(St::InvalidArgument));
    let mut tok = null();
    // SAFETY: `tok` is a valid out-pointer.
    let st = unsafe { tapir_task_cancel_token(t, &mut tok) };
    assert_eq!(st, St::InvalidState);
    release(t);
    release_source(s);

    let es = [new_error(1, "a"), new_error(2, "b"), new_error(3, "c")];
    let (s, t) = pending();
    // SAFETY: `es` holds three readable pointers.
    ok(unsafe { tapir_source_set_error_list(s, es.as_ptr(), es.len()) });
    assert_eq!(tapir_task_error_count(t), 3);
    for (i, &expected) in es.iter().enumerate() {
        let got = error_at(t, i).unwrap();
        assert_eq!(got, expected, "error {i} in list order");
        ok(tapir_error_release(got));
    }
    release(t);
    release_source(s);

    // try variant.
    let (s, t) = pending();
    // SAFETY: as above.
    assert!(unsafe { tapir_source_try_set_error_list(s, es.as_ptr(), es.len()) });
    assert_eq!(tapir_task_error_count(t), 3);
    release(t);
    release_source(s);
    let (s, t) = pending();
    assert!(tapir_source_try_set_error(s, e));
    assert_eq!(tapir_task_error_count(t), 1);
    release(t);
    release_source(s);

    // Invalid error arguments never complete the source.
    let (s, t) = pending();
    assert_eq!(tapir_source_set_error(s, null()), St::NullArgument);
    assert!(!tapir_source_try_set_error(s, null()));
    assert_eq!(tapir_last_status(), St::NullArgument);
    // SAFETY: NULL / empty / partly NULL lists are what is being tested.
    unsafe {
        assert_eq!(tapir_source_set_error_list(s, null(), 2), St::NullArgument);
        assert_eq!(
            tapir_source_set_error_list(s, es.as_ptr(), 0),
            St::InvalidArgument
        );
        let with_null = [e, null()];
        assert_eq!(
            tapir_source_set_error_list(s, with_null.as_ptr(), 2),
            St::InvalidArgument
        );
        assert!(!tapir_source_try_set_error_list(s, with_null.as_ptr(), 2));
        assert_eq!(tapir_last_status(), St::InvalidArgument);
    }
    assert_eq!(status(t), tapir_task_status::Pending);
    assert!(tapir_source_try_set_result(s, null_mut(), None));
    release(t);
    release_source(s);

    for x in es {
        ok(tapir_error_release(x));
    }
    ok(tapir_error_release(e));
    c.end();
}

#[test]
fn source_set_canceled_without_token() {
    let c = case();
    let (s, t) = pending();
    ok(tapir_source_set_canceled(s, null()));
    assert_eq!(status(t), tapir_task_status::Canceled);
    assert_eq!(result(t), Err(St::Canceled));
    assert_eq!(tapir_task_error_count(t), 0);
    assert_eq!(error_at(t, 0), Err(St::InvalidState));
    let mut tok = std::ptr::dangling::<tapir_cancel_token>();
    // SAFETY: `tok` is a valid out-pointer.
    ok(unsafe { tapir_task_cancel_token(t, &mut tok) });
    assert!(tok.is_null(), "canceled without a token");
    assert_eq!(tapir_task_wait(t, 0), St::Canceled);
    release(t);
    release_source(s);

    let (s, t) = pending();
    assert!(tapir_source_try_set_canceled(s, null()));
    assert!(!tapir_source_try_set_canceled(s, null()));
    assert_eq!(status(t), tapir_task_status::Canceled);
    release(t);
    release_source(s);
    c.end();
}

/// 16 threads race one kind of try_set on one source, 20 rounds per kind: exactly one
/// wins, and every thread sees the terminal state as soon as its own call returns.
#[test]
fn racing_try_set_from_16_threads_exactly_one_wins() {
    let c = case();
    const THREADS: usize = 16;
    for kind in 0..3 {
        for _round in 0..20 {
            let (s, t) = pending();
            let barrier = Arc::new(Barrier::new(THREADS));
            let (sa, ta) = (addr(s), addr(t));
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        let s: *const tapir_source = ptr(sa);
                        let t: *const tapir_task = ptr(ta);
                        barrier.wait();
                        let won = match kind {
                            0 => tapir_source_try_set_result(s, 10 as *mut c_void, None),
                            1 => tapir_source_try_set_canceled(s, null()),
                            _ => {
                                let e = new_error(5, "race");
                                let won = tapir_source_try_set_error(s, e);
                                ok(tapir_error_release(e));
                                won
                            }
                        };
                        let st = status(t);
                        assert_ne!(st, tapir_task_status::Pending, "terminal after the call");
                        won
                    })
                })
                .collect();
            let wins = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&w| w)
                .count();
            assert_eq!(wins, 1, "exactly one try_set wins (kind {kind})");
            match kind {
                0 => assert_eq!(result(t), Ok(10)),
                1 => assert_eq!(status(t), tapir_task_status::Canceled),
                _ => assert_eq!(first_error_code(t), 5),
            }
            release(t);
            release_source(s);
        }
    }
    c.end();
}

/// Releasing the last source reference of a pending task fails it with BROKEN_PROMISE
/// (and its continuations run); releasing a completed source changes nothing.
#[test]
fn broken_promise_when_the_last_source_reference_goes() {
    let c = case();
    let (s, t) = pending();
    let p = Probe::new();
    let o = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    ok(on_complete(t, &p, Some(&o), false).0);
    assert_eq!(tapir_source_retain(s), s);
    release_source(s);
    assert_eq!(
        status(t),
        tapir_task_status::Pending,
        "one source reference remains"
    );
    release_source(s);
    assert_eq!(status(t), tapir_task_status::Faulted);
    assert_eq!(p.runs(), 1);
    assert_eq!(p.antecedent.load(SeqCst), tapir_task_status::Faulted as i32);
    assert_eq!(first_error_code(t), St::BrokenPromise as i32);
    assert_eq!(tapir_task_wait(t, 0), St::Faulted);
    release(t);
    assert_eq!(p.destroys(), 1);

    let (s, t) = pending();
    ok(tapir_source_set_result(s, 3 as *mut c_void, None));
    release_source(s);
    assert_eq!(result(t), Ok(3));
    release(t);
    c.end();
}

// ---------------------------------------------------------------------------
// Tasks: pre-completed, queries, waits.

#[test]
fn pre_completed_tasks() {
    let c = case();
    let destroyed = counter();
    let v = destroyed as *const AtomicUsize as usize;
    let t = from_result(v, Some(count_destroy));
    assert_eq!(status(t), tapir_task_status::Succeeded);
    assert_eq!(result(t), Ok(v));
    assert_eq!(tapir_task_wait(t, 0), St::Ok);
    assert!(tapir_task_state(t).is_null());
    assert_eq!(tapir_task_options(t), 0);
    assert_ne!(tapir_task_id(t), 0);
    assert_eq!(tapir_task_retain(t), t);
    release(t);
    assert_eq!(destroyed.load(SeqCst), 0);
    release(t);
    assert_eq!(
        destroyed.load(SeqCst),
        1,
        "value destroyed once, at the last release"
    );

    let e = new_error(9, "from_error");
    let t = from_error(e);
    assert_eq!(status(t), tapir_task_status::Faulted);
    assert_eq!(tapir_task_error_count(t), 1);
    let got = error_at(t, 0).unwrap();
    assert_eq!(got, e);
    ok(tapir_error_release(got));
    assert_eq!(result(t), Err(St::Faulted));
    assert_eq!(tapir_task_wait(t, 0), St::Faulted);
    release(t);
    ok(tapir_error_release(e));

    let mut out = null();
    // SAFETY: NULL error with a valid out-pointer.
    let st = unsafe { tapir_task_from_error(null(), &mut out) };
    assert_eq!(st, St::NullArgument);
    assert!(out.is_null());
    // SAFETY: NULL out-pointers.
    unsafe {
        assert_eq!(
            tapir_task_from_result(null_mut(), None, null_mut()),
            St::NullArgument
        );
        assert_eq!(
            tapir_task_from_canceled(null(), null_mut()),
            St::NullArgument
        );
        assert_eq!(tapir_task_completed(null_mut()), St::NullArgument);
    }

    let t = canceled_task();
    assert_eq!(status(t), tapir_task_status::Canceled);
    assert_eq!(result(t), Err(St::Canceled));
    assert_eq!(tapir_task_error_count(t), 0);
    let mut tok = std::ptr::dangling::<tapir_cancel_token>();
    // SAFETY: `tok` is a valid out-pointer.
    ok(unsafe { tapir_task_cancel_token(t, &mut tok) });
    assert!(tok.is_null());
    release(t);

    // With a token: it must already be canceled, and it is recorded.
    let mut cs: *const tapir_cancel_source = null();
    let mut token = null();
    // SAFETY: valid out-pointers.
    unsafe {
        ok(tapir_cancel_source_new(&mut cs));
        ok(tapir_cancel_source_token(cs, &mut token));
        let mut out = null();
        assert_eq!(
            tapir_task_from_canceled(token, &mut out),
            St::InvalidArgument
        );
        assert!(out.is_null());
        ok(tapir_cancel_source_cancel(cs, 0, null_mut()));
        ok(tapir_task_from_canceled(token, &mut out));
        assert_eq!(status(out), tapir_task_status::Canceled);
        let mut recorded = null();
        ok(tapir_task_cancel_token(out, &mut recorded));
        assert_eq!(recorded, token);
        ok(tapir_cancel_token_release(recorded));
        release(out);
    }
    ok(tapir_cancel_token_release(token));
    ok(tapir_cancel_source_release(cs));
    c.end();
}

#[test]
fn shared_completed_task() {
    let c = case();
    let mut a = null();
    let mut b = null();
    // SAFETY: valid out-pointers.
    unsafe {
        ok(tapir_task_completed(&mut a));
        ok(tapir_task_completed(&mut b));
    }
    assert_eq!(a, b, "one shared object");
    assert_eq!(live(), c.start, "getting it creates no object");
    assert_eq!(status(a), tapir_task_status::Succeeded);
    assert_eq!(result(a), Ok(0));
    assert_eq!(tapir_task_wait(a, 0), St::Ok);
    let p = Probe::new();
    let o = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let (s, reg) = on_complete(a, &p, Some(&o), true);
    ok(s);
    assert!(reg.is_null(), "no registration for a completed task");
    assert_eq!(p.runs(), 1);
    assert_eq!(p.destroys(), 1);
    release(a);
    release(b);
    assert_eq!(status(a), tapir_task_status::Succeeded, "immortal");
    c.end();
}

#[test]
fn wait_with_timeouts() {
    let c = case();
    let (s, t) = pending();
    let start = Instant::now();
    assert_eq!(tapir_task_wait(t, 100), St::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(100), "not early");
    assert_eq!(status(t), tapir_task_status::Pending);
    assert_eq!(tapir_task_wait(t, 0), St::Timeout);
    for bad in [-2i64, -100, 4_294_967_295, i64::MAX, i64::MIN] {
        let start = Instant::now();
        assert_eq!(
            tapir_task_wait(t, bad),
            St::InvalidArgument,
            "timeout {bad}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "refused at once"
        );
    }
    assert_eq!(tapir_task_wait(null(), 0), St::NullArgument);

    // Completed from another thread while blocked forever.
    let sa = addr(s);
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        ok(tapir_source_set_result(ptr(sa), 5 as *mut c_void, None));
    });
    assert_eq!(tapir_task_wait(t, -1), St::Ok);
    setter.join().unwrap();
    assert_eq!(
        tapir_task_wait(t, 4_294_967_294),
        St::Ok,
        "largest finite timeout"
    );
    release(t);
    release_source(s);

    let f = faulted_task(3);
    assert_eq!(tapir_task_wait(f, 10), St::Faulted);
    release(f);
    let k = canceled_task();
    assert_eq!(tapir_task_wait(k, -1), St::Canceled);
    release(k);
    c.end();
}

#[test]
fn wait_all() {
    let c = case();
    let a = from_result(1, None);
    let b = from_result(2, None);
    let f = faulted_task(4);
    let k = canceled_task();
    let (s, p) = pending();
    // SAFETY: every array is readable for the count passed.
    unsafe {
        ok(tapir_task_wait_all([a, b].as_ptr(), 2, -1, null()));
        assert_eq!(
            tapir_task_wait_all([a, f, k].as_ptr(), 3, -1, null()),
            St::Faulted
        );
        assert_eq!(
            tapir_task_wait_all([a, k].as_ptr(), 2, -1, null()),
            St::Canceled
        );
        ok(tapir_task_wait_all(null(), 0, -1, null()));
        assert_eq!(tapir_task_wait_all(null(), 2, -1, null()), St::NullArgument);
        assert_eq!(
            tapir_task_wait_all([a, null()].as_ptr(), 2, -1, null()),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_task_wait_all([a, b].as_ptr(), 2, -2, null()),
            St::InvalidArgument
        );
        let start = Instant::now();
        assert_eq!(
            tapir_task_wait_all([a, p].as_ptr(), 2, 50, null()),
            St::Timeout
        );
        assert!(start.elapsed() >= Duration::from_millis(50));

        let sa = addr(s);
        let setter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            ok(tapir_source_set_result(ptr(sa), null_mut(), None));
        });
        ok(tapir_task_wait_all([a, p, b].as_ptr(), 3, 5000, null()));
        setter.join().unwrap();
    }
    for t in [a, b, f, k, p] {
        release(t);
    }
    release_source(s);
    c.end();
}

#[test]
fn wait_any() {
    let c = case();
    let (s1, p1) = pending();
    let (s2, p2) = pending();
    let (s3, p3) = pending();
    let done = from_result(7, None);
    let mut index = usize::MAX;
    // SAFETY: every array is readable for the count passed; `index` is a
    // valid out-pointer.
    unsafe {
        ok(tapir_task_wait_any(
            [p1, done, p2, p3].as_ptr(),
            4,
            -1,
            null(),
            &mut index,
        ));
        assert_eq!(index, 1, "the completed one, at once");

        index = usize::MAX;
        let start = Instant::now();
        assert_eq!(
            tapir_task_wait_any([p1, p2].as_ptr(), 2, 50, null(), &mut index),
            St::Timeout
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(index, usize::MAX, "nothing written on timeout");
        assert_eq!(
            tapir_task_wait_any(null(), 0, -1, null(), &mut index),
            St::Timeout
        );
        assert_eq!(
            tapir_task_wait_any([p1].as_ptr(), 0, -1, null(), &mut index),
            St::Timeout
        );
        assert_eq!(index, usize::MAX);
        assert_eq!(
            tapir_task_wait_any([p1, null()].as_ptr(), 2, 0, null(), &mut index),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_task_wait_any([p1].as_ptr(), 1, -2, null(), &mut index),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_task_wait_any(null(), 1, 0, null(), &mut index),
            St::NullArgument
        );
        assert_eq!(
            tapir_task_wait_any([p1].as_ptr(), 1, 0, null(), null_mut()),
            St::NullArgument
        );

        // All pending; the third finishes first (from another thread).
        let sa = addr(s3);
        let setter = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            ok(tapir_source_set_canceled(ptr(sa), null()));
        });
        ok(tapir_task_wait_any(
            [p1, p2, p3].as_ptr(),
            3,
            5000,
            null(),
            &mut index,
        ));
        assert_eq!(index, 2);
        setter.join().unwrap();
    }
    for t in [p1, p2, p3, done] {
        release(t);
    }
    for s in [s1, s2, s3] {
        release_source(s);
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Continuations.

#[test]
fn on_complete_and_continue_with_run_exactly_once() {
    let c = case();
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    // Registered while pending, default and synchronous.
    let (s, t) = pending();
    let d = Probe::new();
    let y = Probe::new();
    let cd = Probe::mode(Mode::Result(11));
    let cy = Probe::mode(Mode::Result(12));
    ok(on_complete(t, &d, None, false).0);
    ok(on_complete(t, &y, Some(&sync), false).0);
    let (st, kd) = continue_with(t, &cd, None);
    ok(st);
    let (st, ky) = continue_with(t, &cy, Some(&sync));
    ok(st);
    assert_eq!(tapir_task_state(kd), cd.user_data_addr());
    assert_eq!(status(kd), tapir_task_status::Pending);
    ok(tapir_source_set_result(s, 99 as *mut c_void, None));
    assert_eq!(tapir_task_wait(kd, 5000), St::Ok);
    assert_eq!(result(kd), Ok(11));
    assert_eq!(result(ky), Ok(12));
    wait_until("the default notification", || {
        d.runs() == 1 && d.destroys() == 1
    });
    wait_until("every destroy", || {
        y.destroys() == 1 && cd.destroys() == 1 && cy.destroys() == 1
    });
    for p in [&d, &y, &cd, &cy] {
        assert_eq!(p.runs(), 1);
        assert_eq!(
            p.antecedent.load(SeqCst),
            tapir_task_status::Succeeded as i32
        );
    }
    release(kd);
    release(ky);

    // Registered on a completed task: the synchronous one runs here before the call
    // returns; the default one is dispatched.
    let y = Probe::new();
    let (st, reg) = on_complete(t, &y, Some(&sync), true);
    ok(st);
    assert!(reg.is_null());
    assert_eq!(y.runs(), 1, "ran before on_complete returned");
    assert_eq!(y.thread(), Some(thread::current().id()));
    let cy = Probe::mode(Mode::Result(13));
    let (st, ky) = continue_with(t, &cy, Some(&sync));
    ok(st);
    assert_eq!(
        result(ky),
        Ok(13),
        "completed before continue_with returned"
    );
    let d = Probe::gated();
    ok(on_complete(t, &d, None, false).0);
    d.open();
    wait_until("the dispatched notification", || d.runs() == 1);
    assert!(d.saw_gate.load(SeqCst), "not run inline inside on_complete");
    assert_ne!(d.thread(), Some(thread::current().id()));
    wait_until("destroys", || {
        y.destroys() == 1 && cy.destroys() == 1 && d.destroys() == 1
    });
    release(ky);
    release(t);
    release_source(s);

    // Faulted and canceled antecedents reach the callback too.
    for (t, expected) in [
        (faulted_task(1), tapir_task_status::Faulted),
        (canceled_task(), tapir_task_status::Canceled),
    ] {
        let p = Probe::new();
        ok(on_complete(t, &p, Some(&sync), false).0);
        assert_eq!(p.antecedent.load(SeqCst), expected as i32);
        assert_eq!((p.runs(), p.destroys()), (1, 1));
        release(t);
    }
    c.end();
}

impl Probe {
    fn user_data_addr(self: &Arc<Probe>) -> *mut c_void {
        Arc::as_ptr(self) as *mut c_void
    }
}

/// A synchronous continuation runs on the completing thread and has finished before
/// `set_result` returns.
#[test]
fn sync_continuations_run_on_the_completing_thread() {
    let c = case();
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let (s, t) = pending();
    let n = Probe::new();
    let k = Probe::mode(Mode::Result(1));
    ok(on_complete(t, &n, Some(&sync), false).0);
    let (st, kt) = continue_with(t, &k, Some(&sync));
    ok(st);
    let (sa, ka, na) = (addr(s), addr(kt), Arc::clone(&n));
    let x = thread::spawn(move || {
        ok(tapir_source_set_result(ptr(sa), null_mut(), None));
        let done = na.runs() == 1 && status(ptr(ka)) == tapir_task_status::Succeeded;
        (thread::current().id(), done)
    });
    let (xid, done) = x.join().unwrap();
    assert!(done, "ran before set_result returned");
    assert_eq!(n.thread(), Some(xid));
    assert_eq!(k.thread(), Some(xid));
    assert_eq!((n.destroys(), k.destroys()), (1, 1));
    release(kt);
    release(t);
    release_source(s);
    c.end();
}

/// Default continuations are dispatched: they never run on the completing thread before
/// `set_result` returns, even when that thread would then block them (no deadlock). The
/// same holds for synchronous ones of a RUN_CONTINUATIONS_ASYNCHRONOUSLY source.
#[test]
fn default_continuations_are_never_inlined() {
    let c = case();
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    for (flags, o) in [
        (0, None),
        (TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY, Some(&sync)),
    ] {
        let s = new_source(flags, 0);
        let t = task_of(s);
        let n = Probe::gated();
        let k = Probe::with(0, Mode::Result(2), Arc::default(), true);
        ok(on_complete(t, &n, o, false).0);
        let (st, kt) = continue_with(t, &k, o);
        ok(st);
        let (sa, n2, k2) = (addr(s), n.clone(), k.clone());
        let x = thread::spawn(move || {
            ok(tapir_source_set_result(ptr(sa), null_mut(), None));
            n2.open();
            k2.open();
            thread::current().id()
        });
        let xid = x.join().unwrap();
        assert_eq!(tapir_task_wait(kt, 6000), St::Ok);
        wait_until("the notification", || n.runs() == 1);
        for p in [&n, &k] {
            assert!(
                p.saw_gate.load(SeqCst),
                "ran inside set_result (flags {flags})"
            );
            assert_ne!(p.thread(), Some(xid), "ran on the completing thread");
        }
        wait_until("destroys", || n.destroys() == 1 && k.destroys() == 1);
        release(kt);
        release(t);
        release_source(s);
    }
    c.end();
}

/// Synchronous continuations run in registration order, after the dispatched ones were
/// handed to their scheduler (a foreign scheduler records the posts).
#[test]
fn sync_continuations_run_in_registration_order() {
    let c = case();
    let log: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (sched, fctx) = foreign_scheduler(log.clone());
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let on_r = opts_on(0, sched);
    let (s, t) = pending();
    // S1 D1 S2 D2 S3 S4 S5
    let plan: [(u32, bool); 7] = [
        (1, true),
        (101, false),
        (2, true),
        (102, false),
        (3, true),
        (4, true),
        (5, true),
    ];
    let probes: Vec<_> = plan
        .iter()
        .map(|&(id, is_sync)| {
            let p = Probe::with(id, Mode::Result(0), log.clone(), false);
            ok(on_complete(t, &p, Some(if is_sync { &sync } else { &on_r }), false).0);
            p
        })
        .collect();
    ok(tapir_source_set_result(s, null_mut(), None));
    // Posts are logged as 1000 + k.
    assert_eq!(*log.lock().unwrap(), vec![1000, 1001, 1, 2, 3, 4, 5]);
    for w in fctx.take() {
        // SAFETY: each work item came from `post` and is run once.
        ok(unsafe { tapir_work_run(w as *mut tapir_work) });
    }
    assert_eq!(
        *log.lock().unwrap(),
        vec![1000, 1001, 1, 2, 3, 4, 5, 101, 102]
    );
    for p in &probes {
        assert_eq!((p.runs(), p.destroys()), (1, 1));
    }
    release(t);
    release_source(s);
    ok(tapir_scheduler_release(sched));
    assert_eq!(fctx.destroyed.load(SeqCst), 1);
    c.end();
}

const FILTERS: [u32; 6] = [
    TAPIR_CONTINUATION_ONLY_ON_SUCCESS,
    TAPIR_CONTINUATION_ONLY_ON_FAULTED,
    TAPIR_CONTINUATION_ONLY_ON_CANCELED,
    TAPIR_CONTINUATION_NOT_ON_SUCCESS,
    TAPIR_CONTINUATION_NOT_ON_FAULTED,
    TAPIR_CONTINUATION_NOT_ON_CANCELED,
];

fn admits(filter: u32, outcome: usize) -> bool {
    let bit = 1u32 << outcome; // 0 succeeded, 1 faulted, 2 canceled
    let only = (filter >> 1) & 0b111;
    let not = (filter >> 4) & 0b111;
    (only == 0 || only & bit != 0) && not & bit == 0
}

/// Every outcome × filter × {default, synchronous} × {registered before, after}: the
/// callback runs iff the filter admits the outcome, otherwise the continuation task
/// ends canceled; destroy runs once either way; a continuation chained on a refused
/// (canceled) continuation still runs.
#[test]
fn filtered_continuations() {
    let c = case();
    for outcome in 0..3 {
        for &filter in &FILTERS {
            for sync in [false, true] {
                for before in [true, false] {
                    let flags = filter
                        | if sync {
                            TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY
                        } else {
                            0
                        };
                    let o = opts(flags);
                    let (s, t) = pending();
                    let complete = || match outcome {
                        0 => ok(tapir_source_set_result(s, null_mut(), None)),
                        1 => {
                            let e = new_error(1, "f");
                            ok(tapir_source_set_error(s, e));
                            ok(tapir_error_release(e));
                        }
                        _ => ok(tapir_source_set_canceled(s, null())),
                    };
                    if !before {
                        complete();
                    }
                    let k = Probe::mode(Mode::Result(77));
                    let n = Probe::new();
                    let (st, kt) = continue_with(t, &k, Some(&o));
                    ok(st);
                    ok(on_complete(t, &n, Some(&o), false).0);
                    // A default continuation on the continuation task always runs.
                    let after = Probe::mode(Mode::Result(1));
                    let (st, at) = continue_with(kt, &after, None);
                    ok(st);
                    if before {
                        complete();
                    }
                    let what =
                        format!("outcome {outcome} filter {filter:#x} sync {sync} before {before}");
                    assert_eq!(tapir_task_wait(at, 5000), St::Ok, "{what}");
                    if admits(filter, outcome) {
                        assert_eq!(result(kt), Ok(77), "{what}");
                        wait_until(&what, || n.runs() == 1);
                        assert_eq!(k.runs(), 1, "{what}");
                    } else {
                        assert_eq!(status(kt), tapir_task_status::Canceled, "{what}");
                        assert_eq!(k.runs(), 0, "{what}");
                    }
                    wait_until(&what, || {
                        k.destroys() == 1 && n.destroys() == 1 && after.destroys() == 1
                    });
                    assert!(n.runs() <= 1 && k.runs() <= 1);
                    if !admits(filter, outcome) {
                        assert_eq!(n.runs(), 0, "{what}");
                    }
                    release(at);
                    release(kt);
                    release(t);
                    release_source(s);
                }
            }
        }
    }
    c.end();
}

/// Contradictory or unknown flags, a too-small struct_size and NULL arguments are
/// refused: nothing registered, nothing called, nothing allocated.
#[test]
fn invalid_continuation_options_register_nothing() {
    let c = case();
    let (s, t) = pending();
    let before = live();
    let bad_flags = [
        TAPIR_CONTINUATION_NOT_ON_SUCCESS
            | TAPIR_CONTINUATION_NOT_ON_FAULTED
            | TAPIR_CONTINUATION_NOT_ON_CANCELED,
        TAPIR_CONTINUATION_ONLY_ON_SUCCESS | TAPIR_CONTINUATION_NOT_ON_SUCCESS,
        TAPIR_CONTINUATION_ONLY_ON_SUCCESS
            | TAPIR_CONTINUATION_ONLY_ON_FAULTED
            | TAPIR_CONTINUATION_NOT_ON_CANCELED,
        TAPIR_CONTINUATION_LONG_RUNNING | TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
        1 << 11,
        1 << 31,
    ];
    let p = Probe::new();
    for flags in bad_flags {
        let o = opts(flags);
        assert_eq!(
            on_complete(t, &p, Some(&o), true),
            (St::InvalidArgument, null()),
            "flags {flags:#x}"
        );
        let mut out = std::ptr::dangling::<tapir_task>();
        let ud = p.user_data();
        // SAFETY: live options; valid out-pointer.
        let st = unsafe {
            tapir_task_continue_with(t, Some(cont), ud, Some(probe_destroy), &o, &mut out)
        };
        assert_eq!(st, St::InvalidArgument, "flags {flags:#x}");
        Probe::reclaim(ud);
        assert_eq!(out, std::ptr::dangling(), "task_out untouched");
    }
    let mut small = opts(0);
    small.struct_size = 4;
    assert_eq!(
        on_complete(t, &p, Some(&small), false).0,
        St::InvalidArgument
    );
    // NULL task, callback, task_out.
    // SAFETY: NULL arguments are what is being tested.
    unsafe {
        assert_eq!(
            tapir_task_on_complete(null(), Some(notify), null_mut(), None, null(), null_mut()),
            St::NullArgument
        );
        assert_eq!(
            tapir_task_on_complete(t, None, null_mut(), None, null(), null_mut()),
            St::NullArgument
        );
        let mut out = null();
        assert_eq!(
            tapir_task_continue_with(t, None, null_mut(), None, null(), &mut out),
            St::NullArgument
        );
        assert_eq!(
            tapir_task_continue_with(null(), Some(cont), null_mut(), None, null(), &mut out),
            St::NullArgument
        );
        assert_eq!(
            tapir_task_continue_with(t, Some(cont), null_mut(), None, null(), null_mut()),
            St::NullArgument
        );
        assert!(out.is_null());
    }
    assert_eq!(live(), before, "nothing allocated");
    ok(tapir_source_set_result(s, null_mut(), None));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(
        (p.runs(), p.destroys()),
        (0, 0),
        "nothing registered, nothing called"
    );
    release(t);
    release_source(s);
    c.end();
}

#[test]
fn registration_remove() {
    let c = case();
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let (s, t) = pending();
    let removed = Probe::new();
    let kept = Probe::new();
    let (st, r1) = on_complete(t, &removed, Some(&sync), true);
    ok(st);
    assert!(!r1.is_null());
    let (st, r2) = on_complete(t, &kept, Some(&sync), true);
    ok(st);
    ok(tapir_registration_remove(r1));
    assert_eq!(removed.destroys(), 1, "destroy ran before remove returned");
    assert_eq!(
        tapir_registration_remove(r1),
        St::AlreadyCompleted,
        "removed before"
    );
    ok(tapir_source_set_result(s, null_mut(), None));
    assert_eq!(removed.runs(), 0);
    assert_eq!(kept.runs(), 1);
    assert_eq!(
        tapir_registration_remove(r2),
        St::AlreadyCompleted,
        "already ran"
    );
    assert_eq!(kept.destroys(), 1);
    assert_eq!(tapir_registration_retain(r2), r2);
    ok(tapir_registration_release(r2));
    ok(tapir_registration_release(r2));
    assert_eq!(
        tapir_registration_release(r2),
        St::InvalidHandle,
        "double release"
    );
    ok(tapir_registration_release(r1));
    assert_eq!(
        tapir_registration_remove(r1),
        St::InvalidHandle,
        "released handle"
    );
    assert_eq!(tapir_registration_remove(null()), St::NullArgument);
    ok(tapir_registration_release(null()));
    release(t);
    release_source(s);

    // The antecedent's last handle released while a registration is outstanding.
    let (s, t) = pending();
    let p = Probe::new();
    let (st, r) = on_complete(t, &p, None, true);
    ok(st);
    release(t);
    release_source(s); // broken promise: the callback is dispatched
    wait_until("the dispatched callback", || {
        p.runs() == 1 && p.destroys() == 1
    });
    assert_eq!(tapir_registration_remove(r), St::AlreadyCompleted);
    ok(tapir_registration_release(r));
    c.end();
}

/// A continuation that retains `next` completes it later from another thread; one that
/// leaves it pending and unretained breaks the promise.
#[test]
fn continuation_completes_next_later_or_breaks_the_promise() {
    let c = case();
    let (s, t) = pending();
    let later = Probe::mode(Mode::Later(55));
    let leave = Probe::mode(Mode::Leave);
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let (st, kl) = continue_with(t, &later, Some(&sync));
    ok(st);
    let (st, kb) = continue_with(t, &leave, None);
    ok(st);
    ok(tapir_source_set_result(s, null_mut(), None));
    assert_eq!(later.runs(), 1);
    assert_eq!(status(kl), tapir_task_status::Pending, "completed later");
    assert_eq!(tapir_task_wait(kl, 5000), St::Ok);
    assert_eq!(result(kl), Ok(55));
    assert_eq!(tapir_task_wait(kb, 5000), St::Faulted);
    assert_eq!(first_error_code(kb), St::BrokenPromise as i32);
    wait_until("destroys", || {
        later.destroys() == 1 && leave.destroys() == 1
    });
    release(kl);
    release(kb);
    release(t);
    release_source(s);
    c.end();
}

unsafe extern "C" fn query_antecedent(
    ud: *mut c_void,
    ante: *const tapir_task,
    next: *const tapir_source,
) {
    // SAFETY: `ud` points to the test's AtomicUsize, alive until the test ends.
    let seen = unsafe { &*(ud as *const AtomicUsize) };
    let v = match result(ante) {
        Ok(v) => v,
        Err(s) => 1_000_000 + s as usize,
    };
    seen.store(v, SeqCst);
    ok(tapir_source_set_result(next, null_mut(), None));
}

/// The antecedent handed to a continuation is borrowed for the call, so the callback can
/// query it even when the caller already released every handle it had to it (the usual
/// fire-and-forget `continue_with(t); release(t)`).
#[test]
fn antecedent_usable_in_callback_after_its_handles_are_released() {
    let c = case();
    for sync in [true, false] {
        let seen = AtomicUsize::new(0);
        let (s, t) = pending();
        let o = opts(if sync {
            TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY
        } else {
            0
        });
        let mut k = null();
        let ud = &seen as *const AtomicUsize as *mut c_void;
        // SAFETY: live options; valid out-pointer; `seen` outlives the callback (we wait).
        ok(unsafe { tapir_task_continue_with(t, Some(query_antecedent), ud, None, &o, &mut k) });
        release(t);
        ok(tapir_source_set_result(s, 77 as *mut c_void, None));
        assert_eq!(tapir_task_wait(k, 5000), St::Ok);
        let got = seen.load(SeqCst);
        release(k);
        release_source(s);
        assert_eq!(
            got, 77,
            "tapir_task_result(antecedent) inside the callback (sync {sync}): 1000000 + status = {got}"
        );
    }
    c.end();
}

#[test]
fn set_from_task() {
    let c = case();
    // Pending inner: the source follows it, sharing its value.
    let destroyed = counter();
    let v = destroyed as *const AtomicUsize as *mut c_void;
    let (inner_s, inner) = pending();
    let s = new_source(0, 0);
    let st = task_of(s);
    ok(tapir_source_set_from_task(s, inner));
    assert_eq!(status(st), tapir_task_status::Pending);
    assert_eq!(
        tapir_source_set_from_task(s, inner),
        St::Ok,
        "a second forward is only refused when completed"
    );
    ok(tapir_source_set_result(inner_s, v, Some(count_destroy)));
    assert_eq!(result(st), Ok(v as usize));
    release(inner);
    release_source(inner_s);
    assert_eq!(
        destroyed.load(SeqCst),
        0,
        "the forwarded value is shared, not copied"
    );
    release(st);
    release_source(s);
    assert_eq!(destroyed.load(SeqCst), 1);

    // Completed faulted inner: errors by identity.
    let e = new_error(8, "inner");
    let f = from_error(e);
    let s = new_source(0, 0);
    let st = task_of(s);
    ok(tapir_source_set_from_task(s, f));
    assert_eq!(status(st), tapir_task_status::Faulted);
    let got = error_at(st, 0).unwrap();
    assert_eq!(got, e);
    ok(tapir_error_release(got));
    assert_eq!(tapir_source_set_from_task(s, f), St::AlreadyCompleted);
    assert_eq!(tapir_source_set_from_task(null(), f), St::NullArgument);
    assert_eq!(tapir_source_set_from_task(s, null()), St::NullArgument);
    release(st);
    release_source(s);
    release(f);
    ok(tapir_error_release(e));

    // A continuation "returning a task".
    let (inner_s, inner) = pending();
    let k = Probe::mode(Mode::FromTask(addr(inner)));
    let a = from_result(0, None);
    let (st, kt) = continue_with(a, &k, None);
    ok(st);
    wait_until("the continuation", || k.runs() == 1);
    assert_eq!(status(kt), tapir_task_status::Pending);
    ok(tapir_source_set_result(inner_s, 31 as *mut c_void, None));
    assert_eq!(tapir_task_wait(kt, 5000), St::Ok);
    assert_eq!(result(kt), Ok(31));
    wait_until("destroy", || k.destroys() == 1);
    for t in [kt, a, inner] {
        release(t);
    }
    release_source(inner_s);
    c.end();
}

#[test]
fn unwrap_proxies() {
    let c = case();
    // Outer and inner complete.
    let inner = from_result(21, None);
    let outer = from_result(addr(inner), Some(release_task_value));
    let u = unwrap_task(outer);
    assert_eq!(result(u), Ok(21), "terminal on return");
    for t in [u, outer] {
        release(t);
    }

    // Outer pending, then inner pending, then both complete; three inner outcomes.
    for outcome in 0..3 {
        let (os, ot) = pending();
        let u = unwrap_task(ot);
        let (is, it) = pending();
        assert_eq!(status(u), tapir_task_status::Pending);
        ok(tapir_source_set_result(
            os,
            addr(it) as *mut c_void,
            Some(release_task_value),
        ));
        assert_eq!(status(u), tapir_task_status::Pending, "waits for the inner");
        let e = new_error(17, "inner");
        match outcome {
            0 => ok(tapir_source_set_result(is, 5 as *mut c_void, None)),
            1 => ok(tapir_source_set_error(is, e)),
            _ => ok(tapir_source_set_canceled(is, null())),
        }
        match outcome {
            0 => assert_eq!(result(u), Ok(5)),
            1 => {
                assert_eq!(tapir_task_error_count(u), 1, "no extra nesting");
                let got = error_at(u, 0).unwrap();
                assert_eq!(got, e);
                ok(tapir_error_release(got));
            }
            _ => assert_eq!(status(u), tapir_task_status::Canceled),
        }
        ok(tapir_error_release(e));
        release(u);
        release(ot);
        release_source(os);
        release_source(is);
    }

    // Unsuccessful outer, and a NULL inner: before and after unwrap.
    for before in [true, false] {
        for kind in 0..3 {
            let (os, ot) = pending();
            let e = new_error(23, "outer");
            let complete = || match kind {
                0 => ok(tapir_source_set_error(os, e)),
                1 => ok(tapir_source_set_canceled(os, null())),
                _ => ok(tapir_source_set_result(os, null_mut(), None)),
            };
            if before {
                complete();
            }
            let u = unwrap_task(ot);
            if !before {
                complete();
            }
            match kind {
                0 => {
                    let got = error_at(u, 0).unwrap();
                    assert_eq!(got, e);
                    ok(tapir_error_release(got));
                }
                _ => assert_eq!(status(u), tapir_task_status::Canceled, "kind {kind}"),
            }
            ok(tapir_error_release(e));
            release(u);
            release(ot);
            release_source(os);
        }
    }
    let mut out = null();
    // SAFETY: NULL arguments are what is being tested.
    unsafe {
        assert_eq!(tapir_task_unwrap(null(), &mut out), St::NullArgument);
        let t = from_result(0, None);
        assert_eq!(tapir_task_unwrap(t, null_mut()), St::NullArgument);
        release(t);
    }
    c.end();
}

static CHAIN_RUNS: AtomicUsize = AtomicUsize::new(0);
static CHAIN_BAD: AtomicUsize = AtomicUsize::new(0);

/// A chain link (`user_data` = its 1-based position in the chain): checks it is the
/// next to run and that its antecedent (whose handles the caller released) holds the
/// previous position, then completes `next` with its own position.
unsafe extern "C" fn chain_link(
    ud: *mut c_void,
    ante: *const tapir_task,
    next: *const tapir_source,
) {
    let k = CHAIN_RUNS.fetch_add(1, SeqCst) + 1;
    if ud as usize != k || result(ante) != Ok(k - 1) {
        CHAIN_BAD.fetch_add(1, SeqCst);
    }
    if tapir_source_set_result(next, k as *mut c_void, None) != St::Ok {
        CHAIN_BAD.fetch_add(1, SeqCst);
    }
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("the small-stack thread survived");
}

/// 1,000,000 synchronous continue_with links, completed from a 256 KiB-stack thread:
/// no stack overflow, every link runs once, in chain order, before set_result returns.
#[test]
fn million_link_synchronous_chain_on_a_small_stack() {
    let c = case();
    const N: usize = 1_000_000;
    CHAIN_RUNS.store(0, SeqCst);
    CHAIN_BAD.store(0, SeqCst);
    let sync = opts(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY);
    let (s, first) = pending();
    let mut prev = first;
    for i in 1..=N {
        let mut next = null();
        let ud = i as *mut c_void;
        // SAFETY: live options; valid out-pointer.
        ok(unsafe { tapir_task_continue_with(prev, Some(chain_link), ud, None, &sync, &mut next) });
        release(prev);
        prev = next;
    }
    let sa = addr(s);
    on_small_stack(move || ok(tapir_source_set_result(ptr(sa), null_mut(), None)));
    assert_eq!(CHAIN_RUNS.load(SeqCst), N);
    assert_eq!(CHAIN_BAD.load(SeqCst), 0);
    assert_eq!(result(prev), Ok(N), "the last link ran last");
    release(prev);
    release_source(s);
    c.end();
}

/// 1,000,000 nested unwraps (each proxy is the inner task of the next outer), the
/// innermost completed from a 256 KiB-stack thread.
#[test]
fn million_nested_unwraps_on_a_small_stack() {
    let c = case();
    const N: usize = 1_000_000;
    let (s, t0) = pending();
    let mut cur = t0;
    for _ in 0..N {
        let outer = from_result(addr(cur), Some(release_task_value)); // owns `cur`
        let u = unwrap_task(outer);
        release(outer);
        cur = u;
    }
    assert_eq!(status(cur), tapir_task_status::Pending);
    let sa = addr(s);
    on_small_stack(move || ok(tapir_source_set_result(ptr(sa), 4242 as *mut c_void, None)));
    assert_eq!(result(cur), Ok(4242));
    release(cur);
    release_source(s);
    c.end();
}

// ---------------------------------------------------------------------------
// Errors.

#[test]
fn errors_new_aggregate_flatten_and_payload() {
    let c = case();
    let destroyed = counter();
    let payload = destroyed as *const AtomicUsize as *mut c_void;
    let mut e = null();
    let msg = "disk on fire";
    // SAFETY: `msg` readable for its length; valid out-pointer.
    ok(unsafe {
        tapir_error_new(
            -7,
            msg.as_ptr(),
            msg.len(),
            payload,
            Some(count_destroy),
            &mut e,
        )
    });
    assert_eq!(tapir_error_code(e), -7);
    assert_eq!(error_message(e), msg);
    assert_eq!(tapir_error_payload(e), payload);
    assert_eq!(tapir_error_inner_count(e), 0);
    assert_eq!(tapir_error_retain(e), e);
    ok(tapir_error_release(e));
    assert_eq!(destroyed.load(SeqCst), 0);
    ok(tapir_error_release(e));
    assert_eq!(destroyed.load(SeqCst), 1, "payload destroyed exactly once");
    assert_eq!(tapir_error_release(e), St::InvalidHandle);
    assert_eq!(destroyed.load(SeqCst), 1);

    // Empty message: non-NULL pointer, length 0. Bad messages are refused.
    let empty = new_error(0, "");
    let mut len = 99;
    // SAFETY: valid out-pointer.
    assert!(!unsafe { tapir_error_message(empty, &mut len) }.is_null());
    assert_eq!(len, 0);
    assert!(tapir_error_payload(empty).is_null());
    let mut out = null();
    // SAFETY: the invalid arguments are what is being tested.
    unsafe {
        assert_eq!(
            tapir_error_new(0, null(), 3, null_mut(), None, &mut out),
            St::NullArgument
        );
        let bad = [0xffu8, 0xfe];
        assert_eq!(
            tapir_error_new(0, bad.as_ptr(), 2, null_mut(), None, &mut out),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_error_new(0, null(), 0, null_mut(), None, null_mut()),
            St::NullArgument
        );
        assert!(tapir_error_message(empty, null_mut()).is_null());
    }
    assert!(out.is_null());

    // Aggregates keep order and identity; flatten gives the leaves depth-first.
    let leaves = [new_error(1, "A"), new_error(2, "B"), new_error(3, "C")];
    let agg = |inner: &[*const tapir_error]| {
        let mut a = null();
        let m = "agg";
        // SAFETY: readable message and list; valid out-pointer.
        ok(unsafe {
            tapir_error_new_aggregate(
                100,
                m.as_ptr(),
                m.len(),
                inner.as_ptr(),
                inner.len(),
                &mut a,
            )
        });
        a
    };
    let abc = agg(&leaves);
    assert_eq!(tapir_error_inner_count(abc), 3);
    for (i, &l) in leaves.iter().enumerate() {
        let mut x = null();
        // SAFETY: valid out-pointer.
        ok(unsafe { tapir_error_inner(abc, i, &mut x) });
        assert_eq!(x, l);
        ok(tapir_error_release(x));
    }
    let mut x = null();
    // SAFETY: valid out-pointer.
    let st = unsafe { tapir_error_inner(abc, 3, &mut x) };
    assert_eq!(st, St::InvalidArgument);
    let twice = agg(&[abc, abc]);
    let mut flat = null();
    // SAFETY: valid out-pointer.
    ok(unsafe { tapir_error_flatten(twice, &mut flat) });
    assert_eq!(tapir_error_code(flat), 100);
    assert_eq!(error_message(flat), "agg");
    let expected = [
        leaves[0], leaves[1], leaves[2], leaves[0], leaves[1], leaves[2],
    ];
    assert_eq!(tapir_error_inner_count(flat), 6);
    for (i, &l) in expected.iter().enumerate() {
        let mut x = null();
        // SAFETY: valid out-pointer.
        ok(unsafe { tapir_error_inner(flat, i, &mut x) });
        assert_eq!(x, l, "leaf {i}");
        ok(tapir_error_release(x));
    }
    let mut flat_abc = null();
    let mut flat_plain = null();
    // SAFETY: valid out-pointers.
    unsafe {
        ok(tapir_error_flatten(abc, &mut flat_abc));
        ok(tapir_error_flatten(leaves[0], &mut flat_plain));
        assert_eq!(tapir_error_flatten(null(), &mut x), St::NullArgument);
        assert_eq!(tapir_error_flatten(abc, null_mut()), St::NullArgument);
        let with_null = [leaves[0], null()];
        assert_eq!(
            tapir_error_new_aggregate(0, null(), 0, with_null.as_ptr(), 2, &mut x),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_error_new_aggregate(0, null(), 0, null(), 1, &mut x),
            St::NullArgument
        );
    }
    assert_eq!(
        tapir_error_inner_count(flat_abc),
        3,
        "already flat: unchanged"
    );
    assert_eq!(tapir_error_inner_count(flat_plain), 0);
    for e in [flat, flat_abc, flat_plain, twice, abc, empty] {
        ok(tapir_error_release(e));
    }
    for l in leaves {
        ok(tapir_error_release(l));
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Misuse at the boundary.

#[test]
fn null_arguments() {
    let c = case();
    assert_eq!(
        tapir_task_get_status(null()),
        tapir_task_status::InvalidHandle
    );
    assert_eq!(tapir_last_status(), St::NullArgument);
    assert!(!tapir_task_is_completed(null()));
    assert_eq!(tapir_last_status(), St::NullArgument);
    assert_eq!(tapir_task_id(null()), 0);
    assert!(tapir_task_retain(null()).is_null());
    assert!(tapir_source_retain(null()).is_null());
    assert!(tapir_error_retain(null()).is_null());
    assert!(tapir_scheduler_retain(null()).is_null());
    assert!(tapir_registration_retain(null()).is_null());
    assert_eq!(tapir_error_code(null()), 0);
    assert_eq!(tapir_last_status(), St::NullArgument);
    assert_eq!(tapir_task_error_count(null()), 0);
    assert_eq!(
        tapir_source_set_result(null(), null_mut(), None),
        St::NullArgument
    );
    assert_eq!(tapir_source_set_canceled(null(), null()), St::NullArgument);
    assert!(!tapir_source_try_set_result(null(), null_mut(), None));
    assert_eq!(tapir_last_status(), St::NullArgument);
    assert_eq!(tapir_debug_panic(null()), St::NullArgument);
    assert_eq!(
        tapir_scheduler_post(null(), Some(work_count), null_mut(), None),
        St::NullArgument
    );
    // Releasing NULL is a no-op.
    ok(tapir_task_release(null()));
    ok(tapir_source_release(null()));
    ok(tapir_error_release(null()));
    ok(tapir_scheduler_release(null()));
    let (s, t) = pending();
    // SAFETY: NULL pointers are what is being tested.
    unsafe {
        assert_eq!(tapir_source_task(null(), &mut null()), St::NullArgument);
        assert_eq!(tapir_source_task(s, null_mut()), St::NullArgument);
        assert_eq!(tapir_task_result(null(), &mut null_mut()), St::NullArgument);
        assert_eq!(tapir_task_result(t, null_mut()), St::NullArgument);
        assert_eq!(tapir_task_error(t, null_mut()), St::NullArgument);
        assert_eq!(
            tapir_task_error_at(null(), 0, &mut null()),
            St::NullArgument
        );
        assert_eq!(tapir_task_cancel_token(t, null_mut()), St::NullArgument);
        assert_eq!(tapir_scheduler_default(null_mut()), St::NullArgument);
        assert_eq!(tapir_scheduler_new_manual(null_mut()), St::NullArgument);
        assert_eq!(
            tapir_scheduler_run_pending(null(), 0, -1, &mut 0),
            St::NullArgument
        );
        assert_eq!(tapir_work_run(null_mut()), St::NullArgument);
        assert_eq!(tapir_work_discard(null_mut()), St::NullArgument);
    }
    assert_eq!(status(t), tapir_task_status::Pending, "no side effect");
    release(t);
    release_source(s);
    c.end();
}

#[test]
fn wrong_kind_handles_are_invalid() {
    let c = case();
    let (s, t) = pending();
    let e = new_error(1, "e");
    let as_source = t as *const tapir_source;
    assert_eq!(
        tapir_source_set_result(as_source, null_mut(), None),
        St::InvalidHandle
    );
    assert_eq!(tapir_source_release(as_source), St::InvalidHandle);
    assert_eq!(tapir_debug_panic(as_source), St::InvalidHandle);
    assert_eq!(
        tapir_task_get_status(s as *const tapir_task),
        tapir_task_status::InvalidHandle
    );
    assert_eq!(tapir_last_status(), St::InvalidHandle);
    assert_eq!(
        tapir_task_release(s as *const tapir_task),
        St::InvalidHandle
    );
    assert_eq!(
        tapir_task_release(e as *const tapir_task),
        St::InvalidHandle
    );
    assert_eq!(tapir_error_code(t as *const tapir_error), 0);
    assert_eq!(tapir_last_status(), St::InvalidHandle);
    assert_eq!(
        tapir_error_release(t as *const tapir_error),
        St::InvalidHandle
    );
    assert_eq!(
        tapir_scheduler_post(
            t as *const tapir_scheduler,
            Some(work_count),
            null_mut(),
            None
        ),
        St::InvalidHandle
    );
    assert_eq!(
        tapir_registration_remove(t as *const tapir_registration),
        St::InvalidHandle
    );
    assert_eq!(
        tapir_source_set_error(s, t as *const tapir_error),
        St::InvalidHandle
    );
    assert_eq!(
        tapir_task_wait(e as *const tapir_task, 0),
        St::InvalidHandle
    );
    // Retain through a wrong-kind handle. Checked softly (every case is reported), and a
    // wrongly accepted retain is undone through the right kind so nothing leaks.
    let mut wrong = Vec::new();
    if !tapir_source_retain(as_source).is_null() {
        wrong.push("tapir_source_retain(task as source) succeeded");
        release(t);
    } else if tapir_last_status() != St::InvalidHandle {
        wrong.push("tapir_source_retain(task as source): last status not INVALID_HANDLE");
    }
    if !tapir_task_retain(s as *const tapir_task).is_null() {
        wrong.push("tapir_task_retain(source as task) succeeded");
        release_source(s);
    } else if tapir_last_status() != St::InvalidHandle {
        wrong.push("tapir_task_retain(source as task): last status not INVALID_HANDLE");
    }
    if !tapir_task_retain(e as *const tapir_task).is_null() {
        wrong.push("tapir_task_retain(error as task) succeeded");
        ok(tapir_error_release(e));
    }
    if !tapir_error_retain(t as *const tapir_error).is_null() {
        wrong.push("tapir_error_retain(task as error) succeeded");
        release(t);
    }
    if !tapir_scheduler_retain(t as *const tapir_scheduler).is_null() {
        wrong.push("tapir_scheduler_retain(task as scheduler) succeeded");
        release(t);
    }
    if !tapir_registration_retain(t as *const tapir_registration).is_null() {
        wrong.push("tapir_registration_retain(task as registration) succeeded");
        release(t);
    }
    // A forged value that was never a handle.
    let forged = 0xdead_beef_usize as *const tapir_task;
    assert_eq!(
        tapir_task_get_status(forged),
        tapir_task_status::InvalidHandle
    );
    assert_eq!(tapir_task_release(forged), St::InvalidHandle);
    // Nothing happened to the real objects.
    assert_eq!(status(t), tapir_task_status::Pending);
    assert_eq!(tapir_error_code(e), 1);
    ok(tapir_error_release(e));
    release(t);
    release_source(s);
    c.end();
    assert!(wrong.is_empty(), "wrong-kind handles accepted: {wrong:#?}");
}

#[test]
fn double_release_is_invalid_and_other_handles_keep_working() {
    let c = case();
    let (s, t) = pending();
    release(t);
    assert_eq!(
        tapir_task_release(t),
        St::InvalidHandle,
        "second release of the task"
    );
    assert_eq!(status(t), tapir_task_status::InvalidHandle);
    // The source still works and gives a fresh task handle.
    assert_eq!(tapir_source_retain(s), s);
    release_source(s);
    ok(tapir_source_set_result(s, 6 as *mut c_void, None));
    let t2 = task_of(s);
    assert_eq!(result(t2), Ok(6));
    release_source(s);
    assert_eq!(
        tapir_source_release(s),
        St::InvalidHandle,
        "second release of the source"
    );
    assert_eq!(
        tapir_source_set_result(s, null_mut(), None),
        St::InvalidHandle
    );
    assert_eq!(result(t2), Ok(6), "the task handle keeps working");
    release(t2);
    assert_eq!(tapir_task_release(t2), St::InvalidHandle);

    let e = new_error(3, "x");
    assert_eq!(tapir_error_retain(e), e);
    ok(tapir_error_release(e));
    ok(tapir_error_release(e));
    assert_eq!(tapir_error_release(e), St::InvalidHandle);

    let mut m = null();
    // SAFETY: valid out-pointer.
    ok(unsafe { tapir_scheduler_new_manual(&mut m) });
    ok(tapir_scheduler_release(m));
    assert_eq!(tapir_scheduler_release(m), St::InvalidHandle);
    c.end();
}

/// A released handle stays invalid after 10,000 new objects reused memory, and never
/// aliases any of them.
#[test]
fn stale_handle_after_10000_new_objects() {
    let c = case();
    let stale = from_result(1, None);
    release(stale);
    let (stale_s, stale_t) = pending();
    release(stale_t);
    release_source(stale_s);
    let fresh: Vec<_> = (0..10_000).map(|i| from_result(i, None)).collect();
    let sources: Vec<_> = (0..100).map(|_| new_source(0, 0)).collect();
    assert!(!fresh.contains(&stale) && !fresh.contains(&stale_t));
    for &s in &sources {
        assert_ne!(s, stale_s);
        let t = task_of(s);
        assert_ne!(t, stale_t);
        release(t);
    }
    for h in [stale, stale_t] {
        assert_eq!(status(h), tapir_task_status::InvalidHandle);
        assert_eq!(tapir_task_release(h), St::InvalidHandle);
        assert!(tapir_task_retain(h).is_null());
        assert_eq!(tapir_task_wait(h, 0), St::InvalidHandle);
        assert_eq!(result(h), Err(St::InvalidHandle));
        let p = Probe::new();
        assert_eq!(on_complete(h, &p, None, false).0, St::InvalidHandle);
    }
    assert_eq!(
        tapir_source_set_result(stale_s, null_mut(), None),
        St::InvalidHandle
    );
    assert_eq!(tapir_source_release(stale_s), St::InvalidHandle);
    for t in fresh {
        assert_eq!(status(t), tapir_task_status::Succeeded);
        release(t);
    }
    for s in sources {
        ok(tapir_source_set_result(s, null_mut(), None));
        release_source(s);
    }
    c.end();
}

// ---------------------------------------------------------------------------
// Schedulers.

static WORK_RUNS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn work_count(_ud: *mut c_void) {
    WORK_RUNS.fetch_add(1, SeqCst);
}

/// A work item recording into a probe (as a notification without a task).
unsafe extern "C" fn work_probe(ud: *mut c_void) {
    // SAFETY: `ud` is a Probe reference owned by tapir until `probe_destroy`.
    let p = unsafe { &*(ud as *const Probe) };
    *p.thread.lock().unwrap() = Some(thread::current().id());
    let cur = tapir_scheduler_current();
    p.current.store(addr(cur), SeqCst);
    if !cur.is_null() {
        ok(tapir_scheduler_release(cur));
    }
    if let Mode::Result(ms) = p.mode {
        thread::sleep(Duration::from_millis(ms as u64));
    }
    p.log.lock().unwrap().push(p.id);
    p.runs.fetch_add(1, SeqCst);
}

fn post(s: *const tapir_scheduler, p: &Arc<Probe>) {
    ok(tapir_scheduler_post(
        s,
        Some(work_probe),
        p.user_data(),
        Some(probe_destroy),
    ));
}

#[test]
fn inline_and_default_schedulers() {
    let c = case();
    let mut inline = null();
    let mut default = null();
    // SAFETY: valid out-pointers.
    unsafe {
        ok(tapir_scheduler_inline(&mut inline));
        ok(tapir_scheduler_default(&mut default));
    }
    let p = Probe::new();
    post(inline, &p);
    assert_eq!((p.runs(), p.destroys()), (1, 1), "ran before post returned");
    assert_eq!(p.thread(), Some(thread::current().id()));

    let p = Probe::new();
    post(default, &p);
    wait_until("pool work", || p.runs() == 1 && p.destroys() == 1);
    assert_ne!(p.thread(), Some(thread::current().id()));
    assert_eq!(
        p.current.load(SeqCst),
        addr(default),
        "current() on a pool thread"
    );
    assert!(
        tapir_scheduler_current().is_null(),
        "not running tapir work here"
    );

    // A continuation on the inline scheduler runs inside set_result.
    let (s, t) = pending();
    let n = Probe::new();
    let o = opts_on(0, inline);
    ok(on_complete(t, &n, Some(&o), false).0);
    ok(tapir_source_set_result(s, null_mut(), None));
    assert_eq!(n.runs(), 1);
    release(t);
    release_source(s);
    ok(tapir_scheduler_release(inline));
    ok(tapir_scheduler_release(default));
    c.end();
}

#[test]
fn manual_scheduler_runs_on_demand() {
    let c = case();
    let mut m = null();
    // SAFETY: valid out-pointer.
    ok(unsafe { tapir_scheduler_new_manual(&mut m) });
    let log: Arc<Mutex<Vec<u32>>> = Arc::default();
    let probes: Vec<_> = (0..5)
        .map(|i| Probe::with(i, Mode::Result(0), log.clone(), false))
        .collect();
    for p in &probes {
        post(m, p);
    }
    thread::sleep(Duration::from_millis(20));
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing runs until run_pending"
    );
    let mut ran = 0;
    // SAFETY: valid out-pointer (whole block).
    unsafe {
        ok(tapir_scheduler_run_pending(m, 2, -1, &mut ran));
        assert_eq!(ran, 2, "max_items");
        ok(tapir_scheduler_run_pending(m, 0, -1, &mut ran));
        assert_eq!(ran, 3);
        ok(tapir_scheduler_run_pending(m, 0, -1, &mut ran));
        assert_eq!(ran, 0);
    }
    assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4], "FIFO");
    for p in &probes {
        assert_eq!((p.runs(), p.destroys()), (1, 1));
        assert_eq!(p.thread(), Some(thread::current().id()));
        assert_eq!(
            p.current.load(SeqCst),
            addr(m),
            "current() inside run_pending"
        );
    }

    // Time budget, checked between items: 30 ms items, 45 ms budget.
    let slow: Vec<_> = (0..5)
        .map(|i| Probe::with(i, Mode::Result(30), log.clone(), false))
        .collect();
    for p in &slow {
        post(m, p);
    }
    // SAFETY: valid out-pointer.
    unsafe {
        ok(tapir_scheduler_run_pending(m, 0, 45, &mut ran));
        assert!((1..5).contains(&ran), "the budget stopped it after {ran}");
        let first = ran;
        ok(tapir_scheduler_run_pending(m, 0, -1, &mut ran));
        assert_eq!(first + ran, 5);
    }

    // A synchronous continuation for the manual scheduler completed elsewhere is queued.
    let (s, t) = pending();
    let n = Probe::new();
    let o = opts_on(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY, m);
    ok(on_complete(t, &n, Some(&o), false).0);
    ok(tapir_source_set_result(s, null_mut(), None));
    assert_eq!(
        n.runs(),
        0,
        "not inline on a thread that is not running the scheduler"
    );
    // SAFETY: valid out-pointer.
    ok(unsafe { tapir_scheduler_run_pending(m, 0, -1, &mut ran) });
    assert_eq!((ran, n.runs()), (1, 1));

    // Invalid calls.
    let mut d = null();
    // SAFETY: valid out-pointers.
    unsafe {
        assert_eq!(
            tapir_scheduler_run_pending(m, 0, -2, &mut ran),
            St::InvalidArgument
        );
        assert_eq!(
            tapir_scheduler_run_pending(m, 0, -1, null_mut()),
            St::NullArgument
        );
        ok(tapir_scheduler_default(&mut d));
        assert_eq!(
            tapir_scheduler_run_pending(d, 0, -1, &mut ran),
            St::InvalidArgument
        );
    }
    ok(tapir_scheduler_release(d));
    assert_eq!(
        tapir_scheduler_post(m, None, null_mut(), None),
        St::NullArgument
    );

    // Releasing the last reference closes it: queued work is discarded (destroy without
    // run) and the task it would have completed fails with SCHEDULER_ERROR.
    let q = Probe::new();
    post(m, &q);
    let k = Probe::mode(Mode::Result(1));
    let o = opts_on(0, m);
    let (st, kt) = continue_with(t, &k, Some(&o));
    ok(st);
    ok(tapir_scheduler_release(m));
    assert_eq!((q.runs(), q.destroys()), (0, 1));
    assert_eq!((k.runs(), k.destroys()), (0, 1));
    assert_eq!(status(kt), tapir_task_status::Faulted);
    assert_eq!(first_error_code(kt), St::SchedulerError as i32);
    release(kt);
    release(t);
    release_source(s);
    c.end();
}

/// The context of a foreign scheduler: the posted work items, a shared log.
struct Foreign {
    works: Mutex<Vec<usize>>,
    log: Arc<Mutex<Vec<u32>>>,
    posts: AtomicUsize,
    destroyed: AtomicUsize,
}

impl Foreign {
    fn take(&self) -> Vec<usize> {
        std::mem::take(&mut *self.works.lock().unwrap())
    }
}

unsafe extern "C" fn foreign_post(ctx: *mut c_void, work: *mut tapir_work) {
    // SAFETY: ctx is the `Foreign` given at creation, alive until `foreign_destroy`.
    let f = unsafe { &*(ctx as *const Foreign) };
    let k = f.posts.fetch_add(1, SeqCst) as u32;
    f.log.lock().unwrap().push(1000 + k);
    f.works.lock().unwrap().push(work as usize);
}

unsafe extern "C" fn foreign_destroy(ctx: *mut c_void) {
    // SAFETY: ctx came from Arc::into_raw in `foreign_scheduler`; called once.
    let f = unsafe { Arc::from_raw(ctx as *const Foreign) };
    f.destroyed.fetch_add(1, SeqCst);
}

fn foreign_scheduler(log: Arc<Mutex<Vec<u32>>>) -> (*const tapir_scheduler, Arc<Foreign>) {
    let f = Arc::new(Foreign {
        works: Mutex::default(),
        log,
        posts: AtomicUsize::new(0),
        destroyed: AtomicUsize::new(0),
    });
    let vt = tapir_scheduler_vtable {
        struct_size: size_of::<tapir_scheduler_vtable>() as u32,
        post: Some(foreign_post),
        destroy: Some(foreign_destroy),
    };
    let mut s = null();
    // SAFETY: `vt` is a full vtable; valid out-pointer; tapir owns the ctx reference.
    ok(unsafe {
        tapir_scheduler_new_foreign(&vt, Arc::into_raw(f.clone()) as *mut c_void, &mut s)
    });
    (s, f)
}

#[test]
fn foreign_scheduler_run_and_discard() {
    let c = case();
    let (sched, f) = foreign_scheduler(Arc::default());
    let run = Probe::new();
    let dropped = Probe::new();
    post(sched, &run);
    post(sched, &dropped);
    let works = f.take();
    assert_eq!(works.len(), 2);
    // SAFETY: each item came from `post` and is consumed once.
    unsafe {
        ok(tapir_work_run(works[0] as *mut tapir_work));
        ok(tapir_work_discard(works[1] as *mut tapir_work));
    }
    assert_eq!((run.runs(), run.destroys()), (1, 1));
    assert_eq!(
        run.current.load(SeqCst),
        addr(sched),
        "current() inside tapir_work_run"
    );
    assert_eq!((dropped.runs(), dropped.destroys()), (0, 1));

    // A continuation posted to it and discarded: its task fails with SCHEDULER_ERROR.
    let (s, t) = pending();
    let k = Probe::mode(Mode::Result(1));
    let o = opts_on(0, sched);
    let (st, kt) = continue_with(t, &k, Some(&o));
    ok(st);
    ok(tapir_source_set_result(s, null_mut(), None));
    let works = f.take();
    assert_eq!(works.len(), 1);
    // The scheduler's context outlives its last handle while work is outstanding.
    ok(tapir_scheduler_release(sched));
    assert_eq!(f.destroyed.load(SeqCst), 0, "work items keep the scheduler");
    // SAFETY: as above.
    ok(unsafe { tapir_work_discard(works[0] as *mut tapir_work) });
    assert_eq!((k.runs(), k.destroys()), (0, 1));
    assert_eq!(first_error_code(kt), St::SchedulerError as i32);
    assert_eq!(
        f.destroyed.load(SeqCst),
        1,
        "ctx destroyed once, after the last reference"
    );

    // Bad vtables.
    let mut out = null();
    // SAFETY: the vtables are readable for their declared sizes.
    unsafe {
        let small = tapir_scheduler_vtable {
            struct_size: 4,
            post: Some(foreign_post),
            destroy: None,
        };
        assert_eq!(
            tapir_scheduler_new_foreign(&small, null_mut(), &mut out),
            St::InvalidArgument
        );
        let no_post = tapir_scheduler_vtable {
            struct_size: size_of::<tapir_scheduler_vtable>() as u32,
            post: None,
            destroy: None,
        };
        assert_eq!(
            tapir_scheduler_new_foreign(&no_post, null_mut(), &mut out),
            St::NullArgument
        );
        assert_eq!(
            tapir_scheduler_new_foreign(null(), null_mut(), &mut out),
            St::NullArgument
        );
    }
    assert!(out.is_null());
    release(kt);
    release(t);
    release_source(s);
    c.end();
}

// ---------------------------------------------------------------------------
// The unobserved-error hook and the panic boundary.

struct HookLog {
    calls: AtomicUsize,
    count: AtomicUsize,
    first: AtomicUsize,
    task_id: AtomicU64,
}

static HOOK: HookLog = HookLog {
    calls: AtomicUsize::new(0),
    count: AtomicUsize::new(0),
    first: AtomicUsize::new(0),
    task_id: AtomicU64::new(0),
};

unsafe extern "C" fn unobserved(
    ud: *mut c_void,
    task_id: u64,
    errors: *const *const tapir_error,
    count: usize,
) {
    // SAFETY: the hook was installed with `&HOOK`.
    let log = unsafe { &*(ud as *const HookLog) };
    log.calls.fetch_add(1, SeqCst);
    log.count.store(count, SeqCst);
    log.task_id.store(task_id, SeqCst);
    if count > 0 {
        // SAFETY: tapir passes `count` readable error pointers.
        log.first.store(unsafe { *errors } as usize, SeqCst);
    }
}

#[test]
fn unobserved_error_hook() {
    let c = case();
    ok(tapir_set_unobserved_error_hook(
        Some(unobserved),
        &HOOK as *const HookLog as *mut c_void,
    ));
    let calls = || HOOK.calls.load(SeqCst);
    let base = calls();

    // (a) never read: one call, with the errors, at the last release.
    let e = new_error(12, "lost");
    let t = from_error(e);
    let id = tapir_task_id(t);
    assert_eq!(tapir_task_retain(t), t);
    release(t);
    assert_eq!(calls(), base, "not before the last release");
    release(t);
    assert_eq!(calls(), base + 1);
    assert_eq!(HOOK.count.load(SeqCst), 1);
    assert_eq!(HOOK.first.load(SeqCst), addr(e));
    assert_eq!(HOOK.task_id.load(SeqCst), id);

    let (s, t) = pending();
    ok(tapir_source_set_error(s, e));
    release_source(s);
    release(t);
    assert_eq!(calls(), base + 2, "a faulted source task too");

    // (b) read in any way: no call.
    type Observe = fn(*const tapir_task);
    let observers: [Observe; 4] = [
        |t| assert_eq!(tapir_task_error_count(t), 1),
        |t| assert_eq!(result(t), Err(St::Faulted)),
        |t| assert_eq!(tapir_task_wait(t, 0), St::Faulted),
        |t| ok(tapir_error_release(error_at(t, 0).unwrap())),
    ];
    for observe in observers {
        let t = from_error(e);
        observe(t);
        release(t);
    }
    assert_eq!(calls(), base + 2, "observed errors are not reported");

    // (d) canceled and succeeded tasks never report.
    release(canceled_task());
    release(from_result(0, None));
    let (s, t) = pending();
    release(t);
    ok(tapir_source_set_canceled(s, null()));
    release_source(s);
    assert_eq!(calls(), base + 2);

    // Removed hook: nothing is called.
    ok(tapir_set_unobserved_error_hook(None, null_mut()));
    release(from_error(e));
    assert_eq!(calls(), base + 2);
    ok(tapir_error_release(e));
    c.end();
}

#[test]
fn debug_panic_fails_the_task_with_code_panic() {
    let c = case();
    let (s, t) = pending();
    assert_eq!(tapir_debug_panic(s), St::Panic);
    assert_eq!(status(t), tapir_task_status::Faulted);
    assert_eq!(first_error_code(t), St::Panic as i32);
    // The library keeps working after the caught panic.
    assert_eq!(
        tapir_source_set_result(s, null_mut(), None),
        St::AlreadyCompleted
    );
    release(t);
    release_source(s);
    let (s, t) = pending();
    assert_eq!(
        tapir_debug_panic(t as *const tapir_source),
        St::InvalidHandle
    );
    ok(tapir_source_set_result(s, null_mut(), None));
    release(t);
    release_source(s);
    c.end();
}

#[test]
fn status_strings_and_version() {
    let c = case();
    for code in [0, 1, 8, 11, 15, 16, -1, i32::MAX] {
        let p = tapir::ffi::status::tapir_status_str(code);
        assert!(!p.is_null());
        // SAFETY: tapir returns a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap();
        assert!(!s.is_empty());
    }
    // SAFETY: as above.
    let v = unsafe { std::ffi::CStr::from_ptr(tapir_version()) }
        .to_str()
        .unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    c.end();
}
