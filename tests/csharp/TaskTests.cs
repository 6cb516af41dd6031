using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Tapir;
using Tapir.Native;

namespace Tapir.Tests
{
    /// <summary>Task status, waiting, values (how they travel), and C-produced tasks.</summary>
    [TestFixture]
    public class TaskTests
    {
        private struct Big
        {
            public long A, B, C, D;
            public string Name;
        }

        [Test]
        public void StatusGoesFromPendingToSucceeded()
        {
            var source = new TapirCompletionSource<int>();
            var task = source.Task;
            Assert.AreEqual(TapirTaskStatus.Pending, task.Status);
            Assert.IsFalse(task.IsCompleted);
            Assert.IsFalse(task.GetAwaiter().IsCompleted);
            source.SetResult(3);
            Assert.IsTrue(task.IsCompleted);
            Assert.IsTrue(task.IsCompletedSuccessfully);
            Assert.IsFalse(task.IsFaulted);
            Assert.IsFalse(task.IsCanceled);
        }

        [Test]
        public void WaitWithATimeoutReturnsFalseAndLeavesTheTaskAlone()
        {
            var source = new TapirCompletionSource<int>();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            Assert.IsFalse(source.Task.Wait(50));
            Assert.GreaterOrEqual(sw.ElapsedMilliseconds, 45);
            Assert.AreEqual(TapirTaskStatus.Pending, source.Task.Status);
            source.SetResult(1);
            Assert.IsTrue(source.Task.Wait(0));
        }

        [Test]
        public void ResultBlocksUntilAnotherThreadCompletesTheTask()
        {
            var source = new TapirCompletionSource<string>();
            Util.Later(30, () => source.SetResult("late"));
            Assert.AreEqual("late", source.Task.Result);
        }

        [Test]
        public void WaitThrowsAggregateExceptionForAFaultedTask()
        {
            var error = new FormatException();
            var task = TapirTask.FromException<int>(error);
            var aggregate = Assert.Throws<AggregateException>(() => task.Wait());
            Assert.AreSame(error, aggregate.InnerException);
            Assert.Throws<AggregateException>(() => { var unused = task.Result; });
        }

        [Test]
        public void WaitWithACancellationTokenThrowsOperationCanceledWhenTheTokenFires()
        {
            var source = new TapirCompletionSource<int>();
            using (var cts = new CancellationTokenSource(50))
            {
                var e = Assert.Throws<OperationCanceledException>(() => source.Task.Wait(5000, cts.Token));
                Assert.AreEqual(cts.Token, e.CancellationToken);
            }
            Assert.IsFalse(source.Task.IsCompleted, "the task itself is untouched");
        }

        [Test]
        public void IdsAreUniqueAndNonZero()
        {
            var a = new TapirCompletionSource<int>().Task;
            var b = new TapirCompletionSource<int>().Task;
            Assert.AreNotEqual(0UL, a.Id);
            Assert.AreNotEqual(a.Id, b.Id);
            Assert.AreEqual(a.Id, TapirTask.FromNativeHandle(a.NativeHandle, true).Id, "another wrapper of the same native task");
        }

        [Test]
        public void CompletedTaskIsSharedAndSurvivesDispose()
        {
            var t = TapirTask.CompletedTask;
            Assert.AreSame(t, TapirTask.CompletedTask);
            t.Dispose();
            Assert.IsTrue(TapirTask.CompletedTask.IsCompletedSuccessfully);
        }

        [Test]
        public async Task ReferenceAndStructValuesTravelAsGCHandles()
        {
            var list = new List<int> { 1, 2, 3 };
            Assert.AreSame(list, await TapirTask.FromResult(list));
            Assert.AreEqual("text", await TapirTask.FromResult("text"));
            Assert.IsNull(await TapirTask.FromResult<string>(null));
            var big = new Big { A = 1, B = 2, C = 3, D = long.MaxValue, Name = "big" };
            var source = new TapirCompletionSource<Big>();
            Util.Later(10, () => source.SetResult(big));
            var back = await source.Task;
            Assert.AreEqual(big.D, back.D);
            Assert.AreEqual("big", back.Name);
            Assert.AreEqual(DayOfWeek.Friday, await TapirTask.FromResult(DayOfWeek.Friday));
        }

        [Test]
        public void IntegersTravelInThePointerBitsAsCCodeStoresThem()
        {
            var source = new TapirCompletionSource<long>();
            source.SetResult(-5);
            Check.Status(NativeMethods.tapir_task_result(source.Task.NativeHandle, out IntPtr bits));
            Assert.AreEqual(-5L, bits.ToInt64(), "the native value is the integer itself");

            // A task C code completed with (void *)42 reads directly as an integer task.
            var fromC = TapirTask<long>.FromNativeHandle(Util.NativeTaskWithBits(new IntPtr(42)), false);
            Assert.AreEqual(42L, fromC.Result);
            var asInt = TapirTask<int>.FromNativeHandle(Util.NativeTaskWithBits(new IntPtr(-7)), false);
            Assert.AreEqual(-7, asInt.Result);
            var asPtr = TapirTask<IntPtr>.FromNativeHandle(Util.NativeTaskWithBits(new IntPtr(0x1234)), false);
            Assert.AreEqual(new IntPtr(0x1234), asPtr.Result);
        }

