//! Time and composition: delays, task-level timeouts (WaitAsync), Run and Yield, and the
//! combinators of the founding texts (WhenAll and its variants, WhenAny, Interleaved,
//! RetryOnFault, NeedOnlyOne, the throttled for-each).
//!
//! Every combinator completes a library-owned source. Inputs are observed through
//! [`Action::Combinator`] nodes (one pooled node per input, no heap allocation) or
//! internal closures; timers and tokens name the combinator's state weakly where the
//! state would otherwise keep itself alive through them.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::callback::{DestroyFn, UserData, handle_ptr};
use super::cancel::{self, CancelAction, TokenRef};
use super::continuation::{Action, Combinator, EXECUTE_SYNCHRONOUSLY, NodeSpec};
use super::error::ErrorRef;
use super::pool::Handle;
use super::scheduler::{self, SchedRef, Work};
use super::state::Final;
use super::status::{Result, Status};
use super::task::{self, Outcome, SourceRef, TaskRef};
use super::timer::{self, TimerId};

/// A pending task completed by the first of: a timer, a token, an original task.
struct Race {
    source: SourceRef,
    done: AtomicBool,
    timer: Mutex<Option<TimerId>>,
    /// (weak token handle, registration id)
    token: Mutex<Option<(Handle, u64)>>,
    /// Registration on the original task (WaitAsync).
    original: Mutex<Option<Handle>>,
}

impl Race {
    fn new(source: SourceRef) -> Arc<Race> {
        Arc::new(Race {
            source,
            done: AtomicBool::new(false),
            timer: Mutex::new(None),
            token: Mutex::new(None),
            original: Mutex::new(None),
        })
    }

    /// The first caller completes the task; every path then stops the others at once,
    /// so their memory (timer entry, token registration, node) returns immediately.
    fn finish(&self, outcome: impl FnOnce() -> Outcome) {
        // AcqRel: exactly one path wins.
        if self.done.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(id) = self.timer.lock().take() {
            timer::cancel(id);
        }
        if let Some((token, id)) = self.token.lock().take() {
            cancel::unregister_weak(token, id);
        }
        if let Some(reg) = self.original.lock().take() {
            let _ = task::remove(reg);
            let _ = task::release_registration(reg);
        }
        self.source.try_complete(outcome());
    }

    /// Arms the timer: `outcome` completes the task when it fires. The timer thread
    /// only posts; the completion (and any inline continuation) runs on the pool.
    fn arm_timer(self: &Arc<Self>, delay: Duration, outcome: fn() -> Outcome) {
        let race = self.clone();
        let id = timer::schedule(
            delay,
            Box::new(move || {
                scheduler::post_default(Work::Boxed(Box::new(move || race.finish(outcome))));
            }),
        );
        *self.timer.lock() = Some(id);
        if self.done.load(Ordering::Acquire) {
            if let Some(id) = self.timer.lock().take() {
                timer::cancel(id);
            }
        }
    }

    /// Arms the token: cancellation completes the task canceled with that token.
    fn arm_token(self: &Arc<Self>, token: &TokenRef) {
        let race = self.clone();
        let weak = token.handle();
        let id = token.register(CancelAction::Rust(Box::new(move || {
            race.finish(|| Outcome::Canceled(TokenRef::retain_any(weak).ok()));
        })));
        if let Some(id) = id {
            *self.token.lock() = Some((weak, id));
            if self.done.load(Ordering::Acquire) {
                if let Some((t, id)) = self.token.lock().take() {
                    cancel::unregister_weak(t, id);
                }
            }
        }
    }
}

fn succeeded_with(value: usize) -> Outcome {
    Outcome::Value {
        value,
        destroy: None,
    }
}

fn canceled_by(token: &TokenRef) -> Handle {
    task::completed(Outcome::Canceled(Some(token.clone())), 0, 0)
}

fn pending() -> (SourceRef, Handle) {
    let source = task::new_source(0, 0);
    let task = task::task_of(source.handle()).expect("a new source is live");
    (source, task)
}

