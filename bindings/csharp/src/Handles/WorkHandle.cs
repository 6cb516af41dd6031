using System;
using System.Threading;
using Tapir.Native;

namespace Tapir.Handles
{
    /// <summary>
    /// A work item a host scheduler received (<c>tapir_work</c>): uniquely owned, consumed
    /// exactly once by <see cref="Run"/> (<c>tapir_work_run</c>). Dropped without running, it is
    /// discarded (<c>tapir_work_discard</c>: its user data is destroyed and the task it would
    /// complete breaks its promise), also when the finalizer collects it.
    /// </summary>
    public sealed class WorkHandle : TapirSafeHandle
    {
        private int _consumed;

        private WorkHandle() : base(IntPtr.Zero, true) { }

        internal WorkHandle(IntPtr work) : base(work, true) { }

        /// <summary>Runs the work item on the calling thread and consumes it. A second call does nothing.</summary>
        public void Run()
        {
            if (Interlocked.Exchange(ref _consumed, 1) != 0) return;
            bool added = false;
            try
            {
                DangerousAddRef(ref added);
                IntPtr work = handle;
                SetHandleAsInvalid();          // consumed by the call below: never discard it too
                NativeMethods.tapir_work_run(work);
            }
            finally
            {
                if (added) DangerousRelease();
            }
        }

        internal override void ReleaseNative(IntPtr value)
        {
            if (Interlocked.Exchange(ref _consumed, 1) == 0) NativeMethods.tapir_work_discard(value);
        }
    }
}
