using System;
using System.Threading;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// A native cancellation source (CancellationTokenSource). Its <see cref="Token"/> is what
    /// tapir operations and C code observe; <see cref="TapirCancellationToken.ToCancellationToken"/>
    /// gives the .NET token that is canceled with it.
    /// </summary>
    public sealed class TapirCancellationSource : IDisposable
    {
        internal readonly CancelSourceHandle Handle;
        private TapirCancellationToken _token;

        public TapirCancellationSource()
        {
            Check.Status(NativeMethods.tapir_cancel_source_new(out IntPtr source));
            Handle = new CancelSourceHandle(source);
        }

        /// <summary>A source that cancels itself after <paramref name="millisecondsDelay"/> (on a tapir pool thread).</summary>
        public TapirCancellationSource(int millisecondsDelay) : this()
        {
            CancelAfter(millisecondsDelay);
        }

        public TapirCancellationSource(TimeSpan delay) : this(TapirTask.Milliseconds(delay)) { }

        private TapirCancellationSource(CancelSourceHandle handle) { Handle = handle; }

        /// <summary>A source canceled when any of <paramref name="tokens"/> is (CreateLinkedTokenSource).</summary>
        public static TapirCancellationSource CreateLinkedTokenSource(params TapirCancellationToken[] tokens)
        {
            if (tokens == null) throw new ArgumentNullException(nameof(tokens));
            var raw = new IntPtr[tokens.Length];
            var added = new bool[tokens.Length];
            try
            {
                for (int i = 0; i < tokens.Length; i++)
                {
                    if (tokens[i] == null) throw new ArgumentException("The token list contains null.", nameof(tokens));
                    tokens[i].Handle.DangerousAddRef(ref added[i]);
                    raw[i] = tokens[i].Handle.DangerousGetHandle();
                }
                Check.Status(NativeMethods.tapir_cancel_source_new_linked(raw, (UIntPtr)raw.Length, out IntPtr source));
                return new TapirCancellationSource(new CancelSourceHandle(source));
            }
            finally
            {
                for (int i = 0; i < tokens.Length; i++) if (added[i]) tokens[i].Handle.DangerousRelease();
            }
        }

        public IntPtr NativeHandle => Handle.Value;

        public bool IsCancellationRequested
        {
            get
            {
                return NativeMethods.tapir_cancel_source_is_canceled(Handle);
            }
        }

        /// <summary>The source's token (the same object every time).</summary>
        public TapirCancellationToken Token
        {
            get
            {
                var t = _token;
                if (t != null) return t;
                Check.Status(NativeMethods.tapir_cancel_source_token(Handle, out IntPtr token));
                Interlocked.CompareExchange(ref _token, new TapirCancellationToken(new CancelTokenHandle(token)), null);
                return _token;
            }
        }

        public void Cancel() => Cancel(false);

        /// <summary>
        /// Requests cancellation: the callbacks run on this thread, newest first. If any throws,
        /// this throws an <see cref="AggregateException"/> with those exceptions in the order the
        /// callbacks ran; with <paramref name="throwOnFirstException"/>, the first exception stops
        /// the rest. A second Cancel does nothing.
        /// </summary>
        public void Cancel(bool throwOnFirstException)
        {
            uint flags = throwOnFirstException ? 1u : 0u;
            int rc = NativeMethods.tapir_cancel_source_cancel(Handle, flags, out IntPtr errors);
            if (errors != IntPtr.Zero)
            {
                var aggregate = Errors.TakeException(errors);
                throw aggregate is TapirException te && te.InnerErrors.Count > 0
                    ? new AggregateException(te.InnerErrors)
                    : new AggregateException(aggregate);
            }
            Check.Status(rc);
        }

        /// <summary>Cancels after <paramref name="millisecondsDelay"/> (-1: clears a pending deadline; 0: now).</summary>
        public void CancelAfter(int millisecondsDelay)
        {
            if (millisecondsDelay < -1) throw new ArgumentOutOfRangeException(nameof(millisecondsDelay));
            Check.Status(NativeMethods.tapir_cancel_source_cancel_after(Handle, millisecondsDelay));
        }

        public void CancelAfter(TimeSpan delay) => CancelAfter(TapirTask.Milliseconds(delay));

        /// <summary>
        /// CancelAfter measured on <paramref name="clock"/>: cancels once <paramref name="delay"/> of
        /// the clock's time (frames, or game milliseconds) has passed; -1 clears a pending deadline,
        /// 0 cancels now. Replaces an earlier deadline, on any clock.
        /// </summary>
        public void CancelAfterOn(TapirClock clock, double delay)
        {
            if (clock == null) throw new ArgumentNullException(nameof(clock));
            Check.Status(NativeMethods.tapir_cancel_source_cancel_after_on(Handle, clock.Handle, delay));
        }

        /// <summary>Releases the source (it does not cancel). Calling it again does nothing.</summary>
        public void Dispose()
        {
            Handle.Dispose();
            _token?.Dispose();
        }
    }

    /// <summary>
    /// A native cancellation token (CancellationToken). Bridges both ways:
    /// <see cref="ToCancellationToken"/> gives a .NET token canceled when this one is, and
    /// <see cref="FromCancellationToken"/> a native token canceled when a .NET one is. Every
    /// tapir operation that takes a CancellationToken makes that bridge for its own length.
    /// </summary>
    public sealed class TapirCancellationToken : IDisposable
    {
        internal readonly CancelTokenHandle Handle;
        private readonly IDisposable _owner;        // the bridge behind FromCancellationToken
        private readonly bool _permanent;
        private readonly object _lock = new object();
        private CancellationTokenSource _managed;
        private static TapirCancellationToken s_none;

        internal TapirCancellationToken(CancelTokenHandle handle, IDisposable owner = null, bool permanent = false)
        {
            Handle = handle;
            _owner = owner;
            _permanent = permanent;
        }

        /// <summary>The token that is never canceled (CancellationToken.None). Dispose does nothing on it.</summary>
        public static TapirCancellationToken None
        {
            get
            {
                var t = s_none;
                if (t != null) return t;
                Check.Status(NativeMethods.tapir_cancel_token_none(out IntPtr token));
                Interlocked.CompareExchange(ref s_none, new TapirCancellationToken(new CancelTokenHandle(token), null, true), null);
                return s_none;
            }
        }

        /// <summary>A token canceled from the start (new CancellationToken(true)).</summary>
        public static TapirCancellationToken CreateCanceled()
        {
            Check.Status(NativeMethods.tapir_cancel_token_new_canceled(out IntPtr token));
            return new TapirCancellationToken(new CancelTokenHandle(token));
        }

        /// <summary>
        /// A native token canceled when <paramref name="token"/> is; dispose it to end the bridge
        /// (after which the native token is no longer canceled by the .NET one).
        /// </summary>
        public static TapirCancellationToken FromCancellationToken(CancellationToken token)
        {
            var bridge = NativeToken.From(token);
            if (!bridge.Handle.IsInvalid) return new TapirCancellationToken(bridge.Handle, bridge);
            return None;
        }

        /// <summary>Wraps a token handle lent to a callback (takes a reference of its own).</summary>
        internal static TapirCancellationToken Borrow(IntPtr token)
        {
            IntPtr again = NativeMethods.tapir_cancel_token_retain(token);
            if (again == IntPtr.Zero) throw Check.LastStatus();
            return new TapirCancellationToken(new CancelTokenHandle(again));
        }

        public IntPtr NativeHandle => Handle.Value;

        public bool IsCancellationRequested
        {
            get
            {
                return NativeMethods.tapir_cancel_token_is_canceled(Handle);
            }
        }

        public bool CanBeCanceled
        {
            get
            {
                return NativeMethods.tapir_cancel_token_can_be_canceled(Handle);
            }
        }

        /// <summary>
        /// Registers <paramref name="callback"/> to run once when the token is canceled, on the
        /// canceling thread; if it already is, the callback runs now, before this returns. An
        /// exception it throws is reported by the canceling call (TapirCancellationSource.Cancel
        /// throws it inside an AggregateException).
        /// </summary>
        public TapirCancellationRegistration Register(Action callback)
        {
            if (callback == null) throw new ArgumentNullException(nameof(callback));
            return new TapirCancellationRegistration(RegisterCore(new ActionCanceler(callback)));
        }

        private CancelRegistrationHandle RegisterCore(CallbackState state)
        {
            IntPtr userData = Callbacks.Alloc(state);
            int rc;
            IntPtr registration;
            try
            {
                rc = NativeMethods.tapir_cancel_token_register(Handle, Callbacks.OnCancelPtr, userData, Callbacks.FreeHandlePtr, 0, out registration);
            }
            catch
            {
                Callbacks.Free(userData);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                throw Check.Exception(rc);
            }
            return registration == IntPtr.Zero ? null : new CancelRegistrationHandle(registration);
        }

        /// <summary>
        /// A .NET token canceled when this token is (the same one on every call). Its
        /// registrations run on the thread that cancels the native token.
        /// </summary>
        public CancellationToken ToCancellationToken()
        {
            lock (_lock)
            {
                if (_managed != null) return _managed.Token;
                if (!CanBeCanceled) return CancellationToken.None;
                if (IsCancellationRequested) return new CancellationToken(true);
                var cts = new CancellationTokenSource();
                // The native registration lives as long as the native source; releasing our
                // handle to it does not unregister it.
                RegisterCore(new CtsCanceler(cts))?.Dispose();
                _managed = cts;
                return cts.Token;
            }
        }

        /// <summary>Releases this token reference (it does not cancel). Calling it again does nothing.</summary>
        public void Dispose()
        {
            if (_permanent) return;
            if (_owner != null) _owner.Dispose();
            else Handle.Dispose();
        }

        private sealed class ActionCanceler : CallbackState
        {
            private readonly Action _callback;

            internal ActionCanceler(Action callback) { _callback = callback; }

            internal override IntPtr OnCancel()
            {
                _callback();
                return IntPtr.Zero;
            }
        }

        private sealed class CtsCanceler : CallbackState
        {
            private readonly CancellationTokenSource _cts;

            internal CtsCanceler(CancellationTokenSource cts) { _cts = cts; }

            internal override IntPtr OnCancel()
            {
                _cts.Cancel();   // exceptions of its registrations become the reported error
                return IntPtr.Zero;
            }
        }
    }

    /// <summary>A registration on a <see cref="TapirCancellationToken"/> (CancellationTokenRegistration).</summary>
    public sealed class TapirCancellationRegistration : IDisposable
    {
        private readonly CancelRegistrationHandle _handle;

        internal TapirCancellationRegistration(CancelRegistrationHandle handle) { _handle = handle; }

        /// <summary>
        /// Removes the callback without waiting: true if removed before it ran; false if it ran,
        /// is running, or was removed before (also when the token was already canceled at
        /// registration, or is the none token).
        /// </summary>
        public bool Unregister()
        {
            if (_handle == null) return false;
            int rc = NativeMethods.tapir_cancel_registration_unregister(_handle);
            if (rc == (int)TapirStatus.AlreadyCompleted) return false;
            Check.Status(rc);
            return true;
        }

        /// <summary>
        /// Removes the callback and, if it is running on another thread, waits until it returns
        /// (CancellationTokenRegistration.Dispose); then releases the registration.
        /// </summary>
        public void Dispose()
        {
            if (_handle == null || _handle.IsClosed) return;
            int rc = NativeMethods.tapir_cancel_registration_unregister_wait(_handle);
            _handle.Dispose();
            if (rc != 0 && rc != (int)TapirStatus.AlreadyCompleted) throw Check.Exception(rc);
        }
    }
}
