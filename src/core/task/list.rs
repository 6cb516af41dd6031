//! The continuations of a task: one inline entry in the cell (the TPL's
//! single-continuation case: no node, no allocation), then a doubly linked list of
//! pooled nodes in the extra record for the rest, in registration order.
//!
//! Registration takes LOCKED with the compare-exchange that validates the caller's
//! handle, and only while the task is pending; a registration either lands before the
//! completer detaches the continuations (and the completer runs it) or sees COMPLETED
//! and runs itself: never lost, never twice. Removal unlinks under LOCKED while
//! pending; afterwards the completer owns the entry and removal reports "already ran".

use std::ffi::c_void;

use crate::core::callback::{ContinueFn, DestroyFn, NotifyFn, UserData};
use crate::core::memory::family::{self, Object, Ref};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::{Result, Status};
use crate::core::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell};

use super::cell::{Plain, TASKS, TaskCell};
use super::complete::{self, dispatch, run_continuation, user_runs_inline};
use super::continuation::{
    ALL_FLAGS, Action, Continuation, ContinueAction, EXECUTE_SYNCHRONOUSLY, Internal, WAKE,
};
use super::outcome::Antecedent;
use super::refs::{SourceRef, TaskRef, task_cell};
use super::slot::{self, Placed};
use super::trampoline;
use super::word::{FIRST, LIST, Snapshot};
use super::work::Job;

// The inline entry's encoding in `meta` (low 16 bits): the user continuation flags
// (bits 0-10, every one of `continuation::ALL_FLAGS`, so they are stored as given), a
// tag, and two marks.
const TAG_SHIFT: u32 = 11;
const TAG_MASK: u32 = 0b11 << TAG_SHIFT;
const TAG_NOTIFY: u32 = 0;
const TAG_CONTINUE: u32 = 1 << TAG_SHIFT;
const TAG_FORWARD: u32 = 2 << TAG_SHIFT;
const TAG_INTERNAL: u32 = 3 << TAG_SHIFT;
const MARK_WAKE: u32 = 1 << 13;
const MARK_PRODUCER: u32 = 1 << 14;
const FLAGS_MASK: u32 = (1 << TAG_SHIFT) - 1;
const _: () = assert!(
    ALL_FLAGS == FLAGS_MASK,
    "every user flag fits below the tag"
);

/// A notify entry's flags as its meta stores them.
#[inline(always)]
fn notify_meta(flags: u32) -> u32 {
    TAG_NOTIFY | (flags & FLAGS_MASK)
}

/// The user flags of an entry's meta.
#[inline(always)]
fn meta_flags(meta: u32) -> u32 {
    meta & FLAGS_MASK
}

/// The inline continuation, moved out of (or into) the cell: three words and its meta.
pub(crate) struct FirstEntry {
    raw: [usize; 3],
    meta: u32,
}

/// True when a raw slot entry is the library's own (a forward or a combinator's
/// continuation): running it lends the task's handle to no callback.
#[inline(always)]
pub(crate) fn is_library(raw: &slot::Raw) -> bool {
    raw.1 & TAG_MASK >= TAG_FORWARD
}

impl FirstEntry {
    /// The inline form of `cont`, if it has one (no scheduler, no token).
    fn encode(cont: Continuation) -> std::result::Result<FirstEntry, Continuation> {
        if cont.scheduler.is_some() || cont.guard.is_some() {
            return Err(cont);
        }
        let flags = cont.flags & FLAGS_MASK;
        let wake = if cont.flags & WAKE != 0 { MARK_WAKE } else { 0 };
        Ok(match cont.action {
            Action::Notify { f, data } => {
                let (ptr, destroy) = data.into_raw();
                FirstEntry {
                    raw: [f as usize, ptr as usize, destroy.map_or(0, |d| d as usize)],
                    meta: notify_meta(cont.flags),
                }
            }
            Action::Continue(c) => {
                let mut c = std::mem::ManuallyDrop::new(c);
                let destroy = c.destroy.take();
                // SAFETY: `c` is never dropped, so `next` is moved out exactly once.
                let next = unsafe { std::ptr::read(&c.next) };
                let (bits, _producer) = next.into_raw();
                FirstEntry {
                    raw: [
                        c.f as usize,
                        destroy.map_or(0, |d| d as usize),
                        bits as usize,
                    ],
                    meta: TAG_CONTINUE | flags,
                }
            }
            Action::Forward { target } => {
                let (bits, producer) = target.into_raw();
                FirstEntry {
                    raw: [bits as usize, 0, 0],
                    meta: TAG_FORWARD | flags | if producer { MARK_PRODUCER } else { 0 },
                }
            }
            Action::Internal(i) => FirstEntry {
                raw: i.into_raw(),
                meta: TAG_INTERNAL | flags | wake,
            },
        })
    }

