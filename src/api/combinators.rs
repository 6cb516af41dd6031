//! Composition: [`run`], [`delay`], [`when_all`], [`when_all_settled`], [`when_any`],
//! [`timeout`], [`interleaved`], [`retry_on_fault`], [`need_only_one`],
//! [`for_each_throttled`] and [`yield_now`].

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::combinators::{self, AllMode};
use crate::core::memory::Handle;
use crate::core::task::Final;
use crate::core::task::continuation::{Action, Continuation, Internal};
use crate::core::task::list::{self, Target, Want};
use crate::core::task::ops;
use crate::core::task::outcome::{Antecedent, Outcome};
use crate::core::task::refs::SourceRef;
use crate::core::time;

use super::cancel::{CancellationSource, CancellationToken};
use super::error::{Error, panicked};
use super::scheduler::Scheduler;
use super::task::{Task, complete_source, drop_box};
use super::value;

fn handles<T>(tasks: &[Task<T>]) -> Vec<Handle> {
    tasks.iter().map(Task::handle).collect()
}

/// A task derived from the task `h` (which this adopts, +1): when `h` completes, `f`
/// turns its outcome into the new task's. The new task's producer is a library
/// reference, so if `h` can never complete the new task waits for ever, as any
/// continuation of such a task does.
pub(crate) fn derive<U: 'static>(
    h: Handle,
    f: impl FnOnce(&Antecedent) -> Outcome + Send + 'static,
) -> Task<U> {
    let (source, out) = SourceRef::new_task(false, 0);
    let cont = Continuation::internal(Action::Internal(Internal::from_fn(move |ant| {
        let outcome = f(ant);
        source.try_complete(outcome, ant.inline_ok);
    })));
    let placed = list::register(Target::User(h), cont, Want::Nothing);
    debug_assert!(
        placed.is_ok(),
        "a task this call owns accepts registrations"
    );
    let _ = ops::task_release(h);
    Task::from_handle(out)
}

fn value_outcome<U: 'static>(v: U) -> Outcome {
    let (value, destroy) = value::encode(v);
    Outcome::Value { value, destroy }
}

/// Runs `f` on the default pool and returns its task (Task.Run). A panic in `f` fails
/// the task with an error of code [`Status::Panic`](crate::Status::Panic).
///
/// ```
/// let t = tapir::run(|| (1..=10).sum::<u32>());
/// assert_eq!(t.wait(), Ok(55));
/// ```
pub fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Task<T> {
    run_impl(None, None, move || Ok(f()))
}

/// Runs `f` on `scheduler` (Task.Run / TaskFactory.StartNew with a scheduler). If
/// `token` is canceled before `f` starts, the task ends canceled and `f` never runs.
/// `f` returning `Err` faults the task (cancels it for a canceled error that carries
/// `token`, as the TPL acknowledges an OperationCanceledException with the run's own
/// token; any other canceled error faults it).
///
/// ```
/// use tapir::{CancellationSource, Scheduler};
/// let cts = CancellationSource::new();
/// cts.cancel().unwrap();
/// let t = tapir::run_on(&Scheduler::pool(), Some(&cts.token()), || unreachable!());
/// assert!(t.wait().unwrap_err().is_canceled());
/// ```
pub fn run_on<T: Send + 'static>(
    scheduler: &Scheduler,
    token: Option<&CancellationToken>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Task<T> {
    run_impl(Some(scheduler), token, move || Ok(f()))
}

/// As [`run_on`], for a body that can fail.
///
/// ```
/// let t = tapir::try_run_on(&tapir::Scheduler::pool(), None, || "x".parse::<u8>().map_err(|e| tapir::Error::new(1, e.to_string())));
/// assert_eq!(t.wait().unwrap_err().code(), 1);
/// ```
pub fn try_run_on<T: Send + 'static>(
    scheduler: &Scheduler,
    token: Option<&CancellationToken>,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Task<T> {
    run_impl(Some(scheduler), token, f)
}

fn run_impl<T: Send + 'static, F: FnOnce() -> Result<T, Error> + Send + 'static>(
    scheduler: Option<&Scheduler>,
    token: Option<&CancellationToken>,
    f: F,
) -> Task<T> {
    let data = Box::into_raw(Box::new(Some(f)));
    let ud = UserData::new(data.cast(), Some(drop_box::<Option<F>> as DestroyFn));
    let h = combinators::run(
        scheduler.map(Scheduler::sched_ref),
        run_tramp::<T, F>,
        ud,
        token.map(CancellationToken::token_ref),
    );
    Task::from_handle(h)
}

