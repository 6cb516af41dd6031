using System;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    /// <summary>
    /// A native progress reporter (Progress&lt;T&gt;): each <see cref="Report"/> runs the handler on
    /// the chosen scheduler (null: the tapir pool, where reports may run concurrently and out of
    /// order; a <see cref="ManualScheduler"/> delivers them in order on the thread that pumps it).
    /// Reports already posted still run after Dispose. An exception the handler throws goes to
    /// <see cref="TapirRuntime.UnhandledCallbackException"/>.
    /// </summary>
    public sealed class TapirProgress<T> : IProgress<T>, IDisposable
    {
        private readonly ProgressHandle _handle;

        public TapirProgress(Action<T> handler, TapirScheduler scheduler = null)
        {
            if (handler == null) throw new ArgumentNullException(nameof(handler));
            IntPtr userData = Callbacks.Alloc(new Handler(handler));
            int rc;
            IntPtr progress;
            try
            {
                rc = NativeMethods.tapir_progress_new(scheduler?.Handle ?? SchedulerHandle.Null, Callbacks.OnProgressPtr, userData,
                    Callbacks.FreeHandlePtr, out progress);
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
            _handle = new ProgressHandle(progress);
        }

        public IntPtr NativeHandle => _handle.Value;

        /// <summary>Posts the handler with <paramref name="value"/> and returns at once.</summary>
        public void Report(T value)
        {
            IntPtr bits = ValueCodec<T>.Encode(value, out IntPtr destroy);
            int rc;
            try
            {
                rc = NativeMethods.tapir_progress_report(_handle, bits, destroy);
            }
            catch
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw;
            }
            if (rc != 0)
            {
                ValueCodec<T>.Discard(bits, destroy);
                throw Check.Exception(rc);
            }
        }

        public void Dispose() => _handle.Dispose();

        private sealed class Handler : CallbackState
        {
            private readonly Action<T> _handler;

            internal Handler(Action<T> handler) { _handler = handler; }

            internal override void OnProgress(IntPtr value) => _handler(ValueCodec<T>.Decode(value));
        }
    }
}