    /// The inline form of an on_complete callback, built without any owned wrapper.
    #[inline(always)]
    pub(crate) fn notify(
        f: NotifyFn,
        data: *mut c_void,
        destroy: Option<DestroyFn>,
        flags: u32,
    ) -> FirstEntry {
        FirstEntry {
            raw: [f as usize, data as usize, destroy.map_or(0, |d| d as usize)],
            meta: notify_meta(flags),
        }
    }

    fn tag(&self) -> u32 {
        self.meta & TAG_MASK
    }

    pub(crate) fn is_wake(&self) -> bool {
        self.meta & MARK_WAKE != 0
    }

    fn flags(&self) -> u32 {
        meta_flags(self.meta)
    }

    /// True when it runs on the completing thread (library entries always; user ones
    /// when synchronous and `inline_ok`). Inline entries have no scheduler.
    #[inline(always)]
    pub(crate) fn runs_inline(&self, inline_ok: bool) -> bool {
        match self.tag() {
            TAG_NOTIFY | TAG_CONTINUE => inline_ok && self.flags() & EXECUTE_SYNCHRONOUSLY != 0,
            _ => true,
        }
    }

    /// Runs it for a completed antecedent kept alive by the caller.
    #[inline(always)]
    pub(crate) fn run(self, ant: &Antecedent) {
        let me = std::mem::ManuallyDrop::new(self);
        if me.tag() == TAG_NOTIFY {
            // SAFETY: the raw words were encoded from a NotifyFn and an optional
            // DestroyFn (`notify`, `encode`), consumed once here (`me` is not dropped).
            let (f, destroy) = unsafe {
                (
                    std::mem::transmute::<usize, NotifyFn>(me.raw[0]),
                    (me.raw[2] != 0).then(|| std::mem::transmute::<usize, DestroyFn>(me.raw[2])),
                )
            };
            complete::run_notify(ant, f, me.raw[1], destroy, me.flags());
            return;
        }
        if me.tag() == TAG_INTERNAL {
            // A library continuation has no token, scheduler or filter: run it as is.
            // SAFETY: an INTERNAL entry's words are `Internal::into_raw`'s, consumed
            // once here (`me` is not dropped).
            unsafe { Internal::from_raw(me.raw) }.run(ant);
            return;
        }
        // SAFETY: `me` is not dropped; `decode` consumes the raw parts once.
        let cont = unsafe { std::ptr::read(&*me) }.into_continuation();
        run_continuation(ant, cont);
    }

    /// The owned form (for a queue, a deferral, or a discard).
    pub(crate) fn into_continuation(self) -> Continuation {
        let me = std::mem::ManuallyDrop::new(self);
        let raw = me.raw;
        let flags = me.flags() | if me.is_wake() { WAKE } else { 0 };
        // SAFETY: each tag's words were stored by `encode`/`notify` from the values
        // rebuilt here; `me` is not dropped, so they are consumed once.
        let action = unsafe {
            match me.tag() {
                TAG_NOTIFY => Action::Notify {
                    f: std::mem::transmute::<usize, NotifyFn>(raw[0]),
                    data: UserData::new(
                        raw[1] as *mut c_void,
                        (raw[2] != 0).then(|| std::mem::transmute::<usize, DestroyFn>(raw[2])),
                    ),
                },
                TAG_CONTINUE => Action::Continue(ContinueAction {
                    f: std::mem::transmute::<usize, ContinueFn>(raw[0]),
                    destroy: (raw[1] != 0).then(|| std::mem::transmute::<usize, DestroyFn>(raw[1])),
                    next: SourceRef::from_raw(raw[2] as u64, false),
                }),
                TAG_FORWARD => Action::Forward {
                    target: SourceRef::from_raw(raw[0] as u64, me.meta & MARK_PRODUCER != 0),
                },
                _ => Action::Internal(Internal::from_raw(raw)),
            }
        };
        Continuation {
            action,
            flags,
            scheduler: None,
            guard: None,
        }
    }

    /// Gives up the entry as its raw words (`from_raw` takes it back).
    pub(crate) fn into_raw(self) -> slot::Raw {
        let me = std::mem::ManuallyDrop::new(self);
        (me.raw, me.meta)
    }

    /// The entry whose raw words `into_raw` (or the slot) gave.
    pub(crate) fn from_raw(raw: slot::Raw) -> FirstEntry {
        FirstEntry {
            raw: raw.0,
            meta: raw.1,
        }
    }
}