unsafe extern "C" fn run_tramp<T: 'static, F: FnOnce() -> Result<T, Error> + Send>(
    data: *mut c_void,
    source: *const c_void,
) {
    // SAFETY: `data` is the Box<Option<F>> given with this trampoline; the body runs at
    // most once and its destroy frees the box afterwards.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    let Some(f) = slot.take() else { return };
    let source = Handle::from_bits(source as usize as u64).expect("a lent source handle");
    complete_source::<T>(source, catch_unwind(AssertUnwindSafe(f)));
}

/// A task that succeeds after `delay` (Task.Delay); never early. Its completion runs on
/// the default pool, never on the timer thread.
///
/// ```
/// let t = tapir::delay(std::time::Duration::from_millis(1));
/// assert_eq!(t.wait(), Ok(()));
/// ```
pub fn delay(delay: Duration) -> Task<()> {
    Task::from_handle(time::delay(time::After::Time(delay), None))
}

/// As [`delay`], ending canceled as soon as `token` is (Task.Delay(delay, token)).
///
/// ```
/// let cts = tapir::CancellationSource::new();
/// let t = tapir::delay_with(std::time::Duration::from_secs(3600), &cts.token());
/// cts.cancel().unwrap();
/// assert!(t.wait().unwrap_err().is_canceled());
/// ```
pub fn delay_with(delay: Duration, token: &CancellationToken) -> Task<()> {
    Task::from_handle(time::delay(
        time::After::Time(delay),
        Some(token.token_ref()),
    ))
}

/// A task that completes as `task` does, or fails with an error of code
/// [`Status::Timeout`](crate::Status::Timeout) after `limit` (Task.WaitAsync); `task`
/// itself is not affected. The same as [`Task::with_timeout`].
///
/// ```
/// use std::time::Duration;
/// let quick = tapir::timeout(&tapir::Task::from_result(1u8), Duration::from_secs(60));
/// assert_eq!(quick.wait(), Ok(1));
/// ```
pub fn timeout<T: 'static>(task: &Task<T>, limit: Duration) -> Task<T> {
    task.with_timeout(limit)
}

/// A task that completes asynchronously on the scheduler running the caller (the
/// default pool when there is none), as `await Task.Yield()` does.
///
/// ```
/// assert_eq!(tapir::yield_now().wait(), Ok(()));
/// ```
pub fn yield_now() -> Task<()> {
    Task::from_handle(combinators::yield_now())
}

/// A task that completes when all of `tasks` have (Task.WhenAll): their values in
/// input order; or, if any faulted, every input's errors in input order (whatever the
/// completion order); else, if any was canceled, canceled. Empty input succeeds at once.
///
/// ```
/// use tapir::{Task, when_all};
/// let t = when_all(&[tapir::run(|| 1), Task::from_result(2), tapir::run(|| 3)]);
/// assert_eq!(t.wait(), Ok(vec![1, 2, 3]));
/// ```
pub fn when_all<T: Clone + Send + Sync + 'static>(tasks: &[Task<T>]) -> Task<Vec<T>> {
    let n = tasks.len();
    let all = combinators::when_all(&handles(tasks), AllMode::All).expect("valid handles");
    derive(all, move |ant| match ant.status {
        Final::Succeeded => {
            let slots = ant.value() as *const usize;
            let values: Vec<T> = (0..n)
                // SAFETY: a when_all value is `n` slots holding the inputs' values, kept
                // valid by the when_all task, which the runner keeps alive; each input
                // stored its value as T travels.
                .map(|i| unsafe { value::decode::<T>(*slots.add(i)) })
                .collect();
            value_outcome(values)
        }
        _ => ant.shared_outcome(),
    })
}

/// A task that succeeds once every one of `tasks` has completed, whatever their
/// outcomes (Promise.allSettled): the inputs, to inspect one by one.
///
/// ```
/// use tapir::{Error, Task, TaskStatus, when_all_settled};
/// let done = when_all_settled(&[Task::from_result(1u8), Task::from_error(Error::new(2, "x"))]).wait().unwrap();
/// let status: Vec<TaskStatus> = done.iter().map(Task::status).collect();
/// assert_eq!(status, [TaskStatus::Succeeded, TaskStatus::Faulted]);
/// ```
pub fn when_all_settled<T: Send + Sync + 'static>(tasks: &[Task<T>]) -> Task<Vec<Task<T>>> {
    let n = tasks.len();
    let all = combinators::when_all(&handles(tasks), AllMode::Settled).expect("valid handles");
    derive(all, move |ant| {
        let slots = ant.value() as *const usize;
        let inputs: Vec<Task<T>> = (0..n)
            .map(|i| {
                // SAFETY: a settled block holds `n` task handles kept valid by the
                // when_all task, which the runner keeps alive.
                let h = Handle::from_bits(unsafe { *slots.add(i) } as u64).expect("a handle");
                ops::task_retain(h).expect("kept alive by the block");
                Task::from_handle(h)
            })
            .collect();
        value_outcome(inputs)
    })
}

