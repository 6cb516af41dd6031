using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native scheduler (<c>tapir_scheduler</c>). Released with <c>tapir_scheduler_release</c>.</summary>
    public sealed class SchedulerHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly SchedulerHandle Null = new SchedulerHandle(IntPtr.Zero, false);

        private SchedulerHandle() : base(IntPtr.Zero, true) { }

        internal SchedulerHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_scheduler_release(value);
        }
    }
}