/// Task.Delay: succeeds (value NULL) after `delay` (None: never), or ends canceled
/// when `token` fires first. Zero completes at once; a canceled token wins over zero.
pub fn delay(delay: Option<Duration>, token: Option<TokenRef>) -> Handle {
    if let Some(t) = &token {
        if t.is_canceled() {
            return canceled_by(t);
        }
    }
    let cancelable = token
        .as_ref()
        .is_some_and(|t| cancel::can_be_canceled(t.handle()).unwrap_or(false));
    match delay {
        Some(d) if d.is_zero() => task::completed(succeeded_with(0), 0, 0),
        None if !cancelable => task::never(),
        _ => {
            let (source, out) = pending();
            let race = Race::new(source);
            if let Some(d) = delay {
                race.arm_timer(d, || succeeded_with(0));
            }
            if let (Some(t), true) = (&token, cancelable) {
                race.arm_token(t);
            }
            out
        }
    }
}

/// Task.WaitAsync: a task that completes as `original` does, or fails with a
/// TIMEOUT error after `timeout` (None: never), or ends canceled when `token` fires;
/// `original` is never affected. An already-completed original is returned itself.
pub fn wait_async(
    original: Handle,
    timeout: Option<Duration>,
    token: Option<TokenRef>,
) -> Result<Handle> {
    if task::snapshot(original)?.is_completed() {
        task::retain(original)?;
        return Ok(original);
    }
    if let Some(t) = &token {
        if t.is_canceled() {
            return Ok(canceled_by(t));
        }
    }
    fn timed_out() -> Outcome {
        Outcome::library_error(Status::Timeout, "the operation timed out")
    }
    if timeout == Some(Duration::ZERO) {
        return Ok(task::completed(timed_out(), 0, 0));
    }
    let (source, out) = pending();
    let race = Race::new(source);
    let on_original = race.clone();
    let spec = NodeSpec {
        action: Action::Rust(Box::new(move |t| {
            on_original.finish(|| task::forwarded_outcome(t))
        })),
        flags: EXECUTE_SYNCHRONOUSLY,
        scheduler: None,
    };
    if let Some(reg) = task::register(original, spec, true)? {
        *race.original.lock() = Some(reg);
        if race.done.load(Ordering::Acquire) {
            if let Some(reg) = race.original.lock().take() {
                let _ = task::remove(reg);
                let _ = task::release_registration(reg);
            }
        }
    }
    if let Some(d) = timeout {
        race.arm_timer(d, timed_out);
    }
    if let Some(t) = &token {
        race.arm_token(t);
    }
    Ok(out)
}

/// `tapir_run_fn`: the work receives the source of its task and completes it (now, or
/// later after a retain).
pub type RunFn = unsafe extern "C" fn(user_data: *mut c_void, source: *const c_void);

/// Task.Run: posts `f(user_data, source)` to `scheduler` (None: the default pool). A
/// token canceled before the work starts cancels the task at once and the work never
/// runs (its user data is destroyed).
pub fn run(
    scheduler: Option<SchedRef>,
    f: RunFn,
    data: UserData,
    token: Option<TokenRef>,
) -> Handle {
    let (source, out) = pending();
    if let Some(t) = &token {
        if t.is_canceled() {
            source.try_complete(Outcome::Canceled(Some(t.clone())));
            return out;
        }
    }
    let eager = token.as_ref().and_then(|t| {
        let early = source.duplicate();
        let weak = t.handle();
        t.register(CancelAction::Rust(Box::new(move || {
            early.try_complete(Outcome::Canceled(TokenRef::retain_any(weak).ok()));
        })))
        .map(|id| (weak, id))
    });
    // Carried inline in the work item: no heap allocation per job.
    let work = Work::Run(RunItem {
        f,
        data,
        source,
        eager,
    });
    match scheduler {
        Some(s) => s.post(work),
        None => scheduler::post_default(work),
    }
    out
}

/// A queued tapir_run: the work function, its data, the task's source, and the eager
/// cancellation registration to remove when the work starts.
pub(crate) struct RunItem {
    f: RunFn,
    data: UserData,
    source: SourceRef,
    eager: Option<(Handle, u64)>,
}

impl RunItem {
    /// Runs the work unless its token canceled the task first (then `data` is dropped:
    /// destroy runs, the work never does).
    pub(crate) fn run(self) {
        let RunItem {
            f,
            data,
            source,
            eager,
        } = self;
        if let Some((t, id)) = eager {
            cancel::unregister_weak(t, id);
        }
        if task::final_status(source.task_handle()).is_some() {
            return;
        }
        // SAFETY: the caller's work function, called once with its user_data and a
        // source handle that `source` keeps alive for the call.
        unsafe { f(data.ptr(), handle_ptr(source.handle())) };
        drop(data);
        drop(source);
    }
}

