//! Crossing the boundary: tasks made by C (the exported `tapir_*` functions, called as
//! C would) awaited in Rust, and tasks, errors, sources and tokens made in Rust used
//! from C, with the value ownership rules of each direction.

mod api_support;

use std::ffi::c_void;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use api_support::{case, continuations, wait_until};
use tapir::ffi::cancel::*;
use tapir::ffi::combinators::tapir_delay;
use tapir::ffi::error::*;
use tapir::ffi::source::*;
use tapir::ffi::task::*;
use tapir::ffi::{tapir_source, tapir_status as St, tapir_task};
use tapir::{CancellationSource, CompletionSource, Error, Task, block_on};

#[track_caller]
fn ok(s: St) {
    assert_eq!(s, St::Ok);
}

fn c_pending() -> (*const tapir_source, *const tapir_task) {
    let (mut s, mut t) = (null(), null());
    // SAFETY: valid out-pointers.
    ok(unsafe { tapir_source_new(0, null_mut(), &mut s) });
    // SAFETY: as above.
    ok(unsafe { tapir_source_task(s, &mut t) });
    (s, t)
}

static DESTROYED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_destroy(_p: *mut c_void) {
    DESTROYED.fetch_add(1, SeqCst);
}

#[test]
fn a_c_task_completed_from_a_c_thread_is_awaited_in_rust() {
    let c = case();
    {
        DESTROYED.store(0, SeqCst);
        let (s, t) = c_pending();
        // SAFETY: we own `t` (+1) and C stores a pointer: it travels in the bits.
        let task = unsafe { Task::<*mut c_void>::from_raw(t) }.unwrap();
        // A Task<*mut c_void> stays on its thread (raw pointers are not Send): the
        // completer watches the task through its C handle.
        let probe = task.as_raw() as usize;
        let s_bits = s as usize;
        let completer = std::thread::spawn(move || {
            let s = s_bits as *const tapir_source;
            wait_until("the Rust await to register", || {
                tapir::ffi::debug::tapir_debug_task_continuations(probe as *const tapir_task) == 1
            });
            ok(tapir_source_set_result(
                s,
                0x5EED as *mut c_void,
                Some(count_destroy),
            ));
            ok(tapir_source_release(s));
        });
        let v = block_on(task.clone()).unwrap();
        completer.join().unwrap();
        assert_eq!(v, 0x5EED as *mut c_void);
        // The same task read as other bit types.
        // SAFETY: a new reference for from_raw, which takes it over.
        let as_usize = unsafe { Task::<usize>::from_raw_borrowed(task.as_raw()) }.unwrap();
        assert_eq!(as_usize.wait(), Ok(0x5EED));
        assert_eq!(task.clone().into_unit().wait(), Ok(()));
        assert_eq!(DESTROYED.load(SeqCst), 0, "the task still owns its value");
        drop((task, as_usize));
        assert_eq!(
            DESTROYED.load(SeqCst),
            1,
            "C's destroy ran once, with the last reference"
        );
    }
    c.end();
}

#[test]
fn a_c_error_is_read_in_rust_with_its_code_message_and_payload() {
    let c = case();
    {
        let (s, t) = c_pending();
        let msg = b"c side failed";
        let mut e = null();
        // SAFETY: `msg` is readable for its length; valid out-pointer; no payload destroy.
        ok(unsafe {
            tapir_error_new(
                1234,
                msg.as_ptr(),
                msg.len(),
                0xABC as *mut c_void,
                None,
                &mut e,
            )
        });
        ok(tapir_source_set_error(s, e));
        // SAFETY: we own `t`; a u32 travels in the bits.
        let task = unsafe { Task::<u32>::from_raw(t) }.unwrap();
        let err = block_on(task).unwrap_err();
        assert_eq!((err.code(), err.message()), (1234, "c side failed"));
        assert_eq!(err.payload_raw(), 0xABC as *mut c_void);
        assert_eq!(
            err.payload::<u32>(),
            None,
            "a C payload is never read as a Rust one"
        );
        assert_eq!(err.as_raw(), e, "the very error object C made");
        ok(tapir_error_release(e));
        ok(tapir_source_release(s));
    }
    c.end();
}

struct Seen {
    status: AtomicUsize,
    value: AtomicUsize,
}

unsafe extern "C" fn on_done(user_data: *mut c_void, task: *const tapir_task) {
    // SAFETY: `user_data` is the &Seen the test keeps alive until the callback ran.
    let seen = unsafe { &*(user_data as *const Seen) };
    let mut v = null_mut();
    // SAFETY: `task` is lent for the call; `v` is a valid out-pointer.
    if unsafe { tapir_task_result(task, &mut v) } == St::Ok {
        seen.value.store(v as usize, SeqCst);
    }
    seen.status
        .store(tapir_task_get_status(task) as usize, SeqCst);
}

#[test]
fn a_rust_task_is_awaited_in_c_with_a_continuation() {
    let c = case();
    {
        let src = CompletionSource::<u64>::new();
        let p = src.task().into_raw();
        let seen = Seen {
            status: AtomicUsize::new(0),
            value: AtomicUsize::new(0),
        };
        let opts = tapir_continuation_options {
            struct_size: size_of::<tapir_continuation_options>() as u32,
            flags: TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
            scheduler: null(),
            token: null(),
        };
        // SAFETY: `seen` outlives the callback (it runs inline below); valid options.
        ok(unsafe {
            tapir_task_on_complete(
                p,
                Some(on_done),
                &seen as *const Seen as *mut c_void,
                None,
                &opts,
                null_mut(),
            )
        });
        src.set_result(4242).unwrap();
        assert_eq!(
            seen.status.load(SeqCst),
            tapir_task_status::Succeeded as usize
        );
        assert_eq!(
            seen.value.load(SeqCst),
            4242,
            "a u64 travels as the number itself"
        );
        ok(tapir_task_wait(p, -1));
        ok(tapir_task_release(p));
    }
    c.end();
}

