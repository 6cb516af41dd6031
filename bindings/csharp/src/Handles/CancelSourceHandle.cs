using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native cancellation source (<c>tapir_cancel_source</c>). Released with <c>tapir_cancel_source_release</c>.</summary>
    public sealed class CancelSourceHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly CancelSourceHandle Null = new CancelSourceHandle(IntPtr.Zero, false);

        private CancelSourceHandle() : base(IntPtr.Zero, true) { }

        internal CancelSourceHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_cancel_source_release(value);
        }
    }
}