impl Drop for FirstEntry {
    fn drop(&mut self) {
        // Discarded unrun: destroy runs, producers are given up. The copy is consumed
        // by `into_continuation` without being dropped again.
        let me = FirstEntry {
            raw: self.raw,
            meta: self.meta,
        };
        drop(me.into_continuation());
    }
}

/// A synchronous `on_complete` callback as the inline slot stores it, decoded without
/// an owning wrapper: the hot path of completion.
#[derive(Clone, Copy)]
pub(crate) struct RawNotify {
    f: NotifyFn,
    data: usize,
    destroy: Option<DestroyFn>,
    flags: u32,
}

impl RawNotify {
    /// The entry, if it is a synchronous on_complete callback.
    #[inline(always)]
    pub(crate) fn decode(raw: &slot::Raw) -> Option<RawNotify> {
        let (words, meta) = *raw;
        if meta & TAG_MASK != TAG_NOTIFY || meta & EXECUTE_SYNCHRONOUSLY == 0 {
            return None;
        }
        // SAFETY: a NOTIFY entry's words are a NotifyFn, its data and an optional
        // DestroyFn (`FirstEntry::notify`, `encode`).
        let (f, destroy) = unsafe {
            (
                std::mem::transmute::<usize, NotifyFn>(words[0]),
                (words[2] != 0).then(|| std::mem::transmute::<usize, DestroyFn>(words[2])),
            )
        };
        Some(RawNotify {
            f,
            data: words[1],
            destroy,
            flags: meta_flags(meta),
        })
    }

    /// Runs it (consuming the entry).
    #[inline(always)]
    pub(crate) fn run(self, ant: &Antecedent) {
        complete::run_notify(ant, self.f, self.data, self.destroy, self.flags);
    }

    /// The owned form, to defer it.
    pub(crate) fn into_continuation(self) -> Continuation {
        FirstEntry::notify(self.f, self.data as *mut c_void, self.destroy, self.flags)
            .into_continuation()
    }
}

/// Takes the inline entry (the dying thread, with FIRST set).
pub(crate) fn take_first(cell: &TaskCell) -> FirstEntry {
    FirstEntry::from_raw(slot::read(cell))
}

// ---------------------------------------------------------------------------
// Nodes.

/// A pooled list node; its handle is a `tapir_registration`.
#[derive(Default)]
pub(crate) struct NodeCell {
    word: RefWord,
    link: AtomicU32,
    /// Links in the antecedent's list (node index + 1, 0 for none) and whether the node
    /// is in it: under the antecedent's LOCKED while it is pending, then owned by its
    /// completer (or its dying thread).
    prev: Plain<u32>,
    next: Plain<u32>,
    linked: Plain<bool>,
    /// The antecedent's task handle bits (a name, not a reference): written before the
    /// node is published, immutable while it lives.
    antecedent: AtomicU64,
    /// Taken exactly once: by the completer, a successful removal, or the teardown of a
    /// task that never completed (or, unlinked, by the node's own teardown).
    cont: UnsafeCell<Option<Continuation>>,
}

// SAFETY: the non-atomic fields follow the access rules documented on each.
unsafe impl Sync for NodeCell {}

impl Slot for NodeCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for NodeCell {
    type Remains = Option<Continuation>;
    fn pool() -> &'static Pool<Self> {
        &NODES
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<Continuation> {
        self.take_cont()
    }
}

impl NodeCell {
    /// Takes the continuation; the caller is its owner now (see the field's rule).
    fn take_cont(&self) -> Option<Continuation> {
        // SAFETY: the caller is the continuation's owner (field docs), so no other
        // thread accesses the cell.
        self.cont.with_mut(|p| unsafe { (*p).take() })
    }
    /// Looks at the continuation without taking it (its owner only).
    fn peek<R>(&self, f: impl FnOnce(Option<&Continuation>) -> R) -> R {
        // SAFETY: as in `take_cont`; the borrow ends before the owner takes it.
        self.cont.with(|p| f(unsafe { (*p).as_ref() }))
    }
}

/// The continuation nodes' pool.
pub(crate) static NODES: Pool<NodeCell> = Pool::new();

fn node(index1: u32) -> &'static NodeCell {
    // SAFETY: list links hold indices + 1 of allocated nodes.
    unsafe { NODES.slot_unchecked(index1 - 1) }
}

/// A node holding `cont`, with one internal reference (for the list).
fn new_node(cont: Continuation, antecedent: Handle) -> Ref<NodeCell> {
    family::create_ref::<NodeCell>(|n| {
        n.prev.set(0);
        n.next.set(0);
        n.linked.set(false);
        n.antecedent.store(antecedent.bits(), Ordering::Relaxed);
        // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
        n.cont.with_mut(|p| unsafe { *p = Some(cont) });
    })
}

