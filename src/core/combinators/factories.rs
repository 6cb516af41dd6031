//! Combinators over task factories: RetryOnFault, NeedOnlyOne and the throttled
//! for-each. A factory returns a new task reference that tapir takes over (NULL or an
//! invalid handle counts as a failed attempt); its user data is destroyed exactly once,
//! when the combinator no longer needs it.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::core::callback::UserData;
use crate::core::cancel::TokenRef;
use crate::core::memory::Handle;
use crate::core::status::{Result, Status};
use crate::core::task::Final;
use crate::core::task::abandon::{Abandoned, Hook};
use crate::core::task::complete;
use crate::core::task::continuation::{Action, Combinator, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::{SourceRef, TaskRef};

use super::when_all::failure_of;

/// `tapir_task_factory_fn`: returns a new task reference (tapir takes it), or NULL.
pub type FactoryFn = unsafe extern "C" fn(user_data: *mut c_void, index: u32) -> *const c_void;
/// `tapir_cancelable_factory_fn`: as FactoryFn, with a token to observe (borrowed).
pub type CancelableFactoryFn =
    unsafe extern "C" fn(user_data: *mut c_void, index: u32, token: *const c_void) -> *const c_void;

/// Takes over the task reference a factory returned; None for NULL or a handle that is
/// not a live task.
fn adopt(p: *const c_void) -> Option<TaskRef> {
    let h = Handle::from_bits(p as usize as u64)?;
    let r = TaskRef::pin(h).ok()?;
    let _ = ops::task_release(h);
    Some(r)
}

fn factory_failed() -> Outcome {
    Outcome::library_error(Status::InvalidState, "the task factory returned no task")
}

/// Runs `then` inline once `t` has completed (now, through the trampoline, if it has;
/// `inline_ok` false keeps user continuations off this thread then).
fn on_done(t: &TaskRef, inline_ok: bool, then: impl FnOnce(&Antecedent) + Send + 'static) {
    let cont = Continuation::internal(Action::Internal(Internal::from_fn(then)));
    let placed = list::register_in(Target::Held(t), cont, Want::Nothing, inline_ok);
    debug_assert!(placed.is_ok(), "a held task accepts registrations");
}

struct Retry {
    factory: FactoryFn,
    gate: Option<FactoryFn>,
    data: UserData,
    max_tries: u32,
    source: SourceRef,
}

// SAFETY: `data` is the caller's user_data, which the C contract makes usable from any
// thread; the function pointers are plain code pointers.
unsafe impl Sync for Retry {}

impl Retry {
    fn attempt(self: Arc<Self>, i: u32, inline_ok: bool) {
        // SAFETY: the caller's factory, called with its user_data from any thread.
        let Some(t) = adopt(unsafe { (self.factory)(self.data.ptr(), i) }) else {
            self.source.try_complete(factory_failed(), inline_ok);
            return;
        };
        let me = self.clone();
        on_done(&t, inline_ok, move |ant| me.after(i, ant));
    }

    fn after(self: Arc<Self>, i: u32, ant: &Antecedent) {
        if ant.status == Final::Succeeded || i + 1 >= self.max_tries {
            self.source
                .try_complete(ant.shared_outcome(), ant.inline_ok);
            return;
        }
        ant.mark_observed(); // a retried failure is handled, not lost
        let inline_ok = ant.inline_ok;
        let Some(gate) = self.gate else {
            return self.attempt(i + 1, inline_ok);
        };
        // SAFETY: as in `attempt`.
        let Some(g) = adopt(unsafe { gate(self.data.ptr(), i) }) else {
            return self.attempt(i + 1, inline_ok);
        };
        let me = self.clone();
        on_done(&g, inline_ok, move |gant| {
            if gant.status == Final::Succeeded {
                me.attempt(i + 1, gant.inline_ok);
            } else {
                me.source
                    .try_complete(gant.shared_outcome(), gant.inline_ok);
            }
        });
    }
}

/// RetryOnFault: calls `factory(user_data, attempt)` for attempt 0, 1, ... until one
/// succeeds or `max_tries` attempts were made; the result is the last attempt's outcome.
/// With `gate`, `gate(user_data, attempt)` returns a task to wait for between tries (a
/// delay, say); a gate that does not succeed ends the retry with its outcome.
pub fn retry_on_fault(
    factory: FactoryFn,
    gate: Option<FactoryFn>,
    data: UserData,
    max_tries: u32,
) -> Result<Handle> {
    if max_tries == 0 {
        data.give_back();
        return Err(Status::InvalidArgument);
    }
    let (source, out) = SourceRef::new_task(false, 0);
    Arc::new(Retry {
        factory,
        gate,
        data,
        max_tries,
        source,
    })
    .attempt(0, true);
    Ok(out)
}

struct NeedOne {
    won: AtomicBool,
    source: SourceRef,
    token: TokenRef,
    /// A token handle lent to the factories for the combinator's lifetime.
    lent_token: Handle,
}

impl Drop for NeedOne {
    fn drop(&mut self) {
        let _ = crate::core::cancel::source::token_release(self.lent_token);
    }
}

impl Abandoned for NeedOne {
    /// Nothing observes the pending result any more: no one needs a winner, so the
    /// factories' tasks are told to stop as if one had come. Without this, a race
    /// whose every task waits only on the token would never end nor be freed.
    fn abandoned(self: Arc<Self>) {
        if !self.won.swap(true, Ordering::AcqRel) {
            drop(self.token.cancel(false));
        }
    }
}

impl Combinator for NeedOne {
    fn input_completed(self: Arc<Self>, _index: usize, ant: &Antecedent) {
        if self.won.swap(true, Ordering::AcqRel) {
            // A loser: its failure is observed here, never reported as unobserved.
            ant.mark_observed();
            return;
        }
        self.source
            .try_complete(ant.shared_outcome(), ant.inline_ok);
        drop(self.token.cancel(false));
    }
}

/// NeedOnlyOne: calls `factory(user_data, i, token)` for i in 0..count with one shared
/// token; the first task to complete gives the result, the token is canceled right
/// after so the others can stop, and their later failures are observed.
pub fn need_only_one(factory: CancelableFactoryFn, data: UserData, count: u32) -> Result<Handle> {
    if count == 0 {
        data.give_back();
        return Err(Status::InvalidArgument);
    }
    let token = TokenRef::new_source();
    // A call that fails has done nothing: the user data goes back to the caller.
    let lent_token = match token.to_user() {
        Ok(t) => t,
        Err(s) => {
            data.give_back();
            return Err(s);
        }
    };
    let mut out = None;
    let state = Arc::new_cyclic(|me| {
        let (source, task) = SourceRef::new_watched_task(Hook::new(me.clone()));
        out = Some(task);
        NeedOne {
            won: AtomicBool::new(false),
            source,
            token,
            lent_token,
        }
    });
    let out = out.expect("new_cyclic ran the constructor");
    let token_ptr = state.lent_token.as_ptr();
    for i in 0..count {
        // SAFETY: the caller's factory, called with its user_data and a token handle
        // kept valid (lent) for as long as the combinator lives.
        match adopt(unsafe { factory(data.ptr(), i, token_ptr) }) {
            Some(t) => {
                let cont = Continuation::internal(Action::Internal(Internal::from_arc(
                    state.clone(),
                    i as usize,
                )));
                let placed = list::register(Target::Held(&t), cont, Want::Nothing);
                debug_assert!(placed.is_ok(), "a held task accepts registrations");
            }
            None => {
                if !state.won.swap(true, Ordering::AcqRel) {
                    state.source.try_complete(factory_failed(), true);
                    drop(state.token.cancel(false));
                }
            }
        }
    }
    drop(data);
    Ok(out)
}

struct Throttle {
    factory: FactoryFn,
    data: UserData,
    count: u32,
    next: AtomicUsize,
    remaining: AtomicUsize,
    /// Per index: the bits of a reference to its completed task (0 until then).
    done: Box<[AtomicU64]>,
    source: SourceRef,
}

// SAFETY: as for Retry.
unsafe impl Sync for Throttle {}

impl Throttle {
    fn start_next(self: &Arc<Self>, inline_ok: bool) {
        // Relaxed: each starter only needs a distinct index.
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.count as usize {
            return;
        }
        // SAFETY: the caller's factory, called with its user_data from any thread.
        let t = adopt(unsafe { (self.factory)(self.data.ptr(), i as u32) }).unwrap_or_else(|| {
            let failed = complete::new_completed(factory_failed());
            let r = TaskRef::pin(failed).expect("a new task is valid");
            let _ = ops::task_release(failed);
            r
        });
        let me = self.clone();
        on_done(&t, inline_ok, move |ant| {
            // Relaxed: read by the thread that takes `remaining` to zero (AcqRel).
            me.done[i].store(TaskRef::from_alive(ant).into_bits(), Ordering::Relaxed);
            me.start_next(ant.inline_ok);
            // AcqRel: the last completion sees every index's task.
            if me.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                me.finish(ant.inline_ok);
            }
        });
    }

    fn finish(&self, inline_ok: bool) {
        let kept: Vec<u64> = self
            .done
            .iter()
            .map(|d| d.swap(0, Ordering::Relaxed))
            .collect();
        let outcome =
            failure_of(kept.iter().copied().filter(|&k| k != 0)).unwrap_or(Outcome::value(0));
        for k in kept.into_iter().filter(|&k| k != 0) {
            drop(TaskRef::from_bits(k));
        }
        self.source.try_complete(outcome, inline_ok);
    }
}

/// Runs `factory(user_data, i)` for i in 0..count with at most `max_in_flight` of the
/// returned tasks pending at once; the result succeeds (value NULL) when all succeeded,
/// else faults with every error in index order, else is canceled.
pub fn for_each_throttled(
    factory: FactoryFn,
    data: UserData,
    count: u32,
    max_in_flight: u32,
) -> Result<Handle> {
    if max_in_flight == 0 {
        data.give_back();
        return Err(Status::InvalidArgument);
    }
    if count == 0 {
        drop(data);
        return Ok(complete::new_completed(Outcome::value(0)));
    }
    let (source, out) = SourceRef::new_task(false, 0);
    let state = Arc::new(Throttle {
        factory,
        data,
        count,
        next: AtomicUsize::new(0),
        remaining: AtomicUsize::new(count as usize),
        done: (0..count).map(|_| AtomicU64::new(0)).collect(),
        source,
    });
    for _ in 0..max_in_flight.min(count) {
        state.start_next(true);
    }
    Ok(out)
}
