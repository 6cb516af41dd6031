//! [`Error`]: a tapir error (Exception / AggregateException) as a Rust error value.

use std::any::Any;
use std::borrow::Cow;
use std::ffi::c_void;
use std::fmt;

use crate::core::callback::{DestroyFn, UserData};
use crate::core::cancel::TokenRef;
use crate::core::error::{self as core_error, ErrorData, ErrorRef};
use crate::core::memory::Handle;
use crate::core::status::Status;
use crate::core::task::outcome::Outcome;
use crate::ffi::tapir_error;

use super::cancel::CancellationToken;

/// Why a task did not succeed, or why a call was refused: a code, a UTF-8 message, an
/// optional payload and inner errors (`Exception`, `AggregateException`,
/// `OperationCanceledException`).
///
/// An `Error` is a reference to one immutable tapir error object, the same object C,
/// C++ and C# see: the error C code set on a task, read back in Rust, has the code, the
/// message and the payload C gave it, and [`into_raw`](Error::into_raw) hands C the
/// very handle. Cloning is cheap (one more reference). The one error that is not an
/// object until it needs to be is cancellation: awaiting a canceled task gives an
/// `Error` for which [`is_canceled`](Error::is_canceled) is true and whose code is
/// [`Status::Canceled`].
///
/// ```
/// use tapir::{Error, Status};
///
/// let e = Error::new(7, "disk full");
/// assert_eq!(e.code(), 7);
/// assert_eq!(e.message(), "disk full");
/// assert_eq!(e.to_string(), "disk full (code 7)");
///
/// let all = Error::aggregate(Status::Faulted.code(), "two failed", [e.clone(), Error::new(8, "late")]);
/// assert_eq!(all.inner().len(), 2);
/// assert_eq!(all.inner()[0], e); // inner errors keep their identity
/// ```
#[derive(Clone)]
pub struct Error {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// A tapir error object.
    Object(ErrorRef),
    /// A task ended canceled (with the token that caused it, if any).
    Canceled(Option<TokenRef>),
}

/// The boxed payload of errors made in Rust.
type Payload = Box<dyn Any + Send + Sync>;

/// The destroy function of a Rust payload; also how a Rust payload is recognized.
unsafe extern "C" fn drop_payload(p: *mut c_void) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw in `with_payload`; destroyed once by the error.
        drop(unsafe { Box::from_raw(p.cast::<Payload>()) });
    }));
}

const CANCELED_MESSAGE: &str = "the task was canceled";

impl Error {
    /// An error with `code` and `message` (Exception). Codes are the caller's to
    /// choose; tapir's own errors use [`Status`] values.
    ///
    /// ```
    /// let e = tapir::Error::new(42, "not found");
    /// assert_eq!((e.code(), e.message()), (42, "not found"));
    /// ```
    pub fn new(code: i32, message: impl AsRef<str>) -> Error {
        Error::from_data(code, message.as_ref(), None, Vec::new())
    }

    /// An error that carries `payload`, any Rust value, given back by
    /// [`payload`](Error::payload) (an exception object). C sees the payload as an
    /// opaque pointer (`tapir_error_payload`); it is dropped with the error's last
    /// reference, on whichever thread releases it.
    ///
    /// ```
    /// #[derive(Debug, PartialEq)]
    /// struct Http(u16);
    /// let e = tapir::Error::with_payload(1, "request failed", Http(503));
    /// assert_eq!(e.payload::<Http>(), Some(&Http(503)));
    /// assert_eq!(e.payload::<String>(), None);
    /// ```
    pub fn with_payload(
        code: i32,
        message: impl AsRef<str>,
        payload: impl Any + Send + Sync,
    ) -> Error {
        let boxed: Box<Payload> = Box::new(Box::new(payload));
        let data = UserData::new(Box::into_raw(boxed).cast(), Some(drop_payload as DestroyFn));
        Error::from_data(code, message.as_ref(), Some(data), Vec::new())
    }

