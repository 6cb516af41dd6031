using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native error value (<c>tapir_error</c>). Released with <c>tapir_error_release</c>.</summary>
    public sealed class ErrorHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly ErrorHandle Null = new ErrorHandle(IntPtr.Zero, false);

        private ErrorHandle() : base(IntPtr.Zero, true) { }

        internal ErrorHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_error_release(value);
        }
    }
}
