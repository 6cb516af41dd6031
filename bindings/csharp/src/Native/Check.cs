using System;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace Tapir.Native
{
    /// <summary>Turns the status of a synchronous native call into the .NET exception a caller expects.</summary>
    internal static class Check
    {
        internal static void Status(int rc)
        {
            if (rc != 0) throw Exception(rc);
        }

        internal static string Describe(int rc) => Marshal.PtrToStringAnsi(NativeMethods.tapir_status_str(rc)) ?? "unknown status";

        internal static Exception Exception(int rc)
        {
            string message = Describe(rc);
            switch ((TapirStatus)rc)
            {
                case TapirStatus.NullArgument: return new ArgumentNullException(null, message);
                case TapirStatus.InvalidArgument: return new ArgumentException(message);
                case TapirStatus.InvalidState:
                case TapirStatus.AlreadyCompleted: return new InvalidOperationException(message);
                case TapirStatus.Canceled: return new TaskCanceledException(message);
                case TapirStatus.Timeout: return new TimeoutException(message);
                case TapirStatus.InvalidHandle:
                case TapirStatus.Disposed: return new ObjectDisposedException(null, message);
                case TapirStatus.Panic: return new TapirInternalException(message);
                default: return new TapirException((TapirStatus)rc, message);
            }
        }

        /// <summary>For a native bool result of false: the reason, from tapir_last_status.</summary>
        internal static Exception LastStatus() => Exception(NativeMethods.tapir_last_status());
    }
}