    /// An aggregate (AggregateException): `inner` in order. A canceled error among them
    /// becomes an error object of code [`Status::Canceled`].
    ///
    /// ```
    /// use tapir::Error;
    /// let agg = Error::aggregate(1, "batch failed", [Error::new(2, "a"), Error::new(3, "b")]);
    /// let codes: Vec<i32> = agg.inner().iter().map(Error::code).collect();
    /// assert_eq!(codes, [2, 3]);
    /// ```
    pub fn aggregate(
        code: i32,
        message: impl AsRef<str>,
        inner: impl IntoIterator<Item = Error>,
    ) -> Error {
        let inner = inner.into_iter().map(|e| e.to_object()).collect();
        Error::from_data(code, message.as_ref(), None, inner)
    }

    /// The error tapir reports for a refused call or a task it failed itself, with the
    /// status's own message.
    ///
    /// ```
    /// use tapir::{Error, Status};
    /// let e = Error::from_status(Status::BrokenPromise);
    /// assert_eq!(e.status(), Some(Status::BrokenPromise));
    /// assert!(e.message().starts_with("broken promise"));
    /// ```
    #[cold]
    pub fn from_status(status: Status) -> Error {
        let msg = Status::message_of(status.code());
        let msg = std::str::from_utf8(&msg[..msg.len() - 1]).unwrap_or("tapir error");
        Error::new(status.code(), msg)
    }

    /// The error of a canceled task (OperationCanceledException), optionally with the
    /// token that caused it.
    pub(crate) fn canceled(token: Option<TokenRef>) -> Error {
        Error {
            repr: Repr::Canceled(token),
        }
    }

    fn from_data(
        code: i32,
        message: &str,
        payload: Option<UserData>,
        inner: Vec<ErrorRef>,
    ) -> Error {
        Error {
            repr: Repr::Object(ErrorRef::new(ErrorData {
                code,
                message: message.as_bytes().into(),
                payload,
                inner,
            })),
        }
    }

    pub(crate) fn from_ref(r: ErrorRef) -> Error {
        Error {
            repr: Repr::Object(r),
        }
    }

    /// The errors of a faulted task as one error: the error itself when there is one
    /// (identity kept), an aggregate of code [`Status::Faulted`] when there are several.
    pub(crate) fn from_faults(mut errors: Vec<ErrorRef>) -> Error {
        match errors.len() {
            1 => Error::from_ref(errors.pop().expect("one")),
            _ => Error::from_ref(ErrorRef::new(ErrorData {
                code: Status::Faulted.code(),
                message: b"one or more errors occurred"[..].into(),
                payload: None,
                inner: errors,
            })),
        }
    }

    /// A tapir error object for this error (canceled becomes a new one of code
    /// [`Status::Canceled`]).
    pub(crate) fn to_object(&self) -> ErrorRef {
        match &self.repr {
            Repr::Object(r) => r.clone(),
            Repr::Canceled(_) => ErrorRef::library(Status::Canceled.code(), CANCELED_MESSAGE),
        }
    }

    /// The outcome a task gets from this error: canceled (with its token) for a
    /// canceled error, faulted with this error object otherwise.
    pub(crate) fn into_outcome(self) -> Outcome {
        match self.repr {
            Repr::Object(r) => Outcome::Faulted(vec![r]),
            Repr::Canceled(t) => Outcome::Canceled(t),
        }
    }

    /// The code: the producer's own, or a [`Status`] value for tapir's errors
    /// ([`Status::Canceled`] for a canceled task).
    pub fn code(&self) -> i32 {
        match &self.repr {
            Repr::Object(r) => r.data().code,
            Repr::Canceled(_) => Status::Canceled.code(),
        }
    }

    /// The code as a [`Status`], when it is one of tapir's.
    ///
    /// ```
    /// use tapir::{Error, Status};
    /// assert_eq!(Error::new(11, "x").status(), Some(Status::BrokenPromise));
    /// assert_eq!(Error::new(9000, "x").status(), None);
    /// ```
    pub fn status(&self) -> Option<Status> {
        status_of(self.code())
    }