/// Appends the node (whose reference the list now owns) to the task's list. Under
/// LOCKED.
fn push(cell: &TaskCell, r: Ref<NodeCell>) {
    let n = r.get();
    let index1 = r.into_index() + 1;
    let x = cell.extra_or_new();
    let tail = x.tail.get_copy();
    n.prev.set(tail);
    n.next.set(0);
    n.linked.set(true);
    if tail != 0 {
        node(tail).next.set(index1);
    } else {
        x.head.set(index1);
    }
    x.tail.set(index1);
}

/// Unlinks a linked node. Under LOCKED; returns whether the list is now empty.
fn unlink(cell: &TaskCell, index1: u32) -> bool {
    let x = cell.extra().expect("a linked node's list has a record");
    let n = node(index1);
    let (prev, next) = (n.prev.get_copy(), n.next.get_copy());
    if prev != 0 {
        node(prev).next.set(next);
    } else {
        x.head.set(next);
    }
    if next != 0 {
        node(next).prev.set(prev);
    } else {
        x.tail.set(prev);
    }
    n.linked.set(false);
    x.head.get_copy() == 0
}

/// Detaches the list (the completer or the dying thread, with LIST set); returns its
/// head (node index + 1).
pub(crate) fn take_list(cell: &TaskCell) -> u32 {
    let x = cell.extra().expect("LIST implies an extra record");
    let head = x.head.get_copy();
    x.head.set(0);
    x.tail.set(0);
    head
}

/// True when every continuation of a detached list is the library's own: running them
/// lends the task's handle to no callback.
pub(crate) fn all_library(head: u32) -> bool {
    let mut all = true;
    for_each_node(head, |n| {
        all &= n.peek(|c| c.is_none_or(|c| c.action.is_internal()));
    });
    all
}

/// Calls `f` on each node of a detached list in order; `f` may take the node's
/// continuation.
fn for_each_node(head: u32, mut f: impl FnMut(&'static NodeCell)) {
    let mut next = head;
    while next != 0 {
        let n = node(next);
        next = n.next.get_copy();
        f(n);
    }
}

/// Drops the list's reference on every node of a detached list (after their
/// continuations were taken or are to be discarded with them).
fn release_nodes(head: u32) {
    let mut next = head;
    while next != 0 {
        let index1 = next;
        let n = node(index1);
        next = n.next.get_copy();
        n.linked.set(false);
        // SAFETY: the list owned one internal reference on each of its nodes.
        drop(unsafe { Ref::<NodeCell>::adopt(index1 - 1) });
    }
}

/// Discards the continuations of a detached list of a task that died pending.
pub(crate) fn discard_list(head: u32) {
    for_each_node(head, |n| drop(n.take_cont()));
    release_nodes(head);
}

// ---------------------------------------------------------------------------
// Registration.

/// Which task a registration targets, and so what the locking compare-exchange checks.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A caller's task handle: valid (a user reference, or lent) in the same step.
    User(Handle),
    /// A task the library holds a reference to.
    Held(&'a TaskRef),
}

impl Target<'_> {
    fn handle(&self) -> Handle {
        match self {
            Target::User(h) => *h,
            Target::Held(r) => r.handle(),
        }
    }
    fn accepts(&self, w: Snapshot) -> bool {
        match self {
            Target::User(h) => w.task_handle_valid(h.generation()),
            Target::Held(r) => w.is_generation(r.handle().generation()),
        }
    }
}

/// What the registrant wants back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Nothing: the continuation runs or is discarded with the task.
    Nothing,
    /// A way to remove it later ([`Placement::remove`]).
    Removable,
    /// A `tapir_registration` handle (+1) for the caller (always a node).
    Handle,
}

/// Where a registration landed.
pub(crate) enum Placement {
    /// The task had completed: the continuation ran, or was dispatched, at once.
    Ran,
    /// In the inline slot of the task named by this handle.
    First(Handle),
    /// In a node: its registration handle (Want::Handle) or a library reference to it.
    Node(Option<Ref<NodeCell>>, Option<Handle>),
}

/// Registers `cont` on a task. On INVALID_HANDLE the continuation comes back untouched
/// (a failed registration calls neither its callback nor its destroy: the caller gives
/// the user data back).
pub(crate) fn register(
    target: Target<'_>,
    cont: Continuation,
    want: Want,
) -> std::result::Result<Placement, (Status, Continuation)> {
    register_in(target, cont, want, true)
}

