//! The inline continuation slot's protocol on its raw words: placing an entry,
//! detaching it at completion, removing it, taking it at teardown. Loom-checked
//! (`core/tests/loom_slot.rs`); `list` wraps the raw words in an owning type.
//!
//! The slot belongs to whoever holds LOCKED while the task is pending (FIRST says it
//! holds an entry); the completer detaches it under LOCKED and publishes COMPLETED in
//! the same store that clears FIRST, so an entry is run by the completer or, placed
//! after that store, sees COMPLETED and runs at once: never lost, never twice.

use super::cell::TaskCell;
use super::word::{FIRST, Final, LENT, LIST, LOCKED, QUIET, Refusal, Release, Snapshot};

/// The three words of an entry and its 16 bits of meta.
pub(crate) type Raw = ([usize; 3], u32);

/// Where a placement ended.
#[derive(Debug)]
pub(crate) enum Placed {
    /// In the slot.
    Inline,
    /// The slot (or the list) is in use: the entry is still the caller's.
    Occupied,
    /// The task has completed: the entry is still the caller's, to run now.
    Completed(Snapshot),
    /// `accept` refused the word (a stale handle): nothing happened.
    Refused,
}

/// Places `raw` in the slot of a pending task whose word `accept` agrees with, in the
/// compare-exchange that takes LOCKED.
#[inline(always)]
pub(crate) fn place(cell: &TaskCell, accept: impl Fn(Snapshot) -> bool, raw: Raw) -> Placed {
    placed(cell, cell.word.lock_pending_if(accept), raw)
}

/// As [`place`], for a caller that has just read the word as `seen` and found it
/// pending and acceptable (see `TaskWord::lock_pending_seen`).
#[inline(always)]
pub(crate) fn place_seen(
    cell: &TaskCell,
    seen: Snapshot,
    accept: impl Fn(Snapshot) -> bool,
    raw: Raw,
) -> Placed {
    placed(cell, cell.word.lock_pending_seen(seen, accept), raw)
}

/// The rest of a placement, once the lock was tried.
#[inline(always)]
fn placed(cell: &TaskCell, locked: Result<Snapshot, Refusal>, raw: Raw) -> Placed {
    match locked {
        Ok(w) if !w.has(FIRST) && !w.has(LIST) => {
            write(cell, raw);
            cell.word.store_held(w.set(FIRST));
            Placed::Inline
        }
        Ok(w) => {
            cell.word.store_held(w);
            Placed::Occupied
        }
        Err(Refusal::Completed) => Placed::Completed(cell.word.load()),
        Err(_) => Placed::Refused,
    }
}

/// Writes the slot (the holder of LOCKED, FIRST clear).
#[inline(always)]
pub(crate) fn write(cell: &TaskCell, raw: Raw) {
    // SAFETY: the caller holds LOCKED on a pending task without FIRST: it alone
    // accesses the slot (cell module docs).
    cell.first.with_mut(|p| unsafe { *p = raw.0 });
    cell.set_first_meta(raw.1);
}

/// Reads the slot (the holder of LOCKED or DYING with FIRST set, or the completer that
/// detached it).
#[inline(always)]
pub(crate) fn read(cell: &TaskCell) -> Raw {
    // SAFETY: as in `write`: the caller owns the slot.
    let words = cell.first.with(|p| unsafe { *p });
    (words, cell.first_meta())
}

/// The completer's detach, holding LOCKED on the pending word `w` (with or without the
/// LOCKED bit): takes the slot's entry, then publishes COMPLETED with `status`, FIRST
/// and LIST cleared and LENT set when it has continuations to run (`list` or the
/// entry) — and QUIET too when `library` says that everything to run (the entry, if
/// any, and the list) is the library's own: no callback is lent the handle. Returns the
/// entry and the published word.
#[inline(always)]
pub(crate) fn detach(
    cell: &TaskCell,
    w: Snapshot,
    status: Final,
    list: bool,
    library: impl FnOnce(Option<&Raw>) -> bool,
) -> (Option<Raw>, Snapshot) {
    let first = w.has(FIRST).then(|| read(cell));
    let done = publish_detached(cell, w, first.as_ref(), status, list, library);
    (first, done)
}

/// The publishing half of [`detach`], for a completer that has read the entry of `w`
/// (FIRST set) itself: `first` is that entry.
#[inline(always)]
pub(crate) fn publish_detached(
    cell: &TaskCell,
    w: Snapshot,
    first: Option<&Raw>,
    status: Final,
    list: bool,
    library: impl FnOnce(Option<&Raw>) -> bool,
) -> Snapshot {
    let mut done = w.with_status(status).clear(FIRST | LIST | LOCKED);
    if first.is_some() || list {
        done = done.set(LENT);
        if library(first) {
            done = done.set(QUIET);
        }
    }
    cell.word.store_held(done);
    done
}

/// The completer's detach of a lone entry (FIRST set, no list) that runs without the
/// task or its handle, such as a waker, which the caller has read: publishes COMPLETED
/// with `status` and FIRST cleared but no LENT, since nothing needs the task kept for
/// the run, and DYING instead of unlocking when nothing references the task any more
/// (`Release::Dying`: the caller tears it down). From this store on, the task is any
/// other holder's to release: the caller touches only the entry it read.
#[inline(always)]
pub(crate) fn detach_alone(cell: &TaskCell, w: Snapshot, status: Final) -> Release {
    debug_assert!(w.has(FIRST) && !w.has(LIST));
    cell.word.unlock_or_die(w.with_status(status).clear(FIRST))
}

/// Removes the entry of a pending task of `generation` if `ours` recognizes it.
pub(crate) fn remove(cell: &TaskCell, generation: u32, ours: impl Fn(&Raw) -> bool) -> Option<Raw> {
    let w = cell.word.lock_pending(generation)?;
    let entry = w.has(FIRST).then(|| read(cell)).filter(|raw| ours(raw));
    let next = if entry.is_some() { w.clear(FIRST) } else { w };
    cell.word.store_held(next);
    #[cfg(not(loom))]
    super::abandon::observer_removed(cell, generation, next);
    entry
}