/// Task.Yield: a task that completes asynchronously, on the scheduler running the
/// caller (the default pool when there is none).
pub fn yield_now() -> Handle {
    let (source, out) = pending();
    let work = Work::Boxed(Box::new(move || {
        source.try_complete(succeeded_with(0));
    }));
    match scheduler::current_ref() {
        Some(s) => s.post(work),
        None => scheduler::post_default(work),
    }
    out
}

/// The node that tells a combinator its input `index` completed; inline, since it
/// only updates the combinator's state (and completes its task through the usual rules).
fn input_spec(state: Arc<dyn Combinator>, index: usize) -> NodeSpec {
    NodeSpec {
        action: Action::Combinator { state, index },
        flags: EXECUTE_SYNCHRONOUSLY,
        scheduler: None,
    }
}

// ---------------------------------------------------------------------------
// WhenAll and its variants.

/// Which WhenAll.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AllMode {
    /// Succeeds when all succeed; else faults with every error (input order), else cancels.
    All,
    /// Always succeeds once all are done; the value is the array of input tasks.
    Settled,
    /// Faults as soon as one input faults (with its errors); otherwise as `All`.
    FirstException,
}

/// The value of a successful WhenAll: `len` slots, then the handles that keep the
/// slots valid, in one allocation freed by [`free_results`]. The first word holds the
/// length, with the top bit set when the kept handles are user references (the
/// settled variant, whose slots are handles the caller may use).
const USER_REFS: usize = 1 << (usize::BITS - 1);

/// Builds the results block and returns the pointer to its first slot.
fn make_results(slots: Vec<usize>, keep: Vec<Handle>, user_refs: bool) -> usize {
    let len = slots.len();
    let mut block: Vec<usize> = Vec::with_capacity(1 + 2 * len);
    block.push(len | if user_refs { USER_REFS } else { 0 });
    block.extend(slots);
    block.extend(keep.into_iter().map(|h| h.bits() as usize));
    let base = Box::into_raw(block.into_boxed_slice()) as *mut usize;
    // SAFETY: the block has 1 + 2*len elements; slot 0 is the length.
    unsafe { base.add(1) as usize }
}

/// `tapir_destroy_fn` for a results block.
unsafe extern "C" fn free_results(slots: *mut c_void) {
    // SAFETY: `slots` came from make_results: one usize before it is the length word,
    // and the block holds 1 + 2*len elements.
    unsafe {
        let base = (slots as *mut usize).sub(1);
        let len = *base & !USER_REFS;
        let user_refs = *base & USER_REFS != 0;
        let block = Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, 1 + 2 * len));
        for &bits in &block[1 + len..] {
            let h = Handle::from_bits(bits as u64).expect("kept handle is non-zero");
            if user_refs {
                let _ = task::release(h);
            } else {
                drop(TaskRef::from_raw_internal(bits));
            }
        }
    }
}

fn results_outcome(slots: Vec<usize>, keep: Vec<Handle>, user_refs: bool) -> Outcome {
    Outcome::Value {
        value: make_results(slots, keep, user_refs),
        destroy: Some(free_results as DestroyFn),
    }
}

struct AllState {
    mode: AllMode,
    inputs: Vec<TaskRef>,
    remaining: AtomicUsize,
    finished: AtomicBool,
    source: SourceRef,
}

/// The outcome of a group of completed tasks, unless all succeeded: every error in
/// task order (the errors count as observed), else canceled with the first canceled
/// task's token. The WhenAll rule, shared by the throttled loop.
fn failure_of_all<'a>(tasks: impl Iterator<Item = &'a TaskRef>) -> Option<Outcome> {
    let mut errors: Vec<ErrorRef> = Vec::new();
    let mut canceled: Option<Option<TokenRef>> = None;
    for t in tasks {
        match task::final_status(t.handle()) {
            Some(Final::Faulted) => {
                task::mark_observed(t.handle());
                errors.extend(task::errors_of(t.handle()));
            }
            Some(Final::Canceled) if canceled.is_none() => {
                canceled = Some(task::token_of_canceled(t.handle()));
            }
            _ => {}
        }
    }
    if !errors.is_empty() {
        Some(Outcome::Faulted(errors))
    } else {
        canceled.map(Outcome::Canceled)
    }
}

