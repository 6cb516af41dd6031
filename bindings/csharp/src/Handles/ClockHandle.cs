using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native clock (<c>tapir_clock</c>). Released with <c>tapir_clock_release</c>.</summary>
    public sealed class ClockHandle : TapirSafeHandle
    {
        private ClockHandle() : base(IntPtr.Zero, true) { }

        internal ClockHandle(IntPtr handle) : base(handle, true) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_clock_release(value);
        }
    }
}
