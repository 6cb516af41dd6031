using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a registration on a cancellation token (<c>tapir_cancel_registration</c>); releasing it does not unregister. Released with <c>tapir_cancel_registration_release</c>.</summary>
    public sealed class CancelRegistrationHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly CancelRegistrationHandle Null = new CancelRegistrationHandle(IntPtr.Zero, false);

        private CancelRegistrationHandle() : base(IntPtr.Zero, true) { }

        internal CancelRegistrationHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_cancel_registration_release(value);
        }
    }
}