impl AllState {
    fn complete_all(&self) {
        let failure = match self.mode {
            AllMode::Settled => None,
            _ => failure_of_all(self.inputs.iter()),
        };
        // AcqRel: FirstException may have completed already.
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let outcome = if let Some(failure) = failure {
            failure
        } else {
            let slots = self
                .inputs
                .iter()
                .map(|t| match self.mode {
                    AllMode::Settled => t.handle().bits() as usize,
                    _ => task::value_of_completed(t.handle()),
                })
                .collect();
            let settled = self.mode == AllMode::Settled;
            let keep = self
                .inputs
                .iter()
                .map(|t| {
                    if settled {
                        task::lend_forever(t.handle())
                    } else {
                        // An internal reference, released by free_results.
                        let bits = t.clone().into_raw_internal();
                        Handle::from_bits(bits as u64).expect("task handle is non-zero")
                    }
                })
                .collect();
            results_outcome(slots, keep, settled)
        };
        self.source.try_complete(outcome);
    }
}

impl Combinator for AllState {
    fn input_completed(&self, _index: usize, task: Handle) {
        if self.mode == AllMode::FirstException && task::final_status(task) == Some(Final::Faulted)
        {
            task::mark_observed(task);
            if !self.finished.swap(true, Ordering::AcqRel) {
                self.source
                    .try_complete(Outcome::Faulted(task::errors_of(task)));
            }
        }
        // AcqRel: the last input sees every other input's completion.
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.complete_all();
        }
    }
}