/// A task that succeeds with the index of the first of `tasks` to complete, whatever
/// its outcome (Task.WhenAny); `tasks[index]` is the winner. Among inputs already
/// completed, the first in input order wins. Its registrations on the others are
/// removed when it completes. An empty list gives a task faulted with
/// [`Status::InvalidArgument`](crate::Status::InvalidArgument).
///
/// ```
/// use tapir::{CompletionSource, Task, when_any};
/// let slow = CompletionSource::<u8>::new();
/// let tasks = [slow.task(), Task::from_result(2)];
/// let i = when_any(&tasks).wait().unwrap();
/// assert_eq!((i, tasks[i].wait()), (1, Ok(2)));
/// ```
pub fn when_any<T: 'static>(tasks: &[Task<T>]) -> Task<usize> {
    when_any_impl(tasks, None)
}

/// As [`when_any`], canceling `cancel_on_complete` as soon as the first input
/// completes, before anything waiting on the result runs, so the losers can stop.
pub fn when_any_with<T: 'static>(
    tasks: &[Task<T>],
    cancel_on_complete: &CancellationSource,
) -> Task<usize> {
    when_any_impl(tasks, Some(cancel_on_complete))
}

fn when_any_impl<T: 'static>(
    tasks: &[Task<T>],
    cancel: Option<&CancellationSource>,
) -> Task<usize> {
    let token = cancel.map(CancellationSource::token_ref);
    match combinators::when_any(handles(tasks), token) {
        Ok(h) => Task::from_handle(h),
        Err(s) => Task::from_error(Error::from_status(s)),
    }
}

/// One output task per input; output k completes the way the k-th input to complete
/// did (Interleaved / Task.WhenEach), in O(n) in total.
///
/// ```
/// use tapir::{CompletionSource, interleaved};
/// let (a, b) = (CompletionSource::<&str>::new(), CompletionSource::<&str>::new());
/// let out = interleaved(&[a.task(), b.task()]);
/// b.set_result("b first").unwrap();
/// a.set_result("a second").unwrap();
/// assert_eq!(out[0].wait(), Ok("b first"));
/// assert_eq!(out[1].wait(), Ok("a second"));
/// ```
pub fn interleaved<T: 'static>(tasks: &[Task<T>]) -> Vec<Task<T>> {
    combinators::interleaved(&handles(tasks))
        .expect("valid handles")
        .into_iter()
        .map(Task::from_handle)
        .collect()
}

/// What a factory combinator's closures are given back as.
struct Factories<F, G> {
    factory: F,
    gate: Option<G>,
}

fn task_ptr<T: 'static>(r: std::thread::Result<Task<T>>) -> *const c_void {
    let t = r.unwrap_or_else(|p| {
        Task::from_handle(ops::from_outcome(Outcome::Faulted(vec![panicked(p)])))
    });
    t.into_raw().cast()
}

unsafe extern "C" fn factory_tramp<T: 'static, F: Fn(u32) -> Task<T>, G>(
    data: *mut c_void,
    index: u32,
) -> *const c_void {
    // SAFETY: `data` is the Box<Factories<F, G>> given with this trampoline, alive until
    // its destroy, which runs after the last call.
    let me = unsafe { &*data.cast::<Factories<F, G>>() };
    task_ptr(catch_unwind(AssertUnwindSafe(|| (me.factory)(index))))
}

unsafe extern "C" fn gate_tramp<F, G: Fn(u32) -> Task<()>>(
    data: *mut c_void,
    index: u32,
) -> *const c_void {
    // SAFETY: as in `factory_tramp`.
    let me = unsafe { &*data.cast::<Factories<F, G>>() };
    let gate = me.gate.as_ref().expect("registered only with a gate");
    task_ptr(catch_unwind(AssertUnwindSafe(|| gate(index))))
}

