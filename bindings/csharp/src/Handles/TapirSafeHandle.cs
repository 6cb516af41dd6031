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