        [Test]
        public async Task FloatingPointAndBooleanValuesRoundTrip()
        {
            Assert.AreEqual(Math.PI, await TapirTask.FromResult(Math.PI));
            Assert.AreEqual(-0.25f, await TapirTask.FromResult(-0.25f));
            Assert.AreEqual(true, await TapirTask.FromResult(true));
            Assert.AreEqual('x', await TapirTask.FromResult('x'));
            Assert.AreEqual(ulong.MaxValue, await TapirTask.FromResult(ulong.MaxValue));
        }

        [Test]
        public void AValueIsDestroyedExactlyOnceWhenTheLastReferenceGoes()
        {
            long before = Util.Baseline();
            WeakReference weak = null;
            TapirTask<object> other = null;
            Util.OnFreshThread(() =>
            {
                var source = new TapirCompletionSource<object>();
                other = TapirTask<object>.FromNativeHandle(source.Task.NativeHandle, true);
                weak = SetWeakValue(source);
                source.Task.Dispose();
                source.Dispose();
            });
            Util.Settle();
            Assert.IsTrue(weak.IsAlive, "another reference still holds the value");
            Util.OnFreshThread(() => Assert.IsNotNull(other.Result));
            other.Dispose();                                   // the last reference: its destroy frees the GCHandle
            Assert.IsTrue(Util.Eventually(() => !weak.IsAlive), "the GCHandle was freed with the task");
            Util.AssertLiveObjectsBackTo(before);
        }

        private static WeakReference SetWeakValue(TapirCompletionSource<object> source)
        {
            var value = new object();
            source.SetResult(value);
            return new WeakReference(value);
        }

        [Test]
        public void WaitAllAndWaitAny()
        {
            var a = new TapirCompletionSource<int>();
            var b = new TapirCompletionSource<int>();
            Assert.AreEqual(-1, TapirTask.WaitAny(new TapirTask[] { a.Task, b.Task }, 20));
            Util.Later(20, () => b.SetResult(2));
            Assert.AreEqual(1, TapirTask.WaitAny(a.Task, b.Task));
            Assert.IsFalse(TapirTask.WaitAll(new TapirTask[] { a.Task, b.Task }, 20));
            var error = new ArgumentException();
            a.SetException(error);
            var aggregate = Assert.Throws<AggregateException>(() => TapirTask.WaitAll(a.Task, b.Task));
            Assert.AreSame(error, aggregate.InnerException);
        }

        [Test]
        public void ABlockedWaitCanBeInterruptedBecauseItWaitsInManagedCode()
        {
            var never = new TapirCompletionSource<int>();
            Exception seen = null;
            var waiter = new Thread(() =>
            {
                try { never.Task.Wait(); }
                catch (Exception e) { seen = e; }
            });
            waiter.Start();
            Assert.IsTrue(Util.Eventually(() => TapirRuntime.PendingContinuations(never.Task) == 1, 5000), "the wait registered its wake-up");
            waiter.Interrupt();
            Assert.IsTrue(waiter.Join(5000), "Thread.Interrupt ended the wait");
            Assert.IsInstanceOf<ThreadInterruptedException>(seen);
            Assert.AreEqual(0, (long)TapirRuntime.PendingContinuations(never.Task), "the interrupted wait withdrew its continuation");
        }

        [Test]
        public void WaitsThatTimeOutOrAreCanceledLeaveNoContinuationBehind()
        {
            var a = new TapirCompletionSource<int>();
            var b = new TapirCompletionSource<int>();
            for (int i = 0; i < 50; i++)
            {
                Assert.IsFalse(a.Task.Wait(0));
                Assert.IsFalse(a.Task.Wait(1));
                Assert.AreEqual(-1, TapirTask.WaitAny(new TapirTask[] { a.Task, b.Task }, 1));
                Assert.IsFalse(TapirTask.WaitAll(new TapirTask[] { a.Task, b.Task }, 1));
            }
            using (var cancel = new CancellationTokenSource(20))
                Assert.Throws<OperationCanceledException>(() => a.Task.Wait(-1, cancel.Token));
            Assert.AreEqual(0, (long)TapirRuntime.PendingContinuations(a.Task));
            Assert.AreEqual(0, (long)TapirRuntime.PendingContinuations(b.Task));
            b.SetResult(1);
            Assert.AreEqual(1, TapirTask.WaitAny(new TapirTask[] { a.Task, b.Task }, -1));
            Assert.AreEqual(0, (long)TapirRuntime.PendingContinuations(a.Task), "the task that did not complete lost its wake-up too");
        }
    }
}
