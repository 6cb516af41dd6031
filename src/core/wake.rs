//! A file descriptor that is readable while something is waiting: the wake-up a host's
//! event loop (epoll, kqueue, libuv, an engine's loop) sleeps on. An eventfd on Linux,
//! a pipe elsewhere.

use std::io;
use std::os::fd::RawFd;

/// A non-blocking, close-on-exec signal descriptor, closed on drop.
pub(crate) struct WakeFd {
    /// The end the host waits on.
    read: RawFd,
    /// The end a signal is written to (the same descriptor for an eventfd).
    write: RawFd,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl WakeFd {
    #[cfg(target_os = "linux")]
    pub(crate) fn new() -> io::Result<WakeFd> {
        // SAFETY: eventfd takes no pointers; a negative result is an error.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(WakeFd {
            read: fd,
            write: fd,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new() -> io::Result<WakeFd> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
        for fd in fds {
            // SAFETY: fcntl on descriptors this call owns.
            unsafe {
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(WakeFd {
            read: fds[0],
            write: fds[1],
        })
    }

    /// The descriptor to wait on (owned here: the host must not read or close it).
    pub(crate) fn fd(&self) -> RawFd {
        self.read
    }

    /// Makes the descriptor readable (idempotent enough: repeated signals before a
    /// clear only add to a counter or a few pipe bytes).
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to a descriptor owned here. A full
        // pipe or counter (EAGAIN) means it is readable already.
        unsafe { libc::write(self.write, (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor unreadable again, draining what signals left.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a live buffer of the given length from a non-blocking
            // descriptor owned here.
            let n = unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || self.read == self.write {
                break; // empty (EAGAIN), or an eventfd, which one read resets
            }
        }
    }
}

impl Drop for WakeFd {
    fn drop(&mut self) {
        // SAFETY: the descriptors are owned here and closed once.
        unsafe {
            libc::close(self.read);
            if self.write != self.read {
                libc::close(self.write);
            }
        }
    }
}
