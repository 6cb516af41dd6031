using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using Tapir.Handles;
using Tapir.Native;

namespace Tapir
{
    // Blocking waits block in managed code, never inside a native call. A thread parked in a
    // native wait is out of the runtime's reach: Mono's Environment.Exit, an AppDomain unload
    // (Unity's domain reload) and Thread.Interrupt all wait for it to come back, so a Wait()
    // with no limit would hang them forever. Instead each wait registers a continuation that
    // sets a ManualResetEventSlim (as the TPL's own Task.Wait does) and waits on that; a wait
    // that ends by timeout or cancellation removes its continuation, so polling a task that
    // never completes leaves nothing behind.
    public partial class TapirTask
    {
        /// <summary>
        /// Blocks until this task completes (true), the time runs out (false), or
        /// <paramref name="cancellationToken"/> is canceled (OperationCanceledException).
        /// </summary>
        internal bool BlockUntilCompleted(int millisecondsTimeout, CancellationToken cancellationToken)
        {
            if (IsCompleted) return true;
            var signal = new ManualResetEventSlim();
            var registration = RegisterSignal(signal);
            try
            {
                return signal.Wait(millisecondsTimeout, cancellationToken);
            }
            finally
            {
                Withdraw(registration);
            }
        }

        /// <summary>Blocks until every task completes (true) or the time runs out (false).</summary>
        internal static bool BlockUntilAllCompleted(IReadOnlyList<TapirTask> tasks, int millisecondsTimeout)
        {
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < tasks.Count; i++)
            {
                int left = Remaining(millisecondsTimeout, clock);
                if (left == 0 && !tasks[i].IsCompleted) return false;
                if (!tasks[i].BlockUntilCompleted(left, CancellationToken.None)) return false;
            }
            return true;
        }

        /// <summary>Blocks until one task completes and returns the lowest index of a completed one; -1 when the time runs out.</summary>
        internal static int BlockUntilAnyCompleted(IReadOnlyList<TapirTask> tasks, int millisecondsTimeout)
        {
            int done = FirstCompleted(tasks);
            if (done >= 0 || tasks.Count == 0) return done;
            var signal = new ManualResetEventSlim();
            var registrations = new RegistrationHandle[tasks.Count];
            try
            {
                for (int i = 0; i < tasks.Count && !signal.IsSet; i++) registrations[i] = tasks[i].RegisterSignal(signal);
                if (!signal.Wait(millisecondsTimeout)) return -1;
                return FirstCompleted(tasks);
            }
            finally
            {
                foreach (var registration in registrations) Withdraw(registration);
            }
        }

        private static int FirstCompleted(IReadOnlyList<TapirTask> tasks)
        {
            for (int i = 0; i < tasks.Count; i++)
                if (tasks[i].IsCompleted) return i;
            return -1;
        }

        private static int Remaining(int millisecondsTimeout, Stopwatch clock)
        {
            if (millisecondsTimeout == Timeout.Infinite) return Timeout.Infinite;
            long left = millisecondsTimeout - clock.ElapsedMilliseconds;
            return left > 0 ? (int)left : 0;
        }

        /// <summary>
        /// Registers <paramref name="signal"/>.Set to run inline when this task completes. Returns
        /// the registration, or null when the task had completed already (the signal is set).
        /// </summary>
        private RegistrationHandle RegisterSignal(ManualResetEventSlim signal)
        {
            ThrowIfDisposed();
            Action set = signal.Set;
            IntPtr userData = Callbacks.Alloc(set);
            int rc;
            IntPtr registration;
            try
            {
                var options = ContinuationOptions.With(Flags.ExecuteSynchronously, IntPtr.Zero, IntPtr.Zero);
                rc = NativeMethods.tapir_task_on_complete(Handle, Callbacks.OnCompletePtr, userData, Callbacks.FreeHandlePtr, ref options, out registration);
            }
            catch
            {
                Callbacks.Free(userData);
                throw;
            }
            if (rc != 0)
            {
                Callbacks.Free(userData);
                throw Check.Exception(rc);
            }
            return registration == IntPtr.Zero ? null : new RegistrationHandle(registration);
        }

        /// <summary>
        /// Ends a wait's registration: removes the continuation if it has not run (its destroy
        /// then frees the state) and releases the handle. A wait on several tasks withdraws
        /// from the ones still pending after the first completed.
        /// </summary>
        private static void Withdraw(RegistrationHandle registration)
        {
            if (registration == null) return;
            NativeMethods.tapir_registration_remove(registration);   // ALREADY_COMPLETED when it ran: nothing to undo
            registration.Dispose();
        }
    }
}
