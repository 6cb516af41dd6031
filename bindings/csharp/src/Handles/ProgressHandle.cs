using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native progress reporter (<c>tapir_progress</c>). Released with <c>tapir_progress_release</c>.</summary>
    public sealed class ProgressHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly ProgressHandle Null = new ProgressHandle(IntPtr.Zero, false);

        private ProgressHandle() : base(IntPtr.Zero, true) { }

        internal ProgressHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_progress_release(value);
        }
    }
}
