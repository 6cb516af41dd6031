//! [`Cache<K, V>`](Cache): the single-flight asynchronous cache (AsyncCache).
//!
//! The core cache calls one factory function, the one it was made with, on the
//! thread of the `get` that missed, before that `get` returns. The Rust cache makes
//! every core cache with the same trampoline and passes each call's own factory to it
//! through a thread-local slot set around the core call: the trampoline takes the
//! slot's factory (so a nested `get_async` inside a factory sets its own), and the
//! slot is restored when the call returns, also on a panic.

use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::core::callback::UserData;
use crate::core::memory::Handle;
use crate::core::primitives::cache::{self as core_cache, Config};
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;

use super::super::error::panicked;
use super::super::task::Task;
use super::{retained, task_of};

/// A call's factory, type-erased: makes the entry's task and returns its handle (+1).
type Factory<'a> = &'a mut dyn FnMut() -> Handle;

thread_local! {
    // The factory of the `get_async` in progress on this thread: a pointer to a
    // `Factory` on that call's stack, or null. A plain `Cell` of a raw pointer: a
    // thread-local that needs dropping would register a destructor on the host's
    // thread, which keeps the library from being unloaded.
    static FACTORY: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// Puts the previous factory back when a `get_async` returns (or unwinds).
struct Restore(*mut c_void);

impl Drop for Restore {
    fn drop(&mut self) {
        FACTORY.set(self.0);
    }
}

/// The core cache's factory: runs the factory of the `get_async` that missed (on its
/// thread, inside the core call). Without one (the cache reached from C, which cannot
/// pass a Rust factory) there is no task, and the entry fails with an error of code
/// [`Status::InvalidState`](crate::Status::InvalidState).
unsafe extern "C" fn factory_tramp(
    _data: *mut c_void,
    _key: *const u8,
    _len: usize,
) -> *const c_void {
    let f = FACTORY.replace(std::ptr::null_mut());
    if f.is_null() {
        return std::ptr::null();
    }
    // SAFETY: set by `get_async` on this thread to a `Factory` that lives on its stack
    // for the whole core call, which is the one running now; taken (nulled) above, so
    // it runs at most once.
    let f = unsafe { &mut *f.cast::<Factory<'_>>() };
    f().bits() as usize as *const c_void
}

/// How a [`Cache`] is made: whether failed entries are kept, and a capacity.
///
/// ```
/// let options = tapir::CacheOptions::new().capacity(100).keep_failures(true);
/// let cache: tapir::Cache<str, u32> = tapir::Cache::with_options(&options);
/// # drop(cache);
/// ```
#[derive(Clone, Debug, Default)]
pub struct CacheOptions {
    keep_failures: bool,
    capacity: Option<usize>,
}

impl CacheOptions {
    /// The defaults: failed entries evicted, unbounded.
    ///
    /// ```
    /// let _ = tapir::CacheOptions::new();
    /// ```
    pub fn new() -> CacheOptions {
        CacheOptions::default()
    }

    /// Keep faulted and canceled entries (by default they are evicted when they
    /// complete, so the next get retries).
    ///
    /// ```
    /// let _ = tapir::CacheOptions::new().keep_failures(true);
    /// ```
    pub fn keep_failures(mut self, keep: bool) -> CacheOptions {
        self.keep_failures = keep;
        self
    }

    /// At most `n` entries (at least 1): a new entry past it evicts the least recently
    /// used one.
    ///
    /// ```
    /// let _ = tapir::CacheOptions::new().capacity(10);
    /// ```
    pub fn capacity(mut self, n: usize) -> CacheOptions {
        self.capacity = Some(n);
        self
    }
}

/// A single-flight asynchronous cache (the TPL literature's AsyncCache; an
/// `AsyncLazy` per key): the first [`get_async`](Cache::get_async) of a key runs its
/// factory once, and every get of that key receives the same task until the entry is
/// evicted.
///
/// Keys are bytes: `K` is any `AsRef<[u8]> + ?Sized` (`str`, `[u8]`, `String`,
/// `Vec<u8>`, `[u8; N]`), hashed and compared by its bytes, so two keys with the same
/// bytes are the same key. The factory runs outside every lock, on the thread of the
/// get that missed, and may itself use the cache. A faulted or canceled entry is
/// evicted when it completes, so the next get retries (unless
/// [`CacheOptions::keep_failures`]); with a capacity, the least recently used entry
/// goes first. Evicting an entry never affects its task: callers that hold it keep it.
///
/// `Clone` adds a reference to the same cache; dropping the last one evicts every entry.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use tapir::{Cache, CompletionSource, block_on};
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// let cache: Cache<str, String> = Cache::new();
/// let source = CompletionSource::new();
/// let slow = source.task();
/// let a = cache.get_async("user:1", move |_| { CALLS.fetch_add(1, Ordering::SeqCst); slow });
/// let b = cache.get_async("user:1", |_| unreachable!("single flight: the entry exists"));
/// assert_eq!(a, b, "the same task");
/// source.set_result("Ada".to_string()).unwrap();
/// assert_eq!(block_on(b), Ok("Ada".to_string()));
/// assert_eq!(CALLS.load(Ordering::SeqCst), 1);
/// ```
pub struct Cache<K: ?Sized, V: 'static> {
    handle: Handle,
    /// The cache hands out `Task<V>`s and calls factories of `K`s; it stores neither
    /// (keys are copied as bytes, values live in the tasks).
    _types: PhantomData<fn(&K) -> Task<V>>,
}

impl<K: AsRef<[u8]> + ?Sized, V: Send + Sync + 'static> Cache<K, V> {
    /// An unbounded cache that evicts failed entries.
    ///
    /// ```
    /// let cache = tapir::Cache::<[u8], u64>::new();
    /// assert!(cache.is_empty());
    /// ```
    pub fn new() -> Cache<K, V> {
        Cache::with_options(&CacheOptions::new())
    }

    /// A cache made with `options`.
    ///
    /// ```
    /// let cache = tapir::Cache::<str, u8>::with_options(&tapir::CacheOptions::new().capacity(1));
    /// let _a = cache.get_async("a", |_| tapir::Task::from_result(1));
    /// let _b = cache.get_async("b", |_| tapir::Task::from_result(2));
    /// assert_eq!(cache.len(), 1, "the least recently used entry went");
    /// ```
    pub fn with_options(options: &CacheOptions) -> Cache<K, V> {
        let config = Config {
            factory: factory_tramp,
            hash: None,
            equal: None,
            data: UserData::new(std::ptr::null_mut(), None),
            keep_failures: options.keep_failures,
            capacity: options.capacity,
        };
        Cache {
            handle: core_cache::new(config),
            _types: PhantomData,
        }
    }

    /// The task of `key` (GetAsync / GetOrAdd): the entry's task when the key has one;
    /// otherwise `factory(key)` runs now, on this thread (outside every lock), and the
    /// entry's task completes as the task it returns does. Every caller of one key
    /// receives the same task (a proxy of the factory's). A panic in `factory` fails
    /// the entry with an error of code [`Status::Panic`](crate::Status::Panic) (and
    /// evicts it, unless failures are kept).
    ///
    /// ```
    /// use tapir::{Cache, Error, Task};
    /// let cache: Cache<str, u32> = Cache::new();
    /// let failed = cache.get_async("k", |_| Task::from_error(Error::new(1, "down")));
    /// assert!(failed.wait().is_err());
    /// // The failed entry was evicted: the next get runs its factory.
    /// assert_eq!(cache.get_async("k", |_| Task::from_result(7)).wait(), Ok(7));
    /// ```
    pub fn get_async(&self, key: &K, factory: impl FnOnce(&K) -> Task<V>) -> Task<V> {
        let mut factory = Some(factory);
        let mut call = || -> Handle {
            let f = factory
                .take()
                .expect("the core runs a factory once per get");
            let made = catch_unwind(AssertUnwindSafe(|| f(key))).unwrap_or_else(|p| {
                Task::from_handle(ops::from_outcome(Outcome::Faulted(vec![panicked(p)])))
            });
            let raw = made.into_raw();
            Handle::from_bits(raw as usize as u64).expect("a task has a handle")
        };
        let mut erased: Factory<'_> = &mut call;
        let slot = (&mut erased as *mut Factory<'_>).cast::<c_void>();
        let _restore = Restore(FACTORY.replace(slot));
        task_of(core_cache::get(self.handle, key.as_ref()))
    }

    /// Evicts the entry of `key`; true if there was one. Its task is not affected.
    ///
    /// ```
    /// let cache = tapir::Cache::<str, u8>::new();
    /// let _t = cache.get_async("a", |_| tapir::Task::from_result(1));
    /// assert!(cache.remove("a"));
    /// assert!(!cache.remove("a"));
    /// ```
    pub fn remove(&self, key: &K) -> bool {
        core_cache::remove(self.handle, key.as_ref()).unwrap_or(false)
    }

    /// Evicts every entry.
    ///
    /// ```
    /// let cache = tapir::Cache::<str, u8>::new();
    /// let _t = cache.get_async("a", |_| tapir::Task::from_result(1));
    /// cache.clear();
    /// assert!(cache.is_empty());
    /// ```
    pub fn clear(&self) {
        let _ = core_cache::clear(self.handle);
    }

    /// Entries now (a snapshot).
    ///
    /// ```
    /// let cache = tapir::Cache::<str, u8>::new();
    /// let _t = cache.get_async("a", |_| tapir::Task::from_result(1));
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        core_cache::count(self.handle).unwrap_or(0)
    }

    /// True when the cache has no entry now.
    ///
    /// ```
    /// assert!(tapir::Cache::<str, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: AsRef<[u8]> + ?Sized, V: Send + Sync + 'static> Default for Cache<K, V> {
    fn default() -> Self {
        Cache::new()
    }
}

impl<K: ?Sized, V: 'static> Clone for Cache<K, V> {
    /// Another reference to the same cache.
    fn clone(&self) -> Cache<K, V> {
        retained(core_cache::retain(self.handle));
        Cache {
            handle: self.handle,
            _types: PhantomData,
        }
    }
}

impl<K: ?Sized, V: 'static> Drop for Cache<K, V> {
    fn drop(&mut self) {
        let _ = core_cache::release(self.handle);
    }
}

impl<K: ?Sized, V: 'static> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("len", &core_cache::count(self.handle).unwrap_or(0))
            .finish()
    }
}
