//! Error values: immutable, reference-counted, pooled.
//!
//! An error is a code, a UTF-8 message, an optional foreign payload (with its destroy)
//! and inner errors. It is written once when created, before its handle is published,
//! and only read afterwards, so readers need no lock.

use std::cell::UnsafeCell;

use super::callback::UserData;
use super::pool::{Handle, Kind};
use super::pools::ERRORS;
use super::refword::Released;
use super::status::{Result, Status};

/// The fields of an error.
pub struct ErrorData {
    /// Caller-chosen code (library errors use their `tapir_status` value).
    pub code: i32,
    /// UTF-8 bytes, not NUL-terminated.
    pub message: Box<[u8]>,
    /// Foreign payload, freed with the error.
    pub payload: Option<UserData>,
    /// Inner errors, in order.
    pub inner: Vec<ErrorRef>,
}

/// The pooled slot of an error.
#[derive(Default)]
pub(crate) struct ErrorCell {
    data: UnsafeCell<Option<ErrorData>>,
}

// SAFETY: `data` is written only by the allocating thread before the handle is
// published (RefWord::activate is a Release) and taken only by the thread that
// released the last reference; in between it is read-only.
unsafe impl Sync for ErrorCell {}

/// An owned reference to an error; dropping it releases the reference.
pub struct ErrorRef(Handle);

impl ErrorRef {
    /// Creates an error with one reference, owned by the returned value.
    pub fn new(data: ErrorData) -> ErrorRef {
        let (h, entry) = ERRORS.alloc(Kind::Error, 0, 1);
        // SAFETY: the slot was just activated by this thread and its handle is not yet
        // published, so nobody else can read `data` (see ErrorCell's Sync note).
        unsafe { *entry.value.data.get() = Some(data) };
        ErrorRef(h)
    }

    /// A library error with `code` and a static message.
    pub fn library(code: i32, message: &str) -> ErrorRef {
        ErrorRef::new(ErrorData {
            code,
            message: message.as_bytes().into(),
            payload: None,
            inner: Vec::new(),
        })
    }

    /// Takes a library reference to the error named by the user handle `h`.
    pub fn retain(h: Handle) -> Result<ErrorRef> {
        let entry = entry(h)?;
        if entry.word.retain_internal(h.generation()) {
            Ok(ErrorRef(h))
        } else {
            Err(Status::InvalidHandle)
        }
    }

    /// The handle; the reference stays with `self`.
    pub fn handle(&self) -> Handle {
        self.0
    }

    /// Gives the reference to the caller as a user handle.
    pub fn into_handle(self) -> Handle {
        let h = self.0;
        ERRORS
            .entry(h.index())
            .expect("owned error has a slot")
            .word
            .internal_to_user();
        std::mem::forget(self);
        h
    }

    /// Mints a user reference on the same error (for lending to a callback); the
    /// caller releases it with [`release`].
    pub(crate) fn lend(&self) -> Handle {
        let entry = ERRORS
            .entry(self.0.index())
            .expect("owned error has a slot");
        entry.word.mint(self.0.generation());
        self.0
    }

    /// The error's fields.
    pub fn data(&self) -> &ErrorData {
        let entry = ERRORS
            .entry(self.0.index())
            .expect("owned error has a slot");
        // SAFETY: `self` owns a reference, so the slot is live and its data immutable.
        unsafe { (*entry.value.data.get()).as_ref() }.expect("live error has data")
    }
}

impl Clone for ErrorRef {
    fn clone(&self) -> Self {
        let entry = ERRORS
            .entry(self.0.index())
            .expect("owned error has a slot");
        entry.word.retain_owned();
        ErrorRef(self.0)
    }
}

impl Drop for ErrorRef {
    fn drop(&mut self) {
        let entry = ERRORS
            .entry(self.0.index())
            .expect("owned error has a slot");
        if entry.word.release_owned() == Released::Last {
            teardown(entry, self.0);
        }
    }
}

fn entry(h: Handle) -> Result<&'static super::pool::Entry<ErrorCell>> {
    if h.kind() != Some(Kind::Error) {
        return Err(Status::InvalidHandle);
    }
    ERRORS.entry(h.index()).ok_or(Status::InvalidHandle)
}

/// Runs `f` on the error named by `h`, which the caller holds a reference to.
pub fn with<R>(h: Handle, f: impl FnOnce(&ErrorData) -> R) -> Result<R> {
    let entry = entry(h)?;
    if !entry.word.is_live(h.generation()) {
        return Err(Status::InvalidHandle);
    }
    // SAFETY: the handle is live (checked above) and the caller holds a reference for
    // the duration of the call, so the data is initialized and immutable.
    let data = unsafe { (*entry.value.data.get()).as_ref() }.ok_or(Status::InvalidHandle)?;
    Ok(f(data))
}

/// Releases one user reference; the last reference frees the payload and the inner errors.
pub fn release(h: Handle) -> Result<()> {
    let entry = entry(h)?;
    match entry.word.release(h.generation()) {
        Released::Alive => Ok(()),
        Released::Invalid => Err(Status::InvalidHandle),
        Released::Last => {
            teardown(entry, h);
            Ok(())
        }
    }
}

fn teardown(entry: &'static super::pool::Entry<ErrorCell>, h: Handle) {
    // SAFETY: this thread took the last reference (AcqRel), so it alone may take the
    // data; no handle can reach the slot until `retire`.
    let data = unsafe { (*entry.value.data.get()).take() };
    entry.word.retire();
    ERRORS.free(h.index());
    // Dropped after the slot is recycled: payload destroy and inner releases may run
    // user code or go through long inner chains.
    drop(data);
}

/// Flattens nested aggregates: inner errors that have inner errors are replaced by
/// their (recursively flattened) inners; leaves keep their identity.
pub fn flatten_into(errors: &[ErrorRef], out: &mut Vec<ErrorRef>) {
    let mut stack: Vec<ErrorRef> = errors.iter().rev().cloned().collect();
    while let Some(e) = stack.pop() {
        let inner = &e.data().inner;
        if inner.is_empty() {
            out.push(e);
        } else {
            stack.extend(inner.iter().rev().cloned());
        }
    }
}
