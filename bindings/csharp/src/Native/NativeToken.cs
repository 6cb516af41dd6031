using System;
using System.Threading;
using Tapir.Handles;

namespace Tapir.Native
{
    /// <summary>
    /// A native token standing for a .NET <see cref="CancellationToken"/> for the length of one
    /// operation: the none token for a token that cannot be canceled, a canceled token for one
    /// already canceled, and otherwise a native cancel source that the CancellationToken's
    /// registration cancels. The bridge must live as long as the operation that observes it
    /// (releasing the native source would drop the operation's registration on it):
    /// <see cref="TapirTask.DisposeWhenDone"/> ties it to the operation's task.
    /// </summary>
    internal sealed class NativeToken : IDisposable
    {
        private static readonly Action<object> s_cancel = CancelSource;
        private static readonly NativeToken s_none = new NativeToken(CancelTokenHandle.Null, null);

        internal readonly CancelTokenHandle Handle;
        private readonly CancelSourceHandle _source;
        private CancellationTokenRegistration _registration;

        private NativeToken(CancelTokenHandle handle, CancelSourceHandle source)
        {
            Handle = handle;
            _source = source;
        }

        /// <summary>True when the bridge holds native objects and must outlive the operation.</summary>
        internal bool NeedsLifetime => _source != null;

        internal static NativeToken From(CancellationToken token)
        {
            if (!token.CanBeCanceled) return s_none;
            if (token.IsCancellationRequested)
            {
                Check.Status(NativeMethods.tapir_cancel_token_new_canceled(out IntPtr canceled));
                return new NativeToken(new CancelTokenHandle(canceled), null);
            }
            Check.Status(NativeMethods.tapir_cancel_source_new(out IntPtr s));
            var source = new CancelSourceHandle(s);
            int rc = NativeMethods.tapir_cancel_source_token(source, out IntPtr t);
            if (rc != 0)
            {
                source.Dispose();
                throw Check.Exception(rc);
            }
            var bridge = new NativeToken(new CancelTokenHandle(t), source);
            // If the token is canceled meanwhile, Register runs the callback now: still correct.
            bridge._registration = token.Register(s_cancel, source);
            return bridge;
        }

        private static void CancelSource(object state)
        {
            var source = (CancelSourceHandle)state;
            if (source.IsClosed) return;
            int rc = NativeMethods.tapir_cancel_source_cancel(source, 0, out IntPtr errors);
            if (errors != IntPtr.Zero) throw Errors.TakeException(errors);   // CancellationTokenSource.Cancel reports it
            if (rc != 0 && rc != (int)TapirStatus.InvalidHandle) throw Check.Exception(rc);
        }

        /// <summary>Passes the bridge's lifetime to <paramref name="task"/>; disposes it at once when it needs none.</summary>
        internal void ReleaseWith(TapirTask task)
        {
            if (NeedsLifetime) task.DisposeWhenDone(this);
            else Dispose();
        }

        public void Dispose()
        {
            if (ReferenceEquals(this, s_none)) return;
            _registration.Dispose();
            Handle.Dispose();
            _source?.Dispose();
        }
    }
}