    /// The message (UTF-8, as every tapir error's is).
    pub fn message(&self) -> &str {
        match &self.repr {
            Repr::Object(r) => {
                std::str::from_utf8(&r.data().message).unwrap_or("(message not UTF-8)")
            }
            Repr::Canceled(_) => CANCELED_MESSAGE,
        }
    }

    /// True for the error of a canceled task (TaskCanceledException).
    ///
    /// ```
    /// let task = tapir::Task::<u32>::canceled();
    /// let e = task.wait().unwrap_err();
    /// assert!(e.is_canceled());
    /// assert_eq!(e.status(), Some(tapir::Status::Canceled));
    /// ```
    pub fn is_canceled(&self) -> bool {
        matches!(self.repr, Repr::Canceled(_))
    }

    /// The token whose cancellation canceled the task, if it was canceled by one.
    ///
    /// ```
    /// let cts = tapir::CancellationSource::new();
    /// cts.cancel().unwrap();
    /// let e = tapir::Task::<()>::canceled_by(&cts.token()).wait().unwrap_err();
    /// assert_eq!(e.cancellation_token(), Some(cts.token()));
    /// ```
    pub fn cancellation_token(&self) -> Option<CancellationToken> {
        match &self.repr {
            Repr::Canceled(Some(t)) => t.to_user().ok().map(CancellationToken::from_handle),
            _ => None,
        }
    }

    /// The inner errors, in order (empty for a plain error).
    pub fn inner(&self) -> Vec<Error> {
        match &self.repr {
            Repr::Object(r) => r
                .data()
                .inner
                .iter()
                .cloned()
                .map(Error::from_ref)
                .collect(),
            Repr::Canceled(_) => Vec::new(),
        }
    }

    /// The leaves of the inner-error tree, depth first (AggregateException.Flatten).
    ///
    /// ```
    /// use tapir::Error;
    /// let nested = Error::aggregate(1, "outer", [Error::aggregate(2, "mid", [Error::new(3, "leaf")]), Error::new(4, "b")]);
    /// let leaves: Vec<i32> = nested.flatten().iter().map(Error::code).collect();
    /// assert_eq!(leaves, [3, 4]);
    /// ```
    pub fn flatten(&self) -> Vec<Error> {
        match &self.repr {
            Repr::Object(r) => {
                let mut out = Vec::new();
                core_error::flatten_into(&r.data().inner, &mut out);
                out.into_iter().map(Error::from_ref).collect()
            }
            Repr::Canceled(_) => Vec::new(),
        }
    }

    /// The payload given to [`with_payload`](Error::with_payload), if it is a `P`.
    /// Errors made by C, C++ or C# carry their own kind of payload, which this never
    /// reads (see [`payload_raw`](Error::payload_raw)).
    pub fn payload<P: Any>(&self) -> Option<&P> {
        let Repr::Object(r) = &self.repr else {
            return None;
        };
        let data = r.data().payload.as_ref()?;
        if !data
            .destroy_fn()
            .is_some_and(|d| std::ptr::fn_addr_eq(d, drop_payload as DestroyFn))
        {
            return None;
        }
        // SAFETY: only `with_payload` pairs `drop_payload` with a payload, and it stores
        // a `Box<Payload>`; the error (kept by `self`) owns it and never changes it.
        let boxed = unsafe { &*data.ptr().cast::<Payload>() };
        boxed.downcast_ref::<P>()
    }

    /// The payload pointer as C sees it (`tapir_error_payload`): the C++ binding's
    /// exception, a C# GCHandle, a C struct; null when there is none. Borrowed: valid
    /// while this error lives.
    pub fn payload_raw(&self) -> *mut c_void {
        match &self.repr {
            Repr::Object(r) => r
                .data()
                .payload
                .as_ref()
                .map_or(std::ptr::null_mut(), |p| p.ptr()),
            Repr::Canceled(_) => std::ptr::null_mut(),
        }
    }

