//! A single-flight asynchronous cache (the TPL literature's AsyncCache): `get(key)`
//! starts the factory once per key and hands every caller the same task.
//!
//! Keys are bytes. By default they are hashed with FNV-1a and compared bytewise; a
//! caller may supply its own hash and equality, which tapir never calls under its
//! lock: a lookup collects the candidates of the key's hash under the lock, compares
//! them with the lock released, and starts over if the cache changed meanwhile.
//!
//! Each entry's task is a proxy tapir completes as the factory's task does, so the
//! factory runs outside every lock and its task may complete at any time. A faulted or
//! canceled entry is evicted when it completes, so the next `get` retries (unless the
//! cache keeps failures). With a capacity, the least recently used entry goes when a
//! new one would pass it; `remove` and `clear` evict explicitly. Evicting an entry never
//! affects its task: callers that hold it keep it.
//!
//! # Lock-free hits
//! A cache with tapir's hash and equality and no capacity also keeps its recently used
//! entries (keys up to [`KEY_MAX`](super::hot::KEY_MAX) bytes) in a small table in its pooled slot
//! ([`hot`](super::hot)): a `get` that finds its key there takes no lock and pins nothing, and only
//! mints a handle of the entry's task (one compare-exchange on the task's word, refused
//! if the task is no longer held; the locked lookup follows then). Under the mutex,
//! every lookup and insertion publishes its entry there and every removal forgets it,
//! so a `get` after a `remove` or `clear` never sees the old entry. A cache with a
//! capacity does not use the table: each hit must refresh the entry's recency.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_void;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::core::sync::Mutex;

use crate::core::callback::UserData;
use crate::core::memory::family::Weak;
use crate::core::memory::{Handle, Kind};
use crate::core::status::{Result, Status};
use crate::core::task::Final;
use crate::core::task::continuation::{Action, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::Outcome;
use crate::core::task::refs::{SourceRef, TaskRef};

use crate::core::memory::cell::{self, Prim, PrimCell, prim_pool};

use super::hot::Hot;

const KINDS: &[Kind] = &[Kind::Cache];

/// `tapir_cache_factory_fn`: returns a new task reference for `key` (tapir takes it),
/// or NULL.
pub type FactoryFn =
    unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, len: usize) -> *const c_void;
/// `tapir_cache_hash_fn`.
pub type HashFn = unsafe extern "C" fn(user_data: *mut c_void, key: *const u8, len: usize) -> u64;
/// `tapir_cache_equal_fn`.
pub type EqualFn = unsafe extern "C" fn(
    user_data: *mut c_void,
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
) -> bool;

/// How a cache is made.
pub struct Config {
    pub factory: FactoryFn,
    pub hash: Option<HashFn>,
    pub equal: Option<EqualFn>,
    pub data: UserData,
    /// Keep faulted and canceled entries (default: evict them so the next get retries).
    pub keep_failures: bool,
    /// At most this many entries (None: unbounded), least recently used evicted first.
    pub capacity: Option<usize>,
}

/// The hash is already mixed: the map uses it as is.
#[derive(Default)]
struct Identity(u64);
impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

struct Entry {
    id: u64,
    key: Arc<[u8]>,
    task: TaskRef,
    tick: u64,
}

#[derive(Default)]
struct Inner {
    /// The lock-free hits' table and this cache's generation (None: the cache does not
    /// use it, see the module docs).
    hot: Option<(&'static Hot, u32)>,
    buckets: HashMap<u64, Vec<Entry>, BuildHasherDefault<Identity>>,
    /// Recency, only with a capacity: tick -> (hash, id).
    lru: BTreeMap<u64, (u64, u64)>,
    count: usize,
    next_id: u64,
    tick: u64,
    /// Bumped by every insertion (a lookup with the lock released starts over if it
    /// changed).
    version: u64,
}

pub(crate) struct Cache {
    config: Config,
    inner: Mutex<Inner>,
}

prim_pool!(Cache, CACHES);

impl Prim for Cache {
    /// The lock-free hits' table (see the module docs).
    type Fast = Hot;
    fn pool() -> &'static crate::core::memory::pool::Pool<PrimCell<Self>> {
        &CACHES
    }
    fn last_user_gone(&self, _fast: &Hot) {
        drop(self.take_all());
    }
    fn retire_fast(&self, fast: &Hot) {
        // The last reference's holder is the only writer now; the generation tags
        // refuse stale handles anyway, this keeps a wrapped generation from matching.
        fast.clear();
    }
}

