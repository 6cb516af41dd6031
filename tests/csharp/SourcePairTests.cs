using System;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>
    /// A source and its task share one finalizable object (each native reference released
    /// exactly once, by whichever Dispose or finalizer comes to it), and the task of a source
    /// answers "pending" without asking native code only while nothing else can complete it.
    /// </summary>
    [TestFixture]
    public class SourcePairTests
    {
        [Test]
        public async Task ATaskCompletedByCCodeThroughTheSourceHandleIsSeenCompleted()
        {
            var source = new TapirCompletionSource<long>();
            var task = source.Task;
            Assert.IsFalse(task.IsCompleted);
            Assert.AreEqual(0, NativeMethods.tapir_source_set_result(source.NativeHandle, new IntPtr(42), IntPtr.Zero));
            Assert.IsTrue(task.IsCompleted, "handing out the native source ends what the wrapper knows");
            Assert.AreEqual(TapirTaskStatus.Succeeded, task.Status);
            Assert.AreEqual(42L, await task);
            source.Dispose();
            task.Dispose();
        }

        [Test]
        public void EveryWayOfCompletingOrReleasingTheSourceIsSeenByTheTask()
        {
            var broken = new TapirCompletionSource<int>();
            broken.Dispose();
            Assert.IsTrue(broken.Task.IsCompleted);
            Assert.IsTrue(broken.Task.IsFaulted);

            var canceled = new TapirCompletionSource<int>();
            Assert.IsTrue(canceled.TrySetCanceled());
            Assert.IsTrue(canceled.Task.IsCanceled);

            var faulted = new TapirCompletionSource<int>();
            Assert.IsTrue(faulted.TrySetException(new InvalidOperationException()));
            Assert.IsTrue(faulted.Task.IsFaulted);

            var forwarded = new TapirCompletionSource<int>();
            forwarded.SetFromTask(TapirTask.FromResult(7));
            Assert.IsTrue(forwarded.Task.IsCompleted);
            Assert.AreEqual(7, forwarded.Task.Result);

            var viaHandle = new TapirCompletionSource<int>();
            Assert.AreEqual((int)TapirStatus.Panic, NativeMethods.tapir_debug_panic(viaHandle.Handle));
            Assert.IsTrue(viaHandle.Task.IsCompleted, "the internal SafeHandle counts as handing the source out");
        }

        [Test]
        public void DisposingSourceAndTaskInEitherOrderReleasesEachReferenceOnce()
        {
            long before = Util.Baseline();
            for (int order = 0; order < 4; order++)
            {
                var source = new TapirCompletionSource<string>();
                var task = source.Task;
                // A second reference of the same native task: a double release by the pair
                // would take this one's reference away and make it stale.
                var other = TapirTask<string>.FromNativeHandle(task.NativeHandle, true);
                if (order % 2 == 0) source.SetResult("v" + order);
                if (order < 2)
                {
                    source.Dispose();
                    task.Dispose();
                }
                else
                {
                    task.Dispose();
                    source.Dispose();
                }
                source.Dispose();
                task.Dispose();
                Assert.Throws<ObjectDisposedException>(() => { var s = task.Status; });
                Assert.Throws<ObjectDisposedException>(() => source.SetResult("late"));
                if (order % 2 == 0) Assert.AreEqual("v" + order, other.Result);
                else Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)other.Exception.InnerException).Code);
                other.Dispose();
            }
            Util.AssertLiveObjectsBackTo(before);
        }

        [Test]
        public void AReleaseByTheFinalizerNeverTakesAnotherWrappersReference()
        {
            long before = Util.Baseline();
            TapirTask<int>[] others = null;
            Util.OnFreshThread(() => others = MakeAndDrop(200));
            Util.Settle();
            Util.Settle();
            for (int i = 0; i < others.Length; i++)
            {
                if (i % 2 == 0) Assert.AreEqual(i, others[i].Result, "completed, then both wrappers collected");
                else Assert.IsTrue(others[i].IsFaulted, "the source collected while pending broke the promise");
                others[i].Dispose();
            }
            Util.AssertGarbageReleased(before, 4);
        }

        private static TapirTask<int>[] MakeAndDrop(int n)
        {
            var others = new TapirTask<int>[n];
            for (int i = 0; i < n; i++)
            {
                var source = new TapirCompletionSource<int>();
                others[i] = TapirTask<int>.FromNativeHandle(source.Task.NativeHandle, true);
                if (i % 2 == 0) source.SetResult(i);
            }
            return others;
        }

        [Test]
        public void ATaskThatOutlivesItsCollectedSourceStaysUsableAndIsReleasedWhenCollectedToo()
        {
            long before = Util.Baseline();
            TapirTask<int> pending = null, done = null;
            Util.OnFreshThread(() =>
            {
                pending = new TapirCompletionSource<int>().Task;
                var source = new TapirCompletionSource<int>();
                source.SetResult(5);
                done = source.Task;
            });
            Assert.IsTrue(Util.Eventually(() => pending.IsCompleted), "the collected source broke the promise");
            Assert.AreEqual(TapirStatus.BrokenPromise, ((TapirException)pending.Exception.InnerException).Code);
            Util.Settle();
            Assert.AreEqual(5, done.Result, "a completed task outlives its source's wrapper");
            Assert.AreEqual(TapirTaskStatus.Succeeded, done.Status);
            Assert.IsTrue(pending.ContinueWith(t => 1, TaskContinuationOptions.ExecuteSynchronously).Wait(5000));
            pending = null;
            done = null;
            Util.AssertGarbageReleased(before, 4);
        }
    }
}
