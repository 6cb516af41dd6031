using System;
using System.Diagnostics;
using System.Threading;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Helpers shared by the suite.</summary>
    internal static class Util
    {
        /// <summary>Collects garbage and runs finalizers until nothing more is released.</summary>
        internal static void Settle()
        {
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }

        /// <summary>Polls <paramref name="condition"/> (collecting garbage between polls) until it holds or the time is up.</summary>
        internal static bool Eventually(Func<bool> condition, int milliseconds = 10000)
        {
            var sw = Stopwatch.StartNew();
            while (true)
            {
                if (condition()) return true;
                if (sw.ElapsedMilliseconds > milliseconds) return false;
                Settle();
                Thread.Sleep(5);
            }
        }

        /// <summary>Asserts the live native object count returns to <paramref name="baseline"/>.</summary>
        internal static void AssertLiveObjectsBackTo(long baseline)
        {
            long now = 0;
            bool back = Eventually(() => (now = TapirRuntime.LiveObjects()) <= baseline);
            Assert.IsTrue(back, "live objects: " + now + " (" + PerKind() + "), expected back to " + baseline);
            Assert.AreEqual(baseline, now, "live objects below the start value: the baseline was taken with garbage pending");
        }

        internal static string PerKind()
        {
            var parts = new System.Collections.Generic.List<string>();
            foreach (TapirObjectKind kind in Enum.GetValues(typeof(TapirObjectKind)))
                if (kind != TapirObjectKind.All) parts.Add(kind + " " + TapirRuntime.LiveObjects(kind));
            return string.Join(", ", parts);
        }

        /// <summary>
        /// Runs <paramref name="body"/> on a thread of its own and waits for it to end. Mono scans
        /// stacks conservatively, so objects a test just used can stay reachable from stale slots
        /// of its own stack; garbage made on a thread that has exited cannot.
        /// </summary>
        internal static void OnFreshThread(Action body)
        {
            Exception error = null;
            var t = new Thread(() =>
            {
                try { body(); }
                catch (Exception e) { error = e; }
            }, 16 * 1024 * 1024);
            t.Start();
            t.Join();
            if (error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }

        /// <summary>The live native object count with nothing pending.</summary>
        internal static long Baseline()
        {
            Settle();
            long a = TapirRuntime.LiveObjects();
            Settle();
            long b = TapirRuntime.LiveObjects();
            while (a != b)
            {
                a = b;
                Thread.Sleep(20);
                Settle();
                b = TapirRuntime.LiveObjects();
            }
            return b;
        }

        /// <summary>Starts <paramref name="action"/> on a new thread after <paramref name="delayMs"/>.</summary>
        internal static Thread Later(int delayMs, Action action)
        {
            var t = new Thread(() =>
            {
                Thread.Sleep(delayMs);
                action();
            }) { IsBackground = true };
            t.Start();
            return t;
        }

        /// <summary>A task produced the way C code produces one: a raw source completed with raw pointer bits.</summary>
        internal static IntPtr NativeTaskWithBits(IntPtr bits)
        {
            Check.Status(NativeMethods.tapir_task_from_result(bits, IntPtr.Zero, out IntPtr task));
            return task;
        }

        /// <summary>A native error created the way C code creates one (no managed payload).</summary>
        internal static IntPtr NativeError(TapirStatus code, string message)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(message);
            Check.Status(NativeMethods.tapir_error_new((int)code, bytes, (UIntPtr)bytes.Length, IntPtr.Zero, IntPtr.Zero, out IntPtr error));
            return error;
        }
    }

    /// <summary>A SynchronizationContext that queues posts for a test to run by hand, recording the calls.</summary>
    internal sealed class QueueContext : SynchronizationContext
    {
        private readonly System.Collections.Concurrent.BlockingCollection<Tuple<SendOrPostCallback, object>> _queue =
            new System.Collections.Concurrent.BlockingCollection<Tuple<SendOrPostCallback, object>>();
        internal int Posts;

        public override void Post(SendOrPostCallback d, object state)
        {
            Interlocked.Increment(ref Posts);
            _queue.Add(Tuple.Create(d, state));
        }

        public override SynchronizationContext CreateCopy() => this;

        /// <summary>Runs one queued post (waiting up to the timeout for one); false if none came.</summary>
        internal bool RunOne(int timeoutMs = 5000)
        {
            if (!_queue.TryTake(out Tuple<SendOrPostCallback, object> item, timeoutMs)) return false;
            var previous = Current;
            SetSynchronizationContext(this);
            try { item.Item1(item.Item2); }
            finally { SetSynchronizationContext(previous); }
            return true;
        }

        internal int Pending => _queue.Count;
    }
}
