using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>
    /// Pending awaits: the pooled per-await state (reused, returned exactly once, also when the
    /// continuation throws or the await is discarded), awaits racing a completion on another
    /// thread, and the value an inline resume learns from the TrySetResult that resumed it.
    /// </summary>
    [TestFixture]
    public class AwaitTests
    {
        [Test]
        public void APendingAwaitReusesItsStateAcrossManyAwaits()
        {
            for (int i = 0; i < 100; i++) Step(i);   // the pool has what one await at a time needs
            int before = AwaitState.Count;
            long sum = 0;
            for (int i = 0; i < 20000; i++) sum += Step(i);
            Assert.AreEqual(20000L * 19999 / 2, sum);
            // Other fixtures' leftovers may still complete on pool threads meanwhile: a small slack.
            Assert.LessOrEqual(AwaitState.Count - before, 8, "each await should reuse a pooled state");
        }

        private static int Step(int i)
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            var waiting = Util.AwaitOne(task);
            Assert.IsFalse(waiting.IsCompleted);
            source.SetResult(i);
            Assert.IsTrue(waiting.IsCompleted, "no context captured: the await resumes inline in SetResult");
            int v = waiting.Result;
            source.Dispose();
            task.Dispose();
            return v;
        }

        [Test]
        public void ManyAwaitsPendingAtOnceEachGetTheirOwnValue()
        {
            const int n = 500;
            var sources = new TapirCompletionSource<int>[n];
            var waiting = new Task<int>[n];
            for (int i = 0; i < n; i++)
            {
                sources[i] = new TapirCompletionSource<int>();
                waiting[i] = Util.AwaitOne(sources[i].Task);
            }
            for (int i = n - 1; i >= 0; i--) sources[i].SetResult(i * 3);
            for (int i = 0; i < n; i++) Assert.AreEqual(i * 3, waiting[i].Result);
            int before = AwaitState.Count;
            for (int i = 0; i < n; i++) sources[i] = new TapirCompletionSource<int>();
            for (int i = 0; i < n; i++) waiting[i] = Util.AwaitOne(sources[i].Task);
            for (int i = 0; i < n; i++) sources[i].SetResult(i);
            for (int i = 0; i < n; i++) Assert.AreEqual(i, waiting[i].Result);
            Assert.LessOrEqual(AwaitState.Count - before, 8, "the second round reuses the first round's states");
        }

        [Test]
        public void AwaitsRacingACompletionOnAnotherThreadSeeTheValue()
        {
            const int rounds = 3000;
            for (int i = 0; i < rounds; i++)
            {
                var source = new TapirCompletionSource<int>();
                var task = source.Task;
                using (var go = new ManualResetEventSlim())
                {
                    int value = i;
                    var setter = new Thread(() => { go.Wait(); source.SetResult(value); });
                    setter.Start();
                    go.Set();
                    var waiting = Util.AwaitOne(task);   // registers before, during or after the set
                    Assert.IsTrue(waiting.Wait(10000), "round " + i);
                    Assert.AreEqual(value, waiting.Result);
                    setter.Join();
                }
            }
        }

        [Test]
        public void AnInlineResumeSeesTheValueCachedAndRunsOnTheSettingThread()
        {
            var source = new TapirCompletionSource<string>();
            var task = source.Task;
            int resumedOn = -1;
            bool cached = false;
            string seen = null;
            task.GetAwaiter().UnsafeOnCompleted(() =>
            {
                resumedOn = Thread.CurrentThread.ManagedThreadId;
                cached = task.State == TapirTask.ValueCached;
                seen = task.GetAwaiter().GetResult();
            });
            source.SetResult("value");
            Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, resumedOn);
            Assert.IsTrue(cached, "the resumed await needs no native call for the value");
            Assert.AreEqual("value", seen);
            Assert.AreEqual("value", Util.AwaitOne(task).Result);
        }

        [Test]
        public void AResumeThatSetsOtherSourcesSeesEachTheirOwnValue()
        {
            var outer = new TapirCompletionSource<int>();
            var inner = new TapirCompletionSource<int>();
            var innerTask = inner.Task;
            var innerWaiting = Util.AwaitOne(innerTask);
            int outerSeen = 0;
            bool secondSet = true;
            outer.Task.GetAwaiter().UnsafeOnCompleted(() =>
            {
                secondSet = outer.TrySetResult(99);   // refused: the value stays 7
                inner.SetResult(11);                  // resumes innerWaiting inline, nested
                outerSeen = outer.Task.GetAwaiter().GetResult();
            });
            outer.SetResult(7);
            Assert.IsFalse(secondSet);
            Assert.AreEqual(7, outerSeen);
            Assert.AreEqual(11, innerWaiting.Result);
            Assert.AreEqual(7, Util.AwaitOne(outer.Task).Result);
        }

        [Test]
        public void AnAwaitOfATaskCompletedByNativeCodeReadsItsValue()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            var waiting = Util.AwaitOne(task);
            // Completed through the native handle: no managed TrySetResult on the stack.
            Assert.IsTrue(NativeMethods.tapir_source_try_set_result(source.NativeHandle, new IntPtr(42), IntPtr.Zero));
            Assert.AreEqual(42, waiting.Result);
        }

        [Test]
        public void AContinuationThatThrowsStillReturnsItsState()
        {
            Exception reported = null;
            EventHandler<TapirCallbackExceptionEventArgs> handler = (s, e) => reported = e.Exception;
            TapirRuntime.UnhandledCallbackException += handler;
            try
            {
                for (int i = 0; i < 10; i++) ThrowingAwait();   // warm the pool
                int before = AwaitState.Count;
                for (int i = 0; i < 1000; i++) ThrowingAwait();
                Assert.IsInstanceOf<InvalidOperationException>(reported);
                Assert.LessOrEqual(AwaitState.Count - before, 8);
            }
            finally
            {
                TapirRuntime.UnhandledCallbackException -= handler;
            }
        }

        private static void ThrowingAwait()
        {
            var source = new TapirCompletionSource<int>();
            source.Task.GetAwaiter().UnsafeOnCompleted(() => { throw new InvalidOperationException("from a continuation"); });
            source.SetResult(1);
            source.Dispose();
        }

        [Test]
        public void AnAwaitDiscardedByADisposedSchedulerReturnsItsState()
        {
            DiscardedAwaits(20);   // warm the pool
            int before = AwaitState.Count;
            DiscardedAwaits(300);
            Assert.LessOrEqual(AwaitState.Count - before, 8, "a discarded await's destroy returns its state");
        }

        private static void DiscardedAwaits(int n)
        {
            for (int i = 0; i < n; i++)
            {
                var scheduler = new ManualScheduler();
                var source = new TapirCompletionSource<int>();
                bool ran = false;
                var outer = SynchronizationContext.Current;
                SynchronizationContext.SetSynchronizationContext(scheduler.SynchronizationContext);
                try
                {
                    source.Task.GetAwaiter().UnsafeOnCompleted(() => ran = true);
                }
                finally
                {
                    SynchronizationContext.SetSynchronizationContext(outer);
                }
                source.SetResult(i);   // the resume is queued on the scheduler
                scheduler.Dispose();   // and discarded: the destroy runs without the callback
                Assert.IsFalse(ran);
                source.Dispose();
            }
        }

        [Test]
        public void OnCompletedFlowsTheExecutionContextAndUnsafeOnCompletedDoesNot()
        {
            var local = new AsyncLocal<int>();
            var source = new TapirCompletionSource<int>();
            var awaiter = source.Task.GetAwaiter();
            int flowed = 0, unflowed = 0;
            local.Value = 1;
            awaiter.OnCompleted(() => flowed = local.Value);
            awaiter.UnsafeOnCompleted(() => unflowed = local.Value);
            local.Value = 2;
            source.SetResult(0);   // both resume inline, here
            Assert.AreEqual(1, flowed, "OnCompleted runs in the context captured when it registered");
            Assert.AreEqual(2, unflowed, "UnsafeOnCompleted runs in the completing thread's context");
            local.Value = 0;
        }

        [Test]
        public void AFailedSetDoesNotLeaveItsValueForLaterResumes()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            Assert.IsTrue(NativeMethods.tapir_source_try_set_result(source.NativeHandle, new IntPtr(5), IntPtr.Zero));
            Assert.IsFalse(source.TrySetResult(6));
            Assert.AreEqual(5, Util.AwaitOne(task).Result);
            Assert.AreEqual(5, task.Result);
        }
    }
}
