//! The Rust side of the cross-language conformance test, in a shared library that also
//! carries tapir itself: the C program, the C++ side and (through P/Invoke) the C# side
//! call the `tapir_*` functions exported from here, so every language works on the
//! same objects.
//!
//! `rust_await` awaits the C program's task with `.await` (an async block run by
//! `Task::from_future` on tapir's default pool); `rust_make_error` makes the error of
//! the "set from Rust" scenario.

use std::ffi::c_char;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use tapir::ffi::{tapir_error, tapir_task};
use tapir::{Error, Scheduler, Task};

/// `conf_report` of conformance.h.
#[repr(C)]
pub struct Report {
    done: AtomicI32,
    text: [c_char; 252],
}

/// What the Rust error's payload is; the awaiter compares addresses to tell the
/// original object from a copy.
struct Marker;

static ORIGINAL: std::sync::Mutex<Option<Arc<Marker>>> = std::sync::Mutex::new(None);

fn write(report: usize, text: &str) {
    // SAFETY: the C program keeps the report alive until `done` is set, and nothing
    // else writes it.
    let r = unsafe { &mut *(report as *mut Report) };
    let n = text.len().min(r.text.len() - 1);
    for (dst, &b) in r.text.iter_mut().zip(&text.as_bytes()[..n]) {
        *dst = b as c_char;
    }
    r.text[n] = 0;
    r.done.store(1, Ordering::Release);
}

fn describe(outcome: Result<i64, Error>) -> String {
    match outcome {
        Ok(v) => format!("value {v}"),
        Err(e) if e.is_canceled() => "canceled".to_string(),
        Err(e) => {
            let original = e.payload::<Arc<Marker>>().is_some_and(|p| {
                ORIGINAL
                    .lock()
                    .unwrap()
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(o, p))
            });
            format!(
                "error {} {}{}",
                e.code(),
                e.message(),
                if original { " original" } else { "" }
            )
        }
    }
}

/// Starts awaiting `task` (borrowed); the outcome goes to `report`.
///
/// # Safety
/// `task` must be a live task handle whose value is an integer, and `report` must stay
/// valid until its `done` is set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rust_await(task: *const tapir_task, report: *mut Report) -> i32 {
    // SAFETY: forwarded: a live handle whose value (an integer) travels in the bits.
    let Some(task) = (unsafe { Task::<i64>::from_raw_borrowed(task) }) else {
        return -1;
    };
    let report = report as usize;
    let waiter = Task::from_future(
        async move {
            let outcome = task.await;
            write(report, &describe(outcome));
        },
        &Scheduler::pool(),
    );
    drop(waiter); // runs on; the report says when it is done
    0
}

/// A new `tapir_error` reference made in Rust, with a payload.
#[unsafe(no_mangle)]
pub extern "C" fn rust_make_error() -> *const tapir_error {
    let marker = Arc::new(Marker);
    *ORIGINAL.lock().unwrap() = Some(marker.clone());
    Error::with_payload(4321, "from Rust", marker).into_raw()
}

/// Forgets the original payload (so nothing keeps tapir objects at the end).
#[unsafe(no_mangle)]
pub extern "C" fn rust_reset() {
    *ORIGINAL.lock().unwrap() = None;
}
