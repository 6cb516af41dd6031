// The C# side of the cross-language conformance test, loaded by the C program through
// Mono's embedding API. It awaits the C program's task with `await` through the binding
// and makes the error of the "set from C#" scenario.
using System;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Tapir;

namespace Conformance
{
    public static class CSharpSide
    {
        [DllImport("tapir", CallingConvention = CallingConvention.Cdecl)]
        private static extern int tapir_task_error(IntPtr task, out IntPtr error);

        private static Exception s_original;

        /// <summary>A new tapir_error reference whose payload is a C# exception object.</summary>
        public static IntPtr MakeError()
        {
            s_original = new TapirException((TapirStatus)5151, "from C#");
            using (var faulted = TapirTask.FromException(s_original))
            {
                if (tapir_task_error(faulted.NativeHandle, out IntPtr error) != 0)
                    throw new InvalidOperationException("tapir_task_error failed");
                return error;
            }
        }

        /// <summary>Starts awaiting `task` (borrowed); the result goes to `report`.</summary>
        public static void Await(IntPtr task, IntPtr report)
        {
            var t = TapirTask<long>.FromNativeHandle(task, addRef: true);
            Task.Run(() => AwaitAsync(t, report));
        }

        private static async Task AwaitAsync(TapirTask<long> task, IntPtr report)
        {
            string text;
            try
            {
                long v = await task;
                text = "value " + v;
            }
            catch (OperationCanceledException)
            {
                text = "canceled";
            }
            catch (Exception e)
            {
                int code = e is TapirException te ? (int)te.Code : -1;
                text = "error " + code + " " + e.Message + (ReferenceEquals(e, s_original) ? " original" : "");
            }
            finally
            {
                task.Dispose();
            }
            Write(report, text);
        }

        private static void Write(IntPtr report, string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            int n = Math.Min(bytes.Length, 250);
            Marshal.Copy(bytes, 0, report + 4, n);
            Marshal.WriteByte(report + 4 + n, 0);
            Thread.MemoryBarrier();
            Marshal.WriteInt32(report, 1);
        }

        /// <summary>Forgets the original exception (so nothing managed keeps native objects).</summary>
        public static void Reset()
        {
            s_original = null;
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