/// RetryOnFault: calls `factory(attempt)` for attempt 0, 1, … — each after the previous
/// attempt's task completed — until one succeeds or `max_tries` attempts were made;
/// the result completes as the last attempt did. With `gate`, `gate(attempt)` gives a
/// task to wait for between tries (a [`delay`], say); a gate that does not succeed
/// ends the retry with its outcome. `max_tries` 0 gives a task faulted with
/// [`Status::InvalidArgument`](crate::Status::InvalidArgument). A panicking closure
/// counts as a failed attempt (an error of code [`Status::Panic`](crate::Status::Panic)).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use tapir::{Error, Task};
/// static CALLS: AtomicU32 = AtomicU32::new(0);
/// let t = tapir::retry_on_fault(5, |i| {
///     CALLS.fetch_add(1, Ordering::SeqCst);
///     if i < 2 { Task::from_error(Error::new(1, "flaky")) } else { Task::from_result(i) }
/// }, None::<fn(u32) -> Task<()>>);
/// assert_eq!(t.wait(), Ok(2));
/// assert_eq!(CALLS.load(Ordering::SeqCst), 3);
/// ```
pub fn retry_on_fault<T, F, G>(max_tries: u32, factory: F, gate: Option<G>) -> Task<T>
where
    T: 'static,
    F: Fn(u32) -> Task<T> + Send + Sync + 'static,
    G: Fn(u32) -> Task<()> + Send + Sync + 'static,
{
    if max_tries == 0 {
        return Task::from_error(Error::from_status(crate::Status::InvalidArgument));
    }
    let has_gate = gate.is_some();
    let data = Box::into_raw(Box::new(Factories { factory, gate }));
    let ud = UserData::new(data.cast(), Some(drop_box::<Factories<F, G>> as DestroyFn));
    let gate_fn = has_gate.then_some(gate_tramp::<F, G> as combinators::FactoryFn);
    // Checked above: the only refusal (max_tries 0) cannot happen here.
    let h = combinators::retry_on_fault(factory_tramp::<T, F, G>, gate_fn, ud, max_tries)
        .expect("max_tries > 0");
    Task::from_handle(h)
}

unsafe extern "C" fn cancelable_tramp<T: 'static, F: Fn(u32, &CancellationToken) -> Task<T>>(
    data: *mut c_void,
    index: u32,
    token: *const c_void,
) -> *const c_void {
    // SAFETY: `data` is the Box<F> given with this trampoline, alive until its destroy.
    let f = unsafe { &*data.cast::<F>() };
    let token = CancellationToken::from_raw_borrowed(token.cast());
    let token = token.unwrap_or_else(CancellationToken::none);
    task_ptr(catch_unwind(AssertUnwindSafe(|| f(index, &token))))
}

/// NeedOnlyOne: calls `factory(i, &token)` for i in 0..count, all sharing one token;
/// the first task to complete gives the result, and the token is canceled right after
/// so the others can stop (their later failures count as observed). `count` 0 gives a
/// task faulted with [`Status::InvalidArgument`](crate::Status::InvalidArgument).
///
/// ```
/// use tapir::{CompletionSource, Task};
/// let never = CompletionSource::<u8>::new();
/// let t = tapir::need_only_one(2, move |i, token| {
///     if i == 0 { never.task().with_cancellation(token) } else { Task::from_result(9) }
/// });
/// assert_eq!(t.wait(), Ok(9));
/// ```
pub fn need_only_one<T, F>(count: u32, factory: F) -> Task<T>
where
    T: 'static,
    F: Fn(u32, &CancellationToken) -> Task<T> + Send + Sync + 'static,
{
    if count == 0 {
        return Task::from_error(Error::from_status(crate::Status::InvalidArgument));
    }
    let data = Box::into_raw(Box::new(factory));
    let ud = UserData::new(data.cast(), Some(drop_box::<F> as DestroyFn));
    match combinators::need_only_one(cancelable_tramp::<T, F>, ud, count) {
        Ok(h) => Task::from_handle(h),
        Err(s) => {
            // SAFETY: a call that fails gives the user data back untouched: the box made
            // above is this function's again, and nothing else refers to it.
            drop(unsafe { Box::from_raw(data) });
            Task::from_error(Error::from_status(s))
        }
    }
}

/// Runs `body(i)` for i in 0..count with at most `max_in_flight` of the returned tasks
/// pending at once, starting the next as each completes; the result succeeds when all
/// succeeded, else faults with every error in index order, else ends canceled.
/// `max_in_flight` 0 gives a task faulted with
/// [`Status::InvalidArgument`](crate::Status::InvalidArgument).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static DONE: AtomicU32 = AtomicU32::new(0);
/// let t = tapir::for_each_throttled(10, 3, |_| tapir::run(|| { DONE.fetch_add(1, Ordering::SeqCst); }));
/// assert_eq!(t.wait(), Ok(()));
/// assert_eq!(DONE.load(Ordering::SeqCst), 10);
/// ```
pub fn for_each_throttled<U, F>(count: u32, max_in_flight: u32, body: F) -> Task<()>
where
    U: 'static,
    F: Fn(u32) -> Task<U> + Send + Sync + 'static,
{
    if max_in_flight == 0 {
        return Task::from_error(Error::from_status(crate::Status::InvalidArgument));
    }
    let data = Box::into_raw(Box::new(Factories::<F, fn(u32) -> Task<()>> {
        factory: body,
        gate: None,
    }));
    let ud = UserData::new(
        data.cast(),
        Some(drop_box::<Factories<F, fn(u32) -> Task<()>>> as DestroyFn),
    );
    let h = combinators::for_each_throttled(
        factory_tramp::<U, F, fn(u32) -> Task<()>>,
        ud,
        count,
        max_in_flight,
    )
    .expect("max_in_flight > 0");
    Task::from_handle(h)
}
