//! The loom shim: the atomics and cells of the lock-free words come from here, so the
//! loom models in `core/tests/` run the very code the library runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, fence};

pub(crate) use std::sync::atomic::Ordering;

/// An `UnsafeCell` whose accesses loom can check (`with` / `with_mut` take closures,
/// as loom's cell does).
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An `UnsafeCell` with loom's closure-based interface.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// A cell holding `value` (as loom's `UnsafeCell::new`).
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }
    /// Reads through a raw pointer; the caller upholds the field's access rule.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    /// Writes through a raw pointer; the caller upholds the field's access rule.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// One step of a spin-wait on a word another thread holds for a few instructions.
/// Under loom it yields to the model's scheduler, which would otherwise explore the
/// spinning thread forever.
#[inline]
pub(crate) fn spin(backoff: &crossbeam_utils::Backoff) {
    #[cfg(loom)]
    {
        let _ = backoff;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    backoff.snooze();
}

// ---- locks ----
//
// tapir's locks are std's (futex-based on Linux) behind parking_lot's shape: no
// poisoning, and a condition variable that waits on `&mut guard`. parking_lot itself is
// not used: the first time a thread blocks on one of its locks it keeps per-thread data
// with a thread-local destructor, and under glibc a registered thread-local destructor
// keeps the library mapped, so a host whose thread once waited on a tapir lock could
// never unload tapir (see `core::thread`). A panic while a lock is held (a bug: no user
// code runs under a tapir lock) leaves the data as it was, which is what parking_lot
// gave too.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A mutual-exclusion lock without poisoning.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of a [`Mutex`]; the lock is held while it lives.
pub(crate) struct MutexGuard<'a, T: ?Sized + 'a>(Option<std::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub(crate) const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is free, then holds it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl<T: ?Sized> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
            .as_deref()
            .expect("a guard holds its lock except inside Condvar::wait")
    }
}

impl<T: ?Sized> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0
            .as_deref_mut()
            .expect("a guard holds its lock except inside Condvar::wait")
    }
}

/// A condition variable for [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar(std::sync::Condvar);

impl Condvar {
    /// A condition variable nobody waits on.
    pub(crate) const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    /// Releases the guard's lock, waits for a notification (or a spurious wake-up), and
    /// takes the lock again.
    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let held = guard.0.take().expect("the guard holds its lock");
        guard.0 = Some(self.0.wait(held).unwrap_or_else(PoisonError::into_inner));
    }

    /// As [`Condvar::wait`], for at most `timeout`.
    pub(crate) fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) {
        let held = guard.0.take().expect("the guard holds its lock");
        let (held, _) = self
            .0
            .wait_timeout(held, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        guard.0 = Some(held);
    }

    /// As [`Condvar::wait`], until `deadline` at the latest.
    pub(crate) fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.wait_for(guard, timeout);
    }

    /// Wakes one waiter.
    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A reader-writer lock without poisoning.
#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub(crate) const fn new(value: T) -> RwLock<T> {
        RwLock(std::sync::RwLock::new(value))
    }

    /// Shared access.
    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exclusive access.
    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}
