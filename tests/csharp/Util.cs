using System;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Helpers shared by the suite.</summary>
    internal static class Util
    {
        /// <summary>An async method that awaits <paramref name="task"/> once (the awaiter path under test).</summary>
        internal static async Task<int> AwaitOne(TapirTask<int> task) => await task;

        /// <summary>As the other overload, for a reference type.</summary>
        internal static async Task<string> AwaitOne(TapirTask<string> task) => await task;

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
            bool back = Eventually(() =>
            {
                if ((now = TapirRuntime.LiveObjects()) <= baseline) return true;
                ScrubStacks();
                return false;
            });
            // Below the baseline is not this test's leak: an earlier test's garbage that a
            // conservative stack scan kept through the baseline's collections (or a source
            // and task pair on its second finalization round) was released meanwhile.
            Assert.IsTrue(back, "live objects: " + now + " (" + PerKind() + "), expected back to " + baseline);
        }

        /// <summary>
        /// For garbage the finalizer thread must release: asserts the live count comes back to
        /// within <paramref name="slack"/> of <paramref name="baseline"/>. Mono scans native
        /// frames (and, without precise stack marking, managed ones) conservatively, so a stale
        /// slot on an idle thread can keep one dead wrapper — a source and its task — alive
        /// until that thread runs again. A leak in the code under test grows with the work
        /// done (hundreds or thousands of objects here), which a slack of a couple never hides.
        /// </summary>
        internal static void AssertGarbageReleased(long baseline, int slack)
        {
            long now = 0;
            bool back = Eventually(() =>
            {
                if ((now = TapirRuntime.LiveObjects()) <= baseline + slack) return true;
                ScrubStacks();
                return false;
            });
            Assert.IsTrue(back, "live objects: " + now + " (" + PerKind() + "), expected back to " + baseline + " (+" + slack + ")");
        }

        /// <summary>
        /// Mono scans thread stacks conservatively: a dead slot on an idle thread (a .NET pool
        /// thread, a tapir pool thread, the finalizer thread) that still holds the address of a
        /// wrapper keeps that wrapper, and so its native reference, alive. Running deep,
        /// zero-filled frames on those threads overwrites such slots; it changes nothing else.
        /// </summary>
        internal static void ScrubStacks()
        {
            const int n = 8;
            using (var done = new CountdownEvent(3 * n))
            {
                for (int i = 0; i < n; i++)
                {
                    ThreadPool.QueueUserWorkItem(_ => { Deep(200); done.Signal(); });
                    TapirTask.Run(() => { Deep(200); done.Signal(); });
                    TapirScheduler.Default.Post(() => { Deep(200); done.Signal(); });
                }
                done.Wait(5000);
            }
            var t = new Thread(() => Deep(200));
            t.Start();
            t.Join();
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static long Deep(int depth)
        {
            long a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0;
            if (depth > 0) a = Deep(depth - 1);
            return a + b + c + d + e + f + g + h;
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