/// As [`register`], from library code running for a task whose continuations must not
/// run on this thread (`inline_ok` false): if the target has completed, the
/// continuation then runs with that restriction too.
pub(crate) fn register_in(
    target: Target<'_>,
    cont: Continuation,
    want: Want,
    inline_ok: bool,
) -> std::result::Result<Placement, (Status, Continuation)> {
    let h = target.handle();
    let cell = match task_cell(h) {
        Ok(c) => c,
        Err(s) => return Err((s, cont)),
    };
    let fits_inline = want != Want::Handle && cont.scheduler.is_none() && cont.guard.is_none();
    // The common case first: a pending task with a free inline slot takes the entry in
    // the compare-exchange that locks it (no owned continuation moved around). Anything
    // else (slot taken, completed, refused) takes the general path below, which looks
    // at the word again.
    let cont = if fits_inline {
        let Ok(entry) = FirstEntry::encode(cont) else {
            unreachable!("checked by fits_inline")
        };
        let raw = entry.into_raw();
        match slot::place(cell, |w| target.accepts(w), raw) {
            Placed::Inline => {
                return Ok(Placement::First(Handle::new(
                    Kind::Task,
                    h.index(),
                    h.generation(),
                )));
            }
            _ => FirstEntry::from_raw(raw).into_continuation(),
        }
    } else {
        cont
    };
    let mut cont = Some(cont);
    let mut prepared: Option<Ref<NodeCell>> = None;
    loop {
        let w0 = cell.word.load();
        if !target.accepts(w0) {
            let cont = cont
                .take()
                .or_else(|| prepared.as_ref().and_then(|n| n.get().take_cont()));
            return Err((Status::InvalidHandle, cont.expect("still ours")));
        }
        if w0.is_completed() {
            return run_now(
                target,
                cell,
                w0,
                take_back(&mut cont, &mut prepared),
                inline_ok,
            );
        }
        let inline = fits_inline && !w0.has(FIRST) && !w0.has(LIST);
        if !inline && prepared.is_none() {
            // Allocate outside the lock.
            let c = cont.take().expect("not yet placed");
            prepared = Some(new_node(c, h));
        }
        let locked = cell.word.lock_pending_if(|w| target.accepts(w));
        let w = match locked {
            Ok(w) => w,
            Err(_) => continue, // re-examined at the top: stale, or completed
        };
        if fits_inline && !w.has(FIRST) && !w.has(LIST) {
            let c = take_back(&mut cont, &mut prepared);
            let Ok(entry) = FirstEntry::encode(c) else {
                unreachable!("checked by fits_inline")
            };
            slot::write(cell, entry.into_raw());
            cell.word.store_held(w.set(FIRST));
            return Ok(Placement::First(Handle::new(
                Kind::Task,
                h.index(),
                h.generation(),
            )));
        }
        let Some(n) = prepared.take() else {
            // The inline slot was taken meanwhile: prepare a node and retry.
            cell.word.store_held(w);
            continue;
        };
        let keep = (want == Want::Removable).then(|| n.clone());
        let user = if want == Want::Handle {
            n.mint_user(Kind::Registration).ok()
        } else {
            None
        };
        push(cell, n);
        cell.word.store_held(w.set(LIST));
        return Ok(Placement::Node(keep, user));
    }
}

/// The continuation, wherever it waits (the caller's hands, or a prepared node).
fn take_back(
    cont: &mut Option<Continuation>,
    prepared: &mut Option<Ref<NodeCell>>,
) -> Continuation {
    cont.take()
        .or_else(|| prepared.take().and_then(|n| n.get().take_cont()))
        .expect("the continuation is still the registrant's")
}

/// Runs or dispatches a continuation registered on a completed task.
fn run_now(
    target: Target<'_>,
    cell: &'static TaskCell,
    w: Snapshot,
    cont: Continuation,
    inline_ok: bool,
) -> std::result::Result<Placement, (Status, Continuation)> {
    let h = target.handle();
    let status = w.final_status().expect("completed");
    let ant = Antecedent {
        cell,
        index: h.index(),
        generation: h.generation(),
        status,
        inline_ok,
    };
    if user_runs_inline(&cont, inline_ok) {
        // A user handle lent to the callback gets a reference of its own for the call,
        // taken in one validating step; a library reference (`Held`) keeps its task.
        let _lent = match target {
            Target::User(h) => match complete::LentHandle::take(cell, h) {
                Ok(lent) => lent,
                Err(s) => return Err((s, cont)),
            },
            Target::Held(_) => None,
        };
        complete::run_inline(&ant, cont);
        return Ok(Placement::Ran);
    }
    // Dispatched: the job needs its own reference, taken in one validating step.
    let keep = match target {
        Target::User(h) => match TaskRef::pin(h) {
            Ok(r) => r,
            Err(s) => return Err((s, cont)),
        },
        Target::Held(r) => r.clone(),
    };
    let scheduler = cont.scheduler.clone();
    let job = Job::continuation(cont, keep);
    match scheduler {
        Some(s) => s.post(job),
        None => super::workers::post(job),
    }
    Ok(Placement::Ran)
}

