using System;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>A reference to a native completion source (<c>tapir_source</c>); the last one released while the task is pending breaks the promise. Released with <c>tapir_source_release</c>.</summary>
    public sealed class SourceHandle : TapirSafeHandle
    {
        /// <summary>A zero handle that is never released: what an optional native argument receives for "none".</summary>
        internal static readonly SourceHandle Null = new SourceHandle(IntPtr.Zero, false);

        private SourceHandle() : base(IntPtr.Zero, true) { }

        internal SourceHandle(IntPtr handle, bool ownsHandle = true) : base(handle, ownsHandle) { }

        internal override void ReleaseNative(IntPtr value)
        {
            NativeMethods.tapir_source_release(value);
        }
    }
}