    /// Gives the error to C: a new `tapir_error` reference (+1), to be released with
    /// `tapir_error_release`. A canceled error becomes an error object of code
    /// [`Status::Canceled`].
    ///
    /// ```
    /// use tapir::Error;
    /// let p = Error::new(5, "boom").into_raw();
    /// assert_eq!(tapir::ffi::error::tapir_error_code(p), 5);
    /// // SAFETY: `p` is a +1 reference this code owns.
    /// let back = unsafe { Error::from_raw(p) }.unwrap();
    /// assert_eq!(back.message(), "boom");
    /// ```
    pub fn into_raw(self) -> *const tapir_error {
        let r = self.to_object();
        let h = r.to_user().expect("tapir: an error has too many handles");
        h.bits() as usize as *const tapir_error
    }

    /// Takes over a `tapir_error` reference (+1) from C. None for NULL or a handle that
    /// is not a live error (the reference is then left alone).
    ///
    /// # Safety
    /// The caller owns the reference `p` holds and gives it up (it must not release it
    /// again). A borrowed handle goes through [`from_raw_borrowed`](Error::from_raw_borrowed).
    pub unsafe fn from_raw(p: *const tapir_error) -> Option<Error> {
        let h = Handle::from_bits(p as usize as u64)?;
        let r = ErrorRef::retain(h).ok()?;
        let _ = core_error::release_user(h);
        Some(Error::from_ref(r))
    }

    /// A new reference to the error a borrowed `tapir_error` handle names (None for NULL
    /// or a handle that is not a live error). Safe: nothing is taken from the caller.
    pub fn from_raw_borrowed(p: *const tapir_error) -> Option<Error> {
        let h = Handle::from_bits(p as usize as u64)?;
        ErrorRef::retain(h).ok().map(Error::from_ref)
    }

    /// The handle C would see for this error (borrowed; null for a canceled error,
    /// which has no object).
    pub fn as_raw(&self) -> *const tapir_error {
        match &self.repr {
            Repr::Object(r) => r.handle().bits() as usize as *const tapir_error,
            Repr::Canceled(_) => std::ptr::null(),
        }
    }
}

/// The [`Status`] a code names, if any.
pub(crate) fn status_of(code: i32) -> Option<Status> {
    use Status::*;
    const ALL: [Status; 16] = [
        Ok,
        NullArgument,
        InvalidArgument,
        InvalidState,
        AlreadyCompleted,
        Canceled,
        Faulted,
        Timeout,
        Panic,
        InvalidHandle,
        NotCompleted,
        BrokenPromise,
        Full,
        Disposed,
        QueueCompleted,
        SchedulerError,
    ];
    ALL.iter().copied().find(|s| s.code() == code)
}

/// Two errors are equal when they are the same error object (or both canceled by the
/// same token, or by none).
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Object(a), Repr::Object(b)) => a.handle() == b.handle(),
            (Repr::Canceled(a), Repr::Canceled(b)) => {
                a.as_ref().map(TokenRef::bits) == b.as_ref().map(TokenRef::bits)
            }
            _ => false,
        }
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message(), self.code())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("code", &self.code())
            .field("message", &self.message());
        if self.is_canceled() {
            d.field("canceled", &true);
        }
        let inner = self.inner();
        if !inner.is_empty() {
            d.field("inner", &inner);
        }
        d.finish()
    }
}

impl std::error::Error for Error {}

impl From<Status> for Error {
    fn from(s: Status) -> Error {
        Error::from_status(s)
    }
}

/// A panic payload as a message.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> Cow<'static, str> {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        Cow::Borrowed(s)
    } else if let Some(s) = p.downcast_ref::<String>() {
        Cow::Owned(s.clone())
    } else {
        Cow::Borrowed("a panic with a non-string payload")
    }
}

/// The error a task fails with when the Rust code that was to complete it panicked.
pub(crate) fn panicked(p: Box<dyn Any + Send>) -> ErrorRef {
    let msg = format!("panicked: {}", panic_message(&*p));
    ErrorRef::new(ErrorData {
        code: Status::Panic.code(),
        message: msg.into_bytes().into_boxed_slice(),
        payload: None,
        inner: Vec::new(),
    })
}
