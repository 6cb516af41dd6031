using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;
using Tapir.Native;

namespace Tapir
{
    /// <summary>The event data of <see cref="TapirRuntime.UnhandledCallbackException"/>.</summary>
    public sealed class TapirCallbackExceptionEventArgs : EventArgs
    {
        internal TapirCallbackExceptionEventArgs(Exception exception) { Exception = exception; }

        /// <summary>What the callback threw.</summary>
        public Exception Exception { get; }
    }

    /// <summary>Library-wide operations: shutdown, diagnostics, and where callback exceptions without a task go.</summary>
    public static partial class TapirRuntime
    {
        private static int s_guardInstalled;
        private static volatile bool s_shutdownOnExit = true;
        private static volatile bool s_exiting;
        private static EventHandler<TapirCallbackExceptionEventArgs> s_unhandled;
        private static readonly object s_lock = new object();

        /// <summary>The native library's version, e.g. "0.1.0".</summary>
        public static string Version => Marshal.PtrToStringAnsi(NativeMethods.tapir_version());

        /// <summary>
        /// Stops and joins every thread tapir started (the pool and the timer), so a host can exit
        /// or unload the library; they start again when later work needs them. Pending delays are
        /// dropped (they never complete). Blocks until the threads have exited; never call it from
        /// a tapir callback that other tapir threads wait for.
        /// </summary>
        public static void Shutdown() => Check.Status(NativeMethods.tapir_shutdown());

        /// <summary>
        /// When true (the default), the wrapper calls <see cref="Shutdown"/> on
        /// AppDomain.ProcessExit and AppDomain.DomainUnload. Mono waits at exit for every native
        /// thread that ever ran managed code, and tapir's pool threads run managed callbacks, so
        /// without this a program that never calls Shutdown would hang at exit. Set it to false
        /// only if the host shuts tapir down itself before exiting or unloading.
        /// </summary>
        public static bool ShutdownOnExit
        {
            get => s_shutdownOnExit;
            set => s_shutdownOnExit = value;
        }

        internal static void InstallExitGuard()
        {
            if (Interlocked.Exchange(ref s_guardInstalled, 1) != 0) return;
            AppDomain.CurrentDomain.ProcessExit += OnExit;
            AppDomain.CurrentDomain.DomainUnload += OnExit;
        }

        private static void OnExit(object sender, EventArgs e)
        {
            if (!s_shutdownOnExit) return;
            try { NativeMethods.tapir_shutdown(); }
            catch (Exception) { }   // the library is unloading or gone: nothing left to stop
            s_exiting = true;
        }

        /// <summary>
        /// True once the exit guard has shut tapir down: handle wrappers finalized from then on
        /// keep their native references (see <see cref="Handles.TapirSafeHandle"/>).
        /// </summary>
        internal static bool Exiting => s_exiting;

        /// <summary>How many continuations wait on <paramref name="task"/> (0 once it completed):
        /// a diagnostic, to see that an await registered or that a removal freed it.</summary>
        public static long PendingContinuations(TapirTask task)
        {
            if (task == null) throw new ArgumentNullException(nameof(task));
            long n = (long)NativeMethods.tapir_debug_task_continuations(task.Handle.DangerousGetHandle()).ToUInt64();
            GC.KeepAlive(task);
            return n;
        }

        /// <summary>Live native objects of a kind (diagnostics: proves nothing leaks; not for hot paths).</summary>
        public static long LiveObjects(TapirObjectKind kind = TapirObjectKind.All) => (long)NativeMethods.tapir_debug_live_objects((int)kind).ToUInt64();

        /// <summary>Pending native timers: delays, timeouts, CancelAfter deadlines (diagnostics).</summary>
        public static long PendingTimers => (long)NativeMethods.tapir_debug_pending_timers().ToUInt64();

        /// <summary>
        /// Raised when a callback that has no task to fail throws: an await continuation, a work
        /// item posted to a scheduler, a progress handler, an unobserved-error handler. It runs on
        /// the callback's thread. With no handler, the exception is rethrown on a .NET thread-pool
        /// thread, where, as for any unhandled exception, it ends the process; it never unwinds
        /// into native code.
        /// </summary>
        public static event EventHandler<TapirCallbackExceptionEventArgs> UnhandledCallbackException
        {
            add { lock (s_lock) s_unhandled += value; }
            remove { lock (s_lock) s_unhandled -= value; }
        }

        internal static void ReportUnhandled(Exception exception)
        {
            var handlers = Volatile.Read(ref s_unhandled);
            if (handlers != null)
            {
                try
                {
                    handlers(null, new TapirCallbackExceptionEventArgs(exception));
                    return;
                }
                catch (Exception e)
                {
                    exception = e;
                }
            }
            ThreadPool.UnsafeQueueUserWorkItem(s => ExceptionDispatchInfo.Capture((Exception)s).Throw(), exception);
        }
    }
}