/// WhenAll (see [`AllMode`]). The success value is a pointer to `len` slots (values,
/// or input task handles for `Settled`), valid while the task lives. Empty input
/// succeeds at once; duplicates are allowed.
pub fn when_all(inputs: &[Handle], mode: AllMode) -> Result<Handle> {
    let refs: Vec<TaskRef> = inputs
        .iter()
        .map(|&h| TaskRef::retain(h))
        .collect::<Result<_>>()?;
    if refs.is_empty() {
        return Ok(task::completed(
            results_outcome(Vec::new(), Vec::new(), false),
            0,
            0,
        ));
    }
    let (source, out) = pending();
    let state = Arc::new(AllState {
        mode,
        remaining: AtomicUsize::new(refs.len()),
        finished: AtomicBool::new(false),
        inputs: refs,
        source,
    });
    for (index, t) in state.inputs.iter().enumerate() {
        let spec = input_spec(state.clone(), index);
        task::register(t.handle(), spec, false)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// WhenAny.

struct AnyState {
    won: AtomicBool,
    source: SourceRef,
    registrations: Mutex<Vec<Handle>>,
    /// Canceled when the first input completes, so losers can stop (weak).
    cancel_on_complete: Option<TokenRef>,
}

impl AnyState {
    fn remove_all(regs: Vec<Handle>) {
        for reg in regs {
            let _ = task::remove(reg);
            let _ = task::release_registration(reg);
        }
    }
}

impl Combinator for AnyState {
    fn input_completed(&self, index: usize, _task: Handle) {
        // AcqRel: exactly one input wins.
        if self.won.swap(true, Ordering::AcqRel) {
            return;
        }
        let regs = std::mem::take(&mut *self.registrations.lock());
        AnyState::remove_all(regs);
        self.source.try_complete(succeeded_with(index));
        if let Some(t) = &self.cancel_on_complete {
            let _ = cancel::cancel(t.handle(), false);
        }
    }
}

/// WhenAny: succeeds with the index of the first input to complete, whatever its
/// outcome (among inputs already completed, the first in input order). Its
/// registrations on the other inputs are removed as soon as it completes; with
/// `cancel_on_complete`, that source is canceled then too.
pub fn when_any(inputs: &[Handle], cancel_on_complete: Option<TokenRef>) -> Result<Handle> {
    if inputs.is_empty() {
        return Err(Status::InvalidArgument);
    }
    for &h in inputs {
        task::snapshot(h)?;
    }
    let (source, out) = pending();
    let state = Arc::new(AnyState {
        won: AtomicBool::new(false),
        source,
        registrations: Mutex::new(Vec::with_capacity(inputs.len())),
        cancel_on_complete,
    });
    for (index, &h) in inputs.iter().enumerate() {
        if state.won.load(Ordering::Acquire) {
            break;
        }
        let spec = input_spec(state.clone(), index);
        if let Some(reg) = task::register(h, spec, true)? {
            let mut regs = state.registrations.lock();
            if state.won.load(Ordering::Acquire) {
                drop(regs);
                AnyState::remove_all(vec![reg]);
            } else {
                regs.push(reg);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Interleaved (Task.WhenEach).

struct InterleaveState {
    outputs: Vec<SourceRef>,
    next: AtomicUsize,
}

impl Combinator for InterleaveState {
    fn input_completed(&self, _index: usize, task: Handle) {
        // Relaxed: each completion only needs a distinct slot.
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        self.outputs[k].try_complete(task::forwarded_outcome(task));
    }
}

/// Interleaved: `inputs.len()` output tasks; output k completes like the k-th input to
/// complete. O(N) in total. Returns the output task handles (+1 each).
pub fn interleaved(inputs: &[Handle]) -> Result<Vec<Handle>> {
    for &h in inputs {
        task::snapshot(h)?;
    }
    let mut outputs = Vec::with_capacity(inputs.len());
    let mut handles = Vec::with_capacity(inputs.len());
    for _ in inputs {
        let (source, out) = pending();
        outputs.push(source);
        handles.push(out);
    }
    let state = Arc::new(InterleaveState {
        outputs,
        next: AtomicUsize::new(0),
    });
    for (index, &h) in inputs.iter().enumerate() {
        let spec = input_spec(state.clone(), index);
        task::register(h, spec, false)?;
    }
    Ok(handles)
}

// ---------------------------------------------------------------------------
// Factories: RetryOnFault, NeedOnlyOne, the throttled for-each.

/// `tapir_task_factory_fn`: returns a new task reference (tapir releases it), or NULL.
pub type FactoryFn = unsafe extern "C" fn(user_data: *mut c_void, index: u32) -> *const c_void;
/// `tapir_cancelable_factory_fn`: as FactoryFn, with a token to observe.
pub type CancelableFactoryFn =
    unsafe extern "C" fn(user_data: *mut c_void, index: u32, token: *const c_void) -> *const c_void;

/// Takes ownership of the task reference a factory returned; None if it returned NULL
/// or something that is not a live task.
fn adopt_task(p: *const c_void) -> Option<TaskRef> {
    let h = Handle::from_bits(p as usize as u64)?;
    let r = TaskRef::retain(h).ok()?;
    let _ = task::release(h);
    Some(r)
}

fn factory_failed() -> Outcome {
    Outcome::library_error(Status::InvalidState, "the task factory returned no task")
}

/// Registers `then` to run inline when `t` completes.
fn on_done(t: &TaskRef, then: impl FnOnce(Handle) + Send + 'static) {
    let spec = NodeSpec {
        action: Action::Rust(Box::new(then)),
        flags: EXECUTE_SYNCHRONOUSLY,
        scheduler: None,
    };
    task::register_ref(t, spec);
}

struct Retry {
    factory: FactoryFn,
    gate: Option<FactoryFn>,
    data: UserData,
    max_tries: u32,
    source: SourceRef,
}

// SAFETY: `data` is the caller's user_data, which the C contract makes usable from
// any thread; the function pointers are plain code pointers.
unsafe impl Sync for Retry {}

impl Retry {
    fn attempt(self: Arc<Self>, i: u32) {
        // SAFETY: the caller's factory, called with its user_data from any thread.
        let t = adopt_task(unsafe { (self.factory)(self.data.ptr(), i) });
        let Some(t) = t else {
            self.source.try_complete(factory_failed());
            return;
        };
        let me = self.clone();
        on_done(&t, move |done| me.after(i, done));
    }

    fn after(self: Arc<Self>, i: u32, done: Handle) {
        if task::final_status(done) == Some(Final::Succeeded) || i + 1 >= self.max_tries {
            self.source.try_complete(task::forwarded_outcome(done));
            return;
        }
        task::mark_observed(done); // a retried failure is handled, not lost
        let Some(gate) = self.gate else {
            return self.attempt(i + 1);
        };
        // SAFETY: as in `attempt`.
        let Some(g) = adopt_task(unsafe { gate(self.data.ptr(), i) }) else {
            return self.attempt(i + 1);
        };
        let me = self.clone();
        on_done(&g, move |gate_done| {
            if task::final_status(gate_done) == Some(Final::Succeeded) {
                me.attempt(i + 1);
            } else {
                me.source.try_complete(task::forwarded_outcome(gate_done));
            }
        });
    }
}

/// RetryOnFault: calls `factory(user_data, attempt)` for attempt 0, 1, ... until one
/// succeeds or `max_tries` attempts were made; the result is the last attempt's outcome.
/// With `gate`, `gate(user_data, attempt)` returns a task to wait for between tries
/// (e.g. a delay); a gate that does not succeed ends the retry with its outcome.
pub fn retry_on_fault(
    factory: FactoryFn,
    gate: Option<FactoryFn>,
    data: UserData,
    max_tries: u32,
) -> Result<Handle> {
    if max_tries == 0 {
        return Err(Status::InvalidArgument);
    }
    let (source, out) = pending();
    Arc::new(Retry {
        factory,
        gate,
        data,
        max_tries,
        source,
    })
    .attempt(0);
    Ok(out)
}

struct NeedOne {
    won: AtomicBool,
    source: SourceRef,
    token: TokenRef,
    /// A user reference on the token, so factories may query the handle they get.
    lent_token: Handle,
}

impl Drop for NeedOne {
    fn drop(&mut self) {
        let _ = cancel::release(self.lent_token);
    }
}

impl Combinator for NeedOne {
    fn input_completed(&self, _index: usize, task: Handle) {
        if self.won.swap(true, Ordering::AcqRel) {
            // A loser: its failure is observed here, never reported as unobserved.
            task::mark_observed(task);
            return;
        }
        self.source.try_complete(task::forwarded_outcome(task));
        let _ = cancel::cancel(self.token.handle(), false);
    }
}

/// NeedOnlyOne: calls `factory(user_data, i, token)` for i in 0..count with one shared
/// token; the first task to complete gives the result (its outcome), the token is
/// canceled right after so the others can stop, and their later failures are observed.
pub fn need_only_one(factory: CancelableFactoryFn, data: UserData, count: u32) -> Result<Handle> {
    if count == 0 {
        return Err(Status::InvalidArgument);
    }
    let cts = cancel::source_new();
    let token = TokenRef::retain_any(cts)?;
    let (source, out) = pending();
    let lent_token = cancel::token_of(cts)?;
    let state = Arc::new(NeedOne {
        won: AtomicBool::new(false),
        source,
        token,
        lent_token,
    });
    let _ = cancel::release(cts);
    let token_ptr = handle_ptr(state.lent_token);
    for i in 0..count {
        // SAFETY: the caller's factory, called with its user_data and a borrowed token.
        let t = adopt_task(unsafe { factory(data.ptr(), i, token_ptr) });
        match t {
            Some(t) => {
                let spec = input_spec(state.clone(), i as usize);
                task::register_ref(&t, spec);
            }
            None => {
                if !state.won.swap(true, Ordering::AcqRel) {
                    state.source.try_complete(factory_failed());
                    let _ = cancel::cancel(state.token.handle(), false);
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
    tasks: Mutex<Vec<Option<TaskRef>>>,
    source: SourceRef,
}

// SAFETY: as for Retry.
unsafe impl Sync for Throttle {}

impl Throttle {
    fn start_next(self: &Arc<Self>) {
        // Relaxed: each starter only needs a distinct index.
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if i >= self.count as usize {
            return;
        }
        // SAFETY: the caller's factory, called with its user_data from any thread.
        let t = adopt_task(unsafe { (self.factory)(self.data.ptr(), i as u32) })
            .unwrap_or_else(|| TaskRef::adopt_new(task::completed(factory_failed(), 0, 0)));
        self.tasks.lock()[i] = Some(t.clone());
        let me = self.clone();
        on_done(&t, move |_| {
            me.start_next();
            if me.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                me.finish();
            }
        });
    }

    fn finish(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        let outcome = failure_of_all(tasks.iter().flatten()).unwrap_or_else(|| succeeded_with(0));
        self.source.try_complete(outcome);
    }
}

/// The founding text's throttling loop: runs `factory(user_data, i)` for i in
/// 0..count with at most `max_in_flight` of the returned tasks pending at once; the
/// result succeeds (value NULL) when all succeeded, else faults with every error in
/// index order, else is canceled.
pub fn for_each_throttled(
    factory: FactoryFn,
    data: UserData,
    count: u32,
    max_in_flight: u32,
) -> Result<Handle> {
    if max_in_flight == 0 {
        return Err(Status::InvalidArgument);
    }
    if count == 0 {
        return Ok(task::completed(succeeded_with(0), 0, 0));
    }
    let (source, out) = pending();
    let state = Arc::new(Throttle {
        factory,
        data,
        count,
        next: AtomicUsize::new(0),
        remaining: AtomicUsize::new(count as usize),
        tasks: Mutex::new((0..count).map(|_| None).collect()),
        source,
    });
    for _ in 0..max_in_flight.min(count) {
        state.start_next();
    }
    Ok(out)
}
