//! The threads tapir starts, and thread identity, without per-thread state on the
//! caller.
//!
//! A host must be able to unload tapir once it has shut it down. Under glibc a
//! thread-local destructor that is still registered keeps its library mapped, and the
//! host's own threads (the main thread above all) never exit before the unload, so no
//! call a host thread makes may register one. `std::thread`'s spawn does (its spawn
//! hooks live in a thread-local of the *spawning* thread), and so does
//! `std::thread::current`; this module makes threads with `pthread_create` and names
//! the current thread with `pthread_self` instead. Threads made here may themselves
//! hold thread-local destructors: they are joined before tapir can be unloaded, and
//! their destructors run as they exit.

use std::ffi::CString;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The identity of a live thread (reused once that thread has exited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadId(libc::pthread_t);

/// The calling thread's identity.
pub(crate) fn current() -> ThreadId {
    // SAFETY: pthread_self has no preconditions.
    ThreadId(unsafe { libc::pthread_self() })
}

/// The calling thread's name as the system knows it (what `spawn` set), if any.
#[cfg(test)]
pub(crate) fn current_name() -> Option<String> {
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is writable and its length is passed; the call writes a
    // NUL-terminated name into it.
    let rc = unsafe {
        libc::pthread_getname_np(libc::pthread_self(), buf.as_mut_ptr().cast(), buf.len())
    };
    let end = buf.iter().position(|&b| b == 0)?;
    (rc == 0 && end > 0).then(|| String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// A thread started by [`spawn`]; join it, or drop it to detach.
#[derive(Debug)]
pub(crate) struct OsThread {
    id: libc::pthread_t,
    joined: bool,
}

type Body = Box<dyn FnOnce() + Send + 'static>;

/// Starts a thread named `name` (cut to the 15 bytes Linux keeps) with a stack of
/// `stack_size` bytes (0: the system's default) running `body`. A panic in `body` is
/// caught on that thread (the panic hook has reported it) and ends the thread.
pub(crate) fn spawn(
    name: &str,
    stack_size: usize,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<OsThread> {
    // The thread names itself before running `body`, so that whatever runs first on it
    // (a host's start hook) already sees the name.
    let name = CString::new(
        name.bytes()
            .filter(|&b| b != 0)
            .take(15)
            .collect::<Vec<u8>>(),
    )
    .ok();
    let body: Box<Body> = Box::new(Box::new(move || {
        if let Some(name) = name {
            // SAFETY: names the calling thread with a NUL-terminated string of at most
            // 15 bytes. Naming is best effort.
            unsafe { libc::pthread_setname_np(libc::pthread_self(), name.as_ptr()) };
        }
        body()
    }));
    let raw = Box::into_raw(body);
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut id: libc::pthread_t = 0;
    // SAFETY: attr is initialized by pthread_attr_init before any other use and
    // destroyed once; `raw` is handed to the new thread, which owns it from its first
    // instruction, or taken back here if the thread could not be made.
    let rc = unsafe {
        let rc = libc::pthread_attr_init(attr.as_mut_ptr());
        if rc != 0 {
            drop(Box::from_raw(raw));
            return Err(io::Error::from_raw_os_error(rc));
        }
        if stack_size != 0 {
            let size = stack_size.max(libc::PTHREAD_STACK_MIN);
            libc::pthread_attr_setstacksize(attr.as_mut_ptr(), size);
        }
        let rc = libc::pthread_create(&mut id, attr.as_ptr(), thread_main, raw.cast());
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if rc != 0 {
            drop(Box::from_raw(raw));
        }
        rc
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(OsThread { id, joined: false })
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Box<Body>` that `spawn` leaked for this thread alone.
    let body = unsafe { Box::from_raw(arg.cast::<Body>()) };
    let _ = catch_unwind(AssertUnwindSafe(*body));
    std::ptr::null_mut()
}

impl OsThread {
    /// This thread's identity.
    pub(crate) fn id(&self) -> ThreadId {
        ThreadId(self.id)
    }

    /// Waits for the thread to end. Must not be called on the thread itself.
    pub(crate) fn join(mut self) {
        debug_assert!(self.id() != current(), "a thread cannot join itself");
        self.joined = true;
        // SAFETY: the thread was neither joined nor detached (`joined` guards both, and
        // `self` is consumed).
        unsafe { libc::pthread_join(self.id, std::ptr::null_mut()) };
    }
}

impl Drop for OsThread {
    fn drop(&mut self) {
        if !self.joined {
            // SAFETY: as in `join`: a thread neither joined nor detached yet.
            unsafe { libc::pthread_detach(self.id) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_spawned_thread_runs_its_body_under_its_name_and_is_joined() {
        let (tx, rx) = mpsc::channel();
        let t = spawn("tapir-test-thread-long-name", 256 * 1024, move || {
            tx.send((current_name(), current())).unwrap();
        })
        .expect("spawn");
        let id = t.id();
        t.join();
        let (name, seen) = rx.recv().unwrap();
        assert_eq!(
            name.as_deref(),
            Some("tapir-test-thre"),
            "cut to the 15 bytes Linux keeps"
        );
        assert_eq!(seen, id);
        assert_ne!(id, current());
    }

    #[test]
    fn a_panicking_body_ends_only_its_thread() {
        let t = spawn("tapir-panics", 0, || panic!("expected by the test")).expect("spawn");
        t.join();
    }
}