/// The fast path of `tapir_task_on_complete`: an inline-able callback (no scheduler, no
/// token, no registration handle) on the task of a valid handle. `Err(None)`: not
/// placed inline (the slot is taken): use [`register`]. On `Err(Some(s))` nothing ran.
///
/// Inlined into its caller: placing the entry on a pending task is a few instructions
/// around one compare-exchange; running it on a completed task is out of line.
#[inline(always)]
pub(crate) fn notify_fast(
    h: Handle,
    f: NotifyFn,
    data: *mut c_void,
    destroy: Option<DestroyFn>,
    flags: u32,
) -> std::result::Result<(), Option<Status>> {
    let cell = task_cell(h).map_err(Some)?;
    let g = h.generation();
    let entry = FirstEntry::notify(f, data, destroy, flags).into_raw();
    match slot::place(cell, |w| w.task_handle_valid(g), entry) {
        Placed::Inline => Ok(()),
        Placed::Occupied => Err(None),
        Placed::Refused => Err(Some(Status::InvalidHandle)),
        Placed::Completed(w) => notify_completed(cell, h, w, f, data, destroy, flags),
    }
}

/// [`notify_fast`] on a task that has completed (`w`, a snapshot of its word): runs the
/// callback now if it is synchronous (`Err(None)` otherwise: the general path
/// dispatches it).
#[inline(never)]
fn notify_completed(
    cell: &'static TaskCell,
    h: Handle,
    w: Snapshot,
    f: NotifyFn,
    data: *mut c_void,
    destroy: Option<DestroyFn>,
    flags: u32,
) -> std::result::Result<(), Option<Status>> {
    if flags & EXECUTE_SYNCHRONOUSLY == 0 {
        return Err(None);
    }
    // The callback runs inside this call: lend it a reference of its own, taken in the
    // step that validates the handle.
    let _lent = complete::LentHandle::take(cell, h).map_err(Some)?;
    let g = h.generation();
    let ant = Antecedent {
        cell,
        index: h.index(),
        generation: g,
        status: w.final_status().expect("completed"),
        inline_ok: true,
    };
    trampoline::run_or_defer(
        || complete::run_notify(&ant, f, data as usize, destroy, flags),
        || {
            Job::continuation(
                FirstEntry::notify(f, data, destroy, flags).into_continuation(),
                TaskRef::from_alive(&ant),
            )
        },
    );
    Ok(())
}

/// Registers a library continuation, removably, on the task of a caller's task handle:
/// [`register`] with `Want::Removable` for `Continuation::internal`, without building
/// the owned continuation when the inline slot is free (a combinator registering on
/// many inputs pays one compare-exchange per input). On INVALID_HANDLE nothing ran and
/// the continuation was dropped.
#[inline]
pub(crate) fn register_internal(h: Handle, internal: Internal) -> Result<Placement> {
    let cell = task_cell(h)?;
    let g = h.generation();
    let entry = (
        internal.into_raw(),
        TAG_INTERNAL | (EXECUTE_SYNCHRONOUSLY & FLAGS_MASK),
    );
    match slot::place(cell, |w| w.task_handle_valid(g), entry) {
        Placed::Inline => Ok(Placement::First(h)),
        Placed::Refused => {
            drop(FirstEntry::from_raw(entry));
            Err(Status::InvalidHandle)
        }
        // Taken slot, or completed: the general path (a node, or running it now with
        // the handle lent as `register` does).
        Placed::Occupied | Placed::Completed(_) => {
            // SAFETY: the words were just made by `into_raw` and were not placed.
            let internal = unsafe { Internal::from_raw(entry.0) };
            let cont = Continuation::internal(Action::Internal(internal));
            register(Target::User(h), cont, Want::Removable).map_err(|(s, cont)| {
                drop(cont);
                s
            })
        }
    }
}

/// Where [`register_waker`] left a waker.
pub(crate) enum WakerPlaced {
    /// In the task's inline slot: removable with `Placement::First` and the key.
    Inline,
    /// In a list node (a reference of the caller's keeps it, for removal).
    Node(Ref<NodeCell>),
    /// The task has completed: nothing was registered (the waker was dropped).
    Completed,
}

