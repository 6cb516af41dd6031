using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native task (<c>tapir_task</c>). Released with <c>tapir_task_release</c>.</summary>
    public sealed class TaskHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly TaskHandle Null = new TaskHandle(IntPtr.Zero, false);

        private TaskHandle() : base(IntPtr.Zero, true) { }

        internal TaskHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_task_release(value);
        }
    }
}