#[test]
fn what_c_sees_of_boxed_and_bit_values() {
    let c = case();
    {
        // A boxed value: C sees a pointer to the T, owned by the task.
        let t = Task::from_result(String::from("owned by the task"));
        let mut v = null_mut();
        // SAFETY: valid handle and out-pointer.
        ok(unsafe { tapir_task_result(t.as_raw(), &mut v) });
        // SAFETY: a boxed String, alive while `t` is.
        assert_eq!(unsafe { &*(v as *const String) }, "owned by the task");
        // Signed integers are sign-extended, as C stores them.
        let n = Task::from_result(-2i32);
        // SAFETY: as above.
        ok(unsafe { tapir_task_result(n.as_raw(), &mut v) });
        assert_eq!(v as isize, -2);
        // A pointer is itself; () is NULL.
        let ptr = Task::from_ptr(0x77 as *mut c_void);
        // SAFETY: as above.
        ok(unsafe { tapir_task_result(ptr.as_raw(), &mut v) });
        assert_eq!(v as usize, 0x77);
        let unit = Task::completed();
        // SAFETY: as above.
        ok(unsafe { tapir_task_result(unit.as_raw(), &mut v) });
        assert!(v.is_null());
        // Handed over, released by C.
        let raw = Task::from_result(vec![1u8]).into_raw();
        ok(tapir_task_release(raw));
        assert_eq!(
            tapir_task_release(raw),
            St::InvalidHandle,
            "a stale handle is an error"
        );
    }
    c.end();
}

#[test]
fn a_rust_error_is_read_by_c_and_comes_back_the_same_object() {
    let c = case();
    {
        let e = Error::with_payload(77, "rust side failed", 5u8);
        let t = Task::<u8>::from_error(e.clone());
        let mut ce = null();
        // SAFETY: valid handle and out-pointer.
        ok(unsafe { tapir_task_error(t.as_raw(), &mut ce) });
        assert_eq!(tapir_error_code(ce), 77);
        let mut len = 0;
        // SAFETY: valid out-pointer; the bytes stay valid while `ce` is held.
        let m = unsafe { tapir_error_message(ce, &mut len) };
        // SAFETY: `len` readable bytes at `m`.
        let bytes = unsafe { std::slice::from_raw_parts(m, len) };
        assert_eq!(bytes, b"rust side failed");
        assert!(
            !tapir_error_payload(ce).is_null(),
            "C sees an opaque payload pointer"
        );
        // SAFETY: `ce` is our +1 reference, given up here.
        let back = unsafe { Error::from_raw(ce) }.unwrap();
        assert_eq!(back, e);
        assert_eq!(back.payload::<u8>(), Some(&5));
        // A canceled error crosses as an error of code CANCELED.
        let canceled = Task::<u8>::canceled().wait().unwrap_err();
        let raw = canceled.into_raw();
        assert_eq!(tapir_error_code(raw), St::Canceled as i32);
        ok(tapir_error_release(raw));
    }
    c.end();
}

#[test]
fn a_rust_source_is_completed_by_c_and_a_c_source_by_rust() {
    let c = case();
    {
        let src = CompletionSource::<u64>::new();
        let t = src.task();
        let raw = src.into_raw();
        ok(tapir_source_set_result(raw, 31 as *mut c_void, None));
        ok(tapir_source_release(raw));
        assert_eq!(t.wait(), Ok(31));

        let (s, ct) = c_pending();
        // SAFETY: we own `s` (+1); a u16 travels in the bits.
        let rust_side = unsafe { CompletionSource::<u16>::from_raw(s) }.unwrap();
        rust_side.set_result(600).unwrap();
        let mut v = null_mut();
        // SAFETY: valid handle and out-pointer.
        ok(unsafe { tapir_task_result(ct, &mut v) });
        assert_eq!(v as usize, 600);
        ok(tapir_task_release(ct));
        drop(rust_side);
        // SAFETY: NULL and a stale handle are refused, not undefined behaviour.
        assert!(unsafe { Task::<u8>::from_raw(null()) }.is_none());
        // SAFETY: as above.
        assert!(unsafe { Task::<u8>::from_raw(ct) }.is_none());
    }
    c.end();
}

#[test]
fn a_rust_token_cancels_a_c_delay() {
    let c = case();
    {
        let cts = CancellationSource::new();
        let token = cts.token().into_raw();
        let mut d = null();
        // SAFETY: valid token and out-pointer.
        ok(unsafe { tapir_delay(-1, token, &mut d) });
        // SAFETY: we own `d`; a delay's value is () (NULL).
        let delay = unsafe { Task::<()>::from_raw(d) }.unwrap();
        assert_eq!(continuations(&delay), 0);
        cts.cancel().unwrap();
        let e = delay.wait().unwrap_err();
        assert!(e.is_canceled());
        assert!(tapir_cancel_token_is_canceled(token));
        // SAFETY: we own the token reference into_raw gave.
        let back = unsafe { tapir::CancellationToken::from_raw(token) }.unwrap();
        assert_eq!(e.cancellation_token(), Some(back));
    }
    c.end();
}
