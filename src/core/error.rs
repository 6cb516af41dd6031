//! Error values: immutable, reference-counted, pooled.
//!
//! An error is a code, a UTF-8 message, an optional foreign payload (with its destroy)
//! and inner errors. It is written once, before its handle is published, and only read
//! afterwards, so readers need no lock — only a reference.

use crate::core::callback::UserData;
use crate::core::memory::family::{self, Object, Ref};
use crate::core::memory::handle::{Handle, Kind};
use crate::core::memory::pool::{Pool, Slot};
use crate::core::memory::refword::RefWord;
use crate::core::status::Result;
use crate::core::sync::{AtomicU32, UnsafeCell};

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
    word: RefWord,
    link: AtomicU32,
    data: UnsafeCell<Option<ErrorData>>,
}

// SAFETY: `data` is written only by the creating thread before the handle is published
// (RefWord::activate is a Release) and taken only by the thread that released the last
// reference; in between it is read-only.
unsafe impl Sync for ErrorCell {}

impl Slot for ErrorCell {
    fn free_link(&self) -> &AtomicU32 {
        &self.link
    }
    fn counts_as_live(&self) -> bool {
        self.word.counts_as_live()
    }
}

impl Object for ErrorCell {
    type Remains = Option<ErrorData>;
    fn pool() -> &'static Pool<Self> {
        &ERRORS
    }
    fn word(&self) -> &RefWord {
        &self.word
    }
    fn take_contents(&'static self) -> Option<ErrorData> {
        // SAFETY: the last reference is gone: this thread alone accesses the slot.
        // Dropped after the slot is free: payload destroys and inner releases may run
        // user code or long inner chains.
        self.data.with_mut(|p| unsafe { (*p).take() })
    }
}

static ERRORS: Pool<ErrorCell> = Pool::new();

/// An owned reference to an error.
#[derive(Clone)]
pub struct ErrorRef(Ref<ErrorCell>);

impl std::fmt::Debug for ErrorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ErrorRef({})", self.data().code)
    }
}

impl ErrorRef {
    /// Creates an error owned by the returned reference.
    pub fn new(data: ErrorData) -> ErrorRef {
        ErrorRef(family::create_ref::<ErrorCell>(|c| {
            // SAFETY: the slot is fresh and unpublished: this thread alone accesses it.
            c.data.with_mut(|p| unsafe { *p = Some(data) });
        }))
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

    /// Takes a library reference to the error a user handle names.
    pub fn retain(h: Handle) -> Result<ErrorRef> {
        family::pin::<ErrorCell>(h, &[Kind::Error]).map(ErrorRef)
    }

    /// Gives the caller a user handle (+1) to the same error.
    pub fn to_user(&self) -> Result<Handle> {
        self.0.mint_user(Kind::Error)
    }

    /// The handle that names this error (no reference is given).
    pub fn handle(&self) -> Handle {
        self.0.handle(Kind::Error)
    }

    /// The error's fields.
    pub fn data(&self) -> &ErrorData {
        // SAFETY: `self` owns a reference, so the slot is live and its data immutable.
        self.0
            .get()
            .data
            .with(|p| unsafe { (*p).as_ref() })
            .expect("a live error has data")
    }
}

/// Adds a user reference (`tapir_error_retain`).
pub fn retain_user(h: Handle) -> Result<()> {
    family::retain_user::<ErrorCell>(h, &[Kind::Error])
}

/// Releases a user reference (`tapir_error_release`).
pub fn release_user(h: Handle) -> Result<()> {
    family::release_user::<ErrorCell>(h, &[Kind::Error])
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

/// Live errors (diagnostics).
pub(crate) fn live() -> usize {
    ERRORS.live()
}