/// The await path: registers `waker` to be woken when the task of the valid handle `h`
/// of `cell` completes (no allocation while the inline slot is free; the caller holds
/// the cell, and the placement's compare-exchange checks the generation). The caller
/// holds one of the task's handle references (a Rust `Task`), so the generation alone
/// says the task is its own, as in `ops::await_read_in`; `seen` is the pending word
/// that read found. Its removal key is `Internal::from_waker`'s. On INVALID_HANDLE
/// nothing was registered.
#[inline(always)]
pub(crate) fn register_waker_in(
    cell: &'static TaskCell,
    h: Handle,
    seen: Snapshot,
    waker: std::task::Waker,
) -> Result<WakerPlaced> {
    let g = h.generation();
    let internal = Internal::from_waker(waker);
    let entry = (
        internal.into_raw(),
        TAG_INTERNAL | (EXECUTE_SYNCHRONOUSLY & FLAGS_MASK) | MARK_WAKE,
    );
    match slot::place_seen(cell, seen, |w| w.is_generation(g), entry) {
        Placed::Inline => Ok(WakerPlaced::Inline),
        Placed::Completed(_) => {
            drop(FirstEntry::from_raw(entry));
            Ok(WakerPlaced::Completed)
        }
        Placed::Refused => {
            drop(FirstEntry::from_raw(entry));
            Err(Status::InvalidHandle)
        }
        // SAFETY: the words were just made by `into_raw` and were not placed.
        Placed::Occupied => register_waker_in_list(h, unsafe { Internal::from_raw(entry.0) }),
    }
}

/// [`register_waker_in`] when the inline slot is taken: the waker goes to the list.
/// Out of line, so that the slot's path (the usual one: one awaiting future) stays
/// small.
#[cold]
#[inline(never)]
fn register_waker_in_list(h: Handle, internal: Internal) -> Result<WakerPlaced> {
    let cont = Continuation {
        action: Action::Internal(internal),
        flags: EXECUTE_SYNCHRONOUSLY | WAKE,
        scheduler: None,
        guard: None,
    };
    match register(Target::User(h), cont, Want::Removable) {
        Ok(Placement::First(_)) => Ok(WakerPlaced::Inline),
        Ok(Placement::Node(Some(n), _)) => Ok(WakerPlaced::Node(n)),
        Ok(_) => Ok(WakerPlaced::Completed),
        Err((s, cont)) => {
            cont.refuse();
            Err(s)
        }
    }
}

/// Whether an inline entry is one that [`register_waker_in`] placed: the waker of a
/// future awaiting the task.
#[inline(always)]
pub(crate) fn is_waker(raw: &slot::Raw) -> bool {
    raw.1 & TAG_MASK == TAG_INTERNAL && Internal::raw_is_waker(&raw.0)
}

/// The waker of an entry for which [`is_waker`] holds.
///
/// # Safety
/// `raw` is such an entry, which the caller owns (detached under LOCKED) and gives up
/// here: it must be neither run nor dropped otherwise.
#[inline(always)]
pub(crate) unsafe fn take_waker(raw: slot::Raw) -> std::task::Waker {
    debug_assert!(is_waker(&raw));
    // SAFETY: an INTERNAL entry's words are `Internal::into_raw`'s, a waker's here (see
    // above), and the caller gives the entry up.
    unsafe { Internal::waker_from_raw(raw.0) }
}

impl Placement {
    /// Removes a library continuation if it has not run: true when removed (it never
    /// runs; it was dropped); false when it ran, runs, was dispatched or was removed.
    /// `key` is the [`Internal::key`] of the continuation that was registered.
    pub(crate) fn remove(self, key: (usize, usize)) -> bool {
        match self {
            Placement::Ran => false,
            Placement::First(h) => remove_first(h, key),
            Placement::Node(Some(n), _) => remove_node(&n),
            Placement::Node(None, _) => false,
        }
    }

    /// As [`remove`](Placement::remove) for a registration of `Continuation::internal`
    /// (as [`register_internal`] makes), handing the library continuation back
    /// instead of dropping it: a combinator that removes many registrations settles
    /// what they held once, not per registration.
    pub(crate) fn take_internal(self, key: (usize, usize)) -> Option<Internal> {
        match self {
            Placement::Ran | Placement::Node(None, _) => None,
            Placement::First(h) => {
                let cell = TASKS.get(h.index())?;
                let raw = slot::remove(cell, h.generation(), |raw| is_internal_with(raw, key))?;
                // SAFETY: `is_internal_with` checked that the entry is an INTERNAL one,
                // whose words are `Internal::into_raw`'s; removed, it is ours alone.
                Some(unsafe { Internal::from_raw(raw.0) })
            }
            Placement::Node(Some(n), _) => match take_node(&n)?.action {
                Action::Internal(i) => Some(i),
                other => {
                    debug_assert!(false, "take_internal on a user registration");
                    drop(other);
                    None
                }
            },
        }
    }
}

/// True when a raw slot entry is the library continuation with `key`.
fn is_internal_with((words, meta): &slot::Raw, key: (usize, usize)) -> bool {
    meta & TAG_MASK == TAG_INTERNAL && (words[1], words[2]) == key
}