fn fnv1a(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // A final mix, so the low bits the map uses depend on every byte.
    h ^= h >> 32;
    h.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Inner {
    fn touch(&mut self, capacity: bool, hash: u64, pos: usize) {
        if !capacity {
            return;
        }
        self.tick += 1;
        let tick = self.tick;
        let e = &mut self.buckets.get_mut(&hash).expect("a bucket")[pos];
        let old = std::mem::replace(&mut e.tick, tick);
        let id = e.id;
        self.lru.remove(&old);
        self.lru.insert(tick, (hash, id));
    }

    fn remove_at(&mut self, hash: u64, pos: usize) -> Entry {
        let bucket = self.buckets.get_mut(&hash).expect("a bucket");
        let e = bucket.swap_remove(pos);
        if let Some((hot, _)) = self.hot {
            hot.forget(hash, e.task.handle().bits());
        }
        if bucket.is_empty() {
            self.buckets.remove(&hash);
        }
        self.lru.remove(&e.tick);
        self.count -= 1;
        e
    }

    /// Publishes the entry at `pos` to the lock-free hits' table, if the cache uses it.
    fn publish(&self, hash: u64, pos: usize) {
        if let Some((hot, generation)) = self.hot {
            let e = &self.buckets[&hash][pos];
            hot.publish(generation, hash, &e.key, e.task.handle().bits());
        }
    }

    fn position_of(&self, hash: u64, id: u64) -> Option<usize> {
        self.buckets.get(&hash)?.iter().position(|e| e.id == id)
    }
}

/// An entry's id and key, compared with the lock released.
type Candidate = (u64, Arc<[u8]>);

/// Where a key was found.
enum Found {
    At(usize),
    Missing,
}

impl Cache {
    fn hash(&self, key: &[u8]) -> u64 {
        match self.config.hash {
            // SAFETY: the creator's hash, called outside every lock with its user data
            // and a key borrowed for the call, as tapir_cache_new's contract allows.
            Some(f) => unsafe { f(self.config.data.ptr(), key.as_ptr(), key.len()) },
            None => fnv1a(key),
        }
    }

    fn equal(&self, a: &[u8], b: &[u8]) -> bool {
        match self.config.equal {
            // SAFETY: as in `hash`.
            Some(f) => unsafe {
                f(
                    self.config.data.ptr(),
                    a.as_ptr(),
                    a.len(),
                    b.as_ptr(),
                    b.len(),
                )
            },
            None => a == b,
        }
    }

    /// Runs `act` under the lock on the key's position (or its absence). With a
    /// caller's equality, compares outside the lock and starts over when the cache
    /// changed meanwhile.
    fn locate<R>(&self, key: &[u8], hash: u64, mut act: impl FnMut(&mut Inner, Found) -> R) -> R {
        if self.config.equal.is_none() {
            let mut g = self.inner.lock();
            let found = g
                .buckets
                .get(&hash)
                .and_then(|b| b.iter().position(|e| &*e.key == key));
            return act(&mut g, found.map_or(Found::Missing, Found::At));
        }
        loop {
            let (candidates, version): (Vec<Candidate>, u64) = {
                let g = self.inner.lock();
                let c = g.buckets.get(&hash).map_or_else(Vec::new, |b| {
                    b.iter().map(|e| (e.id, e.key.clone())).collect()
                });
                (c, g.version)
            };
            let hit = candidates
                .iter()
                .find(|(_, k)| self.equal(k, key))
                .map(|(id, _)| *id);
            let mut g = self.inner.lock();
            match hit {
                Some(id) => {
                    if let Some(pos) = g.position_of(hash, id) {
                        return act(&mut g, Found::At(pos));
                    }
                }
                None if g.version == version => {
                    return act(&mut g, Found::Missing);
                }
                None => {}
            }
        }
    }

    fn take_all(&self) -> Vec<Entry> {
        let mut g = self.inner.lock();
        if let Some((hot, _)) = g.hot {
            hot.clear();
        }
        g.lru.clear();
        g.count = 0;
        g.buckets.drain().flat_map(|(_, b)| b).collect()
    }
}

/// A new cache (+1 handle).
pub fn new(config: Config) -> Handle {
    let uses_hot = config.hash.is_none() && config.equal.is_none() && config.capacity.is_none();
    cell::create_in(Kind::Cache, |hot: &'static Hot, generation| Cache {
        config,
        inner: Mutex::new(Inner {
            hot: uses_hot.then_some((hot, generation)),
            ..Inner::default()
        }),
    })
}

/// A lock-free hit: the key's task (+1) from the table in the cache's slot, or None
/// (not there, or its task no longer held: take the locked lookup, which also
/// validates the cache handle).
#[inline]
fn hit(h: Handle, key: &[u8]) -> Option<Handle> {
    let cell = cell::slot::<Cache>(h, KINDS)?;
    let bits = cell.fast().lookup(h.generation(), fnv1a(key), key)?;
    let task = Handle::from_bits(bits)?;
    ops::task_mint_held(task).ok()?;
    Some(task)
}

