using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a removable task continuation (<c>tapir_registration</c>); releasing it does not remove the continuation. Released with <c>tapir_registration_release</c>.</summary>
    public sealed class RegistrationHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly RegistrationHandle Null = new RegistrationHandle(IntPtr.Zero, false);

        private RegistrationHandle() : base(IntPtr.Zero, true) { }

        internal RegistrationHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_registration_release(value);
        }
    }
}