/// Removes the inline entry of the task `h` names if it is the library continuation
/// with `key`.
fn remove_first(h: Handle, key: (usize, usize)) -> bool {
    let Some(cell) = TASKS.get(h.index()) else {
        return false;
    };
    match slot::remove(cell, h.generation(), |raw| is_internal_with(raw, key)) {
        // Discarded outside the lock: its drop runs now.
        Some(raw) => {
            drop(FirstEntry::from_raw(raw));
            true
        }
        None => false,
    }
}

/// Removes a node's continuation if it is still linked in its pending antecedent.
fn remove_node(n: &Ref<NodeCell>) -> bool {
    // Dropped outside the lock: destroy runs now.
    take_node(n).is_some()
}

/// Unlinks a node from its pending antecedent and hands back its continuation; None
/// when it is no longer linked (it ran, runs, or was removed).
fn take_node(n: &Ref<NodeCell>) -> Option<Continuation> {
    let node_cell = n.get();
    let ant = Handle::from_bits(node_cell.antecedent.load(Ordering::Relaxed))?;
    let cell = TASKS.get(ant.index())?;
    let g = ant.generation();
    let w = cell.word.lock_pending(g)?;
    if !node_cell.linked.get_copy() {
        cell.word.store_held(w);
        return None;
    }
    let index1 = n.handle(Kind::Registration).index() + 1;
    let empty = unlink(cell, index1);
    let cont = node_cell.take_cont();
    let next = if empty { w.clear(LIST) } else { w };
    cell.word.store_held(next);
    super::abandon::observer_removed(cell, g, next);
    // SAFETY: the list owned one internal reference on the node it just lost.
    drop(unsafe { Ref::<NodeCell>::adopt(index1 - 1) });
    cont
}

/// How many continuations wait on the task of a valid handle (0 once it completed):
/// diagnostics, to see that a registration landed or that a removal freed it.
pub(crate) fn pending_count(h: Handle) -> Result<usize> {
    let cell = task_cell(h)?;
    let g = h.generation();
    let w = cell
        .word
        .lock_if(|w| w.task_handle_valid(g))
        .ok_or(Status::InvalidHandle)?;
    let mut n = usize::from(w.has(FIRST));
    if w.has(LIST) {
        let mut next = cell.extra().map_or(0, |x| x.head.get_copy());
        while next != 0 {
            n += 1;
            next = node(next).next.get_copy();
        }
    }
    cell.word.store_held(w);
    Ok(n)
}

/// `tapir_registration_remove`: removes through a registration handle.
pub(crate) fn remove_by_handle(reg: Handle) -> Result<bool> {
    let n = family::pin::<NodeCell>(reg, &[Kind::Registration])?;
    Ok(remove_node(&n))
}

/// `tapir_registration_retain`.
pub(crate) fn retain_handle(reg: Handle) -> Result<()> {
    family::retain_user::<NodeCell>(reg, &[Kind::Registration])
}

/// `tapir_registration_release` (does not remove the continuation).
pub(crate) fn release_handle(reg: Handle) -> Result<()> {
    family::release_user::<NodeCell>(reg, &[Kind::Registration])
}

// ---------------------------------------------------------------------------
// Running a detached list.

/// Runs the continuations detached by a completer, in three waves (see
/// `complete`): waiters, then dispatched ones, then inline ones, each in registration
/// order (the inline entry first).
pub(crate) fn run_detached(ant: &Antecedent, first: Option<FirstEntry>, head: u32) {
    let mut first = first;
    // Wave 1: wake blocked threads before anything else runs.
    if first.as_ref().is_some_and(FirstEntry::is_wake) {
        first.take().expect("checked").run(ant);
    }
    for_each_node(head, |n| {
        if n.peek(|c| c.is_some_and(|c| c.flags & WAKE != 0)) {
            let c = n.take_cont().expect("peeked");
            run_continuation(ant, c);
        }
    });
    // Wave 2: post the dispatched ones.
    if first
        .as_ref()
        .is_some_and(|f| !f.runs_inline(ant.inline_ok))
    {
        dispatch(ant, first.take().expect("checked").into_continuation());
    }
    for_each_node(head, |n| {
        if n.peek(|c| c.is_some_and(|c| !user_runs_inline(c, ant.inline_ok))) {
            dispatch(ant, n.take_cont().expect("peeked"));
        }
    });
    // Wave 3: the inline ones, through the trampoline.
    if let Some(f) = first {
        complete::run_inline(ant, f.into_continuation());
    }
    for_each_node(head, |n| {
        if let Some(c) = n.take_cont() {
            complete::run_inline(ant, c);
        }
    });
    release_nodes(head);
}
