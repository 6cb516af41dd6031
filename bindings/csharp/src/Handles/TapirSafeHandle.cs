using System;
using System.Runtime.InteropServices;

namespace Tapir.Handles
{
    /// <summary>
    /// The base of every tapir handle wrapper: a reference-counted native handle that is
    /// released exactly once, by <see cref="SafeHandle.Dispose()"/> or by the finalizer
    /// (releasing on the finalizer thread is allowed: tapir's release never blocks).
    /// A zero handle is invalid and is never released.
    /// </summary>
    public abstract class TapirSafeHandle : SafeHandle
    {
        private protected TapirSafeHandle(IntPtr handle, bool ownsHandle) : base(IntPtr.Zero, ownsHandle)
        {
            SetHandle(handle);
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        /// <summary>
        /// Releases the reference once — unless the process is exiting: after the exit guard
        /// has shut tapir down (see <see cref="TapirRuntime.ShutdownOnExit"/>), Mono finalizes
        /// every object, and a release then could break a promise and start tapir's pool
        /// again, whose threads would call into a runtime that is tearing down. The process
        /// frees the memory anyway.
        /// </summary>
        protected sealed override bool ReleaseHandle()
        {
            if (!TapirRuntime.Exiting) ReleaseNative(handle);
            return true;
        }

        /// <summary>Releases the native reference this wrapper owns (called once).</summary>
        internal abstract void ReleaseNative(IntPtr value);

        /// <summary>The raw handle value; throws when the handle was disposed.</summary>
        internal IntPtr Value
        {
            get
            {
                if (IsClosed) throw new ObjectDisposedException(GetType().Name);
                return handle;
            }
        }

        /// <summary>
        /// Gives up ownership: returns the raw reference (the caller, or native code, now owns
        /// it) and marks this wrapper closed so it never releases it.
        /// </summary>
        internal IntPtr Detach()
        {
            IntPtr h = handle;
            SetHandleAsInvalid();
            return h;
        }
    }
}