/// GetAsync: the key's task (+1), starting the factory when the key has none.
pub fn get(h: Handle, key: &[u8]) -> Result<Handle> {
    if let Some(task) = hit(h, key) {
        return Ok(task);
    }
    let p = cell::pin::<Cache>(h, KINDS)?;
    let c = p.get().get();
    let hash = c.hash(key);
    let capacity = c.config.capacity;
    let mut evicted = Vec::new();
    let got = c.locate(key, hash, |g, found| match found {
        Found::At(pos) => {
            g.touch(capacity.is_some(), hash, pos);
            g.publish(hash, pos);
            let e = &g.buckets[&hash][pos];
            e.task.mint_user().map(|h| (h, None))
        }
        Found::Missing => {
            let (source, out) = SourceRef::new_task(false, 0);
            let task = TaskRef::pin(out).expect("a new task's handle is valid");
            g.next_id += 1;
            g.version += 1;
            g.tick += 1;
            let (id, tick) = (g.next_id, g.tick);
            let key: Arc<[u8]> = Arc::from(key);
            g.buckets.entry(hash).or_default().push(Entry {
                id,
                key: key.clone(),
                task: task.clone(),
                tick,
            });
            g.count += 1;
            let pos = g.buckets[&hash].len() - 1;
            g.publish(hash, pos);
            if let Some(cap) = capacity {
                g.lru.insert(tick, (hash, id));
                while g.count > cap.max(1) {
                    let (_, (eh, eid)) = g.lru.pop_first().expect("entries have ticks");
                    let pos = g.position_of(eh, eid).expect("an entry with a tick");
                    let e = g.remove_at(eh, pos);
                    evicted.push(e);
                }
            }
            Ok((out, Some((source, task, id, key))))
        }
    });
    drop(evicted);
    let (out, started) = got?;
    if let Some((source, task, id, key)) = started {
        start(&p, source, task, hash, id, &key);
    }
    Ok(out)
}

/// Starts the factory of a new entry (no lock held): registers the eviction of a
/// failed entry, calls the factory and forwards its task to the entry's proxy.
fn start(
    p: &cell::PrimRef<Cache>,
    source: SourceRef,
    task: TaskRef,
    hash: u64,
    id: u64,
    key: &[u8],
) {
    let c = p.get().get();
    if !c.config.keep_failures {
        let weak: Weak<PrimCell<Cache>> = p.weak();
        let evict = Internal::from_fn(move |ant| {
            if ant.status == Final::Succeeded {
                return;
            }
            if let Some(cache) = weak.upgrade() {
                let gone = {
                    let mut g = cache.get().get().inner.lock();
                    g.position_of(hash, id).map(|pos| g.remove_at(hash, pos))
                };
                drop(gone);
            }
        });
        let cont = Continuation::internal(Action::Internal(evict));
        if let Err((_, cont)) = list::register(Target::Held(&task), cont, Want::Nothing) {
            cont.refuse();
        }
    }
    drop(task);
    // SAFETY: the creator's factory, called outside every lock with its user data and
    // the key borrowed for the call, as tapir_cache_new's contract allows.
    let made = unsafe { (c.config.factory)(c.config.data.ptr(), key.as_ptr(), key.len()) };
    let Some(made) = Handle::from_bits(made as usize as u64) else {
        source.try_complete(no_task(), true);
        return;
    };
    let forward = Continuation::internal(Action::Forward { target: source });
    match list::register(Target::User(made), forward, Want::Nothing) {
        Ok(_) => {
            let _ = ops::task_release(made);
        }
        Err((_, cont)) => {
            if let Action::Forward { target } = cont.action {
                target.try_complete(no_task(), true);
            }
        }
    }
}

fn no_task() -> Outcome {
    Outcome::library_error(
        Status::InvalidState,
        "the cache's factory returned no valid task",
    )
}

/// Evicts the key's entry; true if there was one.
pub fn remove(h: Handle, key: &[u8]) -> Result<bool> {
    let p = cell::pin::<Cache>(h, KINDS)?;
    let c = p.get().get();
    let hash = c.hash(key);
    let gone = c.locate(key, hash, |g, found| match found {
        Found::At(pos) => Some(g.remove_at(hash, pos)),
        Found::Missing => None,
    });
    let removed = gone.is_some();
    drop(gone);
    Ok(removed)
}

/// Evicts every entry.
pub fn clear(h: Handle) -> Result<()> {
    let p = cell::pin::<Cache>(h, KINDS)?;
    drop(p.get().get().take_all());
    Ok(())
}

/// Entries now.
pub fn count(h: Handle) -> Result<usize> {
    let p = cell::pin::<Cache>(h, KINDS)?;
    let n = p.get().get().inner.lock().count;
    Ok(n)
}

pub fn retain(h: Handle) -> Result<()> {
    cell::retain::<Cache>(h, KINDS)
}

pub fn release(h: Handle) -> Result<()> {
    cell::release::<Cache>(h, KINDS)
}
