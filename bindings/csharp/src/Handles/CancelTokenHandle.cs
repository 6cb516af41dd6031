using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native cancellation token (<c>tapir_cancel_token</c>). Released with <c>tapir_cancel_token_release</c>.</summary>
    public sealed class CancelTokenHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly CancelTokenHandle Null = new CancelTokenHandle(IntPtr.Zero, false);

        private CancelTokenHandle() : base(IntPtr.Zero, true) { }

        internal CancelTokenHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_cancel_token_release(value);
        }
    }
}
